//! The 64-octet ZMTP 3.x greeting: signature, version, mechanism.

use super::error::WireError;

/// The greeting's length.
pub(crate) const LEN: usize = 64;

/// The mechanism this wire speaks.
const NULL: &[u8] = b"NULL";

/// Our greeting: ZMTP 3.1, NULL mechanism, not as-server.
pub(crate) fn ours() -> [u8; LEN] {
    let mut greeting = [0u8; LEN];
    greeting[0] = 0xff;
    // Octets 1..=8 are padding, not significant; libzmq sends 00..00 01.
    greeting[8] = 0x01;
    greeting[9] = 0x7f;
    greeting[10] = 3;
    greeting[11] = 1;
    greeting[12..12 + NULL.len()].copy_from_slice(NULL);
    greeting
}

/// What the peer's greeting says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerGreeting {
    /// The minor version: 0 for ZMTP 3.0 (no PING/PONG), 1 or more for 3.1.
    pub(crate) minor: u8,
}

/// Checks a peer's 64-octet greeting.
pub(crate) fn parse(greeting: &[u8; LEN]) -> Result<PeerGreeting, WireError> {
    // The padding (octets 1..=8) must not be validated.
    if greeting[0] != 0xff || greeting[9] != 0x7f {
        return Err(WireError::BadGreeting);
    }
    let (major, minor) = (greeting[10], greeting[11]);
    if major < 3 {
        return Err(WireError::UnsupportedVersion { major, minor });
    }
    let mechanism = &greeting[12..32];
    let name_len = mechanism.iter().position(|&b| b == 0).unwrap_or(mechanism.len());
    let (name, padding) = mechanism.split_at(name_len);
    if name != NULL || padding.iter().any(|&b| b != 0) {
        let shown = String::from_utf8_lossy(name).into_owned();
        return Err(WireError::MechanismMismatch { mechanism: shown });
    }
    // A peer with a higher major version speaks 3.x to us (version negotiation).
    Ok(PeerGreeting { minor: if major > 3 { 1 } else { minor } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_greeting_is_what_libzmq_expects() {
        let g = ours();
        assert_eq!(&g[..12], b"\xff\0\0\0\0\0\0\0\x01\x7f\x03\x01");
        assert_eq!(&g[12..16], b"NULL");
        assert!(g[16..].iter().all(|&b| b == 0));
        assert_eq!(parse(&g), Ok(PeerGreeting { minor: 1 }));
    }

    #[test]
    fn bad_greetings_get_their_own_reasons() {
        let mut g = ours();
        g[0] = 0x00;
        assert_eq!(parse(&g), Err(WireError::BadGreeting));
        let mut g = ours();
        g[10] = 2;
        assert_eq!(parse(&g), Err(WireError::UnsupportedVersion { major: 2, minor: 1 }));
        let mut g = ours();
        g[12..17].copy_from_slice(b"CURVE");
        assert_eq!(parse(&g), Err(WireError::MechanismMismatch { mechanism: "CURVE".into() }));
        let mut g = ours();
        g[5] = 0x42; // padding is not significant
        g[11] = 0; // ZMTP 3.0
        assert_eq!(parse(&g), Ok(PeerGreeting { minor: 0 }));
    }
}
