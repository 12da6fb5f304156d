//! Hooks that refuse: before_connection rejections and headers, call hooks that fail the
//! call or close the connection, after_accept closing, and module-scoped hooks.
mod common;

use std::time::Duration;

use common::*;
use futures::{Stream, StreamExt};
use http::{HeaderName, HeaderValue, StatusCode};
use rmpv::Value as V;
use swill::hooks::{HookError, Rejection};
use swill::{Connection, Error, Extension, Hooks, Module, Request, State, Streaming, Swill};

#[derive(Clone, Debug)]
struct User {
    name: String,
}

/// Answers who the connection belongs to, from the extension and the raw upgrade request.
#[swill::handler]
async fn whoami(Extension(user): Extension<User>, conn: Connection) -> Result<Vec<String>, Error> {
    Ok(vec![
        user.name,
        conn.cookie("session").unwrap_or("-").to_owned(),
        conn.query_param("room").unwrap_or_else(|| "-".to_owned()),
    ])
}

#[swill::handler]
async fn inc(req: Request<i64>, State(log): State<Log>) -> Result<i64, Error> {
    log.push(format!("handler inc {}", req.data()));
    Ok(req.into_data() + 1)
}

#[swill::handler]
async fn ping(State(log): State<Log>) -> Result<String, Error> {
    log.push("handler ping");
    Ok("pong".to_owned())
}

#[swill::handler]
async fn count(req: Request<u64>) -> impl Stream<Item = Result<u64, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok))
}

#[swill::handler]
async fn sum(mut items: Streaming<i64>, State(log): State<Log>) -> Result<i64, Error> {
    let mut total = 0;
    while let Some(x) = items.next().await {
        log.push(format!("item {x}"));
        total += x;
    }
    Ok(total)
}

/// The cookie check of the issue: 401 with `WWW-Authenticate` without `session`, else the
/// user is stored for handlers and a header is added to the 101.
fn authed() -> Swill {
    Swill::new()
        .handler(whoami)
        .before_connection(|mut hs| async move {
            let Some(session) = hs.cookie("session").map(str::to_owned) else {
                return Err(
                    Rejection::new(StatusCode::UNAUTHORIZED, "login first").with_header(
                        http::header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Cookie realm=\"swill\""),
                    ),
                );
            };
            hs.extensions_mut().insert(User {
                name: format!("user-{session}"),
            });
            hs.insert_response_header(
                HeaderName::from_static("x-session-checked"),
                HeaderValue::from_static("yes"),
            );
            Ok(hs)
        })
}

#[tokio::test]
async fn before_connection_rejects_without_cookie_with_401_and_www_authenticate() {
    let server = spawn(authed()).await;
    let res = ws_connect_with(&server.url(), &[])
        .await
        .expect_err("refused");
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers().get("www-authenticate").unwrap(),
        "Cookie realm=\"swill\""
    );
    assert_eq!(res.body().as_deref(), Some(&b"login first"[..]));
    server.stop().await;
}

#[tokio::test]
async fn before_connection_accepts_with_cookie_and_handler_sees_user_cookie_and_query() {
    let server = spawn(authed()).await;
    let url = format!("{}?room=blue%20room", server.url());
    let (mut ws, res) = ws_connect_with(&url, &[("cookie", "theme=dark; session=abc")])
        .await
        .expect("accepted");
    assert_eq!(res.status(), 101);
    assert_eq!(res.headers().get("x-session-checked").unwrap(), "yes");
    assert_eq!(
        res.headers().get("sec-websocket-protocol").unwrap(),
        "swill/1"
    );
    send_bytes(&mut ws, request(1, &(), "whoami")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!(r.kind, MESSAGE, "{r:?}");
    assert_eq!(
        r.data,
        V::Array(vec![
            V::from("user-abc"),
            V::from("abc"),
            V::from("blue room")
        ])
    );
    server.stop().await;
}

#[tokio::test]
async fn a_before_connection_rejection_uses_the_hook_status() {
    let app = Swill::new()
        .handler(ping)
        .before_connection(
            |_hs| async move { Err(Rejection::new(StatusCode::FORBIDDEN, "no entry")) },
        );
    let server = spawn(app.with_state(Log::new())).await;
    let res = ws_connect_with(&server.url(), &[]).await.unwrap_err();
    assert_eq!(res.status(), 403);
    assert_eq!(res.body().as_deref(), Some(&b"no entry"[..]));
    server.stop().await;
}

#[tokio::test]
async fn a_later_before_connection_hook_does_not_run_after_a_rejection() {
    let log = Log::new();
    let l = log.clone();
    let app = Swill::new()
        .with_state(log.clone())
        .handler(ping)
        .before_connection(|_hs| async move { Err(Rejection::new(StatusCode::UNAUTHORIZED, "no")) })
        .before_connection(move |hs| {
            let l = l.clone();
            async move {
                l.push("second hook");
                Ok(hs)
            }
        });
    let server = spawn(app).await;
    let res = ws_connect_with(&server.url(), &[]).await.unwrap_err();
    assert_eq!(res.status(), 401);
    assert!(log.events().is_empty(), "{:?}", log.events());
    server.stop().await;
}

/// A before_request hook that lets only calls with metadata `token = "t"` through.
fn guarded(log: &Log) -> Swill {
    let l = log.clone();
    Swill::new()
        .with_state(log.clone())
        .handler(inc)
        .handler(ping)
        .hooks(Hooks::new().before_request(|ctx| async move {
            if ctx.rpc() == "ping" || ctx.metadata().get_str("token") == Some("t") {
                Ok(())
            } else {
                Err(HookError::Fail(Error::forbidden("no token")))
            }
        }))
        .hooks(Hooks::new().after_request(move |ctx, outcome| {
            let l = l.clone();
            async move {
                l.push(format!("after_request {} {outcome:?}", ctx.rpc()));
            }
        }))
}

#[tokio::test]
async fn a_failing_call_hook_sends_error_403_and_the_handler_never_runs() {
    let log = Log::new();
    let server = spawn(guarded(&log)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &1, "inc")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!(r.seq, 1);
    assert_eq!(r.error_code(), 403);
    assert_eq!(r.error_message(), "no token");
    assert_eq!((r.leading.clone(), r.trailing.clone()), (V::Nil, V::Nil));
    let events = log.wait_until(|e| !e.is_empty()).await;
    assert!(
        events[0].starts_with("after_request inc Error"),
        "{events:?}"
    );
    // The connection goes on; the same rpc with the token runs the handler.
    let md = mmap(&[("token", V::from("t"))]);
    send_bytes(&mut ws, envelope(2, V::from(1), "inc", MESSAGE, Some(md))).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!((r.seq, r.kind, r.data), (2, MESSAGE, V::from(2)));
    let events = log.events();
    assert_eq!(
        events.iter().filter(|e| e.starts_with("handler")).count(),
        1,
        "{events:?}"
    );
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_call_hook_can_close_the_connection_with_its_code() {
    let log = Log::new();
    let l = log.clone();
    let app = Swill::new()
        .with_state(log.clone())
        .handler(inc)
        .handler(ping)
        .hooks(Hooks::new().before_request(|ctx| async move {
            if ctx.rpc() == "inc" {
                Err(HookError::close(4001, "bye"))
            } else {
                Ok(())
            }
        }))
        .after_connection(move |_| {
            let l = l.clone();
            async move {
                l.push("after_connection");
                Ok(())
            }
        });
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "ping")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from("pong"));
    send_bytes(&mut ws, request(2, &1, "inc")).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!((code, reason.as_str()), (4001, "bye"));
    let events = log.wait_for("after_connection").await;
    assert!(!events.contains(&"handler inc 1".to_owned()), "{events:?}");
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn after_accept_can_close_the_connection_before_any_call() {
    let log = Log::new();
    let app = Swill::new()
        .with_state(log.clone())
        .handler(ping)
        .after_accept(|conn| async move {
            if conn.query_param("let-in").is_some() {
                Ok(())
            } else {
                Err(HookError::close(4002, "go away"))
            }
        });
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!((code, reason.as_str()), (4002, "go away"));

    let mut ws = raw_ws(&format!("{}?let-in", server.url()), "swill/1").await;
    send_bytes(&mut ws, request(1, &(), "ping")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from("pong"));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_failing_after_accept_hook_closes_with_1011() {
    let app = Swill::new()
        .with_state(Log::new())
        .handler(ping)
        .after_accept(|_conn| async move { Err(HookError::Fail(Error::internal())) });
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    let (code, _) = expect_close(&mut ws).await;
    assert_eq!(code, 1011);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_close_code_below_1000_becomes_1000() {
    let app = Swill::new()
        .with_state(Log::new())
        .handler(ping)
        .after_accept(|_conn| async move { Err(HookError::close(403, "forbidden")) });
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1000, "forbidden"));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn before_request_message_can_fail_a_client_stream_midway() {
    let log = Log::new();
    let app = Swill::new().with_state(log.clone()).handler(sum).hooks(
        Hooks::new().before_request_message(|_ctx, m| async move {
            if m.decode::<i64>().unwrap() < 0 {
                Err(HookError::Fail(Error::bad_request("negative")))
            } else {
                Ok(())
            }
        }),
    );
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &1, "sum")).await;
    send_bytes(&mut ws, request(1, &-1, "sum")).await;
    send_bytes(&mut ws, request(1, &2, "sum")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!((r.seq, r.error_code()), (1, 400));
    assert_eq!(r.error_message(), "negative");
    // The handler never saw the refused item, and nothing follows the ERROR.
    assert!(!log.events().contains(&"item -1".to_owned()));
    send_bytes(&mut ws, control(1, "sum", END_OF_STREAM)).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn before_response_message_can_replace_a_result_with_an_error() {
    let app = Swill::new().with_state(Log::new()).handler(count).hooks(
        Hooks::new().before_response_message(|_ctx, m| async move {
            if m.decode::<u64>().unwrap() == 2 {
                Err(HookError::Fail(Error::new(451, "redacted")))
            } else {
                Ok(())
            }
        }),
    );
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &5, "count")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(0));
    assert_eq!(recv_resp(&mut ws).await.data, V::from(1));
    let r = recv_resp(&mut ws).await;
    assert_eq!(
        (r.error_code(), r.error_message()),
        (451, "redacted".into())
    );
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn before_trailing_metadata_can_close_the_connection() {
    let app = Swill::new().with_state(Log::new()).handler(count).hooks(
        Hooks::new().before_trailing_metadata(|_ctx, _md| async move {
            Err(HookError::close(4003, "late"))
        }),
    );
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &1, "count")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(0));
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!((code, reason.as_str()), (4003, "late"));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn module_hooks_apply_only_to_that_modules_handlers() {
    let log = Log::new();
    let l = log.clone();
    let math = Module::new("math")
        .handler(inc)
        .hooks(Hooks::new().before_request(move |ctx| {
            let l = l.clone();
            async move {
                l.push(format!("math hook {}", ctx.rpc()));
                if ctx.metadata().get_str("deny").is_some() {
                    return Err(HookError::Fail(Error::forbidden("math says no")));
                }
                Ok(())
            }
        }));
    let l = log.clone();
    let app = Swill::new()
        .with_state(log.clone())
        .handler(ping)
        .module(math)
        .hooks(Hooks::new().before_request(move |ctx| {
            let l = l.clone();
            async move {
                l.push(format!("app hook {}", ctx.rpc()));
                Ok(())
            }
        }));
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;

    send_bytes(&mut ws, request(1, &(), "ping")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from("pong"));
    assert_eq!(log.events(), ["app hook ping", "handler ping"]);

    log.clear();
    send_bytes(&mut ws, request(2, &1, "math.inc")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(2));
    assert_eq!(
        log.events(),
        ["app hook math.inc", "math hook math.inc", "handler inc 1"]
    );

    log.clear();
    let md = mmap(&[("deny", V::from("x"))]);
    send_bytes(
        &mut ws,
        envelope(3, V::from(1), "math.inc", MESSAGE, Some(md.clone())),
    )
    .await;
    assert_eq!(recv_resp(&mut ws).await.error_code(), 403);
    send_bytes(&mut ws, envelope(4, V::Nil, "ping", MESSAGE, Some(md))).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from("pong"));
    assert_eq!(
        log.events(),
        [
            "app hook math.inc",
            "math hook math.inc",
            "app hook ping",
            "handler ping"
        ]
    );
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_call_hook_is_a_500_for_its_call_only() {
    let log = Log::new();
    let app = Swill::new()
        .with_state(log.clone())
        .handler(inc)
        .handler(ping)
        .hooks(Hooks::new().before_request(|ctx| async move {
            if ctx.rpc() == "inc" {
                panic!("hook bug");
            }
            Ok(())
        }));
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &1, "inc")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!((r.seq, r.error_code()), (1, 500));
    assert_eq!(r.error_message(), "An internal server error occurred");
    send_bytes(&mut ws, request(2, &(), "ping")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from("pong"));
    assert!(!log.events().iter().any(|e| e.starts_with("handler inc")));
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn a_hook_that_closes_reports_an_error_outcome_to_after_request() {
    let log = Log::new();
    let l = log.clone();
    let app = Swill::new()
        .with_state(log.clone())
        .handler(inc)
        .hooks(Hooks::new().before_request_message(|_ctx, _m| async move {
            Err(HookError::close(4005, "enough"))
        }))
        .hooks(Hooks::new().after_request(move |ctx, outcome| {
            let l = l.clone();
            async move {
                let code = match outcome {
                    swill::hooks::Outcome::Error(e) => e.code().as_i64(),
                    _ => 0,
                };
                l.push(format!("after_request {} {code}", ctx.rpc()));
            }
        }));
    let server = spawn(app).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &1, "inc")).await;
    let (code, _) = expect_close(&mut ws).await;
    assert_eq!(code, 4005);
    let events = log.wait_for("after_request inc 500").await;
    assert_eq!(events, ["after_request inc 500"]);
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn an_outer_module_hook_covers_nested_modules_but_not_the_reverse() {
    let log = Log::new();
    let hook = |tag: &'static str, log: &Log| {
        let l = log.clone();
        move |ctx: swill::CallContext| {
            let l = l.clone();
            async move {
                l.push(format!("{tag} {}", ctx.rpc()));
                Ok(())
            }
        }
    };
    let inner = Module::new("b")
        .handler(ping)
        .hooks(Hooks::new().before_request(hook("inner", &log)));
    let outer = Module::new("a")
        .handler(ping)
        .module(inner)
        .hooks(Hooks::new().before_request(hook("outer", &log)));
    let server = spawn(Swill::new().with_state(log.clone()).module(outer)).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &(), "a.b.ping")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from("pong"));
    send_bytes(&mut ws, request(2, &(), "a.ping")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from("pong"));
    assert_eq!(
        log.events(),
        [
            "outer a.b.ping",
            "inner a.b.ping",
            "handler ping",
            "outer a.ping",
            "handler ping"
        ]
    );
    drop(ws);
    server.stop().await;
}

/// Browsers cannot set headers on a WebSocket: a token in the query string, percent-decoded.
#[tokio::test]
async fn before_connection_reads_a_percent_encoded_query_token() {
    let app = Swill::new()
        .handler(whoami)
        .before_connection(|mut hs| async move {
            if hs.query_param("token").as_deref() != Some("s3cret key") {
                return Err(Rejection::new(StatusCode::UNAUTHORIZED, "bad token"));
            }
            hs.extensions_mut().insert(User {
                name: "token-user".into(),
            });
            Ok(hs)
        });
    let server = spawn(app).await;
    let refused = ws_connect_with(&format!("{}?token=wrong", server.url()), &[])
        .await
        .expect_err("refused");
    assert_eq!(refused.status(), 401);
    let url = format!("{}?room=r&token=s3cret%20key", server.url());
    let (mut ws, _) = ws_connect_with(&url, &[]).await.expect("accepted");
    send_bytes(&mut ws, request(1, &(), "whoami")).await;
    let r = recv_resp(&mut ws).await;
    assert_eq!(r.kind, MESSAGE, "{r:?}");
    assert_eq!(r.data.as_array().unwrap()[0], V::from("token-user"));
    drop(ws);
    server.stop().await;
}

/// `guard_pages`: schema.json and the docs page's HTML pass the same hook as the upgrade.
#[tokio::test]
async fn guarded_pages_pass_the_before_connection_hook() {
    let guarded = |on| {
        Swill::new()
            .handler(whoami)
            .guard_pages(on)
            .before_connection(|hs| async move {
                match hs.cookie("session") {
                    Some(_) => Ok(hs),
                    None => Err(Rejection::new(StatusCode::UNAUTHORIZED, "login first")
                        .with_header(
                            http::header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("Cookie"),
                        )),
                }
            })
    };
    let server = spawn(guarded(true)).await;
    let addr = server.addr;
    for path in ["/schema.json", "/docs", "/docs/"] {
        let res = http_get(addr, path).await;
        assert_eq!(res.status, 401, "{path}");
        assert_eq!(res.text(), "login first");
        assert_eq!(res.header("www-authenticate"), Some("Cookie"));
    }
    // With the cookie, the page is served.
    let req = format!(
        "GET /schema.json HTTP/1.1\r\nHost: {addr}\r\nCookie: session=abc\r\nConnection: close\r\n\r\n"
    );
    let (res, _) = raw_http(addr, &req).await;
    assert_eq!(res.status, 200);
    assert!(res.json().is_object());
    // The docs page's static files say nothing about the app and stay public.
    if cfg!(feature = "docs-page") {
        assert_eq!(http_get(addr, "/docs/app.js").await.status, 200);
    }
    server.stop().await;

    // Off (the default): public.
    let server = spawn(guarded(false)).await;
    assert_eq!(http_get(server.addr, "/schema.json").await.status, 200);
    server.stop().await;
}
