//! The streaming judge: it reads a history once, line by line, and keeps
//! what the clients learned about the logs, never the operations
//! themselves:
//!
//! - per key, every offset seen (acknowledged or polled) with its first
//!   value and the operation that showed it, and the highest offset polled;
//! - per value, its send's state (invoked, acknowledged, failed, unknown)
//!   and operation, the first place it was seen, and whether it was polled;
//! - per process, its pending invocation and, per key, where it last read
//!   and where its last acknowledged send landed;
//! - per gap a consumer read across, the two reads, until the end of the
//!   history tells whether a record lies in between.
//!
//! - per key, how far a final read of it went (to its end, or short).
//!
//! So memory grows with the distinct offsets, values, processes and gaps,
//! not with the number of operations. The anomalies that need the whole
//! history (unseen, lost-write, lost-after-read, poll-skip) are judged by
//! [`Checker::finish`]. A final read that reached a key's end is the
//! ground truth of what the key holds: an acknowledged value it does not
//! return is unseen (never polled) or lost after being read. Where a
//! final read stopped short, those values are not judged, and a verdict
//! with no anomaly is unknown rather than valid.
//!
//! A record read again where it was read before (by another consumer, or
//! after a rewind) changes nothing but the reader's position: it costs a
//! look at one slot of its key's offsets, not a look-up of its value.

use super::anomaly::{Anomaly, Case, Cases, OpRef, Report, Unjudged, Validity};
use super::dense::DenseMap;
use super::keys::Keys;
use super::op::{KeyId, MicroOps, Op, Record, Shape, Type, Value, F};
use super::parse::LineSeed;
use super::scan::scan;
use crate::observation::Offset;
use serde::de::{DeserializeSeed, Deserializer};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Why a line could not be judged.
#[derive(Debug, PartialEq, Eq)]
pub enum LineError<E> {
    /// Not an operation: the parser's error.
    Parse(E),
    /// An operation that contradicts the history before it.
    Invalid(String),
}

#[derive(Default)]
pub struct Checker {
    keys: Keys,
    mops: MicroOps,
    clients: DenseMap<Client>,
    seen: Seen,
    ops: u64,
    /// Infer write-write dependencies between transactions from offsets
    /// (Jepsen's `--ww-deps`).
    ww_deps: bool,
}

/// A process's position in a key: the offset it last read, or where its last
/// acknowledged send landed.
#[derive(Clone, Copy)]
struct Mark {
    offset: Offset,
    value: Value,
    op: OpRef,
}

#[derive(Default)]
struct Client {
    /// The line and `f` of the invocation awaiting its completion.
    pending: Option<(u64, F)>,
    /// The values of the pending send, for a completion that omits them.
    sending: Vec<Value>,
    /// By key id.
    read_at: Vec<Option<Mark>>,
    sent_at: Vec<Option<Mark>>,
    /// Its ok polls are a final read: it assigned itself keys with
    /// `"final": true` and has not assigned, subscribed or crashed since.
    final_read: bool,
    /// Its last assignment was a subscribe (a group's rebalances move it).
    subscribed: bool,
}

fn mark(marks: &mut Vec<Option<Mark>>, key: KeyId) -> &mut Option<Mark> {
    let i = key as usize;
    if marks.len() <= i {
        marks.resize(i + 1, None);
    }
    &mut marks[i]
}

impl Client {
    /// After a crash, an unknown outcome or a new assignment the client may
    /// legitimately read from anywhere.
    fn forget_reads(&mut self) {
        self.read_at.clear();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Invoked,
    Acked,
    Failed,
    Unknown,
}

/// The first place a value was seen, and the operation that showed it.
#[derive(Clone, Copy)]
struct Place {
    key: KeyId,
    offset: Offset,
    op: OpRef,
}

struct Sending {
    /// The key it was sent to.
    key: KeyId,
    status: Status,
    /// The invocation, then the completion.
    send: OpRef,
    first: Option<Place>,
    /// The first ok poll that returned it.
    polled: Option<OpRef>,
    /// A final read returned it.
    in_final_read: bool,
    duplicate_reported: bool,
    g1a_reported: bool,
}

/// What crossed a gap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Across {
    Polls,
    Sends,
}

/// The two operations on either side of a gap (one operation twice for a
/// gap within it), and whether the consumer had subscribed.
#[derive(Clone, Copy)]
struct Gap {
    before: OpRef,
    after: OpRef,
    subscribed: bool,
}

/// Jepsen's exemption: a consumer that subscribed may be moved between
/// polls by a rebalance, and resume anywhere.
const SUBSCRIBED: &str =
    "the consumer subscribed: a rebalance may move it between polls (Jepsen allows it under subscribe)";

/// What one offset of a key was first seen to hold.
#[derive(Clone, Copy)]
struct Slot {
    value: Value,
    op: OpRef,
    /// An ok poll returned `value` here.
    polled: bool,
}

#[derive(Default)]
struct KeyLog {
    offsets: DenseMap<Slot>,
    polled_to: Option<Mark>,
    /// How far the final reads of the key went, and the `final-read`
    /// operation that said so.
    final_read: Option<(FinalRead, OpRef)>,
}

/// How far a final read of a key went.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FinalRead {
    /// Set out to read the key to its end, and did not say it got there.
    Incomplete,
    /// Read the key to its end: the key's log holds nothing else.
    Complete,
}

/// What one sighting of a record adds to what was known.
enum News {
    /// Seen at this offset before, and as much (polled, if it is now).
    Nothing,
    /// New at this offset, or polled here for the first time.
    Placed,
    /// The offset was first seen to hold another value.
    Conflict(Slot),
}

impl KeyLog {
    #[inline]
    fn see(&mut self, offset: Offset, value: Value, here: OpRef, polled: bool) -> News {
        let (slot, made) = self.offsets.entry(offset, || Slot {
            value,
            op: here,
            polled,
        });
        if slot.value != value {
            return News::Conflict(*slot);
        }
        if made || (polled && !slot.polled) {
            slot.polled |= polled;
            return News::Placed;
        }
        News::Nothing
    }
}

/// What the clients learned, and the cases found so far.
#[derive(Default)]
struct Seen {
    logs: Vec<KeyLog>,
    /// By value, as u64.
    values: DenseMap<Sending>,
    /// (how, key, from, to): two successive reads of a key by one consumer,
    /// or two successive sends of one operation, jumped from offset `from`
    /// to `to`; skipped if a record lies in between, as the end of the
    /// history tells.
    gaps: HashMap<(Across, KeyId, Offset, Offset), Gap>,
    /// (key, offset, value) already reported as inconsistent.
    conflicts: HashSet<(KeyId, Offset, Value)>,
    cases: Cases,
    /// Keys whose final read did not reach their end, and what could not
    /// be judged on them.
    unjudged: Vec<Unjudged>,
    /// What ok transactions polled of others' sends: write-read
    /// dependencies, whose writer is known once the history ends (its
    /// send's completion). Only transactions both read and write, so only
    /// they can close a cycle.
    txn_reads: Vec<TxnRead>,
}

#[derive(Clone, Copy)]
struct TxnRead {
    reader: OpRef,
    key: KeyId,
    value: Value,
}

fn in_order(mut ops: Vec<OpRef>) -> Vec<OpRef> {
    ops.sort_by_key(|op| op.line);
    ops.dedup_by_key(|op| op.line);
    ops
}

impl Checker {
    pub fn new() -> Checker {
        Checker::default()
    }

    /// With `ww_deps`, transactions are also ordered by the offsets of
    /// their sends (Jepsen's `--ww-deps`): cycles through that order are
    /// reported (G0 alone, G1c with a read), and allowed.
    pub fn with_ww_deps(ww_deps: bool) -> Checker {
        Checker {
            ww_deps,
            ..Checker::default()
        }
    }

    /// Reads and judges line number `line` (1-based).
    pub fn read<'de, D: Deserializer<'de>>(
        &mut self,
        line: u64,
        d: D,
    ) -> Result<(), LineError<D::Error>> {
        let seed = LineSeed {
            keys: &mut self.keys,
            mops: &mut self.mops,
        };
        let op = seed.deserialize(d).map_err(LineError::Parse)?;
        self.apply(line, op).map_err(LineError::Invalid)
    }

    /// Reads and judges line number `line` if it is spelled the plain way
    /// (strings without escapes, integers, only the fields judged): `None`
    /// leaves it to [`Checker::read`], which reads any spelling and words
    /// the errors.
    pub fn read_plain(&mut self, line: u64, text: &[u8]) -> Option<Result<(), String>> {
        let op = scan(text, &mut self.keys, &mut self.mops)?;
        Some(self.apply(line, op))
    }

    fn apply(&mut self, line: u64, op: Op) -> Result<(), String> {
        check_shape(&op, &self.mops)?;
        self.ops += 1;
        let here = OpRef {
            line,
            index: op.index,
            process: op.process,
            kind: op.kind,
            f: op.f,
        };
        let client = self.clients.entry(op.process.into(), Client::default).0;
        if op.kind == Type::Invoke {
            if let Some((at, f)) = client.pending {
                return Err(format!(
                    "process {} invokes a {} while its {} invoked at line {at} has not completed",
                    op.process,
                    op.f.name(),
                    f.name()
                ));
            }
            if matches!(op.f, F::Send | F::Txn) {
                self.seen
                    .invoke_send(here, &self.mops, &mut client.sending)?;
            }
            if op.f == F::FinalRead {
                self.seen
                    .final_read(&self.mops.keys, FinalRead::Incomplete, here);
            }
            client.pending = Some((line, op.f));
            return Ok(());
        }
        let Some((invoked, f)) = client.pending.take() else {
            return Err(format!(
                "a completion ({} {}) of process {} without its invocation",
                op.kind.name(),
                op.f.name(),
                op.process
            ));
        };
        if f != op.f {
            return Err(format!(
                "process {} completes a {} but invoked a {} at line {invoked}",
                op.process,
                op.f.name(),
                f.name()
            ));
        }
        match op.f {
            F::Send => self
                .seen
                .complete_send(&self.keys, here, invoked, op.shape, &self.mops, client)?,
            F::Poll if op.kind == Type::Ok => {
                self.seen.poll(&self.keys, here, &self.mops, client)?
            }
            F::Txn => {
                let (keys, mops) = (&self.keys, &self.mops);
                self.seen
                    .complete_send(keys, here, invoked, op.shape, mops, client)?;
                if op.kind == Type::Ok {
                    self.seen.txn_reads(keys, here, mops)?;
                    self.seen.poll(keys, here, mops, client)?;
                }
            }
            F::Assign | F::Subscribe if op.kind != Type::Fail => {
                client.forget_reads();
                client.final_read = op.final_read && op.kind == Type::Ok;
                client.subscribed = op.f == F::Subscribe;
            }
            F::Crash => {
                client.forget_reads();
                client.final_read = false;
                client.subscribed = false;
            }
            F::FinalRead if op.kind != Type::Fail => {
                self.seen
                    .final_read(&self.mops.keys, FinalRead::Complete, here)
            }
            _ => {}
        }
        if op.kind == Type::Info {
            client.forget_reads();
        }
        Ok(())
    }

    /// Judges what only the whole history shows, and reports.
    pub fn finish(mut self) -> Report {
        self.seen.finish(&self.keys, self.ww_deps);
        let cases = self.seen.cases;
        let unjudged = self.seen.unjudged;
        let bad: Vec<&'static str> = cases.bad().into_iter().map(Anomaly::name).collect();
        let valid = if !bad.is_empty() {
            Validity::Invalid
        } else if !unjudged.is_empty() {
            Validity::Unknown
        } else {
            Validity::Valid
        };
        Report {
            valid,
            ops: self.ops,
            keys: self.keys.len(),
            values: self.seen.values.len(),
            anomalies: cases,
            bad,
            unjudged,
        }
    }
}

fn check_shape(op: &Op, mops: &MicroOps) -> Result<(), String> {
    let (kind, f) = (op.kind.name(), op.f.name());
    let completion = op.kind != Type::Invoke;
    let fits = match (op.f, op.shape) {
        // A failed or unknown completion may leave out what was attempted.
        (F::Send | F::Poll, Shape::Absent) => completion && op.kind != Type::Ok,
        (F::Send, Shape::MicroOps) => mops.polls == 0,
        (F::Poll, Shape::MicroOps) => mops.sends.is_empty(),
        (F::Commit, Shape::Offsets) => true,
        (F::Assign | F::Subscribe, Shape::Keys | Shape::Empty) => true,
        (F::Commit | F::Assign | F::Subscribe, Shape::Absent) => completion,
        (F::Crash, Shape::Absent) => true,
        (F::Txn, Shape::MicroOps | Shape::Empty) => true,
        (F::Txn, Shape::Absent) => completion && op.kind != Type::Ok,
        (F::FinalRead, Shape::Keys | Shape::Empty) => true,
        (F::FinalRead, Shape::Absent) => completion && op.kind != Type::Ok,
        _ => false,
    };
    if !fits {
        let wanted = match op.f {
            F::Send => "a list of [\"send\", key, value] micro-operations",
            F::Poll => "a list of [\"poll\"] micro-operations",
            F::Commit => "an object of key to offset",
            F::Assign | F::Subscribe => "a list of keys",
            F::Crash => "no value",
            F::Txn => "a list of [\"send\", key, value] and [\"poll\"] micro-operations",
            F::FinalRead => "a list of keys",
        };
        return Err(format!("a{} {kind} {f} takes {wanted}", an(kind)));
    }
    if op.final_read && op.f != F::Assign {
        return Err(format!("\"final\" marks an assign, not a{} {f}", an(f)));
    }
    if matches!(op.f, F::Poll | F::Txn) && !completion && !mops.records.is_empty() {
        return Err("an invoked poll has no results yet".to_string());
    }
    Ok(())
}

fn an(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "n"
    } else {
        ""
    }
}

impl Seen {
    fn log(&mut self, key: KeyId) -> &mut KeyLog {
        let i = key as usize;
        if self.logs.len() <= i {
            self.logs.resize_with(i + 1, KeyLog::default);
        }
        &mut self.logs[i]
    }

    /// What an ok transaction's polls say beyond a poll's: a value it sent
    /// itself (a precommitted read), or another transaction's (a
    /// write-read dependency).
    fn txn_reads(&mut self, keys: &Keys, here: OpRef, mops: &MicroOps) -> Result<(), String> {
        for r in &mops.records {
            if mops.sends.iter().any(|s| s.value == r.value) {
                self.cases.push(
                    Anomaly::PrecommittedRead,
                    Case {
                        key: keys.name(r.key).to_string(),
                        values: vec![r.value],
                        offsets: vec![r.offset],
                        why: format!(
                            "process {} polled value {} at offset {} of key {} in the transaction that sent it",
                            here.process,
                            r.value,
                            r.offset,
                            keys.name(r.key)
                        ),
                        ops: vec![here],
                        allowed: None,
                    },
                );
                continue;
            }
            if self.values.get(r.value as u64).is_none() {
                return Err(format!(
                    "value {} at offset {} of key {} was polled but never sent before",
                    r.value,
                    r.offset,
                    keys.name(r.key)
                ));
            }
            self.txn_reads.push(TxnRead {
                reader: here,
                key: r.key,
                value: r.value,
            });
        }
        Ok(())
    }

    /// A final read of `keys` went as far as `reach`: a key read to its end
    /// by any final read stays so.
    fn final_read(&mut self, keys: &[KeyId], reach: FinalRead, here: OpRef) {
        for &key in keys {
            let log = self.log(key);
            if log.final_read.is_none_or(|(was, _)| was < reach) {
                log.final_read = Some((reach, here));
            }
        }
    }

    /// A final read returned `r`.
    fn read_finally(&mut self, keys: &Keys, r: &Record) -> Result<(), String> {
        match self.values.get_mut(r.value as u64) {
            Some(s) => {
                s.in_final_read = true;
                Ok(())
            }
            None => Err(format!(
                "value {} at offset {} of key {} was polled but never sent before",
                r.value,
                r.offset,
                keys.name(r.key)
            )),
        }
    }

    fn invoke_send(
        &mut self,
        here: OpRef,
        mops: &MicroOps,
        sending: &mut Vec<Value>,
    ) -> Result<(), String> {
        sending.clear();
        for sent in &mops.sends {
            let (s, made) = self.values.entry(sent.value as u64, || Sending {
                key: sent.key,
                status: Status::Invoked,
                send: here,
                first: None,
                polled: None,
                in_final_read: false,
                duplicate_reported: false,
                g1a_reported: false,
            });
            if !made {
                return Err(format!(
                    "value {} is sent twice (already at line {})",
                    sent.value, s.send.line
                ));
            }
            sending.push(sent.value);
        }
        Ok(())
    }

    fn complete_send(
        &mut self,
        keys: &Keys,
        here: OpRef,
        invoked: u64,
        shape: Shape,
        mops: &MicroOps,
        client: &mut Client,
    ) -> Result<(), String> {
        let status = match here.kind {
            Type::Ok => Status::Acked,
            Type::Fail => Status::Failed,
            Type::Info | Type::Invoke => Status::Unknown,
        };
        if shape == Shape::Absent {
            for &value in &client.sending {
                self.settle(keys, here, invoked, status, value, None)?;
            }
            return Ok(());
        }
        for sent in &mops.sends {
            self.settle(keys, here, invoked, status, sent.value, Some(sent.key))?;
            if let (Status::Acked, Some(offset)) = (status, sent.offset) {
                self.place(keys, here, sent.key, offset, sent.value, false)?;
                let now = Mark {
                    offset,
                    value: sent.value,
                    op: here,
                };
                if let Some(before) = mark(&mut client.sent_at, sent.key).replace(now) {
                    let within = before.op.line == here.line;
                    if offset <= before.offset {
                        let case = nonmonotonic_send(keys, sent.key, before, now);
                        let anomaly = if within {
                            Anomaly::IntNonmonotonicSend
                        } else {
                            Anomaly::NonmonotonicSend
                        };
                        self.cases.push(anomaly, case);
                    } else if within && offset > before.offset + 1 {
                        let gap = Gap {
                            before: here,
                            after: here,
                            subscribed: false,
                        };
                        self.gaps
                            .entry((Across::Sends, sent.key, before.offset, offset))
                            .or_insert(gap);
                    }
                }
            }
        }
        Ok(())
    }

    /// Records the outcome of one value's send.
    fn settle(
        &mut self,
        keys: &Keys,
        here: OpRef,
        invoked: u64,
        status: Status,
        value: Value,
        key: Option<KeyId>,
    ) -> Result<(), String> {
        let Some(s) = self
            .values
            .get_mut(value as u64)
            .filter(|s| s.status == Status::Invoked && s.send.line == invoked)
        else {
            return Err(format!(
                "value {value} is not pending in the send invoked at line {invoked}"
            ));
        };
        if let Some(key) = key.filter(|&k| k != s.key) {
            return Err(format!(
                "value {value} was sent to key {} but completes on key {}",
                keys.name(s.key),
                keys.name(key)
            ));
        }
        s.status = status;
        s.send = here;
        if status == Status::Failed && !s.g1a_reported {
            // Only ok polls and acknowledged sends place a value, and this
            // one was not acknowledged: a poll returned it.
            if let Some(polled) = s.first {
                s.g1a_reported = true;
                let case = g1a(keys, value, polled, here);
                self.cases.push(Anomaly::G1a, case);
            }
        }
        Ok(())
    }

    fn poll(
        &mut self,
        keys: &Keys,
        here: OpRef,
        mops: &MicroOps,
        client: &mut Client,
    ) -> Result<(), String> {
        for r in &mops.records {
            if client.final_read {
                self.read_finally(keys, r)?;
            }
            let log = self.log(r.key);
            let news = log.see(r.offset, r.value, here, true);
            if log.polled_to.is_none_or(|top| top.offset < r.offset) {
                log.polled_to = Some(Mark {
                    offset: r.offset,
                    value: r.value,
                    op: here,
                });
            }
            if !matches!(news, News::Nothing) {
                self.learn(keys, here, r.key, r.offset, r.value, true, news)?;
            }
            let now = Mark {
                offset: r.offset,
                value: r.value,
                op: here,
            };
            let last = mark(&mut client.read_at, r.key);
            if let Some(before) = last.replace(now) {
                let within = before.op.line == here.line;
                // Jepsen's exemption: a partition moved by a rebalance
                // during the operation may be read from anywhere after.
                if within && mops.rebalanced.contains(&r.key) {
                    continue;
                }
                if r.offset <= before.offset {
                    let mut case = nonmonotonic_poll(keys, r.key, before, now);
                    let anomaly = if within {
                        Anomaly::IntNonmonotonicPoll
                    } else {
                        case.allowed = client.subscribed.then_some(SUBSCRIBED);
                        Anomaly::NonmonotonicPoll
                    };
                    self.cases.push(anomaly, case);
                } else if r.offset > before.offset + 1 {
                    let gap = Gap {
                        before: before.op,
                        after: here,
                        subscribed: client.subscribed,
                    };
                    self.gaps
                        .entry((Across::Polls, r.key, before.offset, r.offset))
                        .or_insert(gap);
                }
            }
        }
        Ok(())
    }

    /// `value` is at `offset` of `key`, as `here` (an acknowledgement, or
    /// an ok poll if `polled`) shows.
    fn place(
        &mut self,
        keys: &Keys,
        here: OpRef,
        key: KeyId,
        offset: Offset,
        value: Value,
        polled: bool,
    ) -> Result<(), String> {
        match self.log(key).see(offset, value, here, polled) {
            News::Nothing => Ok(()),
            news => self.learn(keys, here, key, offset, value, polled, news),
        }
    }

    /// What a sighting that was news means for the value, and the cases it
    /// makes.
    #[allow(clippy::too_many_arguments)]
    fn learn(
        &mut self,
        keys: &Keys,
        here: OpRef,
        key: KeyId,
        offset: Offset,
        value: Value,
        polled: bool,
        news: News,
    ) -> Result<(), String> {
        if let News::Conflict(first) = news {
            if self.conflicts.insert((key, offset, value)) {
                let case = inconsistent(keys, key, offset, first, value, here);
                self.cases.push(Anomaly::InconsistentOffsets, case);
            }
        }
        let Some(s) = self.values.get_mut(value as u64) else {
            return Err(format!(
                "value {value} at offset {offset} of key {} was polled but never sent before",
                keys.name(key)
            ));
        };
        let here_place = Place {
            key,
            offset,
            op: here,
        };
        if polled {
            s.polled.get_or_insert(here);
            if s.status == Status::Failed && !s.g1a_reported {
                s.g1a_reported = true;
                let case = g1a(keys, value, here_place, s.send);
                self.cases.push(Anomaly::G1a, case);
            }
        }
        match s.first {
            None => s.first = Some(here_place),
            Some(first) if (first.key, first.offset) != (key, offset) && !s.duplicate_reported => {
                s.duplicate_reported = true;
                let case = duplicate(keys, value, first, here_place);
                self.cases.push(Anomaly::Duplicate, case);
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn finish(&mut self, keys: &Keys, ww_deps: bool) {
        for (&(across, key, from, to), gap) in &self.gaps {
            let Some((skipped, slot)) = self
                .logs
                .get(key as usize)
                .and_then(|log| log.offsets.first_in(from + 1..to))
            else {
                continue;
            };
            let (anomaly, did, allowed) = match (across, gap.before.line == gap.after.line) {
                (Across::Polls, true) => (Anomaly::IntPollSkip, "read", None),
                (Across::Polls, false) => (
                    Anomaly::PollSkip,
                    "read",
                    gap.subscribed.then_some(SUBSCRIBED),
                ),
                (Across::Sends, _) => (
                    Anomaly::IntSendSkip,
                    "sent to",
                    Some("other clients' sends may land between one operation's (Jepsen always allows it)"),
                ),
            };
            self.cases.push(
                anomaly,
                Case {
                    key: keys.name(key).to_string(),
                    values: vec![slot.value],
                    offsets: vec![from, skipped, to],
                    why: format!(
                        "process {} {did} offset {from} of key {}, then offset {to}, skipping offset {skipped} (value {})",
                        gap.after.process,
                        keys.name(key),
                        slot.value
                    ),
                    ops: in_order(vec![gap.before, slot.op, gap.after]),
                    allowed,
                },
            );
        }
        let mut unjudged: BTreeMap<KeyId, u64> = BTreeMap::new();
        // Jepsen's "must have committed": a send operation of unknown
        // outcome one of whose values was polled happened, so each of its
        // values is held to what an acknowledged one is.
        let committed_ops: HashSet<u64> = self
            .values
            .iter()
            .filter(|(_, s)| s.status == Status::Unknown && s.polled.is_some())
            .map(|(_, s)| s.send.line)
            .collect();
        for (value, s) in self.values.iter() {
            let value = value as Value;
            let final_read = self.logs.get(s.key as usize).and_then(|log| log.final_read);
            let incomplete = matches!(final_read, Some((FinalRead::Incomplete, _)));
            // The final read is the ground truth of what the log still
            // holds: a value once polled (so written, whatever its send was
            // told) that it did not return is gone. A failed send's value
            // is G1a already.
            let gone = s.polled.is_some() && !s.in_final_read && s.status != Status::Failed;
            match (final_read, s.polled) {
                (Some((FinalRead::Complete, end)), Some(poll)) if gone => {
                    let case = lost_after_read(keys, value, s, poll, end);
                    self.cases.push(Anomaly::LostAfterRead, case);
                }
                (Some((FinalRead::Incomplete, _)), Some(_)) if gone => {
                    *unjudged.entry(s.key).or_default() += 1;
                }
                _ => {}
            }
            let must_have_committed =
                s.status == Status::Unknown && committed_ops.contains(&s.send.line);
            if !(s.status == Status::Acked || must_have_committed) || s.polled.is_some() {
                continue;
            }
            let told = if must_have_committed {
                "was sent by an operation of unknown outcome that must have committed (a poll returned another of its values)"
            } else {
                "was acknowledged"
            };
            if incomplete {
                // Never polled, and the final read stopped short of the
                // key's end: it may lie beyond where the read stopped.
                *unjudged.entry(s.key).or_default() += 1;
            }
            let name = keys.name(s.key);
            // Never polled: it was placed, if at all, by its acknowledgement.
            let Some(at) = s.first else {
                if incomplete {
                    continue;
                }
                self.cases.push(
                    Anomaly::Unseen,
                    Case {
                        key: name.to_string(),
                        values: vec![value],
                        offsets: vec![],
                        why: format!("value {value} of key {name} {told} (at no known offset) but never polled"),
                        ops: vec![s.send],
                        allowed: None,
                    },
                );
                continue;
            };
            if !incomplete {
                self.cases.push(
                    Anomaly::Unseen,
                    Case {
                        key: name.to_string(),
                        values: vec![value],
                        offsets: vec![at.offset],
                        why: format!(
                            "value {value} {told} at offset {} of key {name} but never polled",
                            at.offset
                        ),
                        ops: vec![s.send],
                        allowed: None,
                    },
                );
            }
            let top = self
                .logs
                .get(at.key as usize)
                .and_then(|log| log.polled_to)
                .filter(|top| top.offset > at.offset);
            if let Some(top) = top {
                self.cases.push(
                    Anomaly::LostWrite,
                    Case {
                        key: name.to_string(),
                        values: vec![value, top.value],
                        offsets: vec![at.offset, top.offset],
                        why: format!(
                            "value {value} was acknowledged at offset {} of key {name} but never polled, though offset {} (value {}) was",
                            at.offset, top.offset, top.value
                        ),
                        ops: in_order(vec![s.send, top.op]),
                        allowed: None,
                    },
                );
            }
        }
        self.cycles(keys, ww_deps);
        self.unjudged = unjudged
            .into_iter()
            .map(|(key, values)| Unjudged {
                key: keys.name(key).to_string(),
                values,
            })
            .collect();
        self.cases.sort();
    }
}

/// A dependency between two transactions: `to` polled `value` of `key`,
/// which `from` sent (write-read), or `from` sent the value of `key` just
/// before the one `to` sent, `value` (write-write, in offset order).
#[derive(Clone, Copy)]
struct Link {
    from: OpRef,
    to: OpRef,
    key: KeyId,
    value: Value,
    write_write: bool,
}

impl Link {
    fn describe(&self, keys: &Keys) -> String {
        let (a, b, key) = (self.from.line, self.to.line, keys.name(self.key));
        if self.write_write {
            format!(
                "the transaction at line {a} sent to key {key} just before the transaction at line {b} sent value {}",
                self.value
            )
        } else {
            format!(
                "the transaction at line {a} sent value {} to key {key}, which the transaction at line {b} polled",
                self.value
            )
        }
    }
}

/// Jepsen's exemptions for cycles (its `allowed-error-types`).
const G0_ALLOWED: &str = "Kafka does not isolate writes (Jepsen always allows G0)";
const G1C_ALLOWED: &str =
    "with write-write order, such cycles are expected: Kafka does not isolate writes (Jepsen allows G1c with --ww-deps)";

impl Seen {
    /// Cycles of dependencies between transactions: G1c, a cycle through
    /// a write-read dependency; with `ww_deps`, also G0, a cycle of
    /// write-write dependencies alone. One case per strongly connected
    /// component, as Elle reports them: a shortest cycle through one of
    /// its dependencies.
    fn cycles(&mut self, keys: &Keys, ww_deps: bool) {
        let mut links = self.write_read();
        if ww_deps {
            links.extend(self.write_write());
        }
        if links.is_empty() {
            return;
        }
        let g1c = ww_deps.then_some(G1C_ALLOWED);
        self.cycle_cases(keys, &links, Anomaly::G1c, g1c, |l| !l.write_write);
        if ww_deps {
            let ww: Vec<Link> = links.iter().copied().filter(|l| l.write_write).collect();
            self.cycle_cases(keys, &ww, Anomaly::G0, Some(G0_ALLOWED), |_| true);
        }
    }

    /// The write-read dependencies: a transaction's sends settle with its
    /// completion, so a read of a send still pending at the end names no
    /// writer.
    fn write_read(&self) -> Vec<Link> {
        self.txn_reads
            .iter()
            .filter_map(|read| {
                let writer = self.writer(read.value)?;
                Some(Link {
                    from: writer,
                    to: read.reader,
                    key: read.key,
                    value: read.value,
                    write_write: false,
                })
            })
            .collect()
    }

    /// The write-write dependencies: successive values of each key, in
    /// offset order, sent by two transactions.
    fn write_write(&self) -> Vec<Link> {
        let mut links = Vec::new();
        for (key, log) in self.logs.iter().enumerate() {
            let mut order: Vec<(Offset, Value)> =
                log.offsets.iter().map(|(o, s)| (o, s.value)).collect();
            order.sort_unstable();
            for pair in order.windows(2) {
                let (Some(a), Some(b)) = (self.writer(pair[0].1), self.writer(pair[1].1)) else {
                    continue;
                };
                if a.line != b.line {
                    links.push(Link {
                        from: a,
                        to: b,
                        key: key as KeyId,
                        value: pair[1].1,
                        write_write: true,
                    });
                }
            }
        }
        links
    }

    /// The completed transaction that sent `value`, if one did.
    fn writer(&self, value: Value) -> Option<OpRef> {
        let send = self.values.get(value as u64)?.send;
        (send.f == F::Txn && send.kind != Type::Invoke).then_some(send)
    }

    /// A case of `anomaly` for each strongly connected component of
    /// `links` with a link `through` allows inside it.
    fn cycle_cases(
        &mut self,
        keys: &Keys,
        links: &[Link],
        anomaly: Anomaly,
        allowed: Option<&'static str>,
        through: impl Fn(&Link) -> bool,
    ) {
        let mut node: HashMap<u64, usize> = HashMap::new();
        let mut id = |op: OpRef| {
            let next = node.len();
            *node.entry(op.line).or_insert(next)
        };
        let edges: Vec<(usize, usize)> = links.iter().map(|l| (id(l.from), id(l.to))).collect();
        let component = components(node.len(), &edges);
        let mut reported = HashSet::new();
        for (e, &(from, to)) in edges.iter().enumerate() {
            let c = component[from];
            if c != component[to] || !through(&links[e]) || !reported.insert(c) {
                continue;
            }
            let mut cycle = vec![e];
            cycle.extend(path(to, from, &edges, |n| component[n] == c));
            let steps: Vec<String> = cycle.iter().map(|&e| links[e].describe(keys)).collect();
            self.cases.push(
                anomaly,
                Case {
                    key: keys.name(links[e].key).to_string(),
                    values: cycle.iter().map(|&e| links[e].value).collect(),
                    offsets: vec![],
                    why: format!("a cycle of dependencies: {}", steps.join("; ")),
                    ops: in_order(cycle.iter().map(|&e| links[e].to).collect()),
                    allowed,
                },
            );
        }
    }
}

/// The strongly connected component of each node (Kosaraju's algorithm,
/// with explicit stacks: a history's graph may be deep).
fn components(nodes: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let (mut out, mut into) = (vec![Vec::new(); nodes], vec![Vec::new(); nodes]);
    for &(a, b) in edges {
        out[a].push(b);
        into[b].push(a);
    }
    // Nodes in the order their depth-first search finishes.
    let mut finished = Vec::with_capacity(nodes);
    let mut seen = vec![false; nodes];
    for start in 0..nodes {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![(start, 0)];
        while let Some((n, next)) = stack.pop() {
            if let Some(&m) = out[n].get(next) {
                stack.push((n, next + 1));
                if !seen[m] {
                    seen[m] = true;
                    stack.push((m, 0));
                }
            } else {
                finished.push(n);
            }
        }
    }
    let mut component = vec![usize::MAX; nodes];
    for (c, &root) in finished.iter().rev().enumerate() {
        if component[root] != usize::MAX {
            continue;
        }
        component[root] = c;
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            for &m in &into[n] {
                if component[m] == usize::MAX {
                    component[m] = c;
                    stack.push(m);
                }
            }
        }
    }
    component
}

/// The edges of a shortest path from `from` to `to` through nodes `inside`
/// allows (breadth first); empty if there is none.
fn path(
    from: usize,
    to: usize,
    edges: &[(usize, usize)],
    inside: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut by_node: HashMap<usize, Vec<usize>> = HashMap::new();
    for (e, &(a, _)) in edges.iter().enumerate() {
        by_node.entry(a).or_default().push(e);
    }
    let mut came_by: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([from]);
    let mut reached = HashSet::from([from]);
    while let Some(n) = queue.pop_front() {
        if n == to {
            break;
        }
        for &e in by_node.get(&n).into_iter().flatten() {
            let m = edges[e].1;
            if inside(m) && reached.insert(m) {
                came_by.insert(m, e);
                queue.push_back(m);
            }
        }
    }
    let mut steps = Vec::new();
    let mut at = to;
    while at != from {
        let Some(&e) = came_by.get(&at) else {
            return Vec::new();
        };
        steps.push(e);
        at = edges[e].0;
    }
    steps.reverse();
    steps
}

#[cold]
fn lost_after_read(keys: &Keys, value: Value, s: &Sending, poll: OpRef, end: OpRef) -> Case {
    let name = keys.name(s.key);
    let at = s.first.map(|p| p.offset);
    let offset = at.map_or(String::new(), |o| format!(" at offset {o}"));
    Case {
        key: name.to_string(),
        values: vec![value],
        offsets: at.into_iter().collect(),
        why: format!(
            "value {value} of key {name} was polled{offset}, but the final read, which read key {name} to its end, did not return it"
        ),
        ops: in_order(vec![s.send, poll, end]),
        allowed: None,
    }
}

#[cold]
fn nonmonotonic_send(keys: &Keys, key: KeyId, before: Mark, now: Mark) -> Case {
    let why = format!(
        "process {} sent value {} to offset {} of key {}, then value {} landed at offset {}",
        now.op.process,
        before.value,
        before.offset,
        keys.name(key),
        now.value,
        now.offset
    );
    out_of_order(keys, key, before, now, why)
}

#[cold]
fn nonmonotonic_poll(keys: &Keys, key: KeyId, before: Mark, now: Mark) -> Case {
    let why = format!(
        "process {} read offset {} of key {}, then offset {}",
        now.op.process,
        before.offset,
        keys.name(key),
        now.offset
    );
    out_of_order(keys, key, before, now, why)
}

/// The evidence of an offset that went backwards: the two operations.
fn out_of_order(keys: &Keys, key: KeyId, before: Mark, now: Mark, why: String) -> Case {
    Case {
        key: keys.name(key).to_string(),
        values: vec![before.value, now.value],
        offsets: vec![before.offset, now.offset],
        why,
        ops: in_order(vec![before.op, now.op]),
        allowed: None,
    }
}

#[cold]
fn inconsistent(
    keys: &Keys,
    key: KeyId,
    offset: Offset,
    first: Slot,
    value: Value,
    here: OpRef,
) -> Case {
    Case {
        key: keys.name(key).to_string(),
        values: vec![first.value, value],
        offsets: vec![offset],
        why: format!(
            "offset {offset} of key {} holds value {}, then value {value}",
            keys.name(key),
            first.value
        ),
        ops: in_order(vec![first.op, here]),
        allowed: None,
    }
}

#[cold]
fn duplicate(keys: &Keys, value: Value, first: Place, then: Place) -> Case {
    let at = |p: Place| format!("offset {} of key {}", p.offset, keys.name(p.key));
    Case {
        key: keys.name(first.key).to_string(),
        values: vec![value],
        offsets: vec![first.offset, then.offset],
        why: format!("value {value} is at {} and at {}", at(first), at(then)),
        ops: in_order(vec![first.op, then.op]),
        allowed: None,
    }
}

#[cold]
fn g1a(keys: &Keys, value: Value, polled: Place, failed: OpRef) -> Case {
    let name = keys.name(polled.key);
    Case {
        key: name.to_string(),
        values: vec![value],
        offsets: vec![polled.offset],
        why: format!(
            "value {value} was polled at offset {} of key {name} although its send failed",
            polled.offset
        ),
        ops: in_order(vec![polled.op, failed]),
        allowed: None,
    }
}
