//! Recompression for topics whose `compression.type` names a codec (Kafka's
//! LogValidator): a batch sent with another codec is stored with the topic's.
//! The records themselves are not decoded: the batch's records section is
//! inflated, compressed with the new codec and given a fresh header (the same
//! fields, the new codec in the attributes, the new length and CRC).

use std::io::Read;

use bytes::{BufMut, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

use super::decompress;

/// Bytes before the records in a v2 batch.
const HEADER_LEN: usize = 61;
const LENGTH_OFFSET: usize = 8;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const CODEC_MASK: u8 = 0x07;

#[derive(Debug, thiserror::Error)]
pub enum RecompressError {
    #[error("the batch's records cannot be decompressed: {0}")]
    Corrupt(String),
    #[error("the batch inflates to more than {0} bytes")]
    TooLarge(usize),
}

/// The codec number (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd) of a Kafka
/// `compression.type` value; None for `producer` (store as sent).
pub fn codec_of(compression_type: &str) -> Option<u8> {
    match compression_type {
        "uncompressed" => Some(0),
        "gzip" => Some(1),
        "snappy" => Some(2),
        "lz4" => Some(3),
        "zstd" => Some(4),
        _ => None,
    }
}

/// `batch` (one whole v2 batch) with its records compressed with `codec`, or
/// None when it already is. Refuses a batch whose records inflate to more than
/// `max_inflated` bytes.
pub fn recompress(
    batch: &[u8],
    codec: u8,
    max_inflated: usize,
) -> Result<Option<Vec<u8>>, RecompressError> {
    let corrupt = |m: &str| RecompressError::Corrupt(m.to_string());
    if batch.len() < HEADER_LEN {
        return Err(corrupt("short batch"));
    }
    let source = batch[ATTRIBUTES_OFFSET + 1] & CODEC_MASK;
    if source == codec {
        return Ok(None);
    }
    let mut inflated = Vec::new();
    decompress::reader(source, &batch[HEADER_LEN..])
        .and_then(|r| r.take(max_inflated as u64 + 1).read_to_end(&mut inflated))
        .map_err(|e| RecompressError::Corrupt(e.to_string()))?;
    if inflated.len() > max_inflated {
        return Err(RecompressError::TooLarge(max_inflated));
    }
    let mut out = BytesMut::with_capacity(HEADER_LEN + inflated.len() / 2);
    out.put_slice(&batch[..HEADER_LEN]);
    let put = |b: &mut BytesMut| {
        b.put_slice(&inflated);
        Ok(())
    };
    let compressed = match codec {
        0 => put(&mut out),
        1 => Gzip::compress(&mut out, put),
        2 => Snappy::compress(&mut out, put),
        3 => Lz4::compress(&mut out, put),
        4 => Zstd::compress(&mut out, put),
        c => return Err(RecompressError::Corrupt(format!("unknown codec {c}"))),
    };
    compressed.map_err(|e| RecompressError::Corrupt(e.to_string()))?;
    let length = (out.len() - LENGTH_OFFSET - 4) as i32;
    out[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
    out[ATTRIBUTES_OFFSET + 1] = (out[ATTRIBUTES_OFFSET + 1] & !CODEC_MASK) | codec;
    let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(Some(out.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    fn batch_of(values: &[Vec<u8>], compression: Compression) -> Vec<u8> {
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: 7,
                producer_epoch: 1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: 3 + i as i32,
                timestamp: 1_700_000_000_000 + i as i64,
                key: None,
                value: Some(bytes::Bytes::from(v.clone())),
                headers: Default::default(),
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

    fn values(batch: &[u8]) -> Vec<Vec<u8>> {
        let mut buf = bytes::Bytes::copy_from_slice(batch);
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        set.records
            .into_iter()
            .map(|r| r.value.unwrap().to_vec())
            .collect()
    }

    #[test]
    fn every_codec_to_every_codec_keeps_the_records() {
        let codecs = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ];
        let records: Vec<Vec<u8>> = (0..50).map(|i| format!("value {i}").into_bytes()).collect();
        for from in codecs {
            let batch = batch_of(&records, from);
            for to in 0..=4u8 {
                let out = recompress(&batch, to, 1 << 20).unwrap();
                if to == from as u8 {
                    assert!(out.is_none());
                    continue;
                }
                let out = out.unwrap();
                assert_eq!(out[ATTRIBUTES_OFFSET + 1] & CODEC_MASK, to);
                // The header fields other than length, CRC and codec are kept.
                assert_eq!(out[..LENGTH_OFFSET], batch[..LENGTH_OFFSET]);
                assert_eq!(out[23..HEADER_LEN], batch[23..HEADER_LEN]);
                crate::log::validate_batches(&out).unwrap();
                assert_eq!(values(&out), records, "{from:?} -> {to}");
            }
        }
    }

    #[test]
    fn a_batch_that_inflates_too_far_is_refused() {
        let big = vec![vec![b'x'; 100_000]];
        let batch = batch_of(&big, Compression::Gzip);
        assert!(matches!(
            recompress(&batch, 0, 50_000),
            Err(RecompressError::TooLarge(50_000))
        ));
        let mut broken = batch.clone();
        let last = broken.len() - 20;
        broken[HEADER_LEN..last].fill(0xAB);
        assert!(matches!(
            recompress(&broken, 0, 1 << 20),
            Err(RecompressError::Corrupt(_))
        ));
    }
}
