//! `salt_reply`: hostile bytes where reqchan-salt expects an `aes` reply or an `_auth`
//! reply. Never a panic; a typed error for anything that is not what the master sends;
//! and a plaintext sealed under the session key opens to exactly what it holds.
//!
//! The first byte picks the path: raw reply bytes; a plaintext sealed under the session
//! key (so the input gets past the MAC to the marker, nonce and msgpack checks); or an
//! `_auth` reply.

use std::sync::OnceLock;

use reqchan_core::codec::{DecodeLimits, Value, decode_reply, decode_reply_with, encode_reply};
use reqchan_salt::{Auth, AuthOutcome, Crypticle, MinionKey, Nonce, ReplyError, Session};
use reqchan_sim::SimRng;

/// The sim's seeded generator as a `CryptoRngCore`, so runs replay. Not a
/// cryptographic generator, though it claims to be: fuzzing needs no secrecy.
struct FuzzRng(SimRng);

impl FuzzRng {
    fn new(seed: u64) -> Self {
        Self(SimRng::new(seed))
    }
}

impl rand_core::RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let n = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&n[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for FuzzRng {}

const SESSION_KEY: &str = "YxUTtEoHEMeMkWPzLwgYc9YBhS25ew4ddGMxlUu9cckLxKjpYM0R/JhWLHqotcUGNt3ZR4MdVTE=";

fn minion() -> &'static MinionKey {
    static KEY: OnceLock<MinionKey> = OnceLock::new();
    KEY.get_or_init(|| MinionKey::from_pem(include_str!("../../salt/tests/vectors/minion.pem")).expect("a key"))
}

fn limits() -> DecodeLimits {
    DecodeLimits::default().max_elements(4096)
}

/// The session (its token costs an RSA operation: made once) and a request's nonce.
fn session() -> &'static (Session, Nonce) {
    static SESSION: OnceLock<(Session, Nonce)> = OnceLock::new();
    SESSION.get_or_init(|| {
        let mut rng = FuzzRng::new(0);
        let key = Crypticle::from_key_string(SESSION_KEY.as_bytes()).expect("the key");
        let session = Session::resume("fuzz", key, minion(), &mut rng).with_limits(limits());
        (session, Nonce::random(&mut rng))
    })
}

/// Runs one input; panics on a violation.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut rng = FuzzRng::new(u64::from(mode));
    let key = Crypticle::from_key_string(SESSION_KEY.as_bytes()).expect("the key");
    let limits = limits();
    let (session, nonce) = session();
    match mode % 3 {
        0 => {
            // Unsealed bytes never pass the MAC: always an error (`bad load` included).
            assert!(session.open(rest, nonce).is_err());
        }
        1 => {
            let sealed = encode_reply(&Value::Binary(key.encrypt(&mut rng, rest))).expect("bytes encode");
            let opened = session.open(&sealed, nonce);
            let expected = match rest.strip_prefix(b"pickle::".as_slice()) {
                None => Err(ReplyError::NoMarker),
                Some(after) => match after.split_at_checked(32) {
                    Some((theirs, packed)) if theirs == nonce.as_str().as_bytes() => {
                        decode_reply_with::<Value>(packed, limits).map_err(ReplyError::Decode)
                    }
                    _ => Err(ReplyError::NonceMismatch),
                },
            };
            match (&opened, &expected) {
                (Ok(a), Ok(b)) => assert!(reqchan_sim::model::same(a, b), "opened {a:?}, holds {b:?}"),
                (Err(ReplyError::Decode(_)), Err(ReplyError::Decode(_))) => {}
                _ => assert_eq!(opened, expected),
            }
        }
        _ => {
            let mut auth = Auth::new("fuzz", minion().clone());
            let load = auth.request(&mut rng);
            assert!(decode_reply::<Value>(&encode_reply(&load).expect("a load encodes")).is_ok());
            // Nothing here is signed by a master key: never accepted.
            let outcome = auth.handle_reply(&mut rng, rest);
            assert!(!matches!(outcome, Ok(AuthOutcome::Accepted(_))), "accepted unsigned bytes: {outcome:?}");
            if let Err(e) = outcome {
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// The nonce every sealed reply of the `salt_reply` target must carry (for seeds).
pub fn request_nonce() -> &'static str {
    session().1.as_str()
}

/// Whether `data` is a sealed-path input whose plaintext opens to an answer.
pub fn opens(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else { return false };
    let key = Crypticle::from_key_string(SESSION_KEY.as_bytes()).expect("the key");
    let sealed = encode_reply(&Value::Binary(key.encrypt(&mut FuzzRng::new(0), rest))).expect("bytes encode");
    mode % 3 == 1 && session().0.open(&sealed, &session().1).is_ok()
}
