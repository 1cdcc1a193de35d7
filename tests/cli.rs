//! The command line as a user meets it: listings, bad input, exit codes.

use std::process::{Command, Output};

fn oracle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args(args)
        .output()
        .expect("the kafka-oracle binary runs")
}

/// `oracle`, for a command that should end: `None` if it is still running
/// after `limit` (then killed).
fn oracle_within(args: &[&str], limit: std::time::Duration) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the kafka-oracle binary runs");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("waitable").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Some(child.wait_with_output().expect("its output"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn list_names_every_scenario() {
    let out = oracle(&["check", "--list"]);
    assert!(out.status.success());
    for s in kafka_oracle_models::scenarios::SCENARIOS {
        assert!(stdout(&out).contains(s.name), "--list lacks {}", s.name);
    }
}

#[test]
fn knobs_lists_kafka_names() {
    let out = oracle(&["check", "--knobs"]);
    assert!(out.status.success());
    for knob in [
        "acks",
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "log.flush.interval.messages",
    ] {
        assert!(stdout(&out).contains(knob), "--knobs lacks {knob}");
    }
}

#[test]
fn bad_value_names_the_knob_and_exits_2() {
    let out = oracle(&["check", "--set", "acks=2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("acks: bad value '2'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_knob_is_named() {
    let out = oracle(&["check", "--set", "acks.please=all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("acks.please: unknown knob"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn min_insync_above_replication_factor_is_refused() {
    let out = oracle(&[
        "check",
        "--set",
        "replication.factor=2",
        "--set",
        "min.insync.replicas=3",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("min.insync.replicas: 3 is more than replication.factor 2"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn properties_file_errors_name_file_and_line() {
    let dir = std::env::temp_dir().join(format!("kafka-oracle-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("producer.properties");
    std::fs::write(&file, "# producer\nacks=all\nretries=lots\n").unwrap();
    let out = oracle(&["check", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let expected = format!("{}:3: retries: bad value 'lots'", file.display());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_scenario_exits_2() {
    let out = oracle(&["check", "--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no scenario 'nope'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_violating_scenario_prints_its_counterexample_and_writes_a_trace() {
    let dir = std::env::temp_dir().join(format!("kafka-oracle-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("acks1.json");
    let out = oracle(&[
        "check",
        "--scenario",
        "acks-1-leader-crash",
        "--quiet",
        "--trace-out",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Counterexample to at_least_once"), "{text}");
    assert!(text.contains("replica 0 crashes"), "{text}");
    let replayed = oracle(&["replay", trace.to_str().unwrap()]);
    assert_eq!(replayed.status.code(), Some(0), "{}", stdout(&replayed));
    assert!(stdout(&replayed).contains("at_least_once violated at the last step"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_counterexample_as_a_history_is_flagged_by_verify_history() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, checked, replayed) = (
        dir.path().join("acks1.json"),
        dir.path().join("checked.jsonl"),
        dir.path().join("replayed.jsonl"),
    );
    let out = oracle(&[
        "check",
        "--scenario",
        "acks-1-leader-crash",
        "--quiet",
        "--trace-out",
        trace.to_str().unwrap(),
        "--history-out",
        checked.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = oracle(&[
        "replay",
        trace.to_str().unwrap(),
        "--history-out",
        replayed.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("final read from replica 1"),
        "{}",
        stdout(&out)
    );
    let history = std::fs::read_to_string(&checked).unwrap();
    assert_eq!(history, std::fs::read_to_string(&replayed).unwrap());
    let judged = oracle(&["verify-history", checked.to_str().unwrap()]);
    assert_eq!(judged.status.code(), Some(1), "{history}");
    assert!(
        stdout(&judged).contains("unseen: value 1 was acknowledged at offset 0"),
        "{}",
        stdout(&judged)
    );
    let nowhere = dir.path().join("no-such-dir").join("h.jsonl");
    let out = oracle(&[
        "replay",
        trace.to_str().unwrap(),
        "--history-out",
        nowhere.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no-such-dir/h.jsonl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_report_has_the_documented_fields() {
    let out = oracle(&[
        "check",
        "--scenario",
        "offset-reset-latest",
        "--json",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["all_as_expected"], true);
    let r = &report["results"][0];
    for field in [
        "scenario",
        "properties",
        "expected",
        "expected_violated",
        "verdict",
        "violated",
        "sometimes_unreached",
        "as_expected",
        "exhaustive",
        "unique_states",
        "states",
        "max_depth",
        "seconds",
        "counterexample",
        "counterexamples",
        "informational",
        "stopped",
        "search",
        "bounds",
        "configuration",
    ] {
        assert!(r.get(field).is_some(), "missing {field}");
    }
    assert_eq!(r["verdict"], "violation");
    assert_eq!(r["violated"][0], "at_least_once");
    assert_eq!(r["counterexample"]["schema"], "kafka-oracle/trace");
}

#[test]
fn a_users_configuration_is_checked_to_a_verdict() {
    // acks=1 on two replicas: one leader crash loses an acknowledged message.
    let out = oracle(&[
        "check",
        "--quiet",
        "--set",
        "acks=1",
        "--set",
        "replication.factor=2",
        "--set",
        "min.insync.replicas=1",
        "--set",
        "model.consumer=true",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("at_least_once"), "{}", stdout(&out));
    let safe = oracle(&[
        "check",
        "--quiet",
        "--set",
        "replication.factor=2",
        "--set",
        "model.process.crashes=0",
    ]);
    assert_eq!(safe.status.code(), Some(0), "{}", stdout(&safe));
}

#[test]
fn broker_settings_errors_name_file_line_and_knob_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.properties");
    std::fs::write(&file, "num.partitions=3\nreplica.lag.time.max.ms=soon\n").unwrap();
    let data = dir.path().join("data");
    let base = [
        "broker",
        "--node-id",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--controller",
        "127.0.0.1:1",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let mut args = base.to_vec();
    args.extend(["--config", file.to_str().unwrap()]);
    let out = oracle(&args);
    assert_eq!(out.status.code(), Some(2));
    let expected = format!(
        "{}:2: replica.lag.time.max.ms=soon: not an integer",
        file.display()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    let mut args = base.to_vec();
    args.extend(["--set", "replica.truncation=sometimes"]);
    let out = oracle(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("replica.truncation=sometimes: must be leader-epoch or high-watermark"),
        "{}",
        stderr(&out)
    );
    assert!(!data.exists(), "nothing starts on a bad setting");
}

#[test]
fn controller_and_cluster_refuse_unknown_settings() {
    let out = oracle(&[
        "controller",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        "unused",
        "--set",
        "broker.session.timeout.ms=0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("broker.session.timeout.ms=0: must be between 1"),
        "{}",
        stderr(&out)
    );
    let out = oracle(&["cluster", "--set", "acks.please=all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown setting \"acks.please\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn broker_knobs_lists_kafka_names() {
    let out = oracle(&["broker", "--knobs"]);
    assert!(out.status.success());
    for knob in [
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "replica.lag.time.max.ms",
        "log.flush.interval.messages",
        "log.flush.interval.ms",
        "log.segment.bytes",
        "replica.truncation",
    ] {
        assert!(stdout(&out).contains(knob), "broker --knobs lacks {knob}");
    }
}

#[test]
fn controller_knobs_needs_neither_listen_nor_data_dir() {
    let out = oracle(&["controller", "--knobs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("broker.session.timeout.ms"));
    let out = oracle(&["controller", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--data-dir"), "{}", stderr(&out));
}

/// `--help` says which flags a server cannot start without.
#[test]
fn broker_and_controller_help_show_the_required_flags() {
    let out = oracle(&["broker", "--help"]);
    assert!(out.status.success());
    let usage = stdout(&out);
    let usage = usage.lines().find(|l| l.starts_with("Usage:")).unwrap();
    for flag in [
        "--node-id <N>",
        "--listen <ADDR>",
        "--data-dir <DIR>",
        "--controller <ADDR>",
    ] {
        assert!(usage.contains(flag), "broker usage lacks {flag}: {usage}");
    }
    let out = oracle(&["controller", "--help"]);
    let usage = stdout(&out);
    let usage = usage.lines().find(|l| l.starts_with("Usage:")).unwrap();
    for flag in ["--listen <ADDR>", "--data-dir <DIR>"] {
        assert!(
            usage.contains(flag),
            "controller usage lacks {flag}: {usage}"
        );
    }
}

/// `cluster` keeps its data across runs in a directory of the current
/// one: run from this repository, git must not see it.
#[test]
fn the_cluster_data_directory_is_ignored_by_git() {
    let out = oracle(&["cluster", "--help"]);
    let help = stdout(&out);
    let default = help
        .split("--data-dir <DIR>")
        .nth(1)
        .and_then(|rest| rest.split("[default: ").nth(1))
        .and_then(|rest| rest.split(']').next())
        .expect("cluster --help shows the data directory's default");
    let ignore = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.gitignore"))
        .expect(".gitignore");
    assert!(
        ignore.lines().any(|l| l.trim_matches('/') == default),
        "{default} is not in .gitignore"
    );
}

#[test]
fn a_broker_with_an_unparsable_controller_address_exits_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for bad in ["nonsense", "127.0.0.1:notaport", ":9093", "127.0.0.1:70000"] {
        let out = oracle_within(
            &[
                "broker",
                "--node-id",
                "1",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
                "--controller",
                bad,
            ],
            std::time::Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("--controller {bad}: the broker ran on"));
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("--controller"), "{}", stderr(&out));
        assert!(!data.exists(), "nothing starts on a bad address");
    }
}

/// A controller that cannot read its state says so and exits 2 before it
/// says it listens (a supervisor must not take it for a started one).
#[test]
fn a_controller_with_a_corrupt_state_file_exits_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("controller-state.json");
    std::fs::write(&state, b"{\"topics\": [torn").unwrap();
    let out = oracle(&[
        "controller",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stdout(&out).contains("listening"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&state.display().to_string()),
        "{}",
        stderr(&out)
    );
}

/// A broker whose controller does not answer says so on stderr, and keeps
/// trying (it is not an input error: the controller may start later).
#[test]
fn a_broker_whose_controller_is_unreachable_says_so_and_keeps_trying() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // A port just freed: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args([
            "broker",
            "--node-id",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--controller",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut said = String::new();
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            said.push_str(&String::from_utf8_lossy(&buf[..n]));
            if said.contains("retrying") {
                let _ = tx.send(said.clone());
                break;
            }
        }
    });
    let said = rx.recv_timeout(std::time::Duration::from_secs(10));
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let said = said.expect("the broker says on stderr that the controller is unreachable");
    assert!(said.contains(&format!("127.0.0.1:{port}")), "{said}");
    assert!(running, "the broker keeps trying");
}
