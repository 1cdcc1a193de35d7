//! Metadata, from the controller's last snapshot. A topic a client asks
//! about that does not exist is created through the controller when
//! auto-creation is on, and answered LEADER_NOT_AVAILABLE meanwhile, as
//! Kafka does; a name Kafka would never create is answered
//! INVALID_TOPIC_EXCEPTION, so that clients stop asking.

use super::{errors, host_port, Node, Output};
use crate::controller::protocol::{check_topic_name, NewTopic, PartitionDecision, ToController};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

/// The cluster id every broker reports.
pub const CLUSTER_ID: &str = "kafka-oracle";
/// How long before an auto-creation not yet seen in the metadata is asked again.
const AUTO_CREATE_RETRY_MS: u64 = 1_000;
/// Auto-creations asked of the controller and not yet seen in its
/// metadata, at most: clients choose the names, so without a bound a client
/// naming ever new topics would grow this broker's memory and the
/// controller's queue. Past it, a topic is answered LEADER_NOT_AVAILABLE
/// without asking, until asks older than [`AUTO_CREATE_RETRY_MS`] make room.
pub const AUTO_CREATIONS_MAX: usize = 1024;

impl Node {
    pub fn metadata(
        &mut self,
        request: &MetadataRequest,
        version: i16,
        now_ms: u64,
    ) -> MetadataResponse {
        let mut response = MetadataResponse::default();
        response.cluster_id = Some(StrBytes::from_static_str(CLUSTER_ID));
        // Any broker takes the requests Kafka sends to its controller
        // (CreateTopics), and forwards them to the real one.
        response.controller_id = BrokerId(self.me);
        for (&id, address) in &self.cache.brokers {
            let (host, port) = host_port(address);
            let mut broker = MetadataResponseBroker::default();
            broker.node_id = BrokerId(id);
            broker.host = StrBytes::from_string(host);
            broker.port = port;
            response.brokers.push(broker);
        }
        let all = match &request.topics {
            None => true,
            Some(topics) => version == 0 && topics.is_empty(),
        };
        if all {
            let names: Vec<String> = self.cache.topics.keys().cloned().collect();
            for name in names {
                let topic = self.topic_metadata(&name);
                response.topics.push(topic);
            }
            return response;
        }
        let create = request.allow_auto_topic_creation && self.config.auto_create_topics;
        for wanted in request.topics.iter().flatten() {
            let Some(name) = &wanted.name else {
                let mut topic = MetadataResponseTopic::default();
                topic.topic_id = wanted.topic_id;
                topic.error_code = errors::UNKNOWN_TOPIC_ID;
                response.topics.push(topic);
                continue;
            };
            let name = name.0.to_string();
            if check_topic_name(&name).is_err() {
                let mut topic = MetadataResponseTopic::default();
                topic.name = Some(TopicName(StrBytes::from_string(name)));
                topic.error_code = errors::INVALID_TOPIC_EXCEPTION;
                response.topics.push(topic);
                continue;
            }
            let mut topic = self.topic_metadata(&name);
            if topic.error_code == errors::UNKNOWN_TOPIC_OR_PARTITION && create {
                self.auto_create(&name, now_ms);
                topic.error_code = errors::LEADER_NOT_AVAILABLE;
            }
            response.topics.push(topic);
        }
        response
    }

    fn topic_metadata(&self, name: &str) -> MetadataResponseTopic {
        let mut topic = MetadataResponseTopic::default();
        topic.name = Some(TopicName(StrBytes::from_string(name.to_string())));
        let Some(partitions) = self.cache.topics.get(name) else {
            topic.error_code = errors::UNKNOWN_TOPIC_OR_PARTITION;
            return topic;
        };
        for p in partitions {
            topic.partitions.push(self.partition_metadata(p));
        }
        topic
    }

    fn partition_metadata(&self, p: &PartitionDecision) -> MetadataResponsePartition {
        let live = |r: &i32| self.cache.brokers.contains_key(r);
        let mut m = MetadataResponsePartition::default();
        m.partition_index = p.partition;
        m.leader_id = BrokerId(p.leader);
        m.leader_epoch = p.leader_epoch;
        m.replica_nodes = p.replicas.iter().map(|&r| BrokerId(r)).collect();
        m.isr_nodes = p.isr.iter().map(|&r| BrokerId(r)).collect();
        m.offline_replicas = p
            .replicas
            .iter()
            .filter(|r| !live(r))
            .map(|&r| BrokerId(r))
            .collect();
        if p.leader < 0 || !live(&p.leader) {
            m.error_code = errors::LEADER_NOT_AVAILABLE;
        }
        m
    }

    /// The topic as this broker would create it: -1 partitions or
    /// replication factor is this broker's setting, if it has one, else
    /// the controller's; the topic settings this broker was given go along.
    pub fn new_topic(
        &self,
        name: String,
        num_partitions: i32,
        replication_factor: i16,
    ) -> NewTopic {
        NewTopic {
            name,
            num_partitions: match (num_partitions, self.config.num_partitions) {
                (-1, Some(n)) => n,
                (n, _) => n,
            },
            replication_factor: match (replication_factor, self.config.default_replication_factor) {
                (-1, Some(n)) => n,
                (n, _) => n,
            },
            configs: self.config.topic_defaults.clone(),
        }
    }

    fn auto_create(&mut self, name: &str, now_ms: u64) {
        let asked = self.auto_creating.get(name).copied();
        if asked.is_some_and(|at| now_ms.saturating_sub(at) < AUTO_CREATE_RETRY_MS) {
            return;
        }
        if self.auto_creating.len() >= AUTO_CREATIONS_MAX {
            // Those due for a retry are asked again when a client asks.
            self.auto_creating
                .retain(|_, at| now_ms.saturating_sub(*at) < AUTO_CREATE_RETRY_MS);
            if self.auto_creating.len() >= AUTO_CREATIONS_MAX {
                return;
            }
        }
        self.auto_creating.insert(name.to_string(), now_ms);
        assert!(self.auto_creating.len() <= AUTO_CREATIONS_MAX);
        let topic = self.new_topic(name.to_string(), -1, -1);
        let request_id = self.next_request();
        self.outputs
            .push(Output::ToController(ToController::CreateTopics {
                request_id,
                topics: vec![topic],
            }));
    }
}
