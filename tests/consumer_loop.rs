//! The consumer loop's order of poll, processing and commit, policy by
//! policy: what conformance compares with the model's consumer and what
//! the probe's consumers run.

use kafka_oracle::bugs::Bug;
use kafka_oracle::consumer::{CommitPolicy, ConsumerLoop, Offsets, Work};

fn offsets(pairs: &[(i32, i64)]) -> Offsets {
    pairs.iter().copied().collect()
}

fn poll() -> Work {
    Work::Poll { commit_first: None }
}

#[test]
fn after_processing_commits_what_was_processed_then_polls() {
    let mut app = ConsumerLoop::start(CommitPolicy::AfterProcessing, offsets(&[(0, 0)]), 0);
    assert_eq!(app.next(0), poll());
    app.returned(&offsets(&[(0, 3)]));
    assert_eq!(app.next(0), Work::Process);
    app.processed();
    assert_eq!(app.next(0), Work::Commit(offsets(&[(0, 3)])));
    app.commit_ended(&offsets(&[(0, 3)]), true, 0);
    assert_eq!(app.next(0), poll());
}

#[test]
fn before_processing_commits_what_poll_returned_first() {
    let mut app = ConsumerLoop::start(CommitPolicy::BeforeProcessing, offsets(&[(0, 0)]), 0);
    app.returned(&offsets(&[(0, 3)]));
    assert_eq!(app.next(0), Work::Commit(offsets(&[(0, 3)])));
    app.commit_ended(&offsets(&[(0, 3)]), true, 0);
    assert_eq!(app.next(0), Work::Process);
    app.processed();
    assert_eq!(app.next(0), poll());
}

#[test]
fn auto_commit_happens_in_poll_once_the_interval_has_passed() {
    let policy = CommitPolicy::Auto { interval_ms: 100 };
    let mut app = ConsumerLoop::start(policy, offsets(&[(0, 0)]), 0);
    app.returned(&offsets(&[(0, 2)]));
    // Processing comes first, whatever the clock says: the loop processes
    // a poll's records before it polls again.
    assert_eq!(app.next(500), Work::Process);
    app.processed();
    assert_eq!(app.next(99), poll(), "not due yet");
    let due = Work::Poll {
        commit_first: Some(offsets(&[(0, 2)])),
    };
    assert_eq!(app.next(100), due);
    app.commit_ended(&offsets(&[(0, 2)]), true, 100);
    app.returned(&offsets(&[(0, 5)]));
    app.processed();
    assert_eq!(
        app.next(199),
        poll(),
        "the interval counts from the last commit"
    );
    assert_eq!(
        app.next(200),
        Work::Poll {
            commit_first: Some(offsets(&[(0, 5)]))
        }
    );
}

#[test]
fn a_failed_commit_is_covered_by_the_next_one() {
    let mut app = ConsumerLoop::start(CommitPolicy::AfterProcessing, offsets(&[(0, 0)]), 0);
    app.returned(&offsets(&[(0, 3)]));
    app.processed();
    app.commit_ended(&offsets(&[(0, 3)]), false, 0);
    assert_eq!(app.next(0), poll(), "not retried at once");
    app.returned(&offsets(&[(0, 5)]));
    app.processed();
    assert_eq!(app.next(0), Work::Commit(offsets(&[(0, 5)])));

    let policy = CommitPolicy::Auto { interval_ms: 10 };
    let mut app = ConsumerLoop::start(policy, offsets(&[(0, 0)]), 0);
    app.returned(&offsets(&[(0, 1)]));
    app.processed();
    app.commit_ended(&offsets(&[(0, 1)]), false, 10);
    assert_eq!(app.next(19), poll(), "an auto-commit waits its interval");
    assert_eq!(
        app.next(20),
        Work::Poll {
            commit_first: Some(offsets(&[(0, 1)]))
        }
    );
}

#[test]
fn nothing_new_means_nothing_to_commit() {
    for policy in [
        CommitPolicy::AfterProcessing,
        CommitPolicy::BeforeProcessing,
        CommitPolicy::Auto { interval_ms: 0 },
    ] {
        // Resumed from what the group holds.
        let mut app = ConsumerLoop::start(policy, offsets(&[(0, 7)]), 0);
        assert_eq!(app.next(1_000), poll(), "{policy:?}");
        app.returned(&Offsets::new());
        assert_eq!(app.next(1_000), Work::Process, "{policy:?}");
        app.processed();
        assert_eq!(app.next(1_000), poll(), "{policy:?}");
    }
}

#[test]
fn a_commit_names_every_partition_read() {
    let start = offsets(&[(0, 4), (1, 0)]);
    let mut app = ConsumerLoop::start(CommitPolicy::AfterProcessing, start, 0);
    app.returned(&offsets(&[(1, 2)]));
    app.processed();
    assert_eq!(app.next(0), Work::Commit(offsets(&[(0, 4), (1, 2)])));
}

#[test]
fn the_injected_bug_commits_before_processing() {
    let mut app = ConsumerLoop::start(CommitPolicy::AfterProcessing, offsets(&[(0, 0)]), 0)
        .with_bug(Some(Bug::CommitBeforeProcessing));
    app.returned(&offsets(&[(0, 3)]));
    assert_eq!(app.next(0), Work::Commit(offsets(&[(0, 3)])));
    app.commit_ended(&offsets(&[(0, 3)]), true, 0);
    assert_eq!(app.next(0), Work::Process);
}
