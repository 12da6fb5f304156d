//! [`Value`]: any MessagePack value, as a payload type.

use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};

/// Any MessagePack value, usable as a request or response type (its JSON Schema accepts
/// anything). Binary data stays binary, 64-bit integers stay intact.
///
/// ```
/// # use swill::{Error, Request, Value};
/// /// Returns what it was given.
/// #[swill::handler]
/// async fn echo(req: Request<Value>) -> Result<Value, Error> {
///     Ok(req.into_data())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Value(pub rmpv::Value);

impl Deref for Value {
    type Target = rmpv::Value;
    fn deref(&self) -> &rmpv::Value {
        &self.0
    }
}

impl DerefMut for Value {
    fn deref_mut(&mut self) -> &mut rmpv::Value {
        &mut self.0
    }
}

impl From<rmpv::Value> for Value {
    fn from(v: rmpv::Value) -> Self {
        Self(v)
    }
}

impl From<Value> for rmpv::Value {
    fn from(v: Value) -> Self {
        v.0
    }
}

impl schemars::JsonSchema for Value {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Value".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "description": "Any MessagePack value." })
    }
}
