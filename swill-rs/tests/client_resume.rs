//! Resumable streams over a real socket: the client re-opens a stream whose leading metadata
//! carries `epoch`/`offset` with `since` after a reconnect or a lag, and the consumer sees the
//! missed items then the live ones, in order, without duplicates, plus the `recovered`
//! outcome. The server side is a handler of this file that keeps its history in an in-test
//! feed and honours `since` (the contract `swill::pubsub` topics with history follow).
mod client_proxy;
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_proxy::Proxy;
use common::*;
use futures::{Stream, StreamExt};
use swill::client::{
    Client, ClientError, ConnectionState, Events, Position, ReconnectPolicy, ResumeCause,
    StreamEvent,
};
use swill::{Error, Metadata, Request, Response, State, Swill};
use tokio::sync::watch;

/// The history: items are their own positions (`base + 1`, `base + 2`, ...) in `epoch`.
#[derive(Debug, Clone)]
struct History {
    epoch: String,
    /// The offset before the first item kept.
    base: u64,
    items: Vec<u64>,
    /// Bumped to end every live subscription with a 503 lagged.
    lags: u64,
    /// Every open subscription ends with a 503 lagged at once.
    always_lag: bool,
}

impl History {
    fn head(&self) -> u64 {
        self.base + self.items.len() as u64
    }
}

/// The feed the handler serves and the test drives; it logs the `since` of every open.
#[derive(Clone)]
struct Feed {
    history: Arc<watch::Sender<History>>,
    opens: Arc<Mutex<Vec<Option<Position>>>>,
}

impl Feed {
    fn new() -> Self {
        let (history, _) = watch::channel(History {
            epoch: "e1".into(),
            base: 0,
            items: Vec::new(),
            lags: 0,
            always_lag: false,
        });
        Self {
            history: Arc::new(history),
            opens: Arc::default(),
        }
    }

    /// Appends the next `n` items; returns the last position.
    fn push(&self, n: u64) -> u64 {
        let mut head = 0;
        self.history.send_modify(|h| {
            for _ in 0..n {
                let next = h.head() + 1;
                h.items.push(next);
            }
            head = h.head();
        });
        head
    }

    /// A new epoch: the history is gone, positions go on from `base`.
    fn restart(&self, epoch: &str, base: u64) {
        self.history.send_modify(|h| {
            h.epoch = epoch.into();
            h.base = base;
            h.items.clear();
        });
    }

    fn opens(&self) -> Vec<Option<Position>> {
        self.opens.lock().unwrap().clone()
    }
}

/// A resumable stream: leading `{epoch, offset, recovered?}` at once, then the items after
/// `offset`. With `since` in its request metadata it replays from there when the history
/// still holds it (`recovered: true`), else starts live (`recovered: false`).
#[swill::handler]
async fn feed(
    req: Request<()>,
    State(history): State<Feed>,
    res: Response,
) -> impl Stream<Item = Result<u64, Error>> {
    let since = req
        .metadata()
        .get(Position::SINCE)
        .and_then(Position::from_metadata);
    history.opens.lock().unwrap().push(since.clone());
    let rx = history.history.subscribe();
    let (epoch, start, lags, always_lag, recovered) = {
        let h = rx.borrow();
        let (start, recovered) = match &since {
            Some(p) if p.epoch == h.epoch && p.offset >= h.base && p.offset <= h.head() => {
                (p.offset, Some(true))
            }
            Some(_) => (h.head(), Some(false)),
            None => (h.head(), None),
        };
        (h.epoch.clone(), start, h.lags, h.always_lag, recovered)
    };
    let mut leading = Metadata::new()
        .with("epoch", epoch.as_str())
        .with("offset", start);
    if let Some(r) = recovered {
        leading.insert("recovered", r);
    }
    res.set_leading(leading);
    res.send_leading();
    futures::stream::unfold(Some((rx, start)), move |state| {
        let epoch = epoch.clone();
        async move {
            let (mut rx, pos) = state?;
            let lagged =
                || Err(Error::new(503, "lagged").with_data(Metadata::new().with("lagged", 1)));
            if always_lag {
                return Some((lagged(), None));
            }
            let h = rx
                .wait_for(|h| h.lags != lags || h.epoch != epoch || h.head() > pos)
                .await
                .ok()?
                .clone();
            if h.lags != lags {
                return Some((lagged(), None));
            }
            if h.epoch != epoch {
                return None;
            }
            let item = h.items[(pos - h.base) as usize];
            Some((Ok(item), Some((rx, pos + 1))))
        }
    })
}

/// Not resumable: leading metadata without epoch/offset, then nothing.
#[swill::handler]
async fn plain(res: Response) -> impl Stream<Item = Result<u64, Error>> {
    res.send_leading();
    futures::stream::pending()
}

fn quick() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(20))
}

struct Setup {
    feed: Feed,
    server: TestServer,
    proxy: Proxy,
}

impl Setup {
    async fn new() -> Self {
        let log = Feed::new();
        let app = Swill::new()
            .with_state(log.clone())
            .handler(feed)
            .handler(plain);
        let server = spawn(app).await;
        let proxy = Proxy::start(server.addr).await;
        Self {
            feed: log,
            server,
            proxy,
        }
    }

    async fn client(
        &self,
        f: impl FnOnce(swill::client::ClientBuilder) -> swill::client::ClientBuilder,
    ) -> Client {
        f(Client::builder(self.proxy.url()).reconnect(quick()))
            .connect()
            .with_timeout()
            .await
            .unwrap()
    }

    /// Subscribes and waits until the subscription exists on the server.
    async fn subscribe(&self, client: &Client) -> Events<u64> {
        let mut s = client.stream::<u64>("feed", &()).unwrap();
        let leading = s.opened().with_timeout().await.unwrap().cloned();
        let at = leading.as_ref().and_then(Position::from_leading);
        assert_eq!(at, s.position().cloned());
        assert!(at.is_some(), "the feed is resumable: {leading:?}");
        s.events()
    }

    /// Cuts the connection and waits until the client knows it.
    async fn cut(&self, client: &Client) {
        self.proxy.cut();
        let mut state = client.watch_state();
        state
            .wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. }))
            .with_timeout()
            .await
            .unwrap();
    }

    async fn stop(self, client: Client) {
        client.close();
        drop(self.proxy);
        self.server.stop().await;
    }
}

async fn next(events: &mut Events<u64>) -> StreamEvent<u64> {
    events
        .next()
        .with_timeout()
        .await
        .expect("the stream goes on")
        .expect("no error")
}

async fn items(events: &mut Events<u64>, n: usize) -> Vec<u64> {
    let mut got = Vec::new();
    for _ in 0..n {
        match next(events).await {
            StreamEvent::Item(i) => got.push(i),
            other => panic!("expected an item, got {other:?} after {got:?}"),
        }
    }
    got
}

fn pos(epoch: &str, offset: u64) -> Position {
    Position {
        epoch: epoch.into(),
        offset,
    }
}

#[tokio::test]
async fn after_a_reconnect_the_stream_gets_exactly_the_missed_items_then_live_ones() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    let mut events = t.subscribe(&client).await;
    t.feed.push(3);
    assert_eq!(items(&mut events, 3).await, [1, 2, 3]);
    assert_eq!(events.get_ref().position(), Some(&pos("e1", 3)));

    t.cut(&client).await;
    // Produced while the client is away: the history keeps them.
    t.feed.push(3);
    t.proxy.open();
    let StreamEvent::Resumed(r) = next(&mut events).await else {
        panic!("expected the resume first");
    };
    assert!(r.recovered, "{r:?}");
    assert_eq!(r.cause, ResumeCause::Reconnected);
    assert_eq!(r.position, Some(pos("e1", 3)));
    assert_eq!(items(&mut events, 3).await, [4, 5, 6]);
    t.feed.push(2);
    assert_eq!(items(&mut events, 2).await, [7, 8]);

    let s = events.get_ref();
    assert_eq!(s.position(), Some(&pos("e1", 8)));
    assert_eq!(s.resumes(), 1);
    assert!(s.last_resume().is_some_and(|r| r.recovered));
    assert_eq!(
        s.leading().and_then(|m| m.get("recovered")?.as_bool()),
        Some(true)
    );
    assert_eq!(client.state(), ConnectionState::Connected { connection: 2 });
    // The second open asked for exactly the last position received.
    assert_eq!(t.feed.opens(), [None, Some(pos("e1", 3))]);
    drop(events);
    t.stop(client).await;
}

#[tokio::test]
async fn a_plain_stream_consumer_sees_the_items_continue_across_reconnects() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    let mut s = t.subscribe(&client).await.into_inner();
    let mut got = Vec::new();
    for round in 0..3u64 {
        t.feed.push(2);
        for _ in 0..2 {
            got.push(s.next().with_timeout().await.unwrap().unwrap());
        }
        t.cut(&client).await;
        t.feed.push(1);
        t.proxy.open();
        got.push(s.next().with_timeout().await.unwrap().unwrap());
        assert_eq!(s.resumes(), round + 1);
    }
    assert_eq!(got, (1..=9).collect::<Vec<_>>());
    assert_eq!(client.state(), ConnectionState::Connected { connection: 4 });
    drop(s);
    t.stop(client).await;
}

#[tokio::test]
async fn when_the_history_is_gone_the_resume_says_not_recovered_and_live_items_follow() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    let mut events = t.subscribe(&client).await;
    t.feed.push(2);
    assert_eq!(items(&mut events, 2).await, [1, 2]);

    t.cut(&client).await;
    // The server lost its history (a restart): a new epoch, and items nobody will replay.
    t.feed.restart("e2", 100);
    t.feed.push(2);
    t.proxy.open();
    let StreamEvent::Resumed(r) = next(&mut events).await else {
        panic!("expected the resume first");
    };
    assert_eq!(
        (r.recovered, r.position.clone()),
        (false, Some(pos("e2", 102))),
        "{r:?}"
    );
    assert_eq!(events.get_ref().position(), Some(&pos("e2", 102)));
    t.feed.push(1);
    assert_eq!(items(&mut events, 1).await, [103]);
    assert_eq!(events.get_ref().position(), Some(&pos("e2", 103)));
    assert_eq!(
        events.get_ref().last_resume().map(|r| r.recovered),
        Some(false)
    );
    drop(events);
    t.stop(client).await;
}

#[tokio::test]
async fn a_lagged_stream_is_resumed_on_the_same_connection() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    let mut events = t.subscribe(&client).await;
    t.feed.push(2);
    assert_eq!(items(&mut events, 2).await, [1, 2]);
    // The server drops the subscriber as lagged while two more items are in the history.
    t.feed.history.send_modify(|h| {
        h.lags += 1;
        h.items.extend([3, 4]);
    });
    let StreamEvent::Resumed(r) = next(&mut events).await else {
        panic!("expected the resume first");
    };
    assert_eq!(
        (r.recovered, r.position.clone(), r.cause),
        (true, Some(pos("e1", 2)), ResumeCause::Lagged)
    );
    assert_eq!(items(&mut events, 2).await, [3, 4]);
    t.feed.push(1);
    assert_eq!(items(&mut events, 1).await, [5]);
    assert_eq!(client.state(), ConnectionState::Connected { connection: 1 });
    assert_eq!(t.feed.opens(), [None, Some(pos("e1", 2))]);
    drop(events);
    t.stop(client).await;
}

#[tokio::test]
async fn resumes_are_bounded_and_the_last_interruption_ends_the_stream() {
    let t = Setup::new().await;
    let client = t.client(|b| b.max_resume_attempts(2)).await;
    let mut events = t.subscribe(&client).await;
    t.feed.push(1);
    assert_eq!(items(&mut events, 1).await, [1]);
    // From now on every subscription lags at once.
    t.feed.history.send_modify(|h| {
        h.lags += 1;
        h.always_lag = true;
    });
    // Each re-open is answered with the 503 again (whether its leading metadata comes first
    // is up to the server): after two re-opens the third 503 ends the stream.
    let mut resumed = 0;
    let e = loop {
        match events.next().with_timeout().await {
            Some(Ok(StreamEvent::Resumed(r))) => {
                assert_eq!(r.cause, ResumeCause::Lagged);
                resumed += 1;
            }
            Some(Err(ClientError::Rpc(e))) => break e,
            other => panic!("expected resumes then the 503, got {other:?}"),
        }
    };
    assert!(resumed <= 2);
    assert_eq!(e.code().as_i64(), 503);
    assert!(events.next().with_timeout().await.is_none());
    assert_eq!(
        t.feed.opens(),
        [None, Some(pos("e1", 1)), Some(pos("e1", 1))]
    );
    drop(events);
    t.stop(client).await;
}

#[tokio::test]
async fn a_stream_that_is_not_resumable_ends_with_disconnected() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    let mut s = client.stream::<u64>("plain", &()).unwrap();
    s.opened().with_timeout().await.unwrap();
    assert_eq!(s.position(), None);
    t.cut(&client).await;
    let Some(Err(e)) = s.next().with_timeout().await else {
        panic!("expected the disconnect error");
    };
    assert!(matches!(e, ClientError::Disconnected), "{e:?}");
    assert!(s.next().with_timeout().await.is_none());
    drop(s);
    t.stop(client).await;
}

#[tokio::test]
async fn with_resume_off_a_resumable_stream_ends_with_disconnected() {
    let t = Setup::new().await;
    let client = t.client(|b| b.resume_streams(false)).await;
    let mut events = t.subscribe(&client).await;
    t.cut(&client).await;
    let Some(Err(e)) = events.next().with_timeout().await else {
        panic!("expected the disconnect error");
    };
    assert!(matches!(e, ClientError::Disconnected), "{e:?}");
    assert_eq!(t.feed.opens(), [None]);
    drop(events);
    t.stop(client).await;
}

#[tokio::test]
async fn a_stream_can_be_resumed_by_hand_from_a_saved_position() {
    let t = Setup::new().await;
    let client = t.client(|b| b).await;
    let mut events = t.subscribe(&client).await;
    t.feed.push(2);
    assert_eq!(items(&mut events, 2).await, [1, 2]);
    let saved = events.get_ref().position().cloned().unwrap();
    drop(events);
    t.feed.push(2);
    // A later subscription (another process, say) starts where the first one stopped.
    let mut s = client
        .rpc("feed")
        .metadata(Metadata::new().with(Position::SINCE, &saved))
        .stream::<u64>(&())
        .unwrap();
    let leading = s.opened().with_timeout().await.unwrap().cloned().unwrap();
    assert_eq!(
        leading.get("recovered").and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 3);
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 4);
    drop(s);
    t.stop(client).await;
}

#[test]
fn the_resume_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Events<u64>>();
    send_sync::<StreamEvent<u64>>();
    send_sync::<swill::client::Resumed>();
    send_sync::<ConnectionState>();
    send_sync::<ReconnectPolicy>();
}

/// Serves the feed on `addr` (a port the OS chose before) until `stop` fires.
async fn serve_feed_on(
    addr: std::net::SocketAddr,
    feed_state: &Feed,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind(addr)
        .with_timeout()
        .await
        .expect("bind the same port again");
    let app = Swill::new()
        .config(swill::Config::new().shutdown_timeout(Duration::from_millis(50)))
        .with_state(feed_state.clone())
        .handler(feed);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        swill::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    (tx, task)
}

/// The server restarts on the same port, its history kept elsewhere (as Redis would): the
/// client reconnects through refused attempts and the stream loses nothing.
#[tokio::test]
async fn a_stream_survives_a_server_restart_on_the_same_port() {
    let state = Feed::new();
    let addr = {
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        probe.local_addr().unwrap()
    };
    let (stop, task) = serve_feed_on(addr, &state).await;
    let client = Client::builder(format!("ws://{addr}/ws"))
        .reconnect(quick())
        .connect()
        .with_timeout()
        .await
        .unwrap();
    let mut s = client.stream::<u64>("feed", &()).unwrap();
    s.opened().with_timeout().await.unwrap();
    state.push(2);
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 1);
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 2);

    // Graceful shutdown: the open stream holds it for the 50 ms grace, then 1001.
    let _ = stop.send(());
    task.with_timeout().await.unwrap().unwrap();
    let mut state_rx = client.watch_state();
    state_rx
        .wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. }))
        .with_timeout()
        .await
        .unwrap();
    state.push(2);
    let (stop, task) = serve_feed_on(addr, &state).await;
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 3);
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 4);
    state.push(1);
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 5);
    assert!(s.last_resume().is_some_and(|r| r.recovered));
    // The old server dropped its listener at the signal: attempts were refused until the
    // new one listened, so this is the second connection.
    assert_eq!(client.state(), ConnectionState::Connected { connection: 2 });
    drop(s);
    client.close();
    let _ = stop.send(());
    task.with_timeout().await.unwrap().unwrap();
}
