//! The WebSocket handshake over raw TCP (swill/1 §2.1, §2.2): exact statuses and bodies for
//! wrong paths, plain HTTP and missing subprotocols, and lenient subprotocol selection
//! echoed exactly.
mod common;

use common::*;
use swill::client::{Client, Subprotocol};
use swill::Swill;

fn app() -> Swill {
    Swill::new().handler(add)
}

#[tokio::test]
async fn upgrade_without_subprotocol_gets_406() {
    let server = spawn(app()).await;
    for offered in [None, Some("chat"), Some("swill/2, swill"), Some("SWILL/1")] {
        let (res, _) = raw_http(server.addr, &upgrade_request("/ws", offered)).await;
        assert_eq!(res.status, 406, "offered {offered:?}");
        assert_eq!(res.text(), "No suitable subprotocol");
        assert!(res.header("sec-websocket-protocol").is_none());
    }
    server.stop().await;
}

#[tokio::test]
async fn subprotocol_is_selected_leniently_and_echoed_exactly() {
    let server = spawn(app()).await;
    let cases = [
        ("swill/1", "swill/1"),
        ("swill.v1", "swill.v1"),
        ("chat, swill/1", "swill/1"),
        ("chat,\tswill.v1 ", "swill.v1"),
        ("swill.v1, swill/1", "swill/1"),
    ];
    for (offered, selected) in cases {
        let (res, _) = raw_http(server.addr, &upgrade_request("/ws", Some(offered))).await;
        assert_eq!(res.status, 101, "offered {offered:?}");
        assert_eq!(res.header("sec-websocket-protocol"), Some(selected));
        assert_eq!(
            res.header("sec-websocket-accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn connection_speaks_swill_after_either_subprotocol() {
    let server = spawn(app()).await;
    for protocol in ["swill/1", "swill.v1"] {
        let mut ws = raw_ws(&server.url(), protocol).await;
        assert_add_works(&mut ws, 1).await;
    }
    for p in [Subprotocol::Original, Subprotocol::Alias] {
        let client = Client::builder(server.url())
            .subprotocol(p)
            .connect()
            .with_timeout()
            .await
            .unwrap();
        let n: i64 = client.call("add", &(1, 2)).with_timeout().await.unwrap();
        assert_eq!(n, 3);
    }
    server.stop().await;
}

#[tokio::test]
async fn upgrade_on_another_path_gets_404_before_the_subprotocol_check() {
    let server = spawn(app()).await;
    for path in ["/nope", "/ws/", "/wss", "/"] {
        for offered in [Some("swill/1"), None] {
            let (res, _) = raw_http(server.addr, &upgrade_request(path, offered)).await;
            assert_eq!(res.status, 404, "{path} offering {offered:?}");
            assert_eq!(res.text(), "404 Not Found");
        }
    }
    // The query string is not part of the path.
    let (res, _) = raw_http(
        server.addr,
        &upgrade_request("/ws?token=1", Some("swill/1")),
    )
    .await;
    assert_eq!(res.status, 101);
    server.stop().await;
}

#[tokio::test]
async fn plain_http_gets_404_text() {
    let server = spawn(app()).await;
    for path in ["/ws", "/nope"] {
        let res = http_get(server.addr, path).await;
        assert_eq!(res.status, 404, "{path}");
        assert_eq!(res.text(), "404 Not Found");
        assert!(
            res.header("content-type")
                .is_some_and(|t| t.starts_with("text/plain")),
            "{:?}",
            res.header("content-type")
        );
    }
    server.stop().await;
}
