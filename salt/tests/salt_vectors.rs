//! Against vectors made by Salt's own `salt.crypt` (`tests/vectors/make_vectors.py`,
//! salt 3007.16): what Salt writes, reqchan reads; what is deterministic (the X9.31
//! token, fingerprints), reqchan reproduces byte for byte.

use std::sync::OnceLock;

use rand_core::{CryptoRng, OsRng, RngCore};
use reqchan_core::codec::{Value, decode_reply};
use reqchan_salt::{Accepted, Auth, AuthError, AuthOutcome, Crypticle, MasterKey, MinionKey, ReplyError};
use serde_json::Value as Json;

fn vectors() -> &'static Json {
    static VECTORS: OnceLock<Json> = OnceLock::new();
    VECTORS.get_or_init(|| serde_json::from_str(include_str!("vectors/salt_crypt.json")).expect("vectors"))
}

fn text(name: &str) -> &'static str {
    vectors()[name].as_str().unwrap_or_else(|| panic!("vector {name}"))
}

fn hex(name: &str) -> Vec<u8> {
    let s = text(name);
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn minion() -> MinionKey {
    MinionKey::from_pem(text("minion_pem")).unwrap()
}

fn master() -> MasterKey {
    MasterKey::from_pem(text("master_pub")).unwrap()
}

/// The OS RNG, except that its first 16 bytes make the nonce the vectors' replies carry
/// (the first thing `Auth::request` draws).
struct VectorNonce(usize);

impl RngCore for VectorNonce {
    fn next_u32(&mut self) -> u32 {
        OsRng.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        OsRng.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        const NONCE: [u8; 16] =
            [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        for byte in dest.iter_mut() {
            *byte = match NONCE.get(self.0) {
                Some(b) => *b,
                None => OsRng.next_u32() as u8,
            };
            self.0 += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for VectorNonce {}

/// `auth` asked with the vectors' nonce, answered by `reply`.
fn answer(auth: &mut Auth, reply: &[u8]) -> Result<AuthOutcome, AuthError> {
    let mut rng = VectorNonce(0);
    let load = auth.request(&mut rng);
    assert_eq!(load.get("nonce").and_then(Value::as_str), Some(text("auth_nonce")));
    auth.handle_reply(&mut rng, reply)
}

fn accepted(outcome: Result<AuthOutcome, AuthError>) -> Accepted {
    match outcome {
        Ok(AuthOutcome::Accepted(accepted)) => *accepted,
        other => panic!("not accepted: {other:?}"),
    }
}

#[test]
fn keys_read_as_salt_writes_them() {
    let key = minion();
    assert_eq!(key.public_pem(), reqchan_salt::clean_pem(text("minion_pub")), "minion.pub as Salt sends it");
    assert_eq!(master().fingerprint(), text("master_finger"), "salt.utils.crypt.pem_finger");
    let rewritten = MinionKey::from_pem(&key.private_pem().unwrap()).unwrap();
    assert_eq!(rewritten.public_pem(), key.public_pem(), "minion.pem round-trips");
}

#[test]
fn the_session_cipher_opens_what_salt_seals() {
    let cipher = Crypticle::from_key_string(text("session_key").as_bytes()).unwrap();
    let request = cipher.decrypt(&hex("request_cipher")).unwrap();
    assert_eq!(request, [b"pickle::".as_slice(), &hex("request_plain")].concat());
    let reply = cipher.decrypt(&hex("reply_cipher")).unwrap();
    let nonce = text("auth_nonce").as_bytes();
    assert_eq!(reply, [b"pickle::".as_slice(), nonce, &hex("reply_plain")].concat());
}

#[test]
fn an_accepted_auth_reply_made_by_salt_gives_the_session_and_trusts_the_master_on_first_use() {
    let mut auth = Auth::new("minion-1", minion());
    let accepted = accepted(answer(&mut auth, &hex("auth_reply")));
    assert!(accepted.first_contact);
    assert_eq!(accepted.master_key, master());
    assert_eq!(accepted.publish_port, Some(4505));
    assert_eq!(auth.master_key(), Some(&master()), "trusted from now on");

    // The session is the one Salt granted: a request it seals opens under Salt's key,
    // with the minion's token exactly as Salt's X9.31 code makes it.
    let mut rng = OsRng;
    let load = Value::map([("cmd", "_master_opts".into()), ("env_only", true.into())]);
    let sealed = accepted.session.seal(&mut rng, &load, 1_764_000_000).unwrap();
    let envelope: Value = decode_reply(&sealed.envelope).unwrap();
    assert_eq!(envelope.get("enc").and_then(Value::as_str), Some("aes"));
    assert_eq!(envelope.get("id").and_then(Value::as_str), Some("minion-1"));
    let salts = Crypticle::from_key_string(text("session_key").as_bytes()).unwrap();
    let plain = salts.decrypt(envelope.get("load").and_then(Value::as_bytes).unwrap()).unwrap();
    let inner: Value = decode_reply(plain.strip_prefix(b"pickle::").unwrap()).unwrap();
    assert_eq!(inner.get("tok").and_then(Value::as_bytes), Some(hex("tok").as_slice()), "tok, byte for byte");
    assert_eq!(inner.get("nonce").and_then(Value::as_str), Some(sealed.nonce.as_str()));
    assert_eq!(inner.get("ts").and_then(Value::as_i64), Some(1_764_000_000));
    assert_eq!(inner.get("cmd").and_then(Value::as_str), Some("_master_opts"));

    // And a reply Salt sealed for the vectors' nonce opens only with that nonce.
    let reply = reqchan_core::codec::encode_reply(&Value::Binary(hex("reply_cipher"))).unwrap();
    let mut asked = auth_nonce_session(&accepted);
    let answer = asked(&reply).unwrap();
    assert_eq!(answer.get("default_top").and_then(Value::as_str), Some("base"));
    assert_eq!(accepted.session.open(&reply, &sealed.nonce), Err(ReplyError::NonceMismatch));
}

/// Opens replies for the vectors' nonce with `accepted`'s session.
fn auth_nonce_session(accepted: &Accepted) -> impl FnMut(&[u8]) -> Result<Value, ReplyError> + '_ {
    // A request sealed with the vectors' nonce (the first 16 random bytes drawn).
    let sealed = accepted.session.seal(&mut VectorNonce(0), &Value::map([("cmd", "x".into())]), 0).unwrap();
    assert_eq!(sealed.nonce.as_str(), text("auth_nonce"));
    move |reply| accepted.session.open(reply, &sealed.nonce)
}

#[test]
fn a_known_master_must_sign_and_keep_its_key() {
    // Trusted already: the same key is accepted (not a first contact).
    let mut auth = Auth::new("minion-1", minion()).trust(master());
    // The reply was made without our token: a master that cannot show it read the
    // token is refused.
    assert_eq!(answer(&mut auth, &hex("auth_reply")).unwrap_err(), AuthError::TokenMismatch);

    // Another master key trusted (here: the minion's own, as a stand-in): the offered
    // one is a change, refused, naming both fingerprints.
    let trusted = MasterKey::from_pem(minion().public_pem()).unwrap();
    let mut auth = Auth::new("minion-1", minion()).trust(trusted.clone());
    let changed = AuthError::MasterKeyChanged { trusted: trusted.fingerprint(), offered: master().fingerprint() };
    assert_eq!(answer(&mut auth, &hex("auth_reply")).unwrap_err(), changed);
    assert_eq!(auth.master_key(), Some(&trusted), "no silent re-trust");

    // A pinned fingerprint that is not the master's.
    let mut auth = Auth::new("minion-1", minion()).pin("00:11");
    assert!(matches!(answer(&mut auth, &hex("auth_reply")), Err(AuthError::FingerprintMismatch { .. })));
    let mut auth = Auth::new("minion-1", minion()).pin(text("master_finger"));
    assert!(accepted(answer(&mut auth, &hex("auth_reply"))).first_contact);
}

#[test]
fn a_tampered_auth_reply_is_refused() {
    let good = hex("auth_reply");
    // Flip one byte inside the signed load, and one inside the signature.
    let sig = hex("auth_inner_sig");
    let sig_at = good.windows(sig.len()).position(|w| w == sig).unwrap();
    for at in [good.len() / 3, sig_at + 10] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let mut auth = Auth::new("minion-1", minion());
        let error = answer(&mut auth, &bad).unwrap_err();
        assert!(
            matches!(error, AuthError::BadSignature | AuthError::Decode(_) | AuthError::Malformed(_)),
            "byte {at}: {error:?}"
        );
    }
}

#[test]
fn a_pending_reply_says_pending_and_replies_without_a_request_are_refused() {
    let mut auth = Auth::new("minion-1", minion()).trust(master());
    assert!(matches!(answer(&mut auth, &hex("pending_reply")), Ok(AuthOutcome::Pending)));
    let mut rng = OsRng;
    assert_eq!(auth.handle_reply(&mut rng, &hex("pending_reply")).unwrap_err(), AuthError::NotRequested);
    let _ = auth.request(&mut rng);
    assert_eq!(auth.handle_reply(&mut rng, &hex("pending_reply")).unwrap_err(), AuthError::NonceMismatch);
}

#[test]
fn rejected_and_full_are_typed_errors() {
    let mut auth = Auth::new("minion-1", minion()).trust(master());
    assert_eq!(answer(&mut auth, &hex("rejected_reply")).unwrap_err(), AuthError::Rejected);
    assert_eq!(answer(&mut auth, &hex("full_reply")).unwrap_err(), AuthError::Full);
    assert!(AuthError::Full.is_retryable() && !AuthError::Rejected.is_retryable());
}
