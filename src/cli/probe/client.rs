//! The system under test as the probe's clients reach it (rskafka):
//! connecting, the topic, a client per partition, and what a refused send
//! means.

use super::settings::Settings;
use super::SETUP_WAIT;
use rskafka::chrono::{DateTime, Utc};
use rskafka::client::error::{Error as ClientError, ProtocolError, RequestError};
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;
use std::time::{Duration, Instant};

pub(super) async fn connect(
    bootstrap: &[String],
    settings: &Settings,
    deadline: Option<Duration>,
) -> Result<Client, String> {
    let backoff = BackoffConfig {
        init_backoff: settings.retry_backoff,
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline,
    };
    let build = ClientBuilder::new(bootstrap.to_vec())
        .client_id(settings.client_id.as_str())
        .backoff_config(backoff)
        .build();
    match tokio::time::timeout(SETUP_WAIT, build).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(format!("cannot connect to {}: {e}", bootstrap.join(","))),
        Err(_) => Err(format!(
            "cannot connect to {} within {SETUP_WAIT:?}",
            bootstrap.join(",")
        )),
    }
}

/// Makes sure the topic exists with partitions `0..keys`: asks Metadata
/// first and creates the topic only if it is missing, so that a system
/// without CreateTopics, or a topic its operator made, can be probed. Asks
/// again while the cluster is still forming (a fresh broker may not yet
/// list itself or the controller in metadata). Says on stderr when it
/// created the topic.
pub(super) async fn prepare_topic(
    client: &Client,
    topic: &str,
    keys: i32,
    timeout_ms: i32,
) -> Result<(), String> {
    let until = Instant::now() + SETUP_WAIT;
    let mut last = String::new();
    while Instant::now() <= until {
        let listed = client.list_topics().await;
        match listed
            .as_ref()
            .map(|topics| topics.iter().find(|t| t.name == topic))
        {
            Ok(Some(found)) => return enough_partitions(topic, keys, &found.partitions),
            Ok(None) => {}
            Err(e) => {
                last = format!("cannot list the topics: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        let created = match client.controller_client() {
            Ok(controller) => {
                controller
                    .create_topic(topic.to_string(), keys, -1, timeout_ms)
                    .await
            }
            Err(e) => Err(e),
        };
        match created {
            Ok(()) => {
                eprintln!("probe: created topic {topic} with {keys} partitions");
                return Ok(());
            }
            // Made meanwhile (by auto-creation, say): list it again.
            Err(e) if server_error(&e) == Some(&ProtocolError::TopicAlreadyExists) => {}
            Err(e) if will_not_create(&e) => return Err(cannot_create(topic, keys, &e)),
            Err(e) => last = cannot_create(topic, keys, &e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{last} (tried for {SETUP_WAIT:?})"))
}

/// A topic that exists must have the partitions the workload writes to:
/// the probe does not add partitions to someone else's topic.
fn enough_partitions(
    topic: &str,
    keys: i32,
    partitions: &std::collections::BTreeSet<i32>,
) -> Result<(), String> {
    match (0..keys).find(|p| !partitions.contains(p)) {
        None => Ok(()),
        Some(missing) => Err(format!(
            "topic {topic} exists with {} partitions and no partition {missing}: --keys {keys} needs partitions 0 to {}; give --keys {} or another --topic",
            partitions.len(),
            keys - 1,
            partitions.len()
        )),
    }
}

fn cannot_create(topic: &str, keys: i32, e: &ClientError) -> String {
    format!(
        "topic {topic} does not exist and the system did not create it: {e}; create it with {keys} partitions (--keys) or name an existing topic with --topic"
    )
}

/// The protocol error a request ended with, through rskafka's retries.
fn server_error(e: &ClientError) -> Option<&ProtocolError> {
    match e {
        ClientError::ServerError { protocol_error, .. } => Some(protocol_error),
        ClientError::RetryFailed(rskafka::BackoffError::DeadlineExceded { source, .. }) => {
            source.downcast_ref::<ClientError>().and_then(server_error)
        }
        _ => None,
    }
}

/// Whether a CreateTopics that ended with `e` will not succeed however
/// often it is asked: the system does not offer the API, or refuses the
/// topic as asked.
fn will_not_create(e: &ClientError) -> bool {
    let unwrapped = match e {
        ClientError::RetryFailed(rskafka::BackoffError::DeadlineExceded { source, .. }) => {
            source.downcast_ref::<ClientError>().unwrap_or(e)
        }
        _ => e,
    };
    if let ClientError::Request(RequestError::NoVersionMatch { .. }) = unwrapped {
        return true;
    }
    matches!(
        server_error(unwrapped),
        Some(
            ProtocolError::UnsupportedVersion
                | ProtocolError::InvalidRequest
                | ProtocolError::PolicyViolation
                | ProtocolError::InvalidPartitions
                | ProtocolError::InvalidReplicationFactor
                | ProtocolError::InvalidTopicException
                | ProtocolError::InvalidConfig
                | ProtocolError::TopicAuthorizationFailed
                | ProtocolError::ClusterAuthorizationFailed
        )
    )
}

/// A client for each partition, asking again until each has a leader.
pub(super) async fn partitions(
    client: &Client,
    topic: &str,
    keys: i32,
) -> Result<Vec<PartitionClient>, String> {
    let until = Instant::now() + SETUP_WAIT;
    let mut clients = Vec::new();
    for partition in 0..keys {
        loop {
            match client
                .partition_client(topic, partition, UnknownTopicHandling::Retry)
                .await
            {
                Ok(c) => break clients.push(c),
                Err(e) if Instant::now() > until => {
                    return Err(format!("no leader for {topic}/{partition}: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    Ok(clients)
}

/// Whether a send that returned this error definitely did not append:
/// the broker refused it before writing. Anything else (a timeout, a
/// broken connection, REQUEST_TIMED_OUT after an append) is unknown.
pub(super) fn refused(e: &ClientError) -> bool {
    match e {
        ClientError::ServerError { protocol_error, .. } => matches!(
            protocol_error,
            ProtocolError::NotEnoughReplicas
                | ProtocolError::NotLeaderOrFollower
                | ProtocolError::UnknownTopicOrPartition
                | ProtocolError::LeaderNotAvailable
                | ProtocolError::MessageTooLarge
                | ProtocolError::RecordListTooLarge
                | ProtocolError::InvalidRequiredAcks
        ),
        // With no retries, rskafka wraps the one attempt's error.
        ClientError::RetryFailed(rskafka::BackoffError::DeadlineExceded { source, .. }) => {
            source.downcast_ref::<ClientError>().is_some_and(refused)
        }
        _ => false,
    }
}

/// The record's timestamp: the wall clock (rskafka's chrono is built
/// without its clock).
pub(super) fn now() -> DateTime<Utc> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
