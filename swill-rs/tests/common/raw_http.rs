//! The one hand-written HTTP/1.1 client, over a raw TCP socket: WebSocket upgrade requests
//! written as a browser writes them, plain GETs, and a response reader that stops exactly at
//! the end of the response, so the socket of a 101 carries on as the WebSocket.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::timeout::TimeoutExt;

/// The most a response head, or one line of it, may take.
const MAX_HEAD: usize = 64 * 1024;

/// An HTTP/1.1 response read off a raw socket.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    /// The status code.
    pub(crate) status: u16,
    /// The headers, names as the server wrote them.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    /// The first header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics when it is not).
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// A WebSocket upgrade request for `path`, offering `protocol` when given (the key is the
/// RFC 6455 sample, so the accept value is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`).
pub(crate) fn upgrade_request(path: &str, protocol: Option<&str>) -> String {
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

/// `GET path` with `Connection: close`, on a fresh connection.
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw_http(addr, &req).await.0
}

/// Writes `request` on a fresh TCP connection and reads one response. Returns the socket
/// too, positioned just after the response (after a 101, at the first WebSocket byte).
pub(crate) async fn raw_http(addr: SocketAddr, request: &str) -> (HttpResponse, TcpStream) {
    let mut tcp = TcpStream::connect(addr).with_timeout().await.unwrap();
    tcp.write_all(request.as_bytes())
        .with_timeout()
        .await
        .unwrap();
    let res = read_response(&mut tcp).await;
    (res, tcp)
}

/// Reads a response head, then its body: none for 1xx, 204 and 304, else by chunks, by
/// `Content-Length`, or up to the end of the stream.
async fn read_response(tcp: &mut TcpStream) -> HttpResponse {
    let status_line = read_line(tcp).await;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    let mut head_len = status_line.len();
    loop {
        let line = read_line(tcp).await;
        if line.is_empty() {
            break;
        }
        head_len += line.len();
        assert!(head_len < MAX_HEAD, "response head too large");
        let (k, v) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("bad header line {line:?}"));
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut res = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return res;
    }
    let chunked = res
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        res.body = read_chunked(tcp).await;
    } else if let Some(len) = res.header("content-length") {
        let len: usize = len.parse().expect("a numeric Content-Length");
        let mut body = vec![0; len];
        tcp.read_exact(&mut body).with_timeout().await.unwrap();
        res.body = body;
    } else {
        tcp.read_to_end(&mut res.body).with_timeout().await.unwrap();
    }
    res
}

/// One CRLF-terminated line, without the CRLF, read byte by byte so nothing after it is
/// consumed.
async fn read_line(tcp: &mut TcpStream) -> String {
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        assert!(line.len() < MAX_HEAD, "line too long: {line:?}");
        let byte = tcp.read_u8().with_timeout().await.unwrap_or_else(|e| {
            panic!(
                "connection ended inside a line ({e}): {:?}",
                String::from_utf8_lossy(&line)
            )
        });
        line.push(byte);
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).expect("an ASCII head")
}

/// A chunked body, up to and including its last (empty) chunk and trailers.
async fn read_chunked(tcp: &mut TcpStream) -> Vec<u8> {
    let mut body = Vec::new();
    for _ in 0..1_000_000 {
        let size_line = read_line(tcp).await;
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_line:?}"));
        if size == 0 {
            while !read_line(tcp).await.is_empty() {}
            return body;
        }
        let start = body.len();
        body.resize(start + size, 0);
        tcp.read_exact(&mut body[start..])
            .with_timeout()
            .await
            .unwrap();
        assert!(
            read_line(tcp).await.is_empty(),
            "chunk not followed by CRLF"
        );
    }
    panic!("more than a million chunks");
}
