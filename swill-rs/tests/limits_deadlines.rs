//! Deadlines over real sockets: assembling one message, the connection's lifetime, the
//! handshake (408), and a close frame that survives a client blasting an oversized message.
mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures::{SinkExt, StreamExt};
use rmpv::Value as V;
use swill::{Config, Error, Request, Swill};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

#[swill::handler]
async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    Ok(a + b)
}

fn app(config: Config) -> Swill {
    Swill::new()
        .config(config.shutdown_timeout(Duration::from_millis(300)))
        .handler(add)
}

fn fragment(bytes: &[u8], first: bool, fin: bool) -> Message {
    let opcode = if first {
        OpCode::Data(Data::Binary)
    } else {
        OpCode::Data(Data::Continue)
    };
    Message::Frame(Frame::message(Bytes::copy_from_slice(bytes), opcode, fin))
}

async fn call_add(ws: &mut RawWs, seq: i64) -> V {
    send_bytes(ws, envelope(seq, mpv(&(2, 3)), "add", 0, None)).await;
    recv_resp(ws).await.data
}

#[tokio::test]
async fn a_message_left_incomplete_is_closed_with_1008_although_pings_keep_coming() {
    let timeout = Duration::from_millis(400);
    let server = spawn(app(Config::default().message_timeout(timeout))).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let mut other = raw_ws(&server.url(), "swill/1").await;
    let started = Instant::now();
    ws.send(fragment(&[0x93; 1024], true, false))
        .with_timeout()
        .await
        .unwrap();
    // Pings keep the connection active (the idle timeout never fires), but they must not
    // extend the time the server waits for the rest of the message.
    let mut pings = tokio::time::interval(Duration::from_millis(50));
    let mut close = None;
    for _ in 0..200 {
        tokio::select! {
            _ = pings.tick() => {
                if ws.send(Message::Ping(Bytes::from_static(b"hi"))).await.is_err() {
                    break;
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Close(Some(frame)))) => {
                    close = Some((u16::from(frame.code), frame.reason.to_string()));
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            },
        }
    }
    let (code, reason) = close.expect("the connection was closed");
    assert_eq!(code, 1008);
    assert!(reason.contains("message not completed"), "{reason}");
    assert!(started.elapsed() >= timeout, "closed before the deadline");
    // Nobody else is affected.
    assert_eq!(call_add(&mut other, 1).await, V::from(5));
    drop(other);
    server.stop().await;
}

#[tokio::test]
async fn a_fragmented_message_completed_in_time_is_served() {
    let server = spawn(app(
        Config::default().message_timeout(Duration::from_secs(5))
    ))
    .await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let req = envelope(1, mpv(&(20, 22)), "add", 0, None);
    let (a, b) = req.split_at(3);
    ws.send(fragment(a, true, false))
        .with_timeout()
        .await
        .unwrap();
    ws.send(Message::Ping(Bytes::new()))
        .with_timeout()
        .await
        .unwrap();
    ws.send(fragment(b, false, true))
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(recv_resp(&mut ws).await.data, V::from(42));
    // The connection carries on with whole messages.
    assert_eq!(call_add(&mut ws, 2).await, V::from(5));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_connection_past_its_maximum_lifetime_is_closed_with_1001() {
    let lifetime = Duration::from_millis(300);
    let server = spawn(app(
        Config::default().max_connection_lifetime(Some(lifetime))
    ))
    .await;
    let started = Instant::now();
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    assert_eq!(call_add(&mut ws, 1).await, V::from(5));
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (1001, "connection lifetime reached")
    );
    assert!(started.elapsed() >= lifetime);
    // A new connection starts a new life.
    let mut again = raw_ws(&server.url(), "swill/1").await;
    assert_eq!(call_add(&mut again, 1).await, V::from(5));
    drop(again);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_sends_no_request_in_time_gets_408() {
    let server = spawn(app(
        Config::default().handshake_timeout(Duration::from_millis(300))
    ))
    .await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .with_timeout()
        .await
        .unwrap();
    // Half a request head, then nothing.
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .with_timeout()
        .await
        .unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).with_timeout().await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    // A client that says nothing at all gets the same answer.
    let mut silent = tokio::net::TcpStream::connect(server.addr)
        .with_timeout()
        .await
        .unwrap();
    let mut raw = Vec::new();
    silent.read_to_end(&mut raw).with_timeout().await.unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 408 "), "{raw:?}");
    server.stop().await;
}

/// Blasts the header and then payload of a `len`-byte binary frame straight into the socket,
/// as fast as it takes it, until all is written or the server stops taking it; then reads
/// what the server sent. Returns whether every byte was written, the bytes read, and the
/// error that ended the reading (`None`: a clean end of stream).
async fn blast_then_read(ws: &mut RawWs, len: u64) -> (bool, Vec<u8>, Option<std::io::ErrorKind>) {
    let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("plain TCP expected");
    };
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&len.to_be_bytes());
    head.extend_from_slice(&[1, 2, 3, 4]);
    tcp.write_all(&head).with_timeout().await.unwrap();
    let chunk = vec![0x5a; 64 * 1024];
    let mut sent = 0u64;
    while sent < len {
        match tcp.write(&chunk).with_timeout().await {
            Ok(n) if n > 0 => sent += n as u64,
            _ => break,
        }
    }
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tcp.read(&mut buf).with_timeout().await {
            Ok(0) => return (sent >= len, got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (sent >= len, got, Some(e.kind())),
        }
    }
}

#[tokio::test]
async fn an_oversized_message_blasted_at_full_speed_gets_the_1009_close_not_a_reset() {
    const TRIES: usize = 20;
    let server = spawn(app(Config::default().max_message_size(64 * 1024))).await;
    let mut results = Vec::new();
    for _ in 0..TRIES {
        let mut ws = raw_ws(&server.url(), "swill/1").await;
        // 16 MiB (a message at the default size limit): more than loopback's socket buffers
        // hold, so the client is still writing when the server refuses the message from its
        // header. A server that closed with that input unread would reset the connection:
        // the client's writes would fail and its read would end with a reset.
        let (all_sent, got, err) = blast_then_read(&mut ws, 16 << 20).await;
        // A close frame: 0x88, a length, then the code 1009 (0x03f1).
        let close = got.len() >= 4 && got[0] == 0x88 && got[2..4] == [0x03, 0xf1];
        results.push((all_sent, close, err));
    }
    let ok = results.iter().filter(|r| **r == (true, true, None)).count();
    assert_eq!(ok, TRIES, "{results:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_http_1_0_upgrade_is_refused() {
    let server = spawn(app(Config::default())).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .with_timeout()
        .await
        .unwrap();
    let req = "GET /ws HTTP/1.0\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
               Sec-WebSocket-Protocol: swill/1\r\n\r\n";
    tcp.write_all(req.as_bytes()).with_timeout().await.unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).with_timeout().await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.0 400 ") || text.starts_with("HTTP/1.1 400 "),
        "{text:?}"
    );
    assert!(text.contains("needs HTTP/1.1"), "{text:?}");
    server.stop().await;
}
