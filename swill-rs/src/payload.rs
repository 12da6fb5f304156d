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

mod adapter;
pub(crate) mod byte_budget;
mod encoded;

pub use encoded::{Encoded, EncodedError};

use std::cell::Cell;

use serde::de::{self, DeserializeOwned};

use crate::error::{Code, Error};

/// Default decode budget, as a multiple of the payload's length: 8, so that an array of the
/// widest primitives (`i64`, `f64`: 8 bytes each) decodes even from their narrowest encoding
/// (one byte per element), while a frame of nils decoded into `swill::Value`s (40 bytes each)
/// is refused. A 16 MiB frame may decode into an estimated 128 MiB at most.
pub const DEFAULT_DECODE_BUDGET_RATIO: usize = 8;

/// Default smallest decode budget: 8 MiB, whatever the payload's length, so that small
/// payloads decode into dynamic values freely (about 200,000 `swill::Value`s).
pub const DEFAULT_MIN_DECODE_BUDGET: usize = 8 << 20;

/// Request payloads whose top-level value is an array or a map and that are at least this
/// long (64 KiB) are decoded on the blocking pool, not on the connection's worker: decoding
/// many small elements costs in the order of 20 ns each, so at this size a decode may take a
/// third of a millisecond and more, which other connections on the worker would wait for;
/// below it, the hop to the pool (tens of microseconds) would cost more than it saves.
/// Strings and `bin` payloads of any length decode inline: they are one copy.
pub const DEFAULT_OFFLOAD_DECODE_ABOVE: usize = 64 << 10;

/// How deeply arrays, maps and extension values may nest in one payload: 128 levels, serde_json's
/// default recursion limit. Decoding recurses once per level, and deeper payloads could
/// overflow a runtime worker's 2 MiB stack (which aborts the process) in a debug build; a
/// deeper payload gets ERROR 400. Fixed rather than configurable for that reason.
pub const MAX_PAYLOAD_DEPTH: usize = 128;

/// The 413 code a payload over its decode budget gets.
const PAYLOAD_TOO_LARGE: Code = Code::PAYLOAD_TOO_LARGE;

/// How much memory decoding one payload may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Multiple of the payload's length.
    pub(crate) ratio: usize,
    /// Smallest budget, in bytes.
    pub(crate) min: usize,
    /// Payloads of containers at least this long decode on the blocking pool.
    pub(crate) offload_above: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            ratio: DEFAULT_DECODE_BUDGET_RATIO,
            min: DEFAULT_MIN_DECODE_BUDGET,
            offload_above: DEFAULT_OFFLOAD_DECODE_ABOVE,
        }
    }
}

impl Budget {
    /// Whether `raw` should decode on the blocking pool: a container (array or map, by its
    /// first byte) at least [`offload_above`](Self::offload_above) long.
    pub(crate) fn offload(&self, raw: &[u8]) -> bool {
        raw.len() >= self.offload_above && matches!(raw.first(), Some(0x80..=0x9f | 0xdc..=0xdf))
    }

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
    let res = T::deserialize(adapter::Strict {
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

#[cfg(test)]
mod tests;
