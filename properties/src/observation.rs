//! The vocabulary: what any implementation of Kafka's replication protocol
//! (the model, the broker, a recorded history) can be observed to hold.
//!
//! An [`Observation`] is a snapshot of one partition and its two clients. It
//! is deliberately abstract: no network, no timers, no request ids; only what
//! Kafka's promises speak about.

use serde::{Deserialize, Serialize};

/// Position of a record in a partition's log.
pub type Offset = u64;
/// The epoch of the leader that appended a record (KIP-101).
pub type LeaderEpoch = u32;
/// A replica (a broker holding a copy of the partition), numbered from 0.
pub type ReplicaId = u32;
/// The application's identity of a message: unique per message handed to
/// `send()`, so a retried message keeps its id and shows up as a duplicate.
pub type MsgId = u32;

/// The producer's `acks` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Acks {
    /// `acks=0`: success as soon as the request is written to the socket.
    None,
    /// `acks=1`: success once the leader has appended the record.
    Leader,
    /// `acks=all` (`-1`): success once every ISR member has the record.
    All,
}

/// One record of a replica's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub offset: Offset,
    pub epoch: LeaderEpoch,
    pub msg: MsgId,
}

/// One replica of the partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaObs {
    pub id: ReplicaId,
    /// The log as it is on this replica's disk (for a running replica, what
    /// it serves; for a crashed one, what it will recover), offsets dense
    /// from 0.
    pub log: Vec<Entry>,
    pub high_watermark: Offset,
    /// The leader epoch this replica last learned; 0 until it learns one.
    pub leader_epoch: LeaderEpoch,
    /// The process is running.
    pub alive: bool,
    /// The replica believes it is the leader (at `leader_epoch`).
    pub is_leader: bool,
}

/// What the producer application was told.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerObs {
    pub acks: Option<Acks>,
    /// Messages handed to `send()`, in order.
    pub handed: Vec<MsgId>,
    /// Messages the producer received a success for (for `acks=0`, as soon as
    /// they were written to the socket: that is what the client reports).
    pub acked: Vec<MsgId>,
    /// Messages whose failure the application was told about (an exception
    /// or a callback error). Fire-and-forget tells the application nothing.
    pub told_failed: Vec<MsgId>,
    /// How many NOT_ENOUGH_REPLICAS answers the producer has received.
    pub not_enough_replicas: u32,
}

/// What the consumer application did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerObs {
    /// Messages the application finished processing, in order, with repeats.
    pub processed: Vec<MsgId>,
    /// The group's committed offset (in `__consumer_offsets`), if any.
    pub committed_offset: Option<Offset>,
}

/// A snapshot of one partition, its producer and its consumer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub replicas: Vec<ReplicaObs>,
    /// The leader the controller elected, if the partition is online.
    pub leader: Option<ReplicaId>,
    /// The controller's current leader epoch; starts at 0 and is bumped by
    /// every election.
    pub leader_epoch: LeaderEpoch,
    /// The in-sync replicas as the controller records them.
    pub isr: Vec<ReplicaId>,
    /// Every message that was ever committed: below the high watermark of the
    /// leader of its time. History, not state: once committed, always listed.
    pub committed: Vec<MsgId>,
    pub producer: ProducerObs,
    pub consumer: ConsumerObs,
    /// Nothing more happens without a fault: no request in flight, the
    /// producer has finished, the consumer has read up to the high watermark
    /// of a running leader. Terminal properties are judged only here.
    pub quiescent: bool,
}

impl Observation {
    pub fn replica(&self, id: ReplicaId) -> Option<&ReplicaObs> {
        self.replicas.iter().find(|r| r.id == id)
    }

    /// The elected leader, if it is running and acting as leader (a leader
    /// that restarted before the controller noticed its crash is neither:
    /// it serves nothing until the controller speaks again).
    pub fn live_leader(&self) -> Option<&ReplicaObs> {
        self.leader
            .and_then(|id| self.replica(id))
            .filter(|r| r.alive && r.is_leader)
    }
}

impl ReplicaObs {
    pub fn holds(&self, msg: MsgId) -> bool {
        self.log.iter().any(|e| e.msg == msg)
    }

    pub fn log_end_offset(&self) -> Offset {
        self.log.len() as Offset
    }
}
