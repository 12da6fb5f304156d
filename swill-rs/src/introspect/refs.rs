//! `$ref` handling shared by the TypeDef and example builders: names, lookup, reachability.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Where schemars (draft 2020-12 settings) puts definitions, as a `$ref` prefix.
pub(crate) const DEFS_PREFIX: &str = "#/$defs/";

/// Deepest nesting of schemas any walk in this module follows.
///
/// Schemas come from the application's own types, not from peers, but a bound keeps a
/// pathological hand-written `JsonSchema` impl from overflowing the stack. 64 levels of
/// nesting is far beyond any real API type.
pub(crate) const MAX_DEPTH: usize = 64;

/// The definition name a `$ref` points at, decoded (JSON Pointer `~0`/`~1` and
/// percent-encoding undone), or `None` for refs outside `#/$defs/`.
pub(crate) fn def_name(reference: &str) -> Option<String> {
    let encoded = reference.strip_prefix(DEFS_PREFIX)?;
    let bytes = percent_decode(encoded.as_bytes());
    let text = String::from_utf8_lossy(&bytes);
    Some(text.replace("~1", "/").replace("~0", "~"))
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        let decoded = match (input.get(i), input.get(i + 1), input.get(i + 2)) {
            (Some(b'%'), Some(&h), Some(&l)) => match (hex(h), hex(l)) {
                (Some(h), Some(l)) => u8::try_from(h * 16 + l).ok(),
                _ => None,
            },
            _ => None,
        };
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.extend(input.get(i).copied());
                i += 1;
            }
        }
    }
    out
}

/// The `$ref` of a schema object and the definition it names, when both exist.
pub(crate) fn resolve<'d>(
    schema: &Map<String, Value>,
    defs: &'d Map<String, Value>,
) -> Option<(String, &'d Value)> {
    let name = def_name(schema.get("$ref")?.as_str()?)?;
    let def = defs.get(&name)?;
    Some((name, def))
}

/// Names of every definition reachable from `roots` through `$ref`s, transitively.
pub(crate) fn reachable<'a>(
    roots: impl IntoIterator<Item = &'a Value>,
    defs: &Map<String, Value>,
) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut queue: Vec<&Value> = roots.into_iter().collect();
    while let Some(schema) = queue.pop() {
        let mut direct = BTreeSet::new();
        refs_in(schema, 0, &mut direct);
        for name in direct {
            if let Some(def) = defs.get(&name) {
                if found.insert(name) {
                    queue.push(def);
                }
            }
        }
    }
    found
}

/// Collects the definition names `$ref`d anywhere inside `value`.
fn refs_in(value: &Value, depth: usize, out: &mut BTreeSet<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(name) = map.get("$ref").and_then(Value::as_str).and_then(def_name) {
                out.insert(name);
            }
            for child in map.values() {
                refs_in(child, depth + 1, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                refs_in(child, depth + 1, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn def_names_are_decoded() {
        assert_eq!(def_name("#/$defs/Chunk").as_deref(), Some("Chunk"));
        assert_eq!(def_name("#/$defs/a~1b~0c").as_deref(), Some("a/b~c"));
        assert_eq!(
            def_name("#/$defs/Page%3CUser%3E").as_deref(),
            Some("Page<User>")
        );
        assert_eq!(def_name("#/$defs/bad%zz%").as_deref(), Some("bad%zz%"));
        assert_eq!(def_name("#/definitions/X"), None);
        assert_eq!(def_name("https://example.com/x"), None);
    }

    #[test]
    fn reachability_is_transitive_and_survives_cycles() {
        let defs = json!({
            "A": {"properties": {"b": {"$ref": "#/$defs/B"}}},
            "B": {"items": {"$ref": "#/$defs/A"}},
            "C": {"type": "string"},
        });
        let defs = defs.as_object().unwrap();
        let root = json!({"$ref": "#/$defs/A"});
        let names: Vec<String> = reachable([&root], defs).into_iter().collect();
        assert_eq!(names, ["A", "B"]);
    }
}
