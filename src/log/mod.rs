//! The storage layer: one partition's log on disk, laid out as Apache Kafka lays it out.
//!
//! A partition lives in `<data_dir>/<topic>-<partition>/` as a run of segments, each
//! three files named after the segment's base offset (20 digits):
//!
//! - `<base>.log`: record batches (magic v2) exactly as produced, with only
//!   `baseOffset` rewritten to the offset the log assigned;
//! - `<base>.index`: sparse offset index, 8-byte entries (offset relative to the base,
//!   position in the `.log`), one every `index_interval_bytes` of log;
//! - `<base>.timeindex`: 12-byte entries (max timestamp so far, relative offset).
//!
//! Files are memory mapped ([`MappedFile`], the only module with `unsafe`); their disk
//! space is reserved ahead of the write position so a full disk is an error, never a
//! SIGBUS, and they are trimmed to the written length on roll and on clean close.
//!
//! The pieces, one job each:
//!
//! - [`batch`]: zero-copy view of a record batch header and produce-path validation;
//! - [`record`]: the one place records are decoded (timestamp look-ups, keys of batches
//!   for compacted topics, through the streaming codecs of `decompress`);
//! - [`OffsetIndex`], [`TimeIndex`]: the two index files;
//! - [`TransactionIndex`]: the aborted transactions (`.txnindex`), rebuilt on open;
//! - [`LogSegment`]: one segment: append, read, timestamp look-ups, seal;
//! - `recovery`: opening a segment, checking it and repairing a torn tail;
//! - [`Log`]: one partition's ordered segments: offsets, rolling, reads, flushing;
//! - `retention`: which whole segments leave the log, and the log start offset;
//! - `cleaner`: compaction of the sealed segments (latest record per key);
//! - [`FlushTarget`]: what a flush syncs, taken under the lock and synced outside it.
//!
//! The produce path never decodes records: [`validate_batches`] checks headers, lengths,
//! magic and CRC32C, then [`Log::append`] assigns offsets and copies the bytes in with a
//! single memcpy. Fetch hands out [`bytes::Bytes`] views of the mapping.
//!
//! Durability: an append is in the page cache when it returns, so a process crash loses
//! nothing acknowledged; recovery on the next unclean open cuts a torn tail. Forcing it
//! to disk is the caller's choice: [`Log::flush_target`] (under the partition lock),
//! [`FlushTarget::sync`] (`fdatasync` of the `.log` files, outside the lock), then
//! [`Log::mark_flushed`]. Indexes are synced only on close; after a power loss they are
//! checked and rebuilt from the log. After a crash only the newest segment (and the one
//! before, if the newest is empty) has its CRCs checked; older ones were trimmed at roll
//! and get the cheaper header walk of their tail. There is no recovery-point checkpoint
//! (Kafka's `recovery-point-offset-checkpoint`) yet.

pub mod batch;
mod cleaner;
mod decompress;
mod flush;
mod mmap;
mod offset_index;
mod offset_map;
mod partition_log;
mod recompress;
pub mod record;
mod recovery;
mod retention;
mod segment;
mod throttler;
mod time_index;
mod txn_index;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use batch::{Attributes, BatchError, BatchHeader, BatchInfo, validate_batches};
pub use cleaner::{CleanJob, CleanStats, Cleaned, CleanerConfig};
pub use flush::FlushTarget;
pub use mmap::MappedFile;
pub use offset_index::OffsetIndex;
pub use partition_log::{AppendInfo, Log};
pub use recompress::{RecompressError, codec_of, recompress};
pub use retention::{RetentionPolicy, delete_segments};
pub use segment::LogSegment;
pub use throttler::{Clock, SystemClock, Throttler, UNLIMITED as CLEANER_IO_UNLIMITED};
pub use time_index::TimeIndex;
pub use txn_index::{AbortedTxn, TransactionIndex};

/// Settings of one partition's log (Kafka's topic-level names in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment before the active one would exceed this size
    /// (`segment.bytes`, default 1 GiB).
    pub segment_bytes: u64,
    /// Roll once this long has passed since the active segment's first append
    /// (`segment.ms`, default 7 days).
    pub segment_ms: u64,
    /// Bytes of log between two offset-index entries (`index.interval.bytes`, default 4096).
    pub index_interval_bytes: u32,
    /// Maximum size of one `.index` / `.timeindex` file (`segment.index.bytes`,
    /// default 10 MiB); a full index rolls the segment.
    pub segment_index_bytes: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 << 20,
        }
    }
}

impl LogConfig {
    /// Largest segment this log writes: positions in the index are 32-bit, and Kafka
    /// caps `segment.bytes` at `i32::MAX`.
    pub(crate) fn segment_capacity(&self) -> usize {
        self.segment_bytes.clamp(1, i32::MAX as u64) as usize
    }

    /// `segment.ms` as a signed duration, saturating.
    pub(crate) fn segment_ms_i64(&self) -> i64 {
        i64::try_from(self.segment_ms).unwrap_or(i64::MAX)
    }
}

/// Errors of the storage layer. The api layer maps each to one Kafka error code.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file operation failed (KAFKA_STORAGE_ERROR).
    #[error("log i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Stored bytes are not what the log wrote (a batch header or index that does not
    /// add up). Found on read; recovery repairs such tails on open.
    #[error("corrupt log: {0}")]
    Corrupt(String),
    /// A read below the log start or past the log end (OFFSET_OUT_OF_RANGE).
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    /// The caller broke an append precondition (batches that do not describe the
    /// records, offsets that overflow). Nothing was written.
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// The log was deleted; nothing more is written to it.
    #[error("log was deleted")]
    Deleted,
    /// A cleaning given up because the log cleaner is stopping (its throttle was
    /// stopped); nothing of it is left behind.
    #[error("cleaning aborted: the log cleaner is stopping")]
    CleaningAborted,
}

/// `NO_TIMESTAMP` of Kafka's record batches (-1): no timestamp known.
pub const NO_TIMESTAMP: i64 = -1;

/// The file name of a segment file: `<20-digit base offset>.<ext>`.
pub(crate) fn segment_file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}
