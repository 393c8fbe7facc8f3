//! Request ids: a counter, never derived from the payload.

use std::fmt;

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
