//! The controller: elects leaders, keeps the ISR, bumps the leader epoch.
//!
//! Abstracted: the controller never crashes and its state is durable (it is
//! ZooKeeper's, or the KRaft quorum's); it learns of a replica's crash when
//! the replica's session expires (`BrokerDown`, sent on the replica's behalf)
//! and of its restart when it registers again (`BrokerUp`). ISR changes bump
//! the partition epoch (`version`, KIP-497), not the leader epoch.

use super::{Ids, Out};
use crate::config::Config;
use crate::msg::{Epoch, Msg, Set};
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Controller {
    pub leader: Option<u8>,
    pub epoch: Epoch,
    pub isr: Set,
    pub version: u8,
    /// Replicas with a live session.
    pub live: Set,
    /// Each replica's incarnation, from its last registration.
    pub broker_epochs: [u8; 3],
}

impl Controller {
    pub fn start(cfg: &Config) -> Controller {
        let all = Set::of(0..cfg.replication_factor);
        Controller {
            leader: Some(0),
            epoch: 0,
            isr: all,
            version: 0,
            live: all,
            broker_epochs: [0; 3],
        }
    }

    fn metadata(&self) -> Msg {
        Msg::Metadata {
            leader: self.leader,
            epoch: self.epoch,
        }
    }

    /// The partition's state, for replica `to`.
    fn leader_and_isr(&self, leader: u8, to: u8) -> Msg {
        Msg::LeaderAndIsr {
            leader,
            epoch: self.epoch,
            isr: self.isr,
            version: self.version,
            broker_epoch: self.broker_epochs[to as usize],
        }
    }
}

pub fn on_msg(
    cfg: &Config,
    ids: &Ids,
    state: &mut Cow<Controller>,
    src: usize,
    msg: Msg,
    o: &mut Out,
) {
    match msg {
        Msg::BrokerDown => {
            let Some(r) = ids.replica_ix(src) else { return };
            broker_down(cfg, ids, state.to_mut(), r, o);
        }
        Msg::BrokerUp { broker_epoch } => {
            let Some(r) = ids.replica_ix(src) else { return };
            let c = state.to_mut();
            if c.live.contains(r) {
                // A new incarnation of a broker thought alive: it bounced, and
                // what it held in memory is gone (KIP-380).
                broker_down(cfg, ids, c, r, o);
            }
            c.live = c.live.with(r);
            c.broker_epochs[r as usize] = broker_epoch;
            match c.leader {
                None => elect(cfg, ids, c, o),
                Some(leader) => o.send(ids.replica(r), c.leader_and_isr(leader, r)),
            }
        }
        Msg::AlterIsr {
            epoch,
            isr,
            version,
        } => {
            let Some(r) = ids.replica_ix(src) else { return };
            if state.leader != Some(r) || state.epoch != epoch {
                return; // a deposed leader: the new one is already told
            }
            if state.version == version {
                let c = state.to_mut();
                c.isr = isr.intersect(c.live).with(r);
                c.version += 1;
            }
            // Accepted or not, the leader learns the current ISR.
            o.send(src.into(), state.leader_and_isr(r, r));
        }
        Msg::MetadataRequest => o.send(src.into(), state.metadata()),
        _ => {}
    }
}

/// A replica's session ended: it leaves the ISR, and if it led, another
/// replica is elected.
fn broker_down(cfg: &Config, ids: &Ids, c: &mut Controller, r: u8, o: &mut Out) {
    c.live = c.live.without(r);
    if c.leader == Some(r) {
        elect(cfg, ids, c, o);
    } else if c.isr.contains(r) {
        c.isr = c.isr.without(r);
        c.version += 1;
        if let Some(leader) = c.leader {
            o.send(ids.replica(leader), c.leader_and_isr(leader, leader));
        }
    }
}

/// The key of the controller's one nondeterministic choice.
pub const ELECTION: &str = "election";

/// Kafka's offline-partition election: a live ISR member, or with
/// `unclean.leader.election.enable` any live replica. With neither, the
/// partition stays offline and the ISR keeps its last members.
///
/// Kafka takes the first eligible replica in the partition's assignment
/// order. The model elects any eligible one: every assignment order is
/// covered by one check, and no replica is special, so a state and its
/// image under a renaming of the replicas have the same futures (the
/// symmetry `system::representative` relies on). With more than one
/// candidate the choice is Stateright's random choice, which `System` takes
/// in the same step as the message that called for it.
fn elect(cfg: &Config, ids: &Ids, c: &mut Controller, o: &mut Out) {
    let candidates = eligible(cfg, c);
    match candidates.len() {
        0 => c.leader = None,
        1 => install(cfg, ids, c, candidates.first().expect("one candidate"), o),
        _ => {
            c.leader = None;
            o.choose_random(ELECTION, candidates.iter().collect());
        }
    }
}

/// The replicas the controller may elect now.
fn eligible(cfg: &Config, c: &Controller) -> Set {
    let clean = c.isr.intersect(c.live);
    if !clean.is_empty() {
        clean
    } else if cfg.unclean_leader_election {
        c.live
    } else {
        Set::default()
    }
}

/// `leader` leads the next epoch; every live replica is told.
fn install(cfg: &Config, ids: &Ids, c: &mut Controller, leader: u8, o: &mut Out) {
    assert!(
        eligible(cfg, c).contains(leader),
        "replica {leader} is not eligible"
    );
    let clean = c.isr.intersect(c.live);
    c.isr = if clean.contains(leader) {
        clean
    } else {
        Set::default().with(leader)
    };
    c.leader = Some(leader);
    c.epoch += 1;
    c.version += 1;
    for r in c.live.iter() {
        o.send(ids.replica(r), c.leader_and_isr(leader, r));
    }
}

/// The election's choice was taken: `leader` leads.
pub fn on_elected(cfg: &Config, ids: &Ids, state: &mut Cow<Controller>, leader: u8, o: &mut Out) {
    install(cfg, ids, state.to_mut(), leader, o);
}
