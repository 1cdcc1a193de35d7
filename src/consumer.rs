//! The consumer application's loop, sans IO: in what order it polls,
//! processes and commits. The order decides what a consumer crash costs:
//! an offset committed for records not processed yet skips them for good
//! if the crash falls in between (the model's `commit-before-process`);
//! one committed after processing repeats them at worst.
//!
//! The probe's consumers run this loop against a live cluster, and
//! conformance runs it beside the model's consumer, step by step.
//!
//! A driver asks [`ConsumerLoop::next`] what to do, does it, and reports
//! back: [`returned`](ConsumerLoop::returned) after a poll,
//! [`processed`](ConsumerLoop::processed) after processing,
//! [`commit_ended`](ConsumerLoop::commit_ended) after a commit.

use crate::bugs::Bug;
use std::collections::BTreeMap;

/// The next offset to read, by partition.
pub type Offsets = BTreeMap<i32, i64>;

/// When the application commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitPolicy {
    /// `enable.auto.commit=true`: `poll()` first commits what earlier
    /// polls returned, once `interval_ms` has passed since it last did.
    /// Safe only because this loop processes a poll's records before it
    /// polls again; a hand-off to another thread would make it unsafe.
    Auto { interval_ms: u64 },
    /// `enable.auto.commit=false`, `commitSync()` after processing each
    /// poll's records: the safe order.
    AfterProcessing,
    /// `enable.auto.commit=false`, `commitSync()` right after `poll()`,
    /// before processing: the order that skips records on a crash. Offered
    /// because applications do it; the model's `commit-before-process`.
    BeforeProcessing,
}

/// What the application does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    /// Call `poll()`; with auto-commit, `poll()` commits `commit_first`
    /// before it fetches.
    Poll { commit_first: Option<Offsets> },
    /// Process the records the last poll returned.
    Process,
    /// Commit these offsets.
    Commit(Offsets),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting to poll, or in `poll()`.
    Polling,
    /// A poll returned records, not processed yet.
    Returned,
    /// The records were committed before processing, which is owed.
    CommittedFirst,
    /// The records were processed; a manual commit is owed.
    Processed,
}

#[derive(Clone, Debug)]
pub struct ConsumerLoop {
    policy: CommitPolicy,
    stage: Stage,
    /// Past what `poll()` returned.
    positions: Offsets,
    /// Past what was processed.
    processed: Offsets,
    /// What the group holds, as far as this consumer knows.
    committed: Offsets,
    /// When `poll()` last auto-committed, in the driver's milliseconds.
    last_auto_commit: u64,
    #[cfg(feature = "inject-bugs")]
    bug: Option<Bug>,
}

impl ConsumerLoop {
    /// A consumer that starts reading at `from`: what its group committed,
    /// or where it resets to. Nothing is owed until a poll moves past it.
    pub fn start(policy: CommitPolicy, from: Offsets, now_ms: u64) -> ConsumerLoop {
        ConsumerLoop {
            policy,
            stage: Stage::Polling,
            positions: from.clone(),
            processed: from.clone(),
            committed: from,
            last_auto_commit: now_ms,
            #[cfg(feature = "inject-bugs")]
            bug: None,
        }
    }

    /// The same loop, built with `bug` (tests of conformance only).
    #[cfg(feature = "inject-bugs")]
    pub fn with_bug(self, bug: Option<Bug>) -> ConsumerLoop {
        ConsumerLoop { bug, ..self }
    }

    #[cfg(feature = "inject-bugs")]
    fn has(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    #[cfg(not(feature = "inject-bugs"))]
    fn has(&self, _: Bug) -> bool {
        false
    }

    /// The order of commit and processing this loop follows.
    fn policy(&self) -> CommitPolicy {
        match self.policy {
            CommitPolicy::AfterProcessing if self.has(Bug::CommitBeforeProcessing) => {
                CommitPolicy::BeforeProcessing
            }
            policy => policy,
        }
    }

    /// What to do next, at `now_ms`. Asking changes nothing.
    pub fn next(&self, now_ms: u64) -> Work {
        let owed = |offsets: &Offsets| (*offsets != self.committed).then(|| offsets.clone());
        match (self.stage, self.policy()) {
            (Stage::Returned, CommitPolicy::BeforeProcessing) => match owed(&self.positions) {
                Some(offsets) => Work::Commit(offsets),
                None => Work::Process,
            },
            (Stage::Returned | Stage::CommittedFirst, _) => Work::Process,
            (Stage::Processed, CommitPolicy::AfterProcessing) => match owed(&self.processed) {
                Some(offsets) => Work::Commit(offsets),
                None => Work::Poll { commit_first: None },
            },
            (_, CommitPolicy::Auto { interval_ms }) => {
                let due = now_ms.saturating_sub(self.last_auto_commit) >= interval_ms;
                Work::Poll {
                    commit_first: owed(&self.positions).filter(|_| due),
                }
            }
            (_, _) => Work::Poll { commit_first: None },
        }
    }

    /// `poll()` returned records up to (not including) these offsets; a
    /// partition it returned nothing from may be left out.
    pub fn returned(&mut self, upto: &Offsets) {
        self.positions.extend(upto);
        self.stage = Stage::Returned;
    }

    /// The records the last poll returned are processed.
    pub fn processed(&mut self) {
        self.processed = self.positions.clone();
        self.stage = match self.policy() {
            CommitPolicy::AfterProcessing => Stage::Processed,
            CommitPolicy::Auto { .. } | CommitPolicy::BeforeProcessing => Stage::Polling,
        };
    }

    /// A commit of `offsets` that [`next`](Self::next) asked for ended at
    /// `now_ms`; `ok` when the group holds them now. A failed commit is not
    /// retried at once: the next one covers it.
    pub fn commit_ended(&mut self, offsets: &Offsets, ok: bool, now_ms: u64) {
        if ok {
            self.committed.extend(offsets);
        }
        self.stage = match self.stage {
            Stage::Returned => Stage::CommittedFirst,
            Stage::Processed => Stage::Polling,
            Stage::Polling => {
                self.last_auto_commit = now_ms;
                Stage::Polling
            }
            Stage::CommittedFirst => Stage::CommittedFirst,
        };
    }
}
