//! Fetch: record batches straight out of the log, with long polling
//! (max_wait_ms / min_bytes) woken by appends. Sessionless: every fetch is a
//! full fetch and the response carries session id 0.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::select_all;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, ResponseKind};
use tokio::sync::watch;

use super::error::log_error;
use super::{Reply, RequestContext};
use crate::broker::BrokerState;
use crate::log::LogError;
use crate::security::acl::AclOperation;
use crate::topic::Isolation;

pub fn handle(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: FetchRequest,
    version: i16,
) -> Reply {
    if request.session_id != 0 || request.session_epoch > 0 {
        // runnel never hands out fetch sessions, so an incremental fetch names
        // a session that does not exist.
        return Reply::now(ResponseKind::Fetch(
            FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code()),
        ));
    }
    // A follower's fetch (replica id >= 0) needs CLUSTER_ACTION on the
    // cluster instead, all or nothing, as Kafka's KafkaApis checks it.
    let replica_id = if version >= 15 {
        request.replica_state.replica_id
    } else {
        request.replica_id
    };
    let follower_denied =
        (*replica_id >= 0).then(|| !broker.authorize_cluster(ctx, AclOperation::ClusterAction));
    // READ on each topic, decided once for the whole long poll.
    let denied: Vec<bool> = request
        .topics
        .iter()
        .map(|t| {
            if let Some(denied) = follower_denied {
                return denied;
            }
            let name = if version >= 13 {
                broker.topics.get_by_id(t.topic_id).map(|t| t.name.clone())
            } else {
                Some(t.topic.to_string())
            };
            name.is_some_and(|n| !broker.authorize_topic(ctx, AclOperation::Read, &n))
        })
        .collect();
    let (response, bytes) = read_all(broker, &request, version, &denied);
    let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
    if bytes >= request.min_bytes.max(1) as usize || max_wait.is_zero() {
        return Reply::now(ResponseKind::Fetch(response));
    }
    let broker = broker.clone();
    Reply::Later(
        async move {
            let deadline = tokio::time::Instant::now() + max_wait;
            let mut watches = watch_partitions(&broker, &request, version);
            let mut response = response;
            loop {
                if watches.is_empty() {
                    let mut stop = broker.shutdown.clone();
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = stop.changed() => {}
                    }
                    return ResponseKind::Fetch(response);
                }
                let grew = select_all(watches.iter_mut().map(|w| w.changed().boxed()));
                let mut stop = broker.shutdown.clone();
                tokio::select! {
                    _ = grew => {}
                    _ = tokio::time::sleep_until(deadline) => return ResponseKind::Fetch(response),
                    _ = stop.changed() => return ResponseKind::Fetch(response),
                }
                let (again, bytes) = read_all(&broker, &request, version, &denied);
                response = again;
                if bytes >= request.min_bytes.max(1) as usize {
                    return ResponseKind::Fetch(response);
                }
            }
        }
        .boxed(),
    )
}

/// End-offset watches of every requested partition that exists.
fn watch_partitions(
    broker: &BrokerState,
    request: &FetchRequest,
    version: i16,
) -> Vec<watch::Receiver<i64>> {
    let mut watches = Vec::new();
    for t in &request.topics {
        let topic = if version >= 13 {
            broker.topics.get_by_id(t.topic_id)
        } else {
            broker.topics.get(&t.topic)
        };
        let Some(topic) = topic else { continue };
        for p in &t.partitions {
            if let Some(partition) = topic.partition(p.partition) {
                let mut w = partition.watch_end_offset();
                w.mark_unchanged();
                watches.push(w);
            }
        }
    }
    watches
}

/// Reads every requested partition once; returns the response and its record bytes.
fn read_all(
    broker: &BrokerState,
    request: &FetchRequest,
    version: i16,
    denied: &[bool],
) -> (FetchResponse, usize) {
    let isolation = if request.isolation_level == 1 {
        Isolation::ReadCommitted
    } else {
        Isolation::ReadUncommitted
    };
    let mut remaining = request.max_bytes.max(0) as usize;
    let mut total = 0usize;
    let mut responses = Vec::with_capacity(request.topics.len());
    for (t, &denied) in request.topics.iter().zip(denied) {
        let topic = if denied {
            None
        } else if version >= 13 {
            broker.topics.get_by_id(t.topic_id)
        } else {
            broker.topics.get(&t.topic)
        };
        let unknown = if denied {
            ResponseError::TopicAuthorizationFailed
        } else if version >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let data = PartitionData::default()
                .with_partition_index(p.partition)
                .with_aborted_transactions(None);
            let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition)) else {
                partitions.push(
                    data.with_error_code(unknown.code())
                        .with_high_watermark(-1)
                        .with_records(Some(Default::default())),
                );
                continue;
            };
            let max_bytes = (p.partition_max_bytes.max(0) as usize).min(remaining);
            // KIP-74: the first batch of the response is returned whole even when
            // it is larger than the limits, so a consumer always makes progress.
            let min_one_batch = total == 0;
            match partition.fetch(p.fetch_offset, max_bytes, min_one_batch, isolation) {
                Ok(read) => {
                    let aborted = read.aborted.map(|list| {
                        list.into_iter()
                            .map(|t| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(t.producer_id))
                                    .with_first_offset(t.first_offset)
                            })
                            .collect()
                    });
                    let n = read.records.as_ref().map_or(0, |r| r.len());
                    broker.metrics.fetched(&partition.topic, n as u64);
                    total += n;
                    remaining = remaining.saturating_sub(n);
                    partitions.push(
                        data.with_high_watermark(read.high_watermark)
                            .with_last_stable_offset(read.last_stable_offset)
                            .with_aborted_transactions(aborted)
                            .with_log_start_offset(read.log_start_offset)
                            .with_records(Some(read.records.unwrap_or_default())),
                    );
                }
                Err(e) => {
                    let (start, end) = partition.offsets();
                    let lso = partition.last_stable_offset();
                    if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                        tracing::error!(topic = %partition.topic, partition = p.partition, error = %e, "read failed");
                    }
                    partitions.push(
                        data.with_error_code(log_error(&e).code())
                            .with_high_watermark(end)
                            .with_last_stable_offset(lso)
                            .with_log_start_offset(start)
                            .with_records(Some(Default::default())),
                    );
                }
            }
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(partitions),
        );
    }
    (FetchResponse::default().with_responses(responses), total)
}
