//! A refused upgrade reaches the Rust client as a typed error with the HTTP status and body
//! (issue #12, item 4), and a 401 while reconnecting ends reconnecting instead of retrying
//! forever.
mod client_proxy;
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use client_proxy::Proxy;
use common::*;
use http::StatusCode;
use swill::client::{Client, ClientError, ConnectionState};
use swill::hooks::Rejection;
use swill::Swill;

/// An app whose hook refuses with 401 "login first" while `refuse` is set, and without the
/// `session` cookie.
fn guarded(refuse: Arc<AtomicBool>) -> Swill {
    Swill::new().handler(add).before_connection(move |hs| {
        let refuse = refuse.load(Ordering::SeqCst);
        async move {
            if refuse || hs.cookie("session").is_none() {
                return Err(Rejection::new(StatusCode::UNAUTHORIZED, "login first"));
            }
            Ok(hs)
        }
    })
}

#[tokio::test]
async fn a_refused_upgrade_is_a_typed_error_with_status_and_body() {
    let server = spawn(guarded(Arc::default())).await;
    let err = Client::connect(server.url())
        .with_timeout()
        .await
        .unwrap_err();
    match &err {
        ClientError::Refused { status, body } => {
            assert_eq!(*status, 401);
            assert_eq!(body, "login first");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(err.refused_status(), Some(401));
    assert_eq!(
        err.to_string(),
        "the server refused the connection: 401: login first"
    );
    // With the cookie, it connects.
    let client = Client::builder(server.url())
        .header("cookie", "session=abc")
        .connect()
        .with_timeout()
        .await
        .unwrap();
    let n: i64 = client.call("add", &(1, 2)).with_timeout().await.unwrap();
    assert_eq!(n, 3);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_401_while_reconnecting_ends_reconnecting() {
    let refuse = Arc::new(AtomicBool::new(false));
    let server = spawn(guarded(refuse.clone())).await;
    let proxy = Proxy::start(server.addr).await;
    let client = Client::builder(proxy.url())
        .header("cookie", "session=abc")
        .connect()
        .with_timeout()
        .await
        .unwrap();
    let n: i64 = client.call("add", &(2, 2)).with_timeout().await.unwrap();
    assert_eq!(n, 4);
    let mut state = client.watch_state();
    // The session is revoked, and the connection drops.
    refuse.store(true, Ordering::SeqCst);
    proxy.cut();
    proxy.open();
    state
        .wait_for(|s| *s == ConnectionState::Disconnected)
        .with_timeout()
        .await
        .unwrap();
    let err = client
        .call::<i64>("add", &(1, 1))
        .with_timeout()
        .await
        .unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    drop(client);
    server.stop().await;
}
