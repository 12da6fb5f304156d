//! Shared helpers for the integration tests: real servers on 127.0.0.1:0, real sockets,
//! a timeout on every await.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use swill::Swill;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// `.with_timeout()` on any future: panics with a clear message instead of hanging.
pub trait TimeoutExt: Future + Sized {
    fn with_timeout(self) -> impl Future<Output = Self::Output> {
        async move {
            match tokio::time::timeout(TIMEOUT, self).await {
                Ok(v) => v,
                Err(_) => panic!("timed out after {TIMEOUT:?}"),
            }
        }
    }
}

impl<F: Future> TimeoutExt for F {}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Graceful shutdown; waits for the server to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).with_timeout().await;
    }
}

/// Serves `app` on 127.0.0.1:0 with graceful shutdown wired to [`TestServer::stop`].
pub async fn spawn(app: Swill) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        swill::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    TestServer {
        addr,
        shutdown: Some(tx),
        task,
    }
}

pub type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw WebSocket (tokio-tungstenite) offering `protocol`, for malformed frames.
pub async fn raw_ws(url: &str, protocol: &str) -> RawWs {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(protocol).unwrap(),
    );
    let (ws, res) = tokio_tungstenite::connect_async(req)
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(
        res.headers()
            .get("sec-websocket-protocol")
            .unwrap()
            .as_bytes(),
        protocol.as_bytes()
    );
    ws
}

pub async fn send_hex(ws: &mut RawWs, hex: &str) {
    ws.send(Message::Binary(from_hex(hex).into()))
        .with_timeout()
        .await
        .unwrap();
}

pub async fn send_bytes(ws: &mut RawWs, bytes: Vec<u8>) {
    ws.send(Message::Binary(bytes.into()))
        .with_timeout()
        .await
        .unwrap();
}

/// The next binary message, as bytes.
pub async fn recv(ws: &mut RawWs) -> Vec<u8> {
    loop {
        match ws.next().with_timeout().await {
            Some(Ok(Message::Binary(b))) => return b.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

/// Asserts nothing arrives within `d`.
pub async fn expect_silence(ws: &mut RawWs, d: Duration) {
    if let Ok(msg) = tokio::time::timeout(d, ws.next()).await {
        panic!("expected silence, got {msg:?}");
    }
}

pub fn from_hex(hex: &str) -> Vec<u8> {
    let clean: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
        .collect()
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes any serde value as MessagePack (structs as maps).
pub fn mp(v: &impl serde::Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    v.serialize(&mut rmp_serde::Serializer::new(&mut out).with_struct_map())
        .unwrap();
    out
}

/// Decodes a MessagePack value.
pub fn value(bytes: &[u8]) -> rmpv::Value {
    rmpv::decode::read_value(&mut &bytes[..]).unwrap()
}
