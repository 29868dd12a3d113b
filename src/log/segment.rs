//! [`LogSegment`]: one `.log` file with its `.index` and `.timeindex`.
//!
//! Appends copy already-validated batches into the mapping with one memcpy, rewrite each
//! batch's `baseOffset` in place (outside the CRC, so no recompute) before publishing
//! them, and add index entries every `index_interval_bytes`. Reads look the position up
//! in the offset index, scan batch headers to the batch holding the start offset and
//! hand out a [`Bytes`] view of whole batches. Opening and recovery live in
//! `recovery.rs`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::batch::{BatchHeader, BatchInfo, HEADER_LEN};
use super::mmap::MappedFile;
use super::offset_index::{OffsetIndex, relative};
use super::record::{RecordScan, first_record_at_or_after};
use super::time_index::TimeIndex;
use super::{LogConfig, LogError, NO_TIMESTAMP, segment_file_name};

/// First reservation of a `.log` file; later ones double up to 64 MiB.
pub(crate) const LOG_FIRST_STEP: usize = 1 << 20;

pub struct LogSegment {
    pub(super) base_offset: i64,
    pub(super) log: Arc<MappedFile>,
    pub(super) indexes: Indexes,
    /// One past the last offset in the segment.
    pub(super) next_offset: i64,
    /// When the segment started, for time-based rolling: the first append's clock, or
    /// on reopen the first batch's max timestamp (as Kafka).
    pub(super) roll_base_ms: Option<i64>,
}

/// The two indexes and the bookkeeping that decides when they get an entry; shared by
/// appends and by recovery's walk, so both index a log the same way.
pub(super) struct Indexes {
    pub(super) offsets: OffsetIndex,
    pub(super) times: TimeIndex,
    pub(super) interval: usize,
    pub(super) bytes_since_last_entry: usize,
    /// Largest batch max timestamp so far ([`NO_TIMESTAMP`] if none) and the first
    /// offset of the batch that carries it.
    pub(super) max_timestamp: i64,
    pub(super) offset_of_max_timestamp: i64,
}

impl Indexes {
    pub(super) fn new(offsets: OffsetIndex, times: TimeIndex, config: &LogConfig) -> Indexes {
        let (max_timestamp, offset_of_max_timestamp) = times
            .last_entry()
            .unwrap_or((NO_TIMESTAMP, offsets.base_offset()));
        Indexes {
            offsets,
            times,
            interval: config.index_interval_bytes as usize,
            bytes_since_last_entry: 0,
            max_timestamp,
            offset_of_max_timestamp,
        }
    }

    /// Accounts for a batch written (or walked by recovery) at `position`: tracks the
    /// max timestamp and adds index entries once more than `interval` bytes have passed
    /// since the last one. A missing entry only makes look-ups scan further, so index
    /// errors are logged and skipped.
    pub(super) fn add_batch(&mut self, offset: i64, position: usize, size: usize, max_ts: i64) {
        if max_ts > self.max_timestamp {
            self.max_timestamp = max_ts;
            self.offset_of_max_timestamp = offset;
        }
        if self.bytes_since_last_entry > self.interval {
            let added = u32::try_from(position)
                .map_err(|_| LogError::InvalidAppend("position past 4 GiB".into()))
                .and_then(|pos| self.offsets.append(offset, pos));
            match added {
                Ok(()) => {
                    self.bytes_since_last_entry = 0;
                    let max = (self.max_timestamp, self.offset_of_max_timestamp);
                    if let Err(e) = self.times.maybe_append(max.0, max.1) {
                        tracing::warn!(file = %self.times.path().display(), error = %e, "time index entry skipped");
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %self.offsets.path().display(), error = %e, "index entry skipped");
                }
            }
        }
        self.bytes_since_last_entry += size;
    }

    /// Whether both indexes have room for an append of `batches` batches (each may add
    /// one entry to each index; the time index keeps one slot for the seal entry).
    fn have_room(&self, batches: usize) -> bool {
        self.offsets.remaining_entries() >= batches && self.times.remaining_entries() > batches
    }
}

/// Paths of a segment's `.log`, `.index` and `.timeindex`.
pub(crate) fn segment_paths(dir: &Path, base_offset: i64) -> [PathBuf; 3] {
    ["log", "index", "timeindex"].map(|ext| dir.join(segment_file_name(base_offset, ext)))
}

pub(super) fn corrupt(log: &MappedFile, what: impl std::fmt::Display) -> LogError {
    LogError::Corrupt(format!("{}: {what}", log.path().display()))
}

impl LogSegment {
    /// Creates an empty segment whose `.log` holds up to `capacity` bytes. Its first
    /// disk reservation happens here, so a full disk fails the roll, not a later store.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        capacity: usize,
    ) -> Result<LogSegment, LogError> {
        let [log_path, index_path, time_path] = segment_paths(dir, base_offset);
        let created = (|| -> io::Result<_> {
            let log = MappedFile::create(&log_path, capacity, LOG_FIRST_STEP.min(capacity))?;
            let offset_index =
                OffsetIndex::create(&index_path, base_offset, config.segment_index_bytes)?;
            let time_index =
                TimeIndex::create(&time_path, base_offset, config.segment_index_bytes)?;
            Ok((log, offset_index, time_index))
        })();
        let (log, offset_index, time_index) = match created {
            Ok(files) => files,
            Err(e) => {
                for p in [&log_path, &index_path, &time_path] {
                    let _ = fs::remove_file(p);
                }
                return Err(e.into());
            }
        };
        Ok(LogSegment {
            base_offset,
            log: Arc::new(log),
            indexes: Indexes::new(offset_index, time_index, config),
            next_offset: base_offset,
            roll_base_ms: None,
        })
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// One past the last offset stored here (the base offset when empty).
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Bytes of log.
    pub fn size(&self) -> usize {
        self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Bytes of log that can still be appended.
    pub fn remaining(&self) -> usize {
        self.log.remaining()
    }

    pub fn roll_base_ms(&self) -> Option<i64> {
        self.roll_base_ms
    }

    pub fn log_file(&self) -> &Arc<MappedFile> {
        &self.log
    }

    pub fn offset_index(&self) -> &OffsetIndex {
        &self.indexes.offsets
    }

    pub fn time_index(&self) -> &TimeIndex {
        &self.indexes.times
    }

    /// Maps the log anew with room for `capacity` bytes: an empty segment whose first
    /// batch is larger than `segment_bytes`. Needs the mapping unshared (no views, no
    /// flush in flight), which holds for an empty segment.
    pub fn grow(&mut self, capacity: usize) -> Result<(), LogError> {
        let log = Arc::get_mut(&mut self.log).ok_or_else(|| {
            LogError::InvalidAppend("segment mapping is shared; cannot grow it".into())
        })?;
        log.set_capacity(capacity)?;
        Ok(())
    }

    /// Bytes of log between two index entries from now on.
    pub fn set_index_interval(&mut self, bytes: u32) {
        self.indexes.interval = bytes as usize;
    }

    /// Whether both indexes have room for an append of `batches` batches.
    pub fn can_index(&self, batches: usize) -> bool {
        self.indexes.have_room(batches)
    }

    /// Appends validated batches (`batches` describe `records`), assigning offsets from
    /// `first_offset` (which must be [`Self::next_offset`]). Either everything is
    /// written or nothing is.
    pub fn append(
        &mut self,
        records: &[u8],
        batches: &[BatchInfo],
        first_offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        if first_offset != self.next_offset {
            return Err(LogError::InvalidAppend(format!(
                "append at {first_offset} to a segment ending at {}",
                self.next_offset
            )));
        }
        let count: i64 = batches.iter().map(BatchInfo::offset_count).sum();
        let fits = self.log.len().saturating_add(records.len()) <= u32::MAX as usize
            && relative(self.base_offset, first_offset + count - 1).is_some();
        if !fits {
            return Err(LogError::InvalidAppend(format!(
                "append of {} bytes / {count} offsets does not fit segment {}",
                records.len(),
                self.base_offset
            )));
        }
        // Index space first: once the batches are published nothing may fail.
        self.indexes.offsets.reserve(batches.len())?;
        self.indexes.times.reserve(batches.len())?;
        let start = self
            .log
            .append_patched(records, &base_offsets(batches, first_offset))?;
        let mut offset = first_offset;
        for b in batches {
            self.indexes
                .add_batch(offset, start + b.position, b.size, b.max_timestamp);
            offset += b.offset_count();
        }
        self.next_offset = offset;
        self.roll_base_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// The header and size of the batch at `pos`, checked to lie within the log.
    pub(super) fn batch_at(&self, pos: usize) -> Result<(BatchHeader<'_>, usize), LogError> {
        let header = self
            .log
            .as_slice(pos, HEADER_LEN)
            .and_then(BatchHeader::new)
            .ok_or_else(|| corrupt(&self.log, format!("no batch header at {pos}")))?;
        let size = header
            .size()
            .filter(|s| pos + s <= self.log.len())
            .ok_or_else(|| corrupt(&self.log, format!("bad batch length at {pos}")))?;
        Ok((header, size))
    }

    /// The first batch at or after `from` whose last offset is >= `target`.
    fn find_batch(
        &self,
        target: i64,
        from: usize,
    ) -> Result<Option<(usize, i64, usize)>, LogError> {
        let mut pos = from;
        while pos < self.log.len() {
            let (header, size) = self.batch_at(pos)?;
            if header.last_offset() >= target {
                return Ok(Some((pos, header.base_offset(), size)));
            }
            pos += size;
        }
        Ok(None)
    }

    /// Whole batches from the one holding `start_offset`, up to `max_bytes` in total;
    /// with `min_one_batch` the first batch even when it alone is larger (KIP-74). None
    /// when `start_offset` is past this segment or nothing fits.
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Option<Bytes>, LogError> {
        if start_offset >= self.next_offset {
            return Ok(None);
        }
        let (_, from) = self.indexes.offsets.lookup(start_offset);
        let Some((start, _, first_size)) = self.find_batch(start_offset, from as usize)? else {
            return Ok(None);
        };
        if first_size > max_bytes && !min_one_batch {
            return Ok(None);
        }
        let mut end = start + first_size;
        // Batch starts in the offset index skip the walk over headers up to the
        // last one that fits: a megabyte of small batches has many headers.
        let limit = start.saturating_add(max_bytes);
        if let Some(p) = self.indexes.offsets.last_position_at_or_before(limit)
            && p as usize > end
            && p as usize <= self.log.len()
        {
            end = p as usize;
        }
        while end < self.log.len() {
            let (_, size) = self.batch_at(end)?;
            if end + size - start > max_bytes {
                break;
            }
            end += size;
        }
        Ok(self.log.slice(start, end - start))
    }

    /// Largest batch max timestamp in the segment and the first offset of its batch.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        (self.indexes.max_timestamp != NO_TIMESTAMP).then_some((
            self.indexes.max_timestamp,
            self.indexes.offset_of_max_timestamp,
        ))
    }

    /// [`Self::max_timestamp`] narrowed to the record that carries it (the batch's
    /// last offset only if its records do not parse).
    pub fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>, LogError> {
        let Some((ts, offset)) = self.max_timestamp() else {
            return Ok(None);
        };
        let (_, from) = self.indexes.offsets.lookup(offset);
        let Some((pos, base, size)) = self.find_batch(offset, from as usize)? else {
            return Ok(Some((ts, offset)));
        };
        let (header, _) = self.batch_at(pos)?;
        let batch = self.log.as_slice(pos, size).unwrap_or_default();
        Ok(Some(match first_record_at_or_after(batch, ts) {
            RecordScan::Found { offset_delta, .. } => {
                (ts, base.saturating_add(i64::from(offset_delta)))
            }
            RecordScan::Opaque => (ts, header.last_offset()),
            RecordScan::NotFound => (ts, base),
        }))
    }

    /// The first offset whose timestamp is >= `ts`, with that timestamp: the first
    /// batch whose max timestamp reaches `ts`, then its first record that does.
    /// A compressed batch is decompressed up to that record.
    pub fn find_offset_by_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        if self.indexes.max_timestamp == NO_TIMESTAMP || self.indexes.max_timestamp < ts {
            return Ok(None);
        }
        let start = self
            .indexes
            .times
            .lookup(ts)
            .map_or(self.base_offset, |(_, o)| o);
        let (_, from) = self.indexes.offsets.lookup(start);
        let mut pos = from as usize;
        while pos < self.log.len() {
            let (header, size) = self.batch_at(pos)?;
            if header.max_timestamp() >= ts {
                let batch = self.log.as_slice(pos, size).unwrap_or_default();
                match first_record_at_or_after(batch, ts) {
                    RecordScan::Found {
                        offset_delta,
                        timestamp,
                    } => {
                        return Ok(Some((
                            header.base_offset().saturating_add(i64::from(offset_delta)),
                            timestamp,
                        )));
                    }
                    RecordScan::Opaque => {
                        return Ok(Some((header.base_offset(), header.max_timestamp())));
                    }
                    RecordScan::NotFound => {}
                }
            }
            pos += size;
        }
        Ok(None)
    }

    /// Makes the segment read-only on disk: records the final max timestamp in the time
    /// index (as Kafka does on roll) and trims all three files to their content.
    pub fn seal(&mut self) -> Result<(), LogError> {
        if self.indexes.max_timestamp != NO_TIMESTAMP && self.indexes.times.remaining_entries() > 0
        {
            self.indexes.times.maybe_append(
                self.indexes.max_timestamp,
                self.indexes.offset_of_max_timestamp,
            )?;
        }
        self.log.trim()?;
        self.indexes.offsets.trim()?;
        self.indexes.times.trim()?;
        Ok(())
    }

    /// Forces the log and both indexes to disk.
    pub fn sync_all(&self) -> Result<(), LogError> {
        self.log.sync()?;
        self.indexes.offsets.sync()?;
        self.indexes.times.sync()?;
        Ok(())
    }

    /// Clean close: seal, then sync.
    pub fn close(&mut self) -> Result<(), LogError> {
        self.seal()?;
        self.sync_all()
    }

    /// Removes the segment's files. Views handed out earlier stay readable (the
    /// mapping outlives the unlinked file).
    pub fn delete(self) -> Result<(), LogError> {
        let dir = self.log.path().parent().unwrap_or(Path::new("."));
        let txn_index = dir.join(super::segment_file_name(self.base_offset, "txnindex"));
        for path in segment_paths(dir, self.base_offset)
            .into_iter()
            .chain(std::iter::once(txn_index))
        {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Rewrites each batch's `baseOffset` (its first 8 bytes) in the freshly copied bytes.
/// The baseOffset field of each batch, rewritten to the offset the log assigns.
fn base_offsets(batches: &[BatchInfo], first_offset: i64) -> Vec<(usize, [u8; 8])> {
    let mut offset = first_offset;
    batches
        .iter()
        .map(|b| {
            let patch = (b.position, offset.to_be_bytes());
            offset += b.offset_count();
            patch
        })
        .collect()
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
