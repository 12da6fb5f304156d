//! Bad input over a real socket (swill/1 §12.1-12.3, 12.5-12.8): every kind gets the exact
//! ERROR frame or the silence the engine documents, open calls lose nothing, the connection
//! survives, and a second connection never notices.
mod common;

use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use swill::protocol::{
    decode_request, METADATA_OPENS_SINGLE_MESSAGE, NOT_FOUND_MESSAGE, SECOND_METADATA_MESSAGE,
};
use swill::{CallContext, Error, State, Streaming, Swill};
use tokio_tungstenite::tungstenite::Message;

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

fn app(log: &Log) -> Swill {
    core_app(log).handler(sum)
}

/// Invalid request frames of `vectors.json` (name, hex).
fn invalid_vectors() -> Vec<(String, Vec<u8>)> {
    let raw = include_str!("../../docs/vectors.json");
    let all: serde_json::Value = serde_json::from_str(raw).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .filter(|v| v["direction"] == "request" && v["valid"] == false)
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_owned(),
                from_hex(v["hex"].as_str().unwrap()),
            )
        })
        .collect()
}

#[tokio::test]
async fn undecodable_frames_get_no_answer_and_open_calls_lose_nothing() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let mut other = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &10, "sum")).await;
    log.expect("started 1").await;

    let mut unreadable = 0;
    for (name, bytes) in invalid_vectors() {
        if decode_request(&bytes).unwrap_err().seq.is_none() {
            unreadable += 1;
            send_bytes(&mut ws, bytes).await;
            expect_silence(&mut ws, Duration::from_millis(20)).await;
            let _ = name;
        }
    }
    assert!(unreadable >= 7, "vectors.json lost its unreadable frames");
    // (`93 01`, truncated after its seq, is answered: tests/payload_malformed.rs.)
    for bad in ["c1", "93", "93cd00", "dc0000", "ff"] {
        send_hex(&mut ws, bad).await;
    }
    expect_silence(&mut ws, Duration::from_millis(100)).await;

    // The open call saw none of it.
    send_bytes(&mut ws, request(1, &5, "sum")).await;
    send_bytes(&mut ws, control(1, "sum", END_OF_STREAM)).await;
    expect_frame(&mut ws, "95 01 0f 00 c0 c0").await;
    assert_add_works(&mut ws, 2).await;
    assert_add_works(&mut other, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_envelopes_with_a_seq_get_error_400_naming_the_problem() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let mut other = server.raw_ws().await;
    let mut answered = 0;
    for (name, bytes) in invalid_vectors() {
        let err = decode_request(&bytes).unwrap_err();
        let Some(seq) = err.seq else { continue };
        answered += 1;
        send_bytes(&mut ws, bytes).await;
        let got = recv(&mut ws).await;
        assert_eq!(
            to_hex(&got),
            to_hex(&error_frame(seq.0, 400, &err.to_string())),
            "vector {name}: {:?}",
            value(&got)
        );
    }
    assert!(answered >= 10, "vectors.json lost its invalid envelopes");
    // Spot-check the texts the engine promises.
    send_spec(&mut ws, r#"94 05 c0 a3 "add" 04"#).await;
    expect_error(&mut ws, 5, 400, "unknown request type 4").await;
    send_spec(&mut ws, r#"95 06 c0 a3 "add" 00 a1 "m""#).await;
    expect_error(&mut ws, 6, 400, "metadata is not a map or nil").await;
    send_spec(&mut ws, "92 07 c0").await;
    expect_error(
        &mut ws,
        7,
        400,
        "expected an array of 3 to 5 elements, got 2",
    )
    .await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    assert_add_works(&mut ws, 8).await;
    assert_add_works(&mut other, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_envelope_on_an_open_seq_ends_that_call() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(9, &(), "hang")).await;
    send_bytes(&mut ws, request(10, &(), "hang")).await;
    log.expect_all(&["started 9", "started 10"]).await;
    send_spec(&mut ws, r#"94 09 c0 a4 "hang" 04"#).await;
    expect_error(&mut ws, 9, 400, "unknown request type 4").await;
    log.expect("dropped 9").await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    // Call 10 was not touched.
    log.expect_none(Duration::from_millis(50)).await;
    send_bytes(&mut ws, control(10, "hang", CANCEL)).await;
    log.expect("dropped 10").await;
    assert_add_works(&mut ws, 11).await;
    server.stop().await;
}

#[tokio::test]
async fn text_frames_are_ignored() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &1, "sum")).await;
    log.expect("started 1").await;
    ws.send(Message::Text("[1, [1, 2], \"add\"]".into()))
        .with_timeout()
        .await
        .unwrap();
    ws.send(Message::Text("".into()))
        .with_timeout()
        .await
        .unwrap();
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    send_bytes(&mut ws, request(1, &2, "sum")).await;
    send_bytes(&mut ws, control(1, "sum", END_OF_STREAM)).await;
    expect_frame(&mut ws, "95 01 03 00 c0 c0").await;
    assert_add_works(&mut ws, 2).await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_rpc_gets_404() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"93 01 c0 a4 "nope""#).await;
    expect_frame(
        &mut ws,
        r#"95 01 82 a4 "code" cd 01 94 a7 "message" d9 29 "No func was found to process this request" 03 c0 c0"#,
    )
    .await;
    // A METADATA opening frame for an unknown rpc too.
    send_spec(&mut ws, r#"95 02 c0 a4 "nope" 02 80"#).await;
    expect_error(&mut ws, 2, 404, NOT_FOUND_MESSAGE).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    assert_add_works(&mut ws, 3).await;
    server.stop().await;
}

#[tokio::test]
async fn payload_that_does_not_decode_gets_400_with_the_decoder_message() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let mut other = server.raw_ws().await;
    let decoder = rmp_serde::from_slice::<(i64, i64)>(&mp(&"x")).unwrap_err();
    send_bytes(&mut ws, request(1, &"x", "add")).await;
    expect_error(&mut ws, 1, 400, &format!("invalid request data: {decoder}")).await;
    let decoder = rmp_serde::from_slice::<(i64, i64)>(&mp(&(1, 2, 3))).unwrap_err();
    send_bytes(&mut ws, request(2, &(1, 2, 3), "add")).await;
    expect_error(&mut ws, 2, 400, &format!("invalid request data: {decoder}")).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    assert_add_works(&mut ws, 3).await;
    assert_add_works(&mut other, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn stream_item_that_does_not_decode_fails_the_call_and_drops_the_handler() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &1, "sum")).await;
    log.expect("started 1").await;
    let decoder = rmp_serde::from_slice::<i64>(&mp(&"two")).unwrap_err();
    send_bytes(&mut ws, request(1, &"two", "sum")).await;
    expect_error(&mut ws, 1, 400, &format!("invalid request data: {decoder}")).await;
    log.expect("dropped 1").await;
    // The client's late frames for the failed call get nothing, and reopen nothing.
    send_bytes(&mut ws, request(1, &3, "sum")).await;
    send_bytes(&mut ws, control(1, "sum", END_OF_STREAM)).await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    log.expect_none(Duration::from_millis(10)).await;
    assert_add_works(&mut ws, 2).await;
    server.stop().await;
}

#[tokio::test]
async fn duplicate_seq_while_open_is_dropped() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let mut other = server.raw_ws().await;
    send_bytes(&mut ws, request(3, &1, "sum")).await;
    log.expect("started 3").await;
    // Another rpc on the open seq: no second call, no answer, nothing fed into sum.
    send_bytes(&mut ws, request(3, &(100, 100), "add")).await;
    send_spec(&mut ws, r#"95 03 c0 a3 "add" 02 80"#).await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    // The same seq on another connection is another call (calls are per connection).
    send_bytes(&mut other, request(3, &(1, 1), "add")).await;
    expect_frame(&mut other, "95 03 02 00 c0 c0").await;

    // A single-request call's second MESSAGE and an END_OF_STREAM are ignored.
    send_bytes(&mut ws, request(4, &(), "hang")).await;
    log.expect("started 4").await;
    send_bytes(&mut ws, request(4, &(), "hang")).await;
    send_bytes(&mut ws, control(4, "hang", END_OF_STREAM)).await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    log.expect_none(Duration::from_millis(10)).await;

    send_bytes(&mut ws, request(3, &2, "sum")).await;
    send_bytes(&mut ws, control(3, "sum", END_OF_STREAM)).await;
    expect_frame(&mut ws, "95 03 03 00 c0 c0").await;
    log.expect("dropped 3").await;
    send_bytes(&mut ws, control(4, "hang", CANCEL)).await;
    log.expect("dropped 4").await;
    assert_add_works(&mut ws, 5).await;
    server.stop().await;
}

#[tokio::test]
async fn end_and_cancel_for_unknown_seqs_are_ignored() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, control(77, "sum", END_OF_STREAM)).await;
    send_bytes(&mut ws, control(78, "add", CANCEL)).await;
    send_bytes(&mut ws, control(79, "nope", CANCEL)).await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    // After a call finished, its seq is unknown again.
    assert_add_works(&mut ws, 1).await;
    send_bytes(&mut ws, control(1, "add", CANCEL)).await;
    send_bytes(&mut ws, control(1, "add", END_OF_STREAM)).await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    assert_add_works(&mut ws, 2).await;
    server.stop().await;
}

#[tokio::test]
async fn misplaced_metadata_frames_get_the_spec_errors() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    // Opening a single-request call with METADATA: the original's 500 (swill/1 §7.2, §10).
    send_spec(&mut ws, r#"95 01 c0 a3 "add" 02 80"#).await;
    expect_error(&mut ws, 1, 500, METADATA_OPENS_SINGLE_MESSAGE).await;
    // A second METADATA frame on a streaming request: 400 (§12.6).
    send_spec(&mut ws, r#"95 02 c0 a3 "sum" 02 80"#).await;
    log.expect("started 2").await;
    send_spec(&mut ws, r#"95 02 c0 a3 "sum" 02 80"#).await;
    expect_error(&mut ws, 2, 400, SECOND_METADATA_MESSAGE).await;
    log.expect("dropped 2").await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    assert_add_works(&mut ws, 3).await;
    server.stop().await;
}

#[tokio::test]
async fn too_many_undecodable_frames_close_with_1007_when_configured() {
    let log = Log::new();
    let server = spawn(app(&log).tune(|c| c.max_invalid_frames(Some(2)))).await;
    let mut ws = server.raw_ws().await;
    let mut other = server.raw_ws().await;
    send_hex(&mut ws, "c1").await;
    send_hex(&mut ws, "c1").await;
    // Frames with a readable seq do not count.
    send_spec(&mut ws, r#"94 01 c0 a3 "add" 04"#).await;
    expect_error(&mut ws, 1, 400, "unknown request type 4").await;
    assert_add_works(&mut ws, 2).await;
    send_hex(&mut ws, "c1").await;
    assert_eq!(expect_close(&mut ws).await.0, 1007);
    assert_add_works(&mut other, 1).await;
    server.stop().await;
}
