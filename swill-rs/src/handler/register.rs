//! The registration functions `#[swill::handler]` expansions call (via `__private`), and the
//! erased handlers they build: one for `async fn`s of every shape, one for plain `fn`s.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use futures_util::{FutureExt, TryFutureExt};

use super::body::{Body, SrcItem};
use super::func::{Claim, HandlerFn, SingleRequest};
use super::input::{InputPump, NoInput};
use super::offload::decode_job;
use super::reply::{KindOf, ReplyKind, ReplyProbe, SingleReply};
use super::{BlockingJob, BlockingOutput, CallBody, CallContext, ErasedHandler, HandlerDef, Start};
use crate::error::Error;
use crate::hooks::{run_all, run_ctx, CallHooks, HookError, HookResult, RawMessage};
use crate::payload::Budget;
use crate::protocol::Shape;
use crate::validate::ValidateFn;

/// What the macro passes besides the handler: the name and the doc comment.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// The handler name.
    pub name: &'static str,
    /// The doc comment.
    pub doc: &'static str,
    /// The name is a contract's: whole, never prefixed by a module.
    pub absolute: bool,
}

/// The validation function for one request message, as the validation probe yields it.
pub type Validator<F, M> = Option<ValidateFn<<<F as HandlerFn<M>>::Claim as Claim>::Data>>;

/// A probe for the output of an `async fn` handler (see [`ReplyProbe`]).
pub fn reply_probe<F, M>(_: &F) -> ReplyProbe<<F::Output as Future>::Output>
where
    F: HandlerFn<M>,
    F::Output: Future,
{
    ReplyProbe::new()
}

/// A probe for the output of a plain `fn` handler.
pub fn blocking_probe<F: HandlerFn<M>, M>(_: &F) -> ReplyProbe<F::Output> {
    ReplyProbe::new()
}

/// A validation probe for the handler's request message type.
pub fn input_probe<F: HandlerFn<M>, M>(
    _: &F,
) -> crate::validate::probe::Probe<<F::Claim as Claim>::Data> {
    crate::validate::probe::Probe::new()
}

fn def<F: HandlerFn<M>, M>(
    meta: Meta,
    response: crate::introspect::TypeInfo,
    response_streams: bool,
    handler: Arc<dyn ErasedHandler>,
) -> HandlerDef {
    let mut needs = Vec::new();
    F::needs(&mut needs);
    HandlerDef {
        name: Cow::Borrowed(meta.name),
        absolute: meta.absolute,
        doc: Cow::Borrowed(meta.doc.trim()),
        shape: Shape {
            request_streams: <F::Claim as Claim>::STREAMS,
            response_streams,
        },
        request: <F::Claim as Claim>::type_info(),
        response,
        needs,
        handler,
    }
}

/// Registers an `async fn` handler of any shape.
pub fn handler<F, M, K>(_kind: KindOf<K>, meta: Meta, validate: Validator<F, M>, f: F) -> HandlerDef
where
    F: HandlerFn<M>,
    F::Output: Future + Send + 'static,
    K: ReplyKind<<F::Output as Future>::Output>,
    M: 'static,
{
    let h = Async::<F, M, K> {
        f,
        validate,
        _p: PhantomData,
    };
    let response = crate::introspect::TypeInfo::of::<K::Item>();
    def::<F, M>(meta, response, K::STREAMS, Arc::new(h))
}

/// Registers a plain `fn` handler: single calls, run on the blocking pool.
pub fn blocking<F, M, K>(
    _kind: KindOf<K>,
    meta: Meta,
    validate: Validator<F, M>,
    f: F,
) -> HandlerDef
where
    F: HandlerFn<M>,
    F::Claim: SingleRequest,
    F::Output: 'static,
    K: SingleReply<F::Output>,
    M: 'static,
{
    let h = Blocking::<F, M, K> {
        f,
        validate,
        _p: PhantomData,
    };
    let response = crate::introspect::TypeInfo::of::<K::Item>();
    def::<F, M>(meta, response, false, Arc::new(h))
}

struct Async<F: HandlerFn<M>, M, K> {
    f: F,
    validate: Validator<F, M>,
    _p: PhantomData<fn() -> (M, K)>,
}

struct Blocking<F: HandlerFn<M>, M, K> {
    f: F,
    validate: Validator<F, M>,
    _p: PhantomData<fn() -> (M, K)>,
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

/// A single request up to its decoded message: request hooks, decode, validate,
/// `before_request_message`.
async fn prelude<D: serde::de::DeserializeOwned>(
    ctx: &CallContext,
    hooks: &CallHooks,
    pending: Pending<D>,
    budget: Budget,
) -> Result<D, HookError> {
    request_hooks(ctx, hooks).await?;
    let (data, raw) = match pending {
        Pending::Inline(payload, validate) => {
            let raw = payload.unwrap_or_else(|| Bytes::from_static(&[0xc0]));
            let data: D = super::decode_payload(&raw, budget)?;
            if let Some(validate) = validate {
                validate(&data)?;
            }
            (data, raw)
        }
        // A dropped sender: the runtime shut its blocking pool down.
        Pending::Pool(raw, rx) => (rx.await.unwrap_or_else(|_| Err(Error::internal()))?, raw),
    };
    if !hooks.before_request_message.is_empty() {
        run_all(&hooks.before_request_message, ctx, RawMessage(raw)).await?;
    }
    Ok(data)
}

/// A single request's payload on its way to the handler: decoded inline when the call runs,
/// or already handed to the blocking pool (large containers, see
/// [`Budget::offload`]), whose decoded and validated value arrives on the channel.
enum Pending<D> {
    Inline(Option<Bytes>, Option<ValidateFn<D>>),
    Pool(Bytes, futures_channel::oneshot::Receiver<Result<D, Error>>),
}

/// Decides where `payload` decodes; for the pool, the job the call body hands the driver
/// first (it runs while the request hooks run, and their error, if any, still comes first).
fn pending<D>(
    payload: Option<Bytes>,
    validate: Option<ValidateFn<D>>,
    budget: Budget,
) -> (Pending<D>, Option<BlockingJob>)
where
    D: serde::de::DeserializeOwned + Send + 'static,
{
    match payload {
        Some(raw) if budget.offload(&raw) => {
            let (tx, rx) = futures_channel::oneshot::channel();
            let job = decode_job(raw.clone(), validate, budget, tx);
            (Pending::Pool(raw, rx), Some(job))
        }
        payload => (Pending::Inline(payload, validate), None),
    }
}

/// The handler's output future as a source of results.
fn source<K, O>(
    fut: impl Future<Output = Result<O, HookError>> + Send + 'static,
) -> impl futures_util::Stream<Item = SrcItem<K::Item>> + Send + 'static
where
    K: ReplyKind<O>,
    O: 'static,
{
    fut.map(|r| r.and_then(|o| K::into_items(o).map_err(HookError::Fail)))
        .map_ok(|items| items.map(|r| r.map_err(HookError::Fail)))
        .try_flatten_stream()
        .map(SrcItem::Item)
}

impl<F, M, K> ErasedHandler for Async<F, M, K>
where
    F: HandlerFn<M>,
    F::Output: Future + Send + 'static,
    K: ReplyKind<<F::Output as Future>::Output>,
    M: 'static,
{
    fn start(&self, start: Start) -> Pin<Box<dyn CallBody>> {
        let Start {
            ctx,
            payload,
            hooks,
            max_queued_items,
            budget,
            queued,
        } = start;
        let f = self.f.clone();
        let validate = self.validate;
        let (c, h) = (ctx.clone(), hooks.clone());
        if <F::Claim as Claim>::STREAMS {
            let (pump, streaming) = InputPump::new(
                ctx.clone(),
                payload,
                hooks.clone(),
                validate,
                (max_queued_items, budget, queued),
            );
            let fut = async move {
                request_hooks(&c, &h).await?;
                let mut slot = Some(streaming);
                let fut = f.call(&c, &mut slot as &mut dyn Any)?;
                Ok(fut.await)
            };
            super::boxes::pin(Body::new(source::<K, _>(fut), pump, ctx, hooks, K::STREAMS))
        } else {
            let (pending, job) = pending(payload, validate, budget);
            let fut = async move {
                let data = prelude(&c, &h, pending, budget).await?;
                let mut slot = Some(data);
                let fut = f.call(&c, &mut slot as &mut dyn Any)?;
                Ok(fut.await)
            };
            let src = stream::iter(job.map(SrcItem::Job)).chain(source::<K, _>(fut));
            super::boxes::pin(Body::new(src, NoInput, ctx, hooks, K::STREAMS))
        }
    }
}

/// Where a blocking call is: decoding, waiting for the pool, or done.
enum Stage<F, D, T> {
    Start(F, Pending<D>),
    Wait(futures_channel::oneshot::Receiver<Result<T, Error>>),
    Done,
}

impl<F, M, K> ErasedHandler for Blocking<F, M, K>
where
    F: HandlerFn<M>,
    F::Claim: SingleRequest,
    F::Output: 'static,
    K: SingleReply<F::Output>,
    M: 'static,
{
    fn start(&self, start: Start) -> Pin<Box<dyn CallBody>> {
        let Start {
            ctx,
            payload,
            hooks,
            budget,
            ..
        } = start;
        let (pending, decode) = pending(payload, self.validate, budget);
        let first = Stage::<F, <F::Claim as Claim>::Data, K::Item>::Start(self.f.clone(), pending);
        let (c, h) = (ctx.clone(), hooks.clone());
        let src = stream::unfold(first, move |stage| {
            let (c, h) = (c.clone(), h.clone());
            async move {
                match stage {
                    Stage::Start(f, pending) => {
                        let data = match prelude(&c, &h, pending, budget).await {
                            Ok(data) => data,
                            Err(e) => return Some((SrcItem::Item(Err(e)), Stage::Done)),
                        };
                        let (tx, rx) = futures_channel::oneshot::channel();
                        let job = job::<F, M, K>(f, c, data, tx);
                        Some((SrcItem::Job(job), Stage::Wait(rx)))
                    }
                    Stage::Wait(rx) => {
                        // A dropped sender: the runtime shut its blocking pool down.
                        let out = rx.await.unwrap_or_else(|_| Err(Error::internal()));
                        Some((SrcItem::Item(out.map_err(HookError::Fail)), Stage::Done))
                    }
                    Stage::Done => None,
                }
            }
        });
        let src = stream::iter(decode.map(SrcItem::Job)).chain(src);
        super::boxes::pin(Body::new(src, NoInput, ctx, hooks, false))
    }
}

/// The work a blocking call hands to the driver's pool, and how its result comes back.
fn job<F, M, K>(
    f: F,
    ctx: CallContext,
    data: <F::Claim as Claim>::Data,
    tx: futures_channel::oneshot::Sender<Result<K::Item, Error>>,
) -> BlockingJob
where
    F: HandlerFn<M>,
    F::Output: 'static,
    K: SingleReply<F::Output>,
{
    BlockingJob {
        run: Box::new(move || -> BlockingOutput {
            let mut slot = Some(data);
            let out = f.call(&ctx, &mut slot as &mut dyn Any)?;
            K::into_result(out).map(|item| Box::new(item) as Box<dyn Any + Send>)
        }),
        deliver: Box::new(move |out: BlockingOutput| {
            let out = out.and_then(|any| {
                any.downcast::<K::Item>()
                    .map(|item| *item)
                    .map_err(|_| Error::internal())
            });
            let _ = tx.send(out);
        }),
    }
}

/// The claim of no argument yet; the expansion folds each argument into it with
/// [`ClaimProbe::then`].
pub fn no_claim() -> ClaimProbe<super::func::Part> {
    ClaimProbe(PhantomData)
}

/// The claims of a handler's arguments so far, as a value.
pub struct ClaimProbe<C>(PhantomData<fn() -> C>);

impl<C> ClaimProbe<C> {
    /// Folds in the next argument, `A`: resolving it checks that `A` is an extractor, and a
    /// second payload argument fails here, on that argument's type.
    pub fn then<M, A>(self) -> ClaimProbe<C::Out>
    where
        A: super::func::Arg<M>,
        C: super::func::Merge<A::Claim>,
    {
        ClaimProbe(PhantomData)
    }
}

impl<C> std::fmt::Debug for ClaimProbe<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClaimProbe<{}>", std::any::type_name::<C>())
    }
}
