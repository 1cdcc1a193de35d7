//! Batches as a Kafka client builds them, and back to values.

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One batch of `values`, with producer-relative offsets from 0, as a
/// producer sends it; `timestamp` for every record.
pub fn batch(values: &[Vec<u8>], timestamp: i64) -> Vec<u8> {
    batch_from(values, timestamp, None)
}

/// The same from an idempotent producer: `(producer id, epoch, base sequence)`.
pub fn batch_from(
    values: &[Vec<u8>],
    timestamp: i64,
    producer: Option<(i64, i16, i32)>,
) -> Vec<u8> {
    let (producer_id, producer_epoch, base_sequence) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, value)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset minus
            // sequence is constant, and takes the first as the base.
            sequence: base_sequence.wrapping_add(i as i32),
            timestamp,
            key: None,
            value: Some(Bytes::from(value.clone())),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = Vec::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("the encoder takes uncompressed v2 batches");
    buf
}

/// Every record in `bytes` as `(offset, leader epoch, value)`.
pub fn records(bytes: &[u8]) -> Vec<(u64, i32, Vec<u8>)> {
    let mut buf = Bytes::copy_from_slice(bytes);
    RecordBatchDecoder::decode_all(&mut buf)
        .expect("the log serves whole, valid batches")
        .into_iter()
        .flat_map(|set| set.records)
        .map(|r| {
            (
                r.offset as u64,
                r.partition_leader_epoch,
                r.value.map(|v| v.to_vec()).unwrap_or_default(),
            )
        })
        .collect()
}

/// Reads the whole log from `from` to `until` in reads of `max_bytes`.
pub fn read_all(
    log: &kafka_oracle::log::Log,
    from: u64,
    until: u64,
    max_bytes: usize,
) -> Vec<(u64, i32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut next = from;
    loop {
        let fetched = log
            .read(next, max_bytes, until, &mut buf)
            .expect("an offset in range");
        if fetched.records.is_empty() {
            return out;
        }
        assert!(
            fetched.next_offset > next,
            "a read that returns batches moves on"
        );
        out.extend(records(fetched.records).into_iter().filter(|r| r.0 >= next));
        next = fetched.next_offset;
    }
}
