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
use reqchan_tokio::{Channel, ChannelConfig, ChannelKey, Error, SaltError};

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

/// `reqchan send --crypt aes` of `_master_opts`: (exit status, stdout, stderr).
async fn cli_send(master: &SaltMaster, pki_dir: &std::path::Path, id: &str) -> (Option<i32>, String, String) {
    let pki_dir = pki_dir.to_str().unwrap();
    let payload = r#"{"cmd": "_master_opts", "env_only": true}"#;
    let args = ["send", "--crypt", "aes", "--pki-dir", pki_dir, "--id", id, "--timeout", "60", "--tries", "1"];
    let run = tokio::process::Command::new(reqchan_tests::binary::reqchan())
        .args(args)
        .args([master.ret_endpoint(), payload])
        .output();
    let out = within(LIMIT, "reqchan send --crypt aes", run).await.unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

// ----- the aes channel: `_auth` and sealing inside `Channel` -----

fn aes_key(pki_dir: &std::path::Path, id: &str, master: &SaltMaster) -> ChannelKey {
    ChannelKey::new(pki_dir, id, master.ret_endpoint()).with_crypt(Crypt::Aes)
}

fn aes_config(config: ChannelConfig) -> ChannelConfig {
    config.timeout(Duration::from_secs(60)).tries(1).connect_timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aes_channel_makes_its_keys_authenticates_once_and_seals_every_request() {
    let Some(salt_master) = salt_master() else { return };
    let master = SaltMaster::start_with(&salt_master, true);
    let pki = tempfile::tempdir().unwrap();
    let pki_dir = pki.path().join("minion");
    let channel =
        Channel::connect_key(aes_key(&pki_dir, "reqchan-channel", &master), aes_config(ChannelConfig::pipelined(16)))
            .unwrap();

    // 16 requests at once, all made before `_auth` finished: they wait for it, then
    // each is sealed and its reply opened.
    let load = master_opts();
    let replies = within(LIMIT, "aes requests", join_all((0..16).map(|_| channel.request::<_, Value>(&load)))).await;
    for reply in replies {
        let reply = reply.unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", master.log()));
        assert!(reply.get("file_roots").is_some(), "{reply}");
    }
    // One `_auth` (a clear request) and 16 sealed ones went out.
    assert_eq!(channel.stats().transmitted, 17, "{:?}", channel.stats());

    // The keys, as salt-minion keeps them: made here, the master's trusted on first use.
    use std::os::unix::fs::PermissionsExt;
    let mode = |name: &str| std::fs::metadata(pki_dir.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("minion.pem"), mode("minion.pub")), (0o600, 0o644));
    let trusted = std::fs::read_to_string(pki_dir.join("minion_master.pub")).unwrap();
    let masters = std::fs::read_to_string(master.pki_dir().join("master.pub")).unwrap();
    assert_eq!(MasterKey::from_pem(&trusted).unwrap(), MasterKey::from_pem(&masters).unwrap());
    assert!(master.pki_dir().join("minions/reqchan-channel").is_file(), "accepted by the master");

    // A minion that trusts another master key refuses this master: no silent re-trust.
    let wary = tempfile::tempdir().unwrap();
    std::fs::write(wary.path().join("minion_master.pub"), minion_key().public_pem()).unwrap();
    let channel =
        Channel::connect_key(aes_key(wary.path(), "reqchan-wary", &master), aes_config(ChannelConfig::lockstep()))
            .unwrap();
    let refused = within(LIMIT, "changed key", channel.request::<_, Value>(&master_opts())).await;
    assert!(matches!(refused, Err(Error::Salt(SaltError::Auth(AuthError::MasterKeyChanged { .. })))), "{refused:?}");
    // A pinned fingerprint that is not the master's: refused too.
    let pinned = aes_config(ChannelConfig::lockstep()).master_finger("00:11:22");
    let channel = Channel::connect_key(aes_key(wary.path(), "reqchan-pinned", &master), pinned).unwrap();
    std::fs::remove_file(wary.path().join("minion_master.pub")).unwrap();
    let refused = within(LIMIT, "pinned", channel.request::<_, Value>(&master_opts())).await;
    assert!(matches!(refused, Err(Error::Salt(SaltError::Auth(AuthError::FingerprintMismatch { .. })))), "{refused:?}");
    // The CLI is a minion too: keys made in its own pki_dir, the answer printed as JSON.
    let cli_pki = tempfile::tempdir().unwrap();
    let (status, stdout, stderr) = cli_send(&master, cli_pki.path(), "reqchan-cli").await;
    assert_eq!(status, Some(0), "stdout {stdout}\nstderr {stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(printed.get("file_roots").is_some(), "{stdout}");
    assert!(cli_pki.path().join("minion.pem").is_file() && cli_pki.path().join("minion_master.pub").is_file());

    // Raw payloads would travel in clear: refused.
    let raw = channel.request_raw(bytes::Bytes::from_static(b"\x80")).await;
    assert_eq!(raw, Err(Error::Salt(SaltError::RawPayload)));
    drop(channel);
    within(LIMIT, "master stop", master.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_master_with_new_session_keys_gets_a_new_auth_and_the_request_again() {
    let Some(salt_master) = salt_master() else { return };
    let mut master = SaltMaster::start_with(&salt_master, true);
    let pki = tempfile::tempdir().unwrap();
    let config = aes_config(ChannelConfig::lockstep()).tries(3);
    let channel = Channel::connect_key(aes_key(pki.path(), "reqchan-restart", &master), config).unwrap();
    let first: Value = within(LIMIT, "before the restart", channel.request(&master_opts())).await.unwrap();

    // The master restarts and forgets the session keys (as after a rotation): the next
    // request is refused under the old session, authenticates again and is answered.
    within(LIMIT, "restart", master.restart(true)).await;
    let second: Value = within(LIMIT, "after the restart", channel.request(&master_opts()))
        .await
        .unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", master.log()));
    assert_eq!(first, second);
    let accepted = master.log().matches("Authentication accepted from reqchan-restart").count();
    assert_eq!(accepted, 2, "one _auth before the restart, one after\nmaster log:\n{}", master.log());
    drop(channel);
    within(LIMIT, "master stop", master.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aes_channel_reports_a_key_the_master_has_not_accepted() {
    let Some(salt_master) = salt_master() else { return };
    let master = SaltMaster::start(&salt_master); // auto_accept: false
    let pki = tempfile::tempdir().unwrap();
    let channel =
        Channel::connect_key(aes_key(pki.path(), "reqchan-waiting", &master), aes_config(ChannelConfig::lockstep()))
            .unwrap();
    let pending = within(LIMIT, "pending", channel.request::<_, Value>(&master_opts())).await;
    assert_eq!(pending, Err(Error::Salt(SaltError::Pending)), "master log:\n{}", master.log());
    assert!(pending.unwrap_err().to_string().contains("salt-key"));

    // The CLI says so with its own exit status, 4.
    let cli_pki = tempfile::tempdir().unwrap();
    let (status, stdout, stderr) = cli_send(&master, cli_pki.path(), "reqchan-cli-pending").await;
    assert_eq!(status, Some(4), "stdout {stdout}\nstderr {stderr}");
    assert!(stderr.contains("salt-key"), "{stderr}");
    // Rejected on the master (as `salt-key -r` does): exit 4 again, saying so.
    let pre = master.pki_dir().join("minions_pre/reqchan-cli-pending");
    std::fs::rename(&pre, master.pki_dir().join("minions_rejected/reqchan-cli-pending")).unwrap();
    let (status, stdout, stderr) = cli_send(&master, cli_pki.path(), "reqchan-cli-pending").await;
    assert_eq!(status, Some(4), "stdout {stdout}\nstderr {stderr}");
    assert!(stderr.contains("rejected"), "{stderr}");

    // --crypt aes without its directory and id is a usage error.
    let usage = tokio::process::Command::new(reqchan_tests::binary::reqchan())
        .args(["send", "--crypt", "aes", master.ret_endpoint()])
        .output()
        .await
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));

    drop(channel);
    within(LIMIT, "master stop", master.stop()).await;
}

/// Requests made while `_auth` has no answer yet wait for it, but only within their own
/// timeout: a server that never answers times them out, unsent.
#[tokio::test]
async fn requests_waiting_for_auth_still_time_out() {
    use reqchan_tokio::server::{self, IncomingRequest, Reply, ServerOptions, SocketKind};
    let never = |_request: IncomingRequest| futures::future::pending::<Result<Reply, std::convert::Infallible>>();
    let silent = server::bind("tcp://127.0.0.1:0", SocketKind::Router, ServerOptions::default(), never).await.unwrap();
    let pki = tempfile::tempdir().unwrap();
    let key = ChannelKey::new(pki.path(), "reqchan-patient", silent.endpoint()).with_crypt(Crypt::Aes);
    let channel = Channel::connect_key(key, ChannelConfig::pipelined(4).timeout(Duration::from_secs(30))).unwrap();
    let quick = reqchan_tokio::RequestOptions::default().timeout(Duration::from_millis(300));
    let outcomes = within(
        LIMIT,
        "waiting requests",
        join_all((0..3).map(|_| channel.request_with::<_, Value>(&master_opts(), quick))),
    )
    .await;
    for outcome in outcomes {
        assert_eq!(outcome, Err(Error::Request(reqchan_tokio::RequestError::TimedOut { attempts: 0 })));
    }
    // Options a clear request would refuse are refused at once, not after a wait.
    let invalid = reqchan_tokio::RequestOptions::default().timeout(Duration::ZERO);
    let refused = within(LIMIT, "invalid options", channel.request_with::<_, Value>(&master_opts(), invalid)).await;
    assert!(matches!(refused, Err(Error::Submit(reqchan_tokio::SubmitError::InvalidOptions(_)))), "{refused:?}");
    // Only the `_auth` reached the core: nothing was submitted for the requests themselves.
    let stats = within(LIMIT, "the _auth submitted", channel.wait_for_stats(|s| s.submitted >= 1)).await;
    assert_eq!((stats.submitted, stats.replied), (1, 0), "{stats:?}");
    assert!(stats.transmitted <= 1, "{stats:?}");
}
