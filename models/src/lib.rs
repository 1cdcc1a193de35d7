//! # kafka-oracle-models
//!
//! A Stateright model of one Kafka partition: a controller, the replicas, a
//! producer and a consumer, exploring every interleaving of messages,
//! crashes and restarts within bounded faults, judged by the property
//! catalogue of `kafka-oracle-properties`.

pub mod actors;
pub mod check;
pub mod config;
pub mod describe;
pub mod msg;
pub mod observe;
pub mod scenarios;
pub mod symmetry;
pub mod system;
