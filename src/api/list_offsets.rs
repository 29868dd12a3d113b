//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), or the first
//! offset at or after a timestamp (through the time index).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use super::error::log_error;
use crate::broker::BrokerState;
use crate::security::acl::AclOperation;
use crate::topic::Partition;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-1005: the earliest offset still in local storage; the same as EARLIEST here.
const EARLIEST_LOCAL: i64 = -4;
/// KIP-1005: the highest tiered offset; runnel has no tiered storage.
const LATEST_TIERED: i64 = -5;

pub fn handle(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    // isolation_level exists from v2 on: 1 is read_committed.
    let read_committed = request.isolation_level == 1;
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let authorized = broker.authorize_topic(ctx, AclOperation::Describe, &t.name);
            let (topic, missing) = if authorized {
                (
                    broker.topics.get(&t.name),
                    ResponseError::UnknownTopicOrPartition,
                )
            } else {
                (None, ResponseError::TopicAuthorizationFailed)
            };
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match topic.as_ref().and_then(|t| t.partition(p.partition_index)) {
                        None => response
                            .with_error_code(missing.code())
                            .with_offset(-1)
                            .with_timestamp(-1),
                        Some(partition) => match lookup(partition, p.timestamp, read_committed) {
                            Ok((offset, timestamp)) => response
                                .with_offset(offset)
                                .with_timestamp(timestamp)
                                // leader_epoch exists from v4 on; the encoder refuses it before.
                                .with_leader_epoch(if version >= 4 { 0 } else { -1 }),
                            Err(e) => response
                                .with_error_code(e.code())
                                .with_offset(-1)
                                .with_timestamp(-1),
                        },
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// (offset, timestamp) for one partition; (-1, -1) when nothing matches.
fn lookup(
    partition: &Partition,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64), ResponseError> {
    match timestamp {
        LATEST if read_committed => Ok((partition.last_stable_offset(), -1)),
        LATEST => Ok((partition.log_end_offset(), -1)),
        EARLIEST | EARLIEST_LOCAL => Ok((partition.log_start_offset(), -1)),
        LATEST_TIERED => Ok((-1, -1)),
        MAX_TIMESTAMP => Ok(partition
            .max_timestamp()
            .map(|(ts, offset)| (offset, ts))
            .unwrap_or((-1, -1))),
        ts if ts >= 0 => partition
            .offset_for_timestamp(ts)
            .map(|found| found.unwrap_or((-1, -1)))
            .map_err(|e| log_error(&e)),
        _ => Err(ResponseError::InvalidRequest),
    }
}
