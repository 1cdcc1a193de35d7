//! The broker's connection table: Kafka's limits, and a full broker making
//! room by closing the connection idle the longest, never a busy one.

use kafka_oracle::broker::server::connections::{Connections, Limits, Refused};
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn limits(connections_max: usize, connections_per_ip_max: usize) -> Limits {
    Limits {
        connections_max,
        connections_per_ip_max,
        idle_ms_max: 600_000,
    }
}

#[tokio::test]
async fn a_full_broker_closes_the_connection_idle_longest_for_a_new_one() {
    let table = Connections::new(limits(3, 3));
    let start = Instant::now();
    let at = |ms: u64| start + Duration::from_millis(ms);
    let first = table.admit(ip(1), at(0)).unwrap();
    let second = table.admit(ip(1), at(1)).unwrap();
    let fetcher = table.admit(ip(2), at(2)).unwrap();
    first.idle(at(10));
    second.idle(at(5));
    fetcher.busy();
    let newcomer = table.admit(ip(3), at(20)).expect("room is made");
    assert_eq!(table.len(), 3, "never more than max.connections");
    tokio::time::timeout(Duration::from_secs(1), second.evicted.notified())
        .await
        .expect("the one idle longest (since 5 ms) is told to close");
    drop(second);
    assert_eq!(table.len(), 3, "its place was already taken");
    first.busy();
    newcomer.busy();
    assert_eq!(
        table.admit(ip(4), at(30)).err(),
        Some(Refused::NoneIdle),
        "every connection has a request under way: refused"
    );
    drop(fetcher);
    assert!(table.admit(ip(4), at(40)).is_ok(), "a place freed is taken");
}

#[tokio::test]
async fn connections_from_one_address_are_bounded() {
    let table = Connections::new(limits(10, 2));
    let now = Instant::now();
    let a = table.admit(ip(1), now).unwrap();
    let _b = table.admit(ip(1), now).unwrap();
    assert_eq!(table.admit(ip(1), now).err(), Some(Refused::PerIp));
    assert!(table.admit(ip(2), now).is_ok(), "another address is not");
    drop(a);
    assert!(
        table.admit(ip(1), now).is_ok(),
        "a closed one frees its place"
    );
}
