//! The abstraction function: from the model's state to the properties
//! crate's [`Observation`], the only thing the property catalogue sees.

use crate::actors::{
    consumer, producer, Consumer, Controller, Ids, Node, NodeState, Producer, Replica,
};
use crate::config::Config;
use crate::msg::Set;
use kafka_oracle_properties as props;
use props::{ConsumerObs, Entry, Observation, ProducerObs, ReplicaObs};
use stateright::actor::ActorModelState;

/// The controller's state in `s`.
pub fn controller(s: &ActorModelState<Node>, ids: &Ids) -> Controller {
    match &*s.actor_states[usize::from(ids.controller())] {
        NodeState::Controller(c) => c.clone(),
        _ => unreachable!(),
    }
}

/// Each replica's state in `s`, in replica order.
pub fn replicas<'a>(
    s: &'a ActorModelState<Node>,
    ids: &'a Ids,
) -> impl Iterator<Item = &'a Replica> {
    (0..ids.replicas).map(
        move |ix| match &*s.actor_states[usize::from(ids.replica(ix))] {
            NodeState::Replica(r) => r,
            _ => unreachable!(),
        },
    )
}

/// The producer's state in `s`.
pub fn producer<'a>(s: &'a ActorModelState<Node>, ids: &Ids) -> &'a Producer {
    match &*s.actor_states[usize::from(ids.producer())] {
        NodeState::Producer(p) => p,
        _ => unreachable!(),
    }
}

/// The consumer's state in `s`.
pub fn consumer<'a>(s: &'a ActorModelState<Node>, ids: &Ids) -> &'a Consumer {
    match &*s.actor_states[usize::from(ids.consumer())] {
        NodeState::Consumer(c) => c,
        _ => unreachable!(),
    }
}

/// Messages below the high watermark of a running leader: committed now.
pub(crate) fn committed_now(s: &ActorModelState<Node>, ids: &Ids) -> Set {
    replicas(s, ids)
        .filter(|r| r.leadership().is_some())
        .flat_map(|r| r.log[..r.high_watermark as usize].iter())
        .fold(Set::default(), |set, e| set.with(e.msg))
}

/// Nothing more happens without a fault: no message in flight, a running
/// leader the controller elected, every other running replica's fetch
/// parked at it (caught up), the producer done and the consumer's fetch
/// parked at the high watermark.
pub(crate) fn quiescent(cfg: &Config, s: &ActorModelState<Node>, ids: &Ids) -> bool {
    if s.network.len() > 0 {
        return false;
    }
    let c = controller(s, ids);
    let Some(leader_ix) = c.leader else {
        return false;
    };
    let replicas: Vec<&Replica> = replicas(s, ids).collect();
    let leader = replicas[leader_ix as usize];
    let Some(l) = leader.leadership().filter(|_| leader.epoch == c.epoch) else {
        return false;
    };
    let followers_parked = replicas
        .iter()
        .filter(|r| r.up && r.ix != leader_ix)
        .all(|r| l.parked.contains(r.ix));
    let p = producer(s, ids);
    let cons = consumer(s, ids);
    followers_parked
        && p.finished(cfg)
        && p.awaiting == producer::Awaiting::Nothing
        && cons.idle()
        && cons.awaiting == consumer::Awaiting::Fetch
        && l.parked_consumer.is_some()
        && l.parked_consumer == cons.position
}

fn msgs(set: Set) -> Vec<props::MsgId> {
    set.iter().map(props::MsgId::from).collect()
}

pub fn observe(cfg: &Config, ids: &Ids, s: &ActorModelState<Node>, committed: Set) -> Observation {
    let c = controller(s, ids);
    let replicas = replicas(s, ids)
        .map(|r| ReplicaObs {
            id: r.ix.into(),
            log: r
                .log
                .iter()
                .enumerate()
                .map(|(offset, e)| Entry {
                    offset: offset as props::Offset,
                    epoch: e.epoch.into(),
                    msg: e.msg.into(),
                })
                .collect(),
            high_watermark: r.high_watermark.into(),
            leader_epoch: r.epoch.into(),
            alive: r.up,
            is_leader: r.leadership().is_some(),
        })
        .collect();
    let p = producer(s, ids);
    let told_failed = if cfg.send == crate::config::SendMode::FireAndForget {
        Vec::new()
    } else {
        msgs(p.failed)
    };
    let cons = consumer(s, ids);
    Observation {
        replicas,
        leader: c.leader.map(Into::into),
        leader_epoch: c.epoch.into(),
        isr: c.isr.iter().map(Into::into).collect(),
        committed: msgs(committed),
        producer: ProducerObs {
            acks: Some(cfg.acks),
            handed: (1..=p.handed).map(Into::into).collect(),
            acked: msgs(p.acked),
            told_failed,
            not_enough_replicas: p.not_enough_replicas.into(),
        },
        consumer: ConsumerObs {
            processed: cons.processed.iter().map(|&m| m.into()).collect(),
            committed_offset: cons.committed.map(Into::into),
        },
        quiescent: quiescent(cfg, s, ids),
    }
}
