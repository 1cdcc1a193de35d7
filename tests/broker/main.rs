//! The broker's sans-IO partition core, driven by hand: three replicas of a
//! partition in temporary directories, with fetches carried between them by
//! the test. Every role change and truncation path, and the loss the
//! pre-KIP-101 mode reproduces.

#[path = "../log/kafka.rs"]
mod kafka;

mod partition;
mod wire;
