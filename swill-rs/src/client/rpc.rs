//! [`CallBuilder`]: one call's options (request metadata, trace context) before its shape,
//! and [`Reply`], a single reply with its response metadata.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use tokio::sync::mpsc;

use super::command;
use super::{encode, CallHandle, Client, ClientError, ReplyFuture, RequestSink, ResponseStream};
use crate::metadata::Metadata;
use crate::protocol::Shape;

/// Options for one call: request metadata, and replies that carry response metadata.
#[derive(Debug)]
#[must_use]
pub struct CallBuilder<'a> {
    client: &'a Client,
    rpc: String,
    metadata: Option<Metadata>,
    trace: Option<crate::observe::TraceContext>,
}

/// The replies of one call, from the connection task.
type Replies = mpsc::UnboundedReceiver<command::Reply>;

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

impl<'a> CallBuilder<'a> {
    pub(super) fn new(client: &'a Client, rpc: String) -> Self {
        Self {
            client,
            rpc,
            metadata: None,
            trace: None,
        }
    }

    /// Request metadata (sent on the opening frame).
    pub fn metadata(mut self, md: Metadata) -> Self {
        self.metadata = Some(md);
        self
    }

    /// Sends `trace` as the W3C `traceparent` (and `tracestate`) request metadata, so the
    /// server's span of the call continues the caller's trace (see [`crate::observe`]).
    /// Added to the [`metadata`](Self::metadata), whichever is set first.
    ///
    /// ```
    /// # fn demo(client: &swill::client::Client) -> Result<(), swill::observe::TraceContextError> {
    /// use swill::observe::TraceContext;
    ///
    /// let tc = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None)?;
    /// let call = client.rpc("add").trace_context(tc);
    /// # drop(call);
    /// # Ok(())
    /// # }
    /// # let _ = demo;
    /// ```
    pub fn trace_context(mut self, trace: crate::observe::TraceContext) -> Self {
        self.trace = Some(trace);
        self
    }

    fn request_metadata(&mut self) -> Option<Metadata> {
        let mut md = self.metadata.take();
        if let Some(tc) = self.trace.take() {
            tc.insert_into(md.get_or_insert_with(Metadata::new));
        }
        md
    }

    /// Single request, single reply, with metadata.
    ///
    /// # Errors
    /// [`ClientError::Rpc`] for an ERROR frame; transport and decoding errors otherwise.
    pub async fn call<T: DeserializeOwned>(
        mut self,
        req: &(impl Serialize + ?Sized),
    ) -> Result<Reply<T>, ClientError> {
        let data = encode(req)?;
        let shape = Shape::default();
        let md = self.request_metadata();
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
        mut self,
        req: &(impl Serialize + ?Sized),
    ) -> Result<ResponseStream<T>, ClientError> {
        let data = encode(req)?;
        let shape = Shape {
            request_streams: false,
            response_streams: true,
        };
        let md = self.request_metadata();
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
        let (sink, handle, rx) = self.open_request_stream(false)?;
        let reply = ReplyFuture {
            handle,
            rx,
            leading: None,
            _t: PhantomData,
        };
        Ok((sink, reply))
    }

    /// Streamed request, streamed reply. The call opens at once (a METADATA frame).
    ///
    /// # Errors
    /// When the connection is closed.
    pub fn bidi<I: Serialize, T: DeserializeOwned>(
        self,
    ) -> Result<(RequestSink<I>, ResponseStream<T>), ClientError> {
        let (sink, handle, rx) = self.open_request_stream(true)?;
        Ok((sink, ResponseStream::new(handle, rx)))
    }

    /// Opens a streaming-request call at once (a METADATA frame), with its request sink.
    fn open_request_stream<I: Serialize>(
        mut self,
        response_streams: bool,
    ) -> Result<(RequestSink<I>, CallHandle, Replies), ClientError> {
        let shape = Shape {
            request_streams: true,
            response_streams,
        };
        let md = self.request_metadata();
        let (handle, rx) = self.client.open(self.rpc, shape, None, md)?;
        Ok((RequestSink::new(&handle), handle, rx))
    }
}
