//! Consumer-group membership, sans IO: rebalances, generations, sessions.

use bytes::Bytes;
use kafka_oracle::broker::group::{errors, GroupOutput, Groups, Join, Joined, Protocol, Synced};

fn join(member_id: &str, client: &str) -> Join {
    Join {
        group: "g".into(),
        member_id: member_id.into(),
        client_id: client.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: Bytes::from(client.to_string()),
        }],
    }
}

fn joined(groups: &mut Groups) -> Vec<(u64, Joined)> {
    groups
        .take_outputs()
        .into_iter()
        .filter_map(|o| match o {
            GroupOutput::Joined { request, answer } => Some((request, answer)),
            GroupOutput::Synced { .. } => None,
        })
        .collect()
}

fn synced(groups: &mut Groups) -> Vec<(u64, Synced)> {
    groups
        .take_outputs()
        .into_iter()
        .filter_map(|o| match o {
            GroupOutput::Synced { request, answer } => Some((request, answer)),
            GroupOutput::Joined { .. } => None,
        })
        .collect()
}

/// One member, joined and synced: its id.
fn settled_alone(groups: &mut Groups) -> String {
    assert_eq!(groups.join(1, join("", "a"), 0), None);
    let answers = joined(groups);
    let (request, first) = &answers[0];
    assert_eq!((*request, first.generation, first.error_code), (1, 1, 0));
    assert_eq!(first.leader, first.member_id, "a lone member leads");
    assert_eq!(
        first.members,
        vec![(first.member_id.clone(), Bytes::from("a"))]
    );
    let me = first.member_id.clone();
    assert_eq!(
        groups.sync(2, "g", 1, &me, vec![(me.clone(), Bytes::from("p0"))], 0),
        None
    );
    assert_eq!(
        synced(groups),
        vec![(
            2,
            Synced {
                error_code: 0,
                assignment: Bytes::from("p0")
            }
        )]
    );
    me
}

#[test]
fn a_second_member_makes_everyone_rejoin_and_the_leader_assigns() {
    let mut g = Groups::default();
    let a = settled_alone(&mut g);
    assert_eq!(g.join(3, join("", "b"), 100), None);
    assert!(joined(&mut g).is_empty(), "b waits for a to rejoin");
    assert_eq!(g.heartbeat("g", 1, &a, 200), errors::REBALANCE_IN_PROGRESS);
    assert_eq!(g.join(4, join(&a, "a"), 300), None);
    let answers = joined(&mut g);
    assert_eq!(answers.len(), 2);
    let b = answers
        .iter()
        .find(|(r, _)| *r == 3)
        .unwrap()
        .1
        .member_id
        .clone();
    for (request, answer) in &answers {
        assert_eq!((answer.generation, answer.leader.as_str()), (2, a.as_str()));
        let expected = if *request == 4 { 2 } else { 0 };
        assert_eq!(
            answer.members.len(),
            expected,
            "only the leader sees the members"
        );
    }
    assert_eq!(g.sync(5, "g", 2, &b, Vec::new(), 400), None);
    assert!(synced(&mut g).is_empty(), "b's sync waits for the leader's");
    let plan = vec![
        (a.clone(), Bytes::from("p0")),
        (b.clone(), Bytes::from("p1")),
    ];
    assert_eq!(g.sync(6, "g", 2, &a, plan, 500), None);
    let mut answers = synced(&mut g);
    answers.sort_by_key(|(r, _)| *r);
    assert_eq!(
        answers,
        vec![
            (
                5,
                Synced {
                    error_code: 0,
                    assignment: Bytes::from("p1")
                }
            ),
            (
                6,
                Synced {
                    error_code: 0,
                    assignment: Bytes::from("p0")
                }
            ),
        ]
    );
    assert_eq!(g.heartbeat("g", 2, &b, 600), 0);
    assert_eq!(g.heartbeat("g", 1, &b, 600), errors::ILLEGAL_GENERATION);
    assert_eq!(
        g.heartbeat("g", 2, "nobody", 600),
        errors::UNKNOWN_MEMBER_ID
    );
    assert_eq!(g.may_commit("g", 2, &a), Ok(()));
    assert_eq!(g.may_commit("g", 1, &a), Err(errors::ILLEGAL_GENERATION));
    assert_eq!(
        g.may_commit("g", -1, ""),
        Err(errors::ILLEGAL_GENERATION),
        "the group has members"
    );
}

#[test]
fn a_silent_member_is_dropped_after_its_session_and_the_rest_rebalance() {
    let mut g = Groups::default();
    let a = settled_alone(&mut g);
    g.join(3, join("", "b"), 0);
    g.join(4, join(&a, "a"), 0);
    let b = joined(&mut g)
        .into_iter()
        .find(|(r, _)| *r == 3)
        .unwrap()
        .1
        .member_id;
    g.heartbeat("g", 2, &a, 9_000);
    g.tick(10_001);
    assert_eq!(
        g.heartbeat("g", 2, &b, 10_001),
        errors::UNKNOWN_MEMBER_ID,
        "b was silent"
    );
    assert_eq!(
        g.heartbeat("g", 2, &a, 10_002),
        errors::REBALANCE_IN_PROGRESS
    );
    g.join(5, join(&a, "a"), 10_003);
    let answers = joined(&mut g);
    assert_eq!(answers.len(), 1);
    assert_eq!(
        (answers[0].1.generation, answers[0].1.members.len()),
        (3, 1)
    );
}

#[test]
fn leaving_empties_the_group_and_offsets_may_then_be_committed_by_anyone() {
    let mut g = Groups::default();
    let a = settled_alone(&mut g);
    assert_eq!(
        g.leave("g", &[a.clone(), "ghost".into()], 10),
        vec![0, errors::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(g.may_commit("g", -1, ""), Ok(()));
    assert_eq!(g.heartbeat("g", 1, &a, 20), errors::UNKNOWN_MEMBER_ID);
}

#[test]
fn joins_that_cannot_be_members_are_refused_at_once() {
    let mut g = Groups::default();
    let refused = g.join(1, join("stranger", "a"), 0).expect("refused now");
    assert_eq!(refused.error_code, errors::UNKNOWN_MEMBER_ID);
    let mut bad = join("", "a");
    bad.session_timeout_ms = 0;
    assert_eq!(
        g.join(2, bad, 0).unwrap().error_code,
        errors::INVALID_SESSION_TIMEOUT
    );
    settled_alone(&mut g);
    let mut other = join("", "b");
    other.protocols[0].name = "roundrobin".into();
    assert_eq!(
        g.join(3, other, 0).unwrap().error_code,
        errors::INCONSISTENT_GROUP_PROTOCOL
    );
}

/// Kafka's GroupCoordinator takes commits of the current generation while
/// the group prepares a rebalance (members commit on revoke), and refuses
/// them only while it completes one, between the joins and the sync.
#[test]
fn offsets_are_committed_while_preparing_a_rebalance_and_refused_while_completing_one() {
    let mut g = Groups::default();
    let a = settled_alone(&mut g);
    assert_eq!(g.join(3, join("", "b"), 100), None);
    assert_eq!(g.heartbeat("g", 1, &a, 150), errors::REBALANCE_IN_PROGRESS);
    assert_eq!(
        g.may_commit("g", 1, &a),
        Ok(()),
        "preparing a rebalance: the commit on revoke is taken"
    );
    assert_eq!(g.may_commit("g", 0, &a), Err(errors::ILLEGAL_GENERATION));
    assert_eq!(g.join(4, join(&a, "a"), 200), None);
    assert_eq!(joined(&mut g).len(), 2, "both joined: generation 2");
    assert_eq!(
        g.may_commit("g", 2, &a),
        Err(errors::REBALANCE_IN_PROGRESS),
        "completing a rebalance: no assignment yet"
    );
    assert_eq!(g.sync(5, "g", 2, &a, Vec::new(), 300), None);
    assert_eq!(g.may_commit("g", 2, &a), Ok(()), "stable again");
}
