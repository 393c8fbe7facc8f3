//! An authenticated session: requests sealed under the session key, replies opened and
//! matched to their request by nonce.

use bytes::Bytes;
use rand_core::CryptoRngCore;
use reqchan_core::codec::{DecodeLimits, PROTOCOL_VERSION, Value, decode_reply_with, encode_reply};

use crate::crypticle::{Crypticle, PICKLE_PAD};
use crate::error::{ReplyError, SealError};
use crate::keys::MinionKey;

/// The algorithms a minion names in its envelopes and `_auth` (Salt 3007's defaults).
pub(crate) const ENC_ALGO: &str = "OAEP-SHA1";
pub(crate) const SIG_ALGO: &str = "PKCS1v15-SHA1";

/// What the master answers when it cannot use a request (wrong session key, bad token).
const BAD_LOAD: &str = "bad load";

/// A request's nonce: 32 lowercase hex digits (the form of Python's `uuid4().hex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce([u8; 32]);

impl Nonce {
    /// A fresh random nonce.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut raw = [0u8; 16];
        rng.fill_bytes(&mut raw);
        let mut hex = [0u8; 32];
        for (i, b) in raw.iter().enumerate() {
            hex[2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
            hex[2 * i + 1] = b"0123456789abcdef"[usize::from(b & 0x0f)];
        }
        Self(hex)
    }

    /// The nonce as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits")
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// One sealed request: the envelope to send and the nonce its reply must carry.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The `aes` envelope, msgpack, ready to send.
    pub envelope: Bytes,
    /// What [`Session::open`] checks the reply against.
    pub nonce: Nonce,
}

/// The per-minion session the master granted at `_auth`: seals requests, opens replies.
#[derive(Clone)]
pub struct Session {
    id: String,
    cipher: Crypticle,
    token: Vec<u8>,
    limits: DecodeLimits,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Session {
    /// A session for minion `id` with the session key `cipher`; `token` is the minion's
    /// `tok` (see [`MinionKey`](crate::MinionKey)).
    pub(crate) fn new(id: String, cipher: Crypticle, token: Vec<u8>) -> Self {
        Self { id, cipher, token, limits: DecodeLimits::default() }
    }

    /// A session whose key is already known (say, kept from an earlier `_auth` of this
    /// minion): requests are sealed under `key` with `minion`'s token.
    pub fn resume(id: impl Into<String>, key: Crypticle, minion: &MinionKey, rng: &mut impl CryptoRngCore) -> Self {
        Self::new(id.into(), key, minion.token(rng))
    }

    /// Bounds decoding each reply (see [`DecodeLimits`]).
    pub fn with_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The minion id the session belongs to.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `load` (a map) as an `aes` request: it gains `nonce`, `ts` (`unix_time`, seconds),
    /// `tok` and `id`, and is sealed under the session key. The plaintext never leaves
    /// this function.
    pub fn seal(&self, rng: &mut impl CryptoRngCore, load: &Value, unix_time: u64) -> Result<Sealed, SealError> {
        let Value::Map(entries) = load else { return Err(SealError::NotAMap) };
        let nonce = Nonce::random(rng);
        let added = ["nonce", "ts", "tok", "id"];
        let mut map: Vec<(Value, Value)> =
            entries.iter().filter(|(k, _)| !k.as_str().is_some_and(|k| added.contains(&k))).cloned().collect();
        map.push(("nonce".into(), nonce.as_str().into()));
        map.push(("ts".into(), Value::UInt(unix_time)));
        map.push(("tok".into(), Value::Binary(self.token.clone())));
        map.push(("id".into(), self.id.as_str().into()));
        let packed = encode_reply(&Value::Map(map)).map_err(|e| SealError::Encode(e.to_string()))?;
        let mut plaintext = Vec::with_capacity(PICKLE_PAD.len() + packed.len());
        plaintext.extend_from_slice(PICKLE_PAD);
        plaintext.extend_from_slice(&packed);
        let sealed = self.cipher.encrypt(rng, &plaintext);
        let envelope = Value::map([
            ("enc", "aes".into()),
            ("load", Value::Binary(sealed)),
            ("version", Value::UInt(PROTOCOL_VERSION)),
            ("id", self.id.as_str().into()),
            ("enc_algo", ENC_ALGO.into()),
            ("sig_algo", SIG_ALGO.into()),
        ]);
        let envelope = encode_reply(&envelope).map_err(|e| SealError::Encode(e.to_string()))?;
        Ok(Sealed { envelope, nonce })
    }

    /// The answer in an `aes` reply to the request sealed with `nonce`.
    pub fn open(&self, reply: &[u8], nonce: &Nonce) -> Result<Value, ReplyError> {
        decode_reply_with(&self.unseal(reply, nonce)?, self.limits).map_err(ReplyError::Decode)
    }

    /// [`open`](Self::open), leaving the answer as its msgpack bytes (checked to be one
    /// well-formed value within the limits), to decode as the caller's own type.
    pub fn open_bytes(&self, reply: &[u8], nonce: &Nonce) -> Result<Bytes, ReplyError> {
        let answer = self.unseal(reply, nonce)?;
        decode_reply_with::<serde::de::IgnoredAny>(&answer, self.limits).map_err(ReplyError::Decode)?;
        Ok(answer)
    }

    /// The msgpack bytes of the answer, not yet checked: `bad load` recognised, then the
    /// MAC, the `pickle::` marker and the request's nonce.
    fn unseal(&self, reply: &[u8], nonce: &Nonce) -> Result<Bytes, ReplyError> {
        let sealed = match decode_reply_with::<Value>(reply, self.limits).map_err(ReplyError::Decode)? {
            Value::String(s) if s == BAD_LOAD => return Err(ReplyError::SessionRefused),
            Value::Map(m) if m.iter().any(|(k, v)| k.as_str() == Some("msg") && v.as_str() == Some(BAD_LOAD)) => {
                return Err(ReplyError::SessionRefused);
            }
            Value::Binary(b) => b,
            Value::String(s) => s.into_bytes(),
            _ => return Err(ReplyError::NotSealed),
        };
        let plaintext = Bytes::from(self.cipher.decrypt(&sealed).map_err(ReplyError::Cipher)?);
        let rest = plaintext.strip_prefix(PICKLE_PAD).ok_or(ReplyError::NoMarker)?;
        let (theirs, _) = rest.split_at_checked(32).ok_or(ReplyError::NonceMismatch)?;
        if theirs != nonce.as_bytes() {
            return Err(ReplyError::NonceMismatch);
        }
        Ok(plaintext.slice(PICKLE_PAD.len() + 32..))
    }
}
