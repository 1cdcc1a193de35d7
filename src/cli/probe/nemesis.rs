//! The nemesis: the user's fault command, run on a schedule.

use super::workload::Workload;
use super::ProbeArgs;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When the nemesis runs, counted from the producers' start.
pub(super) enum Schedule {
    Every(Duration),
    At(Vec<Duration>),
}

impl Schedule {
    /// The schedule the arguments ask for (clap has made sure that
    /// --nemesis comes with exactly one of them), or none.
    pub(super) fn new(
        args: &ProbeArgs,
        duration_ms: Option<u64>,
    ) -> Result<Option<Schedule>, String> {
        if let Some(ms) = args.nemesis_every_ms {
            if ms == 0 {
                return Err("--nemesis-every-ms: at least 1".into());
            }
            return Ok(Some(Schedule::Every(Duration::from_millis(ms))));
        }
        if args.nemesis_at.is_empty() {
            return Ok(None);
        }
        let times = args
            .nemesis_at
            .iter()
            .map(|ms| ms.to_string())
            .collect::<Vec<_>>()
            .join(",");
        if args.nemesis_at.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "--nemesis-at {times}: the times must increase (each run waits for the one before)"
            ));
        }
        if let Some(end) = duration_ms {
            if let Some(late) = args.nemesis_at.iter().find(|&&ms| ms >= end) {
                return Err(format!(
                    "--nemesis-at {times}: {late} ms is not before the producers stop at {end} ms (--duration-ms)"
                ));
            }
        }
        Ok(Some(Schedule::At(
            args.nemesis_at
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
        )))
    }

    /// When run `run` (from 1) is due, if there is one.
    pub(super) fn time_of(&self, run: u32) -> Option<Duration> {
        match self {
            Schedule::Every(every) => every.checked_mul(run),
            Schedule::At(times) => times
                .get(usize::try_from(run).ok()?.checked_sub(1)?)
                .copied(),
        }
    }
}

/// Runs `cmd` when `schedule` says until the workload stops, one run at a
/// time: a run that overruns the next one's time delays it. Its failures
/// are said on stderr and the workload goes on. (The history format has no
/// operation for faults, so they are not in the history.)
pub(super) async fn nemesis(cmd: String, schedule: Schedule, w: Arc<Workload>) {
    let started = Instant::now();
    for run in 1..=u32::MAX {
        let Some(at) = schedule.time_of(run) else {
            return;
        };
        // Short naps, so that the end of the workload is noticed soon.
        while Instant::now() < started + at && !w.stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if w.stop.load(Ordering::SeqCst) {
            if matches!(schedule, Schedule::At(_)) {
                eprintln!("probe: the producers stopped before nemesis run {run}; it does not run");
            }
            return;
        }
        let ms = started.elapsed().as_millis();
        eprintln!("probe: nemesis run {run} at {ms} ms: {cmd}");
        let command = cmd.clone();
        let ran = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .env("KAFKA_ORACLE_NEMESIS_RUN", run.to_string())
                .stdin(std::process::Stdio::null())
                .status()
        })
        .await;
        match ran {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => eprintln!("probe: nemesis failed ({status}); the workload goes on"),
            Ok(Err(e)) => eprintln!("probe: nemesis could not run: {e}; the workload goes on"),
            Err(e) => eprintln!("probe: nemesis could not run: {e}; the workload goes on"),
        }
    }
}
