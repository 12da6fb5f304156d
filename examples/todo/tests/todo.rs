//! The todo example over real sockets (axum on 127.0.0.1:0) with typed, contract-checked
//! calls: auth by header, query and cookie; validation; 404; a watch that misses nothing
//! after `opened()`; graceful shutdown ending the watch; the pages behind the auth hook; an
//! admin rpc behind `Hooks::authorize` (403); and the same app in process.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use swill::client::{Client, ClientError};
use todo::api::{self, NewTodo, Todo, TodoEvent};
use todo::server::{app, demo_tokens, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(10);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f).await.expect("timed out")
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (app, shutdown) = router(demo_tokens());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.after(async {
                    let _ = rx.await;
                }))
                .await
        });
        Self {
            addr,
            stop: Some(tx),
            task,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    async fn client(&self, token: &str) -> Client {
        within(
            Client::builder(self.url())
                .header("authorization", format!("Bearer {token}"))
                .connect(),
        )
        .await
        .unwrap()
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        within(self.task).await.unwrap().unwrap();
    }
}

fn new(title: &str) -> NewTodo {
    NewTodo {
        title: title.to_owned(),
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    within(s.read_to_string(&mut out)).await.unwrap();
    out
}

#[tokio::test]
async fn a_token_is_needed_by_header_query_or_cookie() {
    let server = Server::start().await;
    let refused = within(Client::connect(server.url())).await.unwrap_err();
    assert!(
        matches!(refused, ClientError::Refused { status: 401, .. }),
        "{refused:?}"
    );
    let wrong = within(
        Client::builder(server.url())
            .header("authorization", "Bearer nobody")
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(wrong.refused_status(), Some(401));

    let by_header = server.client("alice-token").await;
    let by_query = within(Client::connect(format!("{}?token=bob-token", server.url())))
        .await
        .unwrap();
    let by_cookie = within(
        Client::builder(server.url())
            .header("cookie", "theme=dark; token=bob-token")
            .connect(),
    )
    .await
    .unwrap();
    let a = within(by_header.to(api::add).call(&new("from alice")))
        .await
        .unwrap();
    let b = within(by_query.to(api::add).call(&new("from bob")))
        .await
        .unwrap();
    let c = within(by_cookie.to(api::add).call(&new("bob again")))
        .await
        .unwrap();
    assert_eq!(
        (a.owner.as_str(), b.owner.as_str(), c.owner.as_str()),
        ("alice", "bob", "bob")
    );
    assert_eq!((a.id, b.id, c.id), (1, 2, 3));
    server.stop().await;
}

#[tokio::test]
async fn titles_are_validated_and_unknown_ids_are_404() {
    let server = Server::start().await;
    let alice = server.client("alice-token").await;
    for bad in [String::new(), "x".repeat(81)] {
        let err = within(alice.to(api::add).call(&NewTodo { title: bad }))
            .await
            .unwrap_err();
        let rpc = err.rpc().expect("an ERROR frame");
        assert_eq!(rpc.code().0, 422);
        let fields = rpc.field_errors().expect("field errors");
        assert!(!fields.get("title").is_empty(), "{fields:?}");
    }
    let err = within(alice.to(api::complete).call(&7)).await.unwrap_err();
    assert_eq!(err.rpc().map(|e| e.code().0), Some(404));
    assert!(within(alice.to(api::list).call(&()))
        .await
        .unwrap()
        .is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_watch_misses_nothing_after_opened() {
    let server = Server::start().await;
    let alice = server.client("alice-token").await;
    let bob = server.client("bob-token").await;
    let mut feed = bob.to(api::watch).stream(&()).unwrap();
    let leading = within(feed.opened()).await.unwrap().cloned();
    assert_eq!(
        leading.and_then(|md| md.get("watching").cloned()),
        Some(swill::rmpv::Value::Boolean(true))
    );
    // Everything added after `opened()` arrives, in order.
    let mut added = Vec::new();
    for i in 0..50 {
        added.push(
            within(alice.to(api::add).call(&new(&format!("todo {i}"))))
                .await
                .unwrap(),
        );
    }
    let done = within(alice.to(api::complete).call(&added[0].id))
        .await
        .unwrap();
    assert!(done.done);
    for todo in &added {
        let ev = within(feed.next()).await.unwrap().unwrap();
        assert_eq!(ev, TodoEvent::Added { todo: todo.clone() });
    }
    let ev = within(feed.next()).await.unwrap().unwrap();
    assert_eq!(ev, TodoEvent::Completed { todo: done });
    let all: Vec<Todo> = within(bob.to(api::list).call(&())).await.unwrap();
    assert_eq!(all.len(), 50);
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_ends_the_watch_and_serve_returns() {
    let server = Server::start().await;
    let bob = server.client("bob-token").await;
    let mut feed = bob.to(api::watch).stream(&()).unwrap();
    within(feed.opened()).await.unwrap();
    let Server { mut stop, task, .. } = server;
    let _ = stop.take().unwrap().send(());
    // The handler sees the shutdown and ends its stream: END_OF_STREAM, not an error.
    assert!(within(feed.next()).await.is_none());
    within(task).await.unwrap().unwrap();
}

#[tokio::test]
async fn health_is_public_and_the_pages_need_a_token() {
    let server = Server::start().await;
    assert!(http_get(server.addr, "/health")
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(http_get(server.addr, "/schema.json")
        .await
        .starts_with("HTTP/1.1 401"));
    let schema = http_get(server.addr, "/schema.json?token=alice-token").await;
    assert!(schema.starts_with("HTTP/1.1 200"), "{schema}");
    assert!(schema.contains("todo.watch"));
    server.stop().await;
}

#[tokio::test]
async fn the_same_app_in_process() {
    let service = app(demo_tokens()).into_service();
    let handle = service.shutdown_handle();
    let alice = within(
        service
            .in_process_client()
            .header("authorization", "Bearer alice-token")
            .connect(),
    )
    .await
    .unwrap();
    let todo = within(alice.to(api::add).call(&new("in process")))
        .await
        .unwrap();
    assert_eq!(todo.owner, "alice");
    let err = within(alice.to(api::add).call(&new(""))).await.unwrap_err();
    assert_eq!(err.rpc().map(|e| e.code().0), Some(422));
    within(handle.shutdown()).await;
}

#[tokio::test]
async fn only_admins_may_clear() {
    let server = Server::start().await;
    let alice = server.client("alice-token").await;
    let bob = server.client("bob-token").await;
    within(bob.to(api::add).call(&new("keep me")))
        .await
        .unwrap();
    let err = within(bob.to(api::clear).call(&())).await.unwrap_err();
    assert_eq!(err.rpc().map(|e| e.code().0), Some(403));
    assert_eq!(within(bob.to(api::list).call(&())).await.unwrap().len(), 1);
    assert_eq!(within(alice.to(api::clear).call(&())).await.unwrap(), 1);
    assert!(within(bob.to(api::list).call(&()))
        .await
        .unwrap()
        .is_empty());
    server.stop().await;
}
