//! Kafka framing: a 4-byte big-endian length, then that many bytes.
//!
//! The buffer grows only as bytes arrive, never to the size a length prefix
//! claims, so a prefix of 2 GiB costs nothing until the bytes are really sent.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Most bytes reserved for one read.
const READ_CHUNK: usize = 256 * 1024;
/// What a connection's read buffer is kept at between requests.
const IDLE_BUFFER: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is larger than socket.request.max.bytes")]
    TooLarge(i64),
    #[error("connection closed inside a frame")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub struct FrameReader<R> {
    reader: R,
    buf: BytesMut,
    max_frame: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(reader: R, max_frame: usize) -> Self {
        FrameReader {
            reader,
            buf: BytesMut::new(),
            max_frame,
        }
    }

    pub fn set_max_frame(&mut self, max: usize) {
        self.max_frame = max;
    }

    /// The length of the next frame, once its prefix has arrived; `None` at a
    /// clean EOF. The frame's body is not read yet.
    pub async fn next_len(&mut self) -> Result<Option<usize>, FrameError> {
        while self.buf.len() < 4 {
            if !self.fill(4).await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
        let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if len < 0 || len as usize > self.max_frame {
            return Err(FrameError::TooLarge(len as i64));
        }
        Ok(Some(len as usize))
    }

    /// The next whole frame (without its length prefix); `None` at a clean EOF.
    pub async fn next(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(len) = self.next_len().await? else {
            return Ok(None);
        };
        while self.buf.len() < 4 + len {
            if !self.fill(4 + len).await? {
                return Err(FrameError::Truncated);
            }
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Reads more towards `wanted` buffered bytes; false at EOF.
    async fn fill(&mut self, wanted: usize) -> Result<bool, FrameError> {
        if self.buf.is_empty() && self.buf.capacity() > IDLE_BUFFER {
            // Between requests: let go of what a large one left behind, so an
            // idle connection holds little.
            self.buf = BytesMut::new();
        }
        let missing = wanted - self.buf.len();
        self.buf.reserve(missing.clamp(IDLE_BUFFER, READ_CHUNK));
        Ok(self.reader.read_buf(&mut self.buf).await? != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_frames_and_refuses_oversized_ones() {
        let mut wire = Vec::new();
        for body in [&b"abc"[..], b"", b"0123456789"] {
            wire.extend_from_slice(&(body.len() as i32).to_be_bytes());
            wire.extend_from_slice(body);
        }
        let mut r = FrameReader::new(&wire[..], 100);
        assert_eq!(&r.next().await.unwrap().unwrap()[..], b"abc");
        assert_eq!(&r.next().await.unwrap().unwrap()[..], b"");
        assert_eq!(&r.next().await.unwrap().unwrap()[..], b"0123456789");
        assert!(r.next().await.unwrap().is_none());

        let huge = i32::MAX.to_be_bytes();
        let mut r = FrameReader::new(&huge[..], 100);
        assert!(matches!(r.next().await, Err(FrameError::TooLarge(_))));
        assert!(r.buf.capacity() < 1 << 20);

        let torn = [0, 0, 0, 9, 1, 2];
        let mut r = FrameReader::new(&torn[..], 100);
        assert!(matches!(r.next().await, Err(FrameError::Truncated)));
    }
}
