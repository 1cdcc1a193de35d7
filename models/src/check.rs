//! Running a check: an exhaustive search of a configuration, the verdict
//! per property, and for each violation the shortest counterexample.
//!
//! A check expected to violate properties searches breadth-first, which
//! finds short counterexamples first. A check expected to pass needs no
//! counterexample, only every state: it searches depth-first, which keeps
//! a fingerprint per state instead of every pending state with its path
//! (megabytes, not gigabytes), and visits one state per class of states
//! that differ only by the replicas' names (`symmetry`).
//!
//! Stateright's BFS with several threads does not promise that the first
//! counterexample it finds is a shortest one. So every counterexample of
//! length n is confirmed by a second search bounded to n - 1 steps: if that
//! search finds the violation too, its path replaces the first and the
//! confirmation repeats. A counterexample reported is therefore one no
//! shorter path reaches.

use crate::config::Config;
use crate::system::{Action, System, SystemState};
use kafka_oracle_properties::{Judge, CATALOGUE};
use stateright::{Checker, HasDiscoveries, Model, Path};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How a check is run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub threads: usize,
    pub search: Search,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            search: Search::Auto,
        }
    }
}

/// The order a check visits the states in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Depth-first with symmetry for a check expected to pass,
    /// breadth-first for one expected to violate properties.
    Auto,
    BreadthFirst,
    DepthFirst,
    /// Depth-first, one state per class of replica renamings.
    DepthFirstSymmetric,
}

impl Search {
    /// The search `Auto` stands for, given what the check expects.
    fn resolve(self, expects_pass: bool) -> Search {
        match self {
            Search::Auto if expects_pass => Search::DepthFirstSymmetric,
            Search::Auto => Search::BreadthFirst,
            other => other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Search::Auto => "auto",
            Search::BreadthFirst => "breadth-first",
            Search::DepthFirst => "depth-first",
            Search::DepthFirstSymmetric => "depth-first, symmetry",
        }
    }
}

/// Progress of a running search, reported every few milliseconds at first,
/// then four times a second.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub unique_states: usize,
    pub states: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
}

/// One step of a counterexample: the action and the state after it.
#[derive(Clone, Debug)]
pub struct Step {
    pub action: Action,
    pub state: SystemState,
}

#[derive(Clone, Debug)]
pub struct Counterexample {
    pub property: &'static str,
    /// Why the last step violates the property, in the catalogue's words.
    pub why: String,
    pub init: SystemState,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    /// Properties with a counterexample, in catalogue order.
    pub violated: Vec<&'static str>,
    /// "Sometimes" properties never reached.
    pub unreached: Vec<&'static str>,
    pub unique_states: usize,
    pub states: usize,
    pub max_depth: usize,
    /// The search ran to completion (no early stop).
    pub exhaustive: bool,
    /// The search that ran.
    pub search: Search,
    pub elapsed: Duration,
    /// The shortest counterexample of the first violated property.
    pub counterexample: Option<Counterexample>,
}

fn is_sometimes(name: &str) -> bool {
    CATALOGUE
        .iter()
        .any(|p| p.name == name && matches!(p.judge, Judge::Sometimes(_)))
}

/// Checks `cfg` on the `judged` properties. A check expected to pass is
/// exhaustive; one expected to violate properties ends once each of
/// `expected_violated` has a counterexample and every judged "sometimes"
/// property was reached.
pub fn check(
    cfg: &Config,
    judged: &[&'static str],
    expected_violated: &[&'static str],
    options: Options,
    progress: &mut dyn FnMut(Progress),
) -> Outcome {
    let started = Instant::now();
    let system = System::new(cfg.clone(), judged);
    let mut builder = system.checker().threads(options.threads);
    let goals: BTreeSet<&'static str> = expected_violated
        .iter()
        .copied()
        .chain(judged.iter().copied().filter(|n| is_sometimes(n)))
        .collect();
    if !expected_violated.is_empty() {
        builder = builder.finish_when(HasDiscoveries::AllOf(goals.clone()));
    }
    let search = options.search.resolve(expected_violated.is_empty());
    let run = Run {
        judged,
        expected_violated,
        goals,
        search,
        threads: options.threads,
        started,
    };
    match search {
        Search::BreadthFirst | Search::Auto => run.finish(builder.spawn_bfs(), progress),
        Search::DepthFirst => run.finish(builder.spawn_dfs(), progress),
        Search::DepthFirstSymmetric => run.finish(
            builder
                .symmetry_fn(crate::symmetry::representative)
                .spawn_dfs(),
            progress,
        ),
    }
}

/// A search under way, and what its outcome is judged by.
struct Run<'a> {
    judged: &'a [&'static str],
    expected_violated: &'a [&'static str],
    goals: BTreeSet<&'static str>,
    search: Search,
    threads: usize,
    started: Instant,
}

impl Run<'_> {
    /// Waits for the search, reporting progress, and judges what it found.
    fn finish(self, checker: impl Checker<System>, progress: &mut dyn FnMut(Progress)) -> Outcome {
        let started = self.started;
        while !checker.is_done() {
            // Most checks of the matrix end within milliseconds: look often at
            // first, then settle to a progress report's pace.
            let pause = if started.elapsed() < Duration::from_secs(1) {
                5
            } else {
                250
            };
            std::thread::sleep(Duration::from_millis(pause));
            progress(Progress {
                unique_states: checker.unique_state_count(),
                states: checker.state_count(),
                max_depth: checker.max_depth(),
                elapsed: started.elapsed(),
            });
        }
        let checker = checker.join();
        let discoveries = checker.discoveries();
        let mut violated = Vec::new();
        let mut unreached = Vec::new();
        for &name in self.judged {
            match (is_sometimes(name), discoveries.contains_key(name)) {
                (false, true) => violated.push(name),
                (true, false) => unreached.push(name),
                _ => {}
            }
        }
        // The search stops early only when every goal was met; otherwise it ran
        // until the state space was exhausted.
        let exhaustive = self.expected_violated.is_empty()
            || !self.goals.iter().all(|g| discoveries.contains_key(g));
        let system = checker.model();
        let counterexample = violated.first().map(|&name| {
            let path = discoveries[name].clone();
            shortest(system, name, path, self.threads)
        });
        Outcome {
            violated,
            unreached,
            unique_states: checker.unique_state_count(),
            states: checker.state_count(),
            max_depth: checker.max_depth(),
            exhaustive,
            search: self.search,
            elapsed: started.elapsed(),
            counterexample,
        }
    }
}

fn index_of(name: &str) -> usize {
    CATALOGUE
        .iter()
        .position(|p| p.name == name)
        .expect("catalogue name")
}

/// Confirms that no path shorter than `path` violates `name`, replacing it by
/// a shorter one while one exists.
fn shortest(
    system: &System,
    name: &'static str,
    mut path: Path<SystemState, Action>,
    threads: usize,
) -> Counterexample {
    loop {
        let steps = path.clone().into_actions().len();
        if steps <= 1 {
            break;
        }
        // Stateright checks states of depth < target, and the initial state
        // has depth 1: target steps + 1 covers every path of steps - 1 actions.
        let bounded = System::new((*system.cfg).clone(), &[name])
            .checker()
            .threads(threads)
            .target_max_depth(steps + 1)
            .spawn_bfs()
            .join();
        match bounded.discovery(name) {
            Some(shorter) if shorter.clone().into_actions().len() < steps => path = shorter,
            _ => break,
        }
    }
    counterexample(system, name, path)
}

/// The path as steps, with the catalogue's explanation of the step at
/// which the property first failed.
pub fn counterexample(
    system: &System,
    name: &'static str,
    path: Path<SystemState, Action>,
) -> Counterexample {
    let pairs = path.into_vec();
    let init = pairs[0].0.clone();
    let steps: Vec<Step> = pairs
        .windows(2)
        .map(|w| Step {
            action: w[0].1.clone().expect("a path step has an action"),
            state: w[1].0.clone(),
        })
        .collect();
    let property = index_of(name);
    let mut prev = &init;
    let mut why = None;
    for step in &steps {
        if step.state.ghost.broken & (1 << property) != 0 {
            why = system.why(Some(prev), &step.state, property);
            break;
        }
        prev = &step.state;
    }
    Counterexample {
        property: name,
        why: why.unwrap_or_else(|| format!("{name} is violated")),
        init,
        steps,
    }
}

/// Replays a path given as step descriptions (as [`crate::describe::action`]
/// writes them): at each step the one enabled action with that description
/// is taken. Returns each step's action and the state after it, or which
/// step could not be taken.
pub fn replay(system: &System, descriptions: &[String]) -> Result<Vec<Step>, String> {
    let mut state = system
        .init_states()
        .into_iter()
        .next()
        .ok_or("the model has no initial state")?;
    let mut steps = Vec::new();
    for (i, description) in descriptions.iter().enumerate() {
        let mut actions = Vec::new();
        system.actions(&state, &mut actions);
        let (action, next) = actions
            .into_iter()
            .filter(|a| crate::describe::action(system, a) == *description)
            .find_map(|a| system.next_state(&state, a.clone()).map(|next| (a, next)))
            .ok_or_else(|| format!("step {}: no enabled action is \"{description}\"", i + 1))?;
        steps.push(Step {
            action,
            state: next.clone(),
        });
        state = next;
    }
    Ok(steps)
}

/// Whether `state` records a violation of the catalogue property `name`.
pub fn violates(state: &SystemState, name: &str) -> bool {
    state.ghost.broken & (1 << index_of(name)) != 0
}
