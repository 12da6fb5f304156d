//! The wire error: [`Error`] and its open integer [`Code`].
//!
//! Every failure a client can see travels as an ERROR frame whose data is the map
//! `{"code": int, "message": str, "data"?: any}` (swill/1 §6.1). Handlers return
//! [`Error`]; hooks, validation and the framework itself build the same type, so a client
//! always gets one shape.

use std::fmt;

mod fields;
pub use fields::{FieldError, FieldErrors};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `Result<T, swill::Error>`: what handlers return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error code: an open, HTTP-style integer (swill/1 §6.1).
///
/// The associated constants are the codes the original Swill defines; handlers may use any
/// integer (the conformance fixture `fail` uses 418).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Code(pub i64);

impl Code {
    /// 400: the request was malformed (bad envelope, undecodable payload).
    pub const BAD_REQUEST: Self = Self(400);
    /// 401: the caller is not authenticated.
    pub const UNAUTHORIZED: Self = Self(401);
    /// 403: the caller may not do this.
    pub const FORBIDDEN: Self = Self(403);
    /// 404: no handler has that name.
    pub const NOT_FOUND: Self = Self(404);
    /// 408: the call took longer than allowed.
    pub const TIMEOUT: Self = Self(408);
    /// 413: the request data would take more memory to decode than its budget allows.
    pub const PAYLOAD_TOO_LARGE: Self = Self(413);
    /// 422: the payload decoded but failed constraint validation.
    pub const VALIDATION_ERROR: Self = Self(422);
    /// 429: a limit was hit (for example too many concurrent calls on one connection).
    pub const TOO_MANY_REQUESTS: Self = Self(429);
    /// 500: the handler failed unexpectedly (panic, hook failure).
    pub const INTERNAL_ERROR: Self = Self(500);
    /// 501: defined by swill/1, never sent by the original.
    pub const INVALID_RPC: Self = Self(501);
    /// 503: the server is shutting down.
    pub const UNAVAILABLE: Self = Self(503);

    /// The integer value.
    pub const fn as_i64(self) -> i64 {
        self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<i64> for Code {
    fn from(code: i64) -> Self {
        Self(code)
    }
}

/// The message swill/1 fixes for 404 (§6.2).
pub(crate) const MSG_NOT_FOUND: &str = "No func was found to process this request";
/// The message swill/1 fixes for 422 (§6.2).
pub(crate) const MSG_VALIDATION: &str = "Validation Error";
/// The message swill/1 fixes for 500 (§6.2).
pub(crate) const MSG_INTERNAL: &str = "An internal server error occurred";

/// An error as it travels in an ERROR frame: `code`, `message` and optional `data`.
///
/// ```
/// use swill::{Code, Error};
///
/// let err = Error::new(418, "teapot").with_data(serde_json::json!({"why": "fixture"}));
/// assert_eq!(err.code(), Code(418));
/// assert_eq!(err.message(), "teapot");
/// assert!(err.data().is_some());
/// ```
#[derive(Clone, PartialEq)]
pub struct Error(Box<Inner>);

#[derive(Clone, PartialEq)]
struct Inner {
    code: Code,
    message: String,
    data: Option<rmpv::Value>,
    /// Why a 500 happened, for the server's debug mode only: never on the wire otherwise.
    debug_reason: Option<String>,
}

impl Error {
    /// An error with any code and message, and no data.
    pub fn new(code: impl Into<Code>, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            code: code.into(),
            message: message.into(),
            data: None,
            debug_reason: None,
        }))
    }

    /// Attaches a reason that only the server's debug mode sends (as `data.reason`), for
    /// failures whose cause must not reach clients in production.
    #[must_use]
    pub(crate) fn with_debug_reason(mut self, reason: String) -> Self {
        self.0.debug_reason = Some(reason);
        self
    }

    /// The reason attached with `with_debug_reason`.
    pub(crate) fn debug_reason(&self) -> Option<&str> {
        self.0.debug_reason.as_deref()
    }

    /// Attaches `data` (any serializable value) to the error; it travels as the map's `data`.
    ///
    /// A value that cannot be represented in MessagePack is replaced by its error text.
    #[must_use]
    pub fn with_data(mut self, data: impl Serialize) -> Self {
        self.0.data = Some(to_value(&data));
        self
    }

    /// Sets the data from an already-built MessagePack value.
    #[must_use]
    pub fn with_value(mut self, data: rmpv::Value) -> Self {
        self.0.data = Some(data);
        self
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Code::BAD_REQUEST, message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Code::UNAUTHORIZED, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::FORBIDDEN, message)
    }

    /// 404 with the message swill/1 fixes for an unknown rpc.
    pub fn not_found() -> Self {
        Self::new(Code::NOT_FOUND, MSG_NOT_FOUND)
    }

    /// 422 with the message swill/1 fixes; `data` maps field paths to their errors.
    pub fn validation(data: rmpv::Value) -> Self {
        Self::new(Code::VALIDATION_ERROR, MSG_VALIDATION).with_value(data)
    }

    /// 500 with the message swill/1 fixes (no detail: see debug mode on the app).
    pub fn internal() -> Self {
        Self::new(Code::INTERNAL_ERROR, MSG_INTERNAL)
    }

    /// 429: a limit was reached.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(Code::TOO_MANY_REQUESTS, message)
    }

    /// 408: the call timed out.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(Code::TIMEOUT, message)
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The message (possibly empty).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The data, if any.
    pub fn data(&self) -> Option<&rmpv::Value> {
        self.0.data.as_ref()
    }

    /// Decodes the data into `T` (for example a struct describing the failure).
    ///
    /// # Errors
    /// When there is no data or it does not have `T`'s shape.
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, rmpv::ext::Error> {
        match &self.0.data {
            Some(v) => rmpv::ext::from_value(v.clone()),
            None => rmpv::ext::from_value(rmpv::Value::Nil),
        }
    }
}

pub(crate) fn to_value(data: &impl Serialize) -> rmpv::Value {
    match rmpv::ext::to_value(data) {
        Ok(v) => v,
        Err(e) => rmpv::Value::String(e.to_string().into()),
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.0.code)
            .field("message", &self.0.message);
        if let Some(data) = &self.0.data {
            d.field("data", data);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.message.is_empty() {
            write!(f, "error {}", self.0.code)
        } else {
            write!(f, "error {}: {}", self.0.code, self.0.message)
        }
    }
}

impl std::error::Error for Error {}

/// Written as the swill/1 error map: `code`, `message`, then `data` only when present.
impl Serialize for Error {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let len = if self.0.data.is_some() { 3 } else { 2 };
        let mut m = s.serialize_map(Some(len))?;
        m.serialize_entry("code", &self.0.code.0)?;
        m.serialize_entry("message", &self.0.message)?;
        if let Some(data) = &self.0.data {
            m.serialize_entry("data", data)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Error {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            code: i64,
            #[serde(default)]
            message: String,
            #[serde(default)]
            data: Option<rmpv::Value>,
        }
        let w = Wire::deserialize(d)?;
        Ok(Self(Box::new(Inner {
            code: Code(w.code),
            message: w.message,
            data: w.data,
            debug_reason: None,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_map_omits_absent_data() {
        let bytes = rmp_serde::to_vec_named(&Error::new(403, "denied")).unwrap();
        // 82 a4 "code" cd 01 93 a7 "message" a6 "denied"
        let mut want = vec![0x82, 0xa4];
        want.extend_from_slice(b"code");
        want.extend_from_slice(&[0xcd, 0x01, 0x93, 0xa7]);
        want.extend_from_slice(b"message");
        want.push(0xa6);
        want.extend_from_slice(b"denied");
        assert_eq!(bytes, want);
    }

    #[test]
    fn error_round_trips_with_data() {
        let err = Error::new(418, "teapot").with_data(serde_json::json!({"why": "fixture"}));
        let bytes = rmp_serde::to_vec_named(&err).unwrap();
        let back: Error = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, err);
    }

    #[test]
    fn error_stays_small() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
