//! `kafka-oracle probe` against the project's own broker, a controller and
//! brokers as real processes on loopback: with acks=all,
//! min.insync.replicas=2 and three replicas the history is valid, plain and
//! with SIGKILL of a broker as the nemesis; with unclean leader election and
//! a nemesis schedule that brings one about, it shows lost writes.

// Shared with tests/cluster; each uses part of it.
#[path = "support/processes.rs"]
#[allow(dead_code)]
mod processes;

use processes::Cluster;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_kafka-oracle");

/// The probe's topic (its default).
const TOPIC: &str = "probe";

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

/// A probe running in the background, killed if the test ends first.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long a step of a schedule may wait for the cluster or the history.
const STEP_WAIT: Duration = Duration::from_secs(30);

/// Waits until `found` finds something, or fails the test saying `what`.
fn wait_until<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + STEP_WAIT;
    loop {
        if let Some(t) = found() {
            return t;
        }
        assert!(Instant::now() < deadline, "never {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The history's complete lines from byte `from` on (the probe writes each
/// line as its operation happens, so the last may still be partial).
fn lines_since(history: &Path, from: usize) -> Vec<Value> {
    let text = std::fs::read(history).unwrap_or_default();
    let end = complete(&text).max(from);
    String::from_utf8_lossy(&text[from..end])
        .lines()
        .map(|l| serde_json::from_str(l).expect("a history line is JSON"))
        .collect()
}

/// Where the history's complete lines end now.
fn history_end(history: &Path) -> usize {
    complete(&std::fs::read(history).unwrap_or_default())
}

/// Where the complete lines of `text` end.
fn complete(text: &[u8]) -> usize {
    text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// The sends both invoked and acknowledged from byte `from` of the history
/// on, as (offset, value).
fn acknowledged_since(history: &Path, from: usize) -> Vec<(i64, i64)> {
    let lines = lines_since(history, from);
    let send = |line: &Value, kind: &str| -> Option<Value> {
        (line["type"] == kind && line["f"] == "send").then(|| line["value"][0][2].clone())
    };
    let invoked: Vec<Value> = lines.iter().filter_map(|l| send(l, "invoke")).collect();
    lines
        .iter()
        .filter_map(|l| send(l, "ok"))
        .filter(|ok| invoked.contains(&ok[1]))
        .filter_map(|ok| Some((ok[0].as_i64()?, ok[1].as_i64()?)))
        .collect()
}

/// Whether the controller's view of a partition has this leader (-1:
/// none, offline).
fn leader_is(p: &Value, broker: i32) -> bool {
    p["leader"].as_i64() == Some(i64::from(broker))
}

/// Whether the controller's view of a partition has this ISR, in order.
fn isr_is(p: &Value, brokers: &[i32]) -> bool {
    let isr: Vec<i64> = p["isr"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    isr.iter()
        .copied()
        .eq(brokers.iter().map(|&b| i64::from(b)))
}

/// The classic unclean election, one step a nemesis run, each step waiting
/// until the cluster and the history are where the next one needs them, so
/// that nothing rests on how fast brokers, clients or this machine are:
///
/// 1. kill the follower; the ISR shrinks to the leader, which goes on
///    acknowledging alone (min.insync.replicas=1);
/// 2. once a send invoked after that is acknowledged (so it is on the
///    leader only), kill the leader: the partition is offline;
/// 3. restart the follower: the only live replica, it is elected uncleanly
///    with its stale log and takes new sends at the same offsets;
/// 4. once it has acknowledged past the lost offset, restart the old
///    leader, which truncates its acknowledged sends and follows.
///
/// The final reader then polls the new leader's log to its end: offsets
/// past the acknowledged value, never the value itself, a lost write. There
/// are no other consumers: one that polled the old leader in time would
/// have read the value, and its loss would show as inconsistent offsets
/// instead.
#[test]
fn an_unclean_election_loses_acknowledged_writes() {
    let mut cluster = Cluster::start(
        2,
        &[
            "default.replication.factor=2",
            "min.insync.replicas=1",
            "unclean.leader.election.enable=true",
        ],
        &[],
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let at = |name: &str| dir.path().join(name);
    let history = at("history.jsonl");
    // The nemesis hands each run to the test and waits (at most 30 s) for
    // it to be done: the test drives the cluster, the probe the clients.
    let nemesis = format!(
        "touch {d}/asked-$KAFKA_ORACLE_NEMESIS_RUN; for i in $(seq 600); do \
         [ -e {d}/done-$KAFKA_ORACLE_NEMESIS_RUN ] && exit 0; sleep 0.05; done; exit 1",
        d = dir.path().display()
    );
    let file = |name: &str| std::fs::File::create(at(name)).expect("an output file");
    let mut probe = Running(
        Command::new(EXE)
            .arg("probe")
            .args(["--bootstrap", &cluster.bootstrap()])
            .args(["--keys", "1", "--consumers", "0", "--duration-ms", "6000"])
            .args(["--set", "request.timeout.ms=3000"])
            .args(["--nemesis", &nemesis, "--nemesis-at", "500,1000,1500,2000"])
            .args(["--history-out", &history.display().to_string(), "--json"])
            .stdin(Stdio::null())
            .stdout(file("stdout"))
            .stderr(file("stderr"))
            .spawn()
            .expect("kafka-oracle probe runs"),
    );
    let serve = |run: u32, cluster: &mut Cluster, act: &mut dyn FnMut(&mut Cluster)| {
        let (asked, done) = (at(&format!("asked-{run}")), at(&format!("done-{run}")));
        wait_until(&format!("asked for nemesis run {run}"), || {
            asked.exists().then_some(())
        });
        act(cluster);
        std::fs::write(done, b"").expect("the step is marked done");
    };

    let leader = cluster.leader(TOPIC);
    // Brokers 1 and 2 hold the partition.
    let follower = 3 - leader;
    let mut mark = 0;
    serve(1, &mut cluster, &mut |c| {
        c.kill(follower);
        c.wait_for(TOPIC, "an ISR of the leader alone", |p| {
            isr_is(p, &[leader])
        });
        mark = history_end(&history);
    });
    let mut lost = (0, 0);
    serve(2, &mut cluster, &mut |c| {
        lost = wait_until("a send acknowledged by the leader alone", || {
            acknowledged_since(&history, mark).first().copied()
        });
        c.kill(leader);
        c.wait_for(TOPIC, "no leader", |p| leader_is(p, -1));
    });
    serve(3, &mut cluster, &mut |c| {
        c.restart(follower);
        c.wait_for(TOPIC, "the stale follower as leader", |p| {
            leader_is(p, follower)
        });
        mark = history_end(&history);
    });
    serve(4, &mut cluster, &mut |c| {
        wait_until("a send acknowledged past the lost offset", || {
            acknowledged_since(&history, mark)
                .iter()
                .find(|&&(offset, _)| offset > lost.0)
                .copied()
        });
        c.restart(leader);
        c.wait_for(TOPIC, "the old leader back in the ISR", |p| {
            isr_is(p, &[1, 2])
        });
    });

    let status = wait_until("the probe's end", || {
        probe.0.try_wait().expect("the probe runs")
    });
    let stdout = std::fs::read_to_string(at("stdout")).expect("the probe's output");
    let stderr = std::fs::read_to_string(at("stderr")).expect("the probe's errors");
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["valid"], false, "{stdout}");
    // The value acknowledged by the old leader alone is among the lost.
    let lost_writes = report["anomalies"]["lost-write"]
        .as_array()
        .expect("a list of lost writes");
    assert!(
        lost_writes
            .iter()
            .any(|case| case["values"][0] == lost.1 && case["offsets"][0] == lost.0),
        "value {} at offset {} is not a lost write: {stdout}",
        lost.1,
        lost.0
    );
}
