//! Mounting in axum: `into_route()` next to ordinary routes under a tower layer, and
//! `into_router()` nested under a prefix, served by `axum::serve` on a real socket.
mod common;

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use common::*;
use rmpv::Value as V;
use swill::client::Client;
use swill::Swill;

fn tagged(mut res: Response) -> Response {
    res.headers_mut()
        .insert("x-layer", http::HeaderValue::from_static("tower"));
    res
}

#[tokio::test]
async fn into_route_serves_the_websocket_next_to_a_layered_health_route() {
    let router = Router::new()
        .route("/rpc", Swill::new().handler(add).into_route())
        .route("/health", get(|| async { "ok" }))
        .layer(tower::util::MapResponseLayer::new(tagged));
    let server = spawn_router(router).await;
    let addr = server.addr;

    let health = http_get(addr, "/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.text(), "ok");
    assert_eq!(health.header("x-layer"), Some("tower"));

    let url = server.ws_url("/rpc");
    let (mut ws, res) = ws_connect_with(&url, &[]).await.expect("upgrade");
    assert_eq!(res.headers().get("x-layer").unwrap(), "tower");
    send_hex(&mut ws, "9301920102a3616464").await;
    assert_eq!(to_hex(&recv(&mut ws).await), "95010300c0c0");
    drop(ws);

    // The typed client (offering the token-safe alias) works through the route too.
    let client = Client::connect(&url).with_timeout().await.unwrap();
    let n: i64 = client.call("add", &(20, 22)).with_timeout().await.unwrap();
    assert_eq!(n, 42);
    drop(client);

    // A plain GET on the route is not an upgrade: 404 text, as swill/1 §2.1 says.
    let plain = http_get(addr, "/rpc").await;
    assert_eq!(plain.status, 404);
    assert_eq!(plain.text(), "404 Not Found");
    assert!(plain
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));

    // Paths axum does not know stay axum's 404.
    assert_eq!(http_get(addr, "/ws").await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn into_route_keeps_the_query_string_for_the_connection() {
    let app = Swill::new().handler(add).after_accept(|conn| async move {
        assert_eq!(conn.uri().path(), "/rpc");
        if conn.query_param("k").as_deref() == Some("v") {
            Ok(())
        } else {
            Err(swill::hooks::HookError::close(4000, "no query"))
        }
    });
    let router = Router::new().route("/rpc", app.into_route());
    let server = spawn_router(router).await;
    let mut ws = raw_ws(&server.ws_url("/rpc?k=v"), "swill/1").await;
    send_hex(&mut ws, "9301920102a3616464").await;
    assert_eq!(to_hex(&recv(&mut ws).await), "95010300c0c0");
    server.stop().await;
}

#[tokio::test]
async fn into_router_nested_under_api_serves_ws_schema_and_docs() {
    let app = Swill::new().info("nested", "1.2.3").handler(add);
    let router = Router::new()
        .nest("/api", app.into_router())
        .route("/health", get(|| async { "ok" }));
    let server = spawn_router(router).await;
    let addr = server.addr;

    let mut ws = raw_ws(&server.ws_url("/api/ws"), "swill/1").await;
    send_bytes(&mut ws, request(7, &(1, 2), "add")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!((r.seq, r.kind, r.data), (7, MESSAGE, V::from(3)));
    drop(ws);

    let schema = http_get(addr, "/api/schema.json").await;
    assert_eq!(schema.status, 200);
    assert_eq!(schema.header("content-type"), Some("application/json"));
    let doc = schema.json();
    assert_eq!(doc["title"], "nested");
    assert_eq!(doc["version"], "1.2.3");
    assert_eq!(doc["handlers"][0]["name"], "add");

    // The docs page is served under the prefix too, and its config and asset links carry
    // the prefix, so the page's WebSocket, schema fetch and scripts reach the nested app.
    let docs = http_get(addr, "/api/docs").await;
    assert_eq!(docs.status, 200);
    assert!(docs
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let html = docs.text();
    let config_start = html.find("id=\"swill-config\"").expect("config block");
    let config = &html[config_start..];
    let json = &config[config.find('>').unwrap() + 1..config.find("</script>").unwrap()];
    let config: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(config["ws"], "/api/ws", "{config}");
    assert_eq!(config["schema"], "/api/schema.json", "{config}");
    assert_eq!(config["title"], "nested", "{config}");
    assert!(
        html.contains("/api/docs/app.js"),
        "asset links carry the prefix"
    );
    let script = http_get(addr, "/api/docs/app.js").await;
    assert_eq!(script.status, 200);
    assert!(script
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));

    // Outside the prefix nothing of swill's is served.
    assert_eq!(http_get(addr, "/schema.json").await.status, 404);
    assert_eq!(http_get(addr, "/health").await.text(), "ok");
    let refused = ws_connect_with(&server.ws_url("/ws"), &[]).await;
    assert_eq!(refused.expect_err("no ws outside /api").status(), 404);
    // Inside the prefix, an unknown path is swill's 404.
    let other = http_get(addr, "/api/other").await;
    assert_eq!(
        (other.status, other.text().as_str()),
        (404, "404 Not Found")
    );
    server.stop().await;
}
