//! The Rust client (feature `client`): a thin tokio driver over
//! [`protocol::ClientConn`](crate::protocol::ClientConn).
//!
//! One [`Client`] is one WebSocket connection (at a time) multiplexing any number of calls. It
//! is cheap to clone; the connection closes when the last clone and every open call are
//! dropped, or at [`Client::close`].
//!
//! | shape | method | returns |
//! |---|---|---|
//! | single → single | [`Client::call`] | the decoded reply |
//! | single → stream | [`Client::stream`] | a [`ResponseStream`] |
//! | stream → single | [`Client::client_stream`] | a [`RequestSink`] and a [`ReplyFuture`] |
//! | stream → stream | [`Client::bidi`] | a [`RequestSink`] and a [`ResponseStream`] |
//!
//! Those take the rpc name as a string. [`Client::to`] calls through a
//! [contract](mod@crate::contract) instead: the name, the shape and both types are then checked
//! by the compiler, against the same declaration the server's handler is checked against.
//!
//! Request metadata and the reply's leading/trailing metadata go through [`Client::rpc`]'s
//! [`CallBuilder`]. Dropping a stream, a reply future or an unfinished call future cancels the
//! call (CANCEL is sent). Server errors arrive as [`ClientError::Rpc`] holding the
//! [`Error`](crate::Error) the server sent.
//!
//! # Reconnecting
//!
//! [`Client::connect`] fails if the first connection cannot be made. Once connected, the
//! client **reconnects by default** when the connection drops (a server restart, a network
//! blip, the server's `max_connection_lifetime`), with exponential backoff and jitter
//! ([`ReconnectPolicy`], unbounded by default; [`ClientBuilder::no_reconnect`] turns it off).
//! [`Client::state`] and [`Client::watch_state`] show where it is ([`ConnectionState`]).
//!
//! - A call in flight when the connection drops fails with [`ClientError::Disconnected`]. It
//!   is **never re-sent**: it may not be idempotent, and only the application knows whether
//!   it ran.
//! - A call made while the client reconnects waits for the next connection, up to
//!   [`ClientBuilder::wait_for_connection`] ([`DEFAULT_WAIT_FOR_CONNECTION`]), then fails
//!   with [`ClientError::Unavailable`]. `Duration::ZERO` fails such calls at once.
//! - [`Client::close`] stops everything: calls fail with [`ClientError::Closed`], and no
//!   reconnect follows. So does giving up after [`ReconnectPolicy::max_attempts`].
//!
//! # Resumable streams
//!
//! A streamed reply to a single request ([`Client::stream`]) whose leading metadata carries a
//! string `epoch` and an integer `offset` (as `swill::pubsub` topics with history send) is
//! *resumable*: its k-th item is at position `offset + k`. When the connection drops, the
//! client re-opens such a stream on the next connection with the same rpc, payload and
//! request metadata plus `since: {epoch, offset}` (the last position received), and the
//! [`ResponseStream`] goes on yielding items. The same happens when the server ends the
//! stream because it fell behind (ERROR 503 with `lagged` or `interrupted: true`). The
//! server's answer says whether the stream continues without a gap (`recovered: true`) or
//! only live items follow (`recovered: false`): see [`ResponseStream::events`] (a
//! [`StreamEvent::Resumed`] in the stream, at the point where it happened),
//! [`ResponseStream::last_resume`] and [`ResponseStream::position`]. A stream is re-opened at
//! most [`ClientBuilder::max_resume_attempts`] times in a row. Other streams, and every call
//! with a streamed request (which cannot be replayed), end with
//! [`ClientError::Disconnected`].

mod backoff;
mod call;
mod command;
mod connect;
mod driver;
mod error;
mod reply;
mod resume;
mod rpc;
#[cfg(feature = "tls")]
mod tls;
mod transport;
mod typed;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::metadata::Metadata;
use crate::protocol::Shape;

pub use backoff::{
    ReconnectPolicy, DEFAULT_MAX_RECONNECT_ATTEMPTS, DEFAULT_RECONNECT_FACTOR,
    DEFAULT_RECONNECT_INITIAL_DELAY, DEFAULT_RECONNECT_JITTER, DEFAULT_RECONNECT_MAX_DELAY,
    MIN_RECONNECT_DELAY,
};
pub use connect::Subprotocol;
pub use error::{ClientError, MAX_REFUSAL_BODY};
pub use reply::{Events, ReplyFuture, RequestSink, ResponseStream};
pub use resume::{Position, ResumeCause, Resumed, StreamEvent};
pub use rpc::{CallBuilder, Reply};
pub use typed::Typed;

/// Largest message accepted from the server: a generous bound on one reply, well above what
/// RPC payloads need, that still stops a broken server from exhausting memory.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// How long one connection attempt (TCP, TLS and the WebSocket upgrade) may take: far above a
/// healthy handshake even across continents, and a dead host is noticed in seconds rather
/// than after the operating system's TCP timeout of minutes.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a call made while the client reconnects waits for the connection before failing
/// with [`ClientError::Unavailable`]: a server restart plus the first backoff rounds with the
/// default [`ReconnectPolicy`] (0.25 + 0.5 + 1 + 2 + 4 s, under 8 s) fit, while a caller is
/// not held for a long outage.
pub const DEFAULT_WAIT_FOR_CONNECTION: Duration = Duration::from_secs(15);

/// How many times in a row a resumable stream is re-opened before it ends with the error that
/// interrupted it. The count starts again when an item arrives, and when a re-open after a
/// reconnect is answered, so a quiet stream survives any number of reconnects; five lag
/// repairs in a row without one item mean the stream cannot keep up.
pub const DEFAULT_MAX_RESUME_ATTEMPTS: u32 = 5;

/// Where the client's connection is; see [`Client::state`] and [`Client::watch_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// A connection is up.
    Connected {
        /// Which one: 1 for the first, one more for each reconnect.
        connection: u64,
    },
    /// The connection dropped; the client waits `delay`, then makes attempt `attempt` (1 for
    /// the first retry since the last connection).
    Reconnecting {
        /// The attempt about to be made.
        attempt: u32,
        /// The wait before it.
        delay: Duration,
    },
    /// For good: the client was closed, reconnecting is off or gave up, or every handle
    /// was dropped. Calls fail with [`ClientError::Closed`].
    Disconnected,
}

/// A connection to a swill server.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    cmd: mpsc::UnboundedSender<command::Command>,
    state: watch::Receiver<ConnectionState>,
    next_id: AtomicU64,
    subprotocol: &'static str,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("subprotocol", &self.inner.subprotocol)
            .field("state", &self.state())
            .finish()
    }
}

/// Connection options for [`Client::builder`].
///
/// ```
/// use std::time::Duration;
/// use swill::client::{Client, ReconnectPolicy};
///
/// let builder = Client::builder("ws://127.0.0.1:8765/ws")
///     .header("authorization", "Bearer t0k3n")
///     .reconnect(ReconnectPolicy::default().max_attempts(10))
///     .wait_for_connection(Duration::from_secs(5))
///     .max_resume_attempts(3);
/// # drop(builder);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    settings: connect::Settings,
}

impl ClientBuilder {
    /// Which subprotocol to offer (default: the token-safe alias `swill.v1`).
    pub fn subprotocol(mut self, p: Subprotocol) -> Self {
        self.settings.subprotocol = p;
        self
    }

    /// Adds a header to the upgrade request (e.g. a cookie or an authorization token). It is
    /// sent again on every reconnect.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.headers.push((name.into(), value.into()));
        self
    }

    /// Largest message accepted from the server (default [`DEFAULT_MAX_MESSAGE_SIZE`]).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = bytes;
        self
    }

    /// How long one connection attempt may take (default [`DEFAULT_HANDSHAKE_TIMEOUT`]);
    /// past it, [`connect`](Self::connect) fails with [`ClientError::HandshakeTimeout`] and a
    /// reconnect attempt counts as failed.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.settings.handshake_timeout = d;
        self
    }

    /// How to reconnect after the connection drops (default: [`ReconnectPolicy::default`],
    /// which never gives up).
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.settings.reconnect = Some(policy);
        self
    }

    /// Never reconnect: when the connection drops, calls in flight fail with
    /// [`ClientError::Disconnected`] and the client is closed.
    pub fn no_reconnect(mut self) -> Self {
        self.settings.reconnect = None;
        self
    }

    /// How long a call made while reconnecting waits for the connection (default
    /// [`DEFAULT_WAIT_FOR_CONNECTION`]); `Duration::ZERO` fails it at once with
    /// [`ClientError::Unavailable`].
    pub fn wait_for_connection(mut self, d: Duration) -> Self {
        self.settings.wait_for_connection = d;
        self
    }

    /// Whether resumable streams are re-opened after a reconnect or a lag (default `true`).
    /// With `false` they end with the error like any other stream.
    pub fn resume_streams(mut self, on: bool) -> Self {
        self.settings.resume = on;
        self
    }

    /// How many times in a row a resumable stream may be re-opened (default
    /// [`DEFAULT_MAX_RESUME_ATTEMPTS`]): an item resets the count, and so does the answer to
    /// a re-open after a reconnect.
    pub fn max_resume_attempts(mut self, n: u32) -> Self {
        self.settings.max_resume_attempts = n;
        self
    }

    /// Runs every connection attempt over a stream `connect` opens instead of a TCP
    /// connection to the URL's host: an in-memory pipe to a server in the same process
    /// (`SwillService::in_process_client` does this), a Unix socket, a tunnel. The URL still
    /// gives the upgrade request's path, query and `Host` header; the WebSocket handshake,
    /// the handshake timeout and reconnecting work as over TCP (each attempt calls
    /// `connect` again). The stream is used as it is: a `wss://` URL adds no TLS to it (wrap
    /// it in TLS inside `connect` if the transport needs it).
    pub fn connector<F, Fut, S>(mut self, connect: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::io::Result<S>> + Send + 'static,
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        self.settings.connector = Some(connect::Connector::new(connect));
        self
    }

    /// Opens the connection.
    ///
    /// # Errors
    /// When the handshake fails or times out, or the server selects no swill subprotocol.
    /// The first connection is not retried.
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    pub async fn connect(mut self) -> Result<Client, ClientError> {
        #[cfg(feature = "tls")]
        self.settings.tls.resolve()?;
        let ws = connect::dial(&self.settings).await?;
        let subprotocol = self.settings.subprotocol.as_str();
        let (cmd, state) = driver::spawn(Arc::new(self.settings), ws);
        Ok(Client {
            inner: Arc::new(Inner {
                cmd,
                state,
                next_id: AtomicU64::new(1),
                subprotocol,
            }),
        })
    }
}

impl Client {
    /// Connects to `url` (e.g. `ws://127.0.0.1:8765/ws`) offering `swill.v1`.
    ///
    /// # Errors
    /// When the handshake fails or the server selects no swill subprotocol.
    pub async fn connect(url: impl Into<String>) -> Result<Self, ClientError> {
        Self::builder(url).connect().await
    }

    /// Connection options.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            settings: connect::Settings {
                url: url.into(),
                subprotocol: Subprotocol::Alias,
                headers: Vec::new(),
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                reconnect: Some(ReconnectPolicy::default()),
                wait_for_connection: DEFAULT_WAIT_FOR_CONNECTION,
                resume: true,
                max_resume_attempts: DEFAULT_MAX_RESUME_ATTEMPTS,
                connector: None,
                #[cfg(feature = "tls")]
                tls: tls::TlsSettings::default(),
            },
        }
    }

    /// The subprotocol the server selected.
    pub fn subprotocol(&self) -> &'static str {
        self.inner.subprotocol
    }

    /// Whether the client is closed for good ([`ConnectionState::Disconnected`]). A client
    /// that is reconnecting is not closed.
    pub fn is_closed(&self) -> bool {
        self.inner.cmd.is_closed()
    }

    /// The connection's state now.
    pub fn state(&self) -> ConnectionState {
        *self.inner.state.borrow()
    }

    /// A [`watch`] of the connection's state, to wait for a change:
    ///
    /// ```
    /// use swill::client::{Client, ConnectionState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let addr = listener.local_addr()?;
    /// # tokio::spawn(swill::serve(listener, swill::Swill::new()).into_future());
    /// let client = Client::connect(format!("ws://{addr}/ws")).await?;
    /// assert_eq!(client.state(), ConnectionState::Connected { connection: 1 });
    ///
    /// let mut state = client.watch_state();
    /// client.close();
    /// state.wait_for(|s| *s == ConnectionState::Disconnected).await?;
    /// assert!(client.is_closed());
    /// # Ok(())
    /// # }
    /// # use std::future::IntoFuture;
    /// ```
    ///
    /// A watch keeps the latest value only: a drop and a quick reconnect may show as one
    /// change from `Connected { connection: 1 }` to `Connected { connection: 2 }`.
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.clone()
    }

    /// Closes the client for good: calls in flight and waiting fail with
    /// [`ClientError::Closed`], the connection closes, no reconnect follows, and every later
    /// call fails with [`ClientError::Closed`]. [`is_closed`](Self::is_closed) is true once
    /// the connection task took the request (at once, unless it is busy).
    pub fn close(&self) {
        let _ = self.inner.cmd.send(command::Command::Close);
    }

    /// A call with options (request metadata; replies with metadata).
    pub fn rpc(&self, name: impl Into<String>) -> CallBuilder<'_> {
        CallBuilder::new(self, name.into())
    }

    /// Single request, single reply.
    ///
    /// # Errors
    /// [`ClientError::Rpc`] for an ERROR frame; transport and decoding errors otherwise.
    pub async fn call<T: DeserializeOwned>(
        &self,
        rpc: &str,
        req: &(impl Serialize + ?Sized),
    ) -> Result<T, ClientError> {
        Ok(self.rpc(rpc).call(req).await?.data)
    }

    /// Single request, streamed reply.
    ///
    /// # Errors
    /// When the request cannot be encoded or the connection is closed.
    pub fn stream<T: DeserializeOwned>(
        &self,
        rpc: &str,
        req: &(impl Serialize + ?Sized),
    ) -> Result<ResponseStream<T>, ClientError> {
        self.rpc(rpc).stream(req)
    }

    /// Streamed request, single reply.
    ///
    /// # Errors
    /// When the connection is closed.
    pub fn client_stream<I: Serialize, T: DeserializeOwned>(
        &self,
        rpc: &str,
    ) -> Result<(RequestSink<I>, ReplyFuture<T>), ClientError> {
        self.rpc(rpc).client_stream()
    }

    /// Streamed request, streamed reply.
    ///
    /// # Errors
    /// When the connection is closed.
    pub fn bidi<I: Serialize, T: DeserializeOwned>(
        &self,
        rpc: &str,
    ) -> Result<(RequestSink<I>, ResponseStream<T>), ClientError> {
        self.rpc(rpc).bidi()
    }

    fn open(
        &self,
        rpc: String,
        shape: Shape,
        data: Option<Vec<u8>>,
        metadata: Option<Metadata>,
    ) -> Result<(CallHandle, mpsc::UnboundedReceiver<command::Reply>), ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner
            .cmd
            .send(command::Command::Open {
                id,
                rpc,
                shape,
                data,
                metadata,
                reply: tx,
            })
            .map_err(|_| ClientError::Closed)?;
        Ok((
            CallHandle {
                id,
                cmd: self.inner.cmd.clone(),
                done: false,
            },
            rx,
        ))
    }
}

fn encode(v: &(impl Serialize + ?Sized)) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    let ser = rmp_serde::Serializer::new(&mut out)
        .with_struct_map()
        .with_bytes(rmp_serde::config::BytesMode::ForceIterables);
    v.serialize(&mut { ser }).map_err(ClientError::Encode)?;
    Ok(out)
}

fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ClientError> {
    rmp_serde::from_slice(raw).map_err(ClientError::Decode)
}

fn decode_md(raw: Option<Bytes>) -> Option<Metadata> {
    raw.and_then(|r| Metadata::from_msgpack(&r).ok())
}

/// Cancels its call when dropped before the call finished.
#[derive(Debug)]
struct CallHandle {
    id: u64,
    cmd: mpsc::UnboundedSender<command::Command>,
    done: bool,
}

impl Drop for CallHandle {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.cmd.send(command::Command::Cancel { id: self.id });
        }
    }
}
