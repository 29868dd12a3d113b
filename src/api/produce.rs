//! Produce: validate each partition's record batches without decoding records,
//! append them, and answer once the requested durability is reached.

use std::sync::Arc;

use futures::FutureExt;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use super::Reply;
use super::error::{append_error, batch_error, records_error};
use crate::broker::{BrokerState, now_ms};
use crate::config::FlushMode;
use crate::log::record::keyless_records;
use crate::log::{BatchInfo, validate_batches};
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
                    Err(ResponseError::InvalidRequiredAcks.into())
                } else {
                    match &topic {
                        Some(t) => append(broker, t, data).map(|(partition, offsets)| {
                            to_flush.push((partition, topic_slot, slot));
                            offsets
                        }),
                        None => Err(unknown.into()),
                    }
                };
                match result {
                    Ok((base_offset, log_start_offset)) => PartitionProduceResponse::default()
                        .with_index(index)
                        .with_base_offset(base_offset)
                        .with_log_start_offset(log_start_offset),
                    Err(e) => e.response(index, version),
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

/// Why one partition's records were refused.
struct Refused {
    error: ResponseError,
    /// Kafka's `record_errors` (v8+): (index of the record in its batch, message).
    record_errors: Vec<(i32, String)>,
    message: Option<String>,
}

impl From<ResponseError> for Refused {
    fn from(error: ResponseError) -> Refused {
        Refused {
            error,
            record_errors: Vec::new(),
            message: None,
        }
    }
}

impl Refused {
    fn response(self, index: i32, version: i16) -> PartitionProduceResponse {
        let response = PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(self.error.code())
            .with_base_offset(-1);
        if version < 8 {
            return response;
        }
        let record_errors = self
            .record_errors
            .into_iter()
            .map(|(i, m)| {
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(i)
                    .with_batch_index_error_message(Some(StrBytes::from_string(m)))
            })
            .collect();
        response
            .with_record_errors(record_errors)
            .with_error_message(self.message.map(StrBytes::from_string))
    }
}

/// Kafka's check for compacted topics: every record needs a key. Records are
/// decoded only here, and only for compacted topics.
fn check_keys(
    topic: &Topic,
    index: i32,
    records: &[u8],
    batches: &[BatchInfo],
) -> Result<(), Refused> {
    for b in batches {
        let batch = records
            .get(b.position..b.position + b.size)
            .ok_or(ResponseError::CorruptMessage)?;
        let keyless = keyless_records(batch).map_err(|e| Refused::from(records_error(&e)))?;
        if keyless.is_empty() {
            continue;
        }
        let message = format!(
            "Compacted topic cannot accept message without key in topic partition {}-{index}.",
            topic.name
        );
        let record_errors: Vec<(i32, String)> =
            keyless.into_iter().map(|i| (i, message.clone())).collect();
        let shown: Vec<String> = record_errors
            .iter()
            .take(3)
            .map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
            .collect();
        return Err(Refused {
            error: ResponseError::InvalidRecord,
            message: Some(format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                record_errors.len(),
                shown.join(", ")
            )),
            record_errors,
        });
    }
    Ok(())
}

/// Appends one partition's batches; returns the partition and its
/// (base offset, log start offset).
fn append(
    broker: &BrokerState,
    topic: &Topic,
    data: PartitionProduceData,
) -> Result<(Arc<Partition>, (i64, i64)), Refused> {
    let partition = topic
        .partition(data.index)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    if is_internal_topic(&topic.name) {
        return Err(ResponseError::InvalidTopicException.into());
    }
    let records = data.records.ok_or(ResponseError::CorruptMessage)?;
    let batches = validate_batches(&records).map_err(|e| batch_error(&e))?;
    let max_message_bytes = topic.config.max_message_bytes(&broker.config);
    if batches.iter().any(|b| b.size as i64 > max_message_bytes) {
        return Err(ResponseError::MessageTooLarge.into());
    }
    // Control batches (transaction markers) are written by the broker only.
    if batches.iter().any(|b| b.attributes.is_control()) {
        return Err(ResponseError::InvalidRecord.into());
    }
    if topic.config.is_compacted() {
        check_keys(topic, data.index, &records, &batches)?;
    }
    let appended = partition
        .append(&records, &batches, now_ms())
        .map_err(|e| {
            if matches!(e, AppendError::Log(_)) {
                tracing::error!(topic = %topic.name, partition = data.index, error = %e, "append failed");
            }
            Refused::from(append_error(&e))
        })?;
    let record_count: i64 = batches.iter().map(|b| b.offset_count()).sum();
    broker.metrics.produced(
        &topic.name,
        records.len() as u64,
        record_count.max(0) as u64,
    );
    Ok((
        partition.clone(),
        (appended.base_offset, appended.log_start_offset),
    ))
}
