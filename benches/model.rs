//! Model-checking throughput, side by side with Stateright's own Paxos
//! example in the same run: unique states per second of a breadth-first and
//! a depth-first search on two threads, each stopped after the same number
//! of generated states.
//!
//! Ours is the largest passing scenario of the matrix; Paxos is the
//! example's three servers and three clients (1,194,428 unique states in
//! all). The ratio of the two rates is what the README reports: the machine
//! is shared and noisy, the ratio less so.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_oracle_models::scenarios::scenario;
use kafka_oracle_models::system::System;
use stateright::{Checker, CheckerBuilder, Model};

#[path = "model/paxos.rs"]
mod paxos;

/// The largest scenario the matrix expects to pass.
const OURS: &str = "truncate-by-leader-epoch";
/// Generated states (unique or not) after which each search stops.
const STATES_GENERATED: usize = 1_500_000;
const THREADS: usize = 2;

#[derive(Clone, Copy)]
enum Search {
    BreadthFirst,
    DepthFirst,
}

impl Search {
    fn name(self) -> &'static str {
        match self {
            Search::BreadthFirst => "bfs-2-threads",
            Search::DepthFirst => "dfs-2-threads",
        }
    }
}

/// Runs the search and returns the unique states it found.
fn run<M>(builder: CheckerBuilder<M>, search: Search) -> usize
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + std::fmt::Debug + std::hash::Hash + PartialEq + Send + Sync + 'static,
    M::Action: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static,
{
    let builder = builder
        .threads(THREADS)
        .target_state_count(STATES_GENERATED);
    match search {
        Search::BreadthFirst => builder.spawn_bfs().join().unique_state_count(),
        Search::DepthFirst => builder.spawn_dfs().join().unique_state_count(),
    }
}

fn ours(search: Search) -> usize {
    let s = scenario(OURS).expect("the matrix has the scenario");
    let cfg = s.config().expect("the scenario is valid");
    run(System::new(cfg, &s.judged()).checker(), search)
}

fn paxos(search: Search) -> usize {
    run(paxos::model(3).checker(), search)
}

fn model(c: &mut Criterion) {
    let mut group = c.benchmark_group("model");
    group.sample_size(10);
    for search in [Search::BreadthFirst, Search::DepthFirst] {
        for (name, f) in [
            ("paxos-3-clients", paxos as fn(Search) -> usize),
            (OURS, ours),
        ] {
            // Two threads stop at slightly different counts from run to run;
            // the first run's count stands for all.
            group.throughput(Throughput::Elements(f(search) as u64));
            group.bench_function(BenchmarkId::new(name, search.name()), |b| {
                b.iter(|| f(search))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, model);
criterion_main!(benches);
