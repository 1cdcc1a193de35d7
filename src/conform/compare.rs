//! The abstraction function from the broker's state to the model's, and the
//! comparison a person reads when they differ.

use super::mirror::{Mirror, Sent};
use super::{records, small};
use crate::broker::partition::Role;
use kafka_oracle_models::actors::replica::{Replica, Role as ModelRole};
use kafka_oracle_models::actors::{Ids, NodeState};
use kafka_oracle_models::msg::{Msg, Set};
use kafka_oracle_models::system::SystemState;
use stateright::actor::Network;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One replica as both sides can state it.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplicaView {
    pub up: bool,
    /// `(epoch, message, producer id)` per offset.
    pub log: Vec<(u8, u8, u8)>,
    pub high_watermark: u8,
    /// `None` until the controller gives the replica a role.
    pub role: Option<String>,
    pub leader_epoch: Option<u8>,
    pub isr: Option<Set>,
}

pub fn model_replica(state: &SystemState, ids: Ids, ix: u8, idempotence: bool) -> ReplicaView {
    let id = usize::from(ids.replica(ix));
    let NodeState::Replica(r) = &*state.actors.actor_states[id] else {
        unreachable!("actor {id} is a replica")
    };
    view_of_model(r, idempotence)
}

fn view_of_model(r: &Replica, idempotence: bool) -> ReplicaView {
    let (role, isr) = match &r.role {
        ModelRole::Unassigned => (None, None),
        ModelRole::Leader(l) => (Some("leader".to_string()), Some(l.isr)),
        ModelRole::Follower { leader, .. } => (Some(format!("follower of {leader}")), None),
    };
    ReplicaView {
        up: r.up,
        log: r
            .log
            .iter()
            .map(|e| (e.epoch, e.msg, if idempotence { e.producer_id } else { 0 }))
            .collect(),
        high_watermark: r.high_watermark,
        leader_epoch: role.as_ref().map(|_| r.epoch),
        role,
        isr,
    }
}

/// The broker's replica `ix`, or `None` when it is down (its disk is
/// compared when it comes back).
pub fn broker_replica(mirror: &Mirror, ix: u8) -> Result<Option<ReplicaView>, String> {
    let Some(p) = mirror.replica(ix) else {
        return Ok(None);
    };
    let log = p.log();
    let mut bytes = Vec::new();
    let mut buf = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let fetched = log
            .read(next, 1 << 20, u64::MAX, &mut buf)
            .map_err(|e| e.to_string())?;
        if fetched.records.is_empty() {
            break;
        }
        bytes.extend_from_slice(fetched.records);
        next = fetched.next_offset;
    }
    let role = match p.role() {
        Role::None => None,
        Role::Leader => Some("leader".to_string()),
        Role::Follower { leader } => Some(format!("follower of {}", leader - 1)),
    };
    let mut log_view = Vec::new();
    for e in records::entries(&bytes)? {
        let pid = e.producer_id.map_or(Ok(0), |p| small("producer id", p))?;
        log_view.push((small("epoch", e.epoch)?, e.msg, pid));
    }
    let isr = match p.role() {
        Role::Leader => {
            let members: Result<Vec<u8>, String> = p
                .isr()
                .iter()
                .map(|&b| small("ISR member", b - 1))
                .collect();
            Some(Set::of(members?))
        }
        _ => None,
    };
    let leader_epoch = match role {
        Some(_) => Some(small("leader epoch", p.leader_epoch())?),
        None => None,
    };
    Ok(Some(ReplicaView {
        up: true,
        log: log_view,
        high_watermark: small("high watermark", p.high_watermark())?,
        leader_epoch,
        isr,
        role,
    }))
}

/// The first difference between the two views, side by side.
pub fn diff_replica(ix: u8, model: &ReplicaView, broker: &ReplicaView) -> Option<String> {
    if model == broker {
        return None;
    }
    let mut out = format!("replica {ix}:\n");
    let row =
        |name: &'static str, field: fn(&ReplicaView) -> String| (name, field(model), field(broker));
    let rows = [
        row("up", |v| v.up.to_string()),
        row("log (epoch, msg, pid)", |v| format!("{:?}", v.log)),
        row("high watermark", |v| v.high_watermark.to_string()),
        row("role", |v| format!("{:?}", v.role)),
        row("leader epoch", |v| format!("{:?}", v.leader_epoch)),
        row("isr", |v| format!("{:?}", v.isr)),
    ];
    let _ = writeln!(out, "  {:<22} {:<40} broker", "", "model");
    for (name, m, b) in rows {
        let mark = if m == b { " " } else { "*" };
        let _ = writeln!(out, "{mark} {name:<22} {m:<40} {b}");
    }
    Some(out)
}

/// Messages, counted: what each side sent in one step.
pub type Counts = BTreeMap<Sent, usize>;

pub fn count(sent: impl IntoIterator<Item = Sent>) -> Counts {
    let mut counts = BTreeMap::new();
    for s in sent {
        *counts.entry(s).or_insert(0) += 1;
    }
    counts
}

/// What replicas sent in a step, read off the model's network: the
/// messages there after the step beyond those there before. Client
/// notifications (`Metadata`) and sessions (`BrokerDown`/`BrokerUp`) are
/// the broker process's and the controller's business, not the partition's.
pub fn model_sent(before: &SystemState, after: &SystemState, replicas: u8) -> Counts {
    let all = |s: &SystemState| count(in_flight(s));
    let (was, is) = (all(before), all(after));
    let from_replica = |src: usize| (1..=usize::from(replicas)).contains(&src);
    is.into_iter()
        .filter(|((src, _, msg), _)| {
            from_replica(*src)
                && !matches!(
                    msg,
                    Msg::Metadata { .. } | Msg::BrokerDown | Msg::BrokerUp { .. }
                )
        })
        .filter_map(|(key, n)| {
            let before = was.get(&key).copied().unwrap_or(0);
            (n > before).then(|| (key, n - before))
        })
        .collect()
}

/// Every message in flight. (Stateright 0.31's `Network::iter_all` never
/// ends on an ordered network with more than one message on a flow.)
pub fn in_flight(state: &SystemState) -> Vec<Sent> {
    let Network::Ordered(flows) = &state.actors.network else {
        unreachable!("the model's network is ordered, as TCP connections are")
    };
    flows
        .iter()
        .flat_map(|(&(src, dst), msgs)| {
            msgs.iter()
                .map(move |m| (usize::from(src), usize::from(dst), m.clone()))
        })
        .collect()
}
