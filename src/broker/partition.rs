//! One replica of one partition, as a sans-IO state machine: requests and
//! controller decisions go in, with the time; answers and effects (an ISR
//! change for the controller, a delayed produce answered) come out. No
//! socket, thread or clock is inside; the only I/O is the replica's own
//! [`Log`] on disk, which a crash leaves behind.
//!
//! Written after Kafka's `Partition` and `ReplicaManager` (3.x), ZooKeeper
//! era controller included: the leader tracks each follower's fetch
//! position, computes the high watermark over the maximal ISR (KIP-497),
//! asks the controller to shrink or expand the ISR, and holds acks=all
//! produces until the high watermark passes them. A follower fetches with
//! its last fetched epoch and truncates where the leader says its log
//! diverges (KIP-101, KIP-279, KIP-320), or, in the pre-KIP-101 mode kept to
//! reproduce the old loss, to its high watermark on every leader change.

use super::producers::{Admission, Producers};
use crate::bugs::Bug;
use crate::log::batch::{self, BatchHeader};
use crate::log::{Log, LogConfig, LogError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub type BrokerId = i32;

/// How a follower finds where its log diverges from a new leader's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truncation {
    /// KIP-101/279/320: by leader epoch, through the fetch protocol.
    LeaderEpoch,
    /// Before KIP-101: to the follower's own high watermark.
    HighWatermark,
}

/// The broker settings a partition follows, under Kafka's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `min.insync.replicas`
    pub min_insync_replicas: usize,
    /// `replica.lag.time.max.ms`
    pub replica_lag_time_max_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`
    pub high_watermark_checkpoint_interval_ms: u64,
    pub truncation: Truncation,
    /// A bug to behave with (tests of conformance only).
    #[cfg(feature = "inject-bugs")]
    pub bug: Option<Bug>,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            min_insync_replicas: 1,
            replica_lag_time_max_ms: 30_000,
            high_watermark_checkpoint_interval_ms: 5_000,
            truncation: Truncation::LeaderEpoch,
            #[cfg(feature = "inject-bugs")]
            bug: None,
        }
    }
}

/// Errors a partition answers with, named as in Kafka's protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionError {
    NotLeaderOrFollower,
    NotEnoughReplicas,
    NotEnoughReplicasAfterAppend,
    FencedLeaderEpoch,
    UnknownLeaderEpoch,
    OffsetOutOfRange,
    RequestTimedOut,
    OutOfOrderSequenceNumber,
    InvalidProducerEpoch,
    CorruptMessage(String),
    /// The log failed underneath (the sentence says how).
    KafkaStorageError(String),
}

impl PartitionError {
    /// The error code on the wire.
    pub fn code(&self) -> i16 {
        use crate::error_codes as e;
        match self {
            PartitionError::OffsetOutOfRange => e::OFFSET_OUT_OF_RANGE,
            PartitionError::CorruptMessage(_) => e::CORRUPT_MESSAGE,
            PartitionError::NotLeaderOrFollower => e::NOT_LEADER_OR_FOLLOWER,
            PartitionError::RequestTimedOut => e::REQUEST_TIMED_OUT,
            PartitionError::NotEnoughReplicas => e::NOT_ENOUGH_REPLICAS,
            PartitionError::NotEnoughReplicasAfterAppend => e::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            PartitionError::OutOfOrderSequenceNumber => e::OUT_OF_ORDER_SEQUENCE_NUMBER,
            PartitionError::InvalidProducerEpoch => e::INVALID_PRODUCER_EPOCH,
            PartitionError::KafkaStorageError(_) => e::KAFKA_STORAGE_ERROR,
            PartitionError::FencedLeaderEpoch => e::FENCED_LEADER_EPOCH,
            PartitionError::UnknownLeaderEpoch => e::UNKNOWN_LEADER_EPOCH,
        }
    }
}

impl From<LogError> for PartitionError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::OffsetOutOfRange { .. } => PartitionError::OffsetOutOfRange,
            LogError::InvalidBatch { .. } | LogError::Empty | LogError::NonContiguous { .. } => {
                PartitionError::CorruptMessage(e.to_string())
            }
            other => PartitionError::KafkaStorageError(other.to_string()),
        }
    }
}

/// A controller decision about this partition (Kafka's LeaderAndIsr).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderAndIsr {
    pub leader: BrokerId,
    pub leader_epoch: i32,
    pub isr: BTreeSet<BrokerId>,
    /// The ISR's version (KIP-497's partition epoch).
    pub partition_epoch: i32,
    pub replicas: Vec<BrokerId>,
}

/// `acks` of a produce request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    None,
    Leader,
    All,
}

/// Where a produce's batches went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Produced {
    pub base_offset: u64,
    pub last_offset: u64,
    pub log_start_offset: u64,
}

/// A follower's fetch, as it sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaFetch {
    pub leader: BrokerId,
    pub leader_epoch: i32,
    pub fetch_offset: u64,
    /// The epoch of the follower's last batch (KIP-320); `None` when empty.
    pub last_fetched_epoch: Option<i32>,
    pub max_bytes: usize,
}

/// The leader's answer to a follower's fetch.
#[derive(Debug, PartialEq, Eq)]
pub enum FetchAnswer<'b> {
    Records {
        records: &'b [u8],
        high_watermark: u64,
        log_start_offset: u64,
    },
    /// KIP-320: the follower's log diverges; the leader's end of `epoch`.
    Diverging { epoch: i32, end_offset: u64 },
    /// The fetch offset is outside the leader's log.
    OutOfRange {
        log_start_offset: u64,
        log_end_offset: u64,
    },
}

/// What the partition asks of the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The answer to an acks=all produce that waited.
    ProduceDone {
        request: u64,
        result: Result<Produced, PartitionError>,
    },
    /// Ask the controller to make this the ISR (Kafka's AlterPartition).
    AlterIsr {
        leader_epoch: i32,
        partition_epoch: i32,
        isr: BTreeSet<BrokerId>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Restarted, not yet told by the controller.
    None,
    Leader,
    Follower {
        leader: BrokerId,
    },
}

/// The leader's view of one follower (Kafka's `ReplicaState`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FollowerState {
    log_end_offset: Option<u64>,
    last_caught_up_ms: u64,
    last_fetch_ms: u64,
    leader_end_at_last_fetch: u64,
}

#[derive(Debug)]
struct Waiting {
    request: u64,
    produced: Produced,
    deadline_ms: u64,
}

#[derive(Debug)]
struct Leadership {
    followers: BTreeMap<BrokerId, FollowerState>,
    /// An ISR change sent to the controller and not yet answered.
    pending_isr: Option<BTreeSet<BrokerId>>,
    /// The log end when this leadership began: a follower rejoins the
    /// ISR only once it has every earlier offset.
    epoch_start_offset: u64,
    waiting: Vec<Waiting>,
}

#[derive(Debug)]
pub struct Partition {
    me: BrokerId,
    config: ReplicationConfig,
    log: Log,
    role: Role,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: BTreeSet<BrokerId>,
    replicas: Vec<BrokerId>,
    leadership: Option<Leadership>,
    producers: Producers,
    last_checkpoint_ms: u64,
    effects: Vec<Effect>,
}

impl Partition {
    /// Opens (recovering) the replica's log in `dir`; the replica waits for
    /// the controller to give it a role.
    pub fn open(
        me: BrokerId,
        dir: impl Into<PathBuf>,
        log_config: LogConfig,
        config: ReplicationConfig,
    ) -> Result<Self, LogError> {
        let log = Log::open(dir, log_config)?;
        let mut partition = Partition {
            me,
            config,
            log,
            role: Role::None,
            leader_epoch: -1,
            partition_epoch: -1,
            isr: BTreeSet::new(),
            replicas: Vec::new(),
            leadership: None,
            producers: Producers::default(),
            last_checkpoint_ms: 0,
            effects: Vec::new(),
        };
        partition.rebuild_producers()?;
        Ok(partition)
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    #[cfg(feature = "inject-bugs")]
    fn has(&self, bug: Bug) -> bool {
        self.config.bug == Some(bug)
    }

    #[cfg(not(feature = "inject-bugs"))]
    fn has(&self, _: Bug) -> bool {
        false
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    pub fn isr(&self) -> &BTreeSet<BrokerId> {
        &self.isr
    }

    pub fn replicas(&self) -> &[BrokerId] {
        &self.replicas
    }

    pub fn high_watermark(&self) -> u64 {
        self.log.high_watermark()
    }

    /// What happened since the last call, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// A clean shutdown: the log flushed and the high watermark
    /// checkpointed. Produces still waiting get no answer: their
    /// connections close with the broker.
    pub fn close(self) -> Result<(), LogError> {
        self.log.close()
    }

    /// Applies a controller decision. Stale ones (an older leader epoch, or
    /// an older ISR version in the same epoch) are ignored, as in Kafka.
    pub fn leader_and_isr(&mut self, decision: LeaderAndIsr, now_ms: u64) -> Result<(), LogError> {
        if decision.leader_epoch < self.leader_epoch {
            return Ok(());
        }
        let same_epoch = decision.leader_epoch == self.leader_epoch;
        if same_epoch && decision.partition_epoch <= self.partition_epoch {
            return Ok(());
        }
        let was = self.role;
        self.leader_epoch = decision.leader_epoch;
        if !(same_epoch && self.has(Bug::IsrChangeKeepsEpoch)) {
            self.partition_epoch = decision.partition_epoch;
        }
        self.isr = decision.isr;
        self.replicas = decision.replicas;
        if decision.leader == self.me {
            if same_epoch && was == Role::Leader {
                // The controller changed the ISR of this leadership.
                if let Some(l) = &mut self.leadership {
                    l.pending_isr = None;
                }
            } else {
                self.become_leader(now_ms)?;
            }
            self.advance_high_watermark()?;
        } else if !(same_epoch
            && was
                == (Role::Follower {
                    leader: decision.leader,
                }))
        {
            self.become_follower(decision.leader)?;
        }
        Ok(())
    }

    fn become_leader(&mut self, now_ms: u64) -> Result<(), LogError> {
        self.fail_waiting(PartitionError::NotLeaderOrFollower);
        self.role = Role::Leader;
        self.log.assign_epoch(self.leader_epoch)?;
        let followers = self
            .replicas
            .iter()
            .filter(|&&r| r != self.me)
            .map(|&r| {
                // Kafka resets ISR members as caught up now, so that a new
                // leader does not shrink the ISR before anyone could fetch.
                let caught_up = if self.isr.contains(&r) { now_ms } else { 0 };
                (
                    r,
                    FollowerState {
                        last_caught_up_ms: caught_up,
                        ..FollowerState::default()
                    },
                )
            })
            .collect();
        self.leadership = Some(Leadership {
            followers,
            pending_isr: None,
            epoch_start_offset: self.log.log_end_offset(),
            waiting: Vec::new(),
        });
        Ok(())
    }

    fn become_follower(&mut self, leader: BrokerId) -> Result<(), LogError> {
        self.fail_waiting(PartitionError::NotLeaderOrFollower);
        self.role = Role::Follower { leader };
        self.leadership = None;
        if self.config.truncation == Truncation::HighWatermark
            || self.has(Bug::TruncateToHighWatermark)
        {
            // Before KIP-101: whatever is above the follower's high
            // watermark may not be on the new leader, so it goes, and the
            // high watermark may lag the leader's: committed data can go.
            let hw = self.log.high_watermark();
            self.truncate_to(hw)?;
        }
        Ok(())
    }

    fn fail_waiting(&mut self, error: PartitionError) {
        if let Some(l) = &mut self.leadership {
            for w in l.waiting.drain(..) {
                self.effects.push(Effect::ProduceDone {
                    request: w.request,
                    result: Err(error.clone()),
                });
            }
        }
    }

    fn check_leader(&self, epoch: Option<i32>) -> Result<(), PartitionError> {
        if self.role != Role::Leader {
            return Err(PartitionError::NotLeaderOrFollower);
        }
        match epoch {
            Some(e) if e < self.leader_epoch => Err(PartitionError::FencedLeaderEpoch),
            Some(e) if e > self.leader_epoch => Err(PartitionError::UnknownLeaderEpoch),
            _ => Ok(()),
        }
    }

    /// A produce request's batches for this partition. `Ok(Some(_))` is
    /// the answer now; `Ok(None)` means an acks=all produce waits for the
    /// high watermark and is answered by an [`Effect::ProduceDone`] (or
    /// times out at `now_ms + timeout_ms`). With acks=0 the caller sends
    /// nothing back whatever this returns.
    pub fn produce(
        &mut self,
        request: u64,
        acks: Acks,
        batches: &mut [u8],
        timeout_ms: u64,
        now_ms: u64,
    ) -> Result<Option<Produced>, PartitionError> {
        self.check_leader(None)?;
        let too_few = self.isr.len() < self.config.min_insync_replicas;
        if acks == Acks::All && too_few && !self.has(Bug::AcksAllBelowMinIsr) {
            return Err(PartitionError::NotEnoughReplicas);
        }
        let header = self.admit(batches)?;
        let admission = self.producers.admit(&header);
        if admission != Admission::Append {
            // Kafka checks a batch before its producer's sequence: a
            // corrupt retry is refused, never answered as a duplicate. An
            // append is checked by the log, once.
            batch::validate(batches, self.log.config().max_batch_size())
                .map_err(|e| PartitionError::CorruptMessage(e.to_string()))?;
        }
        let produced = match admission {
            Admission::Append => {
                let appended = self
                    .log
                    .append_as_leader(batches, self.leader_epoch, now_ms)?;
                let first = batch::header(batches, u32::MAX)
                    .map_err(|e| PartitionError::CorruptMessage(e.to_string()))?;
                self.producers.record(&first);
                Produced {
                    base_offset: appended.first_offset,
                    last_offset: appended.last_offset,
                    log_start_offset: self.log.log_start_offset(),
                }
            }
            Admission::Duplicate {
                first_offset,
                last_offset,
            } => Produced {
                base_offset: first_offset,
                last_offset,
                log_start_offset: self.log.log_start_offset(),
            },
            Admission::Fenced => return Err(PartitionError::InvalidProducerEpoch),
            Admission::OutOfOrder { .. } => return Err(PartitionError::OutOfOrderSequenceNumber),
        };
        self.advance_high_watermark()?;
        if acks != Acks::All || produced.last_offset < self.log.high_watermark() {
            return Ok(Some(produced));
        }
        let l = self.leadership.as_mut().expect("a leader has a leadership");
        l.waiting.push(Waiting {
            request,
            produced,
            deadline_ms: now_ms.saturating_add(timeout_ms),
        });
        Ok(None)
    }

    /// Kafka's producer sends one batch per partition per request; so does
    /// this broker accept. Returns its header; the CRC is left to whoever
    /// reads the records (the log, when it appends).
    fn admit(&self, batches: &[u8]) -> Result<BatchHeader, PartitionError> {
        let max = self.log.config().max_batch_size();
        let header = batch::header(batches, max)
            .map_err(|e| PartitionError::CorruptMessage(e.to_string()))?;
        if header.size as usize != batches.len() {
            return Err(PartitionError::CorruptMessage(
                "a produce carries one record batch per partition".into(),
            ));
        }
        // Kafka's LogValidator: the offsets a batch takes are its records.
        if header.records == 0 || header.records != header.last_offset_delta + 1 {
            return Err(PartitionError::CorruptMessage(format!(
                "a batch of {} records spanning {} offsets",
                header.records,
                header.offsets()
            )));
        }
        Ok(header)
    }

    /// A follower's fetch, at the leader: its position updates the
    /// leader's view (and maybe the ISR and the high watermark), and the
    /// answer holds records up to the log end, the high watermark, or where
    /// the follower's log diverges.
    pub fn fetch_from_follower<'b>(
        &mut self,
        follower: BrokerId,
        fetch: &ReplicaFetch,
        buf: &'b mut Vec<u8>,
        now_ms: u64,
    ) -> Result<FetchAnswer<'b>, PartitionError> {
        if let Some(refused) = self.refuse_fetch(follower, fetch)? {
            return Ok(refused);
        }
        self.follower_fetched(follower, fetch.fetch_offset, now_ms);
        self.advance_high_watermark()?;
        self.read_for_follower(fetch, buf)
    }

    /// The answer to a follower's fetch that waited at the leader (Kafka's
    /// `DelayedFetch` completing): read again, without counting the fetch
    /// a second time.
    pub fn complete_parked_fetch<'b>(
        &self,
        follower: BrokerId,
        fetch: &ReplicaFetch,
        buf: &'b mut Vec<u8>,
    ) -> Result<FetchAnswer<'b>, PartitionError> {
        if let Some(refused) = self.refuse_fetch(follower, fetch)? {
            return Ok(refused);
        }
        self.read_for_follower(fetch, buf)
    }

    /// The answers that carry no records: a fenced or misdirected fetch
    /// (an error), a diverging log (KIP-320), an offset out of range.
    fn refuse_fetch(
        &self,
        follower: BrokerId,
        fetch: &ReplicaFetch,
    ) -> Result<Option<FetchAnswer<'static>>, PartitionError> {
        self.check_leader(Some(fetch.leader_epoch))?;
        if !self.replicas.contains(&follower) || follower == self.me {
            return Err(PartitionError::NotLeaderOrFollower);
        }
        let (start, end) = (self.log.log_start_offset(), self.log.log_end_offset());
        if self.config.truncation == Truncation::LeaderEpoch {
            if let Some(last_epoch) = fetch.last_fetched_epoch.filter(|_| fetch.fetch_offset > 0) {
                let diverging = match self.log.end_offset_for_epoch(last_epoch) {
                    Some((epoch, end_offset))
                        if epoch == last_epoch && end_offset >= fetch.fetch_offset =>
                    {
                        None
                    }
                    Some((epoch, end_offset)) => Some((epoch, end_offset)),
                    None => Some((-1, start)),
                };
                if let Some((epoch, end_offset)) = diverging {
                    return Ok(Some(FetchAnswer::Diverging { epoch, end_offset }));
                }
            }
        }
        if fetch.fetch_offset < start || fetch.fetch_offset > end {
            return Ok(Some(FetchAnswer::OutOfRange {
                log_start_offset: start,
                log_end_offset: end,
            }));
        }
        Ok(None)
    }

    fn read_for_follower<'b>(
        &self,
        fetch: &ReplicaFetch,
        buf: &'b mut Vec<u8>,
    ) -> Result<FetchAnswer<'b>, PartitionError> {
        let fetched = self
            .log
            .read(fetch.fetch_offset, fetch.max_bytes, u64::MAX, buf)?;
        Ok(FetchAnswer::Records {
            records: fetched.records,
            high_watermark: self.log.high_watermark(),
            log_start_offset: self.log.log_start_offset(),
        })
    }

    /// Kafka's `updateFollowerFetchState` and `maybeExpandIsr`.
    fn follower_fetched(&mut self, follower: BrokerId, offset: u64, now_ms: u64) {
        let leader_end = self.log.log_end_offset();
        let hw = self.log.high_watermark();
        let (leader_epoch, partition_epoch) = (self.leader_epoch, self.partition_epoch);
        let Some(l) = &mut self.leadership else {
            return;
        };
        let state = l.followers.entry(follower).or_default();
        if offset >= leader_end {
            state.last_caught_up_ms = state.last_caught_up_ms.max(now_ms);
        } else if offset >= state.leader_end_at_last_fetch {
            state.last_caught_up_ms = state.last_caught_up_ms.max(state.last_fetch_ms);
        }
        state.log_end_offset = Some(offset);
        state.last_fetch_ms = now_ms;
        state.leader_end_at_last_fetch = leader_end;
        let rejoins = !self.isr.contains(&follower)
            && l.pending_isr.is_none()
            && offset >= hw
            && offset >= l.epoch_start_offset;
        if rejoins {
            let mut isr = self.isr.clone();
            isr.insert(follower);
            l.pending_isr = Some(isr.clone());
            self.effects.push(Effect::AlterIsr {
                leader_epoch,
                partition_epoch,
                isr,
            });
        }
    }

    /// Kafka's `maybeIncrementLeaderHW`: the smallest log end offset over
    /// the maximal ISR (the ISR and a pending change together), forward only.
    fn advance_high_watermark(&mut self) -> Result<(), LogError> {
        let Some(l) = &self.leadership else {
            return Ok(());
        };
        let mut hw = self.log.log_end_offset();
        let maximal = self.isr.iter().chain(l.pending_isr.iter().flatten());
        for member in maximal.filter(|&&m| m != self.me) {
            match l.followers.get(member).and_then(|f| f.log_end_offset) {
                Some(leo) => hw = hw.min(leo),
                None if self.has(Bug::HighWatermarkBeforeIsr) => {}
                // A member that has not fetched in this epoch holds it.
                None => return Ok(()),
            }
        }
        if hw <= self.log.high_watermark() {
            return Ok(());
        }
        self.log.set_high_watermark(hw)?;
        let enough =
            self.isr.len() >= self.config.min_insync_replicas || self.has(Bug::AcksAllBelowMinIsr);
        let l = self.leadership.as_mut().expect("checked above");
        let (done, waiting): (Vec<Waiting>, Vec<Waiting>) = l
            .waiting
            .drain(..)
            .partition(|w| w.produced.last_offset < hw);
        l.waiting = waiting;
        for w in done {
            let result = if enough {
                Ok(w.produced)
            } else {
                Err(PartitionError::NotEnoughReplicasAfterAppend)
            };
            self.effects.push(Effect::ProduceDone {
                request: w.request,
                result,
            });
        }
        Ok(())
    }

    /// The fetch a follower sends next, or `None` if it follows no one.
    pub fn next_fetch(&self, max_bytes: usize) -> Option<ReplicaFetch> {
        let Role::Follower { leader } = self.role else {
            return None;
        };
        Some(ReplicaFetch {
            leader,
            leader_epoch: self.leader_epoch,
            fetch_offset: self.log.log_end_offset(),
            last_fetched_epoch: self.log.epochs().last().map(|&(epoch, _)| epoch),
            max_bytes,
        })
    }

    /// The leader's answer to this follower's fetch `sent`. An answer to a
    /// fetch of an earlier epoch or leader, or that no longer starts at the
    /// log end, is dropped: returns whether it was applied, which is when
    /// the follower fetches again.
    pub fn fetch_answered(
        &mut self,
        sent: &ReplicaFetch,
        answer: FetchAnswer,
        now_ms: u64,
    ) -> Result<bool, PartitionError> {
        let current = Role::Follower {
            leader: sent.leader,
        };
        if self.role != current || sent.leader_epoch != self.leader_epoch {
            return Ok(false);
        }
        // An answer to a fetch from a position this log has left (a late
        // or duplicated answer) could truncate again what was refetched.
        let here = (
            self.log.log_end_offset(),
            self.log.epochs().last().map(|&(epoch, _)| epoch),
        );
        if (sent.fetch_offset, sent.last_fetched_epoch) != here {
            return Ok(false);
        }
        match answer {
            FetchAnswer::Records {
                records,
                high_watermark,
                ..
            } => {
                if !records.is_empty() {
                    self.log.append_as_follower(records, now_ms)?;
                    for parsed in batch::Batches::new(records, u32::MAX) {
                        let (header, _) =
                            parsed.map_err(|e| PartitionError::CorruptMessage(e.to_string()))?;
                        self.producers.record(&header);
                    }
                }
                // Kafka sets a follower's high watermark from the leader's,
                // bounded by its own log end: it can move back after a
                // leader change, never past what this replica holds.
                let hw = high_watermark.min(self.log.log_end_offset());
                self.log
                    .set_high_watermark(hw.max(self.log.log_start_offset()))?;
            }
            FetchAnswer::Diverging { epoch, end_offset } => {
                // KIP-279: truncate to where both logs last agree on an epoch.
                let end = match self.log.end_offset_for_epoch(epoch) {
                    Some((mine, my_end)) if mine == epoch => my_end.min(end_offset),
                    Some((_, my_end)) => my_end,
                    None => end_offset,
                };
                self.truncate_to(end)?;
            }
            FetchAnswer::OutOfRange {
                log_start_offset,
                log_end_offset,
            } => {
                if self.log.log_end_offset() > log_end_offset {
                    self.truncate_to(log_end_offset)?;
                } else if self.log.log_end_offset() < log_start_offset {
                    self.log.truncate_fully_and_start_at(log_start_offset)?;
                    self.producers = Producers::default();
                }
            }
        }
        Ok(true)
    }

    fn truncate_to(&mut self, offset: u64) -> Result<(), LogError> {
        let end = self.log.log_end_offset();
        // Even at or past the log end: the log drops an epoch it holds no
        // batch of (Kafka's truncateTo).
        self.log
            .truncate_to(offset.max(self.log.log_start_offset()))?;
        if offset < end {
            self.rebuild_producers()?;
        }
        Ok(())
    }

    /// Reads every batch header of the log into the producer state.
    fn rebuild_producers(&mut self) -> Result<(), LogError> {
        let mut producers = Producers::default();
        let mut buf = Vec::new();
        let mut next = self.log.log_start_offset();
        let end = self.log.log_end_offset();
        while next < end {
            let fetched = self.log.read(next, 1 << 20, u64::MAX, &mut buf)?;
            for (header, _) in batch::Batches::new(fetched.records, u32::MAX).map_while(Result::ok)
            {
                producers.record(&header);
            }
            // A read that returns nothing would return nothing again.
            if fetched.next_offset <= next {
                break;
            }
            next = fetched.next_offset;
        }
        self.producers = producers;
        Ok(())
    }

    /// A consumer's fetch: committed records only, from the leader.
    pub fn fetch_for_consumer<'b>(
        &self,
        offset: u64,
        max_bytes: usize,
        leader_epoch: Option<i32>,
        buf: &'b mut Vec<u8>,
    ) -> Result<crate::log::Fetched<'b>, PartitionError> {
        self.check_leader(leader_epoch)?;
        Ok(self
            .log
            .read(offset, max_bytes, self.log.high_watermark(), buf)?)
    }

    /// ListOffsets: the earliest offset, or the latest a consumer may read.
    pub fn list_offset(&self, latest: bool) -> Result<u64, PartitionError> {
        self.check_leader(None)?;
        Ok(if latest {
            self.log.high_watermark()
        } else {
            self.log.log_start_offset()
        })
    }

    /// OffsetForLeaderEpoch, at the leader (KIP-101/279).
    pub fn end_offset_for_epoch(
        &self,
        current_leader_epoch: Option<i32>,
        epoch: i32,
    ) -> Result<Option<(i32, u64)>, PartitionError> {
        self.check_leader(current_leader_epoch)?;
        Ok(self.log.end_offset_for_epoch(epoch))
    }

    /// The controller's answer to an [`Effect::AlterIsr`]: accepted (the
    /// new ISR and its version) or refused.
    pub fn alter_isr_answered(
        &mut self,
        accepted: Option<(BTreeSet<BrokerId>, i32)>,
    ) -> Result<(), PartitionError> {
        let Some(l) = &mut self.leadership else {
            return Ok(());
        };
        l.pending_isr = None;
        if let Some((isr, partition_epoch)) = accepted {
            if partition_epoch > self.partition_epoch {
                self.isr = isr;
                self.partition_epoch = partition_epoch;
            }
        }
        Ok(self.advance_high_watermark()?)
    }

    /// Time passes: followers that lag too long leave the ISR (asked of the
    /// controller), acks=all produces past their deadline time out, the
    /// log flushes if due and the high watermark is checkpointed.
    pub fn tick(&mut self, now_ms: u64) -> Result<(), PartitionError> {
        self.shrink_isr(now_ms);
        if let Some(l) = &mut self.leadership {
            let (late, waiting): (Vec<Waiting>, Vec<Waiting>) =
                l.waiting.drain(..).partition(|w| w.deadline_ms <= now_ms);
            l.waiting = waiting;
            for w in late {
                self.effects.push(Effect::ProduceDone {
                    request: w.request,
                    result: Err(PartitionError::RequestTimedOut),
                });
            }
        }
        self.log.flush_if_due(now_ms)?;
        if now_ms.saturating_sub(self.last_checkpoint_ms)
            >= self.config.high_watermark_checkpoint_interval_ms
        {
            self.log.checkpoint_high_watermark()?;
            self.last_checkpoint_ms = now_ms;
        }
        Ok(())
    }

    /// Kafka's `maybeShrinkIsr`: a follower is out of sync when it is not at
    /// the log end and has not caught up for `replica.lag.time.max.ms`.
    fn shrink_isr(&mut self, now_ms: u64) {
        let leader_end = self.log.log_end_offset();
        let Some(l) = &mut self.leadership else {
            return;
        };
        if l.pending_isr.is_some() {
            return;
        }
        let lag = self.config.replica_lag_time_max_ms;
        let out_of_sync: Vec<BrokerId> = self
            .isr
            .iter()
            .filter(|&&r| r != self.me)
            .filter(|r| {
                let state = l.followers.get(r).copied().unwrap_or_default();
                state.log_end_offset != Some(leader_end)
                    && now_ms.saturating_sub(state.last_caught_up_ms) > lag
            })
            .copied()
            .collect();
        if out_of_sync.is_empty() {
            return;
        }
        let isr: BTreeSet<BrokerId> = self
            .isr
            .iter()
            .filter(|r| !out_of_sync.contains(r))
            .copied()
            .collect();
        l.pending_isr = Some(isr.clone());
        self.effects.push(Effect::AlterIsr {
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            isr,
        });
    }
}
