//! `kafka-oracle probe`: record a history from any Kafka-compatible
//! system through a client library that is not ours (rskafka), optionally
//! under faults a user-given command injects, then judge it with the
//! verify-history checker.
//!
//! Producers send unique integer values, one record a send and one attempt
//! a send; consumers assign every partition, read from the beginning and
//! commit what they read, in the order of the consumer loop
//! ([`crate::consumer`]): after each poll, or every auto-commit interval
//! before a poll, as Kafka's consumer does with `enable.auto.commit`; at
//! the end one more consumer reads every partition to its end (the final
//! read, the ground truth of what the system holds), and the history says
//! which partitions it read to their end. Every operation is a line of the
//! history when invoked and another when it completes.
//!
//! The parts, by role: [`settings`] (the client settings by Kafka's names),
//! [`recorder`] (the history as it is written), [`client`] (the system
//! under test: connecting, the topic, its partitions), [`workload`]
//! (producers and consumers), [`final_read`] (the last consumer, whose
//! read is the ground truth) and [`nemesis`] (the user's fault command).

mod client;
mod final_read;
mod nemesis;
mod recorder;
mod settings;
mod workload;

use super::verify_history::print_report;
use crate::history::verify;
use clap::Args;
use client::{connect, partitions, prepare_topic};
use final_read::read_to_end;
use nemesis::{nemesis, Schedule};
use recorder::{History, Log};
use settings::Settings;
use std::fs::File;
use std::io::{BufReader, LineWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workload::{consume, produce, Workload};

#[derive(Args)]
pub struct ProbeArgs {
    /// Where the system under test listens: HOST:PORT[,HOST:PORT...].
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: String,
    /// The topic; created with --keys partitions if it does not exist.
    #[arg(long, default_value = "probe")]
    topic: String,
    /// How many partitions (the history's keys).
    #[arg(long, default_value_t = 3)]
    keys: i32,
    /// Producer processes.
    #[arg(long, default_value_t = 2)]
    producers: u32,
    /// Consumer processes (besides the final reader).
    #[arg(long, default_value_t = 2)]
    consumers: u32,
    /// How long producers send (default 10000 unless --messages is given).
    #[arg(long, value_name = "MS")]
    duration_ms: Option<u64>,
    /// Stop after this many sends in all.
    #[arg(long, value_name = "N")]
    messages: Option<i64>,
    /// A client setting by Kafka's name (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// A shell command run during the workload (sh -c), to inject faults:
    /// kill or restart a broker, cut a link. Each run finds its number (1,
    /// 2, ...) in KAFKA_ORACLE_NEMESIS_RUN, so that one script can take a
    /// different step each time.
    #[arg(long, value_name = "CMD", requires = "nemesis_schedule")]
    nemesis: Option<String>,
    /// Run the nemesis every MS; the first run is one interval in.
    #[arg(
        long,
        value_name = "MS",
        group = "nemesis_schedule",
        requires = "nemesis"
    )]
    nemesis_every_ms: Option<u64>,
    /// Run the nemesis at these times, in increasing order (ms since the
    /// producers started).
    #[arg(
        long,
        value_name = "MS,...",
        value_delimiter = ',',
        group = "nemesis_schedule",
        requires = "nemesis"
    )]
    nemesis_at: Vec<u64>,
    /// Keep the history in FILE (JSON lines, verify-history's format).
    #[arg(long, value_name = "FILE")]
    history_out: Option<String>,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ProbeArgs) -> Result<u8, String> {
    let settings = Settings::parse(&args.set)?;
    if !(1..=1024).contains(&args.keys) {
        return Err(format!("--keys {}: between 1 and 1024", args.keys));
    }
    if args.producers == 0 {
        return Err("--producers: at least 1".into());
    }
    if args.messages.is_some_and(|n| n < 1) {
        return Err("--messages: at least 1".into());
    }
    let duration = match (args.duration_ms, args.messages) {
        (None, None) => Some(10_000),
        (d, _) => d,
    };
    let schedule = Schedule::new(&args, duration)?;
    let bootstrap: Vec<String> = args
        .bootstrap
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if bootstrap.is_empty() {
        return Err("--bootstrap: no address".into());
    }
    // Without --history-out the history lives in a temporary file, judged
    // and then removed.
    let temporary;
    let path = match &args.history_out {
        Some(path) => std::path::PathBuf::from(path),
        None => {
            temporary = tempfile::NamedTempFile::new()
                .map_err(|e| format!("cannot make a temporary file: {e}"))?;
            temporary.path().to_path_buf()
        }
    };
    let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let started = Instant::now();
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let workload = Arc::new(Workload {
        log: Log(Arc::new(Mutex::new(History {
            out: LineWriter::new(file),
            index: 0,
            start: started,
        }))),
        bootstrap: bootstrap.clone(),
        topic: args.topic.clone(),
        group: settings
            .group_id
            .clone()
            .unwrap_or_else(|| format!("kafka-oracle-probe-{run}")),
        run,
        keys: args.keys,
        settings,
        next_value: AtomicI64::new(0),
        messages: args.messages,
        deadline: duration.map(|ms| started + Duration::from_millis(ms)),
        stop: AtomicBool::new(false),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(drive(&args, schedule, bootstrap, Arc::clone(&workload)))?;
    {
        let mut history = workload
            .log
            .0
            .lock()
            .map_err(|_| "the history writer failed".to_string())?;
        history
            .out
            .flush()
            .map_err(|e| format!("cannot write the history: {e}"))?;
    }
    let name = path.display().to_string();
    let file = File::open(&path).map_err(|e| format!("{name}: {e}"))?;
    let report = verify(BufReader::with_capacity(1 << 16, file)).map_err(|e| e.in_file(&name))?;
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print_report(&name, &report);
    }
    Ok(super::verify_history::exit_code(&report))
}

/// How long setting up (connecting, creating the topic, finding leaders)
/// and learning where partitions end for the final read may take.
const SETUP_WAIT: Duration = Duration::from_secs(30);

async fn drive(
    args: &ProbeArgs,
    schedule: Option<Schedule>,
    bootstrap: Vec<String>,
    w: Arc<Workload>,
) -> Result<(), String> {
    // Reads may be retried freely: a fetch changes nothing.
    let reader = connect(&bootstrap, &w.settings, Some(w.settings.request_timeout)).await?;
    // Each send is one attempt: a resend without idempotence could append
    // a value twice, a duplicate of the client's making.
    let writer = connect(&bootstrap, &w.settings, Some(Duration::ZERO)).await?;
    let timeout_ms = w.settings.request_timeout.as_millis().min(i32::MAX as u128) as i32;
    prepare_topic(&reader, &args.topic, w.keys, timeout_ms).await?;
    let readers = Arc::new(partitions(&reader, &args.topic, w.keys).await?);
    let writers = Arc::new(partitions(&writer, &args.topic, w.keys).await?);

    let mut producers = tokio::task::JoinSet::new();
    for p in 0..args.producers {
        producers.spawn(produce(u64::from(p), Arc::clone(&w), Arc::clone(&writers)));
    }
    let mut consumers = tokio::task::JoinSet::new();
    for c in 0..args.consumers {
        let process = u64::from(args.producers + c);
        consumers.spawn(consume(process, Arc::clone(&w), Arc::clone(&readers)));
    }
    let nemesis = match (&args.nemesis, schedule) {
        (Some(cmd), Some(schedule)) => {
            Some(tokio::spawn(nemesis(cmd.clone(), schedule, Arc::clone(&w))))
        }
        _ => None,
    };
    let mut result = Ok(());
    while let Some(done) = producers.join_next().await {
        result = result.and(done.map_err(|e| format!("a producer failed: {e}"))?);
    }
    w.stop.store(true, Ordering::SeqCst);
    while let Some(done) = consumers.join_next().await {
        result = result.and(done.map_err(|e| format!("a consumer failed: {e}"))?);
    }
    if let Some(nemesis) = nemesis {
        let _ = nemesis.await;
    }
    result?;
    let final_process = u64::from(args.producers + args.consumers);
    read_to_end(final_process, &w, &readers).await
}
