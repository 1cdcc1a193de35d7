//! The control plane between brokers and the controller: JSON messages,
//! each preceded by its length as a 4-byte big-endian integer, over one TCP
//! connection per broker. The connection is the broker's session, as a
//! ZooKeeper session was: the broker registers first, heartbeats, and the
//! controller pushes its decisions down the same connection (as a ZooKeeper
//! watch fires). Not Kafka's wire protocol: kafka-protocol has no
//! LeaderAndIsr since Kafka 4 removed ZooKeeper.

use crate::broker::partition::BrokerId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A control message larger than this is refused: the largest is a
/// metadata snapshot, a few hundred bytes a partition.
pub const MESSAGE_BYTES_MAX: usize = 64 << 20;

/// Broker → controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ToController {
    /// The first message of a session. A new `incarnation` means the
    /// broker restarted (KIP-380's broker epoch).
    Register {
        broker_id: BrokerId,
        address: String,
        incarnation: u64,
    },
    Heartbeat,
    /// A leader asks to change a partition's ISR (Kafka's AlterPartition).
    AlterIsr {
        topic: String,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: BTreeSet<BrokerId>,
    },
    CreateTopics {
        request_id: u64,
        topics: Vec<NewTopic>,
    },
    /// A consumer group's committed offsets, kept by the controller as
    /// ZooKeeper kept them before `__consumer_offsets`.
    CommitOffsets {
        request_id: u64,
        group: String,
        offsets: Vec<CommittedOffset>,
    },
    /// A group's committed offsets: of these partitions, or all of them.
    FetchOffsets {
        request_id: u64,
        group: String,
        partitions: Option<Vec<(String, i32)>>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub metadata: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTopic {
    pub name: String,
    /// -1: the controller's `num.partitions`.
    pub num_partitions: i32,
    /// -1: the controller's `default.replication.factor`.
    pub replication_factor: i16,
    /// Topic settings by Kafka's names: `min.insync.replicas`,
    /// `unclean.leader.election.enable`.
    pub configs: BTreeMap<String, String>,
}

/// Controller → broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ToBroker {
    /// The answer to Register: heartbeat at least this often.
    Registered {
        controller_epoch: i32,
        session_timeout_ms: u64,
    },
    /// Decisions about partitions the broker holds a replica of.
    LeaderAndIsr {
        controller_epoch: i32,
        partitions: Vec<PartitionDecision>,
    },
    /// The whole cluster as the controller sees it, after every change.
    Metadata {
        controller_epoch: i32,
        brokers: Vec<BrokerAddress>,
        topics: Vec<TopicMetadata>,
    },
    AlterIsrResult {
        topic: String,
        partition: i32,
        /// Kafka's error code, 0 when accepted.
        error_code: i16,
        isr: BTreeSet<BrokerId>,
        partition_epoch: i32,
    },
    CreateTopicsResult {
        request_id: u64,
        results: Vec<CreateTopicResult>,
    },
    /// Written durably (error code 0) or refused.
    OffsetsCommitted { request_id: u64, error_code: i16 },
    /// The committed offsets asked for that exist.
    OffsetsFetched {
        request_id: u64,
        offsets: Vec<CommittedOffset>,
    },
}

impl ToBroker {
    /// The id of the broker's request this answers, if it answers one
    /// that a client waits for.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            ToBroker::CreateTopicsResult { request_id, .. }
            | ToBroker::OffsetsCommitted { request_id, .. }
            | ToBroker::OffsetsFetched { request_id, .. } => Some(*request_id),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDecision {
    pub topic: String,
    pub partition: i32,
    /// -1 when the partition is offline.
    pub leader: BrokerId,
    pub leader_epoch: i32,
    pub isr: BTreeSet<BrokerId>,
    pub partition_epoch: i32,
    pub replicas: Vec<BrokerId>,
    pub min_insync_replicas: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerAddress {
    pub broker_id: BrokerId,
    pub address: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetadata {
    pub name: String,
    pub partitions: Vec<PartitionDecision>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTopicResult {
    pub name: String,
    pub error_code: i16,
    pub message: Option<String>,
}

/// Writes one message: its length, then its JSON.
pub async fn write<W: AsyncWrite + Unpin, M: Serialize>(
    out: &mut W,
    message: &M,
) -> std::io::Result<()> {
    let json = serde_json::to_vec(message)?;
    let len = u32::try_from(json.len())
        .ok()
        .filter(|&n| n as usize <= MESSAGE_BYTES_MAX)
        .ok_or_else(|| std::io::Error::other("control message too large"))?;
    let mut frame = Vec::with_capacity(4 + json.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&json);
    out.write_all(&frame).await?;
    out.flush().await
}

/// Reads one message; `None` when the peer closed the connection between
/// messages. A bad length or bad JSON is an error: the session ends.
pub async fn read<R: AsyncRead + Unpin, M: for<'de> Deserialize<'de>>(
    input: &mut R,
) -> std::io::Result<Option<M>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MESSAGE_BYTES_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a control message of {len} bytes is over the limit"),
        ));
    }
    let mut json = vec![0u8; len];
    input.read_exact(&mut json).await?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Kafka's rule for a topic's name, which the controller applies before
/// creating one and a broker before answering Metadata about one: 1 to 249
/// of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn check_topic_name(name: &str) -> Result<(), String> {
    let legal = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if legal {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a legal topic name: 1 to 249 of a-z A-Z 0-9 . _ -"
        ))
    }
}
