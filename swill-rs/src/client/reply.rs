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

use super::{decode, decode_md, driver, encode, CallHandle, ClientError, Reply};
use crate::Metadata;

/// The request side of a streaming-request call.
#[derive(Debug)]
pub struct RequestSink<I> {
    id: u64,
    cmd: mpsc::UnboundedSender<driver::Command>,
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

    /// Sends one item.
    ///
    /// # Errors
    /// When it cannot be encoded, the request already ended, or the connection is closed.
    pub fn send(&mut self, item: &I) -> Result<(), ClientError> {
        if self.ended {
            return Err(ClientError::Finished);
        }
        let data = encode(item)?;
        self.cmd
            .send(driver::Command::Item { id: self.id, data })
            .map_err(|_| ClientError::Closed)
    }

    /// Ends the request stream (END_OF_STREAM). Also sent when the sink is dropped.
    ///
    /// # Errors
    /// When the connection is closed.
    pub fn end(mut self) -> Result<(), ClientError> {
        self.ended = true;
        self.cmd
            .send(driver::Command::End { id: self.id })
            .map_err(|_| ClientError::Closed)
    }
}

impl<I> Drop for RequestSink<I> {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.cmd.send(driver::Command::End { id: self.id });
        }
    }
}

/// The reply of a single-response call; `.await` it. Dropping it cancels the call.
#[derive(Debug)]
#[must_use = "dropping the reply cancels the call"]
pub struct ReplyFuture<T> {
    pub(super) handle: CallHandle,
    pub(super) rx: mpsc::UnboundedReceiver<driver::Reply>,
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
                Poll::Ready(Some(driver::Reply::Metadata(md))) => {
                    this.leading = decode_md(Some(md))
                }
                Poll::Ready(Some(driver::Reply::Message {
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
                Poll::Ready(Some(driver::Reply::End { .. })) => {
                    this.handle.done = true;
                    return Poll::Ready(Err(ClientError::Finished));
                }
                Poll::Ready(Some(driver::Reply::Error(e))) => {
                    this.handle.done = true;
                    return Poll::Ready(Err(ClientError::Rpc(e)));
                }
            }
        }
    }
}

/// A streamed reply: a [`Stream`] of decoded items. Dropping it before the end cancels the
/// call.
#[derive(Debug)]
#[must_use = "dropping the stream cancels the call"]
pub struct ResponseStream<T> {
    handle: CallHandle,
    rx: mpsc::UnboundedReceiver<driver::Reply>,
    /// The first reply, read by [`opened`](Self::opened) and not yet yielded.
    peeked: Option<driver::Reply>,
    leading: Option<Metadata>,
    trailing: Option<Metadata>,
    finished: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T> ResponseStream<T> {
    pub(super) fn new(handle: CallHandle, rx: mpsc::UnboundedReceiver<driver::Reply>) -> Self {
        Self {
            handle,
            rx,
            peeked: None,
            leading: None,
            trailing: None,
            finished: false,
            _t: PhantomData,
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
    /// The call's ERROR if that is its first frame (the stream then yields it too), or
    /// [`ClientError::Closed`] when the connection ended first.
    pub async fn opened(&mut self) -> Result<Option<&Metadata>, ClientError> {
        if self.leading.is_none() && self.peeked.is_none() && !self.finished {
            match self.rx.recv().await {
                None => return Err(ClientError::Closed),
                Some(driver::Reply::Metadata(md)) => self.leading = decode_md(Some(md)),
                Some(reply) => {
                    let leading = match &reply {
                        driver::Reply::Message { leading, .. }
                        | driver::Reply::End { leading, .. } => leading.clone(),
                        _ => None,
                    };
                    if let Some(l) = decode_md(leading) {
                        self.leading = Some(l);
                    }
                    self.peeked = Some(reply);
                }
            }
        }
        if let Some(driver::Reply::Error(e)) = &self.peeked {
            return Err(ClientError::Rpc(e.clone()));
        }
        Ok(self.leading.as_ref())
    }

    /// Leading metadata, once it arrived.
    pub fn leading(&self) -> Option<&Metadata> {
        self.leading.as_ref()
    }

    /// Trailing metadata, once the stream ended.
    pub fn trailing(&self) -> Option<&Metadata> {
        self.trailing.as_ref()
    }

    /// Cancels the call now (also what dropping does).
    pub fn cancel(mut self) {
        self.handle.done = false;
        drop(self);
    }
}

impl<T: DeserializeOwned> Stream for ResponseStream<T> {
    type Item = Result<T, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        loop {
            let next = match this.peeked.take() {
                Some(reply) => Poll::Ready(Some(reply)),
                None => this.rx.poll_recv(cx),
            };
            match next {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.finished = true;
                    this.handle.done = true;
                    return Poll::Ready(Some(Err(ClientError::Closed)));
                }
                Poll::Ready(Some(driver::Reply::Metadata(md))) => {
                    this.leading = decode_md(Some(md))
                }
                Poll::Ready(Some(driver::Reply::Message { data, leading, .. })) => {
                    if let Some(l) = decode_md(leading) {
                        this.leading = Some(l);
                    }
                    return Poll::Ready(Some(decode(&data)));
                }
                Poll::Ready(Some(driver::Reply::End { leading, trailing })) => {
                    if let Some(l) = decode_md(leading) {
                        this.leading = Some(l);
                    }
                    this.trailing = decode_md(trailing);
                    this.finished = true;
                    this.handle.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(driver::Reply::Error(e))) => {
                    this.finished = true;
                    this.handle.done = true;
                    return Poll::Ready(Some(Err(ClientError::Rpc(e))));
                }
            }
        }
    }
}
