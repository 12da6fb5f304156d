//! swill: RPC over WebSocket with MessagePack frames, speaking the swill/1 protocol.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![doc(test(attr(deny(warnings))))]

extern crate self as swill;

mod error;
pub mod introspect;
pub mod protocol;
pub mod validate;

pub use error::{Code, Error, Result};
