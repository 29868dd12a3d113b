//! `log-start-offset-checkpoint`: every partition's log start offset, so that a start
//! moved by DeleteRecords (or retention) survives a restart. Kafka's file and format:
//!
//! ```text
//! 0                 version
//! 2                 number of entries
//! orders 0 1500     topic partition offset
//! orders 1 0
//! ```
//!
//! Written whole to a temporary file, synced, then renamed over the old one.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

pub const FILE_NAME: &str = "log-start-offset-checkpoint";
const VERSION: &str = "0";

/// (topic, partition) → log start offset.
pub type Checkpoint = HashMap<(String, i32), i64>;

/// Reads the checkpoint; a missing file is empty, a malformed one is ignored with a
/// warning (the log start then falls back to each log's first segment).
pub fn read(data_dir: &Path) -> Checkpoint {
    let path = data_dir.join(FILE_NAME);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(file = %path.display(), error = %e, "cannot read the log start checkpoint");
            }
            return Checkpoint::new();
        }
    };
    parse(&text).unwrap_or_else(|| {
        tracing::warn!(file = %path.display(), "ignoring a malformed log start checkpoint");
        Checkpoint::new()
    })
}

fn parse(text: &str) -> Option<Checkpoint> {
    let mut lines = text.lines();
    if lines.next()?.trim() != VERSION {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut out = Checkpoint::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let mut fields = lines.next()?.split_whitespace();
        let topic = fields.next()?.to_string();
        let partition = fields.next()?.parse().ok()?;
        let offset = fields.next()?.parse().ok()?;
        out.insert((topic, partition), offset);
    }
    Some(out)
}

/// Replaces the checkpoint with `entries`, atomically.
pub fn write(data_dir: &Path, entries: &[(String, i32, i64)]) -> io::Result<()> {
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for (topic, partition, offset) in entries {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    let path = data_dir.join(FILE_NAME);
    let tmp = data_dir.join(format!("{FILE_NAME}.tmp"));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    fs::File::open(data_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_empty());
        write(dir.path(), &[("a".into(), 0, 15), ("b.c".into(), 3, 0)]).unwrap();
        let c = read(dir.path());
        assert_eq!(c.len(), 2);
        assert_eq!(c[&("a".to_string(), 0)], 15);
        assert_eq!(c[&("b.c".to_string(), 3)], 0);
        fs::write(dir.path().join(FILE_NAME), "0\n5\na 0 1\n").unwrap();
        assert!(read(dir.path()).is_empty(), "truncated file is ignored");
    }
}
