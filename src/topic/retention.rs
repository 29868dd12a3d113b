//! Retention over every partition (Kafka's `LogManager.cleanupLogs`), DeleteRecords,
//! and the log start checkpoint they both keep up to date.
//!
//! Segments are taken out of each log under its partition lock (a map removal);
//! the checkpoint is written next, then the files are unlinked, all outside the lock.
//! A crash between the two leaves segments on disk wholly below the checkpointed log
//! start; the next open deletes them.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::{TopicError, TopicManager, checkpoint, is_internal_topic};
use crate::log::{LogSegment, delete_segments};
use crate::metrics::Metrics;

/// What one retention pass deleted.
#[derive(Debug, Default, Clone, Copy)]
pub struct RetentionStats {
    pub segments: u64,
    pub bytes: u64,
}

impl TopicManager {
    /// Writes every partition's log start offset to `log-start-offset-checkpoint`.
    pub fn checkpoint_log_start_offsets(&self) -> std::io::Result<()> {
        let _writer = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut entries = Vec::new();
        for topic in self.all() {
            for p in &topic.partitions {
                entries.push((topic.name.clone(), p.index, p.log_start_offset()));
            }
        }
        checkpoint::write(&self.data_dir, &entries)
    }

    /// One retention pass at `now_ms`: deletes the segments each topic's
    /// `retention.ms` / `retention.bytes` no longer keeps (topics whose
    /// `cleanup.policy` includes `delete`) and those wholly below the log start.
    /// Returns what it deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> RetentionStats {
        let mut taken: Vec<LogSegment> = Vec::new();
        for topic in self.all() {
            let policy = topic.config.retention_policy(&self.config);
            for p in &topic.partitions {
                taken.extend(p.take_expired_segments(now_ms, &policy));
            }
        }
        let stats = RetentionStats {
            segments: taken.len() as u64,
            bytes: taken.iter().map(|s| s.size() as u64).sum(),
        };
        if !taken.is_empty() {
            self.finish_deletion(taken);
        }
        stats
    }

    /// DeleteRecords for each `(topic, partition, offset)` (offset -1: the high
    /// watermark): the new log start offset of each, or why not.
    pub fn delete_records(&self, requests: &[(String, i32, i64)]) -> Vec<Result<i64, TopicError>> {
        let mut taken = Vec::new();
        let mut moved = false;
        let results = requests
            .iter()
            .map(|(topic, index, offset)| {
                if is_internal_topic(topic) {
                    return Err(TopicError::InvalidName(format!(
                        "Cannot delete records of internal topic {topic}"
                    )));
                }
                let partition = self
                    .get(topic)
                    .and_then(|t| t.partition(*index).cloned())
                    .ok_or(TopicError::UnknownTopic)?;
                let before = partition.log_start_offset();
                let (start, segments) = partition.delete_records(*offset)?;
                moved |= start != before;
                taken.extend(segments);
                Ok(start)
            })
            .collect();
        if moved || !taken.is_empty() {
            self.finish_deletion(taken);
        }
        results
    }

    /// Checkpoints the new log start offsets, then unlinks the segments' files.
    fn finish_deletion(&self, taken: Vec<LogSegment>) {
        if let Err(e) = self.checkpoint_log_start_offsets() {
            tracing::error!(error = %e, "writing the log start checkpoint");
        }
        delete_segments(taken);
    }
}

/// Runs a retention pass every `period` until `stop` fires
/// (log.retention.check.interval.ms). The passes run on the blocking pool.
pub async fn enforce_retention_periodically(
    topics: Arc<TopicManager>,
    metrics: Arc<Metrics>,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let topics = topics.clone();
        let pass =
            tokio::task::spawn_blocking(move || topics.enforce_retention(crate::broker::now_ms()));
        match pass.await {
            Ok(stats) => metrics.retention_pass(&stats),
            Err(_) => return,
        }
    }
}
