//! The accept side of [`serve`](crate::serve): a quiet back-off when the process runs out of
//! file descriptors, and [`HandshakeIo`], which answers 408 to a client that does not send
//! its upgrade request in time.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// First pause after a failed accept; doubled on each further failure.
const BACKOFF_START: Duration = Duration::from_millis(5);
/// Longest pause between accept attempts while they keep failing: short enough that a
/// freed descriptor is used within a second, long enough not to spin.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one warning per this long while accepts keep failing.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// What a client that sent no request in time gets before the socket closes.
const TIMEOUT_RESPONSE: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// Accept failures in a row, and when they were last reported. The log limit spans streaks:
/// near the descriptor limit, accepts can alternate between success and failure.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// Failures in the current streak (the pause grows with them).
    failures: u64,
    /// Failures since the last warning.
    unreported: u64,
    last_log: Option<Instant>,
    /// The current streak has been reported (so its end is reported too).
    reported: bool,
}

impl Backoff {
    /// An accept succeeded: the streak (if any) is over.
    pub(crate) fn reset(&mut self) {
        if self.reported {
            tracing::info!(failures = self.failures, "accepting connections again");
        }
        self.failures = 0;
        self.reported = false;
    }

    /// An accept failed with `e`: how long to wait before the next try (`None`: at once).
    /// Logs at most one line per [`LOG_EVERY`], with the number of failures since the last.
    pub(crate) fn failed(&mut self, e: &io::Error) -> Option<Duration> {
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
        ) {
            // The peer left before we took the connection: nothing wrong on our side.
            tracing::debug!(error = %e, "accept: connection gone before it was taken");
            return None;
        }
        self.failures += 1;
        self.unreported += 1;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            let kind = if is_fd_exhaustion(e) {
                "out of file descriptors; backing off"
            } else {
                "accept failed; backing off"
            };
            tracing::warn!(error = %e, failures = self.unreported, "{kind}");
            self.unreported = 0;
            self.last_log = Some(now);
            self.reported = true;
        }
        let shift = u32::try_from(self.failures.saturating_sub(1).min(16)).unwrap_or(16);
        Some(BACKOFF_START.saturating_mul(1 << shift).min(BACKOFF_MAX))
    }
}

/// EMFILE or ENFILE, as Linux, the BSDs and macOS number them.
fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// A TCP stream with a deadline for the first request: if no request head has arrived when
/// it passes, the client gets HTTP 408 and the HTTP layer sees the end of the stream.
pub(crate) struct HandshakeIo<S = TcpStream> {
    stream: S,
    deadline: Option<Pin<Box<Sleep>>>,
    got_request: Arc<AtomicBool>,
    timed_out: bool,
}

impl<S> HandshakeIo<S> {
    /// `got_request` is set by the service when the first request head has been parsed.
    pub(crate) fn new(stream: S, timeout: Duration, got_request: Arc<AtomicBool>) -> Self {
        Self {
            stream,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            got_request,
            timed_out: false,
        }
    }

    /// The socket, for the WebSocket connection after the upgrade.
    pub(crate) fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for HandshakeIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.timed_out {
            return Poll::Ready(Ok(()));
        }
        if let Some(deadline) = this.deadline.as_mut() {
            if this.got_request.load(Ordering::Acquire) {
                this.deadline = None;
            } else if deadline.as_mut().poll(cx).is_ready() {
                this.deadline = None;
                this.timed_out = true;
                // Nothing has been written on this connection yet (no request was read), so
                // the response goes out whole or not at all; a full send buffer is not
                // worth waiting for.
                let _ = Pin::new(&mut this.stream).poll_write(cx, TIMEOUT_RESPONSE);
                tracing::debug!("handshake timed out; answered 408");
                return Poll::Ready(Ok(()));
            }
        }
        Pin::new(&mut this.stream).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HandshakeIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_and_logs_once_per_streak() {
        let mut b = Backoff::default();
        let emfile = io::Error::from_raw_os_error(24);
        assert!(is_fd_exhaustion(&emfile));
        let waits: Vec<_> = (0..12).map(|_| b.failed(&emfile).unwrap()).collect();
        assert_eq!(waits[0], BACKOFF_START);
        assert_eq!(waits[1], BACKOFF_START * 2);
        assert_eq!(*waits.last().unwrap(), BACKOFF_MAX);
        assert_eq!(
            b.unreported, 11,
            "only the first failure of the streak was logged"
        );
        tokio::time::advance(LOG_EVERY).await;
        let _ = b.failed(&emfile);
        assert_eq!(b.unreported, 0, "a minute later one more line is logged");
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(b.failed(&aborted), None);
        b.reset();
        assert_eq!(b.failures, 0);
        // A new streak soon after is not logged again: the limit spans streaks.
        assert_eq!(b.failed(&emfile), Some(BACKOFF_START));
        assert_eq!(b.unreported, 1);
    }
}
