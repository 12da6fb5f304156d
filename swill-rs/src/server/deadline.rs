//! [`DeadlineIo`]: the connection's deadlines enforced where the bytes arrive.
//!
//! tungstenite assembles fragmented messages internally, and every frame it reads (pings
//! included) counts as activity for the idle timeout. So a client could send the first
//! fragment of a large message, then a ping now and then, and pin that fragment's buffer
//! for as long as it liked. This wrapper follows the WebSocket frame headers in the byte
//! stream (cheaply: payloads are skipped by length, never looked at) and knows whether a
//! message is incomplete: a frame partly received, or a fragmented message without its final
//! fragment. Once an incomplete message has been waited for longer than the message timeout,
//! or the connection has lived past its maximum lifetime, the next read fails with an
//! [`Expired`] error, which the driver turns into a close frame (1008 or 1001).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::payload::byte_budget::ByteBudget;

/// Which deadline passed; the inner error of the `io::Error` a read fails with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// A message stayed incomplete for longer than this.
    Message(Duration),
    /// The connection reached its maximum lifetime.
    Lifetime,
}

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message(d) => write!(f, "message not completed within {d:?}"),
            Self::Lifetime => f.write_str("connection lifetime reached"),
        }
    }
}

impl std::error::Error for Expired {}

impl Expired {
    /// The [`Expired`] inside an I/O error, if that is what it is.
    pub(crate) fn of(e: &io::Error) -> Option<Self> {
        e.get_ref()?.downcast_ref::<Self>().copied()
    }

    /// The close code and reason the connection ends with.
    pub(crate) fn close(self) -> (u16, String) {
        match self {
            Self::Message(_) => (1008, self.to_string()),
            Self::Lifetime => (1001, self.to_string()),
        }
    }
}

/// Follows frame boundaries in the client's byte stream.
#[derive(Debug, Default)]
struct Frames {
    /// Bytes of the current frame header seen so far (at most 14).
    head: [u8; 14],
    head_len: u8,
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    /// The current frame, once its header is complete: data (not control) and final.
    data_fin: Option<bool>,
    /// A data message has started and its final fragment has not been completed.
    open: bool,
    /// Payload bytes of the incomplete data message received so far (0 between messages).
    message_bytes: u64,
}

impl Frames {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = usize::try_from(self.payload_left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                bytes = &bytes[n..];
                self.payload_left -= n as u64;
                if self.data_fin.is_some() {
                    self.message_bytes += n as u64;
                }
                if self.payload_left == 0 {
                    self.frame_done();
                }
                continue;
            }
            let idx = usize::from(self.head_len);
            if idx >= self.head.len() {
                // Cannot happen with a well-formed header length; start over rather than
                // index out of bounds.
                self.head_len = 0;
                continue;
            }
            self.head[idx] = bytes[0];
            self.head_len += 1;
            bytes = &bytes[1..];
            if let Some((len, fin, data)) = self.header() {
                self.head_len = 0;
                self.data_fin = data.then_some(fin);
                self.payload_left = len;
                if data && !fin {
                    self.open = true;
                }
                if len == 0 {
                    self.frame_done();
                }
            }
        }
    }

    /// The complete header's payload length, FIN bit and whether it is a data frame.
    fn header(&self) -> Option<(u64, bool, bool)> {
        let h = &self.head[..usize::from(self.head_len)];
        if h.len() < 2 {
            return None;
        }
        let fin = h[0] & 0x80 != 0;
        let data = h[0] & 0x08 == 0;
        let masked = h[1] & 0x80 != 0;
        let mask_len = if masked { 4 } else { 0 };
        let (ext, len) = match h[1] & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(u64::from(n))),
        };
        if h.len() < 2 + ext + mask_len {
            return None;
        }
        let len = len.unwrap_or_else(|| {
            h[2..2 + ext]
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        });
        Some((len, fin, data))
    }

    fn frame_done(&mut self) {
        if let Some(fin) = self.data_fin.take() {
            self.open = !fin;
            if fin {
                self.message_bytes = 0;
            }
        }
    }

    /// Whether a message is incomplete: a frame partly received or fragments still to come.
    fn incomplete(&self) -> bool {
        self.open || self.head_len > 0 || self.payload_left > 0
    }
}

/// Deadlines of one connection, around its socket.
pub(crate) struct DeadlineIo<S> {
    inner: S,
    /// Bytes the HTTP layer read past the upgrade request; served first.
    early: Bytes,
    frames: Frames,
    message_timeout: Duration,
    /// Armed while a message is incomplete and the socket has nothing more for now.
    message_timer: Option<Pin<Box<Sleep>>>,
    lifetime: Option<Pin<Box<Sleep>>>,
    /// A deadline was reported; reads pass through from now on (the closing sequence).
    expired: bool,
    /// The app's budget for incomplete messages, and what this connection holds of it.
    input: Option<Arc<ByteBudget>>,
    held: u64,
}

/// Bytes an incomplete message may reach before it reserves from the app's input budget:
/// ordinary messages never touch the shared counter.
pub(crate) const FREE_INPUT: u64 = 64 * 1024;

/// Reservations grow in steps of at least this much, so a large message takes the shared
/// counter a few times, not once per read.
const RESERVE_STEP: u64 = 256 * 1024;

impl<S> DeadlineIo<S> {
    pub(crate) fn new(
        inner: S,
        early: Bytes,
        message_timeout: Duration,
        lifetime: Option<Duration>,
    ) -> Self {
        // `early` is a view of the HTTP layer's read buffer (hyper's is 8 KiB): kept as it
        // is, even empty, it would pin that whole buffer for the connection's life. The few
        // bytes a client sent right behind its upgrade request are copied instead.
        let early = if early.is_empty() {
            Bytes::new()
        } else {
            Bytes::copy_from_slice(&early)
        };
        Self {
            inner,
            early,
            frames: Frames::default(),
            message_timeout,
            message_timer: None,
            lifetime: lifetime.map(|d| Box::pin(tokio::time::sleep(d))),
            expired: false,
            input: None,
            held: 0,
        }
    }

    /// Shares `budget` with the app's other connections (`Config::input_budget`).
    pub(crate) fn input_budget(mut self, budget: Arc<ByteBudget>) -> Self {
        self.input = Some(budget);
        self
    }

    /// No more input for now (the socket ran dry, or the input budget is spent): an
    /// incomplete message arms the message deadline, which a later poll reports.
    fn wait_incomplete(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.frames.incomplete() {
            if self.message_timer.is_none() {
                // Measured from when the input stopped with the message unfinished: the
                // bytes before arrived in the same burst.
                let at = Instant::now() + self.message_timeout;
                self.message_timer = Some(Box::pin(tokio::time::sleep_until(at)));
            }
            if let Some(e) = self.check(cx) {
                return Poll::Ready(Err(expired(e)));
            }
        }
        Poll::Pending
    }

    /// Before a read that may bring `room` more bytes: makes sure an incomplete message past
    /// [`FREE_INPUT`] has them reserved. `false`: the budget is spent; the waker is
    /// registered and the read must wait.
    fn reserve(&mut self, room: usize, cx: &Context<'_>) -> bool {
        let Some(budget) = &self.input else {
            return true;
        };
        let partial = self.frames.message_bytes;
        if !self.frames.incomplete() || partial < FREE_INPUT {
            return true;
        }
        let need = partial.saturating_add(room as u64);
        if need <= self.held {
            return true;
        }
        let exact = usize::try_from(need - self.held).unwrap_or(usize::MAX);
        let step = exact.max(RESERVE_STEP as usize);
        let got = if budget.try_reserve(step) {
            step
        } else if budget.try_reserve(exact) {
            exact
        } else {
            budget.wait(cx.waker());
            // A release between the failed try and the registration would be missed.
            if !budget.try_reserve(exact) {
                return false;
            }
            exact
        };
        self.held += got as u64;
        true
    }

    /// After a read: gives back what the incomplete message no longer needs (all of it once
    /// the message completed).
    fn settle(&mut self) {
        let Some(budget) = &self.input else {
            return;
        };
        let keep = if self.frames.incomplete() && self.frames.message_bytes >= FREE_INPUT {
            self.frames.message_bytes
        } else {
            0
        };
        if self.held > keep.saturating_add(RESERVE_STEP) || keep == 0 {
            let back = self.held - keep.min(self.held);
            budget.release(usize::try_from(back).unwrap_or(usize::MAX));
            self.held -= back;
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> Option<Expired> {
        if self.expired {
            return None;
        }
        if let Some(t) = self.lifetime.as_mut() {
            if t.as_mut().poll(cx).is_ready() {
                self.expired = true;
                self.give_back();
                return Some(Expired::Lifetime);
            }
        }
        if let Some(t) = self.message_timer.as_mut() {
            if t.as_mut().poll(cx).is_ready() {
                self.expired = true;
                self.give_back();
                return Some(Expired::Message(self.message_timeout));
            }
        }
        None
    }

    /// Gives back every byte this connection holds of the input budget.
    fn give_back(&mut self) {
        if let Some(budget) = &self.input {
            budget.release(usize::try_from(self.held).unwrap_or(usize::MAX));
        }
        self.held = 0;
    }
}

impl<S> Drop for DeadlineIo<S> {
    fn drop(&mut self) {
        self.give_back();
    }
}

impl<S: super::io::Release> super::io::Release for DeadlineIo<S> {
    fn release(&mut self) -> bool {
        self.inner.release()
    }
}

fn expired(e: Expired) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, e)
}

impl<S: AsyncRead + Unpin> AsyncRead for DeadlineIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(e) = this.check(cx) {
            return Poll::Ready(Err(expired(e)));
        }
        if !this.early.is_empty() {
            let n = out.remaining().min(this.early.len());
            let chunk = this.early.split_to(n);
            if this.early.is_empty() {
                // Served: let the copy go.
                this.early = Bytes::new();
            }
            if !this.expired {
                this.frames.feed(&chunk);
            }
            out.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        if !this.expired && !this.reserve(out.remaining(), cx) {
            // The app's input budget is spent: wait for room, under the message deadline.
            return this.wait_incomplete(cx);
        }
        let before = out.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, out);
        if this.expired {
            return res;
        }
        match res {
            Poll::Ready(Ok(())) => {
                this.frames.feed(&out.filled()[before..]);
                if !this.frames.incomplete() {
                    this.message_timer = None;
                }
                this.settle();
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.wait_incomplete(cx),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<S> {
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

/// Most input a closing connection discards so that its close frame is not reset away: a
/// message at the default size limit, plus a margin.
const DRAIN_LIMIT: usize = 17 << 20;

/// Reads and discards input until the peer closes or [`DRAIN_LIMIT`] bytes went by (the
/// caller bounds the time).
pub(crate) async fn drain<S: AsyncRead + Unpin>(io: &mut S) {
    let mut scratch = vec![0u8; 16 * 1024];
    let mut left = DRAIN_LIMIT;
    while left > 0 {
        match tokio::io::AsyncReadExt::read(io, &mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        match len {
            0..=125 => f.push(0x80 | len as u8),
            126..=0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend(std::iter::repeat_n(7u8, len));
        f
    }

    #[test]
    fn follows_fragments_across_pings_and_splits() {
        let mut bytes = frame(false, 2, 300); // first fragment
        bytes.extend(frame(true, 9, 4)); // ping
        let mut tail = frame(false, 0, 70_000); // continuation
        tail.extend(frame(true, 0, 10)); // final fragment
        let mut f = Frames::default();
        for chunk in bytes.chunks(7) {
            f.feed(chunk);
        }
        assert!(f.incomplete(), "the message still has fragments to come");
        let (a, b) = tail.split_at(tail.len() - 3);
        f.feed(a);
        assert!(f.incomplete());
        f.feed(b);
        assert!(!f.incomplete());
        f.feed(&frame(true, 2, 0));
        assert!(!f.incomplete());
        f.feed(&frame(true, 2, 10)[..5]);
        assert!(
            f.incomplete(),
            "a frame partly received is an incomplete message"
        );
    }

    #[tokio::test]
    async fn early_bytes_do_not_pin_the_http_read_buffer() {
        use tokio::io::AsyncReadExt;
        let http_buf = Bytes::from(vec![0u8; 8192]);
        let (_a, b) = tokio::io::duplex(64);
        let empty = DeadlineIo::new(b, http_buf.slice(8192..), Duration::from_secs(1), None);
        assert!(
            http_buf.is_unique(),
            "an empty tail still pinned the buffer"
        );
        drop(empty);
        let (_a, b) = tokio::io::duplex(64);
        let frame = frame(true, 2, 3);
        let mut http_buf = BytesMut::from(&[0u8; 100][..]);
        http_buf.extend_from_slice(&frame);
        let http_buf = http_buf.freeze();
        let mut io = DeadlineIo::new(b, http_buf.slice(100..), Duration::from_secs(1), None);
        assert!(http_buf.is_unique(), "the early bytes pinned the buffer");
        let mut got = vec![0u8; frame.len()];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(got, frame, "the early bytes are served first");
        assert!(io.early.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut f = Frames::default();
        let noise: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for chunk in noise.chunks(13) {
            f.feed(chunk);
        }
        f.feed(&[
            0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4,
        ]);
        assert!(f.incomplete());
    }
}
