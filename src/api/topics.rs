//! CreateTopics and DeleteTopics.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestContext;
use super::error::topic_error;
use super::mutation_quota::MutationQuota;
use crate::broker::BrokerState;
use crate::config_report::topic_entries;
use crate::security::acl::AclOperation;
use crate::topic::{NewTopic, TopicConfig, TopicError};

pub fn create(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let cluster_create = broker.authorize_cluster(ctx, AclOperation::Create);
    let quota = MutationQuota::new(broker, ctx, version >= 6);
    let mut seen = std::collections::HashSet::new();
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.clone();
            let result = CreatableTopicResult::default().with_name(name.clone());
            if !seen.insert(name.to_string()) {
                return result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "Create topics request from client contains multiple entries for topic {}",
                        name.as_str()
                    ))));
            }
            if !cluster_create && !broker.authorize_topic(ctx, AclOperation::Create, &name) {
                return result
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(StrBytes::from_static_str("Authorization failed.")));
            }
            if !t.assignments.is_empty() {
                // Manual replica assignment is only meaningful with several brokers;
                // accept one replica on this node per partition.
                let ok = t.num_partitions == -1
                    && t.replication_factor == -1
                    && t.assignments
                        .iter()
                        .enumerate()
                        .all(|(i, a)| a.partition_index == i as i32 && a.broker_ids.len() == 1 && *a.broker_ids[0] == broker.config.node_id);
                if !ok {
                    return result
                        .with_error_code(ResponseError::InvalidReplicaAssignment.code())
                        .with_error_message(Some(StrBytes::from_static_str(
                            "Replica assignment must name this broker once per partition, with no partition count or replication factor",
                        )));
                }
            }
            let partitions = if t.assignments.is_empty() {
                t.num_partitions
            } else {
                t.assignments.len() as i32
            };
            let new = NewTopic {
                name: name.to_string(),
                partitions,
                replication_factor: t.replication_factor,
                configs: t
                    .configs
                    .iter()
                    .map(|c| (c.name.to_string(), c.value.as_deref().unwrap_or("").to_string()))
                    .collect(),
            };
            let overrides = TopicConfig {
                overrides: new.configs.iter().cloned().collect(),
                defaults: broker.topics.defaults(),
            };
            let outcome = if request.validate_only {
                broker.topics.validate(&new).map(|_| None)
            } else {
                let count = if partitions == -1 {
                    broker.config.num_partitions
                } else {
                    partitions
                };
                if !quota.record(count) {
                    return throttled(result);
                }
                broker.topics.create(new).map(Some)
            };
            match outcome {
                Ok(created) => {
                    let partitions = match &created {
                        Some(topic) => topic.partitions.len() as i32,
                        None if partitions == -1 => broker.config.num_partitions,
                        None => partitions,
                    };
                    let result =
                        result.with_topic_id(created.map(|t| t.id).unwrap_or(Uuid::nil()));
                    // The configs and layout only for those who may describe
                    // the topic's configs, as Kafka's controller answers (v5+).
                    if version < 5 || broker.authorize_topic(ctx, AclOperation::DescribeConfigs, &name) {
                        result
                            .with_num_partitions(partitions)
                            .with_replication_factor(1)
                            .with_configs(Some(created_configs(broker, &overrides, version)))
                    } else {
                        result
                            .with_num_partitions(-1)
                            .with_replication_factor(-1)
                            .with_topic_config_error_code(
                                ResponseError::TopicAuthorizationFailed.code(),
                            )
                    }
                }
                Err(e) => result
                    .with_error_code(topic_error(&e).code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string())))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn throttled(result: CreatableTopicResult) -> CreatableTopicResult {
    let e = ResponseError::ThrottlingQuotaExceeded;
    result
        .with_error_code(e.code())
        .with_error_message(Some(StrBytes::from_string(e.to_string())))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}

/// A new topic's configs as CreateTopics v5+ reports them (Kafka's
/// DescribeConfigs view of the topic).
fn created_configs(
    broker: &BrokerState,
    config: &TopicConfig,
    version: i16,
) -> Vec<CreatableTopicConfigs> {
    if version < 5 {
        return Vec::new();
    }
    topic_entries(config, &broker.config)
        .into_iter()
        .map(|e| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_string(e.name))
                .with_value(e.value.map(StrBytes::from_string))
                .with_read_only(e.read_only)
                .with_config_source(e.source as i8)
                .with_is_sensitive(false)
        })
        .collect()
}

pub fn delete(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    // v0-5 name topics in `topic_names`; v6+ in `topics`, by name or by id.
    let targets: Vec<(Option<String>, Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n.to_string()), Uuid::nil()))
            .collect()
    };
    let quota = MutationQuota::new(broker, ctx, version >= 5);
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let name = match name {
                Some(n) => Some(n),
                None => broker.topics.get_by_id(id).map(|t| t.name.clone()),
            };
            let result = DeletableTopicResult::default()
                .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))))
                .with_topic_id(id);
            let Some(name) = name else {
                return result.with_error_code(ResponseError::UnknownTopicId.code());
            };
            if !broker.authorize_topic(ctx, AclOperation::Delete, &name) {
                return result.with_error_code(ResponseError::TopicAuthorizationFailed.code());
            }
            let partitions = broker
                .topics
                .get(&name)
                .map_or(0, |t| t.partitions.len() as i32);
            if !quota.record(partitions) {
                let e = ResponseError::ThrottlingQuotaExceeded;
                return result
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string())));
            }
            match broker.topics.delete(&name) {
                Ok(id) => result.with_topic_id(id),
                Err(e @ TopicError::UnknownTopic) => result.with_error_code(topic_error(&e).code()),
                Err(e) => result
                    .with_error_code(topic_error(&e).code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
