//! Symmetry reduction over the replicas.
//!
//! No replica is special: the controller elects any eligible one
//! (`controller::elect`), every rule reads replica indices only to tell
//! replicas apart, and every property of the catalogue speaks of "a
//! replica", "the leader" or "the ISR", never of replica 2. So a state and
//! its image under a renaming of the replicas have the same futures, renamed,
//! and the same verdicts: a depth-first search needs to visit one state of
//! each such class. [`representative`] renames the replicas of a state in
//! the order of what each holds, so that states that differ only by the
//! replicas' names mostly get the same representative.
//!
//! Any renaming is sound: the search only asks whether the representative
//! was seen, and continues from the state itself. A renaming that is not
//! canonical (two replicas that compare equal by the sort key but differ in
//! what refers to them) only keeps two members of a class apart, which
//! costs states, not verdicts. `tests/model.rs` checks the verdicts of every
//! scenario of the matrix with and without the reduction.

use crate::actors::replica::Role;
use crate::actors::{Consumer, Controller, NodeState, Producer, Replica};
use crate::msg::{Msg, Set};
use crate::system::SystemState;
use stateright::actor::{Id, Network};
use std::cmp::Ordering;
use std::sync::Arc;

/// A renaming of the replicas: replica `ix` becomes `to[ix]`.
struct Renaming {
    replicas: u8,
    to: [u8; 8],
}

impl Renaming {
    fn ix(&self, ix: u8) -> u8 {
        self.to[usize::from(ix)]
    }

    fn set(&self, set: Set) -> Set {
        Set::of(set.iter().map(|ix| self.ix(ix)))
    }

    /// Actor ids: the replicas are actors `1..=replicas` (see `Ids`).
    fn id(&self, id: Id) -> Id {
        let n = usize::from(id);
        if (1..=usize::from(self.replicas)).contains(&n) {
            Id::from(1 + usize::from(self.ix((n - 1) as u8)))
        } else {
            id
        }
    }

    /// The vector of per-actor values, with the replicas' moved.
    fn reindex<T: Clone>(&self, values: &[T]) -> Vec<T> {
        let mut out = values.to_vec();
        for ix in 0..self.replicas {
            out[1 + usize::from(self.ix(ix))] = values[1 + usize::from(ix)].clone();
        }
        out
    }

    fn msg(&self, msg: &Msg) -> Msg {
        match msg {
            Msg::Metadata { leader, epoch } => Msg::Metadata {
                leader: leader.map(|l| self.ix(l)),
                epoch: *epoch,
            },
            Msg::LeaderAndIsr {
                leader,
                epoch,
                isr,
                version,
                broker_epoch,
            } => Msg::LeaderAndIsr {
                leader: self.ix(*leader),
                epoch: *epoch,
                isr: self.set(*isr),
                version: *version,
                broker_epoch: *broker_epoch,
            },
            Msg::AlterIsr {
                epoch,
                isr,
                version,
            } => Msg::AlterIsr {
                epoch: *epoch,
                isr: self.set(*isr),
                version: *version,
            },
            other => other.clone(),
        }
    }

    fn replica(&self, r: &Replica) -> Replica {
        let mut r = r.clone();
        r.ix = self.ix(r.ix);
        r.role = match r.role {
            Role::Unassigned => Role::Unassigned,
            Role::Follower { leader, fetching } => Role::Follower {
                leader: self.ix(leader),
                fetching,
            },
            Role::Leader(mut l) => {
                l.isr = self.set(l.isr);
                l.pending_isr = l.pending_isr.map(|s| self.set(s));
                l.parked = self.set(l.parked);
                let leo = l.follower_leo;
                for ix in 0..self.replicas {
                    l.follower_leo[usize::from(self.ix(ix))] = leo[usize::from(ix)];
                }
                Role::Leader(l)
            }
        };
        r
    }

    fn controller(&self, c: &Controller) -> Controller {
        let mut c = c.clone();
        c.leader = c.leader.map(|l| self.ix(l));
        c.isr = self.set(c.isr);
        c.live = self.set(c.live);
        let epochs = c.broker_epochs;
        for ix in 0..self.replicas {
            c.broker_epochs[usize::from(self.ix(ix))] = epochs[usize::from(ix)];
        }
        c
    }

    fn node(&self, node: &NodeState) -> NodeState {
        match node {
            NodeState::Controller(c) => NodeState::Controller(self.controller(c)),
            NodeState::Replica(r) => NodeState::Replica(self.replica(r)),
            NodeState::Producer(p) => NodeState::Producer(Producer {
                leader: p.leader.map(|l| self.ix(l)),
                ..p.clone()
            }),
            NodeState::Consumer(c) => NodeState::Consumer(Consumer {
                leader: c.leader.map(|l| self.ix(l)),
                ..c.clone()
            }),
        }
    }
}

/// The order of two replicas by what each holds, with nothing that names a
/// replica: the order the representative puts the replicas in.
fn by_contents(state: &SystemState, a: u8, b: u8) -> Ordering {
    let replica = |ix: u8| match &*state.actors.actor_states[1 + usize::from(ix)] {
        NodeState::Replica(r) => r,
        _ => unreachable!("actors 1..=replicas are replicas"),
    };
    let NodeState::Controller(c) = &*state.actors.actor_states[0] else {
        unreachable!("actor 0 is the controller")
    };
    let role = |r: &Replica| match &r.role {
        Role::Unassigned => (0, false),
        Role::Follower { fetching, .. } => (1, *fetching),
        Role::Leader(_) => (2, false),
    };
    let seen_by_controller = |ix: u8| {
        (
            c.leader == Some(ix),
            c.isr.contains(ix),
            c.live.contains(ix),
            c.broker_epochs[usize::from(ix)],
        )
    };
    let (ra, rb) = (replica(a), replica(b));
    ra.log
        .cmp(&rb.log)
        .then(ra.high_watermark.cmp(&rb.high_watermark))
        .then(ra.broker_epoch.cmp(&rb.broker_epoch))
        .then(ra.up.cmp(&rb.up))
        .then(ra.epoch.cmp(&rb.epoch))
        .then(role(ra).cmp(&role(rb)))
        .then(seen_by_controller(a).cmp(&seen_by_controller(b)))
}

/// The member of `state`'s class under renamings of the replicas that the
/// search keeps: the replicas renamed in the order of [`by_contents`].
pub fn representative(state: &SystemState) -> SystemState {
    let actors = &state.actors;
    // The controller, the replicas, the producer, the consumer.
    let replicas = (actors.actor_states.len() - 3) as u8;
    let mut order = [0, 1, 2, 3, 4, 5, 6, 7];
    let order = &mut order[..usize::from(replicas)];
    order.sort_by(|&a, &b| by_contents(state, a, b));
    let mut to = [0; 8];
    for (new, &old) in order.iter().enumerate() {
        to[usize::from(old)] = new as u8;
    }
    let renaming = Renaming { replicas, to };
    if order.iter().enumerate().all(|(new, &old)| new as u8 == old) {
        return state.clone();
    }
    let mut next = state.clone();
    let renamed: Vec<Arc<NodeState>> = actors
        .actor_states
        .iter()
        .map(|node| Arc::new(renaming.node(node)))
        .collect();
    next.actors.actor_states = renaming.reindex(&renamed);
    next.actors.timers_set = renaming.reindex(&actors.timers_set);
    next.actors.crashed = renaming.reindex(&actors.crashed);
    next.actors.random_choices = renaming.reindex(&actors.random_choices);
    next.actors.actor_storages = renaming.reindex(&actors.actor_storages);
    if let Network::Ordered(flows) = &actors.network {
        next.actors.network = Network::Ordered(
            flows
                .iter()
                .map(|(&(src, dst), flow)| {
                    let flow = flow.iter().map(|m| renaming.msg(m)).collect();
                    ((renaming.id(src), renaming.id(dst)), flow)
                })
                .collect(),
        );
    }
    next
}

#[cfg(test)]
mod tests {
    use super::representative;
    use crate::scenarios::scenario;
    use crate::system::{Action, System, SystemState};
    use stateright::Model;

    fn successors(system: &System, state: &SystemState) -> Vec<(String, SystemState)> {
        let mut actions = Vec::new();
        system.actions(state, &mut actions);
        actions
            .into_iter()
            .filter_map(|a: Action| {
                let d = crate::describe::action(system, &a);
                system.next_state(state, a).map(|s| (d, s))
            })
            .collect()
    }

    #[test]
    fn the_same_step_of_either_follower_has_one_representative() {
        let s = scenario("safe").unwrap();
        let system = System::new(s.config().unwrap(), &s.judged());
        let init = system.init_states().remove(0);
        let next = successors(&system, &init);
        let by = |d: &str| {
            next.iter()
                .find(|(x, _)| x == d)
                .unwrap_or_else(|| {
                    panic!(
                        "no step {d}: {:?}",
                        next.iter().map(|n| &n.0).collect::<Vec<_>>()
                    )
                })
                .1
                .clone()
        };
        let one = by("replica 1 crashes (process killed: memory lost, page cache kept)");
        let two = by("replica 2 crashes (process killed: memory lost, page cache kept)");
        assert_ne!(one, two);
        assert_eq!(representative(&one), representative(&two));
    }
}
