//! Topic history in Redis (Streams + one Lua script per publish) against a real
//! `redis-server`: a subscriber that reconnects to the *other* instance gets exactly what it
//! missed; publishers on two instances never share a position; a flush changes the epoch and
//! trimming refuses recovery, with no partial replay.
#![cfg(feature = "redis")]
mod common;

use common::*;
use futures::{Stream, StreamExt};
use swill::client::{Client, ResponseStream};
use swill::pubsub::{History, Position, PubSub, Since, Subscription};
use swill::{Connection, Error, Metadata, Request, Response, State, Swill, Value};

#[swill::handler]
async fn subscribe(
    req: Request<String>,
    Since(since): Since,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<Value, Error>> {
    let sub = pubsub.resume_from(&conn, req.into_data(), since).await;
    Subscription::or_failed(sub).announce(&res)
}

/// `[topic, message]` → true once published.
#[swill::handler]
async fn publish(
    req: Request<(String, Value)>,
    conn: Connection,
    State(pubsub): State<PubSub>,
) -> Result<bool, Error> {
    let (topic, message) = req.into_data();
    pubsub.publish_from(&conn, topic, &message)?.await?;
    Ok(true)
}

fn history(topic: &str) -> Option<History> {
    if topic.starts_with("h.") {
        Some(History::new(1000))
    } else if topic.starts_with("small.") {
        Some(History::new(5))
    } else {
        None
    }
}

async fn instance(url: &str) -> TestServer {
    let pubsub = PubSub::builder()
        .history(history)
        .redis(url)
        .with_timeout()
        .await
        .unwrap();
    spawn(
        Swill::new()
            .with_state(pubsub)
            .handler(subscribe)
            .handler(publish),
    )
    .await
}

async fn publish_n(c: &Client, topic: &str, range: std::ops::Range<u64>) {
    for i in range {
        let ok: bool = c.call("publish", &(topic, i)).with_timeout().await.unwrap();
        assert!(ok);
    }
}

async fn open(
    c: &Client,
    topic: &str,
    since: Option<&Position>,
) -> (ResponseStream<Value>, Metadata) {
    let mut b = c.rpc("subscribe");
    if let Some(p) = since {
        b = b.metadata(Metadata::new().with("since", p));
    }
    let mut s = b.stream::<Value>(&topic).unwrap();
    let md = s
        .opened()
        .with_timeout()
        .await
        .unwrap()
        .cloned()
        .expect("leading metadata");
    (s, md)
}

fn position(md: &Metadata) -> Position {
    Position::new(
        md.get_str("epoch").expect("epoch"),
        md.get("offset").and_then(|v| v.as_u64()).expect("offset"),
    )
}

fn recovered(md: &Metadata) -> Option<bool> {
    md.get("recovered").and_then(|v| v.as_bool())
}

async fn take(s: &mut ResponseStream<Value>, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..n {
        let v = s
            .next()
            .with_timeout()
            .await
            .expect("stream ended")
            .expect("an error");
        out.push(v.0.as_u64().expect("a number"));
    }
    out
}

#[tokio::test]
async fn a_subscriber_resumes_on_the_other_instance_with_exactly_what_it_missed() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let a = instance(&redis.url()).await;
    let b = instance(&redis.url()).await;
    let on_a = Client::connect(a.url()).with_timeout().await.unwrap();
    let on_b = Client::connect(b.url()).with_timeout().await.unwrap();

    let (mut s, md) = open(&on_a, "h.room", None).await;
    let start = position(&md);
    assert_eq!(start.offset(), 0);
    // Publishers on both instances: one numbering.
    publish_n(&on_a, "h.room", 0..2).await;
    publish_n(&on_b, "h.room", 2..4).await;
    assert_eq!(take(&mut s, 4).await, [0, 1, 2, 3]);
    let last = Position::new(start.epoch(), 4);

    // The subscriber's connection to A goes away; messages keep coming from both.
    drop(s);
    drop(on_a);
    let on_a = Client::connect(a.url()).with_timeout().await.unwrap();
    publish_n(&on_a, "h.room", 4..7).await;
    publish_n(&on_b, "h.room", 7..9).await;

    // It comes back on B.
    let back = Client::connect(b.url()).with_timeout().await.unwrap();
    let (mut s, md) = open(&back, "h.room", Some(&last)).await;
    assert_eq!(recovered(&md), Some(true));
    assert_eq!(position(&md), last);
    assert_eq!(take(&mut s, 5).await, [4, 5, 6, 7, 8]);
    publish_n(&on_a, "h.room", 9..11).await;
    assert_eq!(take(&mut s, 2).await, [9, 10]);

    // The stream and the history agree on the numbering.
    let (_check, md) = open(&on_a, "h.room", None).await;
    assert_eq!(position(&md).offset(), 11);
    drop((s, _check, back, on_a, on_b));
    a.stop().await;
    b.stop().await;
    redis.kill().await;
}

#[tokio::test]
async fn a_flush_changes_the_epoch_and_trimming_refuses_recovery() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let a = instance(&redis.url()).await;
    let c = Client::connect(a.url()).with_timeout().await.unwrap();

    // Trimmed: small.* keeps 5 of 8.
    let (first, md) = open(&c, "small.t", None).await;
    let epoch = position(&md).epoch().to_owned();
    publish_n(&c, "small.t", 0..8).await;
    let (mut s, md) = open(&c, "small.t", Some(&Position::new(&*epoch, 2))).await;
    assert_eq!(recovered(&md), Some(false));
    assert_eq!(position(&md), Position::new(&*epoch, 8));
    let (mut ok, md) = open(&c, "small.t", Some(&Position::new(&*epoch, 3))).await;
    assert_eq!(recovered(&md), Some(true));
    assert_eq!(take(&mut ok, 5).await, [3, 4, 5, 6, 7]);
    publish_n(&c, "small.t", 8..9).await;
    assert_eq!(take(&mut s, 1).await, [8], "live only, nothing replayed");
    drop((first, s, ok));

    // Redis loses everything: the numbering restarts in a new epoch.
    publish_n(&c, "h.f", 0..3).await;
    let (_s, md) = open(&c, "h.f", None).await;
    let before = position(&md);
    assert_eq!(before.offset(), 3);
    drop(_s);
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut redis.conn().await)
        .with_timeout()
        .await
        .unwrap();
    let (mut s, md) = open(&c, "h.f", Some(&before)).await;
    assert_eq!(recovered(&md), Some(false));
    let after = position(&md);
    assert_ne!(after.epoch(), before.epoch());
    assert_eq!(after.offset(), 0);
    publish_n(&c, "h.f", 3..4).await;
    assert_eq!(take(&mut s, 1).await, [3]);
    drop((s, c));
    a.stop().await;
    redis.kill().await;
}

/// Publishes to a topic with history made together, without waiting for each other, get
/// consecutive positions in the order they were made, also right after Redis forgot the
/// publish script (`SCRIPT FLUSH`: the publisher loads it again and resends, in order).
#[tokio::test]
async fn publishes_in_flight_together_are_numbered_in_order_even_after_a_script_flush() {
    const N: u64 = 300;
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let ps = PubSub::builder()
        .history(history)
        .redis(&redis.url())
        .with_timeout()
        .await
        .unwrap();
    let mut sub = ps.subscribe::<u64>("h.order").with_timeout().await.unwrap();
    for round in 0..2u64 {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut redis.conn().await)
            .with_timeout()
            .await
            .unwrap();
        let publishes: Vec<_> = (round * N..(round + 1) * N)
            .map(|i| swill::pubsub::Message::encode("h.order", &i).unwrap())
            .map(|m| ps.publish_positioned(m))
            .collect();
        let positions = futures::future::join_all(publishes).with_timeout().await;
        let offsets: Vec<u64> = positions
            .iter()
            .map(|p| p.as_ref().unwrap().offset())
            .collect();
        let expected: Vec<u64> = (round * N + 1..=(round + 1) * N).collect();
        assert_eq!(offsets, expected, "round {round}");
    }
    for i in 0..2 * N {
        assert_eq!(sub.next().with_timeout().await.unwrap().unwrap(), i);
    }
    drop(sub);
    redis.kill().await;
}
