//! Cancellation and disconnects over a real socket: CANCEL drops the handler's future at
//! once and nothing more is sent for that seq (swill/1 §7.5, D7); a client that vanishes
//! mid-call gets every call cancelled, hooks run, and no connection is left behind (§12.9).
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::{Stream, StreamExt};
use swill::client::Client;
use swill::hooks::Outcome;
use swill::{CallContext, Error, Hooks, State, Streaming, Swill};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// The gate of the `tick` streams: how many items each may have sent. The test raises it;
/// no item is ever sent on a timer.
#[derive(Clone, Debug)]
struct Ticks(Arc<watch::Sender<u64>>);

impl Ticks {
    fn new() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }

    /// Lets every open `tick` stream send its items up to item `n - 1`.
    fn allow(&self, n: u64) {
        self.0.send_replace(n);
    }
}

/// Streams 0, 1, 2, ... as [`Ticks`] allows, until dropped; never ends by itself.
#[swill::handler]
async fn tick(
    ctx: CallContext,
    State(log): State<Log>,
    State(ticks): State<Ticks>,
) -> impl Stream<Item = Result<u64, Error>> {
    let guard = log.start(ctx.seq());
    let allowed = ticks.0.subscribe();
    futures::stream::unfold((0u64, allowed, guard), |(i, mut allowed, g)| async move {
        if allowed.wait_for(|n| *n > i).await.is_err() {
            std::future::pending::<()>().await;
        }
        Some((Ok(i), (i + 1, allowed, g)))
    })
}

/// Reads its request stream and never answers.
#[swill::handler]
async fn drain(
    ctx: CallContext,
    State(log): State<Log>,
    mut items: Streaming<i64>,
) -> Result<u64, Error> {
    let _guard = log.start(ctx.seq());
    while let Some(x) = items.next().await {
        log.push(format!("item {x}"));
    }
    std::future::pending::<()>().await;
    Ok(0)
}

fn app(log: &Log) -> Swill {
    core_app(log)
        .with_state(Ticks::new())
        .handler(tick)
        .handler(drain)
}

#[tokio::test]
async fn cancel_drops_single_handler_future() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "hang")).await;
    log.expect("started 1").await;
    send_bytes(&mut ws, control(1, "hang", CANCEL)).await;
    log.expect("dropped 1").await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    assert_add_works(&mut ws, 2).await;
    server.stop().await;
}

#[tokio::test]
async fn cancel_stops_a_stream_and_sends_no_end_or_error() {
    let log = Log::new();
    let ticks = Ticks::new();
    let server = spawn(app(&log).with_state(ticks.clone())).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(5, &(), "tick")).await;
    log.expect("started 5").await;
    ticks.allow(2);
    expect_frame(&mut ws, "95 05 00 00 c0 c0").await;
    expect_frame(&mut ws, "95 05 01 00 c0 c0").await;
    send_bytes(&mut ws, control(5, "tick", CANCEL)).await;
    log.expect("dropped 5").await;
    // The gate let two items out and no more: nothing was in flight, so nothing at all
    // may follow the CANCEL (no item, END_OF_STREAM or ERROR).
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    assert_add_works(&mut ws, 6).await;
    server.stop().await;
}

#[tokio::test]
async fn cancel_drops_a_streaming_request_handler() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"94 07 c0 a5 "drain" 02"#).await;
    log.expect("started 7").await;
    send_spec(&mut ws, r#"93 07 2a a5 "drain""#).await;
    log.expect("item 42").await;
    send_bytes(&mut ws, control(7, "drain", CANCEL)).await;
    log.expect("dropped 7").await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    // The seq is free again: a later frame opens a brand-new call.
    send_spec(&mut ws, r#"93 07 01 a5 "drain""#).await;
    log.expect("started 7").await;
    log.expect("item 1").await;
    assert_add_works(&mut ws, 8).await;
    server.stop().await;
}

#[tokio::test]
async fn cancel_of_one_call_leaves_the_others_running() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "hang")).await;
    send_bytes(&mut ws, request(2, &(), "hang")).await;
    log.expect_all(&["started 1", "started 2"]).await;
    send_bytes(&mut ws, control(1, "hang", CANCEL)).await;
    log.expect("dropped 1").await;
    log.expect_none(Duration::from_millis(100)).await;
    // A CANCEL naming another rpc is not call 2's traffic: dropped, call 2 lives on.
    send_bytes(&mut ws, control(2, "add", CANCEL)).await;
    log.expect_none(Duration::from_millis(100)).await;
    send_bytes(&mut ws, control(2, "hang", CANCEL)).await;
    log.expect("dropped 2").await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn client_drop_cancels_stream_and_single_calls() {
    let log = Log::new();
    let ticks = Ticks::new();
    ticks.allow(1);
    let server = spawn(app(&log).with_state(ticks)).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();

    let mut s = client.stream::<u64>("tick", &()).unwrap();
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 0);
    log.expect("started 1").await;
    drop(s);
    log.expect("dropped 1").await;

    let mut call = Box::pin(client.call::<u64>("hang", &()));
    tokio::select! {
        r = &mut call => panic!("hang answered: {r:?}"),
        e = log.next() => assert_eq!(e, "started 2"),
    }
    drop(call);
    log.expect("dropped 2").await;

    let (mut sink, reply) = client.client_stream::<i64, u64>("drain").unwrap();
    sink.send(&9).unwrap();
    log.expect("started 3").await;
    log.expect("item 9").await;
    drop(reply);
    log.expect("dropped 3").await;
    drop(sink);

    let n: i64 = client.call("add", &(1, 1)).with_timeout().await.unwrap();
    assert_eq!(n, 2);
    server.stop().await;
}

#[tokio::test]
async fn disconnect_drops_every_call_runs_hooks_and_frees_the_connection() {
    let log = Log::new();
    let ticks = Ticks::new();
    let hook_log = log.clone();
    let conn_log = log.clone();
    let app = app(&log)
        .with_state(ticks.clone())
        .hooks(
            Hooks::new().after_request(move |ctx: CallContext, outcome: Outcome| {
                let log = hook_log.clone();
                async move {
                    let tag = match outcome {
                        Outcome::Disconnected => "after_request:disconnected",
                        Outcome::Cancelled => "after_request:cancelled",
                        Outcome::Ok => "after_request:ok",
                        _ => "after_request:other",
                    };
                    log.push(format!("{tag} {}", ctx.seq()));
                }
            }),
        )
        .after_connection(move |_conn| {
            let log = conn_log.clone();
            async move {
                log.push("after_connection");
                Ok(())
            }
        });
    let (server, handle) = spawn_tracked(app).await;
    let mut a = server.raw_ws().await;
    let mut b = server.raw_ws().await;
    // A connection counts from before its 101: no wait.
    assert_eq!(handle.live_connections(), 2);

    send_bytes(&mut a, request(1, &(), "tick")).await;
    send_bytes(&mut a, request(2, &(), "hang")).await;
    send_spec(&mut a, r#"94 03 c0 a5 "drain" 02"#).await;
    send_bytes(&mut b, request(1, &(), "tick")).await;
    log.expect_all(&["started 1", "started 2", "started 3", "started 1"])
        .await;
    ticks.allow(1);
    expect_frame(&mut a, "95 01 00 00 c0 c0").await;

    // A vanishes mid-stream without a close frame.
    drop(a);
    log.expect_all(&[
        "dropped 1",
        "dropped 2",
        "dropped 3",
        "after_request:disconnected 1",
        "after_request:disconnected 2",
        "after_request:disconnected 3",
    ])
    .await;
    // after_connection runs once, after every call's after_request (§12.9).
    log.expect("after_connection").await;
    wait_live(&handle, 1).await;

    // B is unaffected: its stream keeps going and it can still call.
    ticks.allow(5);
    for i in 0..5u8 {
        expect_frame(&mut b, &format!("95 01 {i:02x} 00 c0 c0")).await;
    }
    send_bytes(&mut b, control(1, "tick", CANCEL)).await;
    log.expect_all(&["dropped 1", "after_request:cancelled 1"])
        .await;
    // The gate let five items out and no more: nothing may follow the CANCEL.
    expect_silence(&mut b, Duration::from_millis(200)).await;
    assert_add_works(&mut b, 2).await;
    log.expect("after_request:ok 2").await;

    drop(b);
    log.expect("after_connection").await;
    wait_live(&handle, 0).await;
    log.expect_none(Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn client_dropped_with_open_calls_disconnects_cleanly() {
    let log = Log::new();
    let (server, handle) = spawn_tracked(app(&log)).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let s = client.stream::<u64>("tick", &()).unwrap();
    log.expect("started 1").await;
    assert_eq!(handle.live_connections(), 1);
    // Dropping the stream cancels; dropping the last client handle closes the socket.
    drop(s);
    drop(client);
    log.expect("dropped 1").await;
    wait_live(&handle, 0).await;
    server.stop().await;
}

#[tokio::test]
async fn clean_close_mid_calls_drops_every_handler() {
    let log = Log::new();
    let (server, handle) = spawn_tracked(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "tick")).await;
    send_bytes(&mut ws, request(2, &(), "hang")).await;
    log.expect_all(&["started 1", "started 2"]).await;
    ws.close(None).with_timeout().await.unwrap();
    log.expect_all(&["dropped 1", "dropped 2"]).await;
    // The server answers the close. The gate let no tick item out, so nothing comes first.
    match ws.next().with_timeout().await {
        Some(Ok(Message::Close(_))) | None => {}
        other => panic!("expected the close reply, got {other:?}"),
    }
    wait_live(&handle, 0).await;
    server.stop().await;
}
