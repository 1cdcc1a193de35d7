//! # kafka-oracle-properties
//!
//! The one definition of every promise kafka-oracle judges. The model checker
//! (models/) reduces what it sees to an [`Observation`] and asks the
//! [`CATALOGUE`]; the broker's conformance harness and the history oracle are
//! to do the same.
//! This crate knows nothing of how an observation was produced.

pub mod catalogue;
pub mod observation;

pub use catalogue::{property, Class, Judge, Property, Verdict, CATALOGUE};
pub use observation::{
    Acks, ConsumerObs, Entry, LeaderEpoch, MsgId, Observation, Offset, ProducerObs, ReplicaId,
    ReplicaObs,
};
