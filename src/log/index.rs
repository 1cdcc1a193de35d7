//! A segment's sparse offset index: every `log.index.interval.bytes` of
//! log, the base offset of a batch (relative to the segment's base) and its
//! byte position. A lookup finds the last entry at or below an offset by
//! binary search; the reader walks batch headers from there.
//!
//! The active segment's index lives in memory and is rebuilt when the
//! segment is recovered; a sealed segment's index is written beside it in
//! Kafka's `.index` layout (8 bytes an entry: relative offset, position,
//! both big-endian u32), followed by a `.timeindex` holding one entry
//! (largest timestamp, its relative offset) that retention by age reads.
//! An index file that fails its checks is rebuilt from the log, never
//! trusted.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    pub fn push(&mut self, relative_offset: u32, position: u32) {
        debug_assert!(self
            .entries
            .last()
            .is_none_or(|&(o, p)| o < relative_offset && p < position));
        self.entries.push((relative_offset, position));
    }

    /// The position of the last indexed batch that starts at or below
    /// `relative_offset`; 0 (the segment's first batch) when there is none.
    pub fn floor(&self, relative_offset: u32) -> (u32, u32) {
        let after = self.entries.partition_point(|&(o, _)| o <= relative_offset);
        after.checked_sub(1).map_or((0, 0), |i| self.entries[i])
    }

    /// Forgets the entries of batches at or after `position`.
    pub fn truncate_to_position(&mut self, position: u32) {
        let keep = self.entries.partition_point(|&(_, p)| p < position);
        self.entries.truncate(keep);
    }

    pub fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.entries.len() * 8);
        for &(offset, position) in &self.entries {
            bytes.extend_from_slice(&offset.to_be_bytes());
            bytes.extend_from_slice(&position.to_be_bytes());
        }
        bytes
    }

    /// Reads an index file's bytes; `Err` says why they cannot be the index
    /// of a segment of `segment_size` bytes.
    pub fn decode(bytes: &[u8], segment_size: u32) -> Result<Self, String> {
        if !bytes.len().is_multiple_of(8) {
            return Err(format!(
                "{} bytes is not a whole number of 8-byte entries",
                bytes.len()
            ));
        }
        let mut index = OffsetIndex::default();
        for entry in bytes.chunks_exact(8) {
            let offset = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let position = u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]);
            let increasing = index.last().is_none_or(|(o, p)| o < offset && p < position);
            if !increasing || position >= segment_size {
                return Err(format!(
                    "entry ({offset}, {position}) does not increase or lies past the segment's {segment_size} bytes"
                ));
            }
            index.entries.push((offset, position));
        }
        Ok(index)
    }
}

/// The `.timeindex` of a sealed segment: its largest timestamp.
pub fn encode_time(max_timestamp: i64, relative_offset: u32) -> [u8; 12] {
    let mut bytes = [0; 12];
    bytes[..8].copy_from_slice(&max_timestamp.to_be_bytes());
    bytes[8..].copy_from_slice(&relative_offset.to_be_bytes());
    bytes
}

pub fn decode_time(bytes: &[u8]) -> Option<(i64, u32)> {
    let bytes: &[u8; 12] = bytes.try_into().ok()?;
    let (ts, offset) = bytes.split_at(8);
    Some((
        i64::from_be_bytes(ts.try_into().ok()?),
        u32::from_be_bytes(offset.try_into().ok()?),
    ))
}
