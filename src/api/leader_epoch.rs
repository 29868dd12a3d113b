//! OffsetForLeaderEpoch (KIP-101, KIP-320): the end offset of a leader epoch, which
//! consumers use to validate their position after a leader change.
//!
//! runnel's partitions have always had one leader, this node, at epoch 0 (the
//! epoch Metadata reports), so the epoch history of every partition is the one
//! entry (epoch 0, log start offset). The answers follow Kafka's
//! `Partition.lastOffsetForLeaderEpoch` and `LeaderEpochFileCache.endOffsetFor`
//! over that history.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::RequestContext;
use crate::broker::BrokerState;
use crate::security::acl::AclOperation;
use crate::topic::Partition;

/// The leader epoch of every partition (Metadata reports it too).
pub const LEADER_EPOCH: i32 = 0;
/// Kafka's "no epoch" (`UNDEFINED_EPOCH`) and "no offset" (`UNDEFINED_EPOCH_OFFSET`).
const UNDEFINED: i32 = -1;

pub fn handle(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: OffsetForLeaderEpochRequest,
    _version: i16,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let describable = broker.authorize_topic(ctx, AclOperation::Describe, &t.topic);
            let topic = broker.topics.get(&t.topic).filter(|_| describable);
            let missing = if describable {
                ResponseError::UnknownTopicOrPartition
            } else {
                ResponseError::TopicAuthorizationFailed
            };
            let partitions = t
                .partitions
                .iter()
                .map(
                    |p| match topic.as_ref().and_then(|t| t.partition(p.partition)) {
                        Some(partition) => end_offset(partition, p),
                        None => EpochEndOffset::default()
                            .with_partition(p.partition)
                            .with_error_code(missing.code()),
                    },
                )
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

fn end_offset(partition: &Partition, p: &OffsetForLeaderPartition) -> EpochEndOffset {
    let answer = EpochEndOffset::default().with_partition(p.partition);
    // The fencing check on the epoch the client believes current (-1: none given).
    if p.current_leader_epoch != UNDEFINED {
        let error = if p.current_leader_epoch < LEADER_EPOCH {
            Some(ResponseError::FencedLeaderEpoch)
        } else if p.current_leader_epoch > LEADER_EPOCH {
            Some(ResponseError::UnknownLeaderEpoch)
        } else {
            None
        };
        if let Some(e) = error {
            return answer.with_error_code(e.code());
        }
    }
    let (log_start, log_end) = partition.offsets();
    let (epoch, offset) = match p.leader_epoch {
        // A bootstrapping follower or an old message format: nothing to say.
        UNDEFINED => (UNDEFINED, i64::from(UNDEFINED)),
        // The latest epoch ends at the log end.
        LEADER_EPOCH => (LEADER_EPOCH, log_end),
        // Older than every epoch known: the start of the first one.
        e if e < LEADER_EPOCH => (e, log_start),
        // Newer than every epoch known.
        _ => (UNDEFINED, i64::from(UNDEFINED)),
    };
    answer.with_leader_epoch(epoch).with_end_offset(offset)
}
