//! [`FieldErrors`]: the typed form of a 422's data (field path → errors), built by the server's
//! validation and read back by clients.

use std::fmt;

use rmpv::Value;

use super::{Code, Error};

/// One error at one field: what a 422's data lists per path (see [`FieldErrors`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    code: String,
    message: String,
    params: Vec<(String, Value)>,
}

impl FieldError {
    /// An error with a machine-readable `code` (`length`, `range`, `email`, or your own such
    /// as `taken`) and a human-readable `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter (`min`, `max`, ...), kept in the order given.
    #[must_use]
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message (the custom message of the constraint, or an English sentence).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The parameters, in their order on the wire.
    pub fn params(&self) -> &[(String, Value)] {
        &self.params
    }

    /// The parameter `name`.
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The wire form: `{"code", "message", "params", "description"}` (`description` repeats
    /// the message: it is the key the original Swill clients read).
    fn to_value(&self) -> Value {
        let params = self
            .params
            .iter()
            .map(|(n, v)| (Value::from(n.as_str()), v.clone()))
            .collect();
        Value::Map(vec![
            (Value::from("code"), Value::from(self.code.as_str())),
            (Value::from("message"), Value::from(self.message.as_str())),
            (Value::from("params"), Value::Map(params)),
            (
                Value::from("description"),
                Value::from(self.message.as_str()),
            ),
        ])
    }

    /// Reads the wire form; `message` falls back to `description` (the original Swill's key).
    fn from_value(v: &Value) -> Option<Self> {
        let map = v.as_map()?;
        let get = |key: &str| {
            map.iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v)
        };
        let text = |key: &str| get(key).and_then(Value::as_str).map(str::to_owned);
        let params = match get("params") {
            Some(Value::Map(ps)) => ps
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
                .collect(),
            _ => Vec::new(),
        };
        Some(Self {
            code: text("code").unwrap_or_default(),
            message: text("message").or_else(|| text("description"))?,
            params,
        })
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The errors of a 422 Validation Error, by full field path (`name`, `address.street`,
/// `items[2].qty`, `*` for the whole request), in the order of the wire map.
///
/// The server builds every 422 from one (validation of a request type, see
/// [`validate`](crate::validate)); handlers can return their own:
///
/// ```
/// use swill::{Error, FieldError, FieldErrors};
///
/// fn check_title(title: &str) -> Result<(), Error> {
///     if title == "taken" {
///         return Err(FieldErrors::new()
///             .with("title", FieldError::new("unique", "this title is already used"))
///             .into());
///     }
///     Ok(())
/// }
///
/// let err = check_title("taken").unwrap_err();
/// assert_eq!(err.code(), swill::Code::VALIDATION_ERROR);
/// // What a client reads back, e.g. from `ClientError::rpc()`:
/// let fields = err.field_errors().unwrap();
/// assert_eq!(fields.get("title")[0].code(), "unique");
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldErrors {
    fields: Vec<(String, Vec<FieldError>)>,
}

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `error` at `path` (after the errors already there).
    pub fn push(&mut self, path: impl Into<String>, error: FieldError) {
        let path = path.into();
        match self.fields.iter_mut().find(|(p, _)| *p == path) {
            Some((_, list)) => list.push(error),
            None => self.fields.push((path, vec![error])),
        }
    }

    /// [`push`](Self::push), by value.
    #[must_use]
    pub fn with(mut self, path: impl Into<String>, error: FieldError) -> Self {
        self.push(path, error);
        self
    }

    /// The errors at `path` (empty when none).
    pub fn get(&self, path: &str) -> &[FieldError] {
        self.fields
            .iter()
            .find(|(p, _)| p == path)
            .map_or(&[], |(_, list)| list.as_slice())
    }

    /// Every path with its errors, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[FieldError])> {
        self.fields.iter().map(|(p, l)| (p.as_str(), l.as_slice()))
    }

    /// The paths, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(p, _)| p.as_str())
    }

    /// How many paths have errors.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there is no error.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The wire form: a map from path to a list of error maps.
    pub fn to_value(&self) -> Value {
        Value::Map(
            self.fields
                .iter()
                .map(|(p, list)| {
                    let list = list.iter().map(FieldError::to_value).collect();
                    (Value::from(p.as_str()), Value::Array(list))
                })
                .collect(),
        )
    }

    /// Reads the wire form; `None` when `v` is not a map of lists of error maps.
    pub fn from_value(v: &Value) -> Option<Self> {
        let mut out = Self::new();
        for (path, list) in v.as_map()? {
            let path = path.as_str()?;
            let list: Vec<FieldError> = list
                .as_array()?
                .iter()
                .map(FieldError::from_value)
                .collect::<Option<_>>()?;
            out.fields.push((path.to_owned(), list));
        }
        Some(out)
    }

    /// The 422 `Validation Error` carrying these errors as its data.
    pub fn into_error(self) -> Error {
        Error::validation(self.to_value())
    }
}

impl From<FieldErrors> for Error {
    fn from(fields: FieldErrors) -> Self {
        fields.into_error()
    }
}

impl Error {
    /// The field errors of a 422 Validation Error; `None` for another code, or data of
    /// another shape.
    pub fn field_errors(&self) -> Option<FieldErrors> {
        if self.code() != Code::VALIDATION_ERROR {
            return None;
        }
        FieldErrors::from_value(self.data()?)
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (path, list) in &self.fields {
            for e in list {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{path}: {e}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_wire_form_in_order() {
        let fields = FieldErrors::new()
            .with(
                "name",
                FieldError::new("length", "too short").with_param("min", 1),
            )
            .with(
                "age",
                FieldError::new("range", "too old").with_param("max", 150),
            )
            .with("name", FieldError::new("regex", "bad characters"));
        assert_eq!(fields.paths().collect::<Vec<_>>(), ["name", "age"]);
        assert_eq!(fields.get("name").len(), 2);
        assert_eq!(fields.get("nope").len(), 0);
        let err = fields.clone().into_error();
        assert_eq!(err.code(), Code::VALIDATION_ERROR);
        assert_eq!(err.message(), "Validation Error");
        let back = err.field_errors().unwrap();
        assert_eq!(back, fields);
        assert_eq!(back.get("age")[0].param("max"), Some(&Value::from(150)));
        assert_eq!(
            back.to_string(),
            "name: too short; name: bad characters; age: too old"
        );
    }

    #[test]
    fn reads_the_original_swill_description_key_and_refuses_other_shapes() {
        let v = Value::Map(vec![(
            Value::from("title"),
            Value::Array(vec![Value::Map(vec![(
                Value::from("description"),
                Value::from("required"),
            )])]),
        )]);
        let f = FieldErrors::from_value(&v).unwrap();
        assert_eq!(f.get("title")[0].message(), "required");
        assert_eq!(f.get("title")[0].code(), "");
        assert!(FieldErrors::from_value(&Value::from(3)).is_none());
        assert!(Error::new(400, "x").with_value(v).field_errors().is_none());
        assert!(Error::validation(Value::from("text"))
            .field_errors()
            .is_none());
    }
}
