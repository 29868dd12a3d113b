//! Responses encoded and waiting to be written, in order. Record batches of
//! fetch responses stay views of the log (see [`ResponseBuf`]); everything is
//! written with vectored writes.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::response_buf::ResponseBuf;

/// Most pieces handed to one writev call.
const MAX_IOVECS: usize = 64;
/// Room kept for small responses between writes; more is let go once written,
/// so an idle connection holds little.
const IDLE_TAIL: usize = 4096;

#[derive(Default)]
pub struct Outbox {
    pieces: VecDeque<Bytes>,
    /// Small responses are gathered here, one copy, until the next flush.
    tail: BytesMut,
    len: usize,
}

impl Outbox {
    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one length-prefixed response: header, then body.
    pub fn push(
        &mut self,
        correlation_id: i32,
        api_key: ApiKey,
        version: i16,
        response: &ResponseKind,
    ) -> anyhow::Result<()> {
        let header = ResponseHeader::default().with_correlation_id(correlation_id);
        let header_version = api_key.response_header_version(version);
        if let ResponseKind::Fetch(fetch) = response {
            self.seal_tail();
            let mut buf = ResponseBuf::for_fetch(fetch);
            buf.put_i32(0);
            header.encode(&mut buf, header_version)?;
            fetch.encode(&mut buf, version)?;
            let body = i32::try_from(buf.len() - 4)?;
            anyhow::ensure!(buf.patch_i32(0, body), "cannot write the frame length");
            for piece in buf.into_pieces() {
                self.len += piece.len();
                self.pieces.push_back(piece);
            }
            return Ok(());
        }
        let start = self.tail.len();
        self.tail.put_i32(0);
        header.encode(&mut self.tail, header_version)?;
        response.encode(&mut self.tail, version)?;
        let body = i32::try_from(self.tail.len() - start - 4)?;
        self.tail[start..start + 4].copy_from_slice(&body.to_be_bytes());
        Ok(())
    }

    /// Appends a length-prefixed frame without a response header (a bare
    /// SASL token after SaslHandshake v0).
    pub fn push_raw(&mut self, body: Bytes) {
        self.tail.put_u32(body.len() as u32);
        self.tail.extend_from_slice(&body);
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            let piece = self.tail.split().freeze();
            self.len += piece.len();
            self.pieces.push_back(piece);
        }
    }

    /// Writes everything queued.
    pub async fn flush<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.seal_tail();
        while !self.pieces.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .pieces
                .iter()
                .take(MAX_IOVECS)
                .map(|p| IoSlice::new(p))
                .collect();
            let mut written = writer.write_vectored(&slices).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.len -= written;
            while written > 0 {
                let Some(front) = self.pieces.front_mut() else {
                    break;
                };
                if written >= front.len() {
                    written -= front.len();
                    self.pieces.pop_front();
                } else {
                    front.advance(written);
                    written = 0;
                }
            }
        }
        if self.tail.capacity() > IDLE_TAIL {
            self.tail = BytesMut::new();
        }
        writer.flush().await
    }
}
