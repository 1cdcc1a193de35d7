//! `kafka-oracle probe` against the project's own broker, a controller and
//! brokers as real processes on loopback: with acks=all,
//! min.insync.replicas=2 and three replicas the history is valid, plain and
//! with SIGKILL of a broker as the nemesis. Under nemesis schedules that
//! bring them about step by step, it shows the lost writes of an unclean
//! election and of pre-KIP-101 truncation to the high watermark (and none
//! under the same schedule with leader-epoch truncation).

// Shared with tests/cluster; each uses part of it.
#[path = "support/processes.rs"]
#[allow(dead_code)]
mod processes;

use processes::Cluster;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

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
        // The consumers commit after every poll that read something.
        "--set",
        "enable.auto.commit=false",
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
    // The consumers' commits reach the group's coordinator, every one.
    let commits = count(&text, "invoke", "commit");
    assert!(commits > 0, "no commit");
    assert_eq!(count(&text, "ok", "commit"), commits, "{stderr}");

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
        // Commits go on while brokers die (and the coordinator with them).
        "--set",
        "auto.commit.interval.ms=200",
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

    let out = probe(&[
        "--bootstrap",
        "127.0.0.1:1",
        "--set",
        "enable.auto.commit=maybe",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("enable.auto.commit=maybe: true or false"),
        "{stderr}"
    );
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

/// Where the history's complete lines end now.
fn history_end(history: &Path) -> usize {
    complete(&std::fs::read(history).unwrap_or_default())
}

/// Where the complete lines of `text` end.
fn complete(text: &[u8]) -> usize {
    text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// An acknowledged send: (offset, value).
type Acked = (i64, i64);

/// The acknowledged sends: those invoked before byte
/// `mark` of the history, and those invoked from there on. Only complete
/// lines count: the probe writes each as its operation happens, so the
/// last may still be partial.
fn acknowledged(history: &Path, mark: usize) -> (Vec<Acked>, Vec<Acked>) {
    let text = std::fs::read(history).unwrap_or_default();
    let mut invoked_after = HashSet::new();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut start = 0;
    for line in text[..complete(&text)].split_inclusive(|&b| b == b'\n') {
        let op: Value = serde_json::from_slice(line).expect("a history line is JSON");
        let from_mark = start >= mark;
        start += line.len();
        let send = &op["value"][0][2];
        match (op["f"].as_str(), op["type"].as_str()) {
            (Some("send"), Some("invoke")) if from_mark => {
                invoked_after.insert(send.as_i64());
            }
            (Some("send"), Some("ok")) => {
                let (Some(offset), Some(value)) = (send[0].as_i64(), send[1].as_i64()) else {
                    continue;
                };
                if invoked_after.contains(&Some(value)) {
                    after.push((offset, value));
                } else {
                    before.push((offset, value));
                }
            }
            _ => {}
        }
    }
    (before, after)
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

/// A probe in the background whose nemesis hands each run to the test and
/// waits (at most 30 s) for it to be done: the test drives the cluster, the
/// probe the clients. Killed if the test ends first.
struct Stepped {
    probe: Child,
    dir: TempDir,
}

impl Stepped {
    /// `kafka-oracle probe --bootstrap ... ARGS --nemesis ... --history-out
    /// ... --json`; ARGS give the schedule.
    fn start(cluster: &Cluster, args: &[&str]) -> Stepped {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let nemesis = format!(
            "touch {d}/asked-$KAFKA_ORACLE_NEMESIS_RUN; for i in $(seq 600); do \
             [ -e {d}/done-$KAFKA_ORACLE_NEMESIS_RUN ] && exit 0; sleep 0.05; done; exit 1",
            d = dir.path().display()
        );
        let file = |name: &str| std::fs::File::create(dir.path().join(name)).expect("a file");
        let probe = Command::new(EXE)
            .arg("probe")
            .args(["--bootstrap", &cluster.bootstrap()])
            .args(args)
            .args(["--nemesis", &nemesis, "--json"])
            .arg("--history-out")
            .arg(dir.path().join("history.jsonl"))
            .stdin(Stdio::null())
            .stdout(file("stdout"))
            .stderr(file("stderr"))
            .spawn()
            .expect("kafka-oracle probe runs");
        Stepped { probe, dir }
    }

    fn pid(&self) -> u32 {
        self.probe.id()
    }

    fn history(&self) -> PathBuf {
        self.dir.path().join("history.jsonl")
    }

    /// Waits for nemesis run `run`, does `act`, and lets the run end.
    fn serve(&self, run: u32, cluster: &mut Cluster, act: impl FnOnce(&mut Cluster)) {
        let asked = self.dir.path().join(format!("asked-{run}"));
        wait_until(&format!("asked for nemesis run {run}"), || {
            asked.exists().then_some(())
        });
        act(cluster);
        std::fs::write(self.dir.path().join(format!("done-{run}")), b"")
            .expect("the run is marked done");
    }

    /// Waits for the probe's end: its exit code and JSON verdict.
    fn finish(self) -> (Option<i32>, Value) {
        let (code, report, _, _) = self.finish_all();
        (code, report)
    }

    /// [`Stepped::finish`], with the probe's stderr and the history.
    fn finish_all(mut self) -> (Option<i32>, Value, String, String) {
        // Besides the workload, the final read may wait 30 s to learn
        // where partitions end, and a step as long again.
        let deadline = Instant::now() + 3 * STEP_WAIT;
        let status = loop {
            if let Some(status) = self.probe.try_wait().expect("the probe runs") {
                break status;
            }
            assert!(Instant::now() < deadline, "never the probe's end");
            std::thread::sleep(Duration::from_millis(50));
        };
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).expect(name);
        let (stdout, stderr) = (read("stdout"), read("stderr"));
        let report = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout}\n{stderr}"));
        (status.code(), report, stderr, read("history.jsonl"))
    }
}

impl Drop for Stepped {
    fn drop(&mut self) {
        let _ = self.probe.kill();
        let _ = self.probe.wait();
    }
}

/// The sends the verdict names lost writes.
fn lost_writes(report: &Value) -> Vec<Acked> {
    report["anomalies"]["lost-write"]
        .as_array()
        .expect("a list of lost writes")
        .iter()
        .filter_map(|case| Some((case["offsets"][0].as_i64()?, case["values"][0].as_i64()?)))
        .collect()
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
    let probe = Stepped::start(
        &cluster,
        &[
            "--keys",
            "1",
            "--consumers",
            "0",
            "--duration-ms",
            "6000",
            "--nemesis-at",
            "500,1000,1500,2000",
        ],
    );
    let history = probe.history();
    let leader = cluster.leader(TOPIC);
    // Brokers 1 and 2 hold the partition.
    let follower = 3 - leader;
    let mut mark = 0;
    probe.serve(1, &mut cluster, |c| {
        c.kill(follower);
        c.wait_for(TOPIC, "an ISR of the leader alone", |p| {
            isr_is(p, &[leader])
        });
        mark = history_end(&history);
    });
    let mut lost = (0, 0);
    probe.serve(2, &mut cluster, |c| {
        lost = wait_until("a send acknowledged by the leader alone", || {
            acknowledged(&history, mark).1.first().copied()
        });
        c.kill(leader);
        c.wait_for(TOPIC, "no leader", |p| leader_is(p, -1));
    });
    probe.serve(3, &mut cluster, |c| {
        c.restart(follower);
        c.wait_for(TOPIC, "the stale follower as leader", |p| {
            leader_is(p, follower)
        });
        mark = history_end(&history);
    });
    probe.serve(4, &mut cluster, |c| {
        wait_until("a send acknowledged past the lost offset", || {
            acknowledged(&history, mark)
                .1
                .iter()
                .find(|&&(offset, _)| offset > lost.0)
                .copied()
        });
        c.restart(leader);
        c.wait_for(TOPIC, "the old leader back in the ISR", |p| {
            isr_is(p, &[1, 2])
        });
    });

    let (code, report) = probe.finish();
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["valid"], false, "{report}");
    // The value acknowledged by the old leader alone is among the lost.
    let (offset, value) = lost;
    assert!(
        lost_writes(&report).contains(&lost),
        "value {value} at offset {offset} is not a lost write: {report}"
    );
}

/// Sends `signal` (STOP, CONT) to a process.
fn signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}: {status}");
}

/// The probe through two leader changes while the third replica is paused,
/// under `replica.truncation=TRUNCATION`: its exit code and verdict.
///
/// A follower learns of a new high watermark with the next records it
/// fetches: the leader holds a follower's fetch until there are records
/// (`replica.fetch.wait.max.ms`, here 30 s). The schedule, one nemesis run
/// on three brokers with replicas A (leading), B and C in that order,
/// min.insync.replicas=1 and acks=all:
///
/// 1. pause the probe (SIGSTOP): no more sends; those under way are
///    appended, fetched by B and C, and acknowledged once both fetch again,
///    which tells the leader they have them but leaves their high
///    watermarks below them, with no further records to bring the news;
/// 2. pause C, kill A (B leads: the news waits in C's socket), kill B (C,
///    paused but in the ISR and alive to the controller for a 30 s
///    session, is elected cleanly), resume C: it follows B for a moment,
///    truncating to its high watermark before KIP-101 and not with leader
///    epochs, then leads;
/// 3. resume the probe: it records the acknowledgements and sends on, to C.
///
/// Run 2 ends once C has acknowledged past every offset acknowledged
/// before, so that the final reader polls past the truncated ones. The
/// only wait on time is the settling in step 1: half a second for what
/// takes well under a millisecond on loopback.
fn leader_changes_with_a_follower_paused(truncation: &str) -> (Option<i32>, Value) {
    let truncation = format!("replica.truncation={truncation}");
    let mut cluster = Cluster::start(
        3,
        &[
            "default.replication.factor=3",
            "min.insync.replicas=1",
            "broker.session.timeout.ms=30000",
        ],
        &[&truncation, "replica.fetch.wait.max.ms=30000"],
    );
    let probe = Stepped::start(
        &cluster,
        &[
            "--keys",
            "1",
            "--consumers",
            "0",
            "--duration-ms",
            "5000",
            // Longer than the probe is paused, so that the answers waiting
            // for it count.
            "--set",
            "request.timeout.ms=20000",
            "--nemesis-at",
            "1000,2000",
        ],
    );
    let history = probe.history();
    let replicas: Vec<i32> = cluster.wait_for(TOPIC, "three replicas", |p| {
        p["replicas"].as_array().is_some_and(|r| r.len() == 3)
    })["replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .filter_map(|r| r.as_i64().and_then(|r| i32::try_from(r).ok()))
        .collect();
    let (a, b, c) = (replicas[0], replicas[1], replicas[2]);
    let client = probe.pid();
    let mut mark = 0;
    probe.serve(1, &mut cluster, |cl| {
        signal("STOP", client);
        std::thread::sleep(Duration::from_millis(500));
        signal("STOP", cl.pid(c));
        cl.kill(a);
        cl.wait_for(TOPIC, "B as leader", |p| leader_is(p, b));
        cl.kill(b);
        cl.wait_for(TOPIC, "C as leader", |p| leader_is(p, c));
        signal("CONT", cl.pid(c));
        mark = history_end(&history);
        signal("CONT", client);
    });
    probe.serve(2, &mut cluster, |_| {
        wait_until("a send acknowledged past every earlier offset", || {
            let (before, after) = acknowledged(&history, mark);
            let highest = before.iter().map(|&(offset, _)| offset).max()?;
            after
                .iter()
                .any(|&(offset, _)| offset > highest)
                .then_some(())
        });
    });
    probe.finish()
}

#[test]
fn before_kip_101_a_follower_truncating_to_its_high_watermark_loses_acknowledged_writes() {
    let (code, report) = leader_changes_with_a_follower_paused("high-watermark");
    assert_eq!(code, Some(1), "{report}");
    assert!(!lost_writes(&report).is_empty(), "{report}");
}

#[test]
fn with_leader_epochs_the_same_leader_changes_lose_nothing() {
    let (code, report) = leader_changes_with_a_follower_paused("leader-epoch");
    assert_eq!(code, Some(0), "{report}");
}

/// The values the ok polls of `process` returned, in the history so far.
fn polled_by(history: &Path, process: u64) -> Vec<i64> {
    let text = std::fs::read(history).unwrap_or_default();
    let mut values = Vec::new();
    for line in text[..complete(&text)].split_inclusive(|&b| b == b'\n') {
        let op: Value = serde_json::from_slice(line).expect("a history line is JSON");
        if op["process"] != process || op["type"] != "ok" || op["f"] != "poll" {
            continue;
        }
        let Some(keys) = op["value"][0][1].as_object() else {
            continue;
        };
        for pairs in keys.values() {
            let pairs = pairs.as_array().expect("a list of records");
            values.extend(pairs.iter().filter_map(|pair| pair[1].as_i64()));
        }
    }
    values
}

/// A broker restarted with an empty log (an in-memory store, or a disk
/// the operator wiped) loses records a consumer had already polled: the
/// final read, which reads the partition to its end, does not return
/// them. They are not `unseen` (polled) and, where the new log never
/// reaches their offsets, no `lost-write` either: `lost-after-read` names
/// them. (Before it existed such values were named by no anomaly.)
#[test]
fn a_broker_restarted_with_an_empty_log_loses_what_was_read() {
    let mut cluster = Cluster::start(1, &["default.replication.factor=1"], &[]);
    let probe = Stepped::start(
        &cluster,
        &[
            "--keys",
            "1",
            "--producers",
            "1",
            "--consumers",
            "1",
            "--duration-ms",
            "4000",
            "--nemesis-at",
            "1000",
            "--set",
            "request.timeout.ms=3000",
        ],
    );
    let history = probe.history();
    // Process 0 produces; process 1 consumes.
    let mut read = Vec::new();
    probe.serve(1, &mut cluster, |c| {
        read = wait_until("a value polled", || {
            Some(polled_by(&history, 1)).filter(|v| !v.is_empty())
        });
        c.kill(1);
        std::fs::remove_dir_all(c.broker_dir(1)).expect("the broker's data is wiped");
        c.restart(1);
        c.wait_for(TOPIC, "broker 1 leading again", |p| leader_is(p, 1));
    });
    let (code, report) = probe.finish();
    assert_eq!(code, Some(1), "{report}");
    let lost: Vec<i64> = report["anomalies"]["lost-after-read"]
        .as_array()
        .expect("a list of cases")
        .iter()
        .filter_map(|case| case["values"][0].as_i64())
        .collect();
    // What was polled before the wipe is gone: each is named.
    for value in &read {
        assert!(
            lost.contains(value),
            "value {value} polled, then wiped, is not named lost-after-read: {report}"
        );
    }
}

/// When the system cannot say where a partition ends (its only broker is
/// gone; or its topic vanished), the probe still judges what it recorded,
/// and says what the final read could not do: never exit 2, which is for
/// bad usage.
#[test]
fn a_final_read_that_cannot_learn_the_end_judges_what_was_recorded() {
    let mut cluster = Cluster::start(1, &["default.replication.factor=1"], &[]);
    let probe = Stepped::start(
        &cluster,
        &[
            "--keys",
            "1",
            "--consumers",
            "1",
            "--duration-ms",
            "2000",
            "--nemesis-at",
            "500",
            "--set",
            "request.timeout.ms=2000",
        ],
    );
    let history = probe.history();
    probe.serve(1, &mut cluster, |c| {
        wait_until("a send acknowledged", || {
            acknowledged(&history, 0).1.first().copied()
        });
        c.kill(1);
    });
    let (code, report, stderr, text) = probe.finish_all();
    assert!(
        stderr.contains("the final read cannot learn where partition 0 ends"),
        "{stderr}"
    );
    // No anomaly: what was acknowledged and never polled may be in the
    // log, unread: inconclusive, exit 3.
    assert_eq!(code, Some(3), "{report}\n{stderr}");
    assert_eq!(report["valid"], "unknown", "{report}");
    assert_eq!(report["unjudged"][0]["key"], "0", "{report}");
    let last = text.lines().last().expect("a last line");
    assert!(
        last.contains(r#""f":"final-read""#) && last.contains(r#""value":[]"#),
        "{last}"
    );
}

/// The topic is asked of Metadata first: one that exists is used as it is
/// (a system without CreateTopics, or a topic its operator made, can be
/// probed), and one without the partitions --keys needs is refused at once,
/// saying so; a topic the system will not create is said to be so.
#[test]
fn the_topic_is_looked_up_before_it_is_created_and_refusals_are_clear() {
    let cluster = Cluster::start(1, &["default.replication.factor=1"], &[]);
    let bootstrap = cluster.bootstrap();
    let out = probe(&[
        "--bootstrap",
        &bootstrap,
        "--keys",
        "1",
        "--messages",
        "5",
        "--consumers",
        "0",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("created topic probe with 1 partitions"));
    // Exists now: used as it is, not created again.
    let out = probe(&[
        "--bootstrap",
        &bootstrap,
        "--keys",
        "1",
        "--messages",
        "5",
        "--consumers",
        "0",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("created topic"));
    let started = Instant::now();
    let out = probe(&["--bootstrap", &bootstrap, "--keys", "3", "--messages", "5"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("topic probe exists with 1 partitions and no partition 1: --keys 3 needs partitions 0 to 2; give --keys 1 or another --topic"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // Three replicas asked of one broker: the controller refuses the topic.
    let cluster = Cluster::start(1, &["default.replication.factor=3"], &[]);
    let started = Instant::now();
    let out = probe(&[
        "--bootstrap",
        &cluster.bootstrap(),
        "--messages",
        "5",
        "--set",
        "request.timeout.ms=2000",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("topic probe does not exist and the system did not create it"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "create it with 3 partitions (--keys) or name an existing topic with --topic"
        ),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
