//! The property catalogue: Kafka's promises, and the stronger ones it does not
//! make, each written once as a pure function over [`Observation`]s.
//!
//! A judge returns `Ok(())` when the property holds and `Err(why)` with a
//! sentence a person can check against the observation when it does not.
//! Transition judges see the observation just before and just after one
//! step, because the promises speak of events ("when a replica that lacks
//! the message becomes leader") as well as of states.

use crate::observation::{Acks, MsgId, Observation, ReplicaId};

/// `Ok(())`, or the reason the property is violated.
pub type Verdict = Result<(), String>;

/// How, and where, a property is judged.
#[derive(Clone, Copy)]
pub enum Judge {
    /// Must hold in every reachable state.
    Always(fn(&Observation) -> Verdict),
    /// Must hold across every step.
    Transition(fn(&Observation, &Observation) -> Verdict),
    /// Must hold in every quiescent state (nothing left to do but faults).
    Terminal(fn(&Observation) -> Verdict),
    /// Must be reached at least once, or a check that passed proves nothing.
    Sometimes(fn(&Observation) -> bool),
}

/// Whose promise a property is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Kafka promises it for committed messages while one ISR replica survives.
    KafkaPromise,
    /// At-least-once consumption: the promise a correct client setup adds.
    Consumption,
    /// Stronger than anything Kafka promises; shows where the promise ends.
    Stronger,
    /// Non-vacuity: evidence that the check explored what it claims to.
    NonVacuity,
}

#[derive(Clone, Copy)]
pub struct Property {
    pub name: &'static str,
    pub class: Class,
    pub judge: Judge,
    pub summary: &'static str,
}

impl Property {
    pub fn kind(&self) -> &'static str {
        match self.judge {
            Judge::Always(_) => "always",
            Judge::Transition(_) => "always (each step)",
            Judge::Terminal(_) => "when quiescent",
            Judge::Sometimes(_) => "sometimes",
        }
    }
}

/// Every property, in the order reports list them.
pub const CATALOGUE: &[Property] = &[
    Property {
        name: "committed_never_lost",
        class: Class::KafkaPromise,
        judge: Judge::Transition(committed_never_lost),
        summary: "a committed message leaves the leader's log only if no replica of the ISR just before still holds it",
    },
    Property {
        name: "acked_is_committed",
        class: Class::KafkaPromise,
        judge: Judge::Always(acked_is_committed),
        summary: "a message acknowledged under acks=all is committed",
    },
    Property {
        name: "committed_prefix_agrees",
        class: Class::KafkaPromise,
        judge: Judge::Always(committed_prefix_agrees),
        summary: "no two replicas disagree below their high watermarks",
    },
    Property {
        name: "high_watermark_monotonic",
        class: Class::KafkaPromise,
        judge: Judge::Transition(high_watermark_monotonic),
        summary: "a leader's high watermark never decreases within its leader epoch",
    },
    Property {
        name: "consumer_offset_monotonic",
        class: Class::KafkaPromise,
        judge: Judge::Transition(consumer_offset_monotonic),
        summary: "the consumer group's committed offset never decreases",
    },
    Property {
        name: "at_least_once",
        class: Class::Consumption,
        judge: Judge::Terminal(at_least_once),
        summary: "every acknowledged message was processed by the consumer",
    },
    Property {
        name: "committed_durable",
        class: Class::Stronger,
        judge: Judge::Always(committed_durable),
        summary: "a running leader holds every message ever committed, whatever crashed",
    },
    Property {
        name: "end_to_end_delivery",
        class: Class::Stronger,
        judge: Judge::Terminal(end_to_end_delivery),
        summary: "every message handed to send() and not reported failed was processed",
    },
    Property {
        name: "no_duplicates",
        class: Class::Stronger,
        judge: Judge::Always(no_duplicates),
        summary: "no message is stored twice in a log",
    },
    Property {
        name: "tolerates_one_replica_down",
        class: Class::Stronger,
        judge: Judge::Transition(tolerates_one_replica_down),
        summary: "no NOT_ENOUGH_REPLICAS while at most one replica is out of the ISR",
    },
    Property {
        name: "message_committed",
        class: Class::NonVacuity,
        judge: Judge::Sometimes(message_committed),
        summary: "some message gets committed",
    },
    Property {
        name: "leader_failover",
        class: Class::NonVacuity,
        judge: Judge::Sometimes(leader_failover),
        summary: "the controller elects a new leader",
    },
    Property {
        name: "message_consumed",
        class: Class::NonVacuity,
        judge: Judge::Sometimes(message_consumed),
        summary: "the consumer processes a message",
    },
    Property {
        name: "quiescence_reached",
        class: Class::NonVacuity,
        judge: Judge::Sometimes(quiescence_reached),
        summary: "a quiescent state is reached, so terminal properties were judged",
    },
];

/// The property of that name, if the catalogue has one.
pub fn property(name: &str) -> Option<&'static Property> {
    CATALOGUE.iter().find(|p| p.name == name)
}

fn names(ids: &[ReplicaId]) -> String {
    let ids: Vec<String> = ids.iter().map(|r| r.to_string()).collect();
    format!("{{{}}}", ids.join(","))
}

/// The central claim: committed messages are never lost while one ISR replica
/// survives. "Lost" is one of two events: the controller elects a leader
/// whose log lacks the message, or a leader that stays in charge truncates
/// it. Either is excused only if no member of the ISR just before the step
/// still holds the message on disk (running or not): every holder lost it
/// in a machine crash, and Kafka promised nothing then. A leader's own crash
/// is not the event: the election that follows it is.
pub fn committed_never_lost(prev: &Observation, next: &Observation) -> Verdict {
    let Some(leader) = next.leader.and_then(|id| next.replica(id)) else {
        return Ok(());
    };
    let elected = prev.leader != next.leader;
    let acting = |o: &Observation| o.live_leader().map(|r| r.id);
    let stays_in_charge =
        !elected && acting(prev) == Some(leader.id) && acting(next) == Some(leader.id);
    for &msg in &prev.committed {
        if leader.holds(msg) {
            continue;
        }
        let event = if elected {
            // Unless a leader already serving without it was replaced.
            prev.live_leader().is_none_or(|p| p.holds(msg))
        } else {
            stays_in_charge && prev.replica(leader.id).is_some_and(|p| p.holds(msg))
        };
        if !event {
            continue;
        }
        let holder = prev
            .isr
            .iter()
            .copied()
            .find(|&r| next.replica(r).is_some_and(|r| r.holds(msg)));
        if let Some(holder) = holder {
            let how = if elected {
                format!("replica {} was elected leader without it", leader.id)
            } else {
                format!("leader {} truncated it", leader.id)
            };
            return Err(format!(
                "committed message m{msg} lost: {how}, while replica {holder} of the ISR {} still holds it",
                names(&prev.isr)
            ));
        }
    }
    Ok(())
}

pub fn acked_is_committed(obs: &Observation) -> Verdict {
    if obs.producer.acks != Some(Acks::All) {
        return Ok(());
    }
    match obs
        .producer
        .acked
        .iter()
        .find(|m| !obs.committed.contains(m))
    {
        Some(m) => Err(format!(
            "m{m} was acknowledged under acks=all but never committed"
        )),
        None => Ok(()),
    }
}

pub fn committed_prefix_agrees(obs: &Observation) -> Verdict {
    for (i, a) in obs.replicas.iter().enumerate() {
        for b in &obs.replicas[i + 1..] {
            let below = a
                .high_watermark
                .min(a.log_end_offset())
                .min(b.high_watermark)
                .min(b.log_end_offset()) as usize;
            if let Some(o) = (0..below).find(|&o| a.log[o] != b.log[o]) {
                let (x, y) = (a.log[o], b.log[o]);
                return Err(format!(
                    "replicas {} and {} disagree at offset {o}, below both high watermarks: m{} (epoch {}) vs m{} (epoch {})",
                    a.id, b.id, x.msg, x.epoch, y.msg, y.epoch
                ));
            }
        }
    }
    Ok(())
}

pub fn high_watermark_monotonic(prev: &Observation, next: &Observation) -> Verdict {
    for after in &next.replicas {
        let Some(before) = prev.replica(after.id) else {
            continue;
        };
        let same_tenure = before.alive
            && after.alive
            && before.is_leader
            && after.is_leader
            && before.leader_epoch == after.leader_epoch;
        if same_tenure && after.high_watermark < before.high_watermark {
            return Err(format!(
                "leader {} moved its high watermark back from {} to {} in epoch {}",
                after.id, before.high_watermark, after.high_watermark, after.leader_epoch
            ));
        }
    }
    Ok(())
}

pub fn consumer_offset_monotonic(prev: &Observation, next: &Observation) -> Verdict {
    let (before, after) = (
        prev.consumer.committed_offset,
        next.consumer.committed_offset,
    );
    if after < before {
        return Err(format!(
            "the committed consumer offset went back from {before:?} to {after:?}"
        ));
    }
    Ok(())
}

fn unprocessed<'a>(obs: &Observation, msgs: impl Iterator<Item = &'a MsgId>) -> Vec<MsgId> {
    msgs.filter(|m| !obs.consumer.processed.contains(m))
        .copied()
        .collect()
}

fn list(msgs: &[MsgId]) -> String {
    let msgs: Vec<String> = msgs.iter().map(|m| format!("m{m}")).collect();
    msgs.join(", ")
}

pub fn at_least_once(obs: &Observation) -> Verdict {
    if !obs.quiescent {
        return Ok(());
    }
    let missing = unprocessed(obs, obs.producer.acked.iter());
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "acknowledged but never processed: {}",
        list(&missing)
    ))
}

pub fn committed_durable(obs: &Observation) -> Verdict {
    let Some(leader) = obs.live_leader() else {
        return Ok(());
    };
    match obs.committed.iter().find(|&&m| !leader.holds(m)) {
        Some(m) => Err(format!(
            "committed message m{m} is missing from the log of leader {}",
            leader.id
        )),
        None => Ok(()),
    }
}

pub fn end_to_end_delivery(obs: &Observation) -> Verdict {
    if !obs.quiescent {
        return Ok(());
    }
    let promised = obs
        .producer
        .handed
        .iter()
        .filter(|m| !obs.producer.told_failed.contains(m));
    let missing = unprocessed(obs, promised);
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "handed to send(), never reported failed, never processed: {}",
        list(&missing)
    ))
}

pub fn no_duplicates(obs: &Observation) -> Verdict {
    for r in &obs.replicas {
        for (i, e) in r.log.iter().enumerate() {
            if let Some(d) = r.log[i + 1..].iter().find(|d| d.msg == e.msg) {
                return Err(format!(
                    "replica {} stores m{} twice, at offsets {} and {}",
                    r.id, e.msg, e.offset, d.offset
                ));
            }
        }
    }
    Ok(())
}

pub fn tolerates_one_replica_down(prev: &Observation, next: &Observation) -> Verdict {
    let refused = next.producer.not_enough_replicas > prev.producer.not_enough_replicas;
    let out_of_isr = prev.replicas.len().saturating_sub(prev.isr.len());
    if refused && out_of_isr <= 1 {
        return Err(format!(
            "produce refused with NOT_ENOUGH_REPLICAS while only {out_of_isr} replica is out of the ISR {}",
            names(&prev.isr)
        ));
    }
    Ok(())
}

pub fn message_committed(obs: &Observation) -> bool {
    !obs.committed.is_empty()
}

pub fn leader_failover(obs: &Observation) -> bool {
    obs.leader_epoch > 0 && obs.leader.is_some()
}

pub fn message_consumed(obs: &Observation) -> bool {
    !obs.consumer.processed.is_empty()
}

pub fn quiescence_reached(obs: &Observation) -> bool {
    obs.quiescent
}
