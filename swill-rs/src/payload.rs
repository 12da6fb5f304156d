//! Payload decoding: MessagePack request data into the handler's type, strictly and within a
//! memory budget.
//!
//! Every request payload (a single request, and each item of a [`Streaming`] request) goes
//! through [`decode`], which runs rmp-serde's deserializer behind an adapter that changes two
//! things:
//!
//! - **Structs must be maps.** rmp-serde also accepts a struct as an array of its fields in
//!   declaration order, which silently assigns values to the wrong fields when a client has
//!   the order wrong. The adapter refuses an array wherever a struct (or a struct variant) is
//!   expected, at any depth: inside maps, sequences, options, newtypes and enums. Tuples and
//!   tuple structs stay arrays (`(i64, i64)` is `[1, 2]`).
//! - **A decode budget.** A MessagePack element can be one byte (`nil`, a small integer)
//!   while the value it decodes into takes tens of bytes (a `swill::Value` is 40), so a
//!   16 MiB frame of nils used to cost ~715 MiB. The adapter estimates what the decoded value
//!   allocates and refuses the payload with **413** once the estimate passes the budget, which
//!   is [`Config::decode_budget_ratio`] times the payload's length, and at least
//!   [`Config::min_decode_budget`].
//!
//! One gap: types whose `Deserialize` buffers the input first (`#[serde(untagged)]` and
//! internally tagged enums) decode their structs from serde's private buffer, out of the
//! adapter's sight, so a struct inside an untagged enum still accepts an array. The buffering
//! itself is charged to the budget.
//!
//! The estimate: every sequence element and map entry costs the in-memory size of the Rust
//! value it decodes into (`size_of`, at least one byte; a struct's own fields cost one byte
//! each, since they live inside the struct), and every str and bin costs its length. A
//! sequence's elements are charged up front from the array's length, so an oversized array is
//! refused before any of it is decoded. Growth slack of `Vec`s and allocator overhead are not
//! counted: the real peak can be up to about twice the estimate.
//!
//! [`Streaming`]: crate::Streaming
//! [`Config::decode_budget_ratio`]: crate::Config::decode_budget_ratio
//! [`Config::min_decode_budget`]: crate::Config::min_decode_budget

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use crate::error::{Code, Error};

/// Default decode budget, as a multiple of the payload's length: 8, so that an array of the
/// widest primitives (`i64`, `f64`: 8 bytes each) decodes even from their narrowest encoding
/// (one byte per element), while a frame of nils decoded into `swill::Value`s (40 bytes each)
/// is refused. A 16 MiB frame may decode into an estimated 128 MiB at most.
pub const DEFAULT_DECODE_BUDGET_RATIO: usize = 8;

/// Default smallest decode budget: 8 MiB, whatever the payload's length, so that small
/// payloads decode into dynamic values freely (about 200,000 `swill::Value`s).
pub const DEFAULT_MIN_DECODE_BUDGET: usize = 8 << 20;

/// How deeply arrays, maps and extension values may nest in one payload: 128 levels, serde_json's
/// default recursion limit. Decoding recurses once per level, and deeper payloads could
/// overflow a runtime worker's 2 MiB stack (which aborts the process) in a debug build; a
/// deeper payload gets ERROR 400. Fixed rather than configurable for that reason.
pub const MAX_PAYLOAD_DEPTH: usize = 128;

/// The 413 code a payload over its decode budget gets.
const PAYLOAD_TOO_LARGE: Code = Code(413);

/// How much memory decoding one payload may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Multiple of the payload's length.
    pub(crate) ratio: usize,
    /// Smallest budget, in bytes.
    pub(crate) min: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            ratio: DEFAULT_DECODE_BUDGET_RATIO,
            min: DEFAULT_MIN_DECODE_BUDGET,
        }
    }
}

impl Budget {
    /// The budget, in estimated bytes, for a payload of `len` bytes.
    pub(crate) fn limit(&self, len: usize) -> u64 {
        let by_len = (len as u64).saturating_mul(self.ratio as u64);
        by_len.max(self.min as u64)
    }
}

/// Decodes `raw` into `T`: structs only from maps, allocations within `budget`.
///
/// # Errors
///
/// 413 when the decoded value would exceed the budget; 400 `invalid request data: …` with the
/// decoder's message for anything else (swill/1 §12.8), a struct sent as an array included.
pub(crate) fn decode<T: DeserializeOwned>(raw: &[u8], budget: Budget) -> Result<T, Error> {
    let limit = budget.limit(raw.len());
    let meter = Meter {
        left: Cell::new(limit),
        exceeded: Cell::new(false),
    };
    let mut de = rmp_serde::Deserializer::from_read_ref(raw);
    // rmp-serde refuses the level that reaches its limit.
    de.set_max_depth(MAX_PAYLOAD_DEPTH + 1);
    let res = T::deserialize(Strict {
        de: &mut de,
        meter: &meter,
    });
    match res {
        Ok(v) => Ok(v),
        Err(_) if meter.exceeded.get() => Err(Error::new(
            PAYLOAD_TOO_LARGE,
            format!(
                "request data too large to decode: it would take more than {limit} bytes in \
                 memory (the decode budget is {}x the {}-byte payload, at least {} bytes)",
                budget.ratio,
                raw.len(),
                budget.min
            ),
        )),
        Err(e) => Err(Error::bad_request(format!("invalid request data: {e}"))),
    }
}

/// What is left of the budget; `exceeded` is set once a charge failed.
struct Meter {
    left: Cell<u64>,
    exceeded: Cell<bool>,
}

impl Meter {
    #[inline]
    fn charge<E: de::Error>(&self, bytes: u64) -> Result<(), E> {
        match self.left.get().checked_sub(bytes) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.exceeded.set(true);
                Err(E::custom("decode budget exceeded"))
            }
        }
    }

    #[inline]
    fn charge_len<E: de::Error>(&self, len: usize) -> Result<(), E> {
        self.charge(len as u64)
    }
}

/// Elements already paid for: `count` more slots of up to `size` bytes each.
#[derive(Default)]
struct Prepaid {
    size: u64,
    count: u64,
}

impl Prepaid {
    /// Charges one slot of `size` bytes; `remaining` (this slot included) pays for the rest of
    /// the container at once when the slot is not already paid for.
    #[inline]
    fn charge<E: de::Error>(
        &mut self,
        meter: &Meter,
        size: usize,
        remaining: Option<usize>,
    ) -> Result<(), E> {
        let size = (size as u64).max(1);
        if self.count > 0 && size <= self.size {
            self.count -= 1;
            return Ok(());
        }
        let n = remaining.map_or(1, |r| r as u64).max(1);
        meter.charge(size.saturating_mul(n))?;
        self.size = size;
        self.count = n - 1;
        Ok(())
    }
}

/// The deserializer adapter: forwards everything, wrapping every visitor.
struct Strict<'m, D> {
    de: D,
    meter: &'m Meter,
}

impl<'m, D> Strict<'m, D> {
    #[inline]
    fn wrap<V>(&self, inner: V) -> Wrap<'m, V> {
        Wrap {
            inner,
            meter: self.meter,
            strukt: None,
            enum_name: "",
        }
    }
}

macro_rules! forward_plain {
    ($($method:ident)*) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            let v = self.wrap(visitor);
            self.de.$method(v)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<'_, D> {
    type Error = D::Error;

    forward_plain! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    #[inline]
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor);
        self.de.deserialize_unit_struct(name, v)
    }

    #[inline]
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor);
        self.de.deserialize_newtype_struct(name, v)
    }

    #[inline]
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor);
        self.de.deserialize_tuple(len, v)
    }

    #[inline]
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor);
        self.de.deserialize_tuple_struct(name, len, v)
    }

    #[inline]
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = Wrap {
            inner: visitor,
            meter: self.meter,
            strukt: Some(StructName::Struct(name)),
            enum_name: "",
        };
        self.de.deserialize_struct(name, fields, v)
    }

    #[inline]
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = Wrap {
            inner: visitor,
            meter: self.meter,
            strukt: None,
            enum_name: name,
        };
        self.de.deserialize_enum(name, variants, v)
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// The struct a visitor is building, for the "not an array" message.
#[derive(Clone, Copy)]
enum StructName {
    Struct(&'static str),
    Variant(&'static str),
}

impl fmt::Display for StructName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Struct(name) => write!(f, "struct {name}"),
            Self::Variant(name) => write!(f, "a struct variant of enum {name}"),
        }
    }
}

/// A wrapped visitor: charges strs and bins, wraps nested deserializers and accesses, and
/// refuses arrays when it builds a struct.
struct Wrap<'m, V> {
    inner: V,
    meter: &'m Meter,
    strukt: Option<StructName>,
    /// The enum's name, when the visitor comes from `deserialize_enum`.
    enum_name: &'static str,
}

macro_rules! forward_scalar {
    ($($method:ident: $ty:ty)*) => {$(
        #[inline]
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, 'm, V: Visitor<'de>> Visitor<'de> for Wrap<'m, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_scalar! {
        visit_bool: bool visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64
        visit_i128: i128 visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64
        visit_u128: u128 visit_f32: f32 visit_f64: f64 visit_char: char
    }

    #[inline]
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.meter.charge_len(v.len())?;
        self.inner.visit_str(v)
    }

    #[inline]
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.meter.charge_len(v.len())?;
        self.inner.visit_borrowed_str(v)
    }

    #[inline]
    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.meter.charge_len(v.len())?;
        self.inner.visit_string(v)
    }

    #[inline]
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        self.meter.charge_len(v.len())?;
        self.inner.visit_bytes(v)
    }

    #[inline]
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        self.meter.charge_len(v.len())?;
        self.inner.visit_borrowed_bytes(v)
    }

    #[inline]
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<V::Value, E> {
        self.meter.charge_len(v.len())?;
        self.inner.visit_byte_buf(v)
    }

    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Strict {
            de,
            meter: self.meter,
        })
    }

    #[inline]
    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Strict {
            de,
            meter: self.meter,
        })
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        if let Some(name) = self.strukt {
            return Err(de::Error::custom(format_args!(
                "{name} must be sent as a map of field names, not an array"
            )));
        }
        self.inner.visit_seq(Seq {
            inner: seq,
            meter: self.meter,
            paid: Prepaid::default(),
        })
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Map {
            inner: map,
            meter: self.meter,
            fields: self.strukt.is_some(),
            keys: Prepaid::default(),
            values: Prepaid::default(),
        })
    }

    #[inline]
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(Enum {
            inner: data,
            meter: self.meter,
            name: self.enum_name,
        })
    }
}

/// A seed that decodes through the adapter.
struct Seed<'m, S> {
    inner: S,
    meter: &'m Meter,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Strict {
            de,
            meter: self.meter,
        })
    }
}

/// A sequence whose elements are charged and decoded through the adapter.
struct Seq<'m, A> {
    inner: A,
    meter: &'m Meter,
    paid: Prepaid,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let remaining = self.inner.size_hint();
        if remaining != Some(0) {
            let size = std::mem::size_of::<T::Value>();
            self.paid.charge(self.meter, size, remaining)?;
        }
        self.inner.next_element_seed(Seed {
            inner: seed,
            meter: self.meter,
        })
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A map whose entries are charged and decoded through the adapter. The entries of a struct
/// (`fields`) cost one byte each: their values live inside the struct.
struct Map<'m, A> {
    inner: A,
    meter: &'m Meter,
    fields: bool,
    keys: Prepaid,
    values: Prepaid,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let remaining = self.inner.size_hint();
        if remaining != Some(0) {
            let size = if self.fields {
                1
            } else {
                std::mem::size_of::<K::Value>()
            };
            let remaining = if self.fields { None } else { remaining };
            self.keys.charge(self.meter, size, remaining)?;
        }
        self.inner.next_key_seed(Seed {
            inner: seed,
            meter: self.meter,
        })
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        if !self.fields {
            // The key was read, so the hint counts the entries after this one.
            let remaining = self.inner.size_hint().map(|n| n.saturating_add(1));
            let size = std::mem::size_of::<V::Value>();
            self.values.charge(self.meter, size, remaining)?;
        }
        self.inner.next_value_seed(Seed {
            inner: seed,
            meter: self.meter,
        })
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// An enum whose variant and content decode through the adapter.
struct Enum<'m, A> {
    inner: A,
    meter: &'m Meter,
    name: &'static str,
}

impl<'de, 'm, A: EnumAccess<'de>> EnumAccess<'de> for Enum<'m, A> {
    type Error = A::Error;
    type Variant = Variant<'m, A::Variant>;

    #[inline]
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.inner.variant_seed(Seed {
            inner: seed,
            meter: self.meter,
        })?;
        let variant = Variant {
            inner: variant,
            meter: self.meter,
            name: self.name,
        };
        Ok((value, variant))
    }
}

/// A variant's content, decoded through the adapter; struct variants must be maps.
struct Variant<'m, A> {
    inner: A,
    meter: &'m Meter,
    name: &'static str,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<'_, A> {
    type Error = A::Error;

    #[inline]
    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    #[inline]
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(Seed {
            inner: seed,
            meter: self.meter,
        })
    }

    #[inline]
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let v = Wrap {
            inner: visitor,
            meter: self.meter,
            strukt: None,
            enum_name: "",
        };
        self.inner.tuple_variant(len, v)
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let v = Wrap {
            inner: visitor,
            meter: self.meter,
            strukt: Some(StructName::Variant(self.name)),
            enum_name: "",
        };
        self.inner.struct_variant(fields, v)
    }
}

#[cfg(test)]
mod tests;
