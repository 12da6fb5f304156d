//! Automatic `validator::Validate` validation over a real socket (issue #3): 422
//! `Validation Error` with full field paths, custom and struct-level checks, every item of a
//! streaming request, and types without `Validate` left alone.
mod common;

use std::borrow::Cow;
use std::time::Duration;

use common::*;
use futures::{Stream, StreamExt};
use rmpv::Value as V;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use swill::{Error, Request, State, Streaming, Swill};
use validator::{Validate, ValidationError};

#[derive(Debug, Deserialize, Serialize, JsonSchema, Validate)]
struct Address {
    #[validate(length(min = 1, message = "street is required"))]
    street: String,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema, Validate)]
struct Item {
    #[validate(range(min = 1, max = 99))]
    qty: i64,
}

fn even(n: i64) -> Result<(), ValidationError> {
    if n % 2 == 0 {
        Ok(())
    } else {
        let mut e = ValidationError::new("even");
        e.message = Some(Cow::from("must be even"));
        Err(e)
    }
}

fn not_too_many(order: &Order) -> Result<(), ValidationError> {
    if order.items.len() <= 3 {
        Ok(())
    } else {
        let mut e = ValidationError::new("too_many_items");
        e.message = Some(Cow::from("at most 3 items per order"));
        Err(e)
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema, Validate)]
// `skip_on_field_errors = false`: validator skips struct-level checks when a field failed
// unless told otherwise; here every failure is reported together.
#[validate(schema(function = "not_too_many", skip_on_field_errors = false))]
struct Order {
    #[validate(length(min = 1, max = 16))]
    name: String,
    #[validate(nested)]
    address: Address,
    #[validate(nested)]
    items: Vec<Item>,
    #[validate(custom(function = "even"))]
    code: i64,
}

/// A struct that does not derive `Validate`: nothing is checked.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
struct Unchecked {
    name: String,
}

#[swill::handler]
async fn place(req: Request<Order>, State(log): State<Log>) -> Result<String, Error> {
    log.push("handler place");
    Ok(format!("ok {}", req.data().name))
}

#[swill::handler]
async fn place_many(req: Request<Vec<Item>>) -> Result<usize, Error> {
    Ok(req.data().len())
}

#[swill::handler]
async fn unchecked(req: Request<Unchecked>) -> Result<String, Error> {
    Ok(format!("got {:?}", req.data().name))
}

#[swill::handler]
async fn total(mut items: Streaming<Item>, State(log): State<Log>) -> Result<i64, Error> {
    let _guard = log.on_drop("dropped");
    let mut qty = 0;
    while let Some(item) = items.next().await {
        log.push(format!("item {}", item.qty));
        qty += item.qty;
    }
    Ok(qty)
}

#[swill::handler]
async fn echo_items(
    items: Streaming<Item>,
    State(log): State<Log>,
) -> impl Stream<Item = Result<i64, Error>> {
    let guard = log.on_drop("dropped");
    items.map(move |i| {
        let _keep = &guard;
        Ok(i.qty)
    })
}

fn app(log: &Log) -> Swill {
    Swill::new()
        .with_state(log.clone())
        .handler(place)
        .handler(place_many)
        .handler(unchecked)
        .handler(total)
        .handler(echo_items)
}

fn item(qty: i64) -> Item {
    Item { qty }
}

fn order(name: &str, street: &str, items: Vec<Item>, code: i64) -> Order {
    Order {
        name: name.into(),
        address: Address {
            street: street.into(),
        },
        items,
        code,
    }
}

/// One error object as the module docs of `swill::validate` describe it.
fn err_obj(code: &str, message: &str, params: &[(&str, V)]) -> V {
    mmap(&[
        ("code", V::from(code)),
        ("message", V::from(message)),
        ("params", mmap(params)),
        ("description", V::from(message)),
    ])
}

#[tokio::test]
async fn a_valid_request_reaches_the_handler() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let good = order("ann", "main st", vec![item(1), item(2)], 4);
    let r = call(&mut ws, 1, "place", mpv(&good)).await;
    assert_eq!((r.kind, r.data), (MESSAGE, V::from("ok ann")));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn invalid_request_is_422_with_full_field_paths() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let bad = order("", "", vec![item(1), item(2), item(0), item(5)], 3);
    let r = call(&mut ws, 1, "place", mpv(&bad)).await;
    assert_eq!(r.error_code(), 422);
    assert_eq!(r.error_message(), "Validation Error");
    assert_eq!(keys(&r.data), ["code", "message", "data"]);
    let data = get(&r.data, "data");
    assert_eq!(
        keys(data),
        ["*", "address.street", "code", "items[2].qty", "name"],
        "{data}"
    );
    assert_eq!(
        get(data, "name"),
        &V::Array(vec![err_obj(
            "length",
            "length must be between 1 and 16",
            &[("max", V::from(16)), ("min", V::from(1))]
        )])
    );
    assert_eq!(
        get(data, "address.street"),
        &V::Array(vec![err_obj(
            "length",
            "street is required",
            &[("min", V::from(1))]
        )])
    );
    assert_eq!(
        get(data, "items[2].qty"),
        &V::Array(vec![err_obj(
            "range",
            "must be between 1 and 99",
            &[("max", V::from(99)), ("min", V::from(1))]
        )])
    );
    // A custom function keeps its own code and message.
    assert_eq!(
        get(data, "code"),
        &V::Array(vec![err_obj("even", "must be even", &[])])
    );
    // The struct-level (schema) check belongs to the whole object: `*`.
    assert_eq!(
        get(data, "*"),
        &V::Array(vec![err_obj(
            "too_many_items",
            "at most 3 items per order",
            &[]
        )])
    );
    // The handler never ran, and the connection goes on.
    assert!(log.events().is_empty(), "{:?}", log.events());
    let good = order("bob", "x", vec![], 2);
    assert_eq!(call(&mut ws, 2, "place", mpv(&good)).await.kind, MESSAGE);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn only_the_struct_level_check_failing_reports_star_alone() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let items = (1..=4).map(item).collect();
    let r = call(&mut ws, 1, "place", mpv(&order("ann", "x", items, 2))).await;
    assert_eq!(r.error_code(), 422);
    assert_eq!(keys(get(&r.data, "data")), ["*"]);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_sequence_request_reports_paths_from_the_index() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let items: Vec<Item> = [1, 0, 3, 100].into_iter().map(item).collect();
    let r = call(&mut ws, 1, "place_many", mpv(&items)).await;
    assert_eq!(r.error_code(), 422);
    assert_eq!(keys(get(&r.data, "data")), ["[1].qty", "[3].qty"]);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_payload_of_the_wrong_shape_is_400_not_422() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let r = call(&mut ws, 1, "place", mmap(&[("name", V::from(1))])).await;
    assert_eq!(r.error_code(), 400);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_type_without_validate_is_not_validated() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    let r = call(&mut ws, 1, "unchecked", mmap(&[("name", V::from(""))])).await;
    assert_eq!((r.kind, r.data), (MESSAGE, V::from("got \"\"")));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn every_streaming_item_is_validated_and_a_bad_one_ends_the_call() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &item(1), "total")).await;
    send_bytes(&mut ws, request(1, &item(2), "total")).await;
    log.wait_for("item 2").await;
    send_bytes(&mut ws, request(1, &item(0), "total")).await;
    send_bytes(&mut ws, request(1, &item(3), "total")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!((r.seq, r.error_code()), (1, 422));
    assert_eq!(r.error_message(), "Validation Error");
    assert_eq!(keys(get(&r.data, "data")), ["qty"]);
    let events = log.wait_for("dropped").await;
    assert_eq!(events, ["item 1", "item 2", "dropped"]);
    // Nothing more for this call, even after the client's END_OF_STREAM.
    send_bytes(&mut ws, control(1, "total", END_OF_STREAM)).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    assert_eq!(log.events(), ["item 1", "item 2", "dropped"]);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_opening_item_fails_a_client_stream_at_once() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &item(100), "total")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!(r.error_code(), 422);
    let events = log.wait_for("dropped").await;
    assert!(!events.iter().any(|e| e.starts_with("item")), "{events:?}");
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_item_ends_a_bidi_call_after_the_good_ones_were_answered() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &item(5), "echo_items")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(5));
    send_bytes(&mut ws, request(1, &item(-1), "echo_items")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!(r.error_code(), 422);
    log.wait_for("dropped").await;
    send_bytes(&mut ws, request(1, &item(6), "echo_items")).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn the_rust_client_reads_a_422_as_typed_field_errors() {
    let log = Log::new();
    let server = spawn(app(&log)).await;
    let client = swill::client::Client::connect(server.url())
        .with_timeout()
        .await
        .unwrap();
    let bad = order("", "", vec![item(1), item(100)], 3);
    let err = client
        .call::<String>("place", &bad)
        .with_timeout()
        .await
        .unwrap_err();
    let fields = err
        .rpc()
        .and_then(Error::field_errors)
        .expect("typed field errors");
    assert_eq!(
        fields.paths().collect::<Vec<_>>(),
        ["address.street", "code", "items[1].qty", "name"]
    );
    assert_eq!(
        fields.get("address.street")[0].message(),
        "street is required"
    );
    let qty = &fields.get("items[1].qty")[0];
    assert_eq!(qty.code(), "range");
    assert_eq!(qty.param("max"), Some(&V::from(99)));
    assert_eq!(fields.get("name")[0].param("min"), Some(&V::from(1)));
    assert_eq!(fields.get("code")[0].code(), "even");
    // The same typed errors a server builds from validator's.
    let direct = swill::validate::field_errors(&bad.validate().unwrap_err());
    assert_eq!(fields, direct);
    drop(client);
    server.stop().await;
}
