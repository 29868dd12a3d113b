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

use super::Reply;
use super::error::topic_error;
use crate::broker::BrokerState;

pub fn handle(broker: &Arc<BrokerState>, request: DeleteRecordsRequest) -> Reply {
    let asked: Vec<(String, i32, i64)> = request
        .topics
        .iter()
        .flat_map(|t| {
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
                .map(|t| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let answer = DeleteRecordsPartitionResult::default()
                                .with_partition_index(p.partition_index);
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
