//! The abstraction function: from the model's state to the properties
//! crate's [`Observation`], the only thing the property catalogue sees.

use crate::actors::{
    consumer, producer, Consumer, Controller, Ids, Node, NodeState, Producer, Replica,
};
use crate::config::Config;
use crate::msg::Set;
use kafka_oracle_properties as props;
use props::{Entry, Observation, ReplicaObs};
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

/// Replaces `v`'s contents by `items`, keeping its buffer: judging a step
/// observes two states, and most steps should not allocate.
fn refill<T>(v: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    v.clear();
    v.extend(items);
}

fn msgs(set: Set) -> impl Iterator<Item = props::MsgId> {
    set.iter().map(props::MsgId::from)
}

pub fn observe(cfg: &Config, ids: &Ids, s: &ActorModelState<Node>, committed: Set) -> Observation {
    let mut obs = Observation::default();
    observe_into(cfg, ids, s, committed, &mut obs);
    obs
}

/// [`observe`], into `obs`, reusing its buffers.
pub fn observe_into(
    cfg: &Config,
    ids: &Ids,
    s: &ActorModelState<Node>,
    committed: Set,
    obs: &mut Observation,
) {
    let c = controller(s, ids);
    obs.replicas.truncate(usize::from(ids.replicas));
    for (i, r) in replicas(s, ids).enumerate() {
        if obs.replicas.len() == i {
            obs.replicas.push(ReplicaObs {
                id: 0,
                log: Vec::new(),
                high_watermark: 0,
                leader_epoch: 0,
                alive: false,
                is_leader: false,
            });
        }
        let o = &mut obs.replicas[i];
        o.id = r.ix.into();
        refill(
            &mut o.log,
            r.log.iter().enumerate().map(|(offset, e)| Entry {
                offset: offset as props::Offset,
                epoch: e.epoch.into(),
                msg: e.msg.into(),
            }),
        );
        o.high_watermark = r.high_watermark.into();
        o.leader_epoch = r.epoch.into();
        o.alive = r.up;
        o.is_leader = r.leadership().is_some();
    }
    obs.leader = c.leader.map(Into::into);
    obs.leader_epoch = c.epoch.into();
    refill(&mut obs.isr, c.isr.iter().map(Into::into));
    refill(&mut obs.committed, msgs(committed));
    let p = producer(s, ids);
    let told_failed = if cfg.send == crate::config::SendMode::FireAndForget {
        Set::default()
    } else {
        p.failed
    };
    let po = &mut obs.producer;
    po.acks = Some(cfg.acks);
    refill(&mut po.handed, (1..=p.handed).map(Into::into));
    refill(&mut po.acked, msgs(p.acked));
    refill(&mut po.told_failed, msgs(told_failed));
    po.not_enough_replicas = p.not_enough_replicas.into();
    let cons = consumer(s, ids);
    refill(
        &mut obs.consumer.processed,
        cons.processed.iter().map(|&m| m.into()),
    );
    obs.consumer.committed_offset = cons.committed.map(Into::into);
    obs.quiescent = quiescent(cfg, s, ids);
}
