//! The workload: producers sending unique values, consumers polling and
//! committing in the consumer loop's order.

use super::client::{now, refused};
use super::recorder::Log;
use super::settings::Settings;
use crate::cli::commits::{Committed, Committer};
use crate::consumer::{ConsumerLoop, Offsets, Work};
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::record::Record;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What producers and consumers share.
pub(super) struct Workload {
    pub(super) log: Log,
    pub(super) bootstrap: Vec<String>,
    pub(super) topic: String,
    /// The consumers' group.
    pub(super) group: String,
    /// A tag of this run in each record: a topic reused across runs holds
    /// other runs' values, which are not this history's.
    pub(super) run: String,
    pub(super) keys: i32,
    pub(super) settings: Settings,
    pub(super) next_value: AtomicI64,
    pub(super) messages: Option<i64>,
    pub(super) deadline: Option<Instant>,
    /// Set when the producers are done: consumers and nemesis stop.
    pub(super) stop: AtomicBool,
}

impl Workload {
    pub(super) fn encode(&self, value: i64) -> Vec<u8> {
        format!("{}:{value}", self.run).into_bytes()
    }

    /// This run's value in a record, if it is one of this run's.
    pub(super) fn decode(&self, bytes: Option<&[u8]>) -> Option<i64> {
        let text = std::str::from_utf8(bytes?).ok()?;
        let (run, value) = text.split_once(':')?;
        (run == self.run).then(|| value.parse().ok())?
    }
}

pub(super) async fn produce(
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
pub(super) async fn poll(
    process: u64,
    w: &Workload,
    readers: &[PartitionClient],
    positions: &mut [i64],
    want: &[usize],
    max_bytes: i32,
) -> Result<(), String> {
    w.log.record(process, "invoke", "poll", json!([["poll"]]))?;
    let mut read = serde_json::Map::new();
    let mut failures = 0;
    for &key in want {
        let fetched = tokio::time::timeout(
            w.settings.request_timeout,
            readers[key].fetch_records(positions[key], 1..max_bytes, w.settings.fetch_max_wait_ms),
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
pub(super) fn assign(process: u64, w: &Workload) -> Result<Vec<i64>, String> {
    let keys: Vec<String> = (0..w.keys).map(|k| k.to_string()).collect();
    w.log.record(process, "invoke", "assign", json!(keys))?;
    w.log.record(process, "ok", "assign", json!(keys))?;
    Ok(vec![0; w.keys as usize])
}

pub(super) async fn consume(
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
                let max_bytes = w.settings.fetch_max_bytes;
                poll(process, &w, &readers, &mut positions, &all, max_bytes).await?;
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
pub(super) fn offsets(positions: &[i64]) -> Offsets {
    (0..).zip(positions.iter().copied()).collect()
}

/// Commits `offsets` (the next offset to read of each key), recorded as
/// `{key: offset}`; true when the group holds them.
pub(super) async fn commit(
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
