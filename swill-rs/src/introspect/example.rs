//! Minimal example instances generated from JSON Schemas (the `example` of schema.json).
//!
//! The aim is a value a person can send from the docs playground and see accepted: required
//! properties only, strings of `"a"` repeated to `minLength` (or a sample for a known
//! `format`), numbers at `0` moved into `minimum`/`maximum`, the first `enum`/`const` value,
//! the first `oneOf`/`anyOf` variant (or `null` when one variant is `null`), tuples from
//! `prefixItems`, and arrays padded to `minItems`. `$ref`s are followed, a definition at most
//! twice on one path, so recursive types end in `null`. Patterns are not honoured.

use serde_json::{Map, Value};

use super::refs::{self, MAX_DEPTH};

/// Most array elements an example gets, whatever `minItems` says.
const MAX_ITEMS: u64 = 16;
/// Longest string an example gets, whatever `minLength` says.
const MAX_STRING: u64 = 256;

/// A minimal instance of `schema`, resolving refs in `defs`.
pub(crate) fn example(schema: &Value, defs: &Map<String, Value>) -> Value {
    Builder {
        defs,
        stack: Vec::new(),
    }
    .build(schema, 0)
}

struct Builder<'d> {
    defs: &'d Map<String, Value>,
    stack: Vec<String>,
}

impl Builder<'_> {
    fn build(&mut self, schema: &Value, depth: usize) -> Value {
        let Value::Object(obj) = schema else {
            return Value::Null;
        };
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        let depth = depth + 1;
        if obj.contains_key("$ref") {
            return self.build_ref(obj, depth);
        }
        if let Some(value) = obj.get("const") {
            return value.clone();
        }
        if let Some(Value::Array(values)) = obj.get("enum") {
            return values.first().cloned().unwrap_or(Value::Null);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(variants)) = obj.get(key) {
                if variants.iter().any(is_null_type) {
                    return Value::Null;
                }
                return variants
                    .first()
                    .map_or(Value::Null, |v| self.build(v, depth));
            }
        }
        if let Some(Value::Array(parts)) = obj.get("allOf") {
            return self.build_all_of(parts, depth);
        }
        match obj.get("type") {
            Some(Value::String(ty)) => self.build_type(ty, obj, depth),
            Some(Value::Array(types)) => {
                if types.iter().any(|t| t == "null") {
                    return Value::Null;
                }
                match types.first().and_then(Value::as_str) {
                    Some(ty) => self.build_type(ty, obj, depth),
                    None => Value::Null,
                }
            }
            None if obj.contains_key("properties") => self.build_object(obj, depth),
            _ => Value::Null,
        }
    }

    fn build_ref(&mut self, obj: &Map<String, Value>, depth: usize) -> Value {
        let Some((name, def)) = refs::resolve(obj, self.defs) else {
            return Value::Null;
        };
        if self.stack.iter().filter(|n| **n == name).count() >= 2 {
            return Value::Null;
        }
        self.stack.push(name);
        let mut value = self.build(def, depth);
        // Keywords beside `$ref` (an internally tagged enum's tag) apply too.
        let siblings: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| k.as_str() != "$ref")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if siblings.contains_key("properties") {
            merge(&mut value, self.build_object(&siblings, depth));
        }
        self.stack.pop();
        value
    }

    fn build_all_of(&mut self, parts: &[Value], depth: usize) -> Value {
        let mut out = Value::Null;
        for part in parts {
            let value = self.build(part, depth);
            if out.is_null() {
                out = value;
            } else {
                merge(&mut out, value);
            }
        }
        out
    }

    fn build_type(&mut self, ty: &str, obj: &Map<String, Value>, depth: usize) -> Value {
        match ty {
            "null" => Value::Null,
            "boolean" => Value::Bool(false),
            "integer" => integer(obj),
            "number" => number(obj),
            "string" => string(obj),
            "array" => self.build_array(obj, depth),
            "object" => self.build_object(obj, depth),
            _ => Value::Null,
        }
    }

    fn build_array(&mut self, obj: &Map<String, Value>, depth: usize) -> Value {
        let mut items: Vec<Value> = match obj.get("prefixItems") {
            Some(Value::Array(prefix)) => prefix.iter().map(|s| self.build(s, depth)).collect(),
            _ => Vec::new(),
        };
        let min = obj
            .get("minItems")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(MAX_ITEMS);
        if let Some(item) = obj.get("items") {
            while (items.len() as u64) < min {
                items.push(self.build(item, depth));
            }
        }
        Value::Array(items)
    }

    fn build_object(&mut self, obj: &Map<String, Value>, depth: usize) -> Value {
        let mut out = Map::new();
        let empty = Map::new();
        let props = match obj.get("properties") {
            Some(Value::Object(props)) => props,
            _ => &empty,
        };
        let required: Vec<&str> = match obj.get("required") {
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        // Property order first (it is the struct's field order), then required names that
        // have no property schema.
        for (name, schema) in props {
            if required.contains(&name.as_str()) {
                out.insert(name.clone(), self.build(schema, depth));
            }
        }
        for name in required {
            if !out.contains_key(name) {
                out.insert(name.to_owned(), Value::Null);
            }
        }
        Value::Object(out)
    }
}

fn is_null_type(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// Adds `extra`'s keys to `into` when both are objects.
fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        for (k, v) in extra {
            into.entry(k).or_insert(v);
        }
    }
}

/// One side of a numeric range: the bound and whether it is exclusive.
type Bound = Option<(f64, bool)>;

/// Bounds of a numeric schema: (lower, upper).
fn bounds(obj: &Map<String, Value>) -> (Bound, Bound) {
    let get = |k: &str| obj.get(k).and_then(Value::as_f64);
    let lo = match (get("minimum"), get("exclusiveMinimum")) {
        (Some(a), Some(b)) if b >= a => Some((b, true)),
        (Some(a), _) => Some((a, false)),
        (None, Some(b)) => Some((b, true)),
        (None, None) => None,
    };
    let hi = match (get("maximum"), get("exclusiveMaximum")) {
        (Some(a), Some(b)) if b <= a => Some((b, true)),
        (Some(a), _) => Some((a, false)),
        (None, Some(b)) => Some((b, true)),
        (None, None) => None,
    };
    (lo, hi)
}

fn integer(obj: &Map<String, Value>) -> Value {
    let (lo, hi) = bounds(obj);
    let lo = lo.map(|(v, excl)| if excl { v.floor() + 1.0 } else { v.ceil() });
    let hi = hi.map(|(v, excl)| if excl { v.ceil() - 1.0 } else { v.floor() });
    let pick = match (lo, hi) {
        (Some(lo), _) if lo > 0.0 => lo,
        (_, Some(hi)) if hi < 0.0 => hi,
        _ => 0.0,
    };
    // `pick` is integral and came from a JSON number, so it fits i64 unless the schema's
    // bounds are beyond ±2^63, where any in-range integer is as good as another.
    if pick >= i64::MIN as f64 && pick <= i64::MAX as f64 {
        Value::from(pick as i64)
    } else if pick > 0.0 {
        Value::from(u64::MAX)
    } else {
        Value::from(i64::MIN)
    }
}

fn number(obj: &Map<String, Value>) -> Value {
    let (lo, hi) = bounds(obj);
    let pick = match (lo, hi) {
        (Some((lo, excl)), _) if lo > 0.0 || (excl && lo >= 0.0) => {
            let above = if excl { lo + lo.abs().max(1.0) } else { lo };
            match hi {
                Some((hi, _)) if above >= hi => (lo + hi) / 2.0,
                _ => above,
            }
        }
        (_, Some((hi, excl))) if hi < 0.0 || (excl && hi <= 0.0) => {
            let below = if excl { hi - hi.abs().max(1.0) } else { hi };
            match lo {
                Some((lo, _)) if below <= lo => (lo + hi) / 2.0,
                _ => below,
            }
        }
        _ => 0.0,
    };
    serde_json::Number::from_f64(pick).map_or(Value::from(0.0), Value::Number)
}

fn string(obj: &Map<String, Value>) -> Value {
    let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0);
    let max = obj.get("maxLength").and_then(Value::as_u64);
    let fits = |s: &str| {
        let len = s.chars().count() as u64;
        len >= min && max.is_none_or(|max| len <= max)
    };
    let padded = |s: &str| {
        let target = usize::try_from(min.min(MAX_STRING)).unwrap_or(0);
        let pad = target.saturating_sub(s.chars().count());
        format!("{s}{}", "a".repeat(pad))
    };
    // A literal pattern (validator's `contains`) must appear; pad it up to minLength.
    if let Some(literal) = obj
        .get("pattern")
        .and_then(Value::as_str)
        .and_then(literal_pattern)
    {
        return Value::from(padded(&literal));
    }
    let sample = match obj.get("format").and_then(Value::as_str) {
        Some("email") => "user@example.com",
        Some("uri" | "url" | "iri") => "https://example.com/",
        Some("ipv4" | "ip") => "127.0.0.1",
        Some("ipv6") => "::1",
        Some("date-time") => "1970-01-01T00:00:00Z",
        Some("date") => "1970-01-01",
        Some("time") => "00:00:00Z",
        Some("uuid") => "00000000-0000-0000-0000-000000000000",
        Some("hostname") => "example.com",
        _ => "",
    };
    if fits(sample) {
        Value::from(sample)
    } else {
        Value::from(padded(""))
    }
}

/// The text a regex matches when it is a plain (possibly escaped) literal, as validator's
/// `contains` becomes in schemars; `None` for real patterns, which examples do not honour.
fn literal_pattern(pattern: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next()?;
                if escaped.is_ascii_alphanumeric() {
                    return None; // \d, \w, \b...
                }
                out.push(escaped);
            }
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' => {
                return None;
            }
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ex(schema: Value) -> Value {
        example(&schema, &Map::new())
    }

    #[test]
    fn numbers_land_inside_their_bounds() {
        assert_eq!(
            ex(json!({"type": "integer", "minimum": 1, "maximum": 150})),
            json!(1)
        );
        assert_eq!(
            ex(json!({"type": "integer", "exclusiveMinimum": 5})),
            json!(6)
        );
        assert_eq!(ex(json!({"type": "integer", "maximum": -3})), json!(-3));
        assert_eq!(
            ex(json!({"type": "integer", "minimum": 1e300})),
            json!(u64::MAX)
        );
        assert_eq!(ex(json!({"type": "number"})), json!(0.0));
        assert_eq!(
            ex(json!({"type": "number", "exclusiveMinimum": 0})),
            json!(1.0)
        );
        assert_eq!(
            ex(json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5})),
            json!(0.25)
        );
        assert_eq!(
            ex(json!({"type": "number", "exclusiveMaximum": -2.0})),
            json!(-4.0)
        );
    }

    #[test]
    fn strings_respect_length_and_format() {
        assert_eq!(ex(json!({"type": "string", "minLength": 3})), json!("aaa"));
        assert_eq!(ex(json!({"type": "string"})), json!(""));
        assert_eq!(
            ex(json!({"type": "string", "format": "email"})),
            json!("user@example.com")
        );
        assert_eq!(
            ex(json!({"type": "string", "format": "email", "maxLength": 4, "minLength": 2})),
            json!("aa")
        );
        assert_eq!(
            ex(json!({"type": "string", "minLength": 1_000_000}))
                .as_str()
                .map(str::len),
            Some(256)
        );
        assert_eq!(ex(json!({"type": "string", "pattern": "@"})), json!("@"));
        assert_eq!(
            ex(json!({"type": "string", "pattern": "a\\.b", "minLength": 5})),
            json!("a.baa")
        );
        assert_eq!(
            ex(json!({"type": "string", "pattern": "^\\d+$"})),
            json!("")
        );
    }

    #[test]
    fn shapes_and_odd_schemas() {
        assert_eq!(
            ex(
                json!({"type": "array", "prefixItems": [{"type": "boolean"}, {"type": "null"}],
                      "items": {"type": "integer"}, "minItems": 3})
            ),
            json!([false, null, 0])
        );
        assert_eq!(
            ex(json!({"type": "array", "items": {"type": "string"}, "minItems": 1_000_000}))
                .as_array()
                .map(Vec::len),
            Some(16)
        );
        assert_eq!(ex(json!({"enum": ["b", "a"]})), json!("b"));
        assert_eq!(ex(json!({"const": {"k": 1}})), json!({"k": 1}));
        assert_eq!(ex(json!({"type": ["integer", "null"]})), json!(null));
        assert_eq!(ex(json!({"type": ["string", "integer"]})), json!(""));
        assert_eq!(
            ex(
                json!({"oneOf": [{"type": "object", "properties": {"t": {"const": "x"}},
                                 "required": ["t", "extra"]}]})
            ),
            json!({"t": "x", "extra": null})
        );
        assert_eq!(
            ex(
                json!({"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                                {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]})
            ),
            json!({"a": 0, "b": false})
        );
        for odd in [
            json!(true),
            json!({}),
            json!({"type": 7}),
            json!({"$ref": "#/$defs/None"}),
        ] {
            assert_eq!(ex(odd), Value::Null);
        }
    }

    #[test]
    fn recursive_refs_stop() {
        let defs = json!({"Node": {"type": "object",
            "properties": {"next": {"$ref": "#/$defs/Node"}}, "required": ["next"]}});
        let v = example(&json!({"$ref": "#/$defs/Node"}), defs.as_object().unwrap());
        assert_eq!(v, json!({"next": {"next": null}}));
    }
}
