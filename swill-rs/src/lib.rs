//! swill: RPC over WebSocket with MessagePack frames, speaking the swill/1 protocol.
//!
//! Handlers are plain async functions marked `#[swill::handler]`, routed by name over one
//! WebSocket whose binary frames are MessagePack envelopes (swill/1, byte-compatible with the
//! original Python Swill and its TypeScript client). All four call shapes, request metadata,
//! leading and trailing response metadata, cancellation, typed errors with codes, lifecycle
//! hooks, constraint validation, JSON-Schema introspection and an embedded docs page with a
//! live playground.
//!
//! # Example
//!
//! Serve two handlers on a free port and call them with the Rust client (feature `client`):
//!
//! ```
//! use futures::{Stream, StreamExt};
//! use swill::{client::Client, Error, Request, Swill};
//!
//! /// Adds two numbers.
//! #[swill::handler]
//! async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
//!     let (a, b) = req.into_data();
//!     Ok(a + b)
//! }
//!
//! /// Counts from 0 to n - 1.
//! #[swill::handler]
//! async fn count(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
//!     futures::stream::iter((0..*req.data()).map(Ok))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let app = Swill::new().handler(add).handler(count);
//! tokio::spawn(swill::serve(listener, app).into_future());
//!
//! let client = Client::connect(format!("ws://{addr}/ws")).await?;
//! let sum: i64 = client.call("add", &(2, 3)).await?;
//! assert_eq!(sum, 5);
//!
//! let numbers: Vec<u32> = client
//!     .stream::<u32>("count", &3)?
//!     .map(|n| n.unwrap())
//!     .collect()
//!     .await;
//! assert_eq!(numbers, [0, 1, 2]);
//! # Ok(())
//! # }
//! # use std::future::IntoFuture;
//! ```
//!
//! # Call shapes
//!
//! The signature decides the shape (see [`handler`](mod@handler) for the table): a
//! [`Request<T>`] or [`Streaming<T>`] argument for the request side, a value or an
//! `impl Stream<Item = Result<T, Error>>` for the response side. Besides the payload, handlers
//! take extractors: [`State`], [`Extension`], [`Connection`], [`CallContext`], [`Metadata`],
//! and the [`Response`] handle for leading/trailing metadata. A plain `fn` runs on the
//! blocking pool.
//!
//! # Errors
//!
//! Handlers return [`Error`] (`code`, `message`, optional `data`); it becomes the call's
//! ERROR frame. Payloads that do not decode get 400 with the decoder's message, constraint
//! failures ([`validator::Validate`] on the request type, detected automatically) get 422
//! with one entry per field path, a panic gets 500 for that call only (with the panic text in
//! `data` in [debug mode](Config::debug)).
//!
//! # Hooks, limits, mounting
//!
//! Lifecycle [`hooks`] run in swill/1's order; call hooks are one [`Hooks`] value installed
//! on the app or per [`Module`]. [`Config`] holds every limit (message size, concurrent calls,
//! pending output, queued items, connections in all and per address, timeouts) and the
//! admission rules (allowed origins, allowed and denied networks), each limit with a
//! `DEFAULT_*` constant. A duplicate handler name is a [`BuildError`] when the app is built. Serve with [`serve`], or mount with `Swill::into_route`
//! (an axum route), `Swill::into_router` (to nest) or `Swill::into_service` (a plain tower
//! service hyper can serve).
//!
//! # Real-time push
//!
//! [`pubsub::PubSub`] is a cloneable handle (use it as app state) that publishes typed
//! messages to topics from handlers, background tasks or axum routes; a handler returns a
//! [`pubsub::Subscription`] as its streaming response, confirmed to the client by leading
//! metadata before the first message. See [`pubsub`] for delivery semantics, slow
//! subscribers, authorization and pushes to one connection or user.
//!
//! # Introspection
//!
//! Every handler is described by name, shape, doc comment and the JSON Schemas of its types
//! ([`schemars::JsonSchema`] on payload types). The `swill.introspect` rpc streams the
//! descriptions, `GET /schema.json` serves them as one document, and `GET /docs` serves a
//! self-contained docs page with a live playground (feature `docs-page`).
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `server` | yes | the tokio/hyper/axum driver, [`serve`], `into_route`/`into_router`/`into_service` |
//! | `macros` | yes | `#[swill::handler]` |
//! | `docs-page` | yes | `GET /docs` with the playground (needs `server`) |
//! | `client` | no | the Rust client, `swill::client` |
//! | `redis` | no | the Redis pub/sub backend, `swill::pubsub::redis` (needs `server`) |
//! | `metrics` | no | server metrics through the `metrics` facade ([`observe`], needs `server`) |
//! | `tls` | no | `wss://` with rustls: `serve(..).tls(..)` and `server::TlsConfig` with `server`, `wss://` URLs and `ClientBuilder::tls_root_pem` with `client` |
//!
//! The `server` feature also brings [`pubsub`]: topics, publish from anywhere,
//! subscriptions as streaming responses, with the in-process backend.
//!
//! # Stability
//!
//! `__private` (what macro expansions call) is outside semver, as are error message wording
//! and the default limits. The wire format is swill/1 and does not change within it.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![doc(test(attr(deny(warnings))))]
// Without the server, the runtime-free layers that only the server drives (handler bodies,
// the frozen app) are built but never called: the protocol core is what that build is for.
#![cfg_attr(not(feature = "server"), allow(dead_code))]

#[allow(unused_extern_crates)]
extern crate self as swill;

mod context;
pub mod contract;
mod error;
pub mod handler;
pub mod hooks;
pub mod introspect;
mod metadata;
pub mod observe;
mod payload;
pub mod protocol;
pub mod validate;

#[doc(hidden)]
pub mod __private;

pub use error::{Code, Error, FieldError, FieldErrors, Result};
pub use handler::{
    CallContext, Connection, Extension, Metadata, Request, Response, ShuttingDown, State,
    Streaming, Value,
};
#[cfg(feature = "macros")]
pub use swill_macros::handler;

#[doc(no_inline)]
pub use http;
#[doc(no_inline)]
pub use rmpv;
/// The rustls crate (feature `tls`), for [`server::TlsConfig::from_rustls`] and
/// [`client::ClientBuilder::tls_config`].
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
#[doc(no_inline)]
pub use rustls;
/// The tokio-rustls crate (feature `tls`), whose acceptor [`server::TlsConfig::acceptor`]
/// returns.
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
#[doc(no_inline)]
pub use tokio_rustls;

mod app;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
#[cfg(feature = "server")]
pub use server::serve;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
#[cfg(feature = "docs-page")]
mod docs_page;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod pubsub;
pub use app::DEFAULT_ERROR_LOGS_PER_SECOND;
pub use app::{BuildError, Cidr, CidrError, Config, Hooks, Module, Swill};
pub use app::{
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_INPUT_BUDGET, DEFAULT_MAX_CALLS,
    DEFAULT_MAX_CONCURRENT_CALLS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP,
    DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_PENDING_OUTPUT, DEFAULT_MAX_QUEUED_ITEMS,
    DEFAULT_MESSAGE_TIMEOUT, DEFAULT_PING_INTERVAL, DEFAULT_QUEUED_INPUT_BUDGET,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use payload::{
    Encoded, EncodedError, DEFAULT_DECODE_BUDGET_RATIO, DEFAULT_MIN_DECODE_BUDGET,
    DEFAULT_OFFLOAD_DECODE_ABOVE, MAX_PAYLOAD_DEPTH,
};
