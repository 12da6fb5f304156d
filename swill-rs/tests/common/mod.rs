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

// ---------------------------------------------------------------------------------------------
// Helpers for the app-level tests (hooks, mounting, modules, validation, introspection).
// ---------------------------------------------------------------------------------------------

/// One response envelope, decoded: `[seq, data, type, leading, trailing]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resp {
    pub seq: i64,
    pub data: rmpv::Value,
    pub kind: u8,
    pub leading: rmpv::Value,
    pub trailing: rmpv::Value,
}

pub const MESSAGE: u8 = 0;
pub const END_OF_STREAM: u8 = 1;
pub const METADATA: u8 = 2;
pub const ERROR: u8 = 3;
pub const CANCEL: u8 = 3;

impl Resp {
    pub fn decode(bytes: &[u8]) -> Self {
        let v = value(bytes);
        let items = v.as_array().unwrap_or_else(|| panic!("not an array: {v}"));
        assert_eq!(items.len(), 5, "responses have five elements: {v}");
        Self {
            seq: items[0].as_i64().unwrap(),
            data: items[1].clone(),
            kind: items[2].as_u64().unwrap() as u8,
            leading: items[3].clone(),
            trailing: items[4].clone(),
        }
    }

    /// The `code` of an ERROR frame's map (panics for other frames).
    pub fn error_code(&self) -> i64 {
        assert_eq!(self.kind, ERROR, "expected an ERROR frame, got {self:?}");
        get(&self.data, "code").as_i64().unwrap()
    }

    /// The `message` of an ERROR frame's map.
    pub fn error_message(&self) -> String {
        assert_eq!(self.kind, ERROR, "expected an ERROR frame, got {self:?}");
        get(&self.data, "message").as_str().unwrap().to_owned()
    }
}

/// The value under `key` in a MessagePack map (panics when missing).
pub fn get<'v>(map: &'v rmpv::Value, key: &str) -> &'v rmpv::Value {
    try_get(map, key).unwrap_or_else(|| panic!("no key {key:?} in {map}"))
}

/// The value under `key` in a MessagePack map, if any.
pub fn try_get<'v>(map: &'v rmpv::Value, key: &str) -> Option<&'v rmpv::Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// The keys of a MessagePack map, in order, as strings.
pub fn keys(map: &rmpv::Value) -> Vec<String> {
    map.as_map()
        .unwrap_or_else(|| panic!("not a map: {map}"))
        .iter()
        .map(|(k, _)| k.as_str().unwrap_or("<non-str>").to_owned())
        .collect()
}

/// Encodes a request envelope `[seq, data, rpc, type, metadata]`, writing the type and
/// metadata elements only when needed (canonical form).
pub fn request(
    seq: i64,
    data: rmpv::Value,
    rpc: &str,
    kind: u8,
    metadata: Option<rmpv::Value>,
) -> Vec<u8> {
    let mut items = vec![rmpv::Value::from(seq), data, rmpv::Value::from(rpc)];
    if kind != 0 || metadata.is_some() {
        items.push(rmpv::Value::from(kind));
    }
    if let Some(md) = metadata {
        items.push(md);
    }
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &rmpv::Value::Array(items)).unwrap();
    out
}

/// Sends a request envelope.
pub async fn send_req(
    ws: &mut RawWs,
    seq: i64,
    data: rmpv::Value,
    rpc: &str,
    kind: u8,
    metadata: Option<rmpv::Value>,
) {
    send_bytes(ws, request(seq, data, rpc, kind, metadata)).await;
}

/// The next response envelope.
pub async fn recv_resp(ws: &mut RawWs) -> Resp {
    Resp::decode(&recv(ws).await)
}

/// Any serde value as a dynamic MessagePack value (structs as maps).
pub fn mpv(v: &impl serde::Serialize) -> rmpv::Value {
    value(&mp(v))
}

/// A MessagePack map from string keys.
pub fn mmap(entries: &[(&str, rmpv::Value)]) -> rmpv::Value {
    rmpv::Value::Map(
        entries
            .iter()
            .map(|(k, v)| (rmpv::Value::from(*k), v.clone()))
            .collect(),
    )
}

/// Waits for the close frame and returns its code and reason; frames before it are skipped
/// (at most 64).
pub async fn expect_close(ws: &mut RawWs) -> (u16, String) {
    for _ in 0..64 {
        match ws.next().with_timeout().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                // Keep reading so tungstenite sends its close reply and the server's close
                // handshake completes at once.
                for _ in 0..64 {
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
    panic!("no close frame within 64 messages");
}

/// A WebSocket handshake with extra request headers: the socket and the 101 response, or the
/// refusal (status, headers and body).
pub async fn ws_connect_with(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<
    (
        RawWs,
        tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>,
    ),
    tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>,
> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill/1"),
    );
    for (name, value) in headers {
        req.headers_mut().append(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).with_timeout().await {
        Ok(ok) => Ok(ok),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(*res),
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

/// A plain HTTP/1.1 response read off a raw socket.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// `GET path` over a raw TCP socket with a hand-written HTTP/1.1 request
/// (`Connection: close`), reading the whole response.
pub async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .with_timeout()
        .await
        .unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .with_timeout()
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).with_timeout().await.unwrap();
    parse_http_response(&raw)
}

fn parse_http_response(raw: &[u8]) -> HttpResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for _ in 0..100_000 {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    body
}

/// A shared log of events (hook firings, handler steps) that tests can wait on.
#[derive(Clone, Default)]
pub struct Log(std::sync::Arc<LogInner>);

#[derive(Default)]
pub struct LogInner {
    events: std::sync::Mutex<Vec<String>>,
    changed: tokio::sync::Notify,
}

impl Log {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, event: impl Into<String>) {
        self.0.events.lock().unwrap().push(event.into());
        self.0.changed.notify_waiters();
    }

    pub fn events(&self) -> Vec<String> {
        self.0.events.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.0.events.lock().unwrap().clear();
    }

    /// Waits (bounded by the test timeout) until `pred` holds for the events.
    pub async fn wait_until(&self, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        let wait = async {
            loop {
                let changed = self.0.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                {
                    let events = self.0.events.lock().unwrap();
                    if pred(&events) {
                        return events.clone();
                    }
                }
                changed.await;
            }
        };
        match tokio::time::timeout(TIMEOUT, wait).await {
            Ok(v) => v,
            Err(_) => panic!("timed out waiting; events so far: {:?}", self.events()),
        }
    }

    /// Waits until an event equal to `event` was logged.
    pub async fn wait_for(&self, event: &str) -> Vec<String> {
        self.wait_until(|e| e.iter().any(|x| x == event)).await
    }
}
