//! The final read: after the last send, a fresh consumer reads every
//! partition from its beginning to where it ends then. It is the ground
//! truth of what the system still holds, so the history says how far it
//! got: an `assign` marked `"final"` starts it, and a `final-read`
//! operation names the partitions it read to their end. A partition whose
//! end it could not learn (the topic vanished, no leader answers) or
//! whose end it stopped making progress towards is not read to its end,
//! and what it holds is not judged (the verdict is at best inconclusive):
//! the system's failure to answer is not evidence of a loss.

use super::workload::{poll, Workload};
use super::SETUP_WAIT;
use rskafka::client::partition::{OffsetAt, PartitionClient};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one fetch of the final read may bring back: Kafka's default
/// `fetch.max.bytes`, so a broker gives as much as it will per request
/// whatever the workload's own fetch size.
const FINAL_FETCH_BYTES: i32 = 50 << 20;

/// A fresh consumer reads every partition up to where it ends now, after
/// the last send, for as long as it makes progress; the history records
/// which partitions it read to their end.
pub(super) async fn read_to_end(
    process: u64,
    w: &Arc<Workload>,
    readers: &Arc<Vec<PartitionClient>>,
) -> Result<(), String> {
    let ends = ends(w, readers).await;
    let keys: Vec<String> = (0..w.keys).map(|k| k.to_string()).collect();
    w.log.record_final_assign(process, "invoke", json!(keys))?;
    w.log.record_final_assign(process, "ok", json!(keys))?;
    let mut positions = vec![0; readers.len()];
    // A partition that gives nothing new for this long while short of its
    // end is given up: the read goes on as long as it makes progress.
    let stall = w.settings.request_timeout;
    let mut progressed = vec![Instant::now(); readers.len()];
    let mut given_up = vec![false; readers.len()];
    loop {
        let want: Vec<usize> = (0..readers.len())
            .filter(|&k| !given_up[k] && ends[k].as_ref().is_ok_and(|&end| positions[k] < end))
            .collect();
        if want.is_empty() {
            break;
        }
        let before = positions.clone();
        poll(
            process,
            w,
            readers,
            &mut positions,
            &want,
            FINAL_FETCH_BYTES,
        )
        .await?;
        let now = Instant::now();
        for &k in &want {
            if positions[k] > before[k] {
                progressed[k] = now;
            } else if now.duration_since(progressed[k]) > stall {
                given_up[k] = true;
                eprintln!(
                    "probe: the final read got no further than offset {} of partition {k} (which ends at {}) for {stall:?}; partition {k} is not judged",
                    positions[k],
                    ends[k].as_ref().map_or(-1, |e| *e)
                );
            }
        }
    }
    let complete: Vec<String> = (0..readers.len())
        .filter(|&k| ends[k].as_ref().is_ok_and(|&end| positions[k] >= end))
        .map(|k| k.to_string())
        .collect();
    for (k, end) in ends.iter().enumerate() {
        if let Err(why) = end {
            eprintln!(
                "probe: the final read cannot learn where partition {k} ends ({why}); partition {k} is not judged"
            );
        }
    }
    w.log.record(process, "invoke", "final-read", json!(keys))?;
    w.log.record(process, "ok", "final-read", json!(complete))
}

/// Where each partition ends (its high watermark), asked of all at once,
/// each asked again until [`SETUP_WAIT`] has passed; an error says why a
/// partition's end is unknown.
async fn ends(w: &Arc<Workload>, readers: &Arc<Vec<PartitionClient>>) -> Vec<Result<i64, String>> {
    let mut asking = tokio::task::JoinSet::new();
    for key in 0..readers.len() {
        let readers = Arc::clone(readers);
        let (timeout, backoff) = (w.settings.request_timeout, w.settings.retry_backoff);
        asking.spawn(async move { (key, end_of(&readers[key], timeout, backoff).await) });
    }
    let mut ends = vec![Err("not asked".to_string()); readers.len()];
    while let Some(done) = asking.join_next().await {
        match done {
            Ok((key, end)) => ends[key] = end,
            // A task that panicked or was cancelled learnt nothing; its
            // partition stays unknown.
            Err(e) => eprintln!("probe: asking where a partition ends failed: {e}"),
        }
    }
    ends
}

async fn end_of(
    reader: &PartitionClient,
    timeout: Duration,
    backoff: Duration,
) -> Result<i64, String> {
    let until = Instant::now() + SETUP_WAIT;
    loop {
        let why = match tokio::time::timeout(timeout, reader.get_offset(OffsetAt::Latest)).await {
            Ok(Ok(end)) => return Ok(end),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {timeout:?}"),
        };
        if Instant::now() > until {
            return Err(why);
        }
        tokio::time::sleep(backoff).await;
    }
}
