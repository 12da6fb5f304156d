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
pub fn envelope(
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
    send_bytes(ws, envelope(seq, data, rpc, kind, metadata)).await;
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

// ---------------------------------------------------------------------------------------------
// Core-engine helpers (tests/core_*.rs). Added as one block; keep other additions separate.
// ---------------------------------------------------------------------------------------------

/// Spec-style hex: bytes spaced freely, `"text"` stands for the UTF-8 bytes of `text`
/// (the notation of swill-1.md), e.g. `spec_hex(r#"93 01 c0 a3 "add""#)`.
pub fn spec_hex(spec: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = spec;
    while let Some(start) = rest.find('"') {
        out.extend(from_hex(&rest[..start]));
        let tail = &rest[start + 1..];
        let end = tail.find('"').expect("unterminated string in spec hex");
        out.extend_from_slice(&tail.as_bytes()[..end]);
        rest = &tail[end + 1..];
    }
    out.extend(from_hex(rest));
    out
}

/// Sends a frame written in spec notation (see [`spec_hex`]).
pub async fn send_spec(ws: &mut RawWs, spec: &str) {
    send_bytes(ws, spec_hex(spec)).await;
}

/// Receives the next binary frame and asserts it is exactly `spec` (see [`spec_hex`]).
pub async fn expect_frame(ws: &mut RawWs, spec: &str) {
    let got = recv(ws).await;
    assert_eq!(
        to_hex(&got),
        to_hex(&spec_hex(spec)),
        "frame differs from {spec}: got {:?}",
        value(&got)
    );
}

/// `[seq, {"code": code, "message": message}, 3, nil, nil]`, shortest-form encoded.
pub fn error_frame(seq: i64, code: i64, message: &str) -> Vec<u8> {
    use rmpv::Value as V;
    let v = V::Array(vec![
        V::from(seq),
        V::Map(vec![
            (V::from("code"), V::from(code)),
            (V::from("message"), V::from(message)),
        ]),
        V::from(3),
        V::Nil,
        V::Nil,
    ]);
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &v).unwrap();
    out
}

/// Receives the next binary frame and asserts it is [`error_frame`]`(seq, code, message)`.
pub async fn expect_error(ws: &mut RawWs, seq: i64, code: i64, message: &str) {
    let got = recv(ws).await;
    assert_eq!(
        to_hex(&got),
        to_hex(&error_frame(seq, code, message)),
        "expected ERROR {code} {message:?} on seq {seq}, got {:?}",
        value(&got)
    );
}

/// A request frame `[seq, data, rpc(, type(, metadata))]` as the TypeScript client writes it.
pub fn request(seq: i64, data: &impl serde::Serialize, rpc: &str) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, 3).unwrap();
    rmp::encode::write_sint(&mut out, seq).unwrap();
    out.extend(mp(data));
    rmp::encode::write_str(&mut out, rpc).unwrap();
    out
}

/// A control frame `[seq, nil, rpc, kind]` (1 END_OF_STREAM, 3 CANCEL).
pub fn control(seq: i64, rpc: &str, kind: u8) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, 4).unwrap();
    rmp::encode::write_sint(&mut out, seq).unwrap();
    out.push(0xc0);
    rmp::encode::write_str(&mut out, rpc).unwrap();
    rmp::encode::write_uint(&mut out, u64::from(kind)).unwrap();
    out
}

/// Runs `add` (`[a, b]` → `a + b`) on `seq` and checks the reply: proves the connection works.
pub async fn assert_add_works(ws: &mut RawWs, seq: i64) {
    send_bytes(ws, request(seq, &(20, 22), "add")).await;
    let got = value(&recv(ws).await);
    assert_eq!(
        got,
        rmpv::Value::Array(vec![
            rmpv::Value::from(seq),
            rmpv::Value::from(42),
            rmpv::Value::from(0),
            rmpv::Value::Nil,
            rmpv::Value::Nil,
        ]),
        "add on seq {seq}"
    );
}

/// Reads until the server's close frame and returns its code (`None`: the socket ended
/// without one). Binary frames before it are skipped. Keeps reading after the close frame
/// until the socket ends, which is what sends tungstenite's close reply (a client that stops
/// reading at the close frame leaves the server waiting for that reply).
pub async fn read_close_code(ws: &mut RawWs) -> Option<u16> {
    for _ in 0..100_000 {
        match ws.next().with_timeout().await {
            Some(Ok(Message::Close(frame))) => {
                for _ in 0..100 {
                    if !matches!(ws.next().with_timeout().await, Some(Ok(_))) {
                        break;
                    }
                }
                return frame.map(|f| u16::from(f.code));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
    panic!("no close frame within 100000 messages");
}

/// What handlers report to a test: `(event, seq)` pairs over a channel.
#[derive(Clone, Debug)]
pub struct Probe(tokio::sync::mpsc::UnboundedSender<(&'static str, i64)>);

/// The test's end of a [`Probe`].
#[derive(Debug)]
pub struct Events(tokio::sync::mpsc::UnboundedReceiver<(&'static str, i64)>);

/// Sends `("dropped", seq)` when dropped: proof that a handler's future went away.
#[derive(Debug)]
pub struct DropGuard(Probe, i64);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.send("dropped", self.1);
    }
}

pub fn probe() -> (Probe, Events) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (Probe(tx), Events(rx))
}

impl Probe {
    pub fn send(&self, event: &'static str, seq: i64) {
        let _ = self.0.send((event, seq));
    }

    /// Reports `("started", seq)` and returns a guard that reports `("dropped", seq)`.
    pub fn start(&self, seq: i64) -> DropGuard {
        self.send("started", seq);
        DropGuard(self.clone(), seq)
    }
}

impl Events {
    pub async fn next(&mut self) -> (&'static str, i64) {
        self.0.recv().with_timeout().await.expect("probe closed")
    }

    /// Waits for exactly this event next.
    pub async fn expect(&mut self, event: &'static str, seq: i64) {
        assert_eq!(self.next().await, (event, seq));
    }

    /// Waits for these events in any order (nothing else may come in between).
    pub async fn expect_all(&mut self, mut want: Vec<(&'static str, i64)>) {
        while !want.is_empty() {
            let got = self.next().await;
            let pos = want
                .iter()
                .position(|w| *w == got)
                .unwrap_or_else(|| panic!("unexpected event {got:?}, still waiting for {want:?}"));
            want.swap_remove(pos);
        }
    }

    /// Asserts no event arrives within `d`.
    pub async fn expect_none(&mut self, d: Duration) {
        if let Ok(Some(ev)) = tokio::time::timeout(d, self.0.recv()).await {
            panic!("expected no event, got {ev:?}");
        }
    }
}

/// Like [`spawn`], but mounts the app as a tower service in axum itself, so the test can
/// watch [`swill::server::ShutdownHandle::live_connections`].
pub async fn spawn_tracked(app: Swill) -> (TestServer, swill::server::ShutdownHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = app.into_service();
    let handle = svc.shutdown_handle();
    let router = axum::Router::new().fallback_service(svc);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    (
        TestServer {
            addr,
            shutdown: Some(tx),
            task,
        },
        handle,
    )
}

/// Waits (bounded, polling every 10 ms) until `handle` counts `n` live connections.
pub async fn wait_live(handle: &swill::server::ShutdownHandle, n: usize) {
    for _ in 0..500 {
        if handle.live_connections() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "live connections stayed at {} instead of {n}",
        handle.live_connections()
    );
}

/// A raw HTTP/1.1 response: status code, lower-cased headers, body.
#[derive(Debug)]
pub struct RawHttp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawHttp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An upgrade request for `path`, offering `protocol` when given.
pub fn upgrade_request(path: &str, protocol: Option<&str>) -> String {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    if let Some(p) = protocol {
        req.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// Writes `request` on a fresh TCP connection and reads the response head (and the body,
/// per Content-Length). Returns the stream too, positioned after the response.
pub async fn raw_http(addr: SocketAddr, request: &str) -> (RawHttp, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .with_timeout()
        .await
        .unwrap();
    tcp.write_all(request.as_bytes())
        .with_timeout()
        .await
        .unwrap();
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        assert!(buf.len() < 64 * 1024, "response head too large");
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).with_timeout().await.unwrap();
        assert!(n > 0, "connection closed before the response head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).with_timeout().await.unwrap();
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    let res = RawHttp {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    };
    (res, tcp)
}

// ---------------------------------------------------------------------------------------------
// Fixture handlers shared by the core tests.
// ---------------------------------------------------------------------------------------------

/// Adds two integers.
#[swill::handler]
pub async fn add(req: swill::Request<(i64, i64)>) -> Result<i64, swill::Error> {
    let (a, b) = req.into_data();
    Ok(a + b)
}

/// Never answers; reports its start and the drop of its future through the [`Probe`].
#[swill::handler]
pub async fn hang(
    ctx: swill::CallContext,
    swill::State(p): swill::State<Probe>,
) -> Result<u64, swill::Error> {
    let _guard = p.start(ctx.seq());
    std::future::pending::<()>().await;
    Ok(0)
}
