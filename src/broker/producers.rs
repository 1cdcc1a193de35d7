//! The idempotent producer's state on a partition (KIP-98): for each
//! producer id its epoch and its last few batches' sequence ranges, so that
//! a retried batch is recognised and answered with the offsets it got the
//! first time instead of being written twice.
//!
//! Like Kafka's `ProducerStateManager` it is rebuilt from the batch headers
//! in the log (there are no snapshots yet: a restart walks the log), and
//! followers keep it too, so that a new leader knows the producers.

use crate::log::batch::BatchHeader;
use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer: Kafka's limit on in-flight requests
/// for an idempotent producer (`max.in.flight.requests.per.connection` <= 5).
pub const REMEMBERED_BATCHES: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Written {
    first_sequence: i32,
    last_sequence: i32,
    first_offset: u64,
    last_offset: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Producer {
    epoch: i16,
    batches: VecDeque<Written>,
}

/// What to do with a batch from an idempotent producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Not from an idempotent producer, or the next in sequence: append it.
    Append,
    /// Already in the log: answer with these offsets, write nothing.
    Duplicate { first_offset: u64, last_offset: u64 },
    /// From an epoch older than the producer's latest.
    Fenced,
    /// A gap or a reordering in the sequence.
    OutOfOrder { expected: i32, got: i32 },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Producers {
    producers: HashMap<i64, Producer>,
}

impl Producers {
    /// Judges a batch a leader is about to append.
    pub fn admit(&self, batch: &BatchHeader) -> Admission {
        if batch.producer_id < 0 {
            return Admission::Append;
        }
        let last_sequence = batch
            .base_sequence
            .wrapping_add(batch.last_offset_delta as i32);
        let Some(producer) = self.producers.get(&batch.producer_id) else {
            return first_in_epoch(batch.base_sequence);
        };
        if batch.producer_epoch < producer.epoch {
            return Admission::Fenced;
        }
        if batch.producer_epoch > producer.epoch {
            return first_in_epoch(batch.base_sequence);
        }
        if let Some(w) = producer
            .batches
            .iter()
            .find(|w| w.first_sequence == batch.base_sequence && w.last_sequence == last_sequence)
        {
            return Admission::Duplicate {
                first_offset: w.first_offset,
                last_offset: w.last_offset,
            };
        }
        let expected = producer
            .batches
            .back()
            .map_or(0, |w| w.last_sequence.wrapping_add(1));
        if batch.base_sequence == expected {
            Admission::Append
        } else {
            Admission::OutOfOrder {
                expected,
                got: batch.base_sequence,
            }
        }
    }

    /// Records a batch now in the log (with its offsets assigned).
    pub fn record(&mut self, batch: &BatchHeader) {
        if batch.producer_id < 0 {
            return;
        }
        let producer = self.producers.entry(batch.producer_id).or_default();
        if batch.producer_epoch != producer.epoch {
            producer.epoch = batch.producer_epoch;
            producer.batches.clear();
        }
        if producer.batches.len() == REMEMBERED_BATCHES {
            producer.batches.pop_front();
        }
        producer.batches.push_back(Written {
            first_sequence: batch.base_sequence,
            last_sequence: batch
                .base_sequence
                .wrapping_add(batch.last_offset_delta as i32),
            first_offset: batch.base_offset,
            last_offset: batch.last_offset(),
        });
    }
}

/// A producer's first batch in an epoch starts its sequence at 0.
fn first_in_epoch(base_sequence: i32) -> Admission {
    if base_sequence == 0 {
        Admission::Append
    } else {
        Admission::OutOfOrder {
            expected: 0,
            got: base_sequence,
        }
    }
}
