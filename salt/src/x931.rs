//! ANSI X9.31 padding with raw RSA, as OpenSSL's `RSA_X931_PADDING` (which Salt calls
//! `encrypt` on a private key and `decrypt` on a public one): the minion's request
//! token `tok` and the master's signature over the publish key.
//!
//! Not a general signature scheme (nothing is hashed here: the message is padded as it
//! is), so it stays inside this crate.

use rand_core::CryptoRngCore;
use rsa::hazmat::{rsa_decrypt_and_check, rsa_encrypt};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};

/// `6B BB…BB BA ‖ msg ‖ CC` (or `6A ‖ msg ‖ CC` when exactly two bytes are free),
/// `k` bytes long; `None` if `msg` does not fit.
fn pad(msg: &[u8], k: usize) -> Option<Vec<u8>> {
    let free = k.checked_sub(msg.len() + 2)?;
    let mut out = Vec::with_capacity(k);
    match free {
        0 => out.push(0x6a),
        _ => {
            out.push(0x6b);
            out.resize(free, 0xbb);
            out.push(0xba);
        }
    }
    out.extend_from_slice(msg);
    out.push(0xcc);
    Some(out)
}

/// The message inside an X9.31 block, if the block is well-formed.
fn unpad(block: &[u8]) -> Option<&[u8]> {
    let (&last, body) = block.split_last()?;
    let (&first, rest) = body.split_first()?;
    if last != 0xcc {
        return None;
    }
    match first {
        0x6a => Some(rest),
        0x6b => {
            let fill = rest.iter().take_while(|b| **b == 0xbb).count();
            match rest.get(fill) {
                Some(0xba) => Some(&rest[fill + 1..]),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `n` as exactly `k` big-endian bytes (it is smaller than the modulus).
fn to_bytes(n: &BigUint, k: usize) -> Vec<u8> {
    let bytes = n.to_bytes_be();
    let mut out = vec![0; k.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

/// The private-key operation: the padded `msg` raised to `d` (blinded with `rng`), and of
/// `s` and `n − s` the smaller, as OpenSSL outputs it. `None` if `msg` is too long for
/// the key.
pub(crate) fn sign(key: &RsaPrivateKey, rng: &mut impl CryptoRngCore, msg: &[u8]) -> Option<Vec<u8>> {
    let k = key.size();
    let m = BigUint::from_bytes_be(&pad(msg, k)?);
    let s = rsa_decrypt_and_check(key, Some(rng), &m).ok()?;
    let other = key.n() - &s;
    Some(to_bytes(if other < s { &other } else { &s }, k))
}

/// The public-key operation: the message `signature` carries, if it is a well-formed
/// X9.31 block under `key`.
pub(crate) fn recover(key: &RsaPublicKey, signature: &[u8]) -> Option<Vec<u8>> {
    let k = key.size();
    if signature.len() != k {
        return None;
    }
    let s = BigUint::from_bytes_be(signature);
    if &s >= key.n() {
        return None;
    }
    let mut m = rsa_encrypt(key, &s).ok()?;
    // The signer sent min(s, n − s): undo the choice by the block's last nibble.
    if m.to_bytes_le().first().is_none_or(|low| low & 0x0f != 0x0c) {
        m = key.n() - &m;
    }
    unpad(&to_bytes(&m, k)).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_fills_the_block_and_round_trips() {
        let block = pad(b"salt", 12).unwrap();
        assert_eq!(block, b"\x6b\xbb\xbb\xbb\xbb\xbb\xbasalt\xcc");
        assert_eq!(unpad(&block), Some(&b"salt"[..]));
        let tight = pad(b"salt", 6).unwrap();
        assert_eq!(tight, b"\x6asalt\xcc");
        assert_eq!(unpad(&tight), Some(&b"salt"[..]));
        assert_eq!(pad(b"salt", 5), None, "too long for the block");
    }

    #[test]
    fn malformed_blocks_are_refused() {
        for bad in [&b""[..], b"\xcc", b"\x6b\xbb\xcc", b"\x6bsalt\xcc", b"\x6asalt\xcd", b"\x00salt\xcc"] {
            assert_eq!(unpad(bad), None, "{bad:?}");
        }
    }
}
