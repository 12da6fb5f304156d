//! What handlers receive: [`Request`], [`Streaming`], and the [`Response`] handle.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::{CallContext, Connection, Metadata};
use crate::hooks::{CallHooks, HookError, RawMessage, RequestFrame};
use crate::validate::ValidateFn;
use crate::Error;

/// A single request: the decoded (and validated) payload plus the call's context.
///
/// ```
/// # use swill::{Request, Error};
/// #[swill::handler]
/// async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
///     let (a, b) = req.into_data();
///     Ok(a + b)
/// }
/// # let _app = swill::Swill::new().handler(add);
/// ```
pub struct Request<T> {
    data: T,
    ctx: CallContext,
}

impl<T> Request<T> {
    pub(crate) fn new(data: T, ctx: CallContext) -> Self {
        Self { data, ctx }
    }

    /// A request outside any connection, to call a handler directly in a unit test: seq 0, no
    /// metadata, a connection with no peer, headers or state.
    ///
    /// ```
    /// # use swill::{Error, Request};
    /// #[swill::handler]
    /// async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    ///     let (a, b) = req.into_data();
    ///     Ok(a + b)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(add::call(Request::detached((2, 3))).await, Ok(5));
    /// # }
    /// ```
    pub fn detached(data: T) -> Self {
        Self::detached_with_metadata(data, Metadata::new())
    }

    /// Like [`detached`](Self::detached), with request metadata.
    pub fn detached_with_metadata(data: T, metadata: Metadata) -> Self {
        let conn = Connection::new(
            0,
            None,
            http::Uri::from_static("/"),
            http::HeaderMap::new(),
            http::Extensions::new(),
            "swill.v1",
            std::sync::Arc::default(),
        );
        let ctx = CallContext::new(crate::protocol::Seq(0), "".into(), metadata, conn, false);
        Self { data, ctx }
    }

    /// The payload.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The payload, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.data
    }

    /// Takes the payload.
    pub fn into_data(self) -> T {
        self.data
    }

    /// Splits into the payload and the context.
    pub fn into_parts(self) -> (T, CallContext) {
        (self.data, self.ctx)
    }

    /// The request metadata.
    pub fn metadata(&self) -> &Metadata {
        self.ctx.metadata()
    }

    /// The connection the call arrived on.
    pub fn connection(&self) -> &Connection {
        self.ctx.connection()
    }

    /// The call's context (seq, rpc, metadata, connection).
    pub fn context(&self) -> &CallContext {
        &self.ctx
    }
}

impl<T: fmt::Debug> fmt::Debug for Request<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("data", &self.data)
            .field("ctx", &self.ctx)
            .finish()
    }
}

/// A streaming request: an async [`Stream`] of decoded, validated `T` that ends at the client's
/// END_OF_STREAM.
///
/// An item that does not decode into `T` (400) or fails validation (422) ends the whole call
/// with that ERROR; the handler is dropped, so it never sees a bad item.
///
/// ```
/// # use swill::{Error, Streaming};
/// use futures::StreamExt;
///
/// #[swill::handler]
/// async fn sum(mut items: Streaming<i64>) -> Result<i64, Error> {
///     let mut total = 0;
///     while let Some(x) = items.next().await {
///         total += x;
///     }
///     Ok(total)
/// }
/// # let _app = swill::Swill::new().handler(sum);
/// ```
pub struct Streaming<T> {
    ctx: CallContext,
    first: Option<Bytes>,
    decode: fn(&[u8], &CallContext) -> Result<T, Error>,
    validate: Option<ValidateFn<T>>,
    hooks: Arc<CallHooks>,
    pending: Option<Pending<T>>,
    done: bool,
}

enum Pending<T> {
    /// `before_request_data` for this frame, then process it.
    Data(BoxFuture<'static, Result<(), HookError>>, Option<Bytes>),
    /// `before_request_message` for this decoded item, then yield it.
    Message(BoxFuture<'static, Result<(), HookError>>, Option<T>),
}

/// Where a [`Streaming`] request leaves the error that must end the call.
#[derive(Default, Debug)]
pub(crate) struct FailureSlot(std::sync::Mutex<Option<HookError>>);

impl FailureSlot {
    pub(crate) fn set(&self, e: HookError) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    pub(crate) fn take(&self) -> Option<HookError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl<T: DeserializeOwned + Send + 'static> Streaming<T> {
    pub(crate) fn new(
        ctx: CallContext,
        first: Option<Bytes>,
        validate: Option<ValidateFn<T>>,
        hooks: Arc<CallHooks>,
    ) -> Self {
        Self {
            ctx,
            first,
            decode: super::decode_payload::<T>,
            validate,
            hooks,
            pending: None,
            done: false,
        }
    }

    /// The request metadata (from the opening frame).
    pub fn metadata(&self) -> &Metadata {
        self.ctx.metadata()
    }

    /// The call's context.
    pub fn context(&self) -> &CallContext {
        &self.ctx
    }

    fn fail(&mut self, e: HookError) -> Poll<Option<T>> {
        self.ctx.0.failure.set(e);
        self.done = true;
        // The driver sees the failure after this poll and ends the call; the handler future
        // is dropped before it runs again.
        Poll::Pending
    }

    /// Decodes, validates and runs `before_request_message` for one raw item.
    fn process(&mut self, raw: Bytes, cx: &mut Context<'_>) -> Option<Poll<Option<T>>> {
        let item = match (self.decode)(&raw, &self.ctx) {
            Ok(v) => v,
            Err(e) => return Some(self.fail(HookError::Fail(e))),
        };
        if let Some(validate) = self.validate {
            if let Err(e) = validate(&item) {
                return Some(self.fail(HookError::Fail(e)));
            }
        }
        if self.hooks.before_request_message.is_empty() {
            return Some(Poll::Ready(Some(item)));
        }
        let hooks = self.hooks.clone();
        let ctx = self.ctx.clone();
        let fut = Box::pin(async move {
            crate::hooks::run_all(&hooks.before_request_message, &ctx, RawMessage(raw)).await
        });
        self.pending = Some(Pending::Message(fut, Some(item)));
        let _ = cx;
        None
    }
}

impl<T: DeserializeOwned + Send + Unpin + 'static> Stream for Streaming<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        loop {
            if this.done {
                // After a failure the stream stays pending: the driver is about to drop the
                // handler, and ending the stream would let it answer from partial input.
                return if this.ctx.0.failure.is_set() {
                    Poll::Pending
                } else {
                    Poll::Ready(None)
                };
            }
            match this.pending.take() {
                Some(Pending::Data(mut fut, raw)) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.pending = Some(Pending::Data(fut, raw));
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return this.fail(e),
                    Poll::Ready(Ok(())) => match raw {
                        Some(raw) => {
                            if let Some(p) = this.process(raw, cx) {
                                return p;
                            }
                        }
                        None => {
                            this.done = true;
                            return Poll::Ready(None);
                        }
                    },
                },
                Some(Pending::Message(mut fut, item)) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.pending = Some(Pending::Message(fut, item));
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return this.fail(e),
                    Poll::Ready(Ok(())) => {
                        if let Some(item) = item {
                            return Poll::Ready(Some(item));
                        }
                    }
                },
                None => {
                    if let Some(first) = this.first.take() {
                        // The opening item: before_request_data does not fire for it.
                        if let Some(p) = this.process(first, cx) {
                            return p;
                        }
                        continue;
                    }
                    let next = {
                        let Some(mut inbox) = this.ctx.inbox() else {
                            this.done = true;
                            return Poll::Ready(None);
                        };
                        match inbox.items.pop_front() {
                            Some(raw) => Some(Some(raw)),
                            None if inbox.ended => Some(None),
                            None => {
                                inbox.waker = Some(cx.waker().clone());
                                None
                            }
                        }
                    };
                    let Some(next) = next else {
                        return Poll::Pending;
                    };
                    if this.hooks.before_request_data.is_empty() {
                        match next {
                            Some(raw) => {
                                if let Some(p) = this.process(raw, cx) {
                                    return p;
                                }
                            }
                            None => {
                                this.done = true;
                                return Poll::Ready(None);
                            }
                        }
                    } else {
                        let frame = match &next {
                            Some(raw) => RequestFrame::Message(RawMessage(raw.clone())),
                            None => RequestFrame::EndOfStream,
                        };
                        let hooks = this.hooks.clone();
                        let ctx = this.ctx.clone();
                        let fut = Box::pin(async move {
                            crate::hooks::run_all(&hooks.before_request_data, &ctx, frame).await
                        });
                        this.pending = Some(Pending::Data(fut, next));
                    }
                }
            }
        }
    }
}

impl FailureSlot {
    pub(crate) fn is_set(&self) -> bool {
        self.0.lock().map(|s| s.is_some()).unwrap_or(true)
    }
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("ctx", &self.ctx)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The handle a handler takes to set response metadata.
///
/// Leading metadata goes out once: on the first result (or the END_OF_STREAM of an empty
/// stream), or at once as a METADATA frame after [`send_leading`](Self::send_leading).
/// Trailing metadata goes out on the single response or the END_OF_STREAM.
///
/// ```
/// # use swill::{Error, Request, Response, Metadata};
/// #[swill::handler]
/// async fn greet(req: Request<String>, res: Response) -> Result<String, Error> {
///     res.set_leading(Metadata::new().with("lang", "en"));
///     res.set_trailing(Metadata::new().with("done", true));
///     Ok(format!("hello {}", req.data()))
/// }
/// # let _app = swill::Swill::new().handler(greet);
/// ```
#[derive(Clone)]
pub struct Response {
    ctx: CallContext,
}

impl Response {
    pub(crate) fn new(ctx: CallContext) -> Self {
        Self { ctx }
    }

    /// Sets the leading metadata. Returns `false` (and changes nothing) when leading metadata
    /// was already sent.
    pub fn set_leading(&self, md: Metadata) -> bool {
        let cell = self.ctx.response();
        let mut st = cell.lock();
        if st.leading_sent {
            return false;
        }
        st.leading = Some(md);
        drop(st);
        cell.mark_dirty();
        true
    }

    /// Sends the leading metadata now, as a METADATA frame, instead of with the first result.
    /// Returns `false` when it was already sent.
    pub fn send_leading(&self) -> bool {
        let cell = self.ctx.response();
        let mut st = cell.lock();
        if st.leading_sent {
            return false;
        }
        st.eager = true;
        drop(st);
        cell.mark_dirty();
        true
    }

    /// Sets the trailing metadata (replacing any set before).
    pub fn set_trailing(&self, md: Metadata) {
        let cell = self.ctx.response();
        cell.lock().trailing = Some(md);
        cell.mark_dirty();
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("seq", &self.ctx.seq())
            .finish()
    }
}
