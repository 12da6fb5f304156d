//! Payload conventions over a real socket: structs travel as maps with field names, byte
//! sequences as `bin`, 64-bit integers intact (issue #2, "wire details").

mod common;

use common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use swill::{Error, Request, Swill};

#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
struct Sample {
    name: String,
    big: u64,
    small: i64,
    blob: Vec<u8>,
}

/// Returns the bytes it was given, reversed.
#[swill::handler]
async fn reverse(req: Request<Vec<u8>>) -> Result<Vec<u8>, Error> {
    let mut v = req.into_data();
    v.reverse();
    Ok(v)
}

/// Echoes a struct.
#[swill::handler]
async fn sample(req: Request<Sample>) -> Result<Sample, Error> {
    Ok(req.into_data())
}

/// Returns a `bytes::Bytes`.
#[swill::handler]
async fn raw() -> Result<bytes::Bytes, Error> {
    Ok(bytes::Bytes::from_static(b"\x00\xff"))
}

/// A result that cannot be encoded: its `Serialize` fails, or panics.
#[derive(JsonSchema)]
struct Unencodable {
    panic: bool,
}

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        if self.panic {
            panic!("serialize panicked");
        }
        Err(serde::ser::Error::custom("cannot encode this"))
    }
}

/// Returns a value whose encoding fails (`false`) or panics (`true`).
#[swill::handler]
async fn unencodable(req: Request<bool>) -> Result<Unencodable, Error> {
    Ok(Unencodable {
        panic: req.into_data(),
    })
}

fn app() -> Swill {
    Swill::new()
        .handler(reverse)
        .handler(sample)
        .handler(raw)
        .handler(unencodable)
}

#[tokio::test]
async fn byte_vectors_travel_as_bin_both_ways() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    // [1, bin(01 02 03), "reverse"] -> [1, bin(03 02 01), 0, nil, nil]
    send_hex(&mut ws, "9301c403010203a772657665727365").await;
    assert_eq!(to_hex(&recv(&mut ws).await), "9501c40303020100c0c0");
    // An array of small integers decodes into Vec<u8> too; the answer is still bin.
    send_hex(&mut ws, "9302930a0b0ca772657665727365").await;
    assert_eq!(to_hex(&recv(&mut ws).await), "9502c4030c0b0a00c0c0");
    // bytes::Bytes is bin as well.
    send_hex(&mut ws, "9303c0a3726177").await;
    assert_eq!(to_hex(&recv(&mut ws).await), "9503c40200ff00c0c0");
    server.stop().await;
}

#[tokio::test]
async fn structs_are_maps_with_field_names_and_64_bit_integers_stay_intact() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    let input = rmpv::Value::Map(vec![
        ("name".into(), "x".into()),
        ("big".into(), rmpv::Value::from(u64::MAX)),
        ("small".into(), rmpv::Value::from(i64::MIN)),
        ("blob".into(), rmpv::Value::Binary(vec![7, 8])),
    ]);
    let mut frame = Vec::new();
    rmpv::encode::write_value(
        &mut frame,
        &rmpv::Value::Array(vec![1.into(), input.clone(), "sample".into()]),
    )
    .unwrap();
    send_bytes(&mut ws, frame).await;
    let got = value(&recv(&mut ws).await);
    let arr = got.as_array().unwrap();
    assert_eq!(arr[1], input, "the struct comes back as the same named map");
    // Field names in declaration order, u64::MAX as cf, i64::MIN as d3, blob as bin.
    let mut want = Vec::new();
    rmpv::encode::write_value(&mut want, &input).unwrap();
    let mut got_data = Vec::new();
    rmpv::encode::write_value(&mut got_data, &arr[1]).unwrap();
    assert_eq!(to_hex(&got_data), to_hex(&want));
    assert!(to_hex(&want).contains("cfffffffffffffffff"));
    assert!(to_hex(&want).contains("d38000000000000000"));
    server.stop().await;
}

#[tokio::test]
async fn the_rust_client_sends_and_receives_bytes_as_bin() {
    let server = spawn(app()).await;
    let client = swill::client::Client::connect(server.url())
        .with_timeout()
        .await
        .unwrap();
    let back: Vec<u8> = client
        .call("reverse", &vec![1u8, 2, 3])
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(back, [3, 2, 1]);
    let s = Sample {
        name: "n".into(),
        big: u64::MAX,
        small: i64::MIN,
        blob: vec![0, 255],
    };
    let echoed: Sample = client.call("sample", &s).with_timeout().await.unwrap();
    assert_eq!(echoed, s);
    server.stop().await;
}

#[tokio::test]
async fn a_result_that_cannot_be_encoded_fails_its_call_with_500_only() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    // [1, false, "unencodable"] and [2, true, "unencodable"]: encoding fails, then panics.
    for (seq, flag) in [(1u8, "c2"), (2, "c3")] {
        send_hex(
            &mut ws,
            &format!("93{seq:02x}{flag}ab756e656e636f6461626c65"),
        )
        .await;
        let got = value(&recv(&mut ws).await);
        let arr = got.as_array().unwrap();
        assert_eq!(arr[0].as_u64(), Some(u64::from(seq)), "{got}");
        assert_eq!(arr[2].as_i64(), Some(3), "an ERROR frame: {got}");
        let err = arr[1].as_map().unwrap();
        assert_eq!(err[0].1.as_i64(), Some(500), "{got}");
        assert_eq!(
            err[1].1.as_str(),
            Some("An internal server error occurred"),
            "{got}"
        );
    }
    // Nothing half-written went out, and the connection still serves calls.
    send_hex(&mut ws, "9303c403010203a772657665727365").await;
    assert_eq!(to_hex(&recv(&mut ws).await), "9503c40303020100c0c0");
    server.stop().await;
}

#[tokio::test]
async fn the_rust_client_reports_a_reply_of_the_wrong_type_and_goes_on() {
    let server = spawn(app()).await;
    let client = swill::client::Client::connect(server.url())
        .with_timeout()
        .await
        .unwrap();
    // `reverse` answers bin; an integer cannot be decoded from it.
    let err = client
        .call::<i64>("reverse", &vec![1u8])
        .with_timeout()
        .await
        .unwrap_err();
    assert!(
        matches!(err, swill::client::ClientError::Decode(_)),
        "expected a decode error, got {err:?}"
    );
    let back: Vec<u8> = client
        .call("reverse", &vec![1u8, 2])
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(back, [2, 1]);
    server.stop().await;
}
