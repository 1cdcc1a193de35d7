//! The system under test as the probe's clients reach it (rskafka):
//! connecting, the topic, a client per partition, and what a refused send
//! means.

use super::settings::Settings;
use super::SETUP_WAIT;
use rskafka::chrono::{DateTime, Utc};
use rskafka::client::error::{Error as ClientError, ProtocolError};
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

/// Creates the topic, asking again while the cluster is still forming (a
/// fresh broker may not yet list itself or the controller in metadata).
pub(super) async fn create_topic(
    client: &Client,
    topic: &str,
    keys: i32,
    timeout_ms: i32,
) -> Result<(), String> {
    let until = Instant::now() + SETUP_WAIT;
    loop {
        let controller = client
            .controller_client()
            .map_err(|e| format!("no controller: {e}"))?;
        match controller
            .create_topic(topic.to_string(), keys, -1, timeout_ms)
            .await
        {
            Ok(())
            | Err(ClientError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => return Ok(()),
            Err(e) if Instant::now() > until => {
                return Err(format!("cannot create topic {topic}: {e}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
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
