//! The broker process around the sans-IO [`Node`]: a tokio listener for
//! Kafka clients (one task per connection, answering its requests in
//! order), a session with the controller, one replica fetcher per leader
//! followed, and a ticker. The node sits behind one mutex; every call into
//! it is followed by routing its outputs (to the controller, to requests
//! waiting for their answer) and, if any log moved, waking parked fetches.

pub mod connections;
mod offsets;

use super::client::Connection;
use super::node::{
    GroupOutcome, Node, Output, ProduceOutcome, ReplicaAnswer, StorageError, TopicPartition,
};
use super::partition::{BrokerId, ReplicaFetch};
use super::replication;
use super::wire::{self, Framed, Refusal, Request, Response};
use crate::controller::protocol::{self, CreateTopicResult, NewTopic, ToBroker, ToController};
use bytes::Bytes;
use connections::{Admitted, Connections, Limits};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId as WireBrokerId, CreateTopicsRequest, CreateTopicsResponse, FetchRequest,
    FetchResponse, ListOffsetsRequest, ListOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// How often partitions' timers run (ISR shrink, produce timeouts, flush).
const TICK: Duration = Duration::from_millis(50);
/// Pause before reconnecting to the controller or a leader.
const RECONNECT: Duration = Duration::from_millis(200);
/// The longest pause between attempts to reach a controller that does not
/// answer: it doubles from [`RECONNECT`] to this, each attempt said on
/// stderr, so a broker pointed at the wrong address is not silent.
const CONTROLLER_RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Kafka's `replica.socket.timeout.ms`: how long past its max wait a
/// follower waits for the leader's answer.
const REPLICA_SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a fetch may be held, whatever its max_wait_ms says.
const FETCH_WAIT_MAX: Duration = Duration::from_secs(30);
/// Heartbeats before the controller says how often (a third of its
/// session timeout).
const HEARTBEAT_DEFAULT: Duration = Duration::from_millis(1_000);
/// Controller answers a client waits for wait at most this long.
const CONTROLLER_WAIT_MAX: Duration = Duration::from_secs(30);

pub fn now_ms() -> u64 {
    crate::controller::server::now_ms()
}

struct Shared {
    node: Node,
    /// Requests waiting for their answer: acks=all produces, JoinGroup,
    /// SyncGroup.
    waiters: HashMap<u64, oneshot::Sender<Response>>,
    /// Answers that came before their waiter registered.
    answered: HashMap<u64, Response>,
    /// Where the logs were, to tell whether parked fetches should look again.
    progress: u64,
}

pub struct Broker {
    shared: Mutex<Shared>,
    /// Woken when a log end or high watermark moves.
    progress: Notify,
    to_controller: mpsc::UnboundedSender<ToController>,
    /// Requests to the controller a client waits on, by request id.
    asked: Mutex<HashMap<u64, oneshot::Sender<ToBroker>>>,
    next_ask: AtomicU64,
    fetchers: Mutex<BTreeSet<BrokerId>>,
}

/// Runs a broker until `stopping` turns true, then closes its logs cleanly.
pub async fn run(
    node: Node,
    listener: TcpListener,
    controller: String,
    mut stopping: watch::Receiver<bool>,
) -> Result<(), String> {
    let address = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let (to_controller, outbox) = mpsc::unbounded_channel();
    let broker = Arc::new(Broker {
        shared: Mutex::new(Shared {
            node,
            waiters: HashMap::new(),
            answered: HashMap::new(),
            progress: 0,
        }),
        progress: Notify::new(),
        to_controller,
        asked: Mutex::new(HashMap::new()),
        // These request ids start high, apart from the node's own
        // (auto-creations).
        next_ask: AtomicU64::new(1 << 62),
        fetchers: Mutex::new(BTreeSet::new()),
    });
    tokio::spawn(controller_session(
        broker.clone(),
        controller,
        address,
        outbox,
    ));
    tokio::spawn(ticker(broker.clone()));
    tokio::spawn(fetcher_supervisor(broker.clone()));
    let connections = {
        let config = broker.with_node(|s| s.node.config().clone());
        Connections::new(Limits {
            connections_max: config.connections_max,
            connections_per_ip_max: config.connections_per_ip_max,
            idle_ms_max: config.connection_idle_ms_max,
        })
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    // Out of descriptors, say: the connections open go on.
                    Err(e) => {
                        eprintln!("kafka-oracle broker: cannot accept a connection: {e}");
                        tokio::time::sleep(RECONNECT).await;
                        continue;
                    }
                };
                // Refused: dropping the stream closes it.
                let Ok(place) = connections.admit(peer.ip(), tokio::time::Instant::now()) else {
                    continue;
                };
                let idle_max = Duration::from_millis(connections.limits().idle_ms_max);
                let broker = broker.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = connection(broker, stream, &place, idle_max) => {}
                        () = place.evicted.notified() => {}
                    }
                });
            }
            _ = stopping.changed() => break,
        }
    }
    let mut shared = lock(&broker.shared);
    shared.node.close().map_err(|e| e.to_string())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic under the lock is a bug; the logs under it recover on their
    // own, as after a crash, so carrying on is no worse.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A broker whose disk fails stops at once, whichever write failed (a
/// leader's append, a follower's, a checkpoint), as Kafka does when its
/// only log directory goes offline: the controller moves leadership
/// elsewhere, and the process exits 1.
fn fatal(e: StorageError) -> ! {
    eprintln!("kafka-oracle broker: stopping on a storage error: {e}");
    std::process::exit(1);
}

impl Broker {
    /// The answer to a request the node said it answers later. The waiter
    /// is registered before the node runs again, so the answer cannot pass
    /// it by; `None` if the node dropped the request (shutdown).
    async fn answer(&self, request: u64) -> Option<Response> {
        let (tx, rx) = oneshot::channel();
        {
            let mut shared = lock(&self.shared);
            match shared.answered.remove(&request) {
                Some(response) => return Some(response),
                None => shared.waiters.insert(request, tx),
            };
        }
        rx.await.ok()
    }

    /// Sends the controller a request a client waits on, and waits for its
    /// answer (at most `wait`, and [`CONTROLLER_WAIT_MAX`]).
    async fn ask_controller(
        &self,
        wait: Duration,
        message: impl FnOnce(u64) -> ToController,
    ) -> Option<ToBroker> {
        let request_id = self.next_ask.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.asked).insert(request_id, tx);
        let _ = self.to_controller.send(message(request_id));
        match tokio::time::timeout(wait.min(CONTROLLER_WAIT_MAX), rx).await {
            Ok(Ok(answer)) => Some(answer),
            _ => {
                lock(&self.asked).remove(&request_id);
                None
            }
        }
    }

    /// Runs `f` on the node, then routes its outputs.
    fn with_node<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        let mut shared = lock(&self.shared);
        let result = f(&mut shared);
        for output in shared.node.take_outputs() {
            match output {
                Output::Note(note) => {
                    eprintln!("kafka-oracle broker {}: {note}", shared.node.id())
                }
                Output::LogDirOffline(e) => fatal(e),
                Output::ToController(message) => {
                    // The session task holds the receiver for the process's life.
                    let _ = self.to_controller.send(message);
                }
                Output::Answer { request, response } => {
                    match shared.waiters.remove(&request) {
                        Some(waiter) => {
                            let _ = waiter.send(response);
                        }
                        // Answered within the call that made it wait: kept
                        // for the waiter that registers next.
                        None => {
                            shared.answered.insert(request, response);
                        }
                    }
                }
            }
        }
        let progress = shared.node.progress();
        if progress != shared.progress {
            shared.progress = progress;
            self.progress.notify_waiters();
        }
        result
    }
}

async fn ticker(broker: Arc<Broker>) {
    let mut interval = tokio::time::interval(TICK);
    loop {
        interval.tick().await;
        broker
            .with_node(|s| s.node.tick(now_ms()))
            .unwrap_or_else(|e| fatal(e));
    }
}

/// One client connection: frames read, answered one at a time, in order;
/// closed after `idle_max` without a request.
async fn connection(broker: Arc<Broker>, stream: TcpStream, place: &Admitted, idle_max: Duration) {
    let _ = stream.set_nodelay(true);
    let (mut input, mut output) = stream.into_split();
    loop {
        let frame = match tokio::time::timeout(idle_max, read_frame(&mut input)).await {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => return,
        };
        place.busy();
        let framed = match wire::decode(frame) {
            Ok(framed) => framed,
            Err(Refusal::Answer(bytes)) => {
                if output.write_all(&bytes).await.is_err() {
                    return;
                }
                place.idle(tokio::time::Instant::now());
                continue;
            }
            Err(Refusal::Close(_)) => return,
        };
        let (api, version, correlation_id) = (framed.api, framed.version, framed.correlation_id);
        if let Some(response) = handle(&broker, framed).await {
            let bytes = match wire::encode(api, version, correlation_id, &response) {
                Ok(bytes) => bytes,
                // A response this broker built but cannot encode is its bug:
                // said, and the client's connection closed.
                Err(e) => {
                    eprintln!("kafka-oracle broker: {e}");
                    return;
                }
            };
            if output.write_all(&bytes).await.is_err() {
                return;
            }
        }
        place.idle(tokio::time::Instant::now());
    }
}

/// One request frame without its size prefix; `None` if the connection
/// ends or announces a frame too large.
async fn read_frame(input: &mut tokio::net::tcp::OwnedReadHalf) -> Option<Bytes> {
    let mut prefix = [0u8; 4];
    input.read_exact(&mut prefix).await.ok()?;
    let size = wire::frame_size(prefix).ok()?;
    // Read as the bytes come, rather than trusting the announced size
    // with an allocation up front.
    let mut frame = Vec::with_capacity(size.min(1 << 16));
    match input.take(size as u64).read_to_end(&mut frame).await {
        Ok(n) if n == size => Some(Bytes::from(frame)),
        _ => None,
    }
}

/// The response to a request, or `None` for none (acks=0).
async fn handle(broker: &Broker, framed: Framed) -> Option<Response> {
    let version = framed.version;
    let now = now_ms();
    Some(match framed.request {
        Request::ApiVersions(_) => Response::ApiVersions(wire::api_versions()),
        Request::Metadata(r) => {
            Response::Metadata(broker.with_node(|s| s.node.metadata(&r, version, now)))
        }
        Request::Produce(r) => produce(broker, r).await?,
        Request::Fetch(r) => Response::Fetch(fetch(broker, &r).await),
        Request::ListOffsets(r) => {
            Response::ListOffsets(broker.with_node(|s| s.node.list_offsets(&r)))
        }
        Request::OffsetForLeaderEpoch(r) => {
            Response::OffsetForLeaderEpoch(broker.with_node(|s| s.node.offset_for_leader_epoch(&r)))
        }
        Request::InitProducerId(r) => Response::InitProducerId(
            broker
                .with_node(|s| s.node.init_producer_id(&r))
                .unwrap_or_else(|e| fatal(StorageError(e))),
        ),
        Request::CreateTopics(r) => Response::CreateTopics(create_topics(broker, r).await),
        Request::FindCoordinator(r) => {
            Response::FindCoordinator(broker.with_node(|s| s.node.find_coordinator(&r, version)))
        }
        Request::JoinGroup(r) => {
            let client_id = framed.client_id;
            let outcome = broker.with_node(|s| s.node.join_group(r, &client_id, now));
            wait_for(broker, outcome).await?
        }
        Request::SyncGroup(r) => {
            let outcome = broker.with_node(|s| s.node.sync_group(r, now));
            wait_for(broker, outcome).await?
        }
        Request::Heartbeat(r) => {
            Response::Heartbeat(broker.with_node(|s| s.node.heartbeat(&r, now)))
        }
        Request::LeaveGroup(r) => {
            Response::LeaveGroup(broker.with_node(|s| s.node.leave_group(&r, version, now)))
        }
        Request::OffsetCommit(r) => Response::OffsetCommit(offsets::commit(broker, r).await),
        Request::OffsetFetch(r) => Response::OffsetFetch(offsets::fetch(broker, r, version).await),
    })
}

/// A group request's answer: now, or when the group gets there.
async fn wait_for(broker: &Broker, outcome: GroupOutcome) -> Option<Response> {
    match outcome {
        GroupOutcome::Now(response) => Some(response),
        GroupOutcome::Wait(id) => broker.answer(id).await,
    }
}

async fn produce(
    broker: &Broker,
    request: kafka_protocol::messages::ProduceRequest,
) -> Option<Response> {
    let outcome = broker.with_node(|s| s.node.produce(request, now_ms()));
    match outcome {
        ProduceOutcome::Now(response) => Some(Response::Produce(response)),
        ProduceOutcome::Nothing => None,
        // The partition answers every wait: done, failed, or timed out.
        ProduceOutcome::Wait(id) => broker.answer(id).await,
    }
}

/// Fetch, long-polled: held until min_bytes are there, something needs
/// saying at once, or max_wait_ms passes; looked at again each time a log
/// moves.
async fn fetch(broker: &Broker, request: &FetchRequest) -> FetchResponse {
    let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(FETCH_WAIT_MAX);
    let deadline = tokio::time::Instant::now() + wait;
    let min_bytes = request.min_bytes.max(0) as usize;
    let mut waited = false;
    loop {
        let moved = broker.progress.notified();
        tokio::pin!(moved);
        moved.as_mut().enable();
        let result = broker.with_node(|s| s.node.fetch(request, now_ms(), waited));
        waited = true;
        if result.bytes >= min_bytes || result.urgent || tokio::time::Instant::now() >= deadline {
            return result.response;
        }
        if tokio::time::timeout_at(deadline, moved).await.is_err() {
            return broker
                .with_node(|s| s.node.fetch(request, now_ms(), true))
                .response;
        }
    }
}

async fn create_topics(broker: &Broker, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut response = CreateTopicsResponse::default();
    let refuse = |name: TopicName, why: &'static str| {
        let mut r = CreatableTopicResult::default();
        r.name = name;
        r.error_code = super::node::errors::INVALID_REQUEST;
        r.error_message = Some(StrBytes::from_static_str(why));
        r
    };
    if request.validate_only {
        for t in request.topics {
            response
                .topics
                .push(refuse(t.name, "validate_only is not implemented"));
        }
        return response;
    }
    let mut topics: Vec<NewTopic> = Vec::new();
    for t in request.topics {
        if !t.assignments.is_empty() {
            response.topics.push(refuse(
                t.name,
                "manual replica assignment is not implemented",
            ));
            continue;
        }
        let mut topic = broker.with_node(|s| {
            s.node
                .new_topic(t.name.0.to_string(), t.num_partitions, t.replication_factor)
        });
        for c in t.configs {
            if let Some(value) = c.value {
                topic.configs.insert(c.name.to_string(), value.to_string());
            }
        }
        topics.push(topic);
    }
    if topics.is_empty() {
        return response;
    }
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let wait = Duration::from_millis(request.timeout_ms.max(0) as u64);
    let answer = broker
        .ask_controller(wait, |request_id| ToController::CreateTopics {
            request_id,
            topics,
        })
        .await;
    let results = match answer {
        Some(ToBroker::CreateTopicsResult { results, .. }) => results,
        _ => names
            .into_iter()
            .map(|name| CreateTopicResult {
                name,
                error_code: super::node::errors::REQUEST_TIMED_OUT,
                message: Some("the controller did not answer in time".into()),
            })
            .collect(),
    };
    for result in results {
        let mut r = CreatableTopicResult::default();
        r.name = TopicName(StrBytes::from_string(result.name));
        r.error_code = result.error_code;
        r.error_message = result.message.map(StrBytes::from_string);
        response.topics.push(r);
    }
    response
}

/// The broker's session with the controller, reconnected whenever it
/// breaks, with the same incarnation: a new incarnation is only a restart.
/// ISR changes not yet answered are sent again on each new connection.
async fn controller_session(
    broker: Arc<Broker>,
    controller: String,
    address: String,
    mut outbox: mpsc::UnboundedReceiver<ToController>,
) {
    let me = broker.with_node(|s| s.node.id());
    let incarnation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut unanswered: HashMap<TopicPartition, ToController> = HashMap::new();
    let mut backoff = RECONNECT;
    loop {
        let stream = match TcpStream::connect(&controller).await {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!(
                    "kafka-oracle broker {me}: cannot reach the controller at {controller}: {e}; retrying in {} ms",
                    backoff.as_millis()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(CONTROLLER_RECONNECT_MAX);
                continue;
            }
        };
        backoff = RECONNECT;
        let _ = stream.set_nodelay(true);
        let (mut input, mut output) = stream.into_split();
        let register = ToController::Register {
            broker_id: me,
            address: address.clone(),
            incarnation,
        };
        if protocol::write(&mut output, &register).await.is_err() {
            continue;
        }
        let mut resent = true;
        for message in unanswered.values() {
            resent &= protocol::write(&mut output, message).await.is_ok();
        }
        if !resent {
            continue;
        }
        // Reading in its own task: a read interrupted by select! would
        // lose the bytes it had.
        let (pushed, mut inbox) = mpsc::channel::<ToBroker>(64);
        let reader = tokio::spawn(async move {
            while let Ok(Some(message)) = protocol::read::<_, ToBroker>(&mut input).await {
                if pushed.send(message).await.is_err() {
                    break;
                }
            }
        });
        let mut heartbeat = tokio::time::interval(HEARTBEAT_DEFAULT);
        loop {
            tokio::select! {
                message = inbox.recv() => {
                    let Some(message) = message else { break };
                    if let ToBroker::Registered { session_timeout_ms, .. } = &message {
                        let every = Duration::from_millis((session_timeout_ms / 3).max(10));
                        heartbeat = tokio::time::interval(every);
                    }
                    from_controller(&broker, message, &mut unanswered);
                }
                message = outbox.recv() => {
                    let Some(message) = message else { return };
                    if let ToController::AlterIsr { topic, partition, .. } = &message {
                        unanswered.insert((topic.clone(), *partition), message.clone());
                    }
                    if protocol::write(&mut output, &message).await.is_err() {
                        break;
                    }
                }
                _ = heartbeat.tick() => {
                    if protocol::write(&mut output, &ToController::Heartbeat).await.is_err() {
                        break;
                    }
                }
            }
        }
        reader.abort();
        tokio::time::sleep(RECONNECT).await;
    }
}

fn from_controller(
    broker: &Broker,
    message: ToBroker,
    unanswered: &mut HashMap<TopicPartition, ToController>,
) {
    match message.request_id() {
        Some(request_id) => {
            if let Some(waiter) = lock(&broker.asked).remove(&request_id) {
                let _ = waiter.send(message);
            }
        }
        None => {
            if let ToBroker::AlterIsrResult {
                topic, partition, ..
            } = &message
            {
                unanswered.remove(&(topic.clone(), *partition));
            }
            broker
                .with_node(|s| s.node.controller_message(message, now_ms()))
                .unwrap_or_else(|e| fatal(e));
        }
    }
}

/// Starts a fetcher for every leader followed that has none.
async fn fetcher_supervisor(broker: Arc<Broker>) {
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    loop {
        interval.tick().await;
        let leaders = broker.with_node(|s| s.node.leaders_followed());
        let mut running = lock(&broker.fetchers);
        for leader in leaders {
            if running.insert(leader) {
                tokio::spawn(fetcher(broker.clone(), leader));
            }
        }
    }
}

/// Kafka's ReplicaFetcherThread for one leader: fetch, hand the answers to
/// the node, again; ends when this broker follows nothing of `leader`.
async fn fetcher(broker: Arc<Broker>, leader: BrokerId) {
    let (me, wait_ms) =
        broker.with_node(|s| (s.node.id(), s.node.config().replica_fetch_wait_max_ms));
    let client_id = format!("broker-{me}-fetcher");
    let mut connection: Option<Connection> = None;
    loop {
        let (fetches, address) = broker.with_node(|s| {
            (
                s.node.replica_fetches(leader),
                s.node.metadata_cache().brokers.get(&leader).cloned(),
            )
        });
        if fetches.is_empty() {
            lock(&broker.fetchers).remove(&leader);
            return;
        }
        let Some(address) = address else {
            tokio::time::sleep(RECONNECT).await;
            continue;
        };
        let mut conn = match connection.take() {
            Some(conn) => conn,
            None => match Connection::connect(&address, &client_id).await {
                Ok(conn) => conn,
                Err(_) => {
                    tokio::time::sleep(RECONNECT).await;
                    continue;
                }
            },
        };
        let request = replication::fetch_request(me, &fetches, wait_ms);
        let answered = tokio::time::timeout(
            Duration::from_millis(wait_ms) + REPLICA_SOCKET_TIMEOUT,
            conn.request(ApiKey::Fetch, replication::FETCH_VERSION, &request),
        )
        .await;
        let response: FetchResponse = match answered {
            Ok(Ok(response)) => response,
            // A leader that does not answer is dropped and dialled again.
            _ => {
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        let progressed = apply_fetch(&broker, &mut conn, me, &fetches, &response).await;
        connection = Some(conn);
        if !progressed {
            // Refused everywhere (a leader change under way): wait for the
            // controller's news rather than asking again at once.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Hands each partition's answer to the node; whether any was not an error.
async fn apply_fetch(
    broker: &Broker,
    conn: &mut Connection,
    me: BrokerId,
    fetches: &[(TopicPartition, ReplicaFetch)],
    response: &FetchResponse,
) -> bool {
    let mut progressed = false;
    for (tp, sent) in fetches {
        let Some(data) = replication::partition_data(response, tp) else {
            continue;
        };
        let leader_end = if data.error_code == super::node::errors::OFFSET_OUT_OF_RANGE {
            log_end_offset(conn, me, tp, sent).await
        } else {
            None
        };
        let answer = replication::answer(data, leader_end);
        progressed |= matches!(answer, ReplicaAnswer::Fetched(_));
        broker
            .with_node(|s| s.node.replica_fetched(tp, sent, answer, now_ms()))
            .unwrap_or_else(|e| fatal(e));
    }
    progressed
}

/// The leader's log end offset, as Kafka's ListOffsets gives it a replica.
async fn log_end_offset(
    conn: &mut Connection,
    me: BrokerId,
    tp: &TopicPartition,
    sent: &ReplicaFetch,
) -> Option<u64> {
    let mut partition = ListOffsetsPartition::default();
    partition.partition_index = tp.1;
    partition.current_leader_epoch = sent.leader_epoch;
    partition.timestamp = -1;
    let mut topic = ListOffsetsTopic::default();
    topic.name = TopicName(StrBytes::from_string(tp.0.clone()));
    topic.partitions.push(partition);
    let mut request = ListOffsetsRequest::default();
    request.replica_id = WireBrokerId(me);
    request.topics.push(topic);
    let response: ListOffsetsResponse =
        conn.request(ApiKey::ListOffsets, 4, &request).await.ok()?;
    let answer = response.topics.first()?.partitions.first()?;
    (answer.error_code == 0)
        .then(|| u64::try_from(answer.offset).ok())
        .flatten()
}
