//! The chat's handlers and the types they exchange.

use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use swill::pubsub::{
    Position, PresenceEntry, PresenceEvent, PubSub, Sessions, Since, Subscription,
};
use swill::{Connection, Error, Request, Response, State, Swill};
use validator::{Validate, ValidationError};

use crate::{
    is_room_name, room_topic, typing_topic, Rooms, Visitor, DEFAULT_MAX_NICK_LEN,
    DEFAULT_MAX_ROOM_NAME_LEN, DEFAULT_MAX_TEXT_LEN, NICK_KEY,
};

/// How many of a room's last messages a fresh `join` replays (app state; see
/// [`ChatConfig::effective_backlog`](crate::ChatConfig::effective_backlog)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backlog(pub(crate) usize);

/// Adds the chat handlers to `app`.
pub(crate) fn register(app: Swill) -> Swill {
    app.handler(me)
        .handler(set_nick)
        .handler(rooms)
        .handler(join)
        .handler(say)
        .handler(typing)
        .handler(typing_notices)
        .handler(presence)
}

fn room_name(name: &str) -> Result<(), ValidationError> {
    if is_room_name(name) {
        Ok(())
    } else {
        Err(ValidationError::new("room")
            .with_message("only a-z, 0-9, '-' and '_' are allowed in a room name".into()))
    }
}

fn nick_chars(nick: &str) -> Result<(), ValidationError> {
    if nick.trim() != nick || nick.chars().any(char::is_control) {
        Err(ValidationError::new("nick").with_message(
            "a nickname has no control characters and no leading or trailing spaces".into(),
        ))
    } else {
        Ok(())
    }
}

fn not_blank(text: &str) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        Err(ValidationError::new("blank").with_message("the message is blank".into()))
    } else {
        Ok(())
    }
}

/// Names a room.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Validate)]
pub struct RoomRequest {
    /// The room: 1 to 32 characters of `a-z`, `0-9`, `-`, `_`.
    #[validate(
        length(min = 1, max = DEFAULT_MAX_ROOM_NAME_LEN),
        custom(function = "room_name")
    )]
    pub room: String,
}

/// A message to post.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Validate)]
pub struct SayRequest {
    /// The room: 1 to 32 characters of `a-z`, `0-9`, `-`, `_`.
    #[validate(
        length(min = 1, max = DEFAULT_MAX_ROOM_NAME_LEN),
        custom(function = "room_name")
    )]
    pub room: String,
    /// The text: 1 to 2000 characters, not blank.
    #[validate(length(min = 1, max = DEFAULT_MAX_TEXT_LEN), custom(function = "not_blank"))]
    pub text: String,
}

/// A new nickname.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Validate)]
pub struct NickRequest {
    /// 1 to 24 characters, no control characters, no leading or trailing spaces.
    #[validate(length(min = 1, max = DEFAULT_MAX_NICK_LEN), custom(function = "nick_chars"))]
    pub nick: String,
}

/// Who the connection is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Me {
    /// The nickname.
    pub nick: String,
}

/// A chat message, as `say` posts it and `join` streams it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChatMessage {
    /// The room.
    pub room: String,
    /// The sender's nickname.
    pub from: String,
    /// The text.
    pub text: String,
    /// When the server received it, in milliseconds since the Unix epoch.
    pub at: u64,
}

/// Someone is typing in a room (ephemeral: shown for a few seconds, never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TypingNotice {
    /// The room.
    pub room: String,
    /// Who is typing.
    pub from: String,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
}

/// A room in the room list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoomInfo {
    /// The room's name.
    pub name: String,
    /// How many different nicknames are present.
    pub members: usize,
}

/// What changed in a room's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PresenceChange {
    /// The first update of the stream: the members as they are.
    Members,
    /// Someone joined.
    Join,
    /// Someone left.
    Leave,
}

/// One update of a room's presence stream: what changed, and the members after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PresenceUpdate {
    /// The room.
    pub room: String,
    /// What changed.
    pub event: PresenceChange,
    /// Who joined or left (none for [`PresenceChange::Members`]).
    pub nick: Option<String>,
    /// The nicknames present, sorted, each once (one person may be in the room twice).
    pub members: Vec<String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The nickname shown for a presence entry.
fn nick_of(entry: &PresenceEntry) -> String {
    entry.user.clone().unwrap_or_else(|| "anonymous".to_owned())
}

/// The connection's nickname.
#[swill::handler]
async fn me(conn: Connection) -> Result<Me, Error> {
    Ok(Me {
        nick: Visitor::of(&conn)?.nick(),
    })
}

/// Changes the nickname, for this connection and the session (a reload keeps it). Rooms
/// joined before show the new name once joined again.
#[swill::handler]
async fn set_nick(
    req: Request<NickRequest>,
    conn: Connection,
    State(sessions): State<Sessions>,
) -> Result<Me, Error> {
    let nick = req.into_data().nick;
    let visitor = Visitor::of(&conn)?;
    sessions
        .get(visitor.session.clone())?
        .set(NICK_KEY, &nick)
        .await?;
    visitor.set_nick(nick.clone());
    Ok(Me { nick })
}

/// The known rooms (the default rooms first), with how many people are in each.
#[swill::handler]
async fn rooms(
    State(directory): State<Rooms>,
    State(pubsub): State<PubSub>,
) -> Result<Vec<RoomInfo>, Error> {
    let names = directory.list();
    let counts = futures::future::join_all(names.iter().map(|name| {
        let pubsub = pubsub.clone();
        let topic = room_topic(name);
        async move { pubsub.presence(&topic).await }
    }))
    .await;
    names
        .into_iter()
        .zip(counts)
        .map(|(name, entries)| {
            let nicks: BTreeSet<String> = entries?.iter().map(nick_of).collect();
            Ok(RoomInfo {
                name,
                members: nicks.len(),
            })
        })
        .collect()
}

/// Joins a room: streams its last messages, then the new ones (after the leading metadata
/// `{"subscribed": "room.NAME", "epoch": e, "offset": n, "recovered": bool}`), and the
/// connection is present in the room until the call ends. With the request metadata `since`
/// (the last position received), it continues right after it instead: the messages missed
/// since then, then the new ones, or only the new ones with `recovered: false` when the
/// room's history no longer reaches back.
#[swill::handler]
async fn join(
    req: Request<RoomRequest>,
    Since(since): Since,
    conn: Connection,
    State(pubsub): State<PubSub>,
    State(directory): State<Rooms>,
    State(backlog): State<Backlog>,
    res: Response,
) -> impl Stream<Item = Result<ChatMessage, Error>> {
    let room = req.into_data().room;
    if let Err(e) = directory.admit(&room).await {
        return Subscription::failed(e);
    }
    let topic = room_topic(&room);
    let since = match since {
        Some(since) => Some(since),
        None => match backlog_start(&pubsub, &topic, backlog.0).await {
            Ok(start) => start,
            Err(e) => return Subscription::failed(e),
        },
    };
    // Subscribed before being announced as present: whoever sees the join event can
    // already reach this connection.
    let sub = match pubsub.resume_from(&conn, topic.as_str(), since).await {
        Ok(sub) => sub,
        Err(e) => return Subscription::failed(e),
    };
    match pubsub.track(&conn, &topic).await {
        Ok(tracked) => sub.with_presence(tracked).announce(&res),
        Err(e) => Subscription::failed(e),
    }
}

/// Where a fresh join of `topic` starts so that it replays the last `n` messages: `n`
/// before the top, or, when the history was trimmed by age to fewer, the oldest message it
/// still keeps (found by halving; a window of 0 is always kept). `None` for no backlog.
async fn backlog_start(pubsub: &PubSub, topic: &str, n: usize) -> Result<Option<Position>, Error> {
    if n == 0 || pubsub.history_of(topic).is_none() {
        return Ok(None);
    }
    let top = pubsub.read_history(topic, None).await?.top;
    let at = |window: u64| Position::new(top.epoch_arc().clone(), top.offset() - window);
    let kept = |window: u64| {
        let since = at(window);
        async move {
            let read = pubsub.read_history(topic, Some(since)).await?;
            Ok::<_, Error>(read.missed.is_some())
        }
    };
    let mut window = top.offset().min(n as u64);
    if window > 0 && !kept(window).await? {
        // The largest window kept is in [0, window).
        let (mut lo, mut hi) = (0, window - 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if kept(mid).await? {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        window = lo;
    }
    Ok(Some(at(window)))
}

/// Posts a message to a room; answers it as posted. 429 past the connection's message
/// budget ([`DEFAULT_MESSAGE_BURST`](crate::DEFAULT_MESSAGE_BURST)).
#[swill::handler]
async fn say(
    req: Request<SayRequest>,
    conn: Connection,
    State(pubsub): State<PubSub>,
) -> Result<ChatMessage, Error> {
    let SayRequest { room, text } = req.into_data();
    let visitor = Visitor::of(&conn)?;
    visitor.may_say()?;
    let message = ChatMessage {
        from: visitor.nick(),
        at: now_ms(),
        text,
        room,
    };
    pubsub.publish(room_topic(&message.room), &message).await?;
    Ok(message)
}

/// Tells a room that the connection is typing (the page sends it at most every few
/// seconds while the text field changes; more than one per
/// [`DEFAULT_TYPING_INTERVAL`](crate::DEFAULT_TYPING_INTERVAL) is dropped).
#[swill::handler]
async fn typing(
    req: Request<RoomRequest>,
    conn: Connection,
    State(pubsub): State<PubSub>,
) -> Result<(), Error> {
    let room = req.into_data().room;
    let visitor = Visitor::of(&conn)?;
    if !visitor.may_type() {
        return Ok(());
    }
    let notice = TypingNotice {
        from: visitor.nick(),
        at: now_ms(),
        room,
    };
    pubsub.publish(typing_topic(&notice.room), &notice).await?;
    Ok(())
}

/// Streams a room's typing notices (after the leading metadata `{"subscribed":
/// "typing.NAME"}`).
#[swill::handler]
async fn typing_notices(
    req: Request<RoomRequest>,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<TypingNotice, Error>> {
    let topic = typing_topic(&req.into_data().room);
    Subscription::or_failed(pubsub.subscribe_from(&conn, topic).await).announce(&res)
}

/// The members of a room, from presence entries and their join and leave events.
struct Members {
    room: String,
    /// Nickname by entry key (one per `track`, on any instance).
    entries: HashMap<String, String>,
}

impl Members {
    fn update(&self, event: PresenceChange, nick: Option<String>) -> PresenceUpdate {
        let members: BTreeSet<&String> = self.entries.values().collect();
        PresenceUpdate {
            room: self.room.clone(),
            event,
            nick,
            members: members.into_iter().cloned().collect(),
        }
    }

    /// Applies an event; `None` when it changes nothing (the snapshot already had it).
    fn apply(&mut self, event: PresenceEvent) -> Option<PresenceUpdate> {
        match event {
            PresenceEvent::Join { entry } => {
                let nick = nick_of(&entry);
                let new = self.entries.insert(entry.key(), nick.clone()).is_none();
                new.then(|| self.update(PresenceChange::Join, Some(nick)))
            }
            PresenceEvent::Leave { entry } => self
                .entries
                .remove(&entry.key())
                .map(|nick| self.update(PresenceChange::Leave, Some(nick))),
            _ => None,
        }
    }
}

/// Streams a room's members: first the members now (`event` `members`), then one update per
/// join or leave, each with the members after it. The leading metadata `{"subscribed": …}`
/// comes first.
#[swill::handler]
async fn presence(
    req: Request<RoomRequest>,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> Result<BoxStream<'static, Result<PresenceUpdate, Error>>, Error> {
    let room = req.into_data().room;
    let topic = room_topic(&room);
    // Events first, then the list: an event racing the list is applied idempotently.
    let events = pubsub.presence_events(&conn, &topic).await?;
    let entries = pubsub.presence(&topic).await?;
    let mut members = Members {
        room,
        entries: entries.iter().map(|e| (e.key(), nick_of(e))).collect(),
    };
    let first = members.update(PresenceChange::Members, None);
    let events = events.announce(&res);
    let updates = events.filter_map(move |event| {
        futures::future::ready(match event {
            Ok(event) => members.apply(event).map(Ok),
            Err(e) => Some(Err(e)),
        })
    });
    Ok(stream::once(futures::future::ready(Ok(first)))
        .chain(updates)
        .boxed())
}
