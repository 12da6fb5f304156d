//! Used by `#[swill::handler]` expansions only. Not part of the public API: no semver.
//!
//! The expansion of a handler `f` makes one call, in this form:
//!
//! ```text
//! let kind = (&&&&&&reply_probe(&f::call)).reply_kind();   // the response shape, by traits
//! let validate = (&input_probe(&f::call)).validator();      // Validate on the request type?
//! handler(kind, Meta { name, doc, absolute }, validate, f::call)  // or `blocking` for a plain fn
//! ```
pub use crate::handler::contract::{
    check_contract, check_contract_blocking, ReplyStreams, RequestFits, ResponseIs,
};
pub use crate::handler::func::{
    Arg, Claim, Claims, HandlerFn, Ignored, Merge, Part, Single, SingleRequest, StateNeed,
    StreamOf, ViaFromCall, ViaRequest, ViaState, ViaStreaming,
};
pub use crate::handler::register::{
    blocking, blocking_probe, handler, input_probe, no_claim, reply_probe, ClaimProbe, Meta,
    Validator,
};
pub use crate::handler::reply::{
    Fallible, KindOf, Plain, ReplyKind, ReplyProbe, ReplyTier1, ReplyTier2, ReplyTier3, ReplyTier4,
    ReplyTier5, ReplyTier6, SingleReply, StreamOfItems, StreamOfResults, TryStreamOfItems,
    TryStreamOfResults,
};
pub use crate::handler::{HandlerDef, IntoHandler};
pub use crate::validate::probe::{Probe, ValidateFn, ViaNoValidate, ViaValidate};

/// Decodes request data exactly as handlers receive it (structs only from maps, within the
/// default decode budget). For the fuzz targets in `swill-rs/fuzz`; not for macro expansions.
///
/// # Errors
/// The 400 or 413 a call would get.
pub fn decode_payload<T: serde::de::DeserializeOwned>(
    raw: &[u8],
) -> Result<T, crate::error::Error> {
    crate::handler::decode_payload(raw, crate::payload::Budget::default())
}
