//! The echo baseline: axum 0.8 serves the HTTP upgrade, then a bare tokio-tungstenite
//! WebSocket echoes every binary message, with swill's server I/O set-up, byte for byte.
//!
//! swill's server (`swill-rs/src/server/service.rs`, `io.rs`) takes the upgraded TCP stream
//! back from hyper, reads it through `AdaptiveIo` (straight into tungstenite's buffer while
//! messages fit in it; 64 KiB socket reads once a read fills it, that chunk kept while the
//! connection is busy and given back after a quiet tick) and gives tungstenite a 1 KiB read
//! buffer and a 64 KiB write buffer. The echo does the same (its quiet tick is swill's
//! default ping interval), so the only difference left between the two is swill's protocol work: the
//! envelope, the call table and the handler. (axum's own `WebSocketUpgrade` cannot take an
//! I/O wrapper, and with its `read_buffer_size(64 KiB)` tungstenite zero-fills 64 KiB before
//! every socket read: callgrind counts ~7,600 instructions per echoed frame that way, so it
//! would not be a baseline as well tuned as swill.)
//!
//! Writes are batched: the echo waits for one message, takes every message that is already
//! ready without waiting (`now_or_never`), `feed`s each, and `flush`es once per batch.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Buf, BytesMut};
use futures::{FutureExt, SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::serve::MAX_MESSAGE;

/// tungstenite's read buffer, as swill's `READ_BUFFER`.
pub(crate) const READ_BUFFER: usize = 1024;
/// How long the connection must be quiet before the read chunk is given back, as swill's
/// quiet tick (its default ping interval).
const QUIET_TICK: std::time::Duration = std::time::Duration::from_secs(20);
/// Output buffered before a socket write, as swill's `WRITE_BUFFER`.
pub(crate) const WRITE_BUFFER: usize = 64 * 1024;
/// Bytes asked of the socket per read while data flows, as swill's `AdaptiveIo::CHUNK`.
pub(crate) const CHUNK: usize = 64 * 1024;

/// The axum handler of `/ws`: answers the upgrade with 101 (subprotocol `swill.v1`) and
/// echoes on the upgraded connection.
pub(crate) async fn upgrade(mut req: Request) -> Response {
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return status(StatusCode::BAD_REQUEST);
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let cfg = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
            Ok(parts) => {
                let io = AdaptiveIo::new(parts.io.into_inner());
                let ws = if parts.read_buf.is_empty() {
                    WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await
                } else {
                    let early = parts.read_buf.to_vec();
                    WebSocketStream::from_partially_read(io, early, Role::Server, Some(cfg)).await
                };
                echo(ws).await;
            }
            Err(upgraded) => {
                let io = AdaptiveIo::new(TokioIo::new(upgraded));
                echo(WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await).await;
            }
        }
    });
    let mut res = status(StatusCode::SWITCHING_PROTOCOLS);
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("swill.v1"),
    );
    res
}

fn status(code: StatusCode) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = code;
    res
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocketStream<AdaptiveIo<S>>) {
    loop {
        let msg = match tokio::time::timeout(QUIET_TICK, ws.next()).await {
            Err(_) => {
                ws.get_mut().release();
                continue;
            }
            Ok(Some(Ok(msg))) => msg,
            Ok(_) => return,
        };
        if feed_binary(&mut ws, msg).await.is_err() {
            return;
        }
        loop {
            match ws.next().now_or_never() {
                Some(Some(Ok(msg))) => {
                    if feed_binary(&mut ws, msg).await.is_err() {
                        return;
                    }
                }
                Some(_) => {
                    let _ = ws.flush().await;
                    return;
                }
                None => break,
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

async fn feed_binary<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    msg: Message,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    match msg {
        Message::Binary(_) => ws.feed(msg).await,
        _ => Ok(()),
    }
}

/// Reads straight into tungstenite's buffer until a read fills it, then socket reads of
/// [`CHUNK`] bytes served from memory; the chunk is kept while the connection is busy and
/// given back by `release` after a quiet tick (swill's `AdaptiveIo`, same behaviour).
struct AdaptiveIo<S> {
    inner: S,
    buf: BytesMut,
    chunk: bool,
}

impl<S> AdaptiveIo<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            chunk: false,
        }
    }

    fn release(&mut self) {
        if self.chunk && self.buf.is_empty() {
            self.buf = BytesMut::new();
            self.chunk = false;
        }
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
