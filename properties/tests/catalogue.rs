//! Unit tests for every judge of the property catalogue, on small hand-built
//! observations: for each property a case where it holds and one where it is
//! violated, plus the edge cases the judges' documentation calls out.

use std::collections::HashSet;

use kafka_oracle_properties::catalogue::{
    acked_is_committed, at_least_once, committed_durable, committed_never_lost,
    committed_prefix_agrees, consumer_offset_monotonic, end_to_end_delivery,
    high_watermark_monotonic, leader_failover, message_committed, message_consumed, no_duplicates,
    quiescence_reached, tolerates_one_replica_down,
};
use kafka_oracle_properties::{
    property, Acks, Class, Entry, Judge, LeaderEpoch, MsgId, Observation, Offset, ReplicaId,
    ReplicaObs, Verdict, CATALOGUE,
};

// ---------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------

/// Builds an [`Observation`] step by step. Replicas are added running, as
/// followers, with their high watermark at their log end.
#[derive(Clone, Default)]
struct Obs(Observation);

fn obs() -> Obs {
    Obs::default()
}

impl Obs {
    /// A running follower whose log holds `msgs` (all appended in epoch 0).
    fn replica(self, id: ReplicaId, msgs: &[MsgId]) -> Self {
        let entries: Vec<(LeaderEpoch, MsgId)> = msgs.iter().map(|&m| (0, m)).collect();
        self.replica_epochs(id, &entries)
    }

    /// A running follower whose log holds `(epoch, msg)` entries.
    fn replica_epochs(mut self, id: ReplicaId, entries: &[(LeaderEpoch, MsgId)]) -> Self {
        let log: Vec<Entry> = entries
            .iter()
            .enumerate()
            .map(|(offset, &(epoch, msg))| Entry {
                offset: offset as Offset,
                epoch,
                msg,
            })
            .collect();
        self.0.replicas.push(ReplicaObs {
            id,
            high_watermark: log.len() as Offset,
            log,
            leader_epoch: 0,
            alive: true,
            is_leader: false,
        });
        self
    }

    fn r(&mut self, id: ReplicaId) -> &mut ReplicaObs {
        self.0
            .replicas
            .iter_mut()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no replica {id} in the observation being built"))
    }

    /// The controller elects `id` in `epoch`, and `id` knows it is leader.
    fn leader(mut self, id: ReplicaId, epoch: LeaderEpoch) -> Self {
        self.0.leader = Some(id);
        self.0.leader_epoch = epoch;
        for r in &mut self.0.replicas {
            r.is_leader = false;
        }
        let r = self.r(id);
        r.is_leader = true;
        r.leader_epoch = epoch;
        self
    }

    /// The partition is offline: the controller has no leader.
    fn no_leader(mut self) -> Self {
        self.0.leader = None;
        self
    }

    fn down(mut self, id: ReplicaId) -> Self {
        self.r(id).alive = false;
        self
    }

    fn hw(mut self, id: ReplicaId, hw: Offset) -> Self {
        self.r(id).high_watermark = hw;
        self
    }

    fn isr(mut self, ids: &[ReplicaId]) -> Self {
        self.0.isr = ids.to_vec();
        self
    }

    fn committed(mut self, msgs: &[MsgId]) -> Self {
        self.0.committed = msgs.to_vec();
        self
    }

    fn acks(mut self, acks: Acks) -> Self {
        self.0.producer.acks = Some(acks);
        self
    }

    fn handed(mut self, msgs: &[MsgId]) -> Self {
        self.0.producer.handed = msgs.to_vec();
        self
    }

    fn acked(mut self, msgs: &[MsgId]) -> Self {
        self.0.producer.acked = msgs.to_vec();
        self
    }

    fn told_failed(mut self, msgs: &[MsgId]) -> Self {
        self.0.producer.told_failed = msgs.to_vec();
        self
    }

    fn not_enough_replicas(mut self, count: u32) -> Self {
        self.0.producer.not_enough_replicas = count;
        self
    }

    fn processed(mut self, msgs: &[MsgId]) -> Self {
        self.0.consumer.processed = msgs.to_vec();
        self
    }

    fn offset(mut self, offset: Option<Offset>) -> Self {
        self.0.consumer.committed_offset = offset;
        self
    }

    fn quiescent(mut self) -> Self {
        self.0.quiescent = true;
        self
    }

    fn build(self) -> Observation {
        self.0
    }
}

/// Asserts the verdict is a violation whose reason mentions every fact.
#[track_caller]
fn assert_violation(verdict: Verdict, facts: &[&str]) {
    let why = match verdict {
        Ok(()) => panic!("expected a violation mentioning {facts:?}, got Ok"),
        Err(why) => why,
    };
    for fact in facts {
        assert!(
            why.contains(fact),
            "violation {why:?} does not mention {fact:?}"
        );
    }
}

#[track_caller]
fn assert_holds(verdict: Verdict) {
    if let Err(why) = verdict {
        panic!("expected the property to hold, got: {why}");
    }
}

// ---------------------------------------------------------------------------
// The catalogue itself
// ---------------------------------------------------------------------------

#[test]
fn catalogue_names_are_unique() {
    let mut seen = HashSet::new();
    for p in CATALOGUE {
        assert!(seen.insert(p.name), "duplicate property name {}", p.name);
    }
}

#[test]
fn property_finds_every_catalogue_entry() {
    for p in CATALOGUE {
        let found = property(p.name).unwrap_or_else(|| panic!("property({}) is None", p.name));
        // `CATALOGUE` is a const, so entries are compared by content.
        assert_eq!(found.name, p.name);
        assert_eq!(found.summary, p.summary, "property({}) summary", p.name);
        assert_eq!(found.class, p.class, "property({}) class", p.name);
        assert_eq!(found.kind(), p.kind(), "property({}) kind", p.name);
    }
}

#[test]
fn property_of_unknown_name_is_none() {
    assert!(property("no_such_property").is_none());
    assert!(property("").is_none());
}

#[test]
fn catalogue_entries_have_a_summary() {
    for p in CATALOGUE {
        assert!(!p.summary.trim().is_empty(), "{} has no summary", p.name);
    }
}

#[test]
fn catalogue_kinds_and_classes() {
    let expected: &[(&str, &str, Class)] = &[
        (
            "committed_never_lost",
            "always (each step)",
            Class::KafkaPromise,
        ),
        ("acked_is_committed", "always", Class::KafkaPromise),
        ("committed_prefix_agrees", "always", Class::KafkaPromise),
        (
            "high_watermark_monotonic",
            "always (each step)",
            Class::KafkaPromise,
        ),
        (
            "consumer_offset_monotonic",
            "always (each step)",
            Class::KafkaPromise,
        ),
        ("at_least_once", "when quiescent", Class::Consumption),
        ("committed_durable", "always", Class::Stronger),
        ("end_to_end_delivery", "when quiescent", Class::Stronger),
        ("no_duplicates", "always", Class::Stronger),
        (
            "tolerates_one_replica_down",
            "always (each step)",
            Class::Stronger,
        ),
        ("message_committed", "sometimes", Class::NonVacuity),
        ("leader_failover", "sometimes", Class::NonVacuity),
        ("message_consumed", "sometimes", Class::NonVacuity),
        ("quiescence_reached", "sometimes", Class::NonVacuity),
    ];
    assert_eq!(CATALOGUE.len(), expected.len(), "catalogue size changed");
    for &(name, kind, class) in expected {
        let p = property(name).unwrap_or_else(|| panic!("{name} missing from the catalogue"));
        assert_eq!(p.kind(), kind, "kind of {name}");
        assert_eq!(p.class, class, "class of {name}");
    }
}

/// A `(prev, next)` pair on which the named property fails: a violation for
/// the judged properties, "not reached in `prev`, reached in `next`" for the
/// non-vacuity ones.
fn failing_case(name: &str) -> (Observation, Observation) {
    let empty = obs().build();
    match name {
        "committed_never_lost" => (
            obs()
                .replica(0, &[1])
                .replica(1, &[1])
                .replica(2, &[])
                .leader(0, 0)
                .isr(&[0, 1])
                .committed(&[1])
                .build(),
            obs()
                .replica(0, &[1])
                .replica(1, &[1])
                .replica(2, &[])
                .leader(2, 1)
                .down(0)
                .isr(&[2])
                .committed(&[1])
                .build(),
        ),
        "acked_is_committed" => (empty, obs().acks(Acks::All).acked(&[1]).build()),
        "committed_prefix_agrees" => (empty, obs().replica(0, &[1]).replica(1, &[2]).build()),
        "high_watermark_monotonic" => (
            obs().replica(0, &[1, 2]).leader(0, 1).hw(0, 2).build(),
            obs().replica(0, &[1, 2]).leader(0, 1).hw(0, 1).build(),
        ),
        "consumer_offset_monotonic" => {
            (obs().offset(Some(2)).build(), obs().offset(Some(1)).build())
        }
        "at_least_once" => (empty, obs().acked(&[1]).quiescent().build()),
        "committed_durable" => (
            empty,
            obs().replica(0, &[]).leader(0, 0).committed(&[1]).build(),
        ),
        "end_to_end_delivery" => (empty, obs().handed(&[1]).quiescent().build()),
        "no_duplicates" => (empty, obs().replica(0, &[1, 1]).build()),
        "tolerates_one_replica_down" => (
            obs().replica(0, &[]).replica(1, &[]).isr(&[0, 1]).build(),
            obs()
                .replica(0, &[])
                .replica(1, &[])
                .isr(&[0, 1])
                .not_enough_replicas(1)
                .build(),
        ),
        "message_committed" => (empty, obs().committed(&[1]).build()),
        "leader_failover" => (
            obs().replica(0, &[]).leader(0, 0).build(),
            obs().replica(0, &[]).leader(0, 1).build(),
        ),
        "message_consumed" => (empty, obs().processed(&[1]).build()),
        "quiescence_reached" => (empty, obs().quiescent().build()),
        other => panic!("no failing case for {other}: add one to this test"),
    }
}

/// Every catalogue entry is wired to a judge that fails on its failing case
/// and passes on the empty observation.
#[test]
fn every_catalogue_judge_is_wired() {
    let empty = obs().build();
    for p in CATALOGUE {
        let (prev, next) = failing_case(p.name);
        match p.judge {
            Judge::Always(judge) | Judge::Terminal(judge) => {
                assert!(judge(&empty).is_ok(), "{} fails on empty", p.name);
                assert!(judge(&next).is_err(), "{} misses its violation", p.name);
            }
            Judge::Transition(judge) => {
                assert!(judge(&empty, &empty).is_ok(), "{} fails on empty", p.name);
                assert!(
                    judge(&prev, &prev).is_ok(),
                    "{} fails standing still",
                    p.name
                );
                assert!(
                    judge(&prev, &next).is_err(),
                    "{} misses its violation",
                    p.name
                );
            }
            Judge::Sometimes(reached) => {
                assert!(!reached(&prev), "{} reached too early", p.name);
                assert!(reached(&next), "{} not reached", p.name);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// committed_never_lost
// ---------------------------------------------------------------------------

/// Three replicas, leader 0 in epoch 0, m1 committed on the ISR {0,1}.
fn m1_committed_on_0_and_1() -> Obs {
    obs()
        .replica(0, &[1])
        .replica(1, &[1])
        .replica(2, &[])
        .leader(0, 0)
        .isr(&[0, 1])
        .committed(&[1])
}

#[test]
fn committed_never_lost_holds_when_new_leader_has_it() {
    let prev = m1_committed_on_0_and_1().build();
    let next = m1_committed_on_0_and_1()
        .down(0)
        .leader(1, 1)
        .isr(&[1])
        .build();
    assert_holds(committed_never_lost(&prev, &next));
}

#[test]
fn committed_never_lost_holds_when_nothing_changes() {
    let prev = m1_committed_on_0_and_1().build();
    assert_holds(committed_never_lost(&prev, &prev));
}

#[test]
fn committed_never_lost_flags_election_of_replica_without_it() {
    let prev = m1_committed_on_0_and_1().build();
    let next = m1_committed_on_0_and_1().leader(2, 1).isr(&[2]).build();
    assert_violation(
        committed_never_lost(&prev, &next),
        &["m1", "replica 2 was elected leader", "replica 0", "{0,1}"],
    );
}

#[test]
fn committed_never_lost_counts_down_replica_holding_it_on_disk() {
    // Replica 0 crashed but its disk still has m1; replica 1 lost its log.
    let prev = m1_committed_on_0_and_1().build();
    let next = obs()
        .replica(0, &[1])
        .replica(1, &[])
        .replica(2, &[])
        .down(0)
        .leader(2, 1)
        .isr(&[2])
        .committed(&[1])
        .build();
    assert_violation(
        committed_never_lost(&prev, &next),
        &["m1", "replica 2 was elected leader", "replica 0"],
    );
}

#[test]
fn committed_never_lost_excused_when_every_isr_member_lost_it() {
    // Both ISR members lost m1 in the step (machine crashes); replica 3,
    // outside the ISR, still holds it, but Kafka promised nothing then.
    let prev = m1_committed_on_0_and_1().replica(3, &[1]).build();
    let next = obs()
        .replica(0, &[])
        .replica(1, &[])
        .replica(2, &[])
        .replica(3, &[1])
        .down(0)
        .down(1)
        .leader(2, 1)
        .isr(&[2])
        .committed(&[1])
        .build();
    assert_holds(committed_never_lost(&prev, &next));
}

#[test]
fn committed_never_lost_flags_leader_truncation() {
    let before = || {
        obs()
            .replica(0, &[1, 2])
            .replica(1, &[1, 2])
            .leader(0, 0)
            .isr(&[0, 1])
            .committed(&[1, 2])
    };
    let prev = before().build();
    let next = obs()
        .replica(0, &[1])
        .replica(1, &[1, 2])
        .leader(0, 0)
        .isr(&[0, 1])
        .committed(&[1, 2])
        .build();
    assert_violation(
        committed_never_lost(&prev, &next),
        &["m2", "leader 0 truncated it", "replica 1"],
    );
}

#[test]
fn committed_never_lost_excused_truncation_when_leader_was_whole_isr() {
    // The leader alone was the ISR; replica 1 (out of the ISR) still has m2.
    let prev = obs()
        .replica(0, &[1, 2])
        .replica(1, &[1, 2])
        .leader(0, 0)
        .isr(&[0])
        .committed(&[1, 2])
        .build();
    let next = obs()
        .replica(0, &[1])
        .replica(1, &[1, 2])
        .leader(0, 0)
        .isr(&[0])
        .committed(&[1, 2])
        .build();
    assert_holds(committed_never_lost(&prev, &next));
}

#[test]
fn committed_never_lost_ignores_truncation_of_uncommitted_message() {
    let prev = obs()
        .replica(0, &[1, 2])
        .replica(1, &[1])
        .leader(0, 0)
        .isr(&[0, 1])
        .committed(&[1])
        .build();
    let next = obs()
        .replica(0, &[1])
        .replica(1, &[1])
        .leader(0, 0)
        .isr(&[0, 1])
        .committed(&[1])
        .build();
    assert_holds(committed_never_lost(&prev, &next));
}

#[test]
fn committed_never_lost_not_flagged_when_already_gone_before_the_step() {
    // The leader lacked m1 before this step already (that loss was judged at
    // the step it happened); replica 1 still holds it, leader unchanged.
    let gone = || {
        obs()
            .replica(0, &[])
            .replica(1, &[1])
            .leader(0, 0)
            .isr(&[0, 1])
            .committed(&[1])
    };
    let prev = gone().build();
    let next = gone().offset(Some(0)).build();
    assert_holds(committed_never_lost(&prev, &next));
}

#[test]
fn committed_never_lost_holds_while_partition_is_offline() {
    let prev = m1_committed_on_0_and_1().build();
    let next = obs()
        .replica(0, &[])
        .replica(1, &[])
        .replica(2, &[])
        .no_leader()
        .isr(&[0, 1])
        .committed(&[1])
        .build();
    assert_holds(committed_never_lost(&prev, &next));
}

#[test]
fn committed_never_lost_flags_election_after_offline_period() {
    // The partition was offline (no leader); replica 1 of the ISR is down
    // with m1 on disk, and replica 2 without it is elected.
    let prev = obs()
        .replica(0, &[1])
        .replica(1, &[1])
        .replica(2, &[])
        .down(0)
        .down(1)
        .no_leader()
        .isr(&[1])
        .committed(&[1])
        .build();
    let next = obs()
        .replica(0, &[1])
        .replica(1, &[1])
        .replica(2, &[])
        .down(0)
        .down(1)
        .leader(2, 1)
        .isr(&[2])
        .committed(&[1])
        .build();
    assert_violation(
        committed_never_lost(&prev, &next),
        &["m1", "replica 2 was elected leader", "replica 1", "{1}"],
    );
}

// ---------------------------------------------------------------------------
// acked_is_committed
// ---------------------------------------------------------------------------

#[test]
fn acked_is_committed_holds_when_every_ack_is_committed() {
    let o = obs()
        .acks(Acks::All)
        .acked(&[1, 2])
        .committed(&[1, 2, 3])
        .build();
    assert_holds(acked_is_committed(&o));
}

#[test]
fn acked_is_committed_flags_ack_without_commit() {
    let o = obs().acks(Acks::All).acked(&[1, 2]).committed(&[1]).build();
    assert_violation(acked_is_committed(&o), &["m2", "acks=all"]);
}

#[test]
fn acked_is_committed_only_judges_acks_all() {
    for acks in [Acks::None, Acks::Leader] {
        let o = obs().acks(acks).acked(&[1]).build();
        assert_holds(acked_is_committed(&o));
    }
    // No producer configuration observed at all.
    assert_holds(acked_is_committed(&obs().acked(&[1]).build()));
}

// ---------------------------------------------------------------------------
// committed_prefix_agrees
// ---------------------------------------------------------------------------

#[test]
fn committed_prefix_agrees_holds_on_identical_logs() {
    let o = obs()
        .replica_epochs(0, &[(0, 1), (0, 2)])
        .replica_epochs(1, &[(0, 1), (0, 2)])
        .build();
    assert_holds(committed_prefix_agrees(&o));
}

#[test]
fn committed_prefix_agrees_flags_divergence_below_both_high_watermarks() {
    let o = obs()
        .replica_epochs(0, &[(0, 1), (0, 2)])
        .replica_epochs(1, &[(0, 1), (1, 3)])
        .build();
    assert_violation(
        committed_prefix_agrees(&o),
        &[
            "replicas 0 and 1",
            "offset 1",
            "m2 (epoch 0)",
            "m3 (epoch 1)",
        ],
    );
}

#[test]
fn committed_prefix_agrees_ignores_divergence_above_a_high_watermark() {
    let o = obs()
        .replica_epochs(0, &[(0, 1), (0, 2)])
        .replica_epochs(1, &[(0, 1), (1, 3)])
        .hw(1, 1)
        .build();
    assert_holds(committed_prefix_agrees(&o));
}

#[test]
fn committed_prefix_agrees_bounds_by_log_end_when_high_watermark_is_past_it() {
    // Replica 0 lost its tail but still believes in a high watermark of 3.
    let o = obs().replica(0, &[1]).replica(1, &[1, 2]).hw(0, 3).build();
    assert_holds(committed_prefix_agrees(&o));
}

#[test]
fn committed_prefix_agrees_checks_every_pair() {
    let o = obs()
        .replica(0, &[1])
        .replica(1, &[1, 2])
        .replica(2, &[1, 3])
        .hw(0, 0)
        .build();
    assert_violation(
        committed_prefix_agrees(&o),
        &["replicas 1 and 2", "offset 1"],
    );
}

// ---------------------------------------------------------------------------
// high_watermark_monotonic
// ---------------------------------------------------------------------------

fn leader_0_with_hw(epoch: LeaderEpoch, hw: Offset) -> Obs {
    obs()
        .replica(0, &[1, 2, 3])
        .replica(1, &[1, 2, 3])
        .leader(0, epoch)
        .hw(0, hw)
}

#[test]
fn high_watermark_monotonic_holds_when_it_advances() {
    let prev = leader_0_with_hw(3, 1).build();
    let next = leader_0_with_hw(3, 2).build();
    assert_holds(high_watermark_monotonic(&prev, &next));
}

#[test]
fn high_watermark_monotonic_flags_decrease_within_a_tenure() {
    let prev = leader_0_with_hw(3, 2).build();
    let next = leader_0_with_hw(3, 1).build();
    assert_violation(
        high_watermark_monotonic(&prev, &next),
        &["leader 0", "from 2 to 1", "epoch 3"],
    );
}

#[test]
fn high_watermark_monotonic_allows_decrease_in_a_new_epoch() {
    let prev = leader_0_with_hw(3, 2).build();
    let next = leader_0_with_hw(4, 1).build();
    assert_holds(high_watermark_monotonic(&prev, &next));
}

#[test]
fn high_watermark_monotonic_ignores_followers() {
    let prev = leader_0_with_hw(3, 3).hw(1, 3).build();
    let next = leader_0_with_hw(3, 3).hw(1, 1).build();
    assert_holds(high_watermark_monotonic(&prev, &next));
}

#[test]
fn high_watermark_monotonic_ignores_crashed_leader() {
    let prev = leader_0_with_hw(3, 2).build();
    let next = leader_0_with_hw(3, 0).down(0).build();
    assert_holds(high_watermark_monotonic(&prev, &next));
}

#[test]
fn high_watermark_monotonic_ignores_leader_that_was_down_before() {
    let prev = leader_0_with_hw(3, 2).down(0).build();
    let next = leader_0_with_hw(3, 0).build();
    assert_holds(high_watermark_monotonic(&prev, &next));
}

#[test]
fn high_watermark_monotonic_ignores_resigned_leader() {
    let prev = leader_0_with_hw(3, 2).build();
    let mut next = leader_0_with_hw(3, 1).build();
    next.replicas[0].is_leader = false;
    assert_holds(high_watermark_monotonic(&prev, &next));
}

#[test]
fn high_watermark_monotonic_ignores_replica_new_in_next() {
    let prev = obs().build();
    let next = leader_0_with_hw(3, 0).build();
    assert_holds(high_watermark_monotonic(&prev, &next));
}

// ---------------------------------------------------------------------------
// consumer_offset_monotonic
// ---------------------------------------------------------------------------

#[test]
fn consumer_offset_monotonic_holds_when_it_advances_or_stays() {
    let at = |o| obs().offset(o).build();
    assert_holds(consumer_offset_monotonic(&at(Some(2)), &at(Some(3))));
    assert_holds(consumer_offset_monotonic(&at(Some(2)), &at(Some(2))));
    assert_holds(consumer_offset_monotonic(&at(None), &at(None)));
}

#[test]
fn consumer_offset_monotonic_flags_decrease() {
    let at = |o| obs().offset(o).build();
    assert_violation(
        consumer_offset_monotonic(&at(Some(3)), &at(Some(2))),
        &["Some(3)", "Some(2)"],
    );
}

#[test]
fn consumer_offset_monotonic_none_is_below_every_offset() {
    let at = |o| obs().offset(o).build();
    // The first commit, even of offset 0, is an advance.
    assert_holds(consumer_offset_monotonic(&at(None), &at(Some(0))));
    // Losing the committed offset altogether is a step back.
    assert_violation(
        consumer_offset_monotonic(&at(Some(0)), &at(None)),
        &["Some(0)", "None"],
    );
}

// ---------------------------------------------------------------------------
// at_least_once
// ---------------------------------------------------------------------------

#[test]
fn at_least_once_holds_when_every_ack_is_processed() {
    let o = obs()
        .acked(&[1, 2])
        .processed(&[2, 1, 2])
        .quiescent()
        .build();
    assert_holds(at_least_once(&o));
}

#[test]
fn at_least_once_flags_unprocessed_ack() {
    let o = obs().acked(&[1, 2, 3]).processed(&[1]).quiescent().build();
    assert_violation(at_least_once(&o), &["m2, m3"]);
}

#[test]
fn at_least_once_only_judged_when_quiescent() {
    let o = obs().acked(&[1, 2, 3]).processed(&[1]).build();
    assert_holds(at_least_once(&o));
}

#[test]
fn at_least_once_ignores_unacked_messages() {
    let o = obs()
        .handed(&[1, 2])
        .acked(&[1])
        .processed(&[1])
        .quiescent()
        .build();
    assert_holds(at_least_once(&o));
}

// ---------------------------------------------------------------------------
// committed_durable
// ---------------------------------------------------------------------------

#[test]
fn committed_durable_holds_when_leader_has_everything() {
    let o = obs()
        .replica(0, &[1, 2])
        .leader(0, 0)
        .committed(&[1, 2])
        .build();
    assert_holds(committed_durable(&o));
}

#[test]
fn committed_durable_flags_message_missing_from_live_leader() {
    let o = obs()
        .replica(0, &[1, 2])
        .replica(1, &[1])
        .leader(1, 1)
        .committed(&[1, 2])
        .build();
    assert_violation(committed_durable(&o), &["m2", "leader 1"]);
}

#[test]
fn committed_durable_not_judged_without_a_live_leader() {
    let crashed = obs()
        .replica(0, &[])
        .leader(0, 0)
        .down(0)
        .committed(&[1])
        .build();
    assert_holds(committed_durable(&crashed));
    let offline = obs().replica(0, &[]).committed(&[1]).build();
    assert_holds(committed_durable(&offline));
}

// ---------------------------------------------------------------------------
// end_to_end_delivery
// ---------------------------------------------------------------------------

#[test]
fn end_to_end_delivery_holds_when_failures_were_reported() {
    let o = obs()
        .handed(&[1, 2, 3])
        .told_failed(&[2])
        .processed(&[1, 3])
        .quiescent()
        .build();
    assert_holds(end_to_end_delivery(&o));
}

#[test]
fn end_to_end_delivery_flags_silent_loss() {
    let o = obs()
        .handed(&[1, 2, 3])
        .told_failed(&[2])
        .processed(&[1])
        .quiescent()
        .build();
    let verdict = end_to_end_delivery(&o);
    assert_violation(verdict.clone(), &["m3"]);
    assert!(
        !verdict.unwrap_err().contains("m2"),
        "m2 was reported failed and must not be listed"
    );
}

#[test]
fn end_to_end_delivery_flags_fire_and_forget_loss() {
    // acks=0: acknowledged on write, never stored, nobody told.
    let o = obs()
        .acks(Acks::None)
        .handed(&[1])
        .acked(&[1])
        .quiescent()
        .build();
    assert_violation(end_to_end_delivery(&o), &["m1"]);
}

#[test]
fn end_to_end_delivery_only_judged_when_quiescent() {
    let o = obs().handed(&[1, 2]).processed(&[1]).build();
    assert_holds(end_to_end_delivery(&o));
}

// ---------------------------------------------------------------------------
// no_duplicates
// ---------------------------------------------------------------------------

#[test]
fn no_duplicates_holds_when_replicas_share_messages() {
    let o = obs().replica(0, &[1, 2]).replica(1, &[1, 2]).build();
    assert_holds(no_duplicates(&o));
}

#[test]
fn no_duplicates_flags_message_stored_twice() {
    let o = obs().replica(0, &[1]).replica(1, &[1, 2, 1]).build();
    assert_violation(
        no_duplicates(&o),
        &["replica 1", "m1 twice", "offsets 0 and 2"],
    );
}

// ---------------------------------------------------------------------------
// tolerates_one_replica_down
// ---------------------------------------------------------------------------

/// Three replicas with the given ISR and NOT_ENOUGH_REPLICAS count.
fn three_replicas(isr: &[ReplicaId], refusals: u32) -> Observation {
    obs()
        .replica(0, &[])
        .replica(1, &[])
        .replica(2, &[])
        .isr(isr)
        .not_enough_replicas(refusals)
        .build()
}

#[test]
fn tolerates_one_replica_down_holds_without_new_refusal() {
    let prev = three_replicas(&[0, 1], 1);
    let next = three_replicas(&[0, 1], 1);
    assert_holds(tolerates_one_replica_down(&prev, &next));
}

#[test]
fn tolerates_one_replica_down_flags_refusal_with_one_out() {
    let prev = three_replicas(&[0, 1], 0);
    let next = three_replicas(&[0, 1], 1);
    assert_violation(
        tolerates_one_replica_down(&prev, &next),
        &["NOT_ENOUGH_REPLICAS", "only 1 replica", "{0,1}"],
    );
}

#[test]
fn tolerates_one_replica_down_flags_refusal_with_full_isr() {
    let prev = three_replicas(&[0, 1, 2], 2);
    let next = three_replicas(&[0, 1, 2], 3);
    assert_violation(
        tolerates_one_replica_down(&prev, &next),
        &["only 0 replica", "{0,1,2}"],
    );
}

#[test]
fn tolerates_one_replica_down_allows_refusal_with_two_out() {
    let prev = three_replicas(&[0], 0);
    let next = three_replicas(&[0], 1);
    assert_holds(tolerates_one_replica_down(&prev, &next));
}

#[test]
fn tolerates_one_replica_down_judges_the_isr_before_the_step() {
    // The ISR shrinks in the same step: the refusal answered a request made
    // while only one replica was out, so it is flagged.
    let prev = three_replicas(&[0, 1], 0);
    let next = three_replicas(&[0], 1);
    assert_violation(tolerates_one_replica_down(&prev, &next), &["{0,1}"]);
    // And the other way: two were out before, the ISR grows in the step.
    let prev = three_replicas(&[0], 0);
    let next = three_replicas(&[0, 1, 2], 1);
    assert_holds(tolerates_one_replica_down(&prev, &next));
}

#[test]
fn tolerates_one_replica_down_ignores_a_falling_count() {
    let prev = three_replicas(&[0, 1, 2], 2);
    let next = three_replicas(&[0, 1, 2], 0);
    assert_holds(tolerates_one_replica_down(&prev, &next));
}

// ---------------------------------------------------------------------------
// Non-vacuity
// ---------------------------------------------------------------------------

#[test]
fn message_committed_reached_once_something_is_committed() {
    assert!(!message_committed(&obs().build()));
    assert!(message_committed(&obs().committed(&[1]).build()));
}

#[test]
fn leader_failover_needs_a_bumped_epoch_and_a_leader() {
    let first = obs().replica(0, &[]).leader(0, 0).build();
    assert!(!leader_failover(&first));
    let failed_over = obs().replica(0, &[]).replica(1, &[]).leader(1, 1).build();
    assert!(leader_failover(&failed_over));
    let offline = obs().replica(0, &[]).leader(0, 1).no_leader().build();
    assert!(!leader_failover(&offline));
}

#[test]
fn message_consumed_reached_once_something_is_processed() {
    assert!(!message_consumed(&obs().acked(&[1]).build()));
    assert!(message_consumed(&obs().processed(&[1]).build()));
}

#[test]
fn quiescence_reached_follows_the_flag() {
    assert!(!quiescence_reached(&obs().build()));
    assert!(quiescence_reached(&obs().quiescent().build()));
}

#[test]
fn committed_never_lost_ignores_the_leaders_own_machine_crash() {
    // The elected leader crashes and loses m1 with its page cache; replica 1
    // of the ISR still holds it and will be elected: nothing is lost yet.
    let prev = m1_committed_on_0_and_1().build();
    let next = obs()
        .replica(0, &[])
        .replica(1, &[1])
        .replica(2, &[])
        .leader(0, 0)
        .down(0)
        .isr(&[0, 1])
        .committed(&[1])
        .build();
    assert_holds(committed_never_lost(&prev, &next));
}

#[test]
fn committed_never_lost_not_flagged_again_when_a_leader_follows_one_without_it() {
    // Leader 0 already lacked m1; electing replica 2, which lacks it too, is
    // not a new loss.
    let without = |leader, epoch| {
        obs()
            .replica(0, &[])
            .replica(1, &[1])
            .replica(2, &[])
            .leader(leader, epoch)
            .isr(&[0, 1, 2])
            .committed(&[1])
            .build()
    };
    assert_holds(committed_never_lost(&without(0, 0), &without(2, 1)));
}
