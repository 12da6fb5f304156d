//! Pub/sub over real sockets with the in-process backend: subscriptions as swill/1 streams
//! confirmed by leading metadata, fan-out to 1,000 subscribers in order, cancel =
//! unsubscribe, authorization, inbox pushes, and a subscriber that never reads.
mod common;

use std::future::poll_fn;
use std::task::Poll;

use common::*;
use futures::{Stream, StreamExt};
use swill::client::{Client, ResponseStream};
use swill::pubsub::{Access, LagPolicy, PubSub, Subscription};
use swill::{Connection, Error, Request, Response, State, Swill, Value};

#[swill::handler]
async fn subscribe(
    req: Request<String>,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<Value, Error>> {
    let sub = pubsub.subscribe_from(&conn, req.into_data()).await;
    Subscription::or_failed(sub).announce(&res)
}

#[swill::handler]
async fn subscribe_many(
    req: Request<Vec<String>>,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<Value, Error>> {
    let sub = pubsub.subscribe_from(&conn, req.into_data()).await;
    Subscription::or_failed(sub).announce(&res)
}

#[swill::handler]
async fn inbox(
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<Value, Error>> {
    Subscription::or_failed(pubsub.inbox(&conn).await).announce(&res)
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

#[swill::handler]
async fn subscribers(req: Request<String>, State(pubsub): State<PubSub>) -> Result<usize, Error> {
    Ok(pubsub.local_subscriber_count(req.data()))
}

#[swill::handler]
async fn my_topic(conn: Connection, State(pubsub): State<PubSub>) -> Result<String, Error> {
    Ok(pubsub.connection_topic(conn.id()))
}

/// Subscribes to the topic and is present on it until cancelled.
#[swill::handler]
async fn join(
    req: Request<String>,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<Value, Error>> {
    let topic = req.into_data();
    let tracked = match pubsub.track(&conn, &topic).await {
        Ok(t) => t,
        Err(e) => return Subscription::failed(e),
    };
    let sub = pubsub.subscribe_from(&conn, topic).await;
    Subscription::or_failed(sub)
        .with_presence(tracked)
        .announce(&res)
}

/// The users present on the topic, sorted.
#[swill::handler]
async fn who(req: Request<String>, State(pubsub): State<PubSub>) -> Result<Vec<String>, Error> {
    let mut users: Vec<String> = pubsub
        .presence(req.data())
        .await?
        .into_iter()
        .filter_map(|e| e.user)
        .collect();
    users.sort();
    Ok(users)
}

/// Join and leave events of the topic.
#[swill::handler]
async fn presence_events(
    req: Request<String>,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<swill::pubsub::PresenceEvent, Error>> {
    Subscription::or_failed(pubsub.presence_events(&conn, req.data()).await).announce(&res)
}

fn app(pubsub: PubSub) -> Swill {
    Swill::new()
        .with_state(pubsub)
        .handler(join)
        .handler(who)
        .handler(presence_events)
        .handler(subscribe)
        .handler(subscribe_many)
        .handler(inbox)
        .handler(publish)
        .handler(subscribers)
        .handler(my_topic)
}

/// Waits for the stream's leading metadata (the METADATA frame) without taking an item.
async fn subscribed<T: serde::de::DeserializeOwned>(s: &mut ResponseStream<T>) -> swill::Metadata {
    poll_fn(|cx| {
        if let Poll::Ready(item) = s.poll_next_unpin(cx) {
            panic!(
                "an item before the leading metadata: {:?}",
                item.map(|r| r.is_ok())
            );
        }
        match s.leading() {
            Some(md) => Poll::Ready(md.clone()),
            None => Poll::Pending,
        }
    })
    .with_timeout()
    .await
}

async fn next_value(s: &mut ResponseStream<Value>) -> Value {
    s.next()
        .with_timeout()
        .await
        .expect("stream ended")
        .expect("an error")
}

#[tokio::test]
async fn a_subscription_confirms_then_streams_what_is_published_until_cancelled() {
    let server = spawn(app(PubSub::new())).await;
    let sub = Client::connect(server.url()).with_timeout().await.unwrap();
    let publ = Client::connect(server.url()).with_timeout().await.unwrap();

    let mut s = sub.stream::<Value>("subscribe", &"news").unwrap();
    let md = subscribed(&mut s).await;
    assert_eq!(md.get_str("subscribed"), Some("news"));
    for i in 0..5 {
        let ok: bool = publ
            .call("publish", &("news", i))
            .with_timeout()
            .await
            .unwrap();
        assert!(ok);
    }
    let other: bool = publ
        .call("publish", &("sport", 9))
        .with_timeout()
        .await
        .unwrap();
    assert!(other);
    for i in 0..5u64 {
        assert_eq!(next_value(&mut s).await.0.as_u64(), Some(i));
    }
    let n: usize = sub
        .call("subscribers", &"news")
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(n, 1);
    s.cancel();
    // CANCEL is handled before the next call on the same connection.
    let n: usize = sub
        .call("subscribers", &"news")
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(n, 0);
    server.stop().await;
}

#[tokio::test]
async fn one_subscription_can_cover_several_topics() {
    let server = spawn(app(PubSub::new())).await;
    let c = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = c.stream::<Value>("subscribe_many", &["a", "b"]).unwrap();
    let md = subscribed(&mut s).await;
    let topics: Vec<String> = rmpv::ext::from_value(md.get("subscribed").unwrap().clone()).unwrap();
    assert_eq!(topics, ["a", "b"]);
    let _: bool = c
        .call("publish", &("b", "from b"))
        .with_timeout()
        .await
        .unwrap();
    let _: bool = c
        .call("publish", &("a", "from a"))
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(next_value(&mut s).await.0.as_str(), Some("from b"));
    assert_eq!(next_value(&mut s).await.0.as_str(), Some("from a"));
    drop((s, c));
    server.stop().await;
}

#[tokio::test]
async fn one_publisher_reaches_a_thousand_subscribers_in_order() {
    const SUBSCRIBERS: usize = 1_000;
    const MESSAGES: u64 = 50;
    let pubsub = PubSub::new();
    let server = spawn(app(pubsub.clone())).await;
    let mut streams = Vec::with_capacity(SUBSCRIBERS);
    for _ in 0..SUBSCRIBERS {
        let c = Client::connect(server.url()).with_timeout().await.unwrap();
        let mut s = c.stream::<u64>("subscribe", &"fan").unwrap();
        subscribed(&mut s).await;
        streams.push((c, s));
    }
    assert_eq!(pubsub.local_subscriber_count("fan"), SUBSCRIBERS);
    // Published from server code (a task), not over a socket.
    let publisher = pubsub.clone();
    tokio::spawn(async move {
        for i in 0..MESSAGES {
            publisher.publish("fan", &i).await.unwrap();
        }
    })
    .with_timeout()
    .await
    .unwrap();
    let readers = streams.into_iter().map(|(c, mut s)| {
        tokio::spawn(async move {
            let mut got = Vec::with_capacity(MESSAGES as usize);
            while got.len() < MESSAGES as usize {
                got.push(s.next().await.expect("ended").expect("error"));
            }
            drop(c);
            got
        })
    });
    let all = futures::future::join_all(readers).with_timeout().await;
    for got in all {
        assert_eq!(got.unwrap(), (0..MESSAGES).collect::<Vec<_>>());
    }
    server.stop().await;
}

/// A raw WebSocket whose socket receive buffer is small (no kernel autotuning), so a client
/// that stops reading pushes back on the server after a few messages, not tens of megabytes.
async fn small_buffer_ws(server: &TestServer) -> RawWs {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let tcp = socket.connect(server.addr).with_timeout().await.unwrap();
    let mut req = server.url().into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "swill.v1".parse().unwrap());
    let (ws, _) =
        tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
            .with_timeout()
            .await
            .unwrap();
    ws
}

#[tokio::test]
async fn a_subscriber_that_never_reads_neither_delays_others_nor_grows_without_bound() {
    const QUEUE: usize = 8;
    let pubsub = PubSub::builder()
        .queue_capacity(QUEUE)
        .lag_policy(LagPolicy::End)
        .build();
    let server = spawn(app(pubsub.clone())).await;

    // The slow subscriber: a raw socket that subscribes, sees the confirmation, then stops
    // reading.
    let mut slow = small_buffer_ws(&server).await;
    send_bytes(&mut slow, request(1, &"firehose", "subscribe")).await;
    let confirm = recv_resp(&mut slow).await;
    assert_eq!(confirm.seq, 1);

    let fast = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = fast.stream::<Value>("subscribe", &"firehose").unwrap();
    subscribed(&mut s).await;
    assert_eq!(pubsub.local_subscriber_count("firehose"), 2);

    // Far more than the slow socket, its buffers and its queue can hold: 64 KiB messages.
    let blob = vec![7u8; 64 * 1024];
    let total: u64 = 400;
    for i in 0..total {
        pubsub.publish("firehose", &(i, &blob)).await.unwrap();
        // The fast subscriber gets each message at once, in order.
        let got = next_value(&mut s).await;
        assert_eq!(got.0[0].as_u64(), Some(i));
        assert_eq!(got.0[1].as_slice().map(<[u8]>::len), Some(blob.len()));
    }
    // The slow subscription overflowed its bounded queue and ended: it holds nothing more.
    assert_eq!(pubsub.local_subscriber_count("firehose"), 1);

    // When the slow client finally reads, it gets what was buffered, then the lag ERROR.
    let mut seen = 0;
    let err = loop {
        let r = recv_resp(&mut slow).await;
        if r.kind == ERROR {
            break r;
        }
        seen += 1;
        assert!(
            seen < total as usize,
            "the slow subscriber was never cut off"
        );
    };
    assert_eq!(err.error_code(), 503);
    let message = err.error_message();
    assert!(message.contains("lagged"), "{message}");
    drop((s, fast, slow));
    server.stop().await;
}

#[tokio::test]
async fn authorization_decides_per_connection_and_topic() {
    let pubsub = PubSub::builder()
        .authorize(|conn, topic, access| {
            let admin = conn.query_param("role").as_deref() == Some("admin");
            match (access, topic.starts_with("admin.")) {
                (_, false) => Ok(()),
                (Access::Subscribe, true) if admin => Ok(()),
                _ => Err(Error::forbidden(format!("{topic} is for admins"))),
            }
        })
        .build();
    let server = spawn(app(pubsub.clone())).await;
    let user = Client::connect(server.url()).with_timeout().await.unwrap();
    let admin = Client::connect(format!("{}?role=admin", server.url()))
        .with_timeout()
        .await
        .unwrap();

    let mut denied = user.stream::<Value>("subscribe", &"admin.log").unwrap();
    let e = denied.next().with_timeout().await.unwrap().unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(403));
    let e = user
        .call::<bool>("publish", &("admin.log", 1))
        .with_timeout()
        .await
        .unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(403));
    // Reserved topics are refused to everyone.
    let mut reserved = admin.stream::<Value>("subscribe", &"swill.all").unwrap();
    let e = reserved.next().with_timeout().await.unwrap().unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(403));

    let mut ok = admin.stream::<Value>("subscribe", &"admin.log").unwrap();
    subscribed(&mut ok).await;
    pubsub.publish("admin.log", &"x").await.unwrap();
    assert_eq!(next_value(&mut ok).await.0.as_str(), Some("x"));
    drop((ok, user, admin));
    server.stop().await;
}

#[tokio::test]
async fn inbox_pushes_reach_all_one_connection_one_user_or_a_filter() {
    let pubsub = PubSub::builder()
        .identify(|conn| conn.query_param("user"))
        .build();
    let server = spawn(app(pubsub.clone())).await;
    let connect = |user: &str| {
        let url = format!("{}?user={user}", server.url());
        async move { Client::connect(url).with_timeout().await.unwrap() }
    };
    let (ann1, ann2, bob) = (
        connect("ann").await,
        connect("ann").await,
        connect("bob").await,
    );
    let mut boxes = Vec::new();
    for c in [&ann1, &ann2, &bob] {
        let mut s = c.stream::<Value>("inbox", &()).unwrap();
        subscribed(&mut s).await;
        boxes.push(s);
    }

    pubsub.to_all(&"everyone").await.unwrap();
    for s in &mut boxes {
        assert_eq!(next_value(s).await.0.as_str(), Some("everyone"));
    }
    pubsub.to_user("ann", &"ann only").await.unwrap();
    let bob_topic: String = bob.call("my_topic", &()).with_timeout().await.unwrap();
    pubsub
        .to_connection(bob_topic, &"bob's connection")
        .await
        .unwrap();
    assert_eq!(next_value(&mut boxes[0]).await.0.as_str(), Some("ann only"));
    assert_eq!(next_value(&mut boxes[1]).await.0.as_str(), Some("ann only"));
    assert_eq!(
        next_value(&mut boxes[2]).await.0.as_str(),
        Some("bob's connection")
    );

    let n = pubsub
        .to_where(|info| info.user.as_deref() == Some("bob"), &"filtered")
        .unwrap();
    assert_eq!(n, 1);
    pubsub.to_all(&"end").await.unwrap();
    assert_eq!(next_value(&mut boxes[2]).await.0.as_str(), Some("filtered"));
    for s in &mut boxes {
        assert_eq!(next_value(s).await.0.as_str(), Some("end"));
    }
    drop((boxes, ann1, ann2, bob));
    server.stop().await;
}

/// `(event, user)` of a presence event as the client decodes it.
fn presence(v: Value) -> (String, String) {
    let event = v.0["event"].as_str().unwrap().to_owned();
    let user = v.0["entry"]["user"].as_str().unwrap().to_owned();
    (event, user)
}

#[tokio::test]
async fn presence_lists_who_is_on_a_topic_and_streams_joins_and_leaves() {
    let pubsub = PubSub::builder()
        .identify(|conn| conn.query_param("user"))
        .build();
    let server = spawn(app(pubsub.clone())).await;
    let connect = |user: &str| {
        let url = format!("{}?user={user}", server.url());
        async move { Client::connect(url).with_timeout().await.unwrap() }
    };
    let watcher = connect("watcher").await;
    let mut events = watcher.stream::<Value>("presence_events", &"room").unwrap();
    subscribed(&mut events).await;

    let ann = connect("ann").await;
    let mut ann_in = ann.stream::<Value>("join", &"room").unwrap();
    subscribed(&mut ann_in).await;
    let bob = connect("bob").await;
    let mut bob_in = bob.stream::<Value>("join", &"room").unwrap();
    subscribed(&mut bob_in).await;

    let users: Vec<String> = watcher.call("who", &"room").with_timeout().await.unwrap();
    assert_eq!(users, ["ann", "bob"]);
    assert_eq!(
        presence(next_value(&mut events).await),
        ("join".into(), "ann".into())
    );
    assert_eq!(
        presence(next_value(&mut events).await),
        ("join".into(), "bob".into())
    );

    // Cancelling the subscription leaves; so does a disconnect.
    ann_in.cancel();
    assert_eq!(
        presence(next_value(&mut events).await),
        ("leave".into(), "ann".into())
    );
    drop((bob_in, bob));
    assert_eq!(
        presence(next_value(&mut events).await),
        ("leave".into(), "bob".into())
    );
    let users: Vec<String> = watcher.call("who", &"room").with_timeout().await.unwrap();
    assert!(users.is_empty(), "{users:?}");
    drop((events, watcher, ann));
    server.stop().await;
}

#[tokio::test]
async fn closing_the_handle_ends_subscriptions_so_shutdown_does_not_wait() {
    let pubsub = PubSub::new();
    let server =
        spawn(app(pubsub.clone()).tune(|c| c.shutdown_timeout(std::time::Duration::from_secs(60))))
            .await;
    let c = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = c.stream::<u64>("subscribe", &"t").unwrap();
    subscribed(&mut s).await;
    pubsub.publish("t", &1u64).await.unwrap();
    pubsub.close();
    // What was queued arrives, then a clean END_OF_STREAM.
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 1);
    assert!(s.next().with_timeout().await.is_none());
    // New subscriptions are refused; the server shuts down at once, not after 60 s.
    let mut refused = c.stream::<u64>("subscribe", &"t").unwrap();
    let e = refused.next().with_timeout().await.unwrap().unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(503));
    // The client stays connected while the server shuts down.
    server.stop().await;
    drop(c);
}
