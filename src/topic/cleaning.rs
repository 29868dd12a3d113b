//! The log cleaner's background task (Kafka's `LogCleaner` threads): every
//! `log.cleaner.backoff.ms` it compacts the partitions of every topic whose
//! `cleanup.policy` includes `compact` (`__consumer_offsets` among them), one
//! partition at a time on the blocking pool. The storage half is `crate::log::cleaner`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::TopicManager;
use crate::log::CleanStats;
use crate::metrics::Metrics;

impl TopicManager {
    /// One cleaning pass at `now_ms` over every compacted topic. Returns what it did.
    pub fn clean_logs(&self, now_ms: i64) -> CleanStats {
        let mut total = CleanStats::default();
        for topic in self.all() {
            if !topic.config.is_compacted() {
                continue;
            }
            let config = topic.config.cleaner_config();
            for p in &topic.partitions {
                match p.clean(now_ms, &config) {
                    Ok(Some(s)) => {
                        tracing::info!(
                            topic = %topic.name,
                            partition = p.index,
                            segments = s.segments_rewritten,
                            records_removed = s.records_removed,
                            bytes_before = s.bytes_before,
                            bytes_after = s.bytes_after,
                            "cleaned log"
                        );
                        total.partitions_cleaned += 1;
                        total.segments_read += s.segments_read;
                        total.segments_rewritten += s.segments_rewritten;
                        total.records_removed += s.records_removed;
                        total.bytes_before += s.bytes_before;
                        total.bytes_after += s.bytes_after;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(topic = %topic.name, partition = p.index, error = %e, "cleaning failed");
                    }
                }
            }
        }
        total
    }
}

/// Runs a cleaning pass every `period` until `stop` fires.
pub async fn clean_periodically(
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
        let started = std::time::Instant::now();
        let pass = tokio::task::spawn_blocking(move || topics.clean_logs(crate::broker::now_ms()));
        match pass.await {
            Ok(stats) => metrics.cleaner_pass(&stats, started.elapsed()),
            Err(_) => return,
        }
    }
}
