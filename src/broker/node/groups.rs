//! FindCoordinator, JoinGroup, SyncGroup, Heartbeat and LeaveGroup, from
//! Kafka's messages to the [`Groups`](crate::broker::group::Groups) state
//! machine and back. One broker coordinates every group: the live broker
//! with the lowest id in the controller's metadata, so that all brokers
//! name the same one. Its membership state is in memory (a new coordinator
//! starts empty and the members join again, as after a Kafka coordinator
//! moves); committed offsets are the controller's and survive it.

use super::{host_port, Node, Output};
use crate::broker::group::{GroupOutput, Join, Protocol};
use crate::broker::wire::Response;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::error_codes::{COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR};
/// FindCoordinator's key type for a consumer group (1 is a transaction).
const GROUP_KEY: i8 = 0;

/// A group request's immediate answer, or the request id it is answered
/// under later (as an [`Output::Answer`]).
pub enum GroupOutcome {
    Now(Response),
    Wait(u64),
}

impl Node {
    /// The broker coordinating every group.
    fn coordinator(&self) -> Option<(i32, &str)> {
        self.cache
            .brokers
            .iter()
            .next()
            .map(|(&id, address)| (id, address.as_str()))
    }

    fn is_coordinator(&self) -> bool {
        self.coordinator().map(|(id, _)| id) == Some(self.me)
    }

    pub fn find_coordinator(
        &self,
        request: &FindCoordinatorRequest,
        version: i16,
    ) -> FindCoordinatorResponse {
        let mut response = FindCoordinatorResponse::default();
        let keys: Vec<StrBytes> = if version >= 4 {
            request.coordinator_keys.clone()
        } else {
            vec![request.key.clone()]
        };
        for key in keys {
            let mut c = Coordinator::default();
            c.key = key;
            match (request.key_type, self.coordinator()) {
                (GROUP_KEY, Some((id, address))) => {
                    let (host, port) = host_port(address);
                    c.node_id = BrokerId(id);
                    c.host = StrBytes::from_string(host);
                    c.port = port;
                }
                _ => {
                    c.node_id = BrokerId(-1);
                    c.port = -1;
                    c.error_code = COORDINATOR_NOT_AVAILABLE;
                }
            }
            response.coordinators.push(c);
        }
        // Before version 4 the one answer is in the top-level fields, and
        // the list may not be sent.
        if version < 4 {
            if let Some(c) = response.coordinators.pop() {
                response.error_code = c.error_code;
                response.node_id = c.node_id;
                response.host = c.host;
                response.port = c.port;
            }
        }
        response
    }

    pub fn join_group(
        &mut self,
        request: JoinGroupRequest,
        client_id: &str,
        now_ms: u64,
    ) -> GroupOutcome {
        if !self.is_coordinator() {
            let mut response = JoinGroupResponse::default();
            response.error_code = NOT_COORDINATOR;
            response.member_id = request.member_id;
            return GroupOutcome::Now(Response::JoinGroup(response));
        }
        let id = self.next_request();
        let join = Join {
            group: request.group_id.0.to_string(),
            member_id: request.member_id.to_string(),
            client_id: client_id.to_string(),
            session_timeout_ms: request.session_timeout_ms,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            protocol_type: request.protocol_type.to_string(),
            protocols: request
                .protocols
                .into_iter()
                .map(|p| Protocol {
                    name: p.name.to_string(),
                    metadata: p.metadata,
                })
                .collect(),
        };
        let now = self.groups.join(id, join, now_ms);
        self.drain_groups();
        match now {
            Some(answer) => GroupOutcome::Now(joined(answer)),
            None => GroupOutcome::Wait(id),
        }
    }

    pub fn sync_group(&mut self, request: SyncGroupRequest, now_ms: u64) -> GroupOutcome {
        if !self.is_coordinator() {
            let mut response = SyncGroupResponse::default();
            response.error_code = NOT_COORDINATOR;
            return GroupOutcome::Now(Response::SyncGroup(response));
        }
        let id = self.next_request();
        let assignments = request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect();
        let now = self.groups.sync(
            id,
            request.group_id.0.as_str(),
            request.generation_id,
            request.member_id.as_str(),
            assignments,
            now_ms,
        );
        self.drain_groups();
        match now {
            Some(answer) => GroupOutcome::Now(synced(answer)),
            None => GroupOutcome::Wait(id),
        }
    }

    pub fn heartbeat(&mut self, request: &HeartbeatRequest, now_ms: u64) -> HeartbeatResponse {
        let mut response = HeartbeatResponse::default();
        response.error_code = if self.is_coordinator() {
            self.groups.heartbeat(
                request.group_id.0.as_str(),
                request.generation_id,
                request.member_id.as_str(),
                now_ms,
            )
        } else {
            NOT_COORDINATOR
        };
        response
    }

    pub fn leave_group(
        &mut self,
        request: &LeaveGroupRequest,
        version: i16,
        now_ms: u64,
    ) -> LeaveGroupResponse {
        let mut response = LeaveGroupResponse::default();
        if !self.is_coordinator() {
            response.error_code = NOT_COORDINATOR;
            return response;
        }
        let members: Vec<String> = if version >= 3 {
            request
                .members
                .iter()
                .map(|m| m.member_id.to_string())
                .collect()
        } else {
            vec![request.member_id.to_string()]
        };
        let codes = self
            .groups
            .leave(request.group_id.0.as_str(), &members, now_ms);
        self.drain_groups();
        if version >= 3 {
            for (member, code) in members.into_iter().zip(codes) {
                let mut m = MemberResponse::default();
                m.member_id = StrBytes::from_string(member);
                m.error_code = code;
                response.members.push(m);
            }
        } else {
            response.error_code = codes.first().copied().unwrap_or_default();
        }
        response
    }

    /// Whether an OffsetCommit of this group, generation and member may go
    /// to the controller; the error code if not.
    pub fn may_commit(&self, group: &str, generation: i32, member_id: &str) -> Result<(), i16> {
        if generation >= 0 && !self.is_coordinator() {
            return Err(NOT_COORDINATOR);
        }
        self.groups.may_commit(group, generation, member_id)
    }

    pub(super) fn drain_groups(&mut self) {
        for output in self.groups.take_outputs() {
            let (request, response) = match output {
                GroupOutput::Joined { request, answer } => (request, joined(answer)),
                GroupOutput::Synced { request, answer } => (request, synced(answer)),
            };
            self.outputs.push(Output::Answer { request, response });
        }
    }
}

fn joined(answer: crate::broker::group::Joined) -> Response {
    let mut response = JoinGroupResponse::default();
    response.error_code = answer.error_code;
    response.generation_id = if answer.error_code == 0 {
        answer.generation
    } else {
        -1
    };
    response.protocol_name = answer.protocol_name.map(StrBytes::from_string);
    response.leader = StrBytes::from_string(answer.leader);
    response.member_id = StrBytes::from_string(answer.member_id);
    for (member_id, metadata) in answer.members {
        let mut m = JoinGroupResponseMember::default();
        m.member_id = StrBytes::from_string(member_id);
        m.metadata = metadata;
        response.members.push(m);
    }
    Response::JoinGroup(response)
}

fn synced(answer: crate::broker::group::Synced) -> Response {
    let mut response = SyncGroupResponse::default();
    response.error_code = answer.error_code;
    response.assignment = answer.assignment;
    Response::SyncGroup(response)
}
