//! What a handler returns, resolved by traits: one [`ReplyKind`] per response shape.
//!
//! A return type can fit more than one kind (`Result<T, Error>` is itself `Serialize`, a
//! named stream type might be too), so the kind is chosen in a fixed order by
//! autoref-specialization on a [`ReplyProbe`] in the macro expansion, where the type is
//! concrete: a `Result` of a stream, then a stream, then a `Result`, then any value. Each tier
//! is a trait whose method is found at a different auto-reference depth; the first tier whose
//! bounds hold wins.
//!
//! Everything here is `pub` only because macro expansions reach it through `__private`.

use std::marker::PhantomData;

use futures_util::future::{ready, Ready};
use futures_util::stream::{self, Map, Once, Stream, StreamExt};
use schemars::JsonSchema;
use serde::Serialize;

use crate::error::Error;

/// How a handler's output `O` becomes a stream of results.
#[diagnostic::on_unimplemented(
    message = "`{O}` cannot be returned by a swill handler",
    label = "not a swill reply",
    note = "return `Result<T, E>` or `T` (T: Serialize + JsonSchema, E: Into<swill::Error>), or a `Stream` of those (optionally inside a `Result`)"
)]
pub trait ReplyKind<O>: Send + Sync + 'static {
    /// The success type of each result.
    type Item: Serialize + JsonSchema + Send + 'static;
    /// Whether the response streams.
    const STREAMS: bool;
    /// The results.
    type Items: Stream<Item = Result<Self::Item, Error>> + Send + 'static;
    /// Converts the output; an `Err` fails the call before any result.
    ///
    /// # Errors
    /// The outer error of a `Result<impl Stream, E>`.
    fn into_items(o: O) -> Result<Self::Items, Error>;
}

/// The kinds a plain (blocking) function may return: single responses only.
#[diagnostic::on_unimplemented(
    message = "plain (non-async) swill handlers serve single calls only",
    note = "make streaming handlers `async fn`"
)]
pub trait SingleReply<O>: ReplyKind<O> {
    /// The one result.
    ///
    /// # Errors
    /// The handler's error.
    fn into_result(o: O) -> Result<Self::Item, Error>;
}

/// `Result<T, E>`: one result or an ERROR.
#[derive(Debug)]
pub enum Fallible {}
/// Any other `T`: one result.
#[derive(Debug)]
pub enum Plain {}
/// A stream of `Result<T, E>`.
#[derive(Debug)]
pub enum StreamOfResults {}
/// A stream of plain `T`.
#[derive(Debug)]
pub enum StreamOfItems {}
/// `Result<S, E>` where `S` streams `Result<T, E2>`.
#[derive(Debug)]
pub enum TryStreamOfResults {}
/// `Result<S, E>` where `S` streams plain `T`.
#[derive(Debug)]
pub enum TryStreamOfItems {}

impl<T, E> SingleReply<Result<T, E>> for Fallible
where
    T: Serialize + JsonSchema + Send + 'static,
    E: Into<Error> + 'static,
{
    fn into_result(o: Result<T, E>) -> Result<T, Error> {
        o.map_err(Into::into)
    }
}

impl<T> SingleReply<T> for Plain
where
    T: Serialize + JsonSchema + Send + 'static,
{
    fn into_result(o: T) -> Result<T, Error> {
        Ok(o)
    }
}

type One<T> = Once<Ready<Result<T, Error>>>;
type ResultsOf<S, T, E> = Map<S, fn(Result<T, E>) -> Result<T, Error>>;
type ItemsOf<S, T> = Map<S, fn(T) -> Result<T, Error>>;

impl<T, E> ReplyKind<Result<T, E>> for Fallible
where
    T: Serialize + JsonSchema + Send + 'static,
    E: Into<Error> + 'static,
{
    type Item = T;
    const STREAMS: bool = false;
    type Items = One<T>;
    fn into_items(o: Result<T, E>) -> Result<One<T>, Error> {
        Ok(stream::once(ready(o.map_err(Into::into))))
    }
}

impl<T> ReplyKind<T> for Plain
where
    T: Serialize + JsonSchema + Send + 'static,
{
    type Item = T;
    const STREAMS: bool = false;
    type Items = One<T>;
    fn into_items(o: T) -> Result<One<T>, Error> {
        Ok(stream::once(ready(Ok(o))))
    }
}

fn convert_result<T, E: Into<Error>>(r: Result<T, E>) -> Result<T, Error> {
    r.map_err(Into::into)
}

impl<S, T, E> ReplyKind<S> for StreamOfResults
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Serialize + JsonSchema + Send + 'static,
    E: Into<Error> + 'static,
{
    type Item = T;
    const STREAMS: bool = true;
    type Items = ResultsOf<S, T, E>;
    fn into_items(o: S) -> Result<Self::Items, Error> {
        Ok(o.map(convert_result::<T, E> as fn(_) -> _))
    }
}

impl<S> ReplyKind<S> for StreamOfItems
where
    S: Stream + Send + 'static,
    S::Item: Serialize + JsonSchema + Send + 'static,
{
    type Item = S::Item;
    const STREAMS: bool = true;
    type Items = ItemsOf<S, S::Item>;
    fn into_items(o: S) -> Result<Self::Items, Error> {
        Ok(o.map(Ok as fn(_) -> _))
    }
}

impl<S, E0, T, E> ReplyKind<Result<S, E0>> for TryStreamOfResults
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Serialize + JsonSchema + Send + 'static,
    E: Into<Error> + 'static,
    E0: Into<Error> + 'static,
{
    type Item = T;
    const STREAMS: bool = true;
    type Items = ResultsOf<S, T, E>;
    fn into_items(o: Result<S, E0>) -> Result<Self::Items, Error> {
        StreamOfResults::into_items(o.map_err(Into::into)?)
    }
}

impl<S, E0> ReplyKind<Result<S, E0>> for TryStreamOfItems
where
    S: Stream + Send + 'static,
    S::Item: Serialize + JsonSchema + Send + 'static,
    E0: Into<Error> + 'static,
{
    type Item = S::Item;
    const STREAMS: bool = true;
    type Items = ItemsOf<S, S::Item>;
    fn into_items(o: Result<S, E0>) -> Result<Self::Items, Error> {
        StreamOfItems::into_items(o.map_err(Into::into)?)
    }
}

/// The kind chosen for a return type (a value-level carrier for the marker).
pub struct KindOf<K>(PhantomData<fn() -> K>);

impl<K> std::fmt::Debug for KindOf<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KindOf<{}>", std::any::type_name::<K>())
    }
}

const fn kind<K>() -> KindOf<K> {
    KindOf(PhantomData)
}

/// Autoref-specialization probe for a handler's output type `O`: call
/// `(&&&&&&probe).reply_kind()` with the six tier traits in scope.
pub struct ReplyProbe<O>(PhantomData<fn() -> O>);

impl<O> ReplyProbe<O> {
    pub(crate) const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<O> std::fmt::Debug for ReplyProbe<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReplyProbe<{}>", std::any::type_name::<O>())
    }
}

/// Tier 1: `Result<impl Stream<Item = Result<T, E>>, E0>`.
pub trait ReplyTier1 {
    /// The chosen kind.
    fn reply_kind(&self) -> KindOf<TryStreamOfResults> {
        kind()
    }
}
impl<S, E0, T, E> ReplyTier1 for &&&&&ReplyProbe<Result<S, E0>>
where
    S: Stream<Item = Result<T, E>>,
    E: Into<Error>,
    E0: Into<Error>,
{
}

/// Tier 2: `Result<impl Stream<Item = T>, E0>`.
pub trait ReplyTier2 {
    /// The chosen kind.
    fn reply_kind(&self) -> KindOf<TryStreamOfItems> {
        kind()
    }
}
impl<S: Stream, E0: Into<Error>> ReplyTier2 for &&&&ReplyProbe<Result<S, E0>> {}

/// Tier 3: `impl Stream<Item = Result<T, E>>`.
pub trait ReplyTier3 {
    /// The chosen kind.
    fn reply_kind(&self) -> KindOf<StreamOfResults> {
        kind()
    }
}
impl<S, T, E> ReplyTier3 for &&&ReplyProbe<S>
where
    S: Stream<Item = Result<T, E>>,
    E: Into<Error>,
{
}

/// Tier 4: `impl Stream<Item = T>`.
pub trait ReplyTier4 {
    /// The chosen kind.
    fn reply_kind(&self) -> KindOf<StreamOfItems> {
        kind()
    }
}
impl<S: Stream> ReplyTier4 for &&ReplyProbe<S> {}

/// Tier 5: `Result<T, E>`.
pub trait ReplyTier5 {
    /// The chosen kind.
    fn reply_kind(&self) -> KindOf<Fallible> {
        kind()
    }
}
impl<T, E: Into<Error>> ReplyTier5 for &ReplyProbe<Result<T, E>> {}

/// Tier 6: anything else.
pub trait ReplyTier6 {
    /// The chosen kind.
    fn reply_kind(&self) -> KindOf<Plain> {
        kind()
    }
}
impl<T> ReplyTier6 for ReplyProbe<T> {}
