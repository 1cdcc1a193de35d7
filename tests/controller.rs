//! The controller's sans-IO core, driven by hand: sessions, every election
//! path, ISR changes from leaders, and its state across its own restart.

use kafka_oracle::controller::protocol::{NewTopic, PartitionDecision, ToBroker};
use kafka_oracle::controller::state::{
    errors, Controller, ControllerConfig, Effects, PartitionState, NO_LEADER,
};
use kafka_oracle::controller::store::Store;
use std::collections::{BTreeMap, BTreeSet};

const TIMEOUT: u64 = 9_000;

fn set(ids: &[i32]) -> BTreeSet<i32> {
    ids.iter().copied().collect()
}

fn config(unclean: bool) -> ControllerConfig {
    ControllerConfig {
        unclean_leader_election: unclean,
        ..ControllerConfig::default()
    }
}

fn topic(name: &str, partitions: i32, rf: i16) -> NewTopic {
    NewTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: rf,
        configs: BTreeMap::new(),
    }
}

/// A controller with brokers 1, 2, 3 registered (incarnation 1) and topic
/// "t" of one partition on all three, led by 1.
fn three_brokers(unclean: bool) -> Controller {
    let mut c = Controller::start(None, config(unclean), 0);
    for id in 1..=3 {
        c.register(id, format!("127.0.0.1:{}", 9090 + id), 1, 0);
    }
    c.create_topics(1, 7, vec![topic("t", 1, 3)]);
    c.take_effects();
    c
}

fn p(c: &Controller) -> PartitionState {
    c.partition("t", 0).expect("t-0 exists").clone()
}

/// The LeaderAndIsr decisions sent to each broker.
fn decisions(effects: &Effects) -> BTreeMap<i32, Vec<PartitionDecision>> {
    let mut out: BTreeMap<i32, Vec<PartitionDecision>> = BTreeMap::new();
    for (to, m) in &effects.messages {
        if let ToBroker::LeaderAndIsr { partitions, .. } = m {
            out.entry(*to)
                .or_default()
                .extend(partitions.iter().cloned());
        }
    }
    out
}

#[test]
fn a_topic_is_assigned_round_robin_and_told_to_its_replicas() {
    let mut c = Controller::start(None, config(false), 0);
    for id in 1..=3 {
        c.register(id, format!("h:{id}"), 1, 0);
    }
    c.take_effects();
    c.create_topics(2, 7, vec![topic("t", 3, 2)]);
    let effects = c.take_effects();
    assert!(effects.persist.is_some(), "a new topic is written first");
    let replicas: Vec<Vec<i32>> = (0..3)
        .map(|i| c.partition("t", i).unwrap().replicas.clone())
        .collect();
    assert_eq!(replicas, vec![vec![1, 2], vec![2, 3], vec![3, 1]]);
    let first = c.partition("t", 0).unwrap();
    assert_eq!((first.leader, first.leader_epoch), (1, 0));
    assert_eq!(first.isr, set(&[1, 2]));
    let told = decisions(&effects);
    assert_eq!(told[&1].len(), 2, "broker 1 holds partitions 0 and 2");
    assert_eq!(told[&2].len(), 2);
    let last = effects.messages.last().unwrap();
    assert!(
        matches!(last, (2, ToBroker::CreateTopicsResult { request_id: 7, results }) if results[0].error_code == 0),
        "the answer goes last, after the decisions: {last:?}"
    );
    let metadata_to: BTreeSet<i32> = effects
        .messages
        .iter()
        .filter(|(_, m)| matches!(m, ToBroker::Metadata { .. }))
        .map(|(to, _)| *to)
        .collect();
    assert_eq!(metadata_to, set(&[1, 2, 3]));
}

#[test]
fn bad_topics_are_refused_with_kafkas_codes() {
    let mut c = three_brokers(false);
    let mut bad_config = topic("u", 1, 1);
    bad_config
        .configs
        .insert("cleanup.policy".into(), "compact".into());
    c.create_topics(
        1,
        8,
        vec![
            topic("t", 1, 1),
            topic("four", 1, 4),
            topic("no/slash", 1, 1),
            topic("zero", 0, 1),
            bad_config,
        ],
    );
    let effects = c.take_effects();
    let codes: Vec<i16> = effects
        .messages
        .iter()
        .find_map(|(_, m)| match m {
            ToBroker::CreateTopicsResult { results, .. } => {
                Some(results.iter().map(|r| r.error_code).collect())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(
        codes,
        vec![
            errors::TOPIC_ALREADY_EXISTS,
            errors::INVALID_REPLICATION_FACTOR,
            errors::INVALID_TOPIC_EXCEPTION,
            errors::INVALID_PARTITIONS,
            errors::INVALID_CONFIG,
        ]
    );
    assert!(effects.persist.is_none(), "nothing changed");
}

#[test]
fn a_dead_leader_is_replaced_by_the_first_live_isr_member() {
    let mut c = three_brokers(false);
    c.heartbeat(2, 1, 8_000);
    c.heartbeat(3, 1, 8_000);
    c.tick(9_000);
    assert_eq!(p(&c).leader, 1, "not expired at exactly the timeout");
    c.tick(9_001);
    let now = p(&c);
    assert_eq!(now.leader, 2);
    assert_eq!(now.leader_epoch, 1);
    assert_eq!(now.isr, set(&[2, 3]));
    assert_eq!(now.partition_epoch, 1);
    assert!(!c.is_live(1));
    let effects = c.take_effects();
    assert!(effects.persist.is_some());
    let told = decisions(&effects);
    assert_eq!(told.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(told[&3][0].leader, 2);
}

#[test]
fn a_closed_connection_ends_the_session_unless_a_newer_incarnation_registered() {
    let mut c = three_brokers(false);
    c.register(1, "127.0.0.1:9091".into(), 2, 100);
    let after_restart = p(&c);
    assert_eq!(
        (after_restart.leader, after_restart.leader_epoch),
        (2, 1),
        "a new incarnation is a restart: its leadership ended"
    );
    assert_eq!(after_restart.isr, set(&[2, 3]));
    assert!(c.is_live(1));
    c.connection_closed(1, 1);
    assert!(c.is_live(1), "the old connection's close is stale");
    c.take_effects();
    c.connection_closed(2, 1);
    let now = p(&c);
    assert_eq!((now.leader, now.leader_epoch), (3, 2));
    assert_eq!(now.isr, set(&[3]), "1 is live but not back in the ISR");
}

#[test]
fn a_registering_broker_hears_about_every_partition_it_holds() {
    let mut c = three_brokers(false);
    c.register(2, "127.0.0.1:9092".into(), 1, 50);
    let effects = c.take_effects();
    assert!(matches!(
        effects.messages[0],
        (
            2,
            ToBroker::Registered {
                session_timeout_ms: TIMEOUT,
                ..
            }
        )
    ));
    assert_eq!(decisions(&effects)[&2].len(), 1);
    assert_eq!(
        p(&c).leader_epoch,
        0,
        "the same incarnation changes nothing"
    );
}

#[test]
fn a_dead_follower_leaves_the_isr_and_the_leader_epoch_stays() {
    let mut c = three_brokers(false);
    c.connection_closed(3, 1);
    let now = p(&c);
    assert_eq!((now.leader, now.leader_epoch), (1, 0));
    assert_eq!(now.isr, set(&[1, 2]));
    assert_eq!(now.partition_epoch, 1);
}

#[test]
fn without_unclean_election_the_partition_waits_offline_for_an_isr_member() {
    let mut c = three_brokers(false);
    c.connection_closed(3, 1);
    c.connection_closed(2, 1);
    assert_eq!(p(&c).isr, set(&[1]));
    c.register(3, "127.0.0.1:9093".into(), 2, 10);
    c.connection_closed(1, 1);
    let offline = p(&c);
    assert_eq!(offline.leader, NO_LEADER, "3 is live but out of sync");
    assert_eq!(offline.isr, set(&[1]), "the last ISR is kept");
    let epoch = offline.leader_epoch;
    c.take_effects();
    c.register(2, "127.0.0.1:9092".into(), 2, 20);
    assert_eq!(p(&c).leader, NO_LEADER, "2 left the ISR when it died");
    c.register(1, "127.0.0.1:9091".into(), 2, 30);
    let back = p(&c);
    assert_eq!(back.leader, 1);
    assert_eq!(back.leader_epoch, epoch + 1);
    assert_eq!(back.isr, set(&[1]));
    let effects = c.take_effects();
    let told = decisions(&effects);
    assert!(
        told.contains_key(&2) && told.contains_key(&3),
        "followers learn the new leader"
    );
}

#[test]
fn with_unclean_election_a_live_out_of_sync_replica_leads_alone() {
    let mut c = three_brokers(true);
    c.connection_closed(3, 1);
    c.register(3, "127.0.0.1:9093".into(), 2, 10);
    c.connection_closed(2, 1);
    c.connection_closed(1, 1);
    let now = p(&c);
    assert_eq!(now.leader, 3);
    assert_eq!(now.isr, set(&[3]));
}

#[test]
fn with_unclean_election_an_offline_partition_takes_the_first_replica_back() {
    let mut c = three_brokers(true);
    for id in [3, 2, 1] {
        c.connection_closed(id, 1);
    }
    assert_eq!(p(&c).leader, NO_LEADER, "nobody is live");
    c.register(2, "127.0.0.1:9092".into(), 2, 10);
    let now = p(&c);
    assert_eq!(now.leader, 2);
    assert_eq!(now.isr, set(&[2]));
}

fn alter_isr_answer(c: &mut Controller) -> (i16, BTreeSet<i32>, i32) {
    let effects = c.take_effects();
    effects
        .messages
        .into_iter()
        .find_map(|(_, m)| match m {
            ToBroker::AlterIsrResult {
                error_code,
                isr,
                partition_epoch,
                ..
            } => Some((error_code, isr, partition_epoch)),
            _ => None,
        })
        .expect("an AlterIsr is answered")
}

#[test]
fn isr_changes_are_accepted_only_from_the_leader_at_the_current_epochs() {
    let mut c = three_brokers(false);
    c.alter_isr(1, "t", 0, 0, 0, set(&[1, 2]));
    assert_eq!(alter_isr_answer(&mut c), (0, set(&[1, 2]), 1));
    c.alter_isr(1, "t", 0, 0, 0, set(&[1]));
    assert_eq!(
        alter_isr_answer(&mut c).0,
        errors::INVALID_UPDATE_VERSION,
        "a stale partition epoch"
    );
    c.alter_isr(1, "t", 0, 1, 1, set(&[1]));
    assert_eq!(alter_isr_answer(&mut c).0, errors::FENCED_LEADER_EPOCH);
    c.alter_isr(2, "t", 0, 0, 1, set(&[2]));
    assert_eq!(alter_isr_answer(&mut c).0, errors::NOT_LEADER_OR_FOLLOWER);
    c.alter_isr(1, "t", 0, 0, 1, set(&[2, 3]));
    assert_eq!(
        alter_isr_answer(&mut c).0,
        errors::INELIGIBLE_REPLICA,
        "the leader stays in its ISR"
    );
    c.connection_closed(3, 1);
    c.take_effects();
    c.alter_isr(1, "t", 0, 0, 1, set(&[1, 2, 3]));
    assert_eq!(
        alter_isr_answer(&mut c).0,
        errors::INELIGIBLE_REPLICA,
        "a dead broker cannot join"
    );
    c.alter_isr(1, "nope", 0, 0, 0, set(&[1]));
    assert_eq!(
        alter_isr_answer(&mut c).0,
        errors::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(p(&c).isr, set(&[1, 2]));
}

#[test]
fn the_state_survives_a_restart_of_the_controller() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut c = three_brokers(false);
    c.alter_isr(1, "t", 0, 0, 0, set(&[1, 2]));
    let written = c.take_effects().persist.expect("the change is written");
    store.save(&written).unwrap();
    let before = c.state().clone();
    drop(c);

    let loaded = Store::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(loaded.as_ref(), Some(&before));
    let mut c = Controller::start(loaded, config(false), 50_000);
    assert_eq!(c.state().controller_epoch, before.controller_epoch + 1);
    assert_eq!(c.state().topics, before.topics);
    assert!(c.is_live(1), "sessions get a timeout's grace to come back");
    c.register(2, "127.0.0.1:9092".into(), 1, 50_100);
    c.register(3, "127.0.0.1:9093".into(), 1, 50_100);
    assert_eq!(p(&c).leader_epoch, 0, "same incarnations: no election");
    c.tick(50_000 + TIMEOUT + 1);
    let now = p(&c);
    assert_eq!(now.leader, 2, "1 never came back");
    assert_eq!(now.isr, set(&[2]));
}

#[test]
fn a_first_start_has_no_state_and_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Store::open(dir.path()).unwrap().load().unwrap(), None);
    std::fs::write(dir.path().join("controller-state.json"), b"{").unwrap();
    let err = Store::open(dir.path()).unwrap().load().unwrap_err();
    assert!(err.contains("is not the controller's state"), "{err}");
    let mut config = ControllerConfig::default();
    config.set("broker.session.timeout.ms", "500").unwrap();
    assert_eq!(config.session_timeout_ms, 500);
    let err = config
        .set("unclean.leader.election.enable", "yes")
        .unwrap_err();
    assert_eq!(err, "unclean.leader.election.enable=yes: not a boolean");
    assert!(config
        .set("log.segment.bytes", "1")
        .unwrap_err()
        .starts_with("unknown controller setting"));
}

#[test]
fn committed_offsets_are_written_before_the_answer_and_survive_a_restart() {
    use kafka_oracle::controller::protocol::CommittedOffset;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut c = three_brokers(false);
    let offset = |partition, offset| CommittedOffset {
        topic: "t".into(),
        partition,
        offset,
        metadata: None,
    };
    c.commit_offsets(2, 5, "readers".into(), vec![offset(0, 42)]);
    let effects = c.take_effects();
    let written = effects.persist.expect("written first");
    assert!(matches!(
        effects.messages[..],
        [(
            2,
            ToBroker::OffsetsCommitted {
                request_id: 5,
                error_code: 0
            }
        )]
    ));
    store.save(&written).unwrap();
    c.commit_offsets(2, 6, "readers".into(), vec![offset(0, 43), offset(9, 1)]);
    let effects = c.take_effects();
    assert!(effects.persist.is_none(), "refused whole: nothing written");
    assert!(matches!(
        effects.messages[..],
        [(
            2,
            ToBroker::OffsetsCommitted {
                error_code: errors::UNKNOWN_TOPIC_OR_PARTITION,
                ..
            }
        )]
    ));

    let mut c = Controller::start(store.load().unwrap(), config(false), 0);
    c.take_effects();
    c.fetch_offsets(3, 7, "readers", None);
    c.fetch_offsets(3, 8, "readers", Some(vec![("t".into(), 1)]));
    c.fetch_offsets(3, 9, "nobody", None);
    let answers: Vec<(u64, Vec<CommittedOffset>)> = c
        .take_effects()
        .messages
        .into_iter()
        .filter_map(|(_, m)| match m {
            ToBroker::OffsetsFetched {
                request_id,
                offsets,
            } => Some((request_id, offsets)),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![(7, vec![offset(0, 42)]), (8, Vec::new()), (9, Vec::new())]
    );
}
