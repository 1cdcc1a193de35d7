//! The producer: the application and the client library in one actor.
//!
//! The library keeps at most one request in flight
//! (`max.in.flight.requests.per.connection=1`), retries retriable errors and
//! request timeouts up to `retries` times with the same message id (the
//! idempotent producer's sequence number), and learns the leader from the
//! controller's metadata. The application's record of what it handed
//! to `send()` and what it was told survives a crash: that is its own
//! database, not the client's memory.

use super::{Ids, Out};
use crate::config::{Config, SendMode};
use crate::msg::{Epoch, Msg, MsgId, ProduceError, Set, Timer};
use kafka_oracle_properties::Acks;
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Producer {
    // The application's record (durable).
    /// Messages `1..=handed` were handed to `send()`.
    pub handed: MsgId,
    pub acked: Set,
    /// Failed after the last retry (told to the application unless it sends
    /// fire-and-forget).
    pub failed: Set,
    pub not_enough_replicas: u8,
    /// The id `InitProducerId` gave this incarnation of the client.
    pub producer_id: u8,
    // The client library (memory).
    pub up: bool,
    /// The leader and its epoch, from the last metadata.
    pub leader: Option<u8>,
    pub epoch: Epoch,
    /// The next buffered message to transmit; the buffer is `next..=handed`.
    pub next: MsgId,
    pub awaiting: Awaiting,
    /// Retries spent on message `next`.
    pub attempts: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Awaiting {
    Nothing,
    Produce,
}

impl Producer {
    pub fn start(cfg: &Config, ids: &Ids, o: &mut Out) -> Producer {
        // `send().get()` hands one message at a time; asynchronous sends
        // hand them all at once and let the library's buffer hold them.
        let handed = if cfg.send == SendMode::Sync {
            1
        } else {
            cfg.messages
        };
        let mut p = Producer {
            handed,
            acked: Set::default(),
            failed: Set::default(),
            not_enough_replicas: 0,
            producer_id: 0,
            up: true,
            leader: Some(0),
            epoch: 0,
            next: 1,
            awaiting: Awaiting::Nothing,
            attempts: 0,
        };
        pump(cfg, ids, &mut p, o);
        p
    }

    /// Every handed message has an outcome and the application is done.
    pub fn finished(&self, cfg: &Config) -> bool {
        self.up && self.handed == cfg.messages && self.next > self.handed
    }
}

/// Transmits the next buffered message to the leader. With no leader known,
/// it waits for the controller's next metadata.
fn pump(cfg: &Config, ids: &Ids, p: &mut Producer, o: &mut Out) {
    while p.up && p.awaiting == Awaiting::Nothing && p.next <= p.handed {
        let Some(leader) = p.leader else { return };
        let produce = Msg::Produce {
            msg: p.next,
            producer_id: p.producer_id,
        };
        o.send(ids.replica(leader), produce);
        if cfg.acks == Acks::None {
            // The client reports success once the request is on the socket.
            p.acked = p.acked.with(p.next);
            complete(cfg, p);
            continue;
        }
        p.awaiting = Awaiting::Produce;
        o.set_timer(Timer::RequestTimeout, stateright::actor::model_timeout());
    }
}

/// Message `next` has its outcome: move to the following one.
fn complete(cfg: &Config, p: &mut Producer) {
    p.next += 1;
    p.attempts = 0;
    if cfg.send == SendMode::Sync && p.handed < cfg.messages {
        p.handed += 1;
    }
}

/// The request for `next` failed: retry, or give up. The retry is sent at
/// once: `retry.backoff.ms` is a delay the network's freedom to deliver late
/// already covers.
fn retry_or_fail(cfg: &Config, p: &mut Producer, o: &mut Out) {
    o.cancel_timer(Timer::RequestTimeout);
    p.awaiting = Awaiting::Nothing;
    if p.attempts < cfg.retries {
        p.attempts += 1;
    } else {
        p.failed = p.failed.with(p.next);
        complete(cfg, p);
    }
}

pub fn on_msg(
    cfg: &Config,
    ids: &Ids,
    state: &mut Cow<Producer>,
    src: usize,
    msg: Msg,
    o: &mut Out,
) {
    if !state.up {
        return;
    }
    match msg {
        Msg::Metadata { leader, epoch }
            if epoch > state.epoch || (state.leader.is_none() && epoch == state.epoch) =>
        {
            let p = state.to_mut();
            p.leader = leader;
            p.epoch = epoch;
            if p.awaiting == Awaiting::Produce {
                // The connection to the old leader is gone with its request.
                retry_or_fail(cfg, p, o);
            }
            pump(cfg, ids, p, o);
        }
        Msg::ProduceResponse { msg, error }
            if state.awaiting == Awaiting::Produce
                && msg == state.next
                && ids.is_leader(state.leader, src) =>
        {
            let p = state.to_mut();
            match error {
                None => {
                    o.cancel_timer(Timer::RequestTimeout);
                    p.awaiting = Awaiting::Nothing;
                    p.acked = p.acked.with(msg);
                    complete(cfg, p);
                }
                Some(ProduceError::NotLeaderOrFollower) => {
                    // Wait for metadata naming the leader, then retry.
                    p.leader = None;
                    retry_or_fail(cfg, p, o);
                }
                Some(_) => {
                    p.not_enough_replicas += 1;
                    retry_or_fail(cfg, p, o);
                }
            }
            pump(cfg, ids, p, o);
        }
        _ => {}
    }
}

pub fn on_timeout(cfg: &Config, ids: &Ids, state: &mut Cow<Producer>, timer: &Timer, o: &mut Out) {
    match timer {
        // The request or its answer was lost (see `System::premature_timeout`).
        Timer::RequestTimeout if state.awaiting == Awaiting::Produce => {
            let p = state.to_mut();
            retry_or_fail(cfg, p, o);
            pump(cfg, ids, p, o);
        }
        Timer::ProcessCrash if state.up => {
            let p = state.to_mut();
            p.up = false;
            p.leader = None;
            p.epoch = 0;
            p.awaiting = Awaiting::Nothing;
            p.attempts = 0;
            if cfg.send == SendMode::FireAndForget {
                // The buffer dies with the process; the application never
                // learns, it thinks every handed record was sent.
                p.next = p.handed + 1;
            }
            o.cancel_timer(Timer::RequestTimeout);
            o.set_timer(Timer::Restart, stateright::actor::model_timeout());
        }
        Timer::Restart if !state.up => {
            // An application that waits for acknowledgements knows which
            // messages were not confirmed and sends them again, once the
            // new client has found the leader. The new client is a new
            // producer id: its resends are not the old one's retries.
            let p = state.to_mut();
            p.up = true;
            p.producer_id += 1;
            o.send(ids.controller(), Msg::MetadataRequest);
        }
        _ => {}
    }
}
