//! The serving path, side by side with its ceilings in one run: a broker
//! (controller and broker servers in this process, on loopback) against
//! the same bytes moved by a plain socket.
//!
//! - `fetch-broker`: a consumer fetching the whole topic from the broker,
//!   Fetch v12, 1 MiB a partition and 50 MiB a request (the Java
//!   consumer's defaults), through a loopback socket, to its end.
//! - `fetch-socket`: the topic's segment bytes written to a loopback socket
//!   from memory and read by the same kind of reader: the ceiling.
//! - `produce-broker`: acks=1 produce of the same batches, one request in
//!   flight, through a loopback socket into the broker.
//! - `produce-socket`: the same batch bytes over a loopback socket, each
//!   appended by the log alone (`Log::append_as_leader`): the ceiling.
//!
//! Throughput counts the batches' bytes. The issue asks for a 256 MiB
//! topic; this one is [`TOPIC_BYTES`] (32 MiB) to keep the run within
//! minutes on a 2-core machine shared by others.
//!
//! `cargo bench --bench serve`; ids `serve/{fetch-broker,fetch-socket,produce-broker,produce-socket}/{100B,1KiB}`.

#[path = "../tests/log/kafka.rs"]
#[allow(dead_code)]
mod kafka;

use bytes::Bytes;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use kafka_oracle::broker::client::Connection;
use kafka_oracle::broker::config::BrokerConfig;
use kafka_oracle::broker::node::Node;
use kafka_oracle::controller::state::ControllerConfig;
use kafka_oracle::controller::store::Store;
use kafka_oracle::log::{Log, LogConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// The topic's size, in batch bytes.
const TOPIC_BYTES: usize = 32 << 20;
/// One batch's payload, about what a producer's 256 KiB `batch.size` holds.
const BATCH_PAYLOAD_BYTES: usize = 256 << 10;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// The batches of a topic of [`TOPIC_BYTES`] with messages of `size`.
fn batches(size: usize) -> Vec<Vec<u8>> {
    let per_batch = BATCH_PAYLOAD_BYTES / size;
    let values: Vec<Vec<u8>> = (0..per_batch)
        .map(|i| vec![b'a' + (i % 26) as u8; size])
        .collect();
    let one = kafka::batch(&values, 0);
    (0..TOPIC_BYTES / one.len()).map(|_| one.clone()).collect()
}

/// A controller and broker 1 serving in `runtime`; the broker's address.
fn cluster(runtime: &Runtime, dir: &std::path::Path) -> String {
    runtime.block_on(async {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let controller = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let controller_address = controller.local_addr().unwrap().to_string();
        let store = Store::open(dir.join("controller")).unwrap();
        let stopped = stopping.clone();
        tokio::spawn(async move {
            let config = ControllerConfig::default();
            let _ = kafka_oracle::controller::server::run(controller, store, None, config, stopped)
                .await;
        });
        let broker = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = broker.local_addr().unwrap().to_string();
        let node = Node::open(1, dir.join("broker"), BrokerConfig::default()).unwrap();
        tokio::spawn(async move {
            let _ =
                kafka_oracle::broker::server::run(node, broker, controller_address, stopping).await;
        });
        // The senders live as long as the process: never stopped.
        std::mem::forget(stop);
        address
    })
}

/// Creates `topic` through Metadata and waits until it has a leader.
async fn create(conn: &mut Connection, topic: &str) {
    let mut t = MetadataRequestTopic::default();
    t.name = Some(name(topic));
    let mut request = MetadataRequest::default();
    request.topics = Some(vec![t]);
    request.allow_auto_topic_creation = true;
    for _ in 0..300 {
        let answer: MetadataResponse = conn.request(ApiKey::Metadata, 9, &request).await.unwrap();
        let t = &answer.topics[0];
        if t.error_code == 0 && t.partitions.first().is_some_and(|p| p.error_code == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{topic} was not created");
}

async fn produce(conn: &mut Connection, topic: &str, batches: &[Vec<u8>]) {
    for batch in batches {
        let mut p = PartitionProduceData::default();
        p.records = Some(Bytes::from(batch.clone()));
        let mut t = TopicProduceData::default();
        t.name = name(topic);
        t.partition_data.push(p);
        let mut r = ProduceRequest::default();
        r.acks = 1;
        r.timeout_ms = 30_000;
        r.topic_data.push(t);
        let answer: ProduceResponse = conn.request(ApiKey::Produce, 9, &r).await.unwrap();
        assert_eq!(answer.responses[0].partition_responses[0].error_code, 0);
    }
}

/// The offset after the last batch of `records`.
fn next_offset(records: &[u8], from: i64) -> i64 {
    let mut position = 0;
    let mut next = from;
    while position + 27 <= records.len() {
        let base = i64::from_be_bytes(records[position..position + 8].try_into().unwrap());
        let length = i32::from_be_bytes(records[position + 8..position + 12].try_into().unwrap());
        let delta = i32::from_be_bytes(records[position + 23..position + 27].try_into().unwrap());
        let end = position + 12 + length as usize;
        if end > records.len() {
            break;
        }
        next = base + i64::from(delta) + 1;
        position = end;
    }
    next
}

/// Fetches `topic` from offset 0 to `end`; the record bytes read.
async fn fetch_all(address: &str, topic: &str, end: i64) -> usize {
    let mut conn = Connection::connect(address, "bench").await.unwrap();
    let mut offset = 0;
    let mut bytes = 0;
    while offset < end {
        let mut p = FetchPartition::default();
        p.fetch_offset = offset;
        p.partition_max_bytes = 1 << 20;
        let mut t = FetchTopic::default();
        t.topic = name(topic);
        t.partitions.push(p);
        let mut r = FetchRequest::default();
        r.replica_id = kafka_protocol::messages::BrokerId(-1);
        r.max_wait_ms = 500;
        r.max_bytes = 50 << 20;
        r.topics.push(t);
        let answer: FetchResponse = conn.request(ApiKey::Fetch, 12, &r).await.unwrap();
        let records = answer.responses[0].partitions[0]
            .records
            .clone()
            .unwrap_or_default();
        bytes += records.len();
        offset = next_offset(&records, offset);
    }
    bytes
}

/// Writes `data` to a loopback socket and reads it to its end.
async fn socket_copy(data: &Bytes) -> usize {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let data = data.clone();
    let writer = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(&data).await.unwrap();
    });
    let mut reader = TcpStream::connect(address).await.unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    writer.await.unwrap();
    total
}

/// Sends `batches` over a loopback socket to a reader appending each to a
/// fresh log in `dir`.
async fn socket_append(batches: &Bytes, dir: &std::path::Path) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let data = batches.clone();
    let writer = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(&data).await.unwrap();
    });
    let log_dir = tempfile::tempdir_in(dir).unwrap();
    let mut log = Log::open(log_dir.path(), LogConfig::default()).unwrap();
    let mut reader = TcpStream::connect(address).await.unwrap();
    let mut header = [0u8; 12];
    while reader.read_exact(&mut header).await.is_ok() {
        let length = i32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
        let mut batch = vec![0u8; 12 + length];
        batch[..12].copy_from_slice(&header);
        reader.read_exact(&mut batch[12..]).await.unwrap();
        log.append_as_leader(&mut batch, 0, 0).unwrap();
    }
    writer.await.unwrap();
    log.close().unwrap();
}

fn serve(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let address = cluster(&runtime, dir.path());
    let mut group = c.benchmark_group("serve");
    group.sample_size(10);
    // Each iteration moves the whole topic: as many as the samples.
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(10));
    for (label, size) in [("100B", 100), ("1KiB", 1024)] {
        let batches = batches(size);
        let joined: Vec<u8> = batches.concat();
        let bytes = Bytes::from(joined);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        let topic = format!("serve-{label}");
        let end = runtime.block_on(async {
            let mut conn = Connection::connect(&address, "bench").await.unwrap();
            create(&mut conn, &topic).await;
            produce(&mut conn, &topic, &batches).await;
            // Each batch counts from 0, as a producer sends it.
            next_offset(&batches[0], 0) * batches.len() as i64
        });
        let fetched = runtime.block_on(fetch_all(&address, &topic, end));
        assert_eq!(fetched, bytes.len(), "the whole topic is fetched");
        group.bench_function(BenchmarkId::new("fetch-broker", label), |b| {
            b.iter(|| runtime.block_on(fetch_all(&address, &topic, end)))
        });
        group.bench_function(BenchmarkId::new("fetch-socket", label), |b| {
            b.iter(|| runtime.block_on(socket_copy(&bytes)))
        });
        let produced = format!("produced-{label}");
        runtime.block_on(async {
            let mut conn = Connection::connect(&address, "bench").await.unwrap();
            create(&mut conn, &produced).await;
        });
        group.bench_function(BenchmarkId::new("produce-broker", label), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let mut conn = Connection::connect(&address, "bench").await.unwrap();
                    produce(&mut conn, &produced, &batches).await;
                })
            })
        });
        group.bench_function(BenchmarkId::new("produce-socket", label), |b| {
            b.iter(|| runtime.block_on(socket_append(&bytes, dir.path())))
        });
    }
    group.finish();
}

criterion_group!(benches, serve);
criterion_main!(benches);
