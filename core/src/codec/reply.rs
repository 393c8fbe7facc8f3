//! Replies: Salt answers a clear request with the bare msgpack of the return value,
//! not enveloped (`{}`, `{"msg": "bad load"}`, a string, ...).

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{DecodeError, EncodeError};
use super::scan;

/// `{"msg": "bad load"}`: what Salt 3007 answers to a malformed request.
pub const BAD_LOAD_REPLY: &[u8] = b"\x81\xa3msg\xa8bad load";

/// `"bad load"` (a msgpack str): what Salt 3007 answers to a msgpack value that is
/// not a request envelope.
pub const BAD_LOAD_STRING_REPLY: &[u8] = b"\xa8bad load";

/// `"Some exception handling minion payload"` (a msgpack str): what Salt answers when
/// its request handler raises.
pub const HANDLER_EXCEPTION_REPLY: &[u8] = b"\xd9\x26Some exception handling minion payload";

/// `{"msg": "server busy"}`: reqchan's answer when a server cannot take a request
/// (its queue is full, or it is shutting down). Salt has no equivalent: it never
/// refuses, it just stops answering.
pub const SERVER_BUSY_REPLY: &[u8] = b"\x81\xa3msg\xabserver busy";

/// One of the refusals a Salt master or a reqchan server sends in place of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The request was malformed: [`BAD_LOAD_REPLY`], or Salt's bare string
    /// [`BAD_LOAD_STRING_REPLY`].
    BadLoad,
    /// The server could not take the request now: [`SERVER_BUSY_REPLY`].
    ServerBusy,
    /// The server's handler failed on the request: [`HANDLER_EXCEPTION_REPLY`].
    HandlerException,
}

impl Refusal {
    /// Whether the same request may succeed later (only `ServerBusy`).
    pub fn is_retryable(self) -> bool {
        self == Refusal::ServerBusy
    }

    /// Recognises a refusal: `reply` is exactly one of the refusal shapes, byte for byte
    /// (as Salt and reqchan encode them). A reply that merely contains such a value is
    /// not a refusal.
    pub fn of(reply: &[u8]) -> Option<Refusal> {
        // Every shape is a few bytes long: anything longer is a reply.
        if reply.len() > HANDLER_EXCEPTION_REPLY.len() {
            return None;
        }
        match reply {
            BAD_LOAD_REPLY | BAD_LOAD_STRING_REPLY => Some(Refusal::BadLoad),
            SERVER_BUSY_REPLY => Some(Refusal::ServerBusy),
            HANDLER_EXCEPTION_REPLY => Some(Refusal::HandlerException),
            _ => None,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::BadLoad => "bad load",
            Refusal::ServerBusy => "server busy",
            Refusal::HandlerException => "the server's handler failed",
        })
    }
}

/// Encodes a reply value as bare msgpack (structs as maps).
pub fn encode_reply<T: Serialize + ?Sized>(reply: &T) -> Result<Bytes, EncodeError> {
    rmp_serde::to_vec_named(reply).map(Bytes::from).map_err(|e| EncodeError::Serialize { reason: e.to_string() })
}

/// Bounds on what decoding one message may cost, checked by the pre-scan before
/// anything is decoded.
///
/// The nesting depth is always bounded by [`MAX_DEPTH`](super::MAX_DEPTH). Memory is
/// bounded by the element budget. Measured by `core/tests/decode_memory.rs` (a heap
/// profiler, exact bytes), decoding into [`Value`](super::Value) peaks at 64 bytes of
/// heap per element for the costliest shapes (a flat array of nils or of empty arrays,
/// a map of `nil: nil`: each one-byte element becomes a 32-byte `Value` in a buffer that
/// grows by doubling), that is up to 64 bytes per byte of reply, plus the bytes of
/// strings and binaries. With the default budget of 1,048,576 elements a reply can
/// therefore never take more than about 67 MB beyond its string data, whatever its
/// size; before the budget existed, a 60 MiB array of nils took the client to 6.46 GB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Items a message may hold in all: every scalar, string, container and map key
    /// counts one. Default: 1,048,576 (2^20).
    pub max_elements: u64,
}

impl DecodeLimits {
    /// The default budget.
    pub const DEFAULT_MAX_ELEMENTS: u64 = 1 << 20;

    /// Sets the element budget.
    pub fn max_elements(mut self, max_elements: u64) -> Self {
        self.max_elements = max_elements;
        self
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self { max_elements: Self::DEFAULT_MAX_ELEMENTS }
    }
}

/// Decodes a reply to `T` (use [`Value`](super::Value) for a dynamic value) within the
/// default [`DecodeLimits`].
///
/// The bytes must hold exactly one msgpack value nested at most
/// [`MAX_DEPTH`](super::MAX_DEPTH) deep; nothing is allocated for a declared length the
/// bytes cannot back.
pub fn decode_reply<T: DeserializeOwned>(reply: &[u8]) -> Result<T, DecodeError> {
    decode_reply_with(reply, DecodeLimits::default())
}

/// [`decode_reply`] within `limits`.
pub fn decode_reply_with<T: DeserializeOwned>(reply: &[u8], limits: DecodeLimits) -> Result<T, DecodeError> {
    scan::check_whole(reply, limits.max_elements).map_err(DecodeError::NotMsgpack)?;
    rmp_serde::from_slice(reply).map_err(|e| DecodeError::Mismatch { reason: e.to_string() })
}
