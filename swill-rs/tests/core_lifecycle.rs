//! Server lifecycle over a real socket: graceful shutdown (503 for new calls, running calls
//! finish, close 1001, deadline), panics isolated to their call (500, with the panic text
//! only in debug mode), and blocking handlers running off the async workers.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::{Stream, StreamExt};
use swill::client::{Client, ClientError};
use swill::hooks::Outcome;
use swill::{CallContext, Config, Error, Hooks, Request, State, Streaming, Swill};
use tokio::sync::Semaphore;

const INTERNAL: &str = "An internal server error occurred";

/// Waits for a permit from the test, then answers its seq.
#[swill::handler]
async fn gate(
    ctx: CallContext,
    State(p): State<Probe>,
    State(permits): State<Arc<Semaphore>>,
) -> Result<i64, Error> {
    let _guard = p.start(ctx.seq());
    permits.acquire().await.unwrap().forget();
    Ok(ctx.seq())
}

#[swill::handler]
async fn crash() -> Result<(), Error> {
    panic!("crash fixture")
}

#[swill::handler]
async fn crash_stream() -> impl Stream<Item = Result<u64, Error>> {
    futures::stream::iter(0..3u64).map(|i| {
        assert!(i < 1, "stream crash at {i}");
        Ok(i)
    })
}

#[swill::handler]
fn crash_blocking() -> Result<(), Error> {
    panic!("blocking crash")
}

#[swill::handler]
async fn tally(mut items: Streaming<i64>) -> Result<i64, Error> {
    let mut total = 0;
    while let Some(x) = items.next().await {
        total += x;
    }
    Ok(total)
}

/// Blocks its thread for 300 ms.
#[swill::handler]
fn nap(req: Request<u64>) -> u64 {
    std::thread::sleep(Duration::from_millis(300));
    *req.data()
}

fn app(p: &Probe, permits: &Arc<Semaphore>) -> Swill {
    Swill::new()
        .with_state(p.clone())
        .with_state(permits.clone())
        .handler(add)
        .handler(gate)
        .handler(hang)
        .handler(crash)
        .handler(crash_stream)
        .handler(crash_blocking)
        .handler(nap)
        .handler(tally)
}

/// `[seq, {"code": 500, "message": ..., "data": {"panic": panic}}, 3, nil, nil]`.
fn debug_500(seq: i64, panic: &str) -> Vec<u8> {
    use rmpv::Value as V;
    let v = V::Array(vec![
        V::from(seq),
        V::Map(vec![
            (V::from("code"), V::from(500)),
            (V::from("message"), V::from(INTERNAL)),
            (
                V::from("data"),
                V::Map(vec![(V::from("panic"), V::from(panic))]),
            ),
        ]),
        V::from(3),
        V::Nil,
        V::Nil,
    ]);
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &v).unwrap();
    out
}

// ---- Graceful shutdown ---------------------------------------------------------------------

#[tokio::test]
async fn graceful_shutdown_finishes_running_calls_refuses_new_ones_and_closes_with_1001() {
    let (p, mut ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let server =
        spawn(app(&p, &permits).config(Config::default().shutdown_timeout(Duration::from_secs(5))))
            .await;
    let addr = server.addr;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "gate")).await;
    ev.expect("started", 1).await;

    let stopping = tokio::spawn(server.stop());
    // New calls get 503 as soon as the connection has seen the shutdown.
    let mut refused = None;
    for seq in 2..200 {
        send_bytes(&mut ws, request(seq, &(1, 2), "add")).await;
        let got = recv(&mut ws).await;
        if got == error_frame(seq, 503, "server is shutting down") {
            refused = Some(seq);
            break;
        }
        assert_eq!(
            to_hex(&got),
            to_hex(&spec_hex(&format!("95 {seq:02x} 03 00 c0 c0")))
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = refused.expect("no call was refused with 503 during shutdown");
    // The listener is gone.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // Streaming requests are refused the same way, also when opened by METADATA.
    send_spec(
        &mut ws,
        &format!(r#"95 {:02x} c0 a5 "tally" 02 80"#, refused + 1),
    )
    .await;
    expect_error(&mut ws, refused + 1, 503, "server is shutting down").await;

    // The running call finishes and its reply arrives, then the close.
    ev.expect_none(Duration::from_millis(100)).await;
    permits.add_permits(1);
    expect_frame(&mut ws, "95 01 01 00 c0 c0").await;
    ev.expect("dropped", 1).await;
    assert_eq!(read_close_code(&mut ws).await, Some(1001));
    stopping.with_timeout().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_gives_up_on_calls_after_the_shutdown_timeout() {
    let (p, mut ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let outcome_probe = p.clone();
    let app = app(&p, &permits)
        .config(Config::default().shutdown_timeout(Duration::from_millis(300)))
        .hooks(
            Hooks::new().after_request(move |ctx: CallContext, outcome: Outcome| {
                let p = outcome_probe.clone();
                async move {
                    if outcome == Outcome::Shutdown {
                        p.send("after_request:shutdown", ctx.seq());
                    }
                }
            }),
        );
    let server = spawn(app).await;
    let addr = server.addr;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "hang")).await;
    ev.expect("started", 1).await;
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    assert_eq!(read_close_code(&mut ws).await, Some(1001));
    let waited = started.elapsed();
    ev.expect("dropped", 1).await;
    ev.expect("after_request:shutdown", 1).await;
    stopping.with_timeout().await.unwrap();
    assert!(
        waited >= Duration::from_millis(250),
        "closed before the deadline: {waited:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn idle_connections_close_at_once_on_shutdown() {
    let (p, _ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&p, &permits)).await;
    let mut a = raw_ws(&server.url(), "swill/1").await;
    let mut b = raw_ws(&server.url(), "swill/1").await;
    assert_add_works(&mut a, 1).await;
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    assert_eq!(read_close_code(&mut a).await, Some(1001));
    assert_eq!(read_close_code(&mut b).await, Some(1001));
    stopping.with_timeout().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn client_calls_end_with_closed_when_the_server_goes_away() {
    let (p, mut ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(
        app(&p, &permits).config(Config::default().shutdown_timeout(Duration::from_millis(200))),
    )
    .await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.call::<u64>("hang", &()).await }
    });
    ev.expect("started", 1).await;
    server.stop().await;
    ev.expect("dropped", 1).await;
    let err = pending.with_timeout().await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
    for _ in 0..200 {
        if client.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(client.is_closed());
    let err = client
        .call::<i64>("add", &(1, 2))
        .with_timeout()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
}

#[tokio::test]
async fn shutdown_handle_of_a_mounted_service_drains_its_connections() {
    let (p, mut ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let (server, handle) = spawn_tracked(
        app(&p, &permits).config(Config::default().shutdown_timeout(Duration::from_secs(5))),
    )
    .await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "gate")).await;
    ev.expect("started", 1).await;
    wait_live(&handle, 1).await;
    let shutting = tokio::spawn({
        let handle = handle.clone();
        async move { handle.shutdown().await }
    });
    let mut refused = false;
    for seq in 2..200 {
        send_bytes(&mut ws, request(seq, &(1, 2), "add")).await;
        if recv(&mut ws).await == error_frame(seq, 503, "server is shutting down") {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "no 503 during shutdown");
    permits.add_permits(1);
    expect_frame(&mut ws, "95 01 01 00 c0 c0").await;
    assert_eq!(read_close_code(&mut ws).await, Some(1001));
    shutting.with_timeout().await.unwrap();
    assert_eq!(handle.live_connections(), 0);
    server.stop().await;
}

// ---- Panics --------------------------------------------------------------------------------

#[tokio::test]
async fn panicking_handler_fails_only_its_own_call() {
    let (p, mut ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&p, &permits)).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let mut other = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "gate")).await;
    ev.expect("started", 1).await;

    send_spec(&mut ws, r#"93 02 c0 a5 "crash""#).await;
    expect_frame(
        &mut ws,
        r#"95 02 82 a4 "code" cd 01 f4 a7 "message" d9 21 "An internal server error occurred" 03 c0 c0"#,
    )
    .await;
    send_bytes(&mut ws, request(3, &(), "crash_stream")).await;
    expect_frame(&mut ws, "95 03 00 00 c0 c0").await;
    expect_error(&mut ws, 3, 500, INTERNAL).await;
    send_bytes(&mut ws, request(4, &(), "crash_blocking")).await;
    expect_error(&mut ws, 4, 500, INTERNAL).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;

    // The call that was running alongside completes; the connection serves more calls.
    permits.add_permits(1);
    expect_frame(&mut ws, "95 01 01 00 c0 c0").await;
    assert_add_works(&mut ws, 5).await;
    assert_add_works(&mut other, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn debug_mode_puts_the_panic_message_in_data() {
    let (p, _ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&p, &permits).config(Config::default().debug(true))).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "crash")).await;
    let got = recv(&mut ws).await;
    assert_eq!(
        to_hex(&got),
        to_hex(&debug_500(1, "crash fixture")),
        "{:?}",
        value(&got)
    );
    send_bytes(&mut ws, request(2, &(), "crash_stream")).await;
    expect_frame(&mut ws, "95 02 00 00 c0 c0").await;
    let got = recv(&mut ws).await;
    assert_eq!(
        to_hex(&got),
        to_hex(&debug_500(2, "stream crash at 1")),
        "{:?}",
        value(&got)
    );
    assert_add_works(&mut ws, 3).await;
    server.stop().await;
}

#[tokio::test]
async fn debug_mode_puts_a_blocking_panic_message_in_data() {
    let (p, _ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&p, &permits).config(Config::default().debug(true))).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "crash_blocking")).await;
    let got = recv(&mut ws).await;
    assert_eq!(
        to_hex(&got),
        to_hex(&debug_500(1, "blocking crash")),
        "{:?}",
        value(&got)
    );
    server.stop().await;
}

#[tokio::test]
async fn panic_message_stays_private_by_default() {
    let (p, _ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&p, &permits)).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    for (seq, rpc) in [(1, "crash"), (2, "crash_blocking")] {
        send_bytes(&mut ws, request(seq, &(), rpc)).await;
        let got = recv(&mut ws).await;
        assert_eq!(to_hex(&got), to_hex(&error_frame(seq, 500, INTERNAL)));
        assert!(!String::from_utf8_lossy(&got).contains("crash"));
    }
    server.stop().await;
}

// ---- Blocking handlers ---------------------------------------------------------------------

#[tokio::test]
async fn blocking_handler_does_not_block_other_calls() {
    let (p, _ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&p, &permits)).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let sent = Instant::now();
    send_bytes(&mut ws, request(1, &7u64, "nap")).await;
    send_bytes(&mut ws, request(2, &(20, 22), "add")).await;
    expect_frame(&mut ws, "95 02 2a 00 c0 c0").await;
    assert!(
        sent.elapsed() < Duration::from_millis(250),
        "add waited for the blocking call: {:?}",
        sent.elapsed()
    );
    expect_frame(&mut ws, "95 01 07 00 c0 c0").await;
    assert!(sent.elapsed() >= Duration::from_millis(300));
    server.stop().await;
}

#[tokio::test]
async fn blocking_handlers_run_in_parallel() {
    let (p, _ev) = probe();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&p, &permits)).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let sent = Instant::now();
    for seq in 1..=4 {
        send_bytes(&mut ws, request(seq, &(seq as u64), "nap")).await;
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        let v = value(&recv(&mut ws).await);
        seen.push(v.as_array().unwrap()[0].as_i64().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3, 4]);
    assert!(
        sent.elapsed() < Duration::from_millis(1000),
        "4 blocking calls of 300 ms took {:?}",
        sent.elapsed()
    );
    server.stop().await;
}
