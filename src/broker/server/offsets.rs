//! OffsetCommit and OffsetFetch: a group's committed offsets live in the
//! controller's durable state, so any broker answers them and they survive
//! any broker. A commit is answered once the controller has written it.

use super::Broker;
use crate::controller::protocol::{CommittedOffset, ToBroker, ToController};
use crate::error_codes::COORDINATOR_NOT_AVAILABLE;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

pub async fn commit(broker: &Broker, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let group = request.group_id.0.to_string();
    let allowed = broker.with_node(|s| {
        s.node.may_commit(
            &group,
            request.generation_id_or_member_epoch,
            request.member_id.as_str(),
        )
    });
    let offsets: Vec<CommittedOffset> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| CommittedOffset {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let error_code = match allowed {
        Err(code) => code,
        Ok(()) => {
            let answer = broker
                .ask_controller(WAIT, |request_id| ToController::CommitOffsets {
                    request_id,
                    group,
                    offsets,
                })
                .await;
            match answer {
                Some(ToBroker::OffsetsCommitted { error_code, .. }) => error_code,
                _ => COORDINATOR_NOT_AVAILABLE,
            }
        }
    };
    let mut response = OffsetCommitResponse::default();
    for t in &request.topics {
        let mut topic = OffsetCommitResponseTopic::default();
        topic.name = t.name.clone();
        for p in &t.partitions {
            let mut partition = OffsetCommitResponsePartition::default();
            partition.partition_index = p.partition_index;
            partition.error_code = error_code;
            topic.partitions.push(partition);
        }
        response.topics.push(topic);
    }
    response
}

pub async fn fetch(
    broker: &Broker,
    request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    let group = request.group_id.0.to_string();
    let wanted: Option<Vec<(String, i32)>> = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                let name = t.name.0.to_string();
                t.partition_indexes.iter().map(move |&p| (name.clone(), p))
            })
            .collect()
    });
    let answer = broker
        .ask_controller(WAIT, |request_id| ToController::FetchOffsets {
            request_id,
            group,
            partitions: wanted.clone(),
        })
        .await;
    let mut response = OffsetFetchResponse::default();
    let Some(ToBroker::OffsetsFetched { offsets, .. }) = answer else {
        // Version 1 has no top-level error: each partition says it.
        if version >= 2 {
            response.error_code = COORDINATOR_NOT_AVAILABLE;
        }
        for (topic, partition) in wanted.into_iter().flatten() {
            push(
                &mut response,
                &topic,
                partition,
                None,
                COORDINATOR_NOT_AVAILABLE,
            );
        }
        return response;
    };
    let committed: BTreeMap<(String, i32), CommittedOffset> = offsets
        .into_iter()
        .map(|o| ((o.topic.clone(), o.partition), o))
        .collect();
    match wanted {
        Some(wanted) => {
            for (topic, partition) in wanted {
                let found = committed.get(&(topic.clone(), partition));
                push(&mut response, &topic, partition, found, 0);
            }
        }
        None => {
            for ((topic, partition), o) in &committed {
                push(&mut response, topic, *partition, Some(o), 0);
            }
        }
    }
    response
}

/// One partition's answer: its committed offset, or -1 for none.
fn push(
    response: &mut OffsetFetchResponse,
    topic: &str,
    partition: i32,
    found: Option<&CommittedOffset>,
    error_code: i16,
) {
    let mut p = OffsetFetchResponsePartition::default();
    p.partition_index = partition;
    p.committed_offset = found.map_or(-1, |o| o.offset);
    p.metadata = Some(StrBytes::from_string(
        found.and_then(|o| o.metadata.clone()).unwrap_or_default(),
    ));
    p.error_code = error_code;
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    match response.topics.iter_mut().find(|t| t.name == name) {
        Some(t) => t.partitions.push(p),
        None => {
            let mut t = OffsetFetchResponseTopic::default();
            t.name = name;
            t.partitions.push(p);
            response.topics.push(t);
        }
    }
}
