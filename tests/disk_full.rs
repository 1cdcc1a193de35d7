//! A log directory that fills, on a real broker process: Kafka's policy
//! (the directory goes offline; with no other, the broker stops, and the
//! controller moves leadership) at the first failed append of a leader, as
//! at a follower's, not at the next checkpoint write.

#[path = "log/kafka.rs"]
#[allow(dead_code)]
mod kafka;
#[path = "support/processes.rs"]
#[allow(dead_code)]
mod processes;

use bytes::Bytes;
use kafka_oracle::broker::client::Connection;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use processes::Cluster;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs of 1 MiB, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(at)
            .output()
            .ok()?;
        mounted
            .status
            .success()
            .then(|| SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

#[test]
fn a_leader_whose_disk_fills_stops_at_once_and_leadership_moves() {
    let mut disk = None;
    let mut c = Cluster::start_with(
        2,
        &["default.replication.factor=2"],
        // No checkpoint for ten minutes: the broker must stop on the
        // failed append itself.
        &["replica.high.watermark.checkpoint.interval.ms=600000"],
        |dir| disk = SmallDisk::mount(&dir.join("broker-1")),
    );
    if disk.is_none() {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    }
    let bootstrap = c.bootstrap();
    let leader_address = bootstrap.split(',').next().unwrap().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let failed_at = runtime.block_on(async {
        let mut conn = Connection::connect(&leader_address, "test").await.unwrap();
        let mut topic = MetadataRequestTopic::default();
        topic.name = Some(name("t"));
        let mut request = MetadataRequest::default();
        request.topics = Some(vec![topic]);
        request.allow_auto_topic_creation = true;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer: MetadataResponse =
                conn.request(ApiKey::Metadata, 9, &request).await.unwrap();
            let t = &answer.topics[0];
            if t.error_code == 0 && t.partitions.first().is_some_and(|p| p.error_code == 0) {
                assert_eq!(t.partitions[0].leader_id.0, 1, "the first replica leads");
                break;
            }
            assert!(Instant::now() < deadline, "t was not created");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // 64 KiB a batch: 1 MiB fills within 16.
        let value = vec![b'x'; 64 << 10];
        for i in 0..64 {
            let mut p = PartitionProduceData::default();
            p.records = Some(Bytes::from(kafka::batch(std::slice::from_ref(&value), i)));
            let mut t = TopicProduceData::default();
            t.name = name("t");
            t.partition_data.push(p);
            let mut r = ProduceRequest::default();
            r.acks = 1;
            r.timeout_ms = 5_000;
            r.topic_data.push(t);
            let answered: Result<ProduceResponse, String> =
                conn.request(ApiKey::Produce, 9, &r).await;
            match answered {
                Ok(a) if a.responses[0].partition_responses[0].error_code == 0 => continue,
                // A storage error answered, or the connection closed by a
                // broker that stopped.
                _ => return Instant::now(),
            }
        }
        panic!("64 batches of 64 KiB fit on a 1 MiB disk");
    });
    let status = loop {
        if let Some(status) = c.exited(1) {
            break status;
        }
        assert!(
            failed_at.elapsed() < Duration::from_secs(10),
            "broker 1 runs on after its disk filled"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "stopped on a storage error: {status}");
    c.wait_for("t", "broker 2 leading", |p| p["leader"].as_i64() == Some(2));
    assert!(c.exited(2).is_none(), "broker 2 runs on");
}
