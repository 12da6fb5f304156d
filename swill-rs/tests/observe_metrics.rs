//! The server's metrics (feature `metrics`, issue #11) over real sockets, recorded by a
//! `metrics-util` debugging recorder local to each test: every metric of
//! `swill::observe::names` moves as docs/reliability.md ("Observability") says.
#![cfg(feature = "metrics")]
mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use rmpv::Value as V;
use swill::observe::names;
use swill::{Config, Error, Request, Swill};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;

/// Waits for `gate` (one permit per call), then answers `n + 1`.
#[swill::handler]
async fn gated(
    req: Request<u64>,
    swill::State(gate): swill::State<Arc<Semaphore>>,
) -> Result<u64, Error> {
    let _permit = gate.acquire().await.map_err(|_| Error::internal())?;
    Ok(req.into_data() + 1)
}

/// Fails with the code it is given.
#[swill::handler]
async fn fail(req: Request<i64>) -> Result<(), Error> {
    Err(Error::new(req.into_data(), "as asked"))
}

/// Streams `n` items of 64 KiB.
#[swill::handler]
async fn flood(req: Request<u32>) -> impl futures::Stream<Item = Result<Vec<u8>, Error>> {
    let item = vec![7u8; 64 * 1024];
    futures::stream::iter((0..req.into_data()).map(move |_| Ok(item.clone())))
}

/// Takes a request stream and never reads it.
#[swill::handler]
async fn stall(_items: swill::Streaming<u64>) -> Result<u64, Error> {
    std::future::pending::<()>().await;
    Ok(0)
}

/// A metric's name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

struct Metered {
    server: TestServer,
    snap: Snapshotter,
    /// The debugging recorder's snapshots take what was recorded since the last one (they
    /// swap every value with zero): the sums are the values. No gauge is ever `set`.
    totals: RefCell<HashMap<Series, f64>>,
    closed: mpsc::UnboundedReceiver<()>,
    gate: Arc<Semaphore>,
}

/// Builds `app` (plus `gated`, `fail`, `flood` and a hook reporting each connection's end)
/// with a recorder of its own, and serves it.
async fn metered(config: Config) -> Metered {
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    let gate = Arc::new(Semaphore::new(0));
    let (tx, closed) = mpsc::unbounded_channel();
    let app = Swill::new()
        .config(config.shutdown_timeout(Duration::from_millis(300)))
        .with_state(gate.clone())
        .handler(add)
        .handler(gated)
        .handler(fail)
        .handler(flood)
        .handler(stall)
        .after_connection(move |_| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(());
                Ok(())
            }
        });
    // The handles are registered with the recorder current when the app is built.
    let svc = metrics::with_local_recorder(&recorder, || app.into_service());
    let router = axum::Router::new().fallback_service(svc);
    let server = spawn_with(|listener, stop| async move {
        let make = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, make)
            .with_graceful_shutdown(stop)
            .await
    })
    .await;
    Metered {
        server,
        snap,
        totals: RefCell::default(),
        closed,
        gate,
    }
}

impl Metered {
    /// The value of `name` with the labels `labels` (0 when never recorded).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut totals = self.totals.borrow_mut();
        for (key, _, _, value) in self.snap.snapshot().into_vec() {
            let k = key.key();
            let mut got: Vec<(String, String)> = k
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            got.sort_unstable();
            let delta = match (key.kind(), value) {
                (MetricKind::Counter, DebugValue::Counter(n)) => n as f64,
                (MetricKind::Gauge, DebugValue::Gauge(g)) => g.into_inner(),
                other => panic!("{}: unexpected {other:?}", k.name()),
            };
            *totals.entry((k.name().to_owned(), got)).or_default() += delta;
        }
        let mut want: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        want.sort_unstable();
        totals.get(&(name.to_owned(), want)).copied().unwrap_or(0.0)
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.value(name, labels) as u64
    }

    /// Waits until the server has ended one more connection (its `after_connection` hook
    /// runs after the connection's counts were added).
    async fn connection_ended(&mut self) {
        self.closed
            .recv()
            .with_timeout()
            .await
            .expect("hook channel");
    }

    /// Polls (bounded) until `f` holds: for a gauge driven by the socket, which has no event.
    async fn eventually(&self, what: &str, f: impl Fn(&Self) -> bool) {
        for _ in 0..1000 {
            if f(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what} never held");
    }
}

async fn close(mut ws: RawWs) {
    let _ = ws.close(None).with_timeout().await;
    // Read to the end so the close handshake completes.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(TIMEOUT, ws.next()).await {}
}

#[tokio::test]
async fn connections_calls_frames_and_bytes_are_counted() {
    let mut m = metered(Config::default()).await;
    assert_eq!(m.value(names::CONNECTIONS_OPEN, &[]), 0.0);
    assert_eq!(
        m.value(names::CALLS_IN_FLIGHT, &[("rpc", "gated")]),
        0.0,
        "registered at build"
    );

    let mut ws = raw_ws(&m.server.url(), "swill/1").await;
    let mut sent_bytes = 0;
    let mut recv_bytes = 0;
    let frame = request(1, &(2, 3), "add");
    sent_bytes += frame.len();
    send_bytes(&mut ws, frame).await;
    let reply = recv(&mut ws).await;
    recv_bytes += reply.len();
    assert_eq!(Resp::decode(&reply).data, V::from(5));
    // Answered: the connection exists, and counts as open.
    assert_eq!(m.value(names::CONNECTIONS_OPEN, &[]), 1.0);
    assert_eq!(m.counter(names::CONNECTIONS_TOTAL, &[]), 1);
    assert_eq!(m.counter(names::CALLS_TOTAL, &[("rpc", "add")]), 1);
    assert_eq!(m.value(names::CALLS_IN_FLIGHT, &[("rpc", "add")]), 0.0);

    // Two calls held at the gate are in flight until released.
    for seq in [2, 3] {
        let frame = request(seq, &10u64, "gated");
        sent_bytes += frame.len();
        send_bytes(&mut ws, frame).await;
    }
    m.eventually("two gated calls in flight", |m| {
        m.value(names::CALLS_IN_FLIGHT, &[("rpc", "gated")]) == 2.0
    })
    .await;
    assert_eq!(m.counter(names::CALLS_TOTAL, &[("rpc", "gated")]), 2);
    m.gate.add_permits(2);
    for _ in 0..2 {
        let reply = recv(&mut ws).await;
        recv_bytes += reply.len();
        assert_eq!(Resp::decode(&reply).data, V::from(11));
    }
    assert_eq!(m.value(names::CALLS_IN_FLIGHT, &[("rpc", "gated")]), 0.0);

    close(ws).await;
    m.connection_ended().await;
    assert_eq!(m.value(names::CONNECTIONS_OPEN, &[]), 0.0);
    assert_eq!(m.counter(names::FRAMES_RECEIVED, &[]), 3);
    assert_eq!(m.counter(names::FRAMES_SENT, &[]), 3);
    assert_eq!(m.counter(names::BYTES_RECEIVED, &[]), sent_bytes as u64);
    assert_eq!(m.counter(names::BYTES_SENT, &[]), recv_bytes as u64);
    assert_eq!(m.value(names::OUTPUT_QUEUE_BYTES, &[]), 0.0);

    // A second connection adds to the totals.
    let mut ws = raw_ws(&m.server.url(), "swill/1").await;
    assert_add_works(&mut ws, 1).await;
    assert_eq!(m.value(names::CONNECTIONS_OPEN, &[]), 1.0);
    close(ws).await;
    m.connection_ended().await;
    assert_eq!(m.counter(names::CONNECTIONS_TOTAL, &[]), 2);
    assert_eq!(m.counter(names::FRAMES_RECEIVED, &[]), 4);
    assert_eq!(m.value(names::CONNECTIONS_OPEN, &[]), 0.0);
    m.server.stop().await;
}

#[tokio::test]
async fn errors_are_counted_by_code() {
    let mut m = metered(Config::default()).await;
    let mut ws = raw_ws(&m.server.url(), "swill/1").await;
    // The engine's own answers: an unknown rpc (404), an undecodable payload for a call
    // (400 from the handler's decoding) ...
    assert_eq!(call(&mut ws, 1, "nope", V::Nil).await.error_code(), 404);
    assert_eq!(call(&mut ws, 2, "nope", V::Nil).await.error_code(), 404);
    assert_eq!(
        call(&mut ws, 3, "add", V::from("x")).await.error_code(),
        400
    );
    // ... and handlers' errors, by code; a code without a label of its own is "other".
    assert_eq!(
        call(&mut ws, 4, "fail", V::from(422)).await.error_code(),
        422
    );
    assert_eq!(
        call(&mut ws, 5, "fail", V::from(4242)).await.error_code(),
        4242
    );
    close(ws).await;
    m.connection_ended().await;
    assert_eq!(m.counter(names::ERRORS, &[("code", "404")]), 2);
    assert_eq!(m.counter(names::ERRORS, &[("code", "400")]), 1);
    assert_eq!(m.counter(names::ERRORS, &[("code", "422")]), 1);
    assert_eq!(m.counter(names::ERRORS, &[("code", "other")]), 1);
    assert_eq!(m.counter(names::ERRORS, &[("code", "500")]), 0);
    m.server.stop().await;
}

#[tokio::test]
async fn refusals_are_counted_by_limit() {
    // max_connections: the second upgrade gets 503.
    let mut m = metered(Config::default().max_connections(1)).await;
    let ws = raw_ws(&m.server.url(), "swill/1").await;
    let refused = ws_connect_with(&m.server.url(), &[]).await.err();
    assert_eq!(refused.map(|r| r.status().as_u16()), Some(503));
    assert_eq!(
        m.counter(names::REFUSALS, &[("limit", "max_connections")]),
        1
    );
    assert_eq!(
        m.counter(names::REFUSALS, &[("limit", "max_connections_per_ip")]),
        0
    );
    close(ws).await;
    m.connection_ended().await;
    m.server.stop().await;

    // max_connections_per_ip: 429.
    let mut m = metered(Config::default().max_connections_per_ip(1)).await;
    let ws = raw_ws(&m.server.url(), "swill/1").await;
    let refused = ws_connect_with(&m.server.url(), &[]).await.err();
    assert_eq!(refused.map(|r| r.status().as_u16()), Some(429));
    assert_eq!(
        m.counter(names::REFUSALS, &[("limit", "max_connections_per_ip")]),
        1
    );
    close(ws).await;
    m.connection_ended().await;
    m.server.stop().await;

    // max_concurrent_calls: a call beyond it gets ERROR 429; max_message_size closes 1009.
    let mut m = metered(
        Config::default()
            .max_concurrent_calls(1)
            .max_message_size(1024),
    )
    .await;
    let mut ws = raw_ws(&m.server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &0u64, "gated")).await;
    assert_eq!(
        call(&mut ws, 2, "add", mpv(&(1, 2))).await.error_code(),
        429
    );
    m.gate.add_permits(1);
    assert_eq!(recv_resp(&mut ws).await.data, V::from(1));
    send_bytes(&mut ws, request(3, &vec![0u8; 4096], "add")).await;
    assert_eq!(expect_close(&mut ws).await.0, 1009);
    m.connection_ended().await;
    assert_eq!(
        m.counter(names::REFUSALS, &[("limit", "max_concurrent_calls")]),
        1
    );
    assert_eq!(m.counter(names::ERRORS, &[("code", "429")]), 1);
    assert_eq!(
        m.counter(names::REFUSALS, &[("limit", "max_message_size")]),
        1
    );
    m.server.stop().await;
}

#[tokio::test]
async fn a_backed_up_socket_shows_in_the_output_queue_depth() {
    let mut m = metered(Config::default()).await;
    let mut ws = raw_ws(&m.server.url(), "swill/1").await;
    // 64 MiB the client does not read: the kernel's buffers fill, then the engine's outbox.
    send_bytes(&mut ws, request(1, &1024u32, "flood")).await;
    m.eventually("output queued", |m| {
        m.value(names::OUTPUT_QUEUE_BYTES, &[]) > 0.0
    })
    .await;
    let depth = m.value(names::OUTPUT_QUEUE_BYTES, &[]);
    assert!(
        depth <= (swill::DEFAULT_MAX_PENDING_OUTPUT + 128 * 1024) as f64,
        "bounded by max_pending_output (and one item): {depth}"
    );
    // Reading drains it; the connection's end gives its share back.
    let mut items = 0;
    while items < 1024 {
        match ws.next().with_timeout().await {
            Some(Ok(Message::Binary(_))) => items += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    close(ws).await;
    m.connection_ended().await;
    assert_eq!(m.value(names::OUTPUT_QUEUE_BYTES, &[]), 0.0);
    assert_eq!(
        m.counter(names::FRAMES_SENT, &[]),
        1025,
        "1024 items and END_OF_STREAM"
    );
    m.server.stop().await;
}

#[tokio::test]
async fn unread_request_items_show_in_the_queued_input_gauge() {
    let mut m = metered(Config::default()).await;
    let mut ws = raw_ws(&m.server.url(), "swill/1").await;
    // Each item is 1,003 bytes of MessagePack (a str16 of 1,000 bytes).
    let item = "q".repeat(1000);
    send_bytes(&mut ws, request(1, &0u64, "stall")).await;
    for _ in 0..3 {
        send_bytes(&mut ws, request(1, &item, "stall")).await;
    }
    // Frames are handled in order: once a later call is answered, the items are queued.
    assert_eq!(call(&mut ws, 2, "add", mpv(&(1, 2))).await.data, V::from(3));
    assert_eq!(m.value(names::QUEUED_INPUT_BYTES, &[]), 3009.0);
    // The call's end gives them back.
    send_bytes(&mut ws, control(1, "stall", CANCEL)).await;
    assert_eq!(call(&mut ws, 3, "add", mpv(&(1, 2))).await.data, V::from(3));
    assert_eq!(m.value(names::QUEUED_INPUT_BYTES, &[]), 0.0);
    assert_eq!(m.value(names::INCOMPLETE_INPUT_BYTES, &[]), 0.0);
    close(ws).await;
    m.connection_ended().await;
    m.server.stop().await;
}
