//! Record batches (magic v2) for produce and fetch, through the kafka-protocol
//! crate's encoder and decoder (CRC32C, varints, compression).

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{ClientError, Result};

/// A record to produce.
#[derive(Debug, Clone, Default)]
pub struct OutRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub timestamp: i64,
}

/// A record fetched from a partition.
#[derive(Debug, Clone)]
pub struct InRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

pub fn parse_compression(name: &str) -> std::result::Result<Compression, String> {
    match name {
        "none" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        _ => Err(format!(
            "`{name}`: expected none, gzip, snappy, lz4 or zstd"
        )),
    }
}

/// One batch holding `records` (not idempotent: no producer id, no sequence).
pub fn encode(records: &[OutRecord], compression: Compression) -> Result<Bytes> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut record = Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // In step with the offset, so the encoder keeps one batch with base sequence -1.
                sequence: i as i32 - 1,
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: Default::default(),
            };
            for (k, v) in &r.headers {
                record
                    .headers
                    .insert(StrBytes::from_string(k.clone()), v.clone());
            }
            record
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options)
        .map_err(|e| ClientError::Protocol(format!("cannot encode records: {e}")))?;
    Ok(buf.freeze())
}

/// The records of a fetched partition at or after `from_offset`, without
/// control records, and the offset to fetch next (None when no whole batch
/// was there). A partial batch at the end (cut by the fetch size) is left for
/// the next fetch.
pub fn decode(mut data: Bytes, from_offset: i64) -> Result<(Vec<InRecord>, Option<i64>)> {
    let mut out = Vec::new();
    let mut next = None;
    while let Some(batch) = split_batch(&mut data) {
        next = Some(decode_batch(batch, from_offset, &mut out)?);
    }
    Ok((out, next))
}

/// Takes the first whole batch off `data`; None when no whole batch is left.
pub fn split_batch(data: &mut Bytes) -> Option<Bytes> {
    if data.len() < 12 {
        return None;
    }
    let length = i32::from_be_bytes(slice4(&data[8..12]));
    let total = 12 + usize::try_from(length).ok()?;
    if data.len() < total {
        return None;
    }
    Some(data.split_to(total))
}

/// Appends the records of one batch at or after `from_offset` (none of a
/// control batch) to `out`; returns the offset after the batch.
pub fn decode_batch(mut batch: Bytes, from_offset: i64, out: &mut Vec<InRecord>) -> Result<i64> {
    const HEADER: usize = 61;
    if batch.len() < HEADER || batch[16] != 2 {
        let at = batch
            .get(0..8)
            .map_or(-1, |b| i64::from_be_bytes(slice8(b)));
        return Err(ClientError::Protocol(format!(
            "unsupported record batch at offset {at}"
        )));
    }
    let base_offset = i64::from_be_bytes(slice8(&batch[0..8]));
    let attributes = i16::from_be_bytes([batch[21], batch[22]]);
    let last_delta = i32::from_be_bytes(slice4(&batch[23..27]));
    let next = base_offset.saturating_add(i64::from(last_delta) + 1);
    if attributes & 0x20 != 0 {
        return Ok(next); // a control batch (transaction marker)
    }
    // LogAppendTime batches carry the append time as their max timestamp.
    let append_time = (attributes & 0x08 != 0).then(|| i64::from_be_bytes(slice8(&batch[35..43])));
    let set = RecordBatchDecoder::decode(&mut batch)
        .map_err(|e| ClientError::Protocol(format!("bad batch at {base_offset}: {e}")))?;
    for r in set.records {
        if r.control || r.offset < from_offset {
            continue;
        }
        out.push(InRecord {
            offset: r.offset,
            timestamp: append_time.unwrap_or(r.timestamp),
            key: r.key,
            value: r.value,
            headers: r
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        });
    }
    Ok(next)
}

fn slice8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[..8]);
    out
}

fn slice4(b: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(&b[..4]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_headers_and_compression() {
        let records = vec![
            OutRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v1")),
                headers: vec![("h".into(), Some(Bytes::from_static(b"x")))],
                timestamp: 1000,
            },
            OutRecord {
                key: None,
                value: Some(Bytes::from_static(b"v2")),
                headers: vec![],
                timestamp: 1001,
            },
        ];
        for c in [Compression::None, Compression::Zstd, Compression::Gzip] {
            let batch = encode(&records, c).unwrap();
            let (got, next) = decode(batch.clone(), 1).unwrap();
            assert_eq!(next, Some(2));
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].value.as_deref(), Some(&b"v2"[..]));
            assert_eq!(got[0].timestamp, 1001);
            let (all, _) = decode(batch.slice(..batch.len() - 1), 0).unwrap();
            assert!(all.is_empty(), "a partial batch waits for the next fetch");
        }
    }
}
