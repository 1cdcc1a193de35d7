//! The client settings the probe honours, by Kafka's names; any other is
//! refused by name.

use crate::consumer::CommitPolicy;
use std::time::Duration;

/// The client settings the probe honours, by Kafka's names.
pub(super) struct Settings {
    pub(super) request_timeout: Duration,
    pub(super) retry_backoff: Duration,
    pub(super) client_id: String,
    pub(super) fetch_max_wait_ms: i32,
    pub(super) fetch_max_bytes: i32,
    /// `None`: the consumers' group is this run's own.
    pub(super) group_id: Option<String>,
    pub(super) auto_commit: bool,
    pub(super) auto_commit_interval: Duration,
}

pub(super) const KNOBS: &[&str] = &[
    "acks",
    "request.timeout.ms",
    "retry.backoff.ms",
    "client.id",
    "fetch.max.wait.ms",
    "fetch.max.bytes",
    "enable.idempotence",
    "retries",
    "group.id",
    "enable.auto.commit",
    "auto.commit.interval.ms",
];

impl Settings {
    pub(super) fn parse(sets: &[String]) -> Result<Settings, String> {
        let mut s = Settings {
            request_timeout: Duration::from_millis(30_000),
            retry_backoff: Duration::from_millis(100),
            client_id: "kafka-oracle-probe".to_string(),
            // Kafka's 500 ms would make an idle consumer's pass over its
            // partitions slow; the probe wants many short polls.
            fetch_max_wait_ms: 100,
            fetch_max_bytes: 1 << 20,
            group_id: None,
            auto_commit: true,
            auto_commit_interval: Duration::from_millis(5_000),
        };
        for pair in sets {
            let (knob, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
            let (knob, value) = (knob.trim(), value.trim());
            let bad = |why: &str| format!("--set {knob}={value}: {why}");
            // Kafka's wire protocol carries these as 32-bit integers.
            let positive = || -> Result<u64, String> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|&v| (1..=i32::MAX as u64).contains(&v))
                    .ok_or_else(|| bad("a positive integer (at most 2147483647)"))
            };
            match knob {
                // rskafka always asks for acks=all; any other value would
                // be a setting the probe cannot honour.
                "acks" => {
                    if value != "all" && value != "-1" {
                        return Err(bad("rskafka always sends acks=all (-1)"));
                    }
                }
                "request.timeout.ms" => s.request_timeout = Duration::from_millis(positive()?),
                "retry.backoff.ms" => s.retry_backoff = Duration::from_millis(positive()?),
                "client.id" => s.client_id = value.to_string(),
                "fetch.max.wait.ms" => s.fetch_max_wait_ms = positive()? as i32,
                "fetch.max.bytes" => s.fetch_max_bytes = positive()? as i32,
                "group.id" if !value.is_empty() => s.group_id = Some(value.to_string()),
                "group.id" => return Err(bad("a group needs a name")),
                "enable.auto.commit" => {
                    s.auto_commit = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("true or false")),
                    }
                }
                "auto.commit.interval.ms" => {
                    s.auto_commit_interval = Duration::from_millis(positive()?)
                }
                // rskafka has no idempotent producer, and the probe sends
                // each value once: a resend without idempotence may
                // duplicate, which would be the client's doing.
                "enable.idempotence" => {
                    if value != "false" {
                        return Err(bad("rskafka has no idempotent producer"));
                    }
                }
                "retries" => {
                    if value != "0" {
                        return Err(bad(
                            "the probe sends each value once (an unknown outcome is recorded as info)",
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "--set {knob}={value}: unknown setting {knob:?} (the probe knows {})",
                        KNOBS.join(", ")
                    ))
                }
            }
        }
        Ok(s)
    }

    pub(super) fn commit_policy(&self) -> CommitPolicy {
        if self.auto_commit {
            let interval = self.auto_commit_interval.as_millis();
            CommitPolicy::Auto {
                interval_ms: u64::try_from(interval).unwrap_or(u64::MAX),
            }
        } else {
            CommitPolicy::AfterProcessing
        }
    }
}
