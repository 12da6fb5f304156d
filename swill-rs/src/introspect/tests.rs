use std::collections::{BTreeMap, HashMap, HashSet};

use rmpv::Value as Mp;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use validator::Validate;

use crate::introspect::{ApiDoc, HandlerInfo, TypeInfo};

/// A piece of an upload.
#[derive(JsonSchema, Deserialize)]
#[allow(dead_code)]
struct Chunk {
    /// The file name.
    name: String,
    parts: Vec<i64>,
}

/// A new account.
#[derive(JsonSchema, Deserialize, Validate)]
#[allow(dead_code)]
struct Signup {
    /// Shown to other users.
    #[validate(length(min = 3, max = 16))]
    name: String,
    #[validate(range(min = 18, max = 150))]
    age: u8,
    #[validate(email)]
    email: String,
    #[validate(url)]
    homepage: String,
    #[validate(contains(pattern = "@"))]
    handle: String,
    #[validate(length(min = 2))]
    tags: Vec<String>,
    #[validate(range(min = 0.5, max = 1.0))]
    ratio: f64,
    #[validate(nested)]
    address: Address,
    nick: Option<String>,
    kind: Kind,
}

/// Constraints schemars 1.2 does not carry into the schema.
#[derive(JsonSchema, Validate)]
#[allow(dead_code)]
struct Unreflected {
    #[validate(range(exclusive_min = 0.0, exclusive_max = 1.0))]
    open: f64,
}

#[derive(JsonSchema, Deserialize, Validate)]
#[allow(dead_code)]
struct Address {
    #[validate(length(min = 1))]
    street: String,
    zip: Option<u32>,
}

#[derive(JsonSchema, Deserialize)]
#[allow(dead_code)]
enum Kind {
    Person,
    Company,
}

#[derive(JsonSchema, Deserialize)]
#[allow(dead_code)]
struct UserId(u64);

#[derive(JsonSchema)]
#[allow(dead_code)]
struct Hidden {
    internal: bool,
}

#[derive(JsonSchema, Deserialize)]
#[allow(dead_code)]
struct Tree {
    label: String,
    children: Vec<Self>,
}

#[derive(JsonSchema, Deserialize)]
#[serde(rename = "Point2")]
#[allow(dead_code)]
struct Point {
    x: f64,
    #[serde(rename = "why")]
    y: f64,
    when: Option<Box<Self>>,
}

#[derive(JsonSchema, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
#[allow(dead_code)]
enum Command {
    Push { value: i64 },
    Pop,
}

#[derive(JsonSchema, Deserialize)]
#[allow(dead_code)]
struct Everything {
    tuple: (i32, String, bool),
    list: Vec<u16>,
    set: HashSet<String>,
    dict: HashMap<String, f32>,
    imap: BTreeMap<u32, bool>,
    maybe: Option<i8>,
    maybe_struct: Option<Chunk>,
    unit: (),
    id: UserId,
    raw: Vec<u8>,
    any: serde_json::Value,
    ch: char,
}

fn handler(name: &str, request: TypeInfo, response: TypeInfo) -> HandlerInfo {
    HandlerInfo {
        name: name.into(),
        doc: format!("The {name} handler."),
        shape_request_streams: false,
        shape_response_streams: false,
        request,
        response,
    }
}

fn streaming(mut h: HandlerInfo, request: bool, response: bool) -> HandlerInfo {
    h.shape_request_streams = request;
    h.shape_response_streams = response;
    h
}

/// The app behind the swill/1 introspection vectors (Appendix B, app `introspection`).
fn vector_app() -> Vec<HandlerInfo> {
    vec![
        handler("add", TypeInfo::of::<(i64, i64)>(), TypeInfo::of::<i64>()),
        streaming(
            handler("count", TypeInfo::of::<i64>(), TypeInfo::of::<i64>()),
            false,
            true,
        ),
        streaming(
            handler(
                "upload",
                TypeInfo::of::<Chunk>(),
                TypeInfo::of::<HashMap<String, i64>>(),
            ),
            true,
            true,
        ),
        handler("ping", TypeInfo::none(), TypeInfo::none()),
    ]
}

fn big_app() -> Vec<HandlerInfo> {
    let mut handlers = vector_app();
    handlers.extend([
        handler("signup", TypeInfo::of::<Signup>(), TypeInfo::of::<UserId>()),
        handler("address", TypeInfo::of::<Address>(), TypeInfo::of::<()>()),
        handler("tree", TypeInfo::of::<Tree>(), TypeInfo::of::<Vec<Tree>>()),
        handler(
            "point",
            TypeInfo::of::<Point>(),
            TypeInfo::of::<Option<Point>>(),
        ),
        handler("command", TypeInfo::of::<Command>(), TypeInfo::of::<str>()),
        handler(
            "everything",
            TypeInfo::of::<Everything>(),
            TypeInfo::of::<Chunk>(),
        ),
        handler("swill.secret", TypeInfo::of::<Hidden>(), TypeInfo::none()),
    ]);
    handlers
}

fn decode(bytes: &[u8]) -> Mp {
    let mut slice = bytes;
    let v = rmpv::decode::read_value(&mut slice).expect("valid msgpack");
    assert!(slice.is_empty(), "trailing bytes");
    v
}

fn get<'v>(v: &'v Mp, key: &str) -> &'v Mp {
    v.as_map()
        .expect("map")
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no key {key} in {v}"))
}

fn map_keys(v: &Mp) -> Vec<String> {
    v.as_map()
        .expect("map")
        .iter()
        .map(|(k, _)| k.as_str().expect("str key").to_owned())
        .collect()
}

fn without(v: &Mp, drop: &[&str]) -> Mp {
    Mp::Map(
        v.as_map()
            .expect("map")
            .iter()
            .filter(|(k, _)| !k.as_str().is_some_and(|k| drop.contains(&k)))
            .cloned()
            .collect(),
    )
}

/// An item reduced to the keys the original server sends.
fn as_original(item: &Mp) -> Mp {
    let side = |key: &str| without(get(item, key), &["schema"]);
    Mp::Map(vec![
        (Mp::from("name"), get(item, "name").clone()),
        (Mp::from("request"), side("request")),
        (Mp::from("response"), side("response")),
    ])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn encode(v: &Mp) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("encode");
    out
}

fn item_of(doc: &ApiDoc, name: &str) -> Mp {
    doc.introspect_items()
        .iter()
        .map(|b| decode(b))
        .find(|item| get(item, "name").as_str() == Some(name))
        .unwrap_or_else(|| panic!("no item {name}"))
}

fn type_of(doc: &ApiDoc, name: &str, side: &str) -> Mp {
    get(get(&item_of(doc, name), side), "type").clone()
}

/// `data_hex` of the `resp.introspect.*` vectors (swill/1 vectors.json), in app order.
const VECTORS: [(&str, &str); 4] = [
    (
        "resp.introspect.tuple_args",
        "83a46e616d65a3616464a77265717565737482a773747265616d73c2a47479706582a474797065a57475706c65a9617267756d656e7473820081a474797065a3696e740181a474797065a3696e74a8726573706f6e736582a773747265616d73c2a47479706581a474797065a3696e74",
    ),
    (
        "resp.introspect.server_stream",
        "83a46e616d65a5636f756e74a77265717565737482a773747265616d73c2a47479706581a474797065a3696e74a8726573706f6e736582a773747265616d73c3a47479706581a474797065a3696e74",
    ),
    (
        "resp.introspect.struct_args",
        "83a46e616d65a675706c6f6164a77265717565737482a773747265616d73c3a47479706582a474797065a54368756e6ba9617267756d656e747382a46e616d6581a474797065a3737472a5706172747382a474797065a46c697374a9617267756d656e7473810081a474797065a3696e74a8726573706f6e736582a773747265616d73c3a47479706582a474797065a464696374a9617267756d656e7473820081a474797065a37374720181a474797065a3696e74",
    ),
    (
        "resp.introspect.untyped",
        "83a46e616d65a470696e67a77265717565737482a773747265616d73c2a47479706581a474797065a44e6f6e65a8726573706f6e736582a773747265616d73c2a47479706581a474797065a44e6f6e65",
    ),
];

#[test]
fn items_match_the_introspection_vectors_minus_extra_keys() {
    let doc = ApiDoc::build("vectors", "0", &vector_app());
    assert_eq!(doc.introspect_items().len(), VECTORS.len());
    for ((name, want), bytes) in VECTORS.iter().zip(doc.introspect_items()) {
        let item = decode(bytes);
        assert_eq!(
            map_keys(&item),
            ["name", "request", "response", "doc", "$defs", "example", "api"],
            "{name}"
        );
        for side in ["request", "response"] {
            assert_eq!(
                map_keys(get(&item, side)),
                ["streams", "type", "schema"],
                "{name}"
            );
        }
        assert_eq!(hex(&encode(&as_original(&item))), *want, "{name}");
    }
}

#[test]
fn items_carry_the_example_and_the_api_title_and_version_of_schema_json() {
    let doc = ApiDoc::build("demo", "1.2.3", &vector_app());
    let handlers = doc.schema_json()["handlers"].as_array().expect("list");
    assert_eq!(handlers.len(), doc.introspect_items().len());
    for (entry, bytes) in handlers.iter().zip(doc.introspect_items()) {
        let item = decode(bytes);
        let name = entry["name"].as_str().expect("name");
        assert_eq!(get(&item, "name").as_str(), Some(name));
        assert_eq!(
            *get(&item, "example"),
            super::to_msgpack(&entry["example"]),
            "{name}"
        );
        let api = get(&item, "api");
        assert_eq!(map_keys(api), ["title", "version"], "{name}");
        assert_eq!(get(api, "title").as_str(), Some("demo"));
        assert_eq!(get(api, "version").as_str(), Some("1.2.3"));
    }
}

#[test]
fn vector_constants_agree_with_the_vectors_file() {
    let text = include_str!("../../../docs/vectors.json");
    let vectors: Vec<Value> = serde_json::from_str(text).expect("vectors.json parses");
    for (name, want) in VECTORS {
        let v = vectors
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(v["meaning"]["data_hex"], want, "{name}");
    }
}

#[test]
fn typedefs_of_containers() {
    let doc = ApiDoc::build("t", "0", &big_app());
    let every = type_of(&doc, "everything", "request");
    let arg = |field: &str| get(get(&every, "arguments"), field).clone();
    let t = |v: Value| super::to_msgpack(&v);
    assert_eq!(get(&every, "type").as_str(), Some("Everything"));
    assert_eq!(
        arg("tuple"),
        Mp::Map(vec![
            (Mp::from("type"), Mp::from("tuple")),
            (
                Mp::from("arguments"),
                Mp::Map(vec![
                    (Mp::from(0), t(json!({"type": "int"}))),
                    (Mp::from(1), t(json!({"type": "str"}))),
                    (Mp::from(2), t(json!({"type": "bool"}))),
                ])
            ),
        ])
    );
    let list_of = |item: &str| {
        Mp::Map(vec![
            (Mp::from("type"), Mp::from("list")),
            (
                Mp::from("arguments"),
                Mp::Map(vec![(Mp::from(0), t(json!({ "type": item })))]),
            ),
        ])
    };
    let pair = |name: &str, a: &str, b: &str| {
        Mp::Map(vec![
            (Mp::from("type"), Mp::from(name)),
            (
                Mp::from("arguments"),
                Mp::Map(vec![
                    (Mp::from(0), t(json!({ "type": a }))),
                    (Mp::from(1), t(json!({ "type": b }))),
                ]),
            ),
        ])
    };
    assert_eq!(arg("list"), list_of("int"));
    assert_eq!(arg("set"), list_of("str"));
    // Vec<u8> travels as bin (BytesMode::ForceIterables), so it is described as bytes.
    assert_eq!(arg("raw"), t(json!({"type": "bytes"})));
    assert_eq!(arg("dict"), pair("dict", "str", "float"));
    assert_eq!(arg("imap"), pair("dict", "int", "bool"));
    assert_eq!(arg("maybe"), pair("Union", "int", "NoneType"));
    assert_eq!(arg("unit"), t(json!({"type": "NoneType"})));
    assert_eq!(arg("id"), t(json!({"type": "int"})));
    assert_eq!(arg("any"), t(json!({"type": "any"})));
    assert_eq!(arg("ch"), t(json!({"type": "str"})));
    let maybe_struct = arg("maybe_struct");
    assert_eq!(get(&maybe_struct, "type").as_str(), Some("Union"));
    let args = get(&maybe_struct, "arguments").as_map().expect("map");
    assert_eq!(args[0].0, Mp::from(0));
    assert_eq!(get(&args[0].1, "type").as_str(), Some("Chunk"));
    assert_eq!(args[1].1, t(json!({"type": "NoneType"})));
}

#[test]
fn typedefs_of_structs_enums_and_unit() {
    let doc = ApiDoc::build("t", "0", &big_app());
    let t = |v: Value| super::to_msgpack(&v);

    // Field order is declaration order, with serde renames.
    let point = type_of(&doc, "point", "request");
    assert_eq!(get(&point, "type").as_str(), Some("Point2"));
    assert_eq!(map_keys(get(&point, "arguments")), ["x", "why", "when"]);
    // A recursive reference is the bare name.
    let when = get(get(&point, "arguments"), "when");
    let when_args = get(when, "arguments").as_map().expect("map");
    assert_eq!(when_args[0].1, t(json!({"type": "Point2"})));

    let response = type_of(&doc, "point", "response");
    assert_eq!(get(&response, "type").as_str(), Some("Union"));

    let tree = type_of(&doc, "tree", "request");
    assert_eq!(
        tree,
        t(json!({"type": "Tree", "arguments": {
            "label": {"type": "str"},
            "children": {"type": "list", "arguments": {"0": {"type": "Tree"}}}}}))
        .map_int_keys()
    );

    // Enums keep their name; unit-only enums have no arguments.
    let signup = type_of(&doc, "signup", "request");
    assert_eq!(
        get(get(&signup, "arguments"), "kind"),
        &t(json!({"type": "Kind"}))
    );
    assert_eq!(
        type_of(&doc, "command", "request"),
        t(json!({"type": "Command"}))
    );
    assert_eq!(
        type_of(&doc, "command", "response"),
        t(json!({"type": "str"}))
    );

    // `()` and `none()` are both swill/1 `None`.
    assert_eq!(
        type_of(&doc, "address", "response"),
        t(json!({"type": "None"}))
    );
    assert_eq!(type_of(&doc, "ping", "request"), t(json!({"type": "None"})));
}

/// Test-only: turns the str keys "0", "1", ... of `arguments` maps into integer keys, so
/// expected TypeDefs can be written with `json!`.
trait MapIntKeys {
    fn map_int_keys(self) -> Self;
}

impl MapIntKeys for Mp {
    fn map_int_keys(self) -> Self {
        match self {
            Self::Map(entries) => Self::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let k = match k.as_str().and_then(|s| s.parse::<u64>().ok()) {
                            Some(i) => Self::from(i),
                            None => k,
                        };
                        (k, v.map_int_keys())
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}

fn with_defs(schema: &Value, doc: &ApiDoc) -> Value {
    let mut full = schema.as_object().cloned().expect("schema is an object");
    full.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    full.insert("$defs".into(), doc.schema_json()["$defs"].clone());
    Value::Object(full)
}

#[test]
fn every_schema_is_valid_draft_2020_12() {
    let doc = ApiDoc::build("t", "0", &big_app());
    let handlers = doc.schema_json()["handlers"].as_array().expect("list");
    assert!(!handlers.is_empty());
    for h in handlers {
        for side in ["request", "response"] {
            let full = with_defs(&h[side]["schema"], &doc);
            if let Err(e) = jsonschema::draft202012::meta::validate(&full) {
                panic!("{} {side}: {e}\n{full:#}", h["name"]);
            }
        }
    }
    // The $defs on their own, too (as one schema holding them).
    let defs_only = json!({"$defs": doc.schema_json()["$defs"]});
    assert!(jsonschema::draft202012::meta::is_valid(&defs_only));
}

#[test]
fn every_example_validates_against_its_request_schema() {
    let doc = ApiDoc::build("t", "0", &big_app());
    for h in doc.schema_json()["handlers"].as_array().expect("list") {
        let full = with_defs(&h["request"]["schema"], &doc);
        let validator = jsonschema::draft202012::new(&full).expect("compiles");
        if let Err(e) = validator.validate(&h["example"]) {
            panic!("{}: {e}\nexample {}\n{full:#}", h["name"], h["example"]);
        }
    }
}

#[test]
fn examples_pass_the_real_decoder_and_validator() {
    let doc = ApiDoc::build("t", "0", &big_app());
    let example = |name: &str| {
        doc.schema_json()["handlers"]
            .as_array()
            .expect("list")
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["example"].clone())
            .expect("handler")
    };
    let signup: Signup = serde_json::from_value(example("signup")).expect("decodes");
    if let Err(e) = signup.validate() {
        panic!("{e}: {}", example("signup"));
    }
    let _: (i64, i64) = serde_json::from_value(example("add")).expect("decodes");
    let _: Tree = serde_json::from_value(example("tree")).expect("decodes");
    let _: Point = serde_json::from_value(example("point")).expect("decodes");
    let _: Command = serde_json::from_value(example("command")).expect("decodes");
    let _: Everything = serde_json::from_value(example("everything")).expect("decodes");
    assert_eq!(example("add"), json!([0, 0]));
    assert_eq!(example("ping"), Value::Null);
    assert_eq!(example("upload"), json!({"name": "", "parts": []}));
}

#[test]
fn validator_constraints_and_docs_reach_the_schema() {
    let doc = ApiDoc::build("t", "0", &big_app());
    let defs = &doc.schema_json()["$defs"];
    let signup = &defs["Signup"];
    assert_eq!(signup["description"], "A new account.");
    let p = &signup["properties"];
    assert_eq!(p["name"]["description"], "Shown to other users.");
    assert_eq!(
        (&p["name"]["minLength"], &p["name"]["maxLength"]),
        (&json!(3), &json!(16))
    );
    assert_eq!(
        (&p["age"]["minimum"], &p["age"]["maximum"]),
        (&json!(18), &json!(150))
    );
    assert_eq!(p["email"]["format"], "email");
    assert_eq!(p["homepage"]["format"], "uri");
    assert_eq!(p["handle"]["pattern"], "@");
    assert_eq!(p["tags"]["minItems"], 2);
    assert_eq!(
        (&p["ratio"]["minimum"], &p["ratio"]["maximum"]),
        (&json!(0.5), &json!(1.0))
    );
    assert_eq!(p["address"]["$ref"], "#/$defs/Address");
    assert_eq!(defs["Address"]["properties"]["street"]["minLength"], 1);

    // schemars 1.2 drops validator's exclusive range bounds. Should this start failing,
    // schemars learned them: the module docs' list of reflected constraints can grow.
    let doc = ApiDoc::build(
        "t",
        "0",
        &[handler(
            "open",
            TypeInfo::of::<Unreflected>(),
            TypeInfo::none(),
        )],
    );
    let open = &doc.schema_json()["$defs"]["Unreflected"]["properties"]["open"];
    assert_eq!(open, &json!({"type": "number", "format": "double"}));
}

#[test]
fn defs_are_shared_and_referenced() {
    let doc = ApiDoc::build("t", "0", &big_app());
    let schema = doc.schema_json();
    let defs = schema["$defs"].as_object().expect("map");
    // Chunk is used by upload, everything (twice); it is defined once, under its own name.
    assert!(defs.contains_key("Chunk"));
    assert!(!defs.keys().any(|k| k.starts_with("Chunk") && k != "Chunk"));
    let handlers = schema["handlers"].as_array().expect("list");
    let find = |name: &str| {
        handlers
            .iter()
            .find(|h| h["name"] == name)
            .expect("handler")
    };
    assert_eq!(
        find("upload")["request"]["schema"],
        json!({"$ref": "#/$defs/Chunk"})
    );
    assert_eq!(
        find("everything")["response"]["schema"],
        json!({"$ref": "#/$defs/Chunk"})
    );
    // Keys sorted, and no definition from the hidden handler.
    let keys: Vec<&String> = defs.keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(!defs.contains_key("Hidden"));
}

#[test]
fn items_carry_only_the_defs_they_reach() {
    let doc = ApiDoc::build("t", "0", &big_app());
    let names = |handler: &str| map_keys(get(&item_of(&doc, handler), "$defs"));
    assert_eq!(names("add"), Vec::<String>::new());
    assert_eq!(names("upload"), ["Chunk"]);
    assert_eq!(names("signup"), ["Address", "Kind", "Signup", "UserId"]);
    assert_eq!(names("tree"), ["Tree"]);
    assert_eq!(names("everything"), ["Chunk", "Everything", "UserId"]);
    let item = item_of(&doc, "upload");
    assert_eq!(get(&item, "doc").as_str(), Some("The upload handler."));
    assert_eq!(
        get(get(&item, "request"), "schema"),
        &super::to_msgpack(&json!({"$ref": "#/$defs/Chunk"}))
    );
}

#[test]
fn hidden_handlers_stay_out_of_the_outputs() {
    let handlers = big_app();
    let doc = ApiDoc::build("t", "0", &handlers);
    assert_eq!(doc.handlers().len(), handlers.len());
    assert_eq!(doc.introspect_items().len(), handlers.len() - 1);
    let names: Vec<&Value> = doc.schema_json()["handlers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|h| &h["name"])
        .collect();
    assert!(!names
        .iter()
        .any(|n| n.as_str().is_some_and(|n| n.starts_with("swill."))));
    // Registration order.
    assert_eq!(
        names[..4],
        [
            &json!("add"),
            &json!("count"),
            &json!("upload"),
            &json!("ping")
        ]
    );
}

#[test]
fn document_has_the_published_shape() {
    let doc = ApiDoc::build("demo", "1.2.3", &vector_app());
    let s = doc.schema_json();
    let keys: Vec<&String> = s.as_object().expect("map").keys().collect();
    assert_eq!(keys, ["swill", "title", "version", "handlers", "$defs"]);
    assert_eq!(
        (&s["swill"], &s["title"], &s["version"]),
        (&json!("swill/1"), &json!("demo"), &json!("1.2.3"))
    );
    let add = &s["handlers"][0];
    let keys: Vec<&String> = add.as_object().expect("map").keys().collect();
    assert_eq!(keys, ["name", "doc", "request", "response", "example"]);
    assert_eq!(add["request"]["streams"], false);
    assert_eq!(
        add["request"]["schema"],
        json!({"type": "array", "prefixItems": [
            {"type": "integer", "format": "int64"}, {"type": "integer", "format": "int64"}],
            "minItems": 2, "maxItems": 2})
    );
    assert_eq!(s["handlers"][2]["request"]["streams"], true);
    assert_eq!(
        s["handlers"][3]["request"]["schema"],
        json!({"type": "null"})
    );
    let parsed: Value = serde_json::from_slice(doc.schema_json_bytes()).expect("json");
    assert_eq!(&parsed, s);
    assert!(doc.schema_json_bytes().starts_with(b"{\n  \"swill\""));
}

#[test]
fn building_twice_gives_identical_bytes() {
    let a = ApiDoc::build("t", "0", &big_app());
    let b = ApiDoc::build("t", "0", &big_app());
    assert_eq!(a.schema_json_bytes(), b.schema_json_bytes());
    assert_eq!(a.introspect_items(), b.introspect_items());
}

#[test]
fn empty_app_and_debug_output() {
    let doc = ApiDoc::build("empty", "0", &[]);
    assert_eq!(doc.schema_json()["handlers"], json!([]));
    assert_eq!(doc.schema_json()["$defs"], json!({}));
    assert!(doc.introspect_items().is_empty());
    assert!(format!("{doc:?}").contains("ApiDoc"));
    let info = TypeInfo::of::<Chunk>();
    assert!(info.type_name().ends_with("Chunk"));
    assert!(!info.is_none());
    assert!(TypeInfo::of::<()>().is_none());
    assert!(format!("{info:?}").contains("Chunk"));
}
