//! The Rust client (feature `client`): a thin tokio driver over
//! [`protocol::ClientConn`](crate::protocol::ClientConn).
//!
//! One [`Client`] is one WebSocket connection multiplexing any number of calls. It is cheap to
//! clone; the connection closes when the last clone and every open call are dropped.
//!
//! | shape | method | returns |
//! |---|---|---|
//! | single → single | [`Client::call`] | the decoded reply |
//! | single → stream | [`Client::stream`] | a [`ResponseStream`] |
//! | stream → single | [`Client::client_stream`] | a [`RequestSink`] and a [`ReplyFuture`] |
//! | stream → stream | [`Client::bidi`] | a [`RequestSink`] and a [`ResponseStream`] |
//!
//! Request metadata and the reply's leading/trailing metadata go through [`Client::rpc`]'s
//! [`CallBuilder`]. Dropping a stream, a reply future or an unfinished call future cancels the
//! call (CANCEL is sent). Server errors arrive as [`ClientError::Rpc`] holding the
//! [`Error`] the server sent.

mod driver;
mod reply;

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::protocol::Shape;
use crate::Error;
use crate::Metadata;

pub use driver::Subprotocol;
pub use reply::{ReplyFuture, RequestSink, ResponseStream};

/// What can go wrong with a call from the client's side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an ERROR frame.
    #[error("the server answered with {0}")]
    Rpc(Error),
    /// The connection could not be opened.
    #[error("cannot connect")]
    Connect(#[source] tokio_tungstenite::tungstenite::Error),
    /// The server did not select a swill subprotocol.
    #[error("the server did not accept the swill subprotocol")]
    Subprotocol,
    /// The connection closed before the call finished.
    #[error("the connection closed before the call finished")]
    Closed,
    /// A request could not be encoded.
    #[error("cannot encode the request")]
    Encode(#[source] rmp_serde::encode::Error),
    /// A reply could not be decoded into the expected type.
    #[error("cannot decode the reply")]
    Decode(#[source] rmp_serde::decode::Error),
    /// The call was used out of order (e.g. an item after `end`).
    #[error("the call no longer accepts this")]
    Finished,
}

impl ClientError {
    /// The server's error, when this is one.
    pub fn rpc(&self) -> Option<&Error> {
        match self {
            Self::Rpc(e) => Some(e),
            _ => None,
        }
    }
}

/// A connection to a swill server.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    cmd: mpsc::UnboundedSender<driver::Command>,
    next_id: AtomicU64,
    subprotocol: &'static str,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("subprotocol", &self.inner.subprotocol)
            .field("closed", &self.inner.cmd.is_closed())
            .finish()
    }
}

/// Connection options for [`Client::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    url: String,
    subprotocol: Subprotocol,
    headers: Vec<(String, String)>,
    max_message_size: usize,
}

impl ClientBuilder {
    /// Which subprotocol to offer (default: the token-safe alias `swill.v1`).
    pub fn subprotocol(mut self, p: Subprotocol) -> Self {
        self.subprotocol = p;
        self
    }

    /// Adds a header to the upgrade request (e.g. a cookie or an authorization token).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Largest message accepted from the server (default 16 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Opens the connection.
    ///
    /// # Errors
    /// When the handshake fails or the server selects no swill subprotocol.
    pub async fn connect(self) -> Result<Client, ClientError> {
        let (cmd, subprotocol) = driver::connect(
            &self.url,
            self.subprotocol,
            &self.headers,
            self.max_message_size,
        )
        .await?;
        Ok(Client {
            inner: Arc::new(Inner {
                cmd,
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
            url: url.into(),
            subprotocol: Subprotocol::Alias,
            headers: Vec::new(),
            max_message_size: 16 << 20,
        }
    }

    /// The subprotocol the server selected.
    pub fn subprotocol(&self) -> &'static str {
        self.inner.subprotocol
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.cmd.is_closed()
    }

    /// A call with options (request metadata; replies with metadata).
    pub fn rpc(&self, name: impl Into<String>) -> CallBuilder<'_> {
        CallBuilder {
            client: self,
            rpc: name.into(),
            metadata: None,
        }
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
        metadata: Option<Bytes>,
    ) -> Result<(CallHandle, mpsc::UnboundedReceiver<driver::Reply>), ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner
            .cmd
            .send(driver::Command::Open {
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

/// Options for one call: request metadata, and replies that carry response metadata.
#[derive(Debug)]
#[must_use]
pub struct CallBuilder<'a> {
    client: &'a Client,
    rpc: String,
    metadata: Option<Metadata>,
}

/// A single reply with its response metadata.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    /// The decoded reply.
    pub data: T,
    /// Leading metadata (from an eager METADATA frame or the reply itself).
    pub leading: Option<Metadata>,
    /// Trailing metadata.
    pub trailing: Option<Metadata>,
}

impl CallBuilder<'_> {
    /// Request metadata (sent on the opening frame).
    pub fn metadata(mut self, md: Metadata) -> Self {
        self.metadata = Some(md);
        self
    }

    fn md(&self) -> Option<Bytes> {
        self.metadata.as_ref().map(Metadata::to_msgpack)
    }

    /// Single request, single reply, with metadata.
    ///
    /// # Errors
    /// [`ClientError::Rpc`] for an ERROR frame; transport and decoding errors otherwise.
    pub async fn call<T: DeserializeOwned>(
        self,
        req: &(impl Serialize + ?Sized),
    ) -> Result<Reply<T>, ClientError> {
        let data = encode(req)?;
        let shape = Shape::default();
        let md = self.md();
        let (handle, rx) = self.client.open(self.rpc, shape, Some(data), md)?;
        ReplyFuture {
            handle,
            rx,
            leading: None,
            _t: PhantomData,
        }
        .await
    }

    /// Single request, streamed reply.
    ///
    /// # Errors
    /// When the request cannot be encoded or the connection is closed.
    pub fn stream<T: DeserializeOwned>(
        self,
        req: &(impl Serialize + ?Sized),
    ) -> Result<ResponseStream<T>, ClientError> {
        let data = encode(req)?;
        let shape = Shape {
            request_streams: false,
            response_streams: true,
        };
        let md = self.md();
        let (handle, rx) = self.client.open(self.rpc, shape, Some(data), md)?;
        Ok(ResponseStream::new(handle, rx))
    }

    /// Streamed request, single reply. The call opens at once (a METADATA frame).
    ///
    /// # Errors
    /// When the connection is closed.
    pub fn client_stream<I: Serialize, T: DeserializeOwned>(
        self,
    ) -> Result<(RequestSink<I>, ReplyFuture<T>), ClientError> {
        let shape = Shape {
            request_streams: true,
            response_streams: false,
        };
        let md = self.md();
        let (handle, rx) = self.client.open(self.rpc, shape, None, md)?;
        let sink = RequestSink::new(&handle);
        Ok((
            sink,
            ReplyFuture {
                handle,
                rx,
                leading: None,
                _t: PhantomData,
            },
        ))
    }

    /// Streamed request, streamed reply. The call opens at once (a METADATA frame).
    ///
    /// # Errors
    /// When the connection is closed.
    pub fn bidi<I: Serialize, T: DeserializeOwned>(
        self,
    ) -> Result<(RequestSink<I>, ResponseStream<T>), ClientError> {
        let shape = Shape {
            request_streams: true,
            response_streams: true,
        };
        let md = self.md();
        let (handle, rx) = self.client.open(self.rpc, shape, None, md)?;
        let sink = RequestSink::new(&handle);
        Ok((sink, ResponseStream::new(handle, rx)))
    }
}

/// Cancels its call when dropped before the call finished.
#[derive(Debug)]
struct CallHandle {
    id: u64,
    cmd: mpsc::UnboundedSender<driver::Command>,
    done: bool,
}

impl Drop for CallHandle {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.cmd.send(driver::Command::Cancel { id: self.id });
        }
    }
}
