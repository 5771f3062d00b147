//! A fast hasher for the short keys that job storage and workers index by on every job: job ids,
//! leases and job names.
//!
//! The standard library's SipHash costs a few hundred instructions per short key, which the
//! in-memory indexes paid several times per job. [`IdHasher`] folds each 8-byte word into its
//! state with one 64x64->128-bit multiply, and every map gets its own random seed from
//! [`std::collections::hash_map::RandomState`], so keys chosen by a dispatcher do not collide
//! the same way in every process. It is not meant to resist an adversary who can observe the
//! map's timing; use it for in-process indexes, not for maps of untrusted input exposed to a
//! network.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Odd constants with well-mixed bits (from the digits of pi), for the folded multiplies.
const MUL_WORD: u64 = 0x243f_6a88_85a3_08d3;
const MUL_FINISH: u64 = 0x1319_8a2e_0370_7344 | 1;

/// The high and low halves of the 128-bit product, xored: every input bit reaches every output
/// bit, so both the bucket index (low bits) and the control byte (high bits) depend on the
/// whole key.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Builds [`IdHasher`]s sharing one random seed; give each map its own with `default()`.
#[derive(Clone, Debug)]
pub struct IdHashState {
    seed: u64,
}

impl Default for IdHashState {
    fn default() -> Self {
        // `RandomState` draws from per-thread random keys; one SipHash per map is cheap.
        Self {
            seed: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }
}

impl BuildHasher for IdHashState {
    type Hasher = IdHasher;

    #[inline]
    fn build_hasher(&self) -> IdHasher {
        IdHasher { state: self.seed }
    }
}

/// The hasher built by [`IdHashState`].
#[derive(Clone, Debug)]
pub struct IdHasher {
    state: u64,
}

impl IdHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.state = fold(self.state ^ word, MUL_WORD);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length in the top byte tells "ab" from "ab\0".
            word[7] ^= rest.len() as u8;
            self.mix(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold(self.state, MUL_FINISH)
    }
}

/// A stable 128-bit fingerprint of `bytes`: the same in every process and on every run (two
/// [`IdHasher`]s with fixed seeds), for keys that storage shares between processes, such as a
/// unique job's default key. Not meant to resist an adversary choosing colliding inputs.
pub fn fingerprint(bytes: &[u8]) -> u128 {
    let mut high = IdHasher {
        state: 0x9e37_79b9_7f4a_7c15,
    };
    let mut low = IdHasher {
        state: 0xc2b2_ae3d_27d4_eb4f,
    };
    high.write(bytes);
    low.write(bytes);
    // The length too, so inputs that differ only in trailing zero bytes differ.
    high.write_usize(bytes.len());
    low.write_usize(bytes.len());
    (u128::from(high.finish()) << 64) | u128::from(low.finish())
}

/// A `HashMap` using [`IdHashState`].
pub type IdHashMap<K, V> = std::collections::HashMap<K, V, IdHashState>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn hash(state: &IdHashState, key: &str) -> u64 {
        state.hash_one(key)
    }

    #[test]
    fn equal_keys_hash_equal_and_lengths_differ() {
        let state = IdHashState::default();
        assert_eq!(hash(&state, "12345"), hash(&state, "12345"));
        assert_ne!(hash(&state, "ab"), hash(&state, "ab\0"));
        assert_ne!(hash(&state, ""), hash(&state, "\0"));
    }

    #[test]
    fn fingerprints_are_stable_and_tell_inputs_apart() {
        assert_eq!(fingerprint(b"{\"a\":1}"), fingerprint(b"{\"a\":1}"));
        assert_ne!(fingerprint(b"{\"a\":1}"), fingerprint(b"{\"a\":2}"));
        assert_ne!(fingerprint(b""), fingerprint(b"\0"));
        // Fixed seeds: the value does not change between runs or builds.
        assert_eq!(fingerprint(b"x"), fingerprint(b"x"));
    }

    #[test]
    fn sequential_ids_spread_over_buckets() {
        // Generated ids differ only in their last digits; a weak hash puts them in few buckets.
        let state = IdHashState::default();
        let buckets: HashSet<u64> = (0..4096u64)
            .map(|n| hash(&state, &n.to_string()) & 1023)
            .collect();
        assert!(
            buckets.len() > 900,
            "{} of 1024 buckets used",
            buckets.len()
        );
        let tags: HashSet<u64> = (0..4096u64)
            .map(|n| hash(&state, &n.to_string()) >> 57)
            .collect();
        assert_eq!(tags.len(), 128, "every top-7-bit tag is used");
    }
}
