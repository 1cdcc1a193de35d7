//! Histories: what the clients of a Kafka-compatible system saw, one
//! operation a line, judged for the anomalies Jepsen's Kafka checker names.
//! Each anomaly names the catalogue properties it shows broken
//! ([`Anomaly::witnesses`]), so a history is held to the same promises as
//! the model.
//!
//! This module reads a line through any serde [`serde::Deserializer`]; the
//! command line feeds it `serde_json`.

mod anomaly;
mod checker;
mod dense;
mod keys;
mod op;
mod parse;
mod scan;

pub use anomaly::{Anomaly, Case, Cases, OpRef, Report, Unjudged, Validity};
pub use checker::{Checker, LineError};
pub use op::{Process, Type, Value, F};
