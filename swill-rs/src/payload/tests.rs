use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::*;
use crate::handler::Value;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Wrapper(Point);

#[derive(Debug, PartialEq, Deserialize)]
struct Pair(i64, i64);

#[derive(Debug, PartialEq, Deserialize)]
enum Shape {
    Dot,
    At(Point),
    Line(Point, Point),
    Box { w: i64, h: i64 },
}

#[derive(Debug, PartialEq, Deserialize)]
struct Outer {
    name: String,
    at: Option<Point>,
    path: Vec<Point>,
}

fn map_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(v).unwrap()
}

fn array_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    rmp_serde::to_vec(v).unwrap()
}

fn de<T: DeserializeOwned>(raw: &[u8]) -> Result<T, Error> {
    decode(raw, Budget::default())
}

fn refused<T: DeserializeOwned>(raw: &[u8]) -> Error {
    match de::<T>(raw) {
        Ok(_) => panic!("not refused"),
        Err(e) => e,
    }
}

#[test]
fn structs_decode_from_maps() {
    let p = Point { x: 1, y: 2 };
    assert_eq!(de::<Point>(&map_bytes(&p)).unwrap(), p);
}

#[test]
fn a_struct_sent_as_an_array_is_a_400_naming_the_struct() {
    let e = refused::<Point>(&array_bytes(&(1, 2)));
    assert_eq!(e.code(), Code::BAD_REQUEST);
    assert_eq!(
        e.message(),
        "invalid request data: struct Point must be sent as a map of field names, not an array"
    );
}

#[test]
fn tuples_and_tuple_structs_stay_arrays() {
    assert_eq!(de::<(i64, i64)>(&[0x92, 1, 2]).unwrap(), (1, 2));
    assert_eq!(de::<Pair>(&[0x92, 1, 2]).unwrap(), Pair(1, 2));
    assert_eq!(de::<Vec<u8>>(&[0x92, 1, 2]).unwrap(), vec![1, 2]);
    assert_eq!(de::<Vec<u8>>(&[0xc4, 2, 1, 2]).unwrap(), vec![1, 2]);
}

#[test]
fn nested_structs_must_be_maps_too() {
    let p = || serde_json::json!({"x": 1, "y": 2});
    let as_array = serde_json::json!([1, 2]);
    // Inside a struct, an option, a sequence, a map and a newtype.
    let ok = map_bytes(&serde_json::json!({"name": "a", "at": p(), "path": [p(), p()]}));
    assert_eq!(de::<Outer>(&ok).unwrap().path.len(), 2);
    let bad = [
        serde_json::json!({"name": "a", "at": as_array, "path": []}),
        serde_json::json!({"name": "a", "at": null, "path": [p(), as_array]}),
    ];
    for v in &bad {
        let e = refused::<Outer>(&map_bytes(v));
        assert!(
            e.message().contains("struct Point must be sent as a map"),
            "{e:?}"
        );
    }
    let e = refused::<Outer>(&array_bytes(&("a", (), Vec::<()>::new())));
    assert!(
        e.message().contains("struct Outer must be sent as a map"),
        "{e:?}"
    );
    let e = refused::<HashMap<String, Point>>(&map_bytes(&serde_json::json!({"k": [1, 2]})));
    assert!(e.message().contains("struct Point"), "{e:?}");
    assert_eq!(
        de::<BTreeMap<String, Point>>(&map_bytes(&serde_json::json!({"k": p()}))).unwrap()["k"],
        Point { x: 1, y: 2 }
    );
    assert!(refused::<Wrapper>(&[0x92, 1, 2])
        .message()
        .contains("struct Point"));
    assert_eq!(de::<Wrapper>(&map_bytes(&p())).unwrap().0.y, 2);
    assert!(refused::<Option<Point>>(&[0x92, 1, 2])
        .message()
        .contains("struct Point"));
    assert_eq!(de::<Option<Point>>(&[0xc0]).unwrap(), None);
}

#[test]
fn enum_contents_follow_the_same_rules() {
    let j = |v: serde_json::Value| map_bytes(&v);
    assert_eq!(
        de::<Shape>(&j(serde_json::json!("Dot"))).unwrap(),
        Shape::Dot
    );
    let at = de::<Shape>(&j(serde_json::json!({"At": {"x": 1, "y": 2}}))).unwrap();
    assert_eq!(at, Shape::At(Point { x: 1, y: 2 }));
    let e = refused::<Shape>(&j(serde_json::json!({"At": [1, 2]})));
    assert!(e.message().contains("struct Point"), "{e:?}");
    let line = j(serde_json::json!({"Line": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}));
    assert!(matches!(de::<Shape>(&line).unwrap(), Shape::Line(..)));
    let e = refused::<Shape>(&j(serde_json::json!({"Line": [[1, 2], [3, 4]]})));
    assert!(e.message().contains("struct Point"), "{e:?}");
    let b = de::<Shape>(&j(serde_json::json!({"Box": {"w": 1, "h": 2}}))).unwrap();
    assert_eq!(b, Shape::Box { w: 1, h: 2 });
    let e = refused::<Shape>(&j(serde_json::json!({"Box": [1, 2]})));
    assert_eq!(
        e.message(),
        "invalid request data: a struct variant of enum Shape must be sent as a map of field \
         names, not an array"
    );
}

#[test]
fn dynamic_values_keep_everything() {
    let raw = [0x93, 0xc4, 1, 7, 0xd4, 5, 9, 0x81, 0xa1, b'k', 0xc0];
    let v = de::<Value>(&raw).unwrap();
    let again = rmp_serde::to_vec(&v).unwrap();
    assert_eq!(again, raw);
}

fn nils(n: u32) -> Vec<u8> {
    let mut raw = vec![0xdd];
    raw.extend(n.to_be_bytes());
    raw.extend(std::iter::repeat_n(0xc0, n as usize));
    raw
}

#[test]
fn a_value_is_40_bytes_as_the_budget_docs_say() {
    assert_eq!(std::mem::size_of::<rmpv::Value>(), 40);
}

#[test]
fn an_array_of_nils_into_values_is_refused_with_413() {
    // 2 MiB of nils: within the 8 MiB floor as bytes, 80 MiB as values.
    let raw = nils(2 << 20);
    let e = refused::<Value>(&raw);
    assert_eq!(e.code(), Code(413));
    assert_eq!(
        e.message(),
        format!(
            "request data too large to decode: it would take more than {} bytes in memory \
             (the decode budget is 8x the {}-byte payload, at least 8388608 bytes)",
            8 * raw.len(),
            raw.len()
        )
    );
    // The same frame is fine for a type that needs nothing per element.
    assert_eq!(de::<Vec<()>>(&raw).unwrap().len(), 2 << 20);
    assert!(de::<crate::handler::func::Ignored>(&raw).is_ok());
}

#[test]
fn a_map_of_nils_into_values_is_refused() {
    let n: u32 = 1 << 20;
    let mut raw = vec![0xdf];
    raw.extend(n.to_be_bytes());
    for i in 0..n {
        raw.push(0xce);
        raw.extend(i.to_be_bytes());
        raw.push(0xc0);
    }
    assert_eq!(refused::<Value>(&raw).code(), Code(413));
}

#[test]
fn legit_large_payloads_decode() {
    // 100k small integers into a Vec<i64> and into a Value.
    let ints: Vec<i64> = (0..100_000).map(|i| i % 100).collect();
    let raw = array_bytes(&ints);
    assert_eq!(de::<Vec<i64>>(&raw).unwrap(), ints);
    assert!(matches!(&*de::<Value>(&raw).unwrap(), rmpv::Value::Array(a) if a.len() == 100_000));
    // 4 MiB of bin, into bytes and into a Value.
    let mut raw = vec![0xc6];
    raw.extend((4u32 << 20).to_be_bytes());
    raw.extend(std::iter::repeat_n(7u8, 4 << 20));
    assert_eq!(de::<Vec<u8>>(&raw).unwrap().len(), 4 << 20);
    assert!(matches!(&*de::<Value>(&raw).unwrap(), rmpv::Value::Binary(b) if b.len() == 4 << 20));
    // 16 MiB of one-byte integers into i64s: exactly the ratio.
    let n: u32 = 16 << 20;
    let mut raw = vec![0xdd];
    raw.extend(n.to_be_bytes());
    raw.extend(std::iter::repeat_n(1u8, n as usize));
    assert_eq!(de::<Vec<i64>>(&raw).unwrap().len(), n as usize);
}

#[test]
fn the_budget_follows_its_settings() {
    let raw = array_bytes(&vec![1i64; 1000]);
    let tight = Budget {
        ratio: 1,
        min: 0,
        ..Budget::default()
    };
    assert_eq!(
        decode::<Vec<i64>>(&raw, tight).unwrap_err().code(),
        Code(413)
    );
    let wide = Budget {
        ratio: 8,
        min: 0,
        ..Budget::default()
    };
    assert_eq!(decode::<Vec<i64>>(&raw, wide).unwrap().len(), 1000);
    let floor = Budget {
        ratio: 1,
        min: 8000,
        ..Budget::default()
    };
    assert_eq!(decode::<Vec<i64>>(&raw, floor).unwrap().len(), 1000);
    // Strings and bins count their length.
    let s = map_bytes(&"x".repeat(100));
    assert!(decode::<String>(
        &s,
        Budget {
            ratio: 0,
            min: 99,
            ..Budget::default()
        }
    )
    .is_err());
    assert!(decode::<String>(
        &s,
        Budget {
            ratio: 0,
            min: 100,
            ..Budget::default()
        }
    )
    .is_ok());
    assert_eq!(Budget::default().limit(1), 8 << 20);
    assert_eq!(Budget::default().limit(16 << 20), 128 << 20);
    assert_eq!(
        Budget {
            ratio: usize::MAX,
            min: 0,
            ..Budget::default()
        }
        .limit(usize::MAX),
        u64::MAX
    );
}

#[test]
fn type_errors_stay_400_with_the_decoder_message() {
    let e = refused::<i64>(&[0xa1, b'x']);
    assert_eq!(e.code(), Code::BAD_REQUEST);
    assert!(e.message().starts_with("invalid request data: "), "{e:?}");
    let e = refused::<(i64, i64)>(&[0x92, 1]);
    assert_eq!(e.code(), Code::BAD_REQUEST);
}

fn nested(depth: usize) -> Vec<u8> {
    let mut raw = vec![0x91u8; depth];
    raw.push(0xc0);
    raw
}

#[test]
fn nesting_is_bounded_to_fit_a_worker_stack() {
    // On a 2 MiB stack, the size of a tokio worker's, even in a debug build.
    let t = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let ok = de::<Value>(&nested(MAX_PAYLOAD_DEPTH)).map(|_| ());
            let deeper = de::<Value>(&nested(MAX_PAYLOAD_DEPTH + 1));
            // The envelope decoder lets 1023 levels through.
            let deepest = de::<Value>(&nested(1023));
            (ok, deeper.map(|_| ()), deepest.map(|_| ()))
        })
        .unwrap();
    let (ok, deeper, deepest) = t.join().unwrap();
    ok.unwrap();
    for e in [deeper.unwrap_err(), deepest.unwrap_err()] {
        assert_eq!(e.code(), Code::BAD_REQUEST);
        assert_eq!(e.message(), "invalid request data: depth limit exceeded");
    }
}

#[test]
fn only_large_containers_decode_on_the_pool() {
    let b = Budget {
        offload_above: 4,
        ..Budget::default()
    };
    // fixarray, fixmap, array16/32, map16/32 at the threshold or longer.
    for head in [0x93u8, 0x83, 0xdc, 0xdd, 0xde, 0xdf] {
        assert!(b.offload(&[head, 0, 0, 0]), "{head:#x}");
        assert!(!b.offload(&[head, 0, 0]), "{head:#x} below the threshold");
    }
    // Scalars, strings and bins decode inline whatever their length.
    for head in [0xc4u8, 0xc5, 0xc6, 0xa5, 0xd9, 0xda, 0xdb, 0x01, 0xc0, 0xcb] {
        assert!(!b.offload(&[head, 0, 0, 0, 0, 0]), "{head:#x}");
    }
    assert!(!b.offload(&[]));
    assert!(!Budget::default().offload(&[0x90; 1000]));
}
