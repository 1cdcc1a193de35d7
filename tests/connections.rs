//! Hostile clients against real broker processes on loopback: silent
//! sockets must neither stay open for ever nor keep replication out.

#[path = "support/processes.rs"]
#[allow(dead_code)]
mod processes;

use kafka_oracle::broker::client::Connection;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use processes::Cluster;
use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Asks broker `address` for topic `name`'s metadata, which creates it,
/// until it has a leader (the controller refuses a replication factor
/// above the brokers registered so far).
fn create_topic(address: &str, name: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = Connection::connect(address, "test").await.unwrap();
        let mut topic = MetadataRequestTopic::default();
        topic.name = Some(TopicName(StrBytes::from_string(name.to_string())));
        let mut request = MetadataRequest::default();
        request.topics = Some(vec![topic]);
        request.allow_auto_topic_creation = true;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer: MetadataResponse =
                conn.request(ApiKey::Metadata, 9, &request).await.unwrap();
            let topic = &answer.topics[0];
            let led = topic.partitions.first().is_some_and(|p| p.error_code == 0);
            if topic.error_code == 0 && led {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} was not created: {topic:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

fn address(c: &Cluster, id: i32) -> String {
    c.bootstrap()
        .split(',')
        .nth(id as usize - 1)
        .unwrap()
        .to_string()
}

/// The report: 1,100 sockets that send nothing held every one of
/// the broker's 1,024 places, so a follower restarted could not connect to
/// fetch and stayed out of the ISR. A full broker now closes the socket
/// idle the longest to let a new connection in.
#[test]
fn silent_sockets_do_not_keep_a_restarted_follower_out_of_the_isr() {
    let mut c = Cluster::start(2, &["default.replication.factor=2"], &[]);
    create_topic(&address(&c, 1), "t");
    let leader = c.leader("t");
    let follower = 3 - leader;
    c.wait_for("t", "both replicas in the ISR", |p| {
        p["isr"].as_array().is_some_and(|isr| isr.len() == 2)
    });
    c.kill(follower);
    c.wait_for("t", "an ISR of the leader alone", |p| {
        p["isr"].as_array().is_some_and(|isr| isr.len() == 1)
    });
    let target = address(&c, leader);
    let silent: Vec<TcpStream> = (0..1_100)
        .filter_map(|_| TcpStream::connect(&target).ok())
        .collect();
    assert!(silent.len() >= 1_024, "{} sockets opened", silent.len());
    // The broker takes them in before the follower comes back.
    std::thread::sleep(Duration::from_millis(500));
    c.restart(follower);
    c.wait_for("t", "the restarted follower back in the ISR", |p| {
        p["isr"].as_array().is_some_and(|isr| isr.len() == 2)
    });
    drop(silent);
}

/// `connections.max.idle.ms`: a socket that sends nothing is closed.
#[test]
fn a_silent_connection_is_closed_after_connections_max_idle_ms() {
    let c = Cluster::start(1, &[], &["connections.max.idle.ms=300"]);
    let mut socket = TcpStream::connect(address(&c, 1)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let opened = Instant::now();
    let mut buf = [0u8; 1];
    let read = socket.read(&mut buf);
    assert!(
        matches!(read, Ok(0)),
        "closed by the broker, not timed out here: {read:?}"
    );
    assert!(opened.elapsed() >= Duration::from_millis(250));
}
