//! Call shapes chosen by trait resolution (not by type names), over a real socket: a `Result`
//! alias, an `http::Request` argument, `BoxStream`, `Pin<Box<dyn Stream>>`, a named stream
//! type, a stream of plain items, a plain blocking fn; and what the per-call path reports:
//! the engine's exact ERROR reaches `after_request`, debug mode names a missing extension.
mod common;

use std::pin::Pin;
use std::task::{Context, Poll};

use common::*;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use swill::client::Client;
use swill::hooks::Outcome;
use swill::{Config, Error, Extension, Hooks, Request, Streaming, Swill};
use tokio::sync::mpsc;

type ApiResult<T> = Result<T, Error>;

#[swill::handler]
async fn alias(req: Request<i64>) -> ApiResult<i64> {
    Ok(*req.data() * 2)
}

#[swill::handler]
async fn upgrade_path(http: swill::http::Request<()>, req: Request<u32>) -> Result<String, Error> {
    Ok(format!("{} {}", http.uri().path(), req.data()))
}

#[swill::handler]
async fn boxed(req: Request<u32>) -> BoxStream<'static, Result<u32, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok)).boxed()
}

#[swill::handler]
async fn pinned(req: Request<u32>) -> Pin<Box<dyn Stream<Item = Result<u32, Error>> + Send>> {
    Box::pin(futures::stream::iter((0..*req.data()).map(Ok)))
}

/// Counts down from n to 1, then fails if n was 13.
struct Countdown {
    n: u32,
    unlucky: bool,
}

impl Stream for Countdown {
    type Item = Result<u32, Error>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let n = self.n;
        if n == 0 {
            let unlucky = std::mem::take(&mut self.unlucky);
            return Poll::Ready(unlucky.then(|| Err(Error::new(418, "unlucky"))));
        }
        self.n = n - 1;
        Poll::Ready(Some(Ok(n)))
    }
}

#[swill::handler]
async fn countdown(req: Request<u32>) -> Countdown {
    let n = *req.data();
    Countdown {
        n,
        unlucky: n == 13,
    }
}

#[swill::handler]
async fn plain_items(req: Request<u32>) -> impl Stream<Item = u32> {
    futures::stream::iter(0..*req.data())
}

#[swill::handler]
fn blocking_plain(req: Request<u64>) -> u64 {
    *req.data() + 1
}

#[swill::handler]
async fn sum(mut items: Streaming<i64>) -> Result<i64, Error> {
    let mut total = 0;
    while let Some(x) = items.next().await {
        total += x;
    }
    Ok(total)
}

#[derive(Clone)]
struct User(#[allow(dead_code)] String);

#[swill::handler]
async fn whoami(Extension(_user): Extension<User>) -> Result<(), Error> {
    Ok(())
}

fn app() -> Swill {
    Swill::new()
        .handler(alias)
        .handler(upgrade_path)
        .handler(boxed)
        .handler(pinned)
        .handler(countdown)
        .handler(plain_items)
        .handler(blocking_plain)
        .handler(sum)
        .handler(whoami)
}

async fn collect<T: serde::de::DeserializeOwned>(client: &Client, rpc: &str, n: u32) -> Vec<T> {
    client
        .stream::<T>(rpc, &n)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
        .await
}

#[tokio::test]
async fn shapes_come_from_the_types_not_their_names() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).await.unwrap();

    assert_eq!(client.call::<i64>("alias", &21).await.unwrap(), 42);
    assert_eq!(
        client.call::<String>("upgrade_path", &7).await.unwrap(),
        "/ws 7"
    );
    assert_eq!(collect::<u32>(&client, "boxed", 3).await, [0, 1, 2]);
    assert_eq!(collect::<u32>(&client, "pinned", 2).await, [0, 1]);
    assert_eq!(collect::<u32>(&client, "countdown", 3).await, [3, 2, 1]);
    assert_eq!(
        collect::<u32>(&client, "plain_items", 4).await,
        [0, 1, 2, 3]
    );
    assert_eq!(client.call::<u64>("blocking_plain", &41).await.unwrap(), 42);

    // A named stream type that fails mid-way ends with that ERROR after its items.
    let got: Vec<Result<u32, swill::client::ClientError>> = client
        .stream::<u32>("countdown", &13)
        .unwrap()
        .collect()
        .await;
    assert_eq!(got.len(), 14);
    let Err(swill::client::ClientError::Rpc(err)) = &got[13] else {
        panic!("expected the stream's ERROR, got {:?}", got[13]);
    };
    assert_eq!((err.code().as_i64(), err.message()), (418, "unlucky"));
    server.stop().await;
}

#[tokio::test]
async fn the_shape_registered_matches_the_signature() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).await.unwrap();
    let items: Vec<rmpv::Value> = client
        .stream::<rmpv::Value>("swill.introspect", &())
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
        .await;
    let shape = |name: &str| {
        let item = items
            .iter()
            .find(|i| get(i, "name").as_str() == Some(name))
            .unwrap_or_else(|| panic!("{name} is described"));
        let streams = |side: &str| get(get(item, side), "streams").as_bool().unwrap();
        (streams("request"), streams("response"))
    };
    assert_eq!(shape("alias"), (false, false));
    assert_eq!(shape("upgrade_path"), (false, false));
    assert_eq!(shape("boxed"), (false, true));
    assert_eq!(shape("pinned"), (false, true));
    assert_eq!(shape("countdown"), (false, true));
    assert_eq!(shape("plain_items"), (false, true));
    assert_eq!(shape("blocking_plain"), (false, false));
    assert_eq!(shape("sum"), (true, false));
    server.stop().await;
}

#[tokio::test]
async fn after_request_sees_the_error_the_engine_sent() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = app().hooks(Hooks::new().after_request(move |ctx, outcome| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((ctx.seq(), outcome));
        }
    }));
    let server = spawn(app).await;
    let mut ws = raw_ws(&server.url(), "swill.v1").await;
    // A METADATA frame opens the streaming request; a second one is a protocol error the
    // engine answers itself (400) and the call ends with exactly that error.
    send_bytes(&mut ws, control(5, "sum", 2)).await;
    send_bytes(&mut ws, control(5, "sum", 2)).await;
    expect_error(&mut ws, 5, 400, swill::protocol::SECOND_METADATA_MESSAGE).await;
    let (seq, outcome) = rx.recv().await.unwrap();
    assert_eq!(seq, 5);
    match outcome {
        Outcome::Error(e) => {
            assert_eq!(e.code().as_i64(), 400);
            assert_eq!(e.message(), swill::protocol::SECOND_METADATA_MESSAGE);
        }
        other => panic!("expected the engine's error, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn debug_mode_names_a_missing_extension_in_the_500() {
    for debug in [false, true] {
        let server = spawn(app().config(Config::new().debug(debug))).await;
        let client = Client::connect(server.url()).await.unwrap();
        let err = client.call::<()>("whoami", &()).await.unwrap_err();
        let swill::client::ClientError::Rpc(err) = err else {
            panic!("expected an ERROR frame, got {err}");
        };
        assert_eq!(err.code().as_i64(), 500);
        if debug {
            let reason: serde_json::Value = err.data_as().unwrap();
            let reason = reason["reason"].as_str().unwrap();
            assert!(reason.contains("User"), "{reason}");
        } else {
            assert!(err.data().is_none(), "no detail outside debug mode");
        }
        server.stop().await;
    }
}
