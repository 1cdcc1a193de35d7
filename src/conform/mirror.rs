//! The broker side of a replay: one [`Partition`] per model replica, on its
//! own log in a scratch directory, and the little a broker process adds
//! around its partitions (the shell), done here as the broker would:
//!
//! - a follower sends a fetch when it starts following a leader, after
//!   each answer it applied, and after a retry timer following an error;
//! - a fetch that would bring a follower nothing new (no records, no news
//!   of the high watermark) is parked at the leader, as Kafka's
//!   `DelayedFetch`, and answered when the leader's log end or high
//!   watermark moves; so is a consumer's fetch at the high watermark;
//! - a controller decision meant for an earlier incarnation of the broker
//!   (KIP-380's broker epoch) is not applied.
//!
//! Everything else comes from the model's trace: which message is
//! delivered, lost or duplicated, which process crashes, what the
//! controller decides and what the clients send. What the broker sends in
//! return is rendered as the model's messages, to be compared with what
//! the model sent.

use super::{records, small};
use crate::broker::partition::{
    Acks, BrokerId, Effect, FetchAnswer, LeaderAndIsr, Partition, PartitionError, ReplicaFetch,
    ReplicationConfig, Role, Truncation,
};
use crate::bugs::Bug;
use crate::log::LogConfig;
use kafka_oracle_models::actors::Ids;
use kafka_oracle_models::config::{Config, Flush, Truncation as ModelTruncation};
use kafka_oracle_models::msg::{FetchResult, Msg, PollResult, ProduceError, Set, Timer};
use kafka_oracle_properties::Acks as ModelAcks;
use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::path::PathBuf;

/// A message the broker sent, as the model would write it.
pub type Sent = (usize, usize, Msg);

/// Long enough that only the model's lag timeout makes a follower lag.
const LAG_MS: u64 = 1 << 30;
const MAX_BYTES: usize = 1 << 20;

/// A fetch answer kept until the model delivers (or loses) it.
#[derive(Clone, Debug)]
enum Answer {
    Records {
        records: Vec<u8>,
        high_watermark: u64,
    },
    Diverging {
        epoch: i32,
        end_offset: u64,
    },
    OutOfRange {
        log_start_offset: u64,
        log_end_offset: u64,
    },
    NotLeader,
}

pub struct Mirror {
    cfg: Config,
    /// The bug the broker replicas are built to have, if any.
    bug: Option<Bug>,
    ids: Ids,
    dirs: Vec<PathBuf>,
    replicas: Vec<Option<Partition>>,
    /// A follower has a fetch outstanding (or parked).
    fetching: Vec<bool>,
    now: u64,
    /// Fetches sent, by the model message that stands for them, with the
    /// follower's high watermark when it sent it.
    fetches: HashMap<(u8, Msg), (ReplicaFetch, u64)>,
    answers: HashMap<(u8, Msg), (ReplicaFetch, Answer)>,
    /// Parked follower fetches at the leader.
    parked: BTreeMap<u8, (ReplicaFetch, u64)>,
    parked_consumer: Option<u64>,
    /// The idempotent producer's sequence for each (producer, message).
    sequences: HashMap<(u8, u8), i32>,
    next_sequence: HashMap<u8, i32>,
    sent: Vec<Sent>,
}

fn broker(ix: u8) -> BrokerId {
    i32::from(ix) + 1
}

/// The model's index of a broker this harness numbered (1 to 3).
fn ix(broker: BrokerId) -> u8 {
    u8::try_from(broker - 1).expect("brokers are numbered from 1 by this harness")
}

fn set(members: impl IntoIterator<Item = BrokerId>) -> Set {
    Set::of(members.into_iter().map(ix))
}

fn produce_error(e: &PartitionError) -> Result<ProduceError, String> {
    match e {
        PartitionError::NotLeaderOrFollower => Ok(ProduceError::NotLeaderOrFollower),
        PartitionError::NotEnoughReplicas => Ok(ProduceError::NotEnoughReplicas),
        PartitionError::NotEnoughReplicasAfterAppend => {
            Ok(ProduceError::NotEnoughReplicasAfterAppend)
        }
        other => Err(format!(
            "the broker answered a produce with {other:?}, which the model never does"
        )),
    }
}

impl Mirror {
    /// The broker side of the model's initial state: replica 0 leads epoch
    /// 0 with every replica in sync; followers have sent their first fetch.
    pub fn start(
        cfg: &Config,
        ids: Ids,
        scratch: PathBuf,
        bug: Option<Bug>,
    ) -> Result<Mirror, String> {
        let n = usize::from(ids.replicas);
        let dirs: Vec<PathBuf> = (0..n)
            .map(|i| scratch.join(format!("replica-{i}")))
            .collect();
        let mut mirror = Mirror {
            cfg: cfg.clone(),
            bug,
            ids,
            replicas: (0..n).map(|_| None).collect(),
            fetching: vec![false; n],
            now: 0,
            fetches: HashMap::new(),
            answers: HashMap::new(),
            parked: BTreeMap::new(),
            parked_consumer: None,
            sequences: HashMap::new(),
            next_sequence: HashMap::new(),
            sent: Vec::new(),
            dirs,
        };
        for i in 0..ids.replicas {
            mirror.open(i)?;
        }
        let everyone: Vec<u8> = (0..ids.replicas).collect();
        for i in 0..ids.replicas {
            mirror.leader_and_isr(i, 0, 0, Set::of(everyone.iter().copied()), 0)?;
        }
        Ok(mirror)
    }

    fn open(&mut self, i: u8) -> Result<(), String> {
        let mut log = LogConfig::default();
        if self.cfg.flush == Flush::EveryMessage {
            log.flush_interval_messages = 1;
        }
        let config = ReplicationConfig {
            min_insync_replicas: usize::from(self.cfg.min_insync_replicas),
            replica_lag_time_max_ms: LAG_MS,
            high_watermark_checkpoint_interval_ms: u64::MAX,
            truncation: match self.cfg.truncation {
                ModelTruncation::LeaderEpoch => Truncation::LeaderEpoch,
                ModelTruncation::HighWatermark => Truncation::HighWatermark,
            },
            ..ReplicationConfig::default()
        };
        #[cfg(feature = "inject-bugs")]
        let config = ReplicationConfig {
            bug: self.bug,
            ..config
        };
        #[cfg(not(feature = "inject-bugs"))]
        if self.bug.is_some() {
            return Err("this build has no bugs to inject (feature inject-bugs)".into());
        }
        let p = Partition::open(broker(i), &self.dirs[usize::from(i)], log, config)
            .map_err(|e| format!("replica {i} does not open: {e}"))?;
        self.replicas[usize::from(i)] = Some(p);
        Ok(())
    }

    pub fn replica(&self, i: u8) -> Option<&Partition> {
        self.replicas[usize::from(i)].as_ref()
    }

    fn get(&mut self, i: u8) -> Result<&mut Partition, String> {
        self.replicas[usize::from(i)]
            .as_mut()
            .ok_or_else(|| format!("replica {i} is down in the broker but up in the model"))
    }

    /// What the broker sent during the last step.
    pub fn take_sent(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    fn send(&mut self, src: usize, dst: usize, msg: Msg) {
        self.sent.push((src, dst, msg));
    }

    /// The model delivers `msg` from `src` to replica `i`, which is up.
    pub fn deliver(
        &mut self,
        src: usize,
        i: u8,
        msg: &Msg,
        broker_epoch: u8,
    ) -> Result<(), String> {
        self.now += 1;
        match msg {
            Msg::LeaderAndIsr {
                leader,
                epoch,
                isr,
                version,
                broker_epoch: meant_for,
            } if *meant_for == broker_epoch => {
                self.leader_and_isr(i, *leader, *epoch, *isr, *version)?;
            }
            Msg::Produce {
                msg: m,
                producer_id,
            } => self.produce(src, i, *m, *producer_id)?,
            Msg::Fetch { .. } => {
                if let Some(f) = self.ids.replica_ix(src) {
                    self.fetch(i, f, msg)?;
                }
            }
            Msg::FetchResponse { .. } => {
                if let Some(leader) = self.ids.replica_ix(src) {
                    self.fetch_answered(i, leader, msg)?;
                }
            }
            Msg::ConsumerFetch { offset } => self.consumer_fetch(src, i, u64::from(*offset))?,
            Msg::ListOffsets => {
                let offset = match self.get(i)?.list_offset(true) {
                    Ok(o) => Some(small("high watermark", o)?),
                    Err(_) => None,
                };
                self.send(
                    usize::from(self.ids.replica(i)),
                    src,
                    Msg::ListOffsetsResponse { offset },
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Work done on replica `i`, then what the shell does when the
    /// leader's log end or high watermark moved: answer parked fetches.
    fn on_replica<T>(
        &mut self,
        i: u8,
        work: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<T, String> {
        let before = self.position(i);
        let out = work(self)?;
        let after = self.position(i);
        if let (Some((_, hw_before)), Some((_, hw))) = (before, after) {
            if before != after {
                if hw > hw_before {
                    self.wake_consumer(i, hw)?;
                }
                self.wake_followers(i)?;
            }
        }
        self.effects(i)?;
        Ok(out)
    }

    /// A leader's (log end, high watermark), or `None` if it does not lead.
    fn position(&self, i: u8) -> Option<(u64, u64)> {
        let p = self.replica(i)?;
        (p.role() == Role::Leader).then(|| (p.log().log_end_offset(), p.high_watermark()))
    }

    fn effects(&mut self, i: u8) -> Result<(), String> {
        let me = usize::from(self.ids.replica(i));
        let effects = match self.replicas[usize::from(i)].as_mut() {
            Some(p) => p.take_effects(),
            None => return Ok(()),
        };
        for effect in effects {
            match effect {
                Effect::ProduceDone { request, result } => {
                    let error = match &result {
                        Ok(_) => None,
                        Err(e) => Some(produce_error(e)?),
                    };
                    if self.cfg.acks != ModelAcks::None {
                        let producer = usize::from(self.ids.producer());
                        self.send(
                            me,
                            producer,
                            Msg::ProduceResponse {
                                msg: small("produce request", request)?,
                                error,
                            },
                        );
                    }
                }
                Effect::AlterIsr {
                    leader_epoch,
                    partition_epoch,
                    isr,
                } => {
                    let msg = Msg::AlterIsr {
                        epoch: small("leader epoch", leader_epoch)?,
                        isr: set(isr),
                        version: small("partition epoch", partition_epoch)?,
                    };
                    self.send(me, usize::from(self.ids.controller()), msg);
                }
            }
        }
        Ok(())
    }

    fn leader_and_isr(
        &mut self,
        i: u8,
        leader: u8,
        epoch: u8,
        isr: Set,
        version: u8,
    ) -> Result<(), String> {
        let now = self.now;
        let replicas: Vec<BrokerId> = (0..self.ids.replicas).map(broker).collect();
        let before = {
            let p = self.get(i)?;
            (p.role(), p.leader_epoch())
        };
        let decision = LeaderAndIsr {
            leader: broker(leader),
            leader_epoch: i32::from(epoch),
            isr: isr.iter().map(broker).collect(),
            partition_epoch: i32::from(version),
            replicas,
        };
        self.on_replica(i, |m| {
            m.get(i)?
                .leader_and_isr(decision, now)
                .map_err(|e| format!("replica {i} fails a controller decision: {e}"))
        })?;
        let after = {
            let p = self.get(i)?;
            (p.role(), p.leader_epoch())
        };
        if before != after {
            // A new leadership starts without parked fetches.
            if before.0 == Role::Leader {
                self.parked.clear();
                self.parked_consumer = None;
            }
            if let Role::Follower { .. } = after.0 {
                self.fetching[usize::from(i)] = true;
                self.send_fetch(i)?;
            }
        }
        Ok(())
    }

    fn send_fetch(&mut self, i: u8) -> Result<(), String> {
        let p = self.get(i)?;
        let Some(fetch) = p.next_fetch(MAX_BYTES) else {
            return Err(format!("replica {i} should fetch but follows no one"));
        };
        let hw = p.high_watermark();
        let msg = Msg::Fetch {
            epoch: small("leader epoch", fetch.leader_epoch)?,
            offset: small("fetch offset", fetch.fetch_offset)?,
            // The model's follower says 0 for an empty log; the broker's
            // says nothing, and a leader looks only past offset 0.
            last_epoch: small("last fetched epoch", fetch.last_fetched_epoch.unwrap_or(0))?,
            high_watermark: small("high watermark", hw)?,
        };
        self.fetches.insert((i, msg.clone()), (fetch, hw));
        let (src, dst) = (self.ids.replica(i), self.ids.replica(ix(fetch.leader)));
        self.send(src.into(), dst.into(), msg);
        Ok(())
    }

    fn produce(&mut self, src: usize, i: u8, msg: u8, producer_id: u8) -> Result<(), String> {
        let producer = self.cfg.idempotence.then(|| {
            let next = self.next_sequence.entry(producer_id).or_insert(0);
            let sequence = *self.sequences.entry((producer_id, msg)).or_insert_with(|| {
                *next += 1;
                *next - 1
            });
            (i64::from(producer_id), sequence)
        });
        let acks = match self.cfg.acks {
            ModelAcks::None => Acks::None,
            ModelAcks::Leader => Acks::Leader,
            ModelAcks::All => Acks::All,
        };
        let now = self.now;
        let mut bytes = records::batch(msg, producer);
        let answer = self.on_replica(i, |m| {
            Ok(m.get(i)?
                .produce(u64::from(msg), acks, &mut bytes, u64::MAX / 4, now))
        })?;
        let error = match answer {
            Ok(None) => return Ok(()),
            Ok(Some(_)) => None,
            Err(e) => Some(produce_error(&e)?),
        };
        if acks != Acks::None {
            self.send(
                usize::from(self.ids.replica(i)),
                src,
                Msg::ProduceResponse { msg, error },
            );
        }
        Ok(())
    }

    /// Follower `f`'s fetch `msg` arrives at replica `i`.
    fn fetch(&mut self, i: u8, f: u8, msg: &Msg) -> Result<(), String> {
        let Some(&(sent, follower_hw)) = self.fetches.get(&(f, msg.clone())) else {
            return Err(format!(
                "the model delivers a fetch {msg:?} the broker's replica {f} never sent"
            ));
        };
        self.parked.remove(&f);
        let now = self.now;
        let answer = self.on_replica(i, |m| {
            let mut buf = Vec::new();
            let answer = m
                .get(i)?
                .fetch_from_follower(broker(f), &sent, &mut buf, now);
            Ok(owned(answer))
        })?;
        let leader_hw = self.get(i)?.high_watermark();
        match &answer {
            Answer::Records { records, .. } if records.is_empty() && leader_hw == follower_hw => {
                self.parked.insert(f, (sent, follower_hw));
                Ok(())
            }
            _ => self.answer_fetch(i, f, sent, answer),
        }
    }

    fn answer_fetch(
        &mut self,
        i: u8,
        f: u8,
        sent: ReplicaFetch,
        answer: Answer,
    ) -> Result<(), String> {
        let result = match &answer {
            Answer::Records {
                records,
                high_watermark,
            } => FetchResult::Records {
                offset: small("fetch offset", sent.fetch_offset)?,
                entries: records::entries(records)?
                    .into_iter()
                    .map(|e| {
                        Ok(kafka_oracle_models::msg::Entry {
                            epoch: small("epoch", e.epoch)?,
                            msg: e.msg,
                            producer_id: e
                                .producer_id
                                .map_or(Ok(0), |p| small("producer id", p))?,
                        })
                    })
                    .collect::<Result<_, String>>()?,
                high_watermark: small("high watermark", *high_watermark)?,
            },
            Answer::Diverging { epoch, end_offset } => FetchResult::Diverging {
                offset: small("fetch offset", sent.fetch_offset)?,
                epoch: small("diverging epoch", *epoch)?,
                end_offset: small("diverging end offset", *end_offset)?,
            },
            Answer::OutOfRange { log_end_offset, .. } => FetchResult::OutOfRange {
                offset: small("fetch offset", sent.fetch_offset)?,
                log_end_offset: small("log end offset", *log_end_offset)?,
            },
            Answer::NotLeader => FetchResult::NotLeader,
        };
        let msg = Msg::FetchResponse {
            epoch: small("leader epoch", sent.leader_epoch)?,
            result,
        };
        self.answers.insert((f, msg.clone()), (sent, answer));
        let (src, dst) = (self.ids.replica(i), self.ids.replica(f));
        self.send(src.into(), dst.into(), msg);
        Ok(())
    }

    /// Answers every parked follower fetch at leader `i`.
    fn wake_followers(&mut self, i: u8) -> Result<(), String> {
        let parked = std::mem::take(&mut self.parked);
        for (f, (sent, _)) in parked {
            let mut buf = Vec::new();
            let answer = owned(
                self.get(i)?
                    .complete_parked_fetch(broker(f), &sent, &mut buf),
            );
            self.answer_fetch(i, f, sent, answer)?;
        }
        Ok(())
    }

    fn wake_consumer(&mut self, i: u8, hw: u64) -> Result<(), String> {
        if let Some(offset) = self.parked_consumer.filter(|&o| o < hw) {
            self.parked_consumer = None;
            let consumer = usize::from(self.ids.consumer());
            self.answer_consumer(consumer, i, offset)?;
        }
        Ok(())
    }

    /// The leader `src`'s answer to replica `i`'s fetch, delivered.
    fn fetch_answered(&mut self, i: u8, leader: u8, msg: &Msg) -> Result<(), String> {
        let Some((sent, answer)) = self.answers.get(&(i, msg.clone())).cloned() else {
            return Err(format!(
                "the model delivers a fetch answer {msg:?} the broker never sent"
            ));
        };
        if !self.fetching[usize::from(i)] || ix(sent.leader) != leader {
            return Ok(());
        }
        let now = self.now;
        let applied = self.on_replica(i, |m| {
            let p = m.get(i)?;
            if p.role()
                != (Role::Follower {
                    leader: sent.leader,
                })
                || p.leader_epoch() != sent.leader_epoch
            {
                return Ok(None);
            }
            let result = match &answer {
                Answer::Records {
                    records,
                    high_watermark,
                } => p.fetch_answered(
                    &sent,
                    FetchAnswer::Records {
                        records,
                        high_watermark: *high_watermark,
                        log_start_offset: 0,
                    },
                    now,
                ),
                Answer::Diverging { epoch, end_offset } => p.fetch_answered(
                    &sent,
                    FetchAnswer::Diverging {
                        epoch: *epoch,
                        end_offset: *end_offset,
                    },
                    now,
                ),
                Answer::OutOfRange {
                    log_start_offset,
                    log_end_offset,
                } => p.fetch_answered(
                    &sent,
                    FetchAnswer::OutOfRange {
                        log_start_offset: *log_start_offset,
                        log_end_offset: *log_end_offset,
                    },
                    now,
                ),
                Answer::NotLeader => return Ok(Some(false)),
            };
            result
                .map(Some)
                .map_err(|e| format!("replica {i} fails on a fetch answer: {e:?}"))
        })?;
        match applied {
            // An error: the follower retries after a back-off (a timer).
            Some(false) if matches!(answer, Answer::NotLeader) => {
                self.fetching[usize::from(i)] = false
            }
            Some(true) => self.send_fetch(i)?,
            _ => {}
        }
        Ok(())
    }

    fn consumer_fetch(&mut self, src: usize, i: u8, offset: u64) -> Result<(), String> {
        let p = self.get(i)?;
        let parks = p.role() == Role::Leader
            && offset >= p.high_watermark()
            && offset <= p.log().log_end_offset();
        if parks {
            self.parked_consumer = Some(offset);
            return Ok(());
        }
        self.answer_consumer(src, i, offset)
    }

    fn answer_consumer(&mut self, consumer: usize, i: u8, offset: u64) -> Result<(), String> {
        let mut buf = Vec::new();
        let result = match self
            .get(i)?
            .fetch_for_consumer(offset, MAX_BYTES, None, &mut buf)
        {
            Ok(fetched) => PollResult::Records {
                offset: small("fetch offset", offset)?,
                msgs: records::entries(fetched.records)?
                    .into_iter()
                    .map(|e| e.msg)
                    .collect(),
            },
            Err(PartitionError::OffsetOutOfRange) => PollResult::OutOfRange,
            Err(_) => PollResult::NotLeader,
        };
        let me = usize::from(self.ids.replica(i));
        self.send(me, consumer, Msg::ConsumerFetchResponse { result });
        Ok(())
    }

    /// A timer of replica `i` fires in the model.
    pub fn timeout(&mut self, i: u8, timer: &Timer, up: bool) -> Result<(), String> {
        self.now += 1;
        match timer {
            Timer::ProcessCrash if up => self.crash(i, false),
            Timer::MachineCrash if up => self.crash(i, true),
            Timer::Restart if !up => self.open(i),
            Timer::FetchRetry => {
                let follows = matches!(
                    self.replica(i).map(Partition::role),
                    Some(Role::Follower { .. })
                );
                if follows && !self.fetching[usize::from(i)] {
                    self.fetching[usize::from(i)] = true;
                    self.send_fetch(i)?;
                }
                Ok(())
            }
            Timer::LagTimeout if up => {
                // Time jumps past replica.lag.time.max.ms.
                self.now += 2 * LAG_MS;
                let now = self.now;
                self.on_replica(i, |m| {
                    m.get(i)?
                        .tick(now)
                        .map_err(|e| format!("replica {i} fails a tick: {e:?}"))
                })
            }
            _ => Ok(()),
        }
    }

    /// A crash loses the process (and with a machine, what was not
    /// fsynced: each segment file is cut to its flushed bytes, the worst
    /// a power loss can do).
    pub fn crash(&mut self, i: u8, machine: bool) -> Result<(), String> {
        let Some(p) = self.replicas[usize::from(i)].take() else {
            return Ok(());
        };
        if p.role() == Role::Leader {
            self.parked.clear();
            self.parked_consumer = None;
        }
        self.fetching[usize::from(i)] = false;
        let segments = p.log().segments();
        drop(p);
        if machine {
            for segment in segments {
                OpenOptions::new()
                    .write(true)
                    .open(&segment.path)
                    .and_then(|f| f.set_len(segment.flushed_size))
                    .map_err(|e| format!("cannot cut {}: {e}", segment.path.display()))?;
            }
        }
        Ok(())
    }

    /// After a step, the high watermark checkpoint the model keeps is
    /// written, as the model writes it at every change.
    pub fn checkpoint(&mut self) -> Result<(), String> {
        for p in self.replicas.iter().flatten() {
            p.log()
                .checkpoint_high_watermark()
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn owned(answer: Result<FetchAnswer, PartitionError>) -> Answer {
    match answer {
        Ok(FetchAnswer::Records {
            records,
            high_watermark,
            ..
        }) => Answer::Records {
            records: records.to_vec(),
            high_watermark,
        },
        Ok(FetchAnswer::Diverging { epoch, end_offset }) => Answer::Diverging { epoch, end_offset },
        Ok(FetchAnswer::OutOfRange {
            log_start_offset,
            log_end_offset,
        }) => Answer::OutOfRange {
            log_start_offset,
            log_end_offset,
        },
        Err(_) => Answer::NotLeader,
    }
}
