//! PROXY protocol v2 behind a TCP load balancer (issue #11): with `proxy_protocol(true)`,
//! `serve` reads the header and the connection's peer is the client it names, for handlers
//! and for the per-address limit; a connection without a valid header is closed; off (the
//! default), a header is just garbage before the HTTP request.
mod common;

use std::net::SocketAddr;

use common::*;
use futures::SinkExt;
use swill::server::encode_proxy_header;
use swill::{Connection, Error, Swill};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// The connection's peer address, as handlers see it.
#[swill::handler]
async fn peer(conn: Connection) -> Result<String, Error> {
    Ok(conn.peer_addr().map(|a| a.to_string()).unwrap_or_default())
}

fn app() -> Swill {
    Swill::new()
        .handler(peer)
        .tune(|c| c.proxy_protocol(true).max_connections_per_ip(1))
}

/// A WebSocket over a TCP connection that first sends `prefix`.
async fn connect_with_prefix(
    server: &TestServer,
    prefix: &[u8],
) -> Result<RawWs, tokio_tungstenite::tungstenite::Error> {
    let mut tcp = TcpStream::connect(server.addr)
        .with_timeout()
        .await
        .unwrap();
    tcp.write_all(prefix).with_timeout().await.unwrap();
    let mut req = server.url().into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill/1"),
    );
    tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
        .with_timeout()
        .await
        .map(|(ws, _)| ws)
}

async fn ask_peer(ws: &mut RawWs) -> String {
    ws.send(Message::Binary(request(1, &(), "peer").into()))
        .with_timeout()
        .await
        .unwrap();
    let r = recv_resp(ws).await;
    assert_eq!(r.kind, MESSAGE, "{r:?}");
    r.data.as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_peer_is_the_client_the_proxy_names_and_limits_apply_to_it() {
    let server = spawn(app()).await;
    let dst: SocketAddr = server.addr;
    let ann: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let bob: SocketAddr = "[2001:db8::9]:50000".parse().unwrap();

    let mut a = connect_with_prefix(&server, &encode_proxy_header(ann, dst))
        .await
        .expect("accepted");
    assert_eq!(ask_peer(&mut a).await, "203.0.113.7:40000");
    let mut b = connect_with_prefix(
        &server,
        &encode_proxy_header(bob, "[::1]:1".parse().unwrap()),
    )
    .await
    .expect("accepted");
    assert_eq!(ask_peer(&mut b).await, "[2001:db8::9]:50000");

    // The per-address limit (1 here) counts the proxied address, not the proxy's.
    let again: SocketAddr = "203.0.113.7:40001".parse().unwrap();
    let refused = connect_with_prefix(&server, &encode_proxy_header(again, dst)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 429),
        other => panic!("expected a 429 refusal, got {:?}", other.map(|_| ())),
    }
    drop((a, b));
    server.stop().await;
}

#[tokio::test]
async fn a_connection_without_a_valid_header_is_closed_and_others_go_on() {
    let server = spawn(app()).await;
    // A plain HTTP request where the header should be: closed without an answer.
    let mut tcp = TcpStream::connect(server.addr)
        .with_timeout()
        .await
        .unwrap();
    tcp.write_all(b"GET /schema.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .with_timeout()
        .await
        .unwrap();
    let mut buf = Vec::new();
    let n = tcp.read_to_end(&mut buf).with_timeout().await.unwrap_or(0);
    assert_eq!(n, 0, "no answer: {:?}", String::from_utf8_lossy(&buf));
    // A proxied client still gets in.
    let ok: SocketAddr = "198.51.100.1:1234".parse().unwrap();
    let mut ws = connect_with_prefix(&server, &encode_proxy_header(ok, server.addr))
        .await
        .expect("accepted");
    assert_eq!(ask_peer(&mut ws).await, "198.51.100.1:1234");
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn without_the_setting_the_socket_address_is_used() {
    let server = spawn(Swill::new().handler(peer)).await;
    let mut ws = server.raw_ws().await;
    let seen = ask_peer(&mut ws).await;
    assert!(seen.starts_with("127.0.0.1:"), "{seen}");
    drop(ws);
    server.stop().await;
}
