//! The history judges on hand-made histories: for every anomaly a history
//! that shows it, flagged with the right name and the lines of its
//! evidence, and a clean history of the same size that is valid.

use kafka_oracle_properties::history::{Anomaly, Checker, LineError, Report, Unjudged, Validity};
use kafka_oracle_properties::{property, CATALOGUE};

/// Builds a history line by line; `index` is the line's position from 0.
#[derive(Default)]
struct History(Vec<String>);

impl History {
    fn op(&mut self, process: u32, kind: &str, f: &str, value: &str) -> &mut Self {
        let index = self.0.len();
        self.0.push(format!(
            r#"{{"index": {index}, "time": {}, "process": {process}, "type": "{kind}", "f": "{f}", "value": {value}}}"#,
            index * 10
        ));
        self
    }

    /// Invokes and acknowledges a send of `value` to `key` at `offset`.
    fn acked(&mut self, p: u32, key: &str, offset: u64, value: i64) -> &mut Self {
        self.op(
            p,
            "invoke",
            "send",
            &format!(r#"[["send", "{key}", {value}]]"#),
        )
        .op(
            p,
            "ok",
            "send",
            &format!(r#"[["send", "{key}", [{offset}, {value}]]]"#),
        )
    }

    /// Invokes a poll and completes it with `records` of `key`.
    fn polled(&mut self, p: u32, key: &str, records: &[(u64, i64)]) -> &mut Self {
        let pairs: Vec<String> = records.iter().map(|(o, v)| format!("[{o}, {v}]")).collect();
        self.op(p, "invoke", "poll", r#"[["poll"]]"#).op(
            p,
            "ok",
            "poll",
            &format!(r#"[["poll", {{"{key}": [{}]}}]]"#, pairs.join(", ")),
        )
    }

    /// A final read by process `p` of `key`: an assign marked `"final"`,
    /// one poll returning `records`, and a `final-read` saying whether it
    /// read the key to its end.
    fn final_read(&mut self, p: u32, key: &str, records: &[(u64, i64)], to_end: bool) -> &mut Self {
        let keys = format!(r#"["{key}"]"#);
        for kind in ["invoke", "ok"] {
            self.op(p, kind, "assign", &keys);
            let last = self.0.last_mut().expect("just pushed");
            last.insert_str(last.len() - 1, r#", "final": true"#);
        }
        self.polled(p, key, records);
        let reached = if to_end { keys.as_str() } else { "[]" };
        self.op(p, "invoke", "final-read", &keys)
            .op(p, "ok", "final-read", reached)
    }

    /// Judged twice, through serde and through the plain-line scanner,
    /// which must agree.
    fn judge(&self) -> Report {
        let (mut serde, mut plain) = (Checker::new(), Checker::new());
        for (i, line) in self.0.iter().enumerate() {
            let n = i as u64 + 1;
            let mut de = serde_json::Deserializer::from_str(line);
            if let Err(e) = serde.read(n, &mut de) {
                panic!("line {n}: {e:?}\n{line}");
            }
            let scanned = plain.read_plain(n, line.as_bytes());
            assert_eq!(scanned, Some(Ok(())), "line {n} scanned\n{line}");
        }
        let report = serde.finish();
        assert_eq!(plain.finish(), report, "the scanner and serde agree");
        report
    }
}

/// The anomalies a report flags, by name, each with its cases' evidence
/// lines.
fn flagged(report: &Report) -> Vec<(&'static str, Vec<Vec<u64>>)> {
    Anomaly::ALL
        .into_iter()
        .filter(|&a| !report.anomalies.of(a).is_empty())
        .map(|a| {
            let lines = report
                .anomalies
                .of(a)
                .iter()
                .map(|c| c.ops.iter().map(|op| op.line).collect())
                .collect();
            (a.name(), lines)
        })
        .collect()
}

#[track_caller]
fn assert_flags(bad: &History, clean: &History, expected: &[(&str, &[&[u64]])]) {
    assert_eq!(
        bad.0.len(),
        clean.0.len(),
        "the clean history has the same size"
    );
    let report = bad.judge();
    let expected: Vec<(&str, Vec<Vec<u64>>)> = expected
        .iter()
        .map(|(name, cases)| (*name, cases.iter().map(|c| c.to_vec()).collect()))
        .collect();
    assert_eq!(flagged(&report), expected, "{report:#?}");
    assert!(!report.is_valid());
    let report = clean.judge();
    assert!(report.is_valid(), "the clean history is valid: {report:#?}");
    assert_eq!(report.ops, clean.0.len() as u64);
}

#[test]
fn lost_write_an_acknowledged_record_below_one_polled() {
    let mut bad = History::default();
    bad.acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .polled(1, "0", &[(1, 2)]);
    let mut clean = History::default();
    clean
        .acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .polled(1, "0", &[(0, 1), (1, 2)]);
    // A lost write is never polled, so it is unseen too.
    assert_flags(
        &bad,
        &clean,
        &[("lost-write", &[&[2, 6]]), ("unseen", &[&[2]])],
    );
    let report = bad.judge();
    let case = &report.anomalies.of(Anomaly::LostWrite)[0];
    assert_eq!(
        (case.key.as_str(), &case.values, &case.offsets),
        ("0", &vec![1, 2], &vec![0, 1])
    );
    assert_eq!(case.ops[0].index, 1, "the index field is reported");
}

#[test]
fn unseen_an_acknowledged_record_never_polled() {
    let mut bad = History::default();
    bad.acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .polled(1, "0", &[(0, 1)]);
    let mut clean = History::default();
    clean
        .acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .polled(1, "0", &[(0, 1), (1, 2)]);
    assert_flags(&bad, &clean, &[("unseen", &[&[4]])]);
}

#[test]
fn unseen_with_no_offset_known() {
    let mut bad = History::default();
    bad.op(0, "invoke", "send", r#"[["send", "0", 1]]"#).op(
        0,
        "ok",
        "send",
        r#"[["send", "0", [null, 1]]]"#,
    );
    let mut clean = History::default();
    clean
        .op(0, "invoke", "send", r#"[["send", "0", 1]]"#)
        .op(0, "info", "send", "null");
    assert_flags(&bad, &clean, &[("unseen", &[&[2]])]);
}

#[test]
fn duplicate_one_value_at_two_offsets() {
    let mut bad = History::default();
    bad.acked(0, "0", 1, 1).polled(1, "0", &[(0, 1), (1, 1)]);
    let mut clean = History::default();
    clean.acked(0, "0", 0, 1).polled(1, "0", &[(0, 1)]);
    assert_flags(&bad, &clean, &[("duplicate", &[&[2, 4]])]);
}

#[test]
fn duplicate_across_keys() {
    let mut bad = History::default();
    bad.acked(0, "a", 0, 1)
        .polled(1, "b", &[(0, 1)])
        .polled(1, "a", &[(0, 1)]);
    let mut clean = History::default();
    clean
        .acked(0, "a", 0, 1)
        .polled(1, "a", &[(0, 1)])
        .polled(2, "a", &[(0, 1)]);
    assert_flags(&bad, &clean, &[("duplicate", &[&[2, 4]])]);
}

#[test]
fn poll_skip_a_consumer_jumps_over_a_record() {
    let mut bad = History::default();
    bad.acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .acked(0, "0", 2, 3)
        .polled(1, "0", &[(0, 1)])
        .polled(1, "0", &[(2, 3)])
        .polled(2, "0", &[(0, 1), (1, 2), (2, 3)]);
    let mut clean = History::default();
    clean
        .acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .acked(0, "0", 2, 3)
        .polled(1, "0", &[(0, 1)])
        .polled(1, "0", &[(1, 2), (2, 3)])
        .polled(2, "0", &[(0, 1), (1, 2), (2, 3)]);
    // The two polls of process 1, and the acknowledgement of offset 1.
    assert_flags(&bad, &clean, &[("poll-skip", &[&[4, 8, 10]])]);
}

#[test]
fn int_poll_skip_within_one_poll_and_gaps_without_records_are_no_skip() {
    let mut bad = History::default();
    bad.acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .acked(0, "0", 5, 3)
        .polled(1, "0", &[(0, 1), (5, 3)])
        .polled(2, "0", &[(0, 1), (1, 2), (5, 3)]);
    // Offsets 2 to 4 hold nothing anyone saw (a transaction marker, say).
    let mut clean = History::default();
    clean
        .acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .acked(0, "0", 5, 3)
        .polled(1, "0", &[(0, 1), (1, 2), (5, 3)])
        .polled(2, "0", &[(0, 1), (1, 2), (5, 3)]);
    // One poll shows both reads (Jepsen's int-poll-skip); the
    // acknowledgement shows offset 1.
    assert_flags(&bad, &clean, &[("int-poll-skip", &[&[4, 8]])]);
}

#[test]
fn nonmonotonic_poll_a_consumer_reads_back() {
    let mut bad = History::default();
    bad.acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .polled(1, "0", &[(0, 1), (1, 2)])
        .polled(1, "0", &[(1, 2)]);
    let mut clean = History::default();
    clean
        .acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .polled(1, "0", &[(0, 1)])
        .polled(1, "0", &[(1, 2)]);
    assert_flags(&bad, &clean, &[("nonmonotonic-poll", &[&[6, 8]])]);
}

#[test]
fn a_consumer_may_read_back_after_assign_subscribe_crash_or_an_unknown_outcome() {
    for (f, kind, value) in [
        ("assign", "ok", r#"["0"]"#),
        ("subscribe", "ok", r#"["0"]"#),
        ("crash", "info", "null"),
        ("commit", "info", r#"{"0": 1}"#),
    ] {
        let mut h = History::default();
        h.acked(0, "0", 0, 1)
            .polled(1, "0", &[(0, 1)])
            .op(1, "invoke", f, value)
            .op(1, kind, f, "null")
            .polled(1, "0", &[(0, 1)]);
        assert!(h.judge().is_valid(), "after {kind} {f}: {:#?}", h.judge());
    }
    let mut failed_assign = History::default();
    failed_assign
        .acked(0, "0", 0, 1)
        .polled(1, "0", &[(0, 1)])
        .op(1, "invoke", "assign", r#"["0"]"#)
        .op(1, "fail", "assign", "null")
        .polled(1, "0", &[(0, 1)]);
    let report = failed_assign.judge();
    assert_eq!(
        flagged(&report),
        vec![("nonmonotonic-poll", vec![vec![4, 8]])]
    );
}

#[test]
fn nonmonotonic_send_a_later_send_lands_lower() {
    let mut bad = History::default();
    bad.acked(0, "0", 1, 1)
        .acked(0, "0", 0, 2)
        .polled(1, "0", &[(0, 2), (1, 1)]);
    let mut clean = History::default();
    clean
        .acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .polled(1, "0", &[(0, 1), (1, 2)]);
    assert_flags(&bad, &clean, &[("nonmonotonic-send", &[&[2, 4]])]);
}

#[test]
fn inconsistent_offsets_two_values_at_one_offset() {
    let mut bad = History::default();
    bad.acked(0, "0", 0, 1)
        .acked(3, "0", 0, 2)
        .polled(1, "0", &[(0, 1)])
        .polled(2, "0", &[(0, 2)]);
    let mut clean = History::default();
    clean
        .acked(0, "0", 0, 1)
        .acked(3, "0", 1, 2)
        .polled(1, "0", &[(0, 1)])
        .polled(2, "0", &[(1, 2)]);
    // Reported once, by the first two operations that disagree.
    assert_flags(&bad, &clean, &[("inconsistent-offsets", &[&[2, 4]])]);
}

#[test]
fn g1a_a_failed_send_is_polled() {
    let mut bad = History::default();
    bad.op(0, "invoke", "send", r#"[["send", "0", 1]]"#)
        .op(0, "fail", "send", r#"[["send", "0", 1]]"#)
        .polled(1, "0", &[(0, 1)]);
    let mut clean = History::default();
    clean
        .op(0, "invoke", "send", r#"[["send", "0", 1]]"#)
        .op(0, "ok", "send", r#"[["send", "0", [0, 1]]]"#)
        .polled(1, "0", &[(0, 1)]);
    assert_flags(&bad, &clean, &[("G1a", &[&[2, 4]])]);
}

#[test]
fn g1a_when_the_failure_is_reported_after_the_poll() {
    let mut bad = History::default();
    bad.op(0, "invoke", "send", r#"[["send", "0", 1]]"#)
        .polled(1, "0", &[(0, 1)])
        .op(0, "fail", "send", "null");
    let mut clean = History::default();
    clean
        .op(0, "invoke", "send", r#"[["send", "0", 1]]"#)
        .polled(1, "0", &[(0, 1)])
        .op(0, "info", "send", "null");
    assert_flags(&bad, &clean, &[("G1a", &[&[3, 4]])]);
}

#[test]
fn integer_keys_are_the_keys_their_digits_spell() {
    let mut h = History::default();
    h.op(0, "invoke", "send", r#"[["send", 7, 1]]"#)
        .op(0, "ok", "send", r#"[["send", 7, [0, 1]]]"#)
        .polled(1, "7", &[(0, 1)]);
    let report = h.judge();
    assert!(report.is_valid(), "{report:#?}");
    assert_eq!(report.keys, 1);
}

#[test]
fn a_clean_history_with_every_kind_of_operation_is_valid() {
    let mut h = History::default();
    h.op(1, "invoke", "assign", r#"["0", "1"]"#)
        .op(1, "ok", "assign", r#"["0", "1"]"#)
        .op(
            0,
            "invoke",
            "send",
            r#"[["send", "0", 1], ["send", "1", 2]]"#,
        )
        .op(
            0,
            "ok",
            "send",
            r#"[["send", "0", [0, 1]], ["send", "1", [0, 2]]]"#,
        )
        .op(0, "invoke", "send", r#"[["send", "0", 3]]"#)
        .op(0, "info", "send", r#"[["send", "0", 3]]"#)
        .op(1, "invoke", "poll", r#"[["poll"]]"#)
        .op(
            1,
            "ok",
            "poll",
            r#"[["poll", {"0": [[0, 1], [1, 3]], "1": [[0, 2]]}]]"#,
        )
        .op(1, "invoke", "commit", r#"{"0": 2, "1": 1}"#)
        .op(1, "ok", "commit", r#"{"0": 2, "1": 1}"#)
        .op(2, "invoke", "subscribe", r#"["0"]"#)
        .op(2, "ok", "subscribe", r#"["0"]"#)
        .op(2, "invoke", "crash", "null")
        .op(2, "info", "crash", "null");
    let report = h.judge();
    assert!(report.is_valid(), "{report:#?}");
    assert_eq!((report.ops, report.keys, report.values), (14, 2, 3));
}

/// The error a line gets, as a string.
fn error(lines: &[&str]) -> String {
    let mut checker = Checker::new();
    for (i, line) in lines.iter().enumerate() {
        let mut de = serde_json::Deserializer::from_str(line);
        match checker.read(i as u64 + 1, &mut de) {
            Ok(()) => {}
            Err(LineError::Parse(e)) => return e.to_string(),
            Err(LineError::Invalid(message)) => return message,
        }
    }
    panic!("no error in {lines:?}");
}

#[test]
fn a_line_that_contradicts_the_history_is_refused() {
    let send =
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0", 1]]}"#;
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                r#"{"index": 0, "process": 0, "type": "ok", "f": "send", "value": [["send", "0", [0, 1]]]}"#,
            ],
            "a completion (ok send) of process 0 without its invocation",
        ),
        (
            &[send, send],
            "process 0 invokes a send while its send invoked at line 1",
        ),
        (
            &[
                send,
                r#"{"index": 1, "process": 1, "type": "invoke", "f": "send", "value": [["send", "0", 1]]}"#,
            ],
            "value 1 is sent twice",
        ),
        (
            &[
                send,
                r#"{"index": 1, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {}]]}"#,
            ],
            "process 0 completes a poll but invoked a send at line 1",
        ),
        (
            &[
                send,
                r#"{"index": 1, "process": 0, "type": "ok", "f": "send", "value": [["send", "0", [0, 2]]]}"#,
            ],
            "value 2 is not pending in the send invoked at line 1",
        ),
        (
            &[
                send,
                r#"{"index": 1, "process": 0, "type": "ok", "f": "send", "value": [["send", "9", [0, 1]]]}"#,
            ],
            "value 1 was sent to key 0 but completes on key 9",
        ),
        (
            &[
                r#"{"index": 0, "process": 1, "type": "invoke", "f": "poll", "value": [["poll"]]}"#,
                r#"{"index": 1, "process": 1, "type": "ok", "f": "poll", "value": [["poll", {"0": [[0, 5]]}]]}"#,
            ],
            "value 5 at offset 0 of key 0 was polled but never sent before",
        ),
        (
            &[r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["poll"]]}"#],
            "an invoke send takes a list of [\"send\", key, value] micro-operations",
        ),
        (
            &[
                send,
                r#"{"index": 1, "process": 0, "type": "ok", "f": "send", "value": null}"#,
            ],
            "an ok send takes",
        ),
        (
            &[
                r#"{"index": 0, "process": 0, "type": "invoke", "f": "poll", "value": [["poll", {"0": [[0, 1]]}]]}"#,
            ],
            "an invoked poll has no results yet",
        ),
        (
            &[r#"{"index": 0, "process": 0, "type": "invoke", "f": "crash", "value": ["0"]}"#],
            "an invoke crash takes no value",
        ),
    ];
    for (lines, expected) in cases {
        let got = error(lines);
        assert!(
            got.contains(expected),
            "{lines:?}: {got:?} lacks {expected:?}"
        );
    }
}

#[test]
fn a_line_that_is_not_an_operation_is_refused() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"index": 0, "process": 0, "type": "invok", "f": "send"}"#,
            "unknown type \"invok\"",
        ),
        (
            r#"{"index": 0, "process": 0, "type": "invoke", "f": "sned"}"#,
            "unknown f \"sned\"",
        ),
        (
            r#"{"index": 0, "process": 0, "type": "invoke"}"#,
            "missing field `f`",
        ),
        (
            r#"{"process": 0, "type": "invoke", "f": "crash"}"#,
            "missing field `index`",
        ),
        (
            r#"{"index": 0, "process": 0, "f": "crash"}"#,
            "missing field `type`",
        ),
        (
            r#"{"index": 0, "type": "invoke", "f": "crash"}"#,
            "missing field `process`",
        ),
        (
            r#"{"index": 0, "index": 1, "process": 0, "type": "invoke", "f": "crash"}"#,
            "duplicate field `index`",
        ),
        (
            r#"{"index": 0, "process": -1, "type": "invoke", "f": "crash"}"#,
            "process: invalid value",
        ),
        (
            r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["snd", "0", 1]]}"#,
            "unknown micro-operation \"snd\"",
        ),
        (
            r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0"]]}"#,
            "value: invalid length 2",
        ),
        (
            r#"{"index": 0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "0", 1.5]]}"#,
            "value: invalid type: floating point",
        ),
        (
            r#"{"index": 0, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {"0": [[-1, 1]]}]]}"#,
            "value: invalid value: integer `-1`",
        ),
        (
            r#"{"index": 0, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {"0": [[1, 1, 1]]}]]}"#,
            "value: invalid length 3",
        ),
        (
            r#"{"index": 0, "process": 0, "type": "ok", "f": "poll", "value": [[]]}"#,
            "an empty micro-operation",
        ),
        (r#"[1, 2]"#, "invalid type: sequence, expected an operation"),
    ];
    for (line, expected) in cases {
        let got = error(&[line]);
        assert!(got.contains(expected), "{line}: {got:?} lacks {expected:?}");
    }
}

#[test]
fn every_anomaly_has_a_name_a_definition_and_witnesses_in_the_catalogue() {
    let mut names: Vec<&str> = Anomaly::ALL.iter().map(|a| a.name()).collect();
    assert_eq!(
        names,
        [
            "lost-write",
            "unseen",
            "lost-after-read",
            "duplicate",
            "poll-skip",
            "nonmonotonic-poll",
            "int-poll-skip",
            "int-nonmonotonic-poll",
            "nonmonotonic-send",
            "int-send-skip",
            "int-nonmonotonic-send",
            "inconsistent-offsets",
            "G1a",
            "precommitted-read",
            "G0",
            "G1c"
        ]
    );
    names.dedup();
    assert_eq!(names.len(), 16);
    for a in Anomaly::ALL {
        assert_eq!(Anomaly::from_name(a.name()), Some(a));
        assert!(!a.definition().is_empty());
        for w in a.witnesses() {
            assert!(
                property(w).is_some(),
                "{} witnesses {w}, not in the catalogue",
                a.name()
            );
        }
    }
    assert_eq!(Anomaly::from_name("lost_write"), None);
    // The promises a history shows directly are each witnessed.
    for promise in [
        "at_least_once",
        "no_duplicates",
        "committed_never_lost",
        "committed_prefix_agrees",
        "committed_durable",
    ] {
        assert!(CATALOGUE.iter().any(|p| p.name == promise));
        assert!(
            Anomaly::ALL
                .iter()
                .any(|a| a.witnesses().contains(&promise)),
            "no anomaly witnesses {promise}"
        );
    }
}

#[test]
fn lost_after_read_a_polled_value_the_final_read_does_not_return() {
    // A broker restarted with an empty log: the value was polled, the new
    // log never reached its offset, and the final read, which read the key
    // to its end, does not return it. Neither unseen (it was polled) nor a
    // lost write (no higher offset was polled).
    let mut bad = History::default();
    bad.acked(0, "0", 0, 1)
        .polled(1, "0", &[(0, 1)])
        .final_read(2, "0", &[], true);
    let mut clean = History::default();
    clean
        .acked(0, "0", 0, 1)
        .polled(1, "0", &[(0, 1)])
        .final_read(2, "0", &[(0, 1)], true);
    assert_flags(&bad, &clean, &[("lost-after-read", &[&[2, 4, 10]])]);
    let report = bad.judge();
    let case = &report.anomalies.of(Anomaly::LostAfterRead)[0];
    assert_eq!(
        (case.values.as_slice(), case.offsets.as_slice()),
        (&[1][..], &[0][..])
    );
}

#[test]
fn lost_after_read_of_a_send_with_an_unknown_outcome() {
    // A poll proves the record was written, whatever its send was told.
    let mut bad = History::default();
    bad.op(0, "invoke", "send", r#"[["send", "0", 1]]"#)
        .op(0, "info", "send", "null")
        .polled(1, "0", &[(0, 1)])
        .final_read(2, "0", &[], true);
    let mut clean = History::default();
    clean
        .op(0, "invoke", "send", r#"[["send", "0", 1]]"#)
        .op(0, "info", "send", "null")
        .polled(1, "0", &[(0, 1)])
        .final_read(2, "0", &[(0, 1)], true);
    assert_flags(&bad, &clean, &[("lost-after-read", &[&[2, 4, 10]])]);
}

#[test]
fn an_incomplete_final_read_makes_the_verdict_unknown_not_invalid() {
    // Value 2 was acknowledged and never polled: with the final read at the
    // key's end it is unseen; with the final read stopped short it may lie
    // beyond where the read stopped, and is not judged.
    let history = |to_end| {
        let mut h = History::default();
        h.acked(0, "0", 0, 1)
            .acked(0, "0", 1, 2)
            .polled(1, "0", &[(0, 1)])
            .final_read(2, "0", &[(0, 1)], to_end);
        h
    };
    let report = history(true).judge();
    assert_eq!(report.valid, Validity::Invalid);
    assert_eq!(flagged(&report), vec![("unseen", vec![vec![4]])]);
    let report = history(false).judge();
    assert_eq!(report.valid, Validity::Unknown, "{report:#?}");
    assert_eq!(report.anomalies.total(), 0);
    assert_eq!(
        report.unjudged,
        vec![Unjudged {
            key: "0".into(),
            values: 1
        }]
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["valid"], "unknown");
    assert_eq!(json["unjudged"][0]["values"], 1);
}

#[test]
fn an_incomplete_final_read_does_not_hide_what_the_history_proves() {
    // A duplicate needs no final read: invalid, whatever the final read.
    let mut h = History::default();
    h.acked(0, "0", 0, 1)
        .polled(1, "0", &[(0, 1), (1, 1)])
        .final_read(2, "0", &[], false);
    let report = h.judge();
    assert_eq!(report.valid, Validity::Invalid);
    assert_eq!(flagged(&report), vec![("duplicate", vec![vec![2, 4]])]);
}

#[test]
fn a_complete_final_read_that_returns_everything_is_valid() {
    let mut h = History::default();
    h.acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .final_read(2, "0", &[(0, 1), (1, 2)], true);
    let report = h.judge();
    assert_eq!(report.valid, Validity::Valid, "{report:#?}");
    assert!(report.unjudged.is_empty());
}

#[test]
fn final_marks_an_assign_only_and_final_read_takes_keys() {
    let poll = r#"{"index": 0, "process": 0, "type": "invoke", "f": "poll", "value": [["poll"]], "final": true}"#;
    assert_eq!(error(&[poll]), "\"final\" marks an assign, not a poll");
    let offsets =
        r#"{"index": 0, "process": 0, "type": "invoke", "f": "final-read", "value": {"0": 1}}"#;
    assert_eq!(
        error(&[offsets]),
        "an invoke final-read takes a list of keys"
    );
}

#[test]
fn int_nonmonotonic_poll_one_poll_returns_a_record_below_the_one_before() {
    let mut bad = History::default();
    bad.acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .polled(1, "0", &[(1, 2), (0, 1)]);
    let mut clean = History::default();
    clean
        .acked(0, "0", 0, 1)
        .acked(0, "0", 1, 2)
        .polled(1, "0", &[(0, 1), (1, 2)]);
    assert_flags(&bad, &clean, &[("int-nonmonotonic-poll", &[&[6]])]);
}

/// One send operation of values 1 and 2 to key 0, landing at `offsets`,
/// then value 3 from another process at `other`, then a poll of all.
fn two_sends_in_one_operation(offsets: (u64, u64), other: u64) -> History {
    let (a, b) = offsets;
    let mut h = History::default();
    h.op(
        0,
        "invoke",
        "send",
        r#"[["send", "0", 1], ["send", "0", 2]]"#,
    )
    .op(
        0,
        "ok",
        "send",
        &format!(r#"[["send", "0", [{a}, 1]], ["send", "0", [{b}, 2]]]"#),
    )
    .acked(1, "0", other, 3);
    let mut read = vec![(a, 1), (b, 2), (other, 3)];
    read.sort();
    h.polled(2, "0", &read);
    h
}

#[test]
fn int_nonmonotonic_send_a_later_send_of_one_operation_lands_lower() {
    let bad = two_sends_in_one_operation((1, 0), 2);
    let clean = two_sends_in_one_operation((0, 1), 2);
    assert_flags(&bad, &clean, &[("int-nonmonotonic-send", &[&[2]])]);
}

#[test]
fn int_send_skip_is_reported_and_allowed() {
    // Another client's send landed between one operation's two sends:
    // normal in Kafka, so reported, and the history stays valid.
    let skipped = two_sends_in_one_operation((0, 2), 1);
    let together = two_sends_in_one_operation((0, 1), 2);
    let report = skipped.judge();
    assert_eq!(flagged(&report), vec![("int-send-skip", vec![vec![2, 4]])]);
    let case = &report.anomalies.of(Anomaly::IntSendSkip)[0];
    assert!(case.allowed.is_some(), "{case:?}");
    assert_eq!(report.valid, Validity::Valid, "{report:#?}");
    assert!(report.bad.is_empty());
    let report = together.judge();
    assert_eq!(report.anomalies.total(), 0, "{report:#?}");
}

#[test]
fn a_poll_skip_is_allowed_under_subscribe_and_bad_under_assign() {
    let history = |how: &str| {
        let mut h = History::default();
        h.acked(0, "0", 0, 1)
            .acked(0, "0", 1, 2)
            .acked(0, "0", 2, 3)
            .op(1, "invoke", how, r#"["0"]"#)
            .op(1, "ok", how, r#"["0"]"#)
            .polled(1, "0", &[(0, 1)])
            .polled(1, "0", &[(2, 3)])
            .polled(2, "0", &[(0, 1), (1, 2), (2, 3)]);
        h
    };
    let report = history("assign").judge();
    assert_eq!(report.valid, Validity::Invalid);
    assert_eq!(report.bad, vec!["poll-skip"]);
    // A group's rebalance may move a subscribed consumer between polls.
    let report = history("subscribe").judge();
    assert_eq!(flagged(&report), vec![("poll-skip", vec![vec![4, 10, 12]])]);
    assert_eq!(report.valid, Validity::Valid, "{report:#?}");
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["anomalies"]["poll-skip"][0]["allowed"].is_string());
    assert_eq!(json["bad"], serde_json::json!([]));
}

#[test]
fn precommitted_read_a_transaction_polls_its_own_send() {
    let txn = |polled: &str| {
        let mut h = History::default();
        h.op(0, "invoke", "txn", r#"[["send", "0", 1], ["poll"]]"#)
            .op(
                0,
                "ok",
                "txn",
                &format!(r#"[["send", "0", [0, 1]], ["poll", {{"0": [{polled}]}}]]"#),
            )
            .polled(1, "0", &[(0, 1)]);
        h
    };
    assert_flags(&txn("[0, 1]"), &txn(""), &[("precommitted-read", &[&[2]])]);
}

/// Transactions of processes 0 and 1, invoked together: each sends a value
/// (1 to key 0, 2 to key 1) and polls what `reads` give, then a poll
/// reads both values.
fn two_transactions(reads: [&str; 2]) -> History {
    let mut h = History::default();
    h.op(0, "invoke", "txn", r#"[["send", "0", 1], ["poll"]]"#)
        .op(1, "invoke", "txn", r#"[["send", "1", 2], ["poll"]]"#)
        .op(
            0,
            "ok",
            "txn",
            &format!(r#"[["send", "0", [0, 1]], ["poll", {{{}}}]]"#, reads[0]),
        )
        .op(
            1,
            "ok",
            "txn",
            &format!(r#"[["send", "1", [0, 2]], ["poll", {{{}}}]]"#, reads[1]),
        );
    h.op(2, "invoke", "poll", r#"[["poll"]]"#).op(
        2,
        "ok",
        "poll",
        r#"[["poll", {"0": [[0, 1]], "1": [[0, 2]]}]]"#,
    );
    h
}

#[test]
fn g1c_two_transactions_each_read_the_others_write() {
    // Each saw the other's write: neither can have come first.
    let cycle = two_transactions([r#""1": [[0, 2]]"#, r#""0": [[0, 1]]"#]);
    // Only the second saw the first's write: an order exists.
    let chain = two_transactions(["", r#""0": [[0, 1]]"#]);
    assert_flags(&cycle, &chain, &[("G1c", &[&[3, 4]])]);
    let report = cycle.judge();
    let case = &report.anomalies.of(Anomaly::G1c)[0];
    assert!(
        case.why.contains("the transaction at line 3 sent value 1 to key 0, which the transaction at line 4 polled")
            && case.why.contains("the transaction at line 4 sent value 2 to key 1, which the transaction at line 3 polled"),
        "{}",
        case.why
    );
}

/// Judged with write-write dependencies inferred from offsets (Jepsen's
/// `--ww-deps`), through serde.
fn judge_ww(h: &History) -> Report {
    judge_serde(h, Checker::with_ww_deps(true))
}

/// Judged through serde alone (the scanner reads only the fields it
/// judges, and leaves others to serde).
fn judge_serde(h: &History, mut checker: Checker) -> Report {
    for (i, line) in h.0.iter().enumerate() {
        let mut de = serde_json::Deserializer::from_str(line);
        checker.read(i as u64 + 1, &mut de).expect("a good line");
    }
    checker.finish()
}

/// Transactions of processes 0 and 1 each send to keys 0 and 1, landing
/// at `offsets` (the first's to key 0 and 1, the second's), then a poll
/// reads everything.
fn interleaved_writes(offsets: [u64; 4]) -> History {
    let [a, b, c, d] = offsets;
    let mut h = History::default();
    h.op(
        0,
        "invoke",
        "txn",
        r#"[["send", "0", 1], ["send", "1", 2]]"#,
    )
    .op(
        0,
        "ok",
        "txn",
        &format!(r#"[["send", "0", [{a}, 1]], ["send", "1", [{b}, 2]]]"#),
    )
    .op(
        1,
        "invoke",
        "txn",
        r#"[["send", "0", 3], ["send", "1", 4]]"#,
    )
    .op(
        1,
        "ok",
        "txn",
        &format!(r#"[["send", "0", [{c}, 3]], ["send", "1", [{d}, 4]]]"#),
    );
    let mut zero = [(a, 1), (c, 3)];
    let mut one = [(b, 2), (d, 4)];
    zero.sort();
    one.sort();
    let pairs = |r: [(u64, i64); 2]| format!("[{}, {}], [{}, {}]", r[0].0, r[0].1, r[1].0, r[1].1);
    h.op(2, "invoke", "poll", r#"[["poll"]]"#).op(
        2,
        "ok",
        "poll",
        &format!(
            r#"[["poll", {{"0": [{}], "1": [{}]}}]]"#,
            pairs(zero),
            pairs(one)
        ),
    );
    h
}

#[test]
fn g0_with_ww_deps_is_reported_and_allowed() {
    // The first transaction's send to key 0 precedes the second's, and
    // the second's to key 1 precedes the first's: a write cycle.
    let cycle = interleaved_writes([0, 1, 1, 0]);
    let ordered = interleaved_writes([0, 0, 1, 1]);
    let report = judge_ww(&cycle);
    assert_eq!(
        flagged(&report),
        vec![("G0", vec![vec![2, 4]])],
        "{report:#?}"
    );
    assert!(report.anomalies.of(Anomaly::G0)[0].allowed.is_some());
    assert_eq!(report.valid, Validity::Valid);
    assert_eq!(judge_ww(&ordered).anomalies.total(), 0);
    // Without --ww-deps, offsets order no transactions: nothing to see.
    assert_eq!(cycle.judge().anomalies.total(), 0);
}

#[test]
fn g1c_is_allowed_with_ww_deps() {
    let cycle = two_transactions([r#""1": [[0, 2]]"#, r#""0": [[0, 1]]"#]);
    let report = judge_ww(&cycle);
    assert_eq!(flagged(&report), vec![("G1c", vec![vec![3, 4]])]);
    assert_eq!(report.valid, Validity::Valid, "{report:#?}");
}

#[test]
fn unseen_a_value_of_a_send_that_must_have_committed() {
    // One send operation of two values, its outcome unknown: a poll of one
    // of them proves it happened (Jepsen's "must have committed"), so the
    // other, never polled, is unseen.
    let history = |polled: &[(u64, i64)]| {
        let mut h = History::default();
        h.op(
            0,
            "invoke",
            "send",
            r#"[["send", "0", 1], ["send", "1", 2]]"#,
        )
        .op(0, "info", "send", "null")
        .polled(1, "0", &polled[..polled.len().min(1)])
        .polled(1, "1", &polled[polled.len().min(1)..]);
        h
    };
    let bad = history(&[(0, 1)]);
    let clean = history(&[(0, 1), (0, 2)]);
    assert_flags(&bad, &clean, &[("unseen", &[&[2]])]);
    let report = bad.judge();
    let why = &report.anomalies.of(Anomaly::Unseen)[0].why;
    assert!(why.contains("must have committed"), "{why}");
    // With nothing of it polled, nothing says it happened.
    assert!(history(&[]).judge().is_valid());
}

#[test]
fn a_rebalance_during_a_poll_exempts_its_keys_from_int_anomalies() {
    let history = |rebalanced: &str| {
        let mut h = History::default();
        h.acked(0, "0", 0, 1)
            .acked(0, "0", 1, 2)
            .acked(0, "0", 2, 3)
            .polled(1, "0", &[(0, 1), (2, 3), (1, 2)]);
        let last = h.0.last_mut().expect("the poll");
        last.insert_str(
            last.len() - 1,
            &format!(r#", "rebalance-log": [{{"keys": [{rebalanced}], "generation": 3}}]"#),
        );
        h
    };
    let other = judge_serde(&history(r#""1""#), Checker::new());
    assert_eq!(
        flagged(&other),
        vec![
            ("int-poll-skip", vec![vec![4, 8]]),
            ("int-nonmonotonic-poll", vec![vec![8]])
        ]
    );
    let moved = judge_serde(&history(r#""0""#), Checker::new());
    assert_eq!(moved.anomalies.total(), 0, "{moved:#?}");
    assert!(moved.is_valid());
}
