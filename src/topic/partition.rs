//! One partition: its log behind a lock, and a notifier that wakes long-polling
//! fetches when the log grows.

use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;

use crate::log::record::control_marker;
use crate::log::{
    AbortedTxn, AppendInfo, BatchHeader, BatchInfo, CleanStats, CleanerConfig, FlushTarget, Log,
    LogConfig, LogError, LogSegment, RetentionPolicy, Throttler, TransactionIndex,
    validate_batches,
};
use crate::producer::{ProducerError, ProducerStateTable, SequenceCheck, snapshot};

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
    /// Aborted transactions (`.txnindex`), for read_committed fetches.
    aborted: TransactionIndex,
}

impl PartitionLog {
    /// Kafka's last stable offset: no open transaction has records below it.
    fn last_stable_offset(&self) -> i64 {
        let hw = self.log.log_end_offset();
        self.producers
            .first_unstable_offset()
            .map_or(hw, |f| f.min(hw))
    }
}

impl PartitionLog {
    /// Appends to the log; when that rolls a segment, first snapshots the
    /// producer state as it stands at the new segment's base (Kafka does the
    /// same on roll).
    fn append_batches(
        &mut self,
        records: &[u8],
        batches: &[BatchInfo],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let sealed_base = self
            .log
            .segments()
            .last()
            .map_or(0, LogSegment::base_offset);
        let rolls = self.log.segment_rolls();
        let info = self.log.append(records, batches, now_ms)?;
        if self.log.segment_rolls() != rolls {
            if let Err(e) = self.aborted.sync(sealed_base) {
                tracing::warn!(dir = %self.log.dir().display(), error = %e, "syncing .txnindex");
            } else if let Err(e) = self.snapshot_producers(info.base_offset) {
                tracing::warn!(dir = %self.log.dir().display(), error = %e, "writing a producer state snapshot");
            }
        }
        Ok(info)
    }

    fn snapshot_producers(&self, offset: i64) -> Result<(), LogError> {
        let active = self
            .log
            .segments()
            .last()
            .map_or(0, LogSegment::base_offset);
        self.aborted.sync(active)?;
        snapshot::write(self.log.dir(), offset, &self.producers)?;
        Ok(())
    }
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
    #[error(transparent)]
    Txn(#[from] crate::txn::TxnError),
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
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// read_committed only: the aborted transactions overlapping the range read.
    pub aborted: Option<Vec<AbortedTxn>>,
}

/// Which records a fetch may see (Fetch's isolation_level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything below the high watermark.
    ReadUncommitted,
    /// Only below the last stable offset, with the aborted transactions listed.
    ReadCommitted,
}

impl Partition {
    pub fn new(topic: String, index: i32, log: Log) -> Partition {
        let (end_offset, _) = watch::channel(log.log_end_offset());
        let (producers, aborted) = load_producer_state(&log);
        Partition {
            topic,
            index,
            log: Mutex::new(PartitionLog {
                log,
                producers,
                aborted,
            }),
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
            let info = log.append_batches(records, batches, now_ms)?;
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

    /// Appends a transaction marker (a control batch: COMMIT or ABORT) for
    /// `producer_id`, ending its open transaction here. Returns its offset.
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<i64, AppendError> {
        let records = marker_batch(
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
            now_ms,
        );
        let batches = validate_batches(&records)
            .map_err(|e| LogError::InvalidAppend(format!("marker batch: {e}")))?;
        let (offset, end) = {
            let mut log = self.log();
            let info = log.append_batches(&records, &batches, now_ms)?;
            let aborted =
                log.producers
                    .complete_txn(producer_id, producer_epoch, info.base_offset, commit);
            if let Some(txn) = aborted {
                let segment = log.segments().last().map_or(0, LogSegment::base_offset);
                if let Err(e) = log.aborted.append(segment, txn) {
                    // Without snapshots the next open rebuilds it from the log.
                    tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "writing .txnindex");
                    if let Err(e) = snapshot::delete_all(log.dir()) {
                        tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "deleting producer state snapshots");
                    }
                }
            }
            (info.base_offset, log.log_end_offset())
        };
        self.end_offset.send_replace(end);
        Ok(offset)
    }

    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Read, LogError> {
        self.fetch(offset, max_bytes, min_one_batch, Isolation::ReadUncommitted)
    }

    /// A read as Fetch does it: read_committed sees only what lies below the last
    /// stable offset and gets the aborted transactions of that range.
    pub fn fetch(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        isolation: Isolation,
    ) -> Result<Read, LogError> {
        let log = self.log();
        let lso = log.last_stable_offset();
        let mut records = log.read(offset, max_bytes, min_one_batch)?;
        let mut aborted = None;
        if isolation == Isolation::ReadCommitted {
            records = records.and_then(|r| cut_at(r, lso));
            aborted = Some(log.aborted.collect(offset, lso));
        }
        Ok(Read {
            records,
            high_watermark: log.log_end_offset(),
            last_stable_offset: lso,
            log_start_offset: log.log_start_offset(),
            aborted,
        })
    }

    /// The last stable offset (ListOffsets latest with read_committed).
    pub fn last_stable_offset(&self) -> i64 {
        self.log().last_stable_offset()
    }

    /// Every producer with state here, for DescribeProducers.
    pub fn producers(&self) -> Vec<crate::producer::ProducerSummary> {
        self.log().producers.producers()
    }

    /// Whether `producer_id` has an open transaction in this partition.
    pub fn has_ongoing_txn(&self, producer_id: i64) -> bool {
        self.log().producers.ongoing_txn(producer_id).is_some()
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
        throttler: &Throttler,
    ) -> Result<Option<CleanStats>, LogError> {
        let Some(job) = self.log().clean_job(now_ms, config) else {
            return Ok(None);
        };
        let (cleaned, stats) = job.run(now_ms, config, throttler)?;
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

    /// Clean close: the log synced, then a producer state snapshot at its end so
    /// the next open replays nothing.
    pub fn close(&self) -> Result<(), LogError> {
        let mut log = self.log();
        log.close()?;
        let end = log.log_end_offset();
        log.snapshot_producers(end)?;
        Ok(())
    }

    pub fn delete(&self) -> Result<(), LogError> {
        self.log().delete()
    }
}

/// The producer state and aborted transactions of a log being opened: from the
/// newest producer state snapshot and the `.txnindex` entries below it, plus
/// the batches after it; or, without a usable snapshot, from the whole log.
fn load_producer_state(log: &Log) -> (ProducerStateTable, TransactionIndex) {
    let dir = log.dir();
    let from_snapshot = snapshot::load_latest(dir, log.log_end_offset()).and_then(|(at, table)| {
        match TransactionIndex::read_all(dir) {
            Ok(mut earlier) => {
                earlier.retain(|(_, t)| t.last_offset < at);
                Some((at, table, earlier))
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "rebuilding .txnindex files from the log");
                None
            }
        }
    });
    let (from, table, mut aborted) =
        from_snapshot.unwrap_or((i64::MIN, ProducerStateTable::default(), Vec::new()));
    let (table, found) = replay_batches(log, table, from);
    aborted.extend(found);
    let index = TransactionIndex::rebuild(dir, aborted.clone()).unwrap_or_else(|e| {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot rewrite .txnindex files");
        TransactionIndex::new(dir, aborted)
    });
    (table, index)
}

/// Applies the batch headers of every batch from offset `from` on (and the key
/// of each control batch) to `table`; returns it with the aborted transactions
/// the markers ended, each with its segment's base offset.
fn replay_batches(
    log: &Log,
    mut table: ProducerStateTable,
    from: i64,
) -> (ProducerStateTable, Vec<(i64, AbortedTxn)>) {
    let mut aborted = Vec::new();
    for segment in log.segments_from(from) {
        let file = segment.log_file();
        let start = if from > segment.base_offset() {
            segment.offset_index().lookup(from).1 as usize
        } else {
            0
        };
        let Some(mut rest) = file.as_slice(start, file.len().saturating_sub(start)) else {
            continue;
        };
        while let Some(header) = BatchHeader::new(rest) {
            let Some(size) = header.size().filter(|&s| s > 0 && s <= rest.len()) else {
                break;
            };
            if header.last_offset() >= from {
                let marker = if header.attributes().is_control() {
                    control_marker(&rest[..size])
                } else {
                    None
                };
                if let Some(txn) = table.replay(&header, marker) {
                    aborted.push((segment.base_offset(), txn));
                }
            }
            rest = &rest[size..];
        }
    }
    (table, aborted)
}

/// The whole batches of `records` that end below `end`; None when there are none.
fn cut_at(records: Bytes, end: i64) -> Option<Bytes> {
    let mut len = 0;
    while let Some(header) = records.get(len..).and_then(BatchHeader::new) {
        let Some(size) = header.size() else { break };
        if header.last_offset() >= end || len + size > records.len() {
            break;
        }
        len += size;
    }
    (len > 0).then(|| records.slice(..len))
}

/// A control batch holding one transaction marker, as Kafka writes it: magic 2,
/// the transactional and control attributes, no sequence, one record whose key
/// is (version 0, type 0 abort / 1 commit) and value (version 0, coordinator epoch).
fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    now_ms: i64,
) -> Vec<u8> {
    let key: [u8; 4] = [0, 0, 0, u8::from(commit)];
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&coordinator_epoch.to_be_bytes());
    // One record: attributes, timestamp delta 0, offset delta 0, key, value, no headers.
    let mut record = vec![0u8, 0, 0];
    record.push(zigzag(key.len() as i64));
    record.extend_from_slice(&key);
    record.push(zigzag(value.len() as i64));
    record.extend_from_slice(&value);
    record.push(0);
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(&0x30i16.to_be_bytes()); // attributes: transactional + control
    body.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    body.extend_from_slice(&now_ms.to_be_bytes()); // base timestamp
    body.extend_from_slice(&now_ms.to_be_bytes()); // max timestamp
    body.extend_from_slice(&producer_id.to_be_bytes());
    body.extend_from_slice(&producer_epoch.to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    body.extend_from_slice(&1i32.to_be_bytes()); // record count
    body.push(zigzag(record.len() as i64));
    body.extend_from_slice(&record);
    let crc = crc32c::crc32c(&body);
    let mut batch = Vec::with_capacity(body.len() + 21);
    batch.extend_from_slice(&0i64.to_be_bytes()); // base offset, set by the log
    batch.extend_from_slice(&((body.len() + 9) as i32).to_be_bytes()); // batch length
    batch.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    batch.push(2); // magic
    batch.extend_from_slice(&crc.to_be_bytes());
    batch.extend_from_slice(&body);
    batch
}

/// A small non-negative zigzag varint (every length here is below 64).
fn zigzag(v: i64) -> u8 {
    ((v << 1) ^ (v >> 63)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::ControlMarker;
    use crate::log::testutil::{BatchBuilder, small_config};

    fn open(dir: &std::path::Path, clean_shutdown: bool) -> Partition {
        let log = Log::open(dir, small_config(1024), clean_shutdown).unwrap();
        Partition::new("t".into(), 0, log)
    }

    fn produce(p: &Partition, pid: i64, seq: i32, transactional: bool) -> i64 {
        let value = [7u8; 100];
        let b = BatchBuilder::new(&[(1, &value[..])])
            .producer(pid, 0, seq)
            .attributes(if transactional { 0x10 } else { 0 })
            .build();
        p.append(&b, &validate_batches(&b).unwrap(), 1)
            .unwrap()
            .base_offset
    }

    /// What a reopened partition must have rebuilt: producers, the last stable
    /// offset and the aborted transactions.
    fn state(p: &Partition) -> (Vec<crate::producer::ProducerSummary>, i64, Vec<AbortedTxn>) {
        let read = p
            .fetch(0, usize::MAX, true, Isolation::ReadCommitted)
            .unwrap();
        (
            p.producers(),
            read.last_stable_offset,
            read.aborted.unwrap(),
        )
    }

    fn snapshots(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("snapshot".as_ref()))
            .count()
    }

    #[test]
    fn producer_state_comes_back_from_snapshots_and_the_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = open(dir.path(), true);
        for seq in 0..20 {
            produce(&p, 1, seq, false);
        }
        produce(&p, 2, 0, true);
        p.append_marker(2, 0, false, 0, 1).unwrap();
        for seq in 20..25 {
            produce(&p, 1, seq, false);
        }
        let open_txn = produce(&p, 3, 0, true);
        let before = state(&p);
        assert_eq!(before.1, open_txn);
        assert_eq!(before.2.len(), 1);
        assert!(snapshots(dir.path()) > 0, "rolling wrote snapshots");

        // Clean: the snapshot at the log end is all there is to read.
        p.close().unwrap();
        drop(p);
        let p = open(dir.path(), true);
        assert_eq!(state(&p), before);
        // A retry of the last batch is still answered with its offset.
        let retry = produce(&p, 3, 0, true);
        assert_eq!(retry, open_txn);

        // A crash: the snapshot of the last roll plus the batches after it.
        for seq in 25..40 {
            produce(&p, 1, seq, false);
        }
        p.append_marker(3, 0, false, 0, 1).unwrap();
        produce(&p, 1, 40, false);
        let before = state(&p);
        assert_eq!(before.2.len(), 2);
        drop(p);
        let p = open(dir.path(), false);
        assert_eq!(state(&p), before);

        // The same as a rebuild from the whole log.
        drop(p);
        snapshot::delete_all(dir.path()).unwrap();
        let p = open(dir.path(), false);
        assert_eq!(state(&p), before);
    }

    #[test]
    fn a_producer_outlives_the_segments_that_held_its_batches() {
        let dir = tempfile::tempdir().unwrap();
        let p = open(dir.path(), true);
        produce(&p, 9, 0, false);
        for seq in 0..20 {
            produce(&p, 1, seq, false);
        }
        let (_, deleted) = p.delete_records(p.log_end_offset() - 1).unwrap();
        assert!(!deleted.is_empty());
        crate::log::delete_segments(deleted);
        p.close().unwrap();
        drop(p);
        let p = open(dir.path(), true);
        let nine = p.producers().into_iter().find(|s| s.producer_id == 9);
        assert_eq!(nine.map(|s| s.last_sequence), Some(0));
    }

    #[test]
    fn marker_batches_are_valid_control_batches() {
        for (commit, want) in [(true, ControlMarker::Commit), (false, ControlMarker::Abort)] {
            let b = marker_batch(42, 3, commit, 7, 1000);
            let infos = validate_batches(&b).unwrap();
            assert_eq!(infos.len(), 1);
            assert!(infos[0].attributes.is_control() && infos[0].attributes.is_transactional());
            assert_eq!((infos[0].producer_id, infos[0].producer_epoch), (42, 3));
            assert_eq!(control_marker(&b), Some(want));
        }
    }
}
