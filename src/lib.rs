//! # kafka-oracle
//!
//! The command-line tool around the model (`models/`) and the property
//! catalogue (`properties/`): checks, traces, replay.

pub mod broker;
pub mod cli;
pub mod controller;
pub mod log;
pub mod replay;
pub mod trace;
