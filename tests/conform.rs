//! Conformance end to end: `kafka-oracle conform` replays the model's
//! traces (breadth-first paths, random walks, the matrix's counterexamples)
//! on the broker's partition core, and the two must never disagree.

use serde_json::Value;
use std::process::Command;

#[test]
fn the_broker_core_conforms_to_the_model_on_ten_thousand_traces() {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args(["conform", "--json", "--quiet", "--seed", "20261123"])
        .args([
            "--depth",
            "10",
            "--paths",
            "600",
            "--walks",
            "400",
            "--walk-length",
            "60",
        ])
        .output()
        .expect("the binary runs");
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let divergences = report["divergences"].as_array().expect("a list");
    assert!(
        divergences.is_empty(),
        "{} divergences, the first: {}",
        divergences.len(),
        serde_json::to_string_pretty(&divergences[0]).unwrap_or_default()
    );
    assert_eq!(out.status.code(), Some(0));
    let traces = report["traces"].as_u64().expect("a count");
    assert!(traces >= 10_000, "only {traces} traces");
    assert!(
        report["steps"].as_u64().expect("a count") > 5 * traces,
        "traces of a few steps at least"
    );
    let scenarios = report["scenarios"].as_array().expect("a list");
    assert_eq!(scenarios.len(), 19, "every scenario of the matrix");
    for s in scenarios {
        assert!(s["states_compared"].as_u64() > Some(100), "{s}");
    }
}

#[test]
fn an_unknown_scenario_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args(["conform", "--scenario", "nope"])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no scenario 'nope'"), "{err}");
}

/// Runs conformance on one scenario with a bug built into the broker core
/// (the crate's tests build it with the `inject-bugs` feature).
fn with_bug(bug: &str, scenario: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args([
            "conform",
            "--json",
            "--quiet",
            "--seed",
            "1",
            "--scenario",
            scenario,
        ])
        .args([
            "--depth",
            "10",
            "--paths",
            "300",
            "--walks",
            "50",
            "--inject-bug",
            bug,
        ])
        .output()
        .expect("the binary runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{bug}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

fn first_divergence(report: &Value) -> String {
    let divergences = report["divergences"].as_array().expect("a list");
    assert!(!divergences.is_empty());
    divergences[0]["what"]
        .as_str()
        .expect("a sentence")
        .to_string()
}

#[test]
fn a_high_watermark_that_passes_isr_members_not_yet_fetched_is_caught() {
    let what = first_divergence(&with_bug("high-watermark-before-isr", "safe"));
    assert!(
        what.contains("ProduceResponse") || what.contains("high watermark"),
        "{what}"
    );
}

#[test]
fn a_follower_truncating_to_its_high_watermark_in_leader_epoch_mode_is_caught() {
    let what = first_divergence(&with_bug(
        "truncate-to-high-watermark",
        "truncate-by-leader-epoch",
    ));
    // The truncated follower fetches from a lower offset than the model's.
    assert!(
        what.contains("Fetch {") || what.contains("log (epoch, msg, pid)"),
        "{what}"
    );
}

#[test]
fn an_isr_change_applied_without_its_partition_epoch_is_caught() {
    let what = first_divergence(&with_bug("isr-change-keeps-epoch", "safe"));
    assert!(what.contains("AlterIsr"), "{what}");
}

#[test]
fn acks_all_answered_below_min_insync_replicas_is_caught() {
    let what = first_divergence(&with_bug("acks-all-below-min-isr", "rf-equals-min-insync"));
    assert!(
        what.contains("ProduceResponse") || what.contains("NotEnoughReplicas"),
        "{what}"
    );
}

#[test]
fn a_consumer_that_commits_before_processing_is_caught() {
    // Without a consumer crash the order is invisible (the model processes
    // and commits at once); `commit-after-process` has one.
    let what = first_divergence(&with_bug(
        "commit-before-processing",
        "commit-after-process",
    ));
    assert!(
        what.contains("takes the step Process") && what.contains("Commit("),
        "{what}"
    );
}
