//! [`Metadata`]: the ordered `str → value` maps that travel beside calls.
//!
//! Layer 1 (like [`Error`]): plain data the protocol's users, the handlers and the Rust
//! client all share.

use std::fmt;

use bytes::Bytes;
use rmpv::Value;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// Request, leading or trailing metadata: a map from `str` keys to arbitrary MessagePack values,
/// kept in the order it was written (swill/1 §3).
///
/// ```
/// use swill::Metadata;
///
/// let mut md = Metadata::new();
/// md.insert("count", 3);
/// md.insert("done", true);
/// assert_eq!(md.get("count").and_then(|v| v.as_i64()), Some(3));
/// assert_eq!(md.keys().collect::<Vec<_>>(), ["count", "done"]);
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Metadata(Vec<(String, Value)>);

impl Metadata {
    /// An empty map.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Inserts or replaces `key`. A value that cannot be represented in MessagePack is stored
    /// as its error text.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Serialize) -> &mut Self {
        let key = key.into();
        let value = crate::error::to_value(&value);
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
        self
    }

    /// Builder form of [`insert`](Self::insert).
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        self.insert(key, value);
        self
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under `key` as a string, when it is one.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(pos).1)
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Decodes a raw MessagePack map (as the protocol engine hands it over).
    ///
    /// # Errors
    /// 400 when the bytes are not a map with `str` keys.
    pub fn from_msgpack(raw: &[u8]) -> Result<Self, Error> {
        rmp_serde::from_slice(raw).map_err(|e| Error::bad_request(format!("invalid metadata: {e}")))
    }

    /// Encodes as a MessagePack map.
    pub fn to_msgpack(&self) -> Bytes {
        let mut out = Vec::with_capacity(16 + self.0.len() * 16);
        // Writing into a Vec cannot fail, and every key and Value is representable.
        if rmp_serde::encode::write_named(&mut out, self).is_err() {
            out.clear();
            out.push(0x80);
        }
        Bytes::from(out)
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K: Into<String>, V: Serialize> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut md = Self::new();
        for (k, v) in iter {
            md.insert(k, v);
        }
        md
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with str keys")
            }
            fn visit_unit<E>(self) -> Result<Metadata, E> {
                Ok(Metadata::new())
            }
            fn visit_none<E>(self) -> Result<Metadata, E> {
                Ok(Metadata::new())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Metadata(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keeps_insertion_order_on_the_wire() {
        let md = Metadata::new().with("lead", 1).with("a", "b");
        let raw = md.to_msgpack();
        // 82 a4 "lead" 01 a1 "a" a1 "b"
        assert_eq!(&raw[..], b"\x82\xa4lead\x01\xa1a\xa1b");
        assert_eq!(Metadata::from_msgpack(&raw).unwrap(), md);
    }

    #[test]
    fn empty_metadata_is_an_empty_map() {
        assert_eq!(&Metadata::new().to_msgpack()[..], &[0x80]);
    }

    #[test]
    fn non_map_metadata_is_a_bad_request() {
        let err = Metadata::from_msgpack(&[0x01]).unwrap_err();
        assert_eq!(err.code(), crate::error::Code::BAD_REQUEST);
    }
}
