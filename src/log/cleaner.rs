//! [`LogCleaner`]'s storage half: compaction of a log's sealed segments (Kafka's
//! `LogCleaner` / `Cleaner`), keeping the latest record of every key.
//!
//! Three steps, only the first and last under the partition lock:
//!
//! 1. [`Log::clean_job`] decides whether the log is worth cleaning and snapshots its
//!    cleanable segments (an `Arc` of each mapping): the sealed segments up to the first
//!    one younger than `min.compaction.lag.ms`. It is cleaned when the dirty part
//!    (segments not compacted since the broker started) is at least
//!    `min.cleanable.dirty.ratio` of them, or when a dirty segment started more than
//!    `max.compaction.lag.ms` ago.
//! 2. [`CleanJob::run`] (no lock) maps every key to its latest offset, then rewrites each
//!    segment that loses records to `<base>.{log,index,timeindex}.cleaned`: batches whose
//!    records all stay are copied as they are; the others are rebuilt uncompressed from
//!    their surviving records (base offset, offset deltas, base timestamp and producer
//!    fields kept, CRC32C recomputed); batches left empty are dropped, except a segment's
//!    last, kept empty so the segment still ends where it did. Tombstones go once their
//!    segment's newest timestamp is more than `delete.retention.ms` old. Control and
//!    transactional batches are kept as they are. Records without a key are dropped
//!    (Kafka counts them as invalid).
//! 3. [`Log::install_cleaned`] swaps each cleaned segment in, if the segment it was made
//!    from is still the one in the log: renames `.cleaned` to `.swap` (the `.log` last:
//!    its `.swap` is the commit point), then each `.swap` over its final name (the
//!    `.log` last), and maps the new files. Readers holding views of the old segment
//!    keep its (now unlinked) mapping. `recovery::complete_swaps` finishes or undoes a
//!    swap interrupted by a crash, so a segment is always either the old or the new one.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{BatchHeader, HEADER_LEN, rebuild_batch};
use super::mmap::MappedFile;
use super::offset_index::OffsetIndex;
use super::offset_map::OffsetMap;
use super::record::{RawRecord, parse_records, records_section};
use super::segment::{Indexes, LogSegment};
use super::throttler::Throttler;
use super::time_index::TimeIndex;
use super::{Log, LogConfig, LogError, NO_TIMESTAMP, segment_file_name};

/// The compaction settings of one topic (Kafka's topic config names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerConfig {
    /// `delete.retention.ms`
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`
    pub min_cleanable_ratio: f64,
    /// `min.compaction.lag.ms`
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`
    pub max_compaction_lag_ms: i64,
}

/// What one cleaning did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanStats {
    /// Partitions cleaned (a pass over many partitions adds them up).
    pub partitions_cleaned: u64,
    pub segments_read: usize,
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// The sealed segments one cleaning works on, snapshotted under the partition lock.
pub struct CleanJob {
    dir: PathBuf,
    config: LogConfig,
    segments: Vec<Snapshot>,
    /// The end of the last segment of the job: the log is clean below it afterwards.
    end_offset: i64,
}

struct Snapshot {
    base: i64,
    log: Arc<MappedFile>,
    largest_timestamp: i64,
}

/// A cleaned segment written next to the one it replaces, not yet swapped in.
pub struct Cleaned {
    base: i64,
    /// The mapping it was made from: the swap happens only if the log still has it.
    from: Arc<MappedFile>,
}

/// What happens to one batch.
enum Outcome {
    Keep,
    Drop,
    Rebuilt(Vec<u8>, i64),
}

fn cleaned_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{}.cleaned", segment_file_name(base, ext)))
}

fn swap_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{}.swap", segment_file_name(base, ext)))
}

/// The extensions in the order they are renamed: the `.log` last, as the commit point.
const EXTS: [&str; 3] = ["index", "timeindex", "log"];

fn remove_cleaned(dir: &Path, base: i64) {
    for ext in EXTS {
        let _ = fs::remove_file(cleaned_path(dir, base, ext));
    }
}

impl Log {
    /// The cleaning this log needs at `now_ms`, if any (see the module docs).
    pub fn clean_job(&self, now_ms: i64, config: &CleanerConfig) -> Option<CleanJob> {
        if self.deleted {
            return None;
        }
        let (mut dirty, mut total, mut force) = (0u64, 0u64, false);
        let mut segments = Vec::new();
        let mut end_offset = self.log_start_offset;
        for segment in self.sealed.values() {
            if segment.next_offset() <= self.log_start_offset {
                continue;
            }
            let largest_timestamp = segment.largest_timestamp();
            if now_ms.saturating_sub(largest_timestamp) < config.min_compaction_lag_ms {
                break;
            }
            let size = segment.size() as u64;
            total += size;
            if segment.next_offset() > self.first_dirty_offset {
                dirty += size;
                force |= segment.roll_base_ms().is_some_and(|first| {
                    now_ms.saturating_sub(first) > config.max_compaction_lag_ms
                });
            }
            end_offset = segment.next_offset();
            segments.push(Snapshot {
                base: segment.base_offset(),
                log: Arc::clone(segment.log_file()),
                largest_timestamp,
            });
        }
        let ratio = if total == 0 {
            0.0
        } else {
            dirty as f64 / total as f64
        };
        if dirty == 0 || (ratio < config.min_cleanable_ratio && !force) {
            return None;
        }
        Some(CleanJob {
            dir: self.dir.clone(),
            config: self.config.clone(),
            segments,
            end_offset,
        })
    }

    /// Swaps cleaned segments in (see the module docs) and marks the job's offsets
    /// clean. Returns how many were swapped; the others are discarded.
    pub fn install_cleaned(
        &mut self,
        job: &CleanJob,
        cleaned: Vec<Cleaned>,
    ) -> Result<usize, LogError> {
        let mut swapped = 0;
        for c in cleaned {
            let current = self
                .sealed
                .get(&c.base)
                .is_some_and(|s| Arc::ptr_eq(s.log_file(), &c.from));
            if self.deleted || !current {
                remove_cleaned(&self.dir, c.base);
                continue;
            }
            for ext in EXTS {
                fs::rename(
                    cleaned_path(&self.dir, c.base, ext),
                    swap_path(&self.dir, c.base, ext),
                )?;
            }
            for ext in EXTS {
                fs::rename(
                    swap_path(&self.dir, c.base, ext),
                    self.dir.join(segment_file_name(c.base, ext)),
                )?;
            }
            let segment = LogSegment::open(&self.dir, c.base, &self.config, 0, false)?;
            // The old segment's files were replaced by the renames; dropping it unmaps
            // them once no reader holds a view.
            self.sealed.insert(c.base, segment);
            swapped += 1;
        }
        self.first_dirty_offset = self.first_dirty_offset.max(job.end_offset);
        Ok(swapped)
    }

    /// Marks the job's offsets clean when it found nothing to rewrite.
    pub fn mark_cleaned(&mut self, job: &CleanJob) {
        self.first_dirty_offset = self.first_dirty_offset.max(job.end_offset);
    }
}

/// Every batch of a segment's log bytes: (position, header, whole batch).
fn batches(data: &[u8]) -> impl Iterator<Item = (usize, BatchHeader<'_>, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = data.get(pos..)?;
        let header = BatchHeader::new(rest)?;
        let size = header
            .size()
            .filter(|&s| s >= HEADER_LEN && s <= rest.len())?;
        let at = pos;
        pos += size;
        Some((at, header, &rest[..size]))
    })
}

/// Batches the cleaner never touches (and whose keys do not count).
fn is_untouchable(header: &BatchHeader<'_>) -> bool {
    let a = header.attributes();
    a.is_control() || a.is_transactional()
}

impl CleanJob {
    /// The first offset after the segments of this job.
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// Writes the cleaned segments (no lock needed: it reads the snapshot), holding
    /// the bytes read and written to `throttler`'s rate. On error nothing is left
    /// behind.
    pub fn run(
        &self,
        now_ms: i64,
        config: &CleanerConfig,
        throttler: &Throttler,
    ) -> Result<(Vec<Cleaned>, CleanStats), LogError> {
        let map = self.offset_map(throttler)?;
        let mut stats = CleanStats {
            segments_read: self.segments.len(),
            ..CleanStats::default()
        };
        let mut out = Vec::new();
        for segment in &self.segments {
            let drop_tombstones =
                now_ms.saturating_sub(segment.largest_timestamp) > config.delete_retention_ms;
            match self.clean_segment(segment, &map, drop_tombstones, throttler, &mut stats) {
                Ok(Some(c)) => out.push(c),
                Ok(None) => {}
                Err(e) => {
                    remove_cleaned(&self.dir, segment.base);
                    for c in out {
                        remove_cleaned(&self.dir, c.base);
                    }
                    return Err(e);
                }
            }
        }
        Ok((out, stats))
    }

    /// Every key of the job's segments with the offset of its latest record.
    fn offset_map(&self, throttler: &Throttler) -> Result<OffsetMap, LogError> {
        let mut map = OffsetMap::default();
        for segment in &self.segments {
            let data = segment
                .log
                .as_slice(0, segment.log.len())
                .unwrap_or_default();
            for (_, header, batch) in batches(data) {
                throttle(throttler, batch.len())?;
                if is_untouchable(&header) {
                    continue;
                }
                let Ok(section) = records_section(batch) else {
                    continue;
                };
                let Ok(records) = parse_records(&section, header.records_count()) else {
                    continue;
                };
                for r in records {
                    if let Some(key) = r.key {
                        map.put(key, header.base_offset() + i64::from(r.offset_delta));
                    }
                }
            }
        }
        Ok(map)
    }

    fn clean_segment(
        &self,
        segment: &Snapshot,
        map: &OffsetMap,
        drop_tombstones: bool,
        throttler: &Throttler,
        stats: &mut CleanStats,
    ) -> Result<Option<Cleaned>, LogError> {
        let data = segment
            .log
            .as_slice(0, segment.log.len())
            .unwrap_or_default();
        let mut outcomes = Vec::new();
        let mut changed = false;
        let mut removed = 0u64;
        for (pos, header, batch) in batches(data) {
            throttle(throttler, batch.len())?;
            let last = pos + batch.len() == data.len();
            let (outcome, n) = filter_batch(&header, batch, map, drop_tombstones, last);
            changed |= !matches!(outcome, Outcome::Keep);
            removed += n;
            outcomes.push((header.base_offset(), header.max_timestamp(), batch, outcome));
        }
        stats.bytes_before += data.len() as u64;
        if !changed {
            stats.bytes_after += data.len() as u64;
            return Ok(None);
        }
        let mut writer = SegmentWriter::create(&self.dir, segment.base, &self.config)?;
        for (base, max_ts, batch, outcome) in outcomes {
            let written = match outcome {
                Outcome::Keep => writer.write(base, batch, max_ts).map(|()| batch.len())?,
                Outcome::Rebuilt(bytes, max_ts) => {
                    writer.write(base, &bytes, max_ts).map(|()| bytes.len())?
                }
                Outcome::Drop => 0,
            };
            throttle(throttler, written)?;
        }
        stats.bytes_after += writer.finish()? as u64;
        stats.segments_rewritten += 1;
        stats.records_removed += removed;
        Ok(Some(Cleaned {
            base: segment.base,
            from: Arc::clone(&segment.log),
        }))
    }
}

/// Counts bytes read or written against the throttle; an error once it is stopped.
fn throttle(throttler: &Throttler, bytes: usize) -> Result<(), LogError> {
    throttler.maybe_throttle(bytes as u64);
    match throttler.is_stopped() {
        true => Err(LogError::CleaningAborted),
        false => Ok(()),
    }
}

/// Decides one batch's fate; also returns how many records it loses.
fn filter_batch(
    header: &BatchHeader<'_>,
    batch: &[u8],
    map: &OffsetMap,
    drop_tombstones: bool,
    last_of_segment: bool,
) -> (Outcome, u64) {
    if is_untouchable(header) {
        return (Outcome::Keep, 0);
    }
    let parsed = records_section(batch).and_then(|section| {
        let records = parse_records(&section, header.records_count())?;
        let keep: Vec<RawRecord<'_>> = records
            .iter()
            .filter(|r| {
                let offset = header.base_offset() + i64::from(r.offset_delta);
                r.key.is_some_and(|k| map.get(k) == Some(offset))
                    && !(r.is_tombstone && drop_tombstones)
            })
            .copied()
            .collect();
        let removed = (records.len() - keep.len()) as u64;
        if removed == 0 {
            return Ok((Outcome::Keep, 0));
        }
        if keep.is_empty() && !last_of_segment {
            return Ok((Outcome::Drop, removed));
        }
        let max_ts = if header.attributes().is_log_append_time() || keep.is_empty() {
            header.max_timestamp()
        } else {
            keep.iter()
                .map(|r| header.base_timestamp().saturating_add(r.timestamp_delta))
                .max()
                .unwrap_or(NO_TIMESTAMP)
        };
        let bytes: Vec<&[u8]> = keep.iter().map(|r| r.bytes).collect();
        Ok((
            Outcome::Rebuilt(rebuild_batch(batch, &bytes, max_ts), max_ts),
            removed,
        ))
    });
    parsed.unwrap_or_else(|e| {
        tracing::warn!(offset = header.base_offset(), error = %e, "cleaner keeps a batch it cannot read");
        (Outcome::Keep, 0)
    })
}

/// Writes a cleaned segment's `.cleaned` files, indexing it as appends do.
struct SegmentWriter {
    file: BufWriter<File>,
    position: usize,
    indexes: Indexes,
}

impl SegmentWriter {
    fn create(dir: &Path, base: i64, config: &LogConfig) -> Result<SegmentWriter, LogError> {
        let created = (|| -> std::io::Result<SegmentWriter> {
            let file =
                BufWriter::with_capacity(1 << 20, File::create(cleaned_path(dir, base, "log"))?);
            let offsets = OffsetIndex::create(
                &cleaned_path(dir, base, "index"),
                base,
                config.segment_index_bytes,
            )?;
            let times = TimeIndex::create(
                &cleaned_path(dir, base, "timeindex"),
                base,
                config.segment_index_bytes,
            )?;
            Ok(SegmentWriter {
                file,
                position: 0,
                indexes: Indexes::new(offsets, times, config),
            })
        })();
        created.map_err(|e| {
            remove_cleaned(dir, base);
            e.into()
        })
    }

    fn write(&mut self, base_offset: i64, batch: &[u8], max_ts: i64) -> Result<(), LogError> {
        self.file.write_all(batch)?;
        self.indexes
            .add_batch(base_offset, self.position, batch.len(), max_ts);
        self.position += batch.len();
        Ok(())
    }

    /// Flushes and syncs everything; returns the log's size.
    fn finish(mut self) -> Result<usize, LogError> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        let ix = &mut self.indexes;
        if ix.max_timestamp != NO_TIMESTAMP && ix.times.remaining_entries() > 0 {
            ix.times
                .maybe_append(ix.max_timestamp, ix.offset_of_max_timestamp)?;
        }
        for index in [
            ix.offsets.trim(),
            ix.times.trim(),
            ix.offsets.sync(),
            ix.times.sync(),
        ] {
            index?;
        }
        Ok(self.position)
    }
}

#[cfg(test)]
#[path = "cleaner_tests.rs"]
mod tests;
