//! The matrix: the configurations the Kafka no-loss literature discusses,
//! each with the verdict it is known to deserve.
//!
//! Each scenario is as small as its point allows (replicas, messages,
//! faults): the state space multiplies with each. A scenario that only
//! concerns replication leaves the consumer out.

use crate::config::{Config, ConfigError};

/// Kafka's promise: judged on every scenario.
pub const KAFKA_PROMISE: &[&str] = &[
    "committed_never_lost",
    "acked_is_committed",
    "committed_prefix_agrees",
    "high_watermark_monotonic",
    "consumer_offset_monotonic",
];

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: &'static str,
    /// The configuration from the no-loss literature it reproduces (a row of
    /// the project design's table of expected verdicts).
    pub row: &'static str,
    /// One line tying the verdict to the Kafka setting.
    pub explanation: &'static str,
    /// `knob=value` over [`Config::default`].
    pub knobs: &'static [(&'static str, &'static str)],
    /// Properties judged besides [`KAFKA_PROMISE`] (including the
    /// "sometimes" properties that must be reached).
    pub also_judged: &'static [&'static str],
    /// Empty: the scenario must pass.
    pub expected_violated: &'static [&'static str],
}

impl Scenario {
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::default().with(self.knobs.iter().copied())
    }

    pub fn judged(&self) -> Vec<&'static str> {
        KAFKA_PROMISE
            .iter()
            .chain(self.also_judged)
            .copied()
            .collect()
    }

    pub fn expects_pass(&self) -> bool {
        self.expected_violated.is_empty()
    }
}

const CONSUMPTION: &[&str] = &[
    "at_least_once",
    "message_committed",
    "message_consumed",
    "quiescence_reached",
];

/// Consumption judged across a leader change, which must happen.
const CONSUMPTION_AFTER_FAILOVER: &[&str] = &[
    "at_least_once",
    "message_committed",
    "leader_failover",
    "message_consumed",
    "quiescence_reached",
];

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "safe",
        row: "acks=all, retries>0, unclean=false, RF=3, min.insync=2, callback send, process-then-commit, leader-epoch truncation",
        explanation: "the recommended settings: a committed message survives a leader crash and is consumed at least once",
        knobs: &[("model.messages", "1"), ("model.process.crashes", "1")],
        also_judged: CONSUMPTION_AFTER_FAILOVER,
        expected_violated: &[],
    },
    Scenario {
        name: "acks-1-leader-crash",
        row: "acks=0, or acks=1 with a leader crash before followers fetch",
        explanation: "acks=1 answers once the leader has the message; a leader crash before the followers fetch it elects a replica without it",
        knobs: &[
            ("acks", "1"),
            ("replication.factor", "2"),
            ("min.insync.replicas", "1"),
            ("model.messages", "1"),
            ("model.process.crashes", "1"),
        ],
        also_judged: &["at_least_once", "message_committed", "leader_failover"],
        expected_violated: &["at_least_once"],
    },
    Scenario {
        name: "acks-0-lost-request",
        row: "acks=0, or acks=1 with a leader crash before followers fetch",
        explanation: "acks=0 reports success when the request leaves the client; a request lost on the way is never stored",
        knobs: &[
            ("acks", "0"),
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "2"),
            ("model.network.drops", "1"),
        ],
        also_judged: CONSUMPTION,
        expected_violated: &["at_least_once"],
    },
    Scenario {
        name: "unclean-election",
        row: "unclean.leader.election.enable=true",
        explanation: "with the whole ISR down, an out-of-sync replica is elected and the committed message is gone",
        knobs: &[
            ("unclean.leader.election.enable", "true"),
            ("replication.factor", "2"),
            ("min.insync.replicas", "1"),
            ("retries", "0"),
            ("model.messages", "1"),
            ("model.process.crashes", "2"),
            ("model.consumer", "false"),
        ],
        also_judged: &["message_committed", "leader_failover"],
        expected_violated: &["committed_never_lost"],
    },
    Scenario {
        name: "min-insync-1",
        row: "min.insync.replicas=1 (ISR shrinks to the leader alone, acks=all degenerates to acks=1)",
        explanation: "once the ISR is the leader alone, acks=all commits on one disk; that machine's crash loses the acknowledged message",
        knobs: &[
            ("replication.factor", "2"),
            ("min.insync.replicas", "1"),
            ("retries", "0"),
            ("model.messages", "1"),
            ("model.isr.shrinks", "1"),
            ("model.machine.crashes", "1"),
            ("model.consumer", "false"),
        ],
        also_judged: &["committed_durable", "message_committed"],
        expected_violated: &["committed_durable"],
    },
    Scenario {
        name: "rf-equals-min-insync",
        row: "RF == min.insync.replicas",
        explanation: "no loss, but with one replica out of the ISR acks=all writes fail with NOT_ENOUGH_REPLICAS",
        knobs: &[
            ("replication.factor", "2"),
            ("min.insync.replicas", "2"),
            ("retries", "0"),
            ("model.messages", "1"),
            ("model.process.crashes", "1"),
            ("model.consumer", "false"),
        ],
        also_judged: &["tolerates_one_replica_down", "message_committed"],
        expected_violated: &["tolerates_one_replica_down"],
    },
    Scenario {
        name: "fire-and-forget-transient-error",
        row: "fire-and-forget send, or retries=0, with a transient error",
        explanation: "send() without a callback and retries=0: a lost request fails and nobody is told",
        knobs: &[
            ("producer.send", "fire-and-forget"),
            ("retries", "0"),
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "1"),
            ("model.network.drops", "1"),
        ],
        also_judged: &[
            "at_least_once",
            "end_to_end_delivery",
            "quiescence_reached",
        ],
        expected_violated: &["end_to_end_delivery"],
    },
    Scenario {
        name: "producer-crash-buffered",
        row: "producer crash with records still in its buffer",
        explanation: "send() returned, the records sat in the producer's buffer, the process died: never stored, never reported",
        knobs: &[
            ("producer.send", "fire-and-forget"),
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "2"),
            ("model.producer.crashes", "1"),
        ],
        also_judged: &[
            "at_least_once",
            "end_to_end_delivery",
            "quiescence_reached",
        ],
        expected_violated: &["end_to_end_delivery"],
    },
    Scenario {
        name: "commit-before-process",
        row: "auto-commit with processing handed off to a queue or thread, or commit-before-process; consumer crash",
        explanation: "the offset is committed before the record is processed; a consumer crash in between skips it for good",
        knobs: &[
            ("consumer.commit", "commit-then-process"),
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "1"),
            ("model.consumer.crashes", "1"),
        ],
        also_judged: CONSUMPTION,
        expected_violated: &["at_least_once"],
    },
    Scenario {
        name: "auto-commit-handoff",
        row: "auto-commit with processing handed off to a queue or thread, or commit-before-process; consumer crash",
        explanation: "auto-commit in poll() commits records still queued for a worker thread; a crash loses the queue",
        knobs: &[
            ("consumer.commit", "auto-handoff"),
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "1"),
            ("model.consumer.crashes", "1"),
        ],
        also_judged: CONSUMPTION,
        expected_violated: &["at_least_once"],
    },
    Scenario {
        name: "auto-commit-in-poll-loop",
        row: "auto-commit with processing inside the poll loop; consumer crash",
        explanation: "poll() commits only what the previous poll returned, processed by then: a crash repeats records, never skips them",
        knobs: &[
            ("consumer.commit", "auto"),
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "2"),
            ("model.consumer.crashes", "1"),
        ],
        also_judged: CONSUMPTION,
        expected_violated: &[],
    },
    Scenario {
        name: "commit-after-process",
        row: "manual commit after processing; consumer crash",
        explanation: "the offset is committed only once the record is processed: a consumer crash in between repeats the record, never skips it",
        knobs: &[
            ("consumer.commit", "process-then-commit"),
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "2"),
            ("model.consumer.crashes", "1"),
        ],
        also_judged: CONSUMPTION,
        expected_violated: &[],
    },
    Scenario {
        name: "power-loss-page-cache",
        row: "flush = page cache only, all replicas crash together",
        explanation: "acknowledged writes sit in the page cache of every replica; a power loss takes them all",
        knobs: &[
            ("replication.factor", "2"),
            ("min.insync.replicas", "2"),
            ("retries", "0"),
            ("model.messages", "1"),
            ("model.power.losses", "1"),
            ("model.consumer", "false"),
        ],
        also_judged: &["committed_durable", "message_committed"],
        expected_violated: &["committed_durable"],
    },
    Scenario {
        name: "power-loss-flush-every-message",
        row: "flush = page cache only, all replicas crash together",
        explanation: "log.flush.interval.messages=1 fsyncs each write before it is replicated: a power loss keeps every committed message",
        knobs: &[
            ("log.flush.interval.messages", "1"),
            ("replication.factor", "2"),
            ("min.insync.replicas", "2"),
            ("retries", "0"),
            ("model.messages", "2"),
            ("model.power.losses", "1"),
            ("model.consumer", "false"),
        ],
        also_judged: &["committed_durable", "message_committed"],
        expected_violated: &[],
    },
    Scenario {
        name: "truncate-to-high-watermark",
        row: "truncation to high watermark (pre-KIP-101), leader restart sequence",
        explanation: "the recommended settings but RF=2 and pre-KIP-101 truncation: a restarted follower truncates to its stale high watermark, then is elected",
        knobs: &[
            ("replica.truncation", "high-watermark"),
            ("replication.factor", "2"),
            ("model.messages", "1"),
            ("model.process.crashes", "2"),
        ],
        also_judged: CONSUMPTION_AFTER_FAILOVER,
        // The consumer tails the log with a long poll, so it reads the
        // message the moment it is committed, before the loss: at-least-once
        // survives here, Kafka's promise does not.
        expected_violated: &["committed_never_lost"],
    },
    Scenario {
        name: "truncate-by-leader-epoch",
        row: "truncation to high watermark (pre-KIP-101), leader restart sequence",
        explanation: "the same settings and faults with KIP-101/279 truncation by leader epoch: nothing committed is lost",
        knobs: &[
            ("replica.truncation", "leader-epoch"),
            ("replication.factor", "2"),
            ("model.messages", "1"),
            ("model.process.crashes", "2"),
        ],
        also_judged: CONSUMPTION_AFTER_FAILOVER,
        expected_violated: &[],
    },
    Scenario {
        name: "offset-reset-latest",
        row: "auto.offset.reset=latest and the consumer starts after messages were written",
        explanation: "a consumer with no committed offset starts at the log end: what was written before it is never read",
        knobs: &[
            ("auto.offset.reset", "latest"),
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "1"),
        ],
        also_judged: &["at_least_once", "message_committed", "quiescence_reached"],
        expected_violated: &["at_least_once"],
    },
    Scenario {
        name: "retries-without-idempotence",
        row: "retries>0 without idempotence",
        explanation: "the acknowledgement is lost, the producer retries, the leader appends the message again: at least once, not exactly once",
        knobs: &[
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "1"),
            ("model.network.drops", "1"),
        ],
        also_judged: &["no_duplicates", "at_least_once", "message_committed", "quiescence_reached"],
        expected_violated: &["no_duplicates"],
    },
    Scenario {
        name: "retries-with-idempotence",
        row: "retries>0 without idempotence",
        explanation: "enable.idempotence=true: the retried message carries its sequence number and is not appended twice",
        knobs: &[
            ("enable.idempotence", "true"),
            ("replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("model.messages", "2"),
            ("model.network.drops", "1"),
        ],
        also_judged: &["no_duplicates", "at_least_once", "message_committed", "quiescence_reached"],
        expected_violated: &[],
    },
];

pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}
