//! The trace schema: a counterexample (or any path) as JSON a person or
//! another tool can read, and that `kafka-oracle` replays.
//!
//! Schema `kafka-oracle/trace`, version 1 (documented in the README):
//! the configuration as Kafka knobs, the property and why it failed, the
//! initial abstract state, then each step's actor, event, message (if the
//! step delivers or loses one), its description, and the abstract state
//! after it.

use kafka_oracle_models::check::Counterexample;
use kafka_oracle_models::config::{Config, ConfigError};
use kafka_oracle_models::describe;
use kafka_oracle_models::scenarios::scenario;
use kafka_oracle_models::system::{Action, System};
use kafka_oracle_properties::{property, Observation};
use serde::{Deserialize, Serialize};
use stateright::actor::ActorModelAction;

pub const SCHEMA: &str = "kafka-oracle/trace";
pub const VERSION: u32 = 1;
/// The `scenario` of a trace from `check --set`/`--config`: the user's
/// configuration, not a scenario of the matrix.
pub const USER_CONFIGURATION: &str = "configuration";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trace {
    pub schema: String,
    pub version: u32,
    pub scenario: Option<String>,
    /// Knob name to value, as `check --set` takes them.
    pub configuration: serde_json::Map<String, serde_json::Value>,
    /// The properties the check judged.
    pub judged: Vec<String>,
    /// The property this path violates.
    pub property: String,
    pub why: String,
    /// The check confirmed that no shorter path violates `property` (absent
    /// in traces that make no such claim).
    #[serde(default)]
    pub shortest: bool,
    pub initial_state: Observation,
    pub steps: Vec<TraceStep>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TraceStep {
    pub step: usize,
    pub actor: String,
    /// deliver, drop, duplicate, reorder, timeout, crash, machine-crash,
    /// restart, lag-timeout, power-loss.
    pub event: String,
    /// The sender of a delivered or lost message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The step in words; replay matches steps by it.
    pub description: String,
    pub state: Observation,
}

fn step_fields(
    system: &System,
    action: &Action,
) -> (String, String, Option<String>, Option<String>) {
    use kafka_oracle_models::msg::Timer;
    let ids = &system.ids;
    match action {
        Action::PowerLoss => ("replicas".into(), "power-loss".into(), None, None),
        Action::Duplicate(env) | Action::Reorder(env) => (
            describe::actor(ids, env.dst),
            if matches!(action, Action::Duplicate(_)) {
                "duplicate"
            } else {
                "reorder"
            }
            .into(),
            Some(describe::actor(ids, env.src)),
            Some(describe::message(&env.msg)),
        ),
        Action::Step(ActorModelAction::Deliver { src, dst, msg }) => (
            describe::actor(ids, *dst),
            "deliver".into(),
            Some(describe::actor(ids, *src)),
            Some(describe::message(msg)),
        ),
        Action::Elect { deliver, .. } => (
            describe::actor(ids, deliver.dst),
            "deliver".into(),
            Some(describe::actor(ids, deliver.src)),
            Some(describe::message(&deliver.msg)),
        ),
        Action::Step(ActorModelAction::Drop(env)) => (
            describe::actor(ids, env.dst),
            "drop".into(),
            Some(describe::actor(ids, env.src)),
            Some(describe::message(&env.msg)),
        ),
        Action::Step(ActorModelAction::Timeout(id, timer)) => {
            let event = match timer {
                Timer::ProcessCrash => "crash",
                Timer::MachineCrash => "machine-crash",
                Timer::Restart => "restart",
                Timer::LagTimeout => "lag-timeout",
                _ => "timeout",
            };
            (describe::actor(ids, *id), event.into(), None, None)
        }
        Action::Step(other) => ("system".into(), format!("{other:?}"), None, None),
    }
}

pub fn configuration(cfg: &Config) -> serde_json::Map<String, serde_json::Value> {
    cfg.knobs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
        .collect()
}

impl Trace {
    pub fn new(
        system: &System,
        scenario: Option<&str>,
        judged: &[&str],
        c: &Counterexample,
    ) -> Trace {
        let steps = c
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (actor, event, from, message) = step_fields(system, &s.action);
                TraceStep {
                    step: i + 1,
                    actor,
                    event,
                    from,
                    message,
                    description: describe::action(system, &s.action),
                    state: system.observe(&s.state),
                }
            })
            .collect();
        Trace {
            schema: SCHEMA.to_string(),
            version: VERSION,
            scenario: scenario.map(str::to_string),
            configuration: configuration(&system.cfg),
            judged: judged.iter().map(|s| s.to_string()).collect(),
            property: c.property.to_string(),
            why: c.why.clone(),
            shortest: c.shortest,
            initial_state: system.observe(&c.init),
            steps,
        }
    }

    /// The configuration the trace was recorded with; an error names the
    /// knob as the trace's field (`configuration.acks`).
    pub fn config(&self) -> Result<Config, String> {
        let field = |e: ConfigError| format!("configuration.{}: {}", e.knob, e.reason);
        let mut cfg = Config::default();
        for (knob, value) in &self.configuration {
            let value = value
                .as_str()
                .ok_or_else(|| format!("configuration.{knob}: expected a string"))?;
            cfg.set(knob, value).map_err(field)?;
        }
        cfg.validate().map_err(field)?;
        Ok(cfg)
    }

    /// Parses a trace, checking its schema and version, and that every
    /// knob, property and scenario it names is one this kafka-oracle knows:
    /// a trace that fails here is bad input, not a replay that diverged.
    pub fn from_json(text: &str) -> Result<Trace, String> {
        let trace: Trace = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if trace.schema != SCHEMA || trace.version != VERSION {
            return Err(format!(
                "schema {} version {}: this kafka-oracle reads {SCHEMA} version {VERSION}",
                trace.schema, trace.version
            ));
        }
        trace.config()?;
        let known = |field: &str, name: &str| {
            property(name)
                .map(|_| ())
                .ok_or_else(|| format!("{field}: no property '{name}' in the catalogue"))
        };
        for name in &trace.judged {
            known("judged", name)?;
        }
        known("property", &trace.property)?;
        if let Some(name) = &trace.scenario {
            if name != USER_CONFIGURATION && scenario(name).is_none() {
                return Err(format!(
                    "scenario: no scenario '{name}' in the matrix (kafka-oracle check --list lists them)"
                ));
            }
        }
        Ok(trace)
    }
}
