//! `chat --check`: drives a running chat server once through the Rust client.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use swill::client::{Client, ResponseStream};
use swill::pubsub::Sessions;
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
/// visitors set nicknames, see each other join a room, type and talk, invalid input is
/// refused with 422, and a reconnect with the same session keeps the nickname. Prints one
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
    for (who, stream) in [("bob", &mut bob_room), ("alice", &mut alice_room)] {
        let got = next("message", stream).await?;
        ensure(got == sent && got.from == "alice", || {
            format!("{who} got {got:?}, expected {sent:?}")
        })?;
    }

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
    println!("check passed: page, nicknames, presence, typing, messages, validation, session");
    Ok(())
}
