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
//! the end one more consumer reads every partition to its end, so that an
//! acknowledged value never read is judged `unseen`. Every operation is a
//! line of the history when invoked and another when it completes.

use super::commits::{Committed, Committer};
use super::verify_history::print_report;
use crate::consumer::{CommitPolicy, ConsumerLoop, Offsets, Work};
use crate::history::verify;
use clap::Args;
use rskafka::chrono::{DateTime, Utc};
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use rskafka::BackoffConfig;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, LineWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// The client settings the probe honours, by Kafka's names.
struct Settings {
    request_timeout: Duration,
    retry_backoff: Duration,
    client_id: String,
    fetch_max_wait_ms: i32,
    fetch_max_bytes: i32,
    /// `None`: the consumers' group is this run's own.
    group_id: Option<String>,
    auto_commit: bool,
    auto_commit_interval: Duration,
}

const KNOBS: &[&str] = &[
    "acks",
    "request.timeout.ms",
    "retry.backoff.ms",
    "client.id",
    "fetch.max.wait.ms",
    "fetch.max.bytes",
    "enable.idempotence",
    "retries",
    "group.id",
    "enable.auto.commit",
    "auto.commit.interval.ms",
];

impl Settings {
    fn parse(sets: &[String]) -> Result<Settings, String> {
        let mut s = Settings {
            request_timeout: Duration::from_millis(30_000),
            retry_backoff: Duration::from_millis(100),
            client_id: "kafka-oracle-probe".to_string(),
            // Kafka's 500 ms would make an idle consumer's pass over its
            // partitions slow; the probe wants many short polls.
            fetch_max_wait_ms: 100,
            fetch_max_bytes: 1 << 20,
            group_id: None,
            auto_commit: true,
            auto_commit_interval: Duration::from_millis(5_000),
        };
        for pair in sets {
            let (knob, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
            let (knob, value) = (knob.trim(), value.trim());
            let bad = |why: &str| format!("--set {knob}={value}: {why}");
            // Kafka's wire protocol carries these as 32-bit integers.
            let positive = || -> Result<u64, String> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|&v| (1..=i32::MAX as u64).contains(&v))
                    .ok_or_else(|| bad("a positive integer (at most 2147483647)"))
            };
            match knob {
                // rskafka always asks for acks=all; any other value would
                // be a setting the probe cannot honour.
                "acks" => {
                    if value != "all" && value != "-1" {
                        return Err(bad("rskafka always sends acks=all (-1)"));
                    }
                }
                "request.timeout.ms" => s.request_timeout = Duration::from_millis(positive()?),
                "retry.backoff.ms" => s.retry_backoff = Duration::from_millis(positive()?),
                "client.id" => s.client_id = value.to_string(),
                "fetch.max.wait.ms" => s.fetch_max_wait_ms = positive()? as i32,
                "fetch.max.bytes" => s.fetch_max_bytes = positive()? as i32,
                "group.id" if !value.is_empty() => s.group_id = Some(value.to_string()),
                "group.id" => return Err(bad("a group needs a name")),
                "enable.auto.commit" => {
                    s.auto_commit = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("true or false")),
                    }
                }
                "auto.commit.interval.ms" => {
                    s.auto_commit_interval = Duration::from_millis(positive()?)
                }
                // rskafka has no idempotent producer, and the probe sends
                // each value once: a resend without idempotence may
                // duplicate, which would be the client's doing.
                "enable.idempotence" => {
                    if value != "false" {
                        return Err(bad("rskafka has no idempotent producer"));
                    }
                }
                "retries" => {
                    if value != "0" {
                        return Err(bad(
                            "the probe sends each value once (an unknown outcome is recorded as info)",
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "--set {knob}={value}: unknown setting {knob:?} (the probe knows {})",
                        KNOBS.join(", ")
                    ))
                }
            }
        }
        Ok(s)
    }

    fn commit_policy(&self) -> CommitPolicy {
        if self.auto_commit {
            let interval = self.auto_commit_interval.as_millis();
            CommitPolicy::Auto {
                interval_ms: u64::try_from(interval).unwrap_or(u64::MAX),
            }
        } else {
            CommitPolicy::AfterProcessing
        }
    }
}

/// The history as it is written: each line numbered and timed as it comes,
/// and written out when the operation happens, so that the file is the
/// history so far: a nemesis script may read it to decide its next step.
struct History {
    out: LineWriter<File>,
    index: u64,
    start: Instant,
}

impl History {
    fn record(&mut self, process: u64, kind: &str, f: &str, value: Value) -> Result<(), String> {
        let line = json!({
            "index": self.index,
            "time": self.start.elapsed().as_nanos() as u64,
            "process": process,
            "type": kind,
            "f": f,
            "value": value,
        });
        self.index += 1;
        writeln!(self.out, "{line}").map_err(|e| format!("cannot write the history: {e}"))
    }
}

#[derive(Clone)]
struct Log(Arc<Mutex<History>>);

impl Log {
    fn record(&self, process: u64, kind: &str, f: &str, value: Value) -> Result<(), String> {
        // A poisoned lock means a writer panicked mid-line: the history is
        // no longer trustworthy.
        let mut history = self
            .0
            .lock()
            .map_err(|_| "the history writer failed".to_string())?;
        history.record(process, kind, f, value)
    }
}

/// What producers and consumers share.
struct Workload {
    log: Log,
    bootstrap: Vec<String>,
    topic: String,
    /// The consumers' group.
    group: String,
    /// A tag of this run in each record: a topic reused across runs holds
    /// other runs' values, which are not this history's.
    run: String,
    keys: i32,
    settings: Settings,
    next_value: AtomicI64,
    messages: Option<i64>,
    deadline: Option<Instant>,
    /// Set when the producers are done: consumers and nemesis stop.
    stop: AtomicBool,
}

impl Workload {
    fn encode(&self, value: i64) -> Vec<u8> {
        format!("{}:{value}", self.run).into_bytes()
    }

    /// This run's value in a record, if it is one of this run's.
    fn decode(&self, bytes: Option<&[u8]>) -> Option<i64> {
        let text = std::str::from_utf8(bytes?).ok()?;
        let (run, value) = text.split_once(':')?;
        (run == self.run).then(|| value.parse().ok())?
    }
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
/// and the final read may take.
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
    create_topic(&reader, &args.topic, w.keys, timeout_ms).await?;
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

async fn connect(
    bootstrap: &[String],
    settings: &Settings,
    deadline: Option<Duration>,
) -> Result<Client, String> {
    let backoff = BackoffConfig {
        init_backoff: settings.retry_backoff,
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline,
    };
    let build = ClientBuilder::new(bootstrap.to_vec())
        .client_id(settings.client_id.as_str())
        .backoff_config(backoff)
        .build();
    match tokio::time::timeout(SETUP_WAIT, build).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(format!("cannot connect to {}: {e}", bootstrap.join(","))),
        Err(_) => Err(format!(
            "cannot connect to {} within {SETUP_WAIT:?}",
            bootstrap.join(",")
        )),
    }
}

/// Creates the topic, asking again while the cluster is still forming (a
/// fresh broker may not yet list itself or the controller in metadata).
async fn create_topic(
    client: &Client,
    topic: &str,
    keys: i32,
    timeout_ms: i32,
) -> Result<(), String> {
    let until = Instant::now() + SETUP_WAIT;
    loop {
        let controller = client
            .controller_client()
            .map_err(|e| format!("no controller: {e}"))?;
        match controller
            .create_topic(topic.to_string(), keys, -1, timeout_ms)
            .await
        {
            Ok(())
            | Err(ClientError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => return Ok(()),
            Err(e) if Instant::now() > until => {
                return Err(format!("cannot create topic {topic}: {e}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A client for each partition, asking again until each has a leader.
async fn partitions(
    client: &Client,
    topic: &str,
    keys: i32,
) -> Result<Vec<PartitionClient>, String> {
    let until = Instant::now() + SETUP_WAIT;
    let mut clients = Vec::new();
    for partition in 0..keys {
        loop {
            match client
                .partition_client(topic, partition, UnknownTopicHandling::Retry)
                .await
            {
                Ok(c) => break clients.push(c),
                Err(e) if Instant::now() > until => {
                    return Err(format!("no leader for {topic}/{partition}: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    Ok(clients)
}

/// Whether a send that returned this error definitely did not append:
/// the broker refused it before writing. Anything else (a timeout, a
/// broken connection, REQUEST_TIMED_OUT after an append) is unknown.
fn refused(e: &ClientError) -> bool {
    match e {
        ClientError::ServerError { protocol_error, .. } => matches!(
            protocol_error,
            ProtocolError::NotEnoughReplicas
                | ProtocolError::NotLeaderOrFollower
                | ProtocolError::UnknownTopicOrPartition
                | ProtocolError::LeaderNotAvailable
                | ProtocolError::MessageTooLarge
                | ProtocolError::RecordListTooLarge
                | ProtocolError::InvalidRequiredAcks
        ),
        // With no retries, rskafka wraps the one attempt's error.
        ClientError::RetryFailed(rskafka::BackoffError::DeadlineExceded { source, .. }) => {
            source.downcast_ref::<ClientError>().is_some_and(refused)
        }
        _ => false,
    }
}

async fn produce(
    process: u64,
    w: Arc<Workload>,
    writers: Arc<Vec<PartitionClient>>,
) -> Result<(), String> {
    loop {
        if w.deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        let value = w.next_value.fetch_add(1, Ordering::SeqCst);
        if w.messages.is_some_and(|n| value >= n) {
            return Ok(());
        }
        let key = (value % i64::from(w.keys)) as usize;
        let name = key.to_string();
        w.log
            .record(process, "invoke", "send", json!([["send", name, value]]))?;
        let record = Record {
            key: None,
            value: Some(w.encode(value)),
            headers: BTreeMap::new(),
            timestamp: now(),
        };
        let sent = tokio::time::timeout(
            w.settings.request_timeout,
            writers[key].produce(vec![record], Compression::NoCompression),
        )
        .await;
        match sent {
            Ok(Ok(offsets)) if offsets.len() == 1 => {
                let offset = offsets[0];
                w.log.record(
                    process,
                    "ok",
                    "send",
                    json!([["send", name, [offset, value]]]),
                )?;
                continue;
            }
            Ok(Err(e)) if refused(&e) => {
                w.log
                    .record(process, "fail", "send", json!([["send", name, value]]))?
            }
            _ => w
                .log
                .record(process, "info", "send", json!([["send", name, value]]))?,
        }
        // Refused or unknown: the cluster is changing; let it settle.
        tokio::time::sleep(w.settings.retry_backoff).await;
    }
}

/// One poll: a fetch from each partition in `want` at its position,
/// advancing the position past what was read; recorded `fail` when every
/// fetch failed (nothing was read).
async fn poll(
    process: u64,
    w: &Workload,
    readers: &[PartitionClient],
    positions: &mut [i64],
    want: &[usize],
) -> Result<(), String> {
    w.log.record(process, "invoke", "poll", json!([["poll"]]))?;
    let mut read = serde_json::Map::new();
    let mut failures = 0;
    for &key in want {
        let fetched = tokio::time::timeout(
            w.settings.request_timeout,
            readers[key].fetch_records(
                positions[key],
                1..w.settings.fetch_max_bytes,
                w.settings.fetch_max_wait_ms,
            ),
        )
        .await;
        let Ok(Ok((records, _high_watermark))) = fetched else {
            failures += 1;
            continue;
        };
        let mut pairs = Vec::new();
        for r in records {
            // rskafka hands back whole batches; what lies before the
            // position was read already.
            if r.offset < positions[key] {
                continue;
            }
            positions[key] = r.offset + 1;
            if let Some(value) = w.decode(r.record.value.as_deref()) {
                pairs.push(json!([r.offset, value]));
            }
        }
        if !pairs.is_empty() {
            read.insert(key.to_string(), Value::Array(pairs));
        }
    }
    if failures == want.len() {
        // A fetch changes nothing on the broker: a poll that read nothing
        // definitely did not happen.
        w.log.record(process, "fail", "poll", json!([["poll"]]))?;
        tokio::time::sleep(w.settings.retry_backoff).await;
    } else {
        w.log.record(
            process,
            "ok",
            "poll",
            json!([["poll", Value::Object(read)]]),
        )?;
    }
    Ok(())
}

/// Records the assignment of every partition, read from the beginning.
fn assign(process: u64, w: &Workload) -> Result<Vec<i64>, String> {
    let keys: Vec<String> = (0..w.keys).map(|k| k.to_string()).collect();
    w.log.record(process, "invoke", "assign", json!(keys))?;
    w.log.record(process, "ok", "assign", json!(keys))?;
    Ok(vec![0; w.keys as usize])
}

async fn consume(
    process: u64,
    w: Arc<Workload>,
    readers: Arc<Vec<PartitionClient>>,
) -> Result<(), String> {
    let mut positions = assign(process, &w)?;
    let all: Vec<usize> = (0..w.keys as usize).collect();
    let s = &w.settings;
    let mut committer = Committer::new(
        &w.bootstrap,
        &s.client_id,
        &w.group,
        &w.topic,
        s.request_timeout,
    );
    let started = Instant::now();
    let now = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut app = ConsumerLoop::start(s.commit_policy(), offsets(&positions), now());
    while !w.stop.load(Ordering::SeqCst) {
        match app.next(now()) {
            Work::Poll { commit_first } => {
                if let Some(due) = commit_first {
                    let ok = commit(process, &w, &mut committer, &due).await?;
                    app.commit_ended(&due, ok, now());
                }
                poll(process, &w, &readers, &mut positions, &all).await?;
                app.returned(&offsets(&positions));
            }
            // The probe's application does nothing with what it reads
            // beyond the history, written as the poll returns.
            Work::Process => app.processed(),
            Work::Commit(due) => {
                let ok = commit(process, &w, &mut committer, &due).await?;
                app.commit_ended(&due, ok, now());
            }
        }
    }
    Ok(())
}

/// Positions by key, as the consumer loop counts them (by partition).
fn offsets(positions: &[i64]) -> Offsets {
    (0..).zip(positions.iter().copied()).collect()
}

/// Commits `offsets` (the next offset to read of each key), recorded as
/// `{key: offset}`; true when the group holds them.
async fn commit(
    process: u64,
    w: &Workload,
    committer: &mut Committer,
    offsets: &Offsets,
) -> Result<bool, String> {
    let value: serde_json::Map<String, Value> = offsets
        .iter()
        .map(|(key, &offset)| (key.to_string(), json!(offset)))
        .collect();
    let value = Value::Object(value);
    w.log.record(process, "invoke", "commit", value.clone())?;
    let offsets: Vec<(i32, i64)> = offsets.iter().map(|(&k, &o)| (k, o)).collect();
    let (kind, why) = match committer.commit(&offsets).await {
        Committed::Ok => {
            w.log.record(process, "ok", "commit", value)?;
            return Ok(true);
        }
        Committed::Refused(why) => ("fail", format!("commit refused: {why}")),
        Committed::Unknown(why) => ("info", format!("commit unknown: {why}")),
    };
    eprintln!("probe: process {process}: {why}");
    w.log.record(process, kind, "commit", value)?;
    tokio::time::sleep(w.settings.retry_backoff).await;
    Ok(false)
}

/// A fresh consumer reads every partition up to where it ends now, after
/// the last send: every acknowledged value is below that end, so one never
/// read is unseen, not merely not yet read.
async fn read_to_end(
    process: u64,
    w: &Workload,
    readers: &[PartitionClient],
) -> Result<(), String> {
    let until = Instant::now() + SETUP_WAIT;
    let mut ends = Vec::new();
    for (key, reader) in readers.iter().enumerate() {
        loop {
            let asked = tokio::time::timeout(
                w.settings.request_timeout,
                reader.get_offset(OffsetAt::Latest),
            )
            .await;
            let why = match asked {
                Ok(Ok(end)) => break ends.push(end),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {:?}", w.settings.request_timeout),
            };
            if Instant::now() > until {
                return Err(format!("cannot learn where partition {key} ends: {why}"));
            }
            tokio::time::sleep(w.settings.retry_backoff).await;
        }
    }
    let mut positions = assign(process, w)?;
    loop {
        let want: Vec<usize> = (0..readers.len())
            .filter(|&k| positions[k] < ends[k])
            .collect();
        if want.is_empty() {
            return Ok(());
        }
        if Instant::now() > until {
            eprintln!(
                "probe: the final read did not reach the end of partitions {want:?} within {SETUP_WAIT:?}"
            );
            return Ok(());
        }
        poll(process, w, readers, &mut positions, &want).await?;
    }
}

/// When the nemesis runs, counted from the producers' start.
enum Schedule {
    Every(Duration),
    At(Vec<Duration>),
}

impl Schedule {
    /// The schedule the arguments ask for (clap has made sure that
    /// --nemesis comes with exactly one of them), or none.
    fn new(args: &ProbeArgs, duration_ms: Option<u64>) -> Result<Option<Schedule>, String> {
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
    fn time_of(&self, run: u32) -> Option<Duration> {
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
async fn nemesis(cmd: String, schedule: Schedule, w: Arc<Workload>) {
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

/// The record's timestamp: the wall clock (rskafka's chrono is built
/// without its clock).
fn now() -> DateTime<Utc> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
