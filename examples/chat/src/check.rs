//! `chat --check`: drives a running chat server once through the Rust client.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use swill::client::{Client, ResponseStream};
use swill::pubsub::{Position, Sessions, DEFAULT_MAX_RECOVERY, SINCE_KEY};
use swill::Metadata;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    ChatMessage, Me, NickRequest, PresenceChange, PresenceUpdate, RoomInfo, RoomRequest,
    SayRequest, TypingNotice, SESSION_COOKIE,
};

/// How long each step of the check may take: generous on a loaded CI machine, and every
/// step of a healthy server takes milliseconds.
const STEP: Duration = Duration::from_secs(10);

type Failure = Box<dyn std::error::Error + Send + Sync>;

async fn step<T, E: Into<Failure>>(
    what: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(STEP, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {}", e.into()).into()),
        Err(_) => Err(format!("{what}: no answer within {STEP:?}").into()),
    }
}

async fn next<T: serde::de::DeserializeOwned>(
    what: &str,
    stream: &mut ResponseStream<T>,
) -> Result<T, Failure> {
    match step(what, async { Ok::<_, Failure>(stream.next().await) }).await? {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(format!("{what}: {e}").into()),
        None => Err(format!("{what}: the stream ended").into()),
    }
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(what().into())
    }
}

async fn connect(addr: SocketAddr, session: &str) -> Result<Client, Failure> {
    let client = Client::builder(format!("ws://{addr}/ws"))
        .header("cookie", format!("{SESSION_COOKIE}={session}"))
        .connect();
    step("connect", client).await
}

/// Reads `stream` up to and including `want`, skipping what comes first (a room's backlog:
/// at most [`DEFAULT_MAX_RECOVERY`] messages); returns how many items it read.
async fn until(
    what: &str,
    stream: &mut ResponseStream<ChatMessage>,
    want: &ChatMessage,
) -> Result<u64, Failure> {
    for read in 1..=DEFAULT_MAX_RECOVERY as u64 + 1 {
        if next(what, stream).await? == *want {
            return Ok(read);
        }
    }
    Err(format!("{what}: {want:?} did not come").into())
}

/// The start position a `join` announced in its leading metadata.
fn start_of(what: &str, leading: Option<&Metadata>) -> Result<(Position, Option<bool>), Failure> {
    let md = leading.ok_or_else(|| format!("{what}: no leading metadata"))?;
    let epoch = md.get_str("epoch");
    let offset = md.get("offset").and_then(|v| v.as_u64());
    let recovered = md.get("recovered").and_then(|v| v.as_bool());
    match (epoch, offset) {
        (Some(e), Some(o)) => Ok((Position::new(e, o), recovered)),
        _ => Err(format!("{what}: no position in the leading metadata {md:?}").into()),
    }
}

fn room(name: &str) -> RoomRequest {
    RoomRequest { room: name.into() }
}

async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

/// Checks the chat server at `addr` end to end: the page and its assets are served, two
/// visitors set nicknames, see each other join a room, type and talk, a join with `since`
/// gets exactly the messages after it (and `recovered: false` from another epoch), invalid
/// input is refused with 422, a reconnect with the same session keeps the nickname, and a
/// fresh join starts with the room's last messages (when the server keeps a backlog). Prints one
/// line and returns `Ok` when everything answered as it should.
///
/// # Errors
///
/// The first step that failed, with what went wrong.
pub async fn self_check(addr: SocketAddr) -> Result<(), Failure> {
    let page = step("GET /", http_get(addr, "/")).await?;
    ensure(
        page.starts_with("HTTP/1.1 200")
            && page.contains("data-testid=\"messages\"")
            && page
                .to_ascii_lowercase()
                .contains(&format!("set-cookie: {SESSION_COOKIE}=")),
        || format!("GET / answered: {}", page.lines().next().unwrap_or("")),
    )?;
    for asset in ["/app.js", "/swill-client.js", "/style.css"] {
        let got = step(asset, http_get(addr, asset)).await?;
        ensure(got.starts_with("HTTP/1.1 200"), || {
            format!("GET {asset}: {got}")
        })?;
    }

    let (alice_session, bob_session) = (Sessions::new_id(), Sessions::new_id());
    let alice = connect(addr, &alice_session).await?;
    let bob = connect(addr, &bob_session).await?;
    let me: Me = step("me", alice.call("me", &())).await?;
    ensure(me.nick.starts_with("guest-"), || format!("me: {me:?}"))?;
    for (client, nick) in [(&alice, "alice"), (&bob, "bob")] {
        let req = NickRequest { nick: nick.into() };
        let me: Me = step("set_nick", client.call("set_nick", &req)).await?;
        ensure(me.nick == nick, || format!("set_nick answered {me:?}"))?;
    }

    // Bob is in the lobby and watches its presence and typing notices.
    let mut bob_presence = bob.stream::<PresenceUpdate>("presence", &room("lobby"))?;
    step("presence opens", bob_presence.opened()).await?;
    let first = next("presence snapshot", &mut bob_presence).await?;
    ensure(first.event == PresenceChange::Members, || {
        format!("first presence update: {first:?}")
    })?;
    let mut bob_room = bob.stream::<ChatMessage>("join", &room("lobby"))?;
    step("bob joins", bob_room.opened()).await?;
    let mut bob_typing = bob.stream::<TypingNotice>("typing_notices", &room("lobby"))?;
    step("typing notices open", bob_typing.opened()).await?;
    let mut seen = first.members;
    while !seen.iter().any(|m| m == "bob") {
        seen = next("bob's own join", &mut bob_presence).await?.members;
    }

    // Alice joins: Bob sees her arrive, type and talk.
    let mut alice_room = alice.stream::<ChatMessage>("join", &room("lobby"))?;
    step("alice joins", alice_room.opened()).await?;
    let joined = next("alice's join", &mut bob_presence).await?;
    ensure(
        joined.event == PresenceChange::Join
            && joined.nick.as_deref() == Some("alice")
            && joined.members == ["alice", "bob"],
        || format!("bob saw {joined:?}"),
    )?;
    let rooms: Vec<RoomInfo> = step("rooms", alice.call("rooms", &())).await?;
    ensure(
        rooms.iter().any(|r| r.name == "lobby" && r.members == 2),
        || format!("rooms: {rooms:?}"),
    )?;
    let () = step("typing", alice.call("typing", &room("lobby"))).await?;
    let notice = next("typing notice", &mut bob_typing).await?;
    ensure(notice.from == "alice", || format!("typing: {notice:?}"))?;
    let say = SayRequest {
        room: "lobby".into(),
        text: "hello, bob".into(),
    };
    let sent: ChatMessage = step("say", alice.call("say", &say)).await?;
    ensure(sent.from == "alice", || format!("say answered {sent:?}"))?;
    let (bob_start, _) = start_of("bob's join", bob_room.leading())?;
    let bob_read = until("bob gets the message", &mut bob_room, &sent).await?;
    until("alice gets the message", &mut alice_room, &sent).await?;

    // Where the messages are in the room's history (for the resume below).
    let hello_at = Position::new(bob_start.epoch(), bob_start.offset() + bob_read);
    let away = SayRequest {
        room: "lobby".into(),
        text: "while you were away".into(),
    };
    let away: ChatMessage = step("say again", alice.call("say", &away)).await?;
    let away_at = hello_at.offset() + until("bob gets the second", &mut bob_room, &away).await?;

    // Invalid input is refused before any handler runs.
    let bad = SayRequest {
        room: "Not A Room".into(),
        text: " ".into(),
    };
    let refused = tokio::time::timeout(STEP, alice.call::<ChatMessage>("say", &bad)).await;
    let code = match &refused {
        Ok(Err(e)) => e.rpc().map(|e| e.code().as_i64()),
        _ => None,
    };
    ensure(code == Some(422), || {
        format!("an invalid say answered {refused:?}")
    })?;

    // Alice leaves; a new connection of her session is still "alice".
    alice_room.cancel();
    drop(alice);
    let left = next("alice's leave", &mut bob_presence).await?;
    ensure(
        left.event == PresenceChange::Leave && left.members == ["bob"],
        || format!("bob saw {left:?}"),
    )?;
    let again = connect(addr, &alice_session).await?;
    let me: Me = step("me again", again.call("me", &())).await?;
    ensure(me.nick == "alice", || format!("after a reconnect: {me:?}"))?;

    // A join with `since` (what a client sends after a reconnect) gets what came after it.
    let mut resumed = again
        .rpc("join")
        .metadata(Metadata::new().with(SINCE_KEY, &hello_at))
        .stream::<ChatMessage>(&room("lobby"))?;
    step("a resumed join", resumed.opened()).await?;
    let (at, recovered) = start_of("the resumed join", resumed.leading())?;
    ensure(at == hello_at && recovered == Some(true), || {
        format!("resuming after {hello_at:?} announced {at:?}, recovered {recovered:?}")
    })?;
    let replayed = until("the missed message", &mut resumed, &away).await?;
    ensure(hello_at.offset() + replayed == away_at, || {
        format!("the resume replayed {replayed} messages up to {away:?}, bob got it at {away_at}")
    })?;
    resumed.cancel();
    // From another epoch (a restarted instance): nothing replayed, `recovered: false`.
    let mut stale = again
        .rpc("join")
        .metadata(Metadata::new().with(SINCE_KEY, Position::new("gone", 1)))
        .stream::<ChatMessage>(&room("lobby"))?;
    step("a stale resume", stale.opened()).await?;
    let (_, recovered) = start_of("the stale resume", stale.leading())?;
    ensure(recovered == Some(false), || {
        format!("a resume from another epoch announced recovered {recovered:?}")
    })?;
    stale.cancel();

    // A fresh join starts with the room's last messages (the backlog), oldest first.
    let mut fresh = again.stream::<ChatMessage>("join", &room("lobby"))?;
    step("a fresh join", fresh.opened()).await?;
    // (Unless the server was started with `--backlog 0`: then it starts after them.)
    let (start, _) = start_of("the fresh join", fresh.leading())?;
    ensure(start.epoch() == hello_at.epoch(), || {
        format!("a fresh join starts at {start:?}, in another epoch than {hello_at:?}")
    })?;
    for offset in start.offset() + 1..=away_at {
        let got = next("the backlog", &mut fresh).await?;
        let want = match offset {
            o if o == away_at => &away,
            o if o == hello_at.offset() => &sent,
            _ => continue,
        };
        ensure(got == *want, || {
            format!("the backlog has {got:?} at offset {offset}, expected {want:?}")
        })?;
    }
    fresh.cancel();
    println!(
        "check passed: page, nicknames, presence, typing, messages, resume, backlog, \
         validation, session"
    );
    Ok(())
}
