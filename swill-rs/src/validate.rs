//! Constraint validation (`validator`) turned into 422 errors.
//!
//! A request type that implements [`validator::Validate`] is validated after its payload has
//! decoded and before the handler runs. A failure becomes an ERROR frame with code 422 and the
//! message `Validation Error` (swill/1 §6.2), built by [`to_error`].
//!
//! # The error data
//!
//! The `data` of that ERROR is a map from a **full field path** to the list of errors found
//! there:
//!
//! ```text
//! { "<path>": [ { "code": str, "message": str, "params": { name: value, ... }, "description": str },
//!               ... ],
//!   ... }
//! ```
//!
//! - **Paths** follow `validator`'s error tree: a field is `name`; a field of a nested struct
//!   (`#[validate(nested)]`) is `address.street`; an element of a sequence of validated structs
//!   is `items[2].qty`. Errors that belong to a whole struct (struct-level
//!   `#[validate(schema(function = ...))]`, which `validator` files under `__all__`) use the
//!   path of that struct itself (`address`, `items[2]`), and `*` at the root, the swill/1
//!   convention for whole-object errors (§6.3). When the request type itself is a sequence
//!   (`Vec<Item>`), paths start with the index: `[2].qty`. For maps of validated values,
//!   `validator` reports the position in iteration order, not the key, so the path is `tags[3]`
//!   and not `tags[key]`. Field names are the Rust names `validator` reports, not serde renames.
//! - **Keys are sorted** segment by segment (names by byte order, indices numerically, a parent
//!   before its children), so `*` comes first and `items[2]` before `items[10]`. The same errors
//!   always encode to the same bytes.
//! - **`code`** is `validator`'s code (`length`, `range`, `email`, `url`, `regex`, `contains`,
//!   `must_match`, `required`, ..., or whatever a custom function chose).
//! - **`message`** is the custom message given to the validator (`message = "..."`), or else an
//!   English sentence built from the code and params: `length must be between 1 and 16`,
//!   `must be at most 150`, `must be a valid email`.
//! - **`params`** are `validator`'s params with names sorted, for example `{"max": 16, "min": 1}`.
//!   The offending `value` is left out, as is `must_match`'s `other` (the other field's value):
//!   either may be a secret such as a password, and the client already has it.
//! - **`description`** repeats `message`: it is the key the original Swill clients read (§6.3).
//!
//! For a request `{"name": "", "age": 200}` failing `length(min = 1, max = 16)` on `name` and
//! `range(max = 150)` on `age`, the data is:
//!
//! ```json
//! {"age":  [{"code": "range", "message": "must be at most 150", "params": {"max": 150},
//!            "description": "must be at most 150"}],
//!  "name": [{"code": "length", "message": "length must be between 1 and 16",
//!            "params": {"max": 16, "min": 1}, "description": "length must be between 1 and 16"}]}
//! ```
//!
//! The typed form of this map is [`FieldErrors`] ([`field_errors`] builds
//! it; [`Error::field_errors`](crate::Error::field_errors) reads it back from any 422, for
//! example in the Rust client).
//!
//! This is a flat rendering of the tree that §6.3 describes (`{"index": i, "errors": [...]}`
//! objects nest where this map uses `items[2].qty`); every error object keeps the `description`
//! key that the original clients display.
//!
//! # Detecting `Validate` without a bound
//!
//! Handlers accept any decodable type, validated or not. A probe (macro support, in
//! `swill::__private`) lets macro expansions ask, in a context where the type is concrete,
//! whether it implements `Validate` (autoref specialization):
//!
//! ```
//! use swill::__private::{Probe, ViaNoValidate as _, ViaValidate as _};
//!
//! #[derive(validator::Validate)]
//! struct Named {
//!     #[validate(length(min = 1))]
//!     name: String,
//! }
//!
//! let check = (&Probe::<Named>::new()).validator().expect("Named implements Validate");
//! assert!(check(&Named { name: String::new() }).is_err());
//! assert!((&Probe::<(i32, i32)>::new()).validator().is_none());
//! ```

use std::collections::BTreeMap;
use std::fmt;

use rmpv::Value;
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::error::{Error, FieldError, FieldErrors};

/// The key `validator` uses for struct-level (schema) errors.
const STRUCT_KEY: &str = "__all__";
/// The key `validator` uses when the validated value itself is a collection.
const COLLECTION_KEY: &str = "_tmp_validator";
/// Nesting depth past which errors are reported at the deepest path reached.
///
/// `validator`'s error tree is as deep as the data of a recursive request type, so it is
/// bounded here rather than trusted; 64 levels is far beyond any hand-written form.
const MAX_DEPTH: usize = 64;

/// Converts validator's errors into the swill 422 error.
///
/// The error's `data` is the field map described in the [module docs](self).
///
/// # Examples
///
/// ```
/// use validator::Validate;
///
/// #[derive(Validate)]
/// struct Signup {
///     #[validate(range(max = 150))]
///     age: u32,
/// }
///
/// let errors = Signup { age: 200 }.validate().unwrap_err();
/// let err = swill::validate::to_error(&errors);
/// assert_eq!(err.code(), swill::Code::VALIDATION_ERROR);
/// assert_eq!(err.message(), "Validation Error");
/// ```
pub fn to_error(errors: &ValidationErrors) -> Error {
    field_errors(errors).into_error()
}

/// Converts validator's errors into typed [`FieldErrors`], paths sorted as on the wire (the
/// data of [`to_error`]'s 422).
pub fn field_errors(errors: &ValidationErrors) -> FieldErrors {
    let mut fields: BTreeMap<Vec<Segment<'_>>, Vec<FieldError>> = BTreeMap::new();
    let mut path = Vec::new();
    collect(errors, &mut path, &mut fields);
    let mut out = FieldErrors::new();
    for (path, errors) in fields {
        let path = render_path(&path);
        for e in errors {
            out.push(path.clone(), e);
        }
    }
    out
}

/// One step of a field path. The derived order sorts names before indices at the same depth
/// and a parent before its children.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Segment<'a> {
    Name(&'a str),
    Index(usize),
}

fn collect<'e>(
    errors: &'e ValidationErrors,
    path: &mut Vec<Segment<'e>>,
    out: &mut BTreeMap<Vec<Segment<'e>>, Vec<FieldError>>,
) {
    for (field, kind) in errors.errors() {
        let field: &'e str = field;
        let pushed = match field {
            STRUCT_KEY | COLLECTION_KEY => false,
            name => {
                path.push(Segment::Name(name));
                true
            }
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                out.entry(path.clone())
                    .or_default()
                    .extend(list.iter().map(error_object));
            }
            ValidationErrorsKind::Struct(inner) => descend(inner, path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    path.push(Segment::Index(*index));
                    descend(inner, path, out);
                    path.pop();
                }
            }
        }
        if pushed {
            path.pop();
        }
    }
}

fn descend<'e>(
    inner: &'e ValidationErrors,
    path: &mut Vec<Segment<'e>>,
    out: &mut BTreeMap<Vec<Segment<'e>>, Vec<FieldError>>,
) {
    if path.len() < MAX_DEPTH {
        collect(inner, path, out);
    } else {
        let text = "nested errors are too deep to report";
        out.entry(path.clone())
            .or_default()
            .push(FieldError::new("depth", text));
    }
}

fn render_path(path: &[Segment<'_>]) -> String {
    if path.is_empty() {
        return "*".to_owned();
    }
    let mut s = String::new();
    for segment in path {
        match segment {
            Segment::Name(name) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(name);
            }
            Segment::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

/// Param names never copied to the wire: they hold (copies of) user input.
fn is_hidden_param(code: &str, name: &str) -> bool {
    name == "value" || (code == "must_match" && name == "other")
}

fn error_object(err: &ValidationError) -> FieldError {
    let text = match &err.message {
        Some(message) => message.to_string(),
        None => describe(err),
    };
    let mut params: Vec<(&str, &serde_json::Value)> = err
        .params
        .iter()
        .filter(|(name, _)| !is_hidden_param(&err.code, name))
        .map(|(name, value)| (name.as_ref(), value))
        .collect();
    params.sort_by(|a, b| a.0.cmp(b.0));
    params.into_iter().fold(
        FieldError::new(err.code.as_ref(), text),
        |e, (name, value)| e.with_param(name, json_to_msgpack(value)),
    )
}

/// Converts a JSON value (validator's params) into MessagePack, keeping integers integers.
pub(crate) fn json_to_msgpack(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::F64(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            Value::Array(items.iter().map(json_to_msgpack).collect())
        }
        serde_json::Value::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (Value::from(k.as_str()), json_to_msgpack(v)))
                .collect(),
        ),
    }
}

/// A param rendered for a sentence: strings without quotes, numbers as JSON writes them.
struct Param<'a>(&'a serde_json::Value);

impl fmt::Display for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            serde_json::Value::String(s) => f.write_str(s),
            other => write!(f, "{other}"),
        }
    }
}

/// The English sentence for an error without a custom message.
fn describe(err: &ValidationError) -> String {
    let param = |name: &str| err.params.get(name).map(Param);
    match err.code.as_ref() {
        "length" => match (param("equal"), param("min"), param("max")) {
            (Some(n), _, _) => format!("length must be exactly {n}"),
            (None, Some(min), Some(max)) => format!("length must be between {min} and {max}"),
            (None, Some(min), None) => format!("length must be at least {min}"),
            (None, None, Some(max)) => format!("length must be at most {max}"),
            (None, None, None) => "has an invalid length".to_owned(),
        },
        "range" => describe_range(err),
        "email" => "must be a valid email".to_owned(),
        "url" => "must be a valid URL".to_owned(),
        "ip" => "must be a valid IP address".to_owned(),
        "credit_card" => "must be a valid credit card number".to_owned(),
        "non_control_character" => "must not contain control characters".to_owned(),
        "regex" => "must match the required pattern".to_owned(),
        "must_match" => "must match the other field".to_owned(),
        "required" | "required_nested" => "is required".to_owned(),
        "contains" => match param("needle") {
            Some(needle) => format!("must contain \"{needle}\""),
            None => "is missing a required part".to_owned(),
        },
        "does_not_contain" => match param("needle") {
            Some(needle) => format!("must not contain \"{needle}\""),
            None => "contains a forbidden part".to_owned(),
        },
        code => format!("failed the \"{code}\" check"),
    }
}

fn describe_range(err: &ValidationError) -> String {
    let param = |name: &str| err.params.get(name).map(Param);
    if let (Some(min), Some(max)) = (param("min"), param("max")) {
        return format!("must be between {min} and {max}");
    }
    let clauses: Vec<String> = [
        ("min", "at least"),
        ("exclusive_min", "greater than"),
        ("max", "at most"),
        ("exclusive_max", "less than"),
    ]
    .iter()
    .filter_map(|(name, words)| param(name).map(|v| format!("{words} {v}")))
    .collect();
    if clauses.is_empty() {
        "is out of range".to_owned()
    } else {
        format!("must be {}", clauses.join(" and "))
    }
}

/// Macro support (reached through `__private` only): finds out, where a type is concrete,
/// whether it implements `Validate`.
pub(crate) mod probe {
    use std::fmt;
    use std::marker::PhantomData;

    use super::to_error;
    use crate::error::Error;

    /// A validation function, as [`Probe`] hands it out: runs `Validate` and converts the errors
    /// with [`to_error`].
    pub type ValidateFn<T> = fn(&T) -> Result<(), Error>;

    /// Autoref-specialization probe used by macro expansions in a concrete-type context:
    /// `(&Probe::<T>::new()).validator()` yields `Some(fn)` when `T:
    /// Validate`, else `None`.
    ///
    /// Both [`ViaValidate`] and [`ViaNoValidate`] must be in scope. Method lookup tries the
    /// receiver `&Probe<T>` first, where only `ViaValidate` (implemented for `Probe<T>` when `T:
    /// Validate`) applies; otherwise it auto-references to `&&Probe<T>`, where `ViaNoValidate`
    /// always applies. This only works where `T` is a concrete type: inside a generic function
    /// over `T` the fallback is always chosen.
    ///
    /// # Examples
    ///
    /// Only one of the two imports is used for a given `T`, so an expansion that imports both
    /// for a single type should put `#[allow(unused_imports)]` on the `use`:
    ///
    /// ```
    /// #[allow(unused_imports)]
    /// use swill::__private::{Probe, ViaNoValidate as _, ViaValidate as _};
    ///
    /// assert!((&Probe::<u64>::new()).validator().is_none());
    /// ```
    pub struct Probe<T>(PhantomData<fn() -> T>);

    impl<T> Probe<T> {
        /// A probe for `T`.
        pub const fn new() -> Self {
            Self(PhantomData)
        }
    }

    impl<T> Default for Probe<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<T> fmt::Debug for Probe<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "Probe<{}>", std::any::type_name::<T>())
        }
    }

    /// The [`Probe`] branch taken when `T: Validate`: yields a function that validates.
    pub trait ViaValidate<T> {
        /// `Some` function running `T`'s validation.
        fn validator(&self) -> Option<ValidateFn<T>>;
    }

    impl<T: validator::Validate> ViaValidate<T> for Probe<T> {
        fn validator(&self) -> Option<ValidateFn<T>> {
            Some(run::<T>)
        }
    }

    /// The [`Probe`] fallback for types without `Validate`: yields `None`.
    pub trait ViaNoValidate<T> {
        /// `None`: there is nothing to validate.
        fn validator(&self) -> Option<ValidateFn<T>>;
    }

    impl<T> ViaNoValidate<T> for &Probe<T> {
        fn validator(&self) -> Option<ValidateFn<T>> {
            None
        }
    }

    fn run<T: validator::Validate>(value: &T) -> Result<(), Error> {
        value.validate().map_err(|errors| to_error(&errors))
    }
}

pub(crate) use probe::ValidateFn;

#[cfg(test)]
mod tests;
