//! The codec's typed errors. Display is written by hand: core depends on no error crate.

use std::fmt;

/// Why bytes are not one well-formed msgpack value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MsgpackError {
    /// The input ends inside a value, or declares a length larger than what follows.
    Truncated {
        /// Byte offset of the item whose data is missing.
        offset: usize,
    },
    /// Marker `0xc1`, which msgpack reserves and never emits.
    ReservedMarker {
        /// Byte offset of the marker.
        offset: usize,
    },
    /// Arrays, maps or ext values nest deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    TooDeep {
        /// The nesting limit that was exceeded.
        limit: usize,
    },
    /// The value is made of more items than the decode budget allows
    /// ([`DecodeLimits::max_elements`](super::DecodeLimits::max_elements)).
    TooManyElements {
        /// The budget that was exceeded.
        limit: u64,
    },
    /// A complete value is followed by more bytes.
    TrailingBytes {
        /// How many bytes follow the value.
        count: usize,
    },
}

impl fmt::Display for MsgpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { offset } => {
                write!(f, "msgpack data truncated: the item at byte {offset} needs more bytes than the message has")
            }
            Self::ReservedMarker { offset } => {
                write!(f, "reserved msgpack marker 0xc1 at byte {offset}")
            }
            Self::TooDeep { limit } => {
                write!(f, "msgpack value nests deeper than the limit of {limit} levels")
            }
            Self::TooManyElements { limit } => write!(
                f,
                "msgpack value has more than {limit} elements (the decode budget; raise DecodeLimits::max_elements)"
            ),
            Self::TrailingBytes { count } => {
                write!(f, "{count} unexpected byte(s) after the msgpack value: a message holds exactly one value")
            }
        }
    }
}

impl std::error::Error for MsgpackError {}

/// Why a request payload is not a Salt request envelope this codec accepts.
///
/// A Salt 3007 master answers every one of these with `{"msg": "bad load"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The payload is not one well-formed msgpack value.
    NotMsgpack(MsgpackError),
    /// The payload is msgpack but not a map.
    NotAMap,
    /// The map has no `"enc"` key.
    MissingEnc,
    /// The map has no `"load"` key.
    MissingLoad,
    /// `"enc"` is neither `"clear"` nor `"aes"`.
    UnsupportedEnc {
        /// What `"enc"` held, printed lossily (at most 64 characters).
        found: String,
    },
    /// The map has no `"version"` key; Salt treats that as version 0 and refuses it.
    MissingVersion,
    /// `"version"` is not an integer.
    InvalidVersion,
    /// `"version"` is below [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
    VersionTooOld {
        /// The version the peer sent.
        version: i64,
    },
    /// The envelope is valid but its load does not decode to the requested type.
    LoadMismatch {
        /// The deserializer's explanation.
        reason: String,
    },
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMsgpack(e) => write!(f, "request payload is not valid msgpack: {e}"),
            Self::NotAMap => {
                f.write_str("request payload is not a msgpack map: expected {\"enc\", \"load\", \"version\"}")
            }
            Self::MissingEnc => f.write_str("request envelope has no \"enc\" key"),
            Self::MissingLoad => f.write_str("request envelope has no \"load\" key"),
            Self::UnsupportedEnc { found } => {
                write!(f, "request envelope \"enc\" is {found}: expected \"clear\" or \"aes\"")
            }
            Self::MissingVersion => {
                f.write_str("request envelope has no \"version\" key: Salt 3007 requires version 3 or later")
            }
            Self::InvalidVersion => f.write_str("request envelope \"version\" is not an integer"),
            Self::VersionTooOld { version } => {
                write!(f, "request envelope version {version} is too old: Salt 3007 requires version 3 or later")
            }
            Self::LoadMismatch { reason } => {
                write!(f, "request load does not match the expected type: {reason}")
            }
        }
    }
}

impl std::error::Error for EnvelopeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NotMsgpack(e) => Some(e),
            _ => None,
        }
    }
}

/// Why reply bytes do not decode to the requested type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not one well-formed msgpack value.
    NotMsgpack(MsgpackError),
    /// The bytes are msgpack but do not match the requested type.
    Mismatch {
        /// The deserializer's explanation.
        reason: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMsgpack(e) => write!(f, "reply is not valid msgpack: {e}"),
            Self::Mismatch { reason } => {
                write!(f, "reply does not match the expected type: {reason}")
            }
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NotMsgpack(e) => Some(e),
            Self::Mismatch { .. } => None,
        }
    }
}

/// Why a value could not be encoded as msgpack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The value's `Serialize` implementation failed or produced something msgpack
    /// cannot hold.
    Serialize {
        /// The serializer's explanation.
        reason: String,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Serialize { reason } => write!(f, "cannot encode value as msgpack: {reason}"),
        }
    }
}

impl std::error::Error for EncodeError {}
