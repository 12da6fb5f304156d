//! The serde adapter around rmp-serde's deserializer: strict structs and budget charges (see
//! the parent module for the rules).

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use super::{Meter, Prepaid};

/// The deserializer adapter: forwards everything, wrapping every visitor.
pub(super) struct Strict<'m, D> {
    pub(super) de: D,
    pub(super) meter: &'m Meter,
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
