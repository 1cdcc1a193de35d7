//! `check` of one configuration: its bounds, what the report says of them,
//! when the search stops, and what it shows of each violation.

use std::process::{Command, Output};

fn oracle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args(args)
        .output()
        .expect("the kafka-oracle binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// acks=1 on two replicas: an acknowledged message is lost at a leader crash.
const ACKS_1: &[&str] = &[
    "--set",
    "acks=1",
    "--set",
    "replication.factor=2",
    "--set",
    "min.insync.replicas=1",
];

fn check(extra: &[&str]) -> Output {
    let mut args = vec!["check", "--quiet"];
    args.extend_from_slice(extra);
    oracle(&args)
}

#[test]
fn each_result_carries_its_configuration_and_bounds() {
    let mut args = ACKS_1.to_vec();
    args.extend(["--bounds", "small", "--json"]);
    let report = json(&check(&args));
    let r = &report["results"][0];
    assert_eq!(r["configuration"]["acks"], "1");
    assert_eq!(r["configuration"]["model.messages"], "1");
    assert_eq!(r["configuration"]["model.process.crashes"], "1");
    assert_eq!(r["configuration"]["model.consumer.crashes"], "0");
    assert_eq!(r["bounds"], "1 message, 1 process crash");

    // The default bounds, and a knob given with --set wins over them.
    let mut args = ACKS_1.to_vec();
    args.extend(["--set", "model.messages=1", "--json"]);
    let report = json(&check(&args));
    let c = &report["results"][0]["configuration"];
    assert_eq!(c["model.messages"], "1");
    assert_eq!(c["model.process.crashes"], "1");
    // A consumer left out has no consumer crash, even at large bounds.
    let args = [
        "--bounds",
        "large",
        "--set",
        "model.consumer=false",
        "--max-seconds",
        "1",
        "--json",
    ];
    let report = json(&check(&args));
    let c = &report["results"][0]["configuration"];
    assert_eq!(c["model.consumer.crashes"], "0");
    assert_eq!(c["model.machine.crashes"], "1");

    // Every scenario of the matrix says its own.
    let report = json(&check(&["--scenario", "safe", "--json"]));
    let r = &report["results"][0];
    assert_eq!(r["configuration"]["model.messages"], "1");
    assert_eq!(r["bounds"], "1 message, 1 process crash");
    assert_eq!(r["search"], "depth-first, symmetry");
}

#[test]
fn bad_bounds_are_refused() {
    let out = check(&["--bounds", "huge"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'huge'") && err.contains("--bounds") && err.contains("small, default, large"),
        "{err}"
    );
    let out = check(&["--scenario", "safe", "--bounds", "small"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_configuration_check_stops_once_its_verdict_is_known_unless_asked_to_go_on() {
    let mut args = ACKS_1.to_vec();
    args.extend(["--bounds", "small", "--json"]);
    let stopped = json(&check(&args));
    let r = &stopped["results"][0];
    assert_eq!(r["verdict"], "violation");
    assert_eq!(r["exhaustive"], false);
    assert_eq!(r["stopped"], "stopped once answered");

    args.push("--go-on");
    let whole = json(&check(&args));
    let w = &whole["results"][0];
    assert_eq!(w["verdict"], "violation");
    assert_eq!(w["exhaustive"], true);
    assert!(w["stopped"].is_null());
    assert!(
        w["unique_states"].as_u64() > r["unique_states"].as_u64(),
        "going on searches more"
    );
}

#[test]
fn a_search_stopped_by_a_limit_before_any_violation_is_inconclusive() {
    let out = check(&["--bounds", "large", "--max-seconds", "1", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let r = &json(&out)["results"][0];
    assert_eq!(r["verdict"], "inconclusive");
    assert_eq!(r["stopped"], "stopped at the time limit");
    assert_eq!(r["exhaustive"], false);
    for bad in ["0", "-1", "soon"] {
        let out = check(&["--bounds", "small", "--max-seconds", bad]);
        assert_eq!(out.status.code(), Some(2), "--max-seconds {bad}");
    }
}

#[test]
fn informational_violations_are_apart_from_the_verdict() {
    // A lost acknowledgement makes the producer retry: a duplicate, which
    // Kafka does not promise to avoid without idempotence; no loss.
    let out = check(&[
        "--set",
        "replication.factor=1",
        "--set",
        "min.insync.replicas=1",
        "--set",
        "model.network.drops=1",
        "--bounds",
        "small",
        "--set",
        "model.process.crashes=0",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let row = text.lines().nth(1).unwrap();
    assert!(
        row.contains(" pass ") && !row.contains("no_duplicates"),
        "{row}"
    );
    assert!(
        text.contains(
            "also violated, informational (not what this check is held to): no_duplicates"
        ),
        "{text}"
    );
    assert!(
        text.contains("Informational counterexample to no_duplicates"),
        "{text}"
    );
    assert!(!text.contains("\nCounterexample to"), "{text}");
}

#[test]
fn every_violated_property_has_a_counterexample_and_property_picks_one() {
    let mut args = ACKS_1.to_vec();
    args.extend(["--bounds", "small", "--json"]);
    let report = json(&check(&args));
    let r = &report["results"][0];
    let violated: Vec<&str> = r["violated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let traced: Vec<&str> = r["counterexamples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["property"].as_str().unwrap())
        .collect();
    assert_eq!(violated, traced);
    assert!(violated.len() >= 2, "{violated:?}");

    let other = violated[1];
    args.extend(["--property", other]);
    let picked = json(&check(&args));
    assert_eq!(picked["results"][0]["counterexample"]["property"], other);

    let text = stdout(&check(&[
        "--scenario",
        "acks-1-leader-crash",
        "--property",
        "at_least_once",
    ]));
    assert!(text.contains("Counterexample to at_least_once"), "{text}");
    let out = check(&["--scenario", "safe", "--property", "no_such_thing"]);
    assert_eq!(out.status.code(), Some(2));
}
