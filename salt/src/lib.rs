//! Salt's `aes` request channel, IO-free: the minion's keys, the `_auth` handshake that
//! gives it a session, and the session cipher that seals every request and opens every
//! reply (Salt 3007, `salt.crypt`; the bytes are in `shared/SALT-AES.md`).
//!
//! No sockets, clocks or global randomness: every operation that needs randomness takes
//! a cryptographic RNG from the caller (the adapters pass the OS's), and the request
//! time is passed in. The request client in `reqchan-core` stays crypto-free; a driver
//! puts the two together.
//!
//! ```
//! use reqchan_core::codec::Value;
//! use reqchan_salt::{Auth, AuthOutcome, MinionKey};
//! # fn send_clear(_load: &Value) -> Vec<u8> { Vec::new() }
//! # fn send(_envelope: &[u8]) -> Vec<u8> { Vec::new() }
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let minion_pem = include_str!("../tests/vectors/minion.pem");
//! let mut rng = rand_core::OsRng;
//! let mut auth = Auth::new("minion-1", MinionKey::from_pem(minion_pem)?);
//! // 1. `_auth`: a clear request, and the master's reply.
//! let reply = send_clear(&auth.request(&mut rng));
//! let AuthOutcome::Accepted(accepted) = auth.handle_reply(&mut rng, &reply)? else {
//!     return Ok(()); // pending: the key waits for acceptance on the master; ask again later
//! };
//! // 2. Every request sealed under the session; every reply opened and nonce-checked.
//! let request = Value::map([("cmd", "_master_opts".into()), ("env_only", true.into())]);
//! let sealed = accepted.session.seal(&mut rng, &request, 1_764_000_000)?;
//! let answer: Value = accepted.session.open(&send(&sealed.envelope), &sealed.nonce)?;
//! # let _ = answer; Ok(()) }
//! # assert!(run().is_err()); // no master here: the empty reply is not msgpack
//! ```
//!
//! # Dependencies
//! RustCrypto's crates (`rsa`, `aes`, `cbc`, `hmac`, `sha1`, `sha2`): pure Rust, well
//! kept, no system library, one generation (`digest` 0.10) for all of them. `rsa` 0.9
//! carries the unresolved timing advisory RUSTSEC-2023-0071 (Marvin) for RSA
//! *decryption*. Here the minion decrypts only inside `_auth` replies, a few times per
//! session, only after the reply's signature verified against the trusted master key
//! (or on first contact, the key the master offers), and always blinded: a network
//! attacker cannot make it decrypt chosen ciphertexts in bulk, which the attack needs.
//! `openssl` would have X9.31 padding built in but needs the system library; X9.31 is
//! done here over `rsa`'s raw operations and tested against vectors made by Salt.
//! The session cipher (encrypt-then-MAC) checks the MAC in constant time before
//! decrypting anything.

mod auth;
mod crypticle;
mod error;
mod keys;
pub mod pki;
mod session;
mod x931;

pub use auth::{Accepted, Auth, AuthOutcome};
pub use crypticle::Crypticle;
pub use error::{AuthError, CipherError, KeyError, ReplyError, SealError};
pub use keys::{KEY_BITS, MasterKey, MinionKey, clean_pem};
pub use session::{Nonce, Sealed, Session};
