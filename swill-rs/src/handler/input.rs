//! The request side of streaming-request calls: [`Streaming<T>`] and the pump that feeds it.
//!
//! The call body owns the raw request frames the driver pushes, and the pump turns them into
//! typed items one at a time, when the handler asks for the next one: `before_request_data`,
//! decode (400), validate (422), `before_request_message`. A failure is the body's own return
//! value, so the handler never sees a bad item and never answers from partial input. Only
//! the decoded item crosses to the handler's `Streaming<T>`, through a one-item handoff.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::{Backlog, CallContext, Metadata};
use crate::hooks::{run_all, CallHooks, HookError, HookResult, RawMessage, RequestFrame};
use crate::payload::byte_budget::ByteBudget;
use crate::payload::Budget;
use crate::validate::ValidateFn;

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
    handoff: Arc<Mutex<Handoff<T>>>,
}

/// What the pump and the handler's `Streaming` share: at most one item in passing.
struct Handoff<T> {
    item: Option<T>,
    ended: bool,
    /// The handler is waiting for an item.
    wanted: bool,
    handler: Option<Waker>,
    /// The call body, parked until the handler asks (when `Streaming` moved to another task).
    body: Option<Waker>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T> Streaming<T> {
    /// The request metadata (from the opening frame).
    pub fn metadata(&self) -> &Metadata {
        self.ctx.metadata()
    }

    /// The call's context.
    pub fn context(&self) -> &CallContext {
        &self.ctx
    }
}

impl<T> Stream for Streaming<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut h = lock(&self.handoff);
        if let Some(item) = h.item.take() {
            return Poll::Ready(Some(item));
        }
        if h.ended {
            return Poll::Ready(None);
        }
        // Wake the body only when the handler starts asking: polled again while it still
        // waits (in the body's own task, every poll of the body), waking it would make the
        // body poll itself forever.
        let newly = !h.wanted;
        h.wanted = true;
        match &h.handler {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => h.handler = Some(cx.waker().clone()),
        }
        if newly {
            if let Some(body) = h.body.take() {
                body.wake();
            }
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

/// The request side of a call, as the body drives it.
pub(crate) trait Pump: Send {
    /// A frame from the driver (`None` for END_OF_STREAM).
    fn push(&mut self, item: Option<Bytes>) -> Result<(), Backlog>;
    /// Advances while the handler wants items and input is there. Returns whether anything
    /// moved, or the error that ends the call.
    fn pump(&mut self, cx: &mut Context<'_>) -> Result<bool, HookError>;
    /// Registers the body's waker for when the handler asks again from another task.
    fn park(&mut self, cx: &mut Context<'_>);
    /// A decode the last [`pump`](Self::pump) wants run on the blocking pool.
    fn take_job(&mut self) -> Option<super::BlockingJob> {
        None
    }
}

/// Single-request calls have no request stream.
pub(crate) struct NoInput;

impl Pump for NoInput {
    fn push(&mut self, _: Option<Bytes>) -> Result<(), Backlog> {
        Ok(())
    }
    fn pump(&mut self, _: &mut Context<'_>) -> Result<bool, HookError> {
        Ok(false)
    }
    fn park(&mut self, _: &mut Context<'_>) {}
}

enum Stage<T> {
    /// `before_request_data` for this frame (`None`: END_OF_STREAM), then process it.
    Data(BoxFuture<'static, HookResult>, Option<Bytes>),
    /// A large item decoding (and validating) on the blocking pool.
    Decode(
        futures_channel::oneshot::Receiver<Result<T, crate::error::Error>>,
        Bytes,
    ),
    /// `before_request_message` for this decoded item, then hand it over.
    Message(BoxFuture<'static, HookResult>, T),
}

/// Turns the raw request frames of one call into typed items, on demand.
pub(crate) struct InputPump<T> {
    handoff: Arc<Mutex<Handoff<T>>>,
    ctx: CallContext,
    hooks: Arc<CallHooks>,
    validate: Option<ValidateFn<T>>,
    /// The opening MESSAGE's item (no `before_request_data` for it).
    first: Option<Bytes>,
    raw: VecDeque<Bytes>,
    raw_ended: bool,
    end_delivered: bool,
    max: usize,
    budget: Budget,
    /// The app's budget for unread items, and the bytes `raw` holds of it.
    queued: Arc<ByteBudget>,
    held: usize,
    stage: Option<Stage<T>>,
    /// The decode of a large item, for the body to hand to the driver's pool.
    job: Option<super::BlockingJob>,
}

impl<T: DeserializeOwned + Send + 'static> InputPump<T> {
    /// The pump and the `Streaming` the handler gets.
    pub(crate) fn new(
        ctx: CallContext,
        first: Option<Bytes>,
        hooks: Arc<CallHooks>,
        validate: Option<ValidateFn<T>>,
        (max, budget, queued): (usize, Budget, Arc<ByteBudget>),
    ) -> (Self, Streaming<T>) {
        let handoff = Arc::new(Mutex::new(Handoff {
            item: None,
            ended: false,
            wanted: false,
            handler: None,
            body: None,
        }));
        let streaming = Streaming {
            ctx: ctx.clone(),
            handoff: handoff.clone(),
        };
        let pump = Self {
            handoff,
            ctx,
            hooks,
            validate,
            first,
            raw: VecDeque::new(),
            raw_ended: false,
            end_delivered: false,
            max,
            budget,
            queued,
            held: 0,
            stage: None,
            job: None,
        };
        (pump, streaming)
    }

    fn wanted(&self) -> bool {
        let h = lock(&self.handoff);
        h.wanted && h.item.is_none() && !h.ended
    }

    /// Decodes and validates one raw item, then hands it over (after its hooks). A large
    /// container decodes on the blocking pool instead ([`Budget::offload`]): the job waits
    /// in `job` for the body, and the item arrives in [`Stage::Decode`].
    fn process(&mut self, raw: Bytes) -> Result<(), HookError> {
        if self.budget.offload(&raw) {
            let (tx, rx) = futures_channel::oneshot::channel();
            self.job = Some(super::offload::decode_job(
                raw.clone(),
                self.validate,
                self.budget,
                tx,
            ));
            self.stage = Some(Stage::Decode(rx, raw));
            return Ok(());
        }
        let item: T = super::decode_payload(&raw, self.budget)?;
        if let Some(validate) = self.validate {
            validate(&item)?;
        }
        self.decoded(raw, item);
        Ok(())
    }

    /// An item decoded and validated: hand it over, after `before_request_message`.
    fn decoded(&mut self, raw: Bytes, item: T) {
        if self.hooks.before_request_message.is_empty() {
            self.deliver(Some(item));
        } else {
            let (hooks, ctx) = (self.hooks.clone(), self.ctx.clone());
            let fut = Box::pin(async move {
                run_all(&hooks.before_request_message, &ctx, RawMessage(raw)).await
            });
            self.stage = Some(Stage::Message(fut, item));
        }
    }

    fn deliver(&mut self, item: Option<T>) {
        let mut h = lock(&self.handoff);
        match item {
            Some(item) => h.item = Some(item),
            None => {
                h.ended = true;
                self.end_delivered = true;
            }
        }
        h.wanted = false;
        if let Some(w) = h.handler.take() {
            w.wake();
        }
    }

    /// Starts on the next raw frame, if any. Returns whether there was one.
    fn next_frame(&mut self) -> Result<bool, HookError> {
        if let Some(first) = self.first.take() {
            self.process(first)?;
            return Ok(true);
        }
        let next = match self.raw.pop_front() {
            Some(raw) => {
                self.held -= raw.len();
                self.queued.release(raw.len());
                Some(raw)
            }
            None if self.raw_ended && !self.end_delivered => None,
            None => return Ok(false),
        };
        if self.hooks.before_request_data.is_empty() {
            match next {
                Some(raw) => self.process(raw)?,
                None => self.deliver(None),
            }
        } else {
            let frame = match &next {
                Some(raw) => RequestFrame::Message(RawMessage(raw.clone())),
                None => RequestFrame::EndOfStream,
            };
            let (hooks, ctx) = (self.hooks.clone(), self.ctx.clone());
            let fut =
                Box::pin(async move { run_all(&hooks.before_request_data, &ctx, frame).await });
            self.stage = Some(Stage::Data(fut, next));
        }
        Ok(true)
    }
}

impl<T> Drop for InputPump<T> {
    fn drop(&mut self) {
        // The items the handler never took give their bytes back.
        self.queued.release(self.held);
    }
}

impl<T: DeserializeOwned + Send + 'static> Pump for InputPump<T> {
    fn push(&mut self, item: Option<Bytes>) -> Result<(), Backlog> {
        match item {
            Some(_) if self.raw.len() >= self.max => Err(Backlog::Items),
            Some(raw) if !self.queued.try_reserve(raw.len()) => Err(Backlog::Bytes),
            Some(raw) => {
                self.held += raw.len();
                self.raw.push_back(raw);
                Ok(())
            }
            None => {
                self.raw_ended = true;
                Ok(())
            }
        }
    }

    fn pump(&mut self, cx: &mut Context<'_>) -> Result<bool, HookError> {
        let mut moved = false;
        loop {
            match self.stage.take() {
                Some(Stage::Data(mut fut, next)) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.stage = Some(Stage::Data(fut, next));
                        return Ok(moved);
                    }
                    Poll::Ready(r) => {
                        r?;
                        moved = true;
                        match next {
                            Some(raw) => self.process(raw)?,
                            None => self.deliver(None),
                        }
                    }
                },
                Some(Stage::Decode(mut rx, raw)) => {
                    match std::future::Future::poll(Pin::new(&mut rx), cx) {
                        Poll::Pending => {
                            self.stage = Some(Stage::Decode(rx, raw));
                            return Ok(moved);
                        }
                        Poll::Ready(r) => {
                            // A dropped sender: the runtime shut its blocking pool down.
                            let item =
                                r.unwrap_or_else(|_| Err(crate::error::Error::internal()))?;
                            moved = true;
                            self.decoded(raw, item);
                        }
                    }
                }
                Some(Stage::Message(mut fut, item)) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.stage = Some(Stage::Message(fut, item));
                        return Ok(moved);
                    }
                    Poll::Ready(r) => {
                        r?;
                        moved = true;
                        self.deliver(Some(item));
                    }
                },
                None => {
                    if !self.wanted() || !self.next_frame()? {
                        return Ok(moved);
                    }
                    moved = true;
                }
            }
        }
    }

    fn take_job(&mut self) -> Option<super::BlockingJob> {
        self.job.take()
    }

    fn park(&mut self, cx: &mut Context<'_>) {
        let has_input = self.stage.is_none()
            && (self.first.is_some()
                || !self.raw.is_empty()
                || (self.raw_ended && !self.end_delivered));
        let mut h = lock(&self.handoff);
        if has_input && h.wanted && h.item.is_none() && !h.ended {
            // The handler asked (from another task) since the last pump: go again.
            drop(h);
            cx.waker().wake_by_ref();
            return;
        }
        h.body = Some(cx.waker().clone());
    }
}
