//! The minion side of an `aes` channel: its keys, the `_auth` handshake and the session,
//! shared by every request on the channel. The protocol is `reqchan-salt`'s; this file
//! only carries it out over the channel, one `_auth` at a time.
//!
//! A request on an `aes` channel: wait for a session (authenticating first if there is
//! none, within the request's timeout), seal the load, send it as a raw payload, open
//! the reply. If the master refuses the session (`bad load`: it restarted with new
//! session keys, or rotated them), authenticate once more and send it again, sealed
//! under the new session; the plaintext is never sent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::future::{self, BoxFuture, Either};
use futures::lock::Mutex;
use rand_core::OsRng;
use reqchan_core::client::{RequestError, RequestOptions, SubmitError};
use reqchan_core::codec::{self, Crypt, DecodeLimits, Value};
use reqchan_salt::{Auth, AuthOutcome, ReplyError, Session, pki};

use super::error::{Error, SaltError};
use super::handle::Inner;

/// A timer of the channel's runtime: completes at the instant given.
pub(crate) type Sleeper = Arc<dyn Fn(Instant) -> BoxFuture<'static, ()> + Send + Sync>;

/// One minion's keys and session, for one channel.
pub(crate) struct Minion {
    pki_dir: PathBuf,
    id: String,
    master_finger: Option<String>,
    limits: DecodeLimits,
    sleep: Sleeper,
    /// Held for the whole of an `_auth`: requests that need a session wait here.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Made from the keys on disk at the first `_auth`.
    auth: Option<Auth>,
    session: Option<Arc<Session>>,
}

impl Minion {
    pub(crate) fn new(
        pki_dir: PathBuf,
        id: String,
        master_finger: Option<String>,
        limits: DecodeLimits,
        sleep: Sleeper,
    ) -> Self {
        Self { pki_dir, id, master_finger, limits, sleep, state: Mutex::new(State::default()) }
    }

    /// A session: the current one, unless it is `refused`; otherwise a new `_auth`.
    async fn session(&self, channel: &Arc<Inner>, refused: Option<&Arc<Session>>) -> Result<Arc<Session>, Error> {
        let mut state = self.state.lock().await;
        if let Some(session) = &state.session
            && refused.is_none_or(|refused| !Arc::ptr_eq(refused, session))
        {
            return Ok(Arc::clone(session));
        }
        state.session = None;
        let auth = match &mut state.auth {
            Some(auth) => auth,
            empty => empty.insert(self.load_keys()?),
        };
        let load = auth.request(&mut OsRng);
        let payload = codec::encode_request(Crypt::Clear, &load)?;
        let reply = channel.submit_raw(payload, RequestOptions::default().detect_refusals(false)).await?;
        match auth.handle_reply(&mut OsRng, &reply).map_err(SaltError::Auth)? {
            AuthOutcome::Accepted(accepted) => {
                if accepted.first_contact {
                    pki::store_master_key(&self.pki_dir, &accepted.master_key).map_err(SaltError::Keys)?;
                    tracing::info!(fingerprint = %accepted.master_key.fingerprint(), "trusting the master's key on first contact");
                }
                let session = Arc::new(accepted.session.with_limits(self.limits));
                state.session = Some(Arc::clone(&session));
                Ok(session)
            }
            AuthOutcome::Pending => Err(SaltError::Pending.into()),
            _ => {
                Err(SaltError::Auth(reqchan_salt::AuthError::Malformed("an outcome this version does not know")).into())
            }
        }
    }

    /// The handshake, from the keys in `pki_dir` (the minion's made if absent).
    fn load_keys(&self) -> Result<Auth, SaltError> {
        let (key, created) = pki::load_or_create_minion_key(&self.pki_dir, &mut OsRng).map_err(SaltError::Keys)?;
        if created {
            tracing::info!(pki_dir = %self.pki_dir.display(), "made a new minion key");
        }
        let mut auth = Auth::new(self.id.clone(), key);
        if let Some(master) = pki::load_master_key(&self.pki_dir).map_err(SaltError::Keys)? {
            auth = auth.trust(master);
        }
        if let Some(finger) = &self.master_finger {
            auth = auth.pin(finger.clone());
        }
        Ok(auth)
    }

    /// `work`, unless `deadline` passes first: then the request times out, unsent.
    async fn within<T>(&self, deadline: Instant, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let work = std::pin::pin!(work);
        match future::select(work, (self.sleep)(deadline)).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(((), _)) => Err(Error::Request(RequestError::TimedOut { attempts: 0 })),
        }
    }
}

/// One request on an `aes` channel (see the module docs).
pub(crate) fn request(
    channel: Arc<Inner>,
    minion: Arc<Minion>,
    load: Value,
    options: RequestOptions,
) -> BoxFuture<'static, Result<Bytes, Error>> {
    let defaults = &channel.config().client_config().defaults;
    // Refused as a clear request would be, not after waiting for a session.
    if let Err(e) = options.check(defaults) {
        return Box::pin(future::ready(Err(SubmitError::InvalidOptions(e).into())));
    }
    let deadline = Instant::now() + options.timeout.unwrap_or(defaults.timeout);
    let options = options.detect_refusals(false);
    Box::pin(async move {
        let session = minion.within(deadline, minion.session(&channel, None)).await?;
        match exchange(&channel, &session, &load, options).await {
            Err(Error::Salt(SaltError::Reply(ReplyError::SessionRefused))) => {
                tracing::info!("the master refused the session: authenticating again");
                let fresh = minion.within(deadline, minion.session(&channel, Some(&session))).await?;
                exchange(&channel, &fresh, &load, options).await
            }
            outcome => outcome,
        }
    })
}

/// Seals `load` under `session`, sends it, opens the reply.
async fn exchange(
    channel: &Arc<Inner>,
    session: &Session,
    load: &Value,
    options: RequestOptions,
) -> Result<Bytes, Error> {
    let sealed = session.seal(&mut OsRng, load, unix_time()).map_err(SaltError::Seal)?;
    let reply = channel.submit_raw(sealed.envelope, options).await?;
    session.open_bytes(&reply, &sealed.nonce).map_err(|e| SaltError::Reply(e).into())
}

/// Wall-clock seconds, the request's `ts` (the master does not check it against its own).
fn unix_time() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
