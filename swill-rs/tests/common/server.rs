//! [`TestServer`]: a real server on 127.0.0.1:0. [`TestServer::stop`] shuts it down and
//! checks how its serve task ended; a server dropped without `stop` fails the test.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use swill::server::ShutdownHandle;
use swill::Swill;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::timeout::{TimeoutExt, TIMEOUT};

/// Completes when the test stops the server: the serve task's graceful-shutdown signal.
pub(crate) type StopSignal = BoxFuture<'static, ()>;

/// A running server and the task that serves it.
#[derive(Debug)]
pub(crate) struct TestServer {
    /// Where it listens (127.0.0.1, a port the OS chose).
    pub(crate) addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    /// The WebSocket URL at the default path, `ws://addr/ws`.
    pub(crate) fn url(&self) -> String {
        self.ws_url("/ws")
    }

    /// `ws://addr` followed by `path` (with any query).
    pub(crate) fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Graceful shutdown: signals the serve task, waits (bounded) for it, and fails the test
    /// unless it returned `Ok(())`: an I/O error or a panic of the server is reported here.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(task) = self.task.take() else {
            return;
        };
        match task.with_timeout().await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the server returned an error: {e}"),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("the serve task did not finish: {e}"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.task.is_some() && !std::thread::panicking() {
            panic!("a TestServer was dropped without stop(): how its task ended went unchecked");
        }
    }
}

/// Binds 127.0.0.1:0 and spawns `serve(listener, stop)`, the task [`TestServer::stop`] joins.
/// `stop` completes when the test stops the server; the task then shuts down and returns.
pub(crate) async fn spawn_with<F, Fut>(serve: F) -> TestServer
where
    F: FnOnce(TcpListener, StopSignal) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .with_timeout()
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("the listener's address");
    let (tx, rx) = oneshot::channel::<()>();
    let stop = async move {
        let _ = rx.await;
    }
    .boxed();
    TestServer {
        addr,
        shutdown: Some(tx),
        task: Some(tokio::spawn(serve(listener, stop))),
    }
}

/// Serves `app` with `swill::serve`, graceful shutdown wired to [`TestServer::stop`].
pub(crate) async fn spawn(app: Swill) -> TestServer {
    spawn_with(|listener, stop| async move {
        swill::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
    })
    .await
}

/// Serves `router` with `axum::serve`, graceful shutdown wired to [`TestServer::stop`].
pub(crate) async fn spawn_router(router: axum::Router) -> TestServer {
    spawn_with(|listener, stop| async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await
    })
    .await
}

/// Like [`spawn`], but mounts the app as a tower service in axum, so the test can watch
/// [`ShutdownHandle::live_connections`].
pub(crate) async fn spawn_tracked(app: Swill) -> (TestServer, ShutdownHandle) {
    let svc = app.into_service();
    let handle = svc.shutdown_handle();
    let server = spawn_router(axum::Router::new().fallback_service(svc)).await;
    (server, handle)
}

/// Waits (bounded by [`TIMEOUT`]) until `handle` counts `n` live connections.
///
/// A connection counts from before its 101 response, so a test that has just connected
/// asserts the count directly. Going down has no signal: the count drops when the
/// connection's task ends, after its last hook, so this polls it. The 10 ms between looks
/// sets only how often it looks; any delay of the server is waited out.
pub(crate) async fn wait_live(handle: &ShutdownHandle, n: usize) {
    let wait = async {
        while handle.live_connections() != n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(TIMEOUT, wait).await.is_err() {
        panic!(
            "live connections stayed at {} instead of {n}",
            handle.live_connections()
        );
    }
}
