//! What a call hands back: the [`RequestSink`] of a streaming request, the [`ReplyFuture`] of
//! a single response and the [`ResponseStream`] of a streamed one.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use super::resume::{Position, Resumed, StreamEvent};
use super::{command, decode, decode_md, encode, CallHandle, ClientError, Reply};
use crate::metadata::Metadata;

/// The request side of a streaming-request call.
#[derive(Debug)]
pub struct RequestSink<I> {
    id: u64,
    cmd: mpsc::UnboundedSender<command::Command>,
    ended: bool,
    _i: PhantomData<fn(I)>,
}

impl<I: Serialize> RequestSink<I> {
    pub(super) fn new(h: &CallHandle) -> Self {
        Self {
            id: h.id,
            cmd: h.cmd.clone(),
            ended: false,
            _i: PhantomData,
        }
    }

    /// Sends one item. If the connection drops meanwhile, the reply side reports it
    /// ([`ClientError::Disconnected`]); the items are not sent again.
    ///
    /// # Errors
    /// When it cannot be encoded, the request already ended, or the client is closed.
    pub fn send(&mut self, item: &I) -> Result<(), ClientError> {
        if self.ended {
            return Err(ClientError::Finished);
        }
        let data = encode(item)?;
        self.cmd
            .send(command::Command::Item { id: self.id, data })
            .map_err(|_| ClientError::Closed)
    }

    /// Ends the request stream (END_OF_STREAM). Also sent when the sink is dropped.
    ///
    /// # Errors
    /// When the connection is closed.
    pub fn end(mut self) -> Result<(), ClientError> {
        self.ended = true;
        self.cmd
            .send(command::Command::End { id: self.id })
            .map_err(|_| ClientError::Closed)
    }
}

impl<I> Drop for RequestSink<I> {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.cmd.send(command::Command::End { id: self.id });
        }
    }
}

/// The reply of a single-response call; `.await` it. Dropping it cancels the call.
#[derive(Debug)]
#[must_use = "dropping the reply cancels the call"]
pub struct ReplyFuture<T> {
    pub(super) handle: CallHandle,
    pub(super) rx: mpsc::UnboundedReceiver<command::Reply>,
    pub(super) leading: Option<Metadata>,
    pub(super) _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Future for ReplyFuture<T> {
    type Output = Result<Reply<T>, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.handle.done = true;
                    return Poll::Ready(Err(ClientError::Closed));
                }
                Poll::Ready(Some(command::Reply::Metadata(md))) => {
                    this.leading = decode_md(Some(md))
                }
                Poll::Ready(Some(command::Reply::Message {
                    data,
                    leading,
                    trailing,
                    ..
                })) => {
                    this.handle.done = true;
                    let leading = decode_md(leading).or_else(|| this.leading.take());
                    return Poll::Ready(decode(&data).map(|data| Reply {
                        data,
                        leading,
                        trailing: decode_md(trailing),
                    }));
                }
                Poll::Ready(Some(command::Reply::End { .. })) => {
                    this.handle.done = true;
                    return Poll::Ready(Err(ClientError::Finished));
                }
                Poll::Ready(Some(command::Reply::Error(e))) => {
                    this.handle.done = true;
                    return Poll::Ready(Err(ClientError::Rpc(e)));
                }
                Poll::Ready(Some(command::Reply::Failed(f))) => {
                    this.handle.done = true;
                    return Poll::Ready(Err(f.into_error()));
                }
                // Only streamed replies are resumed.
                Poll::Ready(Some(command::Reply::Resumed { .. })) => {}
            }
        }
    }
}

/// A streamed reply: a [`Stream`] of decoded items. Dropping it before the end cancels the
/// call.
///
/// A resumable stream (leading metadata with `epoch` and `offset`) survives reconnects and
/// lags: the client re-opens it and the items continue (see the
/// [module docs](super#resumable-streams)). As a plain `Stream` it yields the items only;
/// [`events`](Self::events) also yields where it was resumed and whether items were missed,
/// [`last_resume`](Self::last_resume) tells the latest outcome, and
/// [`position`](Self::position) where the stream is.
#[derive(Debug)]
#[must_use = "dropping the stream cancels the call"]
pub struct ResponseStream<T> {
    handle: CallHandle,
    rx: mpsc::UnboundedReceiver<command::Reply>,
    /// The first reply, read by [`opened`](Self::opened) and not yet yielded.
    peeked: Option<command::Reply>,
    leading: Option<Metadata>,
    trailing: Option<Metadata>,
    position: Option<Position>,
    last_resume: Option<Resumed>,
    resumes: u64,
    finished: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T> ResponseStream<T> {
    pub(super) fn new(handle: CallHandle, rx: mpsc::UnboundedReceiver<command::Reply>) -> Self {
        Self {
            handle,
            rx,
            peeked: None,
            leading: None,
            trailing: None,
            position: None,
            last_resume: None,
            resumes: 0,
            finished: false,
            _t: PhantomData,
        }
    }

    /// Records the stream's first leading metadata (and the position it announces).
    fn set_leading(&mut self, md: Option<Metadata>) {
        if let Some(md) = md {
            if self.leading.is_none() && self.resumes == 0 {
                self.position = Position::from_leading(&md);
            }
            self.leading = Some(md);
        }
    }

    /// Waits until the server's first frame for this call arrived, without consuming an item:
    /// an eager METADATA frame (what a handler's `Response::send_leading` sends, and what
    /// pub/sub subscriptions send once they exist), the first item, or the end. Returns the
    /// leading metadata, if any.
    ///
    /// Await it before relying on the server-side stream being open, for example before
    /// publishing to a topic just subscribed to: otherwise those publishes can race the
    /// subscription.
    ///
    /// # Errors
    /// The call's ERROR if that is its first frame (the stream then yields it too), or a
    /// connection error ([`ClientError::Disconnected`], [`ClientError::Closed`], ...) when the
    /// connection ended first.
    pub async fn opened(&mut self) -> Result<Option<&Metadata>, ClientError> {
        if self.leading.is_none() && self.peeked.is_none() && !self.finished {
            match self.rx.recv().await {
                None => return Err(ClientError::Closed),
                Some(command::Reply::Metadata(md)) => self.set_leading(decode_md(Some(md))),
                Some(reply) => {
                    let leading = match &reply {
                        command::Reply::Message { leading, .. }
                        | command::Reply::End { leading, .. } => leading.clone(),
                        _ => None,
                    };
                    self.set_leading(decode_md(leading));
                    self.peeked = Some(reply);
                }
            }
        }
        match &self.peeked {
            Some(command::Reply::Error(e)) => Err(ClientError::Rpc(e.clone())),
            Some(command::Reply::Failed(f)) => Err(f.into_error()),
            _ => Ok(self.leading.as_ref()),
        }
    }

    /// Leading metadata, once it arrived. After a resume, the resumed stream's.
    pub fn leading(&self) -> Option<&Metadata> {
        self.leading.as_ref()
    }

    /// Trailing metadata, once the stream ended.
    pub fn trailing(&self) -> Option<&Metadata> {
        self.trailing.as_ref()
    }

    /// Where a resumable stream is: its epoch and the position of the last item yielded (the
    /// leading `offset` before any item). `None` for a stream that is not resumable, or not
    /// yet known to be.
    ///
    /// Save it to resume from there later, even from another process: send it as the
    /// [`Position::SINCE`] request metadata.
    pub fn position(&self) -> Option<&Position> {
        self.position.as_ref()
    }

    /// The outcome of the latest resume, `None` if the stream was never re-opened. Check
    /// [`Resumed::recovered`]: `false` means items were missed.
    pub fn last_resume(&self) -> Option<&Resumed> {
        self.last_resume.as_ref()
    }

    /// How many times the client re-opened this stream.
    pub fn resumes(&self) -> u64 {
        self.resumes
    }

    /// This stream as a [`Stream`] of [`StreamEvent`]s: the items, and a
    /// [`StreamEvent::Resumed`] at each point where the client re-opened it, so that an
    /// application learns exactly where items may have been missed.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use swill::client::{ClientError, ResponseStream, StreamEvent};
    ///
    /// async fn follow(feed: ResponseStream<String>) -> Result<(), ClientError> {
    ///     let mut events = feed.events();
    ///     while let Some(event) = events.next().await {
    ///         match event? {
    ///             StreamEvent::Item(line) => println!("{line}"),
    ///             StreamEvent::Resumed(r) if !r.recovered => {
    ///                 println!("missed items: reloading the state with an ordinary call");
    ///             }
    ///             StreamEvent::Resumed(_) => {} // continues without a gap
    ///             _ => {}
    ///         }
    ///     }
    ///     Ok(())
    /// }
    /// # let _ = follow;
    /// ```
    pub fn events(self) -> Events<T> {
        Events { inner: self }
    }

    /// Cancels the call now (also what dropping does).
    pub fn cancel(mut self) {
        self.handle.done = false;
        drop(self);
    }
}

impl<T: DeserializeOwned> ResponseStream<T> {
    fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<StreamEvent<T>, ClientError>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        loop {
            let next = match self.peeked.take() {
                Some(reply) => Poll::Ready(Some(reply)),
                None => self.rx.poll_recv(cx),
            };
            match next {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.finished = true;
                    self.handle.done = true;
                    return Poll::Ready(Some(Err(ClientError::Closed)));
                }
                Poll::Ready(Some(command::Reply::Metadata(md))) => {
                    self.set_leading(decode_md(Some(md)));
                }
                Poll::Ready(Some(command::Reply::Message { data, leading, .. })) => {
                    self.set_leading(decode_md(leading));
                    if let Some(p) = &mut self.position {
                        p.offset = p.offset.saturating_add(1);
                    }
                    return Poll::Ready(Some(decode(&data).map(StreamEvent::Item)));
                }
                Poll::Ready(Some(command::Reply::End { leading, trailing })) => {
                    self.set_leading(decode_md(leading));
                    self.trailing = decode_md(trailing);
                    self.finished = true;
                    self.handle.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(command::Reply::Error(e))) => {
                    self.finished = true;
                    self.handle.done = true;
                    return Poll::Ready(Some(Err(ClientError::Rpc(e))));
                }
                Poll::Ready(Some(command::Reply::Failed(f))) => {
                    self.finished = true;
                    self.handle.done = true;
                    return Poll::Ready(Some(Err(f.into_error())));
                }
                Poll::Ready(Some(command::Reply::Resumed { resumed, leading })) => {
                    self.resumes += 1;
                    if let Some(md) = decode_md(leading) {
                        self.leading = Some(md);
                    }
                    self.position.clone_from(&resumed.position);
                    self.last_resume = Some(resumed.clone());
                    return Poll::Ready(Some(Ok(StreamEvent::Resumed(resumed))));
                }
            }
        }
    }
}

impl<T: DeserializeOwned> Stream for ResponseStream<T> {
    type Item = Result<T, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match std::task::ready!(this.poll_event(cx)) {
                Some(Ok(StreamEvent::Resumed(_))) => {}
                Some(Ok(StreamEvent::Item(item))) => return Poll::Ready(Some(Ok(item))),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            }
        }
    }
}

/// A [`ResponseStream`] that also yields where it was resumed: see
/// [`ResponseStream::events`].
#[derive(Debug)]
#[must_use = "dropping the stream cancels the call"]
pub struct Events<T> {
    inner: ResponseStream<T>,
}

impl<T> Events<T> {
    /// The underlying stream (leading metadata, position, ...).
    pub fn get_ref(&self) -> &ResponseStream<T> {
        &self.inner
    }

    /// Back to a stream of items.
    pub fn into_inner(self) -> ResponseStream<T> {
        self.inner
    }
}

impl<T: DeserializeOwned> Stream for Events<T> {
    type Item = Result<StreamEvent<T>, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_event(cx)
    }
}
