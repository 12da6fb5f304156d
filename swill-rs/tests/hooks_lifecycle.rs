//! Hook order and `after_request`/`after_connection` outcomes over a real socket (swill/1 §9).
mod common;

use std::time::Duration;

use common::*;
use futures::{Stream, StreamExt};
use rmpv::Value as V;
use swill::hooks::{Outcome, RequestFrame};
use swill::{Config, Error, Hooks, Request, State, Streaming, Swill};

#[swill::handler]
async fn inc(req: Request<i64>, State(log): State<Log>) -> Result<i64, Error> {
    log.push("handler");
    Ok(req.into_data() + 1)
}

#[swill::handler]
async fn teapot(State(log): State<Log>) -> Result<(), Error> {
    log.push("handler");
    Err(Error::new(418, "teapot"))
}

#[swill::handler]
async fn count(
    req: Request<u64>,
    State(log): State<Log>,
) -> impl Stream<Item = Result<u64, Error>> {
    log.push("handler");
    futures::stream::iter((0..*req.data()).map(Ok))
}

#[swill::handler]
async fn sum(mut items: Streaming<i64>, State(log): State<Log>) -> Result<i64, Error> {
    log.push("handler");
    let mut total = 0;
    while let Some(x) = items.next().await {
        log.push(format!("item {x}"));
        total += x;
    }
    Ok(total)
}

#[swill::handler]
async fn double(
    items: Streaming<i64>,
    State(log): State<Log>,
) -> impl Stream<Item = Result<i64, Error>> {
    log.push("handler");
    items.map(move |x| {
        log.push(format!("item {x}"));
        Ok(x * 2)
    })
}

/// Never answers; logs when it starts and when its future is dropped.
#[swill::handler]
async fn forever(State(log): State<Log>) -> Result<(), Error> {
    let _guard = log.on_drop("dropped forever");
    log.push("handler forever");
    std::future::pending::<()>().await;
    Ok(())
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Ok => "ok".into(),
        Outcome::Error(e) => format!("error {}", e.code().as_i64()),
        Outcome::Cancelled => "cancelled".into(),
        Outcome::Disconnected => "disconnected".into(),
        Outcome::Shutdown => "shutdown".into(),
        other => format!("{other:?}"),
    }
}

fn md_text(md: &Option<swill::Metadata>) -> &'static str {
    if md.is_some() {
        "some"
    } else {
        "none"
    }
}

/// The app with every hook recording into `log`.
fn hooked(log: &Log) -> Swill {
    let l = log.clone();
    let app = Swill::new()
        .with_state(log.clone())
        .config(Config::default().shutdown_timeout(Duration::from_millis(200)))
        .handler(inc)
        .handler(teapot)
        .handler(count)
        .handler(sum)
        .handler(double)
        .handler(forever)
        .before_connection(move |hs| {
            let l = l.clone();
            async move {
                l.push("before_connection");
                Ok(hs)
            }
        });
    let l = log.clone();
    let app = app.after_accept(move |_conn| {
        let l = l.clone();
        async move {
            l.push("after_accept");
            Ok(())
        }
    });
    let hooks = Hooks::new();
    let l = log.clone();
    let hooks = hooks.before_request(move |ctx| {
        let l = l.clone();
        async move {
            l.push(format!("before_request {}", ctx.rpc()));
            Ok(())
        }
    });
    let l = log.clone();
    let hooks = hooks.before_request_metadata(move |ctx| {
        let l = l.clone();
        async move {
            let v = ctx.metadata().get_str("k").unwrap_or("?").to_owned();
            l.push(format!("before_request_metadata k={v}"));
            Ok(())
        }
    });
    let l = log.clone();
    let hooks = hooks.before_request_data(move |_ctx, frame| {
        let l = l.clone();
        async move {
            match frame {
                RequestFrame::Message(m) => {
                    l.push(format!("before_request_data {}", m.to_value().unwrap()));
                }
                RequestFrame::EndOfStream => l.push("before_request_data end"),
                other => l.push(format!("before_request_data {other:?}")),
            }
            Ok(())
        }
    });
    let l = log.clone();
    let hooks = hooks.before_request_message(move |_ctx, m| {
        let l = l.clone();
        async move {
            l.push(format!("before_request_message {}", m.to_value().unwrap()));
            Ok(())
        }
    });
    let l = log.clone();
    let hooks = hooks.before_leading_metadata(move |_ctx, md| {
        let l = l.clone();
        async move {
            l.push(format!("before_leading_metadata {}", md_text(&md)));
            Ok(())
        }
    });
    let l = log.clone();
    let hooks = hooks.before_response_message(move |_ctx, m| {
        let l = l.clone();
        async move {
            l.push(format!("before_response_message {}", m.to_value().unwrap()));
            Ok(())
        }
    });
    let l = log.clone();
    let hooks = hooks.before_trailing_metadata(move |_ctx, md| {
        let l = l.clone();
        async move {
            l.push(format!("before_trailing_metadata {}", md_text(&md)));
            Ok(())
        }
    });
    let l = log.clone();
    let hooks = hooks.after_request(move |ctx, outcome| {
        let l = l.clone();
        async move {
            l.push(format!(
                "after_request {} {}",
                ctx.rpc(),
                outcome_text(&outcome)
            ));
        }
    });
    let app = app.hooks(hooks);
    let l = log.clone();
    app.after_connection(move |_conn| {
        let l = l.clone();
        async move {
            l.push("after_connection");
            Ok(())
        }
    })
}

fn md_k() -> Option<V> {
    Some(mmap(&[("k", V::from("v"))]))
}

/// Closes the socket from the client side and waits for `after_connection`.
async fn close_and_wait(mut ws: RawWs, log: &Log) -> Vec<String> {
    ws.close(None).with_timeout().await.unwrap();
    log.wait_for("after_connection").await
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn hook_order_for_a_single_call() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, envelope(1, V::from(41), "inc", MESSAGE, md_k())).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!((r.seq, r.kind, r.data), (1, MESSAGE, V::from(42)));
    log.wait_for("after_request inc ok").await;
    let events = close_and_wait(ws, &log).await;
    assert_eq!(
        events,
        strs(&[
            "before_connection",
            "after_accept",
            "before_request inc",
            "before_request_metadata k=v",
            "before_request_message 41",
            "handler",
            "before_trailing_metadata none",
            "before_response_message 42",
            "before_leading_metadata none",
            "after_request inc ok",
            "after_connection",
        ])
    );
    server.stop().await;
}

#[tokio::test]
async fn before_request_metadata_does_not_fire_without_metadata() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &1, "inc")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(2));
    let events = log.wait_for("after_request inc ok").await;
    assert!(
        !events
            .iter()
            .any(|e| e.starts_with("before_request_metadata")),
        "{events:?}"
    );
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn hook_order_for_a_server_stream() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &2, "count")).await;
    for i in 0..2 {
        let r = recv_resp(&mut ws).await;
        assert_eq!((r.kind, r.data), (MESSAGE, V::from(i)));
    }
    assert_eq!(recv_resp(&mut ws).await.kind, END_OF_STREAM);
    log.wait_for("after_request count ok").await;
    let events = close_and_wait(ws, &log).await;
    assert_eq!(
        events[2..],
        strs(&[
            "before_request count",
            "before_request_message 2",
            "handler",
            "before_response_message 0",
            "before_leading_metadata none",
            "before_response_message 1",
            "before_trailing_metadata none",
            "after_request count ok",
            "after_connection",
        ])
    );
    server.stop().await;
}

#[tokio::test]
async fn hook_order_for_an_empty_server_stream() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &0, "count")).await;
    assert_eq!(recv_resp(&mut ws).await.kind, END_OF_STREAM);
    let events = log.wait_for("after_request count ok").await;
    assert_eq!(
        events[2..],
        strs(&[
            "before_request count",
            "before_request_message 0",
            "handler",
            "before_trailing_metadata none",
            "before_leading_metadata none",
            "after_request count ok",
        ])
    );
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn hook_order_for_a_client_stream_opened_with_metadata() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, envelope(1, V::Nil, "sum", METADATA, md_k())).await;
    send_bytes(&mut ws, request(1, &1, "sum")).await;
    send_bytes(&mut ws, request(1, &2, "sum")).await;
    send_bytes(&mut ws, control(1, "sum", END_OF_STREAM)).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!((r.kind, r.data), (MESSAGE, V::from(3)));
    log.wait_for("after_request sum ok").await;
    let events = close_and_wait(ws, &log).await;
    assert_eq!(
        events[2..],
        strs(&[
            "before_request sum",
            "before_request_metadata k=v",
            "handler",
            "before_request_data 1",
            "before_request_message 1",
            "item 1",
            "before_request_data 2",
            "before_request_message 2",
            "item 2",
            "before_request_data end",
            "before_trailing_metadata none",
            "before_response_message 3",
            "before_leading_metadata none",
            "after_request sum ok",
            "after_connection",
        ])
    );
    server.stop().await;
}

#[tokio::test]
async fn the_opening_item_of_a_client_stream_skips_before_request_data() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &5, "sum")).await;
    send_bytes(&mut ws, control(1, "sum", END_OF_STREAM)).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(5));
    let events = log.wait_for("after_request sum ok").await;
    assert_eq!(
        events[2..8],
        strs(&[
            "before_request sum",
            "handler",
            "before_request_message 5",
            "item 5",
            "before_request_data end",
            "before_trailing_metadata none",
        ])
    );
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn hook_order_for_a_bidi_call_in_lockstep() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &1, "double")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(2));
    send_bytes(&mut ws, request(1, &2, "double")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(4));
    send_bytes(&mut ws, control(1, "double", END_OF_STREAM)).await;
    assert_eq!(recv_resp(&mut ws).await.kind, END_OF_STREAM);
    log.wait_for("after_request double ok").await;
    let events = close_and_wait(ws, &log).await;
    assert_eq!(
        events[2..],
        strs(&[
            "before_request double",
            "handler",
            "before_request_message 1",
            "item 1",
            "before_response_message 2",
            "before_leading_metadata none",
            "before_request_data 2",
            "before_request_message 2",
            "item 2",
            "before_response_message 4",
            "before_request_data end",
            "before_trailing_metadata none",
            "after_request double ok",
            "after_connection",
        ])
    );
    server.stop().await;
}

#[tokio::test]
async fn after_request_sees_success_error_and_cancel() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;

    send_bytes(&mut ws, request(1, &1, "inc")).await;
    assert_eq!(recv_resp(&mut ws).await.kind, MESSAGE);
    log.wait_for("after_request inc ok").await;

    send_bytes(&mut ws, request(2, &(), "teapot")).await;
    assert_eq!(recv_resp(&mut ws).await.error_code(), 418);
    log.wait_for("after_request teapot error 418").await;

    // A payload that does not decode is an error outcome too (400), and the handler never ran.
    log.clear();
    send_bytes(&mut ws, request(3, &"not a number", "inc")).await;
    assert_eq!(recv_resp(&mut ws).await.error_code(), 400);
    let events = log.wait_for("after_request inc error 400").await;
    assert!(!events.contains(&"handler".to_owned()), "{events:?}");

    send_bytes(&mut ws, request(4, &(), "forever")).await;
    log.wait_for("handler forever").await;
    send_bytes(&mut ws, control(4, "forever", CANCEL)).await;
    let events = log.wait_for("after_request forever cancelled").await;
    let dropped = events.iter().position(|e| e == "dropped forever").unwrap();
    let after = events
        .iter()
        .position(|e| e == "after_request forever cancelled")
        .unwrap();
    assert!(
        dropped < after,
        "the handler is dropped before after_request: {events:?}"
    );
    expect_silence(&mut ws, Duration::from_millis(100)).await;

    // An unknown rpc has no request to end: no after_request.
    log.clear();
    send_bytes(&mut ws, request(5, &(), "nope")).await;
    assert_eq!(recv_resp(&mut ws).await.error_code(), 404);
    send_bytes(&mut ws, request(6, &1, "inc")).await;
    assert_eq!(recv_resp(&mut ws).await.kind, MESSAGE);
    let events = log.wait_for("after_request inc ok").await;
    assert!(
        !events.iter().any(|e| e.contains("nope")),
        "no hooks for an unknown rpc: {events:?}"
    );
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn disconnect_ends_every_call_then_after_connection_runs_once() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "forever")).await;
    send_bytes(&mut ws, request(2, &(), "forever")).await;
    log.wait_until(|e| e.iter().filter(|x| *x == "handler forever").count() == 2)
        .await;
    // Drop the TCP connection without a close handshake.
    drop(ws);
    let events = log.wait_for("after_connection").await;
    let after_requests: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| *e == "after_request forever disconnected")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(after_requests.len(), 2, "{events:?}");
    assert_eq!(
        events.iter().filter(|e| *e == "dropped forever").count(),
        2,
        "{events:?}"
    );
    let last = events.len() - 1;
    assert_eq!(events[last], "after_connection");
    assert!(after_requests.iter().all(|i| *i < last));
    // Exactly once, even a while later.
    log.expect_none(Duration::from_millis(200)).await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_running_calls_with_shutdown_outcome() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "forever")).await;
    log.wait_for("handler forever").await;
    let stopping = tokio::spawn(server.stop());
    let (code, _reason) = expect_close(&mut ws).await;
    assert_eq!(code, 1001);
    let events = log.wait_for("after_connection").await;
    let n = events.len();
    assert_eq!(
        events[n - 3..],
        strs(&[
            "dropped forever",
            "after_request forever shutdown",
            "after_connection"
        ])
    );
    stopping.with_timeout().await.unwrap();
}

#[tokio::test]
async fn after_connection_runs_once_per_connection_after_its_calls() {
    let log = Log::new();
    let server = spawn(hooked(&log)).await;
    let mut a = server.raw_ws().await;
    let mut b = server.raw_ws().await;
    send_bytes(&mut a, request(1, &1, "inc")).await;
    send_bytes(&mut b, request(1, &2, "inc")).await;
    assert_eq!(recv_resp(&mut a).await.data, V::from(2));
    assert_eq!(recv_resp(&mut b).await.data, V::from(3));
    log.wait_until(|e| e.iter().filter(|x| *x == "after_request inc ok").count() == 2)
        .await;
    a.close(None).with_timeout().await.unwrap();
    let events = log.wait_for("after_connection").await;
    assert_eq!(
        events.iter().filter(|e| *e == "after_connection").count(),
        1
    );
    // b is unaffected.
    send_bytes(&mut b, request(2, &10, "inc")).await;
    assert_eq!(recv_resp(&mut b).await.data, V::from(11));
    b.close(None).with_timeout().await.unwrap();
    let events = log
        .wait_until(|e| e.iter().filter(|x| *x == "after_connection").count() == 2)
        .await;
    assert_eq!(
        events.iter().filter(|e| *e == "before_connection").count(),
        2
    );
    assert_eq!(events.last().unwrap(), "after_connection");
    server.stop().await;
}

#[swill::handler]
async fn eager(
    req: Request<u64>,
    res: swill::Response,
    State(log): State<Log>,
) -> impl Stream<Item = Result<u64, Error>> {
    log.push("handler");
    res.set_leading(swill::Metadata::new().with("n", *req.data()));
    res.send_leading();
    futures::stream::iter((0..*req.data()).map(Ok))
}

#[tokio::test]
async fn an_eager_metadata_send_fires_before_leading_metadata_once_before_the_items() {
    let log = Log::new();
    let server = spawn(hooked(&log).handler(eager)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &2, "eager")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!((r.kind, r.leading), (METADATA, mmap(&[("n", V::from(2))])));
    assert_eq!(recv_resp(&mut ws).await.data, V::from(0));
    assert_eq!(recv_resp(&mut ws).await.data, V::from(1));
    assert_eq!(recv_resp(&mut ws).await.kind, END_OF_STREAM);
    let events = log.wait_for("after_request eager ok").await;
    assert_eq!(
        events[2..],
        strs(&[
            "before_request eager",
            "before_request_message 2",
            "handler",
            "before_leading_metadata some",
            "before_response_message 0",
            "before_response_message 1",
            "before_trailing_metadata none",
            "after_request eager ok",
        ])
    );
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn hooks_see_the_metadata_the_handler_set() {
    #[swill::handler]
    async fn with_md(res: swill::Response) -> Result<i64, Error> {
        res.set_leading(swill::Metadata::new().with("lead", 1));
        res.set_trailing(swill::Metadata::new().with("trail", 2));
        Ok(7)
    }
    let log = Log::new();
    let server = spawn(hooked(&log).handler(with_md)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "with_md")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!(r.leading, mmap(&[("lead", V::from(1))]));
    assert_eq!(r.trailing, mmap(&[("trail", V::from(2))]));
    let events = log.wait_for("after_request with_md ok").await;
    assert!(events.contains(&"before_leading_metadata some".to_owned()));
    assert!(events.contains(&"before_trailing_metadata some".to_owned()));
    drop(ws);
    server.stop().await;
}
