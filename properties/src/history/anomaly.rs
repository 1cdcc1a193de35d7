//! What a history can show to be wrong, by Jepsen's names for it (Jepsen's
//! Kafka workload checker defines them), and which promise of the property
//! catalogue each case breaks.

use super::op::{Process, Type, Value, F};
use crate::observation::Offset;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anomaly {
    LostWrite,
    Unseen,
    Duplicate,
    PollSkip,
    NonmonotonicPoll,
    NonmonotonicSend,
    InconsistentOffsets,
    G1a,
    LostAfterRead,
    IntPollSkip,
    IntNonmonotonicPoll,
    IntSendSkip,
    IntNonmonotonicSend,
    PrecommittedRead,
    G0,
    G1c,
}

impl Anomaly {
    /// Every anomaly, in the order reports list them.
    pub const ALL: [Anomaly; 16] = [
        Anomaly::LostWrite,
        Anomaly::Unseen,
        Anomaly::LostAfterRead,
        Anomaly::Duplicate,
        Anomaly::PollSkip,
        Anomaly::NonmonotonicPoll,
        Anomaly::IntPollSkip,
        Anomaly::IntNonmonotonicPoll,
        Anomaly::NonmonotonicSend,
        Anomaly::IntSendSkip,
        Anomaly::IntNonmonotonicSend,
        Anomaly::InconsistentOffsets,
        Anomaly::G1a,
        Anomaly::PrecommittedRead,
        Anomaly::G0,
        Anomaly::G1c,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Anomaly::LostWrite => "lost-write",
            Anomaly::Unseen => "unseen",
            Anomaly::Duplicate => "duplicate",
            Anomaly::PollSkip => "poll-skip",
            Anomaly::NonmonotonicPoll => "nonmonotonic-poll",
            Anomaly::NonmonotonicSend => "nonmonotonic-send",
            Anomaly::InconsistentOffsets => "inconsistent-offsets",
            Anomaly::G1a => "G1a",
            Anomaly::LostAfterRead => "lost-after-read",
            Anomaly::IntPollSkip => "int-poll-skip",
            Anomaly::IntNonmonotonicPoll => "int-nonmonotonic-poll",
            Anomaly::IntSendSkip => "int-send-skip",
            Anomaly::IntNonmonotonicSend => "int-nonmonotonic-send",
            Anomaly::PrecommittedRead => "precommitted-read",
            Anomaly::G0 => "G0",
            Anomaly::G1c => "G1c",
        }
    }

    pub fn definition(self) -> &'static str {
        match self {
            Anomaly::LostWrite => "an acknowledged send at offset o of a key is never polled, although a higher offset of that key was",
            Anomaly::Unseen => "an acknowledged send (or one of an operation that must have committed: a poll returned another of its values) is never polled by the end of the history (a lost write is unseen too)",
            Anomaly::Duplicate => "one value at more than one offset",
            Anomaly::PollSkip => "a consumer's next poll of a key starts past an offset that holds a record, beyond where its last poll of the key ended",
            Anomaly::NonmonotonicPoll => "a consumer's next poll of a key starts at or below where its last poll of the key ended, with no assign, subscribe or crash in between",
            Anomaly::IntPollSkip => "within one poll, two successive records of a key jump over an offset that holds a record",
            Anomaly::IntNonmonotonicPoll => "within one poll, a record of a key is at or below the one before it",
            Anomaly::NonmonotonicSend => "a process's acknowledged send to a key lands at or below where its last send operation's to that key landed",
            Anomaly::IntSendSkip => "within one send operation, two successive sends to a key land around an offset that holds another record (allowed: other clients' sends interleave)",
            Anomaly::IntNonmonotonicSend => "within one send operation, a later send to a key lands at or below an earlier one",
            Anomaly::PrecommittedRead => "a transaction polls a value it sent itself, before it committed",
            Anomaly::G0 => "transactions whose sends to keys interleave in a cycle (write cycle; with --ww-deps only; always allowed)",
            Anomaly::G1c => "transactions in a cycle of dependencies with at least one poll of another's send (circular information flow; allowed with --ww-deps)",
            Anomaly::InconsistentOffsets => "two different values observed at one offset of a key",
            Anomaly::G1a => "a poll returns a value whose send definitely failed (an aborted read)",
            Anomaly::LostAfterRead => "a value a poll returned is not returned by a final read that read its key to the end",
        }
    }

    /// The properties of the catalogue ([`crate::CATALOGUE`]) a case of this
    /// anomaly shows broken by the system that recorded the history: the
    /// same promise, seen from the clients.
    pub fn witnesses(self) -> &'static [&'static str] {
        match self {
            // Read past, so not a slow consumer: the acknowledged record is
            // gone; under acks=all it was committed (acked_is_committed).
            Anomaly::LostWrite => &["at_least_once", "committed_never_lost"],
            // The end of a history is its quiescent state, where the
            // catalogue judges at_least_once: "acknowledged but never
            // processed".
            Anomaly::Unseen => &["at_least_once"],
            Anomaly::Duplicate => &["no_duplicates"],
            // The skipped record is never processed by the consumer that
            // skipped it.
            Anomaly::PollSkip => &["at_least_once"],
            // The catalogue judges the group's committed offset
            // (consumer_offset_monotonic), not a client's fetch position; the
            // model's consumer never moves its position back.
            Anomaly::NonmonotonicPoll => &[],
            // The offset of the earlier acknowledged record was reused: it
            // was truncated.
            Anomaly::NonmonotonicSend => &["committed_never_lost"],
            // Clients see only committed records (below the high watermark),
            // and one offset of the committed log changed its record.
            Anomaly::InconsistentOffsets => &["committed_prefix_agrees", "committed_never_lost"],
            // Kafka without transactions promises nothing about a failed
            // send (end_to_end_delivery excuses it); Jepsen's clients report
            // a failure only when the send definitely did not happen.
            Anomaly::G1a => &[],
            // A consumer read it, so it was committed (below the high
            // watermark), and the log no longer holds it. Whether a member
            // of the ISR still had it (committed_never_lost) or every copy
            // went at once (a wiped disk, a power loss) the clients cannot
            // tell; either way the committed record is not durable.
            Anomaly::LostAfterRead => &["committed_durable"],
            Anomaly::IntPollSkip => &["at_least_once"],
            // One fetch answered out of the log's order: the catalogue has
            // no property of the order records are served in.
            Anomaly::IntNonmonotonicPoll => &[],
            // Not an error: Kafka does not keep one client's sends together.
            Anomaly::IntSendSkip => &[],
            // Records of one request stored out of order; the catalogue
            // judges no order of records (reuse of an offset across
            // operations, a truncation, is nonmonotonic-send).
            Anomaly::IntNonmonotonicSend => &[],
            // The catalogue models no transactions: Kafka promises that a
            // read_committed consumer never sees a record before its
            // transaction commits, and that committed transactions' reads
            // and writes do not form a cycle; no property of the model
            // says either.
            Anomaly::PrecommittedRead | Anomaly::G0 | Anomaly::G1c => &[],
        }
    }

    pub fn from_name(name: &str) -> Option<Anomaly> {
        Anomaly::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// An operation cited as evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OpRef {
    /// 1-based line of the history.
    pub line: u64,
    /// The operation's `index` field.
    pub index: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: Type,
    pub f: F,
}

impl Serialize for Type {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Serialize for F {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One case of an anomaly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Case {
    pub key: String,
    pub values: Vec<Value>,
    pub offsets: Vec<Offset>,
    /// The case in a sentence.
    pub why: String,
    /// The fewest operations that show it, in history order.
    pub ops: Vec<OpRef>,
    /// Why the case does not make the history invalid, if it does not
    /// (Jepsen's allowed error types: an int-send-skip always, a poll-skip
    /// or nonmonotonic-poll of a consumer that subscribed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<&'static str>,
}

/// Every case found, by anomaly; serialized as an object with every
/// anomaly's name, in [`Anomaly::ALL`] order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cases([Vec<Case>; 16]);

impl Cases {
    pub fn of(&self, anomaly: Anomaly) -> &[Case] {
        &self.0[anomaly as usize]
    }

    pub(crate) fn push(&mut self, anomaly: Anomaly, case: Case) {
        self.0[anomaly as usize].push(case);
    }

    pub fn total(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    /// How many cases are allowed.
    pub fn allowed(&self) -> usize {
        self.0
            .iter()
            .flatten()
            .filter(|c| c.allowed.is_some())
            .count()
    }

    /// The anomalies with a case that is not allowed: those that make a
    /// history invalid (Jepsen's bad error types).
    pub fn bad(&self) -> Vec<Anomaly> {
        Anomaly::ALL
            .into_iter()
            .filter(|&a| self.of(a).iter().any(|c| c.allowed.is_none()))
            .collect()
    }

    pub(crate) fn sort(&mut self) {
        for cases in &mut self.0 {
            cases.sort_by_key(|c| c.ops.first().map(|op| op.line));
        }
    }
}

impl Serialize for Cases {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(Anomaly::ALL.len()))?;
        for anomaly in Anomaly::ALL {
            map.serialize_entry(anomaly.name(), self.of(anomaly))?;
        }
        map.end()
    }
}

/// Whether a history shows an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Valid,
    /// It shows at least one anomaly.
    Invalid,
    /// No anomaly, but a final read stopped short of a key's end, so what
    /// it did not reach was not judged (Jepsen's `:unknown`).
    Unknown,
}

/// `true`, `false` or `"unknown"`, as Jepsen's `:valid?`.
impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

/// A key whose final read stopped short of its end: how many values of it
/// could not be judged (acknowledged and never polled, or polled and not
/// returned by the final read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unjudged {
    pub key: String,
    pub values: u64,
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub valid: Validity,
    /// Lines read (operations: invocations and completions).
    pub ops: u64,
    pub keys: usize,
    /// Distinct values sent.
    pub values: usize,
    pub anomalies: Cases,
    /// The names of the anomalies with a case that is not allowed.
    pub bad: Vec<&'static str>,
    /// Keys whose final read stopped short of their end.
    pub unjudged: Vec<Unjudged>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.valid == Validity::Valid
    }
}
