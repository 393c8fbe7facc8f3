//! The Salt request envelope: `{"enc": "clear" | "aes", "load": <value>, "version": 3}`.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::error::{EncodeError, EnvelopeError};
use super::reply::DecodeLimits;
use super::scan;
use super::value::Value;

/// The envelope version this codec writes, and the lowest it accepts (Salt 3007
/// answers anything older with `{"msg": "bad load"}`).
pub const PROTOCOL_VERSION: u64 = 3;

/// How a request's load is protected: the envelope's `"enc"` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Crypt {
    /// `"clear"`: the load is plain msgpack.
    Clear,
    /// `"aes"`: the load is encrypted with the session key (Salt's auth handshake).
    Aes,
}

impl Crypt {
    /// The envelope's `"enc"` string for this crypt.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clear => "clear",
            Self::Aes => "aes",
        }
    }

    fn from_wire(s: &str) -> Option<Self> {
        match s {
            "clear" => Some(Self::Clear),
            "aes" => Some(Self::Aes),
            _ => None,
        }
    }
}

/// A decoded request envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<L = Value> {
    /// The envelope's `"enc"`.
    pub crypt: Crypt,
    /// The envelope's `"version"` (at least [`PROTOCOL_VERSION`]).
    pub version: u64,
    /// The envelope's `"load"`.
    pub load: L,
}

/// A validated request envelope whose load is still msgpack bytes.
///
/// Cheap to produce (no allocation); lets a server forward or echo the load
/// byte-for-byte, or decode it later to any type with [`RawRequest::decode_load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRequest<'a> {
    /// The envelope's `"enc"`.
    pub crypt: Crypt,
    /// The envelope's `"version"` (at least [`PROTOCOL_VERSION`]).
    pub version: u64,
    /// The exact msgpack bytes of the envelope's `"load"` value.
    pub load: &'a [u8],
}

impl RawRequest<'_> {
    /// Decodes the load to `T` (use [`Value`] for a dynamic value).
    pub fn decode_load<T: DeserializeOwned>(&self) -> Result<Request<T>, EnvelopeError> {
        let load =
            rmp_serde::from_slice(self.load).map_err(|e| EnvelopeError::LoadMismatch { reason: e.to_string() })?;
        Ok(Request { crypt: self.crypt, version: self.version, load })
    }
}

struct Envelope<'a, T: ?Sized> {
    crypt: Crypt,
    load: &'a T,
}

impl<T: Serialize + ?Sized> Serialize for Envelope<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Envelope", 3)?;
        s.serialize_field("enc", self.crypt.as_str())?;
        s.serialize_field("load", self.load)?;
        s.serialize_field("version", &PROTOCOL_VERSION)?;
        s.end()
    }
}

/// Encodes `load` in a version-3 request envelope, as a msgpack map in the order
/// `enc`, `load`, `version`. Structs inside `load` are written as maps (Salt's loads
/// are dicts).
pub fn encode_request<T: Serialize + ?Sized>(crypt: Crypt, load: &T) -> Result<Bytes, EncodeError> {
    rmp_serde::to_vec_named(&Envelope { crypt, load })
        .map(Bytes::from)
        .map_err(|e| EncodeError::Serialize { reason: e.to_string() })
}

/// Validates a request envelope without decoding its load.
///
/// Checks, in this order: one well-formed msgpack value (no trailing bytes, nesting
/// within [`MAX_DEPTH`](super::MAX_DEPTH)); a map; `"enc"` present; `"load"` present;
/// `"enc"` is `"clear"` or `"aes"`; `"version"` present, an integer, and at least 3.
/// Keys must be msgpack str (Salt decodes with `raw=False`, so a bin key never matches);
/// a repeated key takes its last value, as Python's dict does; other keys are ignored.
pub fn split_request(payload: &[u8]) -> Result<RawRequest<'_>, EnvelopeError> {
    scan::check_whole(payload, DecodeLimits::default().max_elements).map_err(EnvelopeError::NotMsgpack)?;
    let (entries, mut pos) = match payload[0] {
        m @ 0x80..=0x8f => (u64::from(m & 0x0f), 1),
        0xde => (u64::from(u16::from_be_bytes([payload[1], payload[2]])), 3),
        0xdf => (u64::from(u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]])), 5),
        _ => return Err(EnvelopeError::NotAMap),
    };
    let (mut enc, mut load, mut version) = (None, None, None);
    for _ in 0..entries {
        // The scan above proved every entry is complete, so these cannot fail.
        let key_end = scan::value_end(payload, pos).map_err(EnvelopeError::NotMsgpack)?;
        let value_end = scan::value_end(payload, key_end).map_err(EnvelopeError::NotMsgpack)?;
        let value = &payload[key_end..value_end];
        match str_key(&payload[pos..key_end]) {
            Some(b"enc") => enc = Some(value),
            Some(b"load") => load = Some(value),
            Some(b"version") => version = Some(value),
            _ => {}
        }
        pos = value_end;
    }
    let enc = enc.ok_or(EnvelopeError::MissingEnc)?;
    let load = load.ok_or(EnvelopeError::MissingLoad)?;
    // What every Salt request carries, recognised without decoding: fixstr "clear" or
    // "aes", and a positive fixint version.
    let crypt = match enc {
        b"\xa5clear" => Crypt::Clear,
        b"\xa3aes" => Crypt::Aes,
        _ => {
            let enc_value: Value = decode_small(enc);
            enc_value
                .as_str()
                .and_then(Crypt::from_wire)
                .ok_or_else(|| EnvelopeError::UnsupportedEnc { found: describe(&enc_value) })?
        }
    };
    let version = version.ok_or(EnvelopeError::MissingVersion)?;
    if let [fixint @ 0x00..=0x7f] = version
        && u64::from(*fixint) >= PROTOCOL_VERSION
    {
        return Ok(RawRequest { crypt, version: u64::from(*fixint), load });
    }
    let version = match decode_small(version) {
        Value::UInt(v) if v >= PROTOCOL_VERSION => v,
        Value::UInt(v) => return Err(EnvelopeError::VersionTooOld { version: v as i64 }),
        Value::Int(v) => return Err(EnvelopeError::VersionTooOld { version: v }),
        _ => return Err(EnvelopeError::InvalidVersion),
    };
    Ok(RawRequest { crypt, version, load })
}

/// Decodes a request envelope and its load as a dynamic [`Value`].
///
/// See [`split_request`] for what is checked.
pub fn decode_request(payload: &[u8]) -> Result<Request<Value>, EnvelopeError> {
    split_request(payload)?.decode_load()
}

/// Decodes a request envelope and its load as `T`.
pub fn decode_request_as<T: DeserializeOwned>(payload: &[u8]) -> Result<Request<T>, EnvelopeError> {
    split_request(payload)?.decode_load()
}

/// The bytes of a msgpack str key (fixstr, str8, str16, str32), if `item` is one.
fn str_key(item: &[u8]) -> Option<&[u8]> {
    let skip = match *item.first()? {
        0xa0..=0xbf => 1,
        0xd9 => 2,
        0xda => 3,
        0xdb => 5,
        _ => return None,
    };
    item.get(skip..)
}

/// Decodes a value already proven well-formed; a failure cannot happen but maps to Nil.
fn decode_small(item: &[u8]) -> Value {
    rmp_serde::from_slice(item).unwrap_or(Value::Nil)
}

/// A short printable description of an unexpected `"enc"` value.
fn describe(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("{s:?}"),
        Value::Binary(b) => format!("bin {:?}", String::from_utf8_lossy(b)),
        Value::Nil => "nil".to_owned(),
        other => format!("{other:?}"),
    };
    text.chars().take(64).collect()
}
