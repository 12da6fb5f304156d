//! The compile-time check of a handler against its [`Rpc`] contract
//! (`#[swill::handler(contract = path)]`): the request the handler takes, the response it
//! gives and both sides' streaming must be the contract's.
//!
//! Everything here is `pub` only because macro expansions reach it through `__private`.

use std::future::Future;

use super::func::{HandlerFn, Part, Single, SingleRequest, StreamOf};
use super::reply::{
    Fallible, KindOf, Plain, ReplyKind, SingleReply, StreamOfItems, StreamOfResults,
    TryStreamOfItems, TryStreamOfResults,
};
use crate::contract::{Kind, No, Rpc, Yes};

/// A handler's request side (`Self`, the fold of its arguments) fits the contract's request
/// type `R`, streamed (`S` = [`Yes`]) or not.
#[diagnostic::on_unimplemented(
    message = "this handler's request does not match its contract: the contract says `{R}` (streamed: `{S}`)",
    label = "the handler's request side",
    note = "take `Request<{R}>` for a single request, `Streaming<{R}>` for a request stream, or no payload argument when the contract's request is `()`"
)]
pub trait RequestFits<R, S> {}

impl RequestFits<(), No> for Part {}
impl<T> RequestFits<T, No> for Single<T> {}
impl<T> RequestFits<T, Yes> for StreamOf<T> {}

/// A handler's response item type (`Self`) is the contract's response type `R`.
#[diagnostic::on_unimplemented(
    message = "this handler's response does not match its contract: it answers `{Self}`, the contract says `{R}`",
    label = "the handler's response type"
)]
pub trait ResponseIs<R> {}

impl<T> ResponseIs<T> for T {}

/// Whether a reply kind streams, as a type ([`Yes`] or [`No`]).
#[diagnostic::on_unimplemented(
    message = "this handler's response shape does not match its contract (streamed: `{S}`)",
    label = "the handler's response",
    note = "a streaming response is a `Stream` (or a `Result` of one); a single response is a value or a `Result`"
)]
pub trait ReplyStreams<S> {}

impl ReplyStreams<No> for Fallible {}
impl ReplyStreams<No> for Plain {}
impl ReplyStreams<Yes> for StreamOfResults {}
impl ReplyStreams<Yes> for StreamOfItems {}
impl ReplyStreams<Yes> for TryStreamOfResults {}
impl ReplyStreams<Yes> for TryStreamOfItems {}

type ReqStreams<C> = <<C as Rpc>::Kind as Kind>::RequestStreams;
type RespStreams<C> = <<C as Rpc>::Kind as Kind>::ResponseStreams;

/// Checks an `async fn` handler `F` (reply kind `K`) against the contract `C`. Compiles to
/// nothing; a mismatch is a compile error naming what differs.
pub fn check_contract<C, F, M, K>(_kind: &KindOf<K>, _f: &F)
where
    C: Rpc,
    F: HandlerFn<M>,
    F::Output: Future,
    F::Claim: RequestFits<C::Request, ReqStreams<C>>,
    K: ReplyKind<<F::Output as Future>::Output> + ReplyStreams<RespStreams<C>>,
    K::Item: ResponseIs<C::Response>,
{
}

/// Checks a plain `fn` handler against the contract `C`, as [`check_contract`] does.
pub fn check_contract_blocking<C, F, M, K>(_kind: &KindOf<K>, _f: &F)
where
    C: Rpc,
    F: HandlerFn<M>,
    F::Claim: SingleRequest + RequestFits<C::Request, ReqStreams<C>>,
    K: SingleReply<F::Output> + ReplyStreams<RespStreams<C>>,
    K::Item: ResponseIs<C::Response>,
{
}
