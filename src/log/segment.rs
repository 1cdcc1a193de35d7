//! One segment: a file of consecutive batches named by the offset of its
//! first (`00000000000000000042.log`), with its sparse index.
//!
//! `size` is the end of what the segment has validated; bytes past it (a
//! torn append, garbage after a crash) are never served, and are cut off by
//! recovery or overwritten by the next append.

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::error::LogError;
use super::index::{self, OffsetIndex};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes read at a time when walking a file (at least one whole batch).
const WALK_CHUNK: usize = 1 << 20;

pub fn path(dir: &Path, base_offset: u64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

#[derive(Debug)]
pub struct Segment {
    pub base_offset: u64,
    path: PathBuf,
    file: File,
    size: u32,
    /// Bytes known to be on disk: fsynced, or found there by recovery.
    flushed_size: u32,
    /// Shortened since the last fsync: the new length is not durable yet,
    /// and a flush past it must make it so, or the cut tail could come
    /// back after a power loss under a recovery point that vouches for it.
    shrunk: bool,
    next_offset: u64,
    summary: Summary,
}

/// What the segment's batches add up to, kept as they are appended.
#[derive(Debug)]
struct Summary {
    index: OffsetIndex,
    bytes_since_index: u32,
    /// Largest batch timestamp (-1 when none had one) and its last offset.
    max_timestamp: (i64, u64),
}

impl Summary {
    fn new(base_offset: u64) -> Self {
        Summary {
            index: OffsetIndex::default(),
            bytes_since_index: 0,
            max_timestamp: (-1, base_offset),
        }
    }

    fn note(&mut self, base_offset: u64, interval: u32, position: u32, header: &BatchHeader) {
        if position > 0 && self.bytes_since_index >= interval {
            let relative = (header.base_offset - base_offset) as u32;
            self.index.push(relative, position);
            self.bytes_since_index = 0;
        }
        self.bytes_since_index = self.bytes_since_index.saturating_add(header.size);
        if header.max_timestamp > self.max_timestamp.0 {
            self.max_timestamp = (header.max_timestamp, header.last_offset());
        }
    }
}

/// How a walk over a segment's batches ended.
struct Walk {
    end: u32,
    next_offset: u64,
    /// Why it stopped before the end of the file, if it did.
    stopped: Option<String>,
}

/// What a walk checks of each batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Header bounds and offsets only: bytes validated when written.
    Headers,
    /// Everything, CRC included: bytes of unknown fate.
    Crc,
}

/// Where a read finds its first batch.
pub struct Located {
    pub position: u32,
    pub header: BatchHeader,
}

impl Segment {
    /// A new, empty segment; a leftover file of the same name is emptied.
    pub fn create(dir: &Path, base_offset: u64) -> Result<Self, LogError> {
        let path = path(dir, base_offset, "log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(LogError::io(&path, "create"))?;
        Ok(Self::with_file(path, file, base_offset))
    }

    fn with_file(path: PathBuf, file: File, base_offset: u64) -> Self {
        Segment {
            base_offset,
            path,
            file,
            size: 0,
            flushed_size: 0,
            shrunk: false,
            next_offset: base_offset,
            summary: Summary::new(base_offset),
        }
    }

    fn open_file(dir: &Path, base_offset: u64) -> Result<(Self, u32), LogError> {
        let path = path(dir, base_offset, "log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(LogError::io(&path, "open"))?;
        let len = file.metadata().map_err(LogError::io(&path, "stat"))?.len();
        // Positions are u32, as in Kafka's index; a longer file is cut there.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        Ok((Self::with_file(path, file, base_offset), len))
    }

    /// A segment wholly below the recovery point: its bytes were validated
    /// when written and fsynced since. Its index files are used if they pass
    /// their checks and rebuilt from the batch headers otherwise; headers
    /// that do not chain are corruption of durable data, an error.
    pub fn open_trusted(
        dir: &Path,
        base_offset: u64,
        index_interval: u32,
    ) -> Result<Self, LogError> {
        let (mut segment, len) = Self::open_file(dir, base_offset)?;
        if let Some(summary) = segment.read_index_files(len) {
            // The index's last entry must point at a batch that chains to
            // the end of the file; otherwise the index is stale.
            let (relative, position) = summary.index.floor(u32::MAX);
            let from = base_offset + u64::from(relative);
            let walk = segment.walk(position, from, len, Check::Headers, &mut |_, _| {})?;
            if walk.stopped.is_none() {
                segment.summary = summary;
                segment.opened(len, walk.next_offset);
                return Ok(segment);
            }
        }
        let walk = segment.rebuild(len, Check::Headers, index_interval, &mut |_| {})?;
        if let Some(problem) = walk.stopped {
            return Err(LogError::Corrupt {
                path: segment.path,
                position: u64::from(walk.end),
                problem,
            });
        }
        segment.opened(len, walk.next_offset);
        Ok(segment)
    }

    /// A segment at or past the recovery point: every batch is validated,
    /// and the segment ends at the first that is torn or corrupt, or that
    /// does not start where the previous one ended. Offsets below
    /// `recovery_point` were fsynced before the crash; the rest may be only
    /// in the page cache and stays unflushed. Returns why the segment was
    /// cut, if it was; the cut is made on disk before this returns.
    pub fn recover(
        dir: &Path,
        base_offset: u64,
        recovery_point: u64,
        index_interval: u32,
        visit: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(Self, Option<String>), LogError> {
        let (mut segment, len) = Self::open_file(dir, base_offset)?;
        let mut durable = 0;
        let walk = segment.rebuild(len, Check::Crc, index_interval, &mut |header| {
            if header.next_offset() <= recovery_point {
                durable += header.size;
            }
            visit(header);
        })?;
        if let Some(why) = walk
            .stopped
            .as_ref()
            .filter(|_| walk.next_offset < recovery_point)
        {
            // Below the recovery point the bytes were fsynced: not a torn
            // tail but damage, which is not silently cut away.
            return Err(LogError::Corrupt {
                path: segment.path,
                position: u64::from(walk.end),
                problem: why.clone(),
            });
        }
        if walk.end < len {
            segment
                .file
                .set_len(u64::from(walk.end))
                .map_err(LogError::io(&segment.path, "cut the torn tail of"))?;
        }
        segment.opened(walk.end, walk.next_offset);
        segment.flushed_size = durable.min(walk.end);
        let cut = walk.stopped.map(|why| {
            format!(
                "{}: cut at byte {} of {len}: {why}",
                segment.path.display(),
                walk.end
            )
        });
        Ok((segment, cut))
    }

    fn opened(&mut self, size: u32, next_offset: u64) {
        self.size = size;
        self.flushed_size = size;
        self.next_offset = next_offset;
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    fn read_index_files(&self, len: u32) -> Option<Summary> {
        let bytes = fs::read(path(self.dir(), self.base_offset, "index")).ok()?;
        let index = OffsetIndex::decode(&bytes, len).ok()?;
        let time = fs::read(path(self.dir(), self.base_offset, "timeindex")).ok()?;
        let (max_timestamp, relative) = index::decode_time(&time)?;
        Some(Summary {
            index,
            bytes_since_index: 0,
            max_timestamp: (max_timestamp, self.base_offset + u64::from(relative)),
        })
    }

    /// Visits the batches from `position`, where the batch of
    /// `offset` must start, to `len`, checking each as `check` says and that
    /// each starts where the previous ended. Stops at the first that fails.
    /// Sizes are bounded by the format, not by `message.max.bytes`: the
    /// setting may have been lowered since the bytes were written.
    fn walk(
        &self,
        mut position: u32,
        mut offset: u64,
        len: u32,
        check: Check,
        visit: &mut dyn FnMut(u32, &BatchHeader),
    ) -> Result<Walk, LogError> {
        let mut buf = vec![0; WALK_CHUNK];
        let stop = |position, offset, why: String| Walk {
            end: position,
            next_offset: offset,
            stopped: Some(why),
        };
        while position < len {
            let n = buf.len().min((len - position) as usize);
            self.file
                .read_exact_at(&mut buf[..n], u64::from(position))
                .map_err(LogError::io(&self.path, "read"))?;
            let chunk = &buf[..n];
            let mut at = 0;
            // A batch larger than the buffer: read again with room for it.
            let mut grow = None;
            while at < n {
                let rest = &chunk[at..];
                let parsed = match check {
                    Check::Crc => batch::validate(rest, batch::MAX_SIZE),
                    Check::Headers => batch::header(rest, batch::MAX_SIZE).and_then(|h| {
                        if rest.len() < h.size as usize {
                            Err(batch::BatchError::Truncated {
                                have: rest.len(),
                                need: h.size as usize,
                            })
                        } else {
                            Ok(h)
                        }
                    }),
                };
                let header = match parsed {
                    Ok(header) => header,
                    // The batch runs past this chunk but not past the file.
                    Err(batch::BatchError::Truncated { need, .. })
                        if u64::from(position) + (at + need) as u64 <= u64::from(len) =>
                    {
                        if at == 0 {
                            grow = Some(need);
                        }
                        break;
                    }
                    Err(e) => return Ok(stop(position + at as u32, offset, e.to_string())),
                };
                if header.base_offset != offset {
                    let why = format!(
                        "the batch there starts at offset {}, the one before ended at {offset}",
                        header.base_offset
                    );
                    return Ok(stop(position + at as u32, offset, why));
                }
                visit(position + at as u32, &header);
                at += header.size as usize;
                offset = header.next_offset();
            }
            if let Some(need) = grow {
                buf.resize(need, 0);
            }
            position += at as u32;
        }
        Ok(Walk {
            end: position,
            next_offset: offset,
            stopped: None,
        })
    }

    /// Walks the whole file, rebuilding the summary from what it finds.
    fn rebuild(
        &mut self,
        len: u32,
        check: Check,
        index_interval: u32,
        visit: &mut dyn FnMut(&BatchHeader),
    ) -> Result<Walk, LogError> {
        let base = self.base_offset;
        let mut summary = Summary::new(base);
        let walk = self.walk(0, base, len, check, &mut |position, header| {
            summary.note(base, index_interval, position, header);
            visit(header);
        })?;
        self.summary = summary;
        Ok(walk)
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    pub fn flushed_size(&self) -> u32 {
        self.flushed_size
    }

    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Largest timestamp of the segment's batches, or `None` if none had one.
    pub fn max_timestamp(&self) -> Option<i64> {
        Some(self.summary.max_timestamp.0).filter(|&ts| ts >= 0)
    }

    /// Appends `bytes`, the concatenation of the batches `headers` describe,
    /// validated by the caller and starting at this segment's next offset.
    pub fn append(
        &mut self,
        bytes: &[u8],
        headers: &[BatchHeader],
        index_interval: u32,
    ) -> Result<(), LogError> {
        debug_assert_eq!(
            headers.first().map(|h| h.base_offset),
            Some(self.next_offset)
        );
        self.file
            .write_all_at(bytes, u64::from(self.size))
            .map_err(LogError::io(&self.path, "append to"))?;
        let mut position = self.size;
        for header in headers {
            self.summary
                .note(self.base_offset, index_interval, position, header);
            position += header.size;
            self.next_offset = header.next_offset();
        }
        debug_assert_eq!(position as usize, self.size as usize + bytes.len());
        self.size = position;
        Ok(())
    }

    /// The batch holding `offset` (the first whose last offset is at or
    /// above it), found from the index by reading batch headers only.
    pub fn locate(&self, offset: u64) -> Result<Option<Located>, LogError> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let relative =
            (offset.max(self.base_offset) - self.base_offset).min(u64::from(u32::MAX)) as u32;
        let (_, mut position) = self.summary.index.floor(relative);
        let mut bytes = [0; HEADER_LEN];
        while position < self.size {
            self.file
                .read_exact_at(&mut bytes, u64::from(position))
                .map_err(LogError::io(&self.path, "read"))?;
            let header = batch::header(&bytes, batch::MAX_SIZE).map_err(|e| LogError::Corrupt {
                path: self.path.clone(),
                position: u64::from(position),
                problem: e.to_string(),
            })?;
            if header.last_offset() >= offset {
                return Ok(Some(Located { position, header }));
            }
            position += header.size;
        }
        Ok(None)
    }

    /// Reads `len` bytes at `position` into the front of `buf`, which grows
    /// if it must; the bytes of a validated range.
    pub fn read_at<'b>(
        &self,
        position: u32,
        len: usize,
        buf: &'b mut Vec<u8>,
    ) -> Result<&'b [u8], LogError> {
        debug_assert!(position as usize + len <= self.size as usize);
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let out = &mut buf[..len];
        self.file
            .read_exact_at(out, u64::from(position))
            .map_err(LogError::io(&self.path, "read"))?;
        Ok(out)
    }

    /// Removes every batch whose last offset is at or above `offset`.
    /// The segment takes appends again, so its index files go.
    pub fn truncate_to(&mut self, offset: u64) -> Result<(), LogError> {
        self.remove_index_files()?;
        let Some(Located { position, header }) = self.locate(offset)? else {
            return Ok(());
        };
        self.file
            .set_len(u64::from(position))
            .map_err(LogError::io(&self.path, "truncate"))?;
        self.size = position;
        self.flushed_size = self.flushed_size.min(position);
        self.shrunk = true;
        self.next_offset = header.base_offset;
        self.summary.index.truncate_to_position(position);
        // The largest timestamp may have gone with the tail; keeping it only
        // delays retention by age, never deletes early.
        Ok(())
    }

    /// fsyncs what was appended since the last flush.
    pub fn needs_sync(&self) -> bool {
        self.flushed_size < self.size || self.shrunk
    }

    pub fn flush(&mut self) -> Result<(), LogError> {
        if self.needs_sync() {
            self.file
                .sync_data()
                .map_err(LogError::io(&self.path, "fsync"))?;
            self.flushed_size = self.size;
            self.shrunk = false;
        }
        Ok(())
    }

    /// Writes the index files of a segment that takes no more appends.
    /// They are not fsynced: an index that does not survive is rebuilt.
    pub fn seal(&self) -> Result<(), LogError> {
        let (max_timestamp, offset) = self.summary.max_timestamp;
        let relative = (offset - self.base_offset) as u32;
        let files = [
            ("index", self.summary.index.encode()),
            (
                "timeindex",
                index::encode_time(max_timestamp, relative).to_vec(),
            ),
        ];
        for (extension, bytes) in files {
            let target = path(self.dir(), self.base_offset, extension);
            let tmp = target.with_extension(format!("{extension}.tmp"));
            fs::write(&tmp, bytes).map_err(LogError::io(&tmp, "write"))?;
            fs::rename(&tmp, &target).map_err(LogError::io(&target, "replace"))?;
        }
        Ok(())
    }

    fn remove_index_files(&self) -> Result<(), LogError> {
        for extension in ["index", "timeindex"] {
            let file = path(self.dir(), self.base_offset, extension);
            match fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::io(&file, "remove")(e))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes the segment's files: the log first, so that a crash midway
    /// leaves only index files without a log, which opening removes.
    pub fn delete(self) -> Result<(), LogError> {
        fs::remove_file(&self.path).map_err(LogError::io(&self.path, "delete"))?;
        self.remove_index_files()
    }
}
