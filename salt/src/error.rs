//! What can go wrong, typed.

use std::fmt;

use reqchan_core::codec::DecodeError;

/// A key that cannot be read, made or used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// A PEM that does not hold the RSA key it should (named).
    Pem(&'static str),
    /// The RSA library refused (key generation).
    Rsa(String),
    /// A session key string that is not Salt's (base64 of 56 bytes).
    SessionKey(&'static str),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem(what) => write!(f, "not a PEM of {what}"),
            Self::Rsa(e) => write!(f, "RSA: {e}"),
            Self::SessionKey(why) => write!(f, "bad session key: {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// A sealed message that does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CipherError {
    /// Too short, or not whole blocks, for IV ‖ ciphertext ‖ MAC (the length).
    Length(usize),
    /// The MAC does not match: tampered with, or sealed under another key.
    Mac,
    /// The MAC matched but the padding is not PKCS#7.
    Padding,
}

impl fmt::Display for CipherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(n) => write!(f, "{n} bytes is not a sealed message"),
            Self::Mac => f.write_str("message authentication failed"),
            Self::Padding => f.write_str("bad padding"),
        }
    }
}

impl std::error::Error for CipherError {}

/// Why `_auth` did not give us a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The master rejected (or denied) this minion's key.
    Rejected,
    /// The master accepts no more minions.
    Full,
    /// The master refused the request itself (its `ret`, e.g. `bad enc algo`).
    Refused(String),
    /// The reply's signature does not verify with the master's key.
    BadSignature,
    /// The master offers a key other than the one trusted for it.
    MasterKeyChanged {
        /// Fingerprint of the key trusted so far.
        trusted: String,
        /// Fingerprint of the key offered now.
        offered: String,
    },
    /// The master's key does not have the pinned fingerprint (`master_finger`).
    FingerprintMismatch {
        /// The pinned fingerprint.
        pinned: String,
        /// The offered key's.
        offered: String,
    },
    /// The reply answers another `_auth` (its nonce is not ours).
    NonceMismatch,
    /// The master did not prove it could read our token.
    TokenMismatch,
    /// The master's signature over the publish key does not verify.
    BadKeySignature,
    /// A key the master sent does not decrypt with our key (named).
    Decrypt(&'static str),
    /// A session key that is not Salt's.
    SessionKey(KeyError),
    /// The reply is not an `_auth` reply (what is wrong).
    Malformed(&'static str),
    /// The reply is not msgpack.
    Decode(DecodeError),
    /// A reply arrived with no `_auth` request outstanding.
    NotRequested,
}

impl AuthError {
    /// Whether authenticating again later may succeed without anyone's intervention.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Full | Self::NonceMismatch | Self::NotRequested)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected => f.write_str("the master rejected this minion's key"),
            Self::Full => f.write_str("the master is full"),
            Self::Refused(why) => write!(f, "the master refused _auth: {why}"),
            Self::BadSignature => f.write_str("the _auth reply's signature does not verify with the master's key"),
            Self::MasterKeyChanged { trusted, offered } => {
                write!(f, "the master's key changed: trusted {trusted}, offered {offered}")
            }
            Self::FingerprintMismatch { pinned, offered } => {
                write!(f, "the master's key is not the pinned one: pinned {pinned}, offered {offered}")
            }
            Self::NonceMismatch => f.write_str("the _auth reply's nonce is not ours"),
            Self::TokenMismatch => f.write_str("the master did not return our token"),
            Self::BadKeySignature => f.write_str("the master's signature over the publish key does not verify"),
            Self::Decrypt(what) => write!(f, "{what} does not decrypt with the minion's key"),
            Self::SessionKey(e) => write!(f, "{e}"),
            Self::Malformed(what) => write!(f, "malformed _auth reply: {what}"),
            Self::Decode(e) => write!(f, "{e}"),
            Self::NotRequested => f.write_str("an _auth reply with no _auth outstanding"),
        }
    }
}

impl std::error::Error for AuthError {}

/// An `aes` reply that does not open to its request's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyError {
    /// The master did not accept the request under this session (`bad load`): the
    /// session is gone (master restarted, key rotated); authenticate again.
    SessionRefused,
    /// The reply is not the sealed bytes an `aes` reply is.
    NotSealed,
    /// The sealed reply does not open.
    Cipher(CipherError),
    /// The plaintext does not start with Salt's `pickle::` marker.
    NoMarker,
    /// The reply answers another request (its nonce is not ours).
    NonceMismatch,
    /// The reply is not msgpack.
    Decode(DecodeError),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SessionRefused => f.write_str("the master refused the session (bad load): authenticate again"),
            Self::NotSealed => f.write_str("the reply is not an encrypted payload"),
            Self::Cipher(e) => write!(f, "the reply does not decrypt: {e}"),
            Self::NoMarker => f.write_str("the decrypted reply lacks the pickle:: marker"),
            Self::NonceMismatch => f.write_str("the reply's nonce is not the request's"),
            Self::Decode(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReplyError {}

/// A load that cannot be sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// Salt's loads are maps; this one is not.
    NotAMap,
    /// The load does not serialize (the reason).
    Encode(String),
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAMap => f.write_str("an aes load must be a map"),
            Self::Encode(why) => write!(f, "the load does not encode: {why}"),
        }
    }
}

impl std::error::Error for SealError {}
