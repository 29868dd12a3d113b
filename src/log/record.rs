//! The one place the storage layer decodes records: timestamp look-ups (ListOffsets by
//! timestamp and max timestamp), the key check of batches produced to compacted
//! topics, and the cleaner's record parsing. Plain appends and fetches never get here.
//!
//! A v2 record is `length: varint` then `length` bytes: `attributes: i8`,
//! `timestampDelta: varlong`, `offsetDelta: varint`, `keyLength: varint`, key, value,
//! headers. At most the first four fields are read; `length` skips the rest.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read};

use super::batch::{BatchHeader, HEADER_LEN};
use super::decompress;

/// Records that do not parse (CORRUPT_MESSAGE).
#[derive(Debug, thiserror::Error)]
#[error("corrupt records: {0}")]
pub struct CorruptRecords(String);

/// The outcome of looking for a record by timestamp in one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordScan {
    /// The first record whose timestamp is >= the target.
    Found { offset_delta: i32, timestamp: i64 },
    /// No record of the batch reaches the target.
    NotFound,
    /// The records do not parse: only the batch-level answer is available.
    Opaque,
}

/// Reads a zigzag varint of at most `max_bytes` bytes; returns the value and its size.
fn read_varint(buf: &[u8], max_bytes: usize) -> Option<(i64, usize)> {
    let mut raw: u64 = 0;
    for (i, &b) in buf.iter().take(max_bytes).enumerate() {
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let v = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
            return Some((v, i + 1));
        }
    }
    None
}

/// Finds the first record of `batch` (one whole batch) whose timestamp is >= `target`.
pub fn first_record_at_or_after(batch: &[u8], target: i64) -> RecordScan {
    let Some(header) = BatchHeader::new(batch) else {
        return RecordScan::Opaque;
    };
    let attributes = header.attributes();
    if attributes.is_log_append_time() {
        // Every record carries the batch's (append) timestamp.
        return if header.max_timestamp() >= target {
            RecordScan::Found {
                offset_delta: 0,
                timestamp: header.max_timestamp(),
            }
        } else {
            RecordScan::NotFound
        };
    }
    if attributes.compression() != 0 {
        return scan_compressed(batch, &header, target).unwrap_or(RecordScan::Opaque);
    }
    scan(batch, &header, target).unwrap_or(RecordScan::Opaque)
}

/// As [`scan`], decompressing the records as a stream up to the one found, as
/// Kafka iterates a compressed batch's records for a timestamp look-up.
fn scan_compressed(batch: &[u8], header: &BatchHeader<'_>, target: i64) -> io::Result<RecordScan> {
    let body = batch.get(HEADER_LEN..).unwrap_or_default();
    let mut records = BufReader::new(decompress::reader(header.attributes().compression(), body)?);
    for _ in 0..header.records_count().max(0) {
        let f = next_record(&mut records)?;
        let timestamp = header.base_timestamp().wrapping_add(f.timestamp_delta);
        if timestamp >= target {
            let offset_delta = i32::try_from(f.offset_delta)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad offset delta"))?;
            return Ok(RecordScan::Found {
                offset_delta,
                timestamp,
            });
        }
    }
    Ok(RecordScan::NotFound)
}

fn scan(batch: &[u8], header: &BatchHeader<'_>, target: i64) -> Option<RecordScan> {
    let mut pos = HEADER_LEN;
    for _ in 0..header.records_count().max(0) {
        let (len, n) = read_varint(batch.get(pos..)?, 5)?;
        let body_start = pos + n;
        let body = batch.get(body_start..body_start.checked_add(usize::try_from(len).ok()?)?)?;
        // body[0] is the record's attributes (unused).
        let (ts_delta, m) = read_varint(body.get(1..)?, 10)?;
        let (offset_delta, _) = read_varint(body.get(1 + m..)?, 5)?;
        let timestamp = header.base_timestamp().wrapping_add(ts_delta);
        if timestamp >= target {
            return Some(RecordScan::Found {
                offset_delta: i32::try_from(offset_delta).ok()?,
                timestamp,
            });
        }
        pos = body_start + body.len();
    }
    Some(RecordScan::NotFound)
}

/// The indexes (0-based, within the batch) of the records of `batch` (one whole,
/// validated batch) that have no key. Compressed batches are decompressed as a stream.
pub fn keyless_records(batch: &[u8]) -> Result<Vec<i32>, CorruptRecords> {
    let header = BatchHeader::new(batch).ok_or_else(|| CorruptRecords("short batch".into()))?;
    let body = batch.get(HEADER_LEN..).unwrap_or_default();
    let corrupt = |e: io::Error| CorruptRecords(e.to_string());
    let mut records = BufReader::new(
        decompress::reader(header.attributes().compression(), body).map_err(corrupt)?,
    );
    let mut keyless = Vec::new();
    for index in 0..header.records_count().max(0) {
        if !record_has_key(&mut records).map_err(corrupt)? {
            keyless.push(index);
        }
    }
    Ok(keyless)
}

/// Reads one record from `r`, leaving `r` at the next; true when it has a key.
fn record_has_key(r: &mut impl BufRead) -> io::Result<bool> {
    Ok(next_record(r)?.key_len >= 0)
}

/// The leading fields of one record.
struct RecordFields {
    timestamp_delta: i64,
    offset_delta: i64,
    key_len: i64,
}

/// Reads one record from `r`, leaving `r` at the next.
fn next_record(r: &mut impl BufRead) -> io::Result<RecordFields> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let (len, _) = next_varint(r, 5)?;
    let len = u64::try_from(len).map_err(|_| bad("negative record length"))?;
    let mut attributes = [0u8; 1];
    r.read_exact(&mut attributes)?;
    let (timestamp_delta, a) = next_varint(r, 10)?;
    let (offset_delta, b) = next_varint(r, 5)?;
    let (key_len, c) = next_varint(r, 5)?;
    let read = (1 + a + b + c) as u64;
    let rest = len
        .checked_sub(read)
        .ok_or_else(|| bad("record shorter than its fields"))?;
    if io::copy(&mut r.take(rest), &mut io::sink())? != rest {
        return Err(bad("truncated record"));
    }
    Ok(RecordFields {
        timestamp_delta,
        offset_delta,
        key_len,
    })
}

/// Every record of `batch` (one whole, validated batch) as (offset delta,
/// timestamp), for the produce path's timestamp bounds. Compressed batches are
/// decompressed as a stream.
pub fn record_timestamps(batch: &[u8]) -> Result<Vec<(i64, i64)>, CorruptRecords> {
    let header = BatchHeader::new(batch).ok_or_else(|| CorruptRecords("short batch".into()))?;
    let body = batch.get(HEADER_LEN..).unwrap_or_default();
    let corrupt = |e: io::Error| CorruptRecords(e.to_string());
    let mut records = BufReader::new(
        decompress::reader(header.attributes().compression(), body).map_err(corrupt)?,
    );
    (0..header.records_count().max(0))
        .map(|_| {
            let f = next_record(&mut records).map_err(corrupt)?;
            Ok((
                f.offset_delta,
                header.base_timestamp().wrapping_add(f.timestamp_delta),
            ))
        })
        .collect()
}

fn next_varint(r: &mut impl BufRead, max_bytes: usize) -> io::Result<(i64, usize)> {
    let mut buf = [0u8; 10];
    for i in 0..max_bytes {
        r.read_exact(&mut buf[i..=i])?;
        if buf[i] & 0x80 == 0 {
            return read_varint(&buf[..=i], max_bytes)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad varint"));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "varint too long",
    ))
}

/// One record as the log cleaner sees it: its bytes (length prefix included, copied
/// as they are into a cleaned batch) and the fields compaction decides on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord<'a> {
    pub bytes: &'a [u8],
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    /// A null value: a tombstone.
    pub is_tombstone: bool,
}

/// The records section of one whole batch, decompressed when the batch is compressed.
pub(crate) fn records_section(batch: &[u8]) -> Result<Cow<'_, [u8]>, CorruptRecords> {
    let header = BatchHeader::new(batch).ok_or_else(|| CorruptRecords("short batch".into()))?;
    let body = batch.get(HEADER_LEN..).unwrap_or_default();
    let codec = header.attributes().compression();
    if codec == 0 {
        return Ok(Cow::Borrowed(body));
    }
    let mut out = Vec::new();
    decompress::reader(codec, body)
        .and_then(|mut r| r.read_to_end(&mut out))
        .map_err(|e| CorruptRecords(e.to_string()))?;
    Ok(Cow::Owned(out))
}

/// Splits a records section (see [`records_section`]) into its `count` records.
pub(crate) fn parse_records(data: &[u8], count: i32) -> Result<Vec<RawRecord<'_>>, CorruptRecords> {
    let bad = |m: &str| CorruptRecords(m.to_string());
    let mut out = Vec::with_capacity(count.clamp(0, 1 << 16) as usize);
    let mut pos = 0;
    for _ in 0..count.max(0) {
        let rest = data.get(pos..).unwrap_or_default();
        let (len, n) = read_varint(rest, 5).ok_or_else(|| bad("bad record length"))?;
        let len = usize::try_from(len).map_err(|_| bad("negative record length"))?;
        let body = rest
            .get(n..n.saturating_add(len))
            .ok_or_else(|| bad("truncated record"))?;
        let field = |at: usize, max: usize| {
            read_varint(body.get(at..).unwrap_or_default(), max)
                .ok_or_else(|| bad("truncated record"))
        };
        let mut at = 1; // attributes
        let (timestamp_delta, m) = field(at, 10)?;
        at += m;
        let (offset_delta, m) = field(at, 5)?;
        at += m;
        let (key_len, m) = field(at, 5)?;
        at += m;
        let key = match usize::try_from(key_len) {
            Ok(k) => {
                let key = body
                    .get(at..at.saturating_add(k))
                    .ok_or_else(|| bad("truncated key"))?;
                at += k;
                Some(key)
            }
            Err(_) => None,
        };
        let (value_len, _) = field(at, 5)?;
        out.push(RawRecord {
            bytes: &rest[..n + len],
            timestamp_delta,
            offset_delta: i32::try_from(offset_delta).map_err(|_| bad("bad offset delta"))?,
            key,
            is_tombstone: value_len < 0,
        });
        pos += n + len;
    }
    Ok(out)
}

/// A transaction marker's type, from the key of a control batch's record
/// (Kafka's ControlRecordType: version 0, type 0 abort, 1 commit). None when the
/// batch is not a control batch or its key does not parse.
pub fn control_marker(batch: &[u8]) -> Option<ControlMarker> {
    let header = BatchHeader::new(batch)?;
    if !header.attributes().is_control() {
        return None;
    }
    let data = records_section(batch).ok()?;
    let records = parse_records(&data, header.records_count().min(1)).ok()?;
    let key = records.first()?.key?;
    match key.get(2..4)? {
        [0, 0] => Some(ControlMarker::Abort),
        [0, 1] => Some(ControlMarker::Commit),
        _ => None,
    }
}

/// The two control record types of transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMarker {
    Abort,
    Commit,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testutil::{BatchBuilder, batch};

    #[test]
    fn varints_round_trip_through_the_test_encoder() {
        assert_eq!(read_varint(&[0x00], 5), Some((0, 1)));
        assert_eq!(read_varint(&[0x01], 5), Some((-1, 1)));
        assert_eq!(read_varint(&[0x02], 5), Some((1, 1)));
        assert_eq!(read_varint(&[0xac, 0x02], 5), Some((150, 2)));
        assert_eq!(read_varint(&[0x80, 0x80], 5), None, "unterminated");
    }

    #[test]
    fn finds_the_first_record_at_or_after_a_timestamp() {
        let b = batch(&[(100, b"a"), (300, b"bb"), (200, b"c"), (300, b"")]);
        let found = |ts| first_record_at_or_after(&b, ts);
        assert_eq!(
            found(50),
            RecordScan::Found {
                offset_delta: 0,
                timestamp: 100
            }
        );
        assert_eq!(
            found(150),
            RecordScan::Found {
                offset_delta: 1,
                timestamp: 300
            }
        );
        assert_eq!(
            found(300),
            RecordScan::Found {
                offset_delta: 1,
                timestamp: 300
            }
        );
        assert_eq!(found(301), RecordScan::NotFound);
    }

    #[test]
    fn compressed_and_log_append_time_batches() {
        let gz = BatchBuilder::new(&[(5, b"x"), (6, b"y")])
            .compressed(b"not really gzip")
            .build();
        assert_eq!(first_record_at_or_after(&gz, 6), RecordScan::Opaque);

        let lat = BatchBuilder::new(&[(5, b"x"), (6, b"y")])
            .attributes(0x08)
            .build();
        assert_eq!(
            first_record_at_or_after(&lat, 6),
            RecordScan::Found {
                offset_delta: 0,
                timestamp: 6
            }
        );
        assert_eq!(first_record_at_or_after(&lat, 7), RecordScan::NotFound);
    }

    #[test]
    fn garbage_records_are_opaque_not_a_panic() {
        let mut b = batch(&[(5, b"x"), (6, b"y")]);
        let n = b.len();
        b.truncate(n - 4);
        assert_eq!(first_record_at_or_after(&b, 6), RecordScan::Opaque);
    }
}

#[cfg(test)]
mod key_tests {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::keyless_records;
    use crate::log::{BatchHeader, validate_batches};

    /// Offsets of the keyless records over every batch of `records`.
    fn keyless_offsets(records: &[u8]) -> Vec<i64> {
        let mut out = Vec::new();
        for b in validate_batches(records).unwrap() {
            let batch = &records[b.position..b.position + b.size];
            let base = BatchHeader::new(batch).unwrap().base_offset();
            out.extend(
                keyless_records(batch)
                    .unwrap()
                    .into_iter()
                    .map(|i| base + i64::from(i)),
            );
        }
        out
    }

    fn encode(keys: &[Option<&str>], compression: Compression) -> Vec<u8> {
        encode_at(keys, &vec![1000; keys.len()], compression)
    }

    /// One batch of records with these keys and timestamps.
    fn encode_at(keys: &[Option<&str>], timestamps: &[i64], compression: Compression) -> Vec<u8> {
        let records: Vec<Record> = keys
            .iter()
            .zip(timestamps)
            .enumerate()
            .map(|(i, (k, &timestamp))| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // Offsets and sequences in step keep the records in one batch (base
                // sequence -1: not idempotent).
                sequence: i as i32 - 1,
                timestamp,
                key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                value: Some(Bytes::from(vec![b'v'; 300])),
                headers: Default::default(),
                delete_horizon: false,
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        buf.to_vec()
    }

    #[test]
    fn finds_a_timestamp_inside_compressed_batches_of_every_codec() {
        use super::{RecordScan, first_record_at_or_after};
        let keys = [Some("a"), Some("b"), Some("c")];
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let batch = encode_at(&keys, &[1000, 1300, 1200], c);
            let found = |ts| first_record_at_or_after(&batch, ts);
            assert_eq!(
                found(1100),
                RecordScan::Found {
                    offset_delta: 1,
                    timestamp: 1300
                },
                "{c:?}"
            );
            assert_eq!(found(1301), RecordScan::NotFound, "{c:?}");
        }
    }

    #[test]
    fn finds_keyless_records_in_every_codec() {
        let keys = [None, Some("a"), Some(""), None, Some("b")];
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let records = encode(&keys, c);
            assert_eq!(validate_batches(&records).unwrap().len(), 1);
            assert_eq!(keyless_offsets(&records), vec![0, 3], "{c:?}");
        }
    }

    #[test]
    fn truncated_records_are_corrupt() {
        let b = encode(&[Some("a"), Some("b")], Compression::None);
        assert!(keyless_records(&b[..b.len() - 10]).is_err());
        let mut z = encode(&[Some("a"), None], Compression::Zstd);
        let n = z.len();
        z[n - 5..].fill(0);
        assert!(keyless_records(&z).is_err());
    }
}
