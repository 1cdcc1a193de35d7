//! A broker's settings, under Kafka's names (`server.properties`).

use super::partition::{ReplicationConfig, Truncation};
use crate::knob::Knob;
use crate::log::LogConfig;
use std::collections::BTreeMap;

/// `max.connections.per.ip` when not set: more than `max.connections` can
/// be, so no limit.
pub const CONNECTIONS_PER_IP_UNSET: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    pub log: LogConfig,
    /// `min.insync.replicas` is the topic's, from the controller; the rest
    /// are this broker's.
    pub replication: ReplicationConfig,
    /// `default.replication.factor`, for topics created through this
    /// broker; unset, the controller's.
    pub default_replication_factor: Option<i16>,
    /// `num.partitions`; unset, the controller's.
    pub num_partitions: Option<i32>,
    /// `auto.create.topics.enable`
    pub auto_create_topics: bool,
    /// Topic settings given to this broker (`min.insync.replicas`,
    /// `unclean.leader.election.enable`): passed to the controller with
    /// every topic created through this broker that does not set them.
    /// Unset, the controller's own defaults apply.
    pub topic_defaults: BTreeMap<String, String>,
    /// `replica.fetch.max.bytes`
    pub replica_fetch_max_bytes: usize,
    /// `replica.fetch.wait.max.ms`
    pub replica_fetch_wait_max_ms: u64,
    /// `max.connections`: Kafka's default is unbounded; here 1,024, under
    /// the usual limit of open files.
    pub connections_max: usize,
    /// `max.connections.per.ip`: unbounded in Kafka, so here unbounded but
    /// by [`CONNECTIONS_PER_IP_UNSET`]. Refused past it, with no eviction:
    /// the other brokers' fetchers count too when they share the address.
    pub connections_per_ip_max: usize,
    /// `connections.max.idle.ms`, Kafka's default 600,000 (10 minutes).
    pub connection_idle_ms_max: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            log: LogConfig::default(),
            replication: ReplicationConfig::default(),
            default_replication_factor: None,
            num_partitions: None,
            auto_create_topics: true,
            topic_defaults: BTreeMap::new(),
            replica_fetch_max_bytes: 1 << 20,
            replica_fetch_wait_max_ms: 500,
            connections_max: 1024,
            connections_per_ip_max: CONNECTIONS_PER_IP_UNSET,
            connection_idle_ms_max: 600_000,
        }
    }
}

/// The broker's own knobs; the log's (`crate::log::KNOBS`) come on top.
pub const KNOBS: &[(&str, &str)] = &[
    (
        "default.replication.factor",
        "replicas of a topic created through this broker without a count (default: the controller's)",
    ),
    (
        "num.partitions",
        "partitions of a topic created through this broker without a count (default: the controller's)",
    ),
    (
        "auto.create.topics.enable",
        "create a topic a client asks metadata of (default true)",
    ),
    (
        "min.insync.replicas",
        "given to topics created through this broker (default: the controller's)",
    ),
    (
        "unclean.leader.election.enable",
        "given to topics created through this broker (default: the controller's)",
    ),
    (
        "replica.lag.time.max.ms",
        "a follower not caught up for this long leaves the ISR (default 30000)",
    ),
    (
        "replica.high.watermark.checkpoint.interval.ms",
        "how often the high watermark is written (default 5000)",
    ),
    (
        "replica.truncation",
        "leader-epoch (KIP-101/279/320, default) or high-watermark (before KIP-101)",
    ),
    (
        "replica.fetch.max.bytes",
        "bytes a follower asks per partition (default 1048576)",
    ),
    (
        "replica.fetch.wait.max.ms",
        "how long a leader holds a follower's fetch with nothing new (default 500)",
    ),
    (
        "max.connections",
        "connections at once; at the limit a new one replaces the one idle longest (default 1024)",
    ),
    (
        "max.connections.per.ip",
        "connections at once from one address, refused past it (default none; brokers count too)",
    ),
    (
        "connections.max.idle.ms",
        "a connection with no request for this long is closed (default 600000)",
    ),
];

impl BrokerConfig {
    pub fn set(&mut self, knob: &str, value: &str) -> Result<(), String> {
        let k = Knob { name: knob, value };
        let i32_max = i64::from(i32::MAX);
        match knob {
            "default.replication.factor" => {
                self.default_replication_factor = Some(k.int(1, i64::from(i16::MAX))? as i16)
            }
            "num.partitions" => self.num_partitions = Some(k.int(1, 1 << 16)? as i32),
            "auto.create.topics.enable" => self.auto_create_topics = k.boolean()?,
            "min.insync.replicas" => {
                k.int(1, i64::from(i16::MAX))?;
                self.topic_defaults
                    .insert(knob.to_string(), value.trim().to_string());
            }
            "unclean.leader.election.enable" => {
                k.boolean()?;
                self.topic_defaults
                    .insert(knob.to_string(), value.trim().to_string());
            }
            "replica.lag.time.max.ms" => {
                self.replication.replica_lag_time_max_ms = k.int(1, i32_max)? as u64
            }
            "replica.high.watermark.checkpoint.interval.ms" => {
                self.replication.high_watermark_checkpoint_interval_ms = k.int(1, i32_max)? as u64
            }
            "replica.truncation" => {
                self.replication.truncation = match value.trim() {
                    "leader-epoch" => Truncation::LeaderEpoch,
                    "high-watermark" => Truncation::HighWatermark,
                    _ => return Err(k.bad("must be leader-epoch or high-watermark")),
                }
            }
            "replica.fetch.max.bytes" => self.replica_fetch_max_bytes = k.int(1, i32_max)? as usize,
            "replica.fetch.wait.max.ms" => {
                self.replica_fetch_wait_max_ms = k.int(0, i32_max)? as u64
            }
            "max.connections" => self.connections_max = k.int(1, 1 << 20)? as usize,
            "max.connections.per.ip" => {
                self.connections_per_ip_max = k.int(1, CONNECTIONS_PER_IP_UNSET as i64)? as usize
            }
            "connections.max.idle.ms" => {
                self.connection_idle_ms_max = k.int(1, i64::MAX >> 1)? as u64
            }
            _ if crate::log::KNOBS.iter().any(|(name, _)| *name == knob) => {
                self.log.set(knob, value)?
            }
            _ => {
                let known: Vec<&str> = KNOBS
                    .iter()
                    .chain(crate::log::KNOBS)
                    .map(|(name, _)| *name)
                    .collect();
                return Err(format!(
                    "unknown broker setting {knob:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }
}
