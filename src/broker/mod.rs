//! The companion broker: a replicated Kafka-compatible broker whose
//! protocol logic is a sans-IO state machine ([`partition`]), so that the
//! conformance harness can drive it step by step against the model.

pub mod bugs;
pub mod partition;
pub mod producers;
