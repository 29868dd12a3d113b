//! Produce: validate each partition's record batches without decoding records,
//! append them, and answer once the requested durability is reached.

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::error::{append_error, batch_error, records_error};
use super::{Reply, RequestContext};
use crate::broker::{BrokerState, now_ms};
use crate::config::FlushMode;
use crate::log::batch::set_log_append_time;
use crate::log::record::{keyless_records, record_timestamps};
use crate::log::{BatchHeader, BatchInfo, RecompressError, recompress, validate_batches};
use crate::security::acl::AclOperation;
use crate::topic::{AppendError, Partition, Topic, is_internal_topic};

pub async fn handle(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: ProduceRequest,
    version: i16,
) -> Reply {
    let acks = request.acks;
    // Kafka answers every partition so when the transactional id is not writable.
    let txn_denied = request
        .transactional_id
        .as_ref()
        .is_some_and(|id| !broker.authorize_transactional_id(ctx, AclOperation::Write, id));
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
        let name = topic
            .as_ref()
            .map_or(topic_data.name.as_str(), |t| t.name.as_str());
        let (topic, unknown) = if txn_denied {
            (None, ResponseError::TransactionalIdAuthorizationFailed)
        } else if (topic.is_some() || version < 13)
            && !broker.authorize_topic(ctx, AclOperation::Write, name)
        {
            (None, ResponseError::TopicAuthorizationFailed)
        } else {
            (topic, unknown)
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
                        Some(t) => append(broker, t, data.index, data.records).map(
                            |(partition, offsets)| {
                                to_flush.push((partition, topic_slot, slot));
                                offsets
                            },
                        ),
                        None => Err(unknown.into()),
                    }
                };
                match result {
                    Ok(a) => PartitionProduceResponse::default()
                        .with_index(index)
                        .with_base_offset(a.base_offset)
                        .with_log_append_time_ms(a.log_append_time)
                        .with_log_start_offset(a.log_start_offset),
                    Err(e) => e.response(index, version),
                }
            })
            .collect();
        // The name is copied: the request's is a view of its frame, which a
        // response holding it would keep allocated until it is written. A
        // pipelining client's next request then cannot reuse the connection's
        // read buffer and each one allocates (and faults in) a new one.
        let name = TopicName(StrBytes::from_string(topic_data.name.as_str().to_owned()));
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
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

/// Kafka's timestamp checks (`LogValidator.validateTimestamp`): on a
/// LogAppendTime topic the producer may not claim LogAppendTime itself; on a
/// CreateTime topic every record's timestamp (-1: none) must lie within
/// `message.timestamp.before.max.ms` before and `after.max.ms` after `now`.
/// Records are decoded only when a bound is set.
fn check_timestamps(
    topic: &Topic,
    records: &[u8],
    batches: &[BatchInfo],
    now: i64,
) -> Result<(), Refused> {
    let log_append_time = topic.config.is_log_append_time();
    let (before, after) = topic.config.timestamp_bounds();
    let unbounded = before == i64::MAX && after == i64::MAX;
    if !log_append_time && unbounded {
        return Ok(());
    }
    let mut record_errors = Vec::new();
    for b in batches {
        let batch = records
            .get(b.position..b.position + b.size)
            .ok_or(ResponseError::CorruptMessage)?;
        let base_offset = BatchHeader::new(batch).map_or(0, |h| h.base_offset());
        if log_append_time {
            if b.attributes.is_log_append_time() {
                record_errors.extend((0..b.record_count).map(|i| {
                    (i, format!(
                        "Invalid timestamp type in message with offset {}. Producer should not set timestamp type to LogAppendTime.",
                        base_offset.wrapping_add(i64::from(i))
                    ))
                }));
            }
            continue;
        }
        let timestamps = record_timestamps(batch).map_err(|e| Refused::from(records_error(&e)))?;
        for (i, (delta, ts)) in timestamps.into_iter().enumerate() {
            let diff = now.saturating_sub(ts);
            if ts != -1 && (diff > before || diff.saturating_neg() > after) {
                record_errors.push((i as i32, format!(
                    "Timestamp {ts} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
                    base_offset.wrapping_add(delta),
                    now.saturating_sub(before),
                    now.saturating_add(after)
                )));
            }
        }
    }
    if record_errors.is_empty() {
        return Ok(());
    }
    Err(Refused {
        error: ResponseError::InvalidTimestamp,
        message: Some("One or more records have been rejected due to invalid timestamp".into()),
        record_errors,
    })
}

/// The batches with their records compressed with `codec` (a topic's
/// `compression.type`); batches already in that codec are kept as they are.
fn recompress_all(
    records: Bytes,
    batches: Vec<BatchInfo>,
    codec: u8,
    max_inflated: usize,
) -> Result<(Bytes, Vec<BatchInfo>), Refused> {
    let mut out: Option<Vec<u8>> = None;
    for (i, b) in batches.iter().enumerate() {
        let batch = records
            .get(b.position..b.position + b.size)
            .ok_or(ResponseError::CorruptMessage)?;
        let converted = recompress(batch, codec, max_inflated).map_err(|e| match e {
            RecompressError::TooLarge(_) => Refused::from(ResponseError::MessageTooLarge),
            RecompressError::Corrupt(_) => Refused::from(ResponseError::CorruptMessage),
        })?;
        match (converted, &mut out) {
            (Some(new), Some(buf)) => buf.extend_from_slice(&new),
            (Some(new), None) => {
                // The batches before this one were already in the codec: keep them.
                let mut buf = records[..batches[i].position].to_vec();
                buf.extend_from_slice(&new);
                out = Some(buf);
            }
            (None, Some(buf)) => buf.extend_from_slice(batch),
            (None, None) => {}
        }
    }
    let Some(out) = out else {
        return Ok((records, batches));
    };
    let out = Bytes::from(out);
    let batches = validate_batches(&out).map_err(|e| batch_error(&e))?;
    Ok((out, batches))
}

/// The batches as a LogAppendTime topic stores them: stamped with `now`.
fn stamp(records: &[u8], batches: &[BatchInfo], now: i64) -> (Vec<u8>, Vec<BatchInfo>) {
    let mut owned = records.to_vec();
    let mut infos = batches.to_vec();
    for b in &mut infos {
        if let Some(batch) = owned.get_mut(b.position..b.position + b.size)
            && set_log_append_time(batch, now)
        {
            b.max_timestamp = now;
            b.attributes.0 |= 0x08;
        }
    }
    (owned, infos)
}

/// What a successful append answers.
struct Accepted {
    base_offset: i64,
    log_start_offset: i64,
    /// The append time on LogAppendTime topics, else -1.
    log_append_time: i64,
}

/// Appends record batches to one partition through the Produce path (the web
/// console's test records): the base offset, or Kafka's error and message.
pub fn append_records(
    broker: &BrokerState,
    topic: &Topic,
    index: i32,
    records: Bytes,
) -> Result<i64, (ResponseError, Option<String>)> {
    append(broker, topic, index, Some(records))
        .map(|(_, a)| a.base_offset)
        .map_err(|r| (r.error, r.message))
}

/// Appends one partition's batches; returns the partition and what to answer.
fn append(
    broker: &BrokerState,
    topic: &Topic,
    index: i32,
    records: Option<Bytes>,
) -> Result<(Arc<Partition>, Accepted), Refused> {
    let partition = topic
        .partition(index)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    if is_internal_topic(&topic.name) {
        return Err(ResponseError::InvalidTopicException.into());
    }
    let records = records.ok_or(ResponseError::CorruptMessage)?;
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
        check_keys(topic, index, &records, &batches)?;
    }
    let now = now_ms();
    check_timestamps(topic, &records, &batches, now)?;
    let (records, batches) = match topic.config.compression_codec() {
        Some(codec) => {
            let max_inflated = broker.config.socket.request_max_bytes as usize;
            let (records, batches) = recompress_all(records, batches, codec, max_inflated)?;
            if batches.iter().any(|b| b.size as i64 > max_message_bytes) {
                return Err(ResponseError::MessageTooLarge.into());
            }
            (records, batches)
        }
        None => (records, batches),
    };
    let stamped;
    let (records, batches, log_append_time) = if topic.config.is_log_append_time() {
        stamped = stamp(&records, &batches, now);
        (&stamped.0[..], stamped.1, now)
    } else {
        (&records[..], batches, -1)
    };
    // A transactional batch goes in only while its transaction holds the
    // partition; the check and the append run under the coordinator's lock so
    // no batch lands after the transaction's marker.
    let txn_batch = batches.iter().find(|b| b.attributes.is_transactional());
    let appended = match txn_batch {
        Some(b) => broker.txn.with_verified(
            b.producer_id,
            b.producer_epoch,
            &(topic.name.clone(), index),
            || partition.append(records, &batches, now),
        ),
        None => partition.append(records, &batches, now),
    };
    let appended = appended.map_err(|e| {
        if matches!(e, AppendError::Log(_)) {
            tracing::error!(topic = %topic.name, partition = index, error = %e, "append failed");
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
        Accepted {
            base_offset: appended.base_offset,
            log_start_offset: appended.log_start_offset,
            log_append_time,
        },
    ))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::protocol::{Decodable, Encodable};

    use super::*;
    use crate::config::Config;
    use crate::log::testutil::batch;
    use crate::security::KafkaPrincipal;
    use crate::topic::NewTopic;

    /// The connection reuses its read buffer for the next request only once
    /// nothing refers to the frame before it; the response is written later, so
    /// it must not be what does.
    #[tokio::test]
    async fn the_response_holds_nothing_of_the_request_frame() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            listen: "127.0.0.1:0".into(),
            http_listen: "off".into(),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let broker = crate::Broker::start(config).await.unwrap();
        let state = broker.state().clone();
        state
            .topics
            .create(NewTopic {
                name: "t".into(),
                partitions: 1,
                replication_factor: 1,
                configs: Vec::new(),
            })
            .unwrap();
        let request = ProduceRequest::default().with_acks(1).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(batch(&[(0, b"v")])))),
                ]),
        ]);
        let mut encoded = BytesMut::new();
        request.encode(&mut encoded, 9).unwrap();
        let frame = encoded.freeze();
        let decoded = ProduceRequest::decode(&mut frame.clone(), 9).unwrap();
        let ctx = RequestContext {
            client_id: String::new(),
            client_host: "/127.0.0.1".into(),
            listener: 0,
            principal: KafkaPrincipal::anonymous(),
            mutation_throttle_ms: Default::default(),
        };
        let reply = handle(&state, &ctx, decoded, 9).await;
        let Reply::Now(response) = &reply else {
            panic!("acks=1 is answered at once");
        };
        let ResponseKind::Produce(response) = response.as_ref() else {
            panic!("not a produce response");
        };
        assert_eq!(response.responses[0].name.as_str(), "t");
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
        assert!(
            frame.is_unique(),
            "the response refers to the request frame"
        );
        drop(reply);
        broker.shutdown().await.unwrap();
    }
}
