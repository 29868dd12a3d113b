//! The `__consumer_offsets` log: an internal, compacted topic of one partition
//! that holds every committed offset and every group's last metadata, written
//! through the same partition append path as produced data and replayed at
//! start-up to rebuild the coordinator's state.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::records::OffsetsRecord;
use crate::config::Config;
use crate::log::{BatchHeader, validate_batches};
use crate::topic::{NewTopic, Partition, TopicError, TopicManager};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

#[derive(Debug, thiserror::Error)]
pub enum OffsetsLogError {
    #[error("encoding offsets records: {0}")]
    Encode(String),
    #[error("appending to {OFFSETS_TOPIC}: {0}")]
    Append(String),
}

/// One item of the offsets log, as replay hands it over.
pub enum Replayed {
    Record(OffsetsRecord),
    /// Written by TxnOffsetCommit: applies only if its transaction commits.
    Txn {
        producer_id: i64,
        record: OffsetsRecord,
    },
    /// The end of `producer_id`'s transaction in this log.
    Marker {
        producer_id: i64,
        commit: bool,
    },
}

pub struct OffsetsLog {
    partition: Arc<Partition>,
}

impl OffsetsLog {
    /// Opens the offsets topic, creating it on first start.
    pub fn open(topics: &TopicManager, config: &Config) -> Result<OffsetsLog, TopicError> {
        let topic = match topics.get(OFFSETS_TOPIC) {
            Some(topic) => topic,
            None => topics.create(NewTopic {
                name: OFFSETS_TOPIC.to_string(),
                partitions: 1,
                replication_factor: 1,
                configs: vec![
                    ("cleanup.policy".into(), "compact".into()),
                    (
                        "segment.bytes".into(),
                        config.offsets.topic_segment_bytes.to_string(),
                    ),
                ],
            })?,
        };
        let partition = topic
            .partition(0)
            .cloned()
            .ok_or(TopicError::UnknownTopic)?;
        Ok(OffsetsLog { partition })
    }

    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// Appends `records` as one batch.
    pub fn append(&self, records: &[OffsetsRecord], now_ms: i64) -> Result<(), OffsetsLogError> {
        self.append_as(records, None, now_ms)
    }

    /// Appends `records` as one transactional batch of `producer` (id, epoch), as
    /// Kafka writes TxnOffsetCommit: visible once the COMMIT marker follows.
    pub fn append_txn(
        &self,
        records: &[OffsetsRecord],
        producer: (i64, i16),
        now_ms: i64,
    ) -> Result<(), OffsetsLogError> {
        self.append_as(records, Some(producer), now_ms)
    }

    fn append_as(
        &self,
        records: &[OffsetsRecord],
        producer: Option<(i64, i16)>,
        now_ms: i64,
    ) -> Result<(), OffsetsLogError> {
        let (producer_id, producer_epoch) = producer.unwrap_or((-1, -1));
        if records.is_empty() {
            return Ok(());
        }
        let records: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (key, value) = r.encode();
                Record {
                    transactional: producer.is_some(),
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: 0,
                    producer_id,
                    producer_epoch,
                    timestamp_type: TimestampType::Creation,
                    offset: i as i64,
                    sequence: -1,
                    timestamp: now_ms,
                    key: Some(key),
                    value,
                    headers: Default::default(),
                }
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(|e| OffsetsLogError::Encode(e.to_string()))?;
        let batches = validate_batches(&buf).map_err(|e| OffsetsLogError::Encode(e.to_string()))?;
        self.partition
            .append(&buf, &batches, now_ms)
            .map_err(|e| OffsetsLogError::Append(e.to_string()))?;
        Ok(())
    }

    /// Calls `apply` with every record of the log, oldest first: plain records,
    /// transactional ones with their producer id, and transaction markers.
    /// Records that do not decode are skipped with a warning.
    pub fn replay(&self, mut apply: impl FnMut(Replayed)) -> Result<(), TopicError> {
        let (mut offset, end) = self.partition.offsets();
        while offset < end {
            let read = self.partition.read(offset, 1 << 20, true)?;
            let Some(bytes) = read.records else { break };
            let mut rest = bytes.clone();
            let before = offset;
            while let Some(header) = BatchHeader::new(&rest) {
                let Some(size) = header.size().filter(|&s| s > 0 && s <= rest.len()) else {
                    break;
                };
                let next = header.last_offset() + 1;
                let mut batch: Bytes = rest.split_to(size);
                match RecordBatchDecoder::decode(&mut batch) {
                    Ok(set) => {
                        for record in &set.records {
                            let Some(key) = &record.key else { continue };
                            if record.control {
                                // ControlRecordType key: version, then 0 abort / 1 commit.
                                if let Some(t) = key.get(2..4) {
                                    apply(Replayed::Marker {
                                        producer_id: record.producer_id,
                                        commit: t == [0, 1],
                                    });
                                }
                                continue;
                            }
                            match OffsetsRecord::decode(key, record.value.as_deref()) {
                                Some(r) if record.transactional => apply(Replayed::Txn {
                                    producer_id: record.producer_id,
                                    record: r,
                                }),
                                Some(r) => apply(Replayed::Record(r)),
                                None => tracing::warn!(
                                    offset = record.offset,
                                    "skipping an offsets record that does not decode"
                                ),
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(offset, error = %e, "skipping an offsets batch that does not decode")
                    }
                }
                offset = next;
            }
            if offset == before {
                break;
            }
        }
        Ok(())
    }
}
