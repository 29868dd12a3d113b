//! Producer state snapshots, Kafka's `<offset>.snapshot` files: the producer
//! state of a partition as it stood once every batch below `offset` was
//! applied. A partition writes one when it rolls a segment and when it closes
//! cleanly; on open it loads the newest one at or below its log end and
//! replays only the batches after it, instead of the whole log.
//!
//! Layout (big-endian): version i16, CRC32C of the rest u32, producer count
//! i32, then per producer: id i64, epoch i16, last timestamp i64, open
//! transaction's first offset i64 (-1: none), batch count i8, and per cached
//! batch (oldest first): first sequence i32, last sequence i32, first offset
//! i64. Unlike Kafka's file, which keeps only each producer's last batch, all
//! five cached batches are kept, so a retry of any of them is still answered
//! with its offsets after a restart. A file that fails its CRC is ignored.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::state::{CACHED_BATCHES, CachedBatch, ProducerEntry, ProducerStateTable};

const VERSION: i16 = 1;
const SUFFIX: &str = ".snapshot";
/// Snapshots kept: the newest, and one before it in case recovery cuts the
/// log below the newest.
const KEPT: usize = 2;
const HEADER: usize = 2 + 4 + 4;
const ENTRY_FIXED: usize = 8 + 2 + 8 + 8 + 1;
const BATCH: usize = 4 + 4 + 8;

fn path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SUFFIX}"))
}

/// Writes the snapshot of `table` at `offset` (atomically: a temp file
/// renamed into place), then deletes all but the newest snapshots at or below
/// it and every one above it.
pub fn write(dir: &Path, offset: i64, table: &ProducerStateTable) -> io::Result<()> {
    let final_path = path(dir, offset);
    let tmp = final_path.with_extension("snapshot.tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&encode(table))?;
    drop(f);
    fs::rename(&tmp, &final_path)?;
    let mut offsets = list(dir)?;
    offsets.sort_unstable();
    let kept_from = offsets
        .iter()
        .rposition(|&o| o <= offset)
        .map_or(0, |newest| (newest + 1).saturating_sub(KEPT));
    for (i, &o) in offsets.iter().enumerate() {
        if i < kept_from || o > offset {
            remove(dir, o)?;
        }
    }
    Ok(())
}

/// Deletes every snapshot, so the next open rebuilds from the whole log.
pub fn delete_all(dir: &Path) -> io::Result<()> {
    for o in list(dir)? {
        remove(dir, o)?;
    }
    Ok(())
}

/// The newest readable snapshot at or below `max_offset`, with its offset.
pub fn load_latest(dir: &Path, max_offset: i64) -> Option<(i64, ProducerStateTable)> {
    let mut offsets = list(dir).ok()?;
    offsets.retain(|&o| o <= max_offset);
    offsets.sort_unstable();
    offsets.into_iter().rev().find_map(|o| {
        let bytes = fs::read(path(dir, o)).ok()?;
        match decode(&bytes) {
            Some(table) => Some((o, table)),
            None => {
                tracing::warn!(dir = %dir.display(), offset = o, "ignoring an unreadable producer state snapshot");
                None
            }
        }
    })
}

fn list(dir: &Path) -> io::Result<Vec<i64>> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(o) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|stem| stem.parse::<i64>().ok())
        {
            offsets.push(o);
        }
    }
    Ok(offsets)
}

fn remove(dir: &Path, offset: i64) -> io::Result<()> {
    match fs::remove_file(path(dir, offset)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn encode(table: &ProducerStateTable) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + table.producers.len() * (ENTRY_FIXED + 2 * BATCH));
    body.extend_from_slice(&(table.producers.len() as i32).to_be_bytes());
    let mut ids: Vec<_> = table.producers.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let Some(e) = table.producers.get(&id) else {
            continue;
        };
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(&e.epoch.to_be_bytes());
        body.extend_from_slice(&e.last_timestamp.to_be_bytes());
        body.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
        body.push(e.batches.len() as u8);
        for b in &e.batches {
            body.extend_from_slice(&b.first_seq.to_be_bytes());
            body.extend_from_slice(&b.last_seq.to_be_bytes());
            body.extend_from_slice(&b.first_offset.to_be_bytes());
        }
    }
    let mut out = Vec::with_capacity(6 + body.len());
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads big-endian fields off the front of a slice; None past its end.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn i8(&mut self) -> Option<i8> {
        self.take::<1>().map(i8::from_be_bytes)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
}

fn decode(bytes: &[u8]) -> Option<ProducerStateTable> {
    let mut c = Cursor(bytes);
    if c.i16()? != VERSION {
        return None;
    }
    let crc = c.take::<4>().map(u32::from_be_bytes)?;
    if bytes.len() < HEADER || crc32c::crc32c(&bytes[6..]) != crc {
        return None;
    }
    let count = usize::try_from(c.i32()?).ok()?;
    // A count the file cannot hold is corruption, not an allocation request.
    if count > c.0.len() / ENTRY_FIXED {
        return None;
    }
    let mut table = ProducerStateTable::default();
    for _ in 0..count {
        let id = c.i64()?;
        let epoch = c.i16()?;
        let last_timestamp = c.i64()?;
        let txn_first = c.i64()?;
        let batch_count = usize::try_from(c.i8()?).ok()?;
        if batch_count > CACHED_BATCHES {
            return None;
        }
        let mut batches = VecDeque::with_capacity(batch_count);
        for _ in 0..batch_count {
            batches.push_back(CachedBatch {
                first_seq: c.i32()?,
                last_seq: c.i32()?,
                first_offset: c.i64()?,
            });
        }
        let current_txn_first_offset = (txn_first >= 0).then_some(txn_first);
        if let Some(first) = current_txn_first_offset {
            table.ongoing.insert(first, id);
        }
        table.producers.insert(
            id,
            ProducerEntry {
                epoch,
                batches,
                current_txn_first_offset,
                last_timestamp,
            },
        );
    }
    c.0.is_empty().then_some(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Attributes, BatchInfo};

    fn batch(pid: i64, seq: i32, transactional: bool) -> BatchInfo {
        BatchInfo {
            position: 0,
            size: 100,
            record_count: 2,
            last_offset_delta: 1,
            base_timestamp: 5,
            max_timestamp: 7,
            attributes: Attributes(if transactional { 0x10 } else { 0 }),
            producer_id: pid,
            producer_epoch: 3,
            base_sequence: seq,
        }
    }

    fn table() -> ProducerStateTable {
        let mut t = ProducerStateTable::default();
        for i in 0..7 {
            t.record(&[batch(1, i * 2, false)], 100 + i as i64 * 2);
        }
        t.record(&[batch(2, 0, true)], 200);
        t
    }

    #[test]
    fn a_snapshot_reads_back_as_the_same_state() {
        let t = table();
        let back = decode(&encode(&t)).unwrap();
        assert_eq!(back.producers(), t.producers());
        assert_eq!(back.first_unstable_offset(), Some(200));
        // All five cached batches survive: a retry of the oldest is still a duplicate.
        let retry = batch(1, 4, false);
        assert_eq!(back.check(&[retry]), t.check(&[retry]));
        assert!(matches!(
            back.check(&[retry]),
            Ok(crate::producer::SequenceCheck::Duplicate { first_offset: 104 })
        ));
    }

    #[test]
    fn a_damaged_snapshot_is_refused() {
        let bytes = encode(&table());
        for cut in [0, 5, 10, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(decode(&flipped).is_none());
        // A huge count with a matching CRC allocates nothing and fails.
        let mut body = i32::MAX.to_be_bytes().to_vec();
        body.extend_from_slice(&[0; 3]);
        let mut lying = VERSION.to_be_bytes().to_vec();
        lying.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        lying.extend_from_slice(&body);
        assert!(decode(&lying).is_none());
    }

    #[test]
    fn the_newest_two_at_or_below_the_written_offset_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let t = table();
        for o in [10, 20, 30] {
            write(dir.path(), o, &t).unwrap();
        }
        fs::write(path(dir.path(), 99), b"from a log that was cut short").unwrap();
        write(dir.path(), 40, &t).unwrap();
        let mut left = list(dir.path()).unwrap();
        left.sort_unstable();
        assert_eq!(left, vec![30, 40]);
        assert_eq!(load_latest(dir.path(), 39).unwrap().0, 30);
        assert_eq!(load_latest(dir.path(), 1000).unwrap().0, 40);
        fs::write(path(dir.path(), 40), b"torn").unwrap();
        assert_eq!(load_latest(dir.path(), 1000).unwrap().0, 30);
        assert!(load_latest(dir.path(), 29).is_none());
        delete_all(dir.path()).unwrap();
        assert!(list(dir.path()).unwrap().is_empty());
    }
}
