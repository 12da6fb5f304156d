//! `swill.introspect` over a raw socket (swill/1 §8): items, order, hidden names, the vector
//! `resp.introspect.tuple_args`, and switching introspection off.
mod common;

use common::*;
use futures::{Stream, StreamExt};
use rmpv::Value as V;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use swill::{Error, Module, Request, Streaming, Swill};

/// Counts up to n.
#[swill::handler]
async fn count(req: Request<i64>) -> impl Stream<Item = Result<i64, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok))
}

/// One part of an upload.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
struct Chunk {
    name: String,
    parts: Vec<i64>,
}

/// Receives chunks, answers running totals.
#[swill::handler]
async fn upload(
    items: Streaming<Chunk>,
) -> impl Stream<Item = Result<std::collections::BTreeMap<String, i64>, Error>> {
    items.map(|c| Ok([(c.name, c.parts.iter().sum())].into_iter().collect()))
}

#[swill::handler]
async fn ping() {}

/// Hidden: a user handler under the reserved prefix stays callable.
#[swill::handler(name = "swill.secret")]
async fn secret() -> Result<&'static str, Error> {
    Ok("hidden but here")
}

/// The Appendix B introspection app, plus a hidden handler registered in the middle.
fn app() -> Swill {
    Swill::new()
        .handler(add)
        .handler(secret)
        .handler(count)
        .handler(upload)
        .handler(ping)
}

/// Runs `swill.introspect` on a fresh connection: the items, then the END_OF_STREAM frame.
async fn introspect(url: &str) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut ws = raw_ws(url, "swill/1").await;
    send_hex(&mut ws, "9301c0b07377696c6c2e696e74726f7370656374").await;
    let mut items = Vec::new();
    for _ in 0..100 {
        let raw = recv(&mut ws).await;
        let r = Resp::decode(&raw);
        assert_eq!(r.seq, 1);
        match r.kind {
            MESSAGE => {
                assert_eq!((r.leading.clone(), r.trailing.clone()), (V::Nil, V::Nil));
                let mut data = Vec::new();
                rmpv::encode::write_value(&mut data, &r.data).unwrap();
                items.push(data);
            }
            END_OF_STREAM => return (items, raw),
            _ => panic!("unexpected frame {r:?}"),
        }
    }
    panic!("no END_OF_STREAM after 100 items");
}

fn names(items: &[Vec<u8>]) -> Vec<String> {
    items
        .iter()
        .map(|i| get(&value(i), "name").as_str().unwrap().to_owned())
        .collect()
}

/// The item restricted to the swill/1 keys: name, request/response with streams and type.
fn swill1_view(item: &V) -> Vec<u8> {
    let side = |v: &V| {
        mmap(&[
            ("streams", get(v, "streams").clone()),
            ("type", get(v, "type").clone()),
        ])
    };
    let view = mmap(&[
        ("name", get(item, "name").clone()),
        ("request", side(get(item, "request"))),
        ("response", side(get(item, "response"))),
    ]);
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &view).unwrap();
    out
}

fn vector_data_hex(name: &str) -> String {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors.json"))
            .expect("docs/vectors.json is part of the repository");
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    vectors
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))["meaning"]["data_hex"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn one_item_per_user_handler_in_registration_order_then_end_of_stream() {
    let server = spawn(app()).await;
    let (items, end) = introspect(&server.url()).await;
    assert_eq!(names(&items), ["add", "count", "upload", "ping"]);
    assert_eq!(
        to_hex(&end),
        "9501c001c0c0",
        "END_OF_STREAM [1, nil, 1, nil, nil]"
    );
    server.stop().await;
}

#[tokio::test]
async fn hidden_swill_handlers_stay_callable() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(5, &(), "swill.secret")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from("hidden but here"));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn items_start_with_name_request_response_then_doc_and_defs() {
    let server = spawn(app()).await;
    let (items, _) = introspect(&server.url()).await;
    for raw in &items {
        let item = value(raw);
        let k = keys(&item);
        assert_eq!(k[..3], ["name", "request", "response"], "{item}");
        assert!(k.contains(&"doc".to_owned()), "{item}");
        assert!(k.contains(&"$defs".to_owned()), "{item}");
        for side in ["request", "response"] {
            assert_eq!(keys(get(&item, side))[..2], ["streams", "type"], "{item}");
        }
    }
    let add_item = value(&items[0]);
    assert_eq!(get(&add_item, "doc").as_str(), Some("Adds two integers."));
    let upload_item = value(&items[2]);
    assert!(
        try_get(get(&upload_item, "$defs"), "Chunk").is_some(),
        "{upload_item}"
    );
    let ping_item = value(&items[3]);
    assert_eq!(get(&ping_item, "doc").as_str(), Some(""));
    server.stop().await;
}

#[tokio::test]
async fn items_match_the_swill1_vectors_byte_for_byte_on_the_swill1_keys() {
    let server = spawn(app()).await;
    let (items, _) = introspect(&server.url()).await;
    let expected = [
        "resp.introspect.tuple_args",
        "resp.introspect.server_stream",
        "resp.introspect.struct_args",
        "resp.introspect.untyped",
    ];
    for (raw, vector) in items.iter().zip(expected) {
        assert_eq!(
            to_hex(&swill1_view(&value(raw))),
            vector_data_hex(vector),
            "{vector}"
        );
    }
    // The name entry is written exactly as the original writes it, right after the map header.
    let add_item = &items[0];
    assert_eq!(to_hex(&add_item[1..10]), "a46e616d65a3616464");
    server.stop().await;
}

#[tokio::test]
async fn modules_are_listed_where_they_were_registered() {
    let app = Swill::new()
        .module(Module::new("math").handler(add))
        .handler(ping)
        .module(Module::new("a").module(Module::new("b").handler(count)));
    let server = spawn(app).await;
    let (items, _) = introspect(&server.url()).await;
    assert_eq!(names(&items), ["math.add", "ping", "a.b.count"]);
    server.stop().await;
}

#[tokio::test]
async fn introspection_off_makes_swill_introspect_404_and_schema_json_404() {
    let server = spawn(app().introspection(false)).await;
    let mut ws = server.raw_ws().await;
    send_hex(&mut ws, "9301c0b07377696c6c2e696e74726f7370656374").await;
    let r = recv_resp(&mut ws).await;
    assert_eq!(r.error_code(), 404);
    assert_eq!(
        r.error_message(),
        "No func was found to process this request"
    );
    // The handlers themselves still work.
    send_bytes(&mut ws, request(2, &(1, 2), "add")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(3));
    drop(ws);
    let schema = http_get(server.addr, "/schema.json").await;
    assert_eq!(schema.status, 404);
    assert_eq!(http_get(server.addr, "/docs").await.status, 404);
    server.stop().await;
}
