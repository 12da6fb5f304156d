//! Connection and call lifecycle hooks.
//!
//! Hooks are async functions registered on the app ([`Swill`](crate::Swill)) or on a
//! [`Module`](crate::Module) (call hooks only; they then apply to that module's handlers). They
//! fire in swill/1's order (§9):
//!
//! | hook | receives | fires |
//! |---|---|---|
//! | `before_connection` | [`Handshake`] | during the upgrade, after the path and subprotocol checks; may reject it with an HTTP status, add response headers and store connection extensions |
//! | `after_accept` | [`Connection`] | right after the 101 response |
//! | `before_request` | [`CallContext`] | once per call, after the handler is found, before anything is decoded |
//! | `before_request_metadata` | [`CallContext`] | when the opening frame carried request metadata ([`CallContext::metadata`]) |
//! | `before_request_data` | [`CallContext`], [`RequestFrame`] | for every later frame of a streaming-request call (item or end), before it is processed |
//! | `before_request_message` | [`CallContext`], [`RawMessage`] | for every request message after decoding and validation, before the handler sees it |
//! | `before_leading_metadata` | [`CallContext`], `Option<Metadata>` | once, when leading metadata would go out (first result, END_OF_STREAM or an eager send), even if none was set |
//! | `before_response_message` | [`CallContext`], [`RawMessage`] | before each result message is written |
//! | `before_trailing_metadata` | [`CallContext`], `Option<Metadata>` | before the single response or the END_OF_STREAM |
//! | `after_request` | [`CallContext`], [`Outcome`] | when the call ends, on every path: success, error, cancel, disconnect, shutdown |
//! | `after_connection` | [`Connection`] | once, when the connection ends, after every call's `after_request` |
//!
//! A call hook that returns [`HookError::Fail`] ends the call with that ERROR; one that returns
//! [`HookError::Close`] closes the whole connection with the close code. A hook that panics is
//! a 500 for its call. `after_*` hooks cannot change the outcome; their errors are logged.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};

use crate::context::{CallContext, Connection};
use crate::error::Error;
use crate::metadata::Metadata;

/// What a hook returns.
pub type HookResult = Result<(), HookError>;

/// A hook's verdict when it does not let the call or connection go on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HookError {
    /// End the current call with this ERROR (for `before_*` call hooks).
    Fail(Error),
    /// Close the connection with a WebSocket close code (1000–4999) and reason.
    Close {
        /// The close code; values below 1000 become 1000.
        code: u16,
        /// The close reason (truncated to fit a close frame).
        reason: String,
    },
}

impl HookError {
    /// Close the connection with `code` and `reason`.
    pub fn close(code: u16, reason: impl Into<String>) -> Self {
        Self::Close {
            code,
            reason: reason.into(),
        }
    }
}

impl From<Error> for HookError {
    fn from(e: Error) -> Self {
        Self::Fail(e)
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fail(e) => write!(f, "hook failed the call: {e}"),
            Self::Close { code, reason } => {
                write!(f, "hook closed the connection ({code} {reason})")
            }
        }
    }
}

impl std::error::Error for HookError {}

/// A raw MessagePack message (request item or response result) as hooks see it.
#[derive(Clone, PartialEq)]
pub struct RawMessage(pub(crate) Bytes);

impl RawMessage {
    /// The MessagePack bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Decodes into `T`.
    ///
    /// # Errors
    /// When the message does not have `T`'s shape.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, rmp_serde::decode::Error> {
        rmp_serde::from_slice(&self.0)
    }

    /// Decodes into a dynamic value.
    ///
    /// # Errors
    /// When the bytes are not valid MessagePack.
    pub fn to_value(&self) -> Result<rmpv::Value, rmp_serde::decode::Error> {
        self.decode()
    }
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_value() {
            Ok(v) => write!(f, "RawMessage({v})"),
            Err(_) => write!(f, "RawMessage({} bytes)", self.0.len()),
        }
    }
}

/// A later frame of a streaming-request call, as `before_request_data` sees it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RequestFrame {
    /// A request item (MESSAGE).
    Message(RawMessage),
    /// The client's END_OF_STREAM.
    EndOfStream,
}

/// How a call ended, as `after_request` sees it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The handler finished and its terminal frame was sent.
    Ok,
    /// The call ended with this ERROR (handler, hook, decoding, validation or protocol).
    Error(Error),
    /// The client sent CANCEL.
    Cancelled,
    /// The connection closed while the call was running.
    Disconnected,
    /// The server shut down while the call was running.
    Shutdown,
}

/// The upgrade request as `before_connection` hooks see it: read the request, store
/// connection extensions, add response headers, or reject.
#[derive(Debug)]
pub struct Handshake {
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) extensions: Extensions,
    pub(crate) response_headers: HeaderMap,
}

impl Handshake {
    pub(crate) fn new(uri: Uri, headers: HeaderMap, peer: Option<SocketAddr>) -> Self {
        Self {
            uri,
            headers,
            peer,
            extensions: Extensions::new(),
            response_headers: HeaderMap::new(),
        }
    }

    /// The upgrade request's URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The upgrade request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The peer's address, when known.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        crate::context::cookie(&self.headers, name)
    }

    /// The first value of query parameter `name` of the upgrade URI, percent-decoded (`+` is
    /// a space): for example a token a browser passes as `/ws?token=...`, since browsers
    /// cannot set headers on a WebSocket.
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::context::query_param(&self.uri, name)
    }

    /// Extensions that will be readable from [`Connection::extensions`].
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Headers to add to the 101 response.
    pub fn response_headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.response_headers
    }

    /// Adds one header to the 101 response.
    pub fn insert_response_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.response_headers.insert(name, value);
    }
}

/// A refused upgrade: the HTTP status, extra headers and a plain-text body.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) reason: String,
}

impl Rejection {
    /// Refuses with `status` (e.g. 401) and `reason` as the body.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            reason: reason.into(),
        }
    }

    /// Adds a response header (e.g. `WWW-Authenticate`).
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

pub(crate) type BeforeConnectionFn =
    Arc<dyn Fn(Handshake) -> BoxFuture<'static, Result<Handshake, Rejection>> + Send + Sync>;
pub(crate) type ConnFn = Arc<dyn Fn(Connection) -> BoxFuture<'static, HookResult> + Send + Sync>;
pub(crate) type CallFn = Arc<dyn Fn(CallContext) -> BoxFuture<'static, HookResult> + Send + Sync>;
/// A call hook taking the context and one more argument.
pub(crate) type ArgFn<A> =
    Arc<dyn Fn(CallContext, A) -> BoxFuture<'static, HookResult> + Send + Sync>;
pub(crate) type DataFn =
    Arc<dyn Fn(CallContext, RequestFrame) -> BoxFuture<'static, HookResult> + Send + Sync>;
pub(crate) type MessageFn =
    Arc<dyn Fn(CallContext, RawMessage) -> BoxFuture<'static, HookResult> + Send + Sync>;
pub(crate) type MetadataFn =
    Arc<dyn Fn(CallContext, Option<Metadata>) -> BoxFuture<'static, HookResult> + Send + Sync>;
pub(crate) type AfterRequestFn =
    Arc<dyn Fn(CallContext, Outcome) -> BoxFuture<'static, ()> + Send + Sync>;

/// Connection-level hooks (registered on the app only).
#[derive(Clone, Default)]
pub(crate) struct ConnHooks {
    pub(crate) before_connection: Vec<BeforeConnectionFn>,
    pub(crate) after_accept: Vec<ConnFn>,
    pub(crate) after_connection: Vec<ConnFn>,
}

/// Call-level hooks; each handler gets the app's list followed by its modules' lists.
#[derive(Clone, Default)]
pub(crate) struct CallHooks {
    pub(crate) before_request: Vec<CallFn>,
    pub(crate) before_request_metadata: Vec<CallFn>,
    pub(crate) before_request_data: Vec<DataFn>,
    pub(crate) before_request_message: Vec<MessageFn>,
    pub(crate) before_leading_metadata: Vec<MetadataFn>,
    pub(crate) before_response_message: Vec<MessageFn>,
    pub(crate) before_trailing_metadata: Vec<MetadataFn>,
    pub(crate) after_request: Vec<AfterRequestFn>,
}

impl CallHooks {
    /// `self` followed by `other` (app hooks run before module hooks).
    pub(crate) fn merged(&self, other: &Self) -> Self {
        fn cat<T: Clone>(a: &[T], b: &[T]) -> Vec<T> {
            a.iter().chain(b).cloned().collect()
        }
        Self {
            before_request: cat(&self.before_request, &other.before_request),
            before_request_metadata: cat(
                &self.before_request_metadata,
                &other.before_request_metadata,
            ),
            before_request_data: cat(&self.before_request_data, &other.before_request_data),
            before_request_message: cat(
                &self.before_request_message,
                &other.before_request_message,
            ),
            before_leading_metadata: cat(
                &self.before_leading_metadata,
                &other.before_leading_metadata,
            ),
            before_response_message: cat(
                &self.before_response_message,
                &other.before_response_message,
            ),
            before_trailing_metadata: cat(
                &self.before_trailing_metadata,
                &other.before_trailing_metadata,
            ),
            after_request: cat(&self.after_request, &other.after_request),
        }
    }

    pub(crate) fn is_empty_output(&self) -> bool {
        self.before_leading_metadata.is_empty()
            && self.before_response_message.is_empty()
            && self.before_trailing_metadata.is_empty()
    }
}

impl fmt::Debug for CallHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallHooks")
            .field("before_request", &self.before_request.len())
            .field("after_request", &self.after_request.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ConnHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnHooks")
            .field("before_connection", &self.before_connection.len())
            .field("after_accept", &self.after_accept.len())
            .field("after_connection", &self.after_connection.len())
            .finish()
    }
}

/// Runs `hooks` in order, stopping at the first error.
pub(crate) async fn run_all<A: Clone>(hooks: &[ArgFn<A>], ctx: &CallContext, arg: A) -> HookResult {
    for h in hooks {
        h(ctx.clone(), arg.clone()).await?;
    }
    Ok(())
}

/// Runs call hooks that take only the context.
pub(crate) async fn run_ctx(hooks: &[CallFn], ctx: &CallContext) -> HookResult {
    for h in hooks {
        h(ctx.clone()).await?;
    }
    Ok(())
}

/// Boxes a user hook `F(A) -> Fut`.
pub(crate) fn boxed1<A, F, Fut, O>(f: F) -> Arc<dyn Fn(A) -> BoxFuture<'static, O> + Send + Sync>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send + 'static,
{
    Arc::new(move |a| Box::pin(f(a)))
}

/// Boxes a user hook `F(A, B) -> Fut`.
pub(crate) fn boxed2<A, B, F, Fut, O>(
    f: F,
) -> Arc<dyn Fn(A, B) -> BoxFuture<'static, O> + Send + Sync>
where
    F: Fn(A, B) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send + 'static,
{
    Arc::new(move |a, b| Box::pin(f(a, b)))
}
