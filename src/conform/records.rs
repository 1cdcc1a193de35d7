//! The model's messages as Kafka record batches, and back: one model log
//! entry is one batch of one record whose value is the message id.

use bytes::Bytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One entry of a replica's log, as the model writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub epoch: i32,
    pub msg: u8,
    /// The idempotent producer's id, if the batch carries one.
    pub producer_id: Option<i64>,
}

/// The batch a producer sends for model message `msg`; `producer` is the
/// idempotent producer's `(id, sequence)`.
pub fn batch(msg: u8, producer: Option<(i64, i32)>) -> Vec<u8> {
    let (producer_id, sequence) = producer.unwrap_or((-1, -1));
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch: if producer.is_some() { 0 } else { -1 },
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from(vec![msg])),
        headers: Default::default(),
    };
    let mut buf = Vec::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [&record], &options)
        .expect("an uncompressed v2 batch of one record encodes");
    buf
}

/// The entries in whole batches read from a log.
pub fn entries(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let sets = RecordBatchDecoder::decode_all(&mut buf).map_err(|e| e.to_string())?;
    let mut entries = Vec::new();
    for record in sets.into_iter().flat_map(|set| set.records) {
        let value = record.value.unwrap_or_default();
        let [msg] = value[..] else {
            return Err(format!(
                "a record of {} bytes where the model writes one",
                value.len()
            ));
        };
        entries.push(Entry {
            epoch: record.partition_leader_epoch,
            msg,
            producer_id: (record.producer_id >= 0).then_some(record.producer_id),
        });
    }
    Ok(entries)
}
