//! Committed offsets: OffsetCommit, OffsetFetch and OffsetDelete, stored by the
//! group coordinator in the `__consumer_offsets` log.

use std::collections::HashSet;
use std::sync::Arc;

use futures::FutureExt;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::error::group_error;
use super::{Reply, RequestContext};
use crate::broker::{BrokerState, now_ms};
use crate::config::FlushMode;
use crate::group::{CommittedOffset, GroupError};
use crate::security::acl::AclOperation;

type PartitionKey = (String, i32);
/// One topic's partitions with their committed offsets, as OffsetFetch lists them.
type TopicOffsets = (TopicName, Vec<(i32, Option<CommittedOffset>)>);

fn partition_exists(broker: &BrokerState, topic: &str, partition: i32) -> bool {
    broker
        .topics
        .get(topic)
        .is_some_and(|t| t.partition(partition).is_some())
}

pub fn commit(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: OffsetCommitRequest,
    version: i16,
) -> Reply {
    let now = now_ms();
    let group_denied = !broker.authorize_group(ctx, AclOperation::Read, &request.group_id);
    // Each partition's slot in the response, and what goes to the coordinator.
    let mut slots: Vec<(usize, usize, Option<ResponseError>)> = Vec::new();
    let mut offsets: Vec<(PartitionKey, CommittedOffset)> = Vec::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for (t, topic) in request.topics.iter().enumerate() {
        let topic_denied =
            !group_denied && !broker.authorize_topic(ctx, AclOperation::Read, &topic.name);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for (p, partition) in topic.partitions.iter().enumerate() {
            partitions.push(
                OffsetCommitResponsePartition::default()
                    .with_partition_index(partition.partition_index),
            );
            if group_denied {
                slots.push((t, p, Some(ResponseError::GroupAuthorizationFailed)));
                continue;
            }
            if topic_denied {
                slots.push((t, p, Some(ResponseError::TopicAuthorizationFailed)));
                continue;
            }
            if !partition_exists(broker, &topic.name, partition.partition_index) {
                slots.push((t, p, Some(ResponseError::UnknownTopicOrPartition)));
                continue;
            }
            slots.push((t, p, None));
            offsets.push((
                (topic.name.to_string(), partition.partition_index),
                CommittedOffset {
                    offset: partition.committed_offset,
                    leader_epoch: if version >= 6 {
                        partition.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: partition
                        .committed_metadata
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                    commit_timestamp: now,
                },
            ));
        }
        topics.push(
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    let results = if offsets.is_empty() {
        Ok(Vec::new())
    } else {
        broker.groups.commit_offsets(
            &request.group_id,
            &request.member_id,
            request.group_instance_id.as_deref(),
            request.generation_id_or_member_epoch,
            offsets,
        )
    };
    let mut results = match results {
        Ok(r) => r.into_iter(),
        Err(e) => std::iter::repeat_n(Err(e), slots.len())
            .collect::<Vec<_>>()
            .into_iter(),
    };
    let mut committed = false;
    for (t, p, error) in slots {
        let error = match error {
            Some(e) => Some(e),
            None => {
                let result = results.next().unwrap_or(Err(GroupError::Storage));
                committed |= result.is_ok();
                result.err().map(group_error)
            }
        };
        if let Some(slot) = topics
            .get_mut(t)
            .and_then(|t: &mut OffsetCommitResponseTopic| t.partitions.get_mut(p))
        {
            slot.error_code = error.map(|e| e.code()).unwrap_or(0);
        }
    }
    let response = OffsetCommitResponse::default().with_topics(topics);
    if !committed || broker.config.log.flush != FlushMode::Always {
        return Reply::now(ResponseKind::OffsetCommit(response));
    }
    let broker = broker.clone();
    Reply::Later(
        async move {
            let mut response = response;
            let partition = broker.groups.offsets_partition().clone();
            if let Err(e) = broker.flusher.flush(partition).await {
                tracing::error!(error = %e, "flushing committed offsets failed");
                for p in response
                    .topics
                    .iter_mut()
                    .flat_map(|t| t.partitions.iter_mut())
                {
                    if p.error_code == 0 {
                        p.error_code = ResponseError::UnknownServerError.code();
                    }
                }
            }
            ResponseKind::OffsetCommit(response)
        }
        .boxed(),
    )
}

pub fn fetch(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    // READ on the group; DESCRIBE on each topic: topics asked for by name
    // answer TOPIC_AUTHORIZATION_FAILED, "all topics" leaves them out.
    let group_denied = |group: &str| !broker.authorize_group(ctx, AclOperation::Read, group);
    let visible = |fetched: Vec<(PartitionKey, Option<CommittedOffset>)>, all: bool| {
        let mut denied = HashSet::new();
        let fetched = fetched
            .into_iter()
            .filter(|((topic, _), _)| {
                if broker.authorize_topic(ctx, AclOperation::Describe, topic) {
                    return true;
                }
                denied.insert(topic.clone());
                !all
            })
            .collect::<Vec<_>>();
        (fetched, denied)
    };
    // require_stable (v7+, KIP-447): a partition with transactional offsets not
    // yet committed or aborted answers UNSTABLE_OFFSET_COMMIT; the client retries.
    let unstable = |group: &str| {
        if request.require_stable {
            broker.groups.pending_txn_partitions(group)
        } else {
            HashSet::new()
        }
    };
    if version >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                let response =
                    OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                if group_denied(&g.group_id) {
                    return response
                        .with_error_code(ResponseError::GroupAuthorizationFailed.code());
                }
                let asked = g.topics.clone().map(|topics| {
                    partition_keys(topics.into_iter().map(|t| (t.name, t.partition_indexes)))
                });
                let all = asked.is_none();
                let (fetched, denied) =
                    visible(broker.groups.fetch_offsets(&g.group_id, asked), all);
                let unstable = unstable(&g.group_id);
                response.with_topics(group_topics(fetched, |key: &PartitionKey| {
                    partition_error(key, &denied, &unstable)
                }))
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    if group_denied(&request.group_id) {
        return OffsetFetchResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let unstable = unstable(&request.group_id);
    let asked = request
        .topics
        .map(|topics| partition_keys(topics.into_iter().map(|t| (t.name, t.partition_indexes))));
    let all = asked.is_none();
    let (fetched, denied) = visible(broker.groups.fetch_offsets(&request.group_id, asked), all);
    let topics = by_topic(fetched)
        .into_iter()
        .map(|(name, partitions)| {
            let name_str = name.to_string();
            OffsetFetchResponseTopic::default()
                .with_name(name)
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(index, offset)| {
                            let key = (name_str.clone(), index);
                            if let Some(e) = partition_error(&key, &denied, &unstable) {
                                return OffsetFetchResponsePartition::default()
                                    .with_partition_index(index)
                                    .with_committed_offset(-1)
                                    .with_error_code(e.code());
                            }
                            let (offset, epoch, metadata) = fields(offset);
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(index)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(metadata))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// The (topic, partition) pairs an OffsetFetch asks for.
fn partition_keys(topics: impl Iterator<Item = (TopicName, Vec<i32>)>) -> Vec<PartitionKey> {
    topics
        .flat_map(|(name, partitions)| {
            let name = name.to_string();
            partitions.into_iter().map(move |p| (name.clone(), p))
        })
        .collect()
}

/// A partition's OffsetFetch error: its topic is not describable, or it has
/// transactional offsets pending.
fn partition_error(
    key: &PartitionKey,
    denied: &HashSet<String>,
    unstable: &HashSet<PartitionKey>,
) -> Option<ResponseError> {
    if denied.contains(&key.0) {
        Some(ResponseError::TopicAuthorizationFailed)
    } else if unstable.contains(key) {
        Some(ResponseError::UnstableOffsetCommit)
    } else {
        None
    }
}

fn group_topics(
    fetched: Vec<(PartitionKey, Option<CommittedOffset>)>,
    error_of: impl Fn(&PartitionKey) -> Option<ResponseError>,
) -> Vec<OffsetFetchResponseTopics> {
    by_topic(fetched)
        .into_iter()
        .map(|(name, partitions)| {
            let name_str = name.to_string();
            OffsetFetchResponseTopics::default()
                .with_name(name)
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(index, offset)| {
                            if let Some(e) = error_of(&(name_str.clone(), index)) {
                                return OffsetFetchResponsePartitions::default()
                                    .with_partition_index(index)
                                    .with_committed_offset(-1)
                                    .with_error_code(e.code());
                            }
                            let (offset, epoch, metadata) = fields(offset);
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(index)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(metadata))
                        })
                        .collect(),
                )
        })
        .collect()
}

/// (offset, leader epoch, metadata) as OffsetFetch reports them; -1 and "" when
/// nothing was committed.
fn fields(offset: Option<CommittedOffset>) -> (i64, i32, StrBytes) {
    match offset {
        Some(o) => (o.offset, o.leader_epoch, StrBytes::from_string(o.metadata)),
        None => (-1, -1, StrBytes::default()),
    }
}

/// Groups partitions by topic, keeping the order topics first appear in.
fn by_topic(fetched: Vec<(PartitionKey, Option<CommittedOffset>)>) -> Vec<TopicOffsets> {
    let mut out: Vec<TopicOffsets> = Vec::new();
    for ((topic, partition), offset) in fetched {
        match out.iter_mut().find(|(name, _)| name.0.as_str() == topic) {
            Some((_, partitions)) => partitions.push((partition, offset)),
            None => out.push((
                TopicName(StrBytes::from_string(topic)),
                vec![(partition, offset)],
            )),
        }
    }
    out
}

pub fn delete(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if !broker.authorize_group(ctx, AclOperation::Delete, &request.group_id) {
        return OffsetDeleteResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let readable = |topic: &str| broker.authorize_topic(ctx, AclOperation::Read, topic);
    let mut asked: Vec<PartitionKey> = Vec::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            if readable(&topic.name) && partition_exists(broker, &topic.name, p.partition_index) {
                asked.push((topic.name.to_string(), p.partition_index));
            }
        }
    }
    let results = match broker.groups.delete_offsets(&request.group_id, &asked) {
        Ok(results) => results,
        Err(e) => {
            return OffsetDeleteResponse::default().with_error_code(group_error(e).code());
        }
    };
    let mut results = asked.into_iter().zip(results);
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let error = if !readable(&topic.name) {
                        Some(ResponseError::TopicAuthorizationFailed)
                    } else if partition_exists(broker, &topic.name, p.partition_index) {
                        results.next().and_then(|(_, r)| r.err()).map(group_error)
                    } else {
                        Some(ResponseError::UnknownTopicOrPartition)
                    };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.map(|e| e.code()).unwrap_or(0))
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
