//! The companion broker: a replicated Kafka-compatible broker whose
//! protocol logic is sans-IO: [`partition`] (one replica of one partition)
//! and [`node`] (a broker's partitions, metadata and client APIs), so that
//! the conformance harness can drive them step by step against the model.
//! [`wire`] is Kafka's framing and codecs, [`replication`] the follower's
//! Fetch, [`group`] consumer-group membership (sans-IO too), [`server`]
//! the tokio process around the node. [`producers`] is the idempotent
//! producer's state.

pub mod client;
pub mod config;
pub mod group;
pub mod node;
pub mod partition;
pub mod producers;
pub mod replication;
pub mod server;
pub mod wire;
