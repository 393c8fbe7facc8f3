//! Replies: Salt answers a clear request with the bare msgpack of the return value,
//! not enveloped (`{}`, `{"msg": "bad load"}`, a string, ...).

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{DecodeError, EncodeError};
use super::scan;

/// `{"msg": "bad load"}`: what Salt 3007 answers to a malformed request.
pub const BAD_LOAD_REPLY: &[u8] = b"\x81\xa3msg\xa8bad load";

/// `"Some exception handling minion payload"` (a msgpack str): what Salt answers when
/// its request handler raises.
pub const HANDLER_EXCEPTION_REPLY: &[u8] = b"\xd9\x26Some exception handling minion payload";

/// `{"msg": "server busy"}`: reqchan's answer when a server cannot take a request
/// (its queue is full, or it is shutting down). Salt has no equivalent: it never
/// refuses, it just stops answering.
pub const SERVER_BUSY_REPLY: &[u8] = b"\x81\xa3msg\xabserver busy";

/// Encodes a reply value as bare msgpack (structs as maps).
pub fn encode_reply<T: Serialize + ?Sized>(reply: &T) -> Result<Bytes, EncodeError> {
    rmp_serde::to_vec_named(reply).map(Bytes::from).map_err(|e| EncodeError::Serialize { reason: e.to_string() })
}

/// Decodes a reply to `T` (use [`Value`](super::Value) for a dynamic value).
///
/// The bytes must hold exactly one msgpack value nested at most
/// [`MAX_DEPTH`](super::MAX_DEPTH) deep; nothing is allocated for a declared length the
/// bytes cannot back.
pub fn decode_reply<T: DeserializeOwned>(reply: &[u8]) -> Result<T, DecodeError> {
    scan::check_whole(reply).map_err(DecodeError::NotMsgpack)?;
    rmp_serde::from_slice(reply).map_err(|e| DecodeError::Mismatch { reason: e.to_string() })
}
