//! ListOffsets and OffsetForLeaderEpoch, answered by a partition's leader.

use super::{errors, Node};
use crate::broker::partition::{Partition, PartitionError, Role};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
};

const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

impl Node {
    /// The earliest offset, or the latest: the high watermark for a
    /// consumer, the log end for a follower (as Kafka answers a replica).
    /// Offsets by timestamp are not implemented.
    pub fn list_offsets(&self, request: &ListOffsetsRequest) -> ListOffsetsResponse {
        let mut response = ListOffsetsResponse::default();
        for topic in &request.topics {
            let name = topic.name.0.to_string();
            let mut answer = ListOffsetsTopicResponse::default();
            answer.name = topic.name.clone();
            for wanted in &topic.partitions {
                let mut data = ListOffsetsPartitionResponse::default();
                data.partition_index = wanted.partition_index;
                let tp = (name.clone(), wanted.partition_index);
                let found = match self.partitions.get(&tp) {
                    None => Err(self.absent_partition_error(&tp)),
                    Some(p) => list_offset(
                        p,
                        request.replica_id.0,
                        wanted.current_leader_epoch,
                        wanted.timestamp,
                    ),
                };
                match found {
                    Ok(offset) => {
                        data.offset = offset as i64;
                        data.timestamp = -1;
                    }
                    Err(code) => data.error_code = code,
                }
                answer.partitions.push(data);
            }
            response.topics.push(answer);
        }
        response
    }

    /// KIP-101/279: where an epoch ended in the leader's log.
    pub fn offset_for_leader_epoch(
        &self,
        request: &OffsetForLeaderEpochRequest,
    ) -> OffsetForLeaderEpochResponse {
        let mut response = OffsetForLeaderEpochResponse::default();
        for topic in &request.topics {
            let name = topic.topic.0.to_string();
            let mut answer = OffsetForLeaderTopicResult::default();
            answer.topic = topic.topic.clone();
            for wanted in &topic.partitions {
                let mut data = EpochEndOffset::default();
                data.partition = wanted.partition;
                let tp = (name.clone(), wanted.partition);
                let current =
                    (wanted.current_leader_epoch >= 0).then_some(wanted.current_leader_epoch);
                let found = match self.partitions.get(&tp) {
                    None => Err(self.absent_partition_error(&tp)),
                    Some(p) => p
                        .end_offset_for_epoch(current, wanted.leader_epoch)
                        .map_err(|e| e.code()),
                };
                match found {
                    Ok(Some((epoch, end))) => {
                        data.leader_epoch = epoch;
                        data.end_offset = end as i64;
                    }
                    Ok(None) => {
                        data.leader_epoch = -1;
                        data.end_offset = -1;
                    }
                    Err(code) => data.error_code = code,
                }
                answer.partitions.push(data);
            }
            response.topics.push(answer);
        }
        response
    }
}

fn list_offset(
    p: &Partition,
    replica: i32,
    current_epoch: i32,
    timestamp: i64,
) -> Result<u64, i16> {
    if p.role() != Role::Leader {
        return Err(errors::NOT_LEADER_OR_FOLLOWER);
    }
    if current_epoch >= 0 && current_epoch < p.leader_epoch() {
        return Err(PartitionError::FencedLeaderEpoch.code());
    }
    if current_epoch > p.leader_epoch() {
        return Err(PartitionError::UnknownLeaderEpoch.code());
    }
    match timestamp {
        EARLIEST => p.list_offset(false).map_err(|e| e.code()),
        LATEST if replica >= 0 => Ok(p.log().log_end_offset()),
        LATEST => p.list_offset(true).map_err(|e| e.code()),
        _ => Err(errors::INVALID_REQUEST),
    }
}
