//! Shared helpers for the integration tests: real servers on 127.0.0.1:0, real sockets, a
//! timeout on every await. One module per job; `use common::*;` brings them all in.
//!
//! - [`timeout`]: `.with_timeout()`, which bounds every await of a test.
//! - [`server`]: [`TestServer`], served on 127.0.0.1:0; `stop` checks how its task ended.
//! - [`raw_http`]: the one hand-written HTTP/1.1 client (handshakes, plain GETs).
//! - [`raw_ws`]: a raw tokio-tungstenite socket: send, receive, silence, the close frame.
//! - [`frames`]: swill/1 frames: hex, request builders, response decoders and checks.
//! - [`events`]: the one event log that handlers and hooks write and tests wait on.
//! - [`fixtures`]: handlers that several test files share.
//! - `redis_server` (feature `redis`): a real `redis-server` on a free loopback port.
// Every test crate uses only some of the helpers.
#![allow(dead_code)]

pub(crate) mod events;
pub(crate) mod fixtures;
pub(crate) mod frames;
pub(crate) mod raw_http;
pub(crate) mod raw_ws;
#[cfg(feature = "redis")]
pub(crate) mod redis_server;
pub(crate) mod server;
pub(crate) mod timeout;

// Each test crate takes what it needs through `use common::*;`, so one that needs nothing
// of a module leaves that module's re-export unused.
#[cfg(feature = "redis")]
#[allow(unused_imports)]
pub(crate) use self::redis_server::*;
#[allow(unused_imports)]
pub(crate) use self::{
    events::*, fixtures::*, frames::*, raw_http::*, raw_ws::*, server::*, timeout::*,
};
