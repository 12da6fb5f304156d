//! Topic history and resumable subscriptions over real sockets, in-process backend: the
//! leading position, exact replay of what a reconnecting client missed, `recovered: false`
//! without any partial replay, and the resubscribe race forced open with a gate.
mod common;

use std::sync::Arc;

use common::*;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use swill::client::{Client, ResponseStream};
use swill::pubsub::{
    Backend, Fanout, History, HistoryRead, Memory, Message, Position, PubSub, PubSubError, Since,
    Subscription,
};
use swill::{Connection, Error, Metadata, Request, Response, State, Swill, Value};
use tokio::sync::{mpsc, Semaphore};

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

/// `h.*` topics keep 1,000 messages, `small.*` only 5.
fn history(topic: &str) -> Option<History> {
    if topic.starts_with("h.") {
        Some(History::new(1000))
    } else if topic.starts_with("small.") {
        Some(History::new(5))
    } else {
        None
    }
}

fn app(pubsub: PubSub) -> Swill {
    Swill::new()
        .with_state(pubsub)
        .handler(subscribe)
        .handler(publish)
}

async fn publish_n(c: &Client, topic: &str, range: std::ops::Range<u64>) {
    for i in range {
        let ok: bool = c.call("publish", &(topic, i)).with_timeout().await.unwrap();
        assert!(ok);
    }
}

/// Opens `subscribe` for `topic`, resuming after `since`; returns the stream and its
/// leading metadata.
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
async fn a_history_subscription_reports_its_start_and_numbers_by_order() {
    let server = spawn(app(PubSub::builder().history(history).build())).await;
    let c = Client::connect(server.url()).with_timeout().await.unwrap();
    publish_n(&c, "h.a", 0..3).await;
    let (mut s, md) = open(&c, "h.a", None).await;
    assert_eq!(md.get_str("subscribed"), Some("h.a"));
    assert_eq!(position(&md).offset(), 3);
    assert_eq!(recovered(&md), None);
    publish_n(&c, "h.a", 3..6).await;
    assert_eq!(take(&mut s, 3).await, [3, 4, 5]);

    // A fresh topic starts at 0; a topic without history has no position.
    let (_s, md) = open(&c, "h.fresh", None).await;
    assert_eq!(position(&md).offset(), 0);
    let (_p, md) = open(&c, "plain", None).await;
    assert_eq!(md.get("epoch"), None);
    assert_eq!(md.get("offset"), None);
    drop((s, _s, _p, c));
    server.stop().await;
}

#[tokio::test]
async fn a_reconnecting_subscriber_gets_exactly_what_it_missed_then_live_messages() {
    let server = spawn(app(PubSub::builder().history(history).build())).await;
    let publisher = Client::connect(server.url()).with_timeout().await.unwrap();
    let first = Client::connect(server.url()).with_timeout().await.unwrap();
    let (mut s, md) = open(&first, "h.room", None).await;
    let start = position(&md);
    publish_n(&publisher, "h.room", 0..4).await;
    assert_eq!(take(&mut s, 4).await, [0, 1, 2, 3]);
    let last = Position::new(start.epoch(), start.offset() + 4);

    // The connection goes away; messages keep coming.
    drop(s);
    drop(first);
    publish_n(&publisher, "h.room", 4..10).await;

    let second = Client::connect(server.url()).with_timeout().await.unwrap();
    let (mut s, md) = open(&second, "h.room", Some(&last)).await;
    assert_eq!(recovered(&md), Some(true));
    assert_eq!(
        position(&md),
        last,
        "the stream goes on right after `since`"
    );
    assert_eq!(take(&mut s, 6).await, [4, 5, 6, 7, 8, 9]);
    publish_n(&publisher, "h.room", 10..12).await;
    assert_eq!(take(&mut s, 2).await, [10, 11]);

    // Nothing missed: recovered, nothing replayed.
    let (mut s2, md) = open(&second, "h.room", Some(&Position::new(last.epoch(), 12))).await;
    assert_eq!(recovered(&md), Some(true));
    publish_n(&publisher, "h.room", 12..13).await;
    assert_eq!(take(&mut s2, 1).await, [12]);
    drop((s, s2, second, publisher));
    server.stop().await;
}

#[tokio::test]
async fn recovery_is_refused_without_partial_replay() {
    let pubsub = PubSub::builder().history(history).max_recovery(10).build();
    let server = spawn(app(pubsub)).await;
    let c = Client::connect(server.url()).with_timeout().await.unwrap();
    let (first, md) = open(&c, "small.x", None).await;
    let epoch = position(&md).epoch().to_owned();
    publish_n(&c, "small.x", 0..8).await;

    // Offsets 1..=3 are trimmed (5 kept): resuming after 2 would need them.
    let (mut trimmed, md) = open(&c, "small.x", Some(&Position::new(&*epoch, 2))).await;
    assert_eq!(recovered(&md), Some(false));
    assert_eq!(
        position(&md),
        Position::new(&*epoch, 8),
        "the current position"
    );
    publish_n(&c, "small.x", 100..101).await;
    assert_eq!(
        take(&mut trimmed, 1).await,
        [100],
        "only live messages, no replay"
    );

    // Another epoch (the history was lost).
    let (mut other, md) = open(&c, "small.x", Some(&Position::new("gone", 8))).await;
    assert_eq!(recovered(&md), Some(false));
    assert_eq!(position(&md).epoch(), epoch);
    publish_n(&c, "small.x", 101..102).await;
    assert_eq!(take(&mut other, 1).await, [101]);

    // More missed than max_recovery.
    publish_n(&c, "h.many", 0..20).await;
    let (a, md) = open(&c, "h.many", None).await;
    let top = position(&md);
    let (b, md) = open(&c, "h.many", Some(&Position::new(top.epoch(), 5))).await;
    assert_eq!(recovered(&md), Some(false));
    let (mut s, md) = open(&c, "h.many", Some(&Position::new(top.epoch(), 10))).await;
    assert_eq!(recovered(&md), Some(true));
    assert_eq!(take(&mut s, 10).await, (10..20).collect::<Vec<_>>());
    drop((first, trimmed, other, a, b, s, c));
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_since_is_a_bad_request() {
    let server = spawn(app(PubSub::builder().history(history).build())).await;
    let c = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = c
        .rpc("subscribe")
        .metadata(Metadata::new().with("since", "yesterday"))
        .stream::<Value>(&"h.x")
        .unwrap();
    let err = s.next().with_timeout().await.unwrap().unwrap_err();
    let rpc = err.rpc().expect("an rpc error");
    assert_eq!(rpc.code().as_i64(), 400);
    assert!(rpc.message().contains("since"), "{}", rpc.message());
    drop((s, c));
    server.stop().await;
}

/// The in-process backend, with a gate in front of every history read: the test learns
/// when a subscriber is live but has not read the history yet, and lets it go on.
#[derive(Debug)]
struct GatedReads {
    inner: Memory,
    reached: mpsc::UnboundedSender<()>,
    gate: Arc<Semaphore>,
}

impl Backend for GatedReads {
    fn publish(&self, message: Message) -> BoxFuture<'static, Result<(), PubSubError>> {
        self.inner.publish(message)
    }

    fn subscribe(&self, topic: Arc<str>) -> BoxFuture<'static, Result<(), PubSubError>> {
        self.inner.subscribe(topic)
    }

    fn unsubscribe(&self, topic: Arc<str>) {
        self.inner.unsubscribe(topic);
    }

    fn publish_with_history(
        &self,
        message: Message,
        history: History,
    ) -> BoxFuture<'static, Result<Position, PubSubError>> {
        self.inner.publish_with_history(message, history)
    }

    fn history(
        &self,
        topic: Arc<str>,
        history: History,
        since: Option<Position>,
        limit: usize,
    ) -> BoxFuture<'static, Result<HistoryRead, PubSubError>> {
        let _ = self.reached.send(());
        let gate = self.gate.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            gate.acquire()
                .await
                .map_err(|_| PubSubError::Unavailable("the test's gate closed".into()))?
                .forget();
            inner.history(topic, history, since, limit).await
        })
    }
}

#[tokio::test]
async fn messages_published_during_the_resubscribe_window_are_neither_lost_nor_doubled() {
    let (reached_tx, mut reached) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let pubsub = PubSub::builder()
        .history(history)
        .backend(move |fanout: Fanout| GatedReads {
            inner: Memory::new(fanout),
            reached: reached_tx,
            gate: g,
        });
    let server = spawn(app(pubsub.clone())).await;
    let publisher = Client::connect(server.url()).with_timeout().await.unwrap();

    // A first subscriber, to learn a position.
    let c = Client::connect(server.url()).with_timeout().await.unwrap();
    let s = c.rpc("subscribe").stream::<Value>(&"h.race").unwrap();
    reached.recv().with_timeout().await.unwrap();
    gate.add_permits(1);
    let mut s = s;
    let md = s.opened().with_timeout().await.unwrap().cloned().unwrap();
    let start = position(&md);
    publish_n(&publisher, "h.race", 0..3).await;
    assert_eq!(take(&mut s, 3).await, [0, 1, 2]);
    let last = Position::new(start.epoch(), start.offset() + 3);
    drop(s);
    drop(c);
    publish_n(&publisher, "h.race", 3..6).await;

    // The resume is live but waits before its history read: publish into that window.
    let c = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = c
        .rpc("subscribe")
        .metadata(Metadata::new().with("since", &last))
        .stream::<Value>(&"h.race")
        .unwrap();
    reached.recv().with_timeout().await.unwrap();
    publish_n(&publisher, "h.race", 6..9).await;
    gate.add_permits(1);
    let md = s.opened().with_timeout().await.unwrap().cloned().unwrap();
    assert_eq!(recovered(&md), Some(true));
    // 3..6 from the history; 6..9 both from the history and live: each once.
    assert_eq!(take(&mut s, 6).await, [3, 4, 5, 6, 7, 8]);
    publish_n(&publisher, "h.race", 9..10).await;
    assert_eq!(take(&mut s, 1).await, [9]);

    // A fresh subscription in the same window: the messages published in it are at or
    // before its start and not delivered; everything after is.
    let mut fresh = c.rpc("subscribe").stream::<Value>(&"h.race").unwrap();
    reached.recv().with_timeout().await.unwrap();
    publish_n(&publisher, "h.race", 10..12).await;
    gate.add_permits(1);
    let md = fresh
        .opened()
        .with_timeout()
        .await
        .unwrap()
        .cloned()
        .unwrap();
    assert_eq!(position(&md).offset(), start.offset() + 12);
    publish_n(&publisher, "h.race", 12..14).await;
    assert_eq!(take(&mut fresh, 2).await, [12, 13]);
    assert_eq!(take(&mut s, 4).await, [10, 11, 12, 13]);
    drop((s, fresh, c, publisher));
    server.stop().await;
}

#[tokio::test]
async fn server_code_resumes_and_sees_positions() {
    let pubsub = PubSub::builder().history(history).build();
    for i in 0..3u32 {
        pubsub.publish("h.server", &i).await.unwrap();
    }
    let p = pubsub
        .publish_positioned(Message::encode("h.server", &3u32).unwrap())
        .await
        .unwrap();
    assert_eq!(p.offset(), 4);
    assert!(pubsub
        .publish_positioned(Message::encode("plain", &0u32).unwrap())
        .await
        .is_err());
    let mut sub: Subscription<u32> = pubsub
        .resume("h.server", Some(Position::new(p.epoch(), 2)))
        .await
        .unwrap();
    assert_eq!(sub.recovered(), Some(true));
    assert_eq!(sub.start(), Some(&Position::new(p.epoch(), 2)));
    let mut got = Vec::new();
    for _ in 0..2 {
        match sub.recv().with_timeout().await {
            Some(swill::pubsub::Recv::Message(m)) => {
                got.push((m.position().unwrap().offset(), m.decode::<u32>().unwrap()));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, [(3, 2), (4, 3)]);
    assert_eq!(sub.position().map(Position::offset), Some(4));
    let read = pubsub
        .read_history("h.server", Some(Position::new(p.epoch(), 3)))
        .await
        .unwrap();
    assert_eq!(read.top.offset(), 4);
    assert_eq!(read.missed.map(|m| m.len()), Some(1));
}

#[tokio::test]
async fn a_lagging_history_subscriber_ends_even_under_drop_oldest() {
    let pubsub = PubSub::builder()
        .history(history)
        .queue_capacity(2)
        .lag_policy(swill::pubsub::LagPolicy::DropOldest)
        .build();
    let mut sub: Subscription<u32> = pubsub.resume("h.lag", None).await.unwrap();
    let mut plain: Subscription<u32> = pubsub.subscribe("plain.lag").await.unwrap();
    for i in 0..5u32 {
        pubsub.publish("h.lag", &i).await.unwrap();
        pubsub.publish("plain.lag", &i).await.unwrap();
    }
    // The history topic: what fit, then the end with an ERROR saying it lagged.
    assert_eq!(sub.next().with_timeout().await.unwrap().unwrap(), 0);
    assert_eq!(sub.next().with_timeout().await.unwrap().unwrap(), 1);
    let err = sub.next().with_timeout().await.unwrap().unwrap_err();
    assert_eq!(err.code().as_i64(), 503);
    assert!(err.message().contains("lagged"), "{}", err.message());
    assert!(sub.next().with_timeout().await.is_none());
    // The plain topic drops the oldest and goes on.
    assert_eq!(plain.next().with_timeout().await.unwrap().unwrap(), 3);
    assert_eq!(plain.dropped(), 3);
}
