//! RSA keys as Salt keeps them: the minion's pair (`minion.pem`, `minion.pub`) and the
//! master's public key (`minion_master.pub`), with Salt's fingerprint.

use rand_core::CryptoRngCore;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::{Oaep, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::error::KeyError;
use crate::x931;

/// The size of the keys a minion makes, as salt-minion does.
pub const KEY_BITS: usize = 2048;

/// Salt's `clean_key`: surrounding whitespace trimmed, lines joined by `\n`.
pub fn clean_pem(pem: &str) -> String {
    pem.trim().lines().collect::<Vec<_>>().join("\n")
}

/// The minion's RSA key pair.
#[derive(Clone)]
pub struct MinionKey {
    private: RsaPrivateKey,
    public_pem: String,
}

impl std::fmt::Debug for MinionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinionKey").field("public_pem", &self.public_pem).finish_non_exhaustive()
    }
}

impl MinionKey {
    /// A new 2048-bit key pair (exponent 65537), as salt-minion makes one when its
    /// `pki_dir` has none.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Result<Self, KeyError> {
        let private = RsaPrivateKey::new(rng, KEY_BITS).map_err(|e| KeyError::Rsa(e.to_string()))?;
        Self::from_private(private)
    }

    /// The key from `minion.pem`: PKCS#1 (`BEGIN RSA PRIVATE KEY`, what Salt writes) or
    /// unencrypted PKCS#8 (`BEGIN PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let private = RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
            .map_err(|_| KeyError::Pem("the minion's private key"))?;
        Self::from_private(private)
    }

    fn from_private(private: RsaPrivateKey) -> Result<Self, KeyError> {
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| KeyError::Pem("the minion's public key"))?;
        Ok(Self { private, public_pem: clean_pem(&public_pem) })
    }

    /// `minion.pem` as Salt writes it (PKCS#1 PEM).
    pub fn private_pem(&self) -> Result<String, KeyError> {
        let pem = self.private.to_pkcs1_pem(LineEnding::LF).map_err(|_| KeyError::Pem("the minion's private key"))?;
        Ok(pem.to_string())
    }

    /// The public key as sent in `_auth` and written to `minion.pub` (SubjectPublicKeyInfo
    /// PEM, cleaned as Salt does).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// RSA-OAEP-SHA1 decryption (blinded).
    pub(crate) fn decrypt(&self, rng: &mut impl CryptoRngCore, ciphertext: &[u8]) -> Option<Vec<u8>> {
        self.private.decrypt_blinded(rng, Oaep::new::<Sha1>(), ciphertext).ok()
    }

    /// The request token: the X9.31 private-key operation over `b"salt"`.
    pub(crate) fn token(&self, rng: &mut impl CryptoRngCore) -> Vec<u8> {
        x931::sign(&self.private, rng, b"salt").expect("four bytes fit any RSA key Salt uses")
    }
}

/// The master's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKey {
    public: RsaPublicKey,
    pem: String,
}

impl MasterKey {
    /// The key from its PEM (SubjectPublicKeyInfo as Salt writes it, or PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let public = RsaPublicKey::from_public_key_pem(pem.trim())
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
            .map_err(|_| KeyError::Pem("the master's public key"))?;
        Ok(Self { public, pem: clean_pem(pem) })
    }

    /// The PEM, cleaned as Salt stores it in `minion_master.pub`.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Salt's fingerprint (`salt-key -F master`, the minion's `master_finger`): SHA-256
    /// of the PEM's body lines, as hex pairs joined by `:`.
    pub fn fingerprint(&self) -> String {
        let mut body = Vec::new();
        let lines: Vec<&str> = self.pem.lines().filter(|l| !l.trim().is_empty()).collect();
        for line in lines.iter().skip(1).take(lines.len().saturating_sub(2)) {
            body.extend_from_slice(line.as_bytes());
            body.push(b'\n');
        }
        let digest = Sha256::digest(&body);
        digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
    }

    /// Whether `signature` is the master's PKCS#1 v1.5 SHA-1 signature over `data`.
    pub(crate) fn verifies(&self, data: &[u8], signature: &[u8]) -> bool {
        self.public.verify(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(data), signature).is_ok()
    }

    /// The message an X9.31 signature of the master's carries.
    pub(crate) fn recover(&self, signature: &[u8]) -> Option<Vec<u8>> {
        x931::recover(&self.public, signature)
    }

    /// RSA-OAEP-SHA1 encryption to the master.
    pub(crate) fn encrypt(&self, rng: &mut impl CryptoRngCore, data: &[u8]) -> Vec<u8> {
        self.public.encrypt(rng, Oaep::new::<Sha1>(), data).expect("a 32-byte token fits an OAEP block")
    }
}
