//! The follower's side of replication on the wire: the Fetch request a
//! follower sends its leader (Kafka's ReplicaFetcherThread does the same,
//! with its replica id), and the leader's answer read back into
//! [`ReplicaAnswer`]s for the node. Version 12 carries what the protocol
//! needs: the current leader epoch, the last fetched epoch and the
//! diverging epoch (KIP-320).

use super::node::{errors, ReplicaAnswer, TopicPartition};
use super::partition::{BrokerId, FetchAnswer, ReplicaFetch};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId as WireBrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

pub const FETCH_VERSION: i16 = 12;
/// What a follower asks for in one fetch, all partitions together.
const FETCH_BYTES_MAX: i32 = 10 << 20;

pub fn fetch_request(
    me: BrokerId,
    fetches: &[(TopicPartition, ReplicaFetch)],
    max_wait_ms: u64,
) -> FetchRequest {
    let mut request = FetchRequest::default();
    request.replica_id = WireBrokerId(me);
    request.max_wait_ms = i32::try_from(max_wait_ms).unwrap_or(i32::MAX);
    request.min_bytes = 1;
    request.max_bytes = FETCH_BYTES_MAX;
    // A full fetch each time: no incremental session (KIP-227).
    request.session_epoch = -1;
    for ((topic, partition), fetch) in fetches {
        let mut wanted = FetchPartition::default();
        wanted.partition = *partition;
        wanted.current_leader_epoch = fetch.leader_epoch;
        wanted.fetch_offset = fetch.fetch_offset as i64;
        wanted.last_fetched_epoch = fetch.last_fetched_epoch.unwrap_or(-1);
        wanted.partition_max_bytes = i32::try_from(fetch.max_bytes).unwrap_or(i32::MAX);
        let name = TopicName(StrBytes::from_string(topic.clone()));
        match request.topics.iter_mut().find(|t| t.topic == name) {
            Some(t) => t.partitions.push(wanted),
            None => {
                let mut t = FetchTopic::default();
                t.topic = name;
                t.partitions.push(wanted);
                request.topics.push(t);
            }
        }
    }
    request
}

/// The leader's answer for one partition, if the response has it.
pub fn partition_data<'r>(
    response: &'r FetchResponse,
    tp: &TopicPartition,
) -> Option<&'r PartitionData> {
    response
        .responses
        .iter()
        .filter(|t| t.topic.0.as_str() == tp.0)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == tp.1)
}

/// Reads a partition's answer. `OFFSET_OUT_OF_RANGE` needs the leader's log
/// end, which a Fetch response does not carry: the caller asks ListOffsets
/// and gives it here as `leader_end`.
pub fn answer(data: &PartitionData, leader_end: Option<u64>) -> ReplicaAnswer<'_> {
    let offset = |n: i64| u64::try_from(n).unwrap_or(0);
    match data.error_code {
        errors::NONE if data.diverging_epoch.epoch >= 0 => {
            ReplicaAnswer::Fetched(FetchAnswer::Diverging {
                epoch: data.diverging_epoch.epoch,
                end_offset: offset(data.diverging_epoch.end_offset),
            })
        }
        errors::NONE => ReplicaAnswer::Fetched(FetchAnswer::Records {
            records: data.records.as_deref().unwrap_or(&[]),
            high_watermark: offset(data.high_watermark),
            log_start_offset: offset(data.log_start_offset),
        }),
        errors::OFFSET_OUT_OF_RANGE => match leader_end {
            Some(end) => ReplicaAnswer::Fetched(FetchAnswer::OutOfRange {
                log_start_offset: offset(data.log_start_offset),
                log_end_offset: end,
            }),
            None => ReplicaAnswer::Error(data.error_code),
        },
        code => ReplicaAnswer::Error(code),
    }
}
