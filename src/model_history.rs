//! A model path as the history its clients would have recorded: the same
//! JSON lines `verify-history` judges, so every counterexample of the
//! specification can be shown to the oracle, and what the oracle can see of
//! each promise is stated in one table ([`CLIENT_VIEW`]).
//!
//! What the rendering takes from the model, and nothing else:
//!
//! - **Process 0, the producer application.** A send is invoked when the
//!   application has handed the message to `send()` and the send before it
//!   has completed: the history lets a process have one operation pending,
//!   and the model's client transmits one message at a time, in order
//!   (`max.in.flight.requests.per.connection=1`), so a callback producer's
//!   sends complete in that order anyway. It completes `ok` when the
//!   application is told of success, with the offset the acknowledging
//!   leader gave the record (the model's `ProduceResponse` carries no
//!   offset: it is read from the leader's state at the step that sent the
//!   response, see [`ack_offset`]); under `acks=0` the client is told of
//!   success with no offset (Kafka's client reports offset -1), so the
//!   offset is `null`. It completes `fail` when the application is told of
//!   failure and every attempt was refused before the leader wrote it
//!   (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS); a failure after an
//!   attempt whose fate the client never learned (a timeout, a lost
//!   connection, a crash of the client, NOT_ENOUGH_REPLICAS_AFTER_APPEND)
//!   is `info`: the record may be in the log. A fire-and-forget send is
//!   invoked and completed `info` at once: `send()` returned and the
//!   application never looks at the outcome.
//! - **A producer crash is not an operation.** The model's producer
//!   application keeps its record of what it handed and was told (its own
//!   database) and carries on the same sends with a new client; the
//!   history's `crash` would say the process was replaced, which it was not.
//!   What the crash cost shows in the sends' completions.
//! - **Process 1, the consumer application** (when the configuration has a
//!   consumer): a `subscribe` to the one key at the start; a `poll` for
//!   each fetch response the consumer took (its position moved past the
//!   records), with their offsets and values, invoked and completed at that
//!   step (a fetch that returned nothing to the application is no read); a
//!   `commit` of the group's offset each time it changes; a `crash`
//!   (invoked and completed `info`) when the consumer process crashes. What
//!   the application processed is not in a history of client operations.
//! - **Healing, then the final read (process 2)**, as Jepsen ends a test:
//!   after the path's last step the faults stop and the model runs on
//!   (crashed processes restart, messages in flight arrive, the clients
//!   finish), taking at each step, among the actions the model offers that
//!   are not faults, the one whose connection or timer waited longest for
//!   its turn (so no message is starved), until none is left or
//!   [`HEAL_STEPS_MAX`] steps. Then a
//!   fresh process assigns itself the key (`"final": true`) and polls
//!   everything the live leader serves: its log below its high watermark,
//!   then says it read the key to its end (`final-read`). With no live
//!   leader after healing, the final read is a `fail` poll, and its
//!   `final-read` names no key: the partition served nothing, and what it
//!   holds is not judged.
//! - The key is the one partition, `"0"`; values are the model's message
//!   ids (unique: the application numbers what it hands to `send()`);
//!   `time` is the number of the model step (0 the initial state; healing
//!   steps continue the count, the final read is one past the last).

use crate::trace::Trace;
use kafka_oracle_models::actors::producer;
use kafka_oracle_models::check;
use kafka_oracle_models::config::SendMode;
use kafka_oracle_models::msg::{Msg, MsgId, Offset, PollResult, ProduceError, Timer};
use kafka_oracle_models::observe;
use kafka_oracle_models::system::{Action, System, SystemState};
use kafka_oracle_properties::history::{Anomaly, Process, Type, F};
use kafka_oracle_properties::{property, Acks};
use serde_json::{json, Value};
use stateright::actor::{ActorModelAction, Id, Network};
use stateright::Model;
use std::collections::HashMap;

/// The one partition of the model, as the history's key.
pub const KEY: &str = "0";
pub const PRODUCER: Process = 0;
pub const CONSUMER: Process = 1;
pub const FINAL_READER: Process = 2;
/// Healing stops after this many steps even if the model could go on: a
/// settled model has nothing left to do within a few dozen.
pub const HEAL_STEPS_MAX: usize = 500;

/// What a history of client operations shows when the model breaks a
/// property: the anomalies `verify-history` reports for it, and when it
/// shows nothing.
pub struct ClientView {
    pub property: &'static str,
    /// The anomalies a history shows when the clients saw the violation.
    pub anomalies: &'static [Anomaly],
    /// When (or why) a violation is invisible to the clients.
    pub invisible: &'static str,
}

/// Every property of the catalogue judged on states, and what the clients
/// see of its violation. The "sometimes" properties are about the search,
/// not the system, and have no row.
pub const CLIENT_VIEW: &[ClientView] = &[
    ClientView {
        property: "committed_never_lost",
        anomalies: &[
            Anomaly::Unseen,
            Anomaly::LostWrite,
            Anomaly::LostAfterRead,
            Anomaly::InconsistentOffsets,
            Anomaly::NonmonotonicSend,
        ],
        invisible: "when no client was told of the lost message: committed, but not yet acknowledged to the producer nor polled",
    },
    ClientView {
        property: "acked_is_committed",
        anomalies: &[Anomaly::Unseen, Anomaly::LostWrite],
        invisible: "when the acknowledged message is committed after all: clients do not see the high watermark",
    },
    ClientView {
        property: "committed_prefix_agrees",
        anomalies: &[Anomaly::InconsistentOffsets],
        invisible: "unless clients read the offset from both replicas",
    },
    ClientView {
        property: "high_watermark_monotonic",
        anomalies: &[],
        invisible: "always: clients read records, not the high watermark",
    },
    ClientView {
        property: "consumer_offset_monotonic",
        anomalies: &[],
        invisible: "always: a history records commits, verify-history does not judge them",
    },
    ClientView {
        property: "at_least_once",
        anomalies: &[
            Anomaly::Unseen,
            Anomaly::LostWrite,
            Anomaly::PollSkip,
            Anomaly::IntPollSkip,
        ],
        invisible: "when the message is still in the log and the consumer application skipped it (auto.offset.reset=latest, a commit before processing, a handoff queue lost in a crash): the final read finds it; a history judges the system, not what the application processed",
    },
    ClientView {
        property: "committed_durable",
        anomalies: &[
            Anomaly::Unseen,
            Anomaly::LostWrite,
            Anomaly::LostAfterRead,
            Anomaly::InconsistentOffsets,
            Anomaly::NonmonotonicSend,
        ],
        invisible: "when no client was told of the lost message: committed, but not yet acknowledged to the producer nor polled",
    },
    ClientView {
        property: "end_to_end_delivery",
        anomalies: &[],
        invisible: "always beyond at_least_once: a send whose outcome the application never learned is `info`, and one that never landed looks like one never made",
    },
    ClientView {
        property: "no_duplicates",
        anomalies: &[Anomaly::Duplicate],
        invisible: "when the second copy is truncated before any client reads it",
    },
    ClientView {
        property: "tolerates_one_replica_down",
        anomalies: &[],
        invisible: "always: it is availability; the refused send is a `fail`, which breaks no promise a history is judged on",
    },
];

/// The row of `property`, if it has one.
pub fn client_view(property: &str) -> Option<&'static ClientView> {
    CLIENT_VIEW.iter().find(|v| v.property == property)
}

/// A rendered history and what it was rendered from.
pub struct History {
    /// One JSON object a line, in order.
    pub lines: Vec<Value>,
    /// Steps of the path, then of healing.
    pub path_steps: usize,
    pub heal_steps: usize,
    /// The state the final read saw.
    pub last: SystemState,
    /// The replica the final read polled, `None` if no leader served.
    pub final_reader_of: Option<u32>,
}

impl History {
    /// The history as JSON lines, as `verify-history` reads them.
    pub fn to_jsonl(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&line.to_string());
            text.push('\n');
        }
        text
    }

    /// Writes the history to `path`; the error names the file.
    pub fn write(&self, path: &str) -> Result<(), String> {
        std::fs::write(path, self.to_jsonl()).map_err(|e| format!("{path}: {e}"))
    }

    /// The history in a sentence: what it holds and how it ends.
    pub fn summary(&self) -> String {
        let read = match self.final_reader_of {
            Some(id) => format!("final read from replica {id}"),
            None => "no leader served the final read".to_string(),
        };
        format!(
            "{} operations from {} steps and {} of healing; {read}",
            self.lines.len(),
            self.path_steps,
            self.heal_steps
        )
    }
}

/// Renders a trace written by `check --trace-out`: its steps are taken
/// again in the model, as `replay` takes them, for the actions.
pub fn render_trace(trace: &Trace) -> Result<History, String> {
    let cfg = trace.config()?;
    let mut judged = Vec::new();
    for name in trace.judged.iter().chain([&trace.property]) {
        let name = property(name)
            .ok_or_else(|| format!("no property {name}"))?
            .name;
        if !judged.contains(&name) {
            judged.push(name);
        }
    }
    let system = System::new(cfg, &judged);
    let descriptions: Vec<String> = trace.steps.iter().map(|s| s.description.clone()).collect();
    let steps = check::replay(&system, &descriptions)?;
    let actions: Vec<Action> = steps.into_iter().map(|s| s.action).collect();
    Ok(render(&system, &actions))
}

/// Renders the path that takes `actions` from the model's initial state,
/// heals it and appends the final read.
///
/// Panics if an action is not enabled where the path takes it: paths come
/// from the model (a search, a walk, or a replayed trace).
pub fn render(system: &System, actions: &[Action]) -> History {
    let mut state = system
        .init_states()
        .into_iter()
        .next()
        .expect("the model has an initial state");
    let mut r = Renderer::new(system);
    r.start(&state);
    for (i, action) in actions.iter().enumerate() {
        let next = system
            .next_state(&state, action.clone())
            .unwrap_or_else(|| panic!("step {}: the action is not enabled", i + 1));
        r.step(i + 1, &state, action, &next);
        state = next;
    }
    let mut heal_steps = 0;
    let mut taken = HashMap::new();
    while heal_steps < HEAL_STEPS_MAX {
        let Some((action, next)) = heal_step(system, &state, &taken) else {
            break;
        };
        heal_steps += 1;
        taken.insert(channel(&action), heal_steps);
        r.step(actions.len() + heal_steps, &state, &action, &next);
        state = next;
    }
    let final_reader_of = r.final_read(actions.len() + heal_steps + 1, &state);
    History {
        lines: r.lines,
        path_steps: actions.len(),
        heal_steps,
        last: state,
        final_reader_of,
    }
}

fn is_fault(action: &Action) -> bool {
    match action {
        Action::PowerLoss | Action::Duplicate(_) | Action::Reorder(_) => true,
        Action::Step(ActorModelAction::Drop(_)) => true,
        Action::Step(ActorModelAction::Timeout(_, timer)) => timer.is_fault(),
        Action::Step(_) | Action::Elect { .. } => false,
    }
}

/// What an action takes its turn on: a connection (sender, receiver) or a
/// timer of an actor; the faults and Stateright's own crashes, never taken
/// while healing, share one.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Channel {
    Flow(Id, Id),
    Timer(Id, Timer),
    Other,
}

fn channel(action: &Action) -> Channel {
    match action {
        Action::Step(ActorModelAction::Deliver { src, dst, .. }) => Channel::Flow(*src, *dst),
        Action::Elect { deliver, .. } => Channel::Flow(deliver.src, deliver.dst),
        Action::Step(ActorModelAction::Timeout(id, timer)) => Channel::Timer(*id, timer.clone()),
        _ => Channel::Other,
    }
}

/// Among the actions the model offers in `state` that are not faults and
/// change it, the one whose channel waited longest since its last turn
/// (`taken`: the healing step of each channel's last turn), the model's
/// order breaking ties; and where it leads. Taking turns starves no
/// connection: a pair of replicas that could exchange empty fetches forever
/// does not keep a third from its turn.
fn heal_step(
    system: &System,
    state: &SystemState,
    taken: &HashMap<Channel, usize>,
) -> Option<(Action, SystemState)> {
    let mut actions = Vec::new();
    system.actions(state, &mut actions);
    actions
        .into_iter()
        .filter(|a| !is_fault(a))
        .filter_map(|a| system.next_state(state, a.clone()).map(|next| (a, next)))
        .min_by_key(|(a, _)| taken.get(&channel(a)).copied())
}

struct Renderer<'s> {
    system: &'s System,
    lines: Vec<Value>,
    /// The model step being rendered.
    time: usize,
    /// The last message whose send was invoked (0: none yet).
    invoked: MsgId,
    /// The send awaiting its completion.
    pending: Option<MsgId>,
    /// An attempt of the pending send ended without the client learning
    /// whether the leader wrote it.
    uncertain: bool,
    /// The offset of the last acknowledgement each replica sent for a
    /// message, by (replica, message).
    acked_at: HashMap<(u8, MsgId), Offset>,
}

impl<'s> Renderer<'s> {
    fn new(system: &'s System) -> Renderer<'s> {
        Renderer {
            system,
            lines: Vec::new(),
            time: 0,
            invoked: 0,
            pending: None,
            uncertain: false,
            acked_at: HashMap::new(),
        }
    }

    fn record(&mut self, process: Process, kind: Type, f: F, value: Value) {
        let mut line = json!({
            "index": self.lines.len(),
            "time": self.time,
            "process": process,
            "type": kind.name(),
            "f": f.name(),
        });
        if !value.is_null() {
            line["value"] = value;
        }
        self.lines.push(line);
    }

    /// An operation that completes in the step it is invoked.
    fn record_pair(
        &mut self,
        process: Process,
        done: Type,
        f: F,
        invoked: Value,
        completed: Value,
    ) {
        self.record(process, Type::Invoke, f, invoked);
        self.record(process, done, f, completed);
    }

    fn start(&mut self, init: &SystemState) {
        if self.system.cfg.consumer {
            let keys = json!([KEY]);
            self.record_pair(CONSUMER, Type::Ok, F::Subscribe, keys.clone(), keys);
        }
        // Under acks=0 the producer's first sends complete as it starts.
        self.producer(init, None);
    }

    fn step(&mut self, time: usize, prev: &SystemState, action: &Action, next: &SystemState) {
        self.time = time;
        self.note_acks(prev, action, next);
        self.note_attempt(prev, action, next);
        let ack_from = match action {
            Action::Step(ActorModelAction::Deliver {
                src,
                dst,
                msg: Msg::ProduceResponse { error: None, .. },
            }) if *dst == self.system.ids.producer() => self.system.ids.replica_ix(*src),
            _ => None,
        };
        self.producer(next, ack_from);
        self.consumer(prev, action, next);
    }

    /// Records the acknowledgements a replica sent in this step, with the
    /// offset each acknowledges.
    fn note_acks(&mut self, prev: &SystemState, action: &Action, next: &SystemState) {
        // A copy the network makes is not a response a replica sent.
        if matches!(action, Action::Duplicate(_) | Action::Reorder(_)) {
            return;
        }
        let ids = self.system.ids;
        for ix in 0..ids.replicas {
            let before = acks_in_flight(prev, ids.replica(ix), ids.producer());
            let after = acks_in_flight(next, ids.replica(ix), ids.producer());
            for &m in &after {
                if count(&after, m) > count(&before, m) {
                    let offset = ack_offset(self.system, prev, action, next, ix, m);
                    self.acked_at.insert((ix, m), offset);
                }
            }
        }
    }

    /// Marks the pending send uncertain when an attempt of it ended without
    /// a refusal that says the leader did not write it.
    fn note_attempt(&mut self, prev: &SystemState, action: &Action, next: &SystemState) {
        let ids = &self.system.ids;
        let (p0, p1) = (
            observe::producer(&prev.actors, ids),
            observe::producer(&next.actors, ids),
        );
        let in_flight = p0.awaiting == producer::Awaiting::Produce;
        let ended = in_flight
            && (p1.awaiting != producer::Awaiting::Produce
                || p1.attempts != p0.attempts
                || p1.next != p0.next
                || !p1.up);
        let refused = matches!(
            action,
            Action::Step(ActorModelAction::Deliver {
                msg: Msg::ProduceResponse {
                    error: Some(
                        ProduceError::NotLeaderOrFollower | ProduceError::NotEnoughReplicas
                    ),
                    ..
                },
                ..
            })
        );
        let acked = p1.acked != p0.acked;
        if ended && !refused && !acked {
            self.uncertain = true;
        }
    }

    /// Invokes and completes the producer's sends as far as the application
    /// knows their outcomes in `state`.
    fn producer(&mut self, state: &SystemState, ack_from: Option<u8>) {
        let cfg = &self.system.cfg;
        let p = observe::producer(&state.actors, &self.system.ids);
        loop {
            let Some(m) = self.pending else {
                if self.invoked >= p.handed {
                    return;
                }
                self.invoked += 1;
                let m = self.invoked;
                self.record(PRODUCER, Type::Invoke, F::Send, json!([["send", KEY, m]]));
                if cfg.send == SendMode::FireAndForget {
                    self.record(PRODUCER, Type::Info, F::Send, json!([["send", KEY, m]]));
                } else {
                    self.pending = Some(m);
                    self.uncertain = false;
                }
                continue;
            };
            if p.acked.contains(m) {
                let offset = match cfg.acks {
                    Acks::None => None,
                    _ => {
                        let from = ack_from.expect("an acknowledgement comes from a replica");
                        let offset = self.acked_at.get(&(from, m)).unwrap_or_else(|| {
                            panic!("m{m} acknowledged by replica {from}, which never sent it")
                        });
                        Some(*offset)
                    }
                };
                self.record(
                    PRODUCER,
                    Type::Ok,
                    F::Send,
                    json!([["send", KEY, [offset, m]]]),
                );
            } else if p.failed.contains(m) {
                let kind = if self.uncertain {
                    Type::Info
                } else {
                    Type::Fail
                };
                self.record(PRODUCER, kind, F::Send, json!([["send", KEY, m]]));
            } else {
                return;
            }
            self.pending = None;
        }
    }

    fn consumer(&mut self, prev: &SystemState, action: &Action, next: &SystemState) {
        let ids = &self.system.ids;
        let (c0, c1) = (
            observe::consumer(&prev.actors, ids),
            observe::consumer(&next.actors, ids),
        );
        if let Action::Step(ActorModelAction::Deliver {
            dst,
            msg:
                Msg::ConsumerFetchResponse {
                    result: PollResult::Records { offset, msgs },
                },
            ..
        }) = action
        {
            // Taken by the consumer: its position moved past the records.
            let end = offset + msgs.len() as Offset;
            let taken = *dst == ids.consumer()
                && !msgs.is_empty()
                && c0.position == Some(*offset)
                && c1.position == Some(end);
            if taken {
                let records: Vec<Value> = msgs
                    .iter()
                    .zip(*offset..end)
                    .map(|(&m, o)| json!([o, m]))
                    .collect();
                self.record_pair(
                    CONSUMER,
                    Type::Ok,
                    F::Poll,
                    json!([["poll"]]),
                    json!([["poll", { KEY: records }]]),
                );
            }
        }
        if c1.committed != c0.committed {
            if let Some(offset) = c1.committed {
                let offsets = json!({ KEY: offset });
                self.record_pair(CONSUMER, Type::Ok, F::Commit, offsets.clone(), offsets);
            }
        }
        if let Action::Step(ActorModelAction::Timeout(id, Timer::ProcessCrash)) = action {
            if *id == ids.consumer() {
                self.record_pair(CONSUMER, Type::Info, F::Crash, Value::Null, Value::Null);
            }
        }
    }

    /// A fresh process reads everything the live leader serves. Returns the
    /// replica it read.
    fn final_read(&mut self, time: usize, state: &SystemState) -> Option<u32> {
        self.time = time;
        let keys = json!([KEY]);
        self.record_pair(
            FINAL_READER,
            Type::Ok,
            F::Assign,
            keys.clone(),
            keys.clone(),
        );
        for line in self.lines.iter_mut().rev().take(2) {
            line["final"] = json!(true);
        }
        let obs = self.system.observe(state);
        let Some(leader) = obs.live_leader() else {
            self.record_pair(
                FINAL_READER,
                Type::Fail,
                F::Poll,
                json!([["poll"]]),
                json!([["poll"]]),
            );
            // The partition served nothing: its end was not reached.
            self.record_pair(FINAL_READER, Type::Ok, F::FinalRead, keys, json!([]));
            return None;
        };
        let records: Vec<Value> = leader
            .log
            .iter()
            .take(leader.high_watermark as usize)
            .map(|e| json!([e.offset, e.msg]))
            .collect();
        let id = leader.id;
        self.record_pair(
            FINAL_READER,
            Type::Ok,
            F::Poll,
            json!([["poll"]]),
            json!([["poll", { KEY: records }]]),
        );
        self.record_pair(FINAL_READER, Type::Ok, F::FinalRead, keys.clone(), keys);
        Some(id)
    }
}

/// The messages of the successful `ProduceResponse`s queued from `src` to
/// `dst`, counted with repeats as a list.
fn acks_in_flight(state: &SystemState, src: Id, dst: Id) -> Vec<MsgId> {
    let Network::Ordered(flows) = &state.actors.network else {
        unreachable!("the model's network is ordered")
    };
    flows
        .get(&(src, dst))
        .into_iter()
        .flatten()
        .filter_map(|msg| match msg {
            Msg::ProduceResponse { msg, error: None } => Some(*msg),
            _ => None,
        })
        .collect()
}

fn count(msgs: &[MsgId], m: MsgId) -> usize {
    msgs.iter().filter(|&&x| x == m).count()
}

/// The offset of the record that replica `ix` acknowledged for message `m`
/// in the step from `prev` to `next`. The model's response does not carry
/// it, so it is read off the leader's state as the replica sent it: under
/// acks=all the leader held the produce waiting for the high watermark
/// with its offset; under acks=1 (or a retry of a committed record) the
/// step delivered the produce, and the record is the one it appended, or,
/// if it appended none (an idempotent retry), the one the producer's
/// earlier attempt wrote.
fn ack_offset(
    system: &System,
    prev: &SystemState,
    action: &Action,
    next: &SystemState,
    ix: u8,
    m: MsgId,
) -> Offset {
    let replica = |s: &SystemState| {
        observe::replicas(&s.actors, &system.ids)
            .nth(ix as usize)
            .expect("a replica of the model")
            .clone()
    };
    let (before, after) = (replica(prev), replica(next));
    let waited = before.leadership().and_then(|l| l.produce);
    let still = after.leadership().and_then(|l| l.produce);
    if let Some((_, offset)) = waited.filter(|&w| w.0 == m && still != Some(w)) {
        return offset;
    }
    let Action::Step(ActorModelAction::Deliver {
        msg: Msg::Produce { msg, producer_id },
        ..
    }) = action
    else {
        panic!(
            "replica {ix} acknowledged m{m} in a step that neither delivered it nor committed it"
        );
    };
    assert_eq!(
        *msg, m,
        "replica {ix} acknowledged m{m} on a produce of m{msg}"
    );
    if after.log.len() > before.log.len() {
        return (after.log.len() - 1) as Offset;
    }
    after
        .log
        .iter()
        .position(|e| e.msg == m && e.producer_id == *producer_id)
        .expect("an idempotent retry's record is in the log") as Offset
}
