//! `kafka-oracle check`: the matrix, one scenario, or one configuration.

use super::{properties_file, EXIT_INCONCLUSIVE, EXIT_MISMATCH};
use crate::model_history::render_trace;
use crate::trace::Trace;
use clap::Args;
use kafka_oracle_models::check::{check_until, Options, Outcome, Progress, Search, Stop, Until};
use kafka_oracle_models::config::{Bounds, Config, KNOBS};
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
    /// The bounds of a configuration's check (--set/--config, or alone for
    /// the recommended settings): small (1 message, 1 replica process
    /// crash), default (2 messages, 1 process crash) or large (2 messages,
    /// a process and a machine crash, a lost message, a consumer crash).
    /// `model.*` knobs given with --set or --config win.
    #[arg(long, value_enum)]
    bounds: Option<BoundsArg>,
    /// Show (and write with --trace-out/--history-out) the counterexample
    /// to this property; by default every violated property's is shown and
    /// the first written.
    #[arg(long, value_name = "NAME")]
    property: Option<String>,
    /// Search a configuration to exhaustion even once a property of Kafka's
    /// promise is violated (by default the check stops there: its verdict
    /// is known).
    #[arg(long)]
    go_on: bool,
    /// Stop each search after this many seconds; the report says what was
    /// not searched.
    #[arg(long, value_name = "SECONDS")]
    max_seconds: Option<f64>,
    /// Stop each search once the process holds this many megabytes.
    #[arg(long, value_name = "MB")]
    max_memory: Option<u64>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BoundsArg {
    Small,
    Default,
    Large,
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
    /// Violated properties that are not part of what the check is held to
    /// (shown for information: Kafka does not promise them).
    informational: Vec<&'static str>,
    as_expected: bool,
    exhaustive: bool,
    /// Why the search ended before it saw every state, if it did.
    stopped: Option<&'static str>,
    search: &'static str,
    /// The bounds of the search in words (also in `configuration`).
    bounds: String,
    /// Every knob of the configuration checked, model bounds included.
    configuration: serde_json::Map<String, serde_json::Value>,
    unique_states: usize,
    states: usize,
    max_depth: usize,
    seconds: f64,
    /// The counterexample shown first: to `--property`, or to the first
    /// violated property the check is held to.
    counterexample: Option<Trace>,
    /// One shortest counterexample per violated property.
    counterexamples: Vec<Trace>,
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
    /// The user's configuration, not a scenario of the matrix.
    is_custom: bool,
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
            is_custom: false,
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
            is_custom: true,
        }
    }
}

fn custom_config(args: &CheckArgs) -> Result<Option<Config>, String> {
    // `--bounds` alone checks the recommended settings at those bounds.
    if args.config.is_none() && args.set.is_empty() && args.bounds.is_none() {
        return Ok(None);
    }
    // Without faults there is nothing to survive: the bounds give the
    // messages and the faults, and the user's `model.*` knobs win.
    let bounds = match args.bounds {
        None | Some(BoundsArg::Default) => Bounds::Default,
        Some(BoundsArg::Small) => Bounds::Small,
        Some(BoundsArg::Large) => Bounds::Large,
    };
    let mut cfg = Config::default();
    for (knob, value) in bounds.knobs() {
        cfg.set(knob, value).map_err(|e| format!("--bounds: {e}"))?;
    }
    let mut asked_consumer_crashes = false;
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let mut given = properties_file::KnobsGiven::new(path);
        for (line, knob, value) in properties_file::parse(path, &text)? {
            asked_consumer_crashes |= knob == "model.consumer.crashes";
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
        asked_consumer_crashes |= knob.trim() == "model.consumer.crashes";
        cfg.set(knob, value).map_err(|e| format!("--set {e}"))?;
        given.note(None, knob.trim(), value.trim())?;
    }
    // The bounds' consumer crash is for a consumer that runs: one left out
    // (model.consumer=false) has none, unless the user asked for one, which
    // `validate` then refuses.
    if !cfg.consumer && !asked_consumer_crashes {
        cfg.faults.consumer_crashes = 0;
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
            return Err("--scenario and --set/--config/--bounds exclude each other".to_string())
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
    if let Some(name) = &args.property {
        if !CATALOGUE.iter().any(|p| p.name == name) {
            return Err(format!(
                "--property {name}: no such property (the README's catalogue lists them)"
            ));
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
        max_seconds: args.max_seconds,
        max_memory_bytes: args.max_memory.map(|mb| mb * 1024 * 1024),
    };
    if options
        .max_seconds
        .is_some_and(|s| !s.is_finite() || s <= 0.0)
    {
        return Err("--max-seconds: expected a positive number of seconds".to_string());
    }
    let single = jobs.len() == 1;
    let mut results = Vec::new();
    if !args.json {
        say!(
            "{:32} {:10} {:12} {:28} {:>11} {:>8}  bounds",
            "scenario",
            "expected",
            "verdict",
            "violated",
            "states",
            "seconds"
        );
    }
    for job in &jobs {
        let line = run_job(job, options, &args)?;
        if !args.json {
            print_line(&line);
            if single || !line.as_expected {
                print_counterexamples(&line, job, args.property.as_deref());
            }
        }
        results.push(line);
    }
    let written = results[0].counterexample.as_ref();
    if let Some(path) = &args.trace_out {
        match written {
            Some(trace) => {
                let json = serde_json::to_string_pretty(trace).map_err(|e| e.to_string())?;
                std::fs::write(path, json + "\n").map_err(|e| format!("{path}: {e}"))?;
            }
            None => eprintln!("kafka-oracle: no counterexample, {path} not written"),
        }
    }
    if let Some(path) = &args.history_out {
        match written {
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
    let mismatched = results
        .iter()
        .any(|r| !r.as_expected && r.verdict != "inconclusive");
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
    Ok(if all_as_expected {
        0
    } else if mismatched {
        EXIT_MISMATCH
    } else {
        EXIT_INCONCLUSIVE
    })
}

/// Progress on stderr: a spinner line on a terminal, a line every ten
/// seconds otherwise, nothing with --quiet.
struct ProgressReport {
    name: String,
    bar: Option<indicatif::ProgressBar>,
    last: Duration,
    quiet: bool,
}

impl ProgressReport {
    fn new(name: &str, quiet: bool) -> ProgressReport {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        ProgressReport {
            name: name.to_string(),
            bar,
            last: Duration::ZERO,
            quiet,
        }
    }

    fn update(&mut self, p: &Progress) {
        if self.quiet {
            return;
        }
        let rate = p.unique_states as f64 / p.elapsed.as_secs_f64().max(1e-9);
        let found = if p.violated.is_empty() {
            String::new()
        } else {
            format!("; violated so far: {}", p.violated.join(", "))
        };
        let line = format!(
            "{}: {} states, {:.0} states/s, depth {}, {:.0} s{found}",
            self.name,
            p.unique_states,
            rate,
            p.max_depth,
            p.elapsed.as_secs_f64()
        );
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None if p.elapsed >= self.last + Duration::from_secs(10) => {
                self.last = p.elapsed;
                eprintln!("{line}");
            }
            None => {}
        }
    }

    fn done(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn run_job(job: &Job, options: Options, args: &CheckArgs) -> Result<ResultLine, String> {
    let mut report = ProgressReport::new(&job.name, args.quiet);
    let until = if !job.expected_violated.is_empty() {
        Until::AllViolated(job.expected_violated.clone())
    } else if job.is_custom && !args.go_on {
        Until::AnyViolated(job.must_hold.clone())
    } else {
        Until::Exhausted
    };
    let outcome: Outcome = check_until(&job.cfg, &job.judged, until, options, &mut |p| {
        report.update(&p)
    });
    report.done();
    // The verdict speaks of the properties the check is held to; every
    // violation is listed, and a check that left a "sometimes" property
    // unreached proved nothing.
    let broken = outcome.violated.iter().any(|v| job.must_hold.contains(v));
    // A search stopped by a limit before it found a violation has no
    // verdict: what it did not search might hold one.
    let inconclusive = !broken && !outcome.exhaustive && outcome.stopped != Some(Stop::Answered);
    let as_expected = !inconclusive
        && outcome.unreached.is_empty()
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
    let counterexamples: Vec<Trace> = outcome
        .counterexamples
        .iter()
        .map(|c| Trace::new(&system, Some(&job.name), &job.judged, c))
        .collect();
    let first = match &args.property {
        Some(name) => counterexamples.iter().find(|t| t.property == *name),
        None => counterexamples
            .iter()
            .find(|t| job.must_hold.iter().any(|m| t.property == *m))
            .or(counterexamples.first()),
    };
    Ok(ResultLine {
        scenario: job.name.clone(),
        properties: job.judged.clone(),
        expected: if job.expected_violated.is_empty() {
            "pass"
        } else {
            "violation"
        },
        expected_violated: job.expected_violated.clone(),
        verdict: if broken {
            "violation"
        } else if inconclusive {
            "inconclusive"
        } else {
            "pass"
        },
        violated: outcome.violated.clone(),
        informational: outcome
            .violated
            .iter()
            .copied()
            .filter(|v| !job.must_hold.contains(v))
            .collect(),
        sometimes_unreached: outcome.unreached.clone(),
        as_expected,
        exhaustive: outcome.exhaustive,
        stopped: outcome.stopped.map(|s| s.describe()),
        search: outcome.search.name(),
        bounds: job.cfg.bounds(),
        configuration: crate::trace::configuration(&job.cfg),
        unique_states: outcome.unique_states,
        states: outcome.states,
        max_depth: outcome.max_depth,
        seconds: outcome.elapsed.as_secs_f64(),
        counterexample: first.cloned(),
        counterexamples,
    })
}

/// The width of the `violated` column: a longer list goes on a line of its
/// own, so the columns stay aligned.
const VIOLATED_WIDTH: usize = 28;

fn print_line(r: &ResultLine) {
    let mark = if r.as_expected {
        ""
    } else {
        "   <-- NOT AS EXPECTED"
    };
    let held_to: Vec<&str> = r
        .violated
        .iter()
        .copied()
        .filter(|v| !r.informational.contains(v))
        .collect();
    let violated = if held_to.is_empty() {
        "-".to_string()
    } else {
        held_to.join(",")
    };
    let (column, below) = if violated.len() > VIOLATED_WIDTH {
        ("(below)".to_string(), Some(violated))
    } else {
        (violated, None)
    };
    say!(
        "{:32} {:10} {:12} {:28} {:>11} {:>8.1}  {}{mark}",
        r.scenario,
        r.expected,
        r.verdict,
        column,
        r.unique_states,
        r.seconds,
        r.bounds
    );
    if let Some(list) = below {
        say!("{:32} violated: {list}", "");
    }
    if !r.informational.is_empty() {
        say!(
            "{:32} also violated, informational (not what this check is held to): {}",
            "",
            r.informational.join(", ")
        );
    }
    if !r.sometimes_unreached.is_empty() {
        say!(
            "{:32} never reached: {}",
            "",
            r.sometimes_unreached.join(", ")
        );
    }
    if let Some(why) = r.stopped {
        say!(
            "{:32} not exhaustive: {why} ({} search); properties not found violated were judged only on the states searched",
            "",
            r.search
        );
    }
}

/// The counterexamples of one check: the one `--property` names, or each
/// violated property's, those the check is held to first, the
/// informational ones under their own heading.
fn print_counterexamples(line: &ResultLine, job: &Job, property: Option<&str>) {
    let (held, informational): (Vec<&Trace>, Vec<&Trace>) = line
        .counterexamples
        .iter()
        .filter(|t| property.is_none_or(|p| t.property == p))
        .partition(|t| job.must_hold.iter().any(|m| t.property == *m));
    if let Some(p) = property {
        if held.is_empty() && informational.is_empty() {
            say!("\nNo counterexample to {p}: not found violated in this check.");
        }
    }
    for trace in held {
        print_counterexample("Counterexample to", trace);
    }
    if !informational.is_empty() {
        say!("\nInformational: properties Kafka does not promise, found violated here.");
    }
    for trace in informational {
        print_counterexample("Informational counterexample to", trace);
    }
}

fn print_counterexample(heading: &str, trace: &Trace) {
    let unconfirmed = if trace.shortest {
        ""
    } else {
        ", not confirmed shortest: the search for a shorter one outgrew its budget"
    };
    say!(
        "\n{heading} {} ({} steps{unconfirmed}):",
        trace.property,
        trace.steps.len()
    );
    for step in &trace.steps {
        say!("{:4}. {}", step.step, step.description);
    }
    say!("      => {}\n", trace.why);
}
