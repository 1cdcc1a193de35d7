//! The model's own guarantees: configurations are validated by knob name,
//! the state space is deterministic and pinned (a change to it is noticed),
//! and breadth-first and depth-first searches agree on it.

use kafka_oracle_models::check;
use kafka_oracle_models::config::Config;
use kafka_oracle_models::scenarios::{scenario, SCENARIOS};
use kafka_oracle_models::symmetry::representative;
use kafka_oracle_models::system::System;
use stateright::{Checker, Model};
use std::collections::BTreeSet;

fn unique_states(name: &str, dfs: bool) -> usize {
    let s = scenario(name).unwrap();
    let builder = System::new(s.config().unwrap(), &s.judged())
        .checker()
        .threads(1);
    if dfs {
        let checker = builder.spawn_dfs().join();
        checker.assert_no_discovery("committed_never_lost");
        checker.unique_state_count()
    } else {
        let checker = builder.spawn_bfs().join();
        checker.assert_no_discovery("committed_never_lost");
        checker.unique_state_count()
    }
}

#[test]
fn state_space_sizes_are_pinned() {
    // Exhaustive searches of passing scenarios. If a change to the model
    // moves one of these, say why in the commit.
    assert_eq!(unique_states("retries-with-idempotence", false), 104);
    assert_eq!(unique_states("auto-commit-in-poll-loop", false), 233);
    assert_eq!(
        unique_states("power-loss-flush-every-message", false),
        10273
    );
}

#[test]
fn depth_first_and_breadth_first_agree() {
    for name in ["auto-commit-in-poll-loop", "power-loss-flush-every-message"] {
        assert_eq!(
            unique_states(name, true),
            unique_states(name, false),
            "{name}"
        );
    }
}

/// The properties a depth-first search of the scenario finds violated or
/// reached, searched to exhaustion, and its unique states.
fn discoveries(name: &str, symmetric: bool) -> (BTreeSet<&'static str>, usize) {
    let s = scenario(name).unwrap();
    let system = System::new(s.config().unwrap(), &s.judged());
    let mut builder = system.checker().threads(2);
    if symmetric {
        builder = builder.symmetry_fn(representative);
    }
    let checker = builder.spawn_dfs().join();
    let found = checker.discoveries().into_keys().collect();
    (found, checker.unique_state_count())
}

#[test]
fn symmetry_changes_no_verdict() {
    // Every scenario of the matrix searched to exhaustion with and without
    // the reduction: the same properties violated, the same "sometimes"
    // properties reached; each expected violation is found by both.
    for s in SCENARIOS {
        let (plain, all) = discoveries(s.name, false);
        let (reduced, representatives) = discoveries(s.name, true);
        assert_eq!(plain, reduced, "{}", s.name);
        for v in s.expected_violated {
            assert!(reduced.contains(v), "{}: {v} not found", s.name);
        }
        assert!(representatives <= all, "{}", s.name);
        if s.name == "safe" {
            // Three replicas: the two first followers are interchangeable.
            assert!(representatives * 10 < all * 6, "{representatives} of {all}");
        }
    }
}

#[test]
fn bad_knobs_are_named() {
    let err = Config::default().with([("acks", "2")]).unwrap_err();
    assert_eq!(err.knob, "acks");
    let err = Config::default()
        .with([("replication.factor", "4")])
        .unwrap_err();
    assert_eq!(err.knob, "replication.factor");
    assert!(err.reason.contains("from 1 to 3"), "{}", err.reason);
    let err = Config::default()
        .with([("replication.factor", "1"), ("min.insync.replicas", "2")])
        .unwrap_err();
    assert_eq!(err.knob, "min.insync.replicas");
    let err = Config::default()
        .with([("model.consumer", "false"), ("model.consumer.crashes", "1")])
        .unwrap_err();
    assert_eq!(err.knob, "model.consumer.crashes");
}

#[test]
fn knobs_round_trip() {
    let s = scenario("unclean-election").unwrap();
    let cfg = s.config().unwrap();
    let pairs = cfg.knobs();
    let again = Config::default()
        .with(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .unwrap();
    assert_eq!(cfg, again);
}

#[test]
fn every_scenario_is_valid_and_named_once() {
    let names: std::collections::BTreeSet<_> = kafka_oracle_models::scenarios::SCENARIOS
        .iter()
        .map(|s| {
            s.config().unwrap_or_else(|e| panic!("{}: {e}", s.name));
            s.name
        })
        .collect();
    assert_eq!(names.len(), kafka_oracle_models::scenarios::SCENARIOS.len());
}

#[test]
fn the_initial_state_is_judged_and_not_yet_quiescent() {
    let s = scenario("safe").unwrap();
    let system = System::new(s.config().unwrap(), &s.judged());
    let init = &system.init_states()[0];
    let obs = system.observe(init);
    assert_eq!(obs.leader, Some(0));
    assert_eq!(obs.isr, vec![0, 1, 2]);
    assert!(!obs.quiescent, "the producer has not sent yet");
    assert_eq!(init.ghost.broken, 0);
}

fn small(knobs: &[(&'static str, &'static str)]) -> Config {
    let base = [
        ("replication.factor", "1"),
        ("min.insync.replicas", "1"),
        ("model.messages", "1"),
    ];
    Config::default()
        .with(base.iter().chain(knobs).copied())
        .unwrap()
}

fn run(cfg: &Config, judged: &[&'static str], expected: &[&'static str]) -> check::Outcome {
    let options = check::Options {
        threads: 1,
        ..check::Options::default()
    };
    check::check(cfg, judged, expected, options, &mut |_| {})
}

#[test]
fn a_duplicated_produce_is_stored_twice_unless_idempotent() {
    let judged = ["no_duplicates", "message_committed"];
    let plain = small(&[("model.network.duplicates", "1")]);
    let outcome = run(&plain, &judged, &["no_duplicates"]);
    assert_eq!(outcome.violated, vec!["no_duplicates"]);
    let c = outcome.counterexamples.into_iter().next().unwrap();
    let system = System::new(plain.clone(), &judged);
    let described: Vec<String> = c
        .steps
        .iter()
        .map(|s| kafka_oracle_models::describe::action(&system, &s.action))
        .collect();
    assert!(described
        .iter()
        .any(|d| d.starts_with("the network duplicates producer")));
    let replayed = check::replay(&system, &described).unwrap();
    assert!(check::violates(
        &replayed.last().unwrap().state,
        "no_duplicates"
    ));

    let idempotent = small(&[
        ("model.network.duplicates", "1"),
        ("enable.idempotence", "true"),
    ]);
    let outcome = run(&idempotent, &judged, &[]);
    assert!(outcome.violated.is_empty(), "{:?}", outcome.violated);
    assert!(outcome.exhaustive && outcome.unreached.is_empty());
}

#[test]
fn reordering_adds_behaviours_and_keeps_the_promise() {
    let judged = [
        "committed_never_lost",
        "at_least_once",
        "quiescence_reached",
    ];
    // acks=0 puts both messages on the producer's connection at once.
    let ordered = small(&[("acks", "0"), ("model.messages", "2")]);
    let reordered = small(&[
        ("acks", "0"),
        ("model.messages", "2"),
        ("model.network.reorders", "1"),
    ]);
    let before = run(&ordered, &judged, &[]);
    let after = run(&reordered, &judged, &[]);
    assert!(
        before.violated.is_empty() && after.violated.is_empty(),
        "{:?}",
        after.violated
    );
    assert!(after.unreached.is_empty());
    assert!(after.unique_states > before.unique_states);
}

#[test]
fn idempotence_does_not_survive_a_producer_restart() {
    // A restarted client gets a new producer id: resending what was not
    // acknowledged can store it twice, idempotence or not.
    let cfg = small(&[
        ("enable.idempotence", "true"),
        ("model.producer.crashes", "1"),
    ]);
    let outcome = run(&cfg, &["no_duplicates"], &["no_duplicates"]);
    assert_eq!(outcome.violated, vec!["no_duplicates"]);
}
