//! [`Body`]: one running call as the driver sees it, for every shape.
//!
//! The body polls the handler's output (a stream of results, one for single responses),
//! feeds its request stream through the [`Pump`], runs the output hooks in swill/1's order,
//! and reports each decision as a [`Step`]. It keeps no copy of the call's protocol state:
//! whether leading metadata went out comes from the engine, in the [`CallView`] of each poll.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use pin_project_lite::pin_project;
use serde::Serialize;

use super::input::Pump;
use super::{Backlog, BlockingJob, CallBody, CallContext, CallView, Metadata, Step};
use crate::error::Error;
use crate::hooks::{run_all, CallHooks, HookError, HookResult, RawMessage};

/// What a handler's output source yields.
pub(crate) enum SrcItem<T> {
    /// A result (or the error that ends the call).
    Item(Result<T, HookError>),
    /// A blocking handler is ready to run: hand this job to the driver.
    Job(BlockingJob),
}

/// Which step a pending hook future leads to.
#[derive(Clone, Copy)]
enum After {
    Leading,
    Item { single: bool },
    Done,
}

pin_project! {
    /// Drives a handler's output and its request stream, and runs the output hooks.
    pub(crate) struct Body<S, T, P> {
        #[pin]
        src: S,
        pump: P,
        ctx: CallContext,
        hooks: Arc<CallHooks>,
        response_streams: bool,
        // The result waiting for `write_item`.
        slot: Option<T>,
        // The same result, already encoded because output hooks wanted its bytes.
        encoded: Option<Bytes>,
        // What the source produced while an eager METADATA frame had to go first.
        stashed: Option<Option<SrcItem<T>>>,
        pending: Option<(BoxFuture<'static, HookResult>, After)>,
        finished: bool,
    }
}

impl<S, T, P> Body<S, T, P> {
    pub(crate) fn new(
        src: S,
        pump: P,
        ctx: CallContext,
        hooks: Arc<CallHooks>,
        response_streams: bool,
    ) -> Self {
        Self {
            src,
            pump,
            ctx,
            hooks,
            response_streams,
            slot: None,
            encoded: None,
            stashed: None,
            pending: None,
            finished: false,
        }
    }
}

fn peek_leading(ctx: &CallContext) -> Option<Metadata> {
    if !ctx.response().is_dirty() {
        return None;
    }
    ctx.response().with(|r| r.leading.clone())
}

fn peek_trailing(ctx: &CallContext) -> Option<Metadata> {
    if !ctx.response().is_dirty() {
        return None;
    }
    ctx.response().with(|r| r.trailing.clone())
}

fn take_leading(ctx: &CallContext, view: CallView) -> Option<Bytes> {
    if view.leading_sent {
        return None;
    }
    ctx.response()
        .take(|r| r.leading.take())
        .map(|m| m.to_msgpack())
}

fn take_trailing(ctx: &CallContext) -> Option<Bytes> {
    ctx.response()
        .take(|r| r.trailing.take())
        .map(|m| m.to_msgpack())
}

/// Whether the handler asked for an eager METADATA frame that can still go out; clears it.
fn take_eager(ctx: &CallContext, view: CallView) -> bool {
    !view.leading_sent
        && ctx.response().is_dirty()
        && ctx.response().take(|r| std::mem::take(&mut r.eager))
}

fn step(after: After, ctx: &CallContext, view: CallView) -> Step {
    match after {
        After::Leading => Step::Leading(take_leading(ctx, view)),
        After::Item { single } => Step::Item {
            leading: take_leading(ctx, view),
            trailing: if single { take_trailing(ctx) } else { None },
        },
        After::Done => Step::Done {
            leading: take_leading(ctx, view),
            trailing: take_trailing(ctx),
        },
    }
}

impl<S, T, P> CallBody for Body<S, T, P>
where
    S: Stream<Item = SrcItem<T>> + Send,
    T: Serialize + Send + 'static,
    P: Pump,
{
    fn poll_step(self: Pin<&mut Self>, cx: &mut Context<'_>, view: CallView) -> Poll<Step> {
        let mut this = self.project();
        loop {
            if let Some((fut, after)) = this.pending.as_mut() {
                let after = *after;
                return match fut.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => {
                        *this.pending = None;
                        *this.finished = true;
                        Poll::Ready(Step::Failed(e))
                    }
                    Poll::Ready(Ok(())) => {
                        *this.pending = None;
                        if matches!(after, After::Done) {
                            *this.finished = true;
                        }
                        Poll::Ready(step(after, this.ctx, view))
                    }
                };
            }
            if *this.finished {
                return Poll::Pending;
            }
            if let Err(e) = this.pump.pump(cx) {
                *this.finished = true;
                return Poll::Ready(Step::Failed(e));
            }
            if let Some(job) = this.pump.take_job() {
                return Poll::Ready(Step::Blocking(job));
            }
            let polled = match this.stashed.take() {
                Some(next) => Poll::Ready(next),
                None => this.src.as_mut().poll_next(cx),
            };
            if polled.is_pending() {
                // The handler may have asked for its next request item in that poll.
                match this.pump.pump(cx) {
                    Err(e) => {
                        *this.finished = true;
                        return Poll::Ready(Step::Failed(e));
                    }
                    Ok(true) => continue,
                    Ok(false) => match this.pump.take_job() {
                        Some(job) => return Poll::Ready(Step::Blocking(job)),
                        None => this.pump.park(cx),
                    },
                }
            }
            // An eager send (Response::send_leading) goes out before whatever the handler
            // produced in the same poll, and so does its before_leading_metadata hook: keep
            // the result for the next step.
            let failed = matches!(polled, Poll::Ready(Some(SrcItem::Item(Err(_)))));
            if !failed && take_eager(this.ctx, view) {
                if let Poll::Ready(next) = polled {
                    *this.stashed = Some(next);
                }
                if this.hooks.before_leading_metadata.is_empty() {
                    return Poll::Ready(step(After::Leading, this.ctx, view));
                }
                let (h, c) = (this.hooks.clone(), this.ctx.clone());
                let md = peek_leading(&c);
                let fut = async move { run_all(&h.before_leading_metadata, &c, md).await };
                *this.pending = Some((Box::pin(fut), After::Leading));
                continue;
            }
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(SrcItem::Job(job))) => return Poll::Ready(Step::Blocking(job)),
                Poll::Ready(Some(SrcItem::Item(Err(e)))) => {
                    *this.finished = true;
                    return Poll::Ready(Step::Failed(e));
                }
                Poll::Ready(Some(SrcItem::Item(Ok(item)))) => {
                    let single = !*this.response_streams;
                    if single {
                        *this.finished = true;
                    }
                    if this.hooks.is_empty_output() {
                        *this.slot = Some(item);
                        return Poll::Ready(step(After::Item { single }, this.ctx, view));
                    }
                    // Output hooks want the encoded message: encode once, keep the bytes.
                    let bytes = match super::item_bytes(&item) {
                        Ok(b) => b,
                        Err(e) => {
                            *this.finished = true;
                            return Poll::Ready(Step::Failed(HookError::Fail(e)));
                        }
                    };
                    let raw = RawMessage(bytes.clone());
                    *this.encoded = Some(bytes);
                    let (h, c) = (this.hooks.clone(), this.ctx.clone());
                    let fire_leading = !view.leading_sent;
                    let fut = async move {
                        if single {
                            run_all(&h.before_trailing_metadata, &c, peek_trailing(&c)).await?;
                        }
                        run_all(&h.before_response_message, &c, raw).await?;
                        if fire_leading {
                            run_all(&h.before_leading_metadata, &c, peek_leading(&c)).await?;
                        }
                        Ok(())
                    };
                    *this.pending = Some((Box::pin(fut), After::Item { single }));
                }
                Poll::Ready(None) => {
                    if !*this.response_streams || this.hooks.is_empty_output() {
                        *this.finished = true;
                        return Poll::Ready(step(After::Done, this.ctx, view));
                    }
                    let (h, c) = (this.hooks.clone(), this.ctx.clone());
                    let fire_leading = !view.leading_sent;
                    let fut = async move {
                        run_all(&h.before_trailing_metadata, &c, peek_trailing(&c)).await?;
                        if fire_leading {
                            run_all(&h.before_leading_metadata, &c, peek_leading(&c)).await?;
                        }
                        Ok(())
                    };
                    *this.pending = Some((Box::pin(fut), After::Done));
                }
            }
        }
    }

    fn write_item(self: Pin<&mut Self>, out: &mut Vec<u8>) -> Result<(), Error> {
        let this = self.project();
        if let Some(bytes) = this.encoded.take() {
            out.extend_from_slice(&bytes);
            return Ok(());
        }
        match this.slot.take() {
            Some(item) => super::encode_item(out, &item),
            None => Err(Error::internal()),
        }
    }

    fn push_input(self: Pin<&mut Self>, item: Option<Bytes>) -> Result<(), Backlog> {
        self.project().pump.push(item)
    }
}
