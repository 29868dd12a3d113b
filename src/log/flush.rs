//! [`FlushTarget`]: what a flush must force to disk, taken under the partition lock and
//! synced outside it, so producers keep appending while `fdatasync` runs.

use std::sync::Arc;

use super::LogError;
use super::mmap::MappedFile;

/// The `.log` files holding writes not yet known to be on disk, and the log end offset
/// they cover. Index files are not synced here: recovery rebuilds them from the log.
#[derive(Debug, Default)]
pub struct FlushTarget {
    pub(super) files: Vec<Arc<MappedFile>>,
    pub(super) end_offset: i64,
}

impl FlushTarget {
    /// `fdatasync`s every file. Once it returns Ok, every offset below
    /// [`Self::end_offset`] is on disk; report that with `Log::mark_flushed`.
    pub fn sync(&self) -> Result<(), LogError> {
        for file in &self.files {
            file.sync()?;
        }
        Ok(())
    }

    /// The log end offset when the target was taken.
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// Whether there is nothing to sync.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
