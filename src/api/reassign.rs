//! ElectLeaders, AlterPartitionReassignments and ListPartitionReassignments,
//! answered as Kafka's controller answers them on a cluster of one node: every
//! partition already has its only (and preferred) replica as leader, and no
//! reassignment is ever in progress.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ElectLeadersRequest,
    ElectLeadersResponse, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::error::topic_error;
use crate::broker::BrokerState;
use crate::security::acl::AclOperation;
use crate::topic::check_replicas;

/// ElectionType: 0 preferred, 1 unclean.
const ELECTION_TYPES: std::ops::RangeInclusive<i8> = 0..=1;

fn known(broker: &BrokerState, topic: &TopicName, partition: i32) -> bool {
    broker
        .topics
        .get(topic)
        .is_some_and(|t| t.partition(partition).is_some())
}

fn unknown_partition(topic: &TopicName, partition: i32) -> String {
    format!("No such partition as {}-{partition}", topic.as_str())
}

pub fn elect_leaders(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
    let authorized = broker.authorize_cluster(ctx, AclOperation::Alter);
    if version >= 1 && !ELECTION_TYPES.contains(&request.election_type) {
        return ElectLeadersResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code());
    }
    // Null asks for every partition; Kafka lists only those it elected a new
    // leader for, which here is none.
    let Some(topics) = request.topic_partitions else {
        return match authorized {
            true => ElectLeadersResponse::default(),
            false => ElectLeadersResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
        };
    };
    let results = topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    let (error, message) = if !authorized {
                        let e = ResponseError::ClusterAuthorizationFailed;
                        (e, e.to_string())
                    } else if known(broker, &t.topic, p) {
                        // Preferred: the leader is the preferred replica already.
                        // Unclean: the partition has a leader.
                        (
                            ResponseError::ElectionNotNeeded,
                            "Leader election not needed for topic partition.".to_string(),
                        )
                    } else {
                        (
                            ResponseError::UnknownTopicOrPartition,
                            unknown_partition(&t.topic, p),
                        )
                    };
                    PartitionResult::default()
                        .with_partition_id(p)
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_string(message)))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(t.topic)
                .with_partition_result(partitions)
        })
        .collect();
    let response = ElectLeadersResponse::default().with_replica_election_results(results);
    match authorized {
        true => response,
        false => response.with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
    }
}

pub fn alter_reassignments(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    if !broker.authorize_cluster(ctx, AclOperation::Alter) {
        let e = ResponseError::ClusterAuthorizationFailed;
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from_string(e.to_string())));
    }
    let node = broker.config.node_id;
    let responses = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let answer = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let (error, message) = if !known(broker, &t.name, p.partition_index) {
                        (
                            ResponseError::UnknownTopicOrPartition,
                            Some(unknown_partition(&t.name, p.partition_index)),
                        )
                    } else {
                        match p.replicas {
                            // Cancelling: there is nothing to cancel.
                            None => (ResponseError::NoReassignmentInProgress, None),
                            Some(replicas) => {
                                let ids: Vec<i32> = replicas.iter().map(|r| r.0).collect();
                                match check_replicas(&ids, node) {
                                    // The partition already has exactly these replicas.
                                    Ok(()) => return answer,
                                    Err(e) => (topic_error(&e), Some(e.to_string())),
                                }
                            }
                        }
                    };
                    answer
                        .with_error_code(error.code())
                        .with_error_message(message.map(StrBytes::from_string))
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    // v0 requests carry no flag (it decodes as true) and v0 responses omit it.
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_responses(responses)
}

pub fn list_reassignments(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    _request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !broker.authorize_cluster(ctx, AclOperation::Describe) {
        let e = ResponseError::ClusterAuthorizationFailed;
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from_string(e.to_string())));
    }
    // Nothing is ever being reassigned; Kafka also leaves unknown topics out.
    ListPartitionReassignmentsResponse::default()
}
