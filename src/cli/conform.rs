//! `kafka-oracle conform`: the model's traces replayed on the broker core.

use super::EXIT_MISMATCH;
use crate::bugs;
use crate::conform::{replay, traces, Divergence};
use crate::trace::Trace;
use clap::Args;
use kafka_oracle_models::check::{Counterexample, Step};
use kafka_oracle_models::scenarios::{scenario, Scenario, SCENARIOS};
use kafka_oracle_models::system::{Action, System};
use serde::Serialize;
use stateright::Model;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

#[derive(Args)]
pub struct ConformArgs {
    /// Replay only this scenario's configuration (default: every one of
    /// the matrix; `kafka-oracle check --list` lists them).
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// Breadth-first paths of the model up to this many steps.
    #[arg(long, default_value_t = 8)]
    depth: usize,
    /// At most this many breadth-first paths per scenario.
    #[arg(long, default_value_t = 400)]
    paths: usize,
    /// Random walks per scenario.
    #[arg(long, default_value_t = 100)]
    walks: usize,
    /// Steps of each random walk at most.
    #[arg(long, default_value_t = 60)]
    walk_length: usize,
    /// Seed of the random walks (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Print a machine-readable report on stdout.
    #[arg(long)]
    json: bool,
    /// Write the first diverging trace here, in the trace schema.
    #[arg(long, value_name = "FILE")]
    trace_out: Option<String>,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
    /// Build the broker replicas or the consumer loop with a known bug, to see
    /// conformance catch it (only in builds with the inject-bugs feature).
    #[arg(long, value_name = "NAME", hide = true)]
    inject_bug: Option<String>,
}

#[derive(Serialize)]
struct DivergenceReport {
    scenario: String,
    /// `bfs`, `walk` (with its seed) or `counterexample`.
    trace: String,
    step: usize,
    action: String,
    what: String,
}

#[derive(Serialize, Default)]
struct ScenarioReport {
    scenario: String,
    traces: usize,
    steps: usize,
    states_compared: usize,
    divergences: usize,
    seconds: f64,
}

#[derive(Serialize)]
struct Report {
    seed: u64,
    traces: usize,
    steps: usize,
    states_compared: usize,
    divergences: Vec<DivergenceReport>,
    seconds: f64,
    traces_per_second: f64,
    scenarios: Vec<ScenarioReport>,
}

/// A scratch directory where fsync is cheap if the machine has one.
fn scratch_root() -> Result<tempfile::TempDir, String> {
    let shm = Path::new("/dev/shm");
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("kafka-oracle-conform-");
        b
    };
    builder()
        .tempdir_in(shm)
        .or_else(|_| builder().tempdir())
        .map_err(|e| format!("cannot make a scratch directory: {e}"))
}

pub fn run(args: ConformArgs) -> Result<u8, String> {
    if let Some(path) = &args.trace_out {
        super::check_output_path("--trace-out", path)?;
    }
    let scenarios: Vec<&Scenario> = match &args.scenario {
        Some(name) => vec![scenario(name).ok_or_else(|| {
            format!("no scenario '{name}' (kafka-oracle check --list lists them)")
        })?],
        None => SCENARIOS.iter().collect(),
    };
    let bug = match &args.inject_bug {
        None => None,
        Some(name) => Some(bugs::named(name, bugs::AVAILABLE)?),
    };
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    if !args.quiet {
        eprintln!("seed {seed} (--seed {seed} replays the same walks)");
    }
    let root = scratch_root()?;
    let started = Instant::now();
    let mut report = Report {
        seed,
        traces: 0,
        steps: 0,
        states_compared: 0,
        divergences: Vec::new(),
        seconds: 0.0,
        traces_per_second: 0.0,
        scenarios: Vec::new(),
    };
    let mut first_divergence: Option<(System, Vec<Action>, Divergence, String)> = None;
    for (n, s) in scenarios.iter().enumerate() {
        let cfg = s
            .config()
            .map_err(|e| format!("scenario {}: {e}", s.name))?;
        let system = System::new(cfg.clone(), &s.judged());
        let scenario_started = Instant::now();
        let mut line = ScenarioReport {
            scenario: s.name.to_string(),
            ..ScenarioReport::default()
        };
        let mut jobs: Vec<(String, Vec<Action>)> =
            traces::breadth_first(&system, args.depth, args.paths)
                .into_iter()
                .map(|t| ("bfs".to_string(), t))
                .collect();
        let scenario_seed = seed.wrapping_add(n as u64);
        for w in 0..args.walks {
            let walk_seed = scenario_seed.wrapping_mul(1_000_003).wrapping_add(w as u64);
            jobs.push((
                format!("walk {walk_seed}"),
                traces::random_walk(&system, args.walk_length, walk_seed),
            ));
        }
        if let Some(actions) = traces::counterexample(&cfg, s) {
            jobs.push(("counterexample".to_string(), actions));
        }
        let init = traces::initial(&system);
        for (i, (kind, actions)) in jobs.into_iter().enumerate() {
            let dir = root.path().join(format!("{}-{i}", s.name));
            let result = replay(&system, &init, &actions, &dir, bug);
            let _ = std::fs::remove_dir_all(&dir);
            line.traces += 1;
            match result {
                Ok(compared) => {
                    line.steps += actions.len();
                    line.states_compared += compared;
                }
                Err(d) => {
                    line.steps += d.step;
                    line.divergences += 1;
                    report.divergences.push(DivergenceReport {
                        scenario: s.name.to_string(),
                        trace: kind.clone(),
                        step: d.step,
                        action: d.action.clone(),
                        what: d.what.clone(),
                    });
                    if first_divergence.is_none() {
                        let prefix = actions[..d.step.min(actions.len())].to_vec();
                        first_divergence = Some((
                            System::new(cfg.clone(), &s.judged()),
                            prefix,
                            d,
                            s.name.to_string(),
                        ));
                    }
                }
            }
        }
        line.seconds = scenario_started.elapsed().as_secs_f64();
        if !args.quiet {
            eprintln!(
                "{}: {} traces, {} steps, {} divergences, {:.1} s",
                line.scenario, line.traces, line.steps, line.divergences, line.seconds
            );
        }
        report.traces += line.traces;
        report.steps += line.steps;
        report.states_compared += line.states_compared;
        report.scenarios.push(line);
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.traces_per_second = report.traces as f64 / report.seconds.max(1e-9);
    if let (Some(path), Some((system, actions, d, name))) = (&args.trace_out, &first_divergence) {
        write_trace(path, system, name, actions, d)?;
    }
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        say!("{text}");
    } else {
        print_table(&report);
    }
    Ok(if report.divergences.is_empty() {
        0
    } else {
        EXIT_MISMATCH
    })
}

fn print_table(report: &Report) {
    say!(
        "{:32} {:>7} {:>8} {:>9} {:>11} {:>8}",
        "scenario",
        "traces",
        "steps",
        "compared",
        "divergences",
        "seconds"
    );
    for s in &report.scenarios {
        say!(
            "{:32} {:>7} {:>8} {:>9} {:>11} {:>8.1}",
            s.scenario,
            s.traces,
            s.steps,
            s.states_compared,
            s.divergences,
            s.seconds
        );
    }
    say!(
        "{} traces, {} steps, {} states compared (replicas and consumer), {} divergences in {:.1} s ({:.0} traces/s)",
        report.traces,
        report.steps,
        report.states_compared,
        report.divergences.len(),
        report.seconds,
        report.traces_per_second
    );
    for d in report.divergences.iter().take(3) {
        say!(
            "\ndivergence in {} ({}), step {}: {}\n{}",
            d.scenario,
            d.trace,
            d.step,
            d.action,
            d.what
        );
    }
}

/// The diverging trace, up to the step that diverged, in the trace schema.
fn write_trace(
    path: &str,
    system: &System,
    scenario: &str,
    actions: &[Action],
    d: &Divergence,
) -> Result<(), String> {
    let init = traces::initial(system);
    let mut state = init.clone();
    let mut steps = Vec::new();
    for action in actions {
        let Some(next) = system.next_state(&state, action.clone()) else {
            break;
        };
        steps.push(Step {
            action: action.clone(),
            state: next.clone(),
        });
        state = next;
    }
    let c = Counterexample {
        property: "conformance",
        why: format!("step {} ({}): {}", d.step, d.action, d.what),
        init,
        steps,
        shortest: false,
    };
    let judged: Vec<&str> = Vec::new();
    let trace = Trace::new(system, Some(scenario), &judged, &c);
    let text = serde_json::to_string_pretty(&trace).map_err(|e| e.to_string())?;
    std::fs::write(PathBuf::from(path), text).map_err(|e| format!("{path}: {e}"))
}
