//! `_auth`, the handshake that gives a minion its session, as a state machine: it
//! writes each `_auth` load and reads the master's reply; the caller sends and
//! receives (as a clear request) and keeps the keys on disk.

use rand_core::CryptoRngCore;
use reqchan_core::codec::{DecodeLimits, Value, decode_reply_with};
use sha2::{Digest, Sha256};

use crate::crypticle::Crypticle;
use crate::error::AuthError;
use crate::keys::{MasterKey, MinionKey};
use crate::session::{ENC_ALGO, Nonce, SIG_ALGO, Session};

/// What a reply to `_auth` means, when it is not an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthOutcome {
    /// The master accepted the key: the session, and the master's key.
    Accepted(Box<Accepted>),
    /// The master has the key but has not accepted it yet (it waits in
    /// `minions_pre/`): ask again later.
    Pending,
}

/// An accepted `_auth`.
#[derive(Debug)]
pub struct Accepted {
    /// The session to seal requests with.
    pub session: Session,
    /// The master's key.
    pub master_key: MasterKey,
    /// Whether the master's key was trusted for the first time now (store it as
    /// `minion_master.pub`).
    pub first_contact: bool,
    /// The master's publish port.
    pub publish_port: Option<u64>,
}

#[derive(Debug)]
struct Outstanding {
    nonce: Nonce,
    /// The token sent encrypted to the known master key, which it must send back.
    token: Option<String>,
}

/// The `_auth` handshake of one minion with one master.
///
/// ```text
/// let load = auth.request(&mut rng);            // send as {"enc": "clear", "load": load, ...}
/// match auth.handle_reply(&mut rng, &reply)? {   // the master's reply, as bytes
///     AuthOutcome::Accepted(accepted) => ...,    // accepted.session seals requests
///     AuthOutcome::Pending => ...,               // ask again later
/// }
/// ```
///
/// The master's key is trusted on first use unless one is known already ([`trust`]) or
/// a fingerprint is pinned ([`pin`]); a master that offers another key later is an
/// error ([`AuthError::MasterKeyChanged`]), never a silent re-trust.
///
/// [`trust`]: Self::trust
/// [`pin`]: Self::pin
#[derive(Debug)]
pub struct Auth {
    id: String,
    minion: MinionKey,
    master: Option<MasterKey>,
    pinned: Option<String>,
    outstanding: Option<Outstanding>,
    limits: DecodeLimits,
}

impl Auth {
    /// The handshake of minion `id` with key `minion`, trusting the first master key it
    /// is offered.
    pub fn new(id: impl Into<String>, minion: MinionKey) -> Self {
        Self { id: id.into(), minion, master: None, pinned: None, outstanding: None, limits: DecodeLimits::default() }
    }

    /// Trusts `master` (the key from `minion_master.pub`), and only it.
    pub fn trust(mut self, master: MasterKey) -> Self {
        self.master = Some(master);
        self
    }

    /// Accepts only a master key with this fingerprint (Salt's `master_finger`, as
    /// [`MasterKey::fingerprint`] writes it).
    pub fn pin(mut self, fingerprint: impl Into<String>) -> Self {
        self.pinned = Some(fingerprint.into());
        self
    }

    /// The master key trusted now, if any.
    pub fn master_key(&self) -> Option<&MasterKey> {
        self.master.as_ref()
    }

    /// The minion id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The load of a new `_auth` request (a fresh nonce; a reply to an earlier one is
    /// no longer accepted). Send it as a clear request.
    pub fn request(&mut self, rng: &mut impl CryptoRngCore) -> Value {
        let nonce = Nonce::random(rng);
        let mut load = vec![
            ("cmd".into(), "_auth".into()),
            ("id".into(), self.id.as_str().into()),
            ("nonce".into(), nonce.as_str().into()),
            ("enc_algo".into(), ENC_ALGO.into()),
            ("sig_algo".into(), SIG_ALGO.into()),
        ];
        let token = self.master.as_ref().map(|master| {
            let token = Nonce::random(rng).as_str().to_owned();
            load.push(("token".into(), Value::Binary(master.encrypt(rng, token.as_bytes()))));
            token
        });
        load.push(("pub".into(), self.minion.public_pem().into()));
        self.outstanding = Some(Outstanding { nonce, token });
        Value::Map(load)
    }

    /// The master's reply (the bytes as received) to the latest [`request`](Self::request).
    pub fn handle_reply(&mut self, rng: &mut impl CryptoRngCore, reply: &[u8]) -> Result<AuthOutcome, AuthError> {
        let outstanding = self.outstanding.take().ok_or(AuthError::NotRequested)?;
        let envelope: Value = decode_reply_with(reply, self.limits).map_err(AuthError::Decode)?;
        let load = envelope.get("load").ok_or(AuthError::Malformed("no load"))?;
        // Unsigned answers (old masters; and `bad enc algo`, `bad sig algo` from any): a
        // refusal, never a session.
        match load.get("ret") {
            Some(Value::Bool(false)) => return Err(AuthError::Rejected),
            Some(Value::String(s)) if s == "full" => return Err(AuthError::Full),
            Some(Value::String(why)) => return Err(AuthError::Refused(why.clone())),
            Some(_) => return Err(AuthError::Malformed("an unsigned ret")),
            None => {}
        }
        let signed = bytes_of(load).ok_or(AuthError::Malformed("load is not signed bytes"))?;
        let signature = envelope.get("sig").and_then(bytes_of);
        let inner: Value = decode_reply_with(signed, self.limits).map_err(AuthError::Decode)?;

        // Which key must have signed: the trusted one, or on first contact the one offered.
        let offered = match inner.get("pub_key") {
            Some(pem) => {
                let pem = pem.as_str().ok_or(AuthError::Malformed("pub_key is not text"))?;
                Some(MasterKey::from_pem(pem).map_err(|_| AuthError::Malformed("pub_key is not an RSA key"))?)
            }
            None => None,
        };
        // A key other than the trusted (or pinned) one is refused before anything else.
        if let Some(offered) = &offered {
            if let Some(trusted) = &self.master
                && trusted.pem() != offered.pem()
            {
                return Err(AuthError::MasterKeyChanged {
                    trusted: trusted.fingerprint(),
                    offered: offered.fingerprint(),
                });
            }
            if let Some(pinned) = &self.pinned
                && *pinned != offered.fingerprint()
            {
                return Err(AuthError::FingerprintMismatch { pinned: pinned.clone(), offered: offered.fingerprint() });
            }
        }
        if let Some(signer) = self.master.as_ref().or(offered.as_ref()) {
            let signature = signature.ok_or(AuthError::BadSignature)?;
            if !signer.verifies(signed, signature) {
                return Err(AuthError::BadSignature);
            }
        }
        if inner.get("nonce").and_then(Value::as_str) != Some(outstanding.nonce.as_str()) {
            return Err(AuthError::NonceMismatch);
        }
        match inner.get("ret") {
            Some(Value::Bool(false)) => return Err(AuthError::Rejected),
            Some(Value::String(s)) if s == "full" => return Err(AuthError::Full),
            Some(_) => return Ok(AuthOutcome::Pending),
            None => {}
        }
        let offered = offered.ok_or(AuthError::Malformed("no pub_key"))?;
        self.accept(rng, &inner, offered, outstanding)
    }

    fn accept(
        &mut self,
        rng: &mut impl CryptoRngCore,
        inner: &Value,
        offered: MasterKey,
        outstanding: Outstanding,
    ) -> Result<AuthOutcome, AuthError> {
        if inner.get("enc").and_then(Value::as_str) != Some("pub") {
            return Err(AuthError::Malformed("enc is not pub"));
        }
        let field = |name: &'static str| inner.get(name).and_then(bytes_of).ok_or(AuthError::Malformed(name));

        // The publish key, signed by the master: proves the reply comes from the key's owner.
        let aes = self.minion.decrypt(rng, field("aes")?).ok_or(AuthError::Decrypt("aes"))?;
        let digest = hex(&Sha256::digest(&aes));
        if offered.recover(field("sig")?).as_deref() != Some(digest.as_bytes()) {
            return Err(AuthError::BadKeySignature);
        }
        // Older masters append the token to the publish key: `key_|-token`.
        let returned = match find(&aes, b"_|-") {
            Some(at) => Some(aes[at + 3..].to_vec()),
            None => match inner.get("token").and_then(bytes_of) {
                Some(token) => Some(self.minion.decrypt(rng, token).ok_or(AuthError::Decrypt("token"))?),
                None => None,
            },
        };
        if let Some(sent) = &outstanding.token
            && returned.as_deref() != Some(sent.as_bytes())
        {
            return Err(AuthError::TokenMismatch);
        }
        let session_key = self.minion.decrypt(rng, field("session")?).ok_or(AuthError::Decrypt("session"))?;
        let cipher = Crypticle::from_key_string(&session_key).map_err(AuthError::SessionKey)?;
        let session = Session::new(self.id.clone(), cipher, self.minion.token(rng)).with_limits(self.limits);
        let first_contact = self.master.is_none();
        self.master = Some(offered.clone());
        let publish_port = inner.get("publish_port").and_then(|p| match p {
            Value::UInt(n) => Some(*n),
            _ => None,
        });
        Ok(AuthOutcome::Accepted(Box::new(Accepted { session, master_key: offered, first_contact, publish_port })))
    }
}

/// The bytes of a value Salt sent as bytes (msgpack str, UTF-8 or not, or bin).
fn bytes_of(value: &Value) -> Option<&[u8]> {
    match value {
        Value::Binary(b) => Some(b),
        Value::String(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
