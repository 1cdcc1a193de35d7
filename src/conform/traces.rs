//! The traces conformance replays, all taken from the model: every
//! breadth-first path to a depth, seeded random walks much deeper, and the
//! counterexamples of the check matrix.

use kafka_oracle_models::check::{check, Options};
use kafka_oracle_models::config::Config;
use kafka_oracle_models::scenarios::Scenario;
use kafka_oracle_models::system::{Action, System, SystemState};
use stateright::Model;
use std::collections::{HashMap, VecDeque};

/// A trace: the actions from the model's initial state.
pub type Trace = Vec<Action>;

/// The shortest counterexample the matrix finds for scenario `s` in its
/// configuration `cfg`; `None` for a scenario expected to pass.
pub fn counterexample(cfg: &Config, s: &Scenario) -> Option<Trace> {
    if s.expects_pass() {
        return None;
    }
    let options = Options {
        threads: 1,
        ..Options::default()
    };
    let outcome = check(cfg, &s.judged(), s.expected_violated, options, &mut |_| {});
    let steps = outcome.counterexamples.into_iter().next()?.steps;
    Some(steps.into_iter().map(|step| step.action).collect())
}

pub fn initial(system: &System) -> SystemState {
    system
        .init_states()
        .into_iter()
        .next()
        .expect("the model has one initial state")
}

/// The actions the model takes from `state` (those it lists and does not
/// refuse), each with the state it leads to.
pub fn successors(system: &System, state: &SystemState) -> Vec<(Action, SystemState)> {
    let mut actions = Vec::new();
    system.actions(state, &mut actions);
    actions
        .into_iter()
        .filter_map(|a| system.next_state(state, a.clone()).map(|next| (a, next)))
        .collect()
}

/// The paths of a breadth-first search to `depth`, one per leaf of its
/// tree (a state at the depth, or whose successors were all found by
/// shorter or earlier paths): together they take every transition that
/// discovered a state.
pub fn breadth_first(system: &System, depth: usize, limit: usize) -> Vec<Trace> {
    let init = initial(system);
    // state -> (parent, action, depth); the root has no parent.
    let mut seen: HashMap<SystemState, Option<(SystemState, Action)>> = HashMap::new();
    seen.insert(init.clone(), None);
    let mut queue = VecDeque::from([(init, 0)]);
    let mut leaves = Vec::new();
    while let Some((state, d)) = queue.pop_front() {
        if leaves.len() >= limit {
            break;
        }
        let mut discovered = false;
        if d < depth {
            for (action, next) in successors(system, &state) {
                if !seen.contains_key(&next) {
                    seen.insert(next.clone(), Some((state.clone(), action)));
                    queue.push_back((next, d + 1));
                    discovered = true;
                }
            }
        }
        if !discovered {
            leaves.push(state);
        }
    }
    leaves
        .into_iter()
        .map(|leaf| {
            let mut path = Vec::new();
            let mut at = &leaf;
            while let Some(Some((parent, action))) = seen.get(at) {
                path.push(action.clone());
                at = parent;
            }
            path.reverse();
            path
        })
        .filter(|path| !path.is_empty())
        .collect()
}

/// splitmix64: the walks are reproducible from their seed.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A walk of up to `length` steps, each action chosen uniformly among the
/// enabled ones, from `seed`.
pub fn random_walk(system: &System, length: usize, seed: u64) -> Trace {
    let mut rng = seed;
    let mut state = initial(system);
    let mut trace = Vec::new();
    for _ in 0..length {
        let mut options = successors(system, &state);
        if options.is_empty() {
            break;
        }
        let pick = (next(&mut rng) % options.len() as u64) as usize;
        let (action, next_state) = options.swap_remove(pick);
        trace.push(action);
        state = next_state;
    }
    trace
}
