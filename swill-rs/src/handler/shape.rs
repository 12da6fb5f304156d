//! The four call shapes: one adapter each turns a typed handler into an erased call body.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, Stream, StreamExt};
use futures_util::{FutureExt, TryFutureExt};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::extract::{CallParts, FromCall};
use super::{BlockingJob, CallBody, CallContext, ErasedHandler, Step, Streaming};
use crate::hooks::{run_all, run_ctx, CallHooks, HookError, HookResult, RawMessage};
use crate::validate::ValidateFn;
use crate::Error;

/// How a handler's return value becomes `Result<Item, Error>`: [`Fallible`] for
/// `Result<T, E>` (E: `Into<Error>`), [`Plain`] for any other `T`.
pub trait ReplyKind<O>: Send + Sync + 'static {
    /// The success type.
    type Item;
    /// Converts the handler's output.
    fn into_result(o: O) -> Result<Self::Item, Error>;
}

/// The handler returns `Result<T, E>`.
#[derive(Debug)]
pub enum Fallible {}
/// The handler returns a plain value.
#[derive(Debug)]
pub enum Plain {}

impl<T, E: Into<Error>> ReplyKind<Result<T, E>> for Fallible {
    type Item = T;
    fn into_result(o: Result<T, E>) -> Result<T, Error> {
        o.map_err(Into::into)
    }
}

impl<T> ReplyKind<T> for Plain {
    type Item = T;
    fn into_result(o: T) -> Result<T, Error> {
        Ok(o)
    }
}

/// A handler function with extractor arguments `Args`, for a call whose input is `R`.
pub trait CallFn<R, Args>: Clone + Send + Sync + 'static {
    /// What it returns (a future for async handlers, the value for blocking ones).
    type Output;
    /// Extracts the arguments and calls the function.
    ///
    /// # Errors
    /// When an extractor fails.
    fn call(&self, parts: CallParts<R>) -> Result<Self::Output, Error>;
}

macro_rules! impl_call_fn {
    ($($A:ident),*) => {
        #[allow(non_snake_case, unused_mut, unused_variables)]
        impl<F, O, R, $($A,)*> CallFn<R, ($($A,)*)> for F
        where
            F: Fn($($A),*) -> O + Clone + Send + Sync + 'static,
            $($A: FromCall<R>,)*
        {
            type Output = O;
            fn call(&self, mut parts: CallParts<R>) -> Result<O, Error> {
                $(let $A = $A::from_call(&mut parts)?;)*
                Ok(self($($A),*))
            }
        }
    };
}

impl_call_fn!();
impl_call_fn!(A1);
impl_call_fn!(A1, A2);
impl_call_fn!(A1, A2, A3);
impl_call_fn!(A1, A2, A3, A4);
impl_call_fn!(A1, A2, A3, A4, A5);
impl_call_fn!(A1, A2, A3, A4, A5, A6);
impl_call_fn!(A1, A2, A3, A4, A5, A6, A7);
impl_call_fn!(A1, A2, A3, A4, A5, A6, A7, A8);

/// Everything a call body needs besides the handler.
pub(crate) struct Start {
    pub(crate) ctx: CallContext,
    pub(crate) payload: Option<Bytes>,
    pub(crate) hooks: Arc<CallHooks>,
}

/// Decodes a single-request payload, validates it and runs the request hooks.
async fn prelude<R: DeserializeOwned>(
    ctx: &CallContext,
    hooks: &CallHooks,
    payload: Option<Bytes>,
    validate: Option<ValidateFn<R>>,
) -> Result<R, HookError> {
    request_hooks(ctx, hooks).await?;
    let raw = payload.unwrap_or_else(|| Bytes::from_static(&[0xc0]));
    let data: R = super::decode_payload(&raw, ctx)?;
    if let Some(validate) = validate {
        validate(&data)?;
    }
    if !hooks.before_request_message.is_empty() {
        run_all(&hooks.before_request_message, ctx, RawMessage(raw)).await?;
    }
    Ok(data)
}

/// A single-request call up to the handler's output: decode, validate, hooks, extractors,
/// then the handler itself.
async fn run_single<R, Args, F, Fut>(
    f: F,
    start: Start,
    validate: Option<ValidateFn<R>>,
) -> Result<Fut::Output, HookError>
where
    R: DeserializeOwned,
    F: CallFn<R, Args, Output = Fut>,
    Fut: Future,
{
    let Start {
        ctx,
        payload,
        hooks,
    } = start;
    let data = prelude::<R>(&ctx, &hooks, payload, validate).await?;
    let fut = f.call(CallParts {
        ctx,
        input: Some(data),
    })?;
    Ok(fut.await)
}

async fn request_hooks(ctx: &CallContext, hooks: &CallHooks) -> HookResult {
    if !hooks.before_request.is_empty() {
        run_ctx(&hooks.before_request, ctx).await?;
    }
    if !hooks.before_request_metadata.is_empty() && !ctx.metadata().is_empty() {
        run_ctx(&hooks.before_request_metadata, ctx).await?;
    }
    Ok(())
}

fn streaming_input<T: DeserializeOwned + Send + 'static>(
    start: &mut Start,
    validate: Option<ValidateFn<T>>,
) -> Streaming<T> {
    Streaming::new(
        start.ctx.clone(),
        start.payload.take(),
        validate,
        start.hooks.clone(),
    )
}

macro_rules! erased {
    ($name:ident, $($bound:tt)*) => {
        pub(crate) struct $name<R, K, Args, F> {
            pub(crate) f: F,
            pub(crate) validate: Option<ValidateFn<R>>,
            pub(crate) _p: PhantomData<fn() -> (R, K, Args)>,
        }
    };
}

erased!(Unary,);
erased!(ServerStream,);
erased!(Blocking,);

/// Client streaming and bidi: the input is a `Streaming<T>`, validated per item.
pub(crate) struct StreamIn<T, KO, KI, Args, F> {
    pub(crate) f: F,
    pub(crate) validate: Option<ValidateFn<T>>,
    pub(crate) _p: Marker<(T, KO, KI, Args)>,
}

/// Ties type parameters to an adapter without owning them.
type Marker<T> = PhantomData<fn() -> T>;

impl<R, K, Args, F, Fut> ErasedHandler for Unary<R, K, Args, F>
where
    R: DeserializeOwned + Send + 'static,
    F: CallFn<R, Args, Output = Fut>,
    Fut: Future + Send + 'static,
    K: ReplyKind<Fut::Output>,
    K::Item: Serialize + Send + 'static,
    Args: 'static,
{
    fn start(&self, start: Start) -> Pin<Box<dyn CallBody>> {
        let (ctx, hooks) = (start.ctx.clone(), start.hooks.clone());
        let fut = run_single(self.f.clone(), start, self.validate)
            .map(|out| Ok::<_, HookError>(K::into_result(out?)?));
        Box::pin(OutputBody::new(stream::once(fut), ctx, hooks, false))
    }
}

impl<R, K, Args, F, O> ErasedHandler for Blocking<R, K, Args, F>
where
    R: DeserializeOwned + Send + 'static,
    F: CallFn<R, Args, Output = O>,
    O: 'static,
    K: ReplyKind<O>,
    K::Item: Serialize + Send + 'static,
    Args: 'static,
{
    fn start(&self, start: Start) -> Pin<Box<dyn CallBody>> {
        let f = self.f.clone();
        let validate = self.validate;
        let Start {
            ctx,
            payload,
            hooks,
        } = start;
        let (c, h) = (ctx.clone(), hooks.clone());
        let fut = async move {
            let data = prelude::<R>(&c, &h, payload, validate).await?;
            let (tx, rx) = futures_channel::oneshot::channel::<Result<K::Item, Error>>();
            let ctx2 = c.clone();
            let job = BlockingJob {
                run: Box::new(move || {
                    f.call(CallParts {
                        ctx: ctx2,
                        input: Some(data),
                    })
                    .and_then(|o| K::into_result(o))
                    .map(|item| Box::new(item) as Box<dyn std::any::Any + Send>)
                }),
                deliver: Box::new(move |out| {
                    let out = out.and_then(|any| {
                        any.downcast::<K::Item>()
                            .map(|item| *item)
                            .map_err(|_| Error::internal())
                    });
                    let _ = tx.send(out);
                }),
            };
            *c.0.blocking.lock().unwrap_or_else(|p| p.into_inner()) = Some(job);
            match rx.await {
                Ok(out) => Ok(out?),
                // The job never answered (the runtime shut down its blocking pool).
                Err(_) => Err(HookError::Fail(Error::internal())),
            }
        };
        Box::pin(OutputBody::new(stream::once(fut), ctx, hooks, false))
    }
}

impl<R, KO, KI, Args, F, Fut, S> ErasedHandler for ServerStream<R, (KO, KI), Args, F>
where
    R: DeserializeOwned + Send + 'static,
    F: CallFn<R, Args, Output = Fut>,
    Fut: Future + Send + 'static,
    KO: ReplyKind<Fut::Output, Item = S>,
    S: Stream + Send + 'static,
    KI: ReplyKind<S::Item>,
    KI::Item: Serialize + Send + 'static,
    Args: 'static,
{
    fn start(&self, start: Start) -> Pin<Box<dyn CallBody>> {
        let (ctx, hooks) = (start.ctx.clone(), start.hooks.clone());
        let fut = run_single(self.f.clone(), start, self.validate).map(|out| {
            let s = KO::into_result(out?)?;
            Ok::<_, HookError>(s.map(|i| KI::into_result(i).map_err(HookError::Fail)))
        });
        Box::pin(OutputBody::new(fut.try_flatten_stream(), ctx, hooks, true))
    }
}

impl<T, KO, KI, Args, F, Fut> ErasedHandler for StreamIn<T, KO, KI, Args, F>
where
    T: DeserializeOwned + Send + Unpin + 'static,
    F: CallFn<Streaming<T>, Args, Output = Fut>,
    Fut: Future + Send + 'static,
    KO: OutputShape<Fut::Output, KI>,
    Args: 'static,
{
    fn start(&self, mut start: Start) -> Pin<Box<dyn CallBody>> {
        let input = streaming_input::<T>(&mut start, self.validate);
        let f = self.f.clone();
        let Start { ctx, hooks, .. } = start;
        let (c, h) = (ctx.clone(), hooks.clone());
        let fut = async move {
            request_hooks(&c, &h).await?;
            let fut = f.call(CallParts {
                ctx: c,
                input: Some(input),
            })?;
            Ok::<_, HookError>(fut.await)
        };
        KO::body(fut, ctx, hooks)
    }
}

/// Whether a streaming-request handler answers once ([`Fallible`]/[`Plain`]) or streams
/// ([`Streams`]).
#[allow(private_interfaces)]
pub trait OutputShape<O, KI>: Send + Sync + 'static {
    /// Builds the call body from the future of the handler's output.
    #[doc(hidden)]
    fn body<Fut>(fut: Fut, ctx: CallContext, hooks: Arc<CallHooks>) -> Pin<Box<dyn CallBody>>
    where
        Fut: Future<Output = Result<O, HookError>> + Send + 'static;
}

/// The handler returns a stream (`KO` says how the stream itself is wrapped).
#[derive(Debug)]
pub struct Streams<KO>(PhantomData<KO>);

fn single_body<O, K, Fut>(
    fut: Fut,
    ctx: CallContext,
    hooks: Arc<CallHooks>,
) -> Pin<Box<dyn CallBody>>
where
    K: ReplyKind<O>,
    K::Item: Serialize + Send + 'static,
    O: 'static,
    Fut: Future<Output = Result<O, HookError>> + Send + 'static,
{
    let fut = fut.map(|r| r.and_then(|o| K::into_result(o).map_err(HookError::Fail)));
    Box::pin(OutputBody::new(stream::once(fut), ctx, hooks, false))
}

#[allow(private_interfaces)]
impl<T, E> OutputShape<Result<T, E>, ()> for Fallible
where
    T: Serialize + Send + 'static,
    E: Into<Error> + 'static,
{
    fn body<Fut>(fut: Fut, ctx: CallContext, hooks: Arc<CallHooks>) -> Pin<Box<dyn CallBody>>
    where
        Fut: Future<Output = Result<Result<T, E>, HookError>> + Send + 'static,
    {
        single_body::<_, Self, _>(fut, ctx, hooks)
    }
}

#[allow(private_interfaces)]
impl<O> OutputShape<O, ()> for Plain
where
    O: Serialize + Send + 'static,
{
    fn body<Fut>(fut: Fut, ctx: CallContext, hooks: Arc<CallHooks>) -> Pin<Box<dyn CallBody>>
    where
        Fut: Future<Output = Result<O, HookError>> + Send + 'static,
    {
        single_body::<_, Self, _>(fut, ctx, hooks)
    }
}

#[allow(private_interfaces)]
impl<O, KO, KI, S> OutputShape<O, KI> for Streams<KO>
where
    KO: ReplyKind<O, Item = S>,
    S: Stream + Send + 'static,
    KI: ReplyKind<S::Item>,
    KI::Item: Serialize + Send + 'static,
    O: 'static,
    KO: 'static,
{
    fn body<Fut>(fut: Fut, ctx: CallContext, hooks: Arc<CallHooks>) -> Pin<Box<dyn CallBody>>
    where
        Fut: Future<Output = Result<O, HookError>> + Send + 'static,
    {
        let fut = fut.map(|r| {
            let s = r.and_then(|o| KO::into_result(o).map_err(HookError::Fail))?;
            Ok::<_, HookError>(s.map(|i| KI::into_result(i).map_err(HookError::Fail)))
        });
        Box::pin(OutputBody::new(fut.try_flatten_stream(), ctx, hooks, true))
    }
}

pin_project! {
    /// Drives a handler's output stream and runs the output hooks in swill/1's order.
    struct OutputBody<S, T> {
        #[pin]
        src: S,
        ctx: CallContext,
        hooks: Arc<CallHooks>,
        response_streams: bool,
        slot: Option<T>,
        // What the source produced while an eager METADATA send had to go first.
        stashed: Option<Option<Result<T, HookError>>>,
        encoded: Option<Vec<u8>>,
        pending: Option<(BoxFuture<'static, HookResult>, PendingStep)>,
        leading_hook_fired: bool,
        eager_reported: bool,
        finished: bool,
    }
}

#[derive(Clone, Copy)]
enum PendingStep {
    Metadata,
    Item,
    Done,
}

impl<S, T> OutputBody<S, T> {
    fn new(src: S, ctx: CallContext, hooks: Arc<CallHooks>, response_streams: bool) -> Self {
        Self {
            src,
            ctx,
            hooks,
            response_streams,
            slot: None,
            stashed: None,
            encoded: None,
            pending: None,
            leading_hook_fired: false,
            eager_reported: false,
            finished: false,
        }
    }
}

fn current_leading(ctx: &CallContext) -> Option<super::Metadata> {
    ctx.response().lock().leading.clone()
}

fn current_trailing(ctx: &CallContext) -> Option<super::Metadata> {
    ctx.response().lock().trailing.clone()
}

impl<S, T> CallBody for OutputBody<S, T>
where
    S: Stream<Item = Result<T, HookError>> + Send,
    T: Serialize + Send,
{
    fn poll_step(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Step> {
        let mut this = self.project();
        loop {
            if let Some((fut, step)) = this.pending.as_mut() {
                let step = *step;
                match fut.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => {
                        *this.pending = None;
                        *this.finished = true;
                        return Poll::Ready(Step::Failed(e));
                    }
                    Poll::Ready(Ok(())) => {
                        *this.pending = None;
                        return Poll::Ready(match step {
                            PendingStep::Metadata => Step::Metadata,
                            PendingStep::Item => Step::Item,
                            PendingStep::Done => {
                                *this.finished = true;
                                Step::Done
                            }
                        });
                    }
                }
            }
            if *this.finished {
                return Poll::Pending;
            }
            let polled = match this.stashed.take() {
                Some(next) => Poll::Ready(next),
                None => {
                    let polled = this.src.as_mut().poll_next(cx);
                    if let Some(e) = this.ctx.0.failure.take() {
                        *this.finished = true;
                        return Poll::Ready(Step::Failed(e));
                    }
                    let job = this.ctx.0.blocking.lock().ok().and_then(|mut j| j.take());
                    if let Some(job) = job {
                        return Poll::Ready(Step::Blocking(job));
                    }
                    polled
                }
            };
            // An eager send (Response::send_leading) goes out before whatever the handler
            // produced in the same poll, and so does its before_leading_metadata hook: keep
            // the result for the next step.
            if !matches!(polled, Poll::Ready(Some(Err(_))))
                && !*this.eager_reported
                && eager_requested(this.ctx)
            {
                *this.eager_reported = true;
                if let Poll::Ready(next) = polled {
                    *this.stashed = Some(next);
                }
                if !this.hooks.before_leading_metadata.is_empty() && !*this.leading_hook_fired {
                    *this.leading_hook_fired = true;
                    let (h, c) = (this.hooks.clone(), this.ctx.clone());
                    let md = current_leading(&c);
                    let fut = async move { run_all(&h.before_leading_metadata, &c, md).await };
                    *this.pending = Some((Box::pin(fut), PendingStep::Metadata));
                    continue;
                }
                return Poll::Ready(Step::Metadata);
            }
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    *this.finished = true;
                    return Poll::Ready(Step::Failed(e));
                }
                Poll::Ready(Some(Ok(item))) => {
                    if this.hooks.is_empty_output() {
                        *this.slot = Some(item);
                        if !*this.response_streams {
                            *this.finished = true;
                        }
                        return Poll::Ready(Step::Item);
                    }
                    // Output hooks want the encoded message: encode once, keep the bytes.
                    let bytes = match super::encode_payload(&item) {
                        Ok(b) => b,
                        Err(e) => {
                            *this.finished = true;
                            return Poll::Ready(Step::Failed(HookError::Fail(e)));
                        }
                    };
                    let raw = RawMessage(Bytes::from(bytes.clone()));
                    *this.encoded = Some(bytes);
                    let (h, c) = (this.hooks.clone(), this.ctx.clone());
                    let fire_leading = !std::mem::replace(this.leading_hook_fired, true);
                    let single = !*this.response_streams;
                    if single {
                        *this.finished = true;
                    }
                    let fut = async move {
                        if single {
                            run_all(&h.before_trailing_metadata, &c, current_trailing(&c)).await?;
                        }
                        run_all(&h.before_response_message, &c, raw).await?;
                        if fire_leading {
                            run_all(&h.before_leading_metadata, &c, current_leading(&c)).await?;
                        }
                        Ok(())
                    };
                    *this.pending = Some((Box::pin(fut), PendingStep::Item));
                }
                Poll::Ready(None) => {
                    if !*this.response_streams || this.hooks.is_empty_output() {
                        *this.finished = true;
                        return Poll::Ready(Step::Done);
                    }
                    let (h, c) = (this.hooks.clone(), this.ctx.clone());
                    let fire_leading = !std::mem::replace(this.leading_hook_fired, true);
                    let fut = async move {
                        run_all(&h.before_trailing_metadata, &c, current_trailing(&c)).await?;
                        if fire_leading {
                            run_all(&h.before_leading_metadata, &c, current_leading(&c)).await?;
                        }
                        Ok(())
                    };
                    *this.pending = Some((Box::pin(fut), PendingStep::Done));
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
            Some(item) => super::encode_into(out, &item),
            None => Err(Error::internal()),
        }
    }
}

fn eager_requested(ctx: &CallContext) -> bool {
    let cell = ctx.response();
    if !cell.dirty.load(std::sync::atomic::Ordering::Acquire) {
        return false;
    }
    let st = cell.lock();
    st.eager && !st.leading_sent
}
