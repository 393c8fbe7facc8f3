//! The session cipher, Salt's `Crypticle`: AES-192-CBC with a random IV and PKCS#7
//! padding, then HMAC-SHA256 over IV ‖ ciphertext (encrypt-then-MAC).

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use sha2::Sha256;

use crate::error::{CipherError, KeyError};

type Encryptor = cbc::Encryptor<aes::Aes192>;
type Decryptor = cbc::Decryptor<aes::Aes192>;
type HmacSha256 = Hmac<Sha256>;

const IV_LEN: usize = 16;
const BLOCK: usize = 16;
const MAC_LEN: usize = 32;
const AES_KEY_LEN: usize = 24;

/// The shortest sealed message: an IV, one block, a MAC.
pub(crate) const MIN_SEALED: usize = IV_LEN + BLOCK + MAC_LEN;

/// Prefix of every plaintext Salt seals (a relic of pickle, kept as a check).
pub(crate) const PICKLE_PAD: &[u8] = b"pickle::";

/// A session key: the AES-192 key and the HMAC-SHA256 key Salt sends as one base64
/// string of 56 bytes.
#[derive(Clone)]
pub struct Crypticle {
    aes: [u8; AES_KEY_LEN],
    mac: [u8; MAC_LEN],
}

impl std::fmt::Debug for Crypticle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Crypticle(..)")
    }
}

impl Crypticle {
    /// The key from Salt's key string (base64 of 24 AES bytes then 32 HMAC bytes).
    pub fn from_key_string(key: &[u8]) -> Result<Self, KeyError> {
        let raw = BASE64.decode(key).map_err(|_| KeyError::SessionKey("not base64"))?;
        if raw.len() != AES_KEY_LEN + MAC_LEN {
            return Err(KeyError::SessionKey("not 56 bytes"));
        }
        let mut aes = [0; AES_KEY_LEN];
        let mut mac = [0; MAC_LEN];
        aes.copy_from_slice(&raw[..AES_KEY_LEN]);
        mac.copy_from_slice(&raw[AES_KEY_LEN..]);
        Ok(Self { aes, mac })
    }

    /// `plaintext` sealed: IV ‖ ciphertext ‖ MAC.
    pub fn encrypt(&self, rng: &mut impl CryptoRngCore, plaintext: &[u8]) -> Vec<u8> {
        let mut iv = [0; IV_LEN];
        rng.fill_bytes(&mut iv);
        let ciphertext = Encryptor::new(&self.aes.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext);
        let mut out = Vec::with_capacity(IV_LEN + ciphertext.len() + MAC_LEN);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ciphertext);
        let tag = self.mac().chain_update(&out).finalize().into_bytes();
        out.extend_from_slice(&tag);
        out
    }

    /// The plaintext of a sealed message: the MAC is checked (in constant time) before
    /// anything is decrypted.
    pub fn decrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, CipherError> {
        if sealed.len() < MIN_SEALED || !(sealed.len() - IV_LEN - MAC_LEN).is_multiple_of(BLOCK) {
            return Err(CipherError::Length(sealed.len()));
        }
        let (body, tag) = sealed.split_at(sealed.len() - MAC_LEN);
        self.mac().chain_update(body).verify_slice(tag).map_err(|_| CipherError::Mac)?;
        let (iv, ciphertext) = body.split_at(IV_LEN);
        let iv: [u8; IV_LEN] = iv.try_into().expect("split at IV_LEN");
        Decryptor::new(&self.aes.into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map_err(|_| CipherError::Padding)
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&self.mac).expect("HMAC takes a key of any length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Crypticle {
        Crypticle::from_key_string(BASE64.encode([7u8; 56]).as_bytes()).unwrap()
    }

    #[test]
    fn sealed_messages_open_and_tampering_is_caught() {
        let cipher = key();
        let mut rng = rand_core::OsRng;
        for len in [0, 1, 15, 16, 17, 100] {
            let plain = vec![0x42; len];
            let sealed = cipher.encrypt(&mut rng, &plain);
            assert_eq!(sealed.len(), IV_LEN + (len / BLOCK + 1) * BLOCK + MAC_LEN);
            assert_eq!(cipher.decrypt(&sealed).unwrap(), plain);
            for i in [0, IV_LEN, sealed.len() - 1] {
                let mut bad = sealed.clone();
                bad[i] ^= 1;
                assert_eq!(cipher.decrypt(&bad), Err(CipherError::Mac), "flipped byte {i}");
            }
        }
        let other = Crypticle::from_key_string(BASE64.encode([8u8; 56]).as_bytes()).unwrap();
        assert_eq!(other.decrypt(&cipher.encrypt(&mut rng, b"x")), Err(CipherError::Mac));
    }

    #[test]
    fn short_or_ragged_input_is_a_length_error() {
        let cipher = key();
        for len in [0, 1, MIN_SEALED - 1, MIN_SEALED + 1, MIN_SEALED + 15] {
            assert_eq!(cipher.decrypt(&vec![0; len]), Err(CipherError::Length(len)));
        }
    }

    #[test]
    fn key_strings_must_be_base64_of_56_bytes() {
        assert!(Crypticle::from_key_string(b"not base64!").is_err());
        assert!(Crypticle::from_key_string(BASE64.encode([1u8; 55]).as_bytes()).is_err());
    }
}
