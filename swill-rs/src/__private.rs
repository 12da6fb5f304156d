//! Used by `#[swill::handler]` expansions only. Not part of the public API: no semver.
pub use crate::handler::adapters::{bidi, blocking, client_streaming, server_streaming, unary};
pub use crate::handler::{Fallible, HandlerDef, Ignored, IntoHandler, Meta, Plain};
pub use crate::introspect::TypeInfo;
pub use crate::validate::{Probe, ViaNoValidate, ViaValidate};
