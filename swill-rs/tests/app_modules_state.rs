//! Modules and names, application state, and the extractors, over a real socket.
mod common;

use common::*;
use rmpv::Value as V;
use std::future::IntoFuture;
use swill::{
    BuildError, CallContext, Connection, Error, Extension, Metadata, Module, Request, Response,
    State, Swill,
};

#[swill::handler]
async fn x() -> Result<&'static str, Error> {
    Ok("x")
}

#[swill::handler(name = "custom.name")]
async fn renamed() -> Result<&'static str, Error> {
    Ok("renamed")
}

/// A blocking (plain `fn`) handler.
#[swill::handler]
fn mul(req: Request<(i64, i64)>) -> i64 {
    let (a, b) = req.into_data();
    a * b
}

#[derive(Clone)]
struct Greeting(String);

#[derive(Clone)]
struct Counter(std::sync::Arc<std::sync::atomic::AtomicU64>);

#[swill::handler]
async fn greet(
    req: Request<String>,
    State(greeting): State<Greeting>,
    State(counter): State<Counter>,
) -> Result<String, Error> {
    let n = counter.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    Ok(format!("{} {} #{n}", greeting.0, req.data()))
}

#[derive(Clone)]
struct Never;

#[swill::handler]
async fn needs_missing_state(State(_n): State<Never>) -> Result<(), Error> {
    Ok(())
}

#[swill::handler]
async fn needs_missing_extension(Extension(_n): Extension<Never>) -> Result<(), Error> {
    Ok(())
}

/// Reports what every extractor sees.
#[swill::handler]
async fn inspect(
    ctx: CallContext,
    md: Metadata,
    conn: Connection,
    res: Response,
) -> Result<Vec<swill::Value>, Error> {
    res.set_trailing(Metadata::new().with("from", "inspect"));
    let v = [
        V::from(ctx.seq()),
        V::from(ctx.rpc()),
        V::from(md.get_str("who").unwrap_or("-")),
        V::from(conn.subprotocol()),
        V::from(conn.uri().path()),
        V::from(conn.peer_addr().is_some()),
        V::from(ctx.connection().id() == conn.id()),
    ];
    Ok(v.into_iter().map(swill::Value::from).collect())
}

/// Takes no `Request`: whatever data arrives is ignored.
#[swill::handler]
async fn ping() -> Result<&'static str, Error> {
    Ok("pong")
}

#[tokio::test]
async fn module_prefixes_handler_names() {
    let app = Swill::new().module(Module::new("math").handler(add).handler(mul));
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    assert_eq!(
        call(&mut ws, 1, "math.add", mpv(&(2, 3))).await.data,
        V::from(5)
    );
    assert_eq!(
        call(&mut ws, 2, "math.mul", mpv(&(2, 3))).await.data,
        V::from(6)
    );
    let r = call(&mut ws, 3, "add", mpv(&(2, 3))).await;
    assert_eq!(r.error_code(), 404);
    assert_eq!(
        r.error_message(),
        "No func was found to process this request"
    );
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn nested_modules_join_their_prefixes() {
    let app = Swill::new().module(
        Module::new("a")
            .handler(x)
            .module(Module::new("b").handler(x)),
    );
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    assert_eq!(call(&mut ws, 1, "a.b.x", V::Nil).await.data, V::from("x"));
    assert_eq!(call(&mut ws, 2, "a.x", V::Nil).await.data, V::from("x"));
    assert_eq!(call(&mut ws, 3, "b.x", V::Nil).await.error_code(), 404);
    assert_eq!(call(&mut ws, 4, "x", V::Nil).await.error_code(), 404);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn the_name_option_renames_a_handler() {
    let server = spawn(Swill::new().handler(renamed)).await;
    let mut ws = server.raw_ws().await;
    let r = call(&mut ws, 1, "custom.name", V::Nil).await;
    assert_eq!(r.data, V::from("renamed"));
    assert_eq!(call(&mut ws, 2, "renamed", V::Nil).await.error_code(), 404);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn two_state_types_are_both_available() {
    let counter = Counter(Default::default());
    let app = Swill::new()
        .with_state(Greeting("hello".into()))
        .with_state(counter.clone())
        .handler(greet);
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    let r = call(&mut ws, 1, "greet", V::from("ann")).await;
    assert_eq!(r.data, V::from("hello ann #1"));
    // A second connection shares the same state.
    let mut other = server.raw_ws().await;
    let r = call(&mut other, 1, "greet", V::from("bob")).await;
    assert_eq!(r.data, V::from("hello bob #2"));
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::Relaxed), 2);
    drop((ws, other));
    server.stop().await;
}

#[tokio::test]
async fn missing_state_is_an_error_when_the_app_is_built() {
    let app = Swill::new().module(Module::new("m").handler(needs_missing_state));
    let err = app.check().expect_err("the state is missing");
    let swill::BuildError::MissingState { handler, state } = &err else {
        panic!("expected MissingState, got {err:?}");
    };
    assert_eq!(handler, "m.needs_missing_state");
    assert!(state.ends_with("Never"), "{state}");
    assert!(err.to_string().contains("with_state"), "{err}");
    // serve refuses to start, before accepting anything.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = swill::serve(listener, app).await;
    let io = served.expect_err("serve reports the build error");
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_missing_extension_is_a_500_for_that_call_only() {
    let app = Swill::new().handler(needs_missing_extension).handler(ping);
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    let r = call(&mut ws, 2, "needs_missing_extension", V::Nil).await;
    assert_eq!(r.error_code(), 500);
    assert_eq!(r.error_message(), "An internal server error occurred");
    assert!(try_get(&r.data, "data").is_none(), "no details leak: {r:?}");
    assert_eq!(call(&mut ws, 3, "ping", V::Nil).await.data, V::from("pong"));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn call_context_metadata_connection_and_response_extractors() {
    let server = spawn(Swill::new().module(Module::new("dbg").handler(inspect))).await;
    let mut ws = server.raw_ws().await;
    let md = mmap(&[("who", V::from("me"))]);
    send_bytes(
        &mut ws,
        envelope(9, V::Nil, "dbg.inspect", MESSAGE, Some(md)),
    )
    .await;
    let r = recv_resp(&mut ws).await;
    assert_eq!(r.kind, MESSAGE, "{r:?}");
    assert_eq!(
        r.data,
        V::Array(vec![
            V::from(9),
            V::from("dbg.inspect"),
            V::from("me"),
            V::from("swill/1"),
            V::from("/ws"),
            V::from(true),
            V::from(true),
        ])
    );
    assert_eq!(r.trailing, mmap(&[("from", V::from("inspect"))]));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_handler_without_request_ignores_any_data() {
    let server = spawn(Swill::new().handler(ping)).await;
    let mut ws = server.raw_ws().await;
    let data = [
        V::Nil,
        V::from(1),
        mpv(&[1, 2, 3]),
        mmap(&[("a", V::from("b"))]),
        V::Binary(vec![0, 1, 2]),
    ];
    for (i, d) in data.into_iter().enumerate() {
        let r = call(&mut ws, i as i64 + 1, "ping", d).await;
        assert_eq!((r.kind, r.data), (MESSAGE, V::from("pong")));
    }
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_blocking_handler_answers_like_an_async_one() {
    let server = spawn(Swill::new().handler(mul).handler(add)).await;
    let mut ws = server.raw_ws().await;
    assert_eq!(
        call(&mut ws, 1, "mul", mpv(&(6, 7))).await.data,
        V::from(42)
    );
    assert_eq!(
        call(&mut ws, 2, "mul", V::from("x")).await.error_code(),
        400
    );
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_handler_name_registered_twice_is_a_build_error() {
    #[swill::handler(name = "dup")]
    async fn first() -> Result<i64, Error> {
        Ok(1)
    }
    #[swill::handler(name = "add")]
    async fn second() -> Result<i64, Error> {
        Ok(2)
    }
    let dup = |name: &str| BuildError::DuplicateHandler { name: name.into() };
    let app = Swill::new().handler(first).handler(first);
    assert_eq!(app.check(), Err(dup("dup")));
    // Through module prefixes: `math.add` twice, from a handler named `add` in two modules
    // and from a nested module that spells the same full name.
    let app = Swill::new()
        .module(Module::new("math").handler(add))
        .module(Module::new("math").handler(second));
    assert_eq!(app.check(), Err(dup("math.add")));
    let app = Swill::new()
        .module(Module::new("a").module(Module::new("b").handler(add)))
        .module(Module::new("a.b").handler(add));
    assert_eq!(app.check(), Err(dup("a.b.add")));
    // A user handler cannot take the built-in introspection rpc's name.
    #[swill::handler(name = "swill.introspect")]
    async fn spoof() -> Result<i64, Error> {
        Ok(0)
    }
    assert_eq!(
        Swill::new().handler(spoof).check(),
        Err(dup("swill.introspect"))
    );
    assert_eq!(
        Swill::new().handler(spoof).introspection(false).check(),
        Ok(())
    );

    // `serve` fails before accepting anything, with the error inside.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = swill::serve(listener, Swill::new().handler(first).handler(first))
        .into_future()
        .with_timeout()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<BuildError>());
    assert_eq!(inner, Some(&dup("dup")));
    assert_eq!(err.to_string(), "handler `dup` is registered twice");

    // The mounts panic with the message, as axum does for overlapping routes.
    let panic = std::panic::catch_unwind(|| {
        let _ = Swill::new().handler(first).handler(first).into_service();
    })
    .unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert_eq!(
        msg,
        "swill app does not build: handler `dup` is registered twice"
    );
    assert!(Swill::new()
        .handler(first)
        .handler(first)
        .try_into_service()
        .is_err());
}
