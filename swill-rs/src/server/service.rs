//! The tower service: routes plain HTTP (schema.json, docs page, 404) and performs the
//! WebSocket handshake, then hands the upgraded socket to a connection driver.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::accept::HandshakeIo;
use super::deadline::DeadlineIo;
use super::io::AdaptiveIo;
use super::limits::{ConnLimits, Refused};
use super::shutdown::{ShutdownHandle, Tracker};
use crate::app::Swill;
use crate::app::{App, Refusal};
use crate::handler::Connection;
use crate::hooks::Handshake;

/// The subprotocol of swill/1 as the original spells it (not a legal RFC 6455 token).
pub const SUBPROTOCOL: &str = "swill/1";
/// The token-safe alias browsers can offer (swill/1 §2.2).
pub const SUBPROTOCOL_ALIAS: &str = "swill.v1";
/// tungstenite's read buffer: allocated for every connection (idle ones too) and the most
/// it reads per call. 1 KiB holds a batch of about 40 small calls; a larger message is
/// read on through `AdaptiveIo`'s chunk, from memory, 1 KiB per call. 2 KiB cost each
/// idle connection another KiB for a few percent fewer read calls on megabyte messages.
const READ_BUFFER: usize = 1024;
/// Output is written to the socket once this much is buffered (or at each flush).
const WRITE_BUFFER: usize = 64 * 1024;

/// The peer address `serve` attaches to each request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// Shared by every clone of a [`SwillService`].
struct Shared {
    app: Arc<App>,
    limits: ConnLimits,
    next_id: AtomicU64,
    tracker: Arc<Tracker>,
}

/// A `tower::Service` serving a swill app over HTTP/1.1 upgrades.
///
/// Built by [`Swill::into_service`] (routes by itself: WebSocket path, `schema.json`, docs
/// page, 404 elsewhere) or [`Swill::into_route`] (answers every request it gets; the router
/// already chose the path). hyper serves it directly through
/// `hyper_util::service::TowerToHyperService`; the connection must allow upgrades.
#[derive(Clone)]
pub struct SwillService {
    shared: Arc<Shared>,
    route_self: bool,
}

impl SwillService {
    /// The path the WebSocket is served at (`Swill::ws_path`).
    #[cfg(feature = "client")]
    pub(super) fn ws_path(&self) -> &str {
        &self.shared.app.paths.ws
    }
}

impl std::fmt::Debug for SwillService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwillService")
            .field("route_self", &self.route_self)
            .field("live", &self.shared.tracker.live())
            .field("slots", &self.shared.limits.live())
            .finish()
    }
}

impl Swill {
    /// A tower service that routes by itself: the WebSocket path (default `/ws`),
    /// `schema.json`, the docs page, and 404 for anything else.
    ///
    /// # Panics
    /// When the app does not build (a [`BuildError`](crate::BuildError), such as a handler
    /// name registered twice), with the error's message, as axum panics on overlapping
    /// routes. [`Swill::check`] reports the same error as a value; [`Swill::try_into_service`]
    /// returns it.
    pub fn into_service(self) -> SwillService {
        match self.try_into_service() {
            Ok(svc) => svc,
            Err(e) => panic!("swill app does not build: {e}"),
        }
    }

    /// [`Swill::into_service`], returning a [`BuildError`](crate::BuildError) instead of
    /// panicking.
    ///
    /// # Errors
    /// When the app does not build (see [`Swill::check`]).
    pub fn try_into_service(self) -> Result<SwillService, crate::app::BuildError> {
        let app = self.build()?;
        Ok(SwillService {
            shared: Arc::new(Shared {
                limits: ConnLimits::new(&app.config),
                app,
                next_id: AtomicU64::new(1),
                tracker: Arc::new(Tracker::new()),
            }),
            route_self: true,
        })
    }

    /// An axum route for one path: `Router::new().route("/ws", app.into_route())`.
    /// Every request that reaches it is treated as the WebSocket endpoint.
    ///
    /// # Panics
    /// When the app does not build, as [`Swill::into_service`] does.
    pub fn into_route<S: Clone + Send + Sync + 'static>(self) -> axum::routing::MethodRouter<S> {
        let mut svc = self.into_service();
        svc.route_self = false;
        axum::routing::any_service(svc)
    }

    /// An axum router with the WebSocket endpoint, `schema.json` and the docs page, to
    /// `merge` into an app or `nest` under a prefix.
    ///
    /// # Panics
    /// When the app does not build, as [`Swill::into_service`] does.
    pub fn into_router<S: Clone + Send + Sync + 'static>(self) -> axum::Router<S> {
        axum::Router::new().fallback_service(self.into_service())
    }

    /// [`into_router`](Self::into_router), with the handle that shuts its WebSocket
    /// connections down: pass [`ShutdownHandle::after`] to axum's `with_graceful_shutdown`.
    /// Without it, axum's graceful shutdown returns while upgraded connections keep running
    /// (hyper stops tracking a connection once it is upgraded).
    ///
    /// # Panics
    /// When the app does not build, as [`Swill::into_service`] does.
    pub fn into_router_with_shutdown<S: Clone + Send + Sync + 'static>(
        self,
    ) -> (axum::Router<S>, ShutdownHandle) {
        let svc = self.into_service();
        let handle = svc.shutdown_handle();
        (axum::Router::new().fallback_service(svc), handle)
    }

    /// [`into_route`](Self::into_route), with the handle that shuts its WebSocket
    /// connections down (see [`into_router_with_shutdown`](Self::into_router_with_shutdown)).
    ///
    /// # Panics
    /// When the app does not build, as [`Swill::into_service`] does.
    pub fn into_route_with_shutdown<S: Clone + Send + Sync + 'static>(
        self,
    ) -> (axum::routing::MethodRouter<S>, ShutdownHandle) {
        let mut svc = self.into_service();
        svc.route_self = false;
        let handle = svc.shutdown_handle();
        (axum::routing::any_service(svc), handle)
    }
}

impl SwillService {
    /// A handle that shuts down this service's connections gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.shared.tracker.clone())
    }
}

impl<B: Send + 'static> tower_service::Service<Request<B>> for SwillService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        let route_self = self.route_self;
        Box::pin(async move { Ok(handle(shared, route_self, req).await) })
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut res = Response::new(Body::from(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "404 Not Found")
}

fn header_has_token(req: &Request<impl Sized>, name: header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn is_upgrade(req: &Request<impl Sized>) -> bool {
    header_has_token(req, header::UPGRADE, "websocket")
}

/// Picks the subprotocol leniently (swill/1 §2.2): split on commas, trim spaces and tabs,
/// compare byte for byte; `swill/1` wins over the alias.
pub(crate) fn select_subprotocol(req: &Request<impl Sized>) -> Option<&'static str> {
    let offered: Vec<&[u8]> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|t| t.trim_ascii())
        .collect();
    if offered.contains(&SUBPROTOCOL.as_bytes()) {
        Some(SUBPROTOCOL)
    } else if offered.contains(&SUBPROTOCOL_ALIAS.as_bytes()) {
        Some(SUBPROTOCOL_ALIAS)
    } else {
        None
    }
}

async fn handle<B: Send + 'static>(
    shared: Arc<Shared>,
    route_self: bool,
    req: Request<B>,
) -> Response<Body> {
    let app = &shared.app;
    let peer = peer_addr(&req);
    if app.config.admit_peer(peer.map(|p| p.ip())) == Err(Refusal::Network) {
        tracing::debug!(?peer, "refused: network not allowed");
        return text(StatusCode::FORBIDDEN, "403 Forbidden: network not allowed");
    }
    let path = req.uri().path();
    if !is_upgrade(&req) {
        if !route_self || req.method() != Method::GET {
            return not_found();
        }
        if app.paths.guarded && is_guarded_page(app, path) {
            let hs = Handshake::new(owned_uri(req.uri()), owned_headers(req.headers()), peer);
            if let Err(res) = run_before_connection(app, hs).await {
                return res;
            }
        }
        if let Some(res) = super::pages::serve_page(app, &req) {
            return res;
        }
        return not_found();
    }
    if route_self && path != app.paths.ws {
        return not_found();
    }
    if shared.tracker.is_shutting_down() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable: shutting down",
        );
    }
    upgrade(shared, req, peer).await
}

/// Runs the `before_connection` hooks in order; a rejection becomes its HTTP response.
async fn run_before_connection(app: &App, mut hs: Handshake) -> Result<Handshake, Response<Body>> {
    for hook in &app.conn_hooks.before_connection {
        match hook(hs).await {
            Ok(next) => hs = next,
            Err(rejection) => {
                let mut res = text(rejection.status, rejection.reason);
                res.headers_mut().extend(rejection.headers);
                return Err(res);
            }
        }
    }
    Ok(hs)
}

/// `schema.json` and the docs page's HTML (not its static scripts and styles, which are the
/// same for every app and say nothing about it).
fn is_guarded_page(app: &App, path: &str) -> bool {
    if app.paths.schema.as_deref() == Some(path) {
        return true;
    }
    app.paths
        .docs
        .as_deref()
        .and_then(|docs| path.strip_prefix(docs))
        .is_some_and(|rest| matches!(rest, "" | "/" | "/index.html"))
}

/// The peer address `serve` attached, or the one axum's `ConnectInfo` provides.
fn peer_addr<B>(req: &Request<B>) -> Option<SocketAddr> {
    req.extensions().get::<PeerAddr>().map(|p| p.0).or_else(|| {
        req.extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
    })
}

fn owned_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    // The handshake's own mechanics mean nothing after it (`Connection: upgrade` and
    // `Upgrade: websocket` hold on every upgraded connection); the rest is kept for hooks
    // and handlers (Host, Origin, Cookie, Authorization, User-Agent, the offered
    // subprotocols, ...). Every header kept costs each idle connection about 130 bytes.
    let mechanics = [
        header::SEC_WEBSOCKET_KEY,
        header::SEC_WEBSOCKET_VERSION,
        header::SEC_WEBSOCKET_EXTENSIONS,
        header::CONNECTION,
        header::UPGRADE,
    ];
    let kept = headers
        .keys()
        .filter(|name| !mechanics.contains(name))
        .count();
    let mut out = http::HeaderMap::with_capacity(kept);
    for (name, value) in headers {
        if mechanics.contains(name) {
            continue;
        }
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            let mut v = v;
            v.set_sensitive(value.is_sensitive());
            out.append(name.clone(), v);
        }
    }
    out
}

fn owned_uri(uri: &http::Uri) -> http::Uri {
    let text = uri.to_string();
    http::Uri::try_from(text).unwrap_or_else(|_| uri.clone())
}

async fn upgrade<B: Send + 'static>(
    shared: Arc<Shared>,
    mut req: Request<B>,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let app = shared.app.clone();
    if req.version() != Version::HTTP_11 {
        // RFC 6455 §4.1: the opening handshake is an HTTP/1.1 (or later) GET; HTTP/2 needs
        // RFC 8441's extended CONNECT, which is not this.
        return text(
            StatusCode::BAD_REQUEST,
            "400 Bad Request: a WebSocket upgrade needs HTTP/1.1",
        );
    }
    if req.method() != Method::GET
        || !header_has_token(&req, header::CONNECTION, "upgrade")
        || req
            .headers()
            .get(header::SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes)
            != Some(b"13")
    {
        return text(
            StatusCode::BAD_REQUEST,
            "400 Bad Request: not a WebSocket version 13 upgrade",
        );
    }
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return text(
            StatusCode::BAD_REQUEST,
            "400 Bad Request: missing Sec-WebSocket-Key",
        );
    };
    let Some(subprotocol) = select_subprotocol(&req) else {
        return text(StatusCode::NOT_ACCEPTABLE, "No suitable subprotocol");
    };

    let origins = req.headers().get_all(header::ORIGIN).iter();
    if app.config.admit_origin(origins.map(HeaderValue::as_bytes)) == Err(Refusal::Origin) {
        tracing::debug!(?peer, "refused: origin not allowed");
        return text(StatusCode::FORBIDDEN, "403 Forbidden: origin not allowed");
    }
    let permit = match shared.limits.acquire(peer.map(|p| p.ip())) {
        Ok(permit) => permit,
        Err(Refused::Global(max)) => {
            super::stats::refused(&app, crate::observe::Limit::Connections);
            tracing::debug!(?peer, max, "refused: connection limit reached");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("503 Service Unavailable: the server holds {max} connections"),
            );
        }
        Err(Refused::PerIp(max)) => {
            super::stats::refused(&app, crate::observe::Limit::ConnectionsPerIp);
            tracing::debug!(?peer, max, "refused: per-address connection limit reached");
            return text(
                StatusCode::TOO_MANY_REQUESTS,
                format!("429 Too Many Requests: {max} connections from this address are open"),
            );
        }
    };
    // hyper parses the request head zero-copy: header values and the URI are slices of its
    // 8 KiB read buffer. Copied here, they no longer pin that buffer for the connection's life.
    let hs = Handshake::new(owned_uri(req.uri()), owned_headers(req.headers()), peer);
    let hs = match run_before_connection(&app, hs).await {
        Ok(hs) => hs,
        Err(res) => return res,
    };

    let on_upgrade = hyper::upgrade::on(&mut req);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let Handshake {
        uri,
        headers,
        extensions,
        response_headers,
        ..
    } = hs;
    let conn = Connection::new(
        id,
        peer,
        uri,
        headers,
        extensions,
        subprotocol,
        app.states.clone(),
    );
    let guard = shared.tracker.enter();
    let mut shutdown_rx = shared.tracker.subscribe();
    let handshake_timeout = app.config.handshake_timeout;
    let max = app.config.max_message_size;
    let message_timeout = app.config.message_timeout;
    let lifetime = app.config.max_connection_lifetime;
    tokio::spawn(async move {
        let upgraded = match tokio::time::timeout(handshake_timeout, on_upgrade).await {
            Ok(Ok(u)) => u,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                return;
            }
            Err(_) => {
                tracing::debug!("websocket upgrade timed out");
                return;
            }
        };
        let cfg = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            let _ = shutdown_rx.wait_for(|v| *v).await;
        });
        // Served by `serve` over TLS: take the TLS stream back the same way as a TCP one.
        #[cfg(feature = "tls")]
        let upgraded = match upgraded.downcast::<TokioIo<HandshakeIo<super::tls::ServerStream>>>() {
            Ok(parts) => {
                let tls = parts.io.into_inner().into_inner();
                let io = DeadlineIo::new(
                    AdaptiveIo::new(tls),
                    parts.read_buf,
                    message_timeout,
                    lifetime,
                );
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await;
                tokio::spawn(super::conn::run(ws, app, conn, shutdown, (guard, permit)));
                return;
            }
            Err(upgraded) => upgraded,
        };
        // Served by `serve` or `axum::serve`, the upgraded connection is a TCP stream: take it
        // back from hyper, which frees hyper's 8 KiB read buffer for the connection's life,
        // and read the socket directly instead of through a boxed trait object.
        let upgraded = match upgraded.downcast::<TokioIo<HandshakeIo>>() {
            Ok(parts) => Ok((parts.io.into_inner().into_inner(), parts.read_buf)),
            Err(upgraded) => match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
                Ok(parts) => Ok((parts.io.into_inner(), parts.read_buf)),
                Err(upgraded) => Err(upgraded),
            },
        };
        match upgraded {
            Ok((tcp, early)) => {
                let io = DeadlineIo::new(AdaptiveIo::new(tcp), early, message_timeout, lifetime)
                    .input_budget(app.input.clone());
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await;
                // The long-lived part gets a task of its own, sized for the connection alone
                // rather than for the handshake states before it.
                tokio::spawn(super::conn::run(ws, app, conn, shutdown, (guard, permit)));
            }
            Err(upgraded) => {
                let io = AdaptiveIo::new(TokioIo::new(upgraded));
                let io = DeadlineIo::new(io, Bytes::new(), message_timeout, lifetime)
                    .input_budget(app.input.clone());
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await;
                tokio::spawn(super::conn::run(ws, app, conn, shutdown, (guard, permit)));
            }
        }
    });

    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.extend(response_headers);
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(subprotocol),
    );
    res
}
