//! The server driver (feature `server`): [`serve`], and mounting in axum or hyper.
//!
//! One tokio task per WebSocket connection runs a thin driver over the sans-IO engine
//! ([`crate::protocol::ServerConn`]). Calls run inside that task (no task per call); blocking
//! handlers go to tokio's blocking pool. Output is bounded per connection: handlers are not
//! polled for more while the socket is backed up.

mod call;
mod calls;
mod conn;
mod io;
mod pages;
mod service;

use std::future::{Future, IntoFuture};
use std::io as stdio;
use std::pin::Pin;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

pub use service::{ShutdownHandle, SwillService, SUBPROTOCOL, SUBPROTOCOL_ALIAS};

use crate::Swill;

/// Serves `app` on `listener` until the process ends (or, with
/// [`Serve::with_graceful_shutdown`], until a signal).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8765").await?;
/// swill::serve(listener, swill::Swill::new()).await
/// # }
/// # drop(run());
/// ```
pub fn serve(listener: TcpListener, app: Swill) -> Serve {
    Serve { listener, app }
}

/// The future of [`serve`]; `.await` it.
#[derive(Debug)]
#[must_use = "a server does nothing until awaited"]
pub struct Serve {
    listener: TcpListener,
    app: Swill,
}

impl Serve {
    /// Stops accepting when `signal` resolves, lets running calls finish (up to the app's
    /// shutdown timeout), closes WebSockets with 1001, then returns.
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown<F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown {
            serve: self,
            signal,
        }
    }
}

impl IntoFuture for Serve {
    type Output = stdio::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = stdio::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self.listener, self.app, std::future::pending()))
    }
}

/// [`serve`] with a shutdown signal; `.await` it.
#[must_use = "a server does nothing until awaited"]
pub struct WithGracefulShutdown<F> {
    serve: Serve,
    signal: F,
}

impl<F> std::fmt::Debug for WithGracefulShutdown<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithGracefulShutdown")
            .finish_non_exhaustive()
    }
}

impl<F: Future<Output = ()> + Send + 'static> IntoFuture for WithGracefulShutdown<F> {
    type Output = stdio::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = stdio::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self.serve.listener, self.serve.app, self.signal))
    }
}

impl Swill {
    /// Binds `addr` and serves the app until the process ends: the one-line server.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// swill::Swill::new().serve("127.0.0.1:8765").await
    /// # }
    /// # drop(run());
    /// ```
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn serve(self, addr: impl tokio::net::ToSocketAddrs) -> stdio::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        serve(listener, self).await
    }
}

async fn run<F>(listener: TcpListener, app: Swill, signal: F) -> stdio::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let handshake_timeout = app.config.handshake_timeout;
    let grace = app.config.shutdown_timeout;
    let svc = app.into_service();
    let shutdown = svc.shutdown_handle();
    let http_tasks = tokio_util::task::TaskTracker::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        let svc = tower::util::MapRequest::new(
            svc,
            move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(service::PeerAddr(peer));
                req
            },
        );
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(handshake_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
            .with_upgrades();
        let mut stop = stop_rx.clone();
        http_tasks.spawn(async move {
            tokio::pin!(conn);
            let res = tokio::select! {
                res = conn.as_mut() => res,
                () = async { let _ = stop.wait_for(|v| *v).await; } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = res {
                tracing::debug!(error = %e, "http connection error");
            }
        });
    }
    drop(listener);
    let extra = Duration::from_secs(5);
    stop_tx.send_replace(true);
    http_tasks.close();
    let _ = tokio::time::timeout(grace + extra, shutdown.shutdown()).await;
    let _ = tokio::time::timeout(extra, http_tasks.wait()).await;
    Ok(())
}
