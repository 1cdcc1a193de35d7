//! Opening a log after a crash: torn tails, corrupt bytes, damaged or
//! missing index and checkpoint files. Recovery cuts what it cannot
//! validate past the flushed point, rebuilds what it can, and reports
//! damage to flushed data as an error, never a panic.

use crate::api::values;
use crate::kafka::{batch, read_all};
use kafka_oracle::log::{Log, LogConfig, LogError};
use std::fs::{self, OpenOptions};
use std::path::Path;

fn small_segments() -> LogConfig {
    let mut config = LogConfig::default();
    config.set("log.segment.bytes", "2048").unwrap();
    config.set("log.index.interval.bytes", "128").unwrap();
    config
}

/// A log of `batches` batches of 4 records, flushed after the first
/// `flushed`, then dropped as in a crash. Returns every record.
fn crashed_log(
    dir: &Path,
    config: &LogConfig,
    batches: usize,
    flushed: usize,
) -> Vec<(u64, i32, Vec<u8>)> {
    let mut log = Log::open(dir, config.clone()).unwrap();
    for i in 0..batches {
        log.append_as_leader(&mut batch(&values(i * 4, 4, 40), i as i64), 1, 0)
            .unwrap();
        if i + 1 == flushed {
            log.flush().unwrap();
        }
    }
    read_all(&log, 0, u64::MAX, 1 << 20)
}

fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn flip(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_tail_torn_anywhere_past_the_flushed_point_is_cut_to_a_clean_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::default();
    let all = crashed_log(dir.path(), &config, 6, 3);
    let segment = dir.path().join(format!("{:020}.log", 0));
    let size = fs::metadata(&segment).unwrap().len();
    let flushed = size / 2; // three of six equal batches
    for len in (flushed..=size).step_by(7).chain([size - 1]) {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        set_len(&copy.path().join(format!("{:020}.log", 0)), len);
        let log = Log::open(copy.path(), config.clone()).unwrap();
        let got = read_all(&log, 0, u64::MAX, 1 << 20);
        assert!(
            got.len() >= 12,
            "cut at {len}: the flushed 12 records survive"
        );
        assert_eq!(got[..], all[..got.len()], "cut at {len}: a prefix");
        assert_eq!(log.log_end_offset(), got.len() as u64);
        let whole_batches = len == size || (len - flushed).is_multiple_of(size / 6);
        assert_eq!(
            log.recovery_notes().is_empty(),
            whole_batches,
            "cut at {len}: {:?}",
            log.recovery_notes()
        );
        assert_eq!(
            log.flushed_offset(),
            12,
            "what was flushed before the crash, no more"
        );
    }
}

#[test]
fn garbage_after_the_last_batch_is_cut_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let all = crashed_log(dir.path(), &LogConfig::default(), 3, 3);
    let segment = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[0xAB; 300]);
    fs::write(&segment, &bytes).unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(read_all(&log, 0, u64::MAX, 1 << 20), all);
    assert_eq!(log.recovery_notes().len(), 1);
    assert!(
        log.recovery_notes()[0].contains("cut at byte"),
        "{:?}",
        log.recovery_notes()
    );
    log.append_as_leader(&mut batch(&values(99, 1, 5), 0), 2, 0)
        .unwrap();
    drop(log);
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 13);
    assert!(log.recovery_notes().is_empty());
}

#[test]
fn a_corrupt_batch_past_the_flushed_point_cuts_the_log_there_with_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let all = crashed_log(dir.path(), &config, 40, 10);
    let log = Log::open(dir.path(), config.clone()).unwrap();
    let segments = log.segments();
    drop(log);
    assert!(segments.len() >= 4);
    // Damage a record (inside the CRC) in the second-to-last segment.
    let victim = &segments[segments.len() - 2];
    flip(&victim.path, 100);
    // A crash: nothing was flushed since the first 10 batches.
    fs::remove_file(dir.path().join("recovery-point-offset-checkpoint")).unwrap();
    let log = Log::open(dir.path(), config).unwrap();
    let got = read_all(&log, 0, u64::MAX, 1 << 20);
    assert_eq!(
        log.log_end_offset(),
        victim.base_offset,
        "cut at the damaged first batch"
    );
    assert_eq!(got[..], all[..victim.base_offset as usize]);
    assert_eq!(log.segments().len(), segments.len() - 1);
    assert!(
        !segments.last().unwrap().path.exists(),
        "the segment after the cut is deleted"
    );
    let notes = log.recovery_notes().join("\n");
    assert!(notes.contains("CRC32C"), "{notes}");
    assert!(notes.contains("deleted"), "{notes}");
}

#[test]
fn a_damaged_base_offset_breaks_the_chain_and_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let all = crashed_log(dir.path(), &LogConfig::default(), 4, 0);
    let segment = dir.path().join(format!("{:020}.log", 0));
    let batch_size = fs::metadata(&segment).unwrap().len() as usize / 4;
    flip(&segment, 2 * batch_size + 7);
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(read_all(&log, 0, u64::MAX, 1 << 20), all[..8]);
    assert!(
        log.recovery_notes()[0].contains("starts at offset"),
        "{:?}",
        log.recovery_notes()
    );
}

#[test]
fn damage_to_flushed_data_is_an_error_that_names_the_file_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    crashed_log(dir.path(), &config, 40, 40);
    let segments = Log::open(dir.path(), config.clone()).unwrap().segments();
    let batch_size = segments[0].size / (segments[1].base_offset / 4);
    let first = &segments[0].path;
    // With its index gone the trusted segment is walked again; the base
    // offset of its second batch no longer follows the first.
    fs::remove_file(first.with_extension("index")).unwrap();
    flip(first, batch_size as usize + 7);
    let err = Log::open(dir.path(), config).unwrap_err();
    assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("00000000000000000000.log is corrupt at byte"),
        "{text}"
    );
}

#[test]
fn missing_truncated_or_garbage_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let all = crashed_log(dir.path(), &config, 40, 40);
    let index = |base: u64, ext: &str| dir.path().join(format!("{base:020}.{ext}"));
    let bases: Vec<u64> = Log::open(dir.path(), config.clone())
        .unwrap()
        .segments()
        .iter()
        .map(|s| s.base_offset)
        .collect();
    assert!(bases.len() >= 4);
    fs::remove_file(index(bases[0], "index")).unwrap();
    let len = fs::metadata(index(bases[1], "index")).unwrap().len();
    set_len(&index(bases[1], "index"), len - 3);
    fs::write(index(bases[2], "index"), [0xFF; 64]).unwrap();
    fs::remove_file(index(bases[2], "timeindex")).unwrap();
    let log = Log::open(dir.path(), config).unwrap();
    assert_eq!(read_all(&log, 0, u64::MAX, 1 << 20), all);
    let mut buf = Vec::new();
    for offset in 0..all.len() as u64 {
        let fetched = log.read(offset, 1, u64::MAX, &mut buf).unwrap();
        assert!(!fetched.records.is_empty(), "offset {offset}");
    }
}

#[test]
fn a_missing_segment_past_the_flushed_point_drops_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let all = crashed_log(dir.path(), &config, 40, 0);
    let bases: Vec<u64> = Log::open(dir.path(), config.clone())
        .unwrap()
        .segments()
        .iter()
        .map(|s| s.base_offset)
        .collect();
    let _ = fs::remove_file(dir.path().join("recovery-point-offset-checkpoint"));
    // A power loss took the file of a segment created after the last fsync.
    fs::remove_file(dir.path().join(format!("{:020}.log", bases[2]))).unwrap();
    let log = Log::open(dir.path(), config).unwrap();
    assert_eq!(log.log_end_offset(), bases[2]);
    assert_eq!(
        read_all(&log, 0, u64::MAX, 1 << 20),
        all[..bases[2] as usize]
    );
    assert_eq!(log.segments().len(), 2);
}

#[test]
fn bad_checkpoints_and_stray_files_are_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path(), &LogConfig::default(), 3, 3);
    let epochs = dir.path().join("leader-epoch-checkpoint");
    fs::write(&epochs, "0\n2\n1 0\nseven 3\n").unwrap();
    let err = Log::open(dir.path(), LogConfig::default()).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("leader-epoch-checkpoint:4: \"seven 3\" is not 2 integers"),
        "{err}"
    );
    fs::write(&epochs, "0\n2\n5 10\n3 20\n").unwrap();
    let err = Log::open(dir.path(), LogConfig::default()).unwrap_err();
    assert!(err.to_string().contains(":4: entry 3 20"), "{err}");
    fs::write(&epochs, "1\n0\n").unwrap();
    let err = Log::open(dir.path(), LogConfig::default()).unwrap_err();
    assert!(err.to_string().contains(":1: version"), "{err}");
    fs::write(&epochs, "0\n1\n1 0\n").unwrap();

    let hw = dir.path().join("replication-offset-checkpoint");
    fs::write(&hw, "0\n1\n-4\n").unwrap();
    let err = Log::open(dir.path(), LogConfig::default()).unwrap_err();
    assert!(
        err.to_string().contains("replication-offset-checkpoint:3"),
        "{err}"
    );
    fs::remove_file(&hw).unwrap();

    fs::write(dir.path().join("notes.log"), "hello").unwrap();
    let err = Log::open(dir.path(), LogConfig::default()).unwrap_err();
    assert!(err.to_string().contains("notes.log"), "{err}");
    fs::remove_file(dir.path().join("notes.log")).unwrap();

    // Leftovers of interrupted writes and deletes are cleaned up.
    fs::write(dir.path().join("leader-epoch-checkpoint.tmp"), "0\n").unwrap();
    fs::write(dir.path().join(format!("{:020}.index", 77)), [1, 2]).unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 12);
    assert!(!dir.path().join("leader-epoch-checkpoint.tmp").exists());
    assert!(!dir.path().join(format!("{:020}.index", 77)).exists());
}

#[test]
fn lowering_message_max_bytes_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let all = crashed_log(dir.path(), &config, 12, 6);
    let mut lowered = config.clone();
    lowered.set("message.max.bytes", "100").unwrap();
    let mut log = Log::open(dir.path(), lowered).unwrap();
    assert!(
        log.recovery_notes().is_empty(),
        "{:?}",
        log.recovery_notes()
    );
    assert_eq!(read_all(&log, 0, u64::MAX, 1 << 20), all);
    // A producer is held to the new limit; a follower takes what its leader took.
    let mut big = batch(&values(1000, 4, 40), 0);
    assert!(log.append_as_leader(&mut big, 1, 0).is_err());
    kafka_oracle::log::batch::assign(&mut big, log.log_end_offset(), 1);
    log.append_as_follower(&big, 0).unwrap();
}
