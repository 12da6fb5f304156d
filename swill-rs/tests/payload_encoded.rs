//! `swill::Encoded` over real sockets: a handler's pre-encoded results reach the client byte
//! for byte (single and streamed, non-shortest encodings kept), a nested `Encoded` is the value
//! it holds, output hooks see the same bytes, and `Subscription<Encoded>` forwards what was
//! published without decoding it (refusing bytes that are not one MessagePack value).
mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use futures::Stream;
use rmpv::Value as V;
use serde::Serialize;
use swill::protocol::decode_response;
use swill::pubsub::{Message, PubSub, Subscription};
use swill::{Connection, Encoded, Error, Hooks, Request, Response, State, Swill};
use tokio::sync::mpsc;

/// Encodings a serializer would never write (it picks the shortest form), so a frame that
/// carries them was not re-encoded.
const RAW: &[&[u8]] = &[
    // uint32 5
    b"\xce\x00\x00\x00\x05",
    // str8 "abc"
    b"\xd9\x03abc",
    // array16 [uint8 7, nil]
    b"\xdc\x00\x02\xcc\x07\xc0",
    // map16 {"k": float64 1.5}
    b"\xde\x00\x01\xa1k\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00",
    // bin8 of 32 bytes
    b"\xc4\x20abcdefghijklmnopqrstuvwxyz012345",
];

fn raw(i: usize) -> Encoded {
    Encoded::new(Bytes::from_static(RAW[i])).unwrap()
}

#[swill::handler]
async fn raw_stream() -> impl Stream<Item = Result<Encoded, Error>> {
    futures::stream::iter((0..RAW.len()).map(|i| Ok(raw(i))))
}

#[swill::handler]
async fn raw_single() -> Result<Encoded, Error> {
    Ok(raw(0))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Wrapper {
    inner: Encoded,
    list: Vec<Encoded>,
}

#[swill::handler]
async fn nested() -> Result<Wrapper, Error> {
    Ok(Wrapper {
        inner: raw(3),
        list: vec![raw(0), raw(2)],
    })
}

#[swill::handler]
async fn subscribe_raw(
    req: Request<String>,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<Encoded, Error>> {
    let sub = pubsub.subscribe_from(&conn, req.into_data()).await;
    Subscription::or_failed(sub).announce(&res)
}

/// The data element of a response frame, exactly as it was sent.
fn data_of(frame: &[u8], kind: swill::protocol::ResponseType) -> Vec<u8> {
    let env = decode_response(frame).unwrap();
    assert_eq!(env.kind, kind, "unexpected frame {env:?}");
    env.data.to_vec()
}

#[tokio::test]
async fn encoded_results_reach_the_client_byte_for_byte() {
    use swill::protocol::ResponseType as T;
    let server = spawn(Swill::new().handler(raw_stream).handler(raw_single)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "raw_stream")).await;
    for want in RAW {
        assert_eq!(data_of(&recv(&mut ws).await, T::Message), *want);
    }
    assert_eq!(recv_resp(&mut ws).await.kind, END_OF_STREAM);
    send_bytes(&mut ws, request(2, &(), "raw_single")).await;
    assert_eq!(data_of(&recv(&mut ws).await, T::Message), RAW[0]);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_nested_encoded_is_the_value_it_holds() {
    let server = spawn(Swill::new().handler(nested)).await;
    let mut ws = server.raw_ws().await;
    let resp = call(&mut ws, 1, "nested", V::Nil).await;
    assert_eq!(resp.kind, MESSAGE);
    let want = mmap(&[
        ("inner", value(RAW[3])),
        ("list", V::Array(vec![value(RAW[0]), value(RAW[2])])),
    ]);
    assert_eq!(resp.data, want);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn output_hooks_see_the_encoded_bytes() {
    use swill::protocol::ResponseType as T;
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let hooks = Hooks::new().before_response_message(move |_ctx, m| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(m.as_bytes().to_vec());
            Ok(())
        }
    });
    let server = spawn(Swill::new().handler(raw_stream).hooks(hooks)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "raw_stream")).await;
    for want in RAW {
        assert_eq!(rx.recv().with_timeout().await.unwrap(), *want);
        assert_eq!(data_of(&recv(&mut ws).await, T::Message), *want);
    }
    assert_eq!(recv_resp(&mut ws).await.kind, END_OF_STREAM);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn an_encoded_subscription_forwards_the_published_bytes() {
    use swill::protocol::ResponseType as T;
    let pubsub = PubSub::new();
    let app = Swill::new()
        .with_state(pubsub.clone())
        .handler(subscribe_raw);
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &"room", "subscribe_raw")).await;
    // The announcement: the subscription exists from here on.
    assert_eq!(recv_resp(&mut ws).await.kind, METADATA);
    let topic: Arc<str> = Arc::from("room");
    for want in RAW {
        let m = Message::new(topic.clone(), Bytes::from_static(want));
        pubsub.publish_message(m).with_timeout().await.unwrap();
        assert_eq!(data_of(&recv(&mut ws).await, T::Message), *want);
    }
    // Encoded by the publisher, as every subscriber of a `PubSub::publish` gets it.
    pubsub
        .publish("room", &("hi", 7u8))
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(data_of(&recv(&mut ws).await, T::Message), mp(&("hi", 7u8)));
    // Bytes that are not one value never reach the frame: the subscription ends with 500.
    let bad = Message::new(topic, Bytes::from_static(b"\x92\x01"));
    pubsub.publish_message(bad).with_timeout().await.unwrap();
    let resp = recv_resp(&mut ws).await;
    assert_eq!(resp.error_code(), 500);
    drop(ws);
    server.stop().await;
}
