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
//! | `join` | stream | the room's last messages, then the new ones; the connection is present in the room while it runs; resumable (below) |
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
//! # History and resume
//!
//! Room topics keep a history ([`DEFAULT_ROOM_HISTORY`] messages, none older than
//! [`DEFAULT_ROOM_HISTORY_AGE`]; in process, or in Redis Streams with `--redis`), so `join`
//! is a resumable stream (see "Resuming" in `swill::pubsub`): its leading metadata is
//! `{"subscribed": "room.NAME", "epoch": e, "offset": n, "recovered": bool}`, the k-th
//! message being at offset `n + k`.
//!
//! - A fresh `join` (no `since`) starts with the room's last [`DEFAULT_ROOM_BACKLOG`]
//!   messages still kept, then the live ones; `recovered` says whether that backlog could be
//!   replayed (it cannot when messages are published faster than it is read).
//! - A `join` with request metadata `since: {"epoch": e, "offset": p}`, p being the last
//!   position received, continues right after p: exactly the messages missed while the
//!   connection was down, then the live ones (`recovered: true`), also on another instance
//!   sharing the Redis. When the history no longer reaches back to p (the instance restarted
//!   without Redis, or more was missed than it keeps) nothing is replayed and `recovered` is
//!   `false`: the client reloads the room (a fresh `join`).
//!
//! The page does this through the TypeScript client, which resumes such streams by itself
//! after a reconnect.
//!
//! # Limits
//!
//! | limit | default | enforced by |
//! |---|---|---|
//! | room name | 1 to [`DEFAULT_MAX_ROOM_NAME_LEN`] characters of `a-z`, `0-9`, `-`, `_` | validation (422) |
//! | nickname | 1 to [`DEFAULT_MAX_NICK_LEN`] characters, no control characters, no outer spaces | validation (422) |
//! | message text | 1 to [`DEFAULT_MAX_TEXT_LEN`] characters, not blank | validation (422) |
//! | rooms | [`DEFAULT_MAX_ROOMS`] (`--max-rooms N`) | `join` of a new room past it: 429 |
//! | messages per connection | bursts of [`DEFAULT_MESSAGE_BURST`], then one per [`DEFAULT_MESSAGE_INTERVAL`] | `say` past it: 429 |
//! | typing notices per connection | one per [`DEFAULT_TYPING_INTERVAL`] | more are dropped (answered, not published) |
//! | room history | [`DEFAULT_ROOM_HISTORY`] messages (`--room-history N`), none older than [`DEFAULT_ROOM_HISTORY_AGE`] | older messages are dropped; a resume from before them gets `recovered: false` |
//! | backlog of a fresh `join` | [`DEFAULT_ROOM_BACKLOG`] messages (`--backlog N`; at most the room history and [`DEFAULT_MAX_RECOVERY`]) | older ones are not replayed |
//!
//! The length limits are the constants the request types are validated with (the JSON
//! schema at `/schema.json` shows them); the others are [`ChatConfig`] settings.

mod check;
mod handlers;
mod page;
mod rooms;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use swill::pubsub::{
    Access, History, PubSub, PubSubBuilder, Sessions, DEFAULT_MAX_RECOVERY, DEFAULT_SESSION_COOKIE,
};
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

/// How many messages one connection may post at once before the rate applies: a person
/// pasting a few lines in a row is never refused.
pub const DEFAULT_MESSAGE_BURST: u32 = 10;

/// The sustained rate of messages per connection once the burst is spent, one per this
/// interval (two a second): faster than anyone types, slow enough that one client cannot
/// flood a room.
pub const DEFAULT_MESSAGE_INTERVAL: Duration = Duration::from_millis(500);

/// At most one typing notice per connection per this interval is published (the page sends
/// one every two seconds while typing); the others are answered but dropped.
pub const DEFAULT_TYPING_INTERVAL: Duration = Duration::from_secs(1);

/// How many messages each room keeps (its topic's history, in process or in Redis): enough
/// to replay what a page missed during a few minutes offline in a busy room, and the backlog
/// of a fresh join. Bounded because every room keeps it: at the longest text (8 KB) that is
/// under 1 MB per room and 80 MB for [`DEFAULT_MAX_ROOMS`] rooms in the worst case, a small
/// fraction of it with ordinary messages.
pub const DEFAULT_ROOM_HISTORY: usize = 100;

/// How long a room keeps a message: an hour bridges a closed laptop lid or a meeting, and a
/// fresh join shows the current conversation rather than yesterday's.
pub const DEFAULT_ROOM_HISTORY_AGE: Duration = Duration::from_secs(60 * 60);

/// How many of a room's last messages a fresh `join` replays before the live ones: a screen
/// or two of context for someone arriving, cheap to send (at most the room history and
/// swill's [`DEFAULT_MAX_RECOVERY`], the most one resume replays).
pub const DEFAULT_ROOM_BACKLOG: usize = 50;

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

/// A connection's message and typing budget (see [`DEFAULT_MESSAGE_BURST`]).
#[derive(Debug)]
struct Flow {
    burst: u32,
    interval: Duration,
    typing_interval: Duration,
    /// Messages that may be posted now, before `refilled` is brought up to date.
    tokens: u32,
    refilled: Instant,
    last_typing: Option<Instant>,
}

impl Flow {
    fn new(config: &ChatConfig) -> Self {
        Self {
            burst: config.message_burst,
            interval: config.message_interval,
            typing_interval: config.typing_interval,
            tokens: config.message_burst,
            refilled: Instant::now(),
            last_typing: None,
        }
    }

    /// Takes one message from the budget; `false` when it is spent.
    fn message(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_nanos() / self.interval.as_nanos();
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(self.burst);
            // Keep the remainder, so a steady sender gets exactly one per interval.
            self.refilled = if self.tokens == self.burst {
                now
            } else {
                self.refilled + self.interval * earned
            };
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    /// Whether a typing notice may be published now.
    fn typing(&mut self) -> bool {
        let now = Instant::now();
        match self.last_typing {
            Some(at) if now.duration_since(at) < self.typing_interval => false,
            _ => {
                self.last_typing = Some(now);
                true
            }
        }
    }
}

/// Who a connection is: its session, its nickname and its message budget. The
/// `before_connection` hook of [`app`] puts one in every connection's extensions; the
/// presence entries carry the nickname (through [`PubSubBuilder::identify`]).
#[derive(Debug, Clone)]
pub struct Visitor {
    session: String,
    nick: Arc<Mutex<String>>,
    flow: Arc<Mutex<Flow>>,
}

impl Visitor {
    fn new(session: String, nick: String, config: &ChatConfig) -> Self {
        Self {
            session,
            nick: Arc::new(Mutex::new(nick)),
            flow: Arc::new(Mutex::new(Flow::new(config))),
        }
    }

    fn flow(&self) -> std::sync::MutexGuard<'_, Flow> {
        self.flow.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one message from the connection's budget.
    ///
    /// # Errors
    ///
    /// 429 when the budget is spent.
    fn may_say(&self) -> Result<(), Error> {
        if self.flow().message() {
            Ok(())
        } else {
            Err(Error::too_many_requests(
                "too many messages: wait a moment before sending more",
            ))
        }
    }

    /// Whether a typing notice of this connection may go out now.
    fn may_type(&self) -> bool {
        self.flow().typing()
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

/// A [`PubSubBuilder`] with the chat's authorization check, identity (the nickname) and the
/// history of room topics (`room.NAME`: [`ChatConfig::room_history`] messages, none older
/// than [`ChatConfig::room_history_age`]). Typing notices and the room announcements keep
/// none.
pub fn pubsub_builder(config: &ChatConfig) -> PubSubBuilder {
    let history = History::new(config.room_history).max_age(config.room_history_age);
    PubSub::builder()
        .authorize(authorize)
        .identify(|conn| conn.extensions().get::<Visitor>().map(Visitor::nick))
        .history(move |topic| {
            topic
                .strip_prefix("room.")
                .filter(|room| is_room_name(room))
                .map(|_| history)
        })
}

/// Settings of the chat app; every field has a `DEFAULT_*`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChatConfig {
    /// See [`DEFAULT_MAX_ROOMS`].
    pub max_rooms: usize,
    /// See [`DEFAULT_ROOM_ANNOUNCE_INTERVAL`].
    pub room_announce_interval: Duration,
    /// See [`DEFAULT_MESSAGE_BURST`].
    pub message_burst: u32,
    /// See [`DEFAULT_MESSAGE_INTERVAL`].
    pub message_interval: Duration,
    /// See [`DEFAULT_TYPING_INTERVAL`].
    pub typing_interval: Duration,
    /// See [`DEFAULT_ROOM_HISTORY`].
    pub room_history: usize,
    /// See [`DEFAULT_ROOM_HISTORY_AGE`].
    pub room_history_age: Duration,
    /// See [`DEFAULT_ROOM_BACKLOG`].
    pub backlog: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_rooms: DEFAULT_MAX_ROOMS,
            room_announce_interval: DEFAULT_ROOM_ANNOUNCE_INTERVAL,
            message_burst: DEFAULT_MESSAGE_BURST,
            message_interval: DEFAULT_MESSAGE_INTERVAL,
            typing_interval: DEFAULT_TYPING_INTERVAL,
            room_history: DEFAULT_ROOM_HISTORY,
            room_history_age: DEFAULT_ROOM_HISTORY_AGE,
            backlog: DEFAULT_ROOM_BACKLOG,
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

    /// Sets [`message_burst`](Self::message_burst) (at least 1).
    #[must_use]
    pub fn message_burst(mut self, n: u32) -> Self {
        self.message_burst = n.max(1);
        self
    }

    /// Sets [`message_interval`](Self::message_interval) (at least 1 ms).
    #[must_use]
    pub fn message_interval(mut self, d: Duration) -> Self {
        self.message_interval = d.max(Duration::from_millis(1));
        self
    }

    /// Sets [`typing_interval`](Self::typing_interval).
    #[must_use]
    pub fn typing_interval(mut self, d: Duration) -> Self {
        self.typing_interval = d;
        self
    }

    /// Sets [`room_history`](Self::room_history) (at least 1 message).
    #[must_use]
    pub fn room_history(mut self, messages: usize) -> Self {
        self.room_history = messages.max(1);
        self
    }

    /// Sets [`room_history_age`](Self::room_history_age) (at least 1 ms).
    #[must_use]
    pub fn room_history_age(mut self, d: Duration) -> Self {
        self.room_history_age = d.max(Duration::from_millis(1));
        self
    }

    /// Sets [`backlog`](Self::backlog) (0 for none).
    #[must_use]
    pub fn backlog(mut self, messages: usize) -> Self {
        self.backlog = messages;
        self
    }

    /// The backlog a fresh `join` replays: [`backlog`](Self::backlog), at most the room
    /// history and [`DEFAULT_MAX_RECOVERY`] (a longer one could never be replayed).
    pub fn effective_backlog(&self) -> usize {
        self.backlog
            .min(self.room_history)
            .min(DEFAULT_MAX_RECOVERY)
    }
}

/// The swill app: the handlers, with `pubsub` (build it from [`pubsub_builder`] with the
/// same `config`),
/// `sessions` and the room directory `rooms` as state, and the hook that gives every
/// connection its [`Visitor`] (with the per-connection limits of `config`). Spawn
/// [`Rooms::run`] next to it when several instances share a backend.
pub fn app(pubsub: PubSub, sessions: Sessions, rooms: Rooms, config: &ChatConfig) -> Swill {
    let hook_sessions = sessions.clone();
    let config = Arc::new(config.clone());
    let backlog = handlers::Backlog(config.effective_backlog());
    handlers::register(
        Swill::new()
            .info("chat", env!("CARGO_PKG_VERSION"))
            .with_state(pubsub)
            .with_state(backlog)
            .with_state(sessions)
            .with_state(rooms)
            .before_connection(move |hs| page::admit(hook_sessions.clone(), config.clone(), hs)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_room_topics_keep_a_history_and_the_backlog_fits_in_it() {
        let config = ChatConfig::default()
            .room_history(20)
            .room_history_age(Duration::from_secs(60));
        let pubsub = pubsub_builder(&config).build();
        let h = pubsub
            .history_of("room.lobby")
            .expect("room topics keep a history");
        assert_eq!(h.get_max_len(), 20);
        assert_eq!(h.get_max_age(), Duration::from_secs(60));
        for topic in ["typing.lobby", ROOMS_TOPIC, "room.Bad Name", "room."] {
            assert!(pubsub.history_of(topic).is_none(), "{topic}");
        }
        let defaults = ChatConfig::default();
        assert_eq!(defaults.effective_backlog(), DEFAULT_ROOM_BACKLOG);
        assert_eq!(config.effective_backlog(), 20, "at most the history");
        let long = ChatConfig::default().room_history(10_000).backlog(10_000);
        assert_eq!(long.effective_backlog(), DEFAULT_MAX_RECOVERY);
        assert_eq!(ChatConfig::default().room_history(0).room_history, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_posts_a_burst_then_at_the_rate() {
        let config = ChatConfig::default()
            .message_burst(3)
            .message_interval(Duration::from_secs(1))
            .typing_interval(Duration::from_secs(2));
        let mut flow = Flow::new(&config);
        assert!(flow.message() && flow.message() && flow.message());
        assert!(!flow.message());
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(flow.message(), "one earned after an interval");
        assert!(!flow.message());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(flow.message(), "the half interval left over counts");
        tokio::time::advance(Duration::from_secs(60)).await;
        for _ in 0..3 {
            assert!(flow.message());
        }
        assert!(!flow.message(), "idle time refills up to the burst only");

        assert!(flow.typing());
        assert!(!flow.typing());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(flow.typing());
    }
}
