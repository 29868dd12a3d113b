//! Forces appended data to disk for `flush = "always"` (group commit) and
//! `flush = "interval"` (a periodic background fsync).
//!
//! Group commit: producers queue a request and wait. The flusher thread takes
//! every request queued so far, fsyncs each partition they name once, and
//! answers them all; requests that arrive during that fsync wait for the next
//! round, which covers all of them together.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::histogram::Histogram;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

use super::Partition;

type Waiter = (Arc<Partition>, oneshot::Sender<Result<(), String>>);

pub struct Flusher {
    /// Observes each fsync's duration.
    queue: Option<mpsc::Sender<Waiter>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Flusher {
    pub fn start(flush_seconds: Histogram) -> Flusher {
        let (queue, rx) = mpsc::channel::<Waiter>();
        let thread = thread::Builder::new()
            .name("runnel-flusher".into())
            .spawn(move || run(rx, flush_seconds))
            .ok();
        Flusher {
            queue: Some(queue),
            thread,
        }
    }

    /// Resolves once everything appended to `partition` before this call is on disk.
    pub async fn flush(&self, partition: Arc<Partition>) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or("flusher stopped")?;
        queue
            .send((partition, tx))
            .map_err(|_| "flusher stopped".to_string())?;
        rx.await.map_err(|_| "flusher stopped".to_string())?
    }

    pub fn stop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(rx: mpsc::Receiver<Waiter>, flush_seconds: Histogram) {
    while let Ok(first) = rx.recv() {
        let mut round = vec![first];
        round.extend(rx.try_iter());
        let mut by_partition: HashMap<*const Partition, (Arc<Partition>, Vec<_>)> = HashMap::new();
        for (p, tx) in round {
            by_partition
                .entry(Arc::as_ptr(&p))
                .or_insert_with(|| (p.clone(), Vec::new()))
                .1
                .push(tx);
        }
        for (partition, waiters) in by_partition.into_values() {
            let started = Instant::now();
            let result = partition.flush().map_err(|e| e.to_string());
            flush_seconds.observe(started.elapsed().as_secs_f64());
            if let Err(e) = &result {
                tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "fsync failed");
            }
            for w in waiters {
                let _ = w.send(result.clone());
            }
        }
    }
}

/// Flushes every partition each `period` until `stop` fires (flush = "interval").
pub async fn flush_periodically(
    topics: Arc<super::TopicManager>,
    period: Duration,
    flush_seconds: Histogram,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let topics = topics.clone();
        let flush_seconds = flush_seconds.clone();
        let done = tokio::task::spawn_blocking(move || {
            for p in topics.partitions() {
                let started = Instant::now();
                let result = p.flush();
                flush_seconds.observe(started.elapsed().as_secs_f64());
                if let Err(e) = result {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "fsync failed");
                }
            }
        })
        .await;
        if done.is_err() {
            return;
        }
    }
}
