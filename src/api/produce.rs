//! Produce: validate each partition's record batches without decoding records,
//! append them, and answer once the requested durability is reached.

use std::sync::Arc;

use futures::FutureExt;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};

use super::Reply;
use super::error::{append_error, batch_error};
use crate::broker::{BrokerState, now_ms};
use crate::config::FlushMode;
use crate::log::validate_batches;
use crate::topic::{AppendError, Partition, Topic, is_internal_topic};

pub async fn handle(broker: &Arc<BrokerState>, request: ProduceRequest, version: i16) -> Reply {
    let acks = request.acks;
    let valid_acks = matches!(acks, -1..=1);
    // Appended partitions with their place in the response.
    let mut to_flush: Vec<(Arc<Partition>, usize, usize)> = Vec::new();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic_data in request.topic_data {
        // v13+ names topics by id.
        let topic = if version >= 13 {
            broker.topics.get_by_id(topic_data.topic_id)
        } else {
            broker.topics.get(&topic_data.name)
        };
        let unknown = if version >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let topic_slot = responses.len();
        let partition_responses = topic_data
            .partition_data
            .into_iter()
            .enumerate()
            .map(|(slot, data)| {
                let index = data.index;
                let result = if !valid_acks {
                    Err(ResponseError::InvalidRequiredAcks)
                } else {
                    match &topic {
                        Some(t) => append(t, data).map(|(partition, offsets)| {
                            to_flush.push((partition, topic_slot, slot));
                            offsets
                        }),
                        None => Err(unknown),
                    }
                };
                match result {
                    Ok((base_offset, log_start_offset)) => PartitionProduceResponse::default()
                        .with_index(index)
                        .with_base_offset(base_offset)
                        .with_log_start_offset(log_start_offset),
                    Err(e) => PartitionProduceResponse::default()
                        .with_index(index)
                        .with_error_code(e.code())
                        .with_base_offset(-1),
                }
            })
            .collect();
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_topic_id(topic_data.topic_id)
                .with_partition_responses(partition_responses),
        );
    }
    if acks == 0 {
        return Reply::None;
    }
    let response = ProduceResponse::default().with_responses(responses);
    if acks != -1 || broker.config.log.flush != FlushMode::Always || to_flush.is_empty() {
        return Reply::now(ResponseKind::Produce(response));
    }
    let broker = broker.clone();
    Reply::Later(
        async move {
            let mut response = response;
            for (partition, topic_slot, slot) in to_flush {
                if let Err(e) = broker.flusher.flush(partition.clone()).await {
                    tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "flush failed");
                    if let Some(p) = response
                        .responses
                        .get_mut(topic_slot)
                        .and_then(|t| t.partition_responses.get_mut(slot))
                    {
                        p.error_code = ResponseError::KafkaStorageError.code();
                        p.base_offset = -1;
                    }
                }
            }
            ResponseKind::Produce(response)
        }
        .boxed(),
    )
}

/// Appends one partition's batches; returns the partition and its
/// (base offset, log start offset).
fn append(
    topic: &Topic,
    data: PartitionProduceData,
) -> Result<(Arc<Partition>, (i64, i64)), ResponseError> {
    let partition = topic
        .partition(data.index)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    if is_internal_topic(&topic.name) {
        return Err(ResponseError::InvalidTopicException);
    }
    let records = data.records.ok_or(ResponseError::CorruptMessage)?;
    let batches = validate_batches(&records).map_err(|e| batch_error(&e))?;
    if batches
        .iter()
        .any(|b| b.size as i64 > partition.max_message_bytes)
    {
        return Err(ResponseError::MessageTooLarge);
    }
    // Control batches (transaction markers) are written by the broker only.
    if batches.iter().any(|b| b.attributes.is_control()) {
        return Err(ResponseError::InvalidRecord);
    }
    let appended = partition
        .append(&records, &batches, now_ms())
        .map_err(|e| {
            if matches!(e, AppendError::Log(_)) {
                tracing::error!(topic = %topic.name, partition = data.index, error = %e, "append failed");
            }
            append_error(&e)
        })?;
    Ok((
        partition.clone(),
        (appended.base_offset, appended.log_start_offset),
    ))
}
