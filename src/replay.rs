//! Replaying a trace through the model: each step is taken again, the
//! abstract state after it must equal the recorded one, and the recorded
//! property must be violated at the end.

use crate::trace::Trace;
use kafka_oracle_models::check;
use kafka_oracle_models::system::System;
use kafka_oracle_properties::property;

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
    let states = check::replay(&system, &descriptions)?;
    for (step, state) in trace.steps.iter().zip(&states) {
        let observed = system.observe(state);
        if observed != step.state {
            return Err(format!(
                "step {} ({}): the model reaches a different state\n  recorded: {:?}\n  model:    {:?}",
                step.step, step.description, step.state, observed
            ));
        }
    }
    match states.last() {
        Some(last) if check::violates(last, p.name) => Ok(()),
        _ => Err(format!("the replayed path does not violate {}", p.name)),
    }
}
