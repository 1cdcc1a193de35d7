//! The broker node, sans IO: controller messages and client requests in,
//! responses and outputs out. Every response it builds encodes at every
//! version this broker advertises (kafka-protocol refuses fields a version
//! lacks, which would close the client's connection).

use crate::kafka::{batch, records};
use bytes::Bytes;
use kafka_oracle::broker::config::BrokerConfig;
use kafka_oracle::broker::node::{GroupOutcome, Node, Output, ProduceOutcome};
use kafka_oracle::broker::wire::{self, Response, SUPPORTED};
use kafka_oracle::controller::protocol::{
    BrokerAddress, PartitionDecision, ToBroker, ToController, TopicMetadata,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use tempfile::TempDir;

const NOW: u64 = 1_000_000;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn decision(leader: i32, replicas: Vec<i32>) -> PartitionDecision {
    PartitionDecision {
        topic: "t".into(),
        partition: 0,
        leader,
        leader_epoch: 0,
        isr: replicas.iter().copied().collect::<BTreeSet<_>>(),
        partition_epoch: 0,
        replicas,
        min_insync_replicas: 1,
    }
}

/// Broker 1 of a one-broker cluster, leading t-0.
fn leader_node() -> (TempDir, Node) {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::open(1, dir.path().to_path_buf(), BrokerConfig::default()).unwrap();
    let d = decision(1, vec![1]);
    let messages = [
        ToBroker::Registered {
            controller_epoch: 1,
            session_timeout_ms: 9_000,
        },
        ToBroker::LeaderAndIsr {
            controller_epoch: 1,
            partitions: vec![d.clone()],
        },
        ToBroker::Metadata {
            controller_epoch: 1,
            brokers: vec![BrokerAddress {
                broker_id: 1,
                address: "127.0.0.1:9092".into(),
            }],
            topics: vec![TopicMetadata {
                name: "t".into(),
                partitions: vec![d],
            }],
        },
    ];
    for m in messages {
        node.controller_message(m, NOW).unwrap();
    }
    (dir, node)
}

fn produce_request(acks: i16, values: &[&str]) -> ProduceRequest {
    let values: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
    let mut p = produce_request::PartitionProduceData::default();
    p.records = Some(Bytes::from(batch(&values, 0)));
    let mut t = produce_request::TopicProduceData::default();
    t.name = name("t");
    t.partition_data.push(p);
    let mut r = ProduceRequest::default();
    r.acks = acks;
    r.timeout_ms = 1_000;
    r.topic_data.push(t);
    r
}

fn fetch_request(offset: i64, replica: i32) -> FetchRequest {
    let mut p = fetch_request::FetchPartition::default();
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    let mut t = fetch_request::FetchTopic::default();
    t.topic = name("t");
    t.partitions.push(p);
    let mut r = FetchRequest::default();
    r.replica_id = BrokerId(replica);
    r.max_bytes = 1 << 20;
    r.topics.push(t);
    r
}

fn produced(outcome: ProduceOutcome) -> ProduceResponse {
    match outcome {
        ProduceOutcome::Now(r) => r,
        _ => panic!("an answer now"),
    }
}

#[test]
fn a_leader_takes_produces_and_serves_them_to_consumers() {
    let (_dir, mut node) = leader_node();
    let r = produced(node.produce(produce_request(1, &["a", "b"]), NOW));
    let p = &r.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let r = produced(node.produce(produce_request(-1, &["c"]), NOW));
    assert_eq!(
        r.responses[0].partition_responses[0].base_offset, 2,
        "acks=all with an ISR of one is answered at once"
    );
    let fetched = node.fetch(&fetch_request(0, -1), NOW, false);
    let data = &fetched.response.responses[0].partitions[0];
    assert_eq!(data.high_watermark, 3);
    let values: Vec<Vec<u8>> = records(data.records.as_ref().unwrap())
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(values, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert!(matches!(
        node.produce(produce_request(0, &["d"]), NOW),
        ProduceOutcome::Nothing
    ));
}

#[test]
fn acks_all_waits_for_the_follower_and_is_answered_as_an_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::open(1, dir.path().to_path_buf(), BrokerConfig::default()).unwrap();
    node.controller_message(
        ToBroker::LeaderAndIsr {
            controller_epoch: 1,
            partitions: vec![decision(1, vec![1, 2])],
        },
        NOW,
    )
    .unwrap();
    let ProduceOutcome::Wait(id) = node.produce(produce_request(-1, &["a"]), NOW) else {
        panic!("acks=all waits for broker 2");
    };
    assert!(node.take_outputs().is_empty());
    let mut fetch = fetch_request(0, 2);
    fetch.topics[0].partitions[0].last_fetched_epoch = -1;
    let first = node.fetch(&fetch, NOW, false);
    assert!(first.bytes > 0, "the follower gets the batch");
    fetch.topics[0].partitions[0].fetch_offset = 1;
    fetch.topics[0].partitions[0].last_fetched_epoch = 0;
    node.fetch(&fetch, NOW, false);
    let outputs = node.take_outputs();
    assert!(
        matches!(&outputs[..], [Output::Answer { request, response: Response::Produce(r) }]
            if *request == id && r.responses[0].partition_responses[0].base_offset == 0),
        "{outputs:?}"
    );
}

#[test]
fn a_follower_refuses_clients_and_an_unknown_topic_is_auto_created() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::open(2, dir.path().to_path_buf(), BrokerConfig::default()).unwrap();
    node.controller_message(
        ToBroker::LeaderAndIsr {
            controller_epoch: 1,
            partitions: vec![decision(1, vec![1, 2])],
        },
        NOW,
    )
    .unwrap();
    let r = produced(node.produce(produce_request(1, &["a"]), NOW));
    assert_eq!(r.responses[0].partition_responses[0].error_code, 6);
    assert_eq!(
        node.leaders_followed().into_iter().collect::<Vec<_>>(),
        vec![1]
    );

    let mut m = MetadataRequest::default();
    let mut topic = metadata_request::MetadataRequestTopic::default();
    topic.name = Some(name("fresh"));
    m.topics = Some(vec![topic]);
    let answer = node.metadata(&m, 1, NOW);
    assert_eq!(
        answer.topics[0].error_code, 5,
        "LEADER_NOT_AVAILABLE meanwhile"
    );
    let outputs = node.take_outputs();
    assert!(matches!(
        &outputs[..],
        [Output::ToController(ToController::CreateTopics { topics, .. })] if topics[0].name == "fresh"
    ));
    node.metadata(&m, 1, NOW + 10);
    assert!(
        node.take_outputs().is_empty(),
        "asked once, not per request"
    );
}

fn encode_at_every_version(api: ApiKey, response: &Response) {
    let (_, min, max) = SUPPORTED
        .iter()
        .find(|(key, _, _)| *key == api)
        .copied()
        .unwrap();
    for version in min..=max {
        wire::encode(api, version, 7, response)
            .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
    }
}

#[test]
fn every_response_encodes_at_every_advertised_version() {
    let (_dir, mut node) = leader_node();
    let mut ok = produced(node.produce(produce_request(1, &["a"]), NOW));
    encode_at_every_version(ApiKey::Produce, &Response::Produce(ok.clone()));
    ok.responses[0].partition_responses[0].error_code = 6;
    encode_at_every_version(ApiKey::Produce, &Response::Produce(ok));
    let fetched = node.fetch(&fetch_request(0, -1), NOW, false);
    encode_at_every_version(ApiKey::Fetch, &Response::Fetch(fetched.response));
    let refused = node.fetch(&fetch_request(99, -1), NOW, false);
    encode_at_every_version(ApiKey::Fetch, &Response::Fetch(refused.response));
    for version in [0, 1, 12] {
        let mut m = MetadataRequest::default();
        if version == 0 {
            m.topics = Some(Vec::new());
        } else {
            m.topics = None;
        }
        let r = node.metadata(&m, version, NOW);
        assert_eq!(r.topics.len(), 1);
        encode_at_every_version(ApiKey::Metadata, &Response::Metadata(r));
    }
    let mut lo = ListOffsetsRequest::default();
    let mut t = list_offsets_request::ListOffsetsTopic::default();
    t.name = name("t");
    for ts in [-2, -1, 1234] {
        let mut p = list_offsets_request::ListOffsetsPartition::default();
        p.timestamp = ts;
        t.partitions.push(p);
    }
    lo.topics.push(t);
    let r = node.list_offsets(&lo);
    let offsets: Vec<(i16, i64)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.offset))
        .collect();
    assert_eq!(offsets, vec![(0, 0), (0, 1), (42, -1)]);
    encode_at_every_version(ApiKey::ListOffsets, &Response::ListOffsets(r));
    let mut oe = OffsetForLeaderEpochRequest::default();
    let mut t = offset_for_leader_epoch_request::OffsetForLeaderTopic::default();
    t.topic = name("t");
    t.partitions
        .push(offset_for_leader_epoch_request::OffsetForLeaderPartition::default());
    oe.topics.push(t);
    let r = node.offset_for_leader_epoch(&oe);
    assert_eq!(r.topics[0].partitions[0].end_offset, 1);
    encode_at_every_version(
        ApiKey::OffsetForLeaderEpoch,
        &Response::OffsetForLeaderEpoch(r),
    );
    let mut idempotent = InitProducerIdRequest::default();
    idempotent.transactional_id = None;
    let first = node.init_producer_id(&idempotent).unwrap();
    let second = node.init_producer_id(&idempotent).unwrap();
    let transactional = node
        .init_producer_id(&InitProducerIdRequest::default())
        .unwrap();
    assert_eq!(
        transactional.error_code, 42,
        "transactions are not implemented"
    );
    assert_eq!(first.producer_id.0, 1 << 40, "broker 1's first id");
    assert_eq!(second.producer_id.0, first.producer_id.0 + 1);
    encode_at_every_version(ApiKey::InitProducerId, &Response::InitProducerId(first));
    encode_at_every_version(
        ApiKey::ApiVersions,
        &Response::ApiVersions(wire::api_versions()),
    );
    for version in [0, 4] {
        let mut fc = FindCoordinatorRequest::default();
        fc.key = StrBytes::from_static_str("g");
        fc.coordinator_keys = vec![StrBytes::from_static_str("g")];
        let r = node.find_coordinator(&fc, version);
        let encoded = wire::encode(
            ApiKey::FindCoordinator,
            version,
            7,
            &Response::FindCoordinator(r),
        );
        assert!(encoded.is_ok(), "v{version}: {encoded:?}");
    }
    let join = group_join(&mut node);
    encode_at_every_version(ApiKey::JoinGroup, &join);
    let Response::JoinGroup(joined) = join else {
        unreachable!()
    };
    let mut sync = SyncGroupRequest::default();
    sync.group_id = GroupId(StrBytes::from_static_str("g"));
    sync.generation_id = joined.generation_id;
    sync.member_id = joined.member_id.clone();
    let mut a = sync_group_request::SyncGroupRequestAssignment::default();
    a.member_id = joined.member_id.clone();
    a.assignment = Bytes::from_static(b"yours");
    sync.assignments.push(a);
    let synced = match node.sync_group(sync, NOW) {
        GroupOutcome::Wait(id) => answered(&mut node, id),
        GroupOutcome::Now(r) => r,
    };
    let Response::SyncGroup(s) = &synced else {
        unreachable!()
    };
    assert_eq!((s.error_code, &s.assignment[..]), (0, &b"yours"[..]));
    encode_at_every_version(ApiKey::SyncGroup, &synced);
    let mut hb = HeartbeatRequest::default();
    hb.group_id = GroupId(StrBytes::from_static_str("g"));
    hb.generation_id = joined.generation_id;
    hb.member_id = joined.member_id.clone();
    let r = node.heartbeat(&hb, NOW);
    assert_eq!(r.error_code, 0);
    encode_at_every_version(ApiKey::Heartbeat, &Response::Heartbeat(r));
    for version in [0, 3] {
        let mut leave = LeaveGroupRequest::default();
        leave.group_id = GroupId(StrBytes::from_static_str("g"));
        leave.member_id = joined.member_id.clone();
        let mut m = leave_group_request::MemberIdentity::default();
        m.member_id = joined.member_id.clone();
        leave.members.push(m);
        let r = node.leave_group(&leave, version, NOW);
        let encoded = wire::encode(ApiKey::LeaveGroup, version, 7, &Response::LeaveGroup(r));
        assert!(encoded.is_ok(), "v{version}: {encoded:?}");
    }
}

fn group_join(node: &mut Node) -> Response {
    let mut join = JoinGroupRequest::default();
    join.group_id = GroupId(StrBytes::from_static_str("g"));
    join.session_timeout_ms = 10_000;
    join.rebalance_timeout_ms = 10_000;
    join.protocol_type = StrBytes::from_static_str("consumer");
    let mut p = join_group_request::JoinGroupRequestProtocol::default();
    p.name = StrBytes::from_static_str("range");
    p.metadata = Bytes::from_static(b"subscription");
    join.protocols.push(p);
    match node.join_group(join, "client", NOW) {
        GroupOutcome::Wait(id) => answered(node, id),
        GroupOutcome::Now(r) => panic!("a lone member is answered as an output: {r:?}"),
    }
}

fn answered(node: &mut Node, id: u64) -> Response {
    node.take_outputs()
        .into_iter()
        .find_map(|o| match o {
            Output::Answer { request, response } if request == id => Some(response),
            _ => None,
        })
        .expect("the answer is out")
}

/// A name Kafka would never create is answered INVALID_TOPIC_EXCEPTION,
/// not LEADER_NOT_AVAILABLE (after which clients retry forever), and no
/// auto-creation is asked of the controller.
#[test]
fn metadata_of_an_illegal_topic_name_is_invalid_topic_and_not_created() {
    let (_dir, mut node) = leader_node();
    node.take_outputs();
    let long = "x".repeat(250);
    for illegal in ["../../../evil", "a/b c", "", "..", long.as_str()] {
        let mut m = MetadataRequest::default();
        let mut topic = metadata_request::MetadataRequestTopic::default();
        topic.name = Some(name(illegal));
        m.topics = Some(vec![topic]);
        m.allow_auto_topic_creation = true;
        let answer = node.metadata(&m, 9, NOW);
        assert_eq!(
            answer.topics[0].error_code, 17,
            "{illegal:?}: INVALID_TOPIC_EXCEPTION"
        );
        encode_at_every_version(ApiKey::Metadata, &Response::Metadata(answer));
    }
    assert!(
        node.take_outputs().is_empty(),
        "nothing asked to be created"
    );
}

/// A client naming ever new topics in Metadata cannot make the broker ask
/// the controller for more than a bounded number of auto-creations at once
/// (each remembered until it succeeds or its retry comes), nor grow its
/// memory of them.
#[test]
fn auto_creations_asked_at_once_are_bounded() {
    let (_dir, mut node) = leader_node();
    node.take_outputs();
    let mut asked = 0;
    for i in 0..5_000 {
        let mut m = MetadataRequest::default();
        let mut topic = metadata_request::MetadataRequestTopic::default();
        topic.name = Some(name(&format!("fresh-{i}")));
        m.topics = Some(vec![topic]);
        m.allow_auto_topic_creation = true;
        let answer = node.metadata(&m, 9, NOW);
        assert_eq!(answer.topics[0].error_code, 5, "LEADER_NOT_AVAILABLE");
        asked += node.take_outputs().len();
    }
    assert_eq!(asked, 1_024, "AUTO_CREATIONS_MAX asked, the rest later");
    let mut m = MetadataRequest::default();
    let mut topic = metadata_request::MetadataRequestTopic::default();
    topic.name = Some(name("fresh-4999"));
    m.topics = Some(vec![topic]);
    m.allow_auto_topic_creation = true;
    node.metadata(&m, 9, NOW + 1_000);
    assert_eq!(
        node.take_outputs().len(),
        1,
        "once the first are due for a retry, room is made"
    );
}
