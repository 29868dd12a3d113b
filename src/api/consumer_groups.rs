//! The consumer group protocol (KIP-848): ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe. Assignments travel by topic id on the wire and by
//! topic name in the coordinator.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::consumer_group_describe_response::{
    self as describe, DescribedGroup,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{self as heartbeat};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestContext;
use super::error::group_error;
use crate::broker::BrokerState;
use crate::group::{Assignment, HeartbeatParams};
use crate::security::acl::{AclOperation, ResourceType};
use crate::topic::is_internal_topic;

/// DescribeGroups' authorized_operations when the client did not ask for them.
const OPERATIONS_NOT_ASKED: i32 = i32::MIN;

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

/// The broker's topics: partition counts by name, and names by id and back.
struct TopicsView {
    partitions: BTreeMap<String, i32>,
    names: HashMap<Uuid, String>,
    ids: HashMap<String, Uuid>,
}

fn topics_view(broker: &BrokerState) -> TopicsView {
    let mut view = TopicsView {
        partitions: BTreeMap::new(),
        names: HashMap::new(),
        ids: HashMap::new(),
    };
    for t in broker
        .topics
        .all()
        .iter()
        .filter(|t| !is_internal_topic(&t.name))
    {
        view.partitions
            .insert(t.name.clone(), t.partitions.len() as i32);
        view.names.insert(t.id, t.name.clone());
        view.ids.insert(t.name.clone(), t.id);
    }
    view
}

pub fn heartbeat(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    if !broker.authorize_group(ctx, AclOperation::Read, &request.group_id) {
        let e = kafka_protocol::ResponseError::GroupAuthorizationFailed;
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(s(e.to_string())));
    }
    // Clients may not learn of topics they cannot describe: a subscription
    // naming one is refused whole, as Kafka refuses it.
    let indescribable = request
        .subscribed_topic_names
        .iter()
        .flatten()
        .any(|topic| !broker.authorize_topic(ctx, AclOperation::Describe, topic));
    if indescribable {
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(kafka_protocol::ResponseError::TopicAuthorizationFailed.code());
    }
    let view = topics_view(broker);
    let owned = request.topic_partitions.map(|tps| {
        let mut owned = Assignment::new();
        for tp in tps {
            if let Some(name) = view.names.get(&tp.topic_id) {
                owned.entry(name.clone()).or_default().extend(tp.partitions);
            }
        }
        owned
    });
    let params = HeartbeatParams {
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|i| i.to_string()),
        rack_id: request.rack_id.map(|r| r.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topics: request
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.0.to_string()).collect()),
        subscribed_regex: request.subscribed_topic_regex.map(|r| r.to_string()),
        server_assignor: request.server_assignor.map(|a| a.to_string()),
        owned,
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
    };
    match broker
        .groups
        .consumer_heartbeat(&request.group_id, params, &view.partitions)
    {
        Err(e) => {
            let code = group_error(e);
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(s(e.to_string())))
        }
        Ok(r) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(s(r.member_id)))
            .with_member_epoch(r.member_epoch)
            .with_heartbeat_interval_ms(broker.groups.heartbeat_interval_ms(&request.group_id))
            .with_assignment(r.assignment.map(|a| {
                heartbeat::Assignment::default().with_topic_partitions(
                    a.into_iter()
                        .filter_map(|(topic, partitions)| {
                            Some(
                                heartbeat::TopicPartitions::default()
                                    .with_topic_id(*view.ids.get(&topic)?)
                                    .with_partitions(partitions.into_iter().collect()),
                            )
                        })
                        .collect(),
                )
            })),
    }
}

pub fn describe(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let view = topics_view(broker);
    let assignment = |a: &Assignment| {
        describe::Assignment::default().with_topic_partitions(
            a.iter()
                .map(|(topic, partitions)| {
                    describe::TopicPartitions::default()
                        .with_topic_id(view.ids.get(topic).copied().unwrap_or_default())
                        .with_topic_name(TopicName(s(topic.clone())))
                        .with_partitions(partitions.iter().copied().collect())
                })
                .collect(),
        )
    };
    let groups = request
        .group_ids
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default()
                .with_group_id(group_id.clone())
                .with_authorized_operations(if request.include_authorized_operations {
                    broker.authorized_operations(ctx, ResourceType::Group, &group_id)
                } else {
                    OPERATIONS_NOT_ASKED
                });
            if !broker.authorize_group(ctx, AclOperation::Describe, &group_id) {
                return described
                    .with_authorized_operations(OPERATIONS_NOT_ASKED)
                    .with_error_code(
                        kafka_protocol::ResponseError::GroupAuthorizationFailed.code(),
                    );
            }
            match broker.groups.consumer_describe(&group_id) {
                Err(e) => described
                    .with_error_code(group_error(e).code())
                    .with_error_message(Some(s(format!(
                        "Group {} is not a consumer group.",
                        group_id.0
                    )))),
                Ok(d) => described
                    .with_group_state(s(d.state))
                    .with_group_epoch(d.group_epoch)
                    .with_assignment_epoch(d.assignment_epoch)
                    .with_assignor_name(s(d.assignor))
                    .with_members(
                        d.members
                            .iter()
                            .map(|m| {
                                describe::Member::default()
                                    .with_member_id(s(m.member_id.clone()))
                                    .with_instance_id(m.instance_id.clone().map(s))
                                    .with_rack_id(m.rack_id.clone().map(s))
                                    .with_member_epoch(m.member_epoch)
                                    .with_client_id(s(m.client_id.clone()))
                                    .with_client_host(s(m.client_host.clone()))
                                    .with_subscribed_topic_names(
                                        m.subscribed_topics
                                            .iter()
                                            .map(|t| TopicName(s(t.clone())))
                                            .collect(),
                                    )
                                    .with_subscribed_topic_regex(m.subscribed_regex.clone().map(s))
                                    .with_assignment(assignment(&m.assignment))
                                    .with_target_assignment(assignment(&m.target))
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
