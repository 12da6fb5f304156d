//! `GET /schema.json` over HTTP: the document's shape, shared `$defs`, every schema valid
//! against the draft 2020-12 meta-schema, and every `example` both valid against its request
//! schema and accepted by the live server.
mod common;

use std::collections::BTreeMap;

use common::*;
use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use swill::{Error, Request, Streaming, Swill};
use validator::Validate;

/// A postal address.
#[derive(Debug, Deserialize, Serialize, JsonSchema, Validate)]
struct Address {
    /// The street and number.
    #[validate(length(min = 2, max = 64))]
    street: String,
    /// An optional apartment.
    unit: Option<String>,
}

/// A person to register.
#[derive(Debug, Deserialize, Serialize, JsonSchema, Validate)]
struct Person {
    #[validate(length(min = 1, max = 16))]
    name: String,
    #[validate(range(min = 18, max = 150))]
    age: u8,
    #[validate(email)]
    email: String,
    #[validate(url)]
    homepage: String,
    #[validate(length(min = 2))]
    tags: Vec<String>,
    #[validate(nested)]
    home: Address,
    color: Color,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
enum Color {
    Red,
    Green,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
enum Figure {
    Circle { r: f64 },
    Square(f64),
}

/// One part of an upload.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
struct Chunk {
    name: String,
    parts: Vec<i64>,
}

/// Registers a person.
#[swill::handler]
async fn register(req: Request<Person>) -> Result<String, Error> {
    Ok(req.into_data().name)
}

/// Moves someone to a new address.
#[swill::handler]
async fn relocate(req: Request<Address>) -> Result<Address, Error> {
    Ok(req.into_data())
}

/// The area of a figure.
#[swill::handler]
async fn area(req: Request<Figure>) -> Result<f64, Error> {
    Ok(match req.into_data() {
        Figure::Circle { r } => 3.0 * r * r,
        Figure::Square(s) => s * s,
    })
}

/// Counts up to n.
#[swill::handler]
async fn count(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok))
}

/// Receives chunks, answers running totals per name.
#[swill::handler]
async fn upload(
    items: Streaming<Chunk>,
) -> impl Stream<Item = Result<BTreeMap<String, i64>, Error>> {
    items.map(|c| Ok([(c.name, c.parts.iter().sum())].into_iter().collect()))
}

/// Always refuses.
#[swill::handler]
async fn deny(_req: Request<Option<String>>) -> Result<(), Error> {
    Err(Error::forbidden("denied"))
}

#[swill::handler]
async fn ping() {}

fn app() -> Swill {
    Swill::new()
        .info("schema test", "2.0.0")
        .handler(add)
        .handler(register)
        .handler(relocate)
        .handler(area)
        .handler(count)
        .handler(upload)
        .handler(sum)
        .handler(deny)
        .handler(ping)
}

async fn fetch_doc(server: &TestServer) -> Json {
    let res = http_get(server.addr, "/schema.json").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    res.json()
}

fn handlers(doc: &Json) -> &Vec<Json> {
    doc["handlers"].as_array().expect("handlers array")
}

fn handler<'d>(doc: &'d Json, name: &str) -> &'d Json {
    handlers(doc)
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no handler {name}"))
}

/// A handler's schema made self-contained: the document's `$defs` attached.
fn standalone(schema: &Json, defs: &Json) -> Json {
    let mut obj = match schema {
        Json::Object(map) => map.clone(),
        Json::Bool(b) => return Json::Bool(*b),
        other => panic!("a schema must be an object or a bool, got {other}"),
    };
    obj.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    obj.insert("$defs".into(), defs.clone());
    Json::Object(obj)
}

#[tokio::test]
async fn schema_json_lists_every_handler_with_shape_doc_schemas_and_example() {
    let server = spawn(app()).await;
    let doc = fetch_doc(&server).await;
    assert_eq!(doc["swill"], "swill/1");
    assert_eq!(doc["title"], "schema test");
    assert_eq!(doc["version"], "2.0.0");
    let names: Vec<&str> = handlers(&doc)
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["add", "register", "relocate", "area", "count", "upload", "sum", "deny", "ping"]
    );
    let shapes = [
        ("add", false, false),
        ("count", false, true),
        ("upload", true, true),
        ("sum", true, false),
        ("ping", false, false),
    ];
    for (name, req, resp) in shapes {
        let h = handler(&doc, name);
        assert_eq!(h["request"]["streams"], req, "{name}");
        assert_eq!(h["response"]["streams"], resp, "{name}");
    }
    for h in handlers(&doc) {
        for key in ["name", "doc", "request", "response", "example"] {
            assert!(h.get(key).is_some(), "{key} missing in {h}");
        }
        assert!(h["request"]["schema"].is_object(), "{h}");
        assert!(h["response"]["schema"].is_object(), "{h}");
    }
    assert_eq!(handler(&doc, "add")["doc"], "Adds two integers.");
    assert_eq!(handler(&doc, "ping")["doc"], "");
    assert_eq!(
        handler(&doc, "ping")["request"]["schema"],
        json!({"type": "null"})
    );
    assert_eq!(handler(&doc, "ping")["example"], Json::Null);
    assert_eq!(handler(&doc, "add")["example"], json!([0, 0]));
    server.stop().await;
}

#[tokio::test]
async fn shared_types_are_defined_once_under_defs() {
    let server = spawn(app()).await;
    let doc = fetch_doc(&server).await;
    let defs = doc["$defs"].as_object().expect("$defs object");
    for name in ["Address", "Person", "Chunk", "Color", "Figure"] {
        assert!(
            defs.contains_key(name),
            "{name} missing from $defs: {defs:?}"
        );
    }
    // relocate's request and response and Person.home all point at the one Address.
    let reloc = handler(&doc, "relocate");
    assert_eq!(reloc["request"]["schema"]["$ref"], "#/$defs/Address");
    assert_eq!(reloc["response"]["schema"]["$ref"], "#/$defs/Address");
    assert_eq!(
        defs["Person"]["properties"]["home"]["$ref"],
        "#/$defs/Address"
    );
    // Doc comments become descriptions.
    assert_eq!(defs["Address"]["description"], "A postal address.");
    let keys: Vec<&String> = defs.keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "$defs keys are sorted");
    server.stop().await;
}

#[tokio::test]
async fn every_schema_is_valid_draft_2020_12() {
    let server = spawn(app()).await;
    let doc = fetch_doc(&server).await;
    let defs = &doc["$defs"];
    for h in handlers(&doc) {
        for side in ["request", "response"] {
            let schema = standalone(&h[side]["schema"], defs);
            if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
                panic!(
                    "{} {side} schema is not valid 2020-12: {e}\n{schema:#}",
                    h["name"]
                );
            }
            // It also compiles: every $ref resolves.
            if let Err(e) = jsonschema::draft202012::new(&schema) {
                panic!("{} {side} schema does not compile: {e}", h["name"]);
            }
        }
    }
    for (name, def) in defs.as_object().unwrap() {
        let schema = standalone(def, defs);
        assert!(
            jsonschema::draft202012::meta::is_valid(&schema),
            "$defs/{name} is not valid 2020-12"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn every_example_validates_against_its_request_schema() {
    let server = spawn(app()).await;
    let doc = fetch_doc(&server).await;
    let defs = &doc["$defs"];
    for h in handlers(&doc) {
        let schema = standalone(&h["request"]["schema"], defs);
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        let example = &h["example"];
        let errors: Vec<String> = validator
            .iter_errors(example)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{}: example {example} fails its schema: {errors:?}",
            h["name"]
        );
    }
    server.stop().await;
}

/// Sends one call with `example` as the request (the first item, then END_OF_STREAM, for
/// streaming requests) and returns the first terminal or error frame.
async fn run_example(ws: &mut RawWs, seq: i64, h: &Json) -> Resp {
    let name = h["name"].as_str().unwrap();
    send_bytes(ws, request(seq, &h["example"], name)).await;
    if h["request"]["streams"] == true {
        send_bytes(ws, control(seq, name, END_OF_STREAM)).await;
    }
    let streams = h["response"]["streams"] == true;
    for _ in 0..1000 {
        let r = recv_resp(ws).await;
        assert_eq!(r.seq, seq);
        match r.kind {
            ERROR | END_OF_STREAM => return r,
            MESSAGE if !streams => return r,
            _ => continue,
        }
    }
    panic!("{name}: no terminal frame");
}

#[tokio::test]
async fn every_example_is_accepted_by_the_live_server() {
    let server = spawn(app()).await;
    let doc = fetch_doc(&server).await;
    let mut ws = server.raw_ws().await;
    for (i, h) in handlers(&doc).iter().enumerate() {
        let r = run_example(&mut ws, i as i64 + 1, h).await;
        let name = h["name"].as_str().unwrap();
        if name == "deny" {
            // The handler's own error: the example got through decoding and validation.
            assert_eq!((r.error_code(), r.error_message()), (403, "denied".into()));
            continue;
        }
        assert_ne!(
            r.kind, ERROR,
            "{name}: example {} refused: {r:?}",
            h["example"]
        );
    }
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_custom_schema_path_moves_the_document() {
    let app = app().schema_path(Some("/api.json".into()));
    let server = spawn(app).await;
    assert_eq!(http_get(server.addr, "/schema.json").await.status, 404);
    let res = http_get(server.addr, "/api.json").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["handlers"][0]["name"], "add");
    let off = spawn(Swill::new().handler(add).schema_path(None)).await;
    assert_eq!(http_get(off.addr, "/schema.json").await.status, 404);
    server.stop().await;
    off.stop().await;
}
