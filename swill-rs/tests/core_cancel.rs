//! Cancellation and disconnects over a real socket: CANCEL drops the handler's future at
//! once and nothing more is sent for that seq (swill/1 §7.5, D7); a client that vanishes
//! mid-call gets every call cancelled, hooks run, and no connection is left behind (§12.9).
mod common;

use std::time::Duration;

use common::*;
use futures::{Stream, StreamExt};
use swill::client::Client;
use swill::hooks::Outcome;
use swill::{CallContext, Config, Error, Hooks, State, Streaming, Swill};

/// Streams 0, 1, 2, ... every 5 ms until dropped.
#[swill::handler]
async fn tick(ctx: CallContext, State(p): State<Probe>) -> impl Stream<Item = Result<u64, Error>> {
    let guard = p.start(ctx.seq());
    futures::stream::unfold((0u64, guard), |(i, g)| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Some((Ok(i), (i + 1, g)))
    })
}

/// Reads its request stream and never answers.
#[swill::handler]
async fn drain(
    ctx: CallContext,
    State(p): State<Probe>,
    mut items: Streaming<i64>,
) -> Result<u64, Error> {
    let _guard = p.start(ctx.seq());
    while let Some(x) = items.next().await {
        p.send("item", x);
    }
    std::future::pending::<()>().await;
    Ok(0)
}

fn app(p: &Probe) -> Swill {
    Swill::new()
        .config(Config::default().shutdown_timeout(Duration::from_millis(300)))
        .with_state(p.clone())
        .handler(add)
        .handler(hang)
        .handler(tick)
        .handler(drain)
}

/// After a CANCEL was processed (the handler's guard fired), frames already queued may
/// still arrive, but only stream items of that seq; then silence.
async fn only_items_then_silence(ws: &mut RawWs, seq: i64) {
    for _ in 0..10_000 {
        match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(b)))) => {
                let v = value(&b);
                let f = v.as_array().unwrap();
                assert_eq!(f[0].as_i64(), Some(seq), "frame for another seq: {v}");
                assert_eq!(f[2].as_i64(), Some(0), "non-item frame after CANCEL: {v}");
            }
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    panic!("frames kept coming after CANCEL");
}

#[tokio::test]
async fn cancel_drops_single_handler_future() {
    let (p, mut ev) = probe();
    let server = spawn(app(&p)).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "hang")).await;
    ev.expect("started", 1).await;
    send_bytes(&mut ws, control(1, "hang", 3)).await;
    ev.expect("dropped", 1).await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    assert_add_works(&mut ws, 2).await;
    server.stop().await;
}

#[tokio::test]
async fn cancel_stops_a_stream_and_sends_no_end_or_error() {
    let (p, mut ev) = probe();
    let server = spawn(app(&p)).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(5, &(), "tick")).await;
    ev.expect("started", 5).await;
    expect_frame(&mut ws, "95 05 00 00 c0 c0").await;
    expect_frame(&mut ws, "95 05 01 00 c0 c0").await;
    send_bytes(&mut ws, control(5, "tick", 3)).await;
    ev.expect("dropped", 5).await;
    only_items_then_silence(&mut ws, 5).await;
    assert_add_works(&mut ws, 6).await;
    server.stop().await;
}

#[tokio::test]
async fn cancel_drops_a_streaming_request_handler() {
    let (p, mut ev) = probe();
    let server = spawn(app(&p)).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_spec(&mut ws, r#"94 07 c0 a5 "drain" 02"#).await;
    ev.expect("started", 7).await;
    send_spec(&mut ws, r#"93 07 2a a5 "drain""#).await;
    ev.expect("item", 42).await;
    send_bytes(&mut ws, control(7, "drain", 3)).await;
    ev.expect("dropped", 7).await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    // The seq is free again: a later frame opens a brand-new call.
    send_spec(&mut ws, r#"93 07 01 a5 "drain""#).await;
    ev.expect("started", 7).await;
    ev.expect("item", 1).await;
    assert_add_works(&mut ws, 8).await;
    server.stop().await;
}

#[tokio::test]
async fn cancel_of_one_call_leaves_the_others_running() {
    let (p, mut ev) = probe();
    let server = spawn(app(&p)).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "hang")).await;
    send_bytes(&mut ws, request(2, &(), "hang")).await;
    ev.expect_all(vec![("started", 1), ("started", 2)]).await;
    send_bytes(&mut ws, control(1, "hang", 3)).await;
    ev.expect("dropped", 1).await;
    ev.expect_none(Duration::from_millis(100)).await;
    // A CANCEL naming another rpc is not call 2's traffic: dropped, call 2 lives on.
    send_bytes(&mut ws, control(2, "add", 3)).await;
    ev.expect_none(Duration::from_millis(100)).await;
    send_bytes(&mut ws, control(2, "hang", 3)).await;
    ev.expect("dropped", 2).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn client_drop_cancels_stream_and_single_calls() {
    let (p, mut ev) = probe();
    let server = spawn(app(&p)).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();

    let mut s = client.stream::<u64>("tick", &()).unwrap();
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 0);
    ev.expect("started", 1).await;
    drop(s);
    ev.expect("dropped", 1).await;

    let mut call = Box::pin(client.call::<u64>("hang", &()));
    tokio::select! {
        r = &mut call => panic!("hang answered: {r:?}"),
        e = ev.next() => assert_eq!(e, ("started", 2)),
    }
    drop(call);
    ev.expect("dropped", 2).await;

    let (mut sink, reply) = client.client_stream::<i64, u64>("drain").unwrap();
    sink.send(&9).unwrap();
    ev.expect("started", 3).await;
    ev.expect("item", 9).await;
    drop(reply);
    ev.expect("dropped", 3).await;
    drop(sink);

    let n: i64 = client.call("add", &(1, 1)).with_timeout().await.unwrap();
    assert_eq!(n, 2);
    server.stop().await;
}

#[tokio::test]
async fn disconnect_drops_every_call_runs_hooks_and_frees_the_connection() {
    let (p, mut ev) = probe();
    let hook_probe = p.clone();
    let conn_probe = p.clone();
    let app = app(&p)
        .hooks(
            Hooks::new().after_request(move |ctx: CallContext, outcome: Outcome| {
                let p = hook_probe.clone();
                async move {
                    let tag = match outcome {
                        Outcome::Disconnected => "after_request:disconnected",
                        Outcome::Cancelled => "after_request:cancelled",
                        Outcome::Ok => "after_request:ok",
                        _ => "after_request:other",
                    };
                    p.send(tag, ctx.seq());
                }
            }),
        )
        .after_connection(move |_conn| {
            let p = conn_probe.clone();
            async move {
                p.send("after_connection", 0);
                Ok(())
            }
        });
    let (server, handle) = spawn_tracked(app).await;
    let mut a = raw_ws(&server.url(), "swill/1").await;
    let mut b = raw_ws(&server.url(), "swill/1").await;
    wait_live(&handle, 2).await;

    send_bytes(&mut a, request(1, &(), "tick")).await;
    send_bytes(&mut a, request(2, &(), "hang")).await;
    send_spec(&mut a, r#"94 03 c0 a5 "drain" 02"#).await;
    send_bytes(&mut b, request(1, &(), "tick")).await;
    ev.expect_all(vec![
        ("started", 1),
        ("started", 2),
        ("started", 3),
        ("started", 1),
    ])
    .await;
    expect_frame(&mut a, "95 01 00 00 c0 c0").await;

    // A vanishes mid-stream without a close frame.
    drop(a);
    ev.expect_all(vec![
        ("dropped", 1),
        ("dropped", 2),
        ("dropped", 3),
        ("after_request:disconnected", 1),
        ("after_request:disconnected", 2),
        ("after_request:disconnected", 3),
    ])
    .await;
    // after_connection runs once, after every call's after_request (§12.9).
    ev.expect("after_connection", 0).await;
    wait_live(&handle, 1).await;

    // B is unaffected: its stream keeps going and it can still call.
    for i in 0..5u8 {
        expect_frame(&mut b, &format!("95 01 {i:02x} 00 c0 c0")).await;
    }
    send_bytes(&mut b, control(1, "tick", 3)).await;
    ev.expect_all(vec![("dropped", 1), ("after_request:cancelled", 1)])
        .await;
    only_items_then_silence(&mut b, 1).await;
    assert_add_works(&mut b, 2).await;
    ev.expect("after_request:ok", 2).await;

    drop(b);
    ev.expect("after_connection", 0).await;
    wait_live(&handle, 0).await;
    ev.expect_none(Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn client_dropped_with_open_calls_disconnects_cleanly() {
    let (p, mut ev) = probe();
    let (server, handle) = spawn_tracked(app(&p)).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let s = client.stream::<u64>("tick", &()).unwrap();
    ev.expect("started", 1).await;
    wait_live(&handle, 1).await;
    // Dropping the stream cancels; dropping the last client handle closes the socket.
    drop(s);
    drop(client);
    ev.expect("dropped", 1).await;
    wait_live(&handle, 0).await;
    server.stop().await;
}

#[tokio::test]
async fn clean_close_mid_calls_drops_every_handler() {
    let (p, mut ev) = probe();
    let (server, handle) = spawn_tracked(app(&p)).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "tick")).await;
    send_bytes(&mut ws, request(2, &(), "hang")).await;
    ev.expect_all(vec![("started", 1), ("started", 2)]).await;
    ws.close(None).with_timeout().await.unwrap();
    ev.expect_all(vec![("dropped", 1), ("dropped", 2)]).await;
    // The server answers the close; nothing but already-queued items comes before it.
    for _ in 0..10_000 {
        match ws.next().with_timeout().await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(b))) => {
                let v = value(&b);
                assert_eq!(v.as_array().unwrap()[2].as_i64(), Some(0), "{v}");
            }
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None => break,
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    wait_live(&handle, 0).await;
    server.stop().await;
}
