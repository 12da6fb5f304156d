//! [`AdaptiveIo`]: socket reads that are large when data flows and free when it does not.
//!
//! tungstenite reads at most its read-buffer size per call. A small buffer keeps idle
//! connections cheap but turns a 1 MiB message into hundreds of 2 KiB `read` calls. This
//! wrapper reads straight into tungstenite's buffer while what arrives fits in it (small
//! messages, a few calls at a time: no chunk at all). Once a read fills that buffer, more is
//! likely behind it: it takes a [`CHUNK`] of up to 64 KiB, reads the socket that much at
//! once and serves tungstenite's small reads from memory. The chunk is kept while the
//! connection is in use (reserving and freeing 64 KiB whenever a read drained the socket
//! cost an allocation and 8 KiB of copying per busy unary call) and given back by
//! [`AdaptiveIo::release`], which the driver calls once the connection has been quiet for a
//! tick.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes requested from the socket per read while data flows.
pub(crate) const CHUNK: usize = 64 * 1024;

/// A socket layer that holds memory it can give back while the connection is quiet.
pub(crate) trait Release {
    /// Frees buffers held for reading; returns whether one was released.
    fn release(&mut self) -> bool;
}

pub(crate) struct AdaptiveIo<S> {
    inner: S,
    buf: BytesMut,
    /// `buf` holds a chunk (its capacity drops to 0 once read to the end, the allocation
    /// stays).
    chunk: bool,
}

impl<S> AdaptiveIo<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            chunk: false,
        }
    }

    /// Whether a read chunk is held now.
    #[cfg(test)]
    pub(crate) const fn holds_chunk(&self) -> bool {
        self.chunk
    }
}

impl<S> Release for AdaptiveIo<S> {
    fn release(&mut self) -> bool {
        // Bytes not handed out yet stay (there are none once tungstenite read on to
        // `Pending`, which serves the chunk empty first).
        if !self.chunk || !self.buf.is_empty() {
            return false;
        }
        self.buf = BytesMut::new();
        self.chunk = false;
        true
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AdaptiveIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.buf.is_empty() {
            if out.remaining() >= CHUNK || !this.chunk {
                // No chunk: read into the caller's buffer; a full one says more is coming.
                let room = out.remaining();
                let before = out.filled().len();
                let res = Pin::new(&mut this.inner).poll_read(cx, out);
                if let Poll::Ready(Ok(())) = res {
                    if room < CHUNK && out.filled().len() - before == room {
                        this.buf.reserve(CHUNK);
                        this.chunk = true;
                    }
                }
                return res;
            }
            // Reuse the chunk from its start: everything in it was handed out, so this
            // moves no byte and allocates nothing.
            this.buf.clear();
            this.buf.reserve(CHUNK);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(_)) => {}
            }
        }
        let n = out.remaining().min(this.buf.len());
        out.put_slice(&this.buf[..n]);
        this.buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AdaptiveIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_are_served_from_one_large_read() {
        let (mut a, b) = tokio::io::duplex(1 << 20);
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        a.write_all(&payload).await.unwrap();
        drop(a);
        let mut io = AdaptiveIo::new(b);
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = io.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(got, payload);
    }

    #[tokio::test]
    async fn small_reads_take_no_chunk_and_a_quiet_one_gives_it_back() {
        let (mut a, b) = tokio::io::duplex(1 << 20);
        let mut io = AdaptiveIo::new(b);
        let mut small = [0u8; 2048];
        a.write_all(&[1u8; 100]).await.unwrap();
        assert_eq!(io.read(&mut small).await.unwrap(), 100);
        assert!(
            !io.holds_chunk(),
            "what fits the caller's buffer needs no chunk"
        );

        // A read that fills the caller's buffer: the next ones go through a chunk, kept
        // between bursts (no allocation per read that drains the socket).
        a.write_all(&vec![2u8; 10_000]).await.unwrap();
        let mut got = 0;
        while got < 10_000 {
            got += io.read(&mut small).await.unwrap();
        }
        assert!(io.holds_chunk(), "a busy connection reads through a chunk");
        let pending = futures_util::poll!(Box::pin(io.read(&mut small)));
        assert!(pending.is_pending());
        assert!(
            io.holds_chunk(),
            "the chunk is kept when the socket runs dry"
        );
        a.write_all(&[3u8; 10]).await.unwrap();
        assert_eq!(io.read(&mut small).await.unwrap(), 10);
        assert!(io.holds_chunk(), "and reused");

        // The driver's quiet tick gives it back.
        assert!(io.release());
        assert!(!io.holds_chunk());
        assert!(!io.release());
        a.write_all(&[4u8; 10]).await.unwrap();
        assert_eq!(io.read(&mut small).await.unwrap(), 10);
        assert!(!io.holds_chunk());
    }
}
