//! # kafka-oracle-properties
//!
//! The one definition of every promise kafka-oracle judges. The model checker
//! (models/) reduces what it sees to an [`Observation`] and asks the
//! [`CATALOGUE`]; the broker's conformance harness is to do the same. A
//! recorded history is judged by [`history`], whose anomalies each name the
//! catalogue properties they witness.
//! This crate knows nothing of how an observation was produced.

pub mod catalogue;
pub mod history;
pub mod observation;

pub use catalogue::{property, Class, Judge, Property, Verdict, CATALOGUE};
pub use observation::{
    Acks, ConsumerObs, Entry, LeaderEpoch, MsgId, Observation, Offset, ProducerObs, ReplicaId,
    ReplicaObs,
};
