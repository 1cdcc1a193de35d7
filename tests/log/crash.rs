//! A writer process is killed with SIGKILL in the middle of its appends,
//! again and again; after each kill the log is reopened and must be a clean
//! prefix of what the writer wrote that keeps every batch the writer saw
//! flushed before it died.
//!
//! The writer is this same test binary, re-run on the ignored test
//! `crash_child`, so that the kill lands in real appends of the real log.

use crate::kafka::{batch, read_all};
use kafka_oracle::log::{Log, LogConfig};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

const CHILD_DIR: &str = "KAFKA_ORACLE_LOG_CRASH_DIR";
const ROUNDS: usize = 60;

fn config() -> LogConfig {
    let mut config = LogConfig::default();
    config.set("log.segment.bytes", "65536").unwrap();
    config.set("log.index.interval.bytes", "1024").unwrap();
    config.set("log.flush.interval.messages", "40").unwrap();
    config
}

/// What every writer puts at `offset`: a restarted writer continues the
/// same sequence, so any surviving prefix can be checked byte for byte.
fn value_at(offset: u64) -> Vec<u8> {
    let mut value = format!("crash-{offset}-").into_bytes();
    value.resize(64 + (offset % 50) as usize, b'#');
    value
}

#[test]
#[ignore = "the writer process of sigkill_in_the_middle_of_appends_loses_no_flushed_batch"]
fn crash_child() {
    let dir = std::env::var_os(CHILD_DIR)
        .expect("run by sigkill_in_the_middle_of_appends_loses_no_flushed_batch, which sets the log directory");
    let mut log = Log::open(dir, config()).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "opened {}", log.log_end_offset()).unwrap();
    out.flush().unwrap();
    loop {
        let start = log.log_end_offset();
        let values: Vec<Vec<u8>> = (start..start + 1 + start % 7).map(value_at).collect();
        let appended = log
            .append_as_leader(&mut batch(&values, start as i64), 1, 0)
            .unwrap();
        if appended.flushed {
            writeln!(out, "flushed {}", log.flushed_offset()).unwrap();
            out.flush().unwrap();
        }
    }
}

/// splitmix64: enough randomness for kill timing, replayable from a seed.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn sigkill_in_the_middle_of_appends_loses_no_flushed_batch() {
    let seed = std::env::var("KAFKA_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("seed {seed} (KAFKA_ORACLE_SEED={seed} replays the kill schedule)");
    let mut rng = seed;
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("child.stderr");
    let log_dir = dir.path().join("log");
    let mut flushed = 0;
    // Rounds whose kill found appends not yet flushed: the case that matters.
    let mut unflushed_at_kill = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, &log_dir)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let flushes_to_see = next(&mut rng) % 4;
        let mut seen = 0;
        while let Some(line) = lines.next().transpose().unwrap() {
            if let Some(end) = line.strip_prefix("opened ") {
                let end: u64 = end.parse().unwrap();
                assert!(end >= flushed, "round {round}: the writer opened a log ending at {end}, below the flushed {flushed}");
            } else if let Some(offset) = line.strip_prefix("flushed ") {
                flushed = offset.parse().unwrap();
                seen += 1;
            } else {
                continue;
            }
            if seen >= flushes_to_see {
                break;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "round {round}: the writer died by itself: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_micros(next(&mut rng) % 3000));
        child.kill().unwrap();
        child.wait().unwrap();

        let log = Log::open(&log_dir, config()).unwrap();
        let end = log.log_end_offset();
        assert!(
            end >= flushed,
            "round {round}: flushed offset {flushed} lost, the log ends at {end}"
        );
        unflushed_at_kill += usize::from(end > flushed);
        let records = read_all(&log, 0, u64::MAX, 1 << 20);
        assert_eq!(records.len() as u64, end, "round {round}: offsets from 0");
        for (offset, epoch, value) in records {
            assert_eq!(
                (epoch, value),
                (1, value_at(offset)),
                "round {round}: offset {offset}"
            );
        }
        flushed = end;
    }
    println!("{unflushed_at_kill} of {ROUNDS} kills came between a flush and the next");
    assert!(
        unflushed_at_kill > 0,
        "no kill landed among unflushed appends"
    );
}
