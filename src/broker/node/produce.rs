//! Produce: each partition's batch goes to its [`Partition`]; with
//! acks=all the answer waits until every partition of the request has its
//! [`Effect::ProduceDone`](crate::broker::partition::Effect::ProduceDone).

use super::{errors, Node, Output, StorageError};
use crate::broker::partition::{Acks, PartitionError, Produced};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;

pub enum ProduceOutcome {
    /// Answer now.
    Now(ProduceResponse),
    /// Answered later by an [`Output::Answer`](super::Output::Answer)
    /// with this request id.
    Wait(u64),
    /// acks=0: no answer at all.
    Nothing,
}

/// acks=all requests waiting, with the slots their partitions fill.
#[derive(Default)]
pub struct Pending {
    /// Request id → its response so far, and how many partitions it waits for.
    responses: HashMap<u64, (ProduceResponse, usize)>,
    /// A partition's produce id → (request id, topic index, partition index).
    slots: HashMap<u64, (u64, usize, usize)>,
}

impl Pending {
    /// A partition's produce is done; returns the request's response once
    /// its last partition is.
    pub fn done(
        &mut self,
        partition_request: u64,
        result: Result<Produced, PartitionError>,
    ) -> Option<(u64, ProduceResponse)> {
        let (request, t, p) = self.slots.remove(&partition_request)?;
        let (response, waiting) = self.responses.get_mut(&request)?;
        let slot = response
            .responses
            .get_mut(t)?
            .partition_responses
            .get_mut(p)?;
        fill(slot, result);
        *waiting -= 1;
        if *waiting > 0 {
            return None;
        }
        self.responses.remove(&request).map(|(r, _)| (request, r))
    }
}

fn fill(slot: &mut PartitionProduceResponse, result: Result<Produced, PartitionError>) {
    match result {
        Ok(produced) => {
            slot.error_code = errors::NONE;
            slot.base_offset = produced.base_offset as i64;
            slot.log_start_offset = produced.log_start_offset as i64;
        }
        Err(e) => {
            slot.error_code = e.code();
            slot.base_offset = -1;
            if let PartitionError::CorruptMessage(why) | PartitionError::KafkaStorageError(why) = e
            {
                slot.error_message = Some(StrBytes::from_string(why));
            }
        }
    }
}

impl Node {
    pub fn produce(&mut self, request: ProduceRequest, now_ms: u64) -> ProduceOutcome {
        let acks = match request.acks {
            0 => Some(Acks::None),
            1 => Some(Acks::Leader),
            -1 => Some(Acks::All),
            _ => None,
        };
        let timeout_ms = request.timeout_ms.max(0) as u64;
        let transactional = request.transactional_id.is_some();
        let id = self.next_request();
        let mut response = ProduceResponse::default();
        let mut slots = Vec::new();
        for (t, topic) in request.topic_data.into_iter().enumerate() {
            let name = topic.name.0.to_string();
            let mut answer = TopicProduceResponse::default();
            answer.name = topic.name;
            for (i, data) in topic.partition_data.into_iter().enumerate() {
                let mut slot = PartitionProduceResponse::default();
                slot.index = data.index;
                slot.base_offset = -1;
                let tp = (name.clone(), data.index);
                let partition_request = self.next_request();
                match (acks, self.partitions.get_mut(&tp)) {
                    (None, _) => slot.error_code = errors::INVALID_REQUIRED_ACKS,
                    (Some(_), _) if transactional => {
                        slot.error_code = errors::INVALID_REQUEST;
                        slot.error_message = Some(StrBytes::from_static_str(
                            "transactions are not implemented",
                        ));
                    }
                    (Some(_), None) => slot.error_code = self.absent_partition_error(&tp),
                    (Some(acks), Some(p)) => {
                        let mut batch = data.records.map(|b| b.to_vec()).unwrap_or_default();
                        match p.produce(partition_request, acks, &mut batch, timeout_ms, now_ms) {
                            Ok(Some(produced)) => fill(&mut slot, Ok(produced)),
                            Ok(None) => slots.push((partition_request, t, i)),
                            Err(PartitionError::KafkaStorageError(why)) => {
                                let offline = StorageError(format!("{}-{}: {why}", tp.0, tp.1));
                                self.outputs.push(Output::LogDirOffline(offline));
                                fill(&mut slot, Err(PartitionError::KafkaStorageError(why)));
                            }
                            Err(e) => fill(&mut slot, Err(e)),
                        }
                        self.drain(&tp);
                    }
                }
                answer.partition_responses.push(slot);
            }
            response.responses.push(answer);
        }
        if acks == Some(Acks::None) {
            return ProduceOutcome::Nothing;
        }
        if slots.is_empty() {
            return ProduceOutcome::Now(response);
        }
        let waiting = slots.len();
        for (partition_request, t, i) in slots {
            self.produces.slots.insert(partition_request, (id, t, i));
        }
        self.produces.responses.insert(id, (response, waiting));
        ProduceOutcome::Wait(id)
    }

    /// A partition this broker holds no replica of: one the cluster has
    /// (ask its leader) or one nobody has.
    pub(super) fn absent_partition_error(&self, tp: &super::TopicPartition) -> i16 {
        let exists = self
            .cache
            .topics
            .get(&tp.0)
            .is_some_and(|ps| ps.iter().any(|p| p.partition == tp.1));
        if exists {
            errors::NOT_LEADER_OR_FOLLOWER
        } else {
            errors::UNKNOWN_TOPIC_OR_PARTITION
        }
    }
}
