//! verify-history end to end: the README's example, the reports, bad input
//! and its exit code, histories of a simulated correct log (valid, and
//! flagged once a record is hidden from the polls), input that must not
//! panic, and the JSON Schema of a line.

#[path = "support/schema_subset.rs"]
mod schema_subset;
#[path = "support/simulated_log.rs"]
mod simulated_log;

use kafka_oracle::history::verify;
use kafka_oracle_properties::history::{Anomaly, Report};
use proptest::prelude::*;
use schema_subset::Schema;
use simulated_log::Simulation;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const EXAMPLE: &str = "properties/schema/example-history.jsonl";

fn oracle(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kafka-oracle binary runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("kafka-oracle ends")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A scratch file, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, text: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("kafka-oracle-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("a scratch file");
        Scratch(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_readme_example_reports_what_the_readme_shows() {
    let out = oracle(&["verify-history", EXAMPLE], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let readme = std::fs::read_to_string(repo("README.md")).expect("the README");
    let report = stdout(&out);
    assert_eq!(report.lines().count(), 5, "{report}");
    for line in report.lines() {
        assert!(readme.contains(line), "the README lacks the line\n{line}");
    }
    assert!(report.contains("lost-write: value 17 was acknowledged at offset 42"));
    assert!(report
        .contains("see line 4 (index 3, process 0 ok send), line 10 (index 9, process 1 ok poll)"));
}

#[test]
fn the_json_report_names_every_anomaly() {
    let out = oracle(&["verify-history", "--json", EXAMPLE], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["valid"], false);
    assert_eq!(report["ops"], 10);
    let anomalies = report["anomalies"]
        .as_object()
        .expect("an object of anomalies");
    let names: Vec<&str> = anomalies.keys().map(String::as_str).collect();
    let all: Vec<&str> = Anomaly::ALL.iter().map(|a| a.name()).collect();
    assert_eq!(names, all);
    let lost = &anomalies["lost-write"][0];
    assert_eq!(lost["key"], "0");
    assert_eq!(lost["values"], serde_json::json!([17, 19]));
    let lines: Vec<u64> = lost["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|op| op["line"].as_u64().expect("a line"))
        .collect();
    assert_eq!(lines, [4, 10]);
    assert_eq!(lost["ops"][1]["type"], "ok");
    assert_eq!(lost["ops"][1]["f"], "poll");
    assert_eq!(anomalies["duplicate"], serde_json::json!([]));
}

const VALID: &str = r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0", 1]]}
{"index": 1, "process": 0, "type": "ok", "f": "send", "value": [["send", "0", [0, 1]]]}

{"index": 2, "process": 1, "type": "invoke", "f": "poll", "value": [["poll"]]}
{"index": 3, "process": 1, "type": "ok", "f": "poll", "value": [["poll", {"0": [[0, 1]]}]]}
"#;

/// Value 2 acknowledged and never polled, and a final read that stopped
/// short of the key's end: whether it is lost cannot be told.
const INCOMPLETE: &str = r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0", 1]]}
{"index": 1, "process": 0, "type": "ok", "f": "send", "value": [["send", "0", [0, 1]]]}
{"index": 2, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0", 2]]}
{"index": 3, "process": 0, "type": "ok", "f": "send", "value": [["send", "0", [1, 2]]]}
{"index": 4, "process": 1, "type": "invoke", "f": "assign", "value": ["0"], "final": true}
{"index": 5, "process": 1, "type": "ok", "f": "assign", "value": ["0"], "final": true}
{"index": 6, "process": 1, "type": "invoke", "f": "poll", "value": [["poll"]]}
{"index": 7, "process": 1, "type": "ok", "f": "poll", "value": [["poll", {"0": [[0, 1]]}]]}
{"index": 8, "process": 1, "type": "invoke", "f": "final-read", "value": ["0"]}
{"index": 9, "process": 1, "type": "ok", "f": "final-read", "value": []}
"#;

#[test]
fn an_incomplete_final_read_is_inconclusive_exit_3_not_invalid() {
    let out = oracle(&["verify-history", "-"], Some(INCOMPLETE));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(
        report.contains(
            "not judged: the final read stopped short of the end of key 0; 1 value not judged"
        ),
        "{report}"
    );
    assert!(
        report.ends_with(
            "; INCONCLUSIVE: no anomaly, but 1 value of 1 key the final read did not reach\n"
        ),
        "{report}"
    );
    let out = oracle(&["verify-history", "--json", "-"], Some(INCOMPLETE));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["valid"], "unknown");
    assert_eq!(
        json["unjudged"],
        serde_json::json!([{"key": "0", "values": 1}])
    );
    assert_eq!(json["anomalies"]["unseen"], serde_json::json!([]));
    // The same final read said to reach the key's end: value 2 is unseen.
    let complete = INCOMPLETE.replace(
        r#""ok", "f": "final-read", "value": []"#,
        r#""ok", "f": "final-read", "value": ["0"]"#,
    );
    let out = oracle(&["verify-history", "-"], Some(&complete));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("unseen: value 2 was acknowledged at offset 1"));
}

#[test]
fn a_valid_history_exits_0_from_a_file_or_stdin() {
    let file = Scratch::new("valid.jsonl", VALID);
    let out = oracle(&["verify-history", file.path()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with(": 4 ops, 1 key, 1 value; valid\n"),
        "{}",
        stdout(&out)
    );
    let out = oracle(&["verify-history", "--json", "-"], Some(VALID));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["valid"], true);
    assert_eq!(report["ops"], 4);
    for a in Anomaly::ALL {
        assert_eq!(
            report["anomalies"][a.name()],
            serde_json::json!([]),
            "{}",
            a.name()
        );
    }
}

#[test]
fn the_human_report_shows_twenty_cases_of_an_anomaly_and_counts_the_rest() {
    let mut history = String::new();
    for v in 0..25 {
        history.push_str(&format!(
            "{{\"index\": {}, \"process\": 0, \"type\": \"invoke\", \"f\": \"send\", \"value\": [[\"send\", \"0\", {v}]]}}\n",
            2 * v
        ));
        history.push_str(&format!(
            "{{\"index\": {}, \"process\": 0, \"type\": \"ok\", \"f\": \"send\", \"value\": [[\"send\", \"0\", [{v}, {v}]]]}}\n",
            2 * v + 1
        ));
    }
    let out = oracle(&["verify-history", "-"], Some(&history));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = stdout(&out);
    assert_eq!(
        report
            .lines()
            .filter(|l| l.starts_with("unseen: value"))
            .count(),
        20
    );
    assert!(
        report.contains("\nunseen: 5 more (--json lists every case)\n"),
        "{report}"
    );
    assert!(
        report.ends_with("-: 50 ops, 1 key, 25 values; INVALID, 25 anomalies: unseen 25\n"),
        "{report}"
    );
    let out = oracle(&["verify-history", "--json", "-"], Some(&history));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        json["anomalies"]["unseen"].as_array().map(Vec::len),
        Some(25)
    );
}

#[test]
fn bad_input_exits_2_naming_the_file_the_line_and_what_is_wrong() {
    let first =
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0", 1]]}"#;
    let cases = [
        (
            "not JSON",
            r#"{"index": 1, "process": 0, "type": "ok""#,
            "not JSON: EOF while parsing an object",
        ),
        (
            "unknown type",
            r#"{"index": 1, "process": 0, "type": "done", "f": "send"}"#,
            "unknown type \"done\"",
        ),
        (
            "missing field",
            r#"{"index": 1, "process": 0, "f": "send"}"#,
            "missing field `type`",
        ),
        (
            "unknown f",
            r#"{"index": 1, "process": 0, "type": "ok", "f": "produce"}"#,
            "unknown f \"produce\"",
        ),
        (
            "completion without invocation",
            r#"{"index": 1, "process": 7, "type": "ok", "f": "poll", "value": [["poll", {}]]}"#,
            "a completion (ok poll) of process 7 without its invocation",
        ),
        (
            "value sent twice",
            r#"{"index": 1, "process": 1, "type": "invoke", "f": "send", "value": [["send", "0", 1]]}"#,
            "value 1 is sent twice",
        ),
        (
            "trailing characters",
            r#"{"index": 1, "process": 1, "type": "invoke", "f": "crash"} {}"#,
            "not JSON: trailing characters",
        ),
    ];
    for (what, bad, expected) in cases {
        let file = Scratch::new("bad.jsonl", &format!("{first}\n\n{bad}\n"));
        let out = oracle(&["verify-history", file.path()], None);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", stdout(&out));
        let expected = format!("{}:3: {expected}", file.path());
        assert!(
            stderr(&out).contains(&expected),
            "{what}: {} lacks {expected}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "{what}: no report on bad input");
    }
    let out = oracle(&["verify-history", "-"], Some("\u{1}\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("-:1: not JSON"), "{}", stderr(&out));
    let out = oracle(&["verify-history", "no/such/history.jsonl"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no/such/history.jsonl: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bytes_that_are_not_utf8_are_bad_input_at_their_line() {
    let mut input = VALID.as_bytes().to_vec();
    input.extend_from_slice(b"{\"index\": 4, \"f\": \"\xff\"}\n");
    let err = verify(input.as_slice()).expect_err("bad input");
    assert_eq!(err.line, 6);
    assert!(err.message.starts_with("not UTF-8"), "{}", err.message);
}

fn simulated(sim: &Simulation) -> (Vec<u8>, simulated_log::Outcome) {
    let mut history = Vec::new();
    let outcome = sim.run(|line| {
        history.extend_from_slice(line.as_bytes());
        history.push(b'\n');
    });
    (history, outcome)
}

fn judged(history: &[u8]) -> Report {
    verify(history).unwrap_or_else(|e| panic!("bad input: {e:?}"))
}

fn flagged(report: &Report) -> Vec<&'static str> {
    Anomaly::ALL
        .into_iter()
        .filter(|&a| !report.anomalies.of(a).is_empty())
        .map(Anomaly::name)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_simulated_correct_log_gives_valid_histories(
        seed in any::<u64>(),
        processes in 1usize..6,
        keys in 1usize..4,
        lines in 10usize..600,
    ) {
        let (history, outcome) = simulated(&Simulation { processes, keys, lines, seed, hide: None });
        let report = judged(&history);
        prop_assert!(report.is_valid(), "{:?}", flagged(&report));
        prop_assert_eq!(report.ops as usize, outcome.lines);
    }

    #[test]
    fn hiding_one_acknowledged_record_from_the_polls_is_flagged(
        seed in any::<u64>(),
        processes in 1usize..6,
        keys in 1usize..4,
        lines in 40usize..600,
        pick in any::<prop::sample::Index>(),
    ) {
        let sim = Simulation { processes, keys, lines, seed, hide: None };
        let (_, outcome) = simulated(&sim);
        prop_assume!(!outcome.acked.is_empty());
        let (value, key, offset) = *pick.get(&outcome.acked);
        let (history, _) = simulated(&Simulation { hide: Some(value), ..sim });
        let report = judged(&history);
        let unseen: Vec<i64> = report.anomalies.of(Anomaly::Unseen).iter().map(|c| c.values[0]).collect();
        prop_assert_eq!(unseen, vec![value]);
        // The last client reads every log to its end: past the hidden
        // record, unless it is the last.
        let lost: Vec<i64> = report.anomalies.of(Anomaly::LostWrite).iter().map(|c| c.values[0]).collect();
        let read_past = offset + 1 < outcome.log_lengths[key];
        prop_assert_eq!(lost, if read_past { vec![value] } else { vec![] });
        for name in flagged(&report) {
            prop_assert!(["unseen", "lost-write", "poll-skip", "int-poll-skip"].contains(&name), "also {}", name);
        }
    }

    #[test]
    fn no_input_makes_it_panic(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..8)) {
        let input: Vec<u8> = lines.join(&b'\n');
        let _ = verify(input.as_slice());
    }

    #[test]
    fn no_corruption_of_a_history_makes_it_panic(
        seed in any::<u64>(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let (mut history, _) = simulated(&Simulation { processes: 3, keys: 2, lines: 60, seed, hide: None });
        for (at, byte) in cuts {
            let i = at.index(history.len());
            history[i] = byte;
        }
        let _ = verify(history.as_slice());
    }
}

#[test]
fn the_schema_accepts_the_lines_the_checker_reads() {
    let text =
        std::fs::read_to_string(repo("properties/schema/history.schema.json")).expect("the schema");
    let schema = Schema(serde_json::from_str(&text).expect("the schema is JSON"));
    let example = std::fs::read_to_string(repo(EXAMPLE)).expect("the example");
    let (simulated, _) = simulated(&Simulation {
        processes: 4,
        keys: 3,
        lines: 400,
        seed: 3,
        hide: None,
    });
    let more = [
        r#"{"index": 0, "process": 0, "type": "fail", "f": "send", "value": null}"#,
        r#"{"index": 0, "process": 0, "type": "info", "f": "send"}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "send", "value": [["send", 3, [null, -5]]]}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "assign", "value": ["0", 1]}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "subscribe", "value": []}"#,
        r#"{"index": 0, "process": 0, "type": "info", "f": "crash", "error": "killed"}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "assign", "value": ["0"], "final": true}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "final-read", "value": ["0", 1]}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "final-read", "value": []}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "txn", "value": [["send", "0", [0, 1]], ["poll", {"1": [[3, 4]]}]]}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {}]], "rebalance-log": [{"keys": ["0", 1]}]}"#,
    ];
    let good = example
        .lines()
        .chain(std::str::from_utf8(&simulated).expect("UTF-8").lines())
        .chain(more);
    for line in good {
        let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert!(schema.accepts(&value), "the schema refuses {line}");
    }
    let bad = [
        r#"{"process": 0, "type": "ok", "f": "send"}"#,
        r#"{"index": 0, "process": 0, "type": "done", "f": "send"}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "produce"}"#,
        r#"{"index": 0, "process": -1, "type": "ok", "f": "crash"}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": null}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "send", "value": null}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0"]]}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "send", "value": [["send", "0", [1, 2, 3]]]}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {"0": [[-1, 1]]}]]}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {"0": [[1, 1.5]]}]]}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "poll", "value": [["snd"]]}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "commit", "value": {"0": -2}}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "assign", "value": [["0"]]}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "crash", "value": 3}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "poll", "value": [["poll"]], "final": true}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "final-read", "value": {"0": 1}}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "final-read"}"#,
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "txn", "value": {"0": 1}}"#,
        r#"{"index": 0, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {}]], "rebalance-log": [{"keys": "0"}]}"#,
    ];
    for line in bad {
        let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert!(!schema.accepts(&value), "the schema accepts {line}");
        assert!(
            verify(format!("{line}\n").as_bytes()).is_err(),
            "the checker reads {line}"
        );
    }
}

/// Two transactions that each polled the other's send.
const G1C: &str = r#"{"index": 0, "process": 0, "type": "invoke", "f": "txn", "value": [["send", "0", 1], ["poll"]]}
{"index": 1, "process": 1, "type": "invoke", "f": "txn", "value": [["send", "1", 2], ["poll"]]}
{"index": 2, "process": 0, "type": "ok", "f": "txn", "value": [["send", "0", [0, 1]], ["poll", {"1": [[0, 2]]}]]}
{"index": 3, "process": 1, "type": "ok", "f": "txn", "value": [["send", "1", [0, 2]], ["poll", {"0": [[0, 1]]}]]}
"#;

#[test]
fn a_g1c_cycle_is_invalid_unless_write_order_is_inferred() {
    let out = oracle(&["verify-history", "-"], Some(G1C));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("the transaction at line 3 sent value 1 to key 0, which the transaction at line 4 polled"), "{report}");
    assert!(report.ends_with("INVALID, 1 anomaly: G1c 1\n"), "{report}");
    let out = oracle(&["verify-history", "--ww-deps", "--json", "-"], Some(G1C));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["valid"], true);
    assert!(json["anomalies"]["G1c"][0]["allowed"].is_string(), "{json}");
}
