//! Small, per-core randomness and a stable hash.
//!
//! Balancers draw a random number on every pick; a shared generator (or a
//! thread-local behind a `RefCell` in another crate) would cost more than
//! the pick. Each picker owns a [`FastRng`] (wyrand: one multiply, passes
//! PractRand; not for secrets) seeded per instance.
//!
//! [`stable_hash`] places virtual nodes on the consistent-hash ring; it must
//! give the same value on every core and in every process, so it is a fixed
//! function (FNV-1a, then a splitmix64 finalizer for avalanche), not std's
//! randomly keyed `DefaultHasher`.

use std::sync::atomic::{AtomicU64, Ordering};

/// A tiny per-owner PRNG (wyrand).
#[derive(Debug, Clone)]
pub struct FastRng(u64);

impl FastRng {
    /// A generator with a fixed seed (for tests and benchmarks).
    pub fn with_seed(seed: u64) -> Self {
        FastRng(seed)
    }

    /// A generator with a seed that differs per call (a global counter mixed
    /// with the clock), so cores do not walk in lock step.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = NEXT.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        FastRng(mix64(t ^ n))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        (t as u64) ^ ((t >> 64) as u64)
    }

    /// A uniform number in `0..n` (Lemire's multiply-shift; `n > 0`).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

impl Default for FastRng {
    fn default() -> Self {
        Self::new()
    }
}

/// splitmix64's finalizer: spreads every input bit over the output.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash of `bytes` that is the same everywhere (FNV-1a, then [`mix64`]).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = FastRng::with_seed(7);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[r.below(10)] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn stable_hash_is_fixed() {
        // Pinned so that a change of the function (which would move every
        // key on the ring) is a deliberate one.
        assert_eq!(stable_hash(b""), mix64(0xcbf2_9ce4_8422_2325));
        assert_ne!(stable_hash(b"127.0.0.1:1#0"), stable_hash(b"127.0.0.1:1#1"));
    }
}
