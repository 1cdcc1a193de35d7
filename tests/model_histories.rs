//! Model traces as histories: every counterexample of the check matrix,
//! rendered as its clients' history, is flagged by verify-history with an
//! anomaly of its property's row in `CLIENT_VIEW`, or shows nothing for the
//! reason that row gives, checked on the model's state; the histories of
//! paths through the scenarios that pass show no anomaly of a property they
//! are judged on; and in a path of any scenario, every anomaly is one of a
//! property the model found broken on that path.

use kafka_oracle::conform::traces;
use kafka_oracle::history::verify;
use kafka_oracle::model_history::{client_view, render, History, CLIENT_VIEW, HEAL_STEPS_MAX};
use kafka_oracle_models::check::{check, Options};
use kafka_oracle_models::scenarios::SCENARIOS;
use kafka_oracle_models::system::{Action, System};
use kafka_oracle_properties::history::{Anomaly, Report};
use kafka_oracle_properties::{Judge, MsgId, CATALOGUE};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Instant;

/// Judges a rendered history, which must be good input and end in a
/// settled model: healing ran out of actions, not of steps.
fn judge(history: &History) -> Report {
    assert!(
        history.heal_steps < HEAL_STEPS_MAX,
        "healing did not settle:\n{}",
        history.to_jsonl()
    );
    verify(history.to_jsonl().as_bytes()).unwrap_or_else(|e| {
        panic!(
            "the rendered history is bad input: line {}: {}\n{}",
            e.line,
            e.message,
            history.to_jsonl()
        )
    })
}

fn reported(report: &Report) -> BTreeSet<Anomaly> {
    Anomaly::ALL
        .into_iter()
        .filter(|&a| !report.anomalies.of(a).is_empty())
        .collect()
}

/// What the history's lines say, read with serde_json apart from the
/// checker: the values acknowledged by an ok send, and (offset, value) of
/// every record an ok poll returned (the final read's apart).
struct Lines {
    acked: BTreeSet<i64>,
    polled: BTreeSet<(u64, i64)>,
    final_read: BTreeSet<(u64, i64)>,
}

fn lines(history: &History) -> Lines {
    let mut l = Lines {
        acked: BTreeSet::new(),
        polled: BTreeSet::new(),
        final_read: BTreeSet::new(),
    };
    for line in &history.lines {
        if line["type"] != "ok" {
            continue;
        }
        let mops = line["value"].as_array().cloned().unwrap_or_default();
        for mop in mops {
            match (line["f"].as_str(), &mop[2], &mop[1]) {
                (Some("send"), Value::Array(done), _) => {
                    l.acked.insert(done[1].as_i64().unwrap());
                }
                (Some("poll"), _, Value::Object(keys)) => {
                    let into = if line["process"] == 2 {
                        &mut l.final_read
                    } else {
                        &mut l.polled
                    };
                    for pair in keys["0"].as_array().unwrap() {
                        into.insert((pair[0].as_u64().unwrap(), pair[1].as_i64().unwrap()));
                    }
                }
                _ => {}
            }
        }
    }
    l
}

fn values(records: &BTreeSet<(u64, i64)>) -> BTreeSet<i64> {
    records.iter().map(|&(_, v)| v).collect()
}

/// Why the clients cannot see the violation of `property` the history
/// shows nothing of, checked on the model's last state: `Err` if the
/// reason the row gives does not hold.
fn invisible_because(property: &str, history: &History, system: &System) -> Result<(), String> {
    let obs = system.observe(&history.last);
    let l = lines(history);
    let read = values(&l.final_read);
    match property {
        "committed_never_lost" | "committed_durable" => {
            let lost: Vec<MsgId> = obs
                .committed
                .iter()
                .copied()
                .filter(|&m| !read.contains(&i64::from(m)))
                .collect();
            if lost.is_empty() {
                return Err("no committed message is missing from the final read".into());
            }
            match lost.iter().find(|&&m| l.acked.contains(&i64::from(m))) {
                Some(m) => Err(format!("m{m} is lost and was acknowledged")),
                None => Ok(()),
            }
        }
        "at_least_once" => {
            let skipped: Vec<&MsgId> = obs
                .producer
                .acked
                .iter()
                .filter(|m| !obs.consumer.processed.contains(m))
                .collect();
            match skipped.iter().find(|&&&m| !read.contains(&i64::from(m))) {
                Some(m) => Err(format!("m{m} is missing from the final read")),
                None if skipped.is_empty() => {
                    Err("every acknowledged message was processed".into())
                }
                None => Ok(()),
            }
        }
        "no_duplicates" => {
            let all: Vec<i64> = l.polled.union(&l.final_read).map(|&(_, v)| v).collect();
            let distinct: BTreeSet<&i64> = all.iter().collect();
            if distinct.len() < all.len() {
                return Err("a value was read at two offsets".into());
            }
            Ok(())
        }
        _ => match client_view(property) {
            Some(row) if row.anomalies.is_empty() => Ok(()),
            _ => Err(format!("no reason checked for {property}")),
        },
    }
}

/// The anomalies the lines themselves call for, whatever the property.
/// What the final read did not return is judged only when a leader served
/// it (it read the key to its end).
fn called_for(history: &History) -> BTreeSet<Anomaly> {
    let l = lines(history);
    let mut calls = BTreeSet::new();
    let read: BTreeSet<i64> = values(&l.polled)
        .union(&values(&l.final_read))
        .copied()
        .collect();
    let complete = history.final_reader_of.is_some();
    if complete && l.acked.iter().any(|v| !read.contains(v)) {
        calls.insert(Anomaly::Unseen);
    }
    let finally = values(&l.final_read);
    let gone = |v: &i64| l.acked.contains(v) && !finally.contains(v);
    if complete && values(&l.polled).iter().any(gone) {
        calls.insert(Anomaly::LostAfterRead);
    }
    let records: BTreeSet<(u64, i64)> = l.polled.union(&l.final_read).copied().collect();
    if records.len() > values(&records).len() {
        calls.insert(Anomaly::Duplicate);
    }
    calls
}

#[test]
fn every_counterexample_shows_its_propertys_anomaly_or_is_one_clients_cannot_see() {
    let started = Instant::now();
    let (mut seen, mut unseen) = (0, 0);
    for s in SCENARIOS.iter().filter(|s| !s.expects_pass()) {
        let cfg = s.config().unwrap();
        let judged = s.judged();
        let outcome = check(
            &cfg,
            &judged,
            s.expected_violated,
            Options {
                threads: 1,
                ..Options::default()
            },
            &mut |_| {},
        );
        let c = outcome
            .counterexamples
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{}: no counterexample", s.name));
        let system = System::new(cfg, &judged);
        let actions: Vec<Action> = c.steps.iter().map(|step| step.action.clone()).collect();
        let history = render(&system, &actions);
        let report = judge(&history);
        let row = client_view(c.property)
            .unwrap_or_else(|| panic!("{}: no client view of {}", s.name, c.property));
        let anomalies = reported(&report);
        let context = || format!("{} ({}):\n{}", s.name, c.property, history.to_jsonl());
        for a in &anomalies {
            assert!(
                row.anomalies.contains(a),
                "{}: {} is not in the row",
                context(),
                a.name()
            );
        }
        for a in called_for(&history) {
            assert!(
                anomalies.contains(&a),
                "{}: {} not reported",
                context(),
                a.name()
            );
        }
        let names: Vec<&str> = anomalies.iter().map(|a| a.name()).collect();
        if anomalies.is_empty() {
            invisible_because(c.property, &history, &system)
                .unwrap_or_else(|e| panic!("{}: shows nothing, yet {e}", context()));
            unseen += 1;
        } else {
            seen += 1;
        }
        eprintln!(
            "{:32} {:26} {:24} {} steps + {} healing",
            s.name,
            c.property,
            if names.is_empty() {
                "client-invisible".to_string()
            } else {
                names.join(", ")
            },
            history.path_steps,
            history.heal_steps
        );
    }
    eprintln!(
        "{} counterexamples rendered and judged in {:.1?}: {seen} flagged, {unseen} invisible to the clients",
        seen + unseen,
        started.elapsed()
    );
}

/// The properties whose violation a history shows as `anomaly`.
fn shown_by(anomaly: Anomaly) -> Vec<&'static str> {
    CLIENT_VIEW
        .iter()
        .filter(|row| row.anomalies.contains(&anomaly))
        .map(|row| row.property)
        .collect()
}

const DEPTH: usize = 14;
const PATHS: usize = 1500;
const WALKS: usize = 1000;
const WALK_LENGTH: usize = 60;
const SEED: u64 = 20261123;

#[test]
fn paths_through_passing_scenarios_show_no_anomaly_of_a_judged_property() {
    let started = Instant::now();
    let (mut histories, mut valid, mut operations) = (0, 0, 0);
    for (n, s) in SCENARIOS
        .iter()
        .enumerate()
        .filter(|(_, s)| s.expects_pass())
    {
        let system = System::new(s.config().unwrap(), &s.judged());
        let mut paths = traces::breadth_first(&system, DEPTH, PATHS);
        let seed = SEED.wrapping_add(n as u64);
        for w in 0..WALKS {
            let walk_seed = seed.wrapping_mul(1_000_003).wrapping_add(w as u64);
            paths.push(traces::random_walk(&system, WALK_LENGTH, walk_seed));
        }
        let mut shown = BTreeSet::new();
        for path in &paths {
            let history = render(&system, path);
            let report = judge(&history);
            histories += 1;
            operations += report.ops;
            valid += usize::from(report.is_valid());
            for a in reported(&report) {
                let judged: Vec<&str> = shown_by(a)
                    .into_iter()
                    .filter(|p| s.judged().contains(p))
                    .collect();
                assert!(
                    !shown_by(a).is_empty() && judged.is_empty(),
                    "{}: {} shows {:?}, judged here:\n{}",
                    s.name,
                    a.name(),
                    judged,
                    history.to_jsonl()
                );
                shown.insert(a.name());
            }
        }
        eprintln!(
            "{:32} {} paths; anomalies of properties not judged here: {:?}",
            s.name,
            paths.len(),
            shown
        );
    }
    eprintln!(
        "{histories} histories ({operations} operations) rendered and judged in {:.1?}, {valid} valid",
        started.elapsed()
    );
    assert!(histories > 0);
}

#[test]
fn an_anomaly_in_any_rendered_path_is_a_violation_the_model_judged() {
    // Every property judged, so the path's last state says every one the
    // path (and its healing) broke.
    let everything: Vec<&str> = CATALOGUE.iter().map(|p| p.name).collect();
    let started = Instant::now();
    let (mut histories, mut flagged) = (0, 0);
    let mut by_anomaly = std::collections::BTreeMap::new();
    for (n, s) in SCENARIOS.iter().enumerate() {
        let system = System::new(s.config().unwrap(), &everything);
        let mut paths = traces::breadth_first(&system, DEPTH, 800);
        let seed = SEED.wrapping_add(n as u64);
        for w in 0..600 {
            let walk_seed = seed.wrapping_mul(1_000_003).wrapping_add(w as u64);
            paths.push(traces::random_walk(&system, WALK_LENGTH, walk_seed));
        }
        for path in &paths {
            let history = render(&system, path);
            let report = judge(&history);
            histories += 1;
            let broken: Vec<&str> = everything
                .iter()
                .copied()
                .filter(|p| kafka_oracle_models::check::violates(&history.last, p))
                .collect();
            for a in reported(&report) {
                assert!(
                    shown_by(a).iter().any(|p| broken.contains(p)),
                    "{}: {} reported, yet the model broke only {:?}:\n{}",
                    s.name,
                    a.name(),
                    broken,
                    history.to_jsonl()
                );
                *by_anomaly.entry(a.name()).or_insert(0) += 1;
            }
            flagged += usize::from(!report.is_valid());
        }
    }
    eprintln!(
        "{histories} paths of every scenario rendered and judged in {:.1?}; {flagged} flagged, each for a property the model broke: {by_anomaly:?}",
        started.elapsed()
    );
}

#[test]
fn the_client_view_has_a_row_for_every_property_judged_on_states() {
    for p in CATALOGUE {
        let row = client_view(p.name);
        match p.judge {
            Judge::Sometimes(_) => assert!(row.is_none(), "{}", p.name),
            _ => assert!(row.is_some(), "{} has no row", p.name),
        }
    }
    let rows: BTreeSet<&str> = CLIENT_VIEW.iter().map(|row| row.property).collect();
    assert_eq!(rows.len(), CLIENT_VIEW.len(), "one row a property");
}
