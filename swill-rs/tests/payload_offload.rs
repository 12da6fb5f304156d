//! Large request payloads decode on the blocking pool (`Config::offload_decode_above`), so a
//! long decode does not hold up the other connections of its worker: shown on a
//! single-threaded runtime, where a decode on the worker would stop everything. Validation
//! and decode errors from the pool arrive as they do inline.
mod common;
use common::*;

use std::sync::Mutex;

use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use swill::client::Client;
use swill::{Config, Error, Request, Streaming, Swill};
use tokio::sync::oneshot;
use validator::Validate;

/// The gate the decode of [`Gated`] waits at: it reports that it started, then blocks its
/// thread until the test releases it.
struct Gate {
    started: Option<oneshot::Sender<()>>,
    release: std::sync::mpsc::Receiver<()>,
}

static GATE: Mutex<Option<Gate>> = Mutex::new(None);
/// The gate of the streaming-request test (tests run in parallel).
static ITEM_GATE: Mutex<Option<Gate>> = Mutex::new(None);

/// A payload whose decode blocks at [`GATE`] (when one is set).
#[derive(Debug, JsonSchema)]
struct Gated(Vec<u32>);

/// A request item whose decode, when it holds 50 numbers or more, blocks at [`ITEM_GATE`]
/// (when one is set).
#[derive(Debug, JsonSchema)]
struct GatedItem(Vec<u32>);

impl<'de> Deserialize<'de> for Gated {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<u32>::deserialize(d)?;
        wait_at(&GATE);
        Ok(Self(items))
    }
}

impl<'de> Deserialize<'de> for GatedItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<u32>::deserialize(d)?;
        // Only large items (decoded on the pool) wait; small ones decode inline.
        if items.len() >= 50 {
            wait_at(&ITEM_GATE);
        }
        Ok(Self(items))
    }
}

fn wait_at(gate: &Mutex<Option<Gate>>) {
    let gate = gate.lock().unwrap().take();
    {
        if let Some(mut gate) = gate {
            let _ = gate.started.take().map(|tx| tx.send(()));
            // Bounded, so that a decode on the worker (a regression) fails the test instead of
            // hanging it: the test's release then finds the gate gone.
            let _ = gate.release.recv_timeout(std::time::Duration::from_secs(5));
        }
    }
}

#[swill::handler]
async fn gated(req: Request<Gated>) -> usize {
    req.data().0.len()
}

#[swill::handler]
async fn gated_items(mut items: Streaming<GatedItem>) -> usize {
    let mut n = 0;
    while let Some(item) = items.next().await {
        n += item.0.len();
    }
    n
}

#[swill::handler]
async fn batches(mut items: Streaming<Batch>) -> usize {
    let mut n = 0;
    while let Some(b) = items.next().await {
        n += b.items.len();
    }
    n
}

#[swill::handler]
async fn ping() -> bool {
    true
}

#[derive(Debug, Deserialize, Serialize, JsonSchema, Validate)]
struct Batch {
    #[validate(length(max = 10))]
    items: Vec<u32>,
}

#[swill::handler]
async fn batch(req: Request<Batch>) -> Result<usize, Error> {
    Ok(req.data().items.len())
}

#[swill::handler]
fn batch_blocking(req: Request<Vec<u32>>) -> usize {
    req.data().len()
}

fn app() -> Swill {
    Swill::new()
        .config(Config::default().offload_decode_above(32))
        .handler(gated)
        .handler(gated_items)
        .handler(batches)
        .handler(ping)
        .handler(batch)
        .handler(batch_blocking)
}

#[tokio::test(flavor = "current_thread")]
async fn a_long_decode_does_not_hold_up_the_worker() {
    let (started_tx, started) = oneshot::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    *GATE.lock().unwrap() = Some(Gate {
        started: Some(started_tx),
        release: release_rx,
    });
    let server = spawn(app()).await;
    let a = Client::connect(server.url()).with_timeout().await.unwrap();
    let b = Client::connect(server.url()).with_timeout().await.unwrap();
    let items: Vec<u32> = (0..100).collect();
    let big = tokio::spawn({
        let a = a.clone();
        async move { a.call::<usize>("gated", &items).await }
    });
    // The decode is running, blocked at the gate, on some thread...
    started.with_timeout().await.unwrap();
    // ...not this runtime's only worker: another connection is still served.
    let pong: bool = b.call("ping", &()).with_timeout().await.unwrap();
    assert!(pong);
    release
        .send(())
        .expect("the decode gave up waiting: it ran on the worker, holding up the ping");
    assert_eq!(big.with_timeout().await.unwrap().unwrap(), 100);
    server.stop().await;
}

#[tokio::test]
async fn pooled_decodes_validate_and_fail_as_inline_ones() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let many: Vec<u32> = (0..50).collect();
    // Valid above the threshold: decoded on the pool, answered.
    let few = serde_json::json!({ "items": vec![1000u32; 10] });
    assert_eq!(
        client
            .call::<usize>("batch", &few)
            .with_timeout()
            .await
            .unwrap(),
        10
    );
    // Invalid: 422 naming the field, from the pool.
    let err = client
        .call::<usize>("batch", &serde_json::json!({ "items": many }))
        .with_timeout()
        .await
        .unwrap_err();
    let rpc = err.rpc().expect("an ERROR frame");
    assert_eq!(rpc.code().0, 422);
    assert!(!rpc.field_errors().unwrap().get("items").is_empty());
    // Undecodable: 400 with the decoder's message.
    let strings: Vec<String> = (0..20).map(|i| format!("item {i}")).collect();
    let err = client
        .call::<usize>("batch_blocking", &strings)
        .with_timeout()
        .await
        .unwrap_err();
    assert_eq!(err.rpc().map(|e| e.code().0), Some(400));
    // A blocking handler with a large payload: decoded on the pool, then run there.
    let n: usize = client
        .call("batch_blocking", &many)
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(n, 50);
    server.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_long_decode_of_a_request_item_does_not_hold_up_the_worker() {
    let (started_tx, started) = oneshot::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    *ITEM_GATE.lock().unwrap() = Some(Gate {
        started: Some(started_tx),
        release: release_rx,
    });
    let server = spawn(app()).await;
    let a = Client::connect(server.url()).with_timeout().await.unwrap();
    let b = Client::connect(server.url()).with_timeout().await.unwrap();
    let (mut tx, reply) = a.client_stream::<Vec<u32>, usize>("gated_items").unwrap();
    tx.send(&(0..10).collect()).unwrap(); // small: decoded inline
    tx.send(&(0..100).collect()).unwrap(); // large: on the pool, held at the gate
    tx.end().unwrap();
    started.with_timeout().await.unwrap();
    let pong: bool = b.call("ping", &()).with_timeout().await.unwrap();
    assert!(pong);
    release
        .send(())
        .expect("the item's decode gave up waiting: it ran on the worker");
    assert_eq!(reply.with_timeout().await.unwrap().data, 110);
    server.stop().await;
}

#[tokio::test]
async fn pooled_item_decodes_validate() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let (mut tx, reply) = client
        .client_stream::<serde_json::Value, usize>("batches")
        .unwrap();
    tx.send(&serde_json::json!({ "items": vec![1000u32; 10] }))
        .unwrap();
    tx.send(&serde_json::json!({ "items": vec![1000u32; 11] }))
        .unwrap();
    tx.end().unwrap();
    let err = reply.with_timeout().await.unwrap_err();
    let rpc = err.rpc().expect("an ERROR frame");
    assert_eq!(rpc.code().0, 422);
    assert!(!rpc.field_errors().unwrap().get("items").is_empty());
    server.stop().await;
}
