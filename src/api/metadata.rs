//! Metadata: this broker, and the topics asked for (creating unknown ones when
//! auto-creation is on and the client allows it).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::cluster::OPERATIONS_OMITTED;
use super::error::topic_error;
use crate::broker::BrokerState;
use crate::security::acl::AclOperation::{Create, Describe};
use crate::security::acl::{CLUSTER_NAME, ResourceType};
use crate::topic::{Topic, TopicError, is_internal_topic, validate_topic_name};

pub fn handle(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let node = BrokerId(broker.config.node_id);
    // KIP-430 (v8+): with no authorizer, everything is allowed.
    let topic_operations = version >= 8 && request.include_topic_authorized_operations;
    let cluster_operations =
        if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
            broker.authorized_operations(ctx, ResourceType::Cluster, CLUSTER_NAME)
        } else {
            OPERATIONS_OMITTED
        };
    let mut topics = match request.topics {
        // v0 uses an empty list for "all topics"; v1+ uses null.
        None => all_topics(broker, ctx),
        Some(t) if t.is_empty() && version == 0 => all_topics(broker, ctx),
        Some(requested) => {
            // v4+ lets the client forbid auto-creation; earlier versions always allow it.
            let allow_create = version < 4 || request.allow_auto_topic_creation;
            requested
                .into_iter()
                .map(|t| match t.name {
                    Some(name) => requested_topic(broker, ctx, &name, allow_create),
                    None => match broker.topics.get_by_id(t.topic_id) {
                        Some(topic) if broker.authorize_topic(ctx, Describe, &topic.name) => {
                            describe(&topic, node)
                        }
                        Some(_) => MetadataResponseTopic::default()
                            .with_topic_id(t.topic_id)
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                            .with_topic_authorized_operations(OPERATIONS_OMITTED),
                        None => MetadataResponseTopic::default()
                            .with_topic_id(t.topic_id)
                            .with_error_code(ResponseError::UnknownTopicId.code())
                            .with_topic_authorized_operations(OPERATIONS_OMITTED),
                    },
                })
                .collect()
        }
    };
    if topic_operations {
        for t in topics.iter_mut().filter(|t| t.error_code == 0) {
            let name = t.name.as_deref().map_or("", |n| n.as_str());
            t.topic_authorized_operations =
                broker.authorized_operations(ctx, ResourceType::Topic, name);
        }
    }
    let (host, port) = broker.advertised(ctx.listener);
    MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(broker.config.node_id))
                .with_host(StrBytes::from_string(host))
                .with_port(port),
        ])
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations)
}

/// Every topic the principal may describe.
fn all_topics(broker: &Arc<BrokerState>, ctx: &RequestContext) -> Vec<MetadataResponseTopic> {
    let node = BrokerId(broker.config.node_id);
    broker
        .topics
        .all()
        .iter()
        .filter(|t| !is_internal_topic(&t.name) && broker.authorize_topic(ctx, Describe, &t.name))
        .map(|t| describe(t, node))
        .collect()
}

fn requested_topic(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    name: &TopicName,
    allow_create: bool,
) -> MetadataResponseTopic {
    let error = |e: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(name.clone()))
            .with_error_code(e.code())
            .with_topic_authorized_operations(OPERATIONS_OMITTED)
    };
    let node = BrokerId(broker.config.node_id);
    if !broker.authorize_topic(ctx, Describe, name) {
        return error(ResponseError::TopicAuthorizationFailed);
    }
    if let Some(topic) = broker.topics.get(name) {
        return describe(&topic, node);
    }
    if validate_topic_name(name).is_err() {
        return error(ResponseError::InvalidTopicException);
    }
    if !(allow_create && broker.config.auto_create_topics_enable) {
        return error(ResponseError::UnknownTopicOrPartition);
    }
    if !broker.authorize_cluster(ctx, Create) && !broker.authorize_topic(ctx, Create, name) {
        return error(ResponseError::TopicAuthorizationFailed);
    }
    match broker.topics.get_or_create(name) {
        Ok(topic) => describe(&topic, node),
        Err(TopicError::AlreadyExists(_)) => error(ResponseError::LeaderNotAvailable),
        Err(e) => error(topic_error(&e)),
    }
}

fn describe(topic: &Topic, node: BrokerId) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(is_internal_topic(&topic.name))
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
        .with_partitions(
            topic
                .partitions
                .iter()
                .map(|p| {
                    MetadataResponsePartition::default()
                        .with_partition_index(p.index)
                        .with_leader_id(node)
                        .with_leader_epoch(0)
                        .with_replica_nodes(vec![node])
                        .with_isr_nodes(vec![node])
                })
                .collect(),
        )
}
