//! The Redis pub/sub backend against a real `redis-server` the test starts on a free
//! loopback port: two swill instances share topics, one subscriber connection per process,
//! unsubscribing stops delivery, and a Redis restart mid-test (RPCs keep working, publishes
//! fail with 503 and work again, subscriptions end with a clear error or go on, as the lag
//! policy says), presence across instances with expiry, and sessions shared by instances.
//! Without a `redis-server` binary the tests are skipped, except under
//! `CI=true`, where that is a failure.
#![cfg(feature = "redis")]
mod common;

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use common::*;
use futures::{Stream, StreamExt};
use swill::client::{Client, ResponseStream};
use swill::pubsub::redis::RedisConfig;
use swill::pubsub::{LagPolicy, Lagged, PubSub, Recv, Subscription};
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
async fn publish(
    req: Request<(String, Value)>,
    conn: Connection,
    State(pubsub): State<PubSub>,
) -> Result<bool, Error> {
    let (topic, message) = req.into_data();
    pubsub.publish_from(&conn, topic, &message)?.await?;
    Ok(true)
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
        .handler(publish)
        .handler(add)
}

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

/// A handle on the Redis backend with the default settings.
async fn pubsub(redis: &RedisServer) -> PubSub {
    PubSub::builder()
        .redis(&redis.url())
        .with_timeout()
        .await
        .unwrap()
}

fn fast_probe() -> RedisConfig {
    RedisConfig::default()
        .probe_interval(Duration::from_millis(200))
        .probe_timeout(Duration::from_millis(500))
        .max_backoff(Duration::from_millis(200))
        .command_timeout(Duration::from_millis(500))
}

#[tokio::test]
async fn a_message_published_on_one_instance_reaches_subscribers_on_another() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let (ps_a, ps_b) = (pubsub(&redis).await, pubsub(&redis).await);
    let (a, b) = (
        spawn(app(ps_a.clone())).await,
        spawn(app(ps_b.clone())).await,
    );
    let on_a = Client::connect(a.url()).with_timeout().await.unwrap();
    let on_b = Client::connect(b.url()).with_timeout().await.unwrap();

    let mut s = on_a.stream::<u64>("subscribe", &"room").unwrap();
    assert_eq!(subscribed(&mut s).await.get_str("subscribed"), Some("room"));
    assert_eq!(redis.numsub("room").await, 1);
    for i in 0..20u64 {
        let ok: bool = on_b
            .call("publish", &("room", i))
            .with_timeout()
            .await
            .unwrap();
        assert!(ok);
    }
    for i in 0..20u64 {
        assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), i);
    }
    // Server code on B publishes too.
    ps_b.publish("room", &99u64).with_timeout().await.unwrap();
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 99);

    // Unsubscribing stops delivery: the topic leaves Redis. The subscriber task runs
    // commands in order, so once a later subscribe is confirmed the UNSUBSCRIBE is done.
    s.cancel();
    let _: i64 = on_a.call("add", &(1, 1)).with_timeout().await.unwrap();
    let gate = ps_a
        .subscribe::<Value>("gate")
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(ps_a.local_subscriber_count("room"), 0);
    assert_eq!(redis.numsub("room").await, 0);
    drop(gate);
    drop((on_a, on_b));
    a.stop().await;
    b.stop().await;
    redis.kill().await;
}

/// Publishes made while earlier ones are still in flight reach Redis in the order they were
/// made: a client's pipelined calls, then server code that does not await one publish before
/// the next, arrive in that order at a subscriber on the other instance.
#[tokio::test]
async fn publishes_in_flight_together_keep_their_order_across_instances() {
    const N: u64 = 500;
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let (ps_a, ps_b) = (pubsub(&redis).await, pubsub(&redis).await);
    let (a, b) = (spawn(app(ps_a)).await, spawn(app(ps_b.clone())).await);
    let on_a = Client::connect(a.url()).with_timeout().await.unwrap();
    let on_b = Client::connect(b.url()).with_timeout().await.unwrap();
    let mut s = on_a.stream::<u64>("subscribe", &"order").unwrap();
    subscribed(&mut s).await;

    let args: Vec<(&str, u64)> = (0..N).map(|i| ("order", i)).collect();
    let calls = args
        .iter()
        .map(|a| std::future::IntoFuture::into_future(on_b.call::<bool>("publish", a)));
    let answers = futures::future::join_all(calls).with_timeout().await;
    assert!(answers.into_iter().all(|r| matches!(r, Ok(true))));
    let publishes: Vec<_> = (N..2 * N).map(|i| ps_b.publish("order", &i)).collect();
    let published = futures::future::join_all(publishes).with_timeout().await;
    assert!(published.into_iter().all(|r| r.is_ok()));

    for i in 0..2 * N {
        assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), i);
    }
    drop((s, on_a, on_b));
    a.stop().await;
    b.stop().await;
    redis.kill().await;
}

#[tokio::test]
async fn each_process_has_one_subscriber_connection_however_many_subscribers() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let pubsub = PubSub::builder()
        .redis(&redis.url())
        .with_timeout()
        .await
        .unwrap();
    let server = spawn(app(pubsub.clone())).await;
    let mut clients = Vec::new();
    for i in 0..40 {
        let c = Client::connect(server.url()).with_timeout().await.unwrap();
        let mut s = c
            .stream::<Value>("subscribe", &format!("topic.{}", i % 7))
            .unwrap();
        subscribed(&mut s).await;
        clients.push((c, s));
    }
    let mut server_side = Vec::new();
    for i in 0..10 {
        server_side.push(
            pubsub
                .subscribe::<Value>(format!("task.{i}"))
                .with_timeout()
                .await
                .unwrap(),
        );
    }
    assert_eq!(redis.pubsub_clients().await, 1);
    assert_eq!(redis.numsub("topic.3").await, 1);
    drop((clients, server_side));
    server.stop().await;
    redis.kill().await;
}

#[tokio::test]
async fn a_redis_restart_fails_publishes_keeps_rpcs_and_subscriptions_resume() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let url = redis.url();
    // One instance ends lagging subscriptions (the default), one lets them go on.
    let ending = PubSub::builder()
        .redis_with(&url, fast_probe())
        .with_timeout()
        .await
        .unwrap();
    let going_on = PubSub::builder()
        .lag_policy(LagPolicy::DropOldest)
        .redis_with(&url, fast_probe())
        .with_timeout()
        .await
        .unwrap();
    let server = spawn(app(ending.clone())).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = client.stream::<u64>("subscribe", &"news").unwrap();
    subscribed(&mut s).await;
    let mut lasting = going_on
        .subscribe::<u64>("news")
        .with_timeout()
        .await
        .unwrap();
    let _: bool = client
        .call("publish", &("news", 1))
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 1);
    assert!(matches!(
        lasting.recv().with_timeout().await,
        Some(Recv::Message(_))
    ));

    let port = redis.kill().await;

    // The socket subscription ends with a clear error; the server-side one hears of the gap.
    let e = s.next().with_timeout().await.unwrap().unwrap_err();
    let rpc = e.rpc().expect("an rpc error");
    assert_eq!(rpc.code().as_i64(), 503);
    assert!(rpc.message().contains("interrupted"), "{}", rpc.message());
    assert_eq!(
        lasting.recv().with_timeout().await,
        Some(Recv::Lagged(Lagged::Interrupted))
    );
    // Publishing fails with 503; other RPCs on the same connection keep working.
    let e = client
        .call::<bool>("publish", &("news", 2))
        .with_timeout()
        .await
        .unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(503));
    let total: i64 = client.call("add", &(2, 3)).with_timeout().await.unwrap();
    assert_eq!(total, 5);

    // Redis comes back on the same port.
    let redis = RedisServer::start(Some(port)).await.unwrap();
    // Resubscribing works once the backend reconnected: it is an external process coming
    // back, so retry (bounded) until a subscribe is confirmed.
    let mut s = None;
    for _ in 0..100 {
        let mut attempt = client.stream::<u64>("subscribe", &"news").unwrap();
        let first = poll_fn(|cx| match attempt.poll_next_unpin(cx) {
            Poll::Ready(item) => Poll::Ready(Some(item)),
            Poll::Pending if attempt.leading().is_some() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .with_timeout()
        .await;
        match first {
            None => {
                s = Some(attempt);
                break;
            }
            Some(Some(Err(e))) => {
                assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(503), "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut s = s.expect("the subscription never resumed");
    // The subscription that went on is resubscribed by its own instance's reconnect, in
    // its own time (messages published before that are missed, as it was told): wait until
    // Redis counts both instances again.
    let mut both = false;
    for _ in 0..200 {
        if redis.numsub("news").await == 2 {
            both = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(both, "the lasting subscription was never resubscribed");
    // Publishing works again, and both subscriptions get the message.
    let mut published = false;
    for _ in 0..100 {
        match client
            .call::<bool>("publish", &("news", 3))
            .with_timeout()
            .await
        {
            Ok(ok) => {
                published = ok;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(published, "publishing never worked again");
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 3);
    loop {
        match lasting.recv().with_timeout().await {
            Some(Recv::Message(m)) => {
                assert_eq!(m.decode::<u64>().unwrap(), 3);
                break;
            }
            Some(Recv::Lagged(Lagged::Interrupted)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(lasting.interruptions() >= 1);
    drop((s, client, lasting));
    server.stop().await;
    redis.kill().await;
}

/// A TCP forwarder to Redis whose connections can be made to swallow traffic silently, in
/// both directions, while staying open: a stuck connection, with a real Redis behind it.
struct Blackhole {
    addr: std::net::SocketAddr,
    all: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::sync::Arc<std::sync::atomic::AtomicBool>>>>,
}

impl Blackhole {
    async fn start(redis_port: u16) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
        let list = conns.clone();
        let all = Arc::new(AtomicBool::new(false));
        let everything = all.clone();
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let Ok(up) = tokio::net::TcpStream::connect(("127.0.0.1", redis_port)).await else {
                    continue;
                };
                let stuck = Arc::new(AtomicBool::new(everything.load(Ordering::SeqCst)));
                list.lock().unwrap().push(stuck.clone());
                let (mut dr, mut dw) = down.into_split();
                let (mut ur, mut uw) = up.into_split();
                let s1 = stuck.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = dr.read(&mut buf).await {
                        if !s1.load(Ordering::SeqCst) && uw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = ur.read(&mut buf).await {
                        if !stuck.load(Ordering::SeqCst) && dw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { addr, all, conns }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn connections(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// Makes every connection, present and future, swallow everything from now on: to
    /// Redis, the instance behind it is dead.
    fn jam_all(&self) {
        self.all.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().iter() {
            c.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Makes connection `i` (in accept order) swallow everything from now on.
    fn jam(&self, i: usize) {
        self.conns.lock().unwrap()[i].store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// With the command connection silently stuck, publishes fail fast instead of queueing:
/// a pipeline Redis does not answer fails within the command timeout, and the publishes
/// queued behind it (more than one batch's worth) fail unsent once they waited as long.
#[tokio::test]
async fn a_stuck_command_connection_fails_queued_publishes_fast() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let hole = Blackhole::start(redis.port).await;
    let pubsub = PubSub::builder()
        .redis_with(&hole.url(), fast_probe())
        .with_timeout()
        .await
        .unwrap();
    pubsub.publish("t", &0u64).with_timeout().await.unwrap();
    // The command connection is accepted first.
    hole.jam(0);
    let publishes: Vec<_> = (0..600u64).map(|i| pubsub.publish("t", &i)).collect();
    let results = futures::future::join_all(publishes).with_timeout().await;
    // The first pipeline (512 commands) went out and got no answer; the other 88 waited
    // as long behind it and were never sent.
    for (i, r) in results.iter().enumerate() {
        match r {
            Err(swill::pubsub::PubSubError::Unavailable(m)) if i < 512 => {
                assert!(!m.starts_with("not sent"), "{i}: {m}");
            }
            Err(swill::pubsub::PubSubError::Unavailable(m)) => assert_eq!(
                m, "not sent: the publish waited longer than the command timeout for redis",
                "{i}"
            ),
            other => panic!("{i}: {other:?}"),
        }
    }
    drop(pubsub);
    redis.kill().await;
}

#[tokio::test]
async fn the_probe_rebuilds_a_silently_stuck_subscriber_connection() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let hole = Blackhole::start(redis.port).await;
    let pubsub = PubSub::builder()
        .lag_policy(LagPolicy::DropOldest)
        .redis_with(&hole.url(), fast_probe())
        .with_timeout()
        .await
        .unwrap();
    // The command connection is accepted first, then the subscriber connection.
    assert_eq!(hole.connections(), 2);
    let mut sub = pubsub
        .subscribe::<u64>("live")
        .with_timeout()
        .await
        .unwrap();
    pubsub.publish("live", &1u64).with_timeout().await.unwrap();
    assert!(matches!(
        sub.recv().with_timeout().await,
        Some(Recv::Message(_))
    ));

    // The subscriber connection goes silent: no error, no close, nothing comes back.
    hole.jam(1);
    // The probe notices, rebuilds the connection and resubscribes, then reports the gap.
    assert_eq!(
        sub.recv().with_timeout().await,
        Some(Recv::Lagged(Lagged::Interrupted))
    );
    assert_eq!(hole.connections(), 3);
    pubsub.publish("live", &2u64).with_timeout().await.unwrap();
    match sub.recv().with_timeout().await {
        Some(Recv::Message(m)) => assert_eq!(m.decode::<u64>().unwrap(), 2),
        other => panic!("unexpected {other:?}"),
    }
    drop(sub);
    redis.kill().await;
}

fn presence(v: Value) -> (String, String) {
    let event = v.0["event"].as_str().unwrap().to_owned();
    let user = v.0["entry"]["user"].as_str().unwrap().to_owned();
    (event, user)
}

async fn next_value(s: &mut ResponseStream<Value>) -> Value {
    s.next()
        .with_timeout()
        .await
        .expect("stream ended")
        .expect("an error")
}

#[tokio::test]
async fn presence_is_seen_from_both_instances_and_expires_when_one_dies() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let hole = Blackhole::start(redis.port).await;
    let config = fast_probe().presence_ttl(Duration::from_millis(600));
    let identify = |conn: &Connection| conn.query_param("user");
    let ps_a = PubSub::builder()
        .identify(identify)
        .redis_with(&hole.url(), config.clone())
        .with_timeout()
        .await
        .unwrap();
    let ps_b = PubSub::builder()
        .identify(identify)
        .redis_with(&redis.url(), config)
        .with_timeout()
        .await
        .unwrap();
    let (a, b) = (spawn(app(ps_a)).await, spawn(app(ps_b)).await);
    let connect = |server: &TestServer, user: &str| {
        let url = format!("{}?user={user}", server.url());
        async move { Client::connect(url).with_timeout().await.unwrap() }
    };
    let watcher = connect(&b, "watcher").await;
    let mut events = watcher.stream::<Value>("presence_events", &"room").unwrap();
    subscribed(&mut events).await;

    let ann = connect(&a, "ann").await;
    let mut ann_in = ann.stream::<Value>("join", &"room").unwrap();
    subscribed(&mut ann_in).await;
    let bob = connect(&b, "bob").await;
    let mut bob_in = bob.stream::<Value>("join", &"room").unwrap();
    subscribed(&mut bob_in).await;
    assert_eq!(
        presence(next_value(&mut events).await),
        ("join".into(), "ann".into())
    );
    assert_eq!(
        presence(next_value(&mut events).await),
        ("join".into(), "bob".into())
    );
    for client in [&ann, &bob] {
        let users: Vec<String> = client.call("who", &"room").with_timeout().await.unwrap();
        assert_eq!(users, ["ann", "bob"]);
    }

    // Instance A dies without saying goodbye: Redis hears nothing from it any more.
    hole.jam_all();
    // Its entry expires; B, still tracking the topic, prunes it and announces the leave.
    assert_eq!(
        presence(next_value(&mut events).await),
        ("leave".into(), "ann".into())
    );
    let users: Vec<String> = bob.call("who", &"room").with_timeout().await.unwrap();
    assert_eq!(users, ["bob"]);

    // A clean leave on B is announced at once.
    drop(bob_in);
    assert_eq!(
        presence(next_value(&mut events).await),
        ("leave".into(), "bob".into())
    );
    drop((events, watcher, ann_in, ann, bob));
    a.stop().await;
    b.stop().await;
    redis.kill().await;
}

#[swill::handler]
async fn remember(
    req: Request<String>,
    conn: Connection,
    State(sessions): State<swill::pubsub::Sessions>,
) -> Result<(), Error> {
    sessions.of(&conn)?.set("note", req.data()).await
}

#[swill::handler]
async fn recall(
    conn: Connection,
    State(sessions): State<swill::pubsub::Sessions>,
) -> Result<Option<String>, Error> {
    sessions.of(&conn)?.get("note").await
}

#[tokio::test]
async fn a_session_is_seen_from_a_second_instance_and_carries_a_ttl_in_redis() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let ttl = Duration::from_secs(60);
    let sessions = || async {
        swill::pubsub::Sessions::builder()
            .ttl(ttl)
            .redis(&redis.url())
            .with_timeout()
            .await
            .unwrap()
    };
    let session_app = |s| Swill::new().with_state(s).handler(remember).handler(recall);
    let a = spawn(session_app(sessions().await)).await;
    let b = spawn(session_app(sessions().await)).await;
    let id = swill::pubsub::Sessions::new_id();
    let connect = |server: &TestServer| {
        let (url, cookie) = (server.url(), format!("swill_session={id}"));
        async move {
            Client::builder(url)
                .header("cookie", cookie)
                .connect()
                .with_timeout()
                .await
                .unwrap()
        }
    };
    let on_a = connect(&a).await;
    let _: () = on_a
        .call("remember", &"buy milk")
        .with_timeout()
        .await
        .unwrap();
    drop(on_a);
    let on_b = connect(&b).await;
    let note: Option<String> = on_b.call("recall", &()).with_timeout().await.unwrap();
    assert_eq!(note.as_deref(), Some("buy milk"));
    // The session key carries the TTL (refreshed by that read).
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("swill:session:{id}"))
        .query_async(&mut redis.conn().await)
        .with_timeout()
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 60_000, "{pttl}");
    drop(on_b);
    a.stop().await;
    b.stop().await;
    redis.kill().await;
}

#[tokio::test]
async fn a_topic_left_during_an_outage_is_not_resubscribed_for_nobody() {
    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let pubsub = PubSub::builder()
        .lag_policy(LagPolicy::DropOldest)
        .redis_with(&redis.url(), fast_probe())
        .with_timeout()
        .await
        .unwrap();
    let mut keep = pubsub
        .subscribe::<u64>("keep")
        .with_timeout()
        .await
        .unwrap();
    let gone = pubsub
        .subscribe::<u64>("gone")
        .with_timeout()
        .await
        .unwrap();
    let port = redis.kill().await;
    assert_eq!(
        keep.recv().with_timeout().await,
        Some(Recv::Lagged(Lagged::Interrupted))
    );
    // Leaving while Redis is away: the UNSUBSCRIBE cannot reach it.
    drop(gone);
    let redis = RedisServer::start(Some(port)).await.unwrap();
    // Redis is an external process coming back: bounded polls of its state.
    let mut resubscribed = false;
    for _ in 0..200 {
        if redis.numsub("keep").await == 1 {
            resubscribed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(resubscribed, "the live topic was never resubscribed");
    let mut pruned = false;
    for _ in 0..200 {
        if redis.numsub("gone").await == 0 {
            pruned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        pruned,
        "a topic nobody subscribes to stayed subscribed in redis"
    );
    drop(keep);
    redis.kill().await;
}

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn a_trace_context_travels_to_subscribers_on_another_instance() {
    use std::sync::Arc;
    use swill::observe::TraceContext;
    use swill::pubsub::{History, Message};

    let Some(redis) = RedisServer::start(None).await else {
        return;
    };
    let config = || RedisConfig::default().trace_context(true);
    let history = |t: &str| t.starts_with("kept.").then(History::default);
    let ps_a = PubSub::builder()
        .history(history)
        .redis_with(&redis.url(), config())
        .with_timeout()
        .await
        .unwrap();
    let ps_b = PubSub::builder()
        .history(history)
        .redis_with(&redis.url(), config())
        .with_timeout()
        .await
        .unwrap();
    let tc = Arc::new(TraceContext::parse(TP, Some("congo=t61rcWkgMzE")).unwrap());
    for topic in ["news", "kept.news"] {
        let mut on_b = ps_b
            .subscribe::<String>(topic)
            .with_timeout()
            .await
            .unwrap();
        let traced = Message::encode(topic, "traced")
            .unwrap()
            .with_trace_context(Some(tc.clone()));
        ps_a.publish_message(traced).with_timeout().await.unwrap();
        ps_a.publish(topic, &"plain").with_timeout().await.unwrap();
        let Some(Recv::Message(m)) = on_b.recv().with_timeout().await else {
            panic!("{topic}: no message");
        };
        assert_eq!(m.decode::<String>().unwrap(), "traced");
        let got = m
            .trace_context()
            .expect("the trace context crossed instances");
        assert_eq!(got.traceparent(), TP, "{topic}");
        assert_eq!(got.tracestate(), Some("congo=t61rcWkgMzE"), "{topic}");
        assert_eq!(
            m.position().is_some(),
            topic.starts_with("kept."),
            "{topic}"
        );
        let Some(Recv::Message(m)) = on_b.recv().with_timeout().await else {
            panic!("{topic}: no second message");
        };
        assert_eq!(m.decode::<String>().unwrap(), "plain");
        assert_eq!(
            m.trace_context(),
            None,
            "{topic}: published without a trace"
        );
    }
}
