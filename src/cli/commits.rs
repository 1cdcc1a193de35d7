//! The probe consumers' offset commits, through Kafka's FindCoordinator and
//! OffsetCommit (rskafka has no consumer groups). A probe consumer assigns
//! itself its partitions, so it commits as Kafka's `assign()` consumers do:
//! generation -1 and no member id, which a group without members accepts.

use crate::broker::client::Connection;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, OffsetCommitRequest,
    OffsetCommitResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;

/// Errors with which a coordinator refuses a commit before writing it;
/// any other error (a timeout, NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE
/// after the write reached the offsets log, a code unknown here) leaves the
/// commit's fate unknown.
const REFUSED_BEFORE_WRITING: &[i16] = &[
    3,  // UNKNOWN_TOPIC_OR_PARTITION
    12, // OFFSET_METADATA_TOO_LARGE
    14, // COORDINATOR_LOAD_IN_PROGRESS
    22, // ILLEGAL_GENERATION
    24, // INVALID_GROUP_ID
    25, // UNKNOWN_MEMBER_ID
    27, // REBALANCE_IN_PROGRESS
    28, // INVALID_COMMIT_OFFSET_SIZE
    29, // TOPIC_AUTHORIZATION_FAILED
    30, // GROUP_AUTHORIZATION_FAILED
];

/// Versions every Kafka since 0.11 (2017) answers.
const FIND_COORDINATOR_VERSION: i16 = 2;
const OFFSET_COMMIT_VERSION: i16 = 2;

/// How a commit ended, as the history records it.
pub enum Committed {
    Ok,
    /// Refused: the commit definitely did not happen.
    Refused(String),
    /// No answer: it may have happened.
    Unknown(String),
}

pub struct Committer {
    bootstrap: Vec<String>,
    client_id: String,
    group: String,
    topic: String,
    timeout: Duration,
    coordinator: Option<Connection>,
}

impl Committer {
    pub fn new(
        bootstrap: &[String],
        client_id: &str,
        group: &str,
        topic: &str,
        timeout: Duration,
    ) -> Committer {
        Committer {
            bootstrap: bootstrap.to_vec(),
            client_id: client_id.to_string(),
            group: group.to_string(),
            topic: topic.to_string(),
            timeout,
            coordinator: None,
        }
    }

    /// Commits `offsets` (partition, next offset to read) to the group's
    /// coordinator, found anew after any failure.
    pub async fn commit(&mut self, offsets: &[(i32, i64)]) -> Committed {
        let outcome = match tokio::time::timeout(self.timeout, self.try_commit(offsets)).await {
            Ok(outcome) => outcome,
            Err(_) => Committed::Unknown(format!("no answer within {:?}", self.timeout)),
        };
        if !matches!(outcome, Committed::Ok) {
            self.coordinator = None;
        }
        outcome
    }

    async fn try_commit(&mut self, offsets: &[(i32, i64)]) -> Committed {
        let partitions = offsets
            .iter()
            .map(|&(partition, offset)| {
                OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset)
                    .with_committed_metadata(Some(StrBytes::from_static_str("")))
            })
            .collect();
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_retention_time_ms(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(self.topic.clone())))
                .with_partitions(partitions)]);
        let coordinator = match self.coordinator().await {
            Ok(c) => c,
            // Nothing was sent to a coordinator.
            Err(why) => return Committed::Refused(why),
        };
        let answer: OffsetCommitResponse = match coordinator
            .request(ApiKey::OffsetCommit, OFFSET_COMMIT_VERSION, &request)
            .await
        {
            Ok(answer) => answer,
            Err(why) => return Committed::Unknown(why),
        };
        let codes: Vec<(i32, i16)> = answer
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| (p.partition_index, p.error_code))
            .collect();
        let errors: Vec<String> = codes
            .iter()
            .filter(|(_, code)| *code != 0)
            .map(|(partition, code)| format!("partition {partition}: error {code}"))
            .collect();
        if errors.is_empty() {
            Committed::Ok
        } else if codes
            .iter()
            .all(|(_, code)| REFUSED_BEFORE_WRITING.contains(code))
        {
            Committed::Refused(errors.join(", "))
        } else {
            // Partitions are judged one by one: some may be written.
            Committed::Unknown(errors.join(", "))
        }
    }

    /// The connection to the group's coordinator, asked of the bootstrap
    /// brokers in turn, each given a share of the commit's time so that a
    /// paused one does not keep the others from being asked.
    async fn coordinator(&mut self) -> Result<&mut Connection, String> {
        if self.coordinator.is_none() {
            let share = self.timeout / (self.bootstrap.len() as u32 + 1);
            let mut why = String::from("no bootstrap broker");
            for broker in &self.bootstrap {
                match tokio::time::timeout(share, self.find(broker)).await {
                    Ok(Ok(c)) => {
                        self.coordinator = Some(c);
                        break;
                    }
                    Ok(Err(e)) => why = e,
                    Err(_) => why = format!("{broker}: no answer within {share:?}"),
                }
            }
            if self.coordinator.is_none() {
                return Err(format!("no coordinator for group {}: {why}", self.group));
            }
        }
        Ok(self.coordinator.as_mut().expect("set above"))
    }

    async fn find(&self, broker: &str) -> Result<Connection, String> {
        let mut bootstrap = Connection::connect(broker, &self.client_id).await?;
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(self.group.clone()))
            .with_key_type(0);
        let answer: FindCoordinatorResponse = bootstrap
            .request(ApiKey::FindCoordinator, FIND_COORDINATOR_VERSION, &request)
            .await?;
        if answer.error_code != 0 {
            return Err(format!(
                "{broker}: FindCoordinator error {}",
                answer.error_code
            ));
        }
        let address = format!("{}:{}", answer.host, answer.port);
        Connection::connect(&address, &self.client_id).await
    }
}
