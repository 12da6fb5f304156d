//! Mounting in plain hyper: `into_service()` is a `tower::Service<http::Request<_>>` that
//! hyper serves through `TowerToHyperService` with upgrades enabled.
mod common;

use common::*;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rmpv::Value as V;
use swill::server::SwillService;
use swill::Swill;

/// Accepts connections on 127.0.0.1:0 and serves each with hyper's HTTP/1 builder, until
/// the test stops the server.
async fn serve_hyper(svc: SwillService) -> TestServer {
    spawn_with(|listener, mut stop| async move {
        loop {
            let (stream, _) = tokio::select! {
                () = &mut stop => return Ok(()),
                accepted = listener.accept() => accepted?,
            };
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    })
    .await
}

#[tokio::test]
async fn into_service_served_by_hyper_routes_ws_schema_and_404() {
    let svc = Swill::new().handler(add).into_service();
    let server = serve_hyper(svc).await;
    let addr = server.addr;

    let mut ws = server.raw_ws().await;
    send_hex(&mut ws, "9301920102a3616464").await;
    assert_eq!(to_hex(&recv(&mut ws).await), "95010300c0c0");
    drop(ws);

    let schema = http_get(addr, "/schema.json").await;
    assert_eq!(schema.status, 200);
    assert_eq!(schema.header("content-type"), Some("application/json"));
    assert_eq!(schema.json()["handlers"][0]["name"], "add");

    let missing = http_get(addr, "/nope").await;
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (404, "404 Not Found")
    );
    let refused = ws_connect_with(&server.ws_url("/other"), &[]).await;
    assert_eq!(refused.expect_err("wrong path").status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn into_service_honours_a_custom_path() {
    let svc = Swill::new().handler(add).path("/rpc").into_service();
    let server = serve_hyper(svc).await;
    let mut ws = raw_ws(&server.ws_url("/rpc"), "swill/1").await;
    send_bytes(&mut ws, request(1, &(2, 3), "add")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(5));
    drop(ws);
    let refused = ws_connect_with(&server.ws_url("/ws"), &[]).await;
    assert_eq!(refused.expect_err("old path").status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn the_shutdown_handle_closes_hyper_served_connections_with_1001() {
    let svc = Swill::new().handler(add).into_service();
    let handle = svc.shutdown_handle();
    let server = serve_hyper(svc).await;
    let mut ws = server.raw_ws().await;
    send_hex(&mut ws, "9301920102a3616464").await;
    recv(&mut ws).await;
    assert_eq!(handle.live_connections(), 1);
    let stopping = tokio::spawn({
        let handle = handle.clone();
        async move { handle.shutdown().await }
    });
    let (code, _) = expect_close(&mut ws).await;
    assert_eq!(code, 1001);
    stopping.with_timeout().await.unwrap();
    assert_eq!(handle.live_connections(), 0);
    server.stop().await;
}
