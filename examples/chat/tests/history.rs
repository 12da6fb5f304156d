//! Room history over real sockets: a fresh join's backlog (and a history trimmed below it), a
//! join with `since` getting exactly the messages it missed, `recovered: false` when the
//! history cannot cover the gap; and, with a real `redis-server` this test starts, a client
//! that resumes on the other instance.

use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use chat::{ChatConfig, ChatMessage, Rooms, SESSION_COOKIE};
use futures::StreamExt;
use serde::Serialize;
use swill::client::{Client, ResponseStream};
use swill::pubsub::{Position, PubSub, Sessions, SINCE_KEY};
use swill::Metadata;
use tokio::io::{AsyncBufReadExt, BufReader};

const WAIT: Duration = Duration::from_secs(10);

async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("no answer within the bound")
}

struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the chat app with `config`, the message budget aside: these tests post more
/// messages in a row than a person may.
async fn spawn_with(pubsub: PubSub, sessions: Sessions, config: &ChatConfig) -> Server {
    let config = config.clone().message_burst(1000);
    let rooms = Rooms::new(pubsub.clone(), &config);
    let router = chat::router(chat::app(pubsub, sessions, rooms, &config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Server { addr, task }
}

async fn spawn(config: ChatConfig) -> Server {
    let pubsub = chat::pubsub_builder(&config).build();
    spawn_with(pubsub, Sessions::new(), &config).await
}

async fn connect(server: &Server) -> Client {
    let b = Client::builder(format!("ws://{}/ws", server.addr))
        .header("cookie", format!("{SESSION_COOKIE}={}", Sessions::new_id()));
    within(b.connect()).await.unwrap()
}

#[derive(Serialize)]
struct Say<'a> {
    room: &'a str,
    text: &'a str,
}

#[derive(Serialize)]
struct Room<'a> {
    room: &'a str,
}

async fn say(c: &Client, room: &str, texts: &[&str]) {
    for text in texts {
        let _: ChatMessage = within(c.call("say", &Say { room, text })).await.unwrap();
    }
}

struct Joined {
    stream: ResponseStream<ChatMessage>,
    start: Position,
    recovered: Option<bool>,
}

async fn join(c: &Client, room: &str, since: Option<&Position>) -> Joined {
    let mut b = c.rpc("join");
    if let Some(p) = since {
        b = b.metadata(Metadata::new().with(SINCE_KEY, p));
    }
    let mut stream = b.stream::<ChatMessage>(&Room { room }).unwrap();
    let md = within(stream.opened())
        .await
        .unwrap()
        .cloned()
        .expect("leading metadata");
    assert_eq!(
        md.get_str("subscribed"),
        Some(format!("room.{room}").as_str())
    );
    let start = Position::new(
        md.get_str("epoch").expect("epoch"),
        md.get("offset").and_then(|v| v.as_u64()).expect("offset"),
    );
    let recovered = md.get("recovered").and_then(|v| v.as_bool());
    Joined {
        stream,
        start,
        recovered,
    }
}

async fn texts(s: &mut ResponseStream<ChatMessage>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let m = within(s.next())
            .await
            .expect("the stream ended")
            .expect("an error");
        out.push(m.text);
    }
    out
}

#[tokio::test]
async fn a_fresh_join_replays_the_last_messages_then_the_live_ones() {
    let server = spawn(ChatConfig::default().backlog(3)).await;
    let c = connect(&server).await;
    say(&c, "lobby", &["m0", "m1", "m2", "m3", "m4"]).await;
    let mut j = join(&c, "lobby", None).await;
    assert_eq!(j.start.offset(), 2, "three before the top (5)");
    assert_eq!(j.recovered, Some(true));
    assert_eq!(texts(&mut j.stream, 3).await, ["m2", "m3", "m4"]);
    say(&c, "lobby", &["m5"]).await;
    assert_eq!(texts(&mut j.stream, 1).await, ["m5"]);

    // A new room has nothing to replay; fewer messages than the backlog replay them all.
    let mut empty = join(&c, "new-room", None).await;
    assert_eq!(empty.start.offset(), 0);
    say(&c, "new-room", &["n0"]).await;
    assert_eq!(texts(&mut empty.stream, 1).await, ["n0"]);
    let mut few = join(&c, "new-room", None).await;
    assert_eq!(few.start.offset(), 0);
    assert_eq!(texts(&mut few.stream, 1).await, ["n0"]);
}

#[tokio::test]
async fn without_a_backlog_a_fresh_join_gets_only_live_messages() {
    let server = spawn(ChatConfig::default().backlog(0)).await;
    let c = connect(&server).await;
    say(&c, "lobby", &["old"]).await;
    let mut j = join(&c, "lobby", None).await;
    assert_eq!(j.start.offset(), 1);
    say(&c, "lobby", &["new"]).await;
    assert_eq!(texts(&mut j.stream, 1).await, ["new"]);
}

#[tokio::test]
async fn a_history_shorter_than_the_backlog_replays_what_it_keeps() {
    // The pub/sub keeps 4 messages per room; the app asks for a backlog of 50.
    let config = ChatConfig::default();
    let pubsub = chat::pubsub_builder(&ChatConfig::default().room_history(4)).build();
    let server = spawn_with(pubsub, Sessions::new(), &config).await;
    let c = connect(&server).await;
    let sent: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    say(&c, "lobby", &refs).await;
    let mut j = join(&c, "lobby", None).await;
    assert_eq!(j.start.offset(), 6);
    assert_eq!(j.recovered, Some(true));
    assert_eq!(texts(&mut j.stream, 4).await, ["m6", "m7", "m8", "m9"]);
}

#[tokio::test]
async fn a_join_with_since_gets_exactly_what_it_missed() {
    let server = spawn(ChatConfig::default().room_history(5)).await;
    let talker = connect(&server).await;
    let listener = connect(&server).await;
    let mut j = join(&listener, "rust", None).await;
    say(&talker, "rust", &["a", "b"]).await;
    assert_eq!(texts(&mut j.stream, 2).await, ["a", "b"]);
    let seen = Position::new(j.start.epoch(), j.start.offset() + 2);
    // The listener's connection goes away; three messages are published meanwhile.
    drop(j);
    drop(listener);
    say(&talker, "rust", &["c", "d", "e"]).await;

    let back = connect(&server).await;
    let mut r = join(&back, "rust", Some(&seen)).await;
    assert_eq!(r.recovered, Some(true));
    assert_eq!(r.start, seen);
    assert_eq!(texts(&mut r.stream, 3).await, ["c", "d", "e"]);
    say(&talker, "rust", &["f"]).await;
    assert_eq!(
        texts(&mut r.stream, 1).await,
        ["f"],
        "then live, nothing twice"
    );

    // More missed than the room keeps (5): nothing replayed, recovered: false.
    say(&talker, "rust", &["g", "h", "i", "j", "k", "l"]).await;
    let mut late = join(&back, "rust", Some(&seen)).await;
    assert_eq!(late.recovered, Some(false));
    assert_eq!(late.start.offset(), seen.offset() + 10);
    // Another epoch (a restarted instance): the same.
    let mut stale = join(&back, "rust", Some(&Position::new("gone", 1))).await;
    assert_eq!(stale.recovered, Some(false));
    say(&talker, "rust", &["live"]).await;
    assert_eq!(texts(&mut late.stream, 1).await, ["live"]);
    assert_eq!(texts(&mut stale.stream, 1).await, ["live"]);
}

/// A `redis-server` on a free loopback port, killed on drop; `None` (the test is skipped)
/// when it is not installed, except under `CI=true`.
struct Redis {
    url: String,
    _child: tokio::process::Child,
}

async fn start_redis() -> Option<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spawned = tokio::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--logfile", ""])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server is not installed"
            );
            eprintln!("skipped: redis-server is not installed");
            return None;
        }
        Err(e) => panic!("cannot start redis-server: {e}"),
    };
    // Its log line is the gate.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    within(async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("Ready to accept connections") {
                return;
            }
        }
        panic!("redis-server exited before it was ready");
    })
    .await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Redis {
        url: format!("redis://127.0.0.1:{port}"),
        _child: child,
    })
}

async fn redis_instance(url: &str, config: &ChatConfig) -> Server {
    let pubsub = within(chat::pubsub_builder(config).redis(url))
        .await
        .unwrap();
    let sessions = within(Sessions::builder().redis(url)).await.unwrap();
    spawn_with(pubsub, sessions, config).await
}

#[tokio::test]
async fn with_redis_a_client_resumes_on_the_other_instance() {
    let Some(redis) = start_redis().await else {
        return;
    };
    let config = ChatConfig::default().backlog(2);
    let one = redis_instance(&redis.url, &config).await;
    let two = redis_instance(&redis.url, &config).await;
    let talker = connect(&two).await;
    let listener = connect(&one).await;
    let mut j = join(&listener, "lobby", None).await;
    say(&talker, "lobby", &["a", "b"]).await;
    assert_eq!(texts(&mut j.stream, 2).await, ["a", "b"]);
    let seen = Position::new(j.start.epoch(), j.start.offset() + 2);
    drop(j);
    drop(listener);
    say(&talker, "lobby", &["c", "d"]).await;

    // Back, on the other instance: exactly what was missed, then live.
    let back = connect(&two).await;
    let mut r = join(&back, "lobby", Some(&seen)).await;
    assert_eq!(r.recovered, Some(true));
    assert_eq!(texts(&mut r.stream, 2).await, ["c", "d"]);
    say(&talker, "lobby", &["e"]).await;
    assert_eq!(texts(&mut r.stream, 1).await, ["e"]);

    // A fresh join on either instance replays the shared backlog.
    for server in [&one, &two] {
        let c = connect(server).await;
        let mut fresh = join(&c, "lobby", None).await;
        assert_eq!(fresh.start, Position::new(seen.epoch(), seen.offset() + 1));
        assert_eq!(texts(&mut fresh.stream, 2).await, ["d", "e"]);
    }
}
