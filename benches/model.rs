//! Model-checking throughput: unique states per second of the `safe`
//! scenario, searched breadth-first to a fixed depth on one thread.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_oracle_models::scenarios::scenario;
use kafka_oracle_models::system::System;
use stateright::{Checker, Model};

const DEPTH: usize = 22;

fn unique_states_to_depth() -> usize {
    let safe = scenario("safe").expect("the matrix has a safe scenario");
    let cfg = safe.config().expect("the safe scenario is valid");
    System::new(cfg, &safe.judged())
        .checker()
        .threads(1)
        .target_max_depth(DEPTH)
        .spawn_bfs()
        .join()
        .unique_state_count()
}

fn model(c: &mut Criterion) {
    let states = unique_states_to_depth();
    let mut group = c.benchmark_group("model");
    group.sample_size(10);
    group.throughput(Throughput::Elements(states as u64));
    group.bench_function(format!("safe-bfs-depth-{DEPTH}"), |b| {
        b.iter(unique_states_to_depth)
    });
    group.finish();
}

criterion_group!(benches, model);
criterion_main!(benches);
