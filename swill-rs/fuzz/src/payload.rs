//! The [`payload`] target: request data decoded into typical handler types.
//!
//! Handlers receive `data` as raw MessagePack and the handler layer decodes it with the
//! strict, budgeted decoder (structs only from maps, a decode budget against amplification);
//! this target decodes through the same function, `swill::__private::decode_payload`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Debug, Serialize, Deserialize)]
enum Kind {
    Plain,
    Sized(u32),
    Named { name: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    lines: Vec<(String, u16, f64)>,
    note: Option<String>,
    kind: Kind,
    at: Point,
    tags: BTreeMap<String, swill::Value>,
    #[serde(default)]
    blob: Option<bytes::Bytes>,
}

/// Decodes `data` as `T`; when it decodes, the value re-encodes (as the handler layer
/// encodes results) to bytes that decode and re-encode to the same bytes.
fn one<T: DeserializeOwned + Serialize>(data: &[u8]) {
    let Ok(value) = swill::__private::decode_payload::<T>(data) else {
        return;
    };
    let first = encode(&value);
    let again: T = swill::__private::decode_payload(&first).expect("a re-encoded payload decodes");
    assert_eq!(encode(&again), first, "payload encoding is not stable");
}

/// As `swill::handler::encode_into`: structs as maps, byte sequences as bin.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = rmp_serde::Serializer::new(&mut out)
        .with_struct_map()
        .with_bytes(rmp_serde::config::BytesMode::ForceIterables);
    value
        .serialize(&mut ser)
        .expect("a decoded payload encodes");
    out
}

/// Payload decoding into `swill::Value`, a struct, `Vec`, `String`, tuples, maps, enums and
/// bytes: no panic, no runaway allocation (libFuzzer's `-rss_limit_mb`), stable re-encoding.
pub fn payload(data: &[u8]) {
    one::<swill::Value>(data);
    one::<Order>(data);
    one::<Vec<Order>>(data);
    one::<Vec<i64>>(data);
    one::<String>(data);
    one::<(i32, String, bool)>(data);
    one::<(Point, Vec<swill::Value>)>(data);
    one::<BTreeMap<String, Vec<u8>>>(data);
    one::<Option<Kind>>(data);
    one::<bytes::Bytes>(data);
    one::<f32>(data);
    one::<()>(data);
}
