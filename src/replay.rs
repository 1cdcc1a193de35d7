//! Replaying a trace through the model: each step is taken again, the
//! abstract state after it must equal the recorded one, and the recorded
//! property must be violated at the end.

use crate::trace::Trace;
use kafka_oracle_models::check;
use kafka_oracle_models::system::System;
use kafka_oracle_properties::property;
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
            "the model starts from a different state\n  recorded: {:?}\n  model:    {:?}",
            trace.initial_state, init
        ));
    }
    for (step, state) in trace.steps.iter().zip(&states) {
        let observed = system.observe(state);
        if observed != step.state {
            return Err(format!(
                "step {} ({}): the model reaches a different state\n  recorded: {:?}\n  model:    {:?}",
                step.step, step.description, step.state, observed
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
