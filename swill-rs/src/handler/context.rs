//! The connection and call contexts handlers and hooks see.

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use bytes::Bytes;
use http::{Extensions, HeaderMap, Uri};

use super::Metadata;
use crate::protocol::Seq;

/// Application state values, keyed by type (see `Swill::with_state`).
#[derive(Default)]
pub(crate) struct StateMap(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl StateMap {
    pub(crate) fn insert<S: Clone + Send + Sync + 'static>(&mut self, state: S) {
        self.0.insert(TypeId::of::<S>(), Box::new(state));
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
        }))
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
        let query = self.0.uri.query()?;
        query
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(k, _)| percent_decode(k) == name)
            .map(|(_, v)| percent_decode(v))
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

/// What a call's handler, extractors, hooks and the driver share: identity, request metadata,
/// response metadata and (for streaming requests) the inbox of request items.
///
/// Cheap to clone. Hooks receive it; handlers can take it as an argument.
#[derive(Clone)]
pub struct CallContext(pub(crate) Arc<CallInner>);

pub(crate) struct CallInner {
    pub(crate) seq: Seq,
    pub(crate) rpc: Arc<str>,
    pub(crate) metadata: Metadata,
    pub(crate) connection: Connection,
    pub(crate) response: ResponseCell,
    pub(crate) inbox: Option<Mutex<Inbox>>,
    pub(crate) failure: super::request::FailureSlot,
    pub(crate) blocking: Mutex<Option<super::BlockingJob>>,
}

impl CallContext {
    pub(crate) fn new(
        seq: Seq,
        rpc: Arc<str>,
        metadata: Metadata,
        connection: Connection,
        streaming_request: bool,
    ) -> Self {
        Self(Arc::new(CallInner {
            seq,
            rpc,
            metadata,
            connection,
            response: ResponseCell::default(),
            inbox: streaming_request.then(|| Mutex::new(Inbox::default())),
            failure: Default::default(),
            blocking: Mutex::new(None),
        }))
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

    /// The connection the call arrived on.
    pub fn connection(&self) -> &Connection {
        &self.0.connection
    }

    pub(crate) fn inbox(&self) -> Option<MutexGuard<'_, Inbox>> {
        self.0
            .inbox
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn response(&self) -> &ResponseCell {
        &self.0.response
    }
}

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

/// Request frames queued for a streaming-request call, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    pub(crate) items: VecDeque<Bytes>,
    pub(crate) ended: bool,
    /// The handler waiting for an item.
    pub(crate) waker: Option<Waker>,
}

impl Inbox {
    pub(crate) fn push(&mut self, payload: Bytes) {
        self.items.push_back(payload);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub(crate) fn end(&mut self) {
        self.ended = true;
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// Response metadata a handler set through its [`Response`](super::Response) handle.
#[derive(Default)]
pub(crate) struct ResponseCell {
    pub(crate) dirty: AtomicBool,
    state: Mutex<ResponseState>,
}

#[derive(Default, Debug)]
pub(crate) struct ResponseState {
    pub(crate) leading: Option<Metadata>,
    pub(crate) trailing: Option<Metadata>,
    pub(crate) eager: bool,
    pub(crate) leading_sent: bool,
}

impl ResponseCell {
    pub(crate) fn lock(&self) -> MutexGuard<'_, ResponseState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Takes the pending changes, if any, for the driver to pass to the engine.
    pub(crate) fn take_changes(&self) -> Option<MutexGuard<'_, ResponseState>> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            Some(self.lock())
        } else {
            None
        }
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
