//! A raw WebSocket (tokio-tungstenite), for what the typed client cannot send: malformed and
//! hand-built frames. Sends, receives, silence and the one close reader.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Response};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::server::TestServer;
use super::timeout::TimeoutExt;

/// A raw client socket.
pub(crate) type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The HTTP response to a handshake, body included when the server refused.
pub(crate) type HandshakeResponse = Response<Option<Vec<u8>>>;

/// The most frames [`expect_close`] skips before the close frame.
const MAX_FRAMES_BEFORE_CLOSE: usize = 10_000;

/// A handshake on `url` offering `protocol`, with extra request headers: the socket and the
/// 101 response, or the refusal.
async fn handshake(
    url: &str,
    protocol: &str,
    headers: &[(&str, &str)],
) -> Result<(RawWs, HandshakeResponse), HandshakeResponse> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(protocol).unwrap(),
    );
    for (name, value) in headers {
        req.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).with_timeout().await {
        Ok(ok) => Ok(ok),
        Err(WsError::Http(res)) => Err(*res),
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

/// A raw WebSocket on `url` offering `protocol`; asserts the server selected it.
pub(crate) async fn raw_ws(url: &str, protocol: &str) -> RawWs {
    let (ws, res) = handshake(url, protocol, &[])
        .await
        .unwrap_or_else(|res| panic!("upgrade refused: {res:?}"));
    assert_eq!(
        res.headers()
            .get("sec-websocket-protocol")
            .map(HeaderValue::as_bytes),
        Some(protocol.as_bytes())
    );
    ws
}

impl TestServer {
    /// A raw WebSocket on this server's `/ws`, speaking `swill/1`.
    pub(crate) async fn raw_ws(&self) -> RawWs {
        raw_ws(&self.url(), "swill/1").await
    }
}

/// A `swill/1` handshake with extra request headers: the socket and the 101 response, or
/// the refusal (status, headers and body).
pub(crate) async fn ws_connect_with(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(RawWs, HandshakeResponse), HandshakeResponse> {
    handshake(url, "swill/1", headers).await
}

/// Sends one binary message.
pub(crate) async fn send_bytes(ws: &mut RawWs, bytes: Vec<u8>) {
    ws.send(Message::Binary(bytes.into()))
        .with_timeout()
        .await
        .unwrap();
}

/// The next binary message, as bytes (pings and pongs skipped).
pub(crate) async fn recv(ws: &mut RawWs) -> Vec<u8> {
    loop {
        match ws.next().with_timeout().await {
            Some(Ok(Message::Binary(b))) => return b.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

/// Asserts that nothing arrives within `d`.
///
/// The one kind of fixed wait the tests keep, with [`super::events::Log::expect_none`]:
/// absence sends no signal, so "nothing more is sent" can only be watched for a while. It
/// never orders events: callers first wait for an explicit sign (a reply, a logged event)
/// that what had to happen did, and most follow it with a call whose reply must come next.
pub(crate) async fn expect_silence(ws: &mut RawWs, d: Duration) {
    if let Ok(msg) = tokio::time::timeout(d, ws.next()).await {
        panic!("expected silence, got {msg:?}");
    }
}

/// Reads up to the server's close frame (skipping the frames before it) and returns its
/// code and reason; fails if the socket ends without one. Then keeps reading until the
/// socket ends: that sends tungstenite's close reply, so the server's close handshake
/// completes at once instead of waiting out its close timeout.
pub(crate) async fn expect_close(ws: &mut RawWs) -> (u16, String) {
    for _ in 0..MAX_FRAMES_BEFORE_CLOSE {
        match ws.next().with_timeout().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                for _ in 0..100 {
                    if !matches!(ws.next().with_timeout().await, Some(Ok(_))) {
                        break;
                    }
                }
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) => panic!("close frame without a code"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    panic!("no close frame within {MAX_FRAMES_BEFORE_CLOSE} messages");
}
