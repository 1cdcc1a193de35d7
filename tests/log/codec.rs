//! The batch header codec against batches a Kafka client encodes.

use crate::kafka::batch;
use kafka_oracle::log::batch::{self as codec, BatchError, HEADER_LEN};
use proptest::prelude::*;

fn values() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..20)
}

proptest! {
    #[test]
    fn a_client_batch_validates_and_its_header_reads_back(values in values(), ts in 0i64..1 << 40) {
        let bytes = batch(&values, ts);
        let header = codec::validate(&bytes, u32::MAX).unwrap();
        prop_assert_eq!(header.size as usize, bytes.len());
        prop_assert_eq!(header.records as usize, values.len());
        prop_assert_eq!(header.offsets(), values.len() as u64);
        prop_assert_eq!(header.max_timestamp, ts);
        prop_assert_eq!(header.base_offset, 0);
    }

    #[test]
    fn assigning_an_offset_and_epoch_keeps_the_batch_valid(values in values(), base in 0u64..1 << 60, epoch in 0i32..i32::MAX) {
        let mut bytes = batch(&values, 0);
        codec::assign(&mut bytes, base, epoch);
        let header = codec::validate(&bytes, u32::MAX).unwrap();
        prop_assert_eq!(header.base_offset, base);
        prop_assert_eq!(header.leader_epoch, epoch);
        prop_assert_eq!(header.last_offset(), base + values.len() as u64 - 1);
    }

    /// Every byte the CRC covers, and the length and magic, are checked.
    /// The base offset and leader epoch are outside the CRC in format v2,
    /// as in Kafka: recovery catches a damaged base offset by the offsets
    /// not chaining (tests/log/recovery.rs); a damaged epoch is undetectable
    /// in this format.
    #[test]
    fn any_flipped_byte_the_format_protects_is_detected(values in values(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = batch(&values, 7);
        let at = at.index(bytes.len());
        prop_assume!(!(0..8).contains(&at) && !(12..16).contains(&at));
        bytes[at] ^= 1 << bit;
        prop_assert!(codec::validate(&bytes, u32::MAX).is_err(), "flip at byte {} passed", at);
    }

    #[test]
    fn any_cut_is_detected(values in values(), keep in any::<prop::sample::Index>()) {
        let bytes = batch(&values, 7);
        let keep = keep.index(bytes.len());
        let err = codec::validate(&bytes[..keep], u32::MAX).unwrap_err();
        let is_truncated = matches!(err, BatchError::Truncated { .. });
        prop_assert!(is_truncated, "{}", err);
    }
}

#[test]
fn impossible_headers_are_named() {
    let mut bytes = batch(&[b"x".to_vec()], 0);
    bytes[16] = 1;
    assert_eq!(
        codec::validate(&bytes, u32::MAX).unwrap_err(),
        BatchError::Magic(1)
    );
    let mut bytes = batch(&[b"x".to_vec()], 0);
    bytes[8..12].copy_from_slice(&(-1i32).to_be_bytes());
    let err = codec::header(&bytes, u32::MAX).unwrap_err();
    assert!(err.to_string().contains("batch size 11"), "{err}");
    let mut bytes = batch(&[b"x".to_vec()], 0);
    bytes[0..8].copy_from_slice(&(-3i64).to_be_bytes());
    assert_eq!(
        codec::header(&bytes, u32::MAX).unwrap_err(),
        BatchError::NegativeOffset(-3)
    );
    assert!(codec::header(&bytes[..HEADER_LEN - 1], u32::MAX).is_err());
}
