//! Replaying a trace through the model: each step is taken again, the
//! abstract state after it must equal the recorded one, and the recorded
//! property must be violated at the end.

use crate::trace::Trace;
use kafka_oracle_models::check;
use kafka_oracle_models::system::System;
use kafka_oracle_properties::{property, Observation};
use serde_json::Value;
use stateright::Model;

/// `Ok` if the model reproduces the trace and its violation; otherwise the
/// first difference.
pub fn replay(trace: &Trace) -> Result<(), String> {
    let cfg = trace.config()?;
    let mut judged = Vec::new();
    for name in &trace.judged {
        let p = property(name).ok_or_else(|| format!("judged: no property {name}"))?;
        judged.push(p.name);
    }
    let p = property(&trace.property)
        .ok_or_else(|| format!("property: no property {}", trace.property))?;
    if !judged.contains(&p.name) {
        judged.push(p.name);
    }
    let system = System::new(cfg, &judged);
    let descriptions: Vec<String> = trace.steps.iter().map(|s| s.description.clone()).collect();
    let steps = check::replay(&system, &descriptions)?;
    let states: Vec<_> = steps.into_iter().map(|s| s.state).collect();
    let init = system.observe(&system.init_states()[0]);
    if init != trace.initial_state {
        return Err(format!(
            "the model starts from a different state:\n{}",
            state_diff(&trace.initial_state, &init)
        ));
    }
    for (step, state) in trace.steps.iter().zip(&states) {
        let observed = system.observe(state);
        if observed != step.state {
            return Err(format!(
                "step {} ({}): the model reaches a different state:\n{}",
                step.step,
                step.description,
                state_diff(&step.state, &observed)
            ));
        }
    }
    // The violation must happen at the last step, not before it.
    let before_last = states.len().checked_sub(2).map(|i| &states[i]);
    let broken_before = before_last.is_some_and(|s| check::violates(s, p.name));
    match states.last() {
        Some(last) if check::violates(last, p.name) && !broken_before => Ok(()),
        _ => Err(format!(
            "the replayed path does not violate {} at its last step",
            p.name
        )),
    }
}

/// The fields where two observations differ, one line each, named by their
/// path in the trace's JSON (`replicas[1].high_watermark: recorded 1, model
/// 2`): an observation holds every replica's log, and two whole dumps hide
/// the one field that differs.
fn state_diff(recorded: &Observation, model: &Observation) -> String {
    match (serde_json::to_value(recorded), serde_json::to_value(model)) {
        (Ok(recorded), Ok(model)) => {
            let mut lines = Vec::new();
            diff_values("", Some(&recorded), Some(&model), &mut lines);
            lines.join("\n")
        }
        // An observation is plain data and always serializes; should that
        // ever change, the two dumps still say what differs.
        _ => format!("  recorded: {recorded:?}\n  model:    {model:?}"),
    }
}

/// Appends a line for each leaf where `recorded` and `model` differ; a side
/// that lacks a field or an array element is shown as `absent`. Arrays of
/// plain values (the ISR, messages) are shown whole: an element-wise diff of
/// `[0, 1]` against `[1]` says less than the two lists.
fn diff_values(
    path: &str,
    recorded: Option<&Value>,
    model: Option<&Value>,
    lines: &mut Vec<String>,
) {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let nested = |v: &Value| v.is_object() || v.is_array();
    match (recorded, model) {
        (Some(r), Some(m)) if r == m => {}
        (Some(Value::Object(r)), Some(Value::Object(m))) => {
            let only_model = m.keys().filter(|k| !r.contains_key(*k));
            for key in r.keys().chain(only_model) {
                diff_values(&child(key), r.get(key), m.get(key), lines);
            }
        }
        (Some(Value::Array(r)), Some(Value::Array(m))) if r.iter().chain(m).any(nested) => {
            for i in 0..r.len().max(m.len()) {
                diff_values(&format!("{path}[{i}]"), r.get(i), m.get(i), lines);
            }
        }
        _ => {
            let show = |v: Option<&Value>| v.map_or("absent".to_string(), Value::to_string);
            lines.push(format!(
                "  {path}: recorded {}, model {}",
                show(recorded),
                show(model)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::state_diff;
    use kafka_oracle_properties::{Entry, Observation, ReplicaObs};

    fn replica(id: u32, log: &[(u32, u32)]) -> ReplicaObs {
        ReplicaObs {
            id,
            log: log
                .iter()
                .zip(0..)
                .map(|(&(epoch, msg), offset)| Entry { offset, epoch, msg })
                .collect(),
            high_watermark: 0,
            leader_epoch: 0,
            alive: true,
            is_leader: id == 0,
        }
    }

    #[test]
    fn a_diff_names_only_the_fields_that_differ() {
        let recorded = Observation {
            replicas: vec![replica(0, &[(0, 1)]), replica(1, &[(0, 1)])],
            isr: vec![0, 1],
            ..Observation::default()
        };
        let mut model = recorded.clone();
        model.replicas[1].log.push(Entry {
            offset: 1,
            epoch: 1,
            msg: 2,
        });
        model.replicas[1].alive = false;
        model.isr = vec![0];
        assert_eq!(
            state_diff(&recorded, &model),
            [
                "  replicas[1].log[1]: recorded absent, model {\"offset\":1,\"epoch\":1,\"msg\":2}",
                "  replicas[1].alive: recorded true, model false",
                "  isr: recorded [0,1], model [0]",
            ]
            .join("\n")
        );
        assert_eq!(state_diff(&recorded, &recorded), "");
    }
}
