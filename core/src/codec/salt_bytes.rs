//! Serde helpers for byte fields that Salt may send as msgpack str.
//!
//! Salt packs Python `bytes` with `use_bin_type=False`, so they arrive as msgpack
//! **str**, often not valid UTF-8. A plain `Vec<u8>` field refuses a str; annotate it
//! instead:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Signed {
//!     #[serde(with = "reqchan_core::codec::salt_bytes")]
//!     sig: Vec<u8>,
//! }
//!
//! // {"sig": <str of 2 bytes, not UTF-8>}
//! let wire = [0x81, 0xa3, b's', b'i', b'g', 0xa2, 0xff, 0xfe];
//! let decoded: Signed = reqchan_core::codec::decode_reply(&wire).unwrap();
//! assert_eq!(decoded.sig, vec![0xff, 0xfe]);
//! ```
//!
//! Decoding accepts msgpack str (UTF-8 or not), bin, and an array of small integers;
//! encoding writes bin.

use std::fmt;

use serde::Serializer;
use serde::de::{Deserializer, SeqAccess, Visitor};

/// Serializes bytes as msgpack bin.
pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

/// Deserializes bytes from msgpack str, bin, or an array of integers 0..=255.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_byte_buf(BytesVisitor)
}

pub(super) struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes (msgpack bin or str)")
    }

    fn visit_str<E>(self, v: &str) -> Result<Vec<u8>, E> {
        Ok(v.as_bytes().to_vec())
    }

    fn visit_string<E>(self, v: String) -> Result<Vec<u8>, E> {
        Ok(v.into_bytes())
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}
