//! The vocabulary of a history: one line is one client operation, in the
//! shape of Jepsen's Kafka workload.
//!
//! ```text
//! {"index": 1, "process": 0, "type": "ok", "f": "send", "value": [["send", "0", [42, 17]]]}
//! ```
//!
//! A line's micro-operations are not owned by its [`Op`]: they go into a
//! [`MicroOps`] buffer that the reader clears and refills line after line, so
//! reading a history allocates for what is new (a key, a value), never per
//! line.

use crate::observation::Offset;

/// A message's application value: unique per history.
pub type Value = i64;
/// A client process (Jepsen's `process`): it runs one operation at a time.
pub type Process = u32;
/// A key (a topic-partition) as the history reader numbers it, in the order
/// keys first appear; [`super::Keys`] holds the names.
pub type KeyId = u32;

/// What a line records of its operation (Jepsen's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// The client called the operation.
    Invoke,
    /// It completed and succeeded.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// Unknown outcome: it may or may not have happened.
    Info,
}

/// The operation (Jepsen's `f`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum F {
    Send,
    Poll,
    /// A consumer offset commit.
    Commit,
    Assign,
    Subscribe,
    /// The client process crashed (and was replaced by a fresh client).
    Crash,
    /// A transaction: sends and polls mixed (Jepsen's `:txn`).
    Txn,
    /// The end of a final read: invoked with the keys it set out to read
    /// to their end, completed with those it did read to their end.
    FinalRead,
}

impl Type {
    pub const ALL: [Type; 4] = [Type::Invoke, Type::Ok, Type::Fail, Type::Info];

    pub fn from_name(name: &str) -> Option<Type> {
        Some(match name {
            "invoke" => Type::Invoke,
            "ok" => Type::Ok,
            "fail" => Type::Fail,
            "info" => Type::Info,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Type::Invoke => "invoke",
            Type::Ok => "ok",
            Type::Fail => "fail",
            Type::Info => "info",
        }
    }
}

impl F {
    pub const ALL: [F; 8] = [
        F::Send,
        F::Poll,
        F::Commit,
        F::Assign,
        F::Subscribe,
        F::Crash,
        F::Txn,
        F::FinalRead,
    ];

    pub fn from_name(name: &str) -> Option<F> {
        Some(match name {
            "send" => F::Send,
            "poll" => F::Poll,
            "commit" => F::Commit,
            "assign" => F::Assign,
            "subscribe" => F::Subscribe,
            "crash" => F::Crash,
            "txn" => F::Txn,
            "final-read" => F::FinalRead,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            F::Send => "send",
            F::Poll => "poll",
            F::Commit => "commit",
            F::Assign => "assign",
            F::Subscribe => "subscribe",
            F::Crash => "crash",
            F::Txn => "txn",
            F::FinalRead => "final-read",
        }
    }
}

/// The shape a line's `value` had; its content is in [`MicroOps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `null`, or no `value` field.
    Absent,
    /// `[]`: no micro-operations, or no keys.
    Empty,
    /// A list of micro-operations, `[["send", key, value], ["poll"], ...]`.
    MicroOps,
    /// A list of keys, as `assign` and `subscribe` take.
    Keys,
    /// An object of key to offset, as `commit` takes.
    Offsets,
}

/// One line of a history, without its micro-operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub index: u64,
    pub process: Process,
    pub kind: Type,
    pub f: F,
    pub shape: Shape,
    /// `"final": true`: on an `assign`, the process's ok polls that follow
    /// are a final read of the keys assigned.
    pub final_read: bool,
}

/// `["send", key, value]` as invoked, or `["send", key, [offset, value]]` as
/// completed (`offset` is `null` when the client did not learn it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub key: KeyId,
    pub value: Value,
    pub offset: Option<Offset>,
}

/// One `[offset, value]` pair a poll returned for a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: KeyId,
    pub offset: Offset,
    pub value: Value,
}

/// The micro-operations of the line being read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MicroOps {
    pub sends: Vec<Sent>,
    /// How many `["poll", ...]` micro-operations the line has.
    pub polls: usize,
    /// Every record the line's polls returned: each key's records in the
    /// order the poll gave them.
    pub records: Vec<Record>,
    /// The keys of a list of keys (`assign`, `subscribe`, `final-read`)
    /// that the history has seen carry a record; a key never seen has
    /// nothing to judge.
    pub keys: Vec<KeyId>,
    /// The keys of the operation's `rebalance-log` (Jepsen's: partitions
    /// the consumer's group moved during the operation), those seen.
    pub rebalanced: Vec<KeyId>,
}

impl MicroOps {
    pub fn clear(&mut self) {
        self.sends.clear();
        self.polls = 0;
        self.records.clear();
        self.keys.clear();
        self.rebalanced.clear();
    }
}
