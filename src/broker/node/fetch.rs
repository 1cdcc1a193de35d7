//! Fetch: consumers read committed batches from the leader; followers
//! (a replica id of 0 or more) are answered by
//! [`Partition::fetch_from_follower`], which tracks their position for the
//! ISR and the high watermark, and tells them where their log diverges.
//! Batches go out as stored; nothing is decoded.

use super::{errors, Node, TopicPartition};
use crate::broker::partition::{FetchAnswer, Partition, ReplicaFetch};
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

// FETCH_SESSION_ID_NOT_FOUND: this broker keeps no fetch sessions
// (KIP-227), so every fetch must be a full one.
use crate::error_codes::FETCH_SESSION_ID_NOT_FOUND;

pub struct FetchResult {
    pub response: FetchResponse,
    /// Bytes of records in the response, against the request's min_bytes.
    pub bytes: usize,
    /// An error or a divergence: answer now, whatever min_bytes says.
    pub urgent: bool,
}

impl Node {
    /// `waited`: the request was looked at before and parked (Kafka's
    /// `DelayedFetch`); a follower's position is counted only the first
    /// time, as Kafka does.
    pub fn fetch(&mut self, request: &FetchRequest, now_ms: u64, waited: bool) -> FetchResult {
        let mut response = FetchResponse::default();
        if request.session_id != 0 {
            response.error_code = FETCH_SESSION_ID_NOT_FOUND;
            return FetchResult {
                response,
                bytes: 0,
                urgent: true,
            };
        }
        let replica = request.replica_id.0;
        // When the fetch arrived; `None` when it is looked at again after waiting.
        let arrival = (!waited).then_some(now_ms);
        let mut budget = request.max_bytes.max(0) as usize;
        let (mut bytes, mut urgent) = (0, false);
        let mut buf = Vec::new();
        for topic in &request.topics {
            let name = topic.topic.0.to_string();
            let mut answer = FetchableTopicResponse::default();
            answer.topic = topic.topic.clone();
            for wanted in &topic.partitions {
                let tp = (name.clone(), wanted.partition);
                // KIP-74: the first batch goes out whole even past the limit;
                // after that, nothing once the limit is reached.
                let max = if bytes > 0 && budget == 0 {
                    0
                } else {
                    budget.min(wanted.partition_max_bytes.max(0) as usize)
                };
                let data = if replica >= 0 {
                    self.fetch_for_replica(replica, &tp, wanted, max, &mut buf, arrival)
                } else {
                    self.fetch_for_consumer(&tp, wanted, max, &mut buf)
                };
                let n = data.records.as_ref().map_or(0, Bytes::len);
                bytes += n;
                budget = budget.saturating_sub(n);
                urgent |= data.error_code != errors::NONE || data.diverging_epoch.epoch >= 0;
                answer.partitions.push(data);
            }
            response.responses.push(answer);
        }
        FetchResult {
            response,
            bytes,
            urgent,
        }
    }

    fn fetch_for_consumer(
        &self,
        tp: &TopicPartition,
        wanted: &FetchPartition,
        max: usize,
        buf: &mut Vec<u8>,
    ) -> PartitionData {
        let mut data = PartitionData::default();
        data.partition_index = wanted.partition;
        let Some(p) = self.partitions.get(tp) else {
            data.error_code = self.absent_partition_error(tp);
            return data;
        };
        offsets_of(p, &mut data);
        let epoch = (wanted.current_leader_epoch >= 0).then_some(wanted.current_leader_epoch);
        let Ok(offset) = u64::try_from(wanted.fetch_offset) else {
            data.error_code = errors::OFFSET_OUT_OF_RANGE;
            return data;
        };
        if max == 0 {
            // The response is full: this partition waits for the next fetch.
            data.records = Some(Bytes::new());
            return data;
        }
        // The log reads into a buffer of this partition's own, which then
        // becomes the response's records as it is: one copy of the bytes
        // (page cache to here), not two.
        buf.clear();
        let mut owned = std::mem::take(buf);
        let taken = match p.fetch_for_consumer(offset, max, epoch, &mut owned) {
            Ok(fetched) => Ok((fetched.records.as_ptr() as usize, fetched.records.len())),
            Err(e) => Err(e.code()),
        };
        match taken {
            Ok((at, len)) => {
                // The records are a slice of the buffer the log read into
                // (its address in it, by plain arithmetic on addresses).
                let start = at.wrapping_sub(owned.as_ptr() as usize);
                assert!(start <= owned.len() && len <= owned.len() - start);
                data.records = Some(Bytes::from(owned).slice(start..start + len));
            }
            Err(code) => data.error_code = code,
        }
        data
    }

    fn fetch_for_replica(
        &mut self,
        replica: i32,
        tp: &TopicPartition,
        wanted: &FetchPartition,
        max: usize,
        buf: &mut Vec<u8>,
        arrival: Option<u64>,
    ) -> PartitionData {
        let mut data = PartitionData::default();
        data.partition_index = wanted.partition;
        let me = self.me;
        let Some(p) = self.partitions.get_mut(tp) else {
            data.error_code = self.absent_partition_error(tp);
            return data;
        };
        let Ok(fetch_offset) = u64::try_from(wanted.fetch_offset) else {
            data.error_code = errors::OFFSET_OUT_OF_RANGE;
            return data;
        };
        let fetch = ReplicaFetch {
            leader: me,
            leader_epoch: if wanted.current_leader_epoch >= 0 {
                wanted.current_leader_epoch
            } else {
                p.leader_epoch()
            },
            fetch_offset,
            last_fetched_epoch: (wanted.last_fetched_epoch >= 0)
                .then_some(wanted.last_fetched_epoch),
            max_bytes: max,
        };
        let answer = match arrival {
            Some(now_ms) => p.fetch_from_follower(replica, &fetch, buf, now_ms),
            None => p.complete_parked_fetch(replica, &fetch, buf),
        };
        match answer {
            Ok(FetchAnswer::Records {
                records,
                high_watermark,
                log_start_offset,
            }) => {
                data.records = Some(Bytes::copy_from_slice(records));
                data.high_watermark = high_watermark as i64;
                data.last_stable_offset = high_watermark as i64;
                data.log_start_offset = log_start_offset as i64;
            }
            Ok(FetchAnswer::Diverging { epoch, end_offset }) => {
                offsets_of(p, &mut data);
                let mut diverging = EpochEndOffset::default();
                diverging.epoch = epoch;
                diverging.end_offset = end_offset as i64;
                data.diverging_epoch = diverging;
                data.records = Some(Bytes::new());
            }
            Ok(FetchAnswer::OutOfRange { .. }) => {
                offsets_of(p, &mut data);
                data.error_code = errors::OFFSET_OUT_OF_RANGE;
            }
            Err(e) => {
                offsets_of(p, &mut data);
                data.error_code = e.code();
            }
        }
        // A follower's position may have moved the high watermark, and
        // with it produces waiting for acks=all.
        self.drain(tp);
        data
    }
}

fn offsets_of(p: &Partition, data: &mut PartitionData) {
    data.high_watermark = p.high_watermark() as i64;
    data.last_stable_offset = p.high_watermark() as i64;
    data.log_start_offset = p.log().log_start_offset() as i64;
}
