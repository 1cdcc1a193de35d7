//! The system under check: the actor model, plus what Stateright's
//! `ActorModel` does not provide and the specification needs.
//!
//! - Faults within budgets. Stateright's own crashes bound how many actors
//!   are down at once, not how many crashes happen, and know one kind of
//!   crash. Here every fault is an action offered while its budget lasts: a
//!   process or machine crash of a replica, a power loss of every replica at
//!   once, the leader's lag timeout, a producer or consumer crash, a lost,
//!   duplicated or reordered message. Crashes are delivered to the actor as
//!   timeouts it never set, so the actor itself says what a crash destroys.
//! - Ghost state: the messages ever committed, which no actor remembers.
//! - Judgement of every step: the catalogue's transition properties need the
//!   state before and after, which Stateright's state properties cannot see.
//!   Each step's verdicts are kept in the state as bits (sticky once
//!   violated), and the Stateright properties read the bits.

use crate::actors::controller::ELECTION;
use crate::actors::{Ids, Node, NodeRole};
use crate::config::{Config, Faults};
use crate::msg::{Msg, Set, Timer};
use crate::observe::{self, committed_now, observe, observe_into, replicas};
use kafka_oracle_properties::{Judge, Observation, CATALOGUE};
use stateright::actor::{
    ActorModel, ActorModelAction, ActorModelState, Envelope, LossyNetwork, Network,
};
use stateright::{Model, Property};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;

pub type StepAction = ActorModelAction<Msg, Timer, u8>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Step(StepAction),
    /// Every running replica's machine crashes at once.
    PowerLoss,
    /// The network delivers a copy of this message after the ones queued
    /// behind it on its connection.
    Duplicate(Envelope<Msg>),
    /// The network delivers this message after the ones queued behind it.
    Reorder(Envelope<Msg>),
    /// The controller receives a message that calls for an election, and
    /// elects `leader`, one of the eligible replicas (one action each).
    Elect {
        deliver: Envelope<Msg>,
        leader: u8,
    },
}

/// What no actor holds: history, budgets spent, verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// Messages ever committed.
    pub committed: Set,
    pub faults_used: Faults,
    /// Catalogue indices violated at some step of the path (sticky).
    pub broken: u16,
    /// Catalogue indices of "sometimes" properties true in this state.
    pub reached: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SystemState {
    pub actors: ActorModelState<Node>,
    pub ghost: Ghost,
}

pub struct System {
    pub cfg: Arc<Config>,
    pub ids: Ids,
    /// Catalogue indices this check judges.
    pub judged: Vec<usize>,
    /// What the search found so far, and whether it should stop.
    pub watch: Arc<Watch>,
    /// Some judged property speaks of a step (needs the state before it).
    judges_steps: bool,
    actors: ActorModel<Node>,
}

/// What a running search has found, shared by its threads and whoever
/// watches it, and a way to stop it: Stateright's searches end when a
/// property has a counterexample, so [`STOPPED`] is a property that fails
/// once `stop` is set, and a search that should be stoppable finishes when
/// it is discovered.
#[derive(Debug, Default)]
pub struct Watch {
    /// Catalogue indices violated in some state searched (bits).
    pub broken: AtomicU16,
    /// "Sometimes" catalogue indices reached in some state searched (bits).
    pub reached: AtomicU16,
    pub stop: AtomicBool,
}

impl Watch {
    /// Notes what a state the search visits holds, and says whether the
    /// search may go on. Stateright judges a state's properties when it
    /// visits it, in the order `properties` lists them, [`STOPPED`] last:
    /// a property noted broken here already has its counterexample.
    fn visit(&self, ghost: &Ghost) -> bool {
        Self::note(&self.broken, ghost.broken);
        Self::note(&self.reached, ghost.reached);
        !self.stop.load(Ordering::Relaxed)
    }

    fn note(bits: &AtomicU16, new: u16) {
        // Most states add nothing: a load, not a write shared by threads.
        if bits.load(Ordering::Relaxed) & new != new {
            bits.fetch_or(new, Ordering::Relaxed);
        }
    }
}

/// The property that fails once the search was asked to stop (see
/// [`Watch`]); not a property of Kafka, never reported as one.
pub const STOPPED: &str = "search stopped";

impl System {
    /// The system for `cfg`, judged on the named catalogue properties.
    ///
    /// Panics if a name is not in the catalogue: callers take names from it.
    pub fn new(cfg: Config, judged: &[&str]) -> System {
        let cfg = Arc::new(cfg);
        let ids = Ids {
            replicas: cfg.replication_factor,
        };
        let node = |role| Node {
            role,
            cfg: Arc::clone(&cfg),
            ids,
        };
        let mut actors = ActorModel::new((), ())
            .actor(node(NodeRole::Controller))
            .actors((0..cfg.replication_factor).map(|ix| node(NodeRole::Replica(ix))))
            .actor(node(NodeRole::Producer))
            .actor(node(NodeRole::Consumer))
            // Kafka's connections are TCP: ordered per pair of actors.
            .init_network(Network::new_ordered([]));
        if cfg.faults.network_drops > 0 {
            actors = actors.lossy_network(LossyNetwork::Yes);
        }
        let judged: Vec<usize> = judged
            .iter()
            .map(|name| {
                CATALOGUE
                    .iter()
                    .position(|p| p.name == *name)
                    .unwrap_or_else(|| panic!("no property {name} in the catalogue"))
            })
            .collect();
        let judges_steps = judged
            .iter()
            .any(|&i| matches!(CATALOGUE[i].judge, Judge::Transition(_)));
        System {
            cfg,
            ids,
            judged,
            watch: Arc::default(),
            judges_steps,
            actors,
        }
    }

    pub fn observe(&self, state: &SystemState) -> Observation {
        observe(&self.cfg, &self.ids, &state.actors, state.ghost.committed)
    }

    /// The verdict bits of `next`, reached from `prev` (or initial).
    ///
    /// Called for every step the search takes: the two observations are
    /// made into buffers kept per thread, so judging does not allocate.
    fn judge(&self, prev: Option<&SystemState>, next: &mut SystemState) {
        thread_local! {
            static SCRATCH: RefCell<(Observation, Observation)> = RefCell::default();
        }
        SCRATCH.with_borrow_mut(|(before, after)| {
            let (cfg, ids) = (&self.cfg, &self.ids);
            observe_into(cfg, ids, &next.actors, next.ghost.committed, after);
            if let Some(p) = prev.filter(|_| self.judges_steps) {
                observe_into(cfg, ids, &p.actors, p.ghost.committed, before);
            }
            let mut reached = 0;
            for &i in &self.judged {
                let ok = match CATALOGUE[i].judge {
                    Judge::Always(f) | Judge::Terminal(f) => f(after).is_ok(),
                    Judge::Transition(f) => prev.is_none() || f(before, after).is_ok(),
                    Judge::Sometimes(f) => {
                        if f(after) {
                            reached |= 1 << i;
                        }
                        true
                    }
                };
                if !ok {
                    next.ghost.broken |= 1 << i;
                }
            }
            next.ghost.reached = reached;
        });
    }

    /// The explanation of the first property the step into `next` broke.
    pub fn why(
        &self,
        prev: Option<&SystemState>,
        next: &SystemState,
        property: usize,
    ) -> Option<String> {
        let after = self.observe(next);
        let verdict = match CATALOGUE[property].judge {
            Judge::Always(f) | Judge::Terminal(f) => f(&after),
            Judge::Transition(f) => f(&self.observe(prev?), &after),
            Judge::Sometimes(_) => Ok(()),
        };
        verdict.err()
    }

    /// The fault an action spends, if any.
    fn budget_of(&self, action: &Action) -> Option<fn(&mut Faults) -> &mut u8> {
        Some(match action {
            Action::PowerLoss => |f| &mut f.power_losses,
            Action::Duplicate(_) => |f| &mut f.network_duplicates,
            Action::Reorder(_) => |f| &mut f.network_reorders,
            Action::Step(ActorModelAction::Drop(_)) => |f| &mut f.network_drops,
            Action::Step(ActorModelAction::Timeout(id, timer)) => {
                match (self.ids.replica_ix(*id), timer) {
                    (Some(_), Timer::ProcessCrash) => |f| &mut f.process_crashes,
                    (Some(_), Timer::MachineCrash) => |f| &mut f.machine_crashes,
                    (Some(_), Timer::LagTimeout) => |f| &mut f.isr_shrinks,
                    (None, Timer::ProcessCrash) if *id == self.ids.producer() => {
                        |f| &mut f.producer_crashes
                    }
                    (None, Timer::ProcessCrash) => |f| &mut f.consumer_crashes,
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    fn affordable(&self, state: &SystemState, action: &Action) -> bool {
        // The network loses client and replication traffic; the control
        // plane (ZooKeeper sessions, the controller's requests, metadata) is
        // reliable in the model, as Kafka retries it until it is.
        if let Action::Step(ActorModelAction::Drop(env))
        | Action::Duplicate(env)
        | Action::Reorder(env) = action
        {
            let control = env.src == self.ids.controller()
                || env.dst == self.ids.controller()
                || matches!(env.msg, Msg::Metadata { .. });
            if control {
                return false;
            }
        }
        match self.budget_of(action) {
            None => true,
            Some(budget) => {
                let mut used = state.ghost.faults_used;
                let mut limit = self.cfg.faults;
                *budget(&mut used) < *budget(&mut limit)
            }
        }
    }

    /// Clients time out only when their request or its answer was lost by
    /// the network while the leader they know is still the leader. A slow
    /// answer looks the same to a client as a lost one, and lost messages
    /// are a fault of their own; a leader's crash is followed by the new
    /// leader's metadata, on which clients retry. Spurious timeouts would
    /// multiply the states without adding a behaviour.
    fn premature_timeout(&self, state: &SystemState, action: &Action) -> bool {
        let Action::Step(ActorModelAction::Timeout(client, Timer::RequestTimeout)) = action else {
            return false;
        };
        let (ids, actors) = (&self.ids, &state.actors);
        let client = *client;
        let in_flight = actors
            .network
            .iter_deliverable()
            .any(|env| env.src == client || env.dst == client);
        let known = if client == ids.producer() {
            let p = observe::producer(actors, ids);
            (p.leader, p.epoch)
        } else {
            let c = observe::consumer(actors, ids);
            (c.leader, c.epoch)
        };
        let c = observe::controller(actors, ids);
        let leader_alive = c
            .leader
            .is_some_and(|l| replicas(actors, ids).any(|r| r.ix == l && r.up));
        let metadata_coming = known != (c.leader, c.epoch) || !leader_alive;
        in_flight || metadata_coming || held_by_leader(actors, ids, client)
    }

    /// The step as the action(s) the search takes: a delivery to the
    /// controller that calls for an election with several candidates is one
    /// action per candidate, so the choice is made in the same step.
    fn elections(&self, state: &SystemState, step: StepAction) -> Vec<Action> {
        let ActorModelAction::Deliver { src, dst, msg } = &step else {
            return vec![Action::Step(step)];
        };
        if *dst != self.ids.controller() {
            return vec![Action::Step(step)];
        }
        let Some(next) = self.actors.next_state(&state.actors, step.clone()) else {
            return vec![Action::Step(step)];
        };
        match next.random_choices[usize::from(*dst)].map.get(ELECTION) {
            None => vec![Action::Step(step)],
            Some(candidates) => candidates
                .iter()
                .map(|&leader| Action::Elect {
                    deliver: Envelope {
                        src: *src,
                        dst: *dst,
                        msg: msg.clone(),
                    },
                    leader,
                })
                .collect(),
        }
    }

    fn apply_step(
        &self,
        actors: &ActorModelState<Node>,
        step: StepAction,
    ) -> Option<ActorModelState<Node>> {
        let crashed = match &step {
            ActorModelAction::Timeout(id, Timer::ProcessCrash | Timer::MachineCrash) => Some(*id),
            _ => None,
        };
        let is_fault = matches!(&step, ActorModelAction::Timeout(_, t) if t.is_fault());
        let mut next = self.actors.next_state(actors, step)?;
        // An election's choice is taken in the step that called for it
        // (`Action::Elect`), never left pending in a state.
        if next.random_choices.iter().any(|r| !r.map.is_empty()) {
            return None;
        }
        // A fault that changes nothing (a crash of a crashed process, a lag
        // timeout with no one lagging) is no step at all.
        if is_fault && next.actor_states == actors.actor_states {
            return None;
        }
        // Requests on their way to a process die with its connections. Left
        // in the network, each would be one more delivery to interleave.
        if let (Some(dead), Network::Ordered(flows)) = (crashed, &mut next.network) {
            flows.retain(|&(_, dst), _| dst != dead);
        }
        Some(next)
    }
}

impl Model for System {
    type State = SystemState;
    type Action = Action;

    fn init_states(&self) -> Vec<SystemState> {
        self.actors
            .init_states()
            .into_iter()
            .map(|actors| {
                let mut s = SystemState {
                    actors,
                    ghost: Ghost::default(),
                };
                s.ghost.committed = committed_now(&s.actors, &self.ids);
                self.judge(None, &mut s);
                s
            })
            .collect()
    }

    fn actions(&self, state: &SystemState, actions: &mut Vec<Action>) {
        let mut steps = Vec::new();
        self.actors.actions(&state.actors, &mut steps);
        let ids = self.ids;
        let faults = [
            (0..ids.replicas)
                .flat_map(|ix| {
                    [
                        (ids.replica(ix), Timer::ProcessCrash),
                        (ids.replica(ix), Timer::MachineCrash),
                        (ids.replica(ix), Timer::LagTimeout),
                    ]
                })
                .collect::<Vec<_>>(),
            vec![
                (ids.producer(), Timer::ProcessCrash),
                (ids.consumer(), Timer::ProcessCrash),
            ],
        ];
        steps.extend(
            faults
                .into_iter()
                .flatten()
                .map(|(id, t)| ActorModelAction::Timeout(id, t)),
        );
        let faults = &self.cfg.faults;
        let mut network = Vec::new();
        if faults.network_duplicates + faults.network_reorders > 0 {
            if let Network::Ordered(flows) = &state.actors.network {
                for (&(src, dst), flow) in flows {
                    for (i, msg) in flow.iter().enumerate() {
                        let env = Envelope {
                            src,
                            dst,
                            msg: msg.clone(),
                        };
                        network.push(Action::Duplicate(env.clone()));
                        if i + 1 < flow.len() {
                            network.push(Action::Reorder(env));
                        }
                    }
                }
            }
        }
        actions.extend(
            steps
                .into_iter()
                .flat_map(|step| self.elections(state, step))
                .chain(std::iter::once(Action::PowerLoss))
                .chain(network)
                .filter(|a| self.affordable(state, a) && !self.premature_timeout(state, a)),
        );
    }

    fn next_state(&self, prev: &SystemState, action: Action) -> Option<SystemState> {
        let budget = self.budget_of(&action);
        let reorder = matches!(action, Action::Reorder(_));
        let actors = match action {
            Action::Step(step) => self.apply_step(&prev.actors, step)?,
            Action::PowerLoss => {
                let mut actors = prev.actors.clone();
                let mut any = false;
                for ix in 0..self.ids.replicas {
                    let crash =
                        ActorModelAction::Timeout(self.ids.replica(ix), Timer::MachineCrash);
                    if let Some(next) = self.apply_step(&actors, crash) {
                        actors = next;
                        any = true;
                    }
                }
                if !any {
                    return None;
                }
                actors
            }
            Action::Elect { deliver, leader } => {
                let Envelope { src, dst, msg } = deliver;
                let delivered = self
                    .actors
                    .next_state(&prev.actors, ActorModelAction::Deliver { src, dst, msg })?;
                let choice = ActorModelAction::SelectRandom {
                    actor: dst,
                    key: ELECTION.to_string(),
                    random: leader,
                };
                self.apply_step(&delivered, choice)?
            }
            Action::Duplicate(env) | Action::Reorder(env) => {
                let mut actors = prev.actors.clone();
                let Network::Ordered(flows) = &mut actors.network else {
                    return None;
                };
                let flow = flows.get_mut(&(env.src, env.dst))?;
                let i = flow.iter().position(|m| *m == env.msg)?;
                if reorder {
                    flow.remove(i);
                }
                flow.push_back(env.msg);
                actors
            }
        };
        let mut next = SystemState {
            actors,
            ghost: prev.ghost,
        };
        if let Some(budget) = budget {
            *budget(&mut next.ghost.faults_used) += 1;
        }
        next.ghost.committed = next
            .ghost
            .committed
            .union(committed_now(&next.actors, &self.ids));
        self.judge(Some(prev), &mut next);
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.judged
            .iter()
            .map(|&i| match CATALOGUE[i].judge {
                Judge::Sometimes(_) => Property::sometimes(CATALOGUE[i].name, REACHED[i]),
                _ => Property::always(CATALOGUE[i].name, HOLDS[i]),
            })
            .chain([Property::always(STOPPED, |system: &System, state| {
                system.watch.visit(&state.ghost)
            })])
            .collect()
    }

    fn format_action(&self, action: &Action) -> String {
        crate::describe::action(self, action)
    }
}

/// Whether a running leader holds the client's request: an acks=all
/// produce waiting for the high watermark, or a parked consumer fetch.
fn held_by_leader(
    actors: &ActorModelState<Node>,
    ids: &Ids,
    client: stateright::actor::Id,
) -> bool {
    replicas(actors, ids)
        .filter_map(|r| r.leadership())
        .any(|l| {
            if client == ids.producer() {
                l.produce.is_some()
            } else {
                l.parked_consumer.is_some()
            }
        })
}

fn holds<const I: usize>(_: &System, s: &SystemState) -> bool {
    s.ghost.broken & (1 << I) == 0
}

fn reached<const I: usize>(_: &System, s: &SystemState) -> bool {
    s.ghost.reached & (1 << I) != 0
}

type Condition = fn(&System, &SystemState) -> bool;

// Stateright takes plain function pointers as conditions, so each catalogue
// index gets its own instance.
const HOLDS: [Condition; 14] = [
    holds::<0>,
    holds::<1>,
    holds::<2>,
    holds::<3>,
    holds::<4>,
    holds::<5>,
    holds::<6>,
    holds::<7>,
    holds::<8>,
    holds::<9>,
    holds::<10>,
    holds::<11>,
    holds::<12>,
    holds::<13>,
];
const REACHED: [Condition; 14] = [
    reached::<0>,
    reached::<1>,
    reached::<2>,
    reached::<3>,
    reached::<4>,
    reached::<5>,
    reached::<6>,
    reached::<7>,
    reached::<8>,
    reached::<9>,
    reached::<10>,
    reached::<11>,
    reached::<12>,
    reached::<13>,
];
const _: () = assert!(
    CATALOGUE.len() == HOLDS.len(),
    "one condition per catalogue property"
);
