//! What a handler is, independent of any runtime.
//!
//! A handler is a plain function, usually `async`, marked with `#[swill::handler]`. Its
//! signature decides the call shape (swill/1 §7.4):
//!
//! | request | response | signature |
//! |---|---|---|
//! | single | single | `async fn f(req: Request<T>) -> Result<U, Error>` |
//! | single | stream | `async fn f(req: Request<T>) -> impl Stream<Item = Result<U, Error>>` |
//! | stream | single | `async fn f(items: Streaming<T>) -> Result<U, Error>` |
//! | stream | stream | `async fn f(items: Streaming<T>) -> impl Stream<Item = Result<U, Error>>` |
//!
//! Besides the payload a handler may take any [`FromCall`] extractor: [`State`],
//! [`Extension`], [`Connection`], [`CallContext`], [`Metadata`] and the [`Response`] handle.
//! A handler without a `Request` or `Streaming` argument ignores the request data. A plain
//! (non-async) function is a single-request, single-response handler that runs on the
//! blocking thread pool.
//!
//! The attribute only collects the name, doc comment and shape; the adapters in this module do
//! the work: decoding (400 with the decoder's message), validation (422), hooks, and turning
//! the handler's output into frames.

mod context;
mod extract;
mod request;
pub(crate) mod shape;
mod value;

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::metadata::Metadata;
pub(crate) use context::{cookie, StateMap};
pub use context::{CallContext, Connection};
pub use extract::{CallParts, Extension, FromCall, State};
pub use request::{Request, Response, Streaming};
pub use shape::{CallFn, Fallible, OutputShape, Plain, ReplyKind, Streams};
pub use value::Value;

use crate::hooks::HookError;
use crate::introspect::{HandlerInfo, TypeInfo};
use crate::protocol::Shape;
use crate::Error;

/// A blocking handler's result before it is handed back to its call.
pub(crate) type BlockingOutput = Result<Box<dyn std::any::Any + Send>, Error>;

/// Work a blocking handler hands to the driver's thread pool: the driver runs `run` (catching
/// a panic and turning it into the 500 it reports), then passes the outcome to `deliver`,
/// which wakes the call.
pub(crate) struct BlockingJob {
    pub(crate) run: Box<dyn FnOnce() -> BlockingOutput + Send>,
    pub(crate) deliver: Box<dyn FnOnce(BlockingOutput) + Send>,
}

/// What a call body reports when polled.
pub(crate) enum Step {
    /// Send the leading metadata now (eager METADATA frame).
    Metadata,
    /// A result is ready: the driver writes it with [`CallBody::write_item`].
    Item,
    /// The response stream ended: send END_OF_STREAM.
    Done,
    /// End the call with an ERROR, or close the connection.
    Failed(HookError),
    /// Run this job on the blocking pool, then poll again.
    Blocking(BlockingJob),
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Metadata => f.write_str("Metadata"),
            Self::Item => f.write_str("Item"),
            Self::Done => f.write_str("Done"),
            Self::Failed(e) => write!(f, "Failed({e})"),
            Self::Blocking(_) => f.write_str("Blocking"),
        }
    }
}

/// A running call, type-erased: the driver polls it for [`Step`]s.
pub(crate) trait CallBody: Send {
    fn poll_step(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Step>;
    /// Appends the pending result's MessagePack bytes to `out` (zero copy into the frame).
    fn write_item(self: Pin<&mut Self>, out: &mut Vec<u8>) -> Result<(), Error>;
}

/// A handler with its types erased: starts call bodies.
pub(crate) trait ErasedHandler: Send + Sync {
    fn start(&self, start: shape::Start) -> Pin<Box<dyn CallBody>>;
}

/// A registered handler: name, doc, shape, schemas and the erased function.
///
/// Built by `#[swill::handler]` (through `IntoHandler`); you rarely touch it directly.
#[derive(Clone)]
pub struct HandlerDef {
    pub(crate) name: Cow<'static, str>,
    pub(crate) doc: Cow<'static, str>,
    pub(crate) shape: Shape,
    pub(crate) request: TypeInfo,
    pub(crate) response: TypeInfo,
    pub(crate) handler: Arc<dyn ErasedHandler>,
}

impl HandlerDef {
    /// The handler's name (without any module prefix).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The doc comment.
    pub fn doc(&self) -> &str {
        &self.doc
    }

    /// Whether the request side streams.
    pub fn request_streams(&self) -> bool {
        self.shape.request_streams
    }

    /// Whether the response side streams.
    pub fn response_streams(&self) -> bool {
        self.shape.response_streams
    }

    /// Renames the handler (e.g. to nest it under a prefix).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    pub(crate) fn info(&self) -> HandlerInfo {
        HandlerInfo {
            name: self.name.to_string(),
            doc: self.doc.to_string(),
            shape_request_streams: self.shape.request_streams,
            shape_response_streams: self.shape.response_streams,
            request: self.request,
            response: self.response,
        }
    }
}

impl fmt::Debug for HandlerDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerDef")
            .field("name", &self.name)
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

/// Something that registers as a handler: what `#[swill::handler]` generates.
pub trait IntoHandler {
    /// The handler definition.
    fn into_handler(self) -> HandlerDef;
}

impl IntoHandler for HandlerDef {
    fn into_handler(self) -> HandlerDef {
        self
    }
}

/// Decodes a payload into `T` (structs only from maps, within the app's decode budget); see
/// [`crate::payload::decode`] for the errors (400, or 413 past the budget).
pub(crate) fn decode_payload<T: DeserializeOwned>(
    raw: &[u8],
    ctx: &CallContext,
) -> Result<T, Error> {
    let budget = ctx
        .connection()
        .state::<crate::payload::Budget>()
        .unwrap_or_default();
    crate::payload::decode(raw, budget)
}

/// Encodes a result: structs as maps with field names (what msgspec and TypeScript expect),
/// byte sequences (`Vec<u8>`, `&[u8]`, `bytes::Bytes`) as MessagePack `bin`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), Error> {
    let mut ser = rmp_serde::Serializer::new(out)
        .with_struct_map()
        .with_bytes(rmp_serde::config::BytesMode::ForceIterables);
    value.serialize(&mut ser).map_err(|e| {
        tracing::error!(error = %e, "a handler's result cannot be encoded");
        Error::internal()
    })
}

pub(crate) fn encode_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    encode_into(&mut out, value)?;
    Ok(out)
}

pub(crate) use shape::Start;

/// Request input that is read and ignored (handlers without a `Request` argument).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ignored;

impl<'de> serde::Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Self)
    }
}

/// Metadata the macro passes to the adapters.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The handler name.
    pub name: &'static str,
    /// The doc comment.
    pub doc: &'static str,
    /// The request type's description (`TypeInfo::none()` when the handler takes no payload).
    pub request: TypeInfo,
}

fn def(
    meta: Meta,
    shape: Shape,
    response: TypeInfo,
    handler: Arc<dyn ErasedHandler>,
) -> HandlerDef {
    HandlerDef {
        name: Cow::Borrowed(meta.name),
        doc: Cow::Borrowed(meta.doc.trim()),
        shape,
        request: meta.request,
        response,
        handler,
    }
}

pub(crate) mod adapters {
    //! The registration functions `#[swill::handler]` expansions call (via `__private`).
    use std::marker::PhantomData;

    use futures_util::Stream;
    use schemars::JsonSchema;

    use super::shape::{Blocking, ServerStream, StreamIn, Unary};
    use super::*;
    use crate::validate::ValidateFn;

    /// Single request, single response.
    pub fn unary<R, K, Args, F, Fut>(
        meta: Meta,
        validate: Option<ValidateFn<R>>,
        f: F,
    ) -> HandlerDef
    where
        R: DeserializeOwned + Send + 'static,
        F: CallFn<R, Args, Output = Fut>,
        Fut: std::future::Future + Send + 'static,
        K: ReplyKind<Fut::Output>,
        K::Item: Serialize + JsonSchema + Send + 'static,
        Args: 'static,
    {
        let h = Unary::<R, K, Args, F> {
            f,
            validate,
            _p: PhantomData,
        };
        def(
            meta,
            Shape::default(),
            TypeInfo::of::<K::Item>(),
            Arc::new(h),
        )
    }

    /// Single request, single response, on the blocking pool (plain `fn`).
    pub fn blocking<R, K, Args, F, O>(
        meta: Meta,
        validate: Option<ValidateFn<R>>,
        f: F,
    ) -> HandlerDef
    where
        R: DeserializeOwned + Send + 'static,
        F: CallFn<R, Args, Output = O>,
        O: 'static,
        K: ReplyKind<O>,
        K::Item: Serialize + JsonSchema + Send + 'static,
        Args: 'static,
    {
        let h = Blocking::<R, K, Args, F> {
            f,
            validate,
            _p: PhantomData,
        };
        def(
            meta,
            Shape::default(),
            TypeInfo::of::<K::Item>(),
            Arc::new(h),
        )
    }

    /// Single request, streaming response.
    pub fn server_streaming<R, KO, KI, Args, F, Fut, S>(
        meta: Meta,
        validate: Option<ValidateFn<R>>,
        f: F,
    ) -> HandlerDef
    where
        R: DeserializeOwned + Send + 'static,
        F: CallFn<R, Args, Output = Fut>,
        Fut: std::future::Future + Send + 'static,
        KO: ReplyKind<Fut::Output, Item = S>,
        S: Stream + Send + 'static,
        KI: ReplyKind<S::Item>,
        KI::Item: Serialize + JsonSchema + Send + 'static,
        Args: 'static,
    {
        let h = ServerStream::<R, (KO, KI), Args, F> {
            f,
            validate,
            _p: PhantomData,
        };
        let shape = Shape {
            request_streams: false,
            response_streams: true,
        };
        def(meta, shape, TypeInfo::of::<KI::Item>(), Arc::new(h))
    }

    /// Streaming request, single response.
    pub fn client_streaming<T, K, Args, F, Fut>(
        meta: Meta,
        validate: Option<ValidateFn<T>>,
        f: F,
    ) -> HandlerDef
    where
        T: DeserializeOwned + Send + Unpin + 'static,
        F: CallFn<Streaming<T>, Args, Output = Fut>,
        Fut: std::future::Future + Send + 'static,
        K: ReplyKind<Fut::Output> + OutputShape<Fut::Output, ()>,
        K::Item: Serialize + JsonSchema + Send + 'static,
        Args: 'static,
    {
        let h = StreamIn::<T, K, (), Args, F> {
            f,
            validate,
            _p: PhantomData,
        };
        let shape = Shape {
            request_streams: true,
            response_streams: false,
        };
        def(meta, shape, TypeInfo::of::<K::Item>(), Arc::new(h))
    }

    /// Streaming request, streaming response.
    pub fn bidi<T, KO, KI, Args, F, Fut, S>(
        meta: Meta,
        validate: Option<ValidateFn<T>>,
        f: F,
    ) -> HandlerDef
    where
        T: DeserializeOwned + Send + Unpin + 'static,
        F: CallFn<Streaming<T>, Args, Output = Fut>,
        Fut: std::future::Future + Send + 'static,
        KO: ReplyKind<Fut::Output, Item = S>,
        S: Stream + Send + 'static,
        KI: ReplyKind<S::Item>,
        KI::Item: Serialize + JsonSchema + Send + 'static,
        Args: 'static,
    {
        let h = StreamIn::<T, Streams<KO>, KI, Args, F> {
            f,
            validate,
            _p: PhantomData,
        };
        let shape = Shape {
            request_streams: true,
            response_streams: true,
        };
        def(meta, shape, TypeInfo::of::<KI::Item>(), Arc::new(h))
    }
}
