//! The socket under a TLS connection, read in large chunks (Kafka's
//! SslTransportLayer has its netReadBuffer for the same reason).
//!
//! rustls asks its transport for at most about 4 KiB at a time, so without a
//! buffer a 1 MiB request costs some 260 read syscalls. Here one read fills up
//! to [`CHUNK`] bytes, and rustls takes them from memory. The buffer exists
//! only while it holds bytes: once drained and the socket has nothing more, it
//! is let go, so an idle connection holds none.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes read from the socket at once.
const CHUNK: usize = 64 * 1024;

pub struct NetReadBuffer<S> {
    socket: S,
    buf: Vec<u8>,
    /// `buf[start..end]` is read but not yet handed on.
    start: usize,
    end: usize,
}

impl<S> NetReadBuffer<S> {
    pub fn new(socket: S) -> Self {
        NetReadBuffer {
            socket,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for NetReadBuffer<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.start == this.end {
            if out.remaining() >= CHUNK {
                this.buf = Vec::new();
                return Pin::new(&mut this.socket).poll_read(cx, out);
            }
            if this.buf.len() < CHUNK {
                this.buf = vec![0; CHUNK];
            }
            let mut chunk = ReadBuf::new(&mut this.buf);
            match Pin::new(&mut this.socket).poll_read(cx, &mut chunk) {
                Poll::Pending => {
                    this.buf = Vec::new();
                    return Poll::Pending;
                }
                Poll::Ready(result) => {
                    result?;
                    this.start = 0;
                    this.end = chunk.filled().len();
                }
            }
        }
        let n = out.remaining().min(this.end - this.start);
        out.put_slice(&this.buf[this.start..this.start + n]);
        this.start += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for NetReadBuffer<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_see_every_byte_in_order_and_the_buffer_goes_when_idle() {
        let (mut far, near) = tokio::io::duplex(1 << 20);
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        far.write_all(&sent).await.unwrap();
        let mut reader = NetReadBuffer::new(near);
        let mut got = Vec::new();
        let mut piece = [0u8; 4096];
        while got.len() < sent.len() {
            let n = reader.read(&mut piece).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&piece[..n]);
        }
        assert_eq!(got, sent);
        // Nothing left to read: the next read waits, and lets the buffer go.
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            reader.read(&mut piece),
        )
        .await;
        assert!(waiting.is_err());
        assert_eq!(reader.buf.capacity(), 0);
        far.write_all(b"more").await.unwrap();
        drop(far);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"more");
    }
}
