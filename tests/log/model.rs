//! Model-based test: random sequences of appends (as leader and as
//! follower), truncations, rolls, retention, flushes, clean reopens and
//! power losses, run against the log and against a plain list of records.
//! After every step every read agrees with the list.
//!
//! A power loss keeps, of each segment file, its flushed bytes and any
//! number of the unflushed ones (cut anywhere, mid-batch included), and may
//! lose the files of segments created since the last flush. The log must
//! then come back as a prefix of what it held that keeps every flushed
//! offset.

use crate::api::values;
use crate::kafka::{batch, read_all};
use kafka_oracle::log::{batch as codec, Log, LogConfig};
use proptest::prelude::*;
use proptest::sample::Index;
use std::fs::{self, OpenOptions};
use std::path::Path;

#[derive(Clone, Debug)]
enum Op {
    Leader {
        records: usize,
        size: usize,
        new_epoch: bool,
    },
    Follower {
        records: usize,
        size: usize,
        new_epoch: bool,
    },
    Truncate(Index),
    Roll,
    HighWatermark(Index),
    CheckpointHighWatermark,
    Retention,
    Flush,
    Reopen,
    PowerLoss {
        cuts: Vec<Index>,
        lose_new_files: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..6, 0usize..120, prop::bool::weighted(0.2))
            .prop_map(|(records, size, new_epoch)| Op::Leader { records, size, new_epoch }),
        2 => (1usize..6, 0usize..120, prop::bool::weighted(0.2))
            .prop_map(|(records, size, new_epoch)| Op::Follower { records, size, new_epoch }),
        1 => any::<Index>().prop_map(Op::Truncate),
        1 => Just(Op::Roll),
        2 => any::<Index>().prop_map(Op::HighWatermark),
        1 => Just(Op::CheckpointHighWatermark),
        1 => Just(Op::Retention),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => (prop::collection::vec(any::<Index>(), 8), any::<bool>())
            .prop_map(|(cuts, lose_new_files)| Op::PowerLoss { cuts, lose_new_files }),
    ]
}

#[derive(Clone, Debug, PartialEq)]
struct Record {
    offset: u64,
    epoch: i32,
    value: Vec<u8>,
    /// The last offset of the batch the record came in.
    batch_end: u64,
}

#[derive(Default)]
struct Model {
    start: u64,
    records: Vec<Record>,
    high_watermark: u64,
    checkpointed_high_watermark: u64,
    epoch: i32,
    written: usize,
}

impl Model {
    fn end(&self) -> u64 {
        self.records.last().map_or(self.start, |r| r.offset + 1)
    }

    fn push_batch(&mut self, values: Vec<Vec<u8>>, epoch: i32) {
        let first = self.end();
        let batch_end = first + values.len() as u64 - 1;
        for (i, value) in values.into_iter().enumerate() {
            self.records.push(Record {
                offset: first + i as u64,
                epoch,
                value,
                batch_end,
            });
        }
    }

    /// Kafka's truncation removes every batch that reaches `offset`.
    fn truncate_to(&mut self, offset: u64) {
        self.records.retain(|r| r.batch_end < offset);
        self.high_watermark = self.high_watermark.min(self.end());
    }

    fn epochs(&self) -> Vec<(i32, u64)> {
        let mut epochs: Vec<(i32, u64)> = Vec::new();
        for r in &self.records {
            if epochs.last().is_none_or(|&(e, _)| r.epoch > e) {
                epochs.push((r.epoch, r.offset));
            }
        }
        epochs
    }

    /// Kafka's `LeaderEpochFileCache.endOffsetFor`, written out plainly.
    fn end_offset_for(&self, requested: i32) -> Option<(i32, u64)> {
        let epochs = self.epochs();
        if epochs.last().map(|&(e, _)| e) == Some(requested) {
            return Some((requested, self.end()));
        }
        let higher = epochs.iter().find(|&&(e, _)| e > requested)?;
        let floor = epochs.iter().rev().find(|&&(e, _)| e <= requested);
        Some((floor.map_or(requested, |&(e, _)| e), higher.1))
    }

    fn as_read(&self, until: u64) -> Vec<(u64, i32, Vec<u8>)> {
        self.records
            .iter()
            .filter(|r| r.batch_end < until)
            .map(|r| (r.offset, r.epoch, r.value.clone()))
            .collect()
    }
}

fn config() -> LogConfig {
    let mut config = LogConfig::default();
    for (knob, value) in [
        ("log.segment.bytes", "1500"),
        ("log.index.interval.bytes", "200"),
        ("log.retention.bytes", "2500"),
        ("log.flush.interval.messages", "23"),
    ] {
        config.set(knob, value).unwrap();
    }
    config
}

fn agree(log: &Log, model: &Model, step: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        log.log_start_offset(),
        model.start,
        "log start after step {}",
        step
    );
    prop_assert_eq!(
        log.log_end_offset(),
        model.end(),
        "log end after step {}",
        step
    );
    prop_assert_eq!(
        log.high_watermark(),
        model.high_watermark,
        "high watermark after step {}",
        step
    );
    prop_assert!(log.flushed_offset() <= log.log_end_offset());
    for max_bytes in [1, 700, 1 << 20] {
        prop_assert_eq!(
            read_all(log, model.start, u64::MAX, max_bytes),
            model.as_read(u64::MAX),
            "step {}",
            step
        );
    }
    let hw = model.high_watermark;
    prop_assert_eq!(
        read_all(log, model.start, hw, 500),
        model.as_read(hw),
        "read to the high watermark, step {}",
        step
    );
    prop_assert_eq!(
        log.epochs(),
        &model.epochs()[..],
        "epochs after step {}",
        step
    );
    let top = model.epoch + 2;
    for epoch in 0..top {
        prop_assert_eq!(
            log.end_offset_for_epoch(epoch),
            model.end_offset_for(epoch),
            "epoch {} after step {}",
            epoch,
            step
        );
    }
    Ok(())
}

/// What a power loss may leave of the files of `log`.
fn lose_power(log: Log, cuts: &[Index], lose_new_files: bool) {
    let segments = log.segments();
    drop(log);
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 && segment.flushed_size == 0 && lose_new_files {
            fs::remove_file(&segment.path).unwrap();
            continue;
        }
        let unflushed = segment.size - segment.flushed_size;
        let keep = cuts[i % cuts.len()].index(unflushed as usize + 1) as u64;
        OpenOptions::new()
            .write(true)
            .open(&segment.path)
            .unwrap()
            .set_len(segment.flushed_size + keep)
            .unwrap();
    }
}

fn run(dir: &Path, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut log = Log::open(dir, config()).unwrap();
    let mut model = Model {
        epoch: 1,
        ..Model::default()
    };
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Leader {
                records,
                size,
                new_epoch,
            } => {
                model.epoch += i32::from(new_epoch);
                let values = values(model.written, records, size);
                model.written += records;
                let appended = log
                    .append_as_leader(&mut batch(&values, step as i64), model.epoch, step as u64)
                    .unwrap();
                prop_assert_eq!(appended.first_offset, model.end());
                model.push_batch(values, model.epoch);
            }
            Op::Follower {
                records,
                size,
                new_epoch,
            } => {
                model.epoch += i32::from(new_epoch);
                let values = values(model.written, records, size);
                model.written += records;
                let mut bytes = batch(&values, step as i64);
                codec::assign(&mut bytes, model.end(), model.epoch);
                log.append_as_follower(&bytes, step as u64).unwrap();
                model.push_batch(values, model.epoch);
            }
            Op::Truncate(at) => {
                let span = (model.end() - model.start) as usize;
                let offset = model.start + at.index(span + 1) as u64;
                let end = log.truncate_to(offset).unwrap();
                model.truncate_to(offset);
                prop_assert_eq!(end, model.end());
            }
            Op::Roll => log.roll().unwrap(),
            Op::HighWatermark(at) => {
                let span = (model.end() - model.start) as usize;
                model.high_watermark = model.start + at.index(span + 1) as u64;
                log.set_high_watermark(model.high_watermark).unwrap();
            }
            Op::CheckpointHighWatermark => {
                log.checkpoint_high_watermark().unwrap();
                model.checkpointed_high_watermark = model.high_watermark;
            }
            Op::Retention => {
                let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
                log.enforce_retention(step as u64).unwrap();
                let start = log.log_start_offset();
                prop_assert!(
                    bases.contains(&start),
                    "the log starts at a former segment base"
                );
                prop_assert!(
                    start <= model.high_watermark,
                    "nothing at or above the high watermark goes"
                );
                let sizes: u64 = log.segments().iter().map(|s| s.size).sum();
                let first = log.segments()[0].size;
                let next = log.segments().get(1).map(|s| s.base_offset);
                let more_was_due =
                    next.is_some_and(|n| n <= model.high_watermark) && sizes - first >= 2500;
                prop_assert!(!more_was_due, "retention stopped early at {}", start);
                model.records.retain(|r| r.offset >= start);
                model.start = start;
            }
            Op::Flush => {
                log.flush().unwrap();
                prop_assert_eq!(log.flushed_offset(), model.end());
            }
            Op::Reopen => {
                log.close().unwrap();
                log = Log::open(dir, config()).unwrap();
                prop_assert!(
                    log.recovery_notes().is_empty(),
                    "{:?}",
                    log.recovery_notes()
                );
                model.checkpointed_high_watermark = model.high_watermark;
            }
            Op::PowerLoss {
                cuts,
                lose_new_files,
            } => {
                let flushed = log.flushed_offset();
                lose_power(log, &cuts, lose_new_files);
                log = Log::open(dir, config()).unwrap();
                let end = log.log_end_offset();
                prop_assert!(
                    end >= flushed,
                    "flushed offset {} lost: the log ends at {}",
                    flushed,
                    end
                );
                prop_assert!(end <= model.end());
                // What survives is a prefix, so the model loses the rest.
                model.records.retain(|r| r.offset < end);
                prop_assert_eq!(model.end(), end, "the log ends between batches");
                model.high_watermark = model.checkpointed_high_watermark.clamp(model.start, end);
            }
        }
        agree(&log, &model, step)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_log_agrees_with_a_list_of_records(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), ops)?;
    }
}
