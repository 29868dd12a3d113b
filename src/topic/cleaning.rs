//! The log cleaner's background task (Kafka's `LogCleaner` threads): every
//! `log.cleaner.backoff.ms` it compacts the partitions of every topic whose
//! `cleanup.policy` includes `compact` (`__consumer_offsets` among them), one
//! partition at a time on the blocking pool. The storage half is `crate::log::cleaner`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::TopicManager;
use crate::log::{CleanStats, Throttler};
use crate::metrics::Metrics;

impl TopicManager {
    /// The log cleaner's IO throttle (log.cleaner.io.max.bytes.per.second); a new
    /// rate set on it applies to a cleaning under way from its next check.
    pub fn cleaner_throttler(&self) -> &Throttler {
        &self.cleaner_throttler
    }

    /// One cleaning pass at `now_ms` over every compacted topic. Returns what it did.
    pub fn clean_logs(&self, now_ms: i64) -> CleanStats {
        let mut total = CleanStats::default();
        for topic in self.all() {
            if !topic.config.is_compacted() || self.cleaner_throttler.is_stopped() {
                continue;
            }
            let config = topic.config.cleaner_config();
            for p in &topic.partitions {
                match p.clean(now_ms, &config, &self.cleaner_throttler) {
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
                    Err(crate::log::LogError::CleaningAborted) => {
                        tracing::info!(topic = %topic.name, partition = p.index, "cleaning aborted: the log cleaner is stopping");
                    }
                    Err(e) => {
                        tracing::error!(topic = %topic.name, partition = p.index, error = %e, "cleaning failed");
                    }
                }
            }
        }
        total
    }
}

/// Runs a cleaning pass every `period` until `stop` fires, on a thread of its
/// own at a lower CPU priority (nice 10), so that on a busy machine producers
/// and consumers come first and the cleaner takes the CPU time they leave.
pub async fn clean_periodically(
    topics: Arc<TopicManager>,
    metrics: Arc<Metrics>,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let stopping = Arc::new(AtomicBool::new(false));
    let cleaner = {
        let stopping = stopping.clone();
        let topics = topics.clone();
        std::thread::Builder::new()
            .name("log-cleaner".into())
            .spawn(move || {
                lower_thread_priority();
                let mut next = Instant::now() + period;
                loop {
                    // Unparked early only to stop.
                    std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
                    if stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    if Instant::now() < next {
                        continue;
                    }
                    let started = Instant::now();
                    let stats = topics.clean_logs(crate::broker::now_ms());
                    metrics.cleaner_pass(&stats, started.elapsed());
                    next = Instant::now() + period;
                }
            })
    };
    let cleaner = match cleaner {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the log cleaner thread");
            return;
        }
    };
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    stopping.store(true, Ordering::SeqCst);
    // A cleaning under way gives up at its next throttle check.
    topics.cleaner_throttler().stop();
    cleaner.thread().unpark();
    let _ = tokio::task::spawn_blocking(move || cleaner.join()).await;
}

/// Lowers the calling thread's CPU priority to nice 10 (on Linux a thread has
/// its own nice value). Best effort: the cleaner runs either way.
pub fn lower_thread_priority() {
    // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes only the
    // calling thread's nice value; it reads and writes no memory of ours.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the cleaner's priority");
    }
}
