//! The one place the storage layer decodes records: timestamp look-ups (ListOffsets by
//! timestamp and max timestamp) on uncompressed batches. Appends and fetches never get
//! here.
//!
//! A v2 record is `length: varint` then `length` bytes: `attributes: i8`,
//! `timestampDelta: varlong`, `offsetDelta: varint`, key, value, headers. Only the first
//! three fields are read; `length` skips the rest.

use super::batch::{BatchHeader, HEADER_LEN};

/// The outcome of looking for a record by timestamp in one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordScan {
    /// The first record whose timestamp is >= the target.
    Found { offset_delta: i32, timestamp: i64 },
    /// No record of the batch reaches the target.
    NotFound,
    /// The records cannot be read without decompressing (or do not parse): only the
    /// batch-level answer is available.
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
        return RecordScan::Opaque;
    }
    scan(batch, &header, target).unwrap_or(RecordScan::Opaque)
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
