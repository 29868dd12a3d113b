//! DeleteRecords: moves each partition's log start offset (offset -1: the high
//! watermark); whole segments below it are deleted. The answer's low watermark is
//! the new log start offset. The work (a checkpoint write and file deletions) runs on
//! the blocking pool.

use std::sync::Arc;

use futures::FutureExt;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, ResponseKind};

use super::error::topic_error;
use super::{Reply, RequestContext};
use crate::broker::BrokerState;
use crate::security::acl::AclOperation;

pub fn handle(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DeleteRecordsRequest,
) -> Reply {
    let denied: Vec<bool> = request
        .topics
        .iter()
        .map(|t| !broker.authorize_topic(ctx, AclOperation::Delete, &t.name))
        .collect();
    let asked: Vec<(String, i32, i64)> = request
        .topics
        .iter()
        .zip(&denied)
        .filter(|(_, denied)| !**denied)
        .flat_map(|(t, _)| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.offset))
        })
        .collect();
    let broker = broker.clone();
    Reply::Later(
        async move {
            let topics = broker.topics.clone();
            let results = tokio::task::spawn_blocking(move || topics.delete_records(&asked))
                .await
                .unwrap_or_default();
            let mut results = results.into_iter();
            let topics = request
                .topics
                .into_iter()
                .zip(denied)
                .map(|(t, denied)| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let answer = DeleteRecordsPartitionResult::default()
                                .with_partition_index(p.partition_index);
                            if denied {
                                return answer.with_low_watermark(-1).with_error_code(
                                    ResponseError::TopicAuthorizationFailed.code(),
                                );
                            }
                            match results.next() {
                                Some(Ok(low_watermark)) => answer.with_low_watermark(low_watermark),
                                Some(Err(e)) => answer
                                    .with_low_watermark(-1)
                                    .with_error_code(topic_error(&e).code()),
                                None => answer
                                    .with_low_watermark(-1)
                                    .with_error_code(ResponseError::UnknownServerError.code()),
                            }
                        })
                        .collect();
                    DeleteRecordsTopicResult::default()
                        .with_name(t.name)
                        .with_partitions(partitions)
                })
                .collect();
            ResponseKind::DeleteRecords(DeleteRecordsResponse::default().with_topics(topics))
        }
        .boxed(),
    )
}
