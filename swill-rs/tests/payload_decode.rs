//! Payload decoding over a real socket: structs only from maps (issue #7 item 7), and the
//! decode budget that refuses amplifying payloads with 413 while legit large ones pass
//! (issue #11 item 1).
mod common;

use common::*;
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use swill::{Error, Request, Streaming, Swill, Value};

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Point {
    x: i64,
    y: i64,
}

/// `{x, y}` → `x - y` (order matters, so a positional decode would show).
#[swill::handler]
async fn diff(req: Request<Point>) -> Result<i64, Error> {
    let p = req.into_data();
    Ok(p.x - p.y)
}

/// Sums `x - y` over a stream of points.
#[swill::handler]
async fn diffs(mut items: Streaming<Point>) -> Result<i64, Error> {
    let mut total = 0;
    while let Some(p) = items.next().await {
        total += p.x - p.y;
    }
    Ok(total)
}

/// Returns its argument.
#[swill::handler]
async fn echo(req: Request<Value>) -> Result<Value, Error> {
    Ok(req.into_data())
}

/// The number of integers received.
#[swill::handler]
async fn count_ints(req: Request<Vec<i64>>) -> Result<usize, Error> {
    Ok(req.into_data().len())
}

/// The number of bytes received.
#[swill::handler]
async fn count_bytes(req: Request<Vec<u8>>) -> Result<usize, Error> {
    Ok(req.into_data().len())
}

/// The number of lists received.
#[swill::handler]
async fn count_lists(req: Request<Vec<Vec<i64>>>) -> Result<usize, Error> {
    Ok(req.into_data().len())
}

fn app() -> Swill {
    Swill::new()
        .handler(add)
        .handler(diff)
        .handler(diffs)
        .handler(echo)
        .handler(count_ints)
        .handler(count_bytes)
        .handler(count_lists)
}

/// A request frame `[seq, <raw data>, rpc]`.
fn raw_request(seq: i64, data: &[u8], rpc: &str) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, 3).unwrap();
    rmp::encode::write_sint(&mut out, seq).unwrap();
    out.extend_from_slice(data);
    rmp::encode::write_str(&mut out, rpc).unwrap();
    out
}

/// An array32 of `n` nils: one byte per element on the wire.
fn nils(n: usize) -> Vec<u8> {
    let mut out = vec![0xdd];
    out.extend(u32::try_from(n).unwrap().to_be_bytes());
    out.resize(out.len() + n, 0xc0);
    out
}

fn too_large(len: usize, limit: usize) -> String {
    format!(
        "request data too large to decode: it would take more than {limit} bytes in memory \
         (the decode budget is 8x the {len}-byte payload, at least 8388608 bytes)"
    )
}

async fn expect_result(ws: &mut RawWs, seq: i64, want: rmpv::Value) {
    let got = value(&recv(ws).await);
    assert_eq!(
        got,
        rmpv::Value::Array(vec![
            seq.into(),
            want,
            0.into(),
            rmpv::Value::Nil,
            rmpv::Value::Nil
        ])
    );
}

#[tokio::test]
async fn a_struct_sent_as_an_array_is_a_400_and_a_map_works() {
    let server = spawn(app()).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let point = rmpv::Value::Map(vec![("y".into(), 2.into()), ("x".into(), 5.into())]);
    send_bytes(&mut ws, request(1, &point, "diff")).await;
    expect_result(&mut ws, 1, 3.into()).await;
    send_bytes(&mut ws, request(2, &(5, 2), "diff")).await;
    let msg =
        "invalid request data: struct Point must be sent as a map of field names, not an array";
    expect_error(&mut ws, 2, 400, msg).await;
    // Tuples stay arrays.
    assert_add_works(&mut ws, 3).await;
    server.stop().await;
}

#[tokio::test]
async fn a_stream_item_sent_as_an_array_fails_its_call_with_400() {
    let server = spawn(app()).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let point = rmpv::Value::Map(vec![("x".into(), 5.into()), ("y".into(), 2.into())]);
    send_bytes(&mut ws, request(1, &point, "diffs")).await;
    send_bytes(&mut ws, request(1, &(5, 2), "diffs")).await;
    let msg =
        "invalid request data: struct Point must be sent as a map of field names, not an array";
    expect_error(&mut ws, 1, 400, msg).await;
    // A well-formed stream on another seq still works.
    send_bytes(&mut ws, request(2, &point, "diffs")).await;
    send_bytes(&mut ws, request(2, &point, "diffs")).await;
    send_bytes(&mut ws, control(2, "diffs", 1)).await;
    expect_result(&mut ws, 2, 6.into()).await;
    server.stop().await;
}

#[tokio::test]
async fn a_frame_of_nils_into_a_value_is_refused_with_413_and_nothing_else_suffers() {
    let server = spawn(app()).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let mut other = raw_ws(&server.url(), "swill/1").await;
    // As large as the default message limit allows: 16 MiB minus the envelope.
    let bomb = nils((16 << 20) - 32);
    let len = bomb.len();
    send_bytes(&mut ws, raw_request(1, &bomb, "echo")).await;
    expect_error(&mut ws, 1, 413, &too_large(len, 8 * len)).await;
    // Typed targets are bounded too: 2 M empty arrays (one byte each) into a Vec<Vec<i64>>
    // (24 bytes each).
    let mut arrays = vec![0xdd];
    arrays.extend((2u32 << 20).to_be_bytes());
    arrays.resize(arrays.len() + (2 << 20), 0x90);
    send_bytes(&mut ws, raw_request(2, &arrays, "count_lists")).await;
    expect_error(&mut ws, 2, 413, &too_large(arrays.len(), 8 * arrays.len())).await;
    // The connection and its neighbour keep working.
    assert_add_works(&mut ws, 3).await;
    assert_add_works(&mut other, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn legit_large_payloads_still_decode() {
    let server = spawn(app()).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    // 4 MiB of bin.
    let mut bin = vec![0xc6];
    bin.extend((4u32 << 20).to_be_bytes());
    bin.resize(bin.len() + (4 << 20), 0x5a);
    send_bytes(&mut ws, raw_request(1, &bin, "count_bytes")).await;
    expect_result(&mut ws, 1, (4u64 << 20).into()).await;
    // 100k small integers into a Vec<i64>, and into a Value.
    let ints: Vec<i64> = (0..100_000).map(|i| i % 128).collect();
    send_bytes(&mut ws, request(2, &ints, "count_ints")).await;
    expect_result(&mut ws, 2, 100_000.into()).await;
    send_bytes(&mut ws, request(3, &ints, "echo")).await;
    let got = value(&recv(&mut ws).await);
    assert_eq!(got[1].as_array().map(Vec::len), Some(100_000));
    // 12 MiB of one-byte integers into i64s: 8 bytes each, exactly the default ratio.
    let n = 12 << 20;
    let mut fixints = vec![0xdd];
    fixints.extend(u32::try_from(n).unwrap().to_be_bytes());
    fixints.resize(fixints.len() + n, 0x01);
    send_bytes(&mut ws, raw_request(4, &fixints, "count_ints")).await;
    expect_result(&mut ws, 4, (n as u64).into()).await;
    server.stop().await;
}

#[tokio::test]
async fn the_decode_budget_follows_its_settings() {
    let app = app().config(
        swill::Config::new()
            .decode_budget_ratio(2)
            .min_decode_budget(1000),
    );
    let server = spawn(app).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    // 100 small integers fit the 1000-byte floor as i64s (800 bytes).
    let ints: Vec<i64> = vec![1; 100];
    send_bytes(&mut ws, request(1, &ints, "count_ints")).await;
    expect_result(&mut ws, 1, 100.into()).await;
    // 1000 of them need 8000 bytes: more than 2x the 1003-byte payload.
    let ints: Vec<i64> = vec![1; 1000];
    send_bytes(&mut ws, request(2, &ints, "count_ints")).await;
    let msg = "request data too large to decode: it would take more than 2006 bytes in memory \
               (the decode budget is 2x the 1003-byte payload, at least 1000 bytes)";
    expect_error(&mut ws, 2, 413, msg).await;
    assert_add_works(&mut ws, 3).await;
    server.stop().await;
}

#[tokio::test]
async fn a_payload_nested_too_deep_is_a_400() {
    let server = spawn(app()).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let mut deep = vec![0x91; swill::MAX_PAYLOAD_DEPTH + 1];
    deep.push(0xc0);
    send_bytes(&mut ws, raw_request(1, &deep, "echo")).await;
    expect_error(
        &mut ws,
        1,
        400,
        "invalid request data: depth limit exceeded",
    )
    .await;
    let ok = &deep[1..];
    send_bytes(&mut ws, raw_request(2, ok, "echo")).await;
    let got = recv(&mut ws).await;
    assert_eq!(value(&got)[0], rmpv::Value::from(2));
    assert_eq!(value(&got)[2], rmpv::Value::from(0));
    assert_add_works(&mut ws, 3).await;
    server.stop().await;
}
