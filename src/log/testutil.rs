//! Test helper: encodes v2 record batches with uncompressed records and a correct CRC32C.

use super::LogConfig;

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

pub struct BatchBuilder {
    records: Vec<(i64, Vec<u8>)>,
    base_offset: i64,
    attributes: i16,
    producer: (i64, i16, i32),
    last_offset_delta: Option<i32>,
    opaque_payload: Option<Vec<u8>>,
}

impl BatchBuilder {
    /// A batch of `(timestamp, value)` records.
    pub fn new(records: &[(i64, &[u8])]) -> Self {
        BatchBuilder {
            records: records.iter().map(|(t, v)| (*t, v.to_vec())).collect(),
            base_offset: 0,
            attributes: 0,
            producer: (-1, -1, -1),
            last_offset_delta: None,
            opaque_payload: None,
        }
    }

    pub fn base_offset(mut self, o: i64) -> Self {
        self.base_offset = o;
        self
    }

    pub fn attributes(mut self, a: i16) -> Self {
        self.attributes = a;
        self
    }

    pub fn producer(mut self, id: i64, epoch: i16, seq: i32) -> Self {
        self.producer = (id, epoch, seq);
        self
    }

    pub fn last_offset_delta(mut self, d: i32) -> Self {
        self.last_offset_delta = Some(d);
        self
    }

    /// Stands in for a compressed payload: these bytes replace the encoded records,
    /// and the codec bits are set to gzip.
    pub fn compressed(mut self, payload: &[u8]) -> Self {
        self.opaque_payload = Some(payload.to_vec());
        self.attributes |= 1;
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let base_ts = self.records.first().map_or(-1, |r| r.0);
        let max_ts = self.records.iter().map(|r| r.0).max().unwrap_or(-1);
        let mut body = Vec::new();
        if let Some(p) = &self.opaque_payload {
            body.extend_from_slice(p);
        } else {
            for (i, (ts, value)) in self.records.iter().enumerate() {
                let mut rec = vec![0u8]; // attributes
                varint(&mut rec, ts - base_ts);
                varint(&mut rec, i as i64);
                varint(&mut rec, -1); // null key
                varint(&mut rec, value.len() as i64);
                rec.extend_from_slice(value);
                varint(&mut rec, 0); // no headers
                varint(&mut body, rec.len() as i64);
                body.extend_from_slice(&rec);
            }
        }
        let n = self.records.len() as i32;
        let mut b = Vec::new();
        b.extend_from_slice(&self.base_offset.to_be_bytes());
        b.extend_from_slice(&((49 + body.len()) as i32).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&self.attributes.to_be_bytes());
        b.extend_from_slice(&self.last_offset_delta.unwrap_or(n - 1).to_be_bytes());
        b.extend_from_slice(&base_ts.to_be_bytes());
        b.extend_from_slice(&max_ts.to_be_bytes());
        b.extend_from_slice(&self.producer.0.to_be_bytes());
        b.extend_from_slice(&self.producer.1.to_be_bytes());
        b.extend_from_slice(&self.producer.2.to_be_bytes());
        b.extend_from_slice(&n.to_be_bytes());
        b.extend_from_slice(&body);
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }
}

/// A plain batch of `(timestamp, value)` records.
pub fn batch(records: &[(i64, &[u8])]) -> Vec<u8> {
    BatchBuilder::new(records).build()
}

/// A batch of `n` records with timestamp `ts` and `value_len`-byte values.
pub fn batch_n(n: usize, ts: i64, value_len: usize) -> Vec<u8> {
    let value = vec![b'v'; value_len];
    let recs: Vec<(i64, &[u8])> = (0..n).map(|_| (ts, value.as_slice())).collect();
    batch(&recs)
}

/// A config with small segments and a dense index, for tests.
pub fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        segment_ms: u64::MAX,
        index_interval_bytes: 100,
        segment_index_bytes: 4096,
    }
}
