//! The server driver (feature `server`): [`serve`], and mounting in axum or hyper.
//!
//! One tokio task per WebSocket connection runs a thin driver over the sans-IO engine
//! ([`crate::protocol::ServerConn`]). Calls run inside that task (no task per call); blocking
//! handlers go to tokio's blocking pool. Output is bounded per connection: handlers are not
//! polled for more while the socket is backed up.

mod accept;
mod call;
mod calls;
mod conn;
mod deadline;
mod io;
mod limits;
#[cfg(feature = "client")]
mod local;
mod pages;
mod panics;
mod proxy;
mod service;
mod shutdown;
mod stats;
#[cfg(feature = "tls")]
mod tls;

use std::future::{Future, IntoFuture};
use std::io as stdio;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

pub use panics::limit_panic_output;
pub use proxy::{
    encode_header as encode_proxy_header, read_header as read_proxy_header, MAX_PROXY_HEADER_LEN,
};
pub use service::{SwillService, SUBPROTOCOL, SUBPROTOCOL_ALIAS};
pub use shutdown::ShutdownHandle;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tls::{TlsConfig, TlsError};

use crate::app::Swill;

/// Serves `app` on `listener` until the process ends (or, with
/// [`Serve::with_graceful_shutdown`], until a signal).
///
/// Besides the app's own limits ([`Config`](crate::Config)), `serve` answers HTTP 408 to a
/// client that sends no request within the handshake timeout, and when the process runs out
/// of file descriptors it pauses accepting (up to a second at a time, with one log line a
/// minute) instead of spinning, and resumes as soon as descriptors are free again.
///
/// # Errors
/// The future fails at once, before accepting anything, when the app does not build: the
/// `io::Error` has kind [`InvalidInput`](std::io::ErrorKind::InvalidInput) and carries the
/// [`BuildError`](crate::BuildError) (`err.get_ref()` and `downcast_ref`).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8765").await?;
/// swill::serve(listener, swill::Swill::new()).await
/// # }
/// # drop(run());
/// ```
pub fn serve(listener: TcpListener, app: Swill) -> Serve {
    Serve {
        listener,
        app,
        tls: None,
    }
}

/// The TLS configuration `serve` uses, when any (none can exist without the `tls` feature).
#[cfg(feature = "tls")]
type ServeTls = TlsConfig;
#[cfg(not(feature = "tls"))]
type ServeTls = std::convert::Infallible;

/// The future of [`serve`]; `.await` it.
#[derive(Debug)]
#[must_use = "a server does nothing until awaited"]
pub struct Serve {
    listener: TcpListener,
    app: Swill,
    tls: Option<ServeTls>,
}

impl Serve {
    /// Serves `wss://` (TLS) instead of `ws://` (feature `tls`): every accepted socket
    /// takes a TLS handshake, after the PROXY protocol header if that is on, before HTTP;
    /// both are bounded by the [handshake timeout](crate::Config::handshake_timeout) from
    /// the accept.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// let tls = swill::server::TlsConfig::from_pem_files("dev-cert/cert.pem", "dev-cert/key.pem")?;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
    /// swill::serve(listener, swill::Swill::new()).tls(tls).await
    /// # }
    /// # drop(run());
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

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
        Box::pin(run(
            self.listener,
            self.app,
            self.tls,
            std::future::pending(),
        ))
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
        Box::pin(run(
            self.serve.listener,
            self.serve.app,
            self.serve.tls,
            self.signal,
        ))
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
    /// When the address cannot be bound, or when the app does not build (see [`serve`]).
    pub async fn serve(self, addr: impl tokio::net::ToSocketAddrs) -> stdio::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        serve(listener, self).await
    }

    /// Binds `addr` and serves the app over TLS (`wss://`) until the process ends
    /// (feature `tls`; see [`Serve::tls`]).
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// let tls = swill::server::TlsConfig::from_pem_files("cert.pem", "key.pem")?;
    /// swill::Swill::new().serve_tls("127.0.0.1:8443", tls).await
    /// # }
    /// # drop(run());
    /// ```
    ///
    /// # Errors
    /// When the address cannot be bound, or when the app does not build (see [`serve`]).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn serve_tls(
        self,
        addr: impl tokio::net::ToSocketAddrs,
        tls: TlsConfig,
    ) -> stdio::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        serve(listener, self).tls(tls).await
    }
}

async fn run<F>(
    listener: TcpListener,
    app: Swill,
    tls: Option<ServeTls>,
    signal: F,
) -> stdio::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let handshake_timeout = app.config.handshake_timeout;
    let grace = app.config.shutdown_timeout;
    let proxy_protocol = app.config.proxy_protocol;
    #[cfg(feature = "tls")]
    let tls = tls.map(|t| t.acceptor());
    let svc = app
        .try_into_service()
        .map_err(|e| stdio::Error::new(stdio::ErrorKind::InvalidInput, e))?;
    let shutdown = svc.shutdown_handle();
    let http_tasks = tokio_util::task::TaskTracker::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut backoff = accept::Backoff::default();
    tokio::pin!(signal);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut signal => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff.reset();
                a
            }
            Err(e) => {
                if let Some(pause) = backoff.failed(&e) {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = &mut signal => break,
                    }
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        let mut stop = stop_rx.clone();
        // Without the `tls` feature this is an `Option<Infallible>`, which is `Copy`.
        #[cfg_attr(not(feature = "tls"), allow(clippy::clone_on_copy))]
        let tls = tls.clone();
        http_tasks.spawn(async move {
            let mut stream = stream;
            // The PROXY header and the TLS handshake share one deadline from the accept.
            let deadline = tokio::time::Instant::now() + handshake_timeout;
            let peer = if proxy_protocol {
                let header =
                    tokio::time::timeout_at(deadline, proxy::read_header(&mut stream)).await;
                match header {
                    Ok(Ok(real)) => real.unwrap_or(peer),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, %peer, "closed: no valid PROXY protocol header");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "closed: no PROXY protocol header in time");
                        return;
                    }
                }
            } else {
                peer
            };
            match tls {
                None => serve_http(stream, peer, svc, handshake_timeout, &mut stop).await,
                #[cfg(feature = "tls")]
                Some(acceptor) => {
                    let accepted = tokio::select! {
                        accepted = tls::accept(&acceptor, stream, deadline, peer) => accepted,
                        () = async { let _ = stop.wait_for(|v| *v).await; } => None,
                    };
                    if let Some(stream) = accepted {
                        serve_http(stream, peer, svc, handshake_timeout, &mut stop).await;
                    }
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
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

/// Serves HTTP/1.1 (with upgrades) on one accepted socket until it closes, or until `stop`
/// says the server is shutting down (then gracefully).
async fn serve_http<S>(
    stream: S,
    peer: std::net::SocketAddr,
    svc: SwillService,
    handshake_timeout: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let got_request = Arc::new(AtomicBool::new(false));
    let io = accept::HandshakeIo::new(stream, handshake_timeout, got_request.clone());
    let svc =
        tower::util::MapRequest::new(svc, move |mut req: http::Request<hyper::body::Incoming>| {
            got_request.store(true, Ordering::Release);
            req.extensions_mut().insert(service::PeerAddr(peer));
            req
        });
    // `HandshakeIo` answers 408 when the first request is late; hyper's own header timeout
    // (which closes silently) stays as the bound for later requests on the connection.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(handshake_timeout + HYPER_HEADER_MARGIN)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(svc))
        .with_upgrades();
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
}

/// hyper's header timeout runs this much longer than the handshake timeout, so that on the
/// first request [`accept::HandshakeIo`]'s 408 always comes first.
const HYPER_HEADER_MARGIN: Duration = Duration::from_secs(1);
