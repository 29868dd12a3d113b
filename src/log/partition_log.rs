//! [`Log`]: one partition's ordered segments in `<data_dir>/<topic>-<partition>/`.
//!
//! The newest segment is the active one; all appends go there, and it rolls to a fresh
//! segment when an append would overflow `segment_bytes`, when `segment_ms` has passed
//! since its first append, or when its indexes are full. Older segments are sealed
//! (trimmed, read-only). Offsets are contiguous from the log start to the log end.
//! Callers serialize access (the partition lock); nothing here blocks on another thread
//! except [`FlushTarget::sync`], which is meant to run outside that lock.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::batch::{BatchInfo, MIN_BATCH_LENGTH};
use super::flush::FlushTarget;
use super::offset_index::relative;
use super::segment::LogSegment;
use super::{LogConfig, LogError};

/// One partition's log.
pub struct Log {
    pub(super) dir: PathBuf,
    pub(super) config: LogConfig,
    pub(super) sealed: BTreeMap<i64, LogSegment>,
    pub(super) active: LogSegment,
    /// Offsets below this are known to be on disk.
    recovery_point: i64,
    pub(super) deleted: bool,
    /// The first offset readers may see (Kafka's logStartOffset): the first segment's
    /// base offset, or further in after DeleteRecords (`retention.rs`).
    pub(super) log_start_offset: i64,
    /// Offsets below this were compacted by the last cleaning (`cleaner.rs`); kept in
    /// memory only, so after a restart the whole log counts as dirty.
    pub(super) first_dirty_offset: i64,
    /// Segments rolled since the log was opened.
    segment_rolls: u64,
}

/// The offsets an append was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
}

impl Log {
    /// Opens (creating if needed) the log in `dir`. After an unclean shutdown the newest
    /// segment is recovered (and the one before it when the newest is empty: a crash
    /// right after a roll); older segments were trimmed when they were rolled.
    pub fn open(dir: &Path, config: LogConfig, clean_shutdown: bool) -> Result<Log, LogError> {
        fs::create_dir_all(dir)?;
        super::recovery::complete_swaps(dir)?;
        let bases = list_segments(dir)?;
        let capacity = config.segment_capacity();
        let Some((&newest, older)) = bases.split_last() else {
            let active = LogSegment::create(dir, 0, &config, capacity)?;
            return Ok(Log::new(dir, config, BTreeMap::new(), active, 0));
        };
        let mut active = LogSegment::open(dir, newest, &config, capacity, !clean_shutdown)?;
        let mut recovery_point = active.next_offset();
        let mut sealed = BTreeMap::new();
        let mut older = older.to_vec();
        if !clean_shutdown {
            recovery_point = active.base_offset();
            let prev_base = if active.is_empty() { older.pop() } else { None };
            if let Some(prev_base) = prev_base {
                let mut prev = LogSegment::open(dir, prev_base, &config, capacity, true)?;
                recovery_point = prev_base;
                if prev.next_offset() == active.base_offset() {
                    prev.seal()?;
                    sealed.insert(prev_base, prev);
                } else {
                    // Recovery cut the previous segment short: the empty newest segment
                    // would leave a hole in the offsets, so the previous one takes over.
                    tracing::warn!(dir = %dir.display(), "dropping empty segment {newest} after a truncated one");
                    std::mem::replace(&mut active, prev).delete()?;
                }
            }
        }
        for base in older {
            sealed.insert(base, LogSegment::open(dir, base, &config, 0, false)?);
        }
        let log = Log::new(dir, config, sealed, active, recovery_point);
        log.warn_on_gaps();
        Ok(log)
    }

    fn new(
        dir: &Path,
        config: LogConfig,
        sealed: BTreeMap<i64, LogSegment>,
        active: LogSegment,
        recovery_point: i64,
    ) -> Log {
        let log_start_offset = sealed
            .values()
            .next()
            .map_or(active.base_offset(), LogSegment::base_offset);
        Log {
            dir: dir.to_path_buf(),
            config,
            sealed,
            active,
            recovery_point,
            deleted: false,
            log_start_offset,
            first_dirty_offset: log_start_offset,
            segment_rolls: 0,
        }
    }

    fn warn_on_gaps(&self) {
        let mut prev: Option<&LogSegment> = None;
        for seg in self.segments() {
            if let Some(p) = prev
                && p.next_offset() != seg.base_offset()
            {
                tracing::warn!(dir = %self.dir.display(), ends = p.next_offset(), next = seg.base_offset(), "offset gap between segments");
            }
            prev = Some(seg);
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Changes the settings at run time: the size and age limits apply from the next
    /// append, the index interval at once; the active segment keeps the index files
    /// it was created with, so a new `segment_index_bytes` applies from the next roll.
    pub fn set_config(&mut self, config: LogConfig) {
        self.active.set_index_interval(config.index_interval_bytes);
        self.config = config;
    }

    /// All segments, oldest first; the last is the active one.
    pub fn segments(&self) -> impl Iterator<Item = &LogSegment> {
        self.sealed.values().chain(std::iter::once(&self.active))
    }

    /// The first offset readers may see (Kafka's logStartOffset).
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next append gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active.next_offset()
    }

    /// Bytes of log over all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments().map(|s| s.size() as u64).sum()
    }

    pub fn segment_rolls(&self) -> u64 {
        self.segment_rolls
    }

    /// Appends validated batches (`batches` from [`super::validate_batches`] over the
    /// same `records`), assigning offsets from the log end. `now_ms` drives time-based
    /// rolling. No per-record work: one memcpy plus an 8-byte patch per batch.
    pub fn append(
        &mut self,
        records: &[u8],
        batches: &[BatchInfo],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        if self.deleted {
            return Err(LogError::Deleted);
        }
        let count = check_batches(records, batches)?;
        let base_offset = self.log_end_offset();
        let last_offset = base_offset
            .checked_add(count - 1)
            .ok_or_else(|| LogError::InvalidAppend("offset overflow".into()))?;
        self.make_room(records.len(), batches.len(), last_offset, now_ms)?;
        self.active.append(records, batches, base_offset, now_ms)?;
        Ok(AppendInfo {
            base_offset,
            last_offset,
        })
    }

    /// Rolls first when the active segment cannot take this append (Kafka's
    /// `shouldRoll`); an empty segment never rolls, it grows to fit an oversized batch.
    fn make_room(
        &mut self,
        len: usize,
        batches: usize,
        last_offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let a = &self.active;
        let full = a.size().saturating_add(len) > self.config.segment_capacity()
            || a.remaining() < len
            || !a.can_index(batches)
            || relative(a.base_offset(), last_offset).is_none();
        let old = a
            .roll_base_ms()
            .is_some_and(|t| now_ms.saturating_sub(t) > self.config.segment_ms_i64());
        if !a.is_empty() && (full || old) {
            self.roll(len)
        } else if a.remaining() < len {
            self.active.grow(len)
        } else {
            Ok(())
        }
    }

    /// Seals the active segment and starts a new one at the log end with room for at
    /// least `min_capacity` bytes (a single batch larger than `segment_bytes` gets a
    /// segment of its own).
    fn roll(&mut self, min_capacity: usize) -> Result<(), LogError> {
        let base = self.log_end_offset();
        let capacity = self.config.segment_capacity().max(min_capacity);
        let fresh = LogSegment::create(&self.dir, base, &self.config, capacity)?;
        let mut old = std::mem::replace(&mut self.active, fresh);
        tracing::debug!(dir = %self.dir.display(), from = old.base_offset(), to = base, "rolled segment");
        let sealed = old.seal();
        self.sealed.insert(old.base_offset(), old);
        self.segment_rolls += 1;
        sealed
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (at least one
    /// batch with `min_one_batch`), as a view of the mapping. `Ok(None)` at the log end
    /// (or when nothing fits); OffsetOutOfRange below the log start or past the end.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Option<Bytes>, LogError> {
        let (log_start, log_end) = (self.log_start_offset(), self.log_end_offset());
        if offset < log_start || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        for segment in self.segments_from(offset) {
            if offset < segment.next_offset() {
                return segment.read(offset, max_bytes, min_one_batch);
            }
        }
        Ok(None)
    }

    /// The segment that may hold `offset` and every later one.
    pub fn segments_from(&self, offset: i64) -> impl Iterator<Item = &LogSegment> {
        let from = if offset >= self.active.base_offset() {
            self.active.base_offset()
        } else {
            self.sealed
                .range(..=offset)
                .next_back()
                .map_or(i64::MIN, |(&base, _)| base)
        };
        self.sealed
            .range(from..)
            .map(|(_, s)| s)
            .chain(std::iter::once(&self.active))
    }

    /// The first offset whose timestamp is >= `ts`, with that timestamp (ListOffsets by
    /// timestamp), compressed batches included.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        for segment in self.segments() {
            if segment.max_timestamp().is_some_and(|(max, _)| max >= ts)
                && let Some(found) = segment.find_offset_by_timestamp(ts)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset of the first record carrying it
    /// (ListOffsets -3), compressed batches included.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let mut best: Option<(&LogSegment, i64)> = None;
        for segment in self.segments() {
            if let Some((ts, _)) = segment.max_timestamp()
                && best.is_none_or(|(_, b)| ts > b)
            {
                best = Some((segment, ts));
            }
        }
        let (segment, _) = best?;
        segment.max_timestamp_record().unwrap_or_else(|e| {
            tracing::warn!(dir = %self.dir.display(), error = %e, "max timestamp look-up");
            segment.max_timestamp()
        })
    }

    /// The files holding writes not yet known to be on disk, with the end offset they
    /// cover. Take it under the partition lock; [`FlushTarget::sync`] outside it; then
    /// [`Self::mark_flushed`].
    pub fn flush_target(&self) -> FlushTarget {
        let files = self
            .segments()
            .filter(|s| !s.is_empty() && s.next_offset() > self.recovery_point)
            .map(|s| Arc::clone(s.log_file()))
            .collect();
        FlushTarget {
            files,
            end_offset: self.log_end_offset(),
        }
    }

    /// Records that every offset below `offset` is on disk.
    pub fn mark_flushed(&mut self, offset: i64) {
        self.recovery_point = self.recovery_point.max(offset);
    }

    /// Offsets below this are known to be on disk.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Clean close: trims the active segment and syncs everything not yet on disk. The
    /// log stays usable (a later append reserves space again).
    pub fn close(&mut self) -> Result<(), LogError> {
        if self.deleted {
            return Ok(());
        }
        for segment in self.sealed.values() {
            if segment.next_offset() > self.recovery_point {
                segment.sync_all()?;
            }
        }
        self.active.close()?;
        self.recovery_point = self.log_end_offset();
        Ok(())
    }

    /// Removes the log's directory. Views handed out earlier stay readable; the log
    /// refuses appends from now on.
    pub fn delete(&mut self) -> Result<(), LogError> {
        self.deleted = true;
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Checks that `batches` tile `records` exactly; returns the number of offsets.
fn check_batches(records: &[u8], batches: &[BatchInfo]) -> Result<i64, LogError> {
    let mut pos = 0;
    let mut count = 0i64;
    for b in batches {
        if b.position != pos || b.size < MIN_BATCH_LENGTH || b.last_offset_delta < 0 {
            return Err(LogError::InvalidAppend(format!(
                "batch at {} does not follow the previous one",
                b.position
            )));
        }
        pos = pos.saturating_add(b.size);
        count = count.saturating_add(b.offset_count());
    }
    if batches.is_empty() || pos != records.len() {
        return Err(LogError::InvalidAppend(format!(
            "{} batches cover {pos} of {} bytes",
            batches.len(),
            records.len()
        )));
    }
    Ok(count)
}

/// Base offsets of the segments in `dir`, sorted. Index files without their `.log`
/// (left by a crash mid-roll or mid-delete) are removed.
fn list_segments(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Some(base) = parse_base(stem) else {
            continue;
        };
        match ext {
            "log" => bases.push(base),
            "index" | "timeindex" | "txnindex" => indexes.push((base, entry.path())),
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in indexes {
        if bases.binary_search(&base).is_err() {
            tracing::warn!(file = %path.display(), "removing index without a log");
            fs::remove_file(&path)?;
        }
    }
    Ok(bases)
}

fn parse_base(stem: &str) -> Option<i64> {
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

#[cfg(test)]
#[path = "partition_log_tests.rs"]
mod tests;
