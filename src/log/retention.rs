//! Retention: which whole segments leave the log, and the log start offset.
//!
//! As in Kafka's `UnifiedLog.deleteOldSegments`, only a prefix of the sealed segments
//! is ever deleted (never the active one), for three reasons:
//!
//! - the segment lies wholly below the log start offset (after DeleteRecords);
//! - `retention.ms`: its largest timestamp (the file's modification time when it holds
//!   no timestamps) is more than `retention.ms` old;
//! - `retention.bytes`: the log is larger than `retention.bytes` even without it.
//!
//! The log start offset moves to the first remaining segment (or stays further in, after
//! DeleteRecords). Segments are taken out of the log under the partition lock and
//! handed back; their files are unlinked by the caller outside the lock
//! ([`LogSegment::delete`]). Readers holding views of them keep reading the mapping.

use std::time::UNIX_EPOCH;

use super::segment::LogSegment;
use super::{Log, LogError};

/// What retention keeps of a log; -1 is unlimited (Kafka's topic configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `retention.ms`
    pub retention_ms: i64,
    /// `retention.bytes`
    pub retention_bytes: i64,
}

impl RetentionPolicy {
    /// Keeps everything (a topic whose `cleanup.policy` lacks `delete`).
    pub const KEEP_ALL: RetentionPolicy = RetentionPolicy {
        retention_ms: -1,
        retention_bytes: -1,
    };
}

impl LogSegment {
    /// The segment's largest timestamp as retention sees it (Kafka's
    /// `largestTimestamp`): the largest batch max timestamp, else the file's mtime.
    pub fn largest_timestamp(&self) -> i64 {
        if let Some((ts, _)) = self.max_timestamp() {
            return ts;
        }
        std::fs::metadata(self.log.path())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64)
    }
}

impl Log {
    /// Takes out the sealed segments that retention deletes at `now_ms` (see the module
    /// docs) and moves the log start offset past them. The caller deletes their files.
    pub fn take_expired_segments(
        &mut self,
        now_ms: i64,
        policy: &RetentionPolicy,
    ) -> Vec<LogSegment> {
        if self.deleted {
            return Vec::new();
        }
        let mut excess = if policy.retention_bytes >= 0 {
            self.size_bytes() as i64 - policy.retention_bytes
        } else {
            i64::MIN
        };
        let mut count = 0;
        for segment in self.sealed.values() {
            let size = segment.size() as i64;
            let below_start = segment.next_offset() <= self.log_start_offset;
            let expired = policy.retention_ms >= 0
                && now_ms.saturating_sub(segment.largest_timestamp()) > policy.retention_ms;
            let too_big = policy.retention_bytes >= 0 && excess - size >= 0;
            if !(below_start || expired || too_big) {
                break;
            }
            excess = excess.saturating_sub(size);
            count += 1;
        }
        self.take_first_segments(count)
    }

    /// Moves the log start offset to `offset` (DeleteRecords; never backwards) and takes
    /// out the sealed segments wholly below it. Returns the new log start offset and the
    /// segments, whose files the caller deletes. OffsetOutOfRange past the log end.
    pub fn delete_records_before(
        &mut self,
        offset: i64,
    ) -> Result<(i64, Vec<LogSegment>), LogError> {
        let log_end = self.log_end_offset();
        if offset < 0 || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end,
            });
        }
        if self.deleted {
            return Err(LogError::Deleted);
        }
        self.log_start_offset = self.log_start_offset.max(offset);
        let count = self
            .sealed
            .values()
            .take_while(|s| s.next_offset() <= self.log_start_offset)
            .count();
        Ok((self.log_start_offset, self.take_first_segments(count)))
    }

    /// Restores a log start offset saved before a restart (Kafka's
    /// log-start-offset-checkpoint), clamped to the log, and takes out the segments
    /// wholly below it (a crash between the checkpoint and their deletion).
    pub fn restore_log_start_offset(&mut self, offset: i64) -> Vec<LogSegment> {
        let clamped = offset.min(self.log_end_offset());
        self.log_start_offset = self.log_start_offset.max(clamped);
        self.first_dirty_offset = self.first_dirty_offset.max(self.log_start_offset);
        let count = self
            .sealed
            .values()
            .take_while(|s| s.next_offset() <= self.log_start_offset)
            .count();
        self.take_first_segments(count)
    }

    /// Removes the `count` oldest sealed segments from the log; the log start offset
    /// moves to the first segment left if that is further on.
    fn take_first_segments(&mut self, count: usize) -> Vec<LogSegment> {
        let bases: Vec<i64> = self.sealed.keys().take(count).copied().collect();
        let taken: Vec<LogSegment> = bases.iter().filter_map(|b| self.sealed.remove(b)).collect();
        let first_base = self.segments().next().map(LogSegment::base_offset);
        if let Some(base) = first_base {
            self.log_start_offset = self.log_start_offset.max(base);
        }
        self.first_dirty_offset = self.first_dirty_offset.max(self.log_start_offset);
        if !taken.is_empty() {
            tracing::info!(
                dir = %self.dir.display(),
                segments = taken.len(),
                log_start_offset = self.log_start_offset,
                "segments leave the log"
            );
        }
        taken
    }
}

/// Unlinks the files of segments taken out of a log, logging failures.
pub fn delete_segments(segments: Vec<LogSegment>) {
    for segment in segments {
        let path = segment.log_file().path().to_path_buf();
        if let Err(e) = segment.delete() {
            tracing::warn!(file = %path.display(), error = %e, "deleting segment files");
        }
    }
}

#[cfg(test)]
#[path = "retention_tests.rs"]
mod tests;
