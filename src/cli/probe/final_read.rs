//! The final read: after the last send, a fresh consumer reads every
//! partition from its beginning to its end.

use super::workload::{assign, poll, Workload};
use super::SETUP_WAIT;
use rskafka::client::partition::{OffsetAt, PartitionClient};
use std::time::Instant;

/// A fresh consumer reads every partition up to where it ends now, after
/// the last send: every acknowledged value is below that end, so one never
/// read is unseen, not merely not yet read.
pub(super) async fn read_to_end(
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
