//! Consumer-group membership as a sans-IO state machine: Kafka's classic
//! (eager) rebalance protocol, after its `GroupCoordinator`. Members join;
//! once every known member has (re)joined, or the rebalance timeout passes,
//! a new generation starts and each join is answered, the leader with every
//! member's subscription; the leader's SyncGroup carries the assignment,
//! which answers every member's SyncGroup. A member not heard from within
//! its session timeout leaves, and so does one that sends LeaveGroup; either
//! way the rest rebalance.
//!
//! Answers that must wait (JoinGroup, SyncGroup) come out later as
//! [`GroupOutput`]s with the request id they were asked with. Committed
//! offsets are not here: the controller keeps them.

use bytes::Bytes;
use std::collections::BTreeMap;

/// Kafka's error codes: the one table.
pub use crate::error_codes as errors;

/// Kafka's `group.max.session.timeout.ms` default.
pub const SESSION_TIMEOUT_MS_MAX: i32 = 1_800_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Join {
    pub group: String,
    /// Empty for a new member.
    pub member_id: String,
    pub client_id: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Joined {
    pub error_code: i16,
    pub generation: i32,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// The members and their subscriptions: for the leader only.
    pub members: Vec<(String, Bytes)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub error_code: i16,
    pub assignment: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupOutput {
    Joined { request: u64, answer: Joined },
    Synced { request: u64, answer: Synced },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Empty,
    PreparingRebalance { deadline_ms: u64 },
    CompletingRebalance,
    Stable,
}

#[derive(Debug)]
struct Member {
    /// Order of first joining: the earliest member leads.
    seniority: u64,
    session_timeout_ms: u64,
    rebalance_timeout_ms: u64,
    protocols: Vec<Protocol>,
    assignment: Bytes,
    heard_ms: u64,
    join: Option<u64>,
    sync: Option<u64>,
}

#[derive(Debug)]
struct Group {
    state: State,
    generation: i32,
    protocol_type: String,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
}

#[derive(Debug, Default)]
pub struct Groups {
    groups: BTreeMap<String, Group>,
    next_member: u64,
    outputs: Vec<GroupOutput>,
}

impl Groups {
    pub fn take_outputs(&mut self) -> Vec<GroupOutput> {
        std::mem::take(&mut self.outputs)
    }

    /// JoinGroup. `Some` is the answer now (a refusal); `None` means it
    /// comes as a [`GroupOutput::Joined`] for `request`, perhaps at once.
    pub fn join(&mut self, request: u64, join: Join, now_ms: u64) -> Option<Joined> {
        let refuse = |error_code, member_id: &str| {
            Some(Joined {
                error_code,
                member_id: member_id.to_string(),
                ..Joined::default()
            })
        };
        if !(1..=SESSION_TIMEOUT_MS_MAX).contains(&join.session_timeout_ms) {
            return refuse(errors::INVALID_SESSION_TIMEOUT, &join.member_id);
        }
        if join.protocol_type.is_empty() || join.protocols.is_empty() {
            return refuse(errors::INCONSISTENT_GROUP_PROTOCOL, &join.member_id);
        }
        let next_member = &mut self.next_member;
        let group = self
            .groups
            .entry(join.group.clone())
            .or_insert_with(|| Group {
                state: State::Empty,
                generation: 0,
                protocol_type: join.protocol_type.clone(),
                protocol: None,
                leader: None,
                members: BTreeMap::new(),
            });
        if group.state == State::Empty {
            group.protocol_type = join.protocol_type.clone();
        }
        let others_agree = group
            .members
            .iter()
            .filter(|(id, _)| **id != join.member_id)
            .all(|(_, m)| {
                m.protocols
                    .iter()
                    .any(|p| join.protocols.iter().any(|q| q.name == p.name))
            });
        if group.protocol_type != join.protocol_type || !others_agree {
            return refuse(errors::INCONSISTENT_GROUP_PROTOCOL, &join.member_id);
        }
        let member_id = if join.member_id.is_empty() {
            *next_member += 1;
            format!("{}-{}", join.client_id, *next_member)
        } else if group.members.contains_key(&join.member_id) {
            join.member_id.clone()
        } else {
            return refuse(errors::UNKNOWN_MEMBER_ID, &join.member_id);
        };
        let seniority = *next_member;
        *next_member += 1;
        let member = group.members.entry(member_id).or_insert_with(|| Member {
            seniority,
            session_timeout_ms: 0,
            rebalance_timeout_ms: 0,
            protocols: Vec::new(),
            assignment: Bytes::new(),
            heard_ms: now_ms,
            join: None,
            sync: None,
        });
        member.session_timeout_ms = join.session_timeout_ms as u64;
        member.rebalance_timeout_ms = join.rebalance_timeout_ms.max(join.session_timeout_ms) as u64;
        member.protocols = join.protocols;
        member.heard_ms = now_ms;
        if let Some(previous) = member.join.replace(request) {
            self.outputs.push(GroupOutput::Joined {
                request: previous,
                answer: Joined {
                    error_code: errors::REBALANCE_IN_PROGRESS,
                    ..Joined::default()
                },
            });
        }
        let name = join.group;
        self.rebalance(&name, now_ms);
        self.try_complete(&name, now_ms);
        None
    }

    /// Starts a rebalance unless one is under way: SyncGroups waiting are
    /// told to join again.
    fn rebalance(&mut self, name: &str, now_ms: u64) {
        let Some(group) = self.groups.get_mut(name) else {
            return;
        };
        if matches!(group.state, State::PreparingRebalance { .. }) {
            return;
        }
        if group.members.is_empty() {
            group.state = State::Empty;
            return;
        }
        let timeout = group
            .members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0);
        group.state = State::PreparingRebalance {
            deadline_ms: now_ms.saturating_add(timeout),
        };
        for m in group.members.values_mut() {
            if let Some(request) = m.sync.take() {
                self.outputs.push(GroupOutput::Synced {
                    request,
                    answer: Synced {
                        error_code: errors::REBALANCE_IN_PROGRESS,
                        assignment: Bytes::new(),
                    },
                });
            }
        }
    }

    /// Ends the rebalance once every member has joined or the deadline
    /// passed (the members that did not join are dropped).
    fn try_complete(&mut self, name: &str, now_ms: u64) {
        let Some(group) = self.groups.get_mut(name) else {
            return;
        };
        let State::PreparingRebalance { deadline_ms } = group.state else {
            return;
        };
        let all_joined = group.members.values().all(|m| m.join.is_some());
        if !all_joined && now_ms < deadline_ms {
            return;
        }
        group.members.retain(|_, m| m.join.is_some());
        if group.members.is_empty() {
            group.state = State::Empty;
            group.leader = None;
            return;
        }
        group.generation += 1;
        let leader = match &group.leader {
            Some(l) if group.members.contains_key(l) => l.clone(),
            _ => group
                .members
                .iter()
                .min_by_key(|(_, m)| m.seniority)
                .map(|(id, _)| id.clone())
                .unwrap_or_default(),
        };
        let protocol = group.members[&leader]
            .protocols
            .iter()
            .map(|p| p.name.clone())
            .find(|name| {
                group
                    .members
                    .values()
                    .all(|m| m.protocols.iter().any(|p| &p.name == name))
            });
        let subscriptions: Vec<(String, Bytes)> = group
            .members
            .iter()
            .map(|(id, m)| {
                let metadata = m
                    .protocols
                    .iter()
                    .find(|p| Some(&p.name) == protocol.as_ref())
                    .map(|p| p.metadata.clone())
                    .unwrap_or_default();
                (id.clone(), metadata)
            })
            .collect();
        for (id, m) in &mut group.members {
            m.heard_ms = now_ms;
            if let Some(request) = m.join.take() {
                self.outputs.push(GroupOutput::Joined {
                    request,
                    answer: Joined {
                        error_code: errors::NONE,
                        generation: group.generation,
                        protocol_name: protocol.clone(),
                        leader: leader.clone(),
                        member_id: id.clone(),
                        members: if *id == leader {
                            subscriptions.clone()
                        } else {
                            Vec::new()
                        },
                    },
                });
            }
        }
        group.leader = Some(leader);
        group.protocol = protocol;
        group.state = State::CompletingRebalance;
    }

    /// SyncGroup. `Some` is the answer now; `None` means it comes as a
    /// [`GroupOutput::Synced`] for `request`, perhaps at once.
    pub fn sync(
        &mut self,
        request: u64,
        name: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
        now_ms: u64,
    ) -> Option<Synced> {
        let refuse = |error_code| {
            Some(Synced {
                error_code,
                assignment: Bytes::new(),
            })
        };
        let group = match member_of(&mut self.groups, name, generation, member_id) {
            Ok(group) => group,
            Err(code) => return refuse(code),
        };
        let member_id = member_id.to_string();
        if let Some(m) = group.members.get_mut(&member_id) {
            m.heard_ms = now_ms;
        }
        match group.state {
            State::Empty | State::PreparingRebalance { .. } => {
                refuse(errors::REBALANCE_IN_PROGRESS)
            }
            State::Stable => Some(Synced {
                error_code: errors::NONE,
                assignment: group.members[&member_id].assignment.clone(),
            }),
            State::CompletingRebalance => {
                if let Some(m) = group.members.get_mut(&member_id) {
                    m.sync = Some(request);
                }
                if group.leader.as_deref() == Some(member_id.as_str()) {
                    let mut assigned: BTreeMap<String, Bytes> = assignments.into_iter().collect();
                    group.state = State::Stable;
                    for (id, m) in &mut group.members {
                        m.assignment = assigned.remove(id).unwrap_or_default();
                        if let Some(request) = m.sync.take() {
                            self.outputs.push(GroupOutput::Synced {
                                request,
                                answer: Synced {
                                    error_code: errors::NONE,
                                    assignment: m.assignment.clone(),
                                },
                            });
                        }
                    }
                }
                None
            }
        }
    }

    pub fn heartbeat(&mut self, name: &str, generation: i32, member_id: &str, now_ms: u64) -> i16 {
        let group = match member_of(&mut self.groups, name, generation, member_id) {
            Ok(group) => group,
            Err(code) => return code,
        };
        if let Some(m) = group.members.get_mut(member_id) {
            m.heard_ms = now_ms;
        }
        match group.state {
            State::PreparingRebalance { .. } => errors::REBALANCE_IN_PROGRESS,
            _ => errors::NONE,
        }
    }

    /// LeaveGroup: each member's error code; the rest rebalance.
    pub fn leave(&mut self, name: &str, member_ids: &[String], now_ms: u64) -> Vec<i16> {
        let Some(group) = self.groups.get_mut(name) else {
            return vec![errors::UNKNOWN_MEMBER_ID; member_ids.len()];
        };
        let codes: Vec<i16> = member_ids
            .iter()
            .map(|id| match group.members.remove(id) {
                Some(_) => errors::NONE,
                None => errors::UNKNOWN_MEMBER_ID,
            })
            .collect();
        if codes.contains(&errors::NONE) {
            self.rebalance(name, now_ms);
            self.try_complete(name, now_ms);
        }
        codes
    }

    /// Whether an OffsetCommit of this generation and member may be
    /// written: a member of the current generation, unless the group is
    /// between its joins and its sync (Kafka's CompletingRebalance: the
    /// assignment is not known yet); while it prepares a rebalance the
    /// commit is taken, as Kafka takes the commit a member makes on revoke.
    /// Anyone (generation -1) may commit for a group without members.
    pub fn may_commit(&self, name: &str, generation: i32, member_id: &str) -> Result<(), i16> {
        let group = self.groups.get(name);
        if generation < 0 {
            return match group {
                Some(g) if !g.members.is_empty() => Err(errors::ILLEGAL_GENERATION),
                _ => Ok(()),
            };
        }
        let group = group
            .filter(|g| g.members.contains_key(member_id))
            .ok_or(errors::UNKNOWN_MEMBER_ID)?;
        if generation != group.generation {
            return Err(errors::ILLEGAL_GENERATION);
        }
        match group.state {
            State::CompletingRebalance => Err(errors::REBALANCE_IN_PROGRESS),
            State::Empty | State::PreparingRebalance { .. } | State::Stable => Ok(()),
        }
    }

    /// Members not heard from within their session timeout leave;
    /// rebalances past their deadline end.
    pub fn tick(&mut self, now_ms: u64) {
        let names: Vec<String> = self.groups.keys().cloned().collect();
        for name in names {
            let Some(group) = self.groups.get_mut(&name) else {
                continue;
            };
            let before = group.members.len();
            group.members.retain(|_, m| {
                m.join.is_some() || now_ms.saturating_sub(m.heard_ms) <= m.session_timeout_ms
            });
            // A rebalance under way goes on: the rest may all have joined now.
            if group.members.len() < before {
                self.rebalance(&name, now_ms);
            }
            self.try_complete(&name, now_ms);
        }
    }
}

/// The group of a member of this generation, or the error saying why not.
fn member_of<'g>(
    groups: &'g mut BTreeMap<String, Group>,
    name: &str,
    generation: i32,
    member_id: &str,
) -> Result<&'g mut Group, i16> {
    let group = groups
        .get_mut(name)
        .filter(|g| g.members.contains_key(member_id))
        .ok_or(errors::UNKNOWN_MEMBER_ID)?;
    if generation != group.generation {
        return Err(errors::ILLEGAL_GENERATION);
    }
    Ok(group)
}
