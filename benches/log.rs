//! The log's hot path, side by side in one run with a peer log crate
//! (`commitlog`) and with the machine's two ceilings on the same bytes.
//!
//! - group `append`: batches of 100 messages, no fsync. `kafka-oracle`
//!   validates the batch's CRC32C, stamps offset and epoch and writes it;
//!   `partition` is the broker's produce path above it (a leader alone in
//!   its ISR, acks=1: leadership, batch header, producer state, high
//!   watermark), to show what the partition adds to the log's append;
//!   `commitlog` appends a `MessageBuf` of the same messages; `limit` is a
//!   plain sequential `write` of our batch bytes to a file (the page cache).
//! - group `fetch`: the whole log read sequentially in 1 MiB reads.
//!   `kafka-oracle` reads whole batches into a reused buffer (no record is
//!   decoded); `commitlog` reads `MessageBuf`s (it checks every message's
//!   hash); `limit` copies our log's bytes from memory in 1 MiB chunks;
//!   `pread` reads our segment files in 1 MiB `pread`s with no log logic:
//!   the kernel's page-cache copy, which on ext4 depends on how the file was
//!   written (files written in large appends come back in large folios and
//!   read faster), so it shows what part of a gap to `limit` is the log's.
//!
//! Throughput counts message payload bytes for all three, so `limit`
//! (which also moves Kafka's per-record framing) is a true ceiling.
//! Every log is kept under 64 MiB: appends start a fresh log (untimed)
//! when one fills.
//!
//! `cargo bench --bench log`; ids: `append/{kafka-oracle,partition,commitlog,limit}/{100B,1KiB}`
//! and the same under `fetch`.

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_oracle::broker::partition::{Acks, LeaderAndIsr, Partition, ReplicationConfig};
use kafka_oracle::log::{Log, LogConfig};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

const BATCH: usize = 100;
const LOG_BYTES: u64 = 64 << 20;
const READ: usize = 1 << 20;
const SIZES: [(usize, &str); 2] = [(100, "100B"), (1024, "1KiB")];

fn messages(size: usize) -> Vec<Vec<u8>> {
    (0..BATCH)
        .map(|i| (0..size).map(|j| (i * 31 + j * 7) as u8).collect())
        .collect()
}

/// The messages as one Kafka record batch, as a producer sends it.
fn kafka_batch(messages: &[Vec<u8>]) -> Vec<u8> {
    let records: Vec<Record> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // One batch while offset - sequence is constant; base sequence -1.
            sequence: i as i32 - 1,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(m.clone().into()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = Vec::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf
}

fn message_buf(messages: &[Vec<u8>]) -> MessageBuf {
    let mut buf = MessageBuf::default();
    for m in messages {
        buf.push(m).unwrap();
    }
    buf
}

fn commitlog(dir: &Path) -> CommitLog {
    let mut options = LogOptions::new(dir);
    options
        .segment_max_bytes(1 << 30)
        .message_max_bytes(1 << 20);
    CommitLog::new(options).unwrap()
}

fn our_log(dir: &Path) -> Log {
    Log::open(dir, LogConfig::default()).unwrap()
}

/// A partition on a fresh log, leading epoch 1 alone in its ISR.
fn our_leader(dir: &Path) -> Partition {
    let mut p =
        Partition::open(1, dir, LogConfig::default(), ReplicationConfig::default()).unwrap();
    let decision = LeaderAndIsr {
        leader: 1,
        leader_epoch: 1,
        isr: BTreeSet::from([1]),
        partition_epoch: 0,
        replicas: vec![1],
    };
    p.leader_and_isr(decision, 0).unwrap();
    p
}

/// Runs `iters` appends of `bytes_per_append` with `append`, starting a
/// fresh store with `fresh` (untimed) whenever one would pass LOG_BYTES.
fn timed_appends<S>(
    iters: u64,
    bytes_per_append: u64,
    mut fresh: impl FnMut() -> S,
    mut append: impl FnMut(&mut S),
) -> Duration {
    let per_store = (LOG_BYTES / bytes_per_append).max(1);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(per_store);
        let mut store = fresh();
        let start = Instant::now();
        for _ in 0..n {
            append(&mut store);
        }
        total += start.elapsed();
        drop(store);
        left -= n;
    }
    total
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    let scratch = tempfile::tempdir().unwrap();
    for (size, name) in SIZES {
        let messages = messages(size);
        let batch = kafka_batch(&messages);
        let on_disk = batch.len() as u64;
        group.throughput(Throughput::Bytes((size * BATCH) as u64));

        group.bench_function(BenchmarkId::new("kafka-oracle", name), |b| {
            let dir = scratch.path().join("kafka-oracle");
            let mut bytes = batch.clone();
            b.iter_custom(|iters| {
                timed_appends(
                    iters,
                    on_disk,
                    || {
                        let _ = std::fs::remove_dir_all(&dir);
                        our_log(&dir)
                    },
                    |log| {
                        black_box(log.append_as_leader(&mut bytes, 1, 0).unwrap());
                    },
                )
            });
        });

        group.bench_function(BenchmarkId::new("partition", name), |b| {
            let dir = scratch.path().join("partition");
            let mut bytes = batch.clone();
            b.iter_custom(|iters| {
                timed_appends(
                    iters,
                    on_disk,
                    || {
                        let _ = std::fs::remove_dir_all(&dir);
                        our_leader(&dir)
                    },
                    |p| {
                        black_box(p.produce(0, Acks::Leader, &mut bytes, 0, 0).unwrap());
                    },
                )
            });
        });

        group.bench_function(BenchmarkId::new("commitlog", name), |b| {
            let dir = scratch.path().join("commitlog");
            let mut buf = message_buf(&messages);
            let per_append = buf.bytes().len() as u64;
            b.iter_custom(|iters| {
                timed_appends(
                    iters,
                    per_append,
                    || {
                        let _ = std::fs::remove_dir_all(&dir);
                        commitlog(&dir)
                    },
                    |log| {
                        black_box(log.append(&mut buf).unwrap());
                    },
                )
            });
        });

        group.bench_function(BenchmarkId::new("limit", name), |b| {
            let path = scratch.path().join("limit");
            b.iter_custom(|iters| {
                timed_appends(
                    iters,
                    on_disk,
                    || File::create(&path).unwrap(),
                    |file| file.write_all(&batch).unwrap(),
                )
            });
        });
    }
    group.finish();
}

fn fetch(c: &mut Criterion) {
    let mut group = c.benchmark_group("fetch");
    group.sample_size(30);
    let scratch = tempfile::tempdir().unwrap();
    for (size, name) in SIZES {
        let messages = messages(size);
        let batches = LOG_BYTES / kafka_batch(&messages).len() as u64;
        group.throughput(Throughput::Bytes(batches * (size * BATCH) as u64));

        let dir = scratch.path().join(format!("kafka-oracle-{name}"));
        let mut log = our_log(&dir);
        let mut batch = kafka_batch(&messages);
        for _ in 0..batches {
            log.append_as_leader(&mut batch, 1, 0).unwrap();
        }
        let end = log.log_end_offset();
        group.bench_function(BenchmarkId::new("kafka-oracle", name), |b| {
            let mut buf = Vec::new();
            b.iter(|| {
                let mut next = 0;
                while next < end {
                    let fetched = log.read(next, READ, u64::MAX, &mut buf).unwrap();
                    next = black_box(fetched).next_offset;
                }
            });
        });

        let files: Vec<File> = log
            .segments()
            .iter()
            .map(|s| File::open(&s.path).unwrap())
            .collect();
        group.bench_function(BenchmarkId::new("pread", name), |b| {
            let mut buf = vec![0u8; READ];
            b.iter(|| {
                for file in &files {
                    let len = file.metadata().unwrap().len();
                    let mut at = 0;
                    while at < len {
                        let n = (len - at).min(READ as u64) as usize;
                        file.read_exact_at(&mut buf[..n], at).unwrap();
                        black_box(&mut buf);
                        at += n as u64;
                    }
                }
            });
        });

        let dir = scratch.path().join(format!("commitlog-{name}"));
        let mut peer = commitlog(&dir);
        let mut buf = message_buf(&messages);
        for _ in 0..batches {
            peer.append(&mut buf).unwrap();
        }
        group.bench_function(BenchmarkId::new("commitlog", name), |b| {
            b.iter(|| {
                let mut next = 0;
                loop {
                    let read = peer.read(next, ReadLimit::max_bytes(READ)).unwrap();
                    match read.iter().last() {
                        Some(last) => next = last.offset() + 1,
                        None => break,
                    }
                    black_box(read);
                }
                assert_eq!(next, end, "commitlog read every message");
            });
        });

        // The same bytes our log holds, copied from memory.
        let bytes: Vec<u8> = log
            .segments()
            .iter()
            .flat_map(|s| std::fs::read(&s.path).unwrap())
            .collect();
        group.bench_function(BenchmarkId::new("limit", name), |b| {
            let mut dst = vec![0u8; READ];
            b.iter(|| {
                for chunk in bytes.chunks(READ) {
                    dst[..chunk.len()].copy_from_slice(chunk);
                    black_box(&mut dst);
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append, fetch);
criterion_main!(benches);
