//! The `__consumer_offsets` log: an internal, compacted topic of one partition
//! that holds every committed offset and every group's last metadata, written
//! through the same partition append path as produced data and replayed at
//! start-up to rebuild the coordinator's state.

use std::sync::Arc;

use super::records::OffsetsRecord;
use crate::config::Config;
use crate::topic::{InternalLog, InternalLogError, Partition, TopicError, TopicManager};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

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
    log: InternalLog,
}

impl OffsetsLog {
    /// Opens the offsets topic, creating it on first start.
    pub fn open(topics: &TopicManager, config: &Config) -> Result<OffsetsLog, TopicError> {
        let log = InternalLog::open(topics, OFFSETS_TOPIC, config.offsets.topic_segment_bytes)?;
        Ok(OffsetsLog { log })
    }

    pub fn partition(&self) -> &Arc<Partition> {
        self.log.partition()
    }

    /// Appends `records` as one batch.
    pub fn append(&self, records: &[OffsetsRecord], now_ms: i64) -> Result<(), InternalLogError> {
        self.log
            .append(records.iter().map(OffsetsRecord::encode), None, now_ms)
    }

    /// Appends `records` as one transactional batch of `producer` (id, epoch), as
    /// Kafka writes TxnOffsetCommit: visible once the COMMIT marker follows.
    pub fn append_txn(
        &self,
        records: &[OffsetsRecord],
        producer: (i64, i16),
        now_ms: i64,
    ) -> Result<(), InternalLogError> {
        self.log.append(
            records.iter().map(OffsetsRecord::encode),
            Some(producer),
            now_ms,
        )
    }

    /// Calls `apply` with every record of the log, oldest first: plain records,
    /// transactional ones with their producer id, and transaction markers.
    /// Records that do not decode are skipped with a warning.
    pub fn replay(&self, mut apply: impl FnMut(Replayed)) -> Result<(), TopicError> {
        self.log.replay(|record| {
            let Some(key) = &record.key else { return };
            if record.control {
                // ControlRecordType key: version, then 0 abort / 1 commit.
                if let Some(t) = key.get(2..4) {
                    apply(Replayed::Marker {
                        producer_id: record.producer_id,
                        commit: t == [0, 1],
                    });
                }
                return;
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
        })
    }
}
