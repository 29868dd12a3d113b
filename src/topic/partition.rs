//! One partition: its log behind a lock, and a notifier that wakes long-polling
//! fetches when the log grows.

use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;

use crate::log::{
    BatchHeader, BatchInfo, CleanStats, CleanerConfig, FlushTarget, Log, LogConfig, LogError,
    LogSegment, RetentionPolicy,
};
use crate::producer::{ProducerError, ProducerStateTable, SequenceCheck};

pub struct Partition {
    pub topic: String,
    pub index: i32,
    log: Mutex<PartitionLog>,
    /// The log end offset, published after every append.
    end_offset: watch::Sender<i64>,
}

/// The log and the producer state that guards appends to it, under one lock.
struct PartitionLog {
    log: Log,
    producers: ProducerStateTable,
}

impl std::ops::Deref for PartitionLog {
    type Target = Log;
    fn deref(&self) -> &Log {
        &self.log
    }
}

impl std::ops::DerefMut for PartitionLog {
    fn deref_mut(&mut self) -> &mut Log {
        &mut self.log
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Producer(#[from] ProducerError),
}

/// Offsets a successful append assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub log_start_offset: i64,
}

/// What a fetch read from one partition.
#[derive(Debug, Clone)]
pub struct Read {
    pub records: Option<Bytes>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl Partition {
    pub fn new(topic: String, index: i32, log: Log) -> Partition {
        let (end_offset, _) = watch::channel(log.log_end_offset());
        let producers = rebuild_producer_state(&log);
        Partition {
            topic,
            index,
            log: Mutex::new(PartitionLog { log, producers }),
            end_offset,
        }
    }

    fn log(&self) -> MutexGuard<'_, PartitionLog> {
        // A panic while holding the lock cannot leave the log half-written in a way
        // readers see (lengths are published last), so a poisoned lock is still usable.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn append(
        &self,
        records: &[u8],
        batches: &[BatchInfo],
        now_ms: i64,
    ) -> Result<Appended, AppendError> {
        let (base_offset, log_start, end) = {
            let mut log = self.log();
            match log.producers.check(batches)? {
                SequenceCheck::Duplicate { first_offset } => {
                    // A retry: answer with the offsets it got the first time.
                    return Ok(Appended {
                        base_offset: first_offset,
                        log_start_offset: log.log_start_offset(),
                    });
                }
                SequenceCheck::Append => {}
            }
            let info = log.log.append(records, batches, now_ms)?;
            log.producers.record(batches, info.base_offset);
            (
                info.base_offset,
                log.log_start_offset(),
                log.log_end_offset(),
            )
        };
        self.end_offset.send_replace(end);
        Ok(Appended {
            base_offset,
            log_start_offset: log_start,
        })
    }

    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Read, LogError> {
        let log = self.log();
        let records = log.read(offset, max_bytes, min_one_batch)?;
        Ok(Read {
            records,
            high_watermark: log.log_end_offset(),
            log_start_offset: log.log_start_offset(),
        })
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log().log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log().log_end_offset()
    }

    /// (log start, log end) read under one lock.
    pub fn offsets(&self) -> (i64, i64) {
        let log = self.log();
        (log.log_start_offset(), log.log_end_offset())
    }

    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.log().offset_for_timestamp(ts)
    }

    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.log().max_timestamp()
    }

    pub fn size_bytes(&self) -> u64 {
        self.log().size_bytes()
    }

    pub fn segment_rolls(&self) -> u64 {
        self.log().segment_rolls()
    }

    /// Forces everything appended so far to disk. The fsync runs outside the lock,
    /// so producers keep appending while it runs.
    pub fn flush(&self) -> Result<(), LogError> {
        let target: FlushTarget = self.log().flush_target();
        target.sync()?;
        self.log().mark_flushed(target.end_offset());
        Ok(())
    }

    /// Takes out the segments retention deletes (the caller unlinks their files,
    /// outside the lock: see [`crate::log::delete_segments`]).
    pub fn take_expired_segments(&self, now_ms: i64, policy: &RetentionPolicy) -> Vec<LogSegment> {
        self.log().take_expired_segments(now_ms, policy)
    }

    /// DeleteRecords: moves the log start offset to `offset` (-1: the high watermark).
    /// Returns the new log start (the low watermark) and the segments now wholly below
    /// it, whose files the caller deletes outside the lock.
    pub fn delete_records(&self, offset: i64) -> Result<(i64, Vec<LogSegment>), LogError> {
        let mut log = self.log();
        let offset = if offset == -1 {
            log.log_end_offset()
        } else {
            offset
        };
        log.delete_records_before(offset)
    }

    /// Compacts the log if it needs it (see `crate::log::cleaner`): the segments are
    /// snapshotted and the swap made under the lock, the cleaning itself runs without
    /// it. None when there was nothing to clean.
    pub fn clean(
        &self,
        now_ms: i64,
        config: &CleanerConfig,
    ) -> Result<Option<CleanStats>, LogError> {
        let Some(job) = self.log().clean_job(now_ms, config) else {
            return Ok(None);
        };
        let (cleaned, stats) = job.run(now_ms, config)?;
        if cleaned.is_empty() {
            self.log().mark_cleaned(&job);
            return Ok(Some(stats));
        }
        let dir = {
            let mut log = self.log();
            log.install_cleaned(&job, cleaned)?;
            log.dir().to_path_buf()
        };
        // Make the renames durable (outside the lock).
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(Some(stats))
    }

    /// A receiver that changes whenever the log end offset moves.
    pub fn watch_end_offset(&self) -> watch::Receiver<i64> {
        self.end_offset.subscribe()
    }

    /// New settings for the log; the next append and roll use them.
    pub fn set_log_config(&self, config: LogConfig) {
        self.log().set_config(config);
    }

    pub fn close(&self) -> Result<(), LogError> {
        self.log().close()
    }

    pub fn delete(&self) -> Result<(), LogError> {
        self.log().delete()
    }
}

/// Producer state from the batches of the active segment (headers only). A
/// producer whose last batches are older has no state and may continue at any
/// sequence, as in Kafka after its state expired.
fn rebuild_producer_state(log: &Log) -> ProducerStateTable {
    let mut table = ProducerStateTable::default();
    let Some(active) = log.segments().last() else {
        return table;
    };
    let file = active.log_file();
    let Some(mut rest) = file.as_slice(0, file.len()) else {
        return table;
    };
    while let Some(header) = BatchHeader::new(rest) {
        let Some(size) = header.size().filter(|&s| s > 0 && s <= rest.len()) else {
            break;
        };
        table.replay(&header);
        rest = &rest[size..];
    }
    table
}
