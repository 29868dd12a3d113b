//! Producer id allocation, as Kafka's ProducerIdManager does it: ids are taken
//! from blocks, and the end of the current block is on disk before any id of
//! it is handed out, so no id is ever given twice, across restarts included.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const FILE: &str = "producer_ids";
const BLOCK: i64 = 1000;

pub struct ProducerIdManager {
    path: PathBuf,
    /// (next id to hand out, end of the block persisted on disk)
    next: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    pub fn open(data_dir: &Path) -> io::Result<ProducerIdManager> {
        let path = data_dir.join(FILE);
        let start = match fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .find_map(|l| l.strip_prefix("next_block_start="))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} is damaged", path.display()),
                    )
                })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        // Nothing of the block starting at `start` has been handed out yet, but
        // claim it on disk before the first id is given.
        Ok(ProducerIdManager {
            path,
            next: Mutex::new((start, start)),
        })
    }

    /// A producer id never handed out before.
    pub fn next_id(&self) -> io::Result<i64> {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        if next.0 >= next.1 {
            let end = next.0 + BLOCK;
            persist(&self.path, end)?;
            next.1 = end;
        }
        let id = next.0;
        next.0 += 1;
        Ok(id)
    }
}

fn persist(path: &Path, next_block_start: i64) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        writeln!(f, "version=1\nnext_block_start={next_block_start}")?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerIdManager::open(dir.path()).unwrap();
        let first: Vec<i64> = (0..1500).map(|_| m.next_id().unwrap()).collect();
        assert_eq!(first, (0..1500).collect::<Vec<_>>());
        drop(m);
        let m = ProducerIdManager::open(dir.path()).unwrap();
        let after = m.next_id().unwrap();
        assert!(after >= 1500, "{after} was handed out before");
    }
}
