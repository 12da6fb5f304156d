//! [`RpcName`]: the handler name an open call was opened with, kept without allocating.

use std::ops::Deref;

/// Names up to this many bytes are stored inline: every handler name of the examples and
/// tests fits (`todo.create`, `conformance.echo_metadata`), and the type stays 32 bytes.
const INLINE: usize = 30;

/// The `rpc` of an open call, which the call's later frames must repeat (swill/1 §7.2).
///
/// Kept inline when short, so that opening a call costs no allocation for it; a longer
/// name (allowed, and rare) is boxed.
#[derive(Debug)]
pub(crate) enum RpcName {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<str>),
}

impl From<&str> for RpcName {
    fn from(name: &str) -> Self {
        let mut bytes = [0; INLINE];
        match bytes.get_mut(..name.len()) {
            Some(head) => {
                head.copy_from_slice(name.as_bytes());
                // `name.len() <= INLINE < 256`.
                let len = name.len() as u8;
                Self::Inline { len, bytes }
            }
            None => Self::Boxed(name.into()),
        }
    }
}

impl Deref for RpcName {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Self::Inline { len, bytes } => {
                let head = bytes.get(..usize::from(*len)).unwrap_or_default();
                // Copied from a `str` whole, so always UTF-8; an empty name otherwise.
                std::str::from_utf8(head).unwrap_or_default()
            }
            Self::Boxed(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_stay_inline_and_long_ones_are_boxed() {
        for name in ["", "add", "conformance.echo_metadata", &"x".repeat(INLINE)] {
            let rpc = RpcName::from(name);
            assert!(matches!(rpc, RpcName::Inline { .. }), "{name}");
            assert_eq!(&*rpc, name);
        }
        let long = "é".repeat(INLINE);
        let rpc = RpcName::from(long.as_str());
        assert!(matches!(rpc, RpcName::Boxed(_)));
        assert_eq!(&*rpc, long);
        assert_eq!(std::mem::size_of::<RpcName>(), 32);
    }
}
