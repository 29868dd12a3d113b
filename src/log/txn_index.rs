//! The aborted-transactions index (Kafka's `.txnindex`): for each ABORT marker a
//! segment holds, one 34-byte entry, version 0: producer id (8), first offset of
//! the aborted transaction (8), offset of its marker (8), and the last stable
//! offset once it was aborted (8). A read_committed Fetch hands the entries that
//! overlap the fetched range to the client, which drops the aborted records.
//!
//! The entries are derived data: the partition rebuilds them from the log on
//! every open (producer state replay), rewriting any file that differs, so a
//! crash between a marker and its index entry loses nothing.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::segment_file_name;

const VERSION: i16 = 0;
pub const ENTRY_SIZE: usize = 34;

/// One aborted transaction (Kafka's AbortedTxn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of the ABORT marker.
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn decode(b: &[u8]) -> io::Result<AbortedTxn> {
        let field = |at: usize| -> io::Result<i64> {
            b.get(at..at + 8)
                .and_then(|s| s.try_into().ok())
                .map(i64::from_be_bytes)
                .ok_or_else(|| io::Error::other("short .txnindex entry"))
        };
        if b.get(..2) != Some(&VERSION.to_be_bytes()[..]) {
            return Err(io::Error::other("unknown .txnindex entry version"));
        }
        Ok(AbortedTxn {
            producer_id: field(2)?,
            first_offset: field(10)?,
            last_offset: field(18)?,
            last_stable_offset: field(26)?,
        })
    }

    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        b[0..2].copy_from_slice(&VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }
}

/// Every aborted transaction of one log, in marker order, with its `.txnindex` files.
#[derive(Debug)]
pub struct TransactionIndex {
    dir: PathBuf,
    entries: Vec<AbortedTxn>,
}

fn path(dir: &Path, segment_base: i64) -> PathBuf {
    dir.join(segment_file_name(segment_base, "txnindex"))
}

impl TransactionIndex {
    /// The index of the log in `dir`, from the entries its replay found: `(base
    /// offset of the segment holding the marker, entry)`, in log order. Files whose
    /// bytes differ from what the entries say are rewritten; stray ones removed.
    pub fn rebuild(dir: &Path, found: Vec<(i64, AbortedTxn)>) -> io::Result<TransactionIndex> {
        let mut expected: std::collections::BTreeMap<i64, Vec<u8>> = Default::default();
        for (base, txn) in &found {
            expected.entry(*base).or_default().extend(txn.encode());
        }
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".txnindex")) else {
                continue;
            };
            let keep = stem.parse::<i64>().is_ok_and(|b| expected.contains_key(&b));
            if !keep {
                fs::remove_file(entry.path())?;
            }
        }
        for (base, bytes) in &expected {
            let p = path(dir, *base);
            if fs::read(&p).ok().as_deref() != Some(&bytes[..]) {
                fs::write(&p, bytes)?;
            }
        }
        Ok(TransactionIndex::new(dir, found))
    }

    /// The index in memory only (when its files cannot be rewritten).
    /// Every entry of the `.txnindex` files in `dir`, with its segment's base
    /// offset, in offset order. A file that is not whole entries is an error.
    pub fn read_all(dir: &Path) -> io::Result<Vec<(i64, AbortedTxn)>> {
        let mut bases = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            if let Some(base) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".txnindex"))
                .and_then(|stem| stem.parse::<i64>().ok())
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut all = Vec::new();
        for base in bases {
            let bytes = fs::read(path(dir, base))?;
            if bytes.len() % ENTRY_SIZE != 0 {
                return Err(io::Error::other(format!(
                    "{} is not whole entries",
                    path(dir, base).display()
                )));
            }
            for chunk in bytes.chunks_exact(ENTRY_SIZE) {
                all.push((base, AbortedTxn::decode(chunk)?));
            }
        }
        Ok(all)
    }

    pub fn new(dir: &Path, found: Vec<(i64, AbortedTxn)>) -> TransactionIndex {
        TransactionIndex {
            dir: dir.to_path_buf(),
            entries: found.into_iter().map(|(_, t)| t).collect(),
        }
    }

    /// Records an ABORT marker appended to the segment starting at `segment_base`.
    pub fn append(&mut self, segment_base: i64, txn: AbortedTxn) -> io::Result<()> {
        self.entries.push(txn);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path(&self.dir, segment_base))?;
        f.write_all(&txn.encode())
    }

    /// The aborted transactions that overlap `[from, upper)`: their marker is at or
    /// after `from` and their first record before `upper`.
    /// Makes the segment's `.txnindex` durable before a producer state snapshot
    /// past it is written (the snapshot means its entries are never rebuilt).
    pub fn sync(&self, segment_base: i64) -> io::Result<()> {
        match fs::File::open(path(&self.dir, segment_base)) {
            Ok(f) => f.sync_data(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn collect(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        // Markers are in offset order: skip those before `from` by binary search.
        let start = self.entries.partition_point(|t| t.last_offset < from);
        self.entries[start..]
            .iter()
            .filter(|t| t.first_offset < upper)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn entries_are_kafkas_34_bytes_and_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TransactionIndex::rebuild(dir.path(), Vec::new()).unwrap();
        index.append(0, txn(7, 3, 9)).unwrap();
        index.append(10, txn(8, 11, 12)).unwrap();
        let bytes = fs::read(path(dir.path(), 0)).unwrap();
        assert_eq!(bytes.len(), ENTRY_SIZE);
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(i64::from_be_bytes(bytes[2..10].try_into().unwrap()), 7);
        assert_eq!(i64::from_be_bytes(bytes[10..18].try_into().unwrap()), 3);
        assert_eq!(i64::from_be_bytes(bytes[18..26].try_into().unwrap()), 9);
        assert_eq!(i64::from_be_bytes(bytes[26..34].try_into().unwrap()), 10);
        assert_eq!(index.collect(0, 100), vec![txn(7, 3, 9), txn(8, 11, 12)]);
        assert_eq!(index.collect(10, 100), vec![txn(8, 11, 12)]);
        assert_eq!(index.collect(0, 5), vec![txn(7, 3, 9)]);
        // A lost file comes back, a stray one goes.
        fs::remove_file(path(dir.path(), 10)).unwrap();
        fs::write(path(dir.path(), 20), b"junk").unwrap();
        let index =
            TransactionIndex::rebuild(dir.path(), vec![(0, txn(7, 3, 9)), (10, txn(8, 11, 12))])
                .unwrap();
        assert_eq!(
            fs::read(path(dir.path(), 10)).unwrap(),
            txn(8, 11, 12).encode()
        );
        assert!(!path(dir.path(), 20).exists());
        assert_eq!(index.collect(0, i64::MAX).len(), 2);
        assert_eq!(
            TransactionIndex::read_all(dir.path()).unwrap(),
            vec![(0, txn(7, 3, 9)), (10, txn(8, 11, 12))]
        );
        fs::write(path(dir.path(), 30), b"junk").unwrap();
        assert!(TransactionIndex::read_all(dir.path()).is_err());
    }
}
