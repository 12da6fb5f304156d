//! Server lifecycle over a real socket: graceful shutdown (503 for new calls, running calls
//! finish, close 1001, deadline), panics isolated to their call (500, with the panic text
//! only in debug mode), and blocking handlers running off the async workers.
mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures::{Stream, StreamExt};
use rmpv::Value as V;
use swill::client::{Client, ClientError};
use swill::hooks::Outcome;
use swill::{CallContext, Error, Hooks, Request, State, Swill};
use tokio::sync::Semaphore;

const INTERNAL: &str = "An internal server error occurred";

/// Waits for a permit from the test, then answers its seq.
#[swill::handler]
async fn gate(
    ctx: CallContext,
    State(log): State<Log>,
    State(permits): State<Arc<Semaphore>>,
) -> Result<i64, Error> {
    let _guard = log.start(ctx.seq());
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

/// What `nap` blocks on. Blocking handlers run on threads of their own, so this is std's
/// `Mutex` and `Condvar`, and a nap gives up (panics, failing its call) after [`TIMEOUT`].
#[derive(Debug)]
struct Naps {
    /// A nap wakes once this many are asleep at the same time...
    quorum: usize,
    /// ...or once the test opens the gate. `(asleep so far, open)`.
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Naps {
    /// Naps that wake only when the test calls [`Naps::open`].
    fn until_opened() -> Arc<Self> {
        Self::together(usize::MAX)
    }

    /// Naps that wake once `quorum` of them are asleep at once.
    fn together(quorum: usize) -> Arc<Self> {
        Arc::new(Self {
            quorum,
            state: Mutex::new((0, false)),
            changed: Condvar::new(),
        })
    }

    fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }

    /// Blocks the calling thread until the gate opens or the quorum is asleep.
    fn sleep(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        self.changed.notify_all();
        let (state, waited) = self
            .changed
            .wait_timeout_while(state, TIMEOUT, |(asleep, open)| {
                !*open && *asleep < self.quorum
            })
            .unwrap();
        assert!(!waited.timed_out(), "a nap was never woken: {state:?}");
    }
}

/// Blocks its thread on [`Naps`] (logging `asleep <n>` first), then answers `n`.
#[swill::handler]
fn nap(req: Request<u64>, State(log): State<Log>, State(naps): State<Arc<Naps>>) -> u64 {
    log.push(format!("asleep {}", req.data()));
    naps.sleep();
    *req.data()
}

fn app(log: &Log, permits: &Arc<Semaphore>) -> Swill {
    Swill::new()
        .with_state(log.clone())
        .with_state(permits.clone())
        .with_state(Naps::until_opened())
        .handler(add)
        .handler(gate)
        .handler(hang)
        .handler(crash)
        .handler(crash_stream)
        .handler(crash_blocking)
        .handler(nap)
        .handler(sum)
}

/// `[seq, {"code": 500, "message": ..., "data": {"panic": panic}}, 3, nil, nil]`.
fn debug_500(seq: i64, panic: &str) -> Vec<u8> {
    let error = mmap(&[
        ("code", V::from(500)),
        ("message", V::from(INTERNAL)),
        ("data", mmap(&[("panic", V::from(panic))])),
    ]);
    encode(&V::Array(vec![
        V::from(seq),
        error,
        V::from(ERROR),
        V::Nil,
        V::Nil,
    ]))
}

// ---- Graceful shutdown ---------------------------------------------------------------------

/// Calls `add` on seq `from`, `from + 1`, ... until one is refused with 503, and returns
/// that seq; every call before it must be answered. Nothing the test can see tells when the
/// shutdown reaches the connection, so this probes; each probe is a round trip over the
/// socket, so no delay is needed between them.
async fn first_refused(ws: &mut RawWs, from: i64) -> i64 {
    for seq in from..from + 10_000 {
        send_bytes(ws, request(seq, &(1, 2), "add")).await;
        let got = recv(ws).await;
        if got == error_frame(seq, 503, "server is shutting down") {
            return seq;
        }
        let answer = V::Array(vec![
            V::from(seq),
            V::from(3),
            V::from(MESSAGE),
            V::Nil,
            V::Nil,
        ]);
        assert_eq!(to_hex(&got), to_hex(&encode(&answer)), "{:?}", value(&got));
    }
    panic!("no call was refused with 503 during shutdown");
}

#[tokio::test]
async fn graceful_shutdown_finishes_running_calls_refuses_new_ones_and_closes_with_1001() {
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let server =
        spawn(app(&log, &permits).tune(|c| c.shutdown_timeout(Duration::from_secs(5)))).await;
    let addr = server.addr;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "gate")).await;
    log.expect("started 1").await;

    let stopping = tokio::spawn(server.stop());
    // New calls get 503 as soon as the connection has seen the shutdown.
    let refused = first_refused(&mut ws, 2).await;
    // The listener is gone.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // Streaming requests are refused the same way, also when opened by METADATA.
    let opening = envelope(refused + 1, V::Nil, "sum", METADATA, Some(mmap(&[])));
    send_bytes(&mut ws, opening).await;
    expect_error(&mut ws, refused + 1, 503, "server is shutting down").await;

    // The running call finishes and its reply arrives, then the close.
    log.expect_none(Duration::from_millis(100)).await;
    permits.add_permits(1);
    expect_frame(&mut ws, "95 01 01 00 c0 c0").await;
    log.expect("dropped 1").await;
    assert_eq!(expect_close(&mut ws).await.0, 1001);
    stopping.with_timeout().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_gives_up_on_calls_after_the_shutdown_timeout() {
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let hook_log = log.clone();
    let app = app(&log, &permits)
        .tune(|c| c.shutdown_timeout(Duration::from_millis(300)))
        .hooks(
            Hooks::new().after_request(move |ctx: CallContext, outcome: Outcome| {
                let log = hook_log.clone();
                async move {
                    if outcome == Outcome::Shutdown {
                        log.push(format!("after_request:shutdown {}", ctx.seq()));
                    }
                }
            }),
        );
    let server = spawn(app).await;
    let addr = server.addr;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "hang")).await;
    log.expect("started 1").await;
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    assert_eq!(expect_close(&mut ws).await.0, 1001);
    let waited = started.elapsed();
    log.expect("dropped 1").await;
    log.expect("after_request:shutdown 1").await;
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
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&log, &permits)).await;
    let mut a = server.raw_ws().await;
    let mut b = server.raw_ws().await;
    assert_add_works(&mut a, 1).await;
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    assert_eq!(expect_close(&mut a).await.0, 1001);
    assert_eq!(expect_close(&mut b).await.0, 1001);
    stopping.with_timeout().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn client_calls_end_with_closed_when_the_server_goes_away() {
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let server =
        spawn(app(&log, &permits).tune(|c| c.shutdown_timeout(Duration::from_millis(200)))).await;
    // Without reconnecting, a dropped connection closes the client (client_reconnect.rs
    // covers the default, which reconnects).
    let client = Client::builder(server.url())
        .no_reconnect()
        .connect()
        .with_timeout()
        .await
        .unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.call::<u64>("hang", &()).await }
    });
    log.expect("started 1").await;
    server.stop().await;
    log.expect("dropped 1").await;
    let err = pending.with_timeout().await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::Disconnected), "{err:?}");
    // The client's driver closes its command queue before it fails the calls left, in one
    // poll: the call above saw Disconnected, so the client is closed already.
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
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let (server, handle) =
        spawn_tracked(app(&log, &permits).tune(|c| c.shutdown_timeout(Duration::from_secs(5))))
            .await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "gate")).await;
    log.expect("started 1").await;
    assert_eq!(handle.live_connections(), 1);
    let shutting = tokio::spawn({
        let handle = handle.clone();
        async move { handle.shutdown().await }
    });
    first_refused(&mut ws, 2).await;
    permits.add_permits(1);
    expect_frame(&mut ws, "95 01 01 00 c0 c0").await;
    assert_eq!(expect_close(&mut ws).await.0, 1001);
    shutting.with_timeout().await.unwrap();
    assert_eq!(handle.live_connections(), 0);
    server.stop().await;
}

// ---- Panics --------------------------------------------------------------------------------

#[tokio::test]
async fn panicking_handler_fails_only_its_own_call() {
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&log, &permits)).await;
    let mut ws = server.raw_ws().await;
    let mut other = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "gate")).await;
    log.expect("started 1").await;

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
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&log, &permits).tune(|c| c.debug(true))).await;
    let mut ws = server.raw_ws().await;
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
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&log, &permits).tune(|c| c.debug(true))).await;
    let mut ws = server.raw_ws().await;
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
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let server = spawn(app(&log, &permits)).await;
    let mut ws = server.raw_ws().await;
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
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    let naps = Naps::until_opened();
    let server = spawn(app(&log, &permits).with_state(naps.clone())).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &7u64, "nap")).await;
    log.expect("asleep 7").await;
    // While nap blocks its thread, another call is answered.
    send_bytes(&mut ws, request(2, &(20, 22), "add")).await;
    expect_frame(&mut ws, "95 02 2a 00 c0 c0").await;
    // nap answers only once the test wakes it.
    naps.open();
    expect_frame(&mut ws, "95 01 07 00 c0 c0").await;
    server.stop().await;
}

#[tokio::test]
async fn blocking_handlers_run_in_parallel() {
    let log = Log::new();
    let permits = Arc::new(Semaphore::new(0));
    // Each nap wakes only when all four are asleep at once: they answer only if they run
    // in parallel.
    let server = spawn(app(&log, &permits).with_state(Naps::together(4))).await;
    let mut ws = server.raw_ws().await;
    for seq in 1..=4 {
        send_bytes(&mut ws, request(seq, &(seq as u64), "nap")).await;
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = recv_resp(&mut ws).await;
        assert_eq!((r.kind, &r.data), (MESSAGE, &V::from(r.seq)), "{r:?}");
        seen.push(r.seq);
    }
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3, 4]);
    server.stop().await;
}
