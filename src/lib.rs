//! # kafka-oracle
//!
//! The command-line tool around the model (`models/`) and the property
//! catalogue (`properties/`): checks, traces, replay, and the judging of
//! recorded histories.

pub mod broker;
pub mod bugs;
pub mod cli;
pub mod conform;
pub mod consumer;
pub mod controller;
pub mod error_codes;
pub mod history;
pub mod knob;
pub mod log;
pub mod model_history;
pub mod replay;
pub mod trace;
