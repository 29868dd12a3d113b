//! An internal topic of one compacted partition that a coordinator keeps its
//! state in (`__consumer_offsets`, `__transaction_state`): created on first
//! start, appended to through the normal partition path, replayed at start-up.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{NewTopic, Partition, TopicError, TopicManager};
use crate::log::{BatchHeader, validate_batches};

#[derive(Debug, thiserror::Error)]
pub enum InternalLogError {
    #[error("encoding records for {0}: {1}")]
    Encode(&'static str, String),
    #[error("appending to {0}: {1}")]
    Append(&'static str, String),
}

pub struct InternalLog {
    name: &'static str,
    partition: Arc<Partition>,
}

impl InternalLog {
    /// Opens the topic `name`, creating it (compacted, `segment_bytes` segments)
    /// on first start.
    pub fn open(
        topics: &TopicManager,
        name: &'static str,
        segment_bytes: i64,
    ) -> Result<InternalLog, TopicError> {
        let topic = match topics.get(name) {
            Some(topic) => topic,
            None => topics.create(NewTopic {
                name: name.to_string(),
                partitions: 1,
                replication_factor: 1,
                configs: vec![
                    ("cleanup.policy".into(), "compact".into()),
                    ("segment.bytes".into(), segment_bytes.to_string()),
                ],
            })?,
        };
        let partition = topic
            .partition(0)
            .cloned()
            .ok_or(TopicError::UnknownTopic)?;
        Ok(InternalLog { name, partition })
    }

    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// Appends `(key, value)` records as one batch; with `producer` (id, epoch)
    /// as a transactional batch of that producer. Nothing for no records.
    pub fn append(
        &self,
        records: impl IntoIterator<Item = (Bytes, Option<Bytes>)>,
        producer: Option<(i64, i16)>,
        now_ms: i64,
    ) -> Result<(), InternalLogError> {
        let (producer_id, producer_epoch) = producer.unwrap_or((-1, -1));
        let records: Vec<Record> = records
            .into_iter()
            .enumerate()
            .map(|(i, (key, value))| Record {
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
            })
            .collect();
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &options)
            .map_err(|e| InternalLogError::Encode(self.name, e.to_string()))?;
        let batches = validate_batches(&buf)
            .map_err(|e| InternalLogError::Encode(self.name, e.to_string()))?;
        self.partition
            .append(&buf, &batches, now_ms)
            .map_err(|e| InternalLogError::Append(self.name, e.to_string()))?;
        Ok(())
    }

    /// Calls `apply` with every record of the log (control records included),
    /// oldest first. Batches that do not decode are skipped with a warning.
    pub fn replay(&self, mut apply: impl FnMut(&Record)) -> Result<(), TopicError> {
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
                    Ok(set) => set.records.iter().for_each(&mut apply),
                    Err(e) => {
                        tracing::warn!(topic = self.name, offset, error = %e, "skipping a batch that does not decode")
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
