//! The consumer: one member of a consumer group, the application and the
//! client library in one actor.
//!
//! Abstracted: the group's committed offset lives in `__consumer_offsets`,
//! modelled as storage that survives the consumer's crash and is never lost
//! itself (it is a replicated partition of its own); there is no rebalance,
//! the single member owns the partition. What the application processed is
//! an effect on the outside world and survives a crash too.

use super::{Ids, Out};
use crate::config::{CommitMode, Config, OffsetReset};
use crate::msg::{Epoch, Msg, MsgId, Offset, PollResult, Timer};
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Consumer {
    // Durable.
    pub committed: Option<Offset>,
    pub processed: Vec<MsgId>,
    // Memory.
    pub up: bool,
    /// The leader and its epoch, from the last metadata.
    pub leader: Option<u8>,
    pub epoch: Epoch,
    /// The next offset to fetch; `None` until initialised from the committed
    /// offset or by `auto.offset.reset`.
    pub position: Option<Offset>,
    /// Records returned by `poll()` and not processed yet (for the handoff
    /// mode: the in-memory queue of the worker thread).
    pub held: Vec<MsgId>,
    /// The application owes a commit before it polls again.
    pub commit_due: bool,
    pub awaiting: Awaiting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Awaiting {
    Nothing,
    ListOffsets,
    Fetch,
}

impl Consumer {
    pub fn start(cfg: &Config, ids: &Ids, o: &mut Out) -> Consumer {
        let mut c = Consumer {
            committed: None,
            processed: Vec::new(),
            up: true,
            leader: Some(0),
            epoch: 0,
            position: None,
            held: Vec::new(),
            commit_due: false,
            awaiting: Awaiting::Nothing,
        };
        if cfg.consumer {
            poll(cfg, ids, &mut c, o);
        }
        c
    }

    /// Nothing held, nothing owed: the application waits in `poll()`.
    pub fn idle(&self) -> bool {
        self.up && self.held.is_empty() && !self.commit_due && self.awaiting == Awaiting::Fetch
    }
}

/// The application calls `poll()`: with auto-commit, the position the
/// previous `poll()` returned is committed first (Kafka's client does it
/// inside `poll()`); then a fetch goes to the leader.
fn poll(cfg: &Config, ids: &Ids, c: &mut Consumer, o: &mut Out) {
    if matches!(cfg.commit, CommitMode::Auto | CommitMode::AutoHandoff) && c.position.is_some() {
        c.committed = c.position;
    }
    fetch(cfg, ids, c, o);
}

fn fetch(cfg: &Config, ids: &Ids, c: &mut Consumer, o: &mut Out) {
    if c.awaiting != Awaiting::Nothing {
        return;
    }
    let Some(leader) = c.leader else {
        return; // the controller's next metadata says where to go
    };
    if c.position.is_none() {
        c.position = match (c.committed, cfg.offset_reset) {
            (Some(offset), _) => Some(offset),
            (None, OffsetReset::Earliest) => Some(0),
            (None, OffsetReset::Latest) => None,
        };
    }
    let msg = match c.position {
        Some(offset) => {
            c.awaiting = Awaiting::Fetch;
            Msg::ConsumerFetch { offset }
        }
        None => {
            c.awaiting = Awaiting::ListOffsets;
            Msg::ListOffsets
        }
    };
    o.send(ids.replica(leader), msg);
    o.set_timer(Timer::RequestTimeout, stateright::actor::model_timeout());
}

/// NOT_LEADER_OR_FOLLOWER: forget the leader until metadata names one.
fn lost_leader(c: &mut Consumer, o: &mut Out) {
    c.leader = None;
    c.awaiting = Awaiting::Nothing;
    o.cancel_timer(Timer::RequestTimeout);
}

pub fn on_msg(
    cfg: &Config,
    ids: &Ids,
    state: &mut Cow<Consumer>,
    src: usize,
    msg: Msg,
    o: &mut Out,
) {
    if !state.up || !cfg.consumer {
        return;
    }
    let answer = matches!(
        msg,
        Msg::ListOffsetsResponse { .. } | Msg::ConsumerFetchResponse { .. }
    );
    if answer && !ids.is_leader(state.leader, src) {
        return;
    }
    match msg {
        Msg::Metadata { leader, epoch }
            if epoch > state.epoch || (state.leader.is_none() && epoch == state.epoch) =>
        {
            let c = state.to_mut();
            c.leader = leader;
            c.epoch = epoch;
            if c.awaiting != Awaiting::Nothing {
                // The request to the old leader died with its connection.
                c.awaiting = Awaiting::Nothing;
                o.cancel_timer(Timer::RequestTimeout);
            }
            // Unless the application is busy processing, it is in poll();
            // with a worker thread, the poll loop never waits for it.
            if (c.held.is_empty() && !c.commit_due) || cfg.commit == CommitMode::AutoHandoff {
                fetch(cfg, ids, c, o);
            }
        }
        Msg::ListOffsetsResponse { offset } if state.awaiting == Awaiting::ListOffsets => {
            let c = state.to_mut();
            match offset {
                Some(offset) => {
                    c.awaiting = Awaiting::Nothing;
                    c.position = Some(offset);
                    o.cancel_timer(Timer::RequestTimeout);
                    fetch(cfg, ids, c, o);
                }
                None => lost_leader(c, o),
            }
        }
        Msg::ConsumerFetchResponse { result } if state.awaiting == Awaiting::Fetch => {
            on_records(cfg, ids, state, result, o)
        }
        _ => {}
    }
}

fn on_records(cfg: &Config, ids: &Ids, state: &mut Cow<Consumer>, result: PollResult, o: &mut Out) {
    let c = state.to_mut();
    c.awaiting = Awaiting::Nothing;
    o.cancel_timer(Timer::RequestTimeout);
    let (offset, msgs) = match result {
        PollResult::Records { offset, msgs } if Some(offset) == c.position => (offset, msgs),
        PollResult::Records { .. } => return fetch(cfg, ids, c, o),
        PollResult::OutOfRange => {
            // The log was truncated below our position: auto.offset.reset.
            c.position = (cfg.offset_reset == OffsetReset::Earliest).then_some(0);
            return fetch(cfg, ids, c, o);
        }
        PollResult::NotLeader => return lost_leader(c, o),
    };
    c.position = Some(offset + msgs.len() as Offset);
    c.held.extend(msgs.iter().copied());
    if cfg.faults.consumer_crashes == 0 {
        // Processing and committing are local steps; with no consumer crash
        // to fall between them, their order cannot be observed, and running
        // them at once loses no behaviour.
        let held = std::mem::take(&mut c.held);
        c.processed.extend(held);
        if matches!(
            cfg.commit,
            CommitMode::ProcessThenCommit | CommitMode::CommitThenProcess
        ) {
            c.committed = c.position;
        }
        return poll(cfg, ids, c, o);
    }
    match cfg.commit {
        CommitMode::Auto | CommitMode::ProcessThenCommit => {
            o.set_timer(Timer::Process, stateright::actor::model_timeout())
        }
        CommitMode::CommitThenProcess => {
            c.commit_due = true;
            o.set_timer(Timer::Commit, stateright::actor::model_timeout());
        }
        CommitMode::AutoHandoff => {
            // Queued for the worker thread; the poll loop goes on at once.
            o.set_timer(Timer::Process, stateright::actor::model_timeout());
            o.set_timer(Timer::Poll, stateright::actor::model_timeout());
        }
    }
}

pub fn on_timeout(cfg: &Config, ids: &Ids, state: &mut Cow<Consumer>, timer: &Timer, o: &mut Out) {
    match timer {
        Timer::Process if state.up && !state.held.is_empty() => {
            let c = state.to_mut();
            let held = std::mem::take(&mut c.held);
            c.processed.extend(held);
            match cfg.commit {
                CommitMode::ProcessThenCommit => {
                    c.commit_due = true;
                    o.set_timer(Timer::Commit, stateright::actor::model_timeout());
                }
                CommitMode::Auto | CommitMode::CommitThenProcess => poll(cfg, ids, c, o),
                CommitMode::AutoHandoff => {}
            }
        }
        Timer::Commit if state.up && state.commit_due => {
            let c = state.to_mut();
            c.committed = c.position;
            c.commit_due = false;
            match cfg.commit {
                CommitMode::CommitThenProcess => {
                    o.set_timer(Timer::Process, stateright::actor::model_timeout())
                }
                _ => poll(cfg, ids, c, o),
            }
        }
        Timer::Poll if state.up => poll(cfg, ids, state.to_mut(), o),
        // The request or its answer was lost (see `System::premature_timeout`).
        Timer::RequestTimeout
            if state.up && matches!(state.awaiting, Awaiting::Fetch | Awaiting::ListOffsets) =>
        {
            let c = state.to_mut();
            c.awaiting = Awaiting::Nothing;
            fetch(cfg, ids, c, o);
        }
        Timer::ProcessCrash if state.up => {
            let c = state.to_mut();
            c.up = false;
            c.leader = None;
            c.epoch = 0;
            c.position = None;
            c.held.clear();
            c.commit_due = false;
            c.awaiting = Awaiting::Nothing;
            for t in [
                Timer::RequestTimeout,
                Timer::Process,
                Timer::Commit,
                Timer::Poll,
            ] {
                o.cancel_timer(t);
            }
            o.set_timer(Timer::Restart, stateright::actor::model_timeout());
        }
        Timer::Restart if !state.up => {
            let c = state.to_mut();
            c.up = true;
            o.send(ids.controller(), Msg::MetadataRequest);
        }
        _ => {}
    }
}
