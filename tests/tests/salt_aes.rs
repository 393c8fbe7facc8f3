//! reqchan-salt against a real Salt master (salt 3007.16 from PyPI): `_auth` (pending,
//! then accepted), `aes` requests sealed and answered, replies matched by nonce under
//! concurrency, tampering and key changes refused with typed errors.
//!
//! The handshake and the cipher are reqchan-salt's sans-IO code; the bytes travel over
//! a reqchan channel as raw payloads.

use std::time::Duration;

use futures::future::join_all;
use rand_core::OsRng;
use reqchan_core::codec::{Crypt, Value, encode_request};
use reqchan_salt::{Accepted, Auth, AuthError, AuthOutcome, CipherError, MasterKey, MinionKey, ReplyError};
use reqchan_tests::salt::{SaltMaster, salt_master};
use reqchan_tests::within;
use reqchan_tokio::{Channel, ChannelConfig};

/// The master starts in a few seconds; the first request waits for it in the queue.
const LIMIT: Duration = Duration::from_secs(120);

/// A minion key made by Salt (the vectors' own; making one in a debug build is slow).
fn minion_key() -> MinionKey {
    MinionKey::from_pem(include_str!("../../salt/tests/vectors/minion.pem")).unwrap()
}

fn channel(master: &SaltMaster, config: ChannelConfig) -> Channel {
    let config = config.timeout(Duration::from_secs(60)).tries(1).connect_timeout(Duration::from_secs(60));
    Channel::connect(master.ret_endpoint(), config).unwrap()
}

/// One `_auth` round trip.
async fn authenticate(channel: &Channel, auth: &mut Auth) -> Result<AuthOutcome, AuthError> {
    let load = auth.request(&mut OsRng);
    let request = encode_request(Crypt::Clear, &load).unwrap();
    let reply = within(LIMIT, "_auth", channel.request_raw(request)).await.expect("an _auth reply");
    auth.handle_reply(&mut OsRng, &reply)
}

/// One `aes` request: sealed, sent, and its reply opened.
async fn aes_request(channel: &Channel, accepted: &Accepted, load: &Value) -> Result<Value, ReplyError> {
    let sealed = accepted.session.seal(&mut OsRng, load, unix_time()).unwrap();
    let reply = within(LIMIT, "aes request", channel.request_raw(sealed.envelope)).await.expect("an aes reply");
    accepted.session.open(&reply, &sealed.nonce)
}

fn unix_time() -> u64 {
    #[allow(clippy::disallowed_methods)] // the request's `ts`: wall-clock seconds, as Salt sends
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn master_opts() -> Value {
    Value::map([("cmd", "_master_opts".into()), ("env_only", true.into())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_is_pending_until_the_master_accepts_it() {
    let Some(salt_master) = salt_master() else { return };
    let master = SaltMaster::start(&salt_master); // auto_accept: false
    let channel = channel(&master, ChannelConfig::lockstep());
    let mut auth = Auth::new("reqchan-pending", minion_key());
    let outcome = authenticate(&channel, &mut auth).await;
    assert!(matches!(outcome, Ok(AuthOutcome::Pending)), "{outcome:?}\nmaster log:\n{}", master.log());
    let waiting = master.pki_dir().join("minions_pre/reqchan-pending");
    let stored = std::fs::read_to_string(&waiting).expect("the key waits in minions_pre/");
    assert_eq!(reqchan_salt::clean_pem(&stored), minion_key().public_pem());
    // Asking again changes nothing until someone accepts the key.
    assert!(matches!(authenticate(&channel, &mut auth).await, Ok(AuthOutcome::Pending)));
    drop(channel);
    within(LIMIT, "master stop", master.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_minion_sends_aes_requests_and_reads_the_answers() {
    let Some(salt_master) = salt_master() else { return };
    let master = SaltMaster::start_with(&salt_master, true);
    let lockstep = channel(&master, ChannelConfig::lockstep());

    // First contact: the master's key is trusted on first use, and it is the master's.
    let mut auth = Auth::new("reqchan-aes", minion_key());
    let accepted = match authenticate(&lockstep, &mut auth).await {
        Ok(AuthOutcome::Accepted(accepted)) => *accepted,
        other => panic!("not accepted: {other:?}\nmaster log:\n{}", master.log()),
    };
    assert!(accepted.first_contact);
    let on_disk = std::fs::read_to_string(master.pki_dir().join("master.pub")).unwrap();
    assert_eq!(accepted.master_key, MasterKey::from_pem(&on_disk).unwrap());

    // An aes request: the master decrypts it, checks the token, answers sealed.
    let opts = aes_request(&lockstep, &accepted, &master_opts()).await.unwrap();
    assert!(opts.get("file_roots").is_some(), "{opts}");

    // 16 at once on a pipelined channel: every reply opens with its own request's nonce.
    let pipelined = channel(&master, ChannelConfig::pipelined(16));
    let load = master_opts();
    let answers = join_all((0..16).map(|_| aes_request(&pipelined, &accepted, &load))).await;
    for answer in answers {
        assert_eq!(answer.unwrap(), opts);
    }

    // Tampering and mix-ups are typed errors: a flipped byte fails the MAC, a reply to
    // another request fails the nonce check.
    let sealed = accepted.session.seal(&mut OsRng, &master_opts(), unix_time()).unwrap();
    let reply = within(LIMIT, "aes request", lockstep.request_raw(sealed.envelope)).await.unwrap();
    let mut tampered = reply.to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert_eq!(accepted.session.open(&tampered, &sealed.nonce), Err(ReplyError::Cipher(CipherError::Mac)));
    let other = accepted.session.seal(&mut OsRng, &master_opts(), unix_time()).unwrap();
    assert_eq!(accepted.session.open(&reply, &other.nonce), Err(ReplyError::NonceMismatch));
    assert_eq!(accepted.session.open(&reply, &sealed.nonce).unwrap(), opts);

    // Known master now: `_auth` carries a token the master must decrypt and return.
    let mut again = Auth::new("reqchan-aes", minion_key()).trust(accepted.master_key.clone());
    match authenticate(&lockstep, &mut again).await {
        Ok(AuthOutcome::Accepted(accepted)) => assert!(!accepted.first_contact),
        other => panic!("not accepted again: {other:?}"),
    }
    // A minion that trusts another key refuses this master, naming both fingerprints.
    let stranger = MasterKey::from_pem(minion_key().public_pem()).unwrap();
    let mut wary = Auth::new("reqchan-aes", minion_key()).trust(stranger.clone());
    let refused = authenticate(&lockstep, &mut wary).await.unwrap_err();
    let changed =
        AuthError::MasterKeyChanged { trusted: stranger.fingerprint(), offered: accepted.master_key.fingerprint() };
    assert_eq!(refused, changed);

    drop((lockstep, pipelined));
    within(LIMIT, "master stop", master.stop()).await;
}
