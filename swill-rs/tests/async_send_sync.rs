//! Compile-time checks that the public types can cross threads: the client, its call
//! futures and streams, the app, the error and the server's service and futures.
#![allow(dead_code, clippy::let_underscore_future)]

use swill::client::{Client, ClientError, ReplyFuture, RequestSink, ResponseStream};
use swill::server::{ShutdownHandle, SwillService};
use swill::{Error, Metadata, Swill};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn send_val<T: Send>(_: &T) {}

#[test]
fn public_types_are_send_and_sync() {
    send::<Client>();
    sync::<Client>();
    send::<ResponseStream<u64>>();
    sync::<ResponseStream<u64>>();
    send::<ReplyFuture<u64>>();
    sync::<ReplyFuture<u64>>();
    send::<RequestSink<u64>>();
    sync::<RequestSink<u64>>();
    send::<ClientError>();
    sync::<ClientError>();
    send::<Swill>();
    sync::<Swill>();
    send::<Error>();
    sync::<Error>();
    send::<Metadata>();
    sync::<Metadata>();
    send::<SwillService>();
    sync::<SwillService>();
    send::<ShutdownHandle>();
    sync::<ShutdownHandle>();
    send::<swill::server::Serve>();
}

/// Never run: only has to compile.
async fn call_futures_are_send(client: Client, listener: tokio::net::TcpListener) {
    send_val(&Client::connect("ws://127.0.0.1:1/ws"));
    send_val(&client.call::<u64>("add", &(1, 2)));
    send_val(
        &client
            .rpc("add")
            .metadata(Metadata::new())
            .call::<u64>(&(1, 2)),
    );
    let shutdown = ShutdownHandle::clone(&Swill::new().into_service().shutdown_handle());
    send_val(&shutdown.shutdown());
    let serve = swill::serve(listener, Swill::new()).with_graceful_shutdown(async {});
    send_val(&std::future::IntoFuture::into_future(serve));
}

#[test]
fn spawned_calls_compile() {
    // A call future moved into tokio::spawn must be Send + 'static.
    fn spawn_call(client: Client) {
        let _ = tokio::spawn(async move { client.call::<u64>("add", &(1, 2)).await });
    }
    let _ = spawn_call;
}
