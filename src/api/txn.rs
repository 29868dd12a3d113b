//! The transaction APIs a transactional producer sends: AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn and TxnOffsetCommit, over the transaction
//! coordinator (`crate::txn`). InitProducerId is in `init_producer_id.rs`,
//! the admin views in `txn_describe.rs`.

use std::sync::Arc;

use futures::FutureExt;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, ProducerId, ResponseKind,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use super::error::{group_error, txn_error};
use super::{Reply, RequestContext};
use crate::broker::{BrokerState, now_ms};
use crate::config::FlushMode;
use crate::group::{CommittedOffset, GroupError, OFFSETS_TOPIC};
use crate::security::acl::AclOperation;
use crate::topic::Partition;
use crate::txn::{TopicPartition, TxnError};

/// With `flush = "always"` the answer waits until the transaction state (and
/// `partitions`) are on disk, so an acknowledged step survives a machine crash;
/// if an fsync fails, `failed` is the answer instead.
pub fn durable(
    broker: &Arc<BrokerState>,
    partitions: Vec<Arc<Partition>>,
    response: ResponseKind,
    failed: ResponseKind,
) -> Reply {
    if broker.config.log.flush != FlushMode::Always {
        return Reply::now(response);
    }
    let mut partitions = partitions;
    partitions.push(broker.txn.state_partition().clone());
    let broker = broker.clone();
    Reply::Later(
        async move {
            for p in partitions {
                if let Err(e) = broker.flusher.flush(p.clone()).await {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
                    return failed;
                }
            }
            response
        }
        .boxed(),
    )
}

fn partitions_of(broker: &BrokerState, names: &[TopicPartition]) -> Vec<Arc<Partition>> {
    names
        .iter()
        .filter_map(|(t, p)| broker.topics.get(t).and_then(|t| t.partition(*p).cloned()))
        .collect()
}

fn partition_exists(broker: &BrokerState, topic: &str, partition: i32) -> bool {
    broker
        .topics
        .get(topic)
        .is_some_and(|t| t.partition(partition).is_some())
}

/// Per-partition results of adding `topics` to one transaction. Clients'
/// requests (`check_id`) need WRITE on the transactional id; every topic
/// needs WRITE.
#[allow(clippy::too_many_arguments)]
fn add_to_txn(
    broker: &BrokerState,
    ctx: &RequestContext,
    check_id: bool,
    id: &str,
    producer_id: i64,
    epoch: i16,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
    fenced_as_epoch: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let wanted: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let id_denied = check_id && !broker.authorize_transactional_id(ctx, AclOperation::Write, id);
    let refused = |topic: &str, p: i32| {
        if id_denied {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        } else if !broker.authorize_topic(ctx, AclOperation::Write, topic) {
            Some(ResponseError::TopicAuthorizationFailed)
        } else if !partition_exists(broker, topic, p) {
            Some(ResponseError::UnknownTopicOrPartition)
        } else {
            None
        }
    };
    // Kafka adds nothing when a partition is refused: the others are not attempted.
    let any_refused = wanted.iter().any(|(t, p)| refused(t, *p).is_some());
    let outcome: Result<Vec<bool>, TxnError> = if any_refused {
        Ok(Vec::new())
    } else if verify_only {
        broker
            .txn
            .verify_partitions(id, producer_id, epoch, &wanted)
    } else {
        broker
            .txn
            .add_partitions(id, producer_id, epoch, &wanted)
            .map(|()| vec![true; wanted.len()])
    };
    let mut results = outcome.as_ref().ok().map(|v| v.iter());
    topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    let code = if any_refused {
                        refused(&t.name, p)
                            .unwrap_or(ResponseError::OperationNotAttempted)
                            .code()
                    } else {
                        match (&outcome, results.as_mut().and_then(|r| r.next())) {
                            (Err(e), _) => txn_error(*e, fenced_as_epoch).code(),
                            (Ok(_), Some(true)) => 0,
                            (Ok(_), _) => ResponseError::InvalidTxnState.code(),
                        }
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code)
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(partitions)
        })
        .collect()
}

pub fn add_partitions(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: AddPartitionsToTxnRequest,
    version: i16,
) -> Reply {
    // v4+ batches come from brokers: Kafka wants CLUSTER_ACTION.
    if version >= 4 && !broker.authorize_cluster(ctx, AclOperation::ClusterAction) {
        return Reply::now(ResponseKind::AddPartitionsToTxn(
            AddPartitionsToTxnResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
        ));
    }
    let response = add_partitions_response(broker, ctx, request, version);
    let mut failed = response.clone();
    for t in failed.results_by_topic_v3_and_below.iter_mut().chain(
        failed
            .results_by_transaction
            .iter_mut()
            .flat_map(|r| r.topic_results.iter_mut()),
    ) {
        for p in &mut t.results_by_partition {
            p.partition_error_code = ResponseError::CoordinatorNotAvailable.code();
        }
    }
    durable(
        broker,
        Vec::new(),
        ResponseKind::AddPartitionsToTxn(response),
        ResponseKind::AddPartitionsToTxn(failed),
    )
}

fn add_partitions_response(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let fenced_as_epoch = version < 2;
    if version < 4 {
        let results = add_to_txn(
            broker,
            ctx,
            true,
            &request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            &request.v3_and_below_topics,
            false,
            fenced_as_epoch,
        );
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    // v4+ (KIP-890): a batch of transactions, as brokers send it.
    let results = request
        .transactions
        .iter()
        .map(|t| {
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_topic_results(add_to_txn(
                    broker,
                    ctx,
                    false,
                    &t.transactional_id,
                    t.producer_id.0,
                    t.producer_epoch,
                    &t.topics,
                    t.verify_only,
                    false,
                ))
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

pub fn add_offsets(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: AddOffsetsToTxnRequest,
    version: i16,
) -> Reply {
    let refused = if !broker.authorize_transactional_id(
        ctx,
        AclOperation::Write,
        &request.transactional_id,
    ) {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !broker.authorize_group(ctx, AclOperation::Read, &request.group_id) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else {
        None
    };
    if let Some(e) = refused {
        return Reply::now(ResponseKind::AddOffsetsToTxn(
            AddOffsetsToTxnResponse::default().with_error_code(e.code()),
        ));
    }
    let result = if request.group_id.is_empty() {
        Err(TxnError::InvalidRequest)
    } else {
        // One offsets partition holds every group.
        broker.txn.add_partitions(
            &request.transactional_id,
            request.producer_id.0,
            request.producer_epoch,
            &[(OFFSETS_TOPIC.to_string(), 0)],
        )
    };
    let code = result.err().map_or(0, |e| txn_error(e, version < 2).code());
    durable(
        broker,
        Vec::new(),
        ResponseKind::AddOffsetsToTxn(AddOffsetsToTxnResponse::default().with_error_code(code)),
        ResponseKind::AddOffsetsToTxn(
            AddOffsetsToTxnResponse::default()
                .with_error_code(ResponseError::CoordinatorNotAvailable.code()),
        ),
    )
}

pub fn end_txn(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: EndTxnRequest,
    version: i16,
) -> Reply {
    if !broker.authorize_transactional_id(ctx, AclOperation::Write, &request.transactional_id) {
        return Reply::now(ResponseKind::EndTxn(
            EndTxnResponse::default()
                .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()),
        ));
    }
    let result = broker.txn.end_txn(
        &request.transactional_id,
        request.producer_id.0,
        request.producer_epoch,
        request.committed,
    );
    let (response, marked) = match result {
        Ok((producer_id, epoch, marked)) if version >= 5 => (
            EndTxnResponse::default()
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(epoch),
            marked,
        ),
        Ok((_, _, marked)) => (EndTxnResponse::default(), marked),
        Err(e) => (
            EndTxnResponse::default().with_error_code(txn_error(e, version < 2).code()),
            Vec::new(),
        ),
    };
    // A retry after a failed fsync finds the transaction complete and succeeds.
    let failed =
        EndTxnResponse::default().with_error_code(ResponseError::CoordinatorNotAvailable.code());
    durable(
        broker,
        partitions_of(broker, &marked),
        ResponseKind::EndTxn(response),
        ResponseKind::EndTxn(failed),
    )
}

/// Why a TxnOffsetCommit was refused as a whole.
enum Refused {
    Txn(TxnError),
    Group(GroupError),
}

impl From<TxnError> for Refused {
    fn from(e: TxnError) -> Refused {
        Refused::Txn(e)
    }
}

pub fn txn_offset_commit(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: TxnOffsetCommitRequest,
    version: i16,
) -> Reply {
    // WRITE on the transactional id, READ on the group: refused as a whole;
    // READ on each topic.
    let whole = if !broker.authorize_transactional_id(
        ctx,
        AclOperation::Write,
        &request.transactional_id,
    ) {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !broker.authorize_group(ctx, AclOperation::Read, &request.group_id) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else {
        None
    };
    let denied: Vec<Option<ResponseError>> = request
        .topics
        .iter()
        .map(|t| {
            whole.or((!broker.authorize_topic(ctx, AclOperation::Read, &t.name))
                .then_some(ResponseError::TopicAuthorizationFailed))
        })
        .collect();
    if denied.iter().any(Option::is_some) {
        let topics = request
            .topics
            .iter()
            .zip(&denied)
            .map(|(t, e)| {
                let code = e.map_or(ResponseError::OperationNotAttempted.code(), |e| e.code());
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        return Reply::now(ResponseKind::TxnOffsetCommit(
            TxnOffsetCommitResponse::default().with_topics(topics),
        ));
    }
    let response = txn_offset_commit_response(broker, request, version);
    let mut failed = response.clone();
    for p in failed
        .topics
        .iter_mut()
        .flat_map(|t| t.partitions.iter_mut())
    {
        p.error_code = ResponseError::CoordinatorNotAvailable.code();
    }
    durable(
        broker,
        vec![broker.groups.offsets_partition().clone()],
        ResponseKind::TxnOffsetCommit(response),
        ResponseKind::TxnOffsetCommit(failed),
    )
}

fn txn_offset_commit_response(
    broker: &Arc<BrokerState>,
    request: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let now = now_ms();
    let mut offsets = Vec::new();
    for t in &request.topics {
        for p in &t.partitions {
            if partition_exists(broker, &t.name, p.partition_index) {
                offsets.push((
                    (t.name.to_string(), p.partition_index),
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p
                            .committed_metadata
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_default(),
                        commit_timestamp: now,
                    },
                ));
            }
        }
    }
    let producer = (request.producer_id.0, request.producer_epoch);
    let outcome = broker.txn.with_verified(
        producer.0,
        producer.1,
        &(OFFSETS_TOPIC.to_string(), 0),
        || {
            broker
                .groups
                .commit_txn_offsets(
                    &request.group_id,
                    producer,
                    &request.member_id,
                    request.group_instance_id.as_deref(),
                    request.generation_id,
                    offsets,
                )
                .map_err(Refused::Group)
        },
    );
    let fenced_as_epoch = version < 3;
    let whole = |e: &Refused| match e {
        Refused::Txn(e) => txn_error(*e, fenced_as_epoch).code(),
        Refused::Group(e) => group_error(*e).code(),
    };
    let mut results = outcome.as_ref().ok().map(|r| r.iter());
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if !partition_exists(broker, &t.name, p.partition_index) {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        match (&outcome, results.as_mut().and_then(|r| r.next())) {
                            (Err(e), _) => whole(e),
                            (Ok(_), Some(Ok(()))) => 0,
                            (Ok(_), Some(Err(e))) => group_error(*e).code(),
                            (Ok(_), None) => ResponseError::UnknownServerError.code(),
                        }
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
