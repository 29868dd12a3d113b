//! The `__transaction_state` log: an internal, compacted topic of one partition
//! holding the latest metadata of every transactional id, written on every state
//! change before the change is acted on, and replayed at start-up.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::metadata::TransactionMetadata;
use super::records;
use crate::config::Config;
use crate::log::{BatchHeader, validate_batches};
use crate::topic::{NewTopic, Partition, TopicError, TopicManager};

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

pub struct TransactionLog {
    partition: Arc<Partition>,
}

impl TransactionLog {
    /// Opens the transaction state topic, creating it on first start.
    pub fn open(topics: &TopicManager, config: &Config) -> Result<TransactionLog, TopicError> {
        let topic = match topics.get(TRANSACTION_STATE_TOPIC) {
            Some(topic) => topic,
            None => topics.create(NewTopic {
                name: TRANSACTION_STATE_TOPIC.to_string(),
                partitions: 1,
                replication_factor: 1,
                configs: vec![
                    ("cleanup.policy".into(), "compact".into()),
                    (
                        "segment.bytes".into(),
                        config.transaction.state_log_segment_bytes.to_string(),
                    ),
                ],
            })?,
        };
        let partition = topic
            .partition(0)
            .cloned()
            .ok_or(TopicError::UnknownTopic)?;
        Ok(TransactionLog { partition })
    }

    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// Appends the metadata of one transactional id as one batch.
    pub fn append(
        &self,
        transactional_id: &str,
        metadata: &TransactionMetadata,
        now_ms: i64,
    ) -> Result<(), String> {
        self.append_value(transactional_id, Some(metadata), now_ms)
    }

    /// Appends the tombstone of an expired transactional id.
    pub fn append_tombstone(&self, transactional_id: &str, now_ms: i64) -> Result<(), String> {
        self.append_value(transactional_id, None, now_ms)
    }

    fn append_value(
        &self,
        transactional_id: &str,
        metadata: Option<&TransactionMetadata>,
        now_ms: i64,
    ) -> Result<(), String> {
        let (key, value) = records::encode(transactional_id, metadata);
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: now_ms,
            key: Some(key),
            value,
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            std::iter::once(&record),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(|e| e.to_string())?;
        let batches = validate_batches(&buf).map_err(|e| e.to_string())?;
        self.partition
            .append(&buf, &batches, now_ms)
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Calls `apply` with every record of the log, oldest first. Records that do
    /// not decode are skipped with a warning.
    pub fn replay(
        &self,
        mut apply: impl FnMut(String, Option<TransactionMetadata>),
    ) -> Result<(), TopicError> {
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
                        for record in set.records.iter().filter(|r| !r.control) {
                            let Some(key) = &record.key else { continue };
                            match records::decode(key, record.value.as_deref()) {
                                Some((id, m)) => apply(id, m),
                                None => tracing::warn!(
                                    offset = record.offset,
                                    "skipping a transaction state record that does not decode"
                                ),
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(offset, error = %e, "skipping a transaction state batch that does not decode")
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
