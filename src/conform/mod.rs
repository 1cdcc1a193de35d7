//! Conformance: the model's traces replayed on the broker's partition core.
//!
//! The model and the broker are two implementations of one protocol,
//! written apart. A trace of the model (its initial state and actions) is
//! replayed on real [`Partition`](crate::broker::partition::Partition)s
//! over real logs: every message the model delivers to a replica is given
//! to the broker replica, every crash crashes it (a machine crash also cuts
//! its files to what was fsynced), and the model's controller and producer
//! speak for themselves. The consumer's client library is the model's; its
//! application is our [`ConsumerLoop`](crate::consumer::ConsumerLoop)
//! ([`consumer`]). After every step the broker must have sent the messages
//! the model sent, every replica must abstract to the model's (log, high
//! watermark, role, leader epoch, ISR), and the consumer loop must have
//! committed and processed what the model's consumer did; the first
//! difference is a divergence, reported with both sides.

pub mod compare;
pub mod consumer;
pub mod mirror;
pub mod records;
pub mod traces;

use crate::bugs::Bug;
use consumer::ConsumerSide;
use kafka_oracle_models::actors::NodeState;
use kafka_oracle_models::system::{Action, System, SystemState};
use mirror::Mirror;
use stateright::actor::ActorModelAction;
use stateright::Model;
use std::path::Path;

/// Where a replay first disagrees with the model.
#[derive(Debug)]
pub struct Divergence {
    /// 1-based; 0 is the initial state.
    pub step: usize,
    pub action: String,
    pub what: String,
}

/// Replays `actions` from `init` on a fresh broker under `scratch` and
/// returns the number of replica and consumer states compared.
/// `bug`: a bug to build the broker replicas or the consumer loop with
/// (`inject-bugs` builds).
pub fn replay(
    system: &System,
    init: &SystemState,
    actions: &[Action],
    scratch: &Path,
    bug: Option<Bug>,
) -> Result<usize, Divergence> {
    let mut replayer = Replayer::start(system, init, scratch, bug)?;
    for action in actions {
        replayer.step(action)?;
    }
    Ok(replayer.compared)
}

/// A replay in progress: the model's state and the broker beside it,
/// compared after every step.
pub struct Replayer<'a> {
    system: &'a System,
    mirror: Mirror,
    /// `None` when the model has no consumer, or one the loop cannot be.
    consumer: Option<ConsumerSide>,
    state: SystemState,
    /// Steps taken.
    steps: usize,
    /// Replica and consumer states compared.
    pub compared: usize,
}

impl<'a> Replayer<'a> {
    /// Starts the broker in the model's initial state `init`.
    pub fn start(
        system: &'a System,
        init: &SystemState,
        scratch: &Path,
        bug: Option<Bug>,
    ) -> Result<Replayer<'a>, Divergence> {
        let replicas = system.ids.replicas;
        let mut mirror = Mirror::start(&system.cfg, system.ids, scratch.to_path_buf(), bug)
            .map_err(at(0, "start"))?;
        let initial_fetches = compare::count(mirror.take_sent());
        let model_initial = compare::count(
            compare::in_flight(init)
                .into_iter()
                .filter(|(src, _, _)| (1..=usize::from(replicas)).contains(src)),
        );
        if initial_fetches != model_initial {
            return Err(at(0, "start")(sent_diff(&model_initial, &initial_fetches)));
        }
        Ok(Replayer {
            system,
            mirror,
            consumer: ConsumerSide::start(&system.cfg, system.ids, bug),
            state: init.clone(),
            steps: 0,
            compared: 0,
        })
    }

    /// The model's state after the steps taken.
    pub fn state(&self) -> &SystemState {
        &self.state
    }

    /// Whether the broker's replica `ix` is running.
    pub fn broker_up(&self, ix: u8) -> bool {
        self.mirror.replica(ix).is_some()
    }

    /// The broker's replica `ix` as the model would state it, `None` while
    /// it is down.
    pub fn broker_replica(&self, ix: u8) -> Result<Option<compare::ReplicaView>, String> {
        compare::broker_replica(&self.mirror, ix)
    }

    /// Takes `action` in the model and gives the broker what it gives the
    /// replicas; then the two must agree on what the replicas sent and on
    /// every replica. Returns what the broker replicas sent.
    pub fn step(&mut self, action: &Action) -> Result<Vec<mirror::Sent>, Divergence> {
        self.steps += 1;
        let (system, replicas) = (self.system, self.system.ids.replicas);
        let described = system.format_action(action);
        let at = at(self.steps, &described);
        let next = system
            .next_state(&self.state, action.clone())
            .ok_or_else(|| at("the model refuses this action here".into()))?;
        apply(&mut self.mirror, system, &self.state, action).map_err(&at)?;
        self.mirror.checkpoint().map_err(&at)?;
        let sent = self.mirror.take_sent();
        let broker_sent = compare::count(sent.iter().cloned());
        let model_sent = compare::model_sent(&self.state, &next, replicas);
        if matches!(
            action,
            Action::Step(_) | Action::PowerLoss | Action::Elect { .. }
        ) && broker_sent != model_sent
        {
            return Err(at(sent_diff(&model_sent, &broker_sent)));
        }
        for ix in 0..replicas {
            let model = compare::model_replica(&next, system.ids, ix, system.cfg.idempotence);
            let Some(broker) = compare::broker_replica(&self.mirror, ix).map_err(&at)? else {
                if model.up {
                    return Err(at(format!(
                        "replica {ix} is up in the model, down in the broker"
                    )));
                }
                continue;
            };
            if let Some(diff) = compare::diff_replica(ix, &model, &broker) {
                return Err(at(diff));
            }
            self.compared += 1;
        }
        if let Some(consumer) = &mut self.consumer {
            consumer.step(&self.state, action, &next).map_err(&at)?;
            self.compared += 1;
        }
        self.state = next;
        Ok(sent)
    }
}

/// Where a divergence found at `step` (taking `action`) is reported.
fn at(step: usize, action: &str) -> impl Fn(String) -> Divergence {
    let action = action.to_string();
    move |what: String| Divergence {
        step,
        action: action.clone(),
        what,
    }
}

/// Gives the broker what the model's `action` gives the replicas.
fn apply(
    mirror: &mut Mirror,
    system: &System,
    state: &SystemState,
    action: &Action,
) -> Result<(), String> {
    let ids = system.ids;
    let replica = |ix: u8| match &*state.actors.actor_states[usize::from(ids.replica(ix))] {
        NodeState::Replica(r) => Ok(r),
        _ => Err(format!("actor {ix} is not a replica")),
    };
    match action {
        Action::Step(ActorModelAction::Deliver { src, dst, msg }) => {
            if let Some(ix) = ids.replica_ix(*dst) {
                let r = replica(ix)?;
                if r.up {
                    mirror.deliver(usize::from(*src), ix, msg, r.broker_epoch)?;
                }
            }
        }
        Action::Step(ActorModelAction::Timeout(id, timer)) => {
            if let Some(ix) = ids.replica_ix(*id) {
                mirror.timeout(ix, timer, replica(ix)?.up)?;
            }
        }
        Action::PowerLoss => {
            for ix in 0..ids.replicas {
                if replica(ix)?.up {
                    mirror.crash(ix, true)?;
                }
            }
        }
        // Lost, duplicated or reordered messages are the network's doing;
        // the controller is the model's; Stateright's own crashes and random
        // choices are not used.
        Action::Step(_) | Action::Duplicate(_) | Action::Reorder(_) | Action::Elect { .. } => {}
    }
    Ok(())
}

/// A broker value in the model's `u8`: a value that does not fit is a
/// divergence of its own, never wrapped into a false match.
pub(crate) fn small<T>(what: &str, value: T) -> Result<u8, String>
where
    T: TryInto<u8> + Copy + std::fmt::Display,
{
    value
        .try_into()
        .map_err(|_| format!("the broker's {what} {value} is outside the model's range"))
}

fn sent_diff(model: &compare::Counts, broker: &compare::Counts) -> String {
    let mut out = String::from("the replicas sent different messages:\n");
    for (key, n) in model {
        if broker.get(key) != Some(n) {
            out.push_str(&format!(
                "  model only  {n} x {} -> {}: {:?}\n",
                key.0, key.1, key.2
            ));
        }
    }
    for (key, n) in broker {
        if model.get(key) != Some(n) {
            out.push_str(&format!(
                "  broker only {n} x {} -> {}: {:?}\n",
                key.0, key.1, key.2
            ));
        }
    }
    out
}
