//! The connections a broker holds open, and Kafka's three limits on them:
//! `max.connections` (at once), `max.connections.per.ip`, and
//! `connections.max.idle.ms` (a connection with no request for this long
//! is closed, by its own task).
//!
//! Kafka keeps replication off the clients' way with a listener of its own
//! (KIP-402: at the broker-wide limit, a connection on the inter-broker
//! listener closes the least recently used one of another). Brokers here
//! share the one listener, so the rule is applied to every connection: at
//! `max.connections`, a new connection takes the place of the one idle the
//! longest, and is refused only if none is idle. A follower's fetcher is
//! never idle for long (its fetches are long-polled, and a connection with
//! a request under way is not idle), so a crowd of silent sockets cannot
//! keep it out, as it did when the broker simply refused past 1,024.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `max.connections`
    pub connections_max: usize,
    /// `max.connections.per.ip`
    pub connections_per_ip_max: usize,
    /// `connections.max.idle.ms`
    pub idle_ms_max: u64,
}

struct Open {
    ip: IpAddr,
    /// Since when it has had no request under way; `None` while it has.
    idle_since: Option<Instant>,
    /// Told to close when another connection takes its place.
    evicted: Arc<Notify>,
}

pub struct Connections {
    limits: Limits,
    open: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    by_id: HashMap<u64, Open>,
    next_id: u64,
}

/// Why a new connection is closed at once.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    PerIp,
    NoneIdle,
}

/// A connection's place: it leaves the table when dropped.
pub struct Admitted {
    connections: Arc<Connections>,
    id: u64,
    pub evicted: Arc<Notify>,
}

impl Connections {
    pub fn new(limits: Limits) -> Arc<Self> {
        assert!(limits.connections_max > 0 && limits.connections_per_ip_max > 0);
        Arc::new(Connections {
            limits,
            open: Mutex::new(Table::default()),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // The table is whole after any panic (each change is one insert or
        // one remove), so carrying on is safe.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for a new connection from `ip`, making room by evicting the
    /// connection idle the longest if the broker is full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<Admitted, Refused> {
        let mut table = self.table();
        let from_ip = table.by_id.values().filter(|o| o.ip == ip).count();
        if from_ip >= self.limits.connections_per_ip_max {
            return Err(Refused::PerIp);
        }
        if table.by_id.len() >= self.limits.connections_max {
            let longest_idle = table
                .by_id
                .iter()
                .filter_map(|(&id, o)| o.idle_since.map(|since| (since, id)))
                .min();
            let Some((_, id)) = longest_idle else {
                return Err(Refused::NoneIdle);
            };
            if let Some(evicted) = table.by_id.remove(&id) {
                // notify_one keeps the wake-up if the task is not waiting.
                evicted.evicted.notify_one();
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let evicted = Arc::new(Notify::new());
        table.by_id.insert(
            id,
            Open {
                ip,
                idle_since: Some(now),
                evicted: evicted.clone(),
            },
        );
        assert!(table.by_id.len() <= self.limits.connections_max);
        Ok(Admitted {
            connections: self.clone(),
            id,
            evicted,
        })
    }

    pub fn len(&self) -> usize {
        self.table().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Admitted {
    /// A request is under way: not to be evicted.
    pub fn busy(&self) {
        if let Some(o) = self.connections.table().by_id.get_mut(&self.id) {
            o.idle_since = None;
        }
    }

    /// Answered: idle from `now`.
    pub fn idle(&self, now: Instant) {
        if let Some(o) = self.connections.table().by_id.get_mut(&self.id) {
            o.idle_since = Some(now);
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.table().by_id.remove(&self.id);
    }
}
