//! `kafka-oracle probe` against the project's own broker, a controller and
//! brokers as real processes on loopback: with acks=all,
//! min.insync.replicas=2 and three replicas the history is valid, plain and
//! with SIGKILL of a broker as the nemesis.

// Shared with tests/cluster; each uses part of it.
#[path = "support/processes.rs"]
#[allow(dead_code)]
mod processes;

use processes::Cluster;
use std::process::{Command, Output, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_kafka-oracle");

/// A controller and brokers 1 to 3; topics get 3 replicas and
/// min.insync.replicas=2, so acks=all means two copies.
fn cluster() -> Cluster {
    Cluster::start(
        3,
        &[
            "default.replication.factor=3",
            "min.insync.replicas=2",
            // A killed broker's partitions move soon.
            "broker.session.timeout.ms=3000",
        ],
        &["min.insync.replicas=2"],
    )
}

fn probe(args: &[&str]) -> Output {
    Command::new(EXE)
        .arg("probe")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("kafka-oracle probe runs")
}

/// How many lines of the history are `type` completions of `f`.
fn count(history: &str, kind: &str, f: &str) -> usize {
    let needle = format!("\"type\":\"{kind}\",\"f\":\"{f}\"");
    history.lines().filter(|l| l.contains(&needle)).count()
}

#[test]
fn acks_all_with_min_insync_two_records_a_valid_history() {
    let cluster = cluster();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let history = dir.path().join("history.jsonl");
    let history_arg = history.display().to_string();
    let out = probe(&[
        "--bootstrap",
        &cluster.bootstrap(),
        "--messages",
        "300",
        "--set",
        "acks=all",
        "--set",
        "request.timeout.ms=5000",
        "--history-out",
        &history_arg,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("; valid"), "{stdout}");
    let text = std::fs::read_to_string(&history).expect("the history is kept");
    // Each of the 300 sends is invoked and completed; with nothing
    // failing nearly all are acknowledged (a fresh partition's first send
    // may still meet its leader's election).
    assert_eq!(count(&text, "invoke", "send"), 300);
    let ok = count(&text, "ok", "send");
    let completed = ok + count(&text, "fail", "send") + count(&text, "info", "send");
    assert_eq!(completed, 300);
    assert!(ok >= 250, "only {ok} of 300 sends acknowledged");
    assert!(count(&text, "ok", "poll") > 0);
    // Two consumers and the final reader each assign every partition.
    assert_eq!(count(&text, "ok", "assign"), 3);

    // The kept history is judged the same by verify-history.
    let again = Command::new(EXE)
        .args(["verify-history", &history_arg])
        .output()
        .expect("verify-history runs");
    assert_eq!(again.status.code(), Some(0));
}

#[test]
fn sigkill_of_a_broker_as_the_nemesis_still_gives_a_valid_history() {
    let cluster = cluster();
    let victim = cluster.pid(1);
    // Every run kills broker 1 (again: unreaped, it stays a zombie) and
    // then fails, which the probe reports and goes on.
    let nemesis = format!("kill -9 {victim}; exit 3");
    let out = probe(&[
        "--bootstrap",
        &cluster.bootstrap(),
        "--duration-ms",
        "5000",
        "--set",
        "request.timeout.ms=3000",
        "--nemesis",
        &nemesis,
        "--nemesis-every-ms",
        "1500",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["valid"], true, "{stdout}");
    assert!(report["ops"].as_u64().is_some_and(|n| n > 20), "{stdout}");
    assert!(stderr.contains("nemesis run 1 at"), "{stderr}");
    assert!(
        stderr.contains("nemesis failed (exit status: 3)"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_or_unsupported_setting_is_refused_by_name() {
    let out = probe(&["--bootstrap", "127.0.0.1:1", "--set", "linger.mss=5"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown setting \"linger.mss\""),
        "{stderr}"
    );

    let out = probe(&["--bootstrap", "127.0.0.1:1", "--set", "acks=1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("acks=1"), "{stderr}");
}

#[test]
fn a_bad_nemesis_schedule_is_refused_naming_the_flag() {
    let refused = |args: &[&str], says: &str| {
        let mut all = vec!["--bootstrap", "127.0.0.1:1"];
        all.extend_from_slice(args);
        let out = probe(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    refused(
        &["--nemesis", "true", "--nemesis-at", "2000,1000"],
        "--nemesis-at 2000,1000: the times must increase",
    );
    refused(
        &["--nemesis", "true", "--nemesis-at", "500,x"],
        "invalid value 'x' for '--nemesis-at",
    );
    refused(
        &[
            "--nemesis",
            "true",
            "--nemesis-at",
            "500,6000",
            "--duration-ms",
            "5000",
        ],
        "6000 ms is not before the producers stop at 5000 ms",
    );
    refused(
        &[
            "--nemesis",
            "true",
            "--nemesis-at",
            "500",
            "--nemesis-every-ms",
            "100",
        ],
        "cannot be used with",
    );
    refused(&["--nemesis-at", "500"], "--nemesis <CMD>");
    refused(&["--nemesis", "true"], "--nemesis-every-ms <MS>");
}
