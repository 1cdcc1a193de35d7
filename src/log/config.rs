//! The log's settings, under Kafka's broker names and with Kafka's defaults.

use crate::knob::Knob;

/// Settings of one log. `u64::MAX` and `None` stand for Kafka's "never"
/// (`Long.MAX_VALUE`, `-1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `log.segment.bytes`: a segment is rolled before it would exceed this.
    pub segment_bytes: u32,
    /// `log.index.interval.bytes`: bytes between two offset index entries.
    pub index_interval_bytes: u32,
    /// `log.flush.interval.messages`: fsync once this many offsets are unflushed.
    pub flush_interval_messages: u64,
    /// `log.flush.interval.ms`: fsync once the oldest unflushed append is this old.
    pub flush_interval_ms: u64,
    /// `log.retention.bytes`: whole segments are deleted beyond this size.
    pub retention_bytes: Option<u64>,
    /// `log.retention.ms`: segments whose newest record is older are deleted.
    pub retention_ms: Option<u64>,
    /// `message.max.bytes`: the largest batch accepted, without its 12-byte
    /// offset and length prefix.
    pub max_message_bytes: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            index_interval_bytes: 4096,
            flush_interval_messages: u64::MAX,
            flush_interval_ms: u64::MAX,
            retention_bytes: None,
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            max_message_bytes: 1_048_588,
        }
    }
}

/// Every knob [`LogConfig::set`] knows, with what it means.
pub const KNOBS: &[(&str, &str)] = &[
    (
        "log.segment.bytes",
        "segment size before a roll (default 1073741824)",
    ),
    (
        "log.index.interval.bytes",
        "bytes between offset index entries (default 4096)",
    ),
    (
        "log.flush.interval.messages",
        "fsync after this many messages (default never)",
    ),
    (
        "log.flush.interval.ms",
        "fsync when unflushed data is this old (default never)",
    ),
    (
        "log.retention.bytes",
        "delete old segments beyond this size, -1 = never (default -1)",
    ),
    (
        "log.retention.ms",
        "delete segments older than this, -1 = never (default 604800000)",
    ),
    (
        "message.max.bytes",
        "largest batch accepted (default 1048588)",
    ),
];

impl LogConfig {
    /// Sets one knob from its Kafka name and text value; the error names
    /// the knob and what is wrong with the value.
    pub fn set(&mut self, knob: &str, value: &str) -> Result<(), String> {
        let k = Knob { name: knob, value };
        // Kafka spells "never" as -1 for retention and Long.MAX_VALUE for flushing.
        let never_or = |n: i64| -> Result<Option<u64>, String> {
            match n {
                -1 => Ok(None),
                n if n >= 0 => Ok(Some(n as u64)),
                _ => Err(k.bad("must be -1 (never) or at least 0")),
            }
        };
        match knob {
            "log.segment.bytes" | "segment.bytes" => {
                self.segment_bytes = k.int(1, i64::from(i32::MAX))? as u32
            }
            "log.index.interval.bytes" | "index.interval.bytes" => {
                self.index_interval_bytes = k.int(1, i64::from(i32::MAX))? as u32
            }
            "log.flush.interval.messages" | "flush.messages" => {
                self.flush_interval_messages = k.int(1, i64::MAX)? as u64
            }
            "log.flush.interval.ms" | "flush.ms" => {
                self.flush_interval_ms = k.int(0, i64::MAX)? as u64
            }
            "log.retention.bytes" | "retention.bytes" => {
                self.retention_bytes = k.int(i64::MIN, i64::MAX).and_then(never_or)?
            }
            "log.retention.ms" | "retention.ms" => {
                self.retention_ms = k.int(i64::MIN, i64::MAX).and_then(never_or)?
            }
            "message.max.bytes" | "max.message.bytes" => {
                self.max_message_bytes = k.int(1, i64::from(i32::MAX) - 12)? as u32
            }
            _ => {
                let known: Vec<&str> = KNOBS.iter().map(|(name, _)| *name).collect();
                return Err(format!(
                    "unknown log setting {knob:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The largest batch, prefix included, that a reader may meet.
    pub fn max_batch_size(&self) -> u32 {
        self.max_message_bytes + super::batch::LOG_OVERHEAD as u32
    }
}
