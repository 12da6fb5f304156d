//! What a connection runs over: a TCP socket dialled from the URL, or a stream the
//! application provides ([`ClientBuilder::connector`](super::ClientBuilder::connector): an
//! in-memory pipe to an in-process server, a Unix socket, a tunnel).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A byte stream a connection can run over.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

type BoxIo = Pin<Box<dyn Io>>;

/// Opens the byte stream of one connection attempt (see
/// [`ClientBuilder::connector`](super::ClientBuilder::connector)).
#[derive(Clone)]
pub(super) struct Connector(Arc<dyn Fn() -> BoxFuture<'static, io::Result<BoxIo>> + Send + Sync>);

impl Connector {
    pub(super) fn new<F, Fut, S>(f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<S>> + Send + 'static,
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self(Arc::new(move || {
            let fut = f();
            Box::pin(async move { fut.await.map(|s| Box::pin(s) as BoxIo) })
        }))
    }

    pub(super) async fn open(&self) -> io::Result<BoxIo> {
        (self.0)().await
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connector(..)")
    }
}

/// One open WebSocket, over either kind of stream. (With TLS the network variant holds the
/// rustls state inline, over 1 KiB; there is one per client, so it is not boxed.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Ws {
    /// Dialled from the URL.
    Net(WebSocketStream<MaybeTlsStream<TcpStream>>),
    /// Over a stream from a [`Connector`].
    Custom(WebSocketStream<BoxIo>),
}

impl Stream for Ws {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            Self::Net(ws) => Pin::new(ws).poll_next(cx),
            Self::Custom(ws) => Pin::new(ws).poll_next(cx),
        }
    }
}

impl Sink<Message> for Ws {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.get_mut() {
            Self::Net(ws) => Pin::new(ws).poll_ready(cx),
            Self::Custom(ws) => Pin::new(ws).poll_ready(cx),
        }
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        match self.get_mut() {
            Self::Net(ws) => Pin::new(ws).start_send(item),
            Self::Custom(ws) => Pin::new(ws).start_send(item),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.get_mut() {
            Self::Net(ws) => Pin::new(ws).poll_flush(cx),
            Self::Custom(ws) => Pin::new(ws).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.get_mut() {
            Self::Net(ws) => Pin::new(ws).poll_close(cx),
            Self::Custom(ws) => Pin::new(ws).poll_close(cx),
        }
    }
}
