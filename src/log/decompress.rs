//! Streaming readers over the records of a compressed batch (codec from the batch
//! attributes: 1 gzip, 2 snappy, 3 lz4, 4 zstd). They decompress as they are read,
//! so a batch that inflates to gigabytes costs time, never that much memory.

use std::io::{self, Read};

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// A reader of the decompressed bytes of `data` (the records part of a batch).
pub fn reader<'a>(codec: u8, data: &'a [u8]) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match codec {
        0 => Box::new(data),
        1 => Box::new(flate2::read::GzDecoder::new(data)),
        2 => Box::new(SnappyReader::new(data)),
        3 => Box::new(lz4::Decoder::new(data)?),
        4 => Box::new(zstd::stream::read::Decoder::with_buffer(data)?),
        c => return Err(invalid(format!("unknown compression codec {c}"))),
    })
}

/// The xerial framing Kafka's snappy uses: a 16-byte header, then blocks of
/// `u32 length` + raw snappy. Without the header, the whole input is one raw block.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

struct SnappyReader<'a> {
    rest: &'a [u8],
    raw: bool,
    block: Vec<u8>,
    pos: usize,
}

impl<'a> SnappyReader<'a> {
    fn new(data: &'a [u8]) -> SnappyReader<'a> {
        let framed = data.starts_with(XERIAL_MAGIC) && data.len() >= XERIAL_HEADER_LEN;
        SnappyReader {
            rest: if framed {
                &data[XERIAL_HEADER_LEN..]
            } else {
                data
            },
            raw: !framed,
            block: Vec::new(),
            pos: 0,
        }
    }

    fn next_block(&mut self) -> io::Result<bool> {
        if self.rest.is_empty() {
            return Ok(false);
        }
        let compressed = if self.raw {
            std::mem::take(&mut self.rest)
        } else {
            let len = self
                .rest
                .first_chunk::<4>()
                .map(|b| u32::from_be_bytes(*b) as usize)
                .ok_or_else(|| invalid("truncated snappy block length"))?;
            let block = self
                .rest
                .get(4..4 + len)
                .ok_or_else(|| invalid("truncated snappy block"))?;
            self.rest = &self.rest[4 + len..];
            block
        };
        let len = snap::raw::decompress_len(compressed).map_err(|e| invalid(e.to_string()))?;
        // A snappy copy expands at most 64 bytes from 3: refuse claims beyond that
        // before allocating them.
        if len > compressed.len().saturating_mul(22).saturating_add(64) {
            return Err(invalid("snappy block claims an impossible length"));
        }
        self.block = snap::raw::Decoder::new()
            .decompress_vec(compressed)
            .map_err(|e| invalid(e.to_string()))?;
        self.pos = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(codec: u8, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        reader(codec, data).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn every_codec_round_trips() {
        let plain: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        assert_eq!(read_all(1, &gz.finish().unwrap()), plain);

        let mut framed = [XERIAL_MAGIC.as_slice(), &[0, 0, 0, 1, 0, 0, 0, 1]].concat();
        for chunk in plain.chunks(32 * 1024) {
            let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
            framed.extend_from_slice(&block);
        }
        assert_eq!(read_all(2, &framed), plain);
        let raw = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        assert_eq!(read_all(2, &raw), plain);

        let mut lz = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        lz.write_all(&plain).unwrap();
        let (lz, r) = lz.finish();
        r.unwrap();
        assert_eq!(read_all(3, &lz), plain);

        let zs = zstd::encode_all(plain.as_slice(), 3).unwrap();
        assert_eq!(read_all(4, &zs), plain);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in 1..=4 {
            let mut out = Vec::new();
            let r = reader(codec, b"definitely not compressed data at all")
                .and_then(|mut r| r.read_to_end(&mut out));
            assert!(r.is_err(), "codec {codec}");
        }
        assert!(reader(5, b"").is_err());
    }
}
