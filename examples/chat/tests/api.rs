//! The chat API over real sockets (in-process backend): the limits and their 422s, the room
//! limit's 429, the session keeping the nickname, the authorization check, the origin check,
//! and the whole self-check.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use chat::{ChatConfig, ChatMessage, Me, Rooms, DEFAULT_ROOMS, SESSION_COOKIE};
use futures::StreamExt;
use serde::Serialize;
use swill::client::{Client, ClientError};
use swill::pubsub::{Access, Sessions};

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

async fn spawn(config: ChatConfig) -> Server {
    let pubsub = chat::pubsub_builder(&config).build();
    let rooms = Rooms::new(pubsub.clone(), &config);
    let router = chat::router(chat::app(pubsub, Sessions::new(), rooms, &config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Server { addr, task }
}

async fn connect(server: &Server, session: Option<&str>) -> Result<Client, ClientError> {
    let mut b = Client::builder(format!("ws://{}/ws", server.addr));
    if let Some(id) = session {
        b = b.header("cookie", format!("{SESSION_COOKIE}={id}"));
    }
    within(b.connect()).await
}

async fn code_of<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    client: &Client,
    rpc: &str,
    req: &impl Serialize,
) -> i64 {
    let got = within(client.call::<T>(rpc, req)).await;
    match got {
        Err(e) => e.rpc().map_or(0, |e| e.code().as_i64()),
        Ok(v) => panic!("{rpc} answered {v:?}"),
    }
}

#[derive(Serialize)]
struct Say<'a> {
    room: &'a str,
    text: &'a str,
}

#[derive(Serialize)]
struct Nick<'a> {
    nick: &'a str,
}

#[derive(Serialize)]
struct Room<'a> {
    room: &'a str,
}

#[tokio::test]
async fn the_self_check_passes() {
    let server = spawn(ChatConfig::default()).await;
    within(chat::self_check(server.addr)).await.unwrap();
}

#[tokio::test]
async fn inputs_past_the_limits_are_refused_with_422() {
    let server = spawn(ChatConfig::default()).await;
    let c = connect(&server, Some(&Sessions::new_id())).await.unwrap();
    let max_room = "r".repeat(chat::DEFAULT_MAX_ROOM_NAME_LEN as usize);
    let long_room = "r".repeat(chat::DEFAULT_MAX_ROOM_NAME_LEN as usize + 1);
    let max_text = "é".repeat(chat::DEFAULT_MAX_TEXT_LEN as usize);
    let long_text = "t".repeat(chat::DEFAULT_MAX_TEXT_LEN as usize + 1);
    for (room, text) in [
        ("", "hi"),
        (long_room.as_str(), "hi"),
        ("Lobby", "hi"),
        ("no spaces", "hi"),
        ("lobby", ""),
        ("lobby", " \n\t"),
        ("lobby", long_text.as_str()),
    ] {
        let req = Say { room, text };
        assert_eq!(
            code_of::<ChatMessage>(&c, "say", &req).await,
            422,
            "{room:?} {text:?}"
        );
    }
    // At the limits: accepted (text limits count characters, not bytes).
    let ok: ChatMessage = within(c.call(
        "say",
        &Say {
            room: &max_room,
            text: &max_text,
        },
    ))
    .await
    .unwrap();
    assert_eq!(ok.text.chars().count(), chat::DEFAULT_MAX_TEXT_LEN as usize);

    let long_nick = "n".repeat(chat::DEFAULT_MAX_NICK_LEN as usize + 1);
    for nick in ["", " alice", "alice ", "al\u{7}ice", long_nick.as_str()] {
        assert_eq!(
            code_of::<Me>(&c, "set_nick", &Nick { nick }).await,
            422,
            "{nick:?}"
        );
    }
    let max_nick = "ñ".repeat(chat::DEFAULT_MAX_NICK_LEN as usize);
    let me: Me = within(c.call("set_nick", &Nick { nick: &max_nick }))
        .await
        .unwrap();
    assert_eq!(me.nick, max_nick);
    assert_eq!(
        code_of::<()>(&c, "typing", &Room { room: "UPPER" }).await,
        422
    );
}

#[tokio::test]
async fn new_rooms_past_the_limit_are_refused_with_429() {
    let server = spawn(ChatConfig::default().max_rooms(DEFAULT_ROOMS.len() + 1)).await;
    let c = connect(&server, Some(&Sessions::new_id())).await.unwrap();
    let mut first = c
        .stream::<ChatMessage>("join", &Room { room: "first" })
        .unwrap();
    within(first.opened()).await.unwrap();
    let mut second = c
        .stream::<ChatMessage>("join", &Room { room: "second" })
        .unwrap();
    let e = within(second.next()).await.unwrap().unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(429));
    // Known rooms can still be joined.
    let mut lobby = c
        .stream::<ChatMessage>("join", &Room { room: "lobby" })
        .unwrap();
    within(lobby.opened()).await.unwrap();
    let mut again = c
        .stream::<ChatMessage>("join", &Room { room: "first" })
        .unwrap();
    within(again.opened()).await.unwrap();
}

#[tokio::test]
async fn messages_past_the_connection_budget_are_refused_with_429() {
    let config = ChatConfig::default()
        .message_burst(2)
        .message_interval(Duration::from_secs(3600));
    let server = spawn(config).await;
    let c = connect(&server, Some(&Sessions::new_id())).await.unwrap();
    let say = Say {
        room: "lobby",
        text: "hi",
    };
    for _ in 0..2 {
        let _: ChatMessage = within(c.call("say", &say)).await.unwrap();
    }
    assert_eq!(code_of::<ChatMessage>(&c, "say", &say).await, 429);
    // The budget is the connection's: another connection still posts.
    let other = connect(&server, Some(&Sessions::new_id())).await.unwrap();
    let _: ChatMessage = within(other.call("say", &say)).await.unwrap();
}

#[tokio::test]
async fn the_session_keeps_the_nickname_and_a_connection_without_one_gets_its_own() {
    let server = spawn(ChatConfig::default()).await;
    let id = Sessions::new_id();
    let c = connect(&server, Some(&id)).await.unwrap();
    let _: Me = within(c.call("set_nick", &Nick { nick: "carol" }))
        .await
        .unwrap();
    drop(c);
    let again = connect(&server, Some(&id)).await.unwrap();
    let me: Me = within(again.call("me", &())).await.unwrap();
    assert_eq!(me.nick, "carol");

    let anonymous = connect(&server, None).await.unwrap();
    let me: Me = within(anonymous.call("me", &())).await.unwrap();
    assert!(me.nick.starts_with("guest-"), "{me:?}");
    // A session id that is not plain (or too long) is replaced, not trusted.
    let odd = connect(&server, Some("a b")).await.unwrap();
    let me: Me = within(odd.call("me", &())).await.unwrap();
    assert!(me.nick.starts_with("guest-"), "{me:?}");
}

#[tokio::test]
async fn other_sites_pages_cannot_connect() {
    let server = spawn(ChatConfig::default()).await;
    let ws = format!("ws://{}/ws", server.addr);
    let evil = within(
        Client::builder(ws.clone())
            .header("origin", "http://evil.invalid")
            .connect(),
    )
    .await;
    assert!(evil.is_err(), "a cross-origin upgrade was accepted");
    let own = within(
        Client::builder(ws)
            .header("origin", format!("http://{}", server.addr))
            .connect(),
    )
    .await
    .unwrap();
    let _: Me = within(own.call("me", &())).await.unwrap();
}

#[tokio::test]
async fn connections_may_only_subscribe_to_room_and_typing_topics() {
    let server = spawn(ChatConfig::default()).await;
    let c = connect(&server, None).await.unwrap();
    // No handler publishes or subscribes to a topic the client names...
    for rpc in ["publish", "subscribe"] {
        assert_eq!(code_of::<()>(&c, rpc, &"room.lobby").await, 404, "{rpc}");
    }
    drop(c);
    // ...and the check refuses it anyway, should one be added.
    let conn = probe_connection().await;
    let ok = |topic: &str, access| chat::authorize(&conn, topic, access).is_ok();
    assert!(ok("room.lobby", Access::Subscribe));
    assert!(ok("typing.lobby", Access::Subscribe));
    assert!(!ok("room.lobby", Access::Publish));
    assert!(!ok("typing.lobby", Access::Publish));
    assert!(!ok("chat.rooms", Access::Subscribe));
    assert!(!ok("room.Bad Name", Access::Subscribe));
    assert!(!ok("other.lobby", Access::Subscribe));
}

/// A real server-side `Connection`, captured by a handler of a throwaway app.
async fn probe_connection() -> swill::Connection {
    use std::sync::{Arc, Mutex};
    type Slot = Arc<Mutex<Option<swill::Connection>>>;

    #[swill::handler]
    async fn grab(
        conn: swill::Connection,
        swill::State(slot): swill::State<Slot>,
    ) -> Result<(), swill::Error> {
        *slot.lock().unwrap() = Some(conn);
        Ok(())
    }

    let slot: Slot = Arc::default();
    let app = swill::Swill::new().with_state(slot.clone()).handler(grab);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = swill::serve(listener, app).await;
    });
    let c = within(Client::connect(format!("ws://{addr}/ws")))
        .await
        .unwrap();
    let () = within(c.call("grab", &())).await.unwrap();
    task.abort();
    let conn = slot.lock().unwrap().take();
    conn.expect("the handler ran")
}
