//! Typed calls through contracts (`swill::contract!`, `#[swill::handler(contract = ...)]`,
//! `Client::to`): every shape over a real socket, request metadata, response metadata, and
//! the rpc name taken from the contract (a string-named call reaches the same handler).
mod common;
use common::*;

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use swill::client::Client;
use swill::{Error, Metadata, Request, Response, Streaming, Swill};

/// The contracts, as a crate shared by server and clients would declare them.
mod api {
    use super::{Sum, Terms};

    swill::contract! {
        /// Adds two numbers.
        pub unary add = "math.add": Terms => Sum;
        /// Adds two numbers on the blocking pool.
        pub unary add_blocking = "math.add_blocking": Terms => Sum;
        /// The server's greeting; no request data.
        pub unary hello = "hello": () => String;
        /// Counts from 0 to n - 1.
        pub server_stream count = "math.count": u32 => u32;
        /// Sums a stream of numbers.
        pub client_stream total = "math.total": i64 => Sum;
        /// Doubles each number sent.
        pub bidi double = "math.double": i64 => i64;
        /// Resets the server (admins only; served from a module).
        pub unary reset = "admin.reset": () => bool;
    }
}

/// Two terms to add.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Terms {
    /// The first.
    pub a: i64,
    /// The second.
    pub b: i64,
}

/// A sum.
#[derive(Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sum {
    /// The sum.
    pub sum: i64,
}

#[swill::handler(contract = api::add)]
async fn add(req: Request<Terms>, res: Response) -> Result<Sum, Error> {
    if let Some(who) = req.metadata().get_str("who") {
        res.set_leading(Metadata::new().with("seen", who));
    }
    let t = req.data();
    Ok(Sum { sum: t.a + t.b })
}

#[swill::handler(contract = api::add_blocking)]
fn add_blocking(req: Request<Terms>) -> Sum {
    let t = req.into_data();
    Sum { sum: t.a + t.b }
}

#[swill::handler(contract = api::hello)]
async fn hello() -> String {
    "hello".to_owned()
}

#[swill::handler(contract = api::count)]
async fn count(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok))
}

#[swill::handler(contract = api::total)]
async fn total(mut items: Streaming<i64>) -> Result<Sum, Error> {
    let mut acc = 0;
    while let Some(n) = items.next().await {
        acc += n;
    }
    Ok(Sum { sum: acc })
}

#[swill::handler(contract = api::double)]
async fn double(items: Streaming<i64>) -> impl Stream<Item = Result<i64, Error>> {
    items.map(|n| Ok(n * 2))
}

#[swill::handler(contract = api::reset)]
async fn reset() -> bool {
    true
}

fn app() -> Swill {
    // The module gives `reset` its authorization hook; the contract keeps its name whole
    // ("admin.reset", not "ops.admin.reset").
    let ops = swill::Module::new("ops")
        .hooks(swill::Hooks::new().authorize(|ctx| ctx.metadata().get_str("role") == Some("admin")))
        .handler(reset);
    Swill::new()
        .module(ops)
        .handler(add)
        .handler(add_blocking)
        .handler(hello)
        .handler(count)
        .handler(total)
        .handler(double)
}

#[tokio::test]
async fn every_shape_through_its_contract() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();

    let five = client.to(api::add).call(&Terms { a: 2, b: 3 });
    assert_eq!(five.with_timeout().await.unwrap(), Sum { sum: 5 });
    let seven = client.to(api::add_blocking).call(&Terms { a: 4, b: 3 });
    assert_eq!(seven.with_timeout().await.unwrap(), Sum { sum: 7 });
    let greeting = client
        .to(api::hello)
        .call(&())
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(greeting, "hello");

    let numbers: Vec<u32> = client
        .to(api::count)
        .stream(&4)
        .unwrap()
        .map(|n| n.unwrap())
        .collect()
        .with_timeout()
        .await;
    assert_eq!(numbers, [0, 1, 2, 3]);

    let (mut sink, reply) = client.to(api::total).client_stream().unwrap();
    for n in [1, 2, 3] {
        sink.send(&n).unwrap();
    }
    sink.end().unwrap();
    assert_eq!(reply.with_timeout().await.unwrap().data, Sum { sum: 6 });

    let (mut sink, mut doubled) = client.to(api::double).bidi().unwrap();
    for n in [5, -1] {
        sink.send(&n).unwrap();
        let got = doubled.next().with_timeout().await.unwrap().unwrap();
        assert_eq!(got, n * 2);
    }
    sink.end().unwrap();
    assert!(doubled.next().with_timeout().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn metadata_both_ways_on_a_typed_call() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let reply = client
        .to(api::add)
        .metadata(Metadata::new().with("who", "ada"))
        .reply(&Terms { a: 1, b: 1 })
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(reply.data, Sum { sum: 2 });
    let leading = reply.leading.expect("leading metadata");
    assert_eq!(leading.get_str("seen"), Some("ada"));
    server.stop().await;
}

#[tokio::test]
async fn the_contract_names_the_rpc_on_the_wire() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    assert_eq!(api::add::NAME, "math.add");
    // A string-named call (what a TypeScript or Python client sends) reaches the handler
    // under the contract's name, not the function's.
    let answer: Sum = client
        .call("math.add", &Terms { a: 20, b: 22 })
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(answer, Sum { sum: 42 });
    let err = client
        .call::<Sum>("add", &Terms { a: 1, b: 2 })
        .with_timeout()
        .await
        .unwrap_err();
    assert_eq!(err.rpc().map(|e| e.code().0), Some(404));
    server.stop().await;
}

#[tokio::test]
async fn a_contract_in_a_module_keeps_its_name_and_gets_the_module_hooks() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let err = client
        .to(api::reset)
        .call(&())
        .with_timeout()
        .await
        .unwrap_err();
    let rpc = err.rpc().expect("an ERROR frame");
    assert_eq!(rpc.code().0, 403);
    assert!(rpc.message().contains("admin.reset"), "{}", rpc.message());
    let ok = client
        .to(api::reset)
        .metadata(Metadata::new().with("role", "admin"))
        .call(&())
        .with_timeout()
        .await
        .unwrap();
    assert!(ok);
    // The module's prefix does not apply to a contract's name.
    let err = client
        .call::<bool>("ops.admin.reset", &())
        .with_timeout()
        .await
        .unwrap_err();
    assert_eq!(err.rpc().map(|e| e.code().0), Some(404));
    server.stop().await;
}
