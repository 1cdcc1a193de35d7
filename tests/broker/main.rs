//! The broker's sans-IO cores driven by hand: the partition (three replicas
//! in temporary directories, fetches carried between them by the test:
//! every role change and truncation path, and the loss the pre-KIP-101 mode
//! reproduces), the node, consumer-group membership, and the wire codecs.

#[path = "../log/kafka.rs"]
mod kafka;

mod connections;
mod group;
mod node;
mod partition;
mod wire;
