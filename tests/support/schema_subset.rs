//! The part of JSON Schema (draft 2020-12) that properties/schema/history.schema.json
//! uses, enough to check lines against it: a full validator crate costs
//! minutes of build for one test. A keyword outside this part fails the
//! test, so the schema cannot quietly use one that goes unchecked.

use serde_json::Value;

pub struct Schema(pub Value);

const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description"];

impl Schema {
    pub fn accepts(&self, instance: &Value) -> bool {
        self.valid(&self.0, instance)
    }

    fn valid(&self, schema: &Value, v: &Value) -> bool {
        let Some(schema) = schema.as_object() else {
            return schema
                .as_bool()
                .unwrap_or_else(|| panic!("not a schema: {schema}"));
        };
        schema.iter().all(|(keyword, arg)| match keyword.as_str() {
            k if ANNOTATIONS.contains(&k) => true,
            "$defs" => true,
            "$ref" => {
                let name = arg
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .unwrap_or_else(|| panic!("unsupported $ref {arg}"));
                self.valid(&self.0["$defs"][name], v)
            }
            "type" => match arg {
                Value::String(t) => has_type(v, t),
                Value::Array(ts) => ts.iter().any(|t| has_type(v, t.as_str().unwrap_or(""))),
                _ => panic!("bad type {arg}"),
            },
            "enum" => arg.as_array().is_some_and(|options| options.contains(v)),
            "const" => arg == v,
            "required" => v.as_object().is_none_or(|o| {
                arg.as_array()
                    .into_iter()
                    .flatten()
                    .all(|k| k.as_str().is_some_and(|k| o.contains_key(k)))
            }),
            "properties" => v.as_object().is_none_or(|o| {
                o.iter()
                    .all(|(k, x)| arg.get(k).is_none_or(|s| self.valid(s, x)))
            }),
            "additionalProperties" => v.as_object().is_none_or(|o| {
                let listed = schema.get("properties");
                o.iter()
                    .filter(|(k, _)| listed.and_then(|p| p.get(k.as_str())).is_none())
                    .all(|(_, x)| self.valid(arg, x))
            }),
            "prefixItems" => v.as_array().is_none_or(|items| {
                items
                    .iter()
                    .zip(arg.as_array().into_iter().flatten())
                    .all(|(x, s)| self.valid(s, x))
            }),
            "items" => v.as_array().is_none_or(|items| {
                let prefix = schema
                    .get("prefixItems")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                items.iter().skip(prefix).all(|x| self.valid(arg, x))
            }),
            "minItems" => v
                .as_array()
                .is_none_or(|items| items.len() as u64 >= arg.as_u64().unwrap_or(0)),
            "minimum" => number(v).is_none_or(|n| Some(n) >= number(arg)),
            "maximum" => number(v).is_none_or(|n| Some(n) <= number(arg)),
            "oneOf" => {
                arg.as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| self.valid(s, v))
                    .count()
                    == 1
            }
            "allOf" => arg
                .as_array()
                .into_iter()
                .flatten()
                .all(|s| self.valid(s, v)),
            "not" => !self.valid(arg, v),
            "if" => {
                !self.valid(arg, v) || schema.get("then").is_none_or(|then| self.valid(then, v))
            }
            "then" => true,
            other => panic!("keyword {other} is outside the checked part of JSON Schema"),
        })
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        _ => panic!("unknown type {t}"),
    }
}

/// Integers exactly, other numbers as close as f64 goes.
fn number(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .or_else(|| v.as_f64().map(|f| f.floor() as i128))
}
