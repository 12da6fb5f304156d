//! The Rust client's reconnect: calls in flight fail with `Disconnected` and are never sent
//! again, calls made while reconnecting wait for the next connection (or fail fast), the state
//! is observable, `close()` stops it, and the backoff follows its policy (paused time). The
//! connection is cut from the server's side by a relay the test owns (`client_proxy`).
mod client_proxy;
mod common;

use std::time::Duration;

use client_proxy::Proxy;
use common::*;
use futures::FutureExt;
use swill::client::{Client, ClientError, ConnectionState, ReconnectPolicy};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Retries quickly: these tests hold the relay closed while they need the client away, so
/// the delays only set how soon it comes back.
fn quick() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(20))
}

async fn wait_state(client: &Client, want: impl Fn(&ConnectionState) -> bool) -> ConnectionState {
    let mut rx = client.watch_state();
    let got = *rx
        .wait_for(|s| want(s))
        .with_timeout()
        .await
        .expect("the state watch is alive while the client is");
    got
}

fn reconnecting(s: &ConnectionState) -> bool {
    matches!(s, ConnectionState::Reconnecting { .. })
}

struct Setup {
    log: Log,
    server: TestServer,
    proxy: Proxy,
}

impl Setup {
    async fn new() -> Self {
        let log = Log::new();
        let server = spawn(core_app(&log).handler(sum)).await;
        let proxy = Proxy::start(server.addr).await;
        Self { log, server, proxy }
    }

    async fn client(
        &self,
        f: impl FnOnce(swill::client::ClientBuilder) -> swill::client::ClientBuilder,
    ) -> Client {
        f(Client::builder(self.proxy.url()).reconnect(quick()))
            .connect()
            .with_timeout()
            .await
            .unwrap()
    }

    async fn stop(self) {
        drop(self.proxy);
        self.server.stop().await;
    }
}

#[tokio::test]
async fn a_call_in_flight_fails_with_disconnected_and_is_not_sent_again() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    assert_eq!(client.state(), ConnectionState::Connected { connection: 1 });
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.call::<u64>("hang", &()).await }
    });
    t.log.expect("started 1").await;
    t.proxy.cut();
    let err = pending.with_timeout().await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::Disconnected), "{err:?}");
    assert!(err.is_connection());
    // The client says it reconnects before the call fails, and is not closed.
    assert!(reconnecting(&client.state()), "{:?}", client.state());
    assert!(!client.is_closed());
    t.log.expect("dropped 1").await;

    t.proxy.open();
    wait_state(&client, |s| {
        *s == ConnectionState::Connected { connection: 2 }
    })
    .await;
    let three: i64 = client.call("add", &(1, 2)).with_timeout().await.unwrap();
    assert_eq!(three, 3);
    // `hang` was not opened again on the new connection.
    t.log.expect_none(Duration::from_millis(100)).await;
    client.close();
    t.stop().await;
}

#[tokio::test]
async fn a_call_made_while_reconnecting_waits_for_the_next_connection() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    t.proxy.cut();
    wait_state(&client, reconnecting).await;
    let mut call = Box::pin(client.call::<i64>("add", &(20, 22)));
    // First poll: the call is handed to the client while it has no connection.
    assert!((&mut call).now_or_never().is_none());
    assert!(reconnecting(&client.state()));
    t.proxy.open();
    assert_eq!(call.with_timeout().await.unwrap(), 42);
    assert_eq!(client.state(), ConnectionState::Connected { connection: 2 });
    // So does a streaming request: its items and end wait with it.
    t.proxy.cut();
    wait_state(&client, reconnecting).await;
    let (mut tx, reply) = client.client_stream::<i64, i64>("sum").unwrap();
    for x in [1, 2, 3] {
        tx.send(&x).unwrap();
    }
    tx.end().unwrap();
    t.proxy.open();
    assert_eq!(reply.with_timeout().await.unwrap().data, 6);
    client.close();
    t.stop().await;
}

#[tokio::test]
async fn with_no_wait_calls_fail_fast_while_reconnecting() {
    let t = Setup::new().await;
    let client = t.client(|b| b.wait_for_connection(Duration::ZERO)).await;
    t.proxy.cut();
    wait_state(&client, reconnecting).await;
    let err = client
        .call::<i64>("add", &(1, 2))
        .with_timeout()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unavailable), "{err:?}");
    t.proxy.open();
    wait_state(&client, |s| {
        *s == ConnectionState::Connected { connection: 2 }
    })
    .await;
    assert_eq!(
        client
            .call::<i64>("add", &(1, 2))
            .with_timeout()
            .await
            .unwrap(),
        3
    );
    client.close();
    t.stop().await;
}

#[tokio::test]
async fn a_waiting_call_fails_with_unavailable_after_wait_for_connection() {
    let t = Setup::new().await;
    let client = t
        .client(|b| b.wait_for_connection(Duration::from_millis(50)))
        .await;
    t.proxy.cut();
    wait_state(&client, reconnecting).await;
    // The relay holds every attempt: no connection comes, the call gives up on its own.
    let err = client
        .call::<i64>("add", &(1, 2))
        .with_timeout()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unavailable), "{err:?}");
    assert!(
        !client.is_closed(),
        "the client itself goes on reconnecting"
    );
    client.close();
    t.stop().await;
}

#[tokio::test]
async fn close_stops_reconnecting_and_fails_the_waiting_calls() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    t.proxy.cut();
    wait_state(&client, reconnecting).await;
    let mut waiting = Box::pin(client.call::<i64>("add", &(1, 2)));
    assert!((&mut waiting).now_or_never().is_none(), "the call waits");
    client.close();
    assert_eq!(
        wait_state(&client, |s| *s == ConnectionState::Disconnected).await,
        ConnectionState::Disconnected
    );
    let err = waiting.with_timeout().await.unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
    // The connection task is gone: nothing dials any more.
    assert!(client.is_closed());
    let err = client
        .call::<i64>("add", &(1, 2))
        .with_timeout()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
    t.stop().await;
}

#[tokio::test]
async fn close_on_a_live_connection_fails_calls_in_flight_with_closed() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.call::<u64>("hang", &()).await }
    });
    t.log.expect("started 1").await;
    client.close();
    let err = pending.with_timeout().await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
    assert!(client.is_closed());
    assert_eq!(client.state(), ConnectionState::Disconnected);
    // The server sees the connection go: the handler is dropped.
    t.log.expect("dropped 1").await;
    t.stop().await;
}

#[tokio::test]
async fn without_reconnect_a_drop_closes_the_client() {
    let t = Setup::new().await;
    let client = t.client(|b| b.no_reconnect()).await;
    t.proxy.cut();
    wait_state(&client, |s| *s == ConnectionState::Disconnected).await;
    assert!(client.is_closed());
    let err = client
        .call::<i64>("add", &(1, 2))
        .with_timeout()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
    t.stop().await;
}

/// A listener that upgrades its first connection (selecting `swill.v1`) and hands it over,
/// then accepts and drops every later one, recording when each came.
async fn flaky_server() -> (
    String,
    tokio::sync::oneshot::Receiver<RawWsTcp>,
    tokio::sync::mpsc::UnboundedReceiver<Instant>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let (first_tx, first) = tokio::sync::oneshot::channel();
    let (at_tx, at) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };

        let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, select_swill).await else {
            return;
        };
        let _ = first_tx.send(ws);
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = at_tx.send(Instant::now());
            drop(tcp);
        }
    });
    (url, first, at)
}

/// The upgrade callback: selects `swill.v1`.
#[allow(clippy::result_large_err)] // tungstenite's callback signature
fn select_swill(_: &Request, mut res: Response) -> Result<Response, ErrorResponse> {
    res.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill.v1"),
    );
    Ok(res)
}

type RawWsTcp = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

#[tokio::test(start_paused = true)]
async fn the_backoff_follows_the_policy_and_gives_up_after_max_attempts() {
    let (url, first, mut attempts) = flaky_server().await;
    let client = Client::builder(url)
        .reconnect(
            ReconnectPolicy::default()
                .initial_delay(Duration::from_millis(100))
                .max_delay(Duration::from_millis(300))
                .jitter(0.0)
                .max_attempts(3),
        )
        .wait_for_connection(Duration::from_secs(60))
        .connect()
        .with_timeout()
        .await
        .unwrap();
    let ws = first.with_timeout().await.unwrap();
    let mut state = client.watch_state();
    let dropped_at = Instant::now();
    drop(ws);
    let s = *state.wait_for(reconnecting).with_timeout().await.unwrap();
    assert_eq!(
        s,
        ConnectionState::Reconnecting {
            attempt: 1,
            delay: Duration::from_millis(100)
        }
    );
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.call::<i64>("add", &(1, 2)).await }
    });
    let mut at = dropped_at;
    for nominal in [100, 200, 300] {
        let next = attempts.recv().with_timeout().await.unwrap();
        let gap = next - at;
        // Paused time: the clock jumps to each deadline (timers have millisecond ticks).
        assert!(
            gap >= Duration::from_millis(nominal) && gap < Duration::from_millis(nominal + 2),
            "{gap:?} instead of {nominal} ms"
        );
        at = next;
    }
    // Three failed attempts: the client gives up, and the waiting call with it.
    let s = *state
        .wait_for(|s| *s == ConnectionState::Disconnected)
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(s, ConnectionState::Disconnected);
    let err = waiting.with_timeout().await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::Unavailable), "{err:?}");
    assert!(client.is_closed());
    assert!(attempts.try_recv().is_err(), "no fourth attempt");
}

#[tokio::test(start_paused = true)]
async fn a_handshake_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let held = tokio::spawn(async move { listener.accept().await.map(|(tcp, _)| tcp) });
    let started = Instant::now();
    let err = Client::builder(url)
        .handshake_timeout(Duration::from_secs(3))
        .connect()
        .with_timeout()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::HandshakeTimeout), "{err:?}");
    assert!(started.elapsed() >= Duration::from_secs(3));
    // The server side did accept (and never answered).
    assert!(held.with_timeout().await.unwrap().is_ok());
}
