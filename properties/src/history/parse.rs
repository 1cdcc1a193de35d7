//! Reading one line of a history with serde, straight into the reader's
//! reused buffers: keys are numbered as they are read, micro-operations land
//! in [`MicroOps`]. The fields may come in any order, so a `value` is read
//! by its own shape and checked against `f` afterwards.

use super::keys::Keys;
use super::op::{KeyId, MicroOps, Op, Record, Sent, Shape, Type, Value, F};
use crate::observation::Offset;
use serde::de::{
    self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use std::fmt;

/// Reads one operation; its micro-operations go to `mops` (cleared first).
pub struct LineSeed<'s> {
    pub keys: &'s mut Keys,
    pub mops: &'s mut MicroOps,
}

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = Op;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Op, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = Op;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an operation: an object with index, process, type, f and value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Op, A::Error> {
        self.mops.clear();
        let (mut index, mut process, mut kind, mut f) = (None, None, None, None);
        let mut shape = None;
        let mut final_read = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Index => once(&mut index, "index", map.next_value().map_err(of("index"))?)?,
                Field::Process => {
                    let p = map.next_value().map_err(of("process"))?;
                    once(&mut process, "process", p)?
                }
                Field::Type => once(&mut kind, "type", map.next_value()?)?,
                Field::F => once(&mut f, "f", map.next_value()?)?,
                Field::Value => {
                    let seed = ValueSeed {
                        keys: &mut *self.keys,
                        mops: &mut *self.mops,
                    };
                    let value = map.next_value_seed(seed).map_err(of("value"))?;
                    once(&mut shape, "value", value)?
                }
                Field::RebalanceLog => {
                    let seed = RebalanceLog {
                        keys: &*self.keys,
                        mops: &mut *self.mops,
                    };
                    map.next_value_seed(seed).map_err(of("rebalance-log"))?
                }
                Field::Final => {
                    let last = map.next_value().map_err(of("final"))?;
                    once(&mut final_read, "final", last)?
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Op {
            index: index.ok_or_else(|| A::Error::missing_field("index"))?,
            process: process.ok_or_else(|| A::Error::missing_field("process"))?,
            kind: kind.ok_or_else(|| A::Error::missing_field("type"))?,
            f: f.ok_or_else(|| A::Error::missing_field("f"))?,
            shape: shape.unwrap_or(Shape::Absent),
            final_read: final_read.unwrap_or(false),
        })
    }
}

/// Names the field an error is in.
fn of<E: de::Error>(field: &'static str) -> impl Fn(E) -> E {
    move |e| E::custom(format_args!("{field}: {e}"))
}

fn once<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

enum Field {
    Index,
    Process,
    Type,
    F,
    Value,
    Final,
    RebalanceLog,
    /// `time`, `error` and whatever else a recorder adds: read past.
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "index" => Field::Index,
                    "process" => Field::Process,
                    "type" => Field::Type,
                    "f" => Field::F,
                    "value" => Field::Value,
                    "final" => Field::Final,
                    "rebalance-log" => Field::RebalanceLog,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// One of a closed set of names, or an error listing them.
struct Named<T: 'static> {
    field: &'static str,
    parse: fn(&str) -> Option<T>,
    all: &'static [T],
    name: fn(T) -> &'static str,
}

impl<T: Copy> Visitor<'_> for Named<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} name", self.field)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).ok_or_else(|| {
            let names: Vec<&str> = self.all.iter().map(|&t| (self.name)(t)).collect();
            E::custom(format_args!(
                "unknown {} \"{v}\" (expected one of {})",
                self.field,
                names.join(", ")
            ))
        })
    }
}

impl<'de> Deserialize<'de> for Type {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Type, D::Error> {
        d.deserialize_str(Named {
            field: "type",
            parse: Type::from_name,
            all: &Type::ALL,
            name: Type::name,
        })
    }
}

impl<'de> Deserialize<'de> for F {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<F, D::Error> {
        d.deserialize_str(Named {
            field: "f",
            parse: F::from_name,
            all: &F::ALL,
            name: F::name,
        })
    }
}

/// `value`: null, a list of micro-operations, a list of keys, or an object
/// of key to offset.
struct ValueSeed<'s> {
    keys: &'s mut Keys,
    mops: &'s mut MicroOps,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null, a list of micro-operations, a list of keys or an object of offsets")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Absent)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        while map.next_entry::<IgnoredAny, Offset>()?.is_some() {}
        Ok(Shape::Offsets)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let first = FirstSeed {
            keys: &mut *self.keys,
            mops: &mut *self.mops,
        };
        let Some(shape) = seq.next_element_seed(first)? else {
            return Ok(Shape::Empty);
        };
        if shape == Shape::Keys {
            loop {
                let key = KnownKey {
                    keys: &*self.keys,
                    mops: &mut *self.mops,
                };
                if seq.next_element_seed(key)?.is_none() {
                    return Ok(Shape::Keys);
                }
            }
        }
        loop {
            let mop = MicroOpSeed {
                keys: &mut *self.keys,
                mops: &mut *self.mops,
            };
            if seq.next_element_seed(mop)?.is_none() {
                return Ok(Shape::MicroOps);
            }
        }
    }
}

/// The first element of a list tells a list of micro-operations (each a
/// list) from a list of keys.
struct FirstSeed<'s> {
    keys: &'s mut Keys,
    mops: &'s mut MicroOps,
}

impl<'de> DeserializeSeed<'de> for FirstSeed<'_> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstSeed<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a micro-operation (a list) or a key (a string or an integer)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Shape, A::Error> {
        MicroOpSeed {
            keys: self.keys,
            mops: self.mops,
        }
        .visit_seq(seq)?;
        Ok(Shape::MicroOps)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Shape, E> {
        self.mops.keys.extend(self.keys.find(v));
        Ok(Shape::Keys)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Shape, E> {
        self.mops.keys.extend(self.keys.find_number(v.into()));
        Ok(Shape::Keys)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Shape, E> {
        self.mops.keys.extend(self.keys.find_number(v.into()));
        Ok(Shape::Keys)
    }
}

/// `rebalance-log`: a list of rebalancing events, each an object whose
/// `keys` lists the partitions moved (other fields read past).
struct RebalanceLog<'s> {
    keys: &'s Keys,
    mops: &'s mut MicroOps,
}

impl<'de> DeserializeSeed<'de> for RebalanceLog<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RebalanceLog<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rebalancing events, each {\"keys\": [key, ...]}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let event = RebalanceEvent {
                keys: self.keys,
                mops: &mut *self.mops,
            };
            if seq.next_element_seed(event)?.is_none() {
                return Ok(());
            }
        }
    }
}

struct RebalanceEvent<'s> {
    keys: &'s Keys,
    mops: &'s mut MicroOps,
}

impl<'de> DeserializeSeed<'de> for RebalanceEvent<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RebalanceEvent<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rebalancing event, {\"keys\": [key, ...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            if name != "keys" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let moved = MovedKeys {
                keys: self.keys,
                mops: &mut *self.mops,
            };
            map.next_value_seed(moved)?;
        }
        Ok(())
    }
}

/// The `keys` of a rebalancing event.
struct MovedKeys<'s> {
    keys: &'s Keys,
    mops: &'s mut MicroOps,
}

impl<'de> DeserializeSeed<'de> for MovedKeys<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MovedKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of keys")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(key) = seq.next_element::<KeyName>()? {
            let known = match key {
                KeyName::Name(name) => self.keys.find(&name),
                KeyName::Number(n) => self.keys.find_number(n),
            };
            self.mops.rebalanced.extend(known);
        }
        Ok(())
    }
}

/// A key as written: a string or an integer.
enum KeyName {
    Name(String),
    Number(i128),
}

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyName, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key (a string or an integer)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyName, E> {
                Ok(KeyName::Name(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyName, E> {
                Ok(KeyName::Number(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyName, E> {
                Ok(KeyName::Number(v.into()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A key in a list of keys: checked, and kept only if the history has seen
/// it carry a record (only those keys matter to the judges; numbering the
/// others would count keys that hold nothing).
struct KnownKey<'s> {
    keys: &'s Keys,
    mops: &'s mut MicroOps,
}

impl<'de> DeserializeSeed<'de> for KnownKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for KnownKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key (a string or an integer)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.mops.keys.extend(self.keys.find(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.mops.keys.extend(self.keys.find_number(v.into()));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.mops.keys.extend(self.keys.find_number(v.into()));
        Ok(())
    }
}

/// A key that carries records: numbered.
struct KeySeed<'s>(&'s mut Keys);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = KeyId;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<KeyId, D::Error> {
        d.deserialize_any(self)
    }
}

const TOO_MANY_KEYS: &str = "more than 2^32 distinct keys";

impl Visitor<'_> for KeySeed<'_> {
    type Value = KeyId;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key (a string or an integer)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyId, E> {
        self.0.id(v).map_err(|_| E::custom(TOO_MANY_KEYS))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyId, E> {
        self.0
            .id_of_number(v.into())
            .map_err(|_| E::custom(TOO_MANY_KEYS))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyId, E> {
        self.0
            .id_of_number(v.into())
            .map_err(|_| E::custom(TOO_MANY_KEYS))
    }
}

#[derive(Clone, Copy)]
enum Tag {
    Send,
    Poll,
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tag, D::Error> {
        const ALL: [Tag; 2] = [Tag::Send, Tag::Poll];
        d.deserialize_str(Named {
            field: "micro-operation",
            parse: |name| match name {
                "send" => Some(Tag::Send),
                "poll" => Some(Tag::Poll),
                _ => None,
            },
            all: &ALL,
            name: |t| match t {
                Tag::Send => "send",
                Tag::Poll => "poll",
            },
        })
    }
}

/// `["send", key, value]`, `["send", key, [offset, value]]`, `["poll"]` or
/// `["poll", {key: [[offset, value], ...]}]`.
struct MicroOpSeed<'s> {
    keys: &'s mut Keys,
    mops: &'s mut MicroOps,
}

impl<'de> DeserializeSeed<'de> for MicroOpSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MicroOpSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a micro-operation: [\"send\", key, value] or [\"poll\", ...]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some(tag) = seq.next_element::<Tag>()? else {
            return Err(A::Error::custom("an empty micro-operation"));
        };
        match tag {
            Tag::Send => {
                let shape = "[\"send\", key, value] or [\"send\", key, [offset, value]]";
                let key = seq
                    .next_element_seed(KeySeed(self.keys))?
                    .ok_or_else(|| A::Error::invalid_length(1, &shape))?;
                let (offset, value) = seq
                    .next_element::<SendValue>()?
                    .ok_or_else(|| A::Error::invalid_length(2, &shape))?
                    .0;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(4, &shape));
                }
                self.mops.sends.push(Sent { key, value, offset });
            }
            Tag::Poll => {
                self.mops.polls += 1;
                let result = PollResultSeed {
                    keys: self.keys,
                    records: &mut self.mops.records,
                };
                if seq.next_element_seed(result)?.is_some()
                    && seq.next_element::<IgnoredAny>()?.is_some()
                {
                    return Err(A::Error::invalid_length(
                        3,
                        &"[\"poll\"] or [\"poll\", {key: [[offset, value], ...]}]",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A send's value, bare or as `[offset, value]` (`offset` may be null).
struct SendValue((Option<Offset>, Value));

impl<'de> Deserialize<'de> for SendValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SendValue, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SendValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value (an integer) or [offset, value]")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SendValue, E> {
                Ok(SendValue((None, v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SendValue, E> {
                let v = Value::try_from(v)
                    .map_err(|_| E::custom(format_args!("value {v} is out of range")))?;
                Ok(SendValue((None, v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SendValue, A::Error> {
                let pair = "[offset, value]";
                let offset = seq
                    .next_element::<Option<Offset>>()?
                    .ok_or_else(|| A::Error::invalid_length(0, &pair))?;
                let value = seq
                    .next_element::<Value>()?
                    .ok_or_else(|| A::Error::invalid_length(1, &pair))?;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(3, &pair));
                }
                Ok(SendValue((offset, value)))
            }
        }
        d.deserialize_any(V)
    }
}

/// `{key: [[offset, value], ...], ...}`
struct PollResultSeed<'s> {
    keys: &'s mut Keys,
    records: &'s mut Vec<Record>,
}

impl<'de> DeserializeSeed<'de> for PollResultSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PollResultSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a poll result: {key: [[offset, value], ...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed(&mut *self.keys))? {
            map.next_value_seed(RecordsSeed {
                key,
                records: &mut *self.records,
            })?;
        }
        Ok(())
    }
}

struct RecordsSeed<'s> {
    key: KeyId,
    records: &'s mut Vec<Record>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of [offset, value] pairs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(Pair(offset, value)) = seq.next_element()? {
            self.records.push(Record {
                key: self.key,
                offset,
                value,
            });
        }
        Ok(())
    }
}

/// `[offset, value]`, read as a tuple is but without serde's generic tuple
/// machinery: polls return many records, and this is the inner loop.
struct Pair(Offset, Value);

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pair, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pair;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a record: [offset, value]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pair, A::Error> {
                let offset = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let value = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(1, &self))?;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(3, &self));
                }
                Ok(Pair(offset, value))
            }
        }
        d.deserialize_seq(V)
    }
}
