//! The classic group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, DescribeGroups, ListGroups and DeleteGroups. The coordinator
//! (src/group) holds the state; these translate wire types to its terms.

use std::sync::Arc;

use futures::FutureExt;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, ResponseKind, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::error::group_error;
use super::{Reply, RequestContext};
use crate::broker::BrokerState;
use crate::group::{GroupError, JoinParams, JoinResult, Protocol, SyncParams, SyncResult};
use crate::security::acl::{AclOperation, ResourceType};

const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;
/// DescribeGroups' authorized_operations when the client did not ask for them.
const OPERATIONS_NOT_ASKED: i32 = i32::MIN;

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

fn code(e: Option<GroupError>) -> i16 {
    e.map(|e| group_error(e).code()).unwrap_or(0)
}

pub fn find_coordinator(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let (host, port) = broker.advertised(ctx.listener);
    let answer = |key: StrBytes| {
        let error = match request.key_type {
            GROUP_KEY if key.is_empty() => Some(ResponseError::InvalidRequest),
            GROUP_KEY if !broker.authorize_group(ctx, AclOperation::Describe, &key) => {
                Some(ResponseError::GroupAuthorizationFailed)
            }
            GROUP_KEY => None,
            TRANSACTION_KEY if key.is_empty() => Some(ResponseError::InvalidRequest),
            TRANSACTION_KEY
                if !broker.authorize_transactional_id(ctx, AclOperation::Describe, &key) =>
            {
                Some(ResponseError::TransactionalIdAuthorizationFailed)
            }
            TRANSACTION_KEY => None,
            _ => Some(ResponseError::InvalidRequest),
        };
        let mut c = Coordinator::default().with_key(key);
        match error {
            None => {
                c.node_id = BrokerId(broker.config.node_id);
                c.host = s(host.clone());
                c.port = port;
            }
            Some(e) => {
                c.node_id = BrokerId(-1);
                c.error_code = e.code();
                c.error_message = Some(s(e.to_string()));
            }
        }
        c
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .cloned()
            .map(answer)
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = answer(request.key.clone());
    FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_error_message(c.error_message)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port)
}

pub fn join(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: JoinGroupRequest,
    version: i16,
) -> Reply {
    if !broker.authorize_group(ctx, AclOperation::Read, &request.group_id) {
        return Reply::now(ResponseKind::JoinGroup(
            JoinGroupResponse::default()
                .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                .with_generation_id(-1)
                .with_member_id(request.member_id),
        ));
    }
    let params = JoinParams {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|i| i.to_string()),
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
        session_timeout_ms: request.session_timeout_ms,
        // v0 had no rebalance timeout: the session timeout served for both.
        rebalance_timeout_ms: if version == 0 {
            request.session_timeout_ms
        } else {
            request.rebalance_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name.to_string(),
                metadata: p.metadata,
            })
            .collect(),
        require_known_member_id: version >= 4,
    };
    let member_id = params.member_id.clone();
    let rx = broker.groups.join(&request.group_id, params);
    Reply::Later(
        async move {
            let result = rx
                .await
                .unwrap_or_else(|_| JoinResult::error(GroupError::NotCoordinator, member_id));
            ResponseKind::JoinGroup(join_response(result))
        }
        .boxed(),
    )
}

fn join_response(r: JoinResult) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code(r.error))
        .with_generation_id(r.generation)
        .with_protocol_type(r.protocol_type.map(s))
        .with_protocol_name(r.protocol.map(s))
        .with_leader(s(r.leader))
        .with_member_id(s(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(s(m.member_id))
                        .with_group_instance_id(m.instance_id.map(s))
                        .with_metadata(m.metadata)
                })
                .collect(),
        )
}

pub fn sync(broker: &Arc<BrokerState>, ctx: &RequestContext, request: SyncGroupRequest) -> Reply {
    if !broker.authorize_group(ctx, AclOperation::Read, &request.group_id) {
        return Reply::now(ResponseKind::SyncGroup(
            SyncGroupResponse::default()
                .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        ));
    }
    let params = SyncParams {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|i| i.to_string()),
        generation: request.generation_id,
        protocol_type: request.protocol_type.map(|p| p.to_string()),
        protocol: request.protocol_name.map(|p| p.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let rx = broker.groups.sync(&request.group_id, params);
    Reply::Later(
        async move {
            let r = rx
                .await
                .unwrap_or_else(|_| SyncResult::error(GroupError::NotCoordinator));
            ResponseKind::SyncGroup(
                SyncGroupResponse::default()
                    .with_error_code(code(r.error))
                    .with_protocol_type(r.protocol_type.map(s))
                    .with_protocol_name(r.protocol.map(s))
                    .with_assignment(r.assignment),
            )
        }
        .boxed(),
    )
}

pub fn heartbeat(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    if !broker.authorize_group(ctx, AclOperation::Read, &request.group_id) {
        return HeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let result = broker.groups.heartbeat(
        &request.group_id,
        &request.member_id,
        request.group_instance_id.as_deref(),
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(code(result.err()))
}

pub fn leave(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    if !broker.authorize_group(ctx, AclOperation::Read, &request.group_id) {
        return LeaveGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    // v0-2 name one member; v3+ a batch, each with its own result.
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    match broker.groups.leave(&request.group_id, &members) {
        Err(e) => LeaveGroupResponse::default().with_error_code(code(Some(e))),
        Ok(results) if version < 3 => LeaveGroupResponse::default()
            .with_error_code(code(results.into_iter().next().and_then(Result::err))),
        Ok(results) => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .zip(results)
                .map(|((member_id, instance_id), result)| {
                    MemberResponse::default()
                        .with_member_id(s(member_id))
                        .with_group_instance_id(instance_id.map(s))
                        .with_error_code(code(result.err()))
                })
                .collect(),
        ),
    }
}

pub fn describe(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let operations = |group: &str| {
        if request.include_authorized_operations {
            broker.authorized_operations(ctx, ResourceType::Group, group)
        } else {
            OPERATIONS_NOT_ASKED
        }
    };
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default()
                .with_group_id(group_id.clone())
                .with_authorized_operations(operations(&group_id));
            if !broker.authorize_group(ctx, AclOperation::Describe, &group_id) {
                return described
                    .with_authorized_operations(OPERATIONS_NOT_ASKED)
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            match broker.groups.describe(&group_id) {
                // v6 (KIP-1043) says so; older versions describe a Dead group.
                None if version >= 6 => described
                    .with_group_state(s("Dead"))
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(s(format!("Group {} not found.", group_id.0)))),
                None => described.with_group_state(s("Dead")),
                Some(d) => described
                    .with_group_state(s(d.state))
                    .with_protocol_type(s(d.protocol_type))
                    .with_protocol_data(s(d.protocol))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(s(m.member_id))
                                    .with_group_instance_id(m.instance_id.map(s))
                                    .with_client_id(s(m.client_id))
                                    .with_client_host(s(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

/// Every group when the principal may describe the cluster, else the groups
/// it may describe.
pub fn list(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let all = broker.authorize_cluster(ctx, AclOperation::Describe);
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.to_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        .filter(|g| all || broker.authorize_group(ctx, AclOperation::Describe, &g.group_id))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(s(g.group_id)))
                .with_protocol_type(s(g.protocol_type))
                .with_group_state(s(g.state))
                .with_group_type(s(g.group_type))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub fn delete(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let results = request
        .groups_names
        .into_iter()
        .map(|group_id| {
            if !broker.authorize_group(ctx, AclOperation::Delete, &group_id) {
                return DeletableGroupResult::default()
                    .with_group_id(group_id)
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            let result = broker.groups.delete_group(&group_id);
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code(result.err()))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
