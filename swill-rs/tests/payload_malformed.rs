//! Malformed MessagePack with a readable seq over a real socket (issue #11 item 5): the frame
//! is answered with ERROR 400 on its seq, an open call on that seq ends, and the connection
//! and its neighbours keep working.
mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use swill::{CallContext, Error, State, Streaming, Swill};

/// Sums its request stream; reports start and drop.
#[swill::handler]
async fn sum(
    ctx: CallContext,
    State(log): State<Log>,
    mut items: Streaming<i64>,
) -> Result<i64, Error> {
    let _guard = log.start(ctx.seq());
    let mut total = 0;
    while let Some(x) = items.next().await {
        total += x;
    }
    Ok(total)
}

#[tokio::test]
async fn malformed_frames_with_a_seq_get_400_and_end_their_call() {
    let log = Log::new();
    let app = Swill::new()
        .with_state(log.clone())
        .handler(add)
        .handler(sum);
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    let mut other = server.raw_ws().await;

    // A bad data value: [2, <0xc1>, "add"].
    send_hex(&mut ws, "9302c1a3616464").await;
    expect_error(&mut ws, 2, 400, "invalid messagepack marker 0xc1").await;
    // A truncated array after a valid seq: [3, [1, <missing>.
    send_hex(&mut ws, "93039201").await;
    expect_error(&mut ws, 3, 400, "truncated message").await;

    // On an open streaming call, a truncated item ends the call and drops its handler.
    send_bytes(&mut ws, request(1, &10, "sum")).await;
    log.expect("started 1").await;
    send_hex(&mut ws, "9301cd00").await;
    expect_error(&mut ws, 1, 400, "truncated message").await;
    log.expect("dropped 1").await;

    // Without a complete seq there is still nothing to answer.
    send_hex(&mut ws, "93cd00").await;
    expect_silence(&mut ws, Duration::from_millis(50)).await;
    assert_add_works(&mut ws, 4).await;
    assert_add_works(&mut other, 1).await;
    server.stop().await;
}
