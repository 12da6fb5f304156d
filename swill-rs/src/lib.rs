//! swill: RPC over WebSocket with MessagePack frames, speaking the swill/1 protocol.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![doc(test(attr(deny(warnings))))]

#[allow(unused_extern_crates)]
extern crate self as swill;

mod error;
pub mod handler;
pub mod hooks;
pub mod introspect;
pub mod protocol;
pub mod validate;

#[doc(hidden)]
pub mod __private;

pub use error::{Code, Error, Result};
pub use handler::{
    CallContext, Connection, Extension, Metadata, Request, Response, State, Streaming, Value,
};
#[cfg(feature = "macros")]
pub use swill_macros::handler;

#[doc(no_inline)]
pub use rmpv;

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
pub use app::{Config, Module, Swill};
pub use app::{
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONCURRENT_CALLS,
    DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_PENDING_OUTPUT, DEFAULT_MAX_QUEUED_ITEMS,
    DEFAULT_PING_INTERVAL, DEFAULT_SHUTDOWN_TIMEOUT,
};
