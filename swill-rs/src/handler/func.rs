//! How a plain function becomes a handler: its arguments, resolved by traits.
//!
//! Each argument type implements [`Arg`] with a marker that inference picks (as axum does for
//! its handlers): [`FromCall`] extractors, [`State`], [`Request<T>`] or [`Streaming<T>`]. Each
//! argument also says what it claims of the request ([`Claim`]): nothing ([`Part`]), the
//! single payload ([`Single<T>`]) or the request stream ([`StreamOf<T>`]). The claims of all
//! arguments fold into one ([`Claims`]), and two payload claims do not fold: that is the
//! compile error for a handler with two payload arguments.
//!
//! Everything here is `pub` only because macro expansions reach it through `__private`.

use std::any::{Any, TypeId};
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::extract::{FromCall, State};
use super::{CallContext, Request, Streaming};
use crate::error::Error;
use crate::introspect::TypeInfo;

/// Application state a handler takes, checked when the app is built.
#[derive(Clone, Copy, Debug)]
pub struct StateNeed {
    pub(crate) id: TypeId,
    pub(crate) name: &'static str,
}

/// Request input that is read and ignored (handlers without a `Request` argument).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ignored;

impl<'de> serde::Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Self)
    }
}

/// What the request side of a handler is: the fold of its arguments' claims.
pub trait Claim: 'static {
    /// What each request message decodes into (`Ignored` without a payload argument).
    type Data: DeserializeOwned + Send + 'static;
    /// Whether the request side streams.
    const STREAMS: bool;
    /// The request type's description for introspection.
    fn type_info() -> TypeInfo;
}

/// The argument claims nothing of the request.
#[derive(Debug)]
pub enum Part {}
/// The argument is the single request payload (`Request<T>`).
#[derive(Debug)]
pub struct Single<T>(PhantomData<fn() -> T>);
/// The argument is the request stream (`Streaming<T>`).
#[derive(Debug)]
pub struct StreamOf<T>(PhantomData<fn() -> T>);

impl Claim for Part {
    type Data = Ignored;
    const STREAMS: bool = false;
    fn type_info() -> TypeInfo {
        TypeInfo::none()
    }
}

impl<T: DeserializeOwned + JsonSchema + Send + 'static> Claim for Single<T> {
    type Data = T;
    const STREAMS: bool = false;
    fn type_info() -> TypeInfo {
        TypeInfo::of::<T>()
    }
}

impl<T: DeserializeOwned + JsonSchema + Send + 'static> Claim for StreamOf<T> {
    type Data = T;
    const STREAMS: bool = true;
    fn type_info() -> TypeInfo {
        TypeInfo::of::<T>()
    }
}

/// Two claims side by side: at most one of them may be a payload.
#[diagnostic::on_unimplemented(
    message = "a swill handler takes at most one `Request<T>` or `Streaming<T>` argument",
    label = "a second payload argument",
    note = "the request data arrives in exactly one argument; take the other values from `Metadata`, `State` or the connection"
)]
pub trait Merge<Other> {
    /// The combined claim.
    type Out;
}

impl<X> Merge<X> for Part {
    type Out = X;
}
impl<T> Merge<Part> for Single<T> {
    type Out = Self;
}
impl<T> Merge<Part> for StreamOf<T> {
    type Out = Self;
}

/// The claims of a tuple of arguments, folded into one.
pub trait Claims {
    /// The combined claim.
    type Out: Claim;
}

impl Claims for () {
    type Out = Part;
}

impl<C1: Claim> Claims for (C1,) {
    type Out = C1;
}

macro_rules! claims {
    ($head:ident $(, $tail:ident)+) => {
        impl<$head, $($tail,)+> Claims for ($head, $($tail,)+)
        where
            ($($tail,)+): Claims,
            $head: Merge<<($($tail,)+) as Claims>::Out>,
            <$head as Merge<<($($tail,)+) as Claims>::Out>>::Out: Claim,
        {
            type Out = <$head as Merge<<($($tail,)+) as Claims>::Out>>::Out;
        }
    };
}

claims!(C1, C2);
claims!(C1, C2, C3);
claims!(C1, C2, C3, C4);
claims!(C1, C2, C3, C4, C5);
claims!(C1, C2, C3, C4, C5, C6);
claims!(C1, C2, C3, C4, C5, C6, C7);
claims!(C1, C2, C3, C4, C5, C6, C7, C8);

/// A handler argument; `M` is a marker that inference picks.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a swill handler argument",
    label = "not an extractor",
    note = "handler arguments are Request<T>, Streaming<T>, State<S>, Extension<T>, Connection, CallContext, Metadata, Response, http::Request<()>, or a type implementing swill::handler::FromCall"
)]
pub trait Arg<M>: Sized {
    /// What the argument claims of the request.
    type Claim;
    /// Extracts the argument; `input` is the call's `Option` of the claimed payload.
    ///
    /// # Errors
    /// An error ends the call with that ERROR before the handler runs.
    fn extract(ctx: &CallContext, input: &mut dyn Any) -> Result<Self, Error>;
    /// Records the application state the argument needs.
    fn needs(_out: &mut Vec<StateNeed>) {}
}

/// Marker: a [`FromCall`] extractor.
#[derive(Debug)]
pub enum ViaFromCall {}
/// Marker: [`State<S>`].
#[derive(Debug)]
pub enum ViaState {}
/// Marker: [`Request<T>`].
#[derive(Debug)]
pub enum ViaRequest {}
/// Marker: [`Streaming<T>`].
#[derive(Debug)]
pub enum ViaStreaming {}

impl<T: FromCall> Arg<ViaFromCall> for T {
    type Claim = Part;
    fn extract(ctx: &CallContext, _: &mut dyn Any) -> Result<Self, Error> {
        T::from_call(ctx)
    }
}

impl<S: Clone + Send + Sync + 'static> Arg<ViaState> for State<S> {
    type Claim = Part;
    fn extract(ctx: &CallContext, _: &mut dyn Any) -> Result<Self, Error> {
        Self::from_context(ctx)
    }
    fn needs(out: &mut Vec<StateNeed>) {
        out.push(StateNeed {
            id: TypeId::of::<S>(),
            name: std::any::type_name::<S>(),
        });
    }
}

impl<T: 'static> Arg<ViaRequest> for Request<T> {
    type Claim = Single<T>;
    fn extract(ctx: &CallContext, input: &mut dyn Any) -> Result<Self, Error> {
        let data = input
            .downcast_mut::<Option<T>>()
            .and_then(Option::take)
            .ok_or_else(taken_twice)?;
        Ok(Self::new(data, ctx.clone()))
    }
}

impl<T: 'static> Arg<ViaStreaming> for Streaming<T> {
    type Claim = StreamOf<T>;
    fn extract(_: &CallContext, input: &mut dyn Any) -> Result<Self, Error> {
        input
            .downcast_mut::<Option<Self>>()
            .and_then(Option::take)
            .ok_or_else(taken_twice)
    }
}

#[cold]
fn taken_twice() -> Error {
    // Unreachable by construction: the claims fold admits one payload argument.
    tracing::error!("a handler's payload argument could not be extracted");
    Error::internal()
}

/// A function usable as a handler: its arguments are [`Arg`]s whose claims fold.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid swill handler",
    note = "every argument must be a swill extractor (see `swill::handler::FromCall`), with at most one `Request<T>` or `Streaming<T>`"
)]
pub trait HandlerFn<M>: Clone + Send + Sync + 'static {
    /// The request side.
    type Claim: Claim;
    /// What the function returns (a future for `async fn`s).
    type Output;
    /// Extracts the arguments and calls the function. `input` is `&mut Option<Data>` for
    /// single requests and `&mut Option<Streaming<Data>>` for streaming ones.
    ///
    /// # Errors
    /// When an extractor fails.
    fn call(&self, ctx: &CallContext, input: &mut dyn Any) -> Result<Self::Output, Error>;
    /// The application state the arguments need.
    fn needs(out: &mut Vec<StateNeed>);
}

macro_rules! handler_fn {
    ($(($M:ident, $A:ident)),*) => {
        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<F, O, $($M, $A,)*> HandlerFn<($($M,)* $($A,)*)> for F
        where
            F: Fn($($A),*) -> O + Clone + Send + Sync + 'static,
            $($A: Arg<$M>,)*
            ($(<$A as Arg<$M>>::Claim,)*): Claims,
        {
            type Claim = <($(<$A as Arg<$M>>::Claim,)*) as Claims>::Out;
            type Output = O;
            fn call(&self, ctx: &CallContext, input: &mut dyn Any) -> Result<O, Error> {
                $(let $A = <$A as Arg<$M>>::extract(ctx, input)?;)*
                Ok(self($($A),*))
            }
            fn needs(out: &mut Vec<StateNeed>) {
                $(<$A as Arg<$M>>::needs(out);)*
            }
        }
    };
}

handler_fn!();
handler_fn!((M1, A1));
handler_fn!((M1, A1), (M2, A2));
handler_fn!((M1, A1), (M2, A2), (M3, A3));
handler_fn!((M1, A1), (M2, A2), (M3, A3), (M4, A4));
handler_fn!((M1, A1), (M2, A2), (M3, A3), (M4, A4), (M5, A5));
handler_fn!((M1, A1), (M2, A2), (M3, A3), (M4, A4), (M5, A5), (M6, A6));
handler_fn!(
    (M1, A1),
    (M2, A2),
    (M3, A3),
    (M4, A4),
    (M5, A5),
    (M6, A6),
    (M7, A7)
);
handler_fn!(
    (M1, A1),
    (M2, A2),
    (M3, A3),
    (M4, A4),
    (M5, A5),
    (M6, A6),
    (M7, A7),
    (M8, A8)
);

/// The request sides a plain (blocking) function may have: no request stream.
#[diagnostic::on_unimplemented(
    message = "plain (non-async) swill handlers serve single calls only",
    note = "make handlers that take `Streaming<T>` `async fn`"
)]
pub trait SingleRequest {}

impl SingleRequest for Part {}
impl<T> SingleRequest for Single<T> {}
