//! The transaction admin views: ListTransactions and DescribeTransactions over
//! the transaction coordinator, DescribeProducers over the partitions'
//! producer state.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::describe_transactions_response::{self, TopicData};
use kafka_protocol::messages::list_transactions_response;
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, ListTransactionsRequest, ListTransactionsResponse, ProducerId,
    TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::{BrokerState, now_ms};
use crate::security::acl::AclOperation;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn list_transactions(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: ListTransactionsRequest,
    _version: i16,
) -> ListTransactionsResponse {
    const STATES: [&str; 8] = [
        "Empty",
        "Ongoing",
        "PrepareCommit",
        "PrepareAbort",
        "CompleteCommit",
        "CompleteAbort",
        "Dead",
        "PrepareEpochFence",
    ];
    let unknown: Vec<StrBytes> = request
        .state_filters
        .iter()
        .filter(|f| !STATES.contains(&f.as_str()))
        .cloned()
        .collect();
    // v2: a regular expression the transactional id must match.
    let pattern = match request.transactional_id_pattern.as_deref() {
        None | Some("") => None,
        Some(p) => match regex::Regex::new(p) {
            Ok(r) => Some(r),
            Err(_) => {
                return ListTransactionsResponse::default()
                    .with_error_code(ResponseError::InvalidRegularExpression.code());
            }
        },
    };
    let now = now_ms();
    let states = broker
        .txn
        .describe_all()
        .into_iter()
        .filter(|d| {
            request.state_filters.is_empty()
                || request
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == d.state.name())
        })
        .filter(|d| {
            request.producer_id_filters.is_empty()
                || request
                    .producer_id_filters
                    .contains(&ProducerId(d.producer_id))
        })
        .filter(|d| {
            pattern
                .as_ref()
                .is_none_or(|r| r.is_match(&d.transactional_id))
        })
        .filter(|d| {
            broker.authorize_transactional_id(ctx, AclOperation::Describe, &d.transactional_id)
        })
        // KIP-994: only transactions running longer than the duration filter.
        .filter(|d| {
            request.duration_filter < 0
                || (d.start_timestamp >= 0
                    && now.saturating_sub(d.start_timestamp) > request.duration_filter)
        })
        .map(|d| {
            list_transactions_response::TransactionState::default()
                .with_transactional_id(TransactionalId(s(&d.transactional_id)))
                .with_producer_id(ProducerId(d.producer_id))
                .with_transaction_state(s(d.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}

pub fn describe_transactions(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let all = broker.txn.describe_all();
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            let answer = describe_transactions_response::TransactionState::default()
                .with_transactional_id(id.clone());
            if !broker.authorize_transactional_id(ctx, AclOperation::Describe, id) {
                return answer
                    .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
            }
            let Some(d) = all.iter().find(|d| d.transactional_id == id.as_str()) else {
                return answer.with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            // Kafka leaves out the topics the principal may not describe.
            for (topic, p) in d
                .partitions
                .iter()
                .filter(|(t, _)| broker.authorize_topic(ctx, AclOperation::Describe, t))
            {
                match topics.last_mut() {
                    Some(last) if last.topic.as_str() == topic => last.partitions.push(*p),
                    _ => topics.push(
                        TopicData::default()
                            .with_topic(TopicName(s(topic)))
                            .with_partitions(vec![*p]),
                    ),
                }
            }
            answer
                .with_transaction_state(s(d.state.name()))
                .with_transaction_timeout_ms(d.timeout_ms)
                .with_transaction_start_time_ms(d.start_timestamp)
                .with_producer_id(ProducerId(d.producer_id))
                .with_producer_epoch(d.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

pub fn describe_producers(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let readable = broker.authorize_topic(ctx, AclOperation::Read, &t.name);
            let topic = broker.topics.get(&t.name).filter(|_| readable);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let answer = PartitionResponse::default().with_partition_index(index);
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(index)) else {
                        let e = if readable {
                            ResponseError::UnknownTopicOrPartition
                        } else {
                            ResponseError::TopicAuthorizationFailed
                        };
                        return answer.with_error_code(e.code());
                    };
                    let producers = partition
                        .producers()
                        .into_iter()
                        .map(|p| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(p.producer_id))
                                .with_producer_epoch(i32::from(p.epoch))
                                .with_last_sequence(p.last_sequence)
                                .with_last_timestamp(p.last_timestamp)
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(
                                    p.current_txn_start_offset.unwrap_or(-1),
                                )
                        })
                        .collect();
                    answer.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
