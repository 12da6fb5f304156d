//! The admission flags of the conformance server, a contract other suites rely on exactly:
//! `--allow-origin ORIGIN` (repeatable) and `--max-conns-per-ip N`, checked against the
//! server running as a separate process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

/// The conformance server as a child process; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(flags: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_swill-conformance"))
        .args(["--addr", "127.0.0.1:0"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start swill-conformance");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    Server { child, url }
}

/// An upgrade with an optional `Origin`: the socket, or the refusal's status.
async fn connect(url: &str, origin: Option<&str>) -> Result<Ws, u16> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill/1"),
    );
    if let Some(origin) = origin {
        req.headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake timed out")
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

/// Calls `add(2, 3)` (frames written by hand: `[seq, [2, 3], "add"]`) and checks the answer.
async fn served(ws: &mut Ws) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let req = vec![0x93, 0x01, 0x92, 0x02, 0x03, 0xa3, b'a', b'd', b'd'];
    tokio::time::timeout(WAIT, ws.send(Message::Binary(req.into())))
        .await
        .unwrap()
        .unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => {
                let v = rmpv::decode::read_value(&mut &b[..]).unwrap();
                let items = v.as_array().unwrap();
                assert_eq!(items[0], rmpv::Value::from(1));
                assert_eq!(items[1], rmpv::Value::from(5));
                return;
            }
            Some(Ok(_)) => {}
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn allow_origin_refuses_unlisted_origins_with_403() {
    let server = start(&[
        "--allow-origin",
        "https://good.example",
        "--allow-origin",
        "http://localhost:3000",
    ]);
    for origin in ["https://good.example", "http://localhost:3000"] {
        let mut ws = connect(&server.url, Some(origin)).await.unwrap();
        served(&mut ws).await;
    }
    for origin in [
        "https://evil.example",
        "https://good.example.evil.example",
        "null",
    ] {
        assert_eq!(connect(&server.url, Some(origin)).await.err(), Some(403));
    }
    let mut ws = connect(&server.url, None).await.unwrap();
    served(&mut ws).await;
}

#[tokio::test]
async fn without_allow_origin_every_origin_is_accepted() {
    let server = start(&[]);
    let mut ws = connect(&server.url, Some("https://evil.example"))
        .await
        .unwrap();
    served(&mut ws).await;
}

#[tokio::test]
async fn max_conns_per_ip_refuses_the_next_connection_and_serves_the_others() {
    let server = start(&["--max-conns-per-ip", "3"]);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(connect(&server.url, None).await.unwrap());
    }
    let refused = connect(&server.url, None).await.err();
    assert!(matches!(refused, Some(429 | 503)), "{refused:?}");
    for ws in &mut open {
        served(ws).await;
    }
}

#[test]
fn bad_flag_values_are_usage_errors() {
    for args in [
        &["--max-conns-per-ip", "0"][..],
        &["--max-conns-per-ip", "x"],
        &["--max-conns-per-ip"],
        &["--allow-origin"],
    ] {
        let status = Command::new(env!("CARGO_BIN_EXE_swill-conformance"))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
}
