//! The broker's log: one partition replica's record batches, in segments on
//! disk, with what replication needs around them (leader-epoch cache, high
//! watermark, flushed offset) and what recovery needs (checksums, a
//! recovery point).
//!
//! Layout of a log directory, after Kafka's:
//!
//! ```text
//! 00000000000000000000.log        batches, Kafka record batch format v2
//! 00000000000000000000.index      sparse offset index (sealed segments)
//! 00000000000000000000.timeindex  largest timestamp (sealed segments)
//! 00000000000000052311.log        the next segment, named by its base offset
//! leader-epoch-checkpoint         epoch -> start offset
//! recovery-point-offset-checkpoint  every offset below it was fsynced
//! replication-offset-checkpoint   the high watermark
//! ```
//!
//! Time is passed in (`now_ms`), never read: the broker's sans-IO core and
//! the conformance harness drive the log deterministically. A `Log` dropped
//! without [`Log::close`] is a crash: what was not flushed may be lost, and
//! opening the directory again recovers.

pub mod batch;
mod checkpoint;
mod config;
mod epochs;
mod error;
mod index;
mod segment;

pub use config::{LogConfig, KNOBS};
pub use error::LogError;

use batch::BatchHeader;
use epochs::EpochCache;
use segment::Segment;
use std::fs;
use std::path::{Path, PathBuf};

const RECOVERY_POINT: &str = "recovery-point-offset-checkpoint";
const HIGH_WATERMARK: &str = "replication-offset-checkpoint";

/// Where an append put its batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub first_offset: u64,
    pub last_offset: u64,
    /// Whether this append triggered an fsync under the flush policy.
    pub flushed: bool,
}

/// What a read returns: whole batches, as stored.
#[derive(Debug, PartialEq, Eq)]
pub struct Fetched<'b> {
    pub records: &'b [u8],
    /// Where the next read should start.
    pub next_offset: u64,
}

/// A segment as it stands on disk, for reports and crash tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub base_offset: u64,
    pub size: u64,
    /// The bytes of it known to be on disk.
    pub flushed_size: u64,
}

#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    /// Ascending by base offset, never empty; the last takes the appends.
    segments: Vec<Segment>,
    epochs: EpochCache,
    high_watermark: u64,
    /// Every offset below it is on disk.
    recovery_point: u64,
    /// The recovery point the checkpoint file holds.
    checkpointed: u64,
    /// Offsets appended since the last flush, and when the first of them was.
    unflushed: (u64, Option<u64>),
    /// A segment file was created or deleted since the directory was fsynced.
    dir_dirty: bool,
    /// Headers of the append in progress, kept to avoid an allocation per append.
    headers: Vec<BatchHeader>,
    recovery: Vec<String>,
}

impl Log {
    /// Opens the log in `dir`, creating it if need be. Segments past the
    /// recovery point are validated batch by batch and cut at the first
    /// torn or corrupt one; what survives past the recovery point counts as
    /// unflushed, as it may be only in the page cache.
    pub fn open(dir: impl Into<PathBuf>, config: LogConfig) -> Result<Self, LogError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(LogError::io(&dir, "create the directory"))?;
        let bases = list_segments(&dir)?;
        let recovery_point = read_single(&dir.join(RECOVERY_POINT))?;
        if bases.is_empty() && recovery_point > 0 {
            return Err(LogError::Corrupt {
                path: dir.join(RECOVERY_POINT),
                position: 0,
                problem: format!(
                    "offsets below {recovery_point} were flushed but no segment file is left"
                ),
            });
        }
        let mut epochs = EpochCache::open(dir.join(epochs::FILE))?;

        // The segment holding the recovery point and every later one are
        // recovered; the last always is, whatever the checkpoint says.
        let trusted = bases
            .partition_point(|&base| base <= recovery_point)
            .saturating_sub(1)
            .min(bases.len().saturating_sub(1));
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for &base in &bases[..trusted] {
            let segment = Segment::open_trusted(&dir, base, config.index_interval_bytes)?;
            if let Some(previous) = segments.last().map(Segment::next_offset) {
                check_chain(&segment, previous)?;
            }
            segments.push(segment);
        }
        let mut recovery = Vec::new();
        let mut epochs_changed = false;
        let mut rest = bases[trusted..].iter();
        for &base in rest.by_ref() {
            if let Some(previous) = segments.last().map(Segment::next_offset) {
                if previous != base {
                    recovery.push(format!(
                        "segment {base:020}.log starts at offset {base} but the log before it ends at {previous}: it and every later segment are deleted"
                    ));
                    remove_segment_files(&dir, base)?;
                    break;
                }
            }
            let (segment, cut) = Segment::recover(
                &dir,
                base,
                recovery_point,
                config.index_interval_bytes,
                &mut |h| {
                    epochs_changed |= epochs.assign(h.leader_epoch, h.base_offset);
                },
            )?;
            segments.push(segment);
            if let Some(cut) = cut {
                recovery.push(cut);
                break;
            }
        }
        for &base in rest {
            recovery.push(format!("segment {base:020}.log follows a cut: deleted"));
            remove_segment_files(&dir, base)?;
        }
        if segments.is_empty() {
            segments.push(Segment::create(&dir, 0)?);
        }
        // Recovered segments that take no more appends get their index
        // files, so that the next open trusts them.
        if let Some((_, sealed)) = segments.split_last() {
            for segment in &sealed[trusted.min(sealed.len())..] {
                segment.seal()?;
            }
        }

        let mut log = Log {
            high_watermark: 0,
            recovery_point: 0,
            checkpointed: 0,
            unflushed: (0, None),
            dir_dirty: true,
            headers: Vec::new(),
            recovery,
            segments,
            epochs,
            config,
            dir,
        };
        let (start, end) = (log.log_start_offset(), log.log_end_offset());
        epochs_changed |= log.epochs.truncate_from_end(end);
        epochs_changed |= log.epochs.truncate_from_start(start);
        if epochs_changed {
            log.epochs.persist()?;
        }
        log.high_watermark = read_single(&log.dir.join(HIGH_WATERMARK))?.clamp(start, end);
        // What recovery found past the recovery point may be only in the
        // page cache (a process crash keeps it, a power loss would not): it
        // stays unflushed until the flush policy or a flush says otherwise.
        log.recovery_point = recovery_point.min(end);
        log.checkpointed = recovery_point;
        // Time-based flushing counts a recovered tail as old at once.
        log.unflushed = (
            end - log.recovery_point,
            (end > log.recovery_point).then_some(0),
        );
        Ok(log)
    }

    /// Flushes and checkpoints the high watermark: a clean shutdown. The
    /// next open still validates the active segment, as it always does.
    pub fn close(mut self) -> Result<(), LogError> {
        self.flush()?;
        self.checkpoint_high_watermark()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn log_start_offset(&self) -> u64 {
        self.segments[0].base_offset
    }

    /// The offset the next batch gets (LEO).
    pub fn log_end_offset(&self) -> u64 {
        self.active().next_offset()
    }

    /// Every offset below it has been fsynced (Kafka's recovery point).
    pub fn flushed_offset(&self) -> u64 {
        self.recovery_point
    }

    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// Total bytes of the segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| u64::from(s.size())).sum()
    }

    pub fn segments(&self) -> Vec<SegmentFile> {
        self.segments
            .iter()
            .map(|s| SegmentFile {
                path: s.path().to_path_buf(),
                base_offset: s.base_offset,
                size: u64::from(s.size()),
                flushed_size: u64::from(s.flushed_size()),
            })
            .collect()
    }

    /// What the last open cut or dropped, one sentence each; empty after a
    /// clean shutdown.
    pub fn recovery_notes(&self) -> &[String] {
        &self.recovery
    }

    fn active(&self) -> &Segment {
        self.segments.last().expect("a log has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments.last_mut().expect("a log has a segment")
    }

    /// Appends batches a producer sent: the leader gives them the next
    /// offsets and its epoch, rewriting those two header fields in place
    /// (they are outside the CRC). Every batch is validated before any is
    /// written; one bad batch refuses the whole call.
    pub fn append_as_leader(
        &mut self,
        batches: &mut [u8],
        leader_epoch: i32,
        now_ms: u64,
    ) -> Result<Appended, LogError> {
        self.validate(batches, self.config.max_batch_size())?;
        let mut offset = self.log_end_offset();
        let mut position = 0;
        for header in &mut self.headers {
            batch::assign(&mut batches[position..], offset, leader_epoch);
            header.base_offset = offset;
            header.leader_epoch = leader_epoch;
            offset = header.next_offset();
            position += header.size as usize;
        }
        let first = self.log_end_offset();
        if self.epochs.assign(leader_epoch, first) {
            self.epochs.persist()?;
        }
        self.write(batches, now_ms)
    }

    /// Appends batches fetched from the leader, as they are: the first must
    /// start at the log end offset and each where the previous ended.
    pub fn append_as_follower(
        &mut self,
        batches: &[u8],
        now_ms: u64,
    ) -> Result<Appended, LogError> {
        self.validate(batches, batch::MAX_SIZE)?;
        let mut expected = self.log_end_offset();
        let mut changed = false;
        for header in &self.headers {
            if header.base_offset != expected {
                return Err(LogError::NonContiguous {
                    expected,
                    got: header.base_offset,
                });
            }
            expected = header.next_offset();
            changed |= self.epochs.assign(header.leader_epoch, header.base_offset);
        }
        if changed {
            self.epochs.persist()?;
        }
        self.write(batches, now_ms)
    }

    /// `max_size`: a leader holds producers to `message.max.bytes`; a
    /// follower takes whatever its leader took, as Kafka's does.
    fn validate(&mut self, batches: &[u8], max_size: u32) -> Result<(), LogError> {
        self.headers.clear();
        for (i, parsed) in batch::Batches::new(batches, max_size).enumerate() {
            let (header, _) =
                parsed.map_err(|problem| LogError::InvalidBatch { batch: i, problem })?;
            self.headers.push(header);
        }
        if self.headers.is_empty() {
            return Err(LogError::Empty);
        }
        Ok(())
    }

    /// Writes validated batches (described by `self.headers`), rolling
    /// segments as they fill, one write per segment touched.
    fn write(&mut self, batches: &[u8], now_ms: u64) -> Result<Appended, LogError> {
        let headers = std::mem::take(&mut self.headers);
        // `validate` refuses an append without a batch.
        let (first, last) = (
            headers[0].base_offset,
            headers[headers.len() - 1].last_offset(),
        );
        let result = self.write_runs(batches, &headers);
        self.headers = headers;
        result?;
        let since = *self.unflushed.1.get_or_insert(now_ms);
        self.unflushed.0 += last + 1 - first;
        let flushed = self.unflushed.0 >= self.config.flush_interval_messages
            || now_ms.saturating_sub(since) >= self.config.flush_interval_ms;
        if flushed {
            self.flush()?;
        }
        Ok(Appended {
            first_offset: first,
            last_offset: last,
            flushed,
        })
    }

    fn write_runs(&mut self, batches: &[u8], headers: &[BatchHeader]) -> Result<(), LogError> {
        let limit = self.config.segment_bytes;
        let (mut i, mut position) = (0, 0);
        while i < headers.len() {
            let first = &headers[i];
            let active = self.active();
            let full = active.size() > 0
                && u64::from(active.size()) + u64::from(first.size) > u64::from(limit);
            // Relative offsets in the index are u32, as in Kafka.
            let far = first.last_offset() - active.base_offset > u64::from(u32::MAX);
            if full || far {
                self.roll_at(first.base_offset)?;
            }
            let active = self.active();
            let room = u64::from(limit).saturating_sub(u64::from(active.size()));
            let (mut j, mut run) = (i, 0u64);
            while j < headers.len()
                && (j == i || run + u64::from(headers[j].size) <= room)
                && headers[j].last_offset() - active.base_offset <= u64::from(u32::MAX)
            {
                run += u64::from(headers[j].size);
                j += 1;
            }
            let run = run as usize;
            let interval = self.config.index_interval_bytes;
            self.active_mut().append(
                &batches[position..position + run],
                &headers[i..j],
                interval,
            )?;
            position += run;
            i = j;
        }
        Ok(())
    }

    /// Starts a new segment at the log end, unless the active one is
    /// empty. Appends roll by size themselves; this is for the broker's
    /// time-based roll (`log.roll.ms`) and for tests.
    pub fn roll(&mut self) -> Result<(), LogError> {
        if self.active().size() == 0 {
            return Ok(());
        }
        self.roll_at(self.log_end_offset())
    }

    fn roll_at(&mut self, base_offset: u64) -> Result<(), LogError> {
        self.active().seal()?;
        let segment = Segment::create(&self.dir, base_offset)?;
        self.segments.push(segment);
        self.dir_dirty = true;
        Ok(())
    }

    /// Reads whole batches from the one holding `from`, up to `max_bytes`
    /// (but always the first batch whole, as Kafka does since KIP-74), and
    /// only batches that end below `until` (the high watermark for a
    /// consumer, the log end for a follower). The bytes are those on disk,
    /// read into `buf`; no record is decoded. A read stays in one segment.
    pub fn read<'b>(
        &self,
        from: u64,
        max_bytes: usize,
        until: u64,
        buf: &'b mut Vec<u8>,
    ) -> Result<Fetched<'b>, LogError> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if from < start || from > end {
            return Err(LogError::OffsetOutOfRange {
                requested: from,
                start,
                end,
            });
        }
        let until = until.min(end);
        let holding = self.segments.partition_point(|s| s.base_offset <= from) - 1;
        let segment = &self.segments[holding];
        let located = match segment.locate(from)? {
            Some(located) if located.header.last_offset() < until => located,
            _ => {
                return Ok(Fetched {
                    records: &buf[..0],
                    next_offset: from,
                })
            }
        };
        let available = (segment.size() - located.position) as usize;
        let len = available.min(max_bytes.max(located.header.size as usize));
        let bytes = segment.read_at(located.position, len, buf)?;
        // Trim to whole batches below `until`, stepping header to header.
        let (mut taken, mut next_offset) = (0, from);
        while let Ok(header) = batch::header(&bytes[taken..], batch::MAX_SIZE) {
            if taken + header.size as usize > len || header.last_offset() >= until {
                break;
            }
            taken += header.size as usize;
            next_offset = header.next_offset();
        }
        Ok(Fetched {
            records: &bytes[..taken],
            next_offset,
        })
    }

    /// Removes every batch at or above `offset` (the whole batch holding
    /// it, if it falls inside one); returns the new log end offset. A
    /// follower does this after a leader change, to the offset the leader's
    /// epoch cache gives (KIP-101) or, before KIP-101, to its high watermark.
    pub fn truncate_to(&mut self, offset: u64) -> Result<u64, LogError> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset >= end {
            // Nothing to remove, but an epoch starting at the log end holds
            // no batch: this replica led it without writing. Kafka's
            // truncateTo drops it too, or the follower would keep sending
            // it as its last fetched epoch, which the new leader never had,
            // and be told it diverges forever.
            if self.epochs.truncate_from_end(end) {
                self.epochs.persist()?;
            }
            return Ok(end);
        }
        if offset < start {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start,
                end,
            });
        }
        while self.segments.len() > 1 && self.active().base_offset >= offset {
            let segment = self.segments.pop().expect("more than one segment");
            segment.delete()?;
        }
        self.active_mut().truncate_to(offset)?;
        // Deleted segments must not come back after a power loss and chain
        // on. The shortened file is fsynced by the next flush, before the
        // recovery point moves past it; not now, as in Kafka, which would
        // make durable what the flush policy left to the page cache.
        checkpoint::sync_dir(&self.dir)?;
        let end = self.log_end_offset();
        if self.epochs.truncate_from_end(end) {
            self.epochs.persist()?;
        }
        self.high_watermark = self.high_watermark.min(end);
        // Offsets from `end` on will be written again, unflushed: the
        // checkpoint must not vouch for them. Until the next append there
        // is nothing past `end` for a stale checkpoint to vouch for.
        if self.recovery_point > end {
            self.recovery_point = end;
            self.write_recovery_point()?;
        }
        Ok(end)
    }

    /// Empties the log and starts it again at `offset`: a follower whose
    /// whole log lies below the leader's log start (Kafka's
    /// `truncateFullyAndStartAt`).
    pub fn truncate_fully_and_start_at(&mut self, offset: u64) -> Result<(), LogError> {
        let fresh = Segment::create(&self.dir, offset)?;
        for segment in std::mem::replace(&mut self.segments, vec![fresh]) {
            if segment.base_offset != offset {
                segment.delete()?;
            }
        }
        checkpoint::sync_dir(&self.dir)?;
        if self.epochs.truncate_from_end(0) {
            self.epochs.persist()?;
        }
        self.high_watermark = offset;
        self.recovery_point = offset;
        self.unflushed = (0, None);
        self.write_recovery_point()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// Records that `epoch` starts at the log end, before any batch of it
    /// is written: what Kafka's new leader does (`makeLeader`), so that it
    /// answers for its own epoch from the start.
    pub fn assign_epoch(&mut self, epoch: i32) -> Result<(), LogError> {
        if self.epochs.assign(epoch, self.log_end_offset()) {
            self.epochs.persist()?;
        }
        Ok(())
    }

    /// `(epoch, start offset)` of each epoch the log knows.
    pub fn epochs(&self) -> &[(i32, u64)] {
        self.epochs.entries()
    }

    /// OffsetsForLeaderEpoch (KIP-101/279): the largest epoch at or below
    /// `epoch` this log knows and the offset where it ended here; `None`
    /// for an epoch newer than any known.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, u64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// Sets the high watermark, which cannot pass the log end.
    pub fn set_high_watermark(&mut self, offset: u64) -> Result<(), LogError> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset > end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start,
                end,
            });
        }
        self.high_watermark = offset;
        Ok(())
    }

    /// Writes the high watermark where the next open finds it (Kafka
    /// checkpoints it periodically; the broker decides when).
    pub fn checkpoint_high_watermark(&self) -> Result<(), LogError> {
        checkpoint::write(
            &self.dir.join(HIGH_WATERMARK),
            &[vec![self.high_watermark as i64]],
        )
    }

    /// fsyncs everything appended so far; afterwards the flushed offset is
    /// the log end.
    pub fn flush(&mut self) -> Result<(), LogError> {
        let first_dirty = self
            .segments
            .iter()
            .position(Segment::needs_sync)
            .unwrap_or(self.segments.len());
        for segment in &mut self.segments[first_dirty..] {
            segment.flush()?;
        }
        if self.dir_dirty {
            checkpoint::sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        self.recovery_point = self.log_end_offset();
        self.unflushed = (0, None);
        // Exact, so that what a power loss cannot take is known after a
        // restart too.
        if self.checkpointed != self.recovery_point {
            self.write_recovery_point()?;
        }
        Ok(())
    }

    fn write_recovery_point(&mut self) -> Result<(), LogError> {
        checkpoint::write(
            &self.dir.join(RECOVERY_POINT),
            &[vec![self.recovery_point as i64]],
        )?;
        self.checkpointed = self.recovery_point;
        Ok(())
    }

    /// The time part of the flush policy, for the broker's timer.
    pub fn flush_if_due(&mut self, now_ms: u64) -> Result<bool, LogError> {
        match self.unflushed.1 {
            Some(since) if now_ms.saturating_sub(since) >= self.config.flush_interval_ms => {
                self.flush()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Deletes whole segments from the front while the log is over
    /// `log.retention.bytes` or their newest record is older than
    /// `log.retention.ms`, never the active segment and never one holding
    /// offsets at or above the high watermark. Returns how many went.
    pub fn enforce_retention(&mut self, now_ms: u64) -> Result<usize, LogError> {
        let mut size = self.size_bytes();
        let mut deleted = 0;
        while self.segments.len() > 1 && self.segments[0].next_offset() <= self.high_watermark {
            let first = &self.segments[0];
            let over_size = self
                .config
                .retention_bytes
                .is_some_and(|limit| size - u64::from(first.size()) >= limit);
            let too_old = match (self.config.retention_ms, first.max_timestamp()) {
                (Some(ms), Some(newest)) => (now_ms as i64).saturating_sub(newest) > ms as i64,
                _ => false,
            };
            if !(over_size || too_old) {
                break;
            }
            size -= u64::from(first.size());
            self.segments.remove(0).delete()?;
            deleted += 1;
        }
        if deleted > 0 {
            checkpoint::sync_dir(&self.dir)?;
            self.dir_dirty = false;
            if self.epochs.truncate_from_start(self.log_start_offset()) {
                self.epochs.persist()?;
            }
        }
        Ok(deleted)
    }
}

fn check_chain(segment: &Segment, previous_end: u64) -> Result<(), LogError> {
    if segment.base_offset == previous_end {
        return Ok(());
    }
    Err(LogError::Corrupt {
        path: segment.path().to_path_buf(),
        position: 0,
        problem: format!(
            "the segment starts at offset {} but the one before ends at {previous_end}",
            segment.base_offset
        ),
    })
}

/// The base offsets of the segments in `dir`, ascending. Leftovers of an
/// interrupted write or delete (`*.tmp`, index files without a log) are
/// removed; a `.log` file not named by an offset is an error.
fn list_segments(dir: &Path) -> Result<Vec<u64>, LogError> {
    let entries = fs::read_dir(dir).map_err(LogError::io(dir, "list"))?;
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in entries {
        let path = entry.map_err(LogError::io(dir, "list"))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let (stem, extension) = name.split_once('.').unwrap_or((name, ""));
        let base = (stem.len() == 20)
            .then(|| stem.parse::<u64>().ok())
            .flatten();
        match (extension, base) {
            ("log", Some(base)) => logs.push(base),
            ("log", None) => {
                return Err(LogError::Corrupt {
                    path,
                    position: 0,
                    problem: "a .log file in a log directory must be named by a 20-digit offset"
                        .into(),
                })
            }
            ("index" | "timeindex", Some(base)) => indexes.push((base, path)),
            (ext, _) if ext.ends_with("tmp") => {
                fs::remove_file(&path).map_err(LogError::io(&path, "remove"))?
            }
            _ => {}
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            fs::remove_file(&path).map_err(LogError::io(&path, "remove"))?;
        }
    }
    Ok(logs)
}

fn remove_segment_files(dir: &Path, base: u64) -> Result<(), LogError> {
    for extension in ["log", "index", "timeindex"] {
        let path = segment::path(dir, base, extension);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LogError::io(&path, "delete")(e))
            }
            _ => {}
        }
    }
    Ok(())
}

fn read_single(path: &Path) -> Result<u64, LogError> {
    match checkpoint::read(path, 1)?.as_slice() {
        [] => Ok(0),
        [entry] if entry[0] >= 0 => Ok(entry[0] as u64),
        _ => Err(LogError::Checkpoint {
            path: path.to_path_buf(),
            line: 3,
            problem: "expected one non-negative offset".into(),
        }),
    }
}
