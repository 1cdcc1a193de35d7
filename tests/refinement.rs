//! Broker → model: refinement. Here the broker's side drives: proptest
//! chooses, step by step, among the events the broker's world offers: a
//! message one broker replica sent to another or to a client (taken from
//! the broker's own outbox, in the order of its connection), or something
//! its environment does (the controller's decisions, the clients'
//! requests, timers, crashes, lost, duplicated or reordered messages, which
//! the model's other actors and fault budget supply). Each broker step must
//! be a step the model allows from the state it is in, after which the
//! broker abstracts to the model's state again; and every property of the
//! catalogue gives the same verdict on what the broker holds as on what
//! the model holds. A failure is shrunk to a short schedule and printed.

use kafka_oracle::bugs::Bug;
use kafka_oracle::conform::compare::{in_flight, ReplicaView};
use kafka_oracle::conform::mirror::Sent;
use kafka_oracle::conform::{traces, Replayer};
use kafka_oracle_models::actors::Ids;
use kafka_oracle_models::msg::{Msg, Timer};
use kafka_oracle_models::scenarios::SCENARIOS;
use kafka_oracle_models::system::{Action, System};
use kafka_oracle_properties::catalogue::{Judge, CATALOGUE};
use kafka_oracle_properties::{Entry, Observation};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use stateright::actor::{ActorModelAction, Envelope, Id};
use stateright::Model;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What the broker replicas sent and no one has received yet, per
/// connection, in order.
#[derive(Default, PartialEq, Debug)]
struct Outbox(BTreeMap<(usize, usize), VecDeque<Msg>>);

impl Outbox {
    fn send(&mut self, sent: Vec<Sent>) {
        for (src, dst, msg) in sent {
            self.0.entry((src, dst)).or_default().push_back(msg);
        }
    }

    fn deliveries(&self) -> impl Iterator<Item = Action> + '_ {
        self.0.iter().filter_map(|(&(src, dst), flow)| {
            flow.front().map(|msg| {
                Action::Step(ActorModelAction::Deliver {
                    src: Id::from(src),
                    dst: Id::from(dst),
                    msg: msg.clone(),
                })
            })
        })
    }

    fn position(&self, env: &Envelope<Msg>) -> Option<usize> {
        let key = (usize::from(env.src), usize::from(env.dst));
        self.0.get(&key)?.iter().position(|m| *m == env.msg)
    }

    /// The network's part of `action`, on the broker's messages.
    fn apply(&mut self, action: &Action) {
        let (env, copy) = match action {
            Action::Step(ActorModelAction::Deliver { src, dst, msg }) => (
                Envelope {
                    src: *src,
                    dst: *dst,
                    msg: msg.clone(),
                },
                false,
            ),
            Action::Step(ActorModelAction::Drop(env)) | Action::Reorder(env) => {
                (env.clone(), false)
            }
            Action::Duplicate(env) => (env.clone(), true),
            _ => return,
        };
        let Some(i) = self.position(&env) else {
            return; // not the broker's message
        };
        let key = (usize::from(env.src), usize::from(env.dst));
        let flow = self.0.get_mut(&key).expect("found above");
        if copy {
            flow.push_back(env.msg);
            return;
        }
        let msg = flow.remove(i).expect("found above");
        if matches!(action, Action::Reorder(_)) {
            flow.push_back(msg);
        }
    }

    /// A process that crashed loses the connections to it.
    fn crashed(&mut self, dst: usize) {
        self.0.retain(|&(_, d), _| d != dst);
    }

    fn tidy(&mut self) {
        self.0.retain(|_, flow| !flow.is_empty());
    }
}

/// A message of the broker process, not of its partition: metadata for
/// clients, the session with the controller. The model's environment
/// delivers those.
fn of_process(msg: &Msg) -> bool {
    matches!(
        msg,
        Msg::Metadata { .. } | Msg::BrokerDown | Msg::BrokerUp { .. }
    )
}

/// The broker replicas' part of the model's network: messages a replica
/// sends as the partition.
fn model_outbox(replayer: &Replayer, ids: Ids) -> Outbox {
    let mut out = Outbox::default();
    let from_replica = |src: usize| (1..=usize::from(ids.replicas)).contains(&src);
    out.send(
        in_flight(replayer.state())
            .into_iter()
            .filter(|(src, _, msg)| from_replica(*src) && !of_process(msg))
            .collect(),
    );
    out
}

/// Connections whose next message is the broker process's: the
/// partition's messages behind it wait until the environment delivers it.
fn process_first(replayer: &Replayer) -> BTreeSet<(usize, usize)> {
    let mut fronts = BTreeMap::new();
    for (src, dst, msg) in in_flight(replayer.state()) {
        fronts.entry((src, dst)).or_insert(msg);
    }
    fronts
        .into_iter()
        .filter_map(|(flow, msg)| of_process(&msg).then_some(flow))
        .collect()
}

/// The model's observation with each running replica as the broker holds it.
fn broker_observation(replayer: &Replayer, model: &Observation) -> Result<Observation, String> {
    let mut obs = model.clone();
    for r in &mut obs.replicas {
        let ix = u8::try_from(r.id).map_err(|e| e.to_string())?;
        let Some(view) = replayer.broker_replica(ix)? else {
            continue;
        };
        let ReplicaView {
            log,
            high_watermark,
            role,
            leader_epoch,
            ..
        } = view;
        r.log = log
            .iter()
            .enumerate()
            .map(|(offset, &(epoch, msg, _))| Entry {
                offset: offset as u64,
                epoch: u32::from(epoch),
                msg: u32::from(msg),
            })
            .collect();
        r.high_watermark = u64::from(high_watermark);
        r.is_leader = role.as_deref() == Some("leader");
        if let Some(epoch) = leader_epoch {
            r.leader_epoch = u32::from(epoch);
        }
    }
    Ok(obs)
}

/// Counts over a run, to show the executions were not vacuous.
#[derive(Default)]
struct Seen {
    steps: usize,
    broker_deliveries: usize,
    /// Per catalogue property: "sometimes" ones reached on the broker's
    /// observation, others violated on it (in the scenarios expected to).
    reached: BTreeMap<&'static str, usize>,
}

/// How an execution picks each event among those the broker's world
/// offers.
#[derive(Clone, Copy)]
enum Pick<'a> {
    /// Proptest's schedules: the i-th event is `choices[i]`, modulo the
    /// number offered.
    Choices(&'a [u16]),
    /// Exactly these events, each of which must be offered.
    Actions(&'a [Action]),
}

impl Pick<'_> {
    fn len(self) -> usize {
        match self {
            Pick::Choices(c) => c.len(),
            Pick::Actions(a) => a.len(),
        }
    }

    /// The i-th event among `offered`; `None` when nothing is offered.
    fn pick(self, i: usize, offered: &[Action]) -> Result<Option<Action>, String> {
        match self {
            Pick::Choices(c) => Ok(offered
                .get(usize::from(c[i]) % offered.len().max(1))
                .cloned()),
            Pick::Actions(a) if offered.contains(&a[i]) => Ok(Some(a[i].clone())),
            Pick::Actions(a) => Err(format!("step {} is not offered: {:?}", i + 1, a[i])),
        }
    }
}

/// Runs one broker-driven execution of `scenario`, its events picked by
/// `pick`.
fn execute(scenario: usize, pick: Pick, bug: Option<Bug>, seen: &mut Seen) -> Result<(), String> {
    let s = &SCENARIOS[scenario];
    let system = System::new(s.config().map_err(|e| e.to_string())?, &s.judged());
    let ids = system.ids;
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let init = traces::initial(&system);
    let mut replayer = Replayer::start(&system, &init, scratch.path(), bug)
        .map_err(|d| format!("{}: start: {}", s.name, d.what))?;
    let mut outbox = model_outbox(&replayer, ids);
    let mut schedule = Vec::new();
    let mut before = system.observe(replayer.state());
    for i in 0..pick.len() {
        let allowed: Vec<Action> = traces::successors(&system, replayer.state())
            .into_iter()
            .map(|(action, _)| action)
            .collect();
        let from_broker = |a: &Action| match a {
            Action::Step(ActorModelAction::Deliver { src, msg, .. }) => {
                ids.replica_ix(*src).is_some() && !of_process(msg)
            }
            _ => false,
        };
        let waiting = process_first(&replayer);
        let offered: Vec<Action> = outbox
            .deliveries()
            .filter(|a| match a {
                Action::Step(ActorModelAction::Deliver { src, dst, .. }) => {
                    !waiting.contains(&(usize::from(*src), usize::from(*dst)))
                }
                _ => true,
            })
            .chain(allowed.iter().filter(|a| !from_broker(a)).cloned())
            .collect();
        let Some(action) = pick
            .pick(i, &offered)
            .map_err(|e| format!("{}: {e}", s.name))?
        else {
            break; // nothing can happen any more
        };
        let described = system.format_action(&action);
        schedule.push(described.clone());
        let fail = |what: String| format!("{}: after\n  {}\n{what}", s.name, schedule.join("\n  "));
        if !allowed.contains(&action) {
            return Err(fail(format!(
                "the broker took a step the model does not allow here: {described}"
            )));
        }
        let was_up: Vec<bool> = (0..ids.replicas).map(|ix| replayer.broker_up(ix)).collect();
        if from_broker(&action) {
            seen.broker_deliveries += 1;
        }
        let sent = replayer.step(&action).map_err(|d| fail(d.what))?;
        seen.steps += 1;
        outbox.apply(&action);
        match &action {
            Action::Step(ActorModelAction::Timeout(
                id,
                Timer::ProcessCrash | Timer::MachineCrash,
            )) => outbox.crashed(usize::from(*id)),
            Action::PowerLoss => {
                for ix in (0..ids.replicas).filter(|&ix| was_up[usize::from(ix)]) {
                    outbox.crashed(usize::from(ids.replica(ix)));
                }
            }
            _ => {}
        }
        outbox.send(sent);
        outbox.tidy();
        let in_model = model_outbox(&replayer, ids);
        if outbox != in_model {
            return Err(fail(format!(
                "the broker's messages in flight differ from the model's:\n  model  {:?}\n  broker {:?}",
                in_model.0, outbox.0
            )));
        }
        let after = system.observe(replayer.state());
        let broker = broker_observation(&replayer, &after).map_err(&fail)?;
        for &i in &system.judged {
            let p = &CATALOGUE[i];
            let (on_model, on_broker) = match p.judge {
                Judge::Always(f) | Judge::Terminal(f) => (f(&after).is_ok(), f(&broker).is_ok()),
                Judge::Transition(f) => (f(&before, &after).is_ok(), f(&before, &broker).is_ok()),
                Judge::Sometimes(f) => (f(&after), f(&broker)),
            };
            if on_model != on_broker {
                return Err(fail(format!(
                    "{} is {on_broker} on the broker, {on_model} on the model",
                    p.name
                )));
            }
            let noteworthy = match p.judge {
                Judge::Sometimes(_) => on_broker,
                _ => !on_broker,
            };
            if noteworthy {
                *seen.reached.entry(p.name).or_default() += 1;
            }
        }
        before = after;
    }
    Ok(())
}

/// The seed of the run: `KAFKA_ORACLE_SEED` replays one.
fn runner(cases: u32) -> TestRunner {
    let seed: u64 = std::env::var("KAFKA_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261123);
    eprintln!("seed {seed} (KAFKA_ORACLE_SEED={seed} replays this run)");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn schedules(scenarios: usize) -> impl Strategy<Value = (usize, Vec<u16>)> {
    (0..scenarios, prop::collection::vec(any::<u16>(), 1..80))
}

#[test]
fn every_broker_step_is_a_step_the_model_allows() {
    let mut runner = runner(768);
    let seen = std::cell::RefCell::new(Seen::default());
    let result = runner.run(&schedules(SCENARIOS.len()), |(scenario, choices)| {
        execute(
            scenario,
            Pick::Choices(&choices),
            None,
            &mut seen.borrow_mut(),
        )
        .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = seen.into_inner();
    eprintln!(
        "{} steps, {} of them broker messages delivered; reached or broken: {:?}",
        seen.steps, seen.broker_deliveries, seen.reached
    );
    assert!(seen.broker_deliveries * 4 > seen.steps, "the broker drove");
    for sometimes in ["message_committed", "leader_failover", "message_consumed"] {
        assert!(
            seen.reached.contains_key(sometimes),
            "{sometimes} never reached"
        );
    }
    // Random schedules break the consumer's promise; the rarer losses of
    // committed messages are driven on purpose below.
    assert!(
        seen.reached.contains_key("at_least_once"),
        "at_least_once never broken"
    );
}

/// Every counterexample of the matrix, driven from the broker's side (each
/// of its steps must be one the broker's world offers: its own messages
/// from its outbox), breaks the same property on the broker's replicas.
#[test]
fn the_matrix_counterexamples_break_the_same_property_on_the_broker() {
    let mut driven = 0;
    for (n, s) in SCENARIOS.iter().enumerate() {
        if s.expects_pass() {
            continue;
        }
        let cfg = s.config().expect("the matrix's configurations are valid");
        let actions = traces::counterexample(&cfg, s)
            .unwrap_or_else(|| panic!("{}: no counterexample", s.name));
        let mut seen = Seen::default();
        if let Err(e) = execute(n, Pick::Actions(&actions), None, &mut seen) {
            panic!("{e}");
        }
        for broken in s.expected_violated {
            assert!(
                seen.reached.contains_key(broken),
                "{}: {broken} not broken on the broker ({} steps)",
                s.name,
                actions.len()
            );
        }
        driven += 1;
    }
    assert!(driven >= 12, "only {driven} counterexamples");
}

/// A bug built into the broker is found from the broker's side too, and
/// shrunk to a short schedule.
#[test]
fn a_broker_bug_is_found_and_shrunk() {
    let safe = SCENARIOS
        .iter()
        .position(|s| s.name == "safe")
        .expect("the matrix has 'safe'");
    let mut runner = runner(384);
    let result = runner.run(
        &(Just(safe), prop::collection::vec(any::<u16>(), 1..80)),
        |(scenario, choices)| {
            execute(
                scenario,
                Pick::Choices(&choices),
                Some(Bug::HighWatermarkBeforeIsr),
                &mut Seen::default(),
            )
            .map_err(TestCaseError::fail)
        },
    );
    match result {
        Err(TestError::Fail(why, (_, choices))) => {
            eprintln!("shrunk to {} choices: {why}", choices.len());
            assert!(
                choices.len() < 40,
                "shrinking left {} choices",
                choices.len()
            );
        }
        other => panic!("the bug was not found: {other:?}"),
    }
}
