//! The pub/sub fixtures' contract (issue #8), checked frame by frame against the conformance
//! server running as a separate process: `subscribe` answers a METADATA frame with leading
//! `{"subscribed": topic}`, then every message published to the topic, until CANCEL;
//! `publish` answers `true`. With `--redis`, two servers share topics through a real
//! `redis-server` the test starts on a free loopback port (skipped without the binary,
//! a failure under `CI=true`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rmpv::Value as V;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);
const METADATA: u64 = 2;
const CANCEL: u64 = 3;

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the conformance server with `args`; returns it and its ws URL.
fn server(args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_swill-conformance"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
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
    (Proc(child), url)
}

/// Starts `redis-server` on a free loopback port and waits until it answers PING; `None`
/// when it is not installed (outside CI).
async fn redis() -> Option<(Proc, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spawned = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--logfile", ""])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server is not installed (apt-get install -y redis-server)"
            );
            eprintln!("skipped: redis-server is not installed");
            return None;
        }
        Err(e) => panic!("cannot start redis-server: {e}"),
    };
    let stdout = child.stdout.take().expect("stdout");
    let proc = Proc(child);
    // The "ready" log line is the gate; keep draining the log afterwards.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Ready to accept connections") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
        }
    });
    rx.recv_timeout(WAIT)
        .expect("redis-server never became ready");
    let mut tcp = tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(("127.0.0.1", port)))
        .await
        .unwrap()
        .unwrap();
    tcp.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 7];
    tokio::time::timeout(WAIT, tcp.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
    Some((proc, port))
}

async fn connect(url: &str) -> Ws {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill/1"),
    );
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect timed out")
        .expect("connect");
    ws
}

async fn send(ws: &mut Ws, frame: V) {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &frame).unwrap();
    tokio::time::timeout(WAIT, ws.send(Message::Binary(out.into())))
        .await
        .unwrap()
        .unwrap();
}

/// The next response frame as `[seq, data, type, leading, trailing]`.
async fn recv(ws: &mut Ws) -> Vec<V> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no frame in time")
        {
            Some(Ok(Message::Binary(b))) => {
                let v = rmpv::decode::read_value(&mut &b[..]).unwrap();
                return match v {
                    V::Array(items) if items.len() == 5 => items,
                    other => panic!("not a response frame: {other}"),
                };
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

fn request(seq: i64, data: V, rpc: &str) -> V {
    V::Array(vec![V::from(seq), data, V::from(rpc)])
}

fn map(entries: Vec<(&str, V)>) -> V {
    V::Map(entries.into_iter().map(|(k, v)| (V::from(k), v)).collect())
}

/// Subscribes on `seq` and checks the confirmation: `[seq, nil, METADATA, {"subscribed":
/// topic}, nil]`.
async fn subscribe(ws: &mut Ws, seq: i64, topic: &str) {
    send(ws, request(seq, V::from(topic), "subscribe")).await;
    let f = recv(ws).await;
    assert_eq!(f[0], V::from(seq));
    assert_eq!(f[1], V::Nil);
    assert_eq!(f[2], V::from(METADATA));
    assert_eq!(f[3], map(vec![("subscribed", V::from(topic))]));
    assert_eq!(f[4], V::Nil);
}

/// Publishes and checks the answer `[seq, true, ...]`.
async fn publish(ws: &mut Ws, seq: i64, topic: &str, message: V) {
    send(
        ws,
        request(
            seq,
            map(vec![("topic", V::from(topic)), ("message", message)]),
            "publish",
        ),
    )
    .await;
    let f = recv(ws).await;
    assert_eq!(f[0], V::from(seq), "{f:?}");
    assert_eq!(f[1], V::Boolean(true), "{f:?}");
}

async fn contract(sub_url: &str, pub_url: &str) {
    let mut sub = connect(sub_url).await;
    let mut publ = connect(pub_url).await;
    subscribe(&mut sub, 1, "news").await;
    let messages = [
        V::from(1),
        map(vec![("text", V::from("hi"))]),
        V::Binary(vec![0, 1, 2]),
    ];
    for (i, m) in messages.iter().enumerate() {
        publish(&mut publ, 10 + i as i64, "news", m.clone()).await;
    }
    publish(&mut publ, 20, "other", V::from("not for news")).await;
    for m in &messages {
        let f = recv(&mut sub).await;
        assert_eq!(f[0], V::from(1));
        assert_eq!(&f[1], m);
        assert_eq!(f[2], V::from(0u64), "a MESSAGE frame");
    }
    // CANCEL ends it: a later publish is not delivered (the echo answers first).
    send(
        &mut sub,
        V::Array(vec![
            V::from(1),
            V::Nil,
            V::from("subscribe"),
            V::from(CANCEL),
        ]),
    )
    .await;
    send(&mut sub, request(2, V::from("after"), "echo")).await;
    let f = recv(&mut sub).await;
    assert_eq!((f[0].clone(), f[1].clone()), (V::from(2), V::from("after")));
    publish(&mut publ, 30, "news", V::from("late")).await;
    send(&mut sub, request(3, V::from("still quiet"), "echo")).await;
    let f = recv(&mut sub).await;
    assert_eq!(
        f[0],
        V::from(3),
        "nothing more on the cancelled stream: {f:?}"
    );
}

#[tokio::test]
async fn subscribe_and_publish_follow_the_contract_in_process() {
    let (_server, url) = server(&[]);
    contract(&url, &url).await;
}

#[tokio::test]
async fn two_servers_share_topics_through_redis() {
    let Some((_redis, port)) = redis().await else {
        return;
    };
    let redis_url = format!("redis://127.0.0.1:{port}");
    let (_a, a) = server(&["--redis", &redis_url]);
    let (_b, b) = server(&["--redis", &redis_url]);
    contract(&a, &b).await;
}
