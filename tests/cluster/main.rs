//! The broker as a user meets it: a controller and three brokers as real
//! processes on loopback, driven by kafka-python, a client nobody here
//! wrote. Python is installed by tests/cluster/python-env.sh (as .ci/run
//! does); the tests skip, saying so, only where there is no python3 at all.

#[path = "../log/kafka.rs"]
#[allow(dead_code)]
mod kafka;

mod harness;

// Shared with tests/probe.rs; each uses part of it.
#[path = "../support/processes.rs"]
#[allow(dead_code)]
mod processes;

use harness::{client, python};
use kafka_oracle::log::{Log, LogConfig};
use processes::Cluster;
use serde_json::Value;
use std::collections::BTreeMap;

/// Acknowledged values and their offsets, and failed values with the error.
fn produced(out: &Value) -> (BTreeMap<String, u64>, BTreeMap<String, String>) {
    let acked = out["acked"]
        .as_object()
        .expect("acked")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("an offset")))
        .collect();
    let failed = out["failed"]
        .as_object()
        .expect("failed")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("?").to_string()))
        .collect();
    (acked, failed)
}

/// Consumed records by offset; each offset at most once.
fn consumed(out: &Value) -> BTreeMap<u64, String> {
    let mut by_offset = BTreeMap::new();
    for r in out["records"].as_array().expect("records") {
        let offset = r[0].as_u64().expect("an offset");
        let value = r[1].as_str().expect("a value").to_string();
        assert!(
            by_offset.insert(offset, value).is_none(),
            "offset {offset} twice"
        );
    }
    by_offset
}

/// A replica's log, read from its directory after a clean stop: every
/// record up to its high watermark, and the high watermark.
fn committed(c: &Cluster, broker: i32, topic: &str) -> (Vec<(u64, Vec<u8>)>, u64) {
    let log = Log::open(
        c.broker_dir(broker).join(format!("{topic}-0")),
        LogConfig::default(),
    )
    .expect("the replica's log opens");
    let hw = log.high_watermark();
    let records = kafka::read_all(&log, 0, hw, 1 << 20)
        .into_iter()
        .map(|(offset, _, value)| (offset, value))
        .collect();
    (records, hw)
}

#[test]
fn acks_all_loses_nothing_when_the_leader_is_killed_mid_stream() {
    let Some(py) = python() else { return };
    let settings = ["default.replication.factor=3", "min.insync.replicas=2"];
    let mut c = Cluster::start(3, &settings, &[]);
    let bootstrap = c.bootstrap();
    let mut killed = None;
    let out = client(
        &py,
        &["produce", &bootstrap, "t", "1000", "all", "50"],
        |line| {
            if line == "acked 300" {
                let leader = c.leader("t");
                c.kill(leader);
                killed = Some(leader);
            }
        },
    );
    let old_leader = killed.expect("the leader was killed mid-stream");
    let (acked, failed) = produced(&out);
    assert!(failed.is_empty(), "refused: {failed:?}");
    assert_eq!(acked.len(), 1000);
    let new_leader = c.leader("t");
    assert_ne!(new_leader, old_leader, "the controller failed over");

    let read = consumed(&client(
        &py,
        &["consume", &bootstrap, "t", "100000"],
        |_| {},
    ));
    for (value, offset) in &acked {
        assert_eq!(
            read.get(offset),
            Some(value),
            "acknowledged {value} at offset {offset}"
        );
    }
    let end = *read.keys().last().expect("records") + 1;
    assert_eq!(read.len() as u64, end, "offsets without a gap");

    c.restart(old_leader);
    c.wait_for("t", "every replica back in the ISR", |p| {
        p["isr"].as_array().is_some_and(|isr| isr.len() == 3)
    });
    // The followers learn the final high watermark with their next fetch.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    for id in 1..=3 {
        c.stop(id);
    }
    let (leader_log, leader_hw) = committed(&c, new_leader, "t");
    assert!(
        leader_hw >= end,
        "the leader's high watermark {leader_hw} covers {end}"
    );
    for id in 1..=3 {
        let (log, hw) = committed(&c, id, "t");
        assert_eq!(hw, leader_hw, "broker {id}'s high watermark");
        assert_eq!(
            log, leader_log,
            "broker {id} holds the leader's committed prefix"
        );
    }
}

#[test]
fn acks_all_is_refused_with_not_enough_replicas_when_two_of_three_are_down() {
    let Some(py) = python() else { return };
    let settings = ["default.replication.factor=3", "min.insync.replicas=2"];
    let mut c = Cluster::start(3, &settings, &[]);
    let bootstrap = c.bootstrap();
    let (acked, _) = produced(&client(
        &py,
        &["produce", &bootstrap, "t", "1", "all", "10"],
        |_| {},
    ));
    assert_eq!(acked.len(), 1);
    let leader = c.leader("t");
    let followers: Vec<i32> = (1..=3).filter(|&id| id != leader).collect();
    for &f in &followers {
        c.kill(f);
    }
    c.wait_for("t", "an ISR of the leader alone", |p| {
        p["isr"].as_array().is_some_and(|isr| isr.len() == 1)
    });
    assert_eq!(c.isr("t"), vec![leader]);

    let (acked, failed) = produced(&client(
        &py,
        &["produce", &bootstrap, "t", "3", "all", "0"],
        |_| {},
    ));
    assert!(
        acked.is_empty(),
        "acknowledged without enough replicas: {acked:?}"
    );
    assert_eq!(failed.len(), 3);
    for (value, error) in &failed {
        assert_eq!(error, "NotEnoughReplicasError", "{value}");
    }
    let read = consumed(&client(&py, &["consume", &bootstrap, "t", "100"], |_| {}));
    assert_eq!(
        read.into_iter().collect::<Vec<_>>(),
        vec![(0, "m0".to_string())],
        "nothing refused is readable"
    );

    for &f in &followers {
        c.restart(f);
    }
    c.wait_for("t", "the ISR whole again", |p| {
        p["isr"].as_array().is_some_and(|isr| isr.len() == 3)
    });
    let (acked, failed) = produced(&client(
        &py,
        &["produce", &bootstrap, "t", "1", "all", "10"],
        |_| {},
    ));
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        acked.get("m0"),
        Some(&1),
        "writes resume after the refused ones"
    );
}

#[test]
fn a_consumer_group_resumes_from_its_committed_offset() {
    let Some(py) = python() else { return };
    let c = Cluster::start(3, &["default.replication.factor=3"], &[]);
    let bootstrap = c.bootstrap();
    let (acked, _) = produced(&client(
        &py,
        &["produce", &bootstrap, "g", "30", "all", "10"],
        |_| {},
    ));
    assert_eq!(acked.len(), 30);
    let first = consumed(&client(
        &py,
        &["consume", &bootstrap, "g", "12", "readers"],
        |_| {},
    ));
    assert_eq!(
        first.keys().copied().collect::<Vec<_>>(),
        (0..12).collect::<Vec<_>>()
    );
    // A new consumer process of the same group starts where the first
    // committed; a consumer of another group starts from the beginning.
    let resumed = consumed(&client(
        &py,
        &["consume", &bootstrap, "g", "100", "readers"],
        |_| {},
    ));
    assert_eq!(
        resumed.keys().copied().collect::<Vec<_>>(),
        (12..30).collect::<Vec<_>>()
    );
    assert_eq!(resumed[&12], "m12");
    let other = consumed(&client(
        &py,
        &["consume", &bootstrap, "g", "100", "others"],
        |_| {},
    ));
    assert_eq!(other.len(), 30);
}

#[test]
fn the_cluster_command_serves_clients_and_its_children_die_with_it() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-oracle"))
        .args(["cluster", "--brokers", "3", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cluster starts");
    let stdout = cluster.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut addresses = Vec::new();
    let bootstrap = loop {
        let line = lines.next().expect("cluster output").unwrap();
        if let Some(address) = line
            .split_whitespace()
            .last()
            .filter(|_| line.starts_with("controller") || line.starts_with("broker"))
        {
            addresses.push(address.to_string());
        }
        if let Some(b) = line.strip_prefix("bootstrap ") {
            break b.to_string();
        }
    };
    assert_eq!(addresses.len(), 4, "a controller and three brokers");
    let (acked, _) = produced(&client(
        &py,
        &["produce", &bootstrap, "demo", "10", "all", "10"],
        |_| {},
    ));
    assert_eq!(acked.len(), 10);
    let read = consumed(&client(
        &py,
        &["consume", &bootstrap, "demo", "100"],
        |_| {},
    ));
    assert_eq!(read.len(), 10);

    cluster.kill().expect("SIGKILL");
    cluster.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for address in &addresses {
        while std::net::TcpStream::connect(address).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "{address} outlived the cluster command"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
