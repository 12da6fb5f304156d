//! In-process connections (`SwillService::in_process_client`): the full call path without a
//! socket — the upgrade and its hooks, validation, every shape, typed calls, headers, and a
//! reconnect opening a fresh pipe.
mod common;
use common::TimeoutExt;

use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use swill::client::ClientError;
use swill::hooks::{Handshake, Rejection};
use swill::{Connection, Error, Request, Streaming, Swill};
use validator::Validate;

mod api {
    swill::contract! {
        pub unary add_todo = "todo.add": super::NewTodo => super::Todo;
        pub server_stream count = "count": u32 => u32;
        pub bidi echo = "echo": String => String;
    }
}

/// A todo to add.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Validate)]
pub struct NewTodo {
    /// Its title: 1 to 80 characters.
    #[validate(length(min = 1, max = 80))]
    pub title: String,
}

/// A stored todo.
#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Todo {
    /// Its id.
    pub id: u64,
    /// Its title.
    pub title: String,
}

#[swill::handler(contract = api::add_todo)]
async fn add_todo(req: Request<NewTodo>) -> Result<Todo, Error> {
    Ok(Todo {
        id: 1,
        title: req.into_data().title,
    })
}

#[swill::handler(contract = api::count)]
async fn count(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok))
}

#[swill::handler(contract = api::echo)]
async fn echo(items: Streaming<String>) -> impl Stream<Item = Result<String, Error>> {
    items.map(Ok)
}

/// Whether the connection has a peer address (an in-process one has none).
#[swill::handler]
async fn has_peer(conn: Connection) -> bool {
    conn.peer_addr().is_some()
}

fn app() -> Swill {
    Swill::new()
        .handler(add_todo)
        .handler(count)
        .handler(echo)
        .handler(has_peer)
}

#[tokio::test]
async fn the_full_call_path_without_a_socket() {
    let service = app().into_service();
    let handle = service.shutdown_handle();
    let client = service.connect_in_process().with_timeout().await.unwrap();

    let milk = NewTodo {
        title: "milk".into(),
    };
    let todo = client.to(api::add_todo).call(&milk);
    let todo = todo.with_timeout().await.unwrap();
    assert_eq!(
        todo,
        Todo {
            id: 1,
            title: "milk".into()
        }
    );

    let numbers: Vec<u32> = client
        .to(api::count)
        .stream(&3)
        .unwrap()
        .map(|n| n.unwrap())
        .collect()
        .with_timeout()
        .await;
    assert_eq!(numbers, [0, 1, 2]);

    let (mut tx, mut rx) = client.to(api::echo).bidi().unwrap();
    tx.send(&"ping".to_owned()).unwrap();
    let pong = rx.next().with_timeout().await.unwrap().unwrap();
    assert_eq!(pong, "ping");
    tx.end().unwrap();
    assert!(rx.next().with_timeout().await.is_none());

    let peer: bool = client.call("has_peer", &()).with_timeout().await.unwrap();
    assert!(!peer, "an in-process connection has no peer address");
    assert_eq!(handle.live_connections(), 1);
    client.close();
    handle.shutdown().with_timeout().await;
}

#[tokio::test]
async fn validation_runs_as_over_a_socket() {
    // `add_todo::call(Request::detached(..))` calls the function alone, without validation;
    // the in-process client goes through the whole call path, validation included.
    let service = app().into_service();
    let handle = service.shutdown_handle();
    let client = service.connect_in_process().with_timeout().await.unwrap();
    let err = client
        .to(api::add_todo)
        .call(&NewTodo {
            title: String::new(),
        })
        .with_timeout()
        .await
        .unwrap_err();
    let rpc = err.rpc().expect("an ERROR frame");
    assert_eq!(rpc.code().0, 422);
    let fields = rpc.field_errors().expect("field errors");
    assert!(!fields.get("title").is_empty(), "{fields:?}");
    handle.shutdown().with_timeout().await;
}

#[tokio::test]
async fn hooks_see_the_headers_and_can_refuse() {
    let service = app()
        .before_connection(|hs: Handshake| async move {
            match hs.headers().get("authorization") {
                Some(v) if v == "Bearer good" => Ok(hs),
                _ => Err(Rejection::new(
                    swill::http::StatusCode::UNAUTHORIZED,
                    "bad token",
                )),
            }
        })
        .into_service();
    let handle = service.shutdown_handle();
    let refused = service
        .connect_in_process()
        .with_timeout()
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::Refused { status: 401, ref body } if body.contains("bad token")),
        "{refused:?}"
    );
    let client = service
        .in_process_client()
        .header("authorization", "Bearer good")
        .connect()
        .with_timeout()
        .await
        .unwrap();
    let n: Vec<u32> = client
        .to(api::count)
        .stream(&1)
        .unwrap()
        .map(|n| n.unwrap())
        .collect()
        .with_timeout()
        .await;
    assert_eq!(n, [0]);
    handle.shutdown().with_timeout().await;
}
