//! Admission rules over real sockets: the origin allow-list (cross-site WebSocket hijacking)
//! and the network allow and deny lists, all applied before the upgrade.
mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::*;
use rmpv::Value as V;
use swill::{Cidr, Config, Error, Request, Swill};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

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

async fn call_add(ws: &mut RawWs) -> V {
    send_bytes(ws, envelope(1, mpv(&(2, 3)), "add", 0, None)).await;
    recv_resp(ws).await.data
}

/// The upgrade's status: 101, or the refusal's.
async fn upgrade_status(url: &str, headers: &[(&str, &str)]) -> u16 {
    match ws_connect_with(url, headers).await {
        Ok((mut ws, res)) => {
            assert_eq!(call_add(&mut ws).await, V::from(5));
            res.status().as_u16()
        }
        Err(res) => res.status().as_u16(),
    }
}

#[tokio::test]
async fn an_origin_not_on_the_allow_list_gets_403() {
    let server = spawn(app(Config::default()
        .allow_origin("https://app.example.com")
        .allow_origin("http://localhost:5173")))
    .await;
    let url = server.url();
    for origin in [
        "https://app.example.com",
        "HTTPS://APP.EXAMPLE.COM",
        "http://localhost:5173",
    ] {
        assert_eq!(
            upgrade_status(&url, &[("origin", origin)]).await,
            101,
            "{origin}"
        );
    }
    // Forged and look-alike origins.
    for origin in [
        "https://evil.example",
        "https://app.example.com.evil.example",
        "https://evil.example/https://app.example.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "null",
        "",
    ] {
        assert_eq!(
            upgrade_status(&url, &[("origin", origin)]).await,
            403,
            "{origin:?}"
        );
    }
    // Two Origin headers, one of them forged.
    let two = [
        ("origin", "https://app.example.com"),
        ("origin", "https://evil.example"),
    ];
    assert_eq!(upgrade_status(&url, &two).await, 403);
    let refused = ws_connect_with(&url, &[("origin", "https://evil.example")])
        .await
        .err()
        .unwrap();
    let body = String::from_utf8(refused.body().clone().unwrap_or_default()).unwrap();
    assert!(body.contains("origin not allowed"), "{body}");
    // Non-browser clients send no Origin and are not affected.
    assert_eq!(upgrade_status(&url, &[]).await, 101);
    server.stop().await;
}

#[tokio::test]
async fn without_an_allow_list_every_origin_is_accepted() {
    let server = spawn(app(Config::default())).await;
    let url = server.url();
    for origin in ["https://evil.example", "null"] {
        assert_eq!(upgrade_status(&url, &[("origin", origin)]).await, 101);
    }
    server.stop().await;
}

/// The status of an upgrade from local address `from`.
async fn upgrade_from(from: IpAddr, addr: SocketAddr) -> u16 {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let tcp = socket.connect(addr).with_timeout().await.unwrap();
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill/1"),
    );
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    match tokio_tungstenite::client_async(req, stream)
        .with_timeout()
        .await
    {
        Ok((mut ws, res)) => {
            assert_eq!(call_add(&mut ws).await, V::from(5));
            res.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

fn net(s: &str) -> Cidr {
    s.parse().unwrap()
}

#[tokio::test]
async fn denied_networks_get_403_before_the_upgrade_and_on_plain_http() {
    let server = spawn(app(Config::default().deny_network(net("127.0.0.2/32")))).await;
    assert_eq!(upgrade_from([127, 0, 0, 2].into(), server.addr).await, 403);
    assert_eq!(upgrade_from([127, 0, 0, 1].into(), server.addr).await, 101);
    assert_eq!(upgrade_from([127, 0, 0, 3].into(), server.addr).await, 101);
    server.stop().await;

    let server = spawn(app(Config::default().deny_network(net("127.0.0.0/8")))).await;
    assert_eq!(upgrade_from([127, 0, 0, 1].into(), server.addr).await, 403);
    let page = http_get(server.addr, "/schema.json").await;
    assert_eq!(page.status, 403);
    assert!(
        page.text().contains("network not allowed"),
        "{}",
        page.text()
    );
    server.stop().await;
}

#[tokio::test]
async fn only_allowed_networks_get_in_and_a_denial_inside_them_wins() {
    let config = Config::default()
        .allow_network(net("127.0.0.0/30"))
        .deny_network(net("127.0.0.2"));
    let server = spawn(app(config)).await;
    assert_eq!(upgrade_from([127, 0, 0, 1].into(), server.addr).await, 101);
    assert_eq!(upgrade_from([127, 0, 0, 3].into(), server.addr).await, 101);
    assert_eq!(upgrade_from([127, 0, 0, 2].into(), server.addr).await, 403);
    assert_eq!(upgrade_from([127, 0, 0, 9].into(), server.addr).await, 403);
    server.stop().await;

    let server = spawn(app(Config::default().allow_network(net("10.0.0.0/8")))).await;
    assert_eq!(upgrade_from([127, 0, 0, 1].into(), server.addr).await, 403);
    server.stop().await;
}
