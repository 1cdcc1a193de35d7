//! `kafka-oracle replay TRACE`: the trace's steps, taken again in the model,
//! must reach the same states and the same violation.

use super::EXIT_MISMATCH;
use crate::model_history::render_trace;
use crate::trace::Trace;
use clap::Args;

#[derive(Args)]
pub struct ReplayArgs {
    /// A trace written by `kafka-oracle check --trace-out`.
    trace: String,
    /// Also write the trace as its clients' history (JSON lines, the
    /// format verify-history judges): the path, healed, and a final read.
    #[arg(long, value_name = "FILE")]
    history_out: Option<String>,
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
            if let Some(out) = &args.history_out {
                let history = render_trace(&trace).map_err(|e| format!("{path}: {e}"))?;
                history.write(out)?;
                say!("{out}: {}", history.summary());
            }
            Ok(0)
        }
        Err(divergence) => {
            say!("{path}: {divergence}");
            Ok(EXIT_MISMATCH)
        }
    }
}
