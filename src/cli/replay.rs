//! `kafka-oracle replay TRACE`: the trace's steps, taken again in the model,
//! must reach the same states and the same violation.

use super::EXIT_MISMATCH;
use crate::trace::Trace;
use clap::Args;

#[derive(Args)]
pub struct ReplayArgs {
    /// A trace written by `kafka-oracle check --trace-out`.
    trace: String,
}

pub fn run(args: ReplayArgs) -> Result<u8, String> {
    let path = &args.trace;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let trace = Trace::from_json(&text).map_err(|e| format!("{path}: {e}"))?;
    match crate::replay::replay(&trace) {
        Ok(()) => {
            say!(
                "{path}: {} steps replayed; {} violated at the last step: {}",
                trace.steps.len(),
                trace.property,
                trace.why
            );
            Ok(0)
        }
        Err(divergence) => {
            say!("{path}: {divergence}");
            Ok(EXIT_MISMATCH)
        }
    }
}
