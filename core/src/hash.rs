//! Hashing for the ids reqchan assigns itself (request ids, a router's peer ids): they
//! are counters, never chosen by a peer, so an unkeyed hash cannot be steered into
//! collisions, and one multiply is all it takes.

use std::hash::{BuildHasherDefault, Hasher};

/// Hashes sequential ids with one multiply (Fibonacci hashing): deterministic, fast,
/// and well spread for a counter. Only for keys a peer cannot choose.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Builds [`IdHasher`]s: `HashMap<RequestId, V, BuildIdHasher>`,
/// `HashMap<PeerId, V, BuildIdHasher>`.
pub type BuildIdHasher = BuildHasherDefault<IdHasher>;
