//! The model's vocabulary: compact ids, log entries, and every message and
//! timer an actor can receive. Each byte here is multiplied by the number of
//! states, so ids are `u8` and sets are bitmasks.

use std::fmt;
use std::sync::Arc;

pub type Offset = u8;
pub type Epoch = u8;
/// Messages are numbered from 1 in the order the application hands them to
/// `send()`.
pub type MsgId = u8;
/// Replicas are numbered from 0; replica 0 is the first leader.
pub type ReplicaIx = u8;

/// One record in a replica's log: the offset is its index in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    pub epoch: Epoch,
    pub msg: MsgId,
    /// The producer id that wrote it: an idempotent producer's retries are
    /// recognised by (producer id, message), and a restarted producer gets
    /// a new id.
    pub producer_id: u8,
}

/// A set of replicas or of messages, as a bitmask.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Set(pub u8);

impl Set {
    pub fn of(members: impl IntoIterator<Item = u8>) -> Set {
        members.into_iter().fold(Set(0), |s, m| s.with(m))
    }
    pub fn contains(self, m: u8) -> bool {
        self.0 & (1 << m) != 0
    }
    pub fn with(self, m: u8) -> Set {
        Set(self.0 | 1 << m)
    }
    pub fn without(self, m: u8) -> Set {
        Set(self.0 & !(1 << m))
    }
    pub fn len(self) -> u8 {
        self.0.count_ones() as u8
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..8).filter(move |&m| self.contains(m))
    }
    pub fn first(self) -> Option<u8> {
        self.iter().next()
    }
    pub fn union(self, other: Set) -> Set {
        Set(self.0 | other.0)
    }
    pub fn intersect(self, other: Set) -> Set {
        Set(self.0 & other.0)
    }
}

impl fmt::Debug for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProduceError {
    NotLeaderOrFollower,
    NotEnoughReplicas,
    NotEnoughReplicasAfterAppend,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FetchResult {
    /// The entries from the fetch offset to the log end, and the leader's
    /// high watermark.
    Records {
        offset: Offset,
        /// Shared, not copied, by every state the message is in flight in.
        entries: Arc<[Entry]>,
        high_watermark: Offset,
    },
    /// KIP-320: the follower's log diverges from the leader's; this is the
    /// end offset on the leader of the largest epoch not above the
    /// follower's last fetched epoch. `offset` is the fetch offset answered.
    Diverging {
        offset: Offset,
        epoch: Epoch,
        end_offset: Offset,
    },
    /// Before KIP-101: the fetch offset `offset` is past the leader's log end.
    OutOfRange {
        offset: Offset,
        log_end_offset: Offset,
    },
    /// Not the leader, or not at the follower's epoch (fenced).
    NotLeader,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PollResult {
    Records { offset: Offset, msgs: Arc<[MsgId]> },
    OutOfRange,
    NotLeader,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Msg {
    // The producer and the leader.
    Produce {
        msg: MsgId,
        producer_id: u8,
    },
    ProduceResponse {
        msg: MsgId,
        error: Option<ProduceError>,
    },
    // Followers and the leader. A follower sends its high watermark too so
    // the leader can tell whether a long-poll would bring it news.
    Fetch {
        epoch: Epoch,
        offset: Offset,
        last_epoch: Epoch,
        high_watermark: Offset,
    },
    FetchResponse {
        epoch: Epoch,
        result: FetchResult,
    },
    // The consumer and the leader.
    ConsumerFetch {
        offset: Offset,
    },
    ConsumerFetchResponse {
        result: PollResult,
    },
    /// `ListOffsets(LATEST)`, for `auto.offset.reset=latest`.
    ListOffsets,
    /// The high watermark, or `None` from a replica that is not the leader.
    ListOffsetsResponse {
        offset: Option<Offset>,
    },
    // Clients learn the leader from `Metadata`: a new leader announces
    // itself to both clients (a client of real Kafka refreshes metadata on
    // NOT_LEADER or a disconnect); a restarted client asks the controller.
    MetadataRequest,
    Metadata {
        leader: Option<ReplicaIx>,
        epoch: Epoch,
    },
    // The controller and the replicas. `version` is the partition epoch
    // (KIP-497): it rejects ISR changes made from a stale view.
    /// `broker_epoch`: the incarnation of the recipient the controller
    /// knows (KIP-380); a restarted replica ignores what was meant for its
    /// previous life.
    LeaderAndIsr {
        leader: ReplicaIx,
        epoch: Epoch,
        isr: Set,
        version: u8,
        broker_epoch: u8,
    },
    AlterIsr {
        epoch: Epoch,
        isr: Set,
        version: u8,
    },
    /// The replica's ZooKeeper session expired: sent on its behalf when it
    /// crashes (the model abstracts the session timeout away).
    BrokerDown,
    /// The replica registered again after a restart, as its next incarnation.
    BrokerUp {
        broker_epoch: u8,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    // Timers the actors set.
    /// A crashed process is started again.
    Restart,
    /// A follower fetches again after an error.
    FetchRetry,
    /// A client gives up waiting for a response (`request.timeout.ms`).
    RequestTimeout,
    /// The consumer application processes the records it holds.
    Process,
    /// The consumer application commits its position.
    Commit,
    /// The consumer application calls `poll()` again (auto-commit handoff).
    Poll,
    // Faults: never set by an actor; the system offers them within the
    // configuration's budgets (see `system.rs`).
    ProcessCrash,
    MachineCrash,
    /// The leader's `replica.lag.time.max.ms` expires for lagging followers.
    LagTimeout,
}

impl Timer {
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Timer::ProcessCrash | Timer::MachineCrash | Timer::LagTimeout
        )
    }
}
