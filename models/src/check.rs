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
//!
//! A search ends early when its question is answered ([`Until`]) or a limit
//! of time or memory is reached; the outcome then says it is not
//! exhaustive, and why.

use crate::config::Config;
use crate::system::{Action, System, SystemState, Watch, STOPPED};
use kafka_oracle_properties::{Judge, CATALOGUE};
use stateright::{Checker, HasDiscoveries, Model, Path};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How a check is run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub threads: usize,
    pub search: Search,
    /// Stop the search after this long.
    pub max_seconds: Option<f64>,
    /// Stop the search once the process holds this much memory.
    pub max_memory_bytes: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            search: Search::Auto,
            max_seconds: None,
            max_memory_bytes: None,
        }
    }
}

/// The order a check visits the states in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Breadth-first for a check expected to violate properties (the
    /// shallow violations first), depth-first with symmetry otherwise (a
    /// violation it finds deep is shortened by bounded breadth-first
    /// searches, see `shortest`).
    Auto,
    BreadthFirst,
    DepthFirst,
    /// Depth-first, one state per class of replica renamings.
    DepthFirstSymmetric,
}

impl Search {
    /// The search `Auto` stands for, given when the search may end.
    fn resolve(self, until: &Until) -> Search {
        match (self, until) {
            (Search::Auto, Until::AllViolated(_)) => Search::BreadthFirst,
            (Search::Auto, _) => Search::DepthFirstSymmetric,
            (other, _) => other,
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

/// When a search has answered its question, and may stop before it has
/// seen every state.
#[derive(Clone, Debug)]
pub enum Until {
    /// Never: every state is searched (a check expected to pass).
    Exhausted,
    /// Each of these properties has a counterexample and every judged
    /// "sometimes" property was reached (a check expected to violate them).
    AllViolated(Vec<&'static str>),
    /// One of these has a counterexample: the verdict is known (a check of
    /// a configuration against Kafka's promise).
    AnyViolated(Vec<&'static str>),
}

/// Why a search ended before it had seen every state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Its question was answered ([`Until`]).
    Answered,
    TimeLimit,
    MemoryLimit,
}

impl Stop {
    pub fn describe(self) -> &'static str {
        match self {
            Stop::Answered => "stopped once answered",
            Stop::TimeLimit => "stopped at the time limit",
            Stop::MemoryLimit => "stopped at the memory limit",
        }
    }
}

/// Progress of a running search, reported every few milliseconds at first,
/// then four times a second.
#[derive(Clone, Debug)]
pub struct Progress {
    pub unique_states: usize,
    pub states: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
    /// Judged properties violated so far, in catalogue order.
    pub violated: Vec<&'static str>,
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
    /// No shorter path violates the property: every shorter one was
    /// searched. False when that search outgrew its budget
    /// ([`SHORTEN_STATES_MAX`]).
    pub shortest: bool,
}

/// Most states a breadth-first search for a shorter counterexample may
/// generate: it keeps every pending state, and on large bounds a search
/// even a dozen steps deep would hold gigabytes.
pub const SHORTEN_STATES_MAX: usize = 3_000_000;

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
    /// Why it did not, if it did not.
    pub stopped: Option<Stop>,
    /// The search that ran.
    pub search: Search,
    pub elapsed: Duration,
    /// The shortest counterexample of each violated property, in the order
    /// of `violated`.
    pub counterexamples: Vec<Counterexample>,
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
    let until = if expected_violated.is_empty() {
        Until::Exhausted
    } else {
        Until::AllViolated(expected_violated.to_vec())
    };
    check_until(cfg, judged, until, options, progress)
}

/// Checks `cfg` on the `judged` properties until `until` or a limit.
pub fn check_until(
    cfg: &Config,
    judged: &[&'static str],
    until: Until,
    options: Options,
    progress: &mut dyn FnMut(Progress),
) -> Outcome {
    let started = Instant::now();
    let system = System::new(cfg.clone(), judged);
    let watch = std::sync::Arc::clone(&system.watch);
    let builder = system
        .checker()
        .threads(options.threads)
        .finish_when(HasDiscoveries::AnyOf([STOPPED].into()));
    let search = options.search.resolve(&until);
    let run = Run {
        judged,
        until,
        watch,
        search,
        options,
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

/// The catalogue names of the bits set in `bits`, among `judged`.
fn named(bits: u16, judged: &[&'static str]) -> Vec<&'static str> {
    judged
        .iter()
        .copied()
        .filter(|&n| bits & (1 << index_of(n)) != 0)
        .collect()
}

/// The bits of the catalogue properties `names`.
fn bits(names: &[&'static str]) -> u16 {
    names.iter().fold(0, |b, n| b | 1 << index_of(n))
}

/// The resident memory of this process, from /proc (Linux); `None`
/// elsewhere, where `--max-memory` cannot be honoured.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// A search under way, and what its outcome is judged by.
struct Run<'a> {
    judged: &'a [&'static str],
    until: Until,
    watch: std::sync::Arc<Watch>,
    search: Search,
    options: Options,
    started: Instant,
}

impl Run<'_> {
    /// Whether the search answered its question, from what it found so far.
    fn answered(&self) -> bool {
        let broken = self.watch.broken.load(Ordering::Relaxed);
        let reached = self.watch.reached.load(Ordering::Relaxed);
        let sometimes: Vec<&'static str> = self
            .judged
            .iter()
            .copied()
            .filter(|n| is_sometimes(n))
            .collect();
        match &self.until {
            Until::Exhausted => false,
            Until::AllViolated(goals) => {
                broken & bits(goals) == bits(goals)
                    && reached & bits(&sometimes) == bits(&sometimes)
            }
            Until::AnyViolated(any) => broken & bits(any) != 0,
        }
    }

    /// Why the search should stop now, if it should.
    fn stop(&self) -> Option<Stop> {
        if self.answered() {
            return Some(Stop::Answered);
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        if self.options.max_seconds.is_some_and(|max| elapsed >= max) {
            return Some(Stop::TimeLimit);
        }
        let memory = self.options.max_memory_bytes;
        if memory.is_some_and(|max| resident_bytes().is_some_and(|rss| rss >= max)) {
            return Some(Stop::MemoryLimit);
        }
        None
    }

    /// Waits for the search, reporting progress and stopping it when its
    /// question is answered or a limit is reached, and judges what it found.
    fn finish(self, checker: impl Checker<System>, progress: &mut dyn FnMut(Progress)) -> Outcome {
        let started = self.started;
        let mut stopped = None;
        while !checker.is_done() {
            // Most checks of the matrix end within milliseconds: look often at
            // first, then settle to a progress report's pace.
            let pause = if started.elapsed() < Duration::from_secs(1) {
                5
            } else {
                250
            };
            std::thread::sleep(Duration::from_millis(pause));
            if stopped.is_none() {
                stopped = self.stop();
                if stopped.is_some() {
                    self.watch.stop.store(true, Ordering::Relaxed);
                }
            }
            progress(Progress {
                unique_states: checker.unique_state_count(),
                states: checker.state_count(),
                max_depth: checker.max_depth(),
                elapsed: started.elapsed(),
                violated: named(self.watch.broken.load(Ordering::Relaxed), self.judged),
            });
        }
        let checker = checker.join();
        // The search may have answered between two looks.
        if stopped.is_none() && self.answered() {
            stopped = Some(Stop::Answered);
        }
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
        let system = checker.model();
        let counterexamples = violated
            .iter()
            .map(|&name| {
                let path = discoveries[name].clone();
                shortest(system, name, path, self.options.threads)
            })
            .collect();
        Outcome {
            violated,
            unreached,
            unique_states: checker.unique_state_count(),
            states: checker.state_count(),
            max_depth: checker.max_depth(),
            exhaustive: stopped.is_none(),
            stopped,
            search: self.search,
            elapsed: started.elapsed(),
            counterexamples,
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
///
/// A depth-first search may find a violation dozens of steps deep that a
/// handful of steps reach; searching breadth-first to that depth would visit
/// nearly every state. So the bound first doubles from a short one until a
/// bounded search finds the violation, and shrinks from there.
fn shortest(
    system: &System,
    name: &'static str,
    mut path: Path<SystemState, Action>,
    threads: usize,
) -> Counterexample {
    // What a breadth-first search of every path of at most `steps` actions
    // says: a path that violates the property, none (`Ok(None)`), or that it
    // outgrew its budget before it could say (`Err`).
    let bounded = |steps: usize| {
        // Stateright checks states of depth < target, and the initial state
        // has depth 1: a target of steps + 2 covers every path of at most
        // `steps` actions.
        let checker = System::new((*system.cfg).clone(), &[name])
            .checker()
            .threads(threads)
            .target_max_depth(steps + 2)
            .target_state_count(SHORTEN_STATES_MAX)
            .spawn_bfs()
            .join();
        match checker.discovery(name) {
            Some(found) => Ok(Some(found)),
            None if checker.state_count() >= SHORTEN_STATES_MAX => Err(()),
            None => Ok(None),
        }
    };
    let length = |path: &Path<SystemState, Action>| path.clone().into_actions().len();
    let mut limit = 8;
    while limit < length(&path) {
        match bounded(limit) {
            Ok(Some(found)) => {
                path = found;
                break;
            }
            Ok(None) => limit *= 2,
            Err(()) => return counterexample(system, name, path, false),
        }
    }
    loop {
        let steps = length(&path);
        if steps <= 1 {
            break;
        }
        match bounded(steps - 1) {
            Ok(Some(shorter)) if length(&shorter) < steps => path = shorter,
            Ok(_) => break,
            Err(()) => return counterexample(system, name, path, false),
        }
    }
    counterexample(system, name, path, true)
}

/// The path as steps, with the catalogue's explanation of the step at
/// which the property first failed.
pub fn counterexample(
    system: &System,
    name: &'static str,
    path: Path<SystemState, Action>,
    shortest: bool,
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
        shortest,
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
