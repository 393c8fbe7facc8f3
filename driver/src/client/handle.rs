//! The user's handle on a channel, and the futures its requests return.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::registry::Liveness;
use bytes::Bytes;
use futures::FutureExt;
use futures::channel::{mpsc, oneshot};
use futures::future::BoxFuture;
use reqchan_core::client::{Client, ClientStats, Mode, RequestError, RequestOptions, SubmitError};
use reqchan_core::codec::{self, Crypt, DecodeLimits, EncodeError, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::config::ChannelConfig;
use super::error::{BuildError, Error};
use super::key::ChannelKey;
use super::minion::{self, Minion, Sleeper};
use super::socket::ConnectSettings;
use super::state::{ConnectionState, Shared, StateWatch};
use super::task::{Command, Driver};
use crate::Runtime;

/// A request channel to one server: a cheap, cloneable handle on a driver task that
/// owns the socket, running on the runtime `R` (the adapters name it:
/// `reqchan_tokio::Channel`, `reqchan_async_std::Channel`).
///
/// Every request resolves exactly once: with the reply, or with a typed [`Error`].
/// Dropping a request's future before it resolves cancels the request (it is never
/// sent, or never sent again). A request in flight keeps the channel alive: the channel
/// closes when the last handle *and* the last unfinished request's future are gone,
/// and then the socket is closed and the driver task ends. [`close`](Self::close)
/// closes it at once: every pending request completes with `Closed`.
pub struct Channel<R> {
    pub(crate) inner: Arc<Inner>,
    _runtime: PhantomData<fn() -> R>,
}

impl<R> Clone for Channel<R> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner), _runtime: PhantomData }
    }
}

pub(crate) struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    endpoint: String,
    crypt: Crypt,
    /// An `aes` channel's keys and session.
    minion: Option<Arc<Minion>>,
    /// The configuration it runs with, its seed drawn.
    config: ChannelConfig,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle and the last request future are gone: nothing can be waiting.
        let _ = self.commands.unbounded_send(Command::Close);
    }
}

impl Inner {
    pub(crate) fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// Queues `payload` as it is; the future holds the channel until it resolves.
    pub(crate) fn submit_raw(self: &Arc<Self>, payload: Bytes, options: RequestOptions) -> ResponseFuture {
        let token = self.shared.token();
        let (reply, receiver) = oneshot::channel();
        let command = Command::Submit { token, payload, options, reply };
        if self.commands.unbounded_send(command).is_err() {
            return ResponseFuture::failed(gone_error(&self.shared, Error::Submit(SubmitError::Closed)));
        }
        ResponseFuture { state: State::Waiting { receiver, keep: InFlight { token, channel: Some(Arc::clone(self)) } } }
    }
}

impl Liveness for Inner {
    fn is_live(&self) -> bool {
        self.shared.driver_alive()
            && !self.shared.is_closing()
            && !self.commands.is_closed()
            && self.shared.state() != ConnectionState::Closed
    }
}

impl<R> fmt::Debug for Channel<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("endpoint", &self.inner.endpoint)
            .field("mode", &self.mode())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Channel<R> {
    /// A new, unshared channel to `endpoint` (`tcp://host:port` or `ipc://path`),
    /// driven on the runtime the caller runs on. Requests are wrapped in the `clear`
    /// envelope.
    ///
    /// Connecting starts at once, in the background; requests made meanwhile wait in
    /// the queue (bounded by their timeout).
    pub fn connect(endpoint: &str, config: ChannelConfig) -> Result<Self, BuildError> {
        Self::connect_on(&current::<R>()?, endpoint, config)
    }

    /// [`connect`](Self::connect), driven on `runtime`; callable from outside it.
    pub fn connect_on(runtime: &R, endpoint: &str, config: ChannelConfig) -> Result<Self, BuildError> {
        Self::spawn(runtime, &ChannelKey::new("", "", endpoint), config)
    }

    /// A new, unshared channel for `key` (its crypt, and for `aes` its `pki_dir` and
    /// minion id): what [`get`](Self::get) shares, without sharing it.
    ///
    /// On an `aes` channel each [`request`](Self::request) is sealed under the session
    /// the master grants at `_auth`, which runs before the first request (requests made
    /// meanwhile wait for it, within their timeout): the minion's key is read from
    /// `pki_dir` (made there if absent, as salt-minion does), the master's key trusted
    /// on first contact and stored as `minion_master.pub` (or checked against
    /// [`ChannelConfig::master_finger`]). A master that no longer accepts the session
    /// gets one new `_auth` and the request again. Errors: [`Error::Salt`].
    pub fn connect_key(key: ChannelKey, config: ChannelConfig) -> Result<Self, BuildError> {
        Self::spawn(&current::<R>()?, &key, config)
    }

    pub(crate) fn spawn(runtime: &R, key: &ChannelKey, config: ChannelConfig) -> Result<Self, BuildError> {
        let (endpoint, crypt) = (key.master_uri.as_str(), key.crypt);
        let minion = match crypt {
            Crypt::Clear => None,
            Crypt::Aes => {
                let timers = runtime.clone();
                let sleep: Sleeper = Arc::new(move |at| Box::pin(timers.sleep_until(at)));
                let minion = Minion::new(
                    key.pki_dir.clone(),
                    key.id.clone(),
                    config.master_finger.clone(),
                    config.decode,
                    sleep,
                );
                Some(Arc::new(minion))
            }
            other => return Err(BuildError::UnsupportedCrypt(other)),
        };
        if super::wire::Address::parse(endpoint).is_none() {
            let reason = "not tcp://HOST:PORT or ipc://PATH".to_owned();
            return Err(BuildError::InvalidEndpoint { endpoint: endpoint.to_owned(), reason });
        }
        let config = config.with_seed_drawn(seed_from_os);
        let core = Client::new(config.client_config().clone())?;
        let (commands, receiver) = mpsc::unbounded();
        let shared = Shared::new();
        let connect = ConnectSettings {
            transport: config.transport,
            timeout: config.connect_timeout,
            max_message_size: config.client_config().max_message_size,
            heartbeat: config.heartbeat,
        };
        let driver = Driver::new(runtime.clone(), core, endpoint.to_owned(), connect, receiver, shared.clone());
        let span = tracing::info_span!("reqchan_channel", endpoint = %endpoint);
        runtime.spawn(driver.run().instrument(span));
        if !shared.driver_alive() {
            // The runtime dropped the task at once: it is shut down.
            return Err(BuildError::RuntimeShutDown);
        }
        let inner = Inner { commands, shared, endpoint: endpoint.to_owned(), crypt, minion, config };
        Ok(Self::from_inner(Arc::new(inner)))
    }
}

impl<R> Channel<R> {
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner, _runtime: PhantomData }
    }

    /// Sends `load` in the Salt envelope `{"enc": "clear", "load": load, "version": 3}`
    /// with the channel's default options, and decodes the reply as `U` (use
    /// [`Value`](reqchan_core::codec::Value) for any reply).
    ///
    /// The request is queued when this is called; the future resolves with its outcome.
    pub fn request<T, U>(&self, load: &T) -> ReplyFuture<U>
    where
        T: Serialize + ?Sized,
        U: DeserializeOwned,
    {
        self.request_with(load, RequestOptions::default())
    }

    /// [`request`](Self::request) with per-request options (timeout, tries, backoff).
    ///
    /// The server's refusals (`{"msg": "bad load"}`, `"bad load"`,
    /// `{"msg": "server busy"}`, the handler-exception string) complete the request with
    /// [`RequestError::Rejected`], counted in `stats().rejected`, not as replies.
    pub fn request_with<T, U>(&self, load: &T, options: RequestOptions) -> ReplyFuture<U>
    where
        T: Serialize + ?Sized,
        U: DeserializeOwned,
    {
        let inner = match &self.inner.minion {
            None => match codec::encode_request(self.inner.crypt, load) {
                Ok(payload) => self.submit_raw(payload, options.detect_refusals(true)),
                Err(e) => ResponseFuture::failed(Error::Encode(e)),
            },
            Some(minion) => match codec::encode_reply(load).and_then(|packed| as_value(&packed)) {
                Ok(load) => {
                    let request = minion::request(Arc::clone(&self.inner), Arc::clone(minion), load, options);
                    ResponseFuture { state: State::Aes(request) }
                }
                Err(e) => ResponseFuture::failed(Error::Encode(e)),
            },
        };
        ReplyFuture { inner, limits: self.inner.config.decode, _reply: PhantomData }
    }

    /// Sends `payload` as it is (no envelope) and returns the reply's bytes, untouched
    /// (a refusal too, unless the options ask to
    /// [`detect_refusals`](RequestOptions::detect_refusals)).
    pub fn request_raw(&self, payload: impl Into<Bytes>) -> ResponseFuture {
        self.request_raw_with(payload, RequestOptions::default())
    }

    /// [`request_raw`](Self::request_raw) with per-request options.
    ///
    /// Refused on an `aes` channel ([`SaltError::RawPayload`](super::SaltError::RawPayload)):
    /// the payload would travel unencrypted.
    pub fn request_raw_with(&self, payload: impl Into<Bytes>, options: RequestOptions) -> ResponseFuture {
        if self.inner.minion.is_some() {
            return ResponseFuture::failed(Error::Salt(super::SaltError::RawPayload));
        }
        self.submit_raw(payload, options)
    }

    /// Queues `payload` as it is.
    fn submit_raw(&self, payload: impl Into<Bytes>, options: RequestOptions) -> ResponseFuture {
        self.inner.submit_raw(payload.into(), options)
    }

    /// Closes the channel for every handle: pending requests complete with `Closed`,
    /// later ones are refused, the socket is closed and the driver task ends.
    pub fn close(&self) {
        self.inner.shared.mark_closing();
        let _ = self.inner.commands.unbounded_send(Command::Close);
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.inner.shared.state()
    }

    /// A watch on the connection state, to wait for changes.
    pub fn watch(&self) -> StateWatch {
        StateWatch::new(Arc::clone(&self.inner.shared))
    }

    /// The core's counters, as of the driver's last step.
    pub fn stats(&self) -> ClientStats {
        self.inner.shared.stats()
    }

    /// Waits until `predicate` holds for the counters and returns them. If the channel
    /// closes first, returns its final counters (they never change after), so this
    /// never waits on a dead channel.
    pub async fn wait_for_stats(&self, mut predicate: impl FnMut(&ClientStats) -> bool) -> ClientStats {
        std::future::poll_fn(|cx| self.inner.shared.poll_stats(cx, &mut predicate)).await
    }

    /// Requests accepted and not yet completed, as of the driver's last step.
    pub fn pending(&self) -> usize {
        self.inner.shared.pending()
    }

    /// Whether the channel can still take requests: not closed, and its driver task is
    /// running.
    pub fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    /// The endpoint the channel connects to.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Lockstep or pipelined.
    pub fn mode(&self) -> Mode {
        self.inner.config.client_config().mode
    }

    /// The configuration the channel runs with, including the seed it drew.
    pub fn config(&self) -> &ChannelConfig {
        &self.inner.config
    }

    /// Whether `self` and `other` are handles on the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Why a request made now would be refused, for a channel that is not live.
    pub(crate) fn refusal(&self) -> Error {
        if self.inner.shared.driver_alive() { Error::Submit(SubmitError::Closed) } else { self.gone_error() }
    }

    fn gone_error(&self) -> Error {
        gone_error(&self.inner.shared, Error::Submit(SubmitError::Closed))
    }
}

/// A msgpack load as a [`Value`] (what an `aes` request seals).
fn as_value(packed: &[u8]) -> Result<Value, EncodeError> {
    codec::decode_reply(packed).map_err(|e| EncodeError::Serialize { reason: e.to_string() })
}

/// The runtime the caller runs on.
fn current<R: Runtime>() -> Result<R, BuildError> {
    R::current().ok_or(BuildError::NoRuntime { runtime: R::NAME })
}

/// A seed for backoff jitter from the operating system's random source, so that no two
/// channels (in this process or on other machines) draw the same delays. Falls back to
/// the process's randomly keyed hasher if the OS source fails, which it does not on
/// any supported platform.
fn seed_from_os() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        hasher.finish()
    })
}

/// The error for a driver that is not there: closed on purpose, or dropped with its
/// runtime.
fn gone_error(shared: &Shared, closed: Error) -> Error {
    if shared.was_closed() { closed } else { Error::DriverGone }
}

/// An unfinished request's hold on its channel: keeps the channel alive while the
/// request is pending, and cancels the request if its future is dropped unresolved.
struct InFlight {
    token: u64,
    /// `None` once the request resolved.
    channel: Option<Arc<Inner>>,
}

impl InFlight {
    /// The request resolved: let go of the channel without cancelling anything.
    fn release(&mut self) -> Option<Arc<Inner>> {
        self.channel.take()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(channel) = self.channel.take() {
            // Sent before the channel handle drops: if it was the last, the close
            // that follows finds the request already cancelled.
            let _ = channel.commands.unbounded_send(Command::Cancel { token: self.token });
        }
    }
}

enum State {
    Waiting {
        receiver: oneshot::Receiver<Result<Bytes, Error>>,
        keep: InFlight,
    },
    /// An `aes` request: authentication, sealing, and the raw request inside.
    Aes(BoxFuture<'static, Result<Bytes, Error>>),
    Failed(Error),
    Done,
}

/// The reply bytes of a request, from [`Channel::request_raw`]. Dropping it before it
/// resolves cancels the request.
#[must_use = "a request is cancelled when its future is dropped"]
pub struct ResponseFuture {
    state: State,
}

impl ResponseFuture {
    fn failed(error: Error) -> Self {
        Self { state: State::Failed(error) }
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } | State::Aes(_) => "waiting",
            State::Failed(_) => "failed",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Bytes, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = match &mut self.state {
            State::Waiting { receiver, .. } => Some(std::task::ready!(receiver.poll_unpin(cx))),
            State::Aes(request) => {
                let outcome = std::task::ready!(request.poll_unpin(cx));
                self.state = State::Done;
                return Poll::Ready(outcome);
            }
            State::Failed(_) | State::Done => None,
        };
        Poll::Ready(match (std::mem::replace(&mut self.state, State::Done), outcome) {
            (State::Waiting { mut keep, .. }, Some(Ok(result))) => {
                keep.release();
                result
            }
            (State::Waiting { mut keep, .. }, _) => {
                // The driver dropped the request without answering: it is gone.
                match keep.release() {
                    Some(channel) => Err(gone_error(&channel.shared, Error::Request(RequestError::Closed))),
                    None => Err(Error::Request(RequestError::Closed)),
                }
            }
            (State::Failed(error), _) => Err(error),
            // Polled again after it resolved. (An aes request resolves in its own arm
            // above, so it never reaches this match.)
            (State::Done | State::Aes(_), _) => Err(Error::Request(RequestError::Closed)),
        })
    }
}

/// The decoded reply of a request, from [`Channel::request`]. Dropping it before it
/// resolves cancels the request.
#[must_use = "a request is cancelled when its future is dropped"]
pub struct ReplyFuture<U> {
    inner: ResponseFuture,
    limits: DecodeLimits,
    _reply: PhantomData<fn() -> U>,
}

impl<U> fmt::Debug for ReplyFuture<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyFuture").field("inner", &self.inner).finish()
    }
}

impl<U: DeserializeOwned> Future for ReplyFuture<U> {
    type Output = Result<U, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let bytes = std::task::ready!(self.inner.poll_unpin(cx))?;
        Poll::Ready(codec::decode_reply_with(&bytes, self.limits).map_err(Error::Decode))
    }
}
