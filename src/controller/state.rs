//! The controller as a sans-IO state machine: broker sessions, topics and
//! every partition's leader, leader epoch and ISR. Events go in with the
//! time; what must be made durable and what must be told to which broker
//! come out ([`Effects`]). The server writes the durable state before it
//! sends anything, as ZooKeeper-era Kafka wrote ZooKeeper before it sent
//! LeaderAndIsr.
//!
//! Elections follow ZooKeeper-era Kafka (`PartitionStateMachine`,
//! `OfflinePartitionLeaderElectionStrategy`): when a leader's session ends,
//! the new leader is the first replica, in assignment order, that is live
//! and in the ISR; the leader epoch goes up by one and the dead broker leaves
//! the ISR. With no live ISR member, unclean election (if enabled) takes the
//! first live replica with an ISR of itself; otherwise the partition is
//! offline (leader -1, the last ISR kept) until an ISR member returns. Every
//! change of a partition bumps its partition epoch (the ISR version of
//! KIP-497), and an ISR change from a leader is accepted only against the
//! current leader epoch and partition epoch.

use super::protocol::{
    BrokerAddress, CommittedOffset, CreateTopicResult, NewTopic, PartitionDecision, ToBroker,
    TopicMetadata,
};
use crate::broker::partition::BrokerId;
use crate::knob::{parse_bool, Knob};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The leader of an offline partition.
pub const NO_LEADER: BrokerId = -1;

/// Kafka's error codes: the one table.
pub use crate::error_codes as errors;

/// The controller's settings, under Kafka's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `broker.session.timeout.ms`
    pub session_timeout_ms: u64,
    /// `unclean.leader.election.enable`, for topics created without it.
    pub unclean_leader_election: bool,
    /// `default.replication.factor`
    pub default_replication_factor: i16,
    /// `min.insync.replicas`, for topics created without it.
    pub min_insync_replicas: usize,
    /// `num.partitions`
    pub num_partitions: i32,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            session_timeout_ms: 9_000,
            unclean_leader_election: false,
            default_replication_factor: 1,
            min_insync_replicas: 1,
            num_partitions: 1,
        }
    }
}

/// Every knob [`ControllerConfig::set`] knows.
pub const KNOBS: &[(&str, &str)] = &[
    (
        "broker.session.timeout.ms",
        "a broker not heard from for this long is dead (default 9000)",
    ),
    (
        "unclean.leader.election.enable",
        "elect an out-of-sync replica when no ISR member is live, for topics created without the setting (default false)",
    ),
    (
        "default.replication.factor",
        "replicas of a topic created without a replication factor (default 1)",
    ),
    (
        "min.insync.replicas",
        "for topics created without the setting (default 1)",
    ),
    (
        "num.partitions",
        "partitions of a topic created without a count (default 1)",
    ),
];

impl ControllerConfig {
    pub fn set(&mut self, knob: &str, value: &str) -> Result<(), String> {
        let k = Knob { name: knob, value };
        match knob {
            "broker.session.timeout.ms" => {
                self.session_timeout_ms = k.int(1, i64::from(i32::MAX))? as u64
            }
            "unclean.leader.election.enable" => self.unclean_leader_election = k.boolean()?,
            "default.replication.factor" => {
                self.default_replication_factor = k.int(1, i64::from(i16::MAX))? as i16
            }
            "min.insync.replicas" => {
                self.min_insync_replicas = k.int(1, i64::from(i16::MAX))? as usize
            }
            "num.partitions" => self.num_partitions = k.int(1, 1 << 16)? as i32,
            _ => {
                let known: Vec<&str> = KNOBS.iter().map(|(name, _)| *name).collect();
                return Err(format!(
                    "unknown controller setting {knob:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The assignment; its order decides elections.
    pub replicas: Vec<BrokerId>,
    pub leader: BrokerId,
    pub leader_epoch: i32,
    pub isr: BTreeSet<BrokerId>,
    pub partition_epoch: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicState {
    pub partitions: Vec<PartitionState>,
    pub min_insync_replicas: usize,
    pub unclean_leader_election: bool,
}

/// A broker's session as registered: ephemeral in ZooKeeper, kept here so
/// that a broker reconnecting after a controller restart with the same
/// incarnation keeps its session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub address: String,
    pub incarnation: u64,
}

/// What survives the controller's restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    /// Bumped at every start, so that brokers can tell an old controller.
    pub controller_epoch: i32,
    pub brokers: BTreeMap<BrokerId, Registration>,
    pub topics: BTreeMap<String, TopicState>,
    /// Consumer groups' committed offsets: group → topic → partition.
    #[serde(default)]
    pub offsets: BTreeMap<String, BTreeMap<String, BTreeMap<i32, GroupOffset>>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOffset {
    pub offset: i64,
    pub metadata: Option<String>,
}

/// What an event asks of the world, in this order: write `persist`
/// durably, then send `messages`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    pub persist: Option<Durable>,
    pub messages: Vec<(BrokerId, ToBroker)>,
}

#[derive(Debug)]
pub struct Controller {
    config: ControllerConfig,
    state: Durable,
    /// When each registered broker was last heard from.
    heard_ms: BTreeMap<BrokerId, u64>,
    dirty: bool,
    /// Partitions whose decision changed since the effects were last taken.
    changed: BTreeSet<(String, i32)>,
    metadata_changed: bool,
    /// A registering broker's welcome: sent before anything else.
    welcomes: Vec<(BrokerId, ToBroker)>,
    /// Answers: sent after the decisions they depend on.
    messages: Vec<(BrokerId, ToBroker)>,
}

impl Controller {
    /// Starts from the durable state of the previous run, if any, with a new
    /// controller epoch. Brokers registered before get a full session
    /// timeout from now to reconnect before they count as dead.
    pub fn start(previous: Option<Durable>, config: ControllerConfig, now_ms: u64) -> Self {
        let mut state = previous.unwrap_or_default();
        state.controller_epoch += 1;
        let heard_ms = state.brokers.keys().map(|&id| (id, now_ms)).collect();
        Controller {
            config,
            state,
            heard_ms,
            dirty: true,
            changed: BTreeSet::new(),
            metadata_changed: false,
            welcomes: Vec::new(),
            messages: Vec::new(),
        }
    }

    pub fn state(&self) -> &Durable {
        &self.state
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        self.state
            .topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)
    }

    pub fn is_live(&self, broker: BrokerId) -> bool {
        self.state.brokers.contains_key(&broker)
    }

    /// A broker's Register. A known broker with a new incarnation restarted:
    /// its old session ends first, with the elections that brings.
    pub fn register(&mut self, broker: BrokerId, address: String, incarnation: u64, now_ms: u64) {
        if let Some(known) = self.state.brokers.get(&broker) {
            if known.incarnation != incarnation {
                self.broker_died(broker);
            }
        }
        let registration = Registration {
            address,
            incarnation,
        };
        if self.state.brokers.get(&broker) != Some(&registration) {
            self.state.brokers.insert(broker, registration);
            self.dirty = true;
        }
        self.heard_ms.insert(broker, now_ms);
        self.welcomes.push((
            broker,
            ToBroker::Registered {
                controller_epoch: self.state.controller_epoch,
                session_timeout_ms: self.config.session_timeout_ms,
            },
        ));
        self.elect_offline();
        // Kafka's onBrokerStartup: the broker hears about every partition
        // it holds a replica of, changed or not.
        let decisions = self.decisions(|p| p.replicas.contains(&broker));
        if !decisions.is_empty() {
            self.welcomes.push((
                broker,
                ToBroker::LeaderAndIsr {
                    controller_epoch: self.state.controller_epoch,
                    partitions: decisions,
                },
            ));
        }
        self.metadata_changed = true;
    }

    pub fn heartbeat(&mut self, broker: BrokerId, incarnation: u64, now_ms: u64) {
        if self.incarnation(broker) == Some(incarnation) {
            self.heard_ms.insert(broker, now_ms);
        }
    }

    /// The broker's connection closed: its session ends (unless a newer
    /// incarnation registered meanwhile).
    pub fn connection_closed(&mut self, broker: BrokerId, incarnation: u64) {
        if self.incarnation(broker) == Some(incarnation) {
            self.broker_died(broker);
        }
    }

    fn incarnation(&self, broker: BrokerId) -> Option<u64> {
        self.state.brokers.get(&broker).map(|r| r.incarnation)
    }

    /// Sessions not heard from within the timeout end.
    pub fn tick(&mut self, now_ms: u64) {
        let expired: Vec<BrokerId> = self
            .heard_ms
            .iter()
            .filter(|(_, &heard)| now_ms.saturating_sub(heard) > self.config.session_timeout_ms)
            .map(|(&id, _)| id)
            .collect();
        for broker in expired {
            self.broker_died(broker);
        }
    }

    /// Kafka's `onBrokerFailure`: new leaders for what it led, and it
    /// leaves every ISR it was in.
    fn broker_died(&mut self, dead: BrokerId) {
        self.state.brokers.remove(&dead);
        self.heard_ms.remove(&dead);
        self.dirty = true;
        self.metadata_changed = true;
        let live: BTreeSet<BrokerId> = self.state.brokers.keys().copied().collect();
        for (name, topic) in &mut self.state.topics {
            for (i, p) in topic.partitions.iter_mut().enumerate() {
                let changed = if p.leader == dead {
                    elect(p, &live, topic.unclean_leader_election);
                    true
                } else if p.leader != NO_LEADER && p.isr.remove(&dead) {
                    p.partition_epoch += 1;
                    true
                } else {
                    false
                };
                if changed {
                    self.changed.insert((name.clone(), i as i32));
                }
            }
        }
    }

    /// Offline partitions get a leader if one of their ISR (or, with unclean
    /// election, any replica) is live.
    fn elect_offline(&mut self) {
        let live: BTreeSet<BrokerId> = self.state.brokers.keys().copied().collect();
        for (name, topic) in &mut self.state.topics {
            for (i, p) in topic.partitions.iter_mut().enumerate() {
                if p.leader == NO_LEADER && elect(p, &live, topic.unclean_leader_election) {
                    self.dirty = true;
                    self.changed.insert((name.clone(), i as i32));
                }
            }
        }
    }

    /// A leader's AlterIsr: accepted only from the current leader, at the
    /// current leader epoch and partition epoch, with live replicas only.
    pub fn alter_isr(
        &mut self,
        from: BrokerId,
        topic: &str,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: BTreeSet<BrokerId>,
    ) {
        let error =
            self.check_alter_isr(from, topic, partition, leader_epoch, partition_epoch, &isr);
        if error == errors::NONE {
            if let Some(p) = self.partition_mut(topic, partition) {
                p.isr = isr;
                p.partition_epoch += 1;
            }
            self.dirty = true;
            self.metadata_changed = true;
            self.changed.insert((topic.to_string(), partition));
        }
        let (isr, partition_epoch) = self
            .partition(topic, partition)
            .map(|p| (p.isr.clone(), p.partition_epoch))
            .unwrap_or_default();
        self.messages.push((
            from,
            ToBroker::AlterIsrResult {
                topic: topic.to_string(),
                partition,
                error_code: error,
                isr,
                partition_epoch,
            },
        ));
    }

    fn check_alter_isr(
        &self,
        from: BrokerId,
        topic: &str,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: &BTreeSet<BrokerId>,
    ) -> i16 {
        let Some(p) = self.partition(topic, partition) else {
            return errors::UNKNOWN_TOPIC_OR_PARTITION;
        };
        if p.leader != from {
            return errors::NOT_LEADER_OR_FOLLOWER;
        }
        if p.leader_epoch != leader_epoch {
            return errors::FENCED_LEADER_EPOCH;
        }
        if p.partition_epoch != partition_epoch {
            return errors::INVALID_UPDATE_VERSION;
        }
        let eligible = isr.contains(&from)
            && isr
                .iter()
                .all(|r| p.replicas.contains(r) && self.is_live(*r));
        if !eligible {
            return errors::INELIGIBLE_REPLICA;
        }
        errors::NONE
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionState> {
        self.state
            .topics
            .get_mut(topic)?
            .partitions
            .get_mut(usize::try_from(partition).ok()?)
    }

    /// CreateTopics: replicas assigned round robin over the live brokers,
    /// the first replica leads, every replica in the ISR.
    pub fn create_topics(&mut self, from: BrokerId, request_id: u64, topics: Vec<NewTopic>) {
        let results = topics
            .into_iter()
            .map(|topic| {
                let name = topic.name.clone();
                let (error_code, message) = match self.create_topic(topic) {
                    Ok(()) => (errors::NONE, None),
                    Err((code, message)) => (code, Some(message)),
                };
                CreateTopicResult {
                    name,
                    error_code,
                    message,
                }
            })
            .collect();
        self.messages.push((
            from,
            ToBroker::CreateTopicsResult {
                request_id,
                results,
            },
        ));
    }

    fn create_topic(&mut self, topic: NewTopic) -> Result<(), (i16, String)> {
        super::protocol::check_topic_name(&topic.name)
            .map_err(|why| (errors::INVALID_TOPIC_EXCEPTION, why))?;
        if self.state.topics.contains_key(&topic.name) {
            return Err((
                errors::TOPIC_ALREADY_EXISTS,
                format!("topic {:?} already exists", topic.name),
            ));
        }
        let partitions = match topic.num_partitions {
            -1 => self.config.num_partitions,
            n if (1..=1 << 16).contains(&n) => n,
            n => {
                return Err((
                    errors::INVALID_PARTITIONS,
                    format!("{n} partitions: must be between 1 and 65536"),
                ))
            }
        };
        let live: Vec<BrokerId> = self.state.brokers.keys().copied().collect();
        let rf = match topic.replication_factor {
            -1 => self.config.default_replication_factor,
            n => n,
        };
        if rf < 1 || rf as usize > live.len() {
            return Err((
                errors::INVALID_REPLICATION_FACTOR,
                format!(
                    "replication factor {rf}: must be between 1 and the {} live brokers",
                    live.len()
                ),
            ));
        }
        let mut state = TopicState {
            partitions: Vec::new(),
            min_insync_replicas: self.config.min_insync_replicas,
            unclean_leader_election: self.config.unclean_leader_election,
        };
        for (key, value) in &topic.configs {
            let bad = |why: &str| (errors::INVALID_CONFIG, format!("{key}={value}: {why}"));
            match key.as_str() {
                "min.insync.replicas" => {
                    state.min_insync_replicas = value
                        .parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| bad("must be a positive integer"))?
                }
                "unclean.leader.election.enable" => {
                    state.unclean_leader_election =
                        parse_bool(value).ok_or_else(|| bad("must be true or false"))?
                }
                _ => {
                    return Err(bad(
                        "not a topic setting this broker knows (min.insync.replicas, unclean.leader.election.enable)",
                    ))
                }
            }
        }
        for p in 0..partitions as usize {
            let replicas: Vec<BrokerId> = (0..rf as usize)
                .map(|i| live[(p + i) % live.len()])
                .collect();
            state.partitions.push(PartitionState {
                leader: replicas[0],
                leader_epoch: 0,
                isr: replicas.iter().copied().collect(),
                partition_epoch: 0,
                replicas,
            });
            self.changed.insert((topic.name.clone(), p as i32));
        }
        self.state.topics.insert(topic.name, state);
        self.dirty = true;
        self.metadata_changed = true;
        Ok(())
    }

    /// A group's offsets, written with the rest of the state before the
    /// answer goes. Offsets of unknown partitions are refused whole.
    pub fn commit_offsets(
        &mut self,
        from: BrokerId,
        request_id: u64,
        group: String,
        offsets: Vec<CommittedOffset>,
    ) {
        let known = offsets
            .iter()
            .all(|o| self.partition(&o.topic, o.partition).is_some());
        let error_code = if known {
            let committed = self.state.offsets.entry(group).or_default();
            for o in offsets {
                committed.entry(o.topic).or_default().insert(
                    o.partition,
                    GroupOffset {
                        offset: o.offset,
                        metadata: o.metadata,
                    },
                );
            }
            self.dirty = true;
            errors::NONE
        } else {
            errors::UNKNOWN_TOPIC_OR_PARTITION
        };
        self.messages.push((
            from,
            ToBroker::OffsetsCommitted {
                request_id,
                error_code,
            },
        ));
    }

    pub fn fetch_offsets(
        &mut self,
        from: BrokerId,
        request_id: u64,
        group: &str,
        partitions: Option<Vec<(String, i32)>>,
    ) {
        let mut offsets = Vec::new();
        if let Some(committed) = self.state.offsets.get(group) {
            for (topic, by_partition) in committed {
                for (&partition, o) in by_partition {
                    let wanted = partitions
                        .as_ref()
                        .is_none_or(|ps| ps.iter().any(|(t, p)| t == topic && *p == partition));
                    if wanted {
                        offsets.push(CommittedOffset {
                            topic: topic.clone(),
                            partition,
                            offset: o.offset,
                            metadata: o.metadata.clone(),
                        });
                    }
                }
            }
        }
        self.messages.push((
            from,
            ToBroker::OffsetsFetched {
                request_id,
                offsets,
            },
        ));
    }

    /// What to write and send now: the durable state if it changed, then
    /// LeaderAndIsr to the live replicas of every changed partition, the
    /// metadata to every live broker, then the answers.
    pub fn take_effects(&mut self) -> Effects {
        let persist = std::mem::take(&mut self.dirty).then(|| self.state.clone());
        let mut messages = std::mem::take(&mut self.welcomes);
        let changed = std::mem::take(&mut self.changed);
        let mut by_broker: BTreeMap<BrokerId, Vec<PartitionDecision>> = BTreeMap::new();
        for (topic, partition) in &changed {
            let Some(decision) = self.decision(topic, *partition) else {
                continue;
            };
            for r in decision.replicas.iter().filter(|r| self.is_live(**r)) {
                by_broker.entry(*r).or_default().push(decision.clone());
            }
        }
        for (broker, partitions) in by_broker {
            messages.push((
                broker,
                ToBroker::LeaderAndIsr {
                    controller_epoch: self.state.controller_epoch,
                    partitions,
                },
            ));
        }
        if std::mem::take(&mut self.metadata_changed) {
            let metadata = self.metadata();
            for &broker in self.state.brokers.keys() {
                messages.push((broker, metadata.clone()));
            }
        }
        // Answers go after the decisions they depend on, so that a broker
        // told "created" already knows the topic's leaders.
        messages.append(&mut self.messages);
        Effects { persist, messages }
    }

    fn decision(&self, topic: &str, partition: i32) -> Option<PartitionDecision> {
        let t = self.state.topics.get(topic)?;
        let p = t.partitions.get(usize::try_from(partition).ok()?)?;
        Some(to_decision(topic, partition, p, t))
    }

    fn decisions(&self, filter: impl Fn(&PartitionState) -> bool) -> Vec<PartitionDecision> {
        let mut out = Vec::new();
        for (name, t) in &self.state.topics {
            for (i, p) in t.partitions.iter().enumerate() {
                if filter(p) {
                    out.push(to_decision(name, i as i32, p, t));
                }
            }
        }
        out
    }

    /// The metadata snapshot every broker answers clients from.
    pub fn metadata(&self) -> ToBroker {
        ToBroker::Metadata {
            controller_epoch: self.state.controller_epoch,
            brokers: self
                .state
                .brokers
                .iter()
                .map(|(&broker_id, r)| BrokerAddress {
                    broker_id,
                    address: r.address.clone(),
                })
                .collect(),
            topics: self
                .state
                .topics
                .keys()
                .map(|name| TopicMetadata {
                    name: name.clone(),
                    partitions: self.decisions_of(name),
                })
                .collect(),
        }
    }

    fn decisions_of(&self, topic: &str) -> Vec<PartitionDecision> {
        let Some(t) = self.state.topics.get(topic) else {
            return Vec::new();
        };
        t.partitions
            .iter()
            .enumerate()
            .map(|(i, p)| to_decision(topic, i as i32, p, t))
            .collect()
    }
}

fn to_decision(
    topic: &str,
    partition: i32,
    p: &PartitionState,
    t: &TopicState,
) -> PartitionDecision {
    PartitionDecision {
        topic: topic.to_string(),
        partition,
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        isr: p.isr.clone(),
        partition_epoch: p.partition_epoch,
        replicas: p.replicas.clone(),
        min_insync_replicas: t.min_insync_replicas,
    }
}

/// Elects a leader for `p`, whose leader is dead or absent; returns whether
/// the partition changed. The ISR loses the old leader only when someone
/// else leads: an offline partition keeps its last ISR, which says whom to
/// wait for.
fn elect(p: &mut PartitionState, live: &BTreeSet<BrokerId>, unclean: bool) -> bool {
    let clean = p
        .replicas
        .iter()
        .find(|r| live.contains(r) && p.isr.contains(r));
    let (leader, isr) = match clean {
        Some(&leader) => {
            let isr = p.isr.iter().filter(|r| live.contains(r)).copied().collect();
            (leader, isr)
        }
        None => match p.replicas.iter().find(|r| live.contains(r)) {
            Some(&leader) if unclean => (leader, BTreeSet::from([leader])),
            _ if p.leader == NO_LEADER => return false,
            _ => (NO_LEADER, p.isr.clone()),
        },
    };
    p.leader = leader;
    p.isr = isr;
    p.leader_epoch += 1;
    p.partition_epoch += 1;
    true
}
