//! Typed rpc contracts: an rpc's name, call shape, request type and response type, declared
//! once and checked at compile time on both sides.
//!
//! A contract is a unit value declared with [`contract!`](crate::contract!) in a module (or a
//! crate) that the server and its Rust clients share. The server's handler names it
//! (`#[swill::handler(contract = api::add)]`): the handler then serves the contract's rpc
//! name, and its request type, response type and shape must be the contract's, or the
//! server does not compile. The client calls through it (`client.to(api::add).call(&req)`,
//! feature `client`): no string names, and the request, the response and the shape are
//! checked by the compiler against the same declaration.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, schemars::JsonSchema)]
//! pub struct NewTodo {
//!     pub title: String,
//! }
//!
//! #[derive(Serialize, Deserialize, schemars::JsonSchema)]
//! pub struct Todo {
//!     pub id: u64,
//!     pub title: String,
//! }
//!
//! swill::contract! {
//!     /// Adds a todo and returns it with its id.
//!     pub unary add = "todo.add": NewTodo => Todo;
//!     /// Every todo added from now on.
//!     pub server_stream watch = "todo.watch": () => Todo;
//!     /// Adds every todo sent; answers how many were added.
//!     pub client_stream import = "todo.import": NewTodo => u64;
//!     /// Echoes each todo back as it is stored.
//!     pub bidi sync = "todo.sync": NewTodo => Todo;
//! }
//!
//! use swill::contract::Rpc;
//! assert_eq!(add::NAME, "todo.add");
//! assert_eq!(<watch as Rpc>::SHAPE, swill::protocol::Shape::SERVER_STREAMING);
//! ```
//!
//! A request type of `()` means the rpc takes no request data: the handler may take no
//! `Request<T>` argument at all, or `Request<()>`.
//!
//! Contracts carry no code: a crate of contracts and payload types needs `swill` (for the
//! trait) and `serde` only, so a client can depend on it without the server's handlers.

use crate::protocol::Shape;

/// An rpc's contract: its name, shape, request and response types. Declared with
/// [`contract!`](crate::contract!); implemented by unit values.
pub trait Rpc: Copy + Send + Sync + 'static {
    /// The rpc name, as it travels in the call's opening frame.
    const NAME: &'static str;
    /// The call shape.
    const SHAPE: Shape;
    /// The request type: the single request, or each item of a request stream. `()` for an
    /// rpc without request data.
    type Request;
    /// The response type: the single response, or each item of a response stream.
    type Response;
    /// Which of the four shapes ([`Unary`], [`ServerStream`], [`ClientStream`], [`Bidi`]):
    /// the typed client's methods are chosen by it.
    type Kind: Kind;
}

/// One of the four call shapes, as a type.
pub trait Kind: Send + Sync + 'static {
    /// The shape.
    const SHAPE: Shape;
    /// Whether the request side streams ([`Yes`] or [`No`]).
    type RequestStreams;
    /// Whether the response side streams ([`Yes`] or [`No`]).
    type ResponseStreams;
}

/// Single request, single response.
#[derive(Debug, Clone, Copy)]
pub enum Unary {}
/// Single request, streaming response.
#[derive(Debug, Clone, Copy)]
pub enum ServerStream {}
/// Streaming request, single response.
#[derive(Debug, Clone, Copy)]
pub enum ClientStream {}
/// Streaming request, streaming response.
#[derive(Debug, Clone, Copy)]
pub enum Bidi {}

/// A side of a call streams.
#[derive(Debug, Clone, Copy)]
pub enum Yes {}
/// A side of a call does not stream.
#[derive(Debug, Clone, Copy)]
pub enum No {}

impl Kind for Unary {
    const SHAPE: Shape = Shape::UNARY;
    type RequestStreams = No;
    type ResponseStreams = No;
}
impl Kind for ServerStream {
    const SHAPE: Shape = Shape::SERVER_STREAMING;
    type RequestStreams = No;
    type ResponseStreams = Yes;
}
impl Kind for ClientStream {
    const SHAPE: Shape = Shape::CLIENT_STREAMING;
    type RequestStreams = Yes;
    type ResponseStreams = No;
}
impl Kind for Bidi {
    const SHAPE: Shape = Shape::BIDI;
    type RequestStreams = Yes;
    type ResponseStreams = Yes;
}

/// Declares rpc contracts: one unit value per rpc, implementing [`Rpc`].
///
/// Each line is `VIS SHAPE IDENT = "rpc.name": Request => Response;`, with doc comments and
/// attributes before it. `SHAPE` is one of `unary`, `server_stream`, `client_stream` and
/// `bidi`. See the [module documentation](mod@crate::contract) for an example.
#[macro_export]
macro_rules! contract {
    (@kind unary) => { $crate::contract::Unary };
    (@kind server_stream) => { $crate::contract::ServerStream };
    (@kind client_stream) => { $crate::contract::ClientStream };
    (@kind bidi) => { $crate::contract::Bidi };
    // An unknown shape is reported once, by `@check`; `@kind` then falls back to a valid
    // kind so that no second error follows from it.
    (@kind $other:ident) => { $crate::contract::Unary };
    (@check unary) => {};
    (@check server_stream) => {};
    (@check client_stream) => {};
    (@check bidi) => {};
    (@check $other:ident) => {
        ::core::compile_error!(::core::concat!(
            "unknown call shape `",
            ::core::stringify!($other),
            "`: expected `unary`, `server_stream`, `client_stream` or `bidi`"
        ));
    };

    ($(
        $(#[$attr:meta])*
        $vis:vis $shape:ident $ident:ident = $name:literal : $req:ty => $resp:ty;
    )*) => {$(
        $crate::contract!(@check $shape);

        $(#[$attr])*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $ident;

        impl $ident {
            /// The rpc name.
            #[allow(dead_code)]
            $vis const NAME: &'static str = $name;
        }

        impl $crate::contract::Rpc for $ident {
            const NAME: &'static str = $name;
            const SHAPE: $crate::protocol::Shape =
                <<Self as $crate::contract::Rpc>::Kind as $crate::contract::Kind>::SHAPE;
            type Request = $req;
            type Response = $resp;
            type Kind = $crate::contract!(@kind $shape);
        }
    )*};
}
