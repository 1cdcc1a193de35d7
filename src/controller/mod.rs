//! The controller: like ZooKeeper-era Kafka's, with its state made durable.
//! It tracks broker sessions, elects partition leaders, bumps leader epochs
//! and accepts ISR changes from leaders. [`state`] is the sans-IO core,
//! [`protocol`] the control plane's messages, [`store`] the file the state
//! survives restarts in, and [`server`] the tokio process around them.

pub mod protocol;
pub mod server;
pub mod state;
pub mod store;
