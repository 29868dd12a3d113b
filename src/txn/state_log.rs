//! The `__transaction_state` log: an internal, compacted topic of one partition
//! holding the latest metadata of every transactional id, written on every state
//! change before the change is acted on, and replayed at start-up.

use std::sync::Arc;

use super::metadata::TransactionMetadata;
use super::records;
use crate::config::Config;
use crate::topic::{InternalLog, Partition, TopicError, TopicManager};

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

pub struct TransactionLog {
    log: InternalLog,
}

impl TransactionLog {
    /// Opens the transaction state topic, creating it on first start.
    pub fn open(topics: &TopicManager, config: &Config) -> Result<TransactionLog, TopicError> {
        let segment_bytes = config.transaction.state_log_segment_bytes;
        let log = InternalLog::open(topics, TRANSACTION_STATE_TOPIC, segment_bytes)?;
        Ok(TransactionLog { log })
    }

    pub fn partition(&self) -> &Arc<Partition> {
        self.log.partition()
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
        let record = records::encode(transactional_id, metadata);
        self.log
            .append([record], None, now_ms)
            .map_err(|e| e.to_string())
    }

    /// Calls `apply` with every record of the log, oldest first. Records that do
    /// not decode are skipped with a warning.
    pub fn replay(
        &self,
        mut apply: impl FnMut(String, Option<TransactionMetadata>),
    ) -> Result<(), TopicError> {
        self.log.replay(|record| {
            if record.control {
                return;
            }
            let Some(key) = &record.key else { return };
            match records::decode(key, record.value.as_deref()) {
                Some((id, m)) => apply(id, m),
                None => tracing::warn!(
                    offset = record.offset,
                    "skipping a transaction state record that does not decode"
                ),
            }
        })
    }
}
