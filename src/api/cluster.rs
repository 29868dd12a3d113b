//! DescribeCluster and DescribeLogDirs: this broker as the whole cluster, and its
//! one log directory.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::BrokerState;
use crate::data_dir::disk_space;
use crate::security::acl::{AclOperation, CLUSTER_NAME, ResourceType};

/// KIP-919's endpoint types: runnel's one listener serves brokers' requests.
const ENDPOINT_BROKERS: i8 = 1;

/// Kafka's "authorized operations not requested" marker.
pub(super) const OPERATIONS_OMITTED: i32 = i32::MIN;

pub fn describe_cluster(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    let response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.config.node_id));
    if version >= 1 && request.endpoint_type != ENDPOINT_BROKERS {
        // Kafka's broker listeners answer a request meant for controllers so.
        return response
            .with_controller_id(BrokerId(-1))
            .with_error_code(ResponseError::MismatchedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
            )));
    }
    let (host, port) = broker.advertised(ctx.listener);
    let operations = if request.include_cluster_authorized_operations {
        broker.authorized_operations(ctx, ResourceType::Cluster, CLUSTER_NAME)
    } else {
        OPERATIONS_OMITTED
    };
    response
        .with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(broker.config.node_id))
                .with_host(StrBytes::from_string(host))
                .with_port(port),
        ])
        .with_cluster_authorized_operations(operations)
}

pub fn describe_log_dirs(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DescribeLogDirsRequest,
    version: i16,
) -> DescribeLogDirsResponse {
    if !broker.authorize_cluster(ctx, AclOperation::Describe) {
        return DescribeLogDirsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    // None: every partition; else only those named (unknown ones are left out).
    let wanted: Option<BTreeMap<String, Vec<i32>>> = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.topic.to_string(), t.partitions))
            .collect()
    });
    let topics = broker
        .topics
        .all()
        .iter()
        .filter_map(|topic| {
            let asked = match &wanted {
                None => None,
                Some(w) => Some(w.get(&topic.name)?),
            };
            let partitions: Vec<_> = topic
                .partitions
                .iter()
                .filter(|p| asked.is_none_or(|a| a.contains(&p.index)))
                .map(|p| {
                    DescribeLogDirsPartition::default()
                        .with_partition_index(p.index)
                        .with_partition_size(p.size_bytes() as i64)
                        .with_offset_lag(0)
                        .with_is_future_key(false)
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
                    .with_partitions(partitions)
            })
        })
        .collect();
    let dir = &broker.config.data_dir;
    let shown = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(shown.display().to_string()))
        .with_topics(topics);
    if version >= 4 {
        match disk_space(dir) {
            Ok((total, usable)) => {
                result = result
                    .with_total_bytes(total as i64)
                    .with_usable_bytes(usable as i64);
            }
            Err(e) => tracing::warn!(error = %e, "statvfs of the data dir failed"),
        }
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}
