//! What can go wrong, typed.

use reqchan_core::codec::DecodeError;

/// A key that cannot be read, made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A PEM that does not hold the RSA key it should (named).
    #[error("not a PEM of {0}")]
    Pem(&'static str),
    /// The RSA library refused (key generation).
    #[error("RSA: {0}")]
    Rsa(String),
    /// A session key string that is not Salt's (base64 of 56 bytes).
    #[error("bad session key: {0}")]
    SessionKey(&'static str),
}

/// A sealed message that does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CipherError {
    /// Too short, or not whole blocks, for IV ‖ ciphertext ‖ MAC (the length).
    #[error("{0} bytes is not a sealed message")]
    Length(usize),
    /// The MAC does not match: tampered with, or sealed under another key.
    #[error("message authentication failed")]
    Mac,
    /// The MAC matched but the padding is not PKCS#7.
    #[error("bad padding")]
    Padding,
}

/// Why `_auth` did not give us a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The master rejected (or denied) this minion's key.
    #[error("the master rejected this minion's key")]
    Rejected,
    /// The master accepts no more minions.
    #[error("the master is full")]
    Full,
    /// The master refused the request itself (its `ret`, e.g. `bad enc algo`).
    #[error("the master refused _auth: {0}")]
    Refused(String),
    /// The reply's signature does not verify with the master's key.
    #[error("the _auth reply's signature does not verify with the master's key")]
    BadSignature,
    /// The master offers a key other than the one trusted for it.
    #[error("the master's key changed: trusted {trusted}, offered {offered}")]
    MasterKeyChanged {
        /// Fingerprint of the key trusted so far.
        trusted: String,
        /// Fingerprint of the key offered now.
        offered: String,
    },
    /// The master's key does not have the pinned fingerprint (`master_finger`).
    #[error("the master's key is not the pinned one: pinned {pinned}, offered {offered}")]
    FingerprintMismatch {
        /// The pinned fingerprint.
        pinned: String,
        /// The offered key's.
        offered: String,
    },
    /// The reply answers another `_auth` (its nonce is not ours).
    #[error("the _auth reply's nonce is not ours")]
    NonceMismatch,
    /// The master did not prove it could read our token.
    #[error("the master did not return our token")]
    TokenMismatch,
    /// The master's signature over the publish key does not verify.
    #[error("the master's signature over the publish key does not verify")]
    BadKeySignature,
    /// A key the master sent does not decrypt with our key (named).
    #[error("{0} does not decrypt with the minion's key")]
    Decrypt(&'static str),
    /// A session key that is not Salt's.
    #[error("{0}")]
    SessionKey(KeyError),
    /// The reply is not an `_auth` reply (what is wrong).
    #[error("malformed _auth reply: {0}")]
    Malformed(&'static str),
    /// The reply is not msgpack.
    #[error("{0}")]
    Decode(DecodeError),
    /// A reply arrived with no `_auth` request outstanding.
    #[error("an _auth reply with no _auth outstanding")]
    NotRequested,
}

impl AuthError {
    /// Whether authenticating again later may succeed without anyone's intervention.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Full | Self::NonceMismatch | Self::NotRequested)
    }
}

/// An `aes` reply that does not open to its request's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The master did not accept the request under this session (`bad load`): the
    /// session is gone (master restarted, key rotated); authenticate again.
    #[error("the master refused the session (bad load): authenticate again")]
    SessionRefused,
    /// The reply is not the sealed bytes an `aes` reply is.
    #[error("the reply is not an encrypted payload")]
    NotSealed,
    /// The sealed reply does not open.
    #[error("the reply does not decrypt: {0}")]
    Cipher(CipherError),
    /// The plaintext does not start with Salt's `pickle::` marker.
    #[error("the decrypted reply lacks the pickle:: marker")]
    NoMarker,
    /// The reply answers another request (its nonce is not ours).
    #[error("the reply's nonce is not the request's")]
    NonceMismatch,
    /// The reply is not msgpack.
    #[error("{0}")]
    Decode(DecodeError),
}

/// A load that cannot be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Salt's loads are maps; this one is not.
    #[error("an aes load must be a map")]
    NotAMap,
    /// The load does not serialize (the reason).
    #[error("the load does not encode: {0}")]
    Encode(String),
}
