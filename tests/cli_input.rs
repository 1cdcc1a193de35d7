//! The command line on doubtful input: a trace, a path or a set of knobs
//! that cannot mean what the user wrote is refused before any work (exit 2,
//! naming the field, file and line, or knob), and a repeated knob is
//! warned about.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

fn oracle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args(args)
        .output()
        .expect("the kafka-oracle binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The trace of `acks-1-leader-crash`, the quickest counterexample.
fn recorded_trace(dir: &Path) -> Value {
    let path = dir.join("recorded.json");
    let out = oracle(&[
        "check",
        "--scenario",
        "acks-1-leader-crash",
        "--quiet",
        "--trace-out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn replay(dir: &Path, trace: &Value) -> Output {
    let path = dir.join("edited.json");
    std::fs::write(&path, serde_json::to_string_pretty(trace).unwrap()).unwrap();
    oracle(&["replay", path.to_str().unwrap()])
}

/// A change to a recorded trace.
type Edit = fn(&mut Value);

#[test]
fn replay_refuses_a_trace_naming_an_unknown_knob_property_or_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = recorded_trace(dir.path());
    let edits: [(Edit, &str); 6] = [
        (
            |t| t["configuration"]["acks"] = json!("2"),
            "configuration.acks: bad value '2'",
        ),
        (
            |t| t["configuration"]["acks.please"] = json!("all"),
            "configuration.acks.please: unknown knob",
        ),
        (
            |t| t["configuration"]["min.insync.replicas"] = json!("3"),
            "configuration.min.insync.replicas: 3 is more than replication.factor 2",
        ),
        (
            |t| t["judged"].as_array_mut().unwrap().push(json!("nope")),
            "judged: no property 'nope'",
        ),
        (
            |t| t["property"] = json!("nope"),
            "property: no property 'nope'",
        ),
        (
            |t| t["scenario"] = json!("nope"),
            "scenario: no scenario 'nope' in the matrix",
        ),
    ];
    for (edit, expected) in edits {
        let mut trace = recorded.clone();
        edit(&mut trace);
        let out = replay(dir.path(), &trace);
        assert_eq!(out.status.code(), Some(2), "{expected}: {}", stdout(&out));
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
    // A trace of the user's configuration (check --set) names no scenario
    // of the matrix, and replays.
    let mut trace = recorded.clone();
    trace["scenario"] = json!("configuration");
    let out = replay(dir.path(), &trace);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn replay_shows_only_the_fields_of_a_state_that_differ() {
    let dir = tempfile::tempdir().unwrap();
    let mut trace = recorded_trace(dir.path());
    let field = &mut trace["steps"][0]["state"]["replicas"][1]["high_watermark"];
    let model = field.as_u64().unwrap();
    *field = json!(model + 7);
    let out = replay(dir.path(), &trace);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let expected = format!(
        "the model reaches a different state:\n  replicas[1].high_watermark: recorded {}, model {model}\n",
        model + 7
    );
    assert!(text.contains(&expected), "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn check_refuses_an_output_path_it_cannot_write_before_checking() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("out.json");
    for (flag, path, reason) in [
        ("--trace-out", dir.path(), "is a directory"),
        ("--trace-out", missing.as_path(), "does not exist"),
        ("--history-out", missing.as_path(), "does not exist"),
    ] {
        let path = path.to_str().unwrap();
        let out = oracle(&[
            "check",
            "--scenario",
            "acks-1-leader-crash",
            "--quiet",
            flag,
            path,
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag} {path}");
        let expected = format!("{flag} {path}: ");
        assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
        assert!(stderr(&out).contains(reason), "{}", stderr(&out));
        assert_eq!(stdout(&out), "", "{flag} {path}: nothing is checked");
    }
}

/// A configuration whose check takes a moment: one replica, no faults, no
/// consumer.
const SMALL: [&str; 8] = [
    "--set",
    "replication.factor=1",
    "--set",
    "min.insync.replicas=1",
    "--set",
    "model.process.crashes=0",
    "--set",
    "model.consumer=false",
];

fn check_small(args: &[&str]) -> Output {
    let mut all = vec!["check", "--quiet"];
    all.extend(SMALL);
    all.extend(args);
    oracle(&all)
}

#[test]
fn a_knob_set_twice_is_warned_about_and_the_last_is_checked() {
    let out = check_small(&["--set", "acks=1", "--set", "acks=all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("--set acks given twice, acks=1 then acks=all: the last is checked"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("configuration"), "{}", stdout(&out));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("producer.properties");
    std::fs::write(&file, "acks=1\nretries=2\nacks = all\n").unwrap();
    let out = check_small(&["--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let expected = format!(
        "{}:3: acks given twice, acks=1 on line 1 then acks=all: the last is checked",
        file.display()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    // The same value twice loses nothing; --set overriding the file is what
    // --set is for.
    let out = check_small(&[
        "--config",
        file.to_str().unwrap(),
        "--set",
        "retries=3",
        "--set",
        "retries=3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!stderr(&out).contains("retries"), "{}", stderr(&out));
}

#[test]
fn auto_commit_knobs_that_contradict_each_other_are_refused() {
    let out = check_small(&[
        "--set",
        "enable.auto.commit=true",
        "--set",
        "consumer.commit=commit-then-process",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(
            "--set consumer.commit=commit-then-process contradicts enable.auto.commit=true"
        ),
        "{}",
        stderr(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consumer.properties");
    std::fs::write(
        &file,
        "consumer.commit=auto-handoff\n\nenable.auto.commit=false\n",
    )
    .unwrap();
    let out = check_small(&["--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let expected = format!(
        "{}:3: enable.auto.commit=false contradicts consumer.commit=auto-handoff on line 1",
        file.display()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    // Two that agree are one setting.
    let out = check_small(&[
        "--set",
        "consumer.commit=auto-handoff",
        "--set",
        "enable.auto.commit=true",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_flush_interval_the_model_cannot_check_is_refused() {
    let out = check_small(&["--set", "log.flush.interval.messages=2"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    for expected in [
        "log.flush.interval.messages: bad value '2', expected 1 (fsync each message) or 9223372036854775807",
        "flushing every N messages is not modelled yet",
    ] {
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
    for checked in ["1", "9223372036854775807"] {
        let set = format!("log.flush.interval.messages={checked}");
        let out = check_small(&["--set", &set]);
        assert_eq!(out.status.code(), Some(0), "{set}: {}", stderr(&out));
    }
}
