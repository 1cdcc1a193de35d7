//! verify-history throughput, in operations (lines) per second, on a
//! generated history of ten million operations, against the limit of
//! merely parsing the same file: every line read the same way and parsed by
//! serde_json into `serde::de::IgnoredAny` (the JSON is checked, nothing is
//! kept).
//!
//! The history is written once to the target directory and reused.

#[path = "../tests/support/simulated_log.rs"]
mod simulated_log;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use simulated_log::Simulation;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

const OPS: usize = 10_000_000;

fn history_file() -> (PathBuf, u64) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("history-{OPS}.jsonl"));
    if !path.exists() {
        let partial = path.with_extension("partial");
        let mut out = BufWriter::new(File::create(&partial).expect("create the history"));
        Simulation {
            processes: 16,
            keys: 8,
            lines: OPS,
            seed: 7,
            hide: None,
        }
        .run(|line| {
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .expect("write the history")
        });
        out.flush().expect("write the history");
        drop(out);
        std::fs::rename(&partial, &path).expect("keep the history");
    }
    let lines = BufReader::new(File::open(&path).expect("open the history"))
        .split(b'\n')
        .count() as u64;
    (path, lines)
}

fn open(path: &PathBuf) -> BufReader<File> {
    BufReader::with_capacity(1 << 16, File::open(path).expect("open the history"))
}

fn verify(path: &PathBuf) -> u64 {
    let report = kafka_oracle::history::verify(open(path)).expect("a well-formed history");
    assert!(report.is_valid(), "the simulated history is valid");
    report.ops
}

fn parse_limit(path: &PathBuf) -> u64 {
    let mut input = open(path);
    let mut buf = Vec::with_capacity(512);
    let mut lines = 0;
    while input.read_until(b'\n', &mut buf).expect("read the history") > 0 {
        serde_json::from_slice::<serde::de::IgnoredAny>(&buf).expect("JSON");
        buf.clear();
        lines += 1;
    }
    lines
}

fn history(c: &mut Criterion) {
    let (path, lines) = history_file();
    let mut group = c.benchmark_group("history");
    group.sample_size(10);
    group.throughput(Throughput::Elements(lines));
    group.bench_function("verify", |b| b.iter(|| verify(&path)));
    group.bench_function("parse-limit", |b| b.iter(|| parse_limit(&path)));
    group.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);
