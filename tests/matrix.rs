//! The main job, as the README runs it: every scenario of the matrix gets
//! its expected verdict; every counterexample replays and is a shortest one.

use kafka_oracle::trace::Trace;
use kafka_oracle_models::scenarios::SCENARIOS;
use kafka_oracle_models::system::System;
use stateright::{Checker, Model};
use std::process::Command;

fn run_matrix() -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args(["check", "--json", "--quiet"])
        .output()
        .expect("the kafka-oracle binary runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(
        out.status.code(),
        Some(0),
        "not every verdict as expected: {report:#}"
    );
    report
}

#[test]
fn every_verdict_as_expected_with_shortest_replayable_counterexamples() {
    let report = run_matrix();
    assert_eq!(report["all_as_expected"], true);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), SCENARIOS.len());
    for (r, s) in results.iter().zip(SCENARIOS) {
        assert_eq!(r["scenario"], s.name);
        assert_eq!(r["as_expected"], true, "{}", s.name);
        assert_eq!(
            r["sometimes_unreached"].as_array().unwrap().len(),
            0,
            "{} is vacuous",
            s.name
        );
        if s.expects_pass() {
            assert_eq!(r["verdict"], "pass", "{}", s.name);
            assert!(r["counterexample"].is_null());
            assert_eq!(
                r["exhaustive"], true,
                "{}: a pass must come from a complete search",
                s.name
            );
            continue;
        }
        let trace: Trace = serde_json::from_value(r["counterexample"].clone())
            .unwrap_or_else(|e| panic!("{}: counterexample is not a trace: {e}", s.name));
        assert!(s.expected_violated.contains(&trace.property.as_str()));
        kafka_oracle::replay::replay(&trace).unwrap_or_else(|e| panic!("{}: replay: {e}", s.name));
        assert_no_shorter_counterexample(s.name, &trace);
    }
}

/// A search of every path one step shorter than the counterexample finds no
/// violation of its property.
fn assert_no_shorter_counterexample(scenario: &str, trace: &Trace) {
    let cfg = trace.config().unwrap();
    let property = kafka_oracle_properties::property(&trace.property)
        .unwrap()
        .name;
    let steps = trace.steps.len();
    // Stateright checks states of depth < target; the initial state has
    // depth 1, so target `steps + 1` covers every path of `steps - 1` actions.
    let bounded = System::new(cfg, &[property])
        .checker()
        .target_max_depth(steps + 1)
        .spawn_bfs()
        .join();
    assert!(
        bounded.discovery(property).is_none(),
        "{scenario}: a path shorter than {steps} steps violates {property}"
    );
}
