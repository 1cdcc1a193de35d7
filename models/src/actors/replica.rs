//! A replica of the partition: leader or follower, as the controller says.
//!
//! What is abstracted: one partition; a log entry is one record batch; the
//! leader epoch cache is read off the entries' epochs; the high-watermark
//! checkpoint is written (and fsynced) at every change; fetch sessions,
//! throttling and timeouts are gone. A follower's fetch that would bring
//! nothing new is parked at the leader (a long poll, as Kafka's
//! `DelayedFetch`) and answered when the leader's log end or high watermark
//! moves, so a settled system is quiet.

use super::{Ids, Out};
use crate::config::{Config, Flush, Truncation};
use crate::msg::{
    Entry, Epoch, FetchResult, Msg, MsgId, Offset, PollResult, ProduceError, Set, Timer,
};
use kafka_oracle_properties::Acks;
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Replica {
    pub ix: u8,
    // On disk: survives a process crash; only the flushed part survives a
    // machine crash.
    pub log: Vec<Entry>,
    pub high_watermark: Offset,
    /// How many times the process was started again (the broker epoch of
    /// KIP-380, which Kafka takes from ZooKeeper).
    pub broker_epoch: u8,
    // In memory.
    pub up: bool,
    /// The leader epoch this replica last learned from the controller.
    pub epoch: Epoch,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Restarted, waiting to hear from the controller.
    Unassigned,
    Leader(Leadership),
    /// `fetching`: a fetch is outstanding (or parked at the leader).
    Follower {
        leader: u8,
        fetching: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Leadership {
    /// The ISR as the controller last confirmed it, and its partition epoch.
    pub isr: Set,
    pub version: u8,
    /// An `AlterIsr` in flight: until the controller confirms it, the high
    /// watermark waits for the union of both (KIP-497's "maximal ISR").
    pub pending_isr: Option<Set>,
    /// Each follower's log end offset, from its last fetch in this epoch.
    pub follower_leo: [Option<Offset>; 3],
    /// Followers whose fetch is parked.
    pub parked: Set,
    /// The consumer's parked fetch offset.
    pub parked_consumer: Option<Offset>,
    /// An acks=all produce waiting for the high watermark: (message, offset).
    pub produce: Option<(MsgId, Offset)>,
}

impl Leadership {
    fn new(isr: Set, version: u8) -> Leadership {
        Leadership {
            isr,
            version,
            pending_isr: None,
            follower_leo: [None; 3],
            parked: Set::default(),
            parked_consumer: None,
            produce: None,
        }
    }
}

impl Replica {
    /// The initial cluster: replica 0 leads epoch 0 with every replica in
    /// sync, and each follower has sent its first fetch.
    pub fn start(cfg: &Config, ids: &Ids, ix: u8, o: &mut Out) -> Replica {
        let all = Set::of(0..cfg.replication_factor);
        let role = if ix == 0 {
            Role::Leader(Leadership::new(all, 0))
        } else {
            Role::Follower {
                leader: 0,
                fetching: true,
            }
        };
        let replica = Replica {
            ix,
            log: Vec::new(),
            high_watermark: 0,
            broker_epoch: 0,
            up: true,
            epoch: 0,
            role,
        };
        if ix != 0 {
            o.send(ids.replica(0), replica.fetch_request());
        }
        replica
    }

    pub fn log_end_offset(&self) -> Offset {
        self.log.len() as Offset
    }

    pub fn leadership(&self) -> Option<&Leadership> {
        match &self.role {
            Role::Leader(l) if self.up => Some(l),
            _ => None,
        }
    }

    fn last_epoch(&self) -> Epoch {
        self.log.last().map_or(0, |e| e.epoch)
    }

    fn fetch_request(&self) -> Msg {
        Msg::Fetch {
            epoch: self.epoch,
            offset: self.log_end_offset(),
            last_epoch: self.last_epoch(),
            high_watermark: self.high_watermark,
        }
    }

    /// Number of entries whose epoch is at most `epoch`: the end offset of
    /// that epoch, as the epoch cache would answer it.
    fn end_offset_for(&self, epoch: Epoch) -> Offset {
        self.log.iter().take_while(|e| e.epoch <= epoch).count() as Offset
    }

    fn truncate(&mut self, offset: Offset) {
        self.log.truncate(offset as usize);
        self.high_watermark = self.high_watermark.min(offset);
    }
}

pub fn on_msg(
    cfg: &Config,
    ids: &Ids,
    state: &mut Cow<Replica>,
    src: usize,
    msg: Msg,
    o: &mut Out,
) {
    if !state.up {
        return; // a dead process reads nothing; the message is lost
    }
    match msg {
        Msg::LeaderAndIsr {
            leader,
            epoch,
            isr,
            version,
            broker_epoch,
        } if broker_epoch == state.broker_epoch => {
            on_leader_and_isr(cfg, ids, state, leader, epoch, isr, version, o)
        }
        Msg::Produce { msg, producer_id } => {
            on_produce(cfg, ids, state, src, (msg, producer_id), o)
        }
        Msg::Fetch {
            epoch,
            offset,
            last_epoch,
            high_watermark,
        } => {
            let Some(f) = ids.replica_ix(src) else { return };
            on_fetch(
                cfg,
                ids,
                state,
                f,
                epoch,
                offset,
                last_epoch,
                high_watermark,
                o,
            )
        }
        Msg::FetchResponse { epoch, result } => {
            on_fetch_response(ids, state, src, epoch, result, o)
        }
        Msg::ConsumerFetch { offset } => on_consumer_fetch(state, src, offset, o),
        Msg::ListOffsets => {
            let offset = state.leadership().map(|_| state.high_watermark);
            o.send(src.into(), Msg::ListOffsetsResponse { offset });
        }
        _ => {}
    }
}

pub fn on_timeout(cfg: &Config, ids: &Ids, state: &mut Cow<Replica>, timer: &Timer, o: &mut Out) {
    match timer {
        Timer::ProcessCrash | Timer::MachineCrash if state.up => {
            let r = state.to_mut();
            r.up = false;
            r.epoch = 0;
            r.role = Role::Unassigned;
            if *timer == Timer::MachineCrash && cfg.flush == Flush::PageCache {
                r.truncate(0); // the page cache is gone and nothing was fsynced
            }
            o.cancel_timer(Timer::FetchRetry);
            o.send(ids.controller(), Msg::BrokerDown);
            o.set_timer(Timer::Restart, stateright::actor::model_timeout());
        }
        Timer::Restart if !state.up => {
            let r = state.to_mut();
            r.up = true;
            r.broker_epoch += 1;
            let broker_epoch = r.broker_epoch;
            o.send(ids.controller(), Msg::BrokerUp { broker_epoch });
        }
        Timer::FetchRetry => {
            if let Role::Follower {
                leader,
                fetching: false,
            } = state.role
            {
                let r = state.to_mut();
                r.role = Role::Follower {
                    leader,
                    fetching: true,
                };
                o.send(ids.replica(leader), r.fetch_request());
            }
        }
        Timer::LagTimeout => shrink_isr(ids, state, o),
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn on_leader_and_isr(
    cfg: &Config,
    ids: &Ids,
    state: &mut Cow<Replica>,
    leader: u8,
    epoch: Epoch,
    isr: Set,
    version: u8,
    o: &mut Out,
) {
    if epoch < state.epoch {
        return; // from an older controller decision
    }
    if leader == state.ix {
        match &state.role {
            Role::Leader(l) if epoch == state.epoch => {
                if version <= l.version {
                    return;
                }
                // The controller changed the ISR of our epoch.
                let r = state.to_mut();
                let Role::Leader(l) = &mut r.role else {
                    unreachable!()
                };
                l.isr = isr;
                l.version = version;
                l.pending_isr = None;
                advance_high_watermark(cfg, ids, r, o);
            }
            _ => {
                let r = state.to_mut();
                r.epoch = epoch;
                r.role = Role::Leader(Leadership::new(isr, version));
                advance_high_watermark(cfg, ids, r, o);
                // The clients learn of the new leader once it leads (in Kafka
                // they may hear first and be told NOT_LEADER until it does).
                let metadata = Msg::Metadata {
                    leader: Some(r.ix),
                    epoch,
                };
                o.send(ids.producer(), metadata.clone());
                o.send(ids.consumer(), metadata);
            }
        }
        return;
    }
    if epoch == state.epoch && matches!(state.role, Role::Follower { leader: l, .. } if l == leader)
    {
        return; // already following this leader in this epoch
    }
    let r = state.to_mut();
    r.epoch = epoch;
    if cfg.truncation == Truncation::HighWatermark {
        // Before KIP-101 a new follower drops everything above its high
        // watermark, which may be behind the leader's.
        r.truncate(r.high_watermark);
    }
    r.role = Role::Follower {
        leader,
        fetching: true,
    };
    o.cancel_timer(Timer::FetchRetry);
    o.send(ids.replica(leader), r.fetch_request());
}

fn on_produce(
    cfg: &Config,
    ids: &Ids,
    state: &mut Cow<Replica>,
    src: usize,
    (msg, producer_id): (MsgId, u8),
    o: &mut Out,
) {
    let respond = |o: &mut Out, error| {
        if cfg.acks != Acks::None {
            o.send(src.into(), Msg::ProduceResponse { msg, error });
        }
    };
    let Some(l) = state.leadership() else {
        respond(o, Some(ProduceError::NotLeaderOrFollower));
        return;
    };
    if cfg.acks == Acks::All && l.isr.len() < cfg.min_insync_replicas {
        respond(o, Some(ProduceError::NotEnoughReplicas));
        return;
    }
    let existing = state
        .log
        .iter()
        .position(|e| e.msg == msg && e.producer_id == producer_id);
    let r = state.to_mut();
    let offset = match existing {
        // The idempotent producer's retry: the sequence number is known, so
        // the record is not written again.
        Some(offset) if cfg.idempotence => offset as Offset,
        _ => {
            r.log.push(Entry {
                epoch: r.epoch,
                msg,
                producer_id,
            });
            r.log_end_offset() - 1
        }
    };
    match cfg.acks {
        Acks::None => {}
        Acks::Leader => respond(o, None),
        // A duplicate of a committed record: nothing to wait for.
        Acks::All if offset < r.high_watermark => respond(o, None),
        Acks::All => {
            let Role::Leader(l) = &mut r.role else {
                unreachable!()
            };
            l.produce = Some((msg, offset));
        }
    }
    advance_high_watermark(cfg, ids, r, o);
    wake_followers(ids, r, o);
}

#[allow(clippy::too_many_arguments)]
fn on_fetch(
    cfg: &Config,
    ids: &Ids,
    state: &mut Cow<Replica>,
    f: u8,
    epoch: Epoch,
    offset: Offset,
    last_epoch: Epoch,
    follower_hw: Offset,
    o: &mut Out,
) {
    let to = ids.replica(f);
    if state.leadership().is_none() || epoch != state.epoch {
        o.send(
            to,
            Msg::FetchResponse {
                epoch,
                result: FetchResult::NotLeader,
            },
        );
        return;
    }
    let leo = state.log_end_offset();
    match cfg.truncation {
        Truncation::LeaderEpoch if offset > 0 => {
            // KIP-320: is the follower's last fetched epoch consistent with ours?
            let known = state
                .log
                .iter()
                .map(|e| e.epoch)
                .filter(|&e| e <= last_epoch)
                .max();
            let (e, end) = if last_epoch == state.epoch {
                (last_epoch, leo)
            } else {
                known.map_or((0, 0), |e| (e, state.end_offset_for(e)))
            };
            if e != last_epoch || end < offset {
                let result = FetchResult::Diverging {
                    offset,
                    epoch: e,
                    end_offset: end,
                };
                o.send(to, Msg::FetchResponse { epoch, result });
                return;
            }
        }
        Truncation::HighWatermark if offset > leo => {
            let result = FetchResult::OutOfRange {
                offset,
                log_end_offset: leo,
            };
            o.send(to, Msg::FetchResponse { epoch, result });
            return;
        }
        _ => {}
    }
    let r = state.to_mut();
    let hw = r.high_watermark;
    let Role::Leader(l) = &mut r.role else {
        unreachable!()
    };
    l.follower_leo[f as usize] = Some(offset);
    l.parked = l.parked.without(f);
    // A follower that caught up to the high watermark rejoins the ISR.
    let maximal = l.pending_isr.unwrap_or(l.isr).union(l.isr);
    if !maximal.contains(f) && l.pending_isr.is_none() && offset >= hw {
        let isr = l.isr.with(f);
        l.pending_isr = Some(isr);
        let (epoch, version) = (r.epoch, l.version);
        o.send(
            ids.controller(),
            Msg::AlterIsr {
                epoch,
                isr,
                version,
            },
        );
    }
    advance_high_watermark(cfg, ids, r, o);
    let Role::Leader(l) = &mut r.role else {
        unreachable!()
    };
    if offset == r.log.len() as Offset && follower_hw == r.high_watermark {
        l.parked = l.parked.with(f); // nothing new: long-poll
    } else {
        send_records(ids, r, f, offset, o);
    }
}

fn send_records(ids: &Ids, r: &Replica, f: u8, offset: Offset, o: &mut Out) {
    let result = FetchResult::Records {
        offset,
        entries: r.log[offset as usize..].into(),
        high_watermark: r.high_watermark,
    };
    o.send(
        ids.replica(f),
        Msg::FetchResponse {
            epoch: r.epoch,
            result,
        },
    );
}

/// Answers every parked fetch: the log end or the high watermark moved.
fn wake_followers(ids: &Ids, r: &mut Replica, o: &mut Out) {
    let Role::Leader(l) = &mut r.role else { return };
    let parked = std::mem::take(&mut l.parked);
    let leos = l.follower_leo;
    for f in parked.iter() {
        send_records(ids, r, f, leos[f as usize].unwrap_or(0), o);
    }
}

/// Kafka's `maybeIncrementLeaderHW`: the high watermark is the smallest log
/// end offset in the (maximal) ISR, and only moves forward.
fn advance_high_watermark(cfg: &Config, ids: &Ids, r: &mut Replica, o: &mut Out) {
    let leo = r.log_end_offset();
    let me = r.ix;
    let Role::Leader(l) = &mut r.role else { return };
    let maximal = l.pending_isr.unwrap_or(l.isr).union(l.isr);
    let hw = maximal
        .iter()
        .filter(|&f| f != me)
        .map(|f| l.follower_leo[f as usize].unwrap_or(0))
        .fold(leo, Offset::min);
    if hw <= r.high_watermark {
        return;
    }
    r.high_watermark = hw;
    if let Some((msg, _)) = l.produce.filter(|&(_, offset)| offset < hw) {
        l.produce = None;
        let error = (l.isr.len() < cfg.min_insync_replicas)
            .then_some(ProduceError::NotEnoughReplicasAfterAppend);
        o.send(ids.producer(), Msg::ProduceResponse { msg, error });
    }
    if let Some(offset) = l.parked_consumer.filter(|&offset| offset < hw) {
        l.parked_consumer = None;
        o.send(ids.consumer(), consumer_records(r, offset));
    }
    wake_followers(ids, r, o);
}

fn on_fetch_response(
    ids: &Ids,
    state: &mut Cow<Replica>,
    src: usize,
    epoch: Epoch,
    result: FetchResult,
    o: &mut Out,
) {
    let Role::Follower {
        leader,
        fetching: true,
    } = state.role
    else {
        return;
    };
    if ids.replica(leader) != src.into() || epoch != state.epoch {
        return; // an answer to a fetch from a previous epoch
    }
    let r = state.to_mut();
    match result {
        FetchResult::Records {
            offset,
            entries,
            high_watermark,
        } => {
            if offset != r.log_end_offset() {
                return;
            }
            r.log.extend(entries.iter().copied());
            let hw = high_watermark.min(r.log_end_offset());
            r.high_watermark = r.high_watermark.max(hw);
        }
        // An answer applies only to the fetch the follower has out, from its
        // log end (Kafka's fetcher checks the request's fetch offset against
        // the partition's): a copy, or an answer to an earlier incarnation's
        // fetch, changes nothing.
        FetchResult::Diverging {
            offset,
            epoch,
            end_offset,
        } => {
            if offset != r.log_end_offset() {
                return;
            }
            let end = end_offset.min(r.end_offset_for(epoch));
            r.truncate(end);
        }
        FetchResult::OutOfRange {
            offset,
            log_end_offset,
        } => {
            if offset != r.log_end_offset() {
                return;
            }
            r.truncate(log_end_offset)
        }
        FetchResult::NotLeader => {
            r.role = Role::Follower {
                leader,
                fetching: false,
            };
            o.set_timer(Timer::FetchRetry, stateright::actor::model_timeout());
            return;
        }
    }
    o.send(ids.replica(leader), r.fetch_request());
}

/// The committed records from `offset`: consumers read up to the high
/// watermark only.
fn consumer_records(r: &Replica, offset: Offset) -> Msg {
    let msgs = r.log[offset as usize..r.high_watermark as usize]
        .iter()
        .map(|e| e.msg)
        .collect();
    Msg::ConsumerFetchResponse {
        result: PollResult::Records { offset, msgs },
    }
}

fn on_consumer_fetch(state: &mut Cow<Replica>, src: usize, offset: Offset, o: &mut Out) {
    let Some(_) = state.leadership() else {
        o.send(
            src.into(),
            Msg::ConsumerFetchResponse {
                result: PollResult::NotLeader,
            },
        );
        return;
    };
    if offset > state.log_end_offset() {
        o.send(
            src.into(),
            Msg::ConsumerFetchResponse {
                result: PollResult::OutOfRange,
            },
        );
        return;
    }
    let hw = state.high_watermark;
    if offset >= hw {
        let r = state.to_mut();
        let Role::Leader(l) = &mut r.role else {
            unreachable!()
        };
        l.parked_consumer = Some(offset); // long-poll until the high watermark moves
        return;
    }
    o.send(src.into(), consumer_records(state, offset));
}

/// `replica.lag.time.max.ms` expired: every follower not at the log end
/// leaves the ISR (Kafka's `getOutOfSyncReplicas`), through the controller.
fn shrink_isr(ids: &Ids, state: &mut Cow<Replica>, o: &mut Out) {
    let leo = state.log_end_offset();
    let epoch = state.epoch;
    let Some(l) = state.leadership() else { return };
    if l.pending_isr.is_some() {
        return;
    }
    let lagging: Vec<u8> = l
        .isr
        .iter()
        .filter(|&f| f != state.ix && l.follower_leo[f as usize] != Some(leo))
        .collect();
    if lagging.is_empty() {
        return;
    }
    let isr = lagging.iter().fold(l.isr, |isr, &f| isr.without(f));
    let version = l.version;
    let r = state.to_mut();
    let Role::Leader(l) = &mut r.role else {
        unreachable!()
    };
    l.pending_isr = Some(isr);
    o.send(
        ids.controller(),
        Msg::AlterIsr {
            epoch,
            isr,
            version,
        },
    );
}
