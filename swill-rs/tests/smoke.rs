//! Smoke test: a typed client call and a byte-exact raw frame against a real server.
mod common;
use common::*;
use swill::client::Client;
use swill::Swill;

#[tokio::test]
async fn smoke() {
    let server = spawn(Swill::new().handler(add)).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let n: i64 = client.call("add", &(1, 2)).with_timeout().await.unwrap();
    assert_eq!(n, 3);
    let mut ws = server.raw_ws().await;
    send_hex(&mut ws, "9301920102a3616464").await;
    assert_eq!(to_hex(&recv(&mut ws).await), "95010300c0c0");
    server.stop().await;
}
