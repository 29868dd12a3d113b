//! Memory-based back-pressure, as Kafka's `MemoryPool`: the bytes of a
//! request are taken from the connection's pool and the broker's
//! (queued.max.request.bytes) before its body is read, and given back once its
//! response is encoded. While a pool is empty the connection is not read from,
//! so the kernel's socket buffers, not the broker, hold what clients send.
//! A connection muted for a client over its quota is not read either.
//!
//! The idle limit lives here too: a connection silent for
//! connections.max.idle.ms is closed as Kafka's selector closes it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncRead;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::frame::{FrameError, FrameReader};
use crate::api::throttle::Mute;
use crate::metrics::Metrics;

pub struct MemoryPool {
    free: Arc<Semaphore>,
    size: u32,
}

impl MemoryPool {
    pub fn new(bytes: u64) -> MemoryPool {
        let size = bytes.min(u64::from(u32::MAX)) as u32;
        MemoryPool {
            free: Arc::new(Semaphore::new(size as usize)),
            size,
        }
    }

    /// Waits until `bytes` are free and holds them. A request larger than the
    /// whole pool takes all of it, so it is served alone rather than never.
    async fn acquire(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let n = bytes.min(self.size as usize) as u32;
        self.free.clone().acquire_many_owned(n).await.ok()
    }
}

/// The bytes one request holds in both pools until it is dropped.
pub struct RequestMemory {
    _connection: Option<OwnedSemaphorePermit>,
    _broker: Option<OwnedSemaphorePermit>,
}

/// What one connection reads requests with.
pub struct RequestReader<R> {
    frames: FrameReader<R>,
    connection: MemoryPool,
    broker: Arc<MemoryPool>,
    idle: Duration,
    mute: Arc<Mute>,
    metrics: Arc<Metrics>,
}

impl<R: AsyncRead + Unpin> RequestReader<R> {
    pub fn new(
        frames: FrameReader<R>,
        per_connection: u64,
        broker: Arc<MemoryPool>,
        idle: Duration,
        mute: Arc<Mute>,
        metrics: Arc<Metrics>,
    ) -> Self {
        RequestReader {
            frames,
            connection: MemoryPool::new(per_connection),
            broker,
            idle,
            mute,
            metrics,
        }
    }

    /// Frames longer than `max` close the connection from now on.
    pub fn set_max_frame(&mut self, max: usize) {
        self.frames.set_max_frame(max);
    }

    /// The next request frame and the memory it holds; `None` at a clean EOF.
    /// Nothing is read while the connection is muted (its client is over a
    /// quota). An idle connection ends in a `TimedOut` error.
    pub async fn next(&mut self) -> Result<Option<(Bytes, RequestMemory)>, FrameError> {
        self.mute.wait().await;
        let len = match tokio::time::timeout(self.idle, self.frames.next_len()).await {
            Ok(len) => len?,
            Err(_) => {
                self.metrics.connections_idle_closed.inc();
                return Err(FrameError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "idle longer than connections.max.idle.ms",
                )));
            }
        };
        let Some(len) = len else {
            return Ok(None);
        };
        let memory = RequestMemory {
            _connection: self.connection.acquire(len).await,
            _broker: self.broker.acquire(len).await,
        };
        Ok(self.frames.next().await?.map(|frame| (frame, memory)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holds_reading_until_memory_is_given_back() {
        let mut wire = Vec::new();
        for _ in 0..3 {
            wire.extend_from_slice(&3000i32.to_be_bytes());
            wire.extend_from_slice(&[7u8; 3000]);
        }
        let broker = Arc::new(MemoryPool::new(5000));
        let mut r = RequestReader::new(
            FrameReader::new(&wire[..], 1 << 20),
            1 << 20,
            broker.clone(),
            Duration::from_secs(5),
            Arc::default(),
            Arc::new(Metrics::new()),
        );
        let (first, memory) = r.next().await.unwrap().unwrap();
        assert_eq!(first.len(), 3000);
        // 2000 bytes left of 5000: the second request waits for the first.
        let waiting = tokio::time::timeout(Duration::from_millis(50), r.next()).await;
        assert!(waiting.is_err());
        drop(memory);
        assert!(r.next().await.unwrap().is_some());
        // A request larger than the whole pool is still served.
        let small = Arc::new(MemoryPool::new(1024));
        let mut r = RequestReader::new(
            FrameReader::new(&wire[..], 1 << 20),
            1 << 20,
            small,
            Duration::from_secs(5),
            Arc::default(),
            Arc::new(Metrics::new()),
        );
        assert!(r.next().await.unwrap().is_some());
    }
}
