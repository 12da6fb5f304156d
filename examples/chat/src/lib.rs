//! A chat server with rooms, presence and typing notices, built on `swill::pubsub`, serving
//! its own web page. `cargo run --release -p chat` starts one instance on
//! <http://127.0.0.1:8766/>; with `--redis redis://HOST:PORT` several instances share rooms,
//! presence and sessions through Redis.
//!
//! # What it serves
//!
//! - `GET /`: the page (plain HTML, CSS and JavaScript on the TypeScript client
//!   `@swill-rs/client`, all embedded in the binary). It sets the session cookie
//!   [`SESSION_COOKIE`] when the browser has none, so a reload keeps the nickname.
//! - `/ws`: the swill API below; `/schema.json` and `/docs` describe it.
//!
//! # The API
//!
//! | handler | shape | what it does |
//! |---|---|---|
//! | `me` | unary | the connection's nickname (kept in the session) |
//! | `set_nick` | unary | changes it (rejoin a room for its presence to show the new name) |
//! | `rooms` | unary | the known rooms with their member counts |
//! | `join` | stream | the room's messages; the connection is present in the room while it runs |
//! | `say` | unary | posts a [`ChatMessage`] `{room, from, text, at}` to the room |
//! | `typing` | unary | posts an ephemeral [`TypingNotice`] to the room's typing topic |
//! | `typing_notices` | stream | the typing notices of a room |
//! | `presence` | stream | the room's members: a snapshot, then one [`PresenceUpdate`] per change |
//!
//! A room `NAME` has the topics `room.NAME` (messages, [`room_topic`]) and `typing.NAME`
//! (typing notices, [`typing_topic`]); presence is tracked on `room.NAME`. Clients never
//! publish to a topic themselves: the handlers validate the input and publish as server code,
//! and the authorization check ([`authorize`]) refuses every publish on behalf of a connection
//! and every subscribe outside these topics.
//!
//! # Limits
//!
//! | limit | default | enforced by |
//! |---|---|---|
//! | room name | 1 to [`DEFAULT_MAX_ROOM_NAME_LEN`] characters of `a-z`, `0-9`, `-`, `_` | validation (422) |
//! | nickname | 1 to [`DEFAULT_MAX_NICK_LEN`] characters, no control characters, no outer spaces | validation (422) |
//! | message text | 1 to [`DEFAULT_MAX_TEXT_LEN`] characters, not blank | validation (422) |
//! | rooms | [`DEFAULT_MAX_ROOMS`] (`--max-rooms N`) | `join` of a new room past it: 429 |
//!
//! The length limits are the constants the request types are validated with (the JSON
//! schema at `/schema.json` shows them); the room count is a [`ChatConfig`] setting.

mod check;
mod handlers;
mod page;
mod rooms;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use swill::pubsub::{Access, PubSub, PubSubBuilder, Sessions, DEFAULT_SESSION_COOKIE};
use swill::{Connection, Error, Swill};

pub use check::self_check;
pub use handlers::{
    ChatMessage, Me, NickRequest, PresenceChange, PresenceUpdate, RoomInfo, RoomRequest,
    SayRequest, TypingNotice,
};
pub use page::router;
pub use rooms::Rooms;

/// Where `chat` listens unless told otherwise (`--addr`): loopback, next to the `hello`
/// example's 8765.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8766";

/// The longest room name, in characters: long enough for a topic ("rust-async-help"), short
/// enough for the room list.
pub const DEFAULT_MAX_ROOM_NAME_LEN: u64 = 32;

/// The longest nickname, in characters: fits the member list and a message header.
pub const DEFAULT_MAX_NICK_LEN: u64 = 24;

/// The longest message, in characters: a few paragraphs, while one message stays far below
/// the server's frame size limit (4 bytes per character at most).
pub const DEFAULT_MAX_TEXT_LEN: u64 = 2000;

/// How many rooms a deployment knows at most (the default rooms included): every room costs
/// one topic per instance with members and one presence lookup per `rooms` call, so a
/// client may not create rooms without bound.
pub const DEFAULT_MAX_ROOMS: usize = 100;

/// The rooms that always exist; the page opens the first.
pub const DEFAULT_ROOMS: [&str; 3] = ["lobby", "rust", "random"];

/// How often each instance tells the others which rooms have members there (on
/// [`ROOMS_TOPIC`]), so an instance started later learns them: rarely enough to cost one
/// small publish per instance, often enough that the room list catches up within a minute.
/// A room nobody announced for three intervals is forgotten (the default rooms never are).
pub const DEFAULT_ROOM_ANNOUNCE_INTERVAL: Duration = Duration::from_secs(30);

/// The cookie that carries the session id (swill's default).
pub const SESSION_COOKIE: &str = DEFAULT_SESSION_COOKIE;

/// The session key of the nickname.
pub const NICK_KEY: &str = "nick";

/// The topic on which instances announce rooms to each other (server code only).
pub const ROOMS_TOPIC: &str = "chat.rooms";

/// The topic of room `room`'s messages, on which its presence is tracked too.
pub fn room_topic(room: &str) -> String {
    format!("room.{room}")
}

/// The topic of room `room`'s typing notices.
pub fn typing_topic(room: &str) -> String {
    format!("typing.{room}")
}

/// Whether `name` is a valid room name: 1 to [`DEFAULT_MAX_ROOM_NAME_LEN`] characters of
/// `a-z`, `0-9`, `-` and `_`.
pub fn is_room_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() as u64 <= DEFAULT_MAX_ROOM_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The authorization check of the chat's [`PubSub`]: a connection may subscribe to (and be
/// present on) `room.NAME` and `typing.NAME` for a valid room name, and nothing else; it may
/// never publish (the handlers publish as server code, after validating).
///
/// # Errors
///
/// 403 for every other access.
pub fn authorize(_conn: &Connection, topic: &str, access: Access) -> Result<(), Error> {
    let room = topic
        .strip_prefix("room.")
        .or_else(|| topic.strip_prefix("typing."));
    match (access, room) {
        (Access::Subscribe, Some(room)) if is_room_name(room) => Ok(()),
        _ => Err(Error::forbidden(format!(
            "topic {topic:?}: clients go through the chat handlers"
        ))),
    }
}

/// Who a connection is: its session and its nickname. The `before_connection` hook of
/// [`app`] puts one in every connection's extensions; the presence entries carry the
/// nickname (through [`PubSubBuilder::identify`]).
#[derive(Debug, Clone)]
pub struct Visitor {
    session: String,
    nick: Arc<Mutex<String>>,
}

impl Visitor {
    fn new(session: String, nick: String) -> Self {
        Self {
            session,
            nick: Arc::new(Mutex::new(nick)),
        }
    }

    /// The connection's nickname now.
    pub fn nick(&self) -> String {
        self.nick.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_nick(&self, nick: String) {
        *self.nick.lock().unwrap_or_else(|p| p.into_inner()) = nick;
    }

    /// The visitor of `conn`.
    ///
    /// # Errors
    ///
    /// 500 when the connection did not pass through [`app`]'s hook.
    pub fn of(conn: &Connection) -> Result<Self, Error> {
        conn.extensions().get::<Self>().cloned().ok_or_else(|| {
            tracing::error!("a connection without a visitor: the chat hook is missing");
            Error::internal()
        })
    }
}

/// A [`PubSubBuilder`] with the chat's authorization check and identity (the nickname).
pub fn pubsub_builder() -> PubSubBuilder {
    PubSub::builder()
        .authorize(authorize)
        .identify(|conn| conn.extensions().get::<Visitor>().map(Visitor::nick))
}

/// Settings of the chat app; every field has a `DEFAULT_*`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChatConfig {
    /// See [`DEFAULT_MAX_ROOMS`].
    pub max_rooms: usize,
    /// See [`DEFAULT_ROOM_ANNOUNCE_INTERVAL`].
    pub room_announce_interval: Duration,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_rooms: DEFAULT_MAX_ROOMS,
            room_announce_interval: DEFAULT_ROOM_ANNOUNCE_INTERVAL,
        }
    }
}

impl ChatConfig {
    /// Sets [`max_rooms`](Self::max_rooms) (at least the default rooms).
    #[must_use]
    pub fn max_rooms(mut self, n: usize) -> Self {
        self.max_rooms = n.max(DEFAULT_ROOMS.len());
        self
    }

    /// Sets [`room_announce_interval`](Self::room_announce_interval) (at least 1 ms).
    #[must_use]
    pub fn room_announce_interval(mut self, d: Duration) -> Self {
        self.room_announce_interval = d.max(Duration::from_millis(1));
        self
    }
}

/// The swill app: the handlers, with `pubsub` (build it from [`pubsub_builder`]),
/// `sessions` and the room directory `rooms` as state, and the hook that gives every
/// connection its [`Visitor`]. Spawn [`Rooms::run`] next to it when several instances share
/// a backend.
pub fn app(pubsub: PubSub, sessions: Sessions, rooms: Rooms) -> Swill {
    let hook_sessions = sessions.clone();
    handlers::register(
        Swill::new()
            .info("chat", env!("CARGO_PKG_VERSION"))
            .with_state(pubsub)
            .with_state(sessions)
            .with_state(rooms)
            .before_connection(move |hs| page::admit(hook_sessions.clone(), hs)),
    )
}
