//! One broker as a sans-IO state machine: the partitions it holds a replica
//! of (each a [`Partition`] in `DATA_DIR/<topic>-<partition>/`), the
//! metadata the controller pushed, and the producer ids it hands out.
//! Client requests (decoded Kafka messages), controller decisions and
//! fetch answers go in with the time; responses come back, and what must
//! be sent elsewhere comes out as [`Output`]s. The only I/O is the
//! partitions' logs and the producer id block file; no socket, thread or
//! clock.
//!
//! One module per API: [`produce`], [`fetch`], [`metadata`], [`offsets`],
//! [`producer_ids`], [`groups`]; the follower's side of replication is here.

mod fetch;
mod groups;
mod metadata;
mod offsets;
mod produce;
mod producer_ids;

pub use fetch::FetchResult;
pub use groups::GroupOutcome;
pub use produce::ProduceOutcome;

use super::config::BrokerConfig;
use super::group::Groups;
use super::partition::{
    BrokerId, Effect, FetchAnswer, LeaderAndIsr, Partition, PartitionError, ReplicaFetch,
    ReplicationConfig,
};
use super::wire::Response;
use crate::controller::protocol::{PartitionDecision, ToBroker, ToController};
use producer_ids::ProducerIds;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub type TopicPartition = (String, i32);

/// Kafka's error codes: the one table.
pub use crate::error_codes as errors;

/// What the node asks of the world.
#[derive(Debug)]
pub enum Output {
    ToController(ToController),
    /// A request that waited is answered: a produce with acks=all, a
    /// JoinGroup or a SyncGroup.
    Answer {
        request: u64,
        response: Response,
    },
    /// Something an operator should read: what recovery cut from a log, a
    /// fetched batch refused.
    Note(String),
    /// The log directory failed under a leader's append (a full disk, say):
    /// it is offline, and as this broker has no other, Kafka's policy is to
    /// stop the broker (the controller then moves its leaderships), as a
    /// follower's failed append and a failed checkpoint already do.
    LogDirOffline(StorageError),
}

/// The follower's view of a leader's answer to one partition of its fetch.
#[derive(Debug)]
pub enum ReplicaAnswer<'b> {
    Fetched(FetchAnswer<'b>),
    /// The leader refused (not leader, fenced epoch, ...): fetch again
    /// once the controller's news arrives.
    Error(i16),
}

/// A failure the broker cannot serve through: its disk.
#[derive(Debug)]
pub struct StorageError(pub String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The metadata the controller last pushed.
#[derive(Debug, Default)]
pub struct MetadataCache {
    pub brokers: BTreeMap<BrokerId, String>,
    pub topics: BTreeMap<String, Vec<PartitionDecision>>,
}

pub struct Node {
    me: BrokerId,
    config: BrokerConfig,
    data_dir: PathBuf,
    partitions: BTreeMap<TopicPartition, Partition>,
    cache: MetadataCache,
    controller_epoch: i32,
    producer_ids: ProducerIds,
    produces: produce::Pending,
    groups: Groups,
    /// Topics asked of the controller for auto-creation, and when.
    auto_creating: BTreeMap<String, u64>,
    next_request: u64,
    outputs: Vec<Output>,
}

impl Node {
    /// Opens the broker's data directory. Partition logs are opened (and
    /// recovered) when the controller first names the partition.
    pub fn open(me: BrokerId, data_dir: PathBuf, config: BrokerConfig) -> Result<Self, String> {
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let producer_ids = ProducerIds::open(me, &data_dir)?;
        Ok(Node {
            me,
            config,
            data_dir,
            partitions: BTreeMap::new(),
            cache: MetadataCache::default(),
            controller_epoch: 0,
            producer_ids,
            produces: produce::Pending::default(),
            groups: Groups::default(),
            auto_creating: BTreeMap::new(),
            next_request: 0,
            outputs: Vec::new(),
        })
    }

    pub fn id(&self) -> BrokerId {
        self.me
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    pub fn metadata_cache(&self) -> &MetadataCache {
        &self.cache
    }

    /// What happened since the last call, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    fn next_request(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// A message the controller pushed. Messages of an older controller
    /// epoch than one already heard are a deposed controller's: ignored.
    pub fn controller_message(
        &mut self,
        message: ToBroker,
        now_ms: u64,
    ) -> Result<(), StorageError> {
        match message {
            ToBroker::Registered {
                controller_epoch, ..
            } => {
                self.controller_epoch = self.controller_epoch.max(controller_epoch);
            }
            ToBroker::LeaderAndIsr {
                controller_epoch,
                partitions,
            } if controller_epoch >= self.controller_epoch => {
                self.controller_epoch = controller_epoch;
                for decision in partitions {
                    self.leader_and_isr(decision, now_ms)?;
                }
            }
            ToBroker::Metadata {
                controller_epoch,
                brokers,
                topics,
            } if controller_epoch >= self.controller_epoch => {
                self.controller_epoch = controller_epoch;
                self.cache.brokers = brokers
                    .into_iter()
                    .map(|b| (b.broker_id, b.address))
                    .collect();
                self.cache.topics = topics.into_iter().map(|t| (t.name, t.partitions)).collect();
                let known = &self.cache.topics;
                self.auto_creating
                    .retain(|name, _| !known.contains_key(name));
            }
            ToBroker::AlterIsrResult {
                topic,
                partition,
                error_code,
                isr,
                partition_epoch,
            } => {
                let tp = (topic, partition);
                if let Some(p) = self.partitions.get_mut(&tp) {
                    let accepted = (error_code == errors::NONE).then_some((isr, partition_epoch));
                    let result = p.alter_isr_answered(accepted);
                    self.drain(&tp);
                    result.map_err(|e| StorageError(format!("{}-{}: {e:?}", tp.0, tp.1)))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn leader_and_isr(&mut self, d: PartitionDecision, now_ms: u64) -> Result<(), StorageError> {
        let tp = (d.topic.clone(), d.partition);
        if !d.replicas.contains(&self.me) {
            return Ok(());
        }
        if !self.partitions.contains_key(&tp) {
            let dir = self.data_dir.join(format!("{}-{}", d.topic, d.partition));
            let config = ReplicationConfig {
                min_insync_replicas: d.min_insync_replicas,
                ..self.config.replication.clone()
            };
            let p = Partition::open(self.me, &dir, self.config.log.clone(), config)
                .map_err(|e| StorageError(e.to_string()))?;
            for note in p.log().recovery_notes() {
                self.outputs
                    .push(Output::Note(format!("{}: {note}", dir.display())));
            }
            self.partitions.insert(tp.clone(), p);
        }
        let decision = LeaderAndIsr {
            leader: d.leader,
            leader_epoch: d.leader_epoch,
            isr: d.isr,
            partition_epoch: d.partition_epoch,
            replicas: d.replicas,
        };
        let result = match self.partitions.get_mut(&tp) {
            Some(p) => p.leader_and_isr(decision, now_ms),
            None => Ok(()),
        };
        self.drain(&tp);
        result.map_err(|e| StorageError(e.to_string()))
    }

    /// Time passes for every partition and consumer group.
    pub fn tick(&mut self, now_ms: u64) -> Result<(), StorageError> {
        self.groups.tick(now_ms);
        self.drain_groups();
        let tps: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        for tp in tps {
            let result = match self.partitions.get_mut(&tp) {
                Some(p) => p.tick(now_ms),
                None => Ok(()),
            };
            self.drain(&tp);
            result.map_err(|e| StorageError(format!("{}-{}: {e:?}", tp.0, tp.1)))?;
        }
        Ok(())
    }

    /// Turns a partition's effects into outputs.
    fn drain(&mut self, tp: &TopicPartition) {
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        for effect in p.take_effects() {
            match effect {
                Effect::AlterIsr {
                    leader_epoch,
                    partition_epoch,
                    isr,
                } => self
                    .outputs
                    .push(Output::ToController(ToController::AlterIsr {
                        topic: tp.0.clone(),
                        partition: tp.1,
                        leader_epoch,
                        partition_epoch,
                        isr,
                    })),
                Effect::ProduceDone { request, result } => {
                    if let Some((request, response)) = self.produces.done(request, result) {
                        self.outputs.push(Output::Answer {
                            request,
                            response: Response::Produce(response),
                        });
                    }
                }
            }
        }
    }

    /// The leaders this broker follows some partition of.
    pub fn leaders_followed(&self) -> BTreeSet<BrokerId> {
        self.partitions
            .values()
            .filter_map(|p| p.next_fetch(0))
            .map(|f| f.leader)
            .filter(|&l| l >= 0)
            .collect()
    }

    /// The fetches to send `leader`, one per partition followed.
    pub fn replica_fetches(&self, leader: BrokerId) -> Vec<(TopicPartition, ReplicaFetch)> {
        let max = self.config.replica_fetch_max_bytes;
        self.partitions
            .iter()
            .filter_map(|(tp, p)| Some((tp.clone(), p.next_fetch(max)?)))
            .filter(|(_, f)| f.leader == leader)
            .collect()
    }

    /// The leader's answer to a fetch this follower sent.
    pub fn replica_fetched(
        &mut self,
        tp: &TopicPartition,
        sent: &ReplicaFetch,
        answer: ReplicaAnswer,
        now_ms: u64,
    ) -> Result<(), StorageError> {
        let ReplicaAnswer::Fetched(answer) = answer else {
            return Ok(());
        };
        let Some(p) = self.partitions.get_mut(tp) else {
            return Ok(());
        };
        let result = p.fetch_answered(sent, answer, now_ms);
        self.drain(tp);
        match result {
            Ok(_) => Ok(()),
            // A batch the leader sent that this log refuses: dropped, and
            // fetched again from where this log ends.
            Err(PartitionError::CorruptMessage(why)) => {
                self.outputs.push(Output::Note(format!(
                    "{}-{}: refused a fetched batch: {why}",
                    tp.0, tp.1
                )));
                Ok(())
            }
            Err(e) => Err(StorageError(format!("{}-{}: {e:?}", tp.0, tp.1))),
        }
    }

    /// Changes whenever a log end offset or a high watermark moves: parked
    /// fetches look again only then.
    pub fn progress(&self) -> u64 {
        self.partitions.values().fold(0u64, |sum, p| {
            sum.wrapping_add(p.log().log_end_offset())
                .wrapping_add(p.high_watermark())
                .wrapping_add(p.leader_epoch() as u64)
        })
    }

    /// A clean shutdown: every log flushed and its high watermark written;
    /// produces still waiting get no answer (their connections close).
    pub fn close(&mut self) -> Result<(), StorageError> {
        let tps: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        let mut first_error = None;
        for tp in tps {
            if let Some(p) = self.partitions.remove(&tp) {
                if let Err(e) = p.close() {
                    first_error.get_or_insert(StorageError(e.to_string()));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The broker address `host:port` split for Kafka's metadata.
fn host_port(address: &str) -> (String, i32) {
    match address.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().unwrap_or(-1)),
        None => (address.to_string(), -1),
    }
}
