//! A configuration of the modelled system, spelled with Kafka's own knob names
//! where Kafka has one, and `model.*` names for the bounds of the search.

use kafka_oracle_properties::Acks;
use std::fmt;

/// How the application calls the producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendMode {
    /// `producer.send(record).get()`: one record at a time, failures raise.
    Sync,
    /// `producer.send(record, callback)`: records are buffered and sent in
    /// order; the callback reports each failure to the application.
    Callback,
    /// `producer.send(record)` with the future dropped: nothing is reported.
    FireAndForget,
}

/// When the consumer commits its offset relative to processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommitMode {
    /// `enable.auto.commit=true`, records processed inside the poll loop:
    /// each `poll()` commits the position returned by the previous one.
    Auto,
    /// `enable.auto.commit=true`, records handed to another thread through an
    /// in-memory queue: `poll()` commits records that may still be queued.
    AutoHandoff,
    /// Manual commit after processing (the safe order).
    ProcessThenCommit,
    /// Manual commit before processing.
    CommitThenProcess,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffsetReset {
    Earliest,
    Latest,
}

/// `log.flush.interval.messages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flush {
    /// `1`: every append is fsynced before it is acknowledged or replicated.
    EveryMessage,
    /// Kafka's default (`Long.MAX_VALUE`): the OS page cache decides. The
    /// model assumes the worst case: nothing was written back at a machine
    /// crash.
    PageCache,
}

/// What a follower truncates to after a leader change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Truncation {
    /// Before KIP-101: to its own high watermark.
    HighWatermark,
    /// KIP-101/279 (in KIP-320's form: the fetch carries the last fetched
    /// epoch): to the end offset of its last epoch on the leader.
    LeaderEpoch,
}

/// Upper bounds on every fault, so that the search is finite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Faults {
    /// Replica process crashes (kill -9): memory lost, the page cache kept.
    pub process_crashes: u8,
    /// Replica machine crashes: what was not flushed is lost too.
    pub machine_crashes: u8,
    /// Every replica's machine crashes at once.
    pub power_losses: u8,
    /// The leader drops lagging followers from the ISR (replica.lag.time.max.ms).
    pub isr_shrinks: u8,
    /// Messages lost by the network.
    pub network_drops: u8,
    /// Messages the network delivers twice.
    pub network_duplicates: u8,
    /// Messages the network delivers after later ones on their connection.
    pub network_reorders: u8,
    pub producer_crashes: u8,
    pub consumer_crashes: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    pub acks: Acks,
    pub replication_factor: u8,
    pub min_insync_replicas: u8,
    pub unclean_leader_election: bool,
    pub retries: u8,
    pub idempotence: bool,
    pub send: SendMode,
    pub commit: CommitMode,
    pub offset_reset: OffsetReset,
    pub flush: Flush,
    pub truncation: Truncation,
    /// How many messages the producer application sends.
    pub messages: u8,
    /// Whether the consumer runs. Scenarios about replication alone leave it
    /// out: its steps would only multiply the interleavings.
    pub consumer: bool,
    pub faults: Faults,
}

/// Most replicas a model may have: replica sets are bitmasks in a byte and
/// the state space grows too fast beyond this anyway.
pub const REPLICAS_MAX: u8 = 3;
/// Most messages: message sets are bitmasks in a byte.
pub const MESSAGES_MAX: u8 = 4;
/// Most retries: each one multiplies the producer's states.
pub const RETRIES_MAX: u8 = 3;
/// Most faults of one kind.
pub const FAULTS_MAX: u8 = 3;

impl Default for Config {
    /// The configuration the no-loss literature recommends.
    fn default() -> Self {
        Config {
            acks: Acks::All,
            replication_factor: 3,
            min_insync_replicas: 2,
            unclean_leader_election: false,
            retries: 1,
            idempotence: false,
            send: SendMode::Callback,
            commit: CommitMode::ProcessThenCommit,
            offset_reset: OffsetReset::Earliest,
            flush: Flush::PageCache,
            truncation: Truncation::LeaderEpoch,
            messages: 2,
            consumer: true,
            faults: Faults::default(),
        }
    }
}

/// Named bounds of the search, `check --bounds`: how many messages and
/// faults a check of one configuration explores. Knobs given after them
/// (`--set model.messages=3`) win.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bounds {
    /// One message, one replica process crash: seconds.
    Small,
    /// Two messages, one replica process crash: a minute and a half for
    /// the recommended settings (4.75 million states).
    Default,
    /// Two messages, a replica process crash and a machine crash, a lost
    /// network message, a consumer crash: more than this machine exhausts
    /// (15 million states in four minutes were not the end of even the
    /// default bounds plus a consumer crash); for runs with `--max-seconds`.
    Large,
}

impl Bounds {
    pub fn knobs(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Bounds::Small => &[("model.messages", "1"), ("model.process.crashes", "1")],
            Bounds::Default => &[("model.messages", "2"), ("model.process.crashes", "1")],
            Bounds::Large => &[
                ("model.messages", "2"),
                ("model.process.crashes", "1"),
                ("model.machine.crashes", "1"),
                ("model.network.drops", "1"),
                ("model.consumer.crashes", "1"),
            ],
        }
    }
}

/// A knob that could not be applied, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub knob: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.knob, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Every knob `Config::set` accepts, with the values it takes.
pub const KNOBS: &[(&str, &str)] = &[
    ("acks", "0, 1, all (or -1)"),
    ("replication.factor", "1..=3"),
    ("min.insync.replicas", "1..=replication.factor"),
    ("unclean.leader.election.enable", "true, false"),
    ("retries", "0..=3 (the model's bound on Kafka's retries)"),
    ("enable.idempotence", "true, false"),
    ("producer.send", "sync, callback, fire-and-forget"),
    (
        "enable.auto.commit",
        "true (auto), false (process-then-commit); a consumer.commit that agrees keeps its mode",
    ),
    (
        "consumer.commit",
        "auto, auto-handoff, process-then-commit, commit-then-process",
    ),
    ("auto.offset.reset", "earliest, latest"),
    (
        "log.flush.interval.messages",
        "1 (fsync each message), 9223372036854775807 (Kafka's default: the page cache)",
    ),
    (
        "replica.truncation",
        "leader-epoch (KIP-101/279), high-watermark (before KIP-101)",
    ),
    ("model.messages", "1..=4 messages the producer sends"),
    ("model.consumer", "true, false (leave the consumer out)"),
    (
        "model.process.crashes",
        "0..=3 replica process crashes (kill -9)",
    ),
    (
        "model.machine.crashes",
        "0..=3 replica machine crashes (unflushed data lost)",
    ),
    (
        "model.power.losses",
        "0..=3 crashes of every replica's machine at once",
    ),
    (
        "model.isr.shrinks",
        "0..=3 ISR shrinks by the leader (replica.lag.time.max.ms)",
    ),
    ("model.network.drops", "0..=3 lost network messages"),
    (
        "model.network.duplicates",
        "0..=3 network messages delivered twice",
    ),
    (
        "model.network.reorders",
        "0..=3 network messages overtaken by later ones",
    ),
    ("model.producer.crashes", "0..=3 producer process crashes"),
    ("model.consumer.crashes", "0..=3 consumer process crashes"),
];

/// The `log.flush.interval.messages` values the model checks.
const FLUSH_MODELLED: &str = "1 (fsync each message) or 9223372036854775807 (Kafka's default, \
    as when it is not set: the page cache decides); flushing every N messages is not modelled yet";

fn bool_value(knob: &str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(knob, value, "true or false")),
    }
}

fn bad(knob: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError {
        knob: knob.to_string(),
        reason: format!("bad value '{value}', expected {expected}"),
    }
}

fn number(knob: &str, value: &str, min: u8, max: u8) -> Result<u8, ConfigError> {
    match value.parse::<u8>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad(knob, value, &format!("a number from {min} to {max}"))),
    }
}

impl Config {
    /// Applies one `knob=value`. Cross-knob rules are checked by
    /// [`Config::validate`] once every knob is set.
    pub fn set(&mut self, knob: &str, value: &str) -> Result<(), ConfigError> {
        let value = value.trim();
        let f = &mut self.faults;
        match knob.trim() {
            "acks" => {
                self.acks = match value {
                    "0" => Acks::None,
                    "1" => Acks::Leader,
                    "all" | "-1" => Acks::All,
                    _ => return Err(bad(knob, value, "0, 1, all or -1")),
                }
            }
            "replication.factor" | "default.replication.factor" => {
                self.replication_factor = number(knob, value, 1, REPLICAS_MAX)?
            }
            "min.insync.replicas" => {
                self.min_insync_replicas = number(knob, value, 1, REPLICAS_MAX)?
            }
            "unclean.leader.election.enable" => {
                self.unclean_leader_election = bool_value(knob, value)?
            }
            "retries" => self.retries = number(knob, value, 0, RETRIES_MAX)?,
            "enable.idempotence" => self.idempotence = bool_value(knob, value)?,
            "producer.send" => {
                self.send = match value {
                    "sync" => SendMode::Sync,
                    "callback" => SendMode::Callback,
                    "fire-and-forget" => SendMode::FireAndForget,
                    _ => return Err(bad(knob, value, "sync, callback or fire-and-forget")),
                }
            }
            "enable.auto.commit" => {
                // Says only whether the consumer commits by itself: a
                // consumer.commit that agrees keeps its finer mode, whichever
                // of the two was set first.
                let auto = bool_value(knob, value)?;
                if auto != matches!(self.commit, CommitMode::Auto | CommitMode::AutoHandoff) {
                    self.commit = if auto {
                        CommitMode::Auto
                    } else {
                        CommitMode::ProcessThenCommit
                    }
                }
            }
            "consumer.commit" => {
                self.commit = match value {
                    "auto" => CommitMode::Auto,
                    "auto-handoff" => CommitMode::AutoHandoff,
                    "process-then-commit" => CommitMode::ProcessThenCommit,
                    "commit-then-process" => CommitMode::CommitThenProcess,
                    _ => {
                        return Err(bad(
                            knob,
                            value,
                            "auto, auto-handoff, process-then-commit or commit-then-process",
                        ))
                    }
                }
            }
            "auto.offset.reset" => {
                self.offset_reset = match value {
                    "earliest" => OffsetReset::Earliest,
                    "latest" => OffsetReset::Latest,
                    _ => return Err(bad(knob, value, "earliest or latest")),
                }
            }
            "log.flush.interval.messages" => {
                // A flush every N > 1 messages is neither of the two the
                // model knows: refused rather than checked as one of them.
                // Kafka's knob is a Long, its default Long.MAX_VALUE.
                self.flush = match value.parse::<i64>() {
                    Ok(1) => Flush::EveryMessage,
                    Ok(i64::MAX) => Flush::PageCache,
                    _ => return Err(bad(knob, value, FLUSH_MODELLED)),
                }
            }
            "replica.truncation" => {
                self.truncation = match value {
                    "leader-epoch" => Truncation::LeaderEpoch,
                    "high-watermark" => Truncation::HighWatermark,
                    _ => return Err(bad(knob, value, "leader-epoch or high-watermark")),
                }
            }
            "model.messages" => self.messages = number(knob, value, 1, MESSAGES_MAX)?,
            "model.consumer" => self.consumer = bool_value(knob, value)?,
            "model.process.crashes" => f.process_crashes = number(knob, value, 0, FAULTS_MAX)?,
            "model.machine.crashes" => f.machine_crashes = number(knob, value, 0, FAULTS_MAX)?,
            "model.power.losses" => f.power_losses = number(knob, value, 0, FAULTS_MAX)?,
            "model.isr.shrinks" => f.isr_shrinks = number(knob, value, 0, FAULTS_MAX)?,
            "model.network.drops" => f.network_drops = number(knob, value, 0, FAULTS_MAX)?,
            "model.network.duplicates" => {
                f.network_duplicates = number(knob, value, 0, FAULTS_MAX)?
            }
            "model.network.reorders" => f.network_reorders = number(knob, value, 0, FAULTS_MAX)?,
            "model.producer.crashes" => f.producer_crashes = number(knob, value, 0, FAULTS_MAX)?,
            "model.consumer.crashes" => f.consumer_crashes = number(knob, value, 0, FAULTS_MAX)?,
            other => {
                return Err(ConfigError {
                    knob: other.to_string(),
                    reason: "unknown knob (`kafka-oracle check --knobs` lists them)".to_string(),
                })
            }
        }
        Ok(())
    }

    /// The rules that involve more than one knob.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.min_insync_replicas > self.replication_factor {
            return Err(ConfigError {
                knob: "min.insync.replicas".to_string(),
                reason: format!(
                    "{} is more than replication.factor {}: no write could ever succeed with acks=all",
                    self.min_insync_replicas, self.replication_factor
                ),
            });
        }
        if !self.consumer && self.faults.consumer_crashes > 0 {
            return Err(ConfigError {
                knob: "model.consumer.crashes".to_string(),
                reason: "the consumer is left out (model.consumer=false): it cannot crash"
                    .to_string(),
            });
        }
        Ok(())
    }

    /// The configuration as `knob=value` lines, in [`KNOBS`] order: what a
    /// trace records, and what `Config::set` reads back.
    pub fn knobs(&self) -> Vec<(&'static str, String)> {
        let f = &self.faults;
        let acks = match self.acks {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        };
        let send = match self.send {
            SendMode::Sync => "sync",
            SendMode::Callback => "callback",
            SendMode::FireAndForget => "fire-and-forget",
        };
        let commit = match self.commit {
            CommitMode::Auto => "auto",
            CommitMode::AutoHandoff => "auto-handoff",
            CommitMode::ProcessThenCommit => "process-then-commit",
            CommitMode::CommitThenProcess => "commit-then-process",
        };
        vec![
            ("acks", acks.to_string()),
            ("replication.factor", self.replication_factor.to_string()),
            ("min.insync.replicas", self.min_insync_replicas.to_string()),
            (
                "unclean.leader.election.enable",
                self.unclean_leader_election.to_string(),
            ),
            ("retries", self.retries.to_string()),
            ("enable.idempotence", self.idempotence.to_string()),
            ("producer.send", send.to_string()),
            ("consumer.commit", commit.to_string()),
            (
                "auto.offset.reset",
                match self.offset_reset {
                    OffsetReset::Earliest => "earliest",
                    OffsetReset::Latest => "latest",
                }
                .to_string(),
            ),
            (
                "log.flush.interval.messages",
                match self.flush {
                    Flush::EveryMessage => "1",
                    Flush::PageCache => "9223372036854775807",
                }
                .to_string(),
            ),
            (
                "replica.truncation",
                match self.truncation {
                    Truncation::LeaderEpoch => "leader-epoch",
                    Truncation::HighWatermark => "high-watermark",
                }
                .to_string(),
            ),
            ("model.messages", self.messages.to_string()),
            ("model.consumer", self.consumer.to_string()),
            ("model.process.crashes", f.process_crashes.to_string()),
            ("model.machine.crashes", f.machine_crashes.to_string()),
            ("model.power.losses", f.power_losses.to_string()),
            ("model.isr.shrinks", f.isr_shrinks.to_string()),
            ("model.network.drops", f.network_drops.to_string()),
            ("model.network.duplicates", f.network_duplicates.to_string()),
            ("model.network.reorders", f.network_reorders.to_string()),
            ("model.producer.crashes", f.producer_crashes.to_string()),
            ("model.consumer.crashes", f.consumer_crashes.to_string()),
        ]
    }

    /// The bounds of the search in a few words: messages, then each fault
    /// with a budget.
    pub fn bounds(&self) -> String {
        let f = &self.faults;
        let mut parts = vec![format!(
            "{} message{}",
            self.messages,
            if self.messages == 1 { "" } else { "s" }
        )];
        let faults = [
            (f.process_crashes, "process crash", "process crashes"),
            (f.machine_crashes, "machine crash", "machine crashes"),
            (f.power_losses, "power loss", "power losses"),
            (f.isr_shrinks, "ISR shrink", "ISR shrinks"),
            (f.network_drops, "lost message", "lost messages"),
            (
                f.network_duplicates,
                "duplicated message",
                "duplicated messages",
            ),
            (
                f.network_reorders,
                "reordered message",
                "reordered messages",
            ),
            (f.producer_crashes, "producer crash", "producer crashes"),
            (f.consumer_crashes, "consumer crash", "consumer crashes"),
        ];
        for (n, one, many) in faults {
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        }
        parts.join(", ")
    }

    /// Applies `knob=value` pairs, then validates.
    pub fn with<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Config, ConfigError> {
        for (knob, value) in pairs {
            self.set(knob, value)?;
        }
        self.validate()?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::{CommitMode, Config, Flush};

    #[test]
    fn a_flush_interval_the_model_does_not_know_is_refused() {
        let mut cfg = Config::default();
        cfg.set("log.flush.interval.messages", "1").unwrap();
        assert_eq!(cfg.flush, Flush::EveryMessage);
        cfg.set("log.flush.interval.messages", "9223372036854775807")
            .unwrap();
        assert_eq!(cfg.flush, Flush::PageCache);
        for value in ["2", "1000", "0", "often"] {
            let err = cfg.set("log.flush.interval.messages", value).unwrap_err();
            assert!(err.reason.contains("not modelled yet"), "{value}: {err}");
        }
    }

    #[test]
    fn auto_commit_keeps_the_commit_mode_that_agrees_in_either_order() {
        for pairs in [
            [
                ("consumer.commit", "auto-handoff"),
                ("enable.auto.commit", "true"),
            ],
            [
                ("enable.auto.commit", "true"),
                ("consumer.commit", "auto-handoff"),
            ],
        ] {
            let cfg = Config::default().with(pairs).unwrap();
            assert_eq!(cfg.commit, CommitMode::AutoHandoff, "{pairs:?}");
        }
        for pairs in [
            [
                ("consumer.commit", "commit-then-process"),
                ("enable.auto.commit", "false"),
            ],
            [
                ("enable.auto.commit", "false"),
                ("consumer.commit", "commit-then-process"),
            ],
        ] {
            let cfg = Config::default().with(pairs).unwrap();
            assert_eq!(cfg.commit, CommitMode::CommitThenProcess, "{pairs:?}");
        }
        let cfg = Config::default()
            .with([("enable.auto.commit", "true")])
            .unwrap();
        assert_eq!(cfg.commit, CommitMode::Auto);
    }
}
