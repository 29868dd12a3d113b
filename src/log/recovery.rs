//! Opening a segment, and the one place a damaged tail is repaired.
//!
//! Every open walks the batch headers from the last offset-index entry to the end of the
//! `.log`: that yields the segment's next offset and max timestamp, fills in index
//! entries missing after the last one (a short index), and rebuilds a missing index from
//! the start. Two modes:
//!
//! - **trust** (after a clean shutdown): files were trimmed, so every byte counts. The
//!   walk checks headers (length, magic, offset continuity) but not CRCs. Anything that
//!   does not add up (an untrimmed zero tail, an index entry that points elsewhere)
//!   switches to recovery.
//! - **recover** (after a crash): the `.log` may end in a torn batch or in the
//!   zero-filled reservation, the indexes in zeros or stale entries. Index entries are
//!   kept while they are plausible (increasing, inside the log); the walk starts at the
//!   newest entry whose batch checks out (its base offset matches, its CRC holds),
//!   validates length and CRC of every batch after it, and the log is truncated after
//!   the last good batch, the indexes after its offset.

use std::io;
use std::path::Path;
use std::sync::Arc;

use super::batch::{BatchHeader, CURRENT_MAGIC, validate_stored_batch};
use super::mmap::MappedFile;
use super::offset_index::OffsetIndex;
use super::segment::{Indexes, LOG_FIRST_STEP, LogSegment, segment_paths};
use super::time_index::TimeIndex;
use super::{LogConfig, LogError, NO_TIMESTAMP};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Trust,
    Recover,
}

/// Why a trusted open fell back to recovery.
struct NeedsRecovery(String);

impl LogSegment {
    /// Opens the segment at `base_offset` in `dir` with a `.log` capacity of at least
    /// `capacity` bytes. `recover` checks every batch after the last index entry and
    /// repairs the tail; without it the files are trusted, and recovery runs only when
    /// they turn out inconsistent.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        capacity: usize,
        recover: bool,
    ) -> Result<LogSegment, LogError> {
        if !recover {
            match load(dir, base_offset, config, capacity, Mode::Trust)? {
                Ok(segment) => return Ok(segment),
                Err(NeedsRecovery(why)) => {
                    tracing::warn!(dir = %dir.display(), segment = base_offset, %why, "recovering segment");
                }
            }
        }
        match load(dir, base_offset, config, capacity, Mode::Recover)? {
            Ok(segment) => Ok(segment),
            Err(NeedsRecovery(why)) => Err(LogError::Corrupt(why)),
        }
    }
}

/// Opens an index file, or creates it empty when it is missing (the walk rebuilds it).
fn open_or_create<T>(
    open: impl FnOnce() -> io::Result<T>,
    create: impl FnOnce() -> io::Result<T>,
) -> io::Result<(T, bool)> {
    match open() {
        Ok(index) => Ok((index, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((create()?, true)),
        Err(e) => Err(e),
    }
}

fn load(
    dir: &Path,
    base: i64,
    config: &LogConfig,
    capacity: usize,
    mode: Mode,
) -> Result<Result<LogSegment, NeedsRecovery>, LogError> {
    let [log_path, index_path, time_path] = segment_paths(dir, base);
    let index_bytes = config.segment_index_bytes;
    let mut log = MappedFile::open(&log_path, capacity, LOG_FIRST_STEP)?;
    let (mut offset_index, missing_offsets) = open_or_create(
        || OffsetIndex::open(&index_path, base, index_bytes),
        || OffsetIndex::create(&index_path, base, index_bytes),
    )?;
    let (mut time_index, missing_times) = open_or_create(
        || TimeIndex::open(&time_path, base, index_bytes),
        || TimeIndex::create(&time_path, base, index_bytes),
    )?;
    if missing_offsets || missing_times {
        // Rebuild both from the start: the max timestamp needs every batch.
        tracing::info!(dir = %dir.display(), segment = base, "rebuilding indexes");
        offset_index.truncate_entries(0)?;
        time_index.truncate_entries(0)?;
    }
    if mode == Mode::Recover {
        offset_index.truncate_entries(offset_index.sane_prefix(log.len()))?;
        time_index.truncate_entries(time_index.sane_prefix())?;
    } else if let Some(why) = tail_anomaly(&offset_index, &time_index, log.len()) {
        return Ok(Err(NeedsRecovery(why)));
    }

    let (start_offset, start_pos) = match find_start(&log, &offset_index, mode) {
        Ok(start) => start,
        Err(why) => return Ok(Err(why)),
    };
    if mode == Mode::Recover {
        offset_index.truncate_to(start_offset.saturating_add(1))?;
        time_index.truncate_to(start_offset)?;
    }

    let mut indexes = Indexes::new(offset_index, time_index, config);
    let (end, next_offset, contradiction) = walk(&mut indexes, &log, start_pos, start_offset, mode);
    if let Some(offset) = contradiction {
        return Ok(Err(NeedsRecovery(format!(
            "{}: last entry behind a larger timestamp at offset {offset}",
            time_path.display()
        ))));
    }
    if end < log.len() {
        if mode == Mode::Trust {
            return Ok(Err(NeedsRecovery(format!(
                "{}: {} bytes after the last whole batch at {end}",
                log_path.display(),
                log.len() - end
            ))));
        }
        tracing::warn!(
            file = %log_path.display(),
            valid = end,
            dropped = log.len() - end,
            "truncating torn or preallocated log tail"
        );
        log.truncate_to(end)?;
        indexes.offsets.truncate_to(next_offset)?;
        indexes.times.truncate_to(next_offset)?;
    }
    if let Some((_, offset)) = indexes.times.last_entry()
        && offset >= next_offset
    {
        if mode == Mode::Trust {
            return Ok(Err(NeedsRecovery(format!(
                "{}: entry at {offset} past the log end {next_offset}",
                time_path.display()
            ))));
        }
        indexes.times.truncate_to(next_offset)?;
    }
    // Entries the walk added grew the index files; give back what they reserved (a
    // no-op for files that were not touched).
    indexes.offsets.trim()?;
    indexes.times.trim()?;
    Ok(Ok(LogSegment {
        base_offset: base,
        roll_base_ms: first_batch_timestamp(&log),
        log: Arc::new(log),
        indexes,
        next_offset,
    }))
}

/// In trust mode, the cheap checks of the index tails: the last two entries ordered,
/// the last offset-index entry inside the log.
fn tail_anomaly(offsets: &OffsetIndex, times: &TimeIndex, log_len: usize) -> Option<String> {
    let n = offsets.entries();
    if n > 0 && offsets.sane_prefix_from(n.saturating_sub(2), log_len) < n {
        return Some(format!(
            "{}: implausible last entries",
            offsets.path().display()
        ));
    }
    let n = times.entries();
    if n >= 2 {
        let (prev, last) = (times.entry(n - 2), times.entry(n - 1));
        if let (Some((pt, po)), Some((t, o))) = (prev, last)
            && !(t > pt && o >= po)
        {
            return Some(format!(
                "{}: implausible last entries",
                times.path().display()
            ));
        }
    }
    None
}

/// Where the walk starts: the newest offset-index entry whose batch is really there
/// (base offset matches; in recover mode also the CRC), trying entries n-1, n-2, n-4,
/// ... so a damaged index costs few probes; else the segment's start.
fn find_start(
    log: &MappedFile,
    index: &OffsetIndex,
    mode: Mode,
) -> Result<(i64, usize), NeedsRecovery> {
    let n = index.entries();
    let mut back = 1;
    while back <= n {
        let i = n - back;
        if let Some((offset, pos)) = index.entry(i)
            && batch_checks_out(log, pos as usize, offset, mode)
        {
            return Ok((offset, pos as usize));
        }
        if mode == Mode::Trust {
            return Err(NeedsRecovery(format!(
                "{}: entry {i} does not point at its batch",
                index.path().display()
            )));
        }
        back = if i == 0 { n + 1 } else { (back * 2).min(n) };
    }
    Ok((index.base_offset(), 0))
}

fn batch_checks_out(log: &MappedFile, pos: usize, offset: i64, mode: Mode) -> bool {
    let rest = log
        .as_slice(pos, log.len().saturating_sub(pos))
        .unwrap_or_default();
    match mode {
        Mode::Trust => BatchHeader::new(rest).is_some_and(|h| {
            h.base_offset() == offset && h.size().is_some_and(|s| s <= rest.len())
        }),
        Mode::Recover => {
            BatchHeader::new(rest).is_some_and(|h| h.base_offset() == offset)
                && validate_stored_batch(rest).is_some()
        }
    }
}

/// Walks the batches from `pos` (holding offset `offset`), feeding each to the index
/// bookkeeping, and returns the end of the last good batch and the offset after it. A
/// batch is good when its header is whole, its length fits, its magic is 2, its base
/// offset is at or past the end of the previous batch (compacted segments have gaps),
/// and (recover mode) its CRC holds. In trust mode it also returns the offset of a
/// batch that contradicts the time index: the index's last entry is the max timestamp
/// up to the entry's offset, so no batch before that offset may carry a larger one.
/// (Recovery cuts the time index at the walk's start: nothing to contradict there.)
fn walk(
    indexes: &mut Indexes,
    log: &MappedFile,
    mut pos: usize,
    mut offset: i64,
    mode: Mode,
) -> (usize, i64, Option<i64>) {
    let indexed_max = indexes.times.last_entry().filter(|_| mode == Mode::Trust);
    let len = log.len();
    while pos < len {
        let rest = log.as_slice(pos, len - pos).unwrap_or_default();
        let Some(header) = BatchHeader::new(rest) else {
            break;
        };
        // Offsets may jump forward: the cleaner removes records, and whole batches.
        let good = header.base_offset() >= offset
            && match mode {
                Mode::Trust => {
                    header.magic() == CURRENT_MAGIC
                        && header.last_offset_delta() >= 0
                        && header.size().is_some_and(|s| s <= rest.len())
                }
                Mode::Recover => validate_stored_batch(rest).is_some(),
            };
        let Some(size) = header.size().filter(|_| good) else {
            break;
        };
        if let Some((ts, entry_offset)) = indexed_max
            && header.base_offset() < entry_offset
            && header.max_timestamp() > ts
        {
            return (pos, offset, Some(header.base_offset()));
        }
        indexes.add_batch(header.base_offset(), pos, size, header.max_timestamp());
        offset = header.last_offset().saturating_add(1);
        pos += size;
    }
    (pos, offset, None)
}

/// Kafka's roll clock for a reopened segment: its first batch's max timestamp.
fn first_batch_timestamp(log: &MappedFile) -> Option<i64> {
    log.as_slice(0, super::batch::HEADER_LEN)
        .and_then(BatchHeader::new)
        .map(|h| h.max_timestamp())
        .filter(|&ts| ts != NO_TIMESTAMP)
}

/// Finishes or undoes segment swaps the cleaner left behind (`cleaner.rs`), before the
/// segments are listed. A cleaned segment is written as `<base>.{log,index,timeindex}.cleaned`
/// and renamed to `.swap`, the `.log` last: a `<base>.log.swap` is the commit point.
///
/// - `*.cleaned`: an unfinished cleaning; removed (the old segment stays).
/// - `<base>.log.swap`: committed; it replaces `<base>.log`, and the indexes are
///   removed (whichever generation they are) so that the open rebuilds them from it.
/// - an index `.swap` without its `.log.swap`: an unfinished rename; removed.
pub(super) fn complete_swaps(dir: &Path) -> Result<(), LogError> {
    let mut committed = Vec::new();
    let mut leftovers = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".cleaned") {
            leftovers.push(path.clone());
        } else if let Some(stem) = name.strip_suffix(".log.swap") {
            committed.push(stem.to_string());
        } else if name.ends_with(".swap") {
            leftovers.push(path.clone());
        }
    }
    for stem in &committed {
        tracing::warn!(dir = %dir.display(), segment = %stem, "completing an interrupted segment swap");
        for ext in ["index", "timeindex", "index.swap", "timeindex.swap"] {
            remove_if_there(&dir.join(format!("{stem}.{ext}")))?;
        }
        std::fs::rename(
            dir.join(format!("{stem}.log.swap")),
            dir.join(format!("{stem}.log")),
        )?;
    }
    for path in leftovers {
        tracing::warn!(file = %path.display(), "removing a leftover of an interrupted cleaning");
        remove_if_there(&path)?;
    }
    Ok(())
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "recovery_tests.rs"]
mod tests;
