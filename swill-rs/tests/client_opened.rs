//! The Rust client's `ResponseStream::opened`: an awaitable "the stream is open" that reads
//! the server's first frame without consuming an item, over a real socket. With it, a
//! subscriber knows its subscription exists before anyone publishes (no readiness race).
mod common;

use std::sync::Arc;

use common::*;
use futures::{Stream, StreamExt};
use swill::client::{Client, ClientError};
use swill::pubsub::{PubSub, Subscription};
use swill::{Connection, Error, Metadata, Request, Response, State, Swill};
use tokio::sync::Notify;

/// Says it is open at once, then yields one item once the gate opens.
#[swill::handler]
async fn gated(
    State(gate): State<Arc<Notify>>,
    res: Response,
) -> impl Stream<Item = Result<u32, Error>> {
    res.set_leading(Metadata::new().with("ready", true));
    res.send_leading();
    futures::stream::once(async move {
        gate.notified().await;
        Ok(7)
    })
}

#[swill::handler]
async fn release(State(gate): State<Arc<Notify>>) -> Result<(), Error> {
    gate.notify_one();
    Ok(())
}

/// No leading metadata: the first item is the first frame.
#[swill::handler]
async fn items(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok))
}

/// Fails before its first item.
#[swill::handler]
async fn refused() -> Result<futures::stream::Empty<Result<u32, Error>>, Error> {
    Err(Error::new(418, "no"))
}

#[swill::handler]
async fn subscribe(
    req: Request<String>,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<u64, Error>> {
    let sub = pubsub.subscribe_from(&conn, req.into_data()).await;
    Subscription::or_failed(sub).announce(&res)
}

#[swill::handler]
async fn publish(
    req: Request<(String, u64)>,
    conn: Connection,
    State(pubsub): State<PubSub>,
) -> Result<bool, Error> {
    let (topic, n) = req.into_data();
    pubsub.publish_from(&conn, topic, &n)?.await?;
    Ok(true)
}

fn app() -> Swill {
    Swill::new()
        .with_state(Arc::new(Notify::new()))
        .with_state(PubSub::new())
        .handler(gated)
        .handler(release)
        .handler(items)
        .handler(refused)
        .handler(subscribe)
        .handler(publish)
}

#[tokio::test]
async fn opened_returns_the_eager_leading_metadata_before_any_item() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = client.stream::<u32>("gated", &()).unwrap();
    // The item is held back by the gate: opened() returns on the METADATA frame alone.
    let md = s.opened().with_timeout().await.unwrap().cloned();
    assert_eq!(md, Some(Metadata::new().with("ready", true)));
    client
        .call::<()>("release", &())
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 7);
    assert!(s.next().with_timeout().await.is_none());
    drop((s, client));
    server.stop().await;
}

#[tokio::test]
async fn opened_on_a_first_item_keeps_the_item() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = client.stream::<u32>("items", &3).unwrap();
    assert_eq!(s.opened().with_timeout().await.unwrap(), None);
    let got: Vec<u32> = s.map(|r| r.unwrap()).collect().with_timeout().await;
    assert_eq!(got, [0, 1, 2], "opened() consumed nothing");
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn opened_reports_an_error_first_frame_and_the_stream_still_yields_it() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = client.stream::<u32>("refused", &()).unwrap();
    let Err(ClientError::Rpc(e)) = s.opened().with_timeout().await else {
        panic!("expected the call's ERROR");
    };
    assert_eq!(e.code().as_i64(), 418);
    let Some(Err(ClientError::Rpc(again))) = s.next().with_timeout().await else {
        panic!("the stream yields the ERROR too");
    };
    assert_eq!(again, e);
    drop((s, client));
    server.stop().await;
}

/// The readiness race of issue #12: publish right after subscribing, from another
/// connection. Awaiting `opened()` first, no message is ever missed.
#[tokio::test]
async fn a_subscriber_that_awaited_opened_misses_no_publish() {
    let server = spawn(app()).await;
    let subscriber = Client::connect(server.url()).with_timeout().await.unwrap();
    let publisher = Client::connect(server.url()).with_timeout().await.unwrap();
    for round in 0..50u64 {
        let topic = format!("t{round}");
        let mut s = subscriber.stream::<u64>("subscribe", &topic).unwrap();
        let md = s.opened().with_timeout().await.unwrap().cloned();
        assert_eq!(md, Some(Metadata::new().with("subscribed", topic.as_str())));
        let published: bool = publisher
            .call("publish", &(topic.as_str(), round))
            .with_timeout()
            .await
            .unwrap();
        assert!(published);
        assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), round);
    }
    drop((subscriber, publisher));
    server.stop().await;
}
