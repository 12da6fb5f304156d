//! Hash maps keyed by [`Seq`], without SipHash on the per-call path.
//!
//! Every frame looks its seq up at least once, so std's SipHash (about 20 ns a lookup) was a
//! measurable share of a unary call. A seq is one integer: [`SeqHasher`] mixes it with one
//! multiply and xor-shifts. The peer chooses seqs, so each map takes a random key (from std's
//! `RandomState`) mixed into the hash: colliding seqs cannot be computed in advance, and the
//! tables are bounded by the engine's limits anyway.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher, RandomState};

use super::frame::Seq;

/// A map from [`Seq`] with the fast, keyed [`SeqHasher`].
pub type SeqMap<V> = HashMap<Seq, V, SeqState>;
/// A set of [`Seq`] with the fast, keyed [`SeqHasher`].
pub type SeqSet = HashSet<Seq, SeqState>;

/// Builds [`SeqHasher`]s with one random key per map.
#[derive(Clone, Debug)]
pub struct SeqState {
    key: u64,
}

impl Default for SeqState {
    fn default() -> Self {
        Self {
            key: RandomState::new().hash_one(0x5eed_u64),
        }
    }
}

impl BuildHasher for SeqState {
    type Hasher = SeqHasher;
    fn build_hasher(&self) -> SeqHasher {
        SeqHasher { state: self.key }
    }
}

/// Hashes one integer (a seq) with a multiply-xorshift mix of it and the map's key.
#[derive(Clone, Debug)]
pub struct SeqHasher {
    state: u64,
}

impl Hasher for SeqHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than Seq: fold the bytes in, one at a time.
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        let x = (self.state ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.state = x ^ (x >> 29);
    }

    fn finish(&self) -> u64 {
        let x = self.state.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^ (x >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_spread_over_the_table_and_keys_differ_per_map() {
        let state = SeqState::default();
        let hash = |s: &SeqState, n: i64| s.hash_one(Seq(n));
        let low: HashSet<u64> = (0..4096).map(|n| hash(&state, n) & 1023).collect();
        assert!(
            low.len() > 900,
            "consecutive seqs fill the buckets: {}",
            low.len()
        );
        let other = SeqState::default();
        assert_ne!(
            hash(&state, 1),
            hash(&other, 1),
            "every map has its own key"
        );
        let mut map: SeqMap<i64> = SeqMap::default();
        for n in -100..100 {
            map.insert(Seq(n), n);
        }
        assert!((-100..100).all(|n| map.get(&Seq(n)) == Some(&n)));
    }
}
