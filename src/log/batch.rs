//! Record batches in Kafka's on-disk format v2, read in place.
//!
//! The log never decodes records. It reads the 61-byte batch header, checks
//! the CRC32C, and rewrites only the two fields a leader owns, which lie
//! outside the CRC so that rewriting them costs nothing: the base offset and
//! the partition leader epoch. The layout, big-endian, as Kafka's
//! `DefaultRecordBatch` documents it:
//!
//! ```text
//!  0 baseOffset int64        27 baseTimestamp int64
//!  8 batchLength int32       35 maxTimestamp int64
//! 12 partitionLeaderEpoch    43 producerId int64
//! 16 magic int8 (= 2)        51 producerEpoch int16
//! 17 crc uint32 (CRC32C of   53 baseSequence int32
//!    bytes 21..end)          57 recordsCount int32
//! 21 attributes int16        61 records...
//! 23 lastOffsetDelta int32
//! ```

use std::fmt;

/// Bytes of the fixed header that precedes the records.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength` counts: base offset and the length itself.
pub const LOG_OVERHEAD: usize = 12;
/// The only format this log stores.
pub const MAGIC: i8 = 2;
/// The largest batch the format can state (`batchLength` is an int32):
/// the bound for bytes already stored, whatever `message.max.bytes` says now.
pub const MAX_SIZE: u32 = i32::MAX as u32 + LOG_OVERHEAD as u32;

const CRC_START: usize = 21;

/// What a header says; the records stay bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: u64,
    /// The whole batch, header included.
    pub size: u32,
    pub leader_epoch: i32,
    pub crc: u32,
    pub last_offset_delta: u32,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records: u32,
}

impl BatchHeader {
    pub fn last_offset(&self) -> u64 {
        self.base_offset + u64::from(self.last_offset_delta)
    }

    /// The offset the batch after this one starts at.
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }

    /// Offsets the batch occupies, which is what flush intervals count.
    pub fn offsets(&self) -> u64 {
        u64::from(self.last_offset_delta) + 1
    }
}

/// Why bytes are not a batch this log accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than the header, or than the length the header states.
    Truncated {
        have: usize,
        need: usize,
    },
    /// `batchLength` below the header's own size, or above the limit.
    Length {
        size: i64,
        max: u32,
    },
    Magic(i8),
    Crc {
        stored: u32,
        computed: u32,
    },
    NegativeOffset(i64),
    NegativeOffsetDelta(i32),
    NegativeRecordCount(i32),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            BatchError::Truncated { have, need } => {
                write!(f, "truncated batch: {have} bytes where {need} are needed")
            }
            BatchError::Length { size, max } => write!(
                f,
                "batch size {size} is outside {HEADER_LEN}..={max} (max.message.bytes + {LOG_OVERHEAD})"
            ),
            BatchError::Magic(m) => write!(f, "magic byte {m}: only record batch format v{MAGIC} is stored"),
            BatchError::Crc { stored, computed } => write!(
                f,
                "CRC32C mismatch: the batch says {stored:#010x}, its bytes give {computed:#010x}"
            ),
            BatchError::NegativeOffset(o) => write!(f, "negative base offset {o}"),
            BatchError::NegativeOffsetDelta(d) => write!(f, "negative last offset delta {d}"),
            BatchError::NegativeRecordCount(n) => write!(f, "negative record count {n}"),
        }
    }
}

fn be<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

/// The size of the batch starting at `bytes`, from its first 12 bytes, with
/// the bounds checked; what a reader needs to step from batch to batch.
pub fn size(bytes: &[u8], max_size: u32) -> Result<u32, BatchError> {
    if bytes.len() < LOG_OVERHEAD {
        return Err(BatchError::Truncated {
            have: bytes.len(),
            need: LOG_OVERHEAD,
        });
    }
    let size = i64::from(i32::from_be_bytes(be(bytes, 8))) + LOG_OVERHEAD as i64;
    if size < HEADER_LEN as i64 || size > i64::from(max_size) {
        return Err(BatchError::Length {
            size,
            max: max_size,
        });
    }
    Ok(size as u32)
}

/// Reads the header at the start of `bytes` without checking the CRC: for
/// walking bytes that were validated when they were written.
pub fn header(bytes: &[u8], max_size: u32) -> Result<BatchHeader, BatchError> {
    let size = size(bytes, max_size)?;
    if bytes.len() < HEADER_LEN {
        return Err(BatchError::Truncated {
            have: bytes.len(),
            need: HEADER_LEN,
        });
    }
    let magic = bytes[16] as i8;
    if magic != MAGIC {
        return Err(BatchError::Magic(magic));
    }
    let base_offset = i64::from_be_bytes(be(bytes, 0));
    if base_offset < 0 {
        return Err(BatchError::NegativeOffset(base_offset));
    }
    let last_offset_delta = i32::from_be_bytes(be(bytes, 23));
    if last_offset_delta < 0 {
        return Err(BatchError::NegativeOffsetDelta(last_offset_delta));
    }
    let records = i32::from_be_bytes(be(bytes, 57));
    if records < 0 {
        return Err(BatchError::NegativeRecordCount(records));
    }
    Ok(BatchHeader {
        base_offset: base_offset as u64,
        size,
        leader_epoch: i32::from_be_bytes(be(bytes, 12)),
        crc: u32::from_be_bytes(be(bytes, 17)),
        last_offset_delta: last_offset_delta as u32,
        max_timestamp: i64::from_be_bytes(be(bytes, 35)),
        producer_id: i64::from_be_bytes(be(bytes, 43)),
        producer_epoch: i16::from_be_bytes(be(bytes, 51)),
        base_sequence: i32::from_be_bytes(be(bytes, 53)),
        records: records as u32,
    })
}

/// Checks the batch at the start of `bytes` completely: bounds, magic and
/// the CRC over its whole extent. Bytes after the batch are not looked at.
pub fn validate(bytes: &[u8], max_size: u32) -> Result<BatchHeader, BatchError> {
    let header = header(bytes, max_size)?;
    let size = header.size as usize;
    if bytes.len() < size {
        return Err(BatchError::Truncated {
            have: bytes.len(),
            need: size,
        });
    }
    let computed = crc32c::crc32c(&bytes[CRC_START..size]);
    if computed != header.crc {
        return Err(BatchError::Crc {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// The leader's stamp on a batch it accepts: where it goes and in which epoch.
pub fn assign(bytes: &mut [u8], base_offset: u64, leader_epoch: i32) {
    bytes[0..8].copy_from_slice(&(base_offset as i64).to_be_bytes());
    bytes[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Consecutive batches in a buffer, each validated, as `(header, bytes)`.
/// Stops at the first error, which it yields.
pub struct Batches<'a> {
    rest: &'a [u8],
    max_size: u32,
}

impl<'a> Batches<'a> {
    pub fn new(bytes: &'a [u8], max_size: u32) -> Self {
        Batches {
            rest: bytes,
            max_size,
        }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match validate(self.rest, self.max_size) {
            Ok(header) => {
                let (batch, rest) = self.rest.split_at(header.size as usize);
                self.rest = rest;
                Some(Ok((header, batch)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}
