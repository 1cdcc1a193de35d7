//! The consumer side of a replay: our [`ConsumerLoop`] beside the model's
//! consumer.
//!
//! The model's consumer is the client library and the application in one
//! actor. Here the library stays the model's (which leader, which offset,
//! what a fetch brought), and the application's decisions are the loop's:
//! what the model's library hands to `poll()` is handed to the loop; a
//! step in which the model's application processes or commits must be the
//! step the loop takes next; when the model polls again, the loop's poll
//! commits what auto-commit owes. After every step the group's committed
//! offset and the messages processed must be the model's.

use crate::bugs::Bug;
use crate::consumer::{CommitPolicy, ConsumerLoop, Offsets, Work};
use kafka_oracle_models::actors::consumer::{Awaiting, Consumer};
use kafka_oracle_models::actors::Ids;
use kafka_oracle_models::config::{CommitMode, Config};
use kafka_oracle_models::msg::{Msg, MsgId, Offset, PollResult, Timer};
use kafka_oracle_models::observe;
use kafka_oracle_models::system::{Action, SystemState};
use stateright::actor::ActorModelAction;

/// The model has one partition.
const PARTITION: i32 = 0;

const DOWN: &str = "consumer: up in the model, down in the consumer loop";

pub struct ConsumerSide {
    ids: Ids,
    policy: CommitPolicy,
    bug: Option<Bug>,
    /// Without consumer crashes the model processes and commits in the step
    /// a poll returns: their order cannot be observed then.
    at_once: bool,
    /// `None` while the consumer is down.
    app: Option<ConsumerLoop>,
    /// What the last poll returned, kept for processing.
    held: Vec<MsgId>,
    // What outlives a crash: the group's offset and the application's
    // effects.
    committed: Offsets,
    processed: Vec<MsgId>,
    /// The loop's clock: one tick a step.
    now: u64,
}

impl ConsumerSide {
    /// The loop for the model's commit mode, or `None` for a mode the loop
    /// does not have (auto-commit with a hand-off to a worker thread).
    pub fn start(cfg: &Config, ids: Ids, bug: Option<Bug>) -> Option<ConsumerSide> {
        let policy = match cfg.commit {
            // The model's poll() commits every time.
            CommitMode::Auto => CommitPolicy::Auto { interval_ms: 0 },
            CommitMode::ProcessThenCommit => CommitPolicy::AfterProcessing,
            CommitMode::CommitThenProcess => CommitPolicy::BeforeProcessing,
            CommitMode::AutoHandoff => return None,
        };
        cfg.consumer.then(|| ConsumerSide {
            ids,
            policy,
            bug,
            at_once: cfg.faults.consumer_crashes == 0,
            app: Some(build(policy, Offsets::new(), 0, bug)),
            held: Vec::new(),
            committed: Offsets::new(),
            processed: Vec::new(),
            now: 0,
        })
    }

    /// The model went from `prev` to `next` by `action`; the loop takes the
    /// same step. Returns the first difference.
    pub fn step(
        &mut self,
        prev: &SystemState,
        action: &Action,
        next: &SystemState,
    ) -> Result<(), String> {
        self.now += 1;
        let (c0, c1) = (
            observe::consumer(&prev.actors, &self.ids),
            observe::consumer(&next.actors, &self.ids),
        );
        let consumer = self.ids.consumer();
        match action {
            Action::Step(ActorModelAction::Deliver { dst, msg, .. }) if *dst == consumer => {
                if let Some((end, msgs)) = returned(c0, msg, c1) {
                    self.returned(end, msgs)?;
                }
            }
            // A timer that changed nothing found nothing to do.
            Action::Step(ActorModelAction::Timeout(id, timer)) if *id == consumer && c0 != c1 => {
                match timer {
                    Timer::Process => self.expect(Expected::Process)?,
                    Timer::Commit => self.expect(Expected::Commit)?,
                    Timer::ProcessCrash => {
                        self.app = None;
                        self.held.clear();
                    }
                    Timer::Restart => {
                        let from = self.committed.clone();
                        self.app = Some(build(self.policy, from, self.now, self.bug));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        self.compare(c1)
    }

    /// `poll()` returned `msgs`, up to offset `end`.
    fn returned(&mut self, end: Offset, msgs: Vec<MsgId>) -> Result<(), String> {
        let app = self.app_mut()?;
        app.returned(&Offsets::from([(PARTITION, i64::from(end))]));
        self.held = msgs;
        if self.at_once {
            while !matches!(self.next_work()?, Work::Poll { .. }) {
                self.work()?;
            }
        }
        self.poll_if_next()
    }

    /// The model's application does `expected` in this step: so must the
    /// loop, and then poll if that is what it does next.
    fn expect(&mut self, expected: Expected) -> Result<(), String> {
        let work = self.next_work()?;
        let agrees = matches!(
            (&expected, &work),
            (Expected::Process, Work::Process) | (Expected::Commit, Work::Commit(_))
        );
        if !agrees {
            return Err(format!(
                "consumer: the model's application takes the step {expected:?}; \
                 the consumer loop's next step is {work:?}"
            ));
        }
        self.work()?;
        self.poll_if_next()
    }

    /// Does the loop's next work, which is not a poll.
    fn work(&mut self) -> Result<(), String> {
        let now = self.now;
        let app = self.app_mut()?;
        match app.next(now) {
            Work::Process => {
                app.processed();
                self.processed.append(&mut self.held);
            }
            Work::Commit(offsets) => {
                app.commit_ended(&offsets, true, now);
                self.committed.extend(&offsets);
            }
            Work::Poll { .. } => unreachable!("callers stop at a poll"),
        }
        Ok(())
    }

    /// Where the loop polls next, the model's application polled in this
    /// step too: the commit `poll()` makes first is made now.
    fn poll_if_next(&mut self) -> Result<(), String> {
        let now = self.now;
        let app = self.app_mut()?;
        if let Work::Poll {
            commit_first: Some(offsets),
        } = app.next(now)
        {
            app.commit_ended(&offsets, true, now);
            self.committed.extend(&offsets);
        }
        Ok(())
    }

    fn next_work(&self) -> Result<Work, String> {
        match &self.app {
            Some(app) => Ok(app.next(self.now)),
            None => Err(DOWN.to_string()),
        }
    }

    fn app_mut(&mut self) -> Result<&mut ConsumerLoop, String> {
        self.app.as_mut().ok_or_else(|| DOWN.to_string())
    }

    fn compare(&self, model: &Consumer) -> Result<(), String> {
        let committed = self.committed.get(&PARTITION).copied();
        let model_committed = model.committed.map(i64::from);
        if committed == model_committed && self.processed == model.processed {
            return Ok(());
        }
        let mark = |same: bool| if same { ' ' } else { '*' };
        Err(format!(
            "consumer:\n  {:<22} {:<40} consumer loop\n\
             {} {:<22} {:<40} {:?}\n\
             {} {:<22} {:<40} {:?}\n",
            "",
            "model",
            mark(committed == model_committed),
            "committed offset",
            format!("{model_committed:?}"),
            committed,
            mark(self.processed == model.processed),
            "processed",
            format!("{:?}", model.processed),
            self.processed,
        ))
    }
}

#[derive(Debug)]
enum Expected {
    Process,
    Commit,
}

fn build(policy: CommitPolicy, from: Offsets, now: u64, bug: Option<Bug>) -> ConsumerLoop {
    let app = ConsumerLoop::start(policy, from, now);
    #[cfg(feature = "inject-bugs")]
    let app = app.with_bug(bug);
    #[cfg(not(feature = "inject-bugs"))]
    let _ = bug;
    app
}

/// The records of `msg` if the model's consumer took them for `poll()`:
/// they were at its position, its fetch was waiting, and it changed.
fn returned(c0: &Consumer, msg: &Msg, c1: &Consumer) -> Option<(Offset, Vec<MsgId>)> {
    let Msg::ConsumerFetchResponse {
        result: PollResult::Records { offset, msgs },
    } = msg
    else {
        return None;
    };
    let end = offset + msgs.len() as Offset;
    let taken = c0.up
        && c0.awaiting == Awaiting::Fetch
        && c0.position == Some(*offset)
        && c1.position == Some(end)
        && c0 != c1;
    taken.then(|| (end, msgs.to_vec()))
}
