//! [`Encoded`]: one MessagePack value that is already encoded, forwarded without decoding.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::MAX_PAYLOAD_DEPTH;

/// One MessagePack value, already encoded: a handler returns it (or a stream of it) and its
/// bytes go into the frame as they are, never decoded or encoded again.
///
/// This is how a pub/sub subscription forwards what a publisher encoded once:
/// `Subscription<Encoded>` yields the published bytes to every subscriber
/// (see [`pubsub`](crate::pubsub)). Anything that already holds MessagePack (a cache, a
/// queue, another service) can answer with it the same way.
///
/// ```
/// use bytes::Bytes;
/// use swill::{Encoded, Error};
///
/// /// Answers with bytes encoded elsewhere.
/// #[swill::handler]
/// async fn cached() -> Result<Encoded, Error> {
///     // {"hello": "world"}, encoded once.
///     let bytes = Bytes::from_static(b"\x81\xa5hello\xa5world");
///     // An invalid value would be a bug here: `?` turns it into a logged 500.
///     Ok(Encoded::new(bytes)?)
/// }
/// # let _app = swill::Swill::new().handler(cached);
/// ```
///
/// [`Encoded::new`] checks that the bytes are exactly one MessagePack value (strings valid
/// UTF-8, nesting at most [`MAX_PAYLOAD_DEPTH`] levels), so a frame can never be corrupted
/// by what it carries. As a handler's result (single or streamed) the bytes are copied into
/// the frame verbatim. Anywhere else, for instance as a field of a struct a handler returns,
/// or with another serde format, `Encoded` serializes as the value it holds (decoded and
/// re-encoded: the same value, possibly in a shorter encoding). Its JSON Schema accepts any
/// value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Encoded(Bytes);

impl Encoded {
    /// Checks that `bytes` is exactly one MessagePack value and wraps it (no copy).
    ///
    /// # Errors
    ///
    /// [`EncodedError`] when the bytes are empty, truncated, hold a reserved marker, a str
    /// that is not UTF-8, nest deeper than [`MAX_PAYLOAD_DEPTH`] or go on after the value.
    pub fn new(bytes: impl Into<Bytes>) -> Result<Self, EncodedError> {
        let bytes = bytes.into();
        check(&bytes)?;
        Ok(Self(bytes))
    }

    /// Bytes the crate encoded itself: no check.
    pub(crate) fn from_trusted(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// Encodes `value` as swill encodes handler results (structs as maps with field names,
    /// byte buffers as `bin`).
    ///
    /// # Errors
    ///
    /// [`EncodedError::Encode`] when `value` cannot be encoded.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, EncodedError> {
        let mut out = Vec::new();
        let mut ser = rmp_serde::Serializer::new(&mut out)
            .with_struct_map()
            .with_bytes(rmp_serde::config::BytesMode::ForceIterables);
        value
            .serialize(&mut ser)
            .map_err(|e| EncodedError::Encode(e.to_string()))?;
        Ok(Self::from_trusted(Bytes::from(out)))
    }

    /// The MessagePack bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The MessagePack bytes, shared.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// The MessagePack bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Decodes the value (for example into `swill::Value`).
    ///
    /// # Errors
    ///
    /// [`EncodedError::Decode`] when the value is not a `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, EncodedError> {
        rmp_serde::from_slice(&self.0).map_err(|e| EncodedError::Decode(e.to_string()))
    }
}

impl TryFrom<Bytes> for Encoded {
    type Error = EncodedError;
    fn try_from(bytes: Bytes) -> Result<Self, EncodedError> {
        Self::new(bytes)
    }
}

impl TryFrom<Vec<u8>> for Encoded {
    type Error = EncodedError;
    fn try_from(bytes: Vec<u8>) -> Result<Self, EncodedError> {
        Self::new(bytes)
    }
}

impl From<Encoded> for Bytes {
    fn from(e: Encoded) -> Self {
        e.0
    }
}

impl AsRef<[u8]> for Encoded {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match rmpv::decode::read_value(&mut &self.0[..]) {
            Ok(v) => write!(f, "Encoded({v})"),
            Err(_) => write!(f, "Encoded({} bytes)", self.0.len()),
        }
    }
}

/// Why bytes are not one MessagePack value (or a value could not be encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodedError {
    /// The bytes end in the middle of a value (or are empty).
    #[error("truncated messagepack value")]
    Truncated,
    /// A byte that is not a MessagePack marker (`0xc1`).
    #[error("invalid messagepack marker 0x{0:02x}")]
    InvalidMarker(u8),
    /// A str that is not valid UTF-8.
    #[error("a messagepack str is not valid utf-8")]
    NotUtf8,
    /// Arrays, maps and extension values nest deeper than [`MAX_PAYLOAD_DEPTH`].
    #[error("values nest deeper than {MAX_PAYLOAD_DEPTH} levels")]
    TooDeep,
    /// Bytes follow the value.
    #[error("{0} bytes follow the messagepack value")]
    TrailingBytes(usize),
    /// [`Encoded::encode`]: the value cannot be encoded.
    #[error("cannot encode the value: {0}")]
    Encode(String),
    /// [`Encoded::decode`]: the value is not of the requested type.
    #[error("cannot decode the value: {0}")]
    Decode(String),
}

/// A handler that cannot build its `Encoded` result answers 500 (the reason is logged, not
/// sent: it is a server-side bug, not the caller's).
impl From<EncodedError> for crate::error::Error {
    fn from(e: EncodedError) -> Self {
        tracing::error!(error = %e, "a handler's encoded result is not valid");
        Self::internal()
    }
}

/// Checks that `buf` is exactly one MessagePack value: a skip-walk that does not recurse
/// and, for values nested up to 16 levels, allocates nothing (the protocol codec's
/// [`Open`](crate::protocol::Open) counts).
pub(crate) fn check(buf: &[u8]) -> Result<(), EncodedError> {
    let mut open = crate::protocol::Open::new();
    let mut pos = 0usize;
    loop {
        let children = head(buf, &mut pos)?;
        if children > 0 {
            if open.depth() >= MAX_PAYLOAD_DEPTH {
                return Err(EncodedError::TooDeep);
            }
            open.push(children);
            continue;
        }
        if open.complete_one() {
            return match buf.len() - pos {
                0 => Ok(()),
                n => Err(EncodedError::TrailingBytes(n)),
            };
        }
    }
}

/// Reads one value's head at `pos` (skipping scalars whole); returns how many values a
/// container's body holds (0 for scalars and empty containers).
#[inline]
fn head(buf: &[u8], pos: &mut usize) -> Result<u64, EncodedError> {
    use rmp::Marker as M;
    let take = |pos: &mut usize, n: usize| -> Result<&[u8], EncodedError> {
        let end = pos.checked_add(n).ok_or(EncodedError::Truncated)?;
        let s = buf.get(*pos..end).ok_or(EncodedError::Truncated)?;
        *pos = end;
        Ok(s)
    };
    let be = |s: &[u8]| s.iter().fold(0u64, |a, b| a << 8 | u64::from(*b));
    let len = |pos: &mut usize, n: usize| -> Result<usize, EncodedError> {
        usize::try_from(be(take(pos, n)?)).map_err(|_| EncodedError::Truncated)
    };
    let str_of = |pos: &mut usize, n: usize| -> Result<u64, EncodedError> {
        std::str::from_utf8(take(pos, n)?).map_err(|_| EncodedError::NotUtf8)?;
        Ok(0)
    };
    let skip = |pos: &mut usize, n: usize| take(pos, n).map(|_| 0);
    let marker = *buf.get(*pos).ok_or(EncodedError::Truncated)?;
    *pos += 1;
    match M::from_u8(marker) {
        M::FixPos(_) | M::FixNeg(_) | M::Null | M::True | M::False => Ok(0),
        M::U8 | M::I8 => skip(pos, 1),
        M::U16 | M::I16 => skip(pos, 2),
        M::U32 | M::I32 | M::F32 => skip(pos, 4),
        M::U64 | M::I64 | M::F64 => skip(pos, 8),
        M::FixStr(n) => str_of(pos, n.into()),
        M::Str8 => {
            let n = len(pos, 1)?;
            str_of(pos, n)
        }
        M::Str16 => {
            let n = len(pos, 2)?;
            str_of(pos, n)
        }
        M::Str32 => {
            let n = len(pos, 4)?;
            str_of(pos, n)
        }
        M::Bin8 => {
            let n = len(pos, 1)?;
            skip(pos, n)
        }
        M::Bin16 => {
            let n = len(pos, 2)?;
            skip(pos, n)
        }
        M::Bin32 => {
            let n = len(pos, 4)?;
            skip(pos, n)
        }
        // One type byte, then the data.
        M::FixExt1 => skip(pos, 2),
        M::FixExt2 => skip(pos, 3),
        M::FixExt4 => skip(pos, 5),
        M::FixExt8 => skip(pos, 9),
        M::FixExt16 => skip(pos, 17),
        M::Ext8 => {
            let n = len(pos, 1)?;
            skip(pos, n + 1)
        }
        M::Ext16 => {
            let n = len(pos, 2)?;
            skip(pos, n + 1)
        }
        M::Ext32 => {
            let n = len(pos, 4)?;
            skip(pos, n.saturating_add(1))
        }
        M::FixArray(n) => Ok(n.into()),
        M::Array16 => Ok(be(take(pos, 2)?)),
        M::Array32 => Ok(be(take(pos, 4)?)),
        M::FixMap(n) => Ok(u64::from(n) * 2),
        M::Map16 => Ok(be(take(pos, 2)?) * 2),
        M::Map32 => Ok(be(take(pos, 4)?) * 2),
        M::Reserved => Err(EncodedError::InvalidMarker(marker)),
    }
}

/// As a nested value, or with another serde format: the value itself, decoded and
/// re-encoded. (As a handler's result the bytes are copied verbatim instead; see
/// `handler::encode_item`.)
impl Serialize for Encoded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = rmpv::decode::read_value(&mut &self.0[..])
            .map_err(|e| serde::ser::Error::custom(format!("invalid encoded value: {e}")))?;
        v.serialize(s)
    }
}

/// Any value, encoded as MessagePack (what `Request<Encoded>` receives: the request data,
/// re-encoded).
impl<'de> Deserialize<'de> for Encoded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = rmpv::Value::deserialize(d)?;
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &v).map_err(serde::de::Error::custom)?;
        Ok(Self::from_trusted(Bytes::from(out)))
    }
}

impl schemars::JsonSchema for Encoded {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Encoded".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "description": "Any MessagePack value." })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nest(levels: usize) -> Vec<u8> {
        let mut v = vec![0x91u8; levels];
        v.push(0xc0);
        v
    }

    #[test]
    fn one_value_of_any_kind_is_accepted_as_it_is() {
        let ok: &[&[u8]] = &[
            b"\xc0",
            b"\x7f",
            b"\xce\x00\x00\x00\x05",
            b"\xd9\x03abc",
            b"\x92\x01\xa1x",
            b"\x90",
            b"\x80",
            b"\x82\xa1a\x01\xa1b\x92\xc3\xc2",
            b"\xc4\x02\x00\xff",
            b"\xd6\x01\x00\x00\x00\x00",
            b"\xc7\x01\x05\xaa",
            b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00",
        ];
        for bytes in ok {
            let e = Encoded::new(Bytes::from_static(bytes)).unwrap();
            assert_eq!(e.as_bytes(), *bytes);
        }
        assert!(Encoded::new(nest(MAX_PAYLOAD_DEPTH)).is_ok());
    }

    #[test]
    fn anything_but_exactly_one_value_is_refused() {
        let bad: &[(&[u8], EncodedError)] = &[
            (b"", EncodedError::Truncated),
            (b"\xc1", EncodedError::InvalidMarker(0xc1)),
            (b"\x92\x01", EncodedError::Truncated),
            (b"\xa3ab", EncodedError::Truncated),
            (b"\xdd\xff\xff\xff\xff", EncodedError::Truncated),
            (b"\xc6\xff\xff\xff\xff", EncodedError::Truncated),
            (b"\xc9\xff\xff\xff\xff", EncodedError::Truncated),
            (b"\x01\x02", EncodedError::TrailingBytes(1)),
            (b"\x91\x01\xc0\xc0", EncodedError::TrailingBytes(2)),
            (b"\xa2\xff\xfe", EncodedError::NotUtf8),
            (b"\x81\xa1\xff\x01", EncodedError::NotUtf8),
            (b"\x92\x01\xc1", EncodedError::InvalidMarker(0xc1)),
        ];
        for (bytes, want) in bad {
            assert_eq!(
                Encoded::new(Bytes::from_static(bytes)).unwrap_err(),
                *want,
                "{bytes:02x?}"
            );
        }
        assert_eq!(
            Encoded::new(nest(MAX_PAYLOAD_DEPTH + 1)).unwrap_err(),
            EncodedError::TooDeep
        );
        // Deep input is refused without recursing, however deep.
        assert_eq!(
            Encoded::new(vec![0x91u8; 1 << 20]).unwrap_err(),
            EncodedError::TooDeep
        );
    }

    #[derive(Serialize)]
    struct Outer {
        a: Encoded,
        b: Vec<Encoded>,
    }

    #[derive(Serialize)]
    struct Plain {
        a: rmpv::Value,
        b: Vec<rmpv::Value>,
    }

    #[test]
    fn nested_it_serializes_as_the_value_it_holds() {
        let a =
            Encoded::new(&b"\xde\x00\x01\xa1k\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"[..]).unwrap();
        let b = vec![
            Encoded::new(&b"\xce\x00\x00\x00\x05"[..]).unwrap(),
            Encoded::new(&b"\xd6\x01\x00\x00\x00\x00"[..]).unwrap(),
            Encoded::new(&b"\xc4\x02\x00\xff"[..]).unwrap(),
        ];
        let plain = Plain {
            a: a.decode().unwrap(),
            b: b.iter().map(|e| e.decode().unwrap()).collect(),
        };
        let outer = Outer { a, b };
        let got = Encoded::encode(&outer).unwrap();
        let want = Encoded::encode(&plain).unwrap();
        assert_eq!(got, want);
        // Shortest forms, not the original bytes: it was decoded and re-encoded.
        assert_eq!(
            got.decode::<rmpv::Value>().unwrap()["a"],
            rmpv::Value::Map(vec![("k".into(), 1.5.into())])
        );
        // Another format sees the same value.
        let json = serde_json::to_value(&outer.b[0]).unwrap();
        assert_eq!(json, serde_json::json!(5));
    }

    #[test]
    fn deserializing_any_value_re_encodes_it() {
        let e: Encoded = rmp_serde::from_slice(b"\x92\xcc\x07\xa1x").unwrap();
        assert_eq!(e.as_bytes(), b"\x92\x07\xa1x");
        let e: Encoded = serde_json::from_str(r#"{"k": [1, "two"]}"#).unwrap();
        assert_eq!(e.as_bytes(), b"\x81\xa1k\x92\x01\xa3two");
        assert_eq!(format!("{e:?}"), r#"Encoded({"k": [1, "two"]})"#);
    }
}
