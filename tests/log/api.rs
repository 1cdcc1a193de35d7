//! The operations replication needs, one at a time.

use crate::kafka::{batch, read_all, records};
use kafka_oracle::log::{Log, LogConfig, LogError};

pub fn values(from: usize, n: usize, size: usize) -> Vec<Vec<u8>> {
    (from..from + n)
        .map(|i| {
            let mut v = format!("value-{i}-").into_bytes();
            v.resize(size.max(v.len()), b'.');
            v
        })
        .collect()
}

fn small_segments() -> LogConfig {
    let mut config = LogConfig::default();
    config.set("log.segment.bytes", "4096").unwrap();
    config.set("log.index.interval.bytes", "256").unwrap();
    config
}

#[test]
fn leader_appends_get_offsets_and_the_epoch_and_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let mut first = batch(&values(0, 3, 10), 1000);
    let mut second = batch(&values(3, 2, 10), 1001);
    let a = log.append_as_leader(&mut first, 5, 0).unwrap();
    let b = log.append_as_leader(&mut second, 7, 0).unwrap();
    assert_eq!((a.first_offset, a.last_offset), (0, 2));
    assert_eq!((b.first_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let got = read_all(&log, 0, u64::MAX, 1 << 20);
    let want: Vec<_> = values(0, 5, 10)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as u64, if i < 3 { 5 } else { 7 }, v))
        .collect();
    assert_eq!(got, want);
    assert_eq!(log.epochs(), &[(5, 0), (7, 3)]);
}

#[test]
fn a_read_returns_whole_batches_below_until_and_at_least_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default()).unwrap();
    for i in 0..4 {
        log.append_as_leader(&mut batch(&values(i * 10, 10, 100), 0), 1, 0)
            .unwrap();
    }
    let mut buf = Vec::new();
    // From the middle of the second batch: the whole second batch comes back.
    let fetched = log.read(15, 1, u64::MAX, &mut buf).unwrap();
    let got = records(fetched.records);
    assert_eq!(got.first().map(|r| r.0), Some(10), "the batch holding 15");
    assert_eq!(got.len(), 10, "max_bytes 1 still returns one whole batch");
    assert_eq!(fetched.next_offset, 20);
    // `until` (a high watermark) inside the third batch stops after the second.
    let fetched = log.read(0, 1 << 20, 25, &mut buf).unwrap();
    assert_eq!(records(fetched.records).len(), 20);
    assert_eq!(fetched.next_offset, 20);
    // At the log end: nothing, and no error.
    let fetched = log.read(40, 1 << 20, u64::MAX, &mut buf).unwrap();
    assert!(fetched.records.is_empty());
    assert_eq!(fetched.next_offset, 40);
}

#[test]
fn impossible_offsets_are_errors_that_name_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.append_as_leader(&mut batch(&values(0, 3, 10), 0), 1, 0)
        .unwrap();
    let mut buf = Vec::new();
    let err = log.read(4, 100, u64::MAX, &mut buf).unwrap_err();
    assert!(matches!(
        err,
        LogError::OffsetOutOfRange {
            requested: 4,
            start: 0,
            end: 3
        }
    ));
    assert_eq!(
        err.to_string(),
        "offset 4 is out of range: the log holds 0..3"
    );
    assert!(log.set_high_watermark(4).is_err());
    assert!(log.read(u64::MAX, 100, u64::MAX, &mut buf).is_err());
}

#[test]
fn segments_roll_and_every_offset_is_found_through_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_segments()).unwrap();
    for i in 0..60 {
        log.append_as_leader(&mut batch(&values(i * 3, 3, 50), i as i64), 1, 0)
            .unwrap();
    }
    assert!(
        log.segments().len() > 2,
        "{} segments",
        log.segments().len()
    );
    for s in log.segments() {
        let name = s.path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(name, format!("{:020}.log", s.base_offset));
    }
    let mut buf = Vec::new();
    for offset in 0..180 {
        let fetched = log.read(offset, 1, u64::MAX, &mut buf).unwrap();
        let got = records(fetched.records);
        assert!(got.iter().any(|r| r.0 == offset), "offset {offset}");
    }
    let all = read_all(&log, 0, u64::MAX, 1000);
    assert_eq!(all.len(), 180);
    // A clean reopen reads the sealed segments through their index files.
    log.close().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    assert_eq!(read_all(&log, 0, u64::MAX, 1000), all);
    assert!(
        log.recovery_notes().is_empty(),
        "{:?}",
        log.recovery_notes()
    );
}

#[test]
fn a_follower_appends_as_received_and_only_contiguously() {
    let dir = tempfile::tempdir().unwrap();
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = Log::open(leader_dir.path(), LogConfig::default()).unwrap();
    leader
        .append_as_leader(&mut batch(&values(0, 4, 10), 0), 3, 0)
        .unwrap();
    leader
        .append_as_leader(&mut batch(&values(4, 4, 10), 0), 4, 0)
        .unwrap();
    let mut buf = Vec::new();
    let fetched = leader.read(0, 1 << 20, u64::MAX, &mut buf).unwrap();
    let mut follower = Log::open(dir.path(), LogConfig::default()).unwrap();
    let appended = follower.append_as_follower(fetched.records, 0).unwrap();
    assert_eq!((appended.first_offset, appended.last_offset), (0, 7));
    assert_eq!(follower.epochs(), leader.epochs());
    assert_eq!(
        read_all(&follower, 0, u64::MAX, 100),
        read_all(&leader, 0, u64::MAX, 100)
    );
    // The same bytes again do not start at the follower's end.
    let err = follower.append_as_follower(fetched.records, 0).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::NonContiguous {
                expected: 8,
                got: 0
            }
        ),
        "{err}"
    );
    assert_eq!(follower.log_end_offset(), 8);
}

#[test]
fn a_bad_batch_refuses_the_whole_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let good = batch(&values(0, 2, 10), 0);
    let mut bad = batch(&values(2, 2, 10), 0);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut both = [good.clone(), bad].concat();
    let err = log.append_as_leader(&mut both, 1, 0).unwrap_err();
    assert!(
        matches!(err, LogError::InvalidBatch { batch: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("CRC32C"), "{err}");
    assert_eq!(log.log_end_offset(), 0, "nothing of the call was written");
    assert!(matches!(
        log.append_as_leader(&mut [], 1, 0),
        Err(LogError::Empty)
    ));
    let mut oversized = batch(&values(0, 1, 2000), 0);
    let mut config = LogConfig::default();
    config.set("message.max.bytes", "1000").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config).unwrap();
    let err = log.append_as_leader(&mut oversized, 1, 0).unwrap_err();
    assert!(err.to_string().contains("max.message.bytes"), "{err}");
}

#[test]
fn truncation_removes_whole_batches_and_later_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_segments()).unwrap();
    for i in 0..40u64 {
        let epoch = 1 + (i / 10) as i32;
        log.append_as_leader(&mut batch(&values(i as usize * 2, 2, 60), 0), epoch, 0)
            .unwrap();
    }
    log.set_high_watermark(80).unwrap();
    // 41 is inside the batch 40..=41: that batch goes too.
    assert_eq!(log.truncate_to(41).unwrap(), 40);
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(log.high_watermark(), 40);
    assert_eq!(log.epochs(), &[(1, 0), (2, 20)]);
    assert_eq!(read_all(&log, 0, u64::MAX, 500).len(), 40);
    // Appending after a truncation continues from the new end, and survives a crash.
    log.append_as_leader(&mut batch(&values(100, 2, 60), 0), 9, 0)
        .unwrap();
    log.flush().unwrap();
    drop(log);
    let log = Log::open(dir.path(), small_segments()).unwrap();
    let all = read_all(&log, 0, u64::MAX, 500);
    assert_eq!(all.len(), 42);
    assert_eq!(all[40], (40, 9, values(100, 1, 60).remove(0)));
    assert_eq!(log.epochs(), &[(1, 0), (2, 20), (9, 40)]);
    let mut log = log;
    assert!(
        matches!(log.truncate_to(50).unwrap(), 42),
        "past the end: nothing to do"
    );
}

#[test]
fn the_epoch_cache_answers_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(
        log.end_offset_for_epoch(0),
        None,
        "an empty cache knows no epoch"
    );
    for (epoch, n) in [(2, 3), (4, 2), (7, 5)] {
        log.append_as_leader(&mut batch(&values(0, n, 5), 0), epoch, 0)
            .unwrap();
    }
    assert_eq!(log.epochs(), &[(2, 0), (4, 3), (7, 5)]);
    // KIP-279: the largest known epoch at or below, ending where the next starts.
    assert_eq!(log.end_offset_for_epoch(2), Some((2, 3)));
    assert_eq!(log.end_offset_for_epoch(3), Some((2, 3)));
    assert_eq!(log.end_offset_for_epoch(5), Some((4, 5)));
    assert_eq!(
        log.end_offset_for_epoch(7),
        Some((7, 10)),
        "the latest ends at the log end"
    );
    assert_eq!(
        log.end_offset_for_epoch(1),
        Some((1, 0)),
        "older than all: the first start"
    );
    assert_eq!(
        log.end_offset_for_epoch(8),
        None,
        "newer than all: undefined"
    );
    drop(log);
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.epochs(), &[(2, 0), (4, 3), (7, 5)], "persisted");
}

#[test]
fn the_flush_policy_moves_the_flushed_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LogConfig::default();
    config.set("log.flush.interval.messages", "5").unwrap();
    config.set("log.flush.interval.ms", "1000").unwrap();
    let mut log = Log::open(dir.path(), config).unwrap();
    let a = log
        .append_as_leader(&mut batch(&values(0, 3, 5), 0), 1, 10)
        .unwrap();
    assert!(!a.flushed);
    assert_eq!(log.flushed_offset(), 0);
    let b = log
        .append_as_leader(&mut batch(&values(3, 3, 5), 0), 1, 20)
        .unwrap();
    assert!(b.flushed, "6 messages >= 5");
    assert_eq!(log.flushed_offset(), 6);
    log.append_as_leader(&mut batch(&values(6, 1, 5), 0), 1, 500)
        .unwrap();
    assert!(!log.flush_if_due(1499).unwrap());
    assert_eq!(log.flushed_offset(), 6);
    assert!(
        log.flush_if_due(1500).unwrap(),
        "1000 ms after the first unflushed append"
    );
    assert_eq!(log.flushed_offset(), 7);
    assert!(log.segments().iter().all(|s| s.flushed_size == s.size));
}

#[test]
fn the_high_watermark_checkpoint_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.append_as_leader(&mut batch(&values(0, 5, 5), 0), 1, 0)
        .unwrap();
    log.set_high_watermark(3).unwrap();
    log.checkpoint_high_watermark().unwrap();
    log.set_high_watermark(5).unwrap();
    drop(log);
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(
        log.high_watermark(),
        3,
        "the last checkpoint, not the last value"
    );
}

#[test]
fn retention_deletes_whole_old_segments_below_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_segments();
    config.set("log.retention.bytes", "8192").unwrap();
    config.set("log.retention.ms", "-1").unwrap();
    let mut log = Log::open(dir.path(), config).unwrap();
    for i in 0..60 {
        let epoch = 1 + i / 20;
        log.append_as_leader(&mut batch(&values(i as usize * 3, 3, 50), 0), epoch, 0)
            .unwrap();
    }
    let before = log.segments().len();
    assert_eq!(
        log.enforce_retention(0).unwrap(),
        0,
        "nothing below the high watermark"
    );
    log.set_high_watermark(log.log_end_offset()).unwrap();
    let deleted = log.enforce_retention(0).unwrap();
    assert!(deleted > 0);
    assert_eq!(log.segments().len(), before - deleted);
    assert!(log.size_bytes() >= 8192 && log.size_bytes() - log.segments()[0].size < 8192);
    let start = log.log_start_offset();
    assert!(start > 0);
    assert_eq!(log.segments()[0].base_offset, start);
    assert_eq!(
        log.epochs()[0].1.max(start),
        log.epochs()[0].1,
        "the first epoch starts at or after the log start"
    );
    let mut buf = Vec::new();
    assert!(matches!(
        log.read(0, 100, u64::MAX, &mut buf),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        read_all(&log, start, u64::MAX, 1000).len() as u64,
        180 - start
    );
    assert!(!dir.path().join(format!("{:020}.log", 0)).exists());
}

#[test]
fn retention_by_age_uses_the_newest_timestamp_of_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_segments();
    config.set("log.retention.ms", "1000").unwrap();
    let mut log = Log::open(dir.path(), config).unwrap();
    for i in 0..40 {
        log.append_as_leader(&mut batch(&values(i * 3, 3, 50), i as i64 * 100), 1, 0)
            .unwrap();
    }
    log.set_high_watermark(log.log_end_offset()).unwrap();
    assert!(log.segments().len() >= 3);
    // Offset o is stamped o / 3 * 100. At 3500, records before 2500
    // (offsets below 75) are too old; a segment goes when all of it is.
    assert!(log.enforce_retention(3500).unwrap() > 0);
    let start = log.log_start_offset();
    assert!(start > 0 && start <= 75, "log start {start}");
    let first_end = log
        .segments()
        .get(1)
        .map_or(log.log_end_offset(), |s| s.base_offset);
    assert!(
        first_end > 75,
        "the first segment kept holds a record stamped 2500 or later"
    );
}

#[test]
fn knobs_are_kafkas_and_bad_values_name_the_knob() {
    let mut config = LogConfig::default();
    assert_eq!(config.segment_bytes, 1 << 30);
    let err = config.set("log.segment.bytes", "-5").unwrap_err();
    assert!(err.starts_with("log.segment.bytes=-5:"), "{err}");
    let err = config
        .set("log.flush.interval.messages", "often")
        .unwrap_err();
    assert!(err.contains("not an integer"), "{err}");
    let err = config.set("log.segmnet.bytes", "1").unwrap_err();
    assert!(
        err.contains("unknown log setting") && err.contains("log.segment.bytes"),
        "{err}"
    );
    config.set("log.retention.bytes", "-1").unwrap();
    assert_eq!(config.retention_bytes, None);
}
