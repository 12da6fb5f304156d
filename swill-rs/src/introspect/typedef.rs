//! TypeDefs (swill/1 §8) derived from JSON Schemas.
//!
//! The TypeDef a client sees is computed from the same schema that schema.json publishes, so
//! the two can never disagree. The rules follow §8's "Recommended names for a Rust server":
//!
//! | schema | TypeDef |
//! |---|---|
//! | `integer` / `number` / `boolean` / `string` / `null` | `int` / `float` / `bool` / `str` / `NoneType` |
//! | `string` with `format: binary` or a `contentEncoding` | `bytes` |
//! | `array` of `uint8` items (`Vec<u8>`, which swill sends as `bin`) | `bytes` |
//! | `array` with `prefixItems` | `tuple`, arguments `{0: .., 1: ..}` |
//! | `array` | `list`, arguments `{0: item}` |
//! | `object` with only `additionalProperties` / `patternProperties` | `dict`, arguments `{0: key, 1: value}` (key `int` for numeric patterns, else `str`) |
//! | `$ref` to an object with properties, or to an enum | the definition's name; one argument per property (str keys, property order) |
//! | `$ref` to anything else (newtypes, aliases) | the TypeDef of what it refers to |
//! | `type: [T, "null"]`, `anyOf`/`oneOf` `[T, null]` | `Union`, arguments `{0: T, 1: NoneType}` |
//! | other `anyOf` / `oneOf` | `Union`, one argument per variant |
//! | anything else | `any` |
//!
//! A definition met again while it is being described (a recursive type) is written as its
//! bare name, without arguments. Describing never fails.

use rmpv::Value as Mp;
use serde_json::{Map, Value};

use super::refs::{self, MAX_DEPTH};

/// The TypeDef of the type whose JSON Schema is `schema`, resolving refs in `defs`.
pub(crate) fn describe(schema: &Value, defs: &Map<String, Value>) -> Mp {
    Describer {
        defs,
        stack: Vec::new(),
    }
    .describe(schema, 0)
}

/// `{"type": name}`: a TypeDef without arguments.
pub(crate) fn leaf(name: &str) -> Mp {
    Mp::Map(vec![(Mp::from("type"), Mp::from(name))])
}

/// `{"type": name, "arguments": {..}}`, leaving `arguments` out when there are none.
fn with_args(name: &str, args: Vec<(Mp, Mp)>) -> Mp {
    if args.is_empty() {
        return leaf(name);
    }
    Mp::Map(vec![
        (Mp::from("type"), Mp::from(name)),
        (Mp::from("arguments"), Mp::Map(args)),
    ])
}

/// Positional arguments: MessagePack integer keys 0, 1, ...
fn positional(items: impl IntoIterator<Item = Mp>) -> Vec<(Mp, Mp)> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, t)| (Mp::from(i as u64), t))
        .collect()
}

struct Describer<'d> {
    defs: &'d Map<String, Value>,
    /// Definitions being described, innermost last (cycle detection).
    stack: Vec<String>,
}

impl Describer<'_> {
    fn describe(&mut self, schema: &Value, depth: usize) -> Mp {
        let Value::Object(obj) = schema else {
            return leaf("any");
        };
        if depth > MAX_DEPTH {
            return leaf("any");
        }
        let depth = depth + 1;
        if obj.contains_key("$ref") {
            return self.describe_ref(obj, depth);
        }
        if let Some(value) = obj.get("const") {
            return leaf(json_kind(value));
        }
        if let Some(Value::Array(values)) = obj.get("enum") {
            return leaf(common_kind(values));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(variants)) = obj.get(key) {
                return self.union(variants, depth);
            }
        }
        if let Some(Value::Array(parts)) = obj.get("allOf") {
            return match parts.as_slice() {
                [only] => self.describe(only, depth),
                _ => leaf("any"),
            };
        }
        match obj.get("type") {
            Some(Value::String(ty)) => self.describe_type(ty, obj, depth),
            Some(Value::Array(types)) => self.describe_types(types, obj, depth),
            None if obj.contains_key("properties") => self.describe_type("object", obj, depth),
            _ => leaf("any"),
        }
    }

    fn describe_ref(&mut self, obj: &Map<String, Value>, depth: usize) -> Mp {
        let Some((name, def)) = refs::resolve(obj, self.defs) else {
            return leaf("any");
        };
        if self.stack.contains(&name) {
            return leaf(&name);
        }
        self.stack.push(name.clone());
        let described = match def {
            Value::Object(def_obj) if is_named(def_obj) => {
                let args = self.fields(def_obj, depth);
                with_args(&name, args)
            }
            other => self.describe(other, depth),
        };
        self.stack.pop();
        described
    }

    /// One argument per property, str keys, in property order.
    fn fields(&mut self, obj: &Map<String, Value>, depth: usize) -> Vec<(Mp, Mp)> {
        let Some(Value::Object(props)) = obj.get("properties") else {
            return Vec::new();
        };
        props
            .iter()
            .map(|(field, schema)| (Mp::from(field.as_str()), self.describe(schema, depth)))
            .collect()
    }

    fn union(&mut self, variants: &[Value], depth: usize) -> Mp {
        let (nulls, others): (Vec<&Value>, Vec<&Value>) =
            variants.iter().partition(|v| is_null_schema(v));
        let mut args: Vec<Mp> = others.iter().map(|v| self.describe(v, depth)).collect();
        if !nulls.is_empty() {
            args.push(leaf("NoneType"));
        }
        match args.len() {
            0 => leaf("any"),
            1 if nulls.is_empty() => args.remove(0),
            _ => with_args("Union", positional(args)),
        }
    }

    /// `type: [..]`: a nullable type or a union of primitive types.
    fn describe_types(&mut self, types: &[Value], obj: &Map<String, Value>, depth: usize) -> Mp {
        let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
        let nullable = names.contains(&"null");
        let mut args: Vec<Mp> = names
            .iter()
            .filter(|t| **t != "null")
            .map(|t| self.describe_type(t, obj, depth))
            .collect();
        if nullable {
            args.push(leaf("NoneType"));
        }
        match args.len() {
            0 => leaf("any"),
            1 => args.remove(0),
            _ => with_args("Union", positional(args)),
        }
    }

    fn describe_type(&mut self, ty: &str, obj: &Map<String, Value>, depth: usize) -> Mp {
        match ty {
            "integer" => leaf("int"),
            "number" => leaf("float"),
            "boolean" => leaf("bool"),
            "null" => leaf("NoneType"),
            "string" if is_binary(obj) => leaf("bytes"),
            "string" => leaf("str"),
            "array" => self.describe_array(obj, depth),
            "object" => self.describe_object(obj, depth),
            _ => leaf("any"),
        }
    }

    fn describe_array(&mut self, obj: &Map<String, Value>, depth: usize) -> Mp {
        if let Some(Value::Array(prefix)) = obj.get("prefixItems") {
            let args = prefix.iter().map(|s| self.describe(s, depth));
            return with_args("tuple", positional(args.collect::<Vec<_>>()));
        }
        if is_byte_array(obj) {
            return leaf("bytes");
        }
        let item = match obj.get("items") {
            Some(items) => self.describe(items, depth),
            None => leaf("any"),
        };
        with_args("list", positional([item]))
    }

    fn describe_object(&mut self, obj: &Map<String, Value>, depth: usize) -> Mp {
        if matches!(obj.get("properties"), Some(Value::Object(p)) if !p.is_empty()) {
            let args = self.fields(obj, depth);
            return with_args("object", args);
        }
        let (key, value) = match obj.get("patternProperties") {
            Some(Value::Object(patterns)) if patterns.len() == 1 => {
                let (pattern, value) = patterns
                    .iter()
                    .next()
                    .map_or(("", &Value::Null), |(p, v)| (p.as_str(), v));
                (pattern_key(pattern), self.describe(value, depth))
            }
            _ => {
                let key = match obj.get("propertyNames").and_then(|p| p.get("type")) {
                    Some(Value::String(t)) if t == "integer" => "int",
                    _ => "str",
                };
                let value = match obj.get("additionalProperties") {
                    Some(schema @ Value::Object(_)) => self.describe(schema, depth),
                    _ => leaf("any"),
                };
                (key, value)
            }
        };
        with_args("dict", positional([leaf(key), value]))
    }
}

/// A definition shown under its own name: a struct (object with properties, or an object
/// that is not a plain map) or an enum.
fn is_named(def: &Map<String, Value>) -> bool {
    if ["enum", "oneOf", "anyOf", "const"]
        .iter()
        .any(|k| def.contains_key(*k))
    {
        // ...unless it is only `Option<T>` under a name.
        return !matches!(def.get("anyOf").or_else(|| def.get("oneOf")),
            Some(Value::Array(v)) if v.len() == 2 && v.iter().any(is_null_schema));
    }
    let is_object = def.get("type").and_then(Value::as_str) == Some("object");
    let is_map = matches!(def.get("additionalProperties"), Some(Value::Object(_)))
        || def.contains_key("patternProperties");
    let has_props = matches!(def.get("properties"), Some(Value::Object(p)) if !p.is_empty());
    has_props || (is_object && !is_map)
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
        && schema.as_object().is_some_and(|o| !o.contains_key("$ref"))
}

/// An array of `uint8` items: what schemars writes for `Vec<u8>` and `[u8]`.
pub(crate) fn is_byte_array(obj: &Map<String, Value>) -> bool {
    obj.get("items")
        .and_then(Value::as_object)
        .and_then(|items| items.get("format"))
        .and_then(Value::as_str)
        == Some("uint8")
}

fn is_binary(obj: &Map<String, Value>) -> bool {
    obj.get("format").and_then(Value::as_str) == Some("binary")
        || obj.contains_key("contentEncoding")
}

/// The key type a `patternProperties` pattern stands for: schemars writes `^\d+$` (and
/// `^-?\d+$`) for integer-keyed maps.
fn pattern_key(pattern: &str) -> &'static str {
    match pattern {
        r"^\d+$" | r"^-?\d+$" | r"^[0-9]+$" | r"^-?[0-9]+$" => "int",
        _ => "str",
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn common_kind(values: &[Value]) -> &'static str {
    let mut kinds = values.iter().map(json_kind);
    match kinds.next() {
        Some(first) if kinds.all(|k| k == first) => first,
        _ => "any",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ty(schema: Value) -> Mp {
        describe(&schema, &Map::new())
    }

    fn name(v: &Mp) -> &str {
        v.as_map()
            .and_then(|m| m.first())
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("?")
    }

    #[test]
    fn vec_u8_is_bytes() {
        let mut gen = schemars::SchemaGenerator::default();
        let schema = serde_json::to_value(gen.subschema_for::<Vec<u8>>()).unwrap();
        assert_eq!(ty(schema), leaf("bytes"));
        let ints = ty(json!({"type": "array", "items": {"type": "integer"}}));
        assert_eq!(ints.as_map().map(Vec::len), Some(2));
    }

    #[test]
    fn byte_buffers_marked_binary_are_bytes() {
        assert_eq!(
            ty(json!({"type": "string", "format": "binary"})),
            leaf("bytes")
        );
        assert_eq!(
            ty(json!({"type": "string", "contentEncoding": "base64"})),
            leaf("bytes")
        );
    }

    #[test]
    fn unions_of_several_types() {
        let u = ty(json!({"type": ["integer", "string", "null"]}));
        assert_eq!(name(&u), "Union");
        let want = with_args(
            "Union",
            positional([leaf("int"), leaf("str"), leaf("NoneType")]),
        );
        assert_eq!(u, want);
        let one_of = ty(json!({"oneOf": [{"type": "null"}, {"type": "boolean"}]}));
        assert_eq!(
            one_of,
            with_args("Union", positional([leaf("bool"), leaf("NoneType")]))
        );
    }

    #[test]
    fn odd_schemas_are_any_never_errors() {
        for schema in [
            json!(true),
            json!(false),
            json!(null),
            json!({}),
            json!({"type": 5}),
            json!({"type": "quaternion"}),
            json!({"$ref": "#/$defs/Missing"}),
            json!({"$ref": "https://example.com/elsewhere"}),
            json!({"allOf": [{"type": "integer"}, {"minimum": 1}]}),
            json!({"anyOf": []}),
        ] {
            assert_eq!(ty(schema.clone()), leaf("any"), "{schema}");
        }
        assert_eq!(ty(json!({"enum": ["a", "b"]})), leaf("str"));
        assert_eq!(ty(json!({"enum": ["a", 1]})), leaf("any"));
        assert_eq!(ty(json!({"const": 1.5})), leaf("float"));
        assert_eq!(ty(json!({"allOf": [{"type": "integer"}]})), leaf("int"));
    }

    #[test]
    fn deep_schemas_are_cut() {
        let mut schema = json!({"type": "integer"});
        for _ in 0..500 {
            schema = json!({"type": "array", "items": schema});
        }
        let mut v = ty(schema);
        let mut depth = 0;
        while name(&v) == "list" {
            v = v
                .as_map()
                .and_then(|m| m.get(1))
                .map(|(_, a)| a.clone())
                .unwrap_or(Mp::Nil);
            v = v
                .as_map()
                .and_then(|m| m.first())
                .map(|(_, t)| t.clone())
                .unwrap_or(Mp::Nil);
            depth += 1;
        }
        assert_eq!(name(&v), "any");
        assert!(depth <= MAX_DEPTH + 1);
    }
}
