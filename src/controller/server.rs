//! The controller process: a TCP listener taking one session per broker,
//! a ticker expiring sessions, and the [`Controller`] core behind a mutex.
//! Every event runs the core, writes its durable state if it changed, and
//! only then hands its messages to the sessions' writers.

use super::protocol::{self, ToBroker, ToController};
use super::state::{Controller, ControllerConfig, Durable};
use super::store::Store;
use crate::broker::partition::BrokerId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Messages queued for a broker that does not read them: past this, its
/// session ends rather than the controller's memory growing.
const QUEUED_MESSAGES_MAX: usize = 4096;
/// How often sessions are checked for expiry.
const TICK: Duration = Duration::from_millis(100);

struct Session {
    connection: u64,
    outbox: mpsc::Sender<ToBroker>,
}

struct Shared {
    core: Controller,
    store: Store,
    sessions: HashMap<BrokerId, Session>,
    next_connection: u64,
}

impl Shared {
    /// Persists, then sends. A controller that cannot write its state must
    /// not tell brokers what it could forget: it stops.
    fn apply(&mut self) {
        let effects = self.core.take_effects();
        if let Some(state) = effects.persist {
            if let Err(e) = self.store.save(&state) {
                eprintln!("kafka-oracle controller: stopping: {e}");
                std::process::exit(1);
            }
        }
        for (to, message) in effects.messages {
            if let Some(session) = self.sessions.get(&to) {
                if session.outbox.try_send(message).is_err() {
                    // Dropping the sender closes the writer, which closes
                    // the connection, which ends the session.
                    self.sessions.remove(&to);
                }
            }
        }
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Serves until `stopping` turns true, from `previous`, the state `store`
/// held at the start. Nothing is lost by stopping at any moment: every
/// change was written before it was told.
pub async fn run(
    listener: TcpListener,
    store: Store,
    previous: Option<Durable>,
    config: ControllerConfig,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let core = Controller::start(previous, config, now_ms());
    let shared = Arc::new(Mutex::new(Shared {
        core,
        store,
        sessions: HashMap::new(),
        next_connection: 0,
    }));
    lock(&shared).apply();
    let ticker = shared.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        loop {
            interval.tick().await;
            let mut s = lock(&ticker);
            s.core.tick(now_ms());
            s.apply();
        }
    });
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) =
                    accepted.map_err(|e| format!("cannot accept a connection: {e}"))?;
                tokio::spawn(session(shared.clone(), stream));
            }
            _ = stopping.changed() => return Ok(()),
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic while holding the lock is a bug; the state it guards is still
    // the last one persisted, so carrying on is no worse than restarting.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn session(shared: Arc<Mutex<Shared>>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut input, mut output) = stream.into_split();
    let Ok(Some(ToController::Register {
        broker_id,
        address,
        incarnation,
    })) = protocol::read(&mut input).await
    else {
        return;
    };
    let (outbox, mut queued) = mpsc::channel::<ToBroker>(QUEUED_MESSAGES_MAX);
    let connection = {
        let mut s = lock(&shared);
        let connection = s.next_connection;
        s.next_connection += 1;
        s.sessions.insert(broker_id, Session { connection, outbox });
        s.core.register(broker_id, address, incarnation, now_ms());
        s.apply();
        connection
    };
    let writer = tokio::spawn(async move {
        while let Some(message) = queued.recv().await {
            if protocol::write(&mut output, &message).await.is_err() {
                break;
            }
        }
    });
    while let Ok(Some(message)) = protocol::read::<_, ToController>(&mut input).await {
        let mut s = lock(&shared);
        let current = s
            .sessions
            .get(&broker_id)
            .is_some_and(|session| session.connection == connection);
        if !current {
            break;
        }
        let now = now_ms();
        match message {
            ToController::Register { .. } => break,
            ToController::Heartbeat => s.core.heartbeat(broker_id, incarnation, now),
            ToController::AlterIsr {
                topic,
                partition,
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                s.core.heartbeat(broker_id, incarnation, now);
                s.core.alter_isr(
                    broker_id,
                    &topic,
                    partition,
                    leader_epoch,
                    partition_epoch,
                    isr,
                )
            }
            ToController::CreateTopics { request_id, topics } => {
                s.core.heartbeat(broker_id, incarnation, now);
                s.core.create_topics(broker_id, request_id, topics)
            }
            ToController::CommitOffsets {
                request_id,
                group,
                offsets,
            } => {
                s.core.heartbeat(broker_id, incarnation, now);
                s.core.commit_offsets(broker_id, request_id, group, offsets)
            }
            ToController::FetchOffsets {
                request_id,
                group,
                partitions,
            } => {
                s.core.heartbeat(broker_id, incarnation, now);
                s.core
                    .fetch_offsets(broker_id, request_id, &group, partitions)
            }
        }
        s.apply();
    }
    writer.abort();
    let mut s = lock(&shared);
    let current = s
        .sessions
        .get(&broker_id)
        .is_some_and(|session| session.connection == connection);
    if current {
        s.sessions.remove(&broker_id);
        s.core.connection_closed(broker_id, incarnation);
        s.apply();
    }
}
