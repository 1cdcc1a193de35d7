//! The actors: one controller, `replication.factor` replicas, a producer and
//! a consumer, as one Stateright actor type so they share a network.

pub mod consumer;
pub mod controller;
pub mod producer;
pub mod replica;

use crate::config::Config;
use crate::msg::{Msg, Timer};
use stateright::actor::{Actor, Id};
use std::borrow::Cow;
use std::sync::Arc;

pub use consumer::Consumer;
pub use controller::Controller;
pub use producer::Producer;
pub use replica::Replica;

pub type Out = stateright::actor::Out<Node>;

/// Where each actor sits in the model: the controller first, then the
/// replicas, then the producer and the consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ids {
    pub replicas: u8,
}

impl Ids {
    pub fn controller(&self) -> Id {
        Id::from(0)
    }
    pub fn replica(&self, ix: u8) -> Id {
        Id::from(1 + ix as usize)
    }
    pub fn producer(&self) -> Id {
        Id::from(1 + self.replicas as usize)
    }
    pub fn consumer(&self) -> Id {
        Id::from(2 + self.replicas as usize)
    }
    /// Whether `src` is the leader a client last knew: only that replica's
    /// answers belong to the client's request, a reply from an earlier
    /// connection does not.
    pub fn is_leader(&self, leader: Option<u8>, src: usize) -> bool {
        leader.map(|l| self.replica(l)) == Some(src.into())
    }

    pub fn replica_ix(&self, id: impl Into<usize>) -> Option<u8> {
        let id: usize = id.into();
        (1..=self.replicas as usize)
            .contains(&id)
            .then(|| (id - 1) as u8)
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub role: NodeRole,
    pub cfg: Arc<Config>,
    pub ids: Ids,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRole {
    Controller,
    Replica(u8),
    Producer,
    Consumer,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    Controller(Controller),
    Replica(Replica),
    Producer(Producer),
    Consumer(Consumer),
}

/// Runs `f` on the role's own state inside the node state, keeping the
/// copy-on-write: the node state is cloned only if `f` writes.
fn with_role<S: Clone>(
    state: &mut Cow<NodeState>,
    project: fn(&NodeState) -> &S,
    wrap: fn(S) -> NodeState,
    f: impl FnOnce(&mut Cow<S>),
) {
    let mut role = Cow::Borrowed(project(state));
    f(&mut role);
    if let Cow::Owned(role) = role {
        *state = Cow::Owned(wrap(role));
    }
}

macro_rules! projection {
    ($name:ident, $variant:ident, $ty:ty) => {
        fn $name(s: &NodeState) -> &$ty {
            match s {
                NodeState::$variant(x) => x,
                _ => unreachable!("actor state of the wrong role"),
            }
        }
    };
}
projection!(as_controller, Controller, Controller);
projection!(as_replica, Replica, Replica);
projection!(as_producer, Producer, Producer);
projection!(as_consumer, Consumer, Consumer);

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type State = NodeState;
    type Storage = ();
    /// The replica the controller elects (see `controller::ELECTION`).
    type Random = u8;

    fn on_start(&self, _id: Id, _storage: &Option<()>, o: &mut Out) -> NodeState {
        let (cfg, ids) = (&self.cfg, &self.ids);
        match self.role {
            NodeRole::Controller => NodeState::Controller(Controller::start(cfg)),
            NodeRole::Replica(ix) => NodeState::Replica(Replica::start(cfg, ids, ix, o)),
            NodeRole::Producer => NodeState::Producer(Producer::start(cfg, ids, o)),
            NodeRole::Consumer => NodeState::Consumer(Consumer::start(cfg, ids, o)),
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<NodeState>, src: Id, msg: Msg, o: &mut Out) {
        let (cfg, ids) = (&self.cfg, &self.ids);
        let src = usize::from(src);
        match self.role {
            NodeRole::Controller => with_role(state, as_controller, NodeState::Controller, |s| {
                controller::on_msg(cfg, ids, s, src, msg, o)
            }),
            NodeRole::Replica(_) => with_role(state, as_replica, NodeState::Replica, |s| {
                replica::on_msg(cfg, ids, s, src, msg, o)
            }),
            NodeRole::Producer => with_role(state, as_producer, NodeState::Producer, |s| {
                producer::on_msg(cfg, ids, s, src, msg, o)
            }),
            NodeRole::Consumer => with_role(state, as_consumer, NodeState::Consumer, |s| {
                consumer::on_msg(cfg, ids, s, src, msg, o)
            }),
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<NodeState>, timer: &Timer, o: &mut Out) {
        let (cfg, ids) = (&self.cfg, &self.ids);
        match self.role {
            NodeRole::Controller => {}
            NodeRole::Replica(_) => with_role(state, as_replica, NodeState::Replica, |s| {
                replica::on_timeout(cfg, ids, s, timer, o)
            }),
            NodeRole::Producer => with_role(state, as_producer, NodeState::Producer, |s| {
                producer::on_timeout(cfg, ids, s, timer, o)
            }),
            NodeRole::Consumer => with_role(state, as_consumer, NodeState::Consumer, |s| {
                consumer::on_timeout(cfg, ids, s, timer, o)
            }),
        }
    }

    fn on_random(&self, _id: Id, state: &mut Cow<NodeState>, leader: &u8, o: &mut Out) {
        let (cfg, ids) = (&self.cfg, &self.ids);
        if self.role == NodeRole::Controller {
            with_role(state, as_controller, NodeState::Controller, |s| {
                controller::on_elected(cfg, ids, s, *leader, o)
            });
        }
    }

    fn name(&self) -> String {
        match self.role {
            NodeRole::Controller => "controller".to_string(),
            NodeRole::Replica(ix) => format!("replica {ix}"),
            NodeRole::Producer => "producer".to_string(),
            NodeRole::Consumer => "consumer".to_string(),
        }
    }
}
