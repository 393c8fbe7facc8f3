//! Request ids: a counter, never derived from the payload.

use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use bytes::{Bytes, BytesMut};

/// Identifies one accepted request for the life of its [`Client`](super::Client).
/// Two byte-identical payloads get two ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The id as a number (increasing in submission order).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The request-id frame sent ahead of the delimiter in pipelined mode.
    pub(crate) fn to_frame(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Reads a request-id frame echoed by the peer.
    pub(crate) fn from_frame(frame: &[u8]) -> Option<Self> {
        Some(Self(u64::from_be_bytes(frame.try_into().ok()?)))
    }
}

/// Request-id frames cut from shared chunks: one allocation per 512 frames instead of
/// one per transmission.
#[derive(Debug, Default)]
pub(crate) struct IdFrames {
    chunk: BytesMut,
}

impl IdFrames {
    const CHUNK: usize = 8 * 512;

    /// The frame for `id`.
    pub(crate) fn frame(&mut self, id: RequestId) -> Bytes {
        if self.chunk.capacity() < 8 {
            self.chunk = BytesMut::with_capacity(Self::CHUNK);
        }
        self.chunk.extend_from_slice(&id.to_frame());
        self.chunk.split().freeze()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Hashes sequential ids with one multiply (Fibonacci hashing): deterministic, fast,
/// and well spread for a counter.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type BuildIdHasher = BuildHasherDefault<IdHasher>;
