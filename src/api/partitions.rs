//! CreatePartitions: grows topics, never shrinks them.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::error::topic_error;
use super::mutation_quota::MutationQuota;
use crate::broker::BrokerState;
use crate::security::acl::AclOperation;
use crate::topic::{NewPartitions, TopicError};

pub fn create(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: CreatePartitionsRequest,
    version: i16,
) -> CreatePartitionsResponse {
    let quota = MutationQuota::new(broker, ctx, version >= 3);
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> = request
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.to_string()))
        .map(|t| t.name.to_string())
        .collect();
    let mut answered = HashSet::new();
    let results = request
        .topics
        .into_iter()
        .filter(|t| !duplicates.contains(t.name.as_str()) || answered.insert(t.name.to_string()))
        .map(|t| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            if duplicates.contains(t.name.as_str()) {
                return result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_static_str("Duplicate topic name.")));
            }
            if !broker.authorize_topic(ctx, AclOperation::Alter, &t.name) {
                return result
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "The topic authorization is failed.",
                    )));
            }
            let current = broker
                .topics
                .get(&t.name)
                .map_or(t.count, |topic| topic.partitions.len() as i32);
            if !request.validate_only && !quota.record(t.count - current) {
                let e = ResponseError::ThrottlingQuotaExceeded;
                return result
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string())));
            }
            let new = NewPartitions {
                count: t.count,
                assignments: t.assignments.map(|a| {
                    a.into_iter()
                        .map(|a| a.broker_ids.into_iter().map(|id| id.0).collect())
                        .collect()
                }),
            };
            match broker
                .topics
                .add_partitions(&t.name, &new, request.validate_only)
            {
                Ok(_) => result,
                // Kafka answers an unknown topic without a message.
                Err(e @ TopicError::UnknownTopic) => result.with_error_code(topic_error(&e).code()),
                Err(e) => result
                    .with_error_code(topic_error(&e).code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
