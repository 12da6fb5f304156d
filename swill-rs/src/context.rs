//! The connection and call contexts that hooks and handlers see (layer 3).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http::{Extensions, HeaderMap, Uri};

use crate::metadata::Metadata;
use crate::observe::TraceContext;
use crate::protocol::Seq;

mod closing;
pub(crate) use closing::Closing;
pub use closing::ShuttingDown;

/// Application state values, keyed by type (see `Swill::with_state`).
#[derive(Default)]
pub(crate) struct StateMap(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl StateMap {
    pub(crate) fn insert<S: Clone + Send + Sync + 'static>(&mut self, state: S) {
        self.0.insert(TypeId::of::<S>(), Box::new(state));
    }

    pub(crate) fn contains(&self, id: TypeId) -> bool {
        self.0.contains_key(&id)
    }

    pub(crate) fn get<S: Clone + Send + Sync + 'static>(&self) -> Option<S> {
        self.0
            .get(&TypeId::of::<S>())
            .and_then(|b| b.downcast_ref::<S>())
            .cloned()
    }
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMap")
            .field("len", &self.0.len())
            .finish()
    }
}

/// One accepted WebSocket connection: its id, peer, the upgrade request's URI and headers, and
/// the extensions that `before_connection` hooks filled (for example an authenticated user).
///
/// Cheap to clone (one reference count). Handlers take it as an argument; hooks receive it.
#[derive(Clone)]
pub struct Connection(Arc<ConnInner>);

struct ConnInner {
    id: u64,
    peer: Option<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    extensions: Extensions,
    subprotocol: &'static str,
    states: Arc<StateMap>,
    closing: Arc<Closing>,
}

impl Connection {
    pub(crate) fn new(
        id: u64,
        peer: Option<SocketAddr>,
        uri: Uri,
        headers: HeaderMap,
        extensions: Extensions,
        subprotocol: &'static str,
        states: Arc<StateMap>,
    ) -> Self {
        Self(Arc::new(ConnInner {
            id,
            peer,
            uri,
            headers,
            extensions,
            subprotocol,
            states,
            closing: Arc::default(),
        }))
    }

    /// Resolves when the server starts a graceful shutdown of this connection (the process
    /// shuts down, or [`ShutdownHandle::shutdown`](crate::server::ShutdownHandle::shutdown)
    /// was called): the moment for an endless stream to end cleanly instead of holding the
    /// shutdown until its timeout, for example with
    /// `stream.take_until(conn.shutting_down())`. Running calls get the configured
    /// `shutdown_timeout` after it fires.
    pub fn shutting_down(&self) -> ShuttingDown {
        ShuttingDown::new(self.0.closing.clone())
    }

    /// Whether the graceful shutdown of this connection has started.
    pub fn is_shutting_down(&self) -> bool {
        self.0.closing.is_raised()
    }

    /// Starts the shutdown signal (the server does this when its graceful shutdown begins).
    pub(crate) fn begin_shutdown(&self) {
        self.0.closing.raise();
    }

    /// A process-unique id for the connection (also the `conn` field of its tracing span).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The peer's address, when the transport knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.0.peer
    }

    /// The URI of the upgrade request.
    pub fn uri(&self) -> &Uri {
        &self.0.uri
    }

    /// The headers of the upgrade request, without the handshake's own `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version` and `Sec-WebSocket-Extensions`.
    pub fn headers(&self) -> &HeaderMap {
        &self.0.headers
    }

    /// The subprotocol the connection speaks: `swill/1` or its token-safe alias `swill.v1`.
    pub fn subprotocol(&self) -> &'static str {
        self.0.subprotocol
    }

    /// Values `before_connection` hooks stored for this connection.
    pub fn extensions(&self) -> &Extensions {
        &self.0.extensions
    }

    /// The value of cookie `name` from the upgrade request's `Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        cookie(&self.0.headers, name)
    }

    /// The first value of query parameter `name` of the upgrade URI, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(&self.0.uri, name)
    }

    pub(crate) fn state<S: Clone + Send + Sync + 'static>(&self) -> Option<S> {
        self.0.states.get::<S>()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.0.id)
            .field("peer", &self.0.peer)
            .field("uri", &self.0.uri)
            .field("subprotocol", &self.0.subprotocol)
            .finish_non_exhaustive()
    }
}

/// The first value of query parameter `name` of `uri`, percent-decoded (`+` is a space).
pub(crate) fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    uri.query()?
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(k, _)| percent_decode(k) == name)
        .map(|(_, v)| percent_decode(v))
}

/// The value of cookie `name` in the `Cookie` headers (quotes around the value removed).
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a call's handler, extractors and hooks share: identity, request metadata, the
/// connection, and the response metadata the handler asked for.
///
/// Cheap to clone. Hooks receive it; handlers can take it as an argument.
#[derive(Clone)]
pub struct CallContext(Arc<CallInner>);

struct CallInner {
    seq: Seq,
    rpc: Arc<str>,
    metadata: Metadata,
    connection: Connection,
    response: ResponseCell,
    trace: Option<Arc<TraceContext>>,
}

impl CallContext {
    pub(crate) fn new(seq: Seq, rpc: Arc<str>, metadata: Metadata, connection: Connection) -> Self {
        Self(Arc::new(CallInner {
            seq,
            rpc,
            trace: TraceContext::from_metadata(&metadata).map(Arc::new),
            metadata,
            connection,
            response: ResponseCell::default(),
        }))
    }

    /// Takes this context back for the connection's next call when nothing else holds it
    /// any more (the call's body, its hooks, a handler that kept a clone): the next call
    /// then costs no allocation for its context. `None` when something still holds it.
    pub(crate) fn into_spare(self) -> Option<SpareContext> {
        let mut inner = self.0;
        let call = Arc::get_mut(&mut inner)?;
        // What the finished call asked for goes now, not when the spare is reused.
        call.metadata = Metadata::new();
        call.response = ResponseCell::default();
        call.trace = None;
        Some(SpareContext(inner))
    }

    /// A context for a new call on the spare's connection, in the spare's allocation.
    pub(crate) fn reuse(spare: SpareContext, seq: Seq, rpc: Arc<str>, metadata: Metadata) -> Self {
        let mut inner = spare.0;
        match Arc::get_mut(&mut inner) {
            Some(call) => {
                call.seq = seq;
                call.rpc = rpc;
                call.trace = TraceContext::from_metadata(&metadata).map(Arc::new);
                call.metadata = metadata;
                Self(inner)
            }
            // A spare is never shared (it is not `Clone`); a new one all the same.
            None => Self::new(seq, rpc, metadata, inner.connection.clone()),
        }
    }

    /// The call's sequence id, as the client chose it.
    pub fn seq(&self) -> i64 {
        self.0.seq.0
    }

    /// The handler name the client called (with its module prefix).
    pub fn rpc(&self) -> &str {
        &self.0.rpc
    }

    /// The request metadata (empty when the client sent none).
    pub fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }

    /// The caller's W3C trace context, when the request metadata carries a valid
    /// `traceparent` (see [`crate::observe`]).
    pub fn trace_context(&self) -> Option<&Arc<TraceContext>> {
        self.0.trace.as_ref()
    }

    /// Resolves when the call's connection starts shutting down (see
    /// [`Connection::shutting_down`]).
    pub fn shutting_down(&self) -> ShuttingDown {
        self.connection().shutting_down()
    }

    /// The connection the call arrived on.
    pub fn connection(&self) -> &Connection {
        &self.0.connection
    }

    /// What the handler asked for through its `Response` handle.
    pub(crate) fn response(&self) -> &ResponseCell {
        &self.0.response
    }
}

/// A finished call's context that nothing else holds, kept by its connection to open the
/// next call without allocating (see [`CallContext::into_spare`]). It never leaves the
/// connection it was made on: it keeps that connection.
pub(crate) struct SpareContext(Arc<CallInner>);

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("seq", &self.0.seq.0)
            .field("rpc", &self.0.rpc)
            .field("metadata", &self.0.metadata)
            .field("connection", &self.0.connection.id())
            .finish()
    }
}

/// Response metadata a handler asked for through its `Response` handle: requests only.
///
/// Whether leading metadata already went out is the protocol engine's to know; the call body
/// takes these requests when it builds its next step and hands them on as values.
#[derive(Default)]
pub(crate) struct ResponseCell {
    /// Set when any field changed since the body last looked, so the common case (a handler
    /// that never touches its `Response`) costs one atomic load per step.
    dirty: AtomicBool,
    state: Mutex<ResponseRequests>,
}

#[derive(Default, Debug)]
pub(crate) struct ResponseRequests {
    pub(crate) leading: Option<Metadata>,
    pub(crate) trailing: Option<Metadata>,
    /// `send_leading` was called: send a METADATA frame before anything else.
    pub(crate) eager: bool,
}

// Read by call bodies, which only the macros' registration functions build.
#[cfg_attr(not(feature = "macros"), allow(dead_code))]
impl ResponseCell {
    /// Changes the requests and marks them changed.
    pub(crate) fn update(&self, f: impl FnOnce(&mut ResponseRequests)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
        self.dirty.store(true, Ordering::Release);
    }

    /// Whether anything was requested since [`take_eager`](Self::take_eager) last cleared it.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Reads the requests without taking them.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&ResponseRequests) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes the requests (leading and/or trailing metadata, the eager flag) as `f` says.
    pub(crate) fn take<R>(&self, f: impl FnOnce(&mut ResponseRequests) -> R) -> R {
        if !self.is_dirty() {
            return f(&mut ResponseRequests::default());
        }
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut st);
        if st.leading.is_none() && st.trailing.is_none() && !st.eager {
            self.dirty.store(false, Ordering::Release);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(uri: &str, cookie: &str) -> Connection {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, cookie.parse().unwrap());
        Connection::new(
            1,
            None,
            uri.parse().unwrap(),
            headers,
            Extensions::new(),
            "swill.v1",
            Arc::default(),
        )
    }

    #[test]
    fn a_finished_context_is_reused_only_when_nothing_holds_it() {
        let md = Metadata::new().with("k", 1);
        let ctx = CallContext::new(Seq(1), "a".into(), md, conn("/", "a=b"));
        ctx.response().update(|r| r.eager = true);
        let addr = Arc::as_ptr(&ctx.0);
        let held = ctx.clone();
        assert!(ctx.into_spare().is_none(), "a clone is still alive");
        let spare = held.into_spare().expect("the last handle");
        let next = CallContext::reuse(spare, Seq(2), "b".into(), Metadata::new());
        assert_eq!(Arc::as_ptr(&next.0), addr, "same allocation");
        assert_eq!((next.seq(), next.rpc()), (2, "b"));
        assert!(next.metadata().is_empty());
        assert!(
            !next.response().is_dirty(),
            "nothing the last call asked for"
        );
        assert_eq!(next.connection().cookie("a"), Some("b"));
    }

    #[test]
    fn cookies_and_query_parameters_are_parsed() {
        let c = conn("/ws?token=a%20b&x=1&bad=%zz", "session=abc; theme=\"dark\"");
        assert_eq!(c.cookie("session"), Some("abc"));
        assert_eq!(c.cookie("theme"), Some("dark"));
        assert_eq!(c.cookie("missing"), None);
        assert_eq!(c.query_param("token").as_deref(), Some("a b"));
        assert_eq!(c.query_param("x").as_deref(), Some("1"));
        assert_eq!(c.query_param("bad").as_deref(), Some("%zz"));
        assert_eq!(c.query_param("nope"), None);
    }
}
