//! What a handler is, independent of any runtime.
//!
//! A handler is a plain function, usually `async`, marked with `#[swill::handler]`. Its
//! signature decides the call shape (swill/1 §7.4), through trait resolution on the argument
//! and return types (not by reading type names):
//!
//! | request | response | signature |
//! |---|---|---|
//! | single | single | `async fn f(req: Request<T>) -> Result<U, Error>` |
//! | single | stream | `async fn f(req: Request<T>) -> impl Stream<Item = Result<U, Error>>` |
//! | stream | single | `async fn f(items: Streaming<T>) -> Result<U, Error>` |
//! | stream | stream | `async fn f(items: Streaming<T>) -> impl Stream<Item = Result<U, Error>>` |
//!
//! The request side is the one [`Request<T>`] or [`Streaming<T>`] argument, if any; every
//! other argument is a [`FromCall`] extractor: [`State`], [`Extension`], [`Connection`],
//! [`CallContext`], [`Metadata`], the [`Response`] handle, or `http::Request<()>` (the upgrade
//! request). A handler without a payload argument ignores the request data.
//!
//! The response side is whatever the function returns, tried in this order:
//!
//! 1. `Result<S, E>` where `S` is a [`Stream`](futures_util::Stream) (of `Result<U, E2>` or
//!    of plain `U`): a stream, or an ERROR before the first item;
//! 2. any `Stream` (`impl Stream`, `BoxStream`, `Pin<Box<dyn Stream>>`, a named stream type)
//!    of `Result<U, E>` or of plain `U`;
//! 3. `Result<U, E>` (also through a type alias): a single response or an ERROR;
//! 4. any other `U: Serialize`: a single response.
//!
//! `E` is anything that converts `Into<Error>`. A plain (non-async) function is a
//! single-request, single-response handler that runs on the blocking thread pool.
//!
//! The attribute only collects the name and the doc comment and makes one registration call;
//! the adapters in this module do the work: decoding (400 with the decoder's message),
//! validation (422), hooks, and turning the handler's output into steps for the driver.

mod body;
pub(crate) mod boxes;
pub(crate) mod contract;
mod extract;
pub(crate) mod func;
mod input;
mod offload;
pub(crate) mod register;
pub(crate) mod reply;
mod request;
mod value;

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::context::{CallContext, Connection, ShuttingDown};
pub use crate::metadata::Metadata;
pub use extract::{Extension, FromCall, State};
pub use input::Streaming;
pub use request::{Request, Response};
pub use value::Value;

pub(crate) use func::StateNeed;

use crate::error::Error;
use crate::hooks::{CallHooks, HookError};
use crate::introspect::{HandlerInfo, TypeInfo};
use crate::payload::byte_budget::ByteBudget;
use crate::protocol::Shape;

/// A blocking handler's result before it is handed back to its call.
pub(crate) type BlockingOutput = Result<Box<dyn std::any::Any + Send>, Error>;

/// Work a blocking handler hands to the driver's thread pool: the driver runs `run` (catching
/// a panic and turning it into the 500 it reports), then passes the outcome to `deliver`,
/// which wakes the call.
pub(crate) struct BlockingJob {
    pub(crate) run: Box<dyn FnOnce() -> BlockingOutput + Send>,
    pub(crate) deliver: Box<dyn FnOnce(BlockingOutput) + Send>,
}

/// What a call body reports when polled: every decision the driver needs, as a value.
///
/// Metadata travels as raw MessagePack maps; the driver hands it to the engine, which alone
/// knows whether leading metadata already went out and whether a frame ends the call.
pub(crate) enum Step {
    /// Send the leading metadata now, as a METADATA frame (`Response::send_leading`).
    Leading(Option<Bytes>),
    /// A result is ready: the driver writes it with [`CallBody::write_item`], with this
    /// leading metadata (first frame only) and trailing metadata (single response only).
    Item {
        leading: Option<Bytes>,
        trailing: Option<Bytes>,
    },
    /// The response stream ended: END_OF_STREAM with this metadata.
    Done {
        leading: Option<Bytes>,
        trailing: Option<Bytes>,
    },
    /// End the call with an ERROR, or close the connection.
    Failed(HookError),
    /// Run this job on the blocking pool; the body wakes itself when the job delivered.
    Blocking(BlockingJob),
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Leading(_) => f.write_str("Leading"),
            Self::Item { .. } => f.write_str("Item"),
            Self::Done { .. } => f.write_str("Done"),
            Self::Failed(e) => write!(f, "Failed({e})"),
            Self::Blocking(_) => f.write_str("Blocking"),
        }
    }
}

/// What the engine knows about the call, passed to every [`CallBody::poll_step`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallView {
    /// The call's first frame went out (so leading metadata can no longer be sent).
    pub(crate) leading_sent: bool,
}

/// The request backlog of a streaming-request call is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backlog {
    /// The call holds `max_queued_items` unread items.
    Items,
    /// The app's unread items hold its whole `queued_input_budget`.
    Bytes,
}

/// A running call, type-erased: the driver polls it for [`Step`]s.
pub(crate) trait CallBody: Send {
    /// The next step, or `Pending` (the body registered `cx`'s waker).
    fn poll_step(self: Pin<&mut Self>, cx: &mut Context<'_>, view: CallView) -> Poll<Step>;
    /// Appends the pending result's MessagePack bytes to `out` (zero copy into the frame).
    fn write_item(self: Pin<&mut Self>, out: &mut Vec<u8>) -> Result<(), Error>;
    /// A request-stream frame: `Some(data)` for an item, `None` for END_OF_STREAM. Ignored by
    /// single-request calls. The caller polls the body afterwards.
    ///
    /// # Errors
    /// [`Backlog`] when the call already holds its maximum of unread items.
    fn push_input(self: Pin<&mut Self>, item: Option<Bytes>) -> Result<(), Backlog>;
    /// Drops the body's contents in place, keeping its box for another body of the same
    /// type (see [`boxes`]); returns that type, or `None` when the box cannot be reused.
    fn clear(self: Pin<&mut Self>) -> Option<std::any::TypeId> {
        None
    }
    /// Puts the body in `next` (an `Option` of the box's own type) into this cleared box;
    /// `false` (and `next` untouched) when it is not of that type.
    fn refill(self: Pin<&mut Self>, next: &mut dyn std::any::Any) -> bool {
        let _ = next;
        false
    }
}

/// Everything a call body needs besides the handler.
pub(crate) struct Start {
    pub(crate) ctx: CallContext,
    /// Data of the opening MESSAGE (`None` when a METADATA frame opened the call).
    pub(crate) payload: Option<Bytes>,
    pub(crate) hooks: Arc<CallHooks>,
    /// Unread request items a streaming-request call may hold.
    pub(crate) max_queued_items: usize,
    /// The bytes of unread request items across the app (`Config::queued_input_budget`).
    pub(crate) queued: Arc<ByteBudget>,
    /// The decode budget of each request message.
    pub(crate) budget: crate::payload::Budget,
}

/// A handler with its types erased: starts call bodies.
pub(crate) trait ErasedHandler: Send + Sync {
    fn start(&self, start: Start) -> Pin<Box<dyn CallBody>>;
}

/// A registered handler: name, doc, shape, schemas and the erased function.
///
/// Built by `#[swill::handler]` (through [`IntoHandler`]); you rarely touch it directly.
#[derive(Clone)]
pub struct HandlerDef {
    pub(crate) name: Cow<'static, str>,
    /// Served under `name` exactly, inside modules too (a contract's rpc name).
    pub(crate) absolute: bool,
    pub(crate) doc: Cow<'static, str>,
    pub(crate) shape: Shape,
    pub(crate) request: TypeInfo,
    pub(crate) response: TypeInfo,
    pub(crate) needs: Vec<StateNeed>,
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

    /// The type names of the application state (`State<S>`) the handler takes.
    pub fn required_states(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.needs.iter().map(|n| n.name)
    }

    /// The state types the handler takes that `states` lacks.
    pub(crate) fn missing_states<'a>(
        &'a self,
        states: &'a crate::context::StateMap,
    ) -> impl Iterator<Item = &'static str> + 'a {
        self.needs
            .iter()
            .filter(|n| !states.contains(n.id))
            .map(|n| n.name)
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

/// Decodes a payload into `T`: structs only from maps, within the decode `budget`; see
/// [`crate::payload::decode`] for the errors (400, or 413 past the budget).
pub(crate) fn decode_payload<T: DeserializeOwned>(
    raw: &[u8],
    budget: crate::payload::Budget,
) -> Result<T, Error> {
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

/// Encodes a handler's result into its frame: an [`Encoded`](crate::Encoded) result's bytes
/// are copied verbatim (they were checked, or encoded by swill, when it was built); any other
/// type goes through [`encode_into`].
///
/// The choice is made per result type when the handler is registered (the `TypeId`
/// comparison is a constant in each monomorphized copy), so the other types pay nothing, and
/// `Encoded` needs no magic in the serializer: nested inside another type it serializes as
/// the value it holds.
#[inline]
pub(crate) fn encode_item<T: Serialize + 'static>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), Error> {
    if let Some(e) = (value as &dyn std::any::Any).downcast_ref::<crate::payload::Encoded>() {
        out.extend_from_slice(e.as_bytes());
        return Ok(());
    }
    encode_into(out, value)
}

/// A handler's result as its own bytes (for the output hooks): an `Encoded` result's bytes
/// shared as they are, any other type encoded once.
pub(crate) fn item_bytes<T: Serialize + 'static>(value: &T) -> Result<Bytes, Error> {
    if let Some(e) = (value as &dyn std::any::Any).downcast_ref::<crate::payload::Encoded>() {
        return Ok(e.bytes().clone());
    }
    encode_payload(value).map(Bytes::from)
}

pub(crate) fn encode_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    encode_into(&mut out, value)?;
    Ok(out)
}
