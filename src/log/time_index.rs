//! [`TimeIndex`]: a segment's `.timeindex` file, in Kafka's on-disk format.
//!
//! 12-byte entries, big-endian: the largest timestamp seen so far in the segment
//! (8 bytes) and the offset of the batch that carries it, relative to the segment's base
//! (4 bytes). An entry is added next to each offset-index entry when the max timestamp
//! grew since the last entry, and once more when the segment is sealed, so the last
//! entry holds the segment's max timestamp. Timestamps strictly increase, offsets never
//! decrease. This broker stores the batch's first offset (Kafka 3.x: its last).

use std::io;
use std::path::Path;

use super::LogError;
use super::mmap::MappedFile;
use super::offset_index::{be_u32, index_capacity, relative};

/// Size of one entry.
pub const ENTRY_SIZE: usize = 12;
const FIRST_STEP: usize = 64 << 10;

pub struct TimeIndex {
    base_offset: i64,
    file: MappedFile,
}

impl TimeIndex {
    pub fn create(path: &Path, base_offset: i64, max_bytes: u32) -> io::Result<TimeIndex> {
        let capacity = index_capacity(max_bytes, ENTRY_SIZE);
        let file = MappedFile::create(path, capacity, FIRST_STEP.min(capacity))?;
        Ok(TimeIndex { base_offset, file })
    }

    /// Opens a time index; every whole entry counts (see [`Self::sane_prefix`]).
    pub fn open(path: &Path, base_offset: i64, max_bytes: u32) -> io::Result<TimeIndex> {
        let capacity = index_capacity(max_bytes, ENTRY_SIZE);
        let mut file = MappedFile::open(path, capacity, FIRST_STEP.min(capacity))?;
        let whole = file.len() / ENTRY_SIZE * ENTRY_SIZE;
        if whole != file.len() {
            file.truncate_to(whole)?;
        }
        Ok(TimeIndex { base_offset, file })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn entries(&self) -> usize {
        self.file.len() / ENTRY_SIZE
    }

    pub fn remaining_entries(&self) -> usize {
        self.file.remaining() / ENTRY_SIZE
    }

    /// Entry `i` as (timestamp, absolute offset).
    pub fn entry(&self, i: usize) -> Option<(i64, i64)> {
        let b = self.file.as_slice(i.checked_mul(ENTRY_SIZE)?, ENTRY_SIZE)?;
        let mut ts = [0; 8];
        ts.copy_from_slice(b.get(..8)?);
        Some((
            i64::from_be_bytes(ts),
            self.base_offset.saturating_add(i64::from(be_u32(b, 8))),
        ))
    }

    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.entries().checked_sub(1).and_then(|i| self.entry(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        (0..self.entries()).filter_map(|i| self.entry(i))
    }

    /// Reserves disk space for `n` more entries (as many as fit).
    pub fn reserve(&self, n: usize) -> io::Result<()> {
        self.file
            .reserve_additional(n.min(self.remaining_entries()) * ENTRY_SIZE)
    }

    /// Adds `(timestamp, offset)` if `timestamp` is larger than the last entry's.
    /// Returns whether it was added. The offset must not go backwards; the index must
    /// not be full.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> Result<bool, LogError> {
        if let Some((last_ts, last_offset)) = self.last_entry() {
            if timestamp <= last_ts {
                return Ok(false);
            }
            if offset < last_offset {
                return Err(LogError::InvalidAppend(format!(
                    "time index offset {offset} before {last_offset}"
                )));
            }
        }
        let rel = relative(self.base_offset, offset).ok_or_else(|| {
            LogError::InvalidAppend(format!(
                "offset {offset} out of the time index range of base {}",
                self.base_offset
            ))
        })?;
        if self.remaining_entries() == 0 {
            return Err(LogError::InvalidAppend("time index is full".into()));
        }
        let mut entry = [0u8; ENTRY_SIZE];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&rel.to_be_bytes());
        self.file.append(&entry)?;
        Ok(true)
    }

    /// The entry to start a search for "the first offset whose timestamp is >= `ts`"
    /// from: the last entry whose timestamp is strictly below `ts`, or None (start at
    /// the segment's beginning).
    ///
    /// Strictly below, unlike Kafka's `<=`: every batch up to and including the entry's
    /// batch then has timestamps below `ts`, so nothing before the entry can be the
    /// answer.
    pub fn lookup(&self, ts: i64) -> Option<(i64, i64)> {
        let (mut lo, mut hi) = (0, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some((t, _)) if t < ts => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1).and_then(|i| self.entry(i))
    }

    /// Removes every entry whose offset is >= `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let keep = self.iter().take_while(|&(_, o)| o < offset).count();
        self.truncate_entries(keep)
    }

    pub fn truncate_entries(&mut self, n: usize) -> io::Result<()> {
        if n < self.entries() {
            self.file.truncate_to(n * ENTRY_SIZE)?;
        }
        Ok(())
    }

    /// How many leading entries are plausible: timestamps strictly increasing, offsets
    /// not decreasing and in range. A zero-filled tail ends the run.
    pub fn sane_prefix(&self) -> usize {
        let mut prev: Option<(i64, i64)> = None;
        let mut n = 0;
        for (ts, offset) in self.iter() {
            let ordered = prev.is_none_or(|(pt, po)| ts > pt && offset >= po);
            let in_range = offset - self.base_offset <= i64::from(i32::MAX);
            if !(ordered && in_range) {
                break;
            }
            prev = Some((ts, offset));
            n += 1;
        }
        n
    }

    pub fn trim(&self) -> io::Result<()> {
        self.file.trim()
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_only_growing_timestamps_and_looks_up_strictly_below() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let mut idx = TimeIndex::create(&path, 50, 4096).unwrap();
        assert!(idx.maybe_append(1000, 50).unwrap());
        assert!(!idx.maybe_append(1000, 60).unwrap(), "not larger");
        assert!(idx.maybe_append(2000, 60).unwrap());
        assert!(idx.maybe_append(3000, 75).unwrap());
        assert!(idx.maybe_append(4000, 70).is_err(), "offset went back");
        assert_eq!(idx.lookup(500), None);
        assert_eq!(idx.lookup(1000), None);
        assert_eq!(idx.lookup(1001), Some((1000, 50)));
        assert_eq!(idx.lookup(2500), Some((2000, 60)));
        assert_eq!(idx.lookup(9999), Some((3000, 75)));
        assert_eq!(idx.last_entry(), Some((3000, 75)));

        idx.truncate_to(60).unwrap();
        assert_eq!(idx.iter().collect::<Vec<_>>(), vec![(1000, 50)]);
        idx.trim().unwrap();
        drop(idx);
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw.len(), 12);
        assert_eq!(&raw[..8], &1000i64.to_be_bytes());
        assert_eq!(&raw[8..], &0u32.to_be_bytes());
    }

    #[test]
    fn sane_prefix_ends_at_the_zero_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let mut idx = TimeIndex::create(&path, 0, 4096).unwrap();
        idx.maybe_append(10, 1).unwrap();
        idx.maybe_append(20, 5).unwrap();
        drop(idx);
        let idx = TimeIndex::open(&path, 0, 4096).unwrap();
        assert!(idx.entries() > 2);
        assert_eq!(idx.sane_prefix(), 2);
    }
}
