//! Graceful shutdown when mounted in axum (issue #12, item 5): `axum::serve(...)
//! .with_graceful_shutdown(handle.after(signal))` returns only after the WebSocket connections
//! are gone; a stream that watches `Connection::shutting_down` ends cleanly at once; one that
//! does not is cut at the shutdown timeout; new upgrades during the shutdown get 503.
mod common;

use std::time::Duration;

use axum::Router;
use common::*;
use futures::{Stream, StreamExt};
use swill::client::Client;
use swill::{Connection, Error, Swill};
use tokio::sync::oneshot;

/// Counts up forever, until the connection starts shutting down.
#[swill::handler]
async fn polite(conn: Connection) -> impl Stream<Item = Result<u64, Error>> {
    futures::stream::iter(0u64..)
        .then(|i| async move {
            tokio::task::yield_now().await;
            Ok(i)
        })
        .take_until(conn.shutting_down())
}

/// Never yields and never looks at the shutdown signal.
#[swill::handler]
async fn stubborn() -> impl Stream<Item = Result<u64, Error>> {
    futures::stream::pending()
}

#[tokio::test]
async fn axum_graceful_shutdown_waits_for_websockets_and_tells_handlers() {
    let (routes, shutdown) = Swill::new()
        .handler(polite)
        .handler(stubborn)
        .tune(|c| c.shutdown_timeout(Duration::from_millis(300)))
        .into_router_with_shutdown();
    let app: Router = Router::new().merge(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let signal = async move {
        let _ = stop_rx.await;
    };
    let graceful = shutdown.after(signal);
    let served = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(graceful)
            .await
    });
    let url = format!("ws://{addr}/ws");

    let polite_client = Client::connect(&url).with_timeout().await.unwrap();
    let stubborn_client = Client::connect(&url).with_timeout().await.unwrap();
    let mut counting = polite_client.stream::<u64>("polite", &()).unwrap();
    let mut waiting = stubborn_client.stream::<u64>("stubborn", &()).unwrap();
    for i in 0..3 {
        assert_eq!(counting.next().with_timeout().await.unwrap().unwrap(), i);
    }
    assert!(!shutdown.is_shutting_down());
    assert_eq!(shutdown.live_connections(), 2);

    stop_tx.send(()).unwrap();
    // The polite stream ends cleanly: items, then END_OF_STREAM, no error.
    let mut last = 2;
    loop {
        match counting.next().with_timeout().await {
            Some(Ok(i)) => {
                assert_eq!(i, last + 1);
                last = i;
            }
            Some(Err(e)) => panic!("the polite stream failed: {e}"),
            None => break,
        }
    }
    // While the stubborn one holds the shutdown open, new upgrades are refused.
    assert!(shutdown.is_shutting_down());
    let refused = ws_connect_with(&url, &[]).await.expect_err("refused");
    assert_eq!(refused.status(), 503);
    // The stubborn stream is cut at the shutdown timeout; then axum returns, with no
    // WebSocket connection left behind.
    assert!(waiting
        .next()
        .with_timeout()
        .await
        .is_none_or(|r| r.is_err()));
    served.with_timeout().await.unwrap().unwrap();
    assert_eq!(shutdown.live_connections(), 0);
    drop((counting, polite_client, stubborn_client));
}
