//! The Salt envelope codec.
//!
//! A request travels as a msgpack **map** `{"enc": "clear" | "aes", "load": <value>,
//! "version": 3}`; a reply to a clear request is the bare msgpack of the return value.
//!
//! ```
//! use reqchan_core::codec::{self, Crypt, Value};
//!
//! let wire = codec::encode_request(Crypt::Clear, &Value::map([("cmd", "ping".into())])).unwrap();
//! let request = codec::decode_request(&wire).unwrap();
//! assert_eq!(request.crypt, Crypt::Clear);
//! assert_eq!(request.load.get("cmd").and_then(Value::as_str), Some("ping"));
//!
//! let reply: Value = codec::decode_reply(codec::BAD_LOAD_REPLY).unwrap();
//! assert_eq!(reply.get("msg").and_then(Value::as_str), Some("bad load"));
//! ```
//!
//! # Decisions
//! - **Missing `version`.** Salt 3007 reads a missing version as 0 and answers
//!   `{"msg": "bad load"}`; so does this codec ([`EnvelopeError::MissingVersion`]).
//!   Versions above 3 are accepted.
//! - **Non-UTF-8 str.** Salt packs Python `bytes` as msgpack str. rmp-serde 1.3 hands a
//!   str that is not valid UTF-8 to the visitor's `visit_bytes` (and fails only if the
//!   visitor refuses bytes), so [`Value`] keeps it as [`Value::Binary`]. Typed fields
//!   use [`salt_bytes`].
//! - **Hostile input.** Every decode first walks the bytes with a non-recursive scanner:
//!   exactly one value (trailing bytes are an error, as in Python's `msgpack.unpackb`),
//!   nesting at most [`MAX_DEPTH`], and every declared length backed by bytes that exist
//!   before anything is allocated. Decoding never panics.

mod envelope;
mod error;
mod reply;
pub mod salt_bytes;
mod scan;
mod value;
mod value_convert;

pub use envelope::{
    Crypt, PROTOCOL_VERSION, RawRequest, Request, decode_request, decode_request_as, encode_request, split_request,
};
pub use error::{DecodeError, EncodeError, EnvelopeError, MsgpackError};
pub use reply::{
    BAD_LOAD_REPLY, BAD_LOAD_STRING_REPLY, DecodeLimits, HANDLER_EXCEPTION_REPLY, Refusal, SERVER_BUSY_REPLY,
    decode_reply, decode_reply_with, encode_reply,
};
pub use scan::MAX_DEPTH;
pub use value::Value;

#[cfg(test)]
mod tests;
