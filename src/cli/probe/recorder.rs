//! The history as the probe writes it: JSON lines, verify-history's
//! format, each written out as its operation happens.

use serde_json::{json, Value};
use std::fs::File;
use std::io::{LineWriter, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The history as it is written: each line numbered and timed as it comes,
/// and written out when the operation happens, so that the file is the
/// history so far: a nemesis script may read it to decide its next step.
pub(super) struct History {
    pub(super) out: LineWriter<File>,
    pub(super) index: u64,
    pub(super) start: Instant,
}

impl History {
    pub(super) fn record(
        &mut self,
        process: u64,
        kind: &str,
        f: &str,
        value: Value,
        final_read: bool,
    ) -> Result<(), String> {
        let mut line = json!({
            "index": self.index,
            "time": self.start.elapsed().as_nanos() as u64,
            "process": process,
            "type": kind,
            "f": f,
            "value": value,
        });
        if final_read {
            line["final"] = json!(true);
        }
        self.index += 1;
        writeln!(self.out, "{line}").map_err(|e| format!("cannot write the history: {e}"))
    }
}

#[derive(Clone)]
pub(super) struct Log(pub(super) Arc<Mutex<History>>);

impl Log {
    pub(super) fn record(
        &self,
        process: u64,
        kind: &str,
        f: &str,
        value: Value,
    ) -> Result<(), String> {
        self.write(process, kind, f, value, false)
    }

    /// An `assign` that starts a final read (`"final": true`).
    pub(super) fn record_final_assign(
        &self,
        process: u64,
        kind: &str,
        keys: Value,
    ) -> Result<(), String> {
        self.write(process, kind, "assign", keys, true)
    }

    fn write(
        &self,
        process: u64,
        kind: &str,
        f: &str,
        value: Value,
        final_read: bool,
    ) -> Result<(), String> {
        // A poisoned lock means a writer panicked mid-line: the history is
        // no longer trustworthy.
        let mut history = self
            .0
            .lock()
            .map_err(|_| "the history writer failed".to_string())?;
        history.record(process, kind, f, value, final_read)
    }
}
