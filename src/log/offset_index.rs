//! [`OffsetIndex`]: a segment's `.index` file, in Kafka's on-disk format.
//!
//! Sparse: one 8-byte entry every `index_interval_bytes` of log, each the offset of a
//! batch relative to the segment's base offset (4 bytes) and the batch's position in the
//! `.log` (4 bytes), big-endian. Both columns strictly increase. This broker indexes a
//! batch by its first offset (Kafka 3.x writes the batch's last offset); either way a
//! look-up lands on a batch at or before the one holding the target, and the reader
//! scans forward from there.

use std::io;
use std::path::Path;

use super::LogError;
use super::mmap::MappedFile;

/// Size of one entry.
pub const ENTRY_SIZE: usize = 8;
/// First reservation of an index file; later ones double.
const FIRST_STEP: usize = 64 << 10;

/// Capacity of an index file of at most `max_bytes`: whole entries, at least one.
pub(crate) fn index_capacity(max_bytes: u32, entry_size: usize) -> usize {
    (max_bytes as usize / entry_size).max(1) * entry_size
}

/// Reads a big-endian integer field out of an entry.
pub(crate) fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut out = [0; 4];
    if let Some(src) = b.get(at..at + 4) {
        out.copy_from_slice(src);
    }
    u32::from_be_bytes(out)
}

pub(crate) fn relative(base_offset: i64, offset: i64) -> Option<u32> {
    offset
        .checked_sub(base_offset)
        .and_then(|r| i32::try_from(r).ok())
        .and_then(|r| u32::try_from(r).ok())
}

pub struct OffsetIndex {
    base_offset: i64,
    file: MappedFile,
}

impl OffsetIndex {
    /// Creates an empty index file of at most `max_bytes`.
    pub fn create(path: &Path, base_offset: i64, max_bytes: u32) -> io::Result<OffsetIndex> {
        let capacity = index_capacity(max_bytes, ENTRY_SIZE);
        let file = MappedFile::create(path, capacity, FIRST_STEP.min(capacity))?;
        Ok(OffsetIndex { base_offset, file })
    }

    /// Opens an index file; every whole entry in it counts (see [`Self::sane_prefix`]
    /// for files that may hold a preallocated tail).
    pub fn open(path: &Path, base_offset: i64, max_bytes: u32) -> io::Result<OffsetIndex> {
        let capacity = index_capacity(max_bytes, ENTRY_SIZE);
        let mut file = MappedFile::open(path, capacity, FIRST_STEP.min(capacity))?;
        let whole = file.len() / ENTRY_SIZE * ENTRY_SIZE;
        if whole != file.len() {
            file.truncate_to(whole)?;
        }
        Ok(OffsetIndex { base_offset, file })
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Number of entries.
    pub fn entries(&self) -> usize {
        self.file.len() / ENTRY_SIZE
    }

    /// Entries that still fit.
    pub fn remaining_entries(&self) -> usize {
        self.file.remaining() / ENTRY_SIZE
    }

    /// Entry `i` as (absolute offset, position).
    pub fn entry(&self, i: usize) -> Option<(i64, u32)> {
        let b = self.file.as_slice(i.checked_mul(ENTRY_SIZE)?, ENTRY_SIZE)?;
        let offset = self.base_offset.saturating_add(i64::from(be_u32(b, 0)));
        Some((offset, be_u32(b, 4)))
    }

    pub fn last_entry(&self) -> Option<(i64, u32)> {
        self.entries().checked_sub(1).and_then(|i| self.entry(i))
    }

    /// All entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        (0..self.entries()).filter_map(|i| self.entry(i))
    }

    /// Reserves disk space for `n` more entries (as many as fit).
    pub fn reserve(&self, n: usize) -> io::Result<()> {
        self.file
            .reserve_additional(n.min(self.remaining_entries()) * ENTRY_SIZE)
    }

    /// Adds an entry. Offsets and positions must increase; the index must not be full.
    pub fn append(&mut self, offset: i64, position: u32) -> Result<(), LogError> {
        let rel = relative(self.base_offset, offset).ok_or_else(|| {
            LogError::InvalidAppend(format!(
                "offset {offset} out of the index range of base {}",
                self.base_offset
            ))
        })?;
        if let Some((last_offset, last_pos)) = self.last_entry()
            && (offset <= last_offset || position <= last_pos)
        {
            return Err(LogError::InvalidAppend(format!(
                "index entry ({offset}, {position}) after ({last_offset}, {last_pos})"
            )));
        }
        if self.remaining_entries() == 0 {
            return Err(LogError::InvalidAppend("offset index is full".into()));
        }
        let mut entry = [0u8; ENTRY_SIZE];
        entry[..4].copy_from_slice(&rel.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.file.append(&entry)?;
        Ok(())
    }

    /// The entry to start a scan for `target` from: the last entry whose offset is
    /// <= `target`, or (base offset, 0) when there is none.
    ///
    /// Even over entries that are not sorted (a damaged file) the answer is an entry
    /// whose offset is <= `target`, so a forward scan from it stays correct.
    pub fn lookup(&self, target: i64) -> (i64, u32) {
        let (mut lo, mut hi) = (0, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some((offset, _)) if offset <= target => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1)
            .and_then(|i| self.entry(i))
            .unwrap_or((self.base_offset, 0))
    }

    /// The position of the last entry at or before `position` (entries are batch
    /// starts): the batches from any earlier batch start up to it are whole.
    pub fn last_position_at_or_before(&self, position: usize) -> Option<u32> {
        let (mut lo, mut hi) = (0, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some((_, p)) if p as usize <= position => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1)
            .and_then(|i| self.entry(i))
            .map(|(_, p)| p)
    }

    /// Removes every entry whose offset is >= `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let keep = self.iter().take_while(|&(o, _)| o < offset).count();
        self.truncate_entries(keep)
    }

    /// Keeps only the first `n` entries.
    pub fn truncate_entries(&mut self, n: usize) -> io::Result<()> {
        if n < self.entries() {
            self.file.truncate_to(n * ENTRY_SIZE)?;
        }
        Ok(())
    }

    /// How many leading entries are plausible for a log of `log_len` bytes: offsets and
    /// positions strictly increasing, positions inside the log. A preallocated
    /// (zero-filled) tail ends the run at its first entry.
    pub fn sane_prefix(&self, log_len: usize) -> usize {
        self.sane_prefix_from(0, log_len)
    }

    /// Like [`Self::sane_prefix`], checking only from entry `from` on: the index of the
    /// first implausible entry at or after `from`, or the number of entries.
    pub fn sane_prefix_from(&self, from: usize, log_len: usize) -> usize {
        let mut prev: Option<(i64, u32)> = None;
        for i in from..self.entries() {
            let Some((offset, position)) = self.entry(i) else {
                return i;
            };
            let in_log = (position as usize) < log_len;
            let increasing = prev.is_none_or(|(po, pp)| offset > po && position > pp);
            let in_range = offset - self.base_offset <= i64::from(i32::MAX);
            if !(in_log && increasing && in_range) {
                return i;
            }
            prev = Some((offset, position));
        }
        self.entries()
    }

    /// Shrinks the file to its entries.
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

    fn index_with(entries: &[(i64, u32)]) -> (tempfile::TempDir, OffsetIndex) {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = OffsetIndex::create(&dir.path().join("0.index"), 100, 4096).unwrap();
        for &(o, p) in entries {
            idx.append(o, p).unwrap();
        }
        (dir, idx)
    }

    #[test]
    fn lookup_finds_the_largest_entry_at_or_below() {
        let (_d, idx) = index_with(&[(110, 500), (120, 1000), (135, 1700)]);
        assert_eq!(idx.lookup(100), (100, 0));
        assert_eq!(idx.lookup(109), (100, 0));
        assert_eq!(idx.lookup(110), (110, 500));
        assert_eq!(idx.lookup(119), (110, 500));
        assert_eq!(idx.lookup(134), (120, 1000));
        assert_eq!(idx.lookup(10_000), (135, 1700));
        let (_d, empty) = index_with(&[]);
        assert_eq!(empty.lookup(150), (100, 0));
    }

    #[test]
    fn finds_the_last_position_at_or_before() {
        let (_d, idx) = index_with(&[(110, 500), (120, 1000), (135, 1700)]);
        assert_eq!(idx.last_position_at_or_before(499), None);
        assert_eq!(idx.last_position_at_or_before(500), Some(500));
        assert_eq!(idx.last_position_at_or_before(1699), Some(1000));
        assert_eq!(idx.last_position_at_or_before(usize::MAX), Some(1700));
    }

    #[test]
    fn refuses_out_of_order_out_of_range_and_overflow() {
        let (_d, mut idx) = index_with(&[(110, 500)]);
        assert!(idx.append(110, 600).is_err());
        assert!(idx.append(111, 500).is_err());
        assert!(idx.append(99, 600).is_err());
        assert!(idx.append(100 + i64::from(i32::MAX) + 1, 600).is_err());
        let dir = tempfile::tempdir().unwrap();
        let mut tiny = OffsetIndex::create(&dir.path().join("t"), 0, 16).unwrap();
        tiny.append(1, 1).unwrap();
        tiny.append(2, 2).unwrap();
        assert_eq!(tiny.remaining_entries(), 0);
        assert!(tiny.append(3, 3).is_err());
    }

    #[test]
    fn truncate_and_reopen_in_kafka_format() {
        let (dir, mut idx) = index_with(&[(110, 500), (120, 1000), (135, 1700)]);
        idx.truncate_to(120).unwrap();
        assert_eq!(idx.iter().collect::<Vec<_>>(), vec![(110, 500)]);
        idx.append(125, 900).unwrap();
        idx.trim().unwrap();
        drop(idx);
        let path = dir.path().join("0.index");
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw, [0, 0, 0, 10, 0, 0, 1, 244, 0, 0, 0, 25, 0, 0, 3, 132]);
        let idx = OffsetIndex::open(&path, 100, 4096).unwrap();
        assert_eq!(idx.iter().collect::<Vec<_>>(), vec![(110, 500), (125, 900)]);
    }

    #[test]
    fn sane_prefix_stops_at_a_zero_tail_or_an_entry_past_the_log() {
        let (dir, idx) = index_with(&[(110, 500), (120, 1000)]);
        drop(idx); // not trimmed: the reservation is zeros
        let idx = OffsetIndex::open(&dir.path().join("0.index"), 100, 4096).unwrap();
        assert!(idx.entries() > 2);
        assert_eq!(idx.sane_prefix(5000), 2);
        assert_eq!(idx.sane_prefix(1000), 1);
        assert_eq!(idx.sane_prefix(500), 0);
    }
}
