//! The leader-epoch cache: for each leader epoch, the first offset written
//! in it (Kafka's `LeaderEpochFileCache`, persisted as
//! `leader-epoch-checkpoint`). It answers a follower's
//! OffsetsForLeaderEpoch (KIP-101, refined by KIP-279): where did epoch E
//! end on this replica, so that the follower truncates only what the
//! leader does not have instead of everything above its high watermark.

use super::checkpoint;
use super::error::LogError;
use std::path::PathBuf;

pub const FILE: &str = "leader-epoch-checkpoint";

#[derive(Debug)]
pub struct EpochCache {
    path: PathBuf,
    /// `(epoch, start offset)`, both strictly increasing.
    entries: Vec<(i32, u64)>,
}

impl EpochCache {
    pub fn open(path: PathBuf) -> Result<Self, LogError> {
        let mut entries = Vec::new();
        for (i, entry) in checkpoint::read(&path, 2)?.into_iter().enumerate() {
            let (epoch, start) = (entry[0], entry[1]);
            let increasing = entries
                .last()
                .is_none_or(|&(e, s): &(i32, u64)| i64::from(e) < epoch && (s as i64) < start);
            if epoch < 0 || epoch > i64::from(i32::MAX) || start < 0 || !increasing {
                return Err(LogError::Checkpoint {
                    path,
                    line: i + 3,
                    problem: format!(
                        "entry {epoch} {start}: epochs and start offsets must be non-negative and increase"
                    ),
                });
            }
            entries.push((epoch as i32, start as u64));
        }
        Ok(EpochCache { path, entries })
    }

    pub fn entries(&self) -> &[(i32, u64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|&(epoch, _)| epoch)
    }

    /// Records that `epoch` starts at `start`, if it is newer than the
    /// latest; batches of older epochs appended later (a follower catching
    /// up) do not move the history back. Returns whether it changed.
    pub fn assign(&mut self, epoch: i32, start: u64) -> bool {
        if epoch < 0 || self.latest_epoch().is_some_and(|latest| epoch <= latest) {
            return false;
        }
        // An epoch that starts where the previous one did replaces it: that
        // leader wrote nothing.
        while self.entries.last().is_some_and(|&(_, s)| s >= start) {
            self.entries.pop();
        }
        self.entries.push((epoch, start));
        true
    }

    /// Forgets the epochs that start at or after `end` (the log was truncated there).
    pub fn truncate_from_end(&mut self, end: u64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|&(_, start)| start < end);
        before != self.entries.len()
    }

    /// The log now starts at `start`: epochs that ended before it are gone,
    /// the one it falls in starts there.
    pub fn truncate_from_start(&mut self, start: u64) -> bool {
        let keep_from = self
            .entries
            .iter()
            .rposition(|&(_, s)| s <= start)
            .unwrap_or(0);
        let mut changed = keep_from > 0;
        self.entries.drain(..keep_from);
        if let Some(first) = self.entries.first_mut() {
            if first.1 < start {
                first.1 = start;
                changed = true;
            }
        }
        changed
    }

    /// KIP-279, as Kafka's `endOffsetFor` answers it: for the latest epoch,
    /// the log end; otherwise the largest known epoch at or below
    /// `requested` (or `requested` itself when it is older than every known
    /// epoch) and the start offset of the next known epoch, where it ended.
    /// `None` (UNDEFINED_EPOCH_OFFSET) for an epoch newer than any known.
    pub fn end_offset_for(&self, requested: i32, log_end: u64) -> Option<(i32, u64)> {
        if self.latest_epoch() == Some(requested) {
            return Some((requested, log_end));
        }
        let next = self
            .entries
            .partition_point(|&(epoch, _)| epoch <= requested);
        let &(_, end) = self.entries.get(next)?;
        let epoch = next
            .checked_sub(1)
            .map_or(requested, |floor| self.entries[floor].0);
        Some((epoch, end))
    }

    pub fn persist(&self) -> Result<(), LogError> {
        let entries: Vec<Vec<i64>> = self
            .entries
            .iter()
            .map(|&(epoch, start)| vec![i64::from(epoch), start as i64])
            .collect();
        checkpoint::write(&self.path, &entries)
    }
}
