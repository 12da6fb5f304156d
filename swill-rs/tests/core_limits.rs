//! Limits over a real socket (swill/1 §12.4, §12.12): message size (1009), concurrent calls
//! (429), a bounded outgoing queue that backpressures handlers, idle timeout with pings, and
//! the handshake timeout.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::{SinkExt, Stream, StreamExt};
use swill::protocol::TOO_MANY_CALLS_MESSAGE;
use swill::{CallContext, Error, State, Streaming, Swill};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const FLOOD_ITEMS: u64 = 10_000;
const FLOOD_PAD: usize = 4096;

/// Streams `FLOOD_ITEMS` items of `[i, 4 KiB string]` as fast as it is polled, counting
/// every item it produces.
#[swill::handler]
async fn flood(
    State(produced): State<Arc<AtomicUsize>>,
) -> impl Stream<Item = Result<(u64, String), Error>> {
    let pad = "x".repeat(FLOOD_PAD);
    futures::stream::iter(0..FLOOD_ITEMS).map(move |i| {
        produced.fetch_add(1, Ordering::SeqCst);
        Ok((i, pad.clone()))
    })
}

/// Takes a request stream and never reads it.
#[swill::handler]
async fn stall(
    ctx: CallContext,
    State(log): State<Log>,
    _items: Streaming<i64>,
) -> Result<i64, Error> {
    let _guard = log.start(ctx.seq());
    std::future::pending::<()>().await;
    Ok(0)
}

fn app(log: &Log) -> Swill {
    core_app(log)
        .with_state(Arc::new(AtomicUsize::new(0)))
        .handler(flood)
        .handler(stall)
}

#[test]
fn defaults_are_sane() {
    assert_eq!(swill::DEFAULT_MAX_MESSAGE_SIZE, 16 << 20);
    assert_eq!(swill::DEFAULT_MAX_CONCURRENT_CALLS, 1024);
    const { assert!(swill::DEFAULT_MAX_PENDING_OUTPUT <= 16 << 20) };
    const { assert!(swill::DEFAULT_MAX_QUEUED_ITEMS > 0) };
    assert!(swill::DEFAULT_HANDSHAKE_TIMEOUT <= Duration::from_secs(30));
    assert!(swill::DEFAULT_PING_INTERVAL < swill::DEFAULT_IDLE_TIMEOUT);
    assert!(swill::DEFAULT_SHUTDOWN_TIMEOUT <= Duration::from_secs(60));
    let cfg = swill::Config::default();
    assert_eq!(cfg.get_max_message_size(), swill::DEFAULT_MAX_MESSAGE_SIZE);
    assert_eq!(cfg.get_ping_interval(), Some(swill::DEFAULT_PING_INTERVAL));
    assert_eq!(cfg.get_idle_timeout(), Some(swill::DEFAULT_IDLE_TIMEOUT));
    assert!(!cfg.get_debug(), "debug mode must be off by default");
}

#[tokio::test]
async fn oversized_frame_closes_with_1009() {
    let log = Log::new();
    let server = spawn(app(&log).tune(|c| c.max_message_size(1024))).await;
    let mut ws = server.raw_ws().await;
    let mut other = server.raw_ws().await;
    // Just under the limit is fine.
    send_bytes(&mut ws, request(1, &"y".repeat(900), "nope")).await;
    let err = value(&recv(&mut ws).await);
    assert_eq!(err.as_array().unwrap()[2].as_i64(), Some(3));
    assert_add_works(&mut ws, 2).await;
    send_bytes(&mut ws, request(3, &"y".repeat(2048), "add")).await;
    assert_eq!(expect_close(&mut ws).await.0, 1009);
    assert_add_works(&mut other, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn call_beyond_max_concurrent_calls_gets_429() {
    let log = Log::new();
    let server = spawn(app(&log).tune(|c| c.max_concurrent_calls(2))).await;
    let mut ws = server.raw_ws().await;
    let mut other = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "hang")).await;
    send_bytes(&mut ws, request(2, &(), "hang")).await;
    log.expect_all(&["started 1", "started 2"]).await;
    send_bytes(&mut ws, request(3, &(1, 2), "add")).await;
    expect_frame(
        &mut ws,
        r#"95 03 82 a4 "code" cd 01 ad a7 "message" b9 "too many concurrent calls" 03 c0 c0"#,
    )
    .await;
    send_bytes(&mut ws, request(4, &(), "hang")).await;
    expect_error(&mut ws, 4, 429, TOO_MANY_CALLS_MESSAGE).await;
    log.expect_none(Duration::from_millis(50)).await;
    // The limit is per connection.
    assert_add_works(&mut other, 1).await;
    // A finished call frees its slot.
    send_bytes(&mut ws, control(1, "hang", CANCEL)).await;
    log.expect("dropped 1").await;
    assert_add_works(&mut ws, 5).await;
    server.stop().await;
}

/// Returns once every task of the test's runtime (the server's included) waits.
///
/// With time paused, tokio moves the clock only when no task can run, so the sleep below
/// returns exactly when the runtime is idle; its length does not matter. Time runs again
/// afterwards: under paused time, a socket read whose data the kernel has not handed over
/// yet would let the clock jump to the next timeout and fail the test spuriously.
async fn until_idle() {
    tokio::time::pause();
    tokio::time::sleep(Duration::from_millis(1)).await;
    tokio::time::resume();
}

#[tokio::test]
async fn client_that_stops_reading_backpressures_the_handler() {
    let log = Log::new();
    let produced = Arc::new(AtomicUsize::new(0));
    let app = app(&log)
        .with_state(produced.clone())
        .tune(|c| c.max_pending_output(64 * 1024));
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "flood")).await;
    // Item i of the flood: `[1, [i, pad], 0, nil, nil]`.
    let expect_item = |bytes: Vec<u8>, i: u64| {
        let frame = value(&bytes);
        let f = frame.as_array().unwrap();
        assert_eq!(f[0].as_i64(), Some(1));
        assert_eq!(f[2].as_i64(), Some(0), "item {i}: {:?}", f[2]);
        let item = f[1].as_array().unwrap();
        assert_eq!(item[0].as_u64(), Some(i));
        assert_eq!(item[1].as_str().map(str::len), Some(FLOOD_PAD));
    };
    expect_item(recv(&mut ws).await, 0);
    // Then not reading: the server may fill the socket buffers and its own 64 KiB, no more,
    // and then wait. Without backpressure it would be idle only once it had produced all.
    until_idle().await;
    let stalled = produced.load(Ordering::SeqCst);
    let total = FLOOD_ITEMS as usize;
    assert!(
        stalled < total / 3,
        "the handler produced {stalled} of {total} items for a client that reads nothing"
    );
    // Resume: everything arrives, in order, then END_OF_STREAM.
    for i in 1..FLOOD_ITEMS {
        expect_item(recv(&mut ws).await, i);
    }
    expect_frame(&mut ws, "95 01 c0 01 c0 c0").await;
    assert_eq!(produced.load(Ordering::SeqCst), total);
    assert_add_works(&mut ws, 2).await;
    server.stop().await;
}

#[tokio::test]
async fn client_answering_pings_stays_connected_past_the_idle_timeout() {
    let log = Log::new();
    let app = app(&log)
        .tune(|c| c.idle_timeout(Some(Duration::from_millis(300))))
        .tune(|c| c.ping_interval(Some(Duration::from_millis(100))));
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    // Twelve ping intervals are four idle timeouts: every ping was answered (tungstenite
    // answers while the test reads), and nothing but pings came meanwhile.
    let started = Instant::now();
    let mut pings = 0;
    while pings < 12 {
        match ws.next().with_timeout().await {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected only pings while idle, got {other:?}"),
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "twelve pings at a 100 ms interval came within the idle timeout"
    );
    assert_add_works(&mut ws, 1).await;
    server.stop().await;
}

/// Reads raw server frames until EOF; returns (pings seen, close code if any).
async fn read_raw_frames(tcp: &mut tokio::net::TcpStream) -> (usize, Option<u16>) {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        match tcp.read(&mut chunk).with_timeout().await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        assert!(buf.len() < 1 << 20, "the server kept writing");
    }
    let (mut pings, mut close, mut at) = (0, None, 0);
    while at + 2 <= buf.len() {
        let (op, len) = (buf[at] & 0x0f, usize::from(buf[at + 1] & 0x7f));
        assert!(len < 126, "unexpected long control frame");
        let body = &buf[at + 2..(at + 2 + len).min(buf.len())];
        match op {
            0x9 => pings += 1,
            0x8 if body.len() >= 2 => close = Some(u16::from_be_bytes([body[0], body[1]])),
            other => panic!("unexpected opcode {other:#x}"),
        }
        at += 2 + len;
    }
    (pings, close)
}

#[tokio::test]
async fn client_that_never_answers_pings_is_closed_after_the_idle_timeout() {
    let log = Log::new();
    let app = app(&log)
        .tune(|c| c.idle_timeout(Some(Duration::from_millis(300))))
        .tune(|c| c.ping_interval(Some(Duration::from_millis(100))));
    let server = spawn(app).await;
    let started = Instant::now();
    let (res, mut tcp) = raw_http(server.addr, &upgrade_request("/ws", Some("swill/1"))).await;
    assert_eq!(res.status, 101);
    // Reading the raw socket answers nothing: no pong goes back.
    let (pings, close) = read_raw_frames(&mut tcp).await;
    assert!(pings >= 1, "the server never pinged");
    assert_eq!(close, Some(1001));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed too late"
    );
    server.stop().await;
}

#[tokio::test]
async fn half_sent_handshake_is_dropped_after_the_handshake_timeout() {
    let log = Log::new();
    let server = spawn(app(&log).tune(|c| c.handshake_timeout(Duration::from_millis(300)))).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: web")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest).with_timeout().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "dropped too early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "dropped too late: {took:?}");
    let text = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || text.starts_with("HTTP/1.1 408"),
        "unexpected answer {text:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn silent_tcp_client_is_dropped_after_the_handshake_timeout() {
    let log = Log::new();
    let server = spawn(app(&log).tune(|c| c.handshake_timeout(Duration::from_millis(300)))).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest).with_timeout().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "dropped too late: {took:?}");
    server.stop().await;
}

#[tokio::test]
async fn client_that_sends_but_never_reads_cannot_grow_the_error_queue() {
    // Unknown-rpc frames are answered by the engine itself (ERROR 404, ~60 bytes for a
    // 10-byte request), without any handler that backpressure could pause. The server must
    // stop reading once its output is backed up, so the client's writes stall. Time is
    // paused while the client writes (see `until_idle`): a batch's timeout fires only once
    // every task waits, so "stalled" means the server stopped reading, not that a fixed
    // delay passed.
    let log = Log::new();
    let server = spawn(app(&log).tune(|c| c.max_pending_output(64 * 1024))).await;
    let mut ws = server.raw_ws().await;
    let frame = spec_hex(r#"93 01 c0 a4 "nope""#);
    let mut sent = 0usize;
    let mut stalled = false;
    tokio::time::pause();
    // Unbounded, 24 MiB of requests would queue ~150 MB of answers on the server.
    while sent * frame.len() < 24 << 20 {
        let batch = async {
            for _ in 0..1000 {
                ws.feed(Message::Binary(frame.clone().into()))
                    .await
                    .unwrap();
            }
            ws.flush().await.unwrap();
        };
        if tokio::time::timeout(Duration::from_secs(1), batch)
            .await
            .is_err()
        {
            stalled = true;
            break;
        }
        sent += 1000;
    }
    tokio::time::resume();
    assert!(
        stalled,
        "the server kept reading {} MiB of requests from a client that reads nothing",
        (sent * frame.len()) >> 20
    );
    // Reading again (which also flushes what the client still buffers) drains every answer;
    // 500 ms of silence ends it, a window for absence like `expect_silence`.
    let mut answers = 0usize;
    for _ in 0..10_000_000 {
        match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Binary(b)))) => {
                assert_eq!(b, error_frame(1, 404, swill::protocol::NOT_FOUND_MESSAGE));
                answers += 1;
            }
            Ok(Some(Ok(Message::Ping(_)))) => {}
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        answers >= sent,
        "{answers} answers for at least {sent} requests"
    );
    // The connection still works; the rest of the last batch may still be answered first.
    send_bytes(&mut ws, request(2, &(1, 2), "add")).await;
    for _ in 0..=1000 {
        let got = recv(&mut ws).await;
        if got == spec_hex("95 02 03 00 c0 c0") {
            break;
        }
        assert_eq!(got, error_frame(1, 404, swill::protocol::NOT_FOUND_MESSAGE));
    }
    server.stop().await;
}

#[tokio::test]
async fn full_request_queue_fails_its_call_alone_without_blocking_others() {
    let log = Log::new();
    let server = spawn(app(&log).tune(|c| c.max_queued_items(4))).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &0, "stall")).await;
    log.expect("started 1").await;
    for i in 1..=20 {
        send_bytes(&mut ws, request(1, &i, "stall")).await;
    }
    // The fifth queued item overflows: that call alone ends with 429 and its handler goes.
    let err = value(&recv(&mut ws).await);
    let arr = err.as_array().unwrap();
    assert_eq!(
        (arr[0].as_i64(), arr[2].as_i64()),
        (Some(1), Some(3)),
        "{err}"
    );
    let code = arr[1].as_map().unwrap()[0].1.as_i64();
    assert_eq!(code, Some(429), "{err}");
    log.expect("dropped 1").await;
    // The rest of its request is dropped silently; other calls were never held up.
    assert_add_works(&mut ws, 2).await;
    send_bytes(&mut ws, control(1, "stall", CANCEL)).await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    assert_add_works(&mut ws, 3).await;
    server.stop().await;
}

/// Unread request items are bounded in bytes across the app (`queued_input_budget`), not
/// only in count per call: the call whose item finds no room fails alone with 429, the
/// other connection goes on, and a call's bytes come back when it ends.
#[tokio::test]
async fn unread_request_items_are_bounded_in_bytes_across_the_app() {
    let log = Log::new();
    let server =
        spawn(app(&log).tune(|c| c.max_message_size(64 << 10).queued_input_budget(200 << 10)))
            .await;
    // Four such items fit in the budget, a fifth does not.
    let item = "q".repeat(48 << 10);
    let (mut a, mut b) = (server.raw_ws().await, server.raw_ws().await);
    send_bytes(&mut a, request(1, &0, "stall")).await;
    log.expect("started 1").await;
    for _ in 0..3 {
        send_bytes(&mut a, request(1, &item, "stall")).await;
    }
    send_bytes(&mut b, request(7, &0, "stall")).await;
    log.expect("started 7").await;
    send_bytes(&mut b, request(7, &item, "stall")).await;
    assert_add_works(&mut b, 2).await;
    send_bytes(&mut b, request(7, &item, "stall")).await;
    let err = recv_resp(&mut b).await;
    assert_eq!((err.seq, err.error_code()), (7, 429), "{err:?}");
    assert_eq!(
        err.error_message(),
        "request stream backlog exceeded: unread request items hold the server's 204800 bytes"
    );
    log.expect("dropped 7").await;
    // The other connection's call is untouched; b goes on too.
    assert_add_works(&mut a, 2).await;
    assert_add_works(&mut b, 3).await;
    // Ending a's call gives its three items back: b can queue four again.
    send_bytes(&mut a, control(1, "stall", CANCEL)).await;
    log.expect("dropped 1").await;
    send_bytes(&mut b, request(8, &0, "stall")).await;
    log.expect("started 8").await;
    for _ in 0..4 {
        send_bytes(&mut b, request(8, &item, "stall")).await;
    }
    assert_add_works(&mut b, 4).await;
    assert_eq!(
        swill::Config::default().get_queued_input_budget(),
        swill::DEFAULT_QUEUED_INPUT_BUDGET
    );
    server.stop().await;
}

#[tokio::test]
async fn server_answers_client_pings() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .with_timeout()
        .await
        .unwrap();
    match ws.next().with_timeout().await {
        Some(Ok(Message::Pong(b))) => assert_eq!(&b[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
    assert_add_works(&mut ws, 1).await;
    server.stop().await;
}
