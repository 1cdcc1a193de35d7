//! Steps in words a person can follow next to their own configuration.

use crate::actors::Ids;
use crate::msg::{FetchResult, Msg, PollResult, Timer};
use crate::system::{Action, System};
use stateright::actor::{ActorModelAction, Id};

pub fn actor(ids: &Ids, id: Id) -> String {
    if id == ids.controller() {
        "controller".to_string()
    } else if id == ids.producer() {
        "producer".to_string()
    } else if id == ids.consumer() {
        "consumer".to_string()
    } else {
        format!("replica {}", ids.replica_ix(id).unwrap_or(u8::MAX))
    }
}

pub fn message(msg: &Msg) -> String {
    match msg {
        Msg::Produce { msg, producer_id } => format!("Produce m{msg} (producer id {producer_id})"),
        Msg::ProduceResponse { msg, error: None } => format!("ProduceResponse m{msg} ok"),
        Msg::ProduceResponse { msg, error: Some(e) } => format!("ProduceResponse m{msg} {e:?}"),
        Msg::Fetch { epoch, offset, last_epoch, high_watermark } => format!(
            "Fetch offset {offset} (epoch {epoch}, last fetched epoch {last_epoch}, high watermark {high_watermark})"
        ),
        Msg::FetchResponse { epoch, result } => match result {
            FetchResult::Records { offset, entries, high_watermark } => {
                let entries: Vec<String> = entries.iter().map(|e| format!("m{}@e{}", e.msg, e.epoch)).collect();
                format!(
                    "FetchResponse epoch {epoch}: from offset {offset} [{}], high watermark {high_watermark}",
                    entries.join(", ")
                )
            }
            FetchResult::Diverging { offset, epoch: e, end_offset } => {
                format!("FetchResponse epoch {epoch}: fetch at offset {offset} diverging, epoch {e} ends at offset {end_offset}")
            }
            FetchResult::OutOfRange { offset, log_end_offset } => {
                format!("FetchResponse epoch {epoch}: fetch at offset {offset} out of range, log end offset {log_end_offset}")
            }
            FetchResult::NotLeader => format!("FetchResponse epoch {epoch}: NOT_LEADER_OR_FOLLOWER"),
        },
        Msg::ConsumerFetch { offset } => format!("Fetch (consumer) offset {offset}"),
        Msg::ConsumerFetchResponse { result } => match result {
            PollResult::Records { offset, msgs } => {
                let msgs: Vec<String> = msgs.iter().map(|m| format!("m{m}")).collect();
                format!("FetchResponse (consumer) from offset {offset} [{}]", msgs.join(", "))
            }
            PollResult::OutOfRange => "FetchResponse (consumer): OFFSET_OUT_OF_RANGE".to_string(),
            PollResult::NotLeader => "FetchResponse (consumer): NOT_LEADER_OR_FOLLOWER".to_string(),
        },
        Msg::ListOffsets => "ListOffsets latest".to_string(),
        Msg::ListOffsetsResponse { offset } => format!("ListOffsetsResponse {offset:?}"),
        Msg::MetadataRequest => "Metadata request".to_string(),
        Msg::Metadata { leader: Some(l), epoch } => format!("Metadata: leader is replica {l} (epoch {epoch})"),
        Msg::Metadata { leader: None, epoch } => format!("Metadata: no leader (epoch {epoch})"),
        Msg::LeaderAndIsr { leader, epoch, isr, version, broker_epoch } => format!(
            "LeaderAndIsr: leader replica {leader}, epoch {epoch}, ISR {isr:?} (partition epoch {version}, broker epoch {broker_epoch})"
        ),
        Msg::AlterIsr { epoch, isr, version } => {
            format!("AlterIsr: ISR {isr:?} (epoch {epoch}, partition epoch {version})")
        }
        Msg::BrokerDown => "session expired (broker down)".to_string(),
        Msg::BrokerUp { broker_epoch } => format!("registered (broker up, broker epoch {broker_epoch})"),
    }
}

fn timer(t: &Timer) -> &'static str {
    match t {
        Timer::Restart => "restarts",
        Timer::FetchRetry => "fetches again after an error",
        Timer::RequestTimeout => "times out waiting for a response",
        Timer::Process => "processes the records it holds",
        Timer::Commit => "commits its position",
        Timer::Poll => "calls poll() again",
        Timer::ProcessCrash => "crashes (process killed: memory lost, page cache kept)",
        Timer::MachineCrash => "crashes (machine: unflushed data lost)",
        Timer::LagTimeout => "drops lagging followers from the ISR (replica.lag.time.max.ms)",
    }
}

pub fn action(system: &System, action: &Action) -> String {
    let ids = &system.ids;
    match action {
        Action::Duplicate(env) => format!(
            "the network duplicates {} → {}: {}",
            actor(ids, env.src),
            actor(ids, env.dst),
            message(&env.msg)
        ),
        Action::Reorder(env) => format!(
            "the network delays {} → {}: {} behind later messages",
            actor(ids, env.src),
            actor(ids, env.dst),
            message(&env.msg)
        ),
        Action::PowerLoss => {
            "power loss: every replica's machine crashes, unflushed data lost".to_string()
        }
        Action::Step(ActorModelAction::Deliver { src, dst, msg }) => {
            format!(
                "{} → {}: {}",
                actor(ids, *src),
                actor(ids, *dst),
                message(msg)
            )
        }
        Action::Step(ActorModelAction::Drop(env)) => format!(
            "the network loses {} → {}: {}",
            actor(ids, env.src),
            actor(ids, env.dst),
            message(&env.msg)
        ),
        Action::Step(ActorModelAction::Timeout(id, t)) => {
            format!("{} {}", actor(ids, *id), timer(t))
        }
        Action::Elect { deliver, leader } => format!(
            "{} → {}: {}; the controller elects replica {leader}",
            actor(ids, deliver.src),
            actor(ids, deliver.dst),
            message(&deliver.msg)
        ),
        Action::Step(other) => format!("{other:?}"),
    }
}
