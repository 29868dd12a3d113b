//! Record batches (magic v2): a zero-copy view of the 61-byte header, and the checks the
//! produce path runs before anything is written. Records are never decoded here.
//!
//! ```text
//! offset  size  field
//!      0     8  baseOffset            (rewritten by the log; not covered by the CRC)
//!      8     4  batchLength           (bytes after this field)
//!     12     4  partitionLeaderEpoch  (not covered by the CRC)
//!     16     1  magic                 (2)
//!     17     4  crc                   (CRC32C of bytes 21..end)
//!     21     2  attributes
//!     23     4  lastOffsetDelta
//!     27     8  baseTimestamp
//!     35     8  maxTimestamp
//!     43     8  producerId
//!     51     2  producerEpoch
//!     53     4  baseSequence
//!     57     4  recordsCount
//!     61        records...
//! ```
//! All integers are big-endian.

/// Size of the batch header, up to the first record.
pub const HEADER_LEN: usize = 61;
/// `baseOffset` + `batchLength`: the bytes before what `batchLength` counts.
pub const LOG_OVERHEAD: usize = 12;
/// The smallest valid `batchLength`: a header with no records.
pub const MIN_BATCH_LENGTH: usize = HEADER_LEN - LOG_OVERHEAD;

const BATCH_LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORDS_COUNT: usize = 57;

/// The only magic this broker stores.
pub const CURRENT_MAGIC: i8 = 2;

/// The batch `attributes` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes(pub i16);

impl Attributes {
    /// Compression codec (bits 0-2): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(self) -> u8 {
        (self.0 & 0x07) as u8
    }

    /// Bit 3: the timestamps are LogAppendTime rather than CreateTime.
    pub fn is_log_append_time(self) -> bool {
        self.0 & 0x08 != 0
    }

    /// Bit 4: part of a transaction.
    pub fn is_transactional(self) -> bool {
        self.0 & 0x10 != 0
    }

    /// Bit 5: a control batch (transaction markers).
    pub fn is_control(self) -> bool {
        self.0 & 0x20 != 0
    }
}

/// A read-only view of one batch header; no copy.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader<'a> {
    buf: &'a [u8; HEADER_LEN],
}

impl<'a> BatchHeader<'a> {
    /// The header at the start of `buf`, or None if `buf` is shorter than a header.
    pub fn new(buf: &'a [u8]) -> Option<BatchHeader<'a>> {
        let buf = buf.first_chunk::<HEADER_LEN>()?;
        Some(BatchHeader { buf })
    }

    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0; N];
        if let Some(src) = self.buf.get(at..at + N) {
            out.copy_from_slice(src);
        }
        out
    }

    pub fn base_offset(&self) -> i64 {
        i64::from_be_bytes(self.bytes(0))
    }
    pub fn batch_length(&self) -> i32 {
        i32::from_be_bytes(self.bytes(BATCH_LENGTH))
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        i32::from_be_bytes(self.bytes(PARTITION_LEADER_EPOCH))
    }
    pub fn magic(&self) -> i8 {
        i8::from_be_bytes(self.bytes(MAGIC))
    }
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(self.bytes(CRC))
    }
    pub fn attributes(&self) -> Attributes {
        Attributes(i16::from_be_bytes(self.bytes(ATTRIBUTES)))
    }
    pub fn last_offset_delta(&self) -> i32 {
        i32::from_be_bytes(self.bytes(LAST_OFFSET_DELTA))
    }
    pub fn base_timestamp(&self) -> i64 {
        i64::from_be_bytes(self.bytes(BASE_TIMESTAMP))
    }
    pub fn max_timestamp(&self) -> i64 {
        i64::from_be_bytes(self.bytes(MAX_TIMESTAMP))
    }
    pub fn producer_id(&self) -> i64 {
        i64::from_be_bytes(self.bytes(PRODUCER_ID))
    }
    pub fn producer_epoch(&self) -> i16 {
        i16::from_be_bytes(self.bytes(PRODUCER_EPOCH))
    }
    pub fn base_sequence(&self) -> i32 {
        i32::from_be_bytes(self.bytes(BASE_SEQUENCE))
    }
    pub fn records_count(&self) -> i32 {
        i32::from_be_bytes(self.bytes(RECORDS_COUNT))
    }

    /// Offset of the batch's last record (`baseOffset + lastOffsetDelta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(self.last_offset_delta()))
    }

    /// Whole size of the batch in bytes, or None when `batchLength` is below the
    /// header size (negative included).
    pub fn size(&self) -> Option<usize> {
        let len = usize::try_from(self.batch_length()).ok()?;
        (len >= MIN_BATCH_LENGTH).then_some(len + LOG_OVERHEAD)
    }
}

/// What validation learned about one batch, for the log and the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Position of the batch in the validated buffer.
    pub position: usize,
    /// Size of the whole batch in bytes.
    pub size: usize,
    pub record_count: i32,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub attributes: Attributes,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl BatchInfo {
    /// Offsets this batch takes in the log: `lastOffsetDelta + 1`.
    pub fn offset_count(&self) -> i64 {
        i64::from(self.last_offset_delta) + 1
    }
}

/// Why a produced batch was refused. Kafka error codes: `UnsupportedMagic` and
/// `InvalidRecordCount` are INVALID_RECORD (as `LogValidator` throws
/// `InvalidRecordException`); the others are CORRUPT_MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("no record batch in the records")]
    Empty,
    #[error("record batch at {position} is truncated: needs {needed} bytes, {available} left")]
    Truncated {
        position: usize,
        needed: usize,
        available: usize,
    },
    #[error("record batch at {position} has invalid length {length}")]
    InvalidLength { position: usize, length: i32 },
    #[error("unsupported record batch magic {0} (produce requires magic 2)")]
    UnsupportedMagic(i8),
    #[error(
        "record batch at {position} fails its CRC: stored {stored:#010x}, computed {computed:#010x}"
    )]
    CrcMismatch {
        position: usize,
        stored: u32,
        computed: u32,
    },
    #[error(
        "record batch at {position} has {count} records but lastOffsetDelta {last_offset_delta}"
    )]
    InvalidRecordCount {
        position: usize,
        count: i32,
        last_offset_delta: i32,
    },
    #[error("record batch at {position} uses unknown compression codec {codec}")]
    UnknownCompression { position: usize, codec: u8 },
}

/// Validates one or more concatenated batches as produced by a client: every length in
/// bounds (a truncated trailing batch is refused), magic 2, CRC32C, and a record count
/// of at least one that matches `lastOffsetDelta + 1`. Returns one [`BatchInfo`] per
/// batch. Never decodes records.
pub fn validate_batches(records: &[u8]) -> Result<Vec<BatchInfo>, BatchError> {
    if records.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(rest) = records.get(pos..).filter(|r| !r.is_empty()) {
        let info = validate_batch(rest, pos)?;
        pos += info.size;
        out.push(info);
    }
    Ok(out)
}

/// Validates the batch at the start of `buf` (found at `position` of the caller's
/// buffer, used in errors and in the returned info).
pub fn validate_batch(buf: &[u8], position: usize) -> Result<BatchInfo, BatchError> {
    let truncated = |needed| BatchError::Truncated {
        position,
        needed,
        available: buf.len(),
    };
    // The magic byte sits at 16 in every message format, so legacy v0/v1 message sets
    // are named for what they are before their (different) layout is misread.
    let magic = *buf.get(MAGIC).ok_or_else(|| truncated(MAGIC + 1))? as i8;
    if magic != CURRENT_MAGIC {
        return Err(BatchError::UnsupportedMagic(magic));
    }
    let header = BatchHeader::new(buf).ok_or_else(|| truncated(HEADER_LEN))?;
    let size = header.size().ok_or(BatchError::InvalidLength {
        position,
        length: header.batch_length(),
    })?;
    let batch = buf.get(..size).ok_or_else(|| truncated(size))?;
    let computed = crc32c::crc32c(batch.get(ATTRIBUTES..).unwrap_or_default());
    if computed != header.crc() {
        return Err(BatchError::CrcMismatch {
            position,
            stored: header.crc(),
            computed,
        });
    }
    let count = header.records_count();
    let last_offset_delta = header.last_offset_delta();
    if count < 1 || i64::from(last_offset_delta) + 1 != i64::from(count) {
        return Err(BatchError::InvalidRecordCount {
            position,
            count,
            last_offset_delta,
        });
    }
    let attributes = header.attributes();
    if attributes.compression() > 4 {
        return Err(BatchError::UnknownCompression {
            position,
            codec: attributes.compression(),
        });
    }
    Ok(BatchInfo {
        position,
        size,
        record_count: count,
        last_offset_delta,
        base_timestamp: header.base_timestamp(),
        max_timestamp: header.max_timestamp(),
        attributes,
        producer_id: header.producer_id(),
        producer_epoch: header.producer_epoch(),
        base_sequence: header.base_sequence(),
    })
}

/// Turns a validated batch into a LogAppendTime batch appended at `now_ms`, as
/// Kafka's `LogValidator` does for magic v2 (KIP-32): the timestamp-type bit of
/// the attributes is set and `maxTimestamp` becomes the append time, then the
/// CRC is recomputed. `baseTimestamp` and the records' timestamp deltas stay as
/// sent: readers take every record's timestamp from `maxTimestamp`. Returns
/// false (changing nothing) when `batch` is shorter than a header.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) -> bool {
    if batch.len() < HEADER_LEN {
        return false;
    }
    let attributes = i16::from_be_bytes([batch[ATTRIBUTES], batch[ATTRIBUTES + 1]]) | 0x08;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    true
}

/// Checks a batch read back from the log (recovery): length, magic 2 and CRC32C. Unlike
/// [`validate_batch`] it accepts what the cleaner writes: fewer records than
/// `lastOffsetDelta + 1`, or none at all. Returns the batch size.
pub fn validate_stored_batch(buf: &[u8]) -> Option<usize> {
    let header = BatchHeader::new(buf)?;
    let size = header.size()?;
    let batch = buf.get(..size)?;
    let sane = header.magic() == CURRENT_MAGIC
        && header.last_offset_delta() >= 0
        && header.records_count() >= 0
        && crc32c::crc32c(batch.get(ATTRIBUTES..).unwrap_or_default()) == header.crc();
    sane.then_some(size)
}

/// A copy of a stored batch (`header`: its first [`HEADER_LEN`] bytes) that holds only
/// `records` (uncompressed, each with its length prefix, offset and timestamp deltas
/// unchanged). Base offset, `lastOffsetDelta`, base timestamp and producer fields stay;
/// the compression bits are cleared, and the record count, length, max timestamp and
/// CRC32C recomputed. The log cleaner's output.
pub(crate) fn rebuild_batch(header: &[u8], records: &[&[u8]], max_timestamp: i64) -> Vec<u8> {
    let body: usize = records.iter().map(|r| r.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + body);
    out.extend_from_slice(header.get(..HEADER_LEN).unwrap_or_default());
    out.resize(HEADER_LEN, 0);
    for r in records {
        out.extend_from_slice(r);
    }
    let length = i32::try_from(out.len() - LOG_OVERHEAD).unwrap_or(i32::MAX);
    out[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    let attributes = i16::from_be_bytes([out[ATTRIBUTES], out[ATTRIBUTES + 1]]) & !0x07;
    out[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    out[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    let count = i32::try_from(records.len()).unwrap_or(i32::MAX);
    out[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES..]);
    out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testutil::{BatchBuilder, batch};

    #[test]
    fn header_fields_read_back() {
        let b = BatchBuilder::new(&[(1000, b"a"), (1005, b"bb"), (1003, b"")])
            .producer(77, 3, 10)
            .base_offset(42)
            .build();
        let h = BatchHeader::new(&b).unwrap();
        assert_eq!(h.base_offset(), 42);
        assert_eq!(h.size(), Some(b.len()));
        assert_eq!(h.magic(), 2);
        assert_eq!(h.last_offset_delta(), 2);
        assert_eq!(h.last_offset(), 44);
        assert_eq!(h.base_timestamp(), 1000);
        assert_eq!(h.max_timestamp(), 1005);
        assert_eq!(h.producer_id(), 77);
        assert_eq!(h.producer_epoch(), 3);
        assert_eq!(h.base_sequence(), 10);
        assert_eq!(h.records_count(), 3);
        assert!(BatchHeader::new(&b[..60]).is_none());
    }

    #[test]
    fn validates_concatenated_batches() {
        let a = batch(&[(1, b"x")]);
        let b = BatchBuilder::new(&[(5, b"y"), (9, b"z")])
            .attributes(0x10)
            .build();
        let all = [a.clone(), b.clone()].concat();
        let infos = validate_batches(&all).unwrap();
        assert_eq!(infos.len(), 2);
        assert_eq!((infos[0].position, infos[0].size), (0, a.len()));
        assert_eq!((infos[1].position, infos[1].size), (a.len(), b.len()));
        assert_eq!(infos[1].record_count, 2);
        assert_eq!(infos[1].max_timestamp, 9);
        assert!(infos[1].attributes.is_transactional());
        assert!(!infos[1].attributes.is_control());
        assert_eq!(infos[1].offset_count(), 2);
    }

    #[test]
    fn refuses_bad_batches() {
        let good = batch(&[(1, b"x"), (2, b"y")]);
        assert_eq!(validate_batches(&[]), Err(BatchError::Empty));

        let torn = [good.clone(), good[..good.len() - 3].to_vec()].concat();
        assert!(matches!(
            validate_batches(&torn),
            Err(BatchError::Truncated { position, .. }) if position == good.len()
        ));
        assert!(matches!(
            validate_batches(&good[..20]),
            Err(BatchError::Truncated { .. })
        ));

        let mut v1 = good.clone();
        v1[16] = 1;
        assert_eq!(validate_batches(&v1), Err(BatchError::UnsupportedMagic(1)));

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            validate_batches(&flipped),
            Err(BatchError::CrcMismatch { .. })
        ));

        let mut short = good.clone();
        short[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            validate_batches(&short),
            Err(BatchError::InvalidLength { length: 10, .. })
        ));

        let miscounted = BatchBuilder::new(&[(1, b"x"), (2, b"y")])
            .last_offset_delta(5)
            .build();
        assert!(matches!(
            validate_batches(&miscounted),
            Err(BatchError::InvalidRecordCount {
                count: 2,
                last_offset_delta: 5,
                ..
            })
        ));
        let zero = BatchBuilder::new(&[]).build();
        assert!(matches!(
            validate_batches(&zero),
            Err(BatchError::InvalidRecordCount { count: 0, .. })
        ));

        let codec7 = BatchBuilder::new(&[(1, b"x")]).attributes(7).build();
        assert!(matches!(
            validate_batches(&codec7),
            Err(BatchError::UnknownCompression { codec: 7, .. })
        ));
    }

    #[test]
    fn log_append_time_sets_type_and_max_timestamp_and_keeps_the_crc_valid() {
        let mut b = BatchBuilder::new(&[(1000, b"a"), (1005, b"bb")]).build();
        assert!(set_log_append_time(&mut b, 77_000));
        let info = validate_batches(&b).unwrap()[0];
        assert!(info.attributes.is_log_append_time());
        assert_eq!(info.max_timestamp, 77_000);
        assert_eq!(info.base_timestamp, 1000);
        assert!(!set_log_append_time(&mut b[..60].to_vec(), 1));
    }

    #[test]
    fn base_offset_and_leader_epoch_are_outside_the_crc() {
        let mut b = batch(&[(1, b"x")]);
        b[..8].copy_from_slice(&1234i64.to_be_bytes());
        b[12..16].copy_from_slice(&7i32.to_be_bytes());
        assert!(validate_batches(&b).is_ok());
    }
}
