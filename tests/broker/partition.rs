use crate::kafka::{batch, batch_from, read_all, records};
use kafka_oracle::broker::partition::{
    Acks, BrokerId, Effect, FetchAnswer, LeaderAndIsr, Partition, PartitionError, Produced,
    ReplicationConfig, Role, Truncation,
};
use kafka_oracle::log::{Log, LogConfig};
use std::collections::BTreeSet;
use tempfile::TempDir;

const MAX: usize = 1 << 20;

/// Three replicas, brokers 1, 2 and 3, each with its own directory.
struct Cluster {
    dirs: Vec<TempDir>,
    replicas: Vec<Option<Partition>>,
    config: ReplicationConfig,
    now: u64,
}

fn isr(members: &[BrokerId]) -> BTreeSet<BrokerId> {
    members.iter().copied().collect()
}

fn value(i: usize) -> Vec<u8> {
    format!("m{i}").into_bytes()
}

impl Cluster {
    fn new(config: ReplicationConfig) -> Self {
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut cluster = Cluster {
            replicas: Vec::new(),
            dirs,
            config,
            now: 1_000,
        };
        for id in 1..=3 {
            let p = cluster.open(id);
            cluster.replicas.push(Some(p));
        }
        cluster
    }

    fn open(&self, id: BrokerId) -> Partition {
        let dir = self.dirs[id as usize - 1].path();
        Partition::open(id, dir, LogConfig::default(), self.config.clone()).unwrap()
    }

    fn get(&mut self, id: BrokerId) -> &mut Partition {
        self.replicas[id as usize - 1]
            .as_mut()
            .expect("replica is up")
    }

    /// The controller's decision, delivered to every live replica.
    fn elect(&mut self, leader: BrokerId, epoch: i32, members: &[BrokerId], partition_epoch: i32) {
        let now = self.now;
        for p in self.replicas.iter_mut().flatten() {
            p.leader_and_isr(
                LeaderAndIsr {
                    leader,
                    leader_epoch: epoch,
                    isr: isr(members),
                    partition_epoch,
                    replicas: vec![1, 2, 3],
                },
                now,
            )
            .unwrap();
        }
    }

    fn produce(
        &mut self,
        leader: BrokerId,
        acks: Acks,
        from: usize,
        n: usize,
    ) -> Result<Option<Produced>, PartitionError> {
        let values: Vec<Vec<u8>> = (from..from + n).map(value).collect();
        let now = self.now;
        self.get(leader)
            .produce(from as u64, acks, &mut batch(&values, 0), 30_000, now)
    }

    /// One fetch round trip from `follower` to its leader.
    fn fetch(&mut self, follower: BrokerId) {
        let sent = self.get(follower).next_fetch(MAX).expect("a follower");
        let now = self.now;
        let mut buf = Vec::new();
        let mut leader = self.replicas[sent.leader as usize - 1]
            .take()
            .expect("leader up");
        let answer = leader.fetch_from_follower(follower, &sent, &mut buf, now);
        self.replicas[sent.leader as usize - 1] = Some(leader);
        let answer = answer.expect("the leader answers");
        self.get(follower)
            .fetch_answered(&sent, answer, now)
            .unwrap();
    }

    /// The leader handles `follower`'s fetch, but the answer never arrives.
    fn fetch_lost(&mut self, follower: BrokerId) {
        let sent = self.get(follower).next_fetch(MAX).expect("a follower");
        let now = self.now;
        let mut buf = Vec::new();
        self.get(sent.leader)
            .fetch_from_follower(follower, &sent, &mut buf, now)
            .expect("the leader answers");
    }

    fn crash(&mut self, id: BrokerId) {
        self.replicas[id as usize - 1] = None;
    }

    fn restart(&mut self, id: BrokerId) {
        let p = self.open(id);
        self.replicas[id as usize - 1] = Some(p);
    }

    fn values(&mut self, id: BrokerId) -> Vec<Vec<u8>> {
        read_all(self.get(id).log(), 0, u64::MAX, MAX)
            .into_iter()
            .map(|r| r.2)
            .collect()
    }
}

fn acks_all(min_insync: usize) -> ReplicationConfig {
    ReplicationConfig {
        min_insync_replicas: min_insync,
        ..ReplicationConfig::default()
    }
}

#[test]
fn a_leader_appends_followers_fetch_and_the_high_watermark_follows_the_isr() {
    let mut c = Cluster::new(acks_all(2));
    c.elect(1, 1, &[1, 2, 3], 1);
    assert_eq!(c.get(1).role(), Role::Leader);
    assert_eq!(c.get(2).role(), Role::Follower { leader: 1 });
    let produced = c.produce(1, Acks::Leader, 0, 3).unwrap().unwrap();
    assert_eq!((produced.base_offset, produced.last_offset), (0, 2));
    assert_eq!(c.get(1).high_watermark(), 0, "nobody else has it");
    c.fetch(2);
    c.fetch(3);
    assert_eq!(c.values(2), c.values(1));
    assert_eq!(
        c.get(1).high_watermark(),
        0,
        "the followers' positions arrive with their next fetch"
    );
    c.fetch(2);
    assert_eq!(c.get(1).high_watermark(), 0, "3 holds it back");
    c.fetch(3);
    assert_eq!(c.get(1).high_watermark(), 3);
    c.fetch(2);
    assert_eq!(
        c.get(2).high_watermark(),
        3,
        "followers learn it from the leader"
    );
    let mut buf = Vec::new();
    let fetched = c.get(1).fetch_for_consumer(0, MAX, None, &mut buf).unwrap();
    assert_eq!(records(fetched.records).len(), 3);
    assert_eq!(c.get(1).list_offset(true).unwrap(), 3);
    assert_eq!(
        c.get(2)
            .fetch_for_consumer(0, MAX, None, &mut buf)
            .unwrap_err(),
        PartitionError::NotLeaderOrFollower
    );
}

#[test]
fn consumers_read_only_below_the_high_watermark() {
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1, 2, 3], 1);
    c.produce(1, Acks::Leader, 0, 2).unwrap();
    let mut buf = Vec::new();
    assert!(c
        .get(1)
        .fetch_for_consumer(0, MAX, None, &mut buf)
        .unwrap()
        .records
        .is_empty());
    c.fetch(2);
    c.fetch(3);
    c.fetch(2);
    c.fetch(3);
    assert_eq!(
        records(
            c.get(1)
                .fetch_for_consumer(0, MAX, None, &mut buf)
                .unwrap()
                .records
        )
        .len(),
        2
    );
}

#[test]
fn acks_all_waits_for_the_isr_and_is_refused_below_min_insync() {
    let mut c = Cluster::new(acks_all(2));
    c.elect(1, 1, &[1, 2, 3], 1);
    assert_eq!(c.produce(1, Acks::All, 0, 1).unwrap(), None, "waits");
    c.fetch(2);
    c.fetch(3);
    assert!(c.get(1).take_effects().is_empty());
    c.fetch(2);
    c.fetch(3);
    let effects = c.get(1).take_effects();
    assert!(
        matches!(&effects[..], [Effect::ProduceDone { request: 0, result: Ok(p) }] if p.base_offset == 0),
        "{effects:?}"
    );

    // The controller shrank the ISR to the leader alone.
    c.elect(1, 1, &[1], 2);
    assert_eq!(
        c.produce(1, Acks::All, 1, 1),
        Err(PartitionError::NotEnoughReplicas)
    );
    assert_eq!(
        c.get(1).log().log_end_offset(),
        1,
        "refused before the append"
    );
    assert!(
        c.produce(1, Acks::Leader, 1, 1).unwrap().is_some(),
        "acks=1 still goes"
    );
}

#[test]
fn an_isr_shrunk_below_min_insync_after_the_append_answers_not_enough_replicas_after_append() {
    let mut c = Cluster::new(acks_all(2));
    c.elect(1, 1, &[1, 2], 1);
    assert_eq!(c.produce(1, Acks::All, 0, 1).unwrap(), None);
    // Before 2 fetches, the controller takes it out of the ISR.
    c.elect(1, 1, &[1], 2);
    let effects = c.get(1).take_effects();
    assert_eq!(
        effects,
        vec![Effect::ProduceDone {
            request: 0,
            result: Err(PartitionError::NotEnoughReplicasAfterAppend)
        }]
    );
}

#[test]
fn a_lagging_follower_leaves_the_isr_through_the_controller_and_holds_the_high_watermark_until_then(
) {
    let config = ReplicationConfig {
        replica_lag_time_max_ms: 100,
        ..acks_all(1)
    };
    let mut c = Cluster::new(config);
    c.elect(1, 1, &[1, 2, 3], 1);
    c.produce(1, Acks::Leader, 0, 1).unwrap();
    c.fetch(2);
    c.fetch(2);
    c.now += 101;
    let now = c.now;
    c.get(1).tick(now).unwrap();
    let effects = c.get(1).take_effects();
    assert_eq!(
        effects,
        vec![Effect::AlterIsr {
            leader_epoch: 1,
            partition_epoch: 1,
            isr: isr(&[1, 2])
        }],
        "3 never fetched: out of sync; 2 is at the log end"
    );
    assert_eq!(
        c.get(1).high_watermark(),
        0,
        "the maximal ISR still holds 3 until the controller answers"
    );
    c.get(1)
        .alter_isr_answered(Some((isr(&[1, 2]), 2)))
        .unwrap();
    assert_eq!(c.get(1).isr(), &isr(&[1, 2]));
    assert_eq!(c.get(1).high_watermark(), 1);
}

#[test]
fn a_follower_that_catches_up_rejoins_the_isr() {
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1, 2], 1);
    c.produce(1, Acks::Leader, 0, 2).unwrap();
    c.fetch(2);
    c.fetch(2);
    assert_eq!(c.get(1).high_watermark(), 2);
    assert!(c.get(1).take_effects().is_empty());
    c.fetch(3);
    assert!(
        c.get(1).take_effects().is_empty(),
        "3 fetched from 0, below the high watermark"
    );
    c.fetch(3);
    let effects = c.get(1).take_effects();
    assert_eq!(
        effects,
        vec![Effect::AlterIsr {
            leader_epoch: 1,
            partition_epoch: 1,
            isr: isr(&[1, 2, 3])
        }]
    );
    c.elect(1, 1, &[1, 2, 3], 2);
    assert_eq!(c.get(1).isr(), &isr(&[1, 2, 3]));
}

#[test]
fn stale_decisions_are_ignored_and_stale_fetches_fenced() {
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 2, &[1, 2, 3], 5);
    c.elect(2, 1, &[2], 9);
    assert_eq!(
        c.get(1).role(),
        Role::Leader,
        "an older leader epoch changes nothing"
    );
    c.elect(1, 2, &[1], 4);
    assert_eq!(
        c.get(1).isr(),
        &isr(&[1, 2, 3]),
        "an older ISR version changes nothing"
    );
    let mut sent = c.get(2).next_fetch(MAX).unwrap();
    let mut buf = Vec::new();
    sent.leader_epoch = 1;
    assert_eq!(
        c.get(1)
            .fetch_from_follower(2, &sent, &mut buf, 0)
            .unwrap_err(),
        PartitionError::FencedLeaderEpoch
    );
    sent.leader_epoch = 3;
    assert_eq!(
        c.get(1)
            .fetch_from_follower(2, &sent, &mut buf, 0)
            .unwrap_err(),
        PartitionError::UnknownLeaderEpoch
    );
    assert_eq!(
        c.produce(2, Acks::Leader, 0, 1),
        Err(PartitionError::NotLeaderOrFollower)
    );
}

#[test]
fn a_leader_change_fails_the_produces_that_wait() {
    let mut c = Cluster::new(acks_all(2));
    c.elect(1, 1, &[1, 2, 3], 1);
    assert_eq!(c.produce(1, Acks::All, 0, 1).unwrap(), None);
    c.elect(2, 2, &[2, 3], 2);
    assert_eq!(c.get(1).role(), Role::Follower { leader: 2 });
    assert_eq!(
        c.get(1).take_effects(),
        vec![Effect::ProduceDone {
            request: 0,
            result: Err(PartitionError::NotLeaderOrFollower)
        }]
    );
}

#[test]
fn an_acks_all_produce_times_out() {
    let mut c = Cluster::new(acks_all(2));
    c.elect(1, 1, &[1, 2], 1);
    assert_eq!(c.produce(1, Acks::All, 0, 1).unwrap(), None);
    c.get(1).tick(1_000 + 29_999).unwrap();
    assert!(c.get(1).take_effects().is_empty());
    c.get(1).tick(1_000 + 30_000).unwrap();
    assert_eq!(
        c.get(1).take_effects(),
        vec![Effect::ProduceDone {
            request: 0,
            result: Err(PartitionError::RequestTimedOut)
        }]
    );
}

/// Leader 1 writes 0..2 in epoch 1 (committed on 1 and 2) and then 2..4
/// that only it holds. 2 becomes leader in epoch 2 and writes 2..3; when 1
/// comes back as a follower its 2..4 diverge and must go, 0..2 stay.
fn diverged(truncation: Truncation) -> Cluster {
    let mut c = Cluster::new(ReplicationConfig {
        truncation,
        ..acks_all(1)
    });
    c.elect(1, 1, &[1, 2], 1);
    c.produce(1, Acks::Leader, 0, 2).unwrap();
    c.fetch(2);
    c.fetch(2);
    c.produce(1, Acks::Leader, 100, 2).unwrap();
    c.get(1).tick(10_000).unwrap(); // checkpoints its high watermark, 2
    c.crash(1);
    c.elect(2, 2, &[2], 2);
    c.produce(2, Acks::Leader, 200, 1).unwrap();
    c.restart(1);
    c.elect(2, 2, &[2], 2);
    c
}

#[test]
fn a_follower_truncates_where_its_log_diverges_by_leader_epoch() {
    let mut c = diverged(Truncation::LeaderEpoch);
    assert_eq!(c.get(1).role(), Role::Follower { leader: 2 });
    assert_eq!(c.get(1).log().log_end_offset(), 4);
    // What OffsetForLeaderEpoch answers: the leader's epoch 1 ends where
    // its epoch 2 starts; its epoch 2 is the current one, ending at its
    // log end. Only the leader answers, and only in its epoch.
    let leader = c.get(2);
    assert_eq!(leader.end_offset_for_epoch(Some(2), 1), Ok(Some((1, 2))));
    assert_eq!(leader.end_offset_for_epoch(None, 2), Ok(Some((2, 3))));
    assert_eq!(
        leader.end_offset_for_epoch(Some(1), 1),
        Err(PartitionError::FencedLeaderEpoch)
    );
    assert_eq!(
        c.get(1).end_offset_for_epoch(None, 1),
        Err(PartitionError::NotLeaderOrFollower)
    );
    let sent = c.get(1).next_fetch(MAX).unwrap();
    assert_eq!(sent.last_fetched_epoch, Some(1));
    let mut buf = Vec::new();
    let answer = c.get(2).fetch_from_follower(1, &sent, &mut buf, 0).unwrap();
    assert_eq!(
        answer,
        FetchAnswer::Diverging {
            epoch: 1,
            end_offset: 2
        }
    );
    c.fetch(1);
    assert_eq!(
        c.get(1).log().log_end_offset(),
        2,
        "only the divergent suffix goes"
    );
    c.fetch(1);
    assert_eq!(c.values(1), vec![value(0), value(1), value(200)]);
    assert_eq!(c.values(1), c.values(2));
}

#[test]
fn before_kip_101_a_follower_truncates_to_its_high_watermark() {
    let mut c = diverged(Truncation::HighWatermark);
    // 1's high watermark was 2 (it led): truncated at once on following.
    assert_eq!(c.get(1).log().log_end_offset(), 2);
    c.fetch(1);
    assert_eq!(c.values(1), c.values(2));
}

/// KIP-101's example: the follower's high watermark lags the leader's, so
/// truncating to it on a restart drops a committed message, and if the
/// leader then dies the message is gone. By leader epoch it stays.
fn restart_then_leader_dies(truncation: Truncation) -> Cluster {
    let mut c = Cluster::new(ReplicationConfig {
        truncation,
        ..acks_all(2)
    });
    c.elect(1, 1, &[1, 2], 1);
    assert_eq!(c.produce(1, Acks::All, 0, 1).unwrap(), None);
    c.fetch(2); // 2 has the message, its high watermark is 0
    c.fetch_lost(2); // the leader's high watermark moves to 1: acknowledged
    let acked = c.get(1).take_effects();
    assert!(matches!(
        &acked[..],
        [Effect::ProduceDone { result: Ok(_), .. }]
    ));
    // 2 crashes before the answer carrying the new high watermark arrives.
    assert_eq!(c.get(2).high_watermark(), 0);
    c.crash(2);
    c.restart(2);
    c.elect(1, 1, &[1, 2], 2); // 2 follows again
    c.crash(1);
    c.elect(2, 2, &[2], 3);
    c
}

#[test]
fn the_pre_kip_101_truncation_loses_an_acknowledged_message() {
    let mut c = restart_then_leader_dies(Truncation::HighWatermark);
    assert_eq!(c.get(2).role(), Role::Leader);
    assert!(c.values(2).is_empty(), "the acknowledged message is lost");
}

#[test]
fn truncation_by_leader_epoch_keeps_the_acknowledged_message() {
    let mut c = restart_then_leader_dies(Truncation::LeaderEpoch);
    assert_eq!(c.values(2), vec![value(0)]);
}

#[test]
fn a_follower_ahead_of_its_new_leader_truncates_to_the_leaders_end() {
    let mut c = Cluster::new(ReplicationConfig {
        truncation: Truncation::HighWatermark,
        ..acks_all(1)
    });
    c.elect(1, 1, &[1, 2], 1);
    c.produce(1, Acks::Leader, 0, 1).unwrap();
    c.fetch(2);
    c.fetch(2);
    c.produce(1, Acks::Leader, 1, 2).unwrap();
    c.fetch(2); // 2 holds 0..3 with high watermark 1
                // 3, empty and never in sync, becomes leader uncleanly.
    c.elect(3, 2, &[3], 2);
    assert_eq!(
        c.get(2).log().log_end_offset(),
        1,
        "truncated to its high watermark"
    );
    let sent = c.get(2).next_fetch(MAX).unwrap();
    let mut buf = Vec::new();
    let answer = c.get(3).fetch_from_follower(2, &sent, &mut buf, 0).unwrap();
    assert_eq!(
        answer,
        FetchAnswer::OutOfRange {
            log_start_offset: 0,
            log_end_offset: 0
        }
    );
    c.fetch(2);
    assert_eq!(
        c.get(2).log().log_end_offset(),
        0,
        "to the leader's end: the unclean election's loss"
    );
    c.produce(3, Acks::Leader, 300, 1).unwrap();
    c.fetch(2);
    assert_eq!(c.values(2), vec![value(300)]);
}

#[test]
fn an_idempotent_retry_is_not_written_twice_and_survives_a_leader_change() {
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1, 2], 1);
    let first = batch_from(&[value(0), value(1)], 0, Some((7, 0, 0)));
    let produced = c
        .get(1)
        .produce(0, Acks::Leader, &mut first.clone(), 1000, 0)
        .unwrap()
        .unwrap();
    let again = c
        .get(1)
        .produce(1, Acks::Leader, &mut first.clone(), 1000, 0)
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.base_offset, again.last_offset),
        (produced.base_offset, produced.last_offset)
    );
    assert_eq!(c.get(1).log().log_end_offset(), 2, "written once");
    let gap = batch_from(&[value(5)], 0, Some((7, 0, 5)));
    assert_eq!(
        c.get(1).produce(2, Acks::Leader, &mut gap.clone(), 1000, 0),
        Err(PartitionError::OutOfOrderSequenceNumber)
    );
    let next = batch_from(&[value(2)], 0, Some((7, 0, 2)));
    c.get(1)
        .produce(3, Acks::Leader, &mut next.clone(), 1000, 0)
        .unwrap();
    let newer_epoch = batch_from(&[value(9)], 0, Some((7, 1, 0)));
    c.get(1)
        .produce(4, Acks::Leader, &mut newer_epoch.clone(), 1000, 0)
        .unwrap();
    let fenced = batch_from(&[value(3)], 0, Some((7, 0, 3)));
    assert_eq!(
        c.get(1)
            .produce(5, Acks::Leader, &mut fenced.clone(), 1000, 0),
        Err(PartitionError::InvalidProducerEpoch)
    );
    // The follower learns the producer from the log, as a new leader must.
    c.fetch(2);
    c.elect(2, 2, &[2], 2);
    let retry = c
        .get(2)
        .produce(6, Acks::Leader, &mut newer_epoch.clone(), 1000, 0)
        .unwrap()
        .unwrap();
    assert_eq!(retry.base_offset, 3, "recognised on the new leader");
    // And after a restart, from the log on disk.
    c.crash(2);
    c.restart(2);
    c.elect(2, 3, &[2], 3);
    let retry = c
        .get(2)
        .produce(7, Acks::Leader, &mut newer_epoch.clone(), 1000, 0)
        .unwrap()
        .unwrap();
    assert_eq!(retry.base_offset, 3, "recognised after a restart");
    assert_eq!(c.get(2).log().log_end_offset(), 4);
}

#[test]
fn a_restarted_replica_waits_for_the_controller_with_its_checkpointed_high_watermark() {
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1, 2], 1);
    c.produce(1, Acks::Leader, 0, 2).unwrap();
    c.fetch(2);
    c.fetch(2);
    c.get(1).tick(10_000).unwrap(); // checkpoints the high watermark
    c.crash(1);
    c.restart(1);
    assert_eq!(c.get(1).role(), Role::None);
    assert_eq!(c.get(1).high_watermark(), 2);
    assert_eq!(
        c.produce(1, Acks::Leader, 5, 1),
        Err(PartitionError::NotLeaderOrFollower)
    );
    assert!(c.get(1).next_fetch(MAX).is_none());
}

#[test]
fn a_produce_with_a_corrupt_batch_is_refused() {
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1], 1);
    let mut bytes = batch(&[value(0)], 0);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let err = c
        .get(1)
        .produce(0, Acks::Leader, &mut bytes, 1000, 0)
        .unwrap_err();
    assert!(
        matches!(err, PartitionError::CorruptMessage(ref why) if why.contains("CRC32C")),
        "{err:?}"
    );
    assert_eq!(err.code(), 2);
    let two = [batch(&[value(0)], 0), batch(&[value(1)], 0)].concat();
    assert!(matches!(
        c.get(1).produce(1, Acks::Leader, &mut two.clone(), 1000, 0),
        Err(PartitionError::CorruptMessage(_))
    ));
    assert_eq!(c.get(1).log().log_end_offset(), 0);
}

#[test]
fn a_batch_whose_record_count_disagrees_with_its_offsets_is_refused() {
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1], 1);
    let mut bytes = batch(&[value(0), value(1)], 0);
    // One record claimed, two offsets spanned; the CRC made right again.
    bytes[57..61].copy_from_slice(&1i32.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let err = c
        .get(1)
        .produce(0, Acks::Leader, &mut bytes, 1000, 0)
        .unwrap_err();
    assert!(
        matches!(err, PartitionError::CorruptMessage(ref why) if why.contains("1 records spanning 2 offsets")),
        "{err:?}"
    );
    assert_eq!(c.get(1).log().log_end_offset(), 0);
}

#[test]
fn a_fresh_replica_accepts_the_first_leader_epoch_and_reports_the_decision() {
    let mut c = Cluster::new(acks_all(1));
    assert_eq!(
        c.get(1).leader_epoch(),
        -1,
        "no epoch before the controller"
    );
    c.elect(1, 0, &[1, 2, 3], 0);
    assert_eq!(c.get(1).role(), Role::Leader);
    assert_eq!(c.get(2).role(), Role::Follower { leader: 1 });
    c.elect(1, 0, &[1, 2], 3);
    for id in 1..=3 {
        let p = c.get(id);
        assert_eq!(
            (p.leader_epoch(), p.partition_epoch()),
            (0, 3),
            "replica {id}"
        );
        assert_eq!(p.replicas(), &[1, 2, 3]);
    }
}

#[test]
fn a_clean_close_checkpoints_the_high_watermark() {
    let mut c = Cluster::new(ReplicationConfig {
        high_watermark_checkpoint_interval_ms: u64::MAX,
        ..acks_all(1)
    });
    c.elect(1, 1, &[1, 2], 1);
    c.produce(1, Acks::Leader, 0, 2).unwrap();
    c.fetch(2);
    c.fetch(2);
    assert_eq!(c.get(1).high_watermark(), 2);
    let leader = c.replicas[0].take().expect("up");
    leader.close().unwrap();
    c.restart(1);
    assert_eq!(c.get(1).high_watermark(), 2, "checkpointed at close");
}

#[test]
fn an_idempotent_producer_retrying_any_of_its_last_five_batches_is_answered_without_a_write() {
    // Kafka keeps five batches per producer: what a producer with
    // max.in.flight.requests.per.connection=5 may have to retry.
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1], 1);
    let batches: Vec<_> = (0..6)
        .map(|i| batch_from(&[value(i)], 0, Some((7, 0, i as i32))))
        .collect();
    for (i, b) in batches.iter().enumerate() {
        c.get(1)
            .produce(i as u64, Acks::Leader, &mut b.clone(), 1000, 0)
            .unwrap();
    }
    for (i, b) in batches.iter().enumerate().skip(1) {
        let retry = c
            .get(1)
            .produce(10 + i as u64, Acks::Leader, &mut b.clone(), 1000, 0)
            .unwrap()
            .unwrap();
        assert_eq!(retry.base_offset, i as u64, "batch {i} remembered");
    }
    assert_eq!(c.get(1).log().log_end_offset(), 6, "nothing written twice");
    // A retry damaged on the way is refused, not taken for the duplicate.
    let mut damaged = batches[5].clone();
    *damaged.last_mut().expect("a record") ^= 0xff;
    assert!(matches!(
        c.get(1).produce(20, Acks::Leader, &mut damaged, 1000, 0),
        Err(PartitionError::CorruptMessage(_))
    ));
}

#[test]
fn a_restarted_leader_remembers_idempotent_batches_past_the_first_read_of_its_log() {
    // Rebuilding the producer state reads the log a megabyte at a time.
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1], 1);
    for i in 0..3 {
        let big = vec![b'x'; 600_000];
        c.get(1)
            .produce(i, Acks::Leader, &mut batch(&[big], 0), 1000, 0)
            .unwrap();
    }
    let idempotent = batch_from(&[value(9)], 0, Some((7, 0, 0)));
    c.get(1)
        .produce(3, Acks::Leader, &mut idempotent.clone(), 1000, 0)
        .unwrap();
    c.crash(1);
    c.restart(1);
    c.elect(1, 2, &[1], 2);
    let retry = c
        .get(1)
        .produce(4, Acks::Leader, &mut idempotent.clone(), 1000, 0)
        .unwrap()
        .unwrap();
    assert_eq!(retry.base_offset, 3, "recognised from the log on disk");
    assert_eq!(c.get(1).log().log_end_offset(), 4, "not written twice");
}

#[test]
fn a_fetch_from_a_broker_that_is_not_a_follower_is_refused_and_joins_no_isr() {
    // Kafka answers NOT_LEADER_OR_FOLLOWER to a fetch from a replica it
    // does not know ("unknown replica"), and from itself: only assigned
    // followers have a fetch state, count toward the high watermark, and
    // may be proposed for the ISR.
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1, 2], 1);
    let sent = c.get(2).next_fetch(MAX).unwrap();
    let now = c.now;
    let mut buf = Vec::new();
    for stranger in [4, 1] {
        assert_eq!(
            c.get(1).fetch_from_follower(stranger, &sent, &mut buf, now),
            Err(PartitionError::NotLeaderOrFollower),
            "broker {stranger}"
        );
    }
    assert!(
        c.get(1).take_effects().is_empty(),
        "no ISR change for a broker that is not a follower"
    );
}

#[test]
fn a_replica_that_led_an_epoch_without_writing_catches_up_from_an_empty_log() {
    // 1 leads epoch 2 without a write: its empty log still records that
    // epoch 2 starts at 0, and it fetches from 2 with that epoch. At offset
    // 0 there is nothing to diverge from (KIP-320): it must get the
    // records, not a divergence it cannot truncate.
    let mut c = Cluster::new(acks_all(1));
    c.elect(2, 1, &[1, 2], 1);
    c.produce(2, Acks::Leader, 0, 1).unwrap(); // 1 never fetches it
    c.elect(1, 2, &[1, 2], 2);
    c.elect(2, 3, &[1, 2], 3);
    let sent = c.get(1).next_fetch(MAX).unwrap();
    assert_eq!((sent.fetch_offset, sent.last_fetched_epoch), (0, Some(2)));
    let mut buf = Vec::new();
    let answer = c.get(2).fetch_from_follower(1, &sent, &mut buf, 0).unwrap();
    assert!(
        matches!(answer, FetchAnswer::Records { records, .. } if !records.is_empty()),
        "{answer:?}"
    );
    for _ in 0..4 {
        c.fetch(1);
    }
    assert_eq!(c.values(1), vec![value(0)]);
}

#[test]
fn a_follower_that_fetched_at_the_log_end_stays_in_sync_for_the_lag_time_after_that_fetch() {
    // Kafka's lastCaughtUpTimeMs: a fetch at the leader's log end makes the
    // follower caught up as of that fetch; replica.lag.time.max.ms counts
    // from there, not from an earlier fetch.
    let mut c = Cluster::new(ReplicationConfig {
        replica_lag_time_max_ms: 100,
        ..acks_all(1)
    });
    c.elect(1, 1, &[1, 2], 1);
    c.now += 90;
    c.fetch(2); // at the log end, 0
    let caught_up = c.now;
    c.produce(1, Acks::Leader, 0, 1).unwrap(); // 2 is behind now
    c.get(1).tick(caught_up + 100).unwrap();
    assert!(
        c.get(1).take_effects().is_empty(),
        "caught up {} ms ago",
        100
    );
    c.get(1).tick(caught_up + 101).unwrap();
    assert_eq!(
        c.get(1).take_effects(),
        vec![Effect::AlterIsr {
            leader_epoch: 1,
            partition_epoch: 1,
            isr: isr(&[1])
        }]
    );
}

#[test]
fn a_follower_that_reaches_the_log_end_of_its_previous_fetch_was_caught_up_at_that_fetch() {
    // Kafka's updateFetchState: a follower fetching from where the leader's
    // log ended at its previous fetch had caught up as of that previous
    // fetch, even if the leader has moved on since: a follower that keeps
    // up with a busy leader is never at its log end, yet stays in the ISR.
    let mut c = Cluster::new(ReplicationConfig {
        replica_lag_time_max_ms: 100,
        ..acks_all(1)
    });
    c.elect(1, 1, &[1, 2], 1);
    c.produce(1, Acks::Leader, 0, 1).unwrap();
    c.now += 50;
    c.fetch(2); // from 0; the leader's log ends at 1
    let previous = c.now;
    c.produce(1, Acks::Leader, 1, 1).unwrap();
    c.now += 70;
    c.fetch(2); // from 1, where the log ended at the previous fetch
    c.produce(1, Acks::Leader, 2, 1).unwrap();
    c.get(1).tick(previous + 100).unwrap();
    assert!(
        c.get(1).take_effects().is_empty(),
        "caught up at {previous}"
    );
    c.get(1).tick(previous + 101).unwrap();
    assert_eq!(
        c.get(1).take_effects(),
        vec![Effect::AlterIsr {
            leader_epoch: 1,
            partition_epoch: 1,
            isr: isr(&[1])
        }]
    );
}

#[test]
fn an_answer_to_a_fetch_of_an_earlier_epoch_is_dropped_even_from_the_same_leader() {
    // Kafka's fetcher drops a response whose partition has since changed
    // leader epoch: it describes the leader's log as it was in the old
    // epoch (a re-elected leader may have restarted and lost a tail), and
    // the follower refetches in the new epoch instead.
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1, 2], 1);
    c.produce(1, Acks::Leader, 0, 2).unwrap();
    let sent = c.get(2).next_fetch(MAX).unwrap();
    let now = c.now;
    let mut buf = Vec::new();
    let answer = c
        .get(1)
        .fetch_from_follower(2, &sent, &mut buf, now)
        .unwrap();
    c.elect(1, 2, &[1, 2], 2); // before the answer arrives
    assert_eq!(c.get(2).fetch_answered(&sent, answer, now), Ok(false));
    assert_eq!(c.get(2).log().log_end_offset(), 0, "nothing appended");
    c.fetch(2);
    assert_eq!(c.values(2), c.values(1));
}

#[test]
fn a_follower_whose_log_ends_below_the_leaders_log_start_starts_again_there() {
    // Kafka's handleOutOfRangeError: when the leader has deleted the
    // offsets a follower would fetch next (retention), the follower empties
    // its log and starts it at the leader's log start offset.
    let mut c = Cluster::new(acks_all(1));
    c.crash(1);
    {
        let small = LogConfig {
            segment_bytes: 100,
            retention_bytes: Some(1),
            ..LogConfig::default()
        };
        let mut log = Log::open(c.dirs[0].path(), small).unwrap();
        for i in 0..3 {
            log.append_as_leader(&mut batch(&[value(i)], 0), 1, 0)
                .unwrap();
        }
        log.set_high_watermark(3).unwrap();
        assert_eq!(log.enforce_retention(0).unwrap(), 2);
        assert_eq!(log.log_start_offset(), 2);
        log.close().unwrap();
    }
    c.restart(1);
    c.elect(1, 2, &[1], 2);
    let sent = c.get(2).next_fetch(MAX).unwrap();
    assert_eq!(sent.fetch_offset, 0);
    let mut buf = Vec::new();
    assert_eq!(
        c.get(1).fetch_from_follower(2, &sent, &mut buf, 0),
        Ok(FetchAnswer::OutOfRange {
            log_start_offset: 2,
            log_end_offset: 3
        })
    );
    c.fetch(2);
    let log = c.get(2).log();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 2));
    c.fetch(2);
    let fetched: Vec<_> = read_all(c.get(2).log(), 2, u64::MAX, MAX)
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(fetched, vec![value(2)]);
}

#[test]
fn a_follower_rejoins_the_isr_only_from_the_start_of_the_leaders_current_epoch_even_when_reelected()
{
    // KAFKA-7128: a follower is in sync only once it holds every offset
    // below the leader's current epoch start as well as the high
    // watermark. Kafka's makeLeader moves that start on every new leader
    // epoch, also when the same broker is elected again.
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1, 3], 1);
    c.produce(1, Acks::Leader, 0, 2).unwrap();
    c.fetch(3);
    c.fetch(3);
    assert_eq!(c.get(1).high_watermark(), 2);
    c.fetch(2); // 2 holds 0..2, outside the ISR
    c.produce(1, Acks::Leader, 2, 1).unwrap(); // epoch 1 ends at 3
    c.elect(1, 2, &[1, 3], 2);
    c.get(1).take_effects();
    c.fetch(2); // from 2: at the high watermark, below the epoch start
    assert!(
        c.get(1).take_effects().is_empty(),
        "2 lacks offset 2, below the epoch's start"
    );
    c.fetch(2); // from 3
    assert_eq!(
        c.get(1).take_effects(),
        vec![Effect::AlterIsr {
            leader_epoch: 2,
            partition_epoch: 2,
            isr: isr(&[1, 2, 3])
        }]
    );
}

#[test]
fn before_kip_101_an_isr_change_in_the_same_epoch_does_not_truncate_a_follower() {
    // A follower truncated to its high watermark when its leader changed;
    // an ISR change the controller sends within the same leader epoch is
    // no leader change (Kafka's makeFollower skips it) and costs nothing.
    let mut c = Cluster::new(ReplicationConfig {
        truncation: Truncation::HighWatermark,
        ..acks_all(1)
    });
    c.elect(1, 1, &[1, 2], 1);
    c.produce(1, Acks::Leader, 0, 1).unwrap();
    c.fetch(2);
    c.fetch(2);
    c.produce(1, Acks::Leader, 1, 2).unwrap();
    c.fetch(2);
    assert_eq!(
        (c.get(2).log().log_end_offset(), c.get(2).high_watermark()),
        (3, 1)
    );
    c.elect(1, 1, &[1, 2, 3], 2);
    assert_eq!(c.get(2).partition_epoch(), 2);
    assert_eq!(c.get(2).log().log_end_offset(), 3, "nothing truncated");
}

#[test]
fn a_batch_that_only_partly_matches_a_remembered_one_is_out_of_order_not_a_duplicate() {
    // Kafka's findDuplicateBatch: a retry is the same batch, first and last
    // sequence both; a batch that shares only one end is out of sequence
    // and refused, never answered with another batch's offsets.
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1], 1);
    let first = batch_from(&[value(0), value(1)], 0, Some((7, 0, 0)));
    c.get(1)
        .produce(0, Acks::Leader, &mut first.clone(), 1000, 0)
        .unwrap();
    let same_first = batch_from(&[value(0)], 0, Some((7, 0, 0)));
    let same_last = batch_from(&[value(1)], 0, Some((7, 0, 1)));
    for (request, mut partly) in [(1, same_first), (2, same_last)] {
        assert_eq!(
            c.get(1)
                .produce(request, Acks::Leader, &mut partly, 1000, 0),
            Err(PartitionError::OutOfOrderSequenceNumber),
            "request {request}"
        );
    }
    assert_eq!(c.get(1).log().log_end_offset(), 2);
}

#[test]
fn a_replica_that_led_an_epoch_without_writing_drops_it_and_catches_up() {
    // 2 leads epoch 2 without a write: its epoch cache says epoch 2 starts
    // at its log end, 1. Following 1 in epoch 3, it fetches with last
    // epoch 2, which 1 never had: 1 answers that epoch 1 ends at 1
    // (KIP-320). Truncating to 1 removes no batch, but must drop the empty
    // epoch, as Kafka's truncateTo does, or 2 fetches with it forever.
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1, 2], 1);
    c.produce(1, Acks::Leader, 0, 1).unwrap();
    c.fetch(2);
    c.fetch(2);
    c.elect(2, 2, &[1, 2], 2);
    assert_eq!(c.get(2).log().epochs(), &[(1, 0), (2, 1)]);
    c.elect(1, 3, &[1, 2], 3);
    c.produce(1, Acks::Leader, 1, 1).unwrap();
    let sent = c.get(2).next_fetch(MAX).unwrap();
    assert_eq!(sent.last_fetched_epoch, Some(2));
    let mut buf = Vec::new();
    assert_eq!(
        c.get(1).fetch_from_follower(2, &sent, &mut buf, 0),
        Ok(FetchAnswer::Diverging {
            epoch: 1,
            end_offset: 1
        })
    );
    c.fetch(2);
    assert_eq!(c.get(2).log().epochs(), &[(1, 0)], "the empty epoch goes");
    assert_eq!(c.get(2).log().log_end_offset(), 1, "no batch goes");
    c.fetch(2);
    assert_eq!(c.values(2), c.values(1));
}

/// A follower that truncates away an idempotent batch forgets it too:
/// when it leads again, the producer's retry of that batch is written, not
/// answered as a duplicate at an offset that no longer holds it (an
/// acknowledged write lost). Kafka rebuilds producer state on truncation.
#[test]
fn a_batch_truncated_away_is_forgotten_and_its_retry_written() {
    let mut c = Cluster::new(acks_all(1));
    c.elect(1, 1, &[1, 2], 1);
    let lost = batch_from(&[value(0)], 0, Some((7, 0, 0)));
    c.get(1)
        .produce(0, Acks::Leader, &mut lost.clone(), 1000, 0)
        .unwrap()
        .unwrap();
    // Replica 2 never fetched it; it leads next, and 1 follows it.
    c.elect(2, 2, &[2], 2);
    c.fetch(1);
    assert_eq!(c.get(1).log().log_end_offset(), 0, "truncated away");
    c.elect(1, 3, &[1, 2], 3);
    let retry = c
        .get(1)
        .produce(1, Acks::Leader, &mut lost.clone(), 1000, 0)
        .unwrap()
        .unwrap();
    assert_eq!(c.get(1).log().log_end_offset(), 1, "written again");
    assert_eq!(retry.base_offset, 0);
    assert_eq!(c.values(1), vec![value(0)]);
}
