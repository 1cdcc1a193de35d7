//! `kafka-oracle check`: the matrix, one scenario, or one configuration.

use super::{properties_file, EXIT_MISMATCH};
use crate::model_history::render_trace;
use crate::trace::Trace;
use clap::Args;
use kafka_oracle_models::check::{check, Options, Outcome, Progress, Search};
use kafka_oracle_models::config::{Config, KNOBS};
use kafka_oracle_models::scenarios::{scenario, Scenario, SCENARIOS};
use kafka_oracle_models::system::System;
use kafka_oracle_properties::{Class, CATALOGUE};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::Duration;

#[derive(Args)]
pub struct CheckArgs {
    /// Check only this scenario of the matrix (see --list).
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// List the scenarios of the matrix and exit.
    #[arg(long)]
    list: bool,
    /// List the knobs --set and --config accept and exit.
    #[arg(long)]
    knobs: bool,
    /// Check one configuration: a knob with Kafka's name (repeatable), e.g.
    /// --set acks=1 --set min.insync.replicas=2. Applied after --config.
    #[arg(long = "set", value_name = "KNOB=VALUE")]
    set: Vec<String>,
    /// Check one configuration read from a Kafka .properties file.
    #[arg(long, value_name = "FILE")]
    config: Option<String>,
    /// Print a machine-readable report on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Write the counterexample (of a single check) as a JSON trace.
    #[arg(long, value_name = "FILE")]
    trace_out: Option<String>,
    /// Write the counterexample (of a single check) as its clients'
    /// history (JSON lines, the format verify-history judges): the path,
    /// healed, and a final read.
    #[arg(long, value_name = "FILE")]
    history_out: Option<String>,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
    /// Checker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// The search: `auto` is depth-first with symmetry reduction for a
    /// check expected to pass (only fingerprints kept) and breadth-first for
    /// one expected to violate (short counterexamples first).
    #[arg(long, value_enum, default_value = "auto")]
    search: SearchArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SearchArg {
    Auto,
    Bfs,
    Dfs,
    DfsSymmetry,
}

/// One line of the report.
#[derive(Serialize)]
struct ResultLine {
    scenario: String,
    properties: Vec<&'static str>,
    expected: &'static str,
    expected_violated: Vec<&'static str>,
    verdict: &'static str,
    violated: Vec<&'static str>,
    sometimes_unreached: Vec<&'static str>,
    as_expected: bool,
    exhaustive: bool,
    unique_states: usize,
    states: usize,
    max_depth: usize,
    seconds: f64,
    counterexample: Option<Trace>,
}

#[derive(Serialize)]
struct Report {
    results: Vec<ResultLine>,
    all_as_expected: bool,
}

/// A check to run: a scenario of the matrix or the user's configuration.
struct Job {
    name: String,
    cfg: Config,
    judged: Vec<&'static str>,
    expected_violated: Vec<&'static str>,
    /// Only these properties count against the verdict (the user's
    /// configuration is held to Kafka's promise and at-least-once).
    must_hold: Vec<&'static str>,
}

impl Job {
    fn from_scenario(s: &Scenario) -> Result<Job, String> {
        let cfg = s
            .config()
            .map_err(|e| format!("scenario {}: {e}", s.name))?;
        let judged = s.judged();
        Ok(Job {
            name: s.name.to_string(),
            cfg,
            must_hold: judged.clone(),
            judged,
            expected_violated: s.expected_violated.to_vec(),
        })
    }

    /// The user's configuration, judged on the whole catalogue (what needs
    /// the consumer only if it runs).
    fn custom(cfg: Config) -> Job {
        let needs_consumer = [
            "at_least_once",
            "end_to_end_delivery",
            "message_consumed",
            "quiescence_reached",
        ];
        let needs_crash =
            cfg.faults.process_crashes + cfg.faults.machine_crashes + cfg.faults.power_losses > 0;
        let judged: Vec<&'static str> = CATALOGUE
            .iter()
            .map(|p| p.name)
            .filter(|n| cfg.consumer || !needs_consumer.contains(n))
            .filter(|n| needs_crash || *n != "leader_failover")
            .collect();
        let must_hold = CATALOGUE
            .iter()
            .filter(|p| matches!(p.class, Class::KafkaPromise | Class::Consumption))
            .map(|p| p.name)
            .filter(|n| judged.contains(n))
            .collect();
        Job {
            name: "configuration".to_string(),
            cfg,
            judged,
            expected_violated: Vec::new(),
            must_hold,
        }
    }
}

fn custom_config(args: &CheckArgs) -> Result<Option<Config>, String> {
    if args.config.is_none() && args.set.is_empty() {
        return Ok(None);
    }
    // Without faults there is nothing to survive: start from one crash of a
    // replica process and one message, the matrix's "safe" bounds.
    let mut cfg = Config {
        messages: 1,
        ..Config::default()
    };
    cfg.faults.process_crashes = 1;
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let mut given = properties_file::KnobsGiven::new(path);
        for (line, knob, value) in properties_file::parse(path, &text)? {
            cfg.set(&knob, &value)
                .map_err(|e| format!("{path}:{line}: {e}"))?;
            given.note(Some(line), &knob, &value)?;
        }
    }
    let mut given = properties_file::KnobsGiven::new("--set");
    for pair in &args.set {
        let (knob, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--set {pair}: expected KNOB=VALUE"))?;
        cfg.set(knob, value).map_err(|e| format!("--set {e}"))?;
        given.note(None, knob.trim(), value.trim())?;
    }
    let source = args.config.as_deref().unwrap_or("--set");
    cfg.validate().map_err(|e| format!("{source}: {e}"))?;
    Ok(Some(cfg))
}

pub fn run(args: CheckArgs) -> Result<u8, String> {
    if args.list {
        for s in SCENARIOS {
            let expected = if s.expects_pass() {
                "pass".to_string()
            } else {
                format!("violation of {}", s.expected_violated.join(", "))
            };
            say!("{:32} {expected}", s.name);
            say!("{:32} {}", "", s.explanation);
            say!("{:32} literature: {}", "", s.row);
        }
        return Ok(0);
    }
    if args.knobs {
        for (knob, values) in KNOBS {
            say!("{knob:34} {values}");
        }
        return Ok(0);
    }
    let jobs = match (custom_config(&args)?, &args.scenario) {
        (Some(_), Some(_)) => {
            return Err("--scenario and --set/--config exclude each other".to_string())
        }
        (Some(cfg), None) => vec![Job::custom(cfg)],
        (None, Some(name)) => {
            let s = scenario(name).ok_or_else(|| {
                format!("no scenario '{name}' (kafka-oracle check --list lists them)")
            })?;
            vec![Job::from_scenario(s)?]
        }
        (None, None) => SCENARIOS
            .iter()
            .map(Job::from_scenario)
            .collect::<Result<_, _>>()?,
    };
    if (args.trace_out.is_some() || args.history_out.is_some()) && jobs.len() != 1 {
        return Err(
            "--trace-out and --history-out need a single check: --scenario NAME or --set/--config"
                .to_string(),
        );
    }
    let outputs = [
        ("--trace-out", &args.trace_out),
        ("--history-out", &args.history_out),
    ];
    for (flag, path) in outputs {
        if let Some(path) = path {
            super::check_output_path(flag, path)?;
        }
    }
    let options = Options {
        threads: args.threads.unwrap_or(Options::default().threads).max(1),
        search: match args.search {
            SearchArg::Auto => Search::Auto,
            SearchArg::Bfs => Search::BreadthFirst,
            SearchArg::Dfs => Search::DepthFirst,
            SearchArg::DfsSymmetry => Search::DepthFirstSymmetric,
        },
    };
    let single = jobs.len() == 1;
    let mut results = Vec::new();
    if !args.json {
        say!(
            "{:32} {:10} {:10} {:28} {:>11} {:>8}",
            "scenario",
            "expected",
            "verdict",
            "violated",
            "states",
            "seconds"
        );
    }
    for job in &jobs {
        let line = run_job(job, options, args.quiet)?;
        if !args.json {
            print_line(&line);
            if single || !line.as_expected {
                if let Some(trace) = &line.counterexample {
                    print_counterexample(trace);
                }
            }
        }
        results.push(line);
    }
    if let Some(path) = &args.trace_out {
        match &results[0].counterexample {
            Some(trace) => {
                let json = serde_json::to_string_pretty(trace).map_err(|e| e.to_string())?;
                std::fs::write(path, json + "\n").map_err(|e| format!("{path}: {e}"))?;
            }
            None => eprintln!("kafka-oracle: no counterexample, {path} not written"),
        }
    }
    if let Some(path) = &args.history_out {
        match &results[0].counterexample {
            Some(trace) => {
                let history = render_trace(trace)?;
                history.write(path)?;
                if !args.quiet {
                    eprintln!("{path}: {}", history.summary());
                }
            }
            None => eprintln!("kafka-oracle: no counterexample, {path} not written"),
        }
    }
    let all_as_expected = results.iter().all(|r| r.as_expected);
    if args.json {
        let report = Report {
            results,
            all_as_expected,
        };
        say!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        let mismatches = results.iter().filter(|r| !r.as_expected).count();
        say!(
            "\n{} of {} checks as expected{}",
            results.len() - mismatches,
            results.len(),
            if single {
                ""
            } else {
                " (--scenario NAME shows a counterexample)"
            }
        );
    }
    Ok(if all_as_expected { 0 } else { EXIT_MISMATCH })
}

fn run_job(job: &Job, options: Options, quiet: bool) -> Result<ResultLine, String> {
    let mut last = Duration::ZERO;
    let every = if std::io::stderr().is_terminal() {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let name = job.name.clone();
    let mut progress = |p: Progress| {
        if quiet || p.elapsed < last + every {
            return;
        }
        last = p.elapsed;
        let rate = p.unique_states as f64 / p.elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "{name}: {} states, {:.0} states/s, depth {}, {:.0} s",
            p.unique_states,
            rate,
            p.max_depth,
            p.elapsed.as_secs_f64()
        );
    };
    let outcome: Outcome = check(
        &job.cfg,
        &job.judged,
        &job.expected_violated,
        options,
        &mut progress,
    );
    // The verdict speaks of the properties the check is held to; every
    // violation is listed, and a check that left a "sometimes" property
    // unreached proved nothing.
    let broken = outcome.violated.iter().any(|v| job.must_hold.contains(v));
    let as_expected = outcome.unreached.is_empty()
        && if job.expected_violated.is_empty() {
            !broken
        } else {
            job.expected_violated
                .iter()
                .all(|e| outcome.violated.contains(e))
                && outcome
                    .violated
                    .iter()
                    .all(|v| job.expected_violated.contains(v))
        };
    let system = System::new(job.cfg.clone(), &job.judged);
    let counterexample = outcome
        .counterexample
        .as_ref()
        .map(|c| Trace::new(&system, Some(&job.name), &job.judged, c));
    Ok(ResultLine {
        scenario: job.name.clone(),
        properties: job.judged.clone(),
        expected: if job.expected_violated.is_empty() {
            "pass"
        } else {
            "violation"
        },
        expected_violated: job.expected_violated.clone(),
        verdict: if broken { "violation" } else { "pass" },
        violated: outcome.violated.clone(),
        sometimes_unreached: outcome.unreached.clone(),
        as_expected,
        exhaustive: outcome.exhaustive,
        unique_states: outcome.unique_states,
        states: outcome.states,
        max_depth: outcome.max_depth,
        seconds: outcome.elapsed.as_secs_f64(),
        counterexample,
    })
}

fn print_line(r: &ResultLine) {
    let mark = if r.as_expected {
        ""
    } else {
        "   <-- NOT AS EXPECTED"
    };
    let violated = if r.violated.is_empty() {
        "-".to_string()
    } else {
        r.violated.join(",")
    };
    say!(
        "{:32} {:10} {:10} {:28} {:>11} {:>8.1}{mark}",
        r.scenario,
        r.expected,
        r.verdict,
        violated,
        r.unique_states,
        r.seconds
    );
    if !r.sometimes_unreached.is_empty() {
        say!(
            "{:32} never reached: {}",
            "",
            r.sometimes_unreached.join(", ")
        );
    }
}

fn print_counterexample(trace: &Trace) {
    say!(
        "\nCounterexample to {} ({} steps):",
        trace.property,
        trace.steps.len()
    );
    for step in &trace.steps {
        say!("{:4}. {}", step.step, step.description);
    }
    say!("      => {}\n", trace.why);
}
