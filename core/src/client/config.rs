//! Client configuration and per-request options, validated up front.

use std::fmt;
use std::time::Duration;

use super::backoff::{Backoff, ExponentialBackoff};
use crate::time::MAX_DURATION;

/// How requests share the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// One request in flight, with REQ semantics, as Salt does: sent on a DEALER
    /// socket as `[request-id, "", payload]` (the envelope of libzmq's REQ with
    /// `ZMQ_REQ_CORRELATE`) and answered only by a reply echoing that id, or as
    /// `["", payload]` with [`LockstepFraming::Plain`]. A timed-out attempt resets the
    /// socket, so a late reply can never answer the next request.
    Lockstep,
    /// Up to `max_in_flight` requests on a DEALER socket, each sent as
    /// `[request-id, empty, payload]` and matched to its reply by the echoed id.
    Pipelined {
        /// Requests outstanding on the wire at once.
        max_in_flight: usize,
    },
}

impl Mode {
    pub(crate) fn max_in_flight(&self) -> usize {
        match self {
            Mode::Lockstep => 1,
            Mode::Pipelined { max_in_flight } => *max_in_flight,
        }
    }
}

/// How a lockstep request is framed on the wire, and so how its reply is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LockstepFraming {
    /// `[request-id, "", payload]`: REP servers, ROUTER servers and Salt's ROUTER/DEALER
    /// device echo every frame before the delimiter, so a reply is accepted only if it
    /// carries the id of the request on the wire. A duplicated or late reply is stray.
    #[default]
    Correlated,
    /// `["", payload]`, exactly what a plain REQ socket sends, for servers that refuse
    /// extra envelope frames. Limit: the reply is matched by position only, so a server
    /// that answers one request twice makes the second copy answer the next request.
    /// (Timeouts and cancels still reset the socket, so late replies are never taken.)
    Plain,
}

/// Everything a [`Client`](super::Client) needs to know, checked by
/// [`Client::new`](super::Client::new).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Lockstep (REQ semantics) or pipelined. Default: lockstep.
    pub mode: Mode,
    /// How lockstep requests are framed. Default: correlated by request id.
    pub lockstep_framing: LockstepFraming,
    /// Requests waiting to be sent (queued, or between attempts) before
    /// [`submit`](super::Client::submit) refuses with `QueueFull`. Default: 10,000.
    pub max_queued: usize,
    /// Largest request payload accepted and largest reply delivered, in bytes.
    /// Default: 64 MiB.
    pub max_message_size: usize,
    /// Options used where a request's [`RequestOptions`] leave a field unset.
    pub defaults: RequestDefaults,
    /// Delay between failed attempts to open a connection.
    /// Default: 100 ms doubling up to 5 s, jitter 0.5.
    pub reconnect: ExponentialBackoff,
    /// Seed for every random choice the client makes (backoff jitter).
    pub seed: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        let reconnect = ExponentialBackoff::new(Duration::from_millis(100), Duration::from_secs(5))
            .and_then(|b| b.with_jitter(0.5))
            .expect("the default reconnect policy is valid");
        Self {
            mode: Mode::Lockstep,
            lockstep_framing: LockstepFraming::Correlated,
            max_queued: 10_000,
            max_message_size: 64 << 20,
            defaults: RequestDefaults::default(),
            reconnect,
            seed: 0,
        }
    }
}

impl ClientConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_queued == 0 {
            return Err(ConfigError("max_queued must be at least 1"));
        }
        if self.mode.max_in_flight() == 0 {
            return Err(ConfigError("max_in_flight must be at least 1"));
        }
        if self.max_message_size == 0 {
            return Err(ConfigError("max_message_size must be at least 1"));
        }
        if self.defaults.timeout.is_zero() {
            return Err(ConfigError("the default timeout must be greater than zero"));
        }
        if self.defaults.tries == 0 {
            return Err(ConfigError("the default tries must be at least 1"));
        }
        if self.defaults.timeout > MAX_DURATION {
            return Err(ConfigError("the default timeout must be at most MAX_DURATION (a year)"));
        }
        Ok(())
    }
}

/// The client-wide request options. Salt's defaults: 60 s, 3 tries, no backoff.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RequestDefaults {
    /// How long one attempt waits for its reply, counted from transmission. A request
    /// still queued this long after submission fails without being sent.
    pub timeout: Duration,
    /// Attempts in total, at least 1.
    pub tries: u32,
    /// Delay before each retry.
    pub backoff: Backoff,
    /// Whether a reply that is one of the server's refusals (see
    /// [`Refusal`](crate::codec::Refusal)) completes the request with
    /// [`RequestError::Rejected`](super::RequestError::Rejected) instead of `Ok`.
    /// Default: false (replies are bytes, untouched).
    pub detect_refusals: bool,
}

impl Default for RequestDefaults {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(60), tries: 3, backoff: Backoff::Immediate, detect_refusals: false }
    }
}

/// Per-request overrides of the client's [`RequestDefaults`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct RequestOptions {
    /// Overrides [`RequestDefaults::timeout`].
    pub timeout: Option<Duration>,
    /// Overrides [`RequestDefaults::tries`].
    pub tries: Option<u32>,
    /// Overrides [`RequestDefaults::backoff`].
    pub backoff: Option<Backoff>,
    /// Overrides [`RequestDefaults::detect_refusals`].
    pub detect_refusals: Option<bool>,
}

impl RequestOptions {
    /// Sets the per-attempt timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the number of attempts in total.
    pub fn tries(mut self, tries: u32) -> Self {
        self.tries = Some(tries);
        self
    }

    /// Sets the delay policy between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Sets whether the server's refusals complete the request with
    /// [`RequestError::Rejected`](super::RequestError::Rejected).
    pub fn detect_refusals(mut self, detect: bool) -> Self {
        self.detect_refusals = Some(detect);
        self
    }

    /// Why these options would be refused at submit with `defaults` (the checks
    /// `Client::submit` makes), for a driver that must know before it submits.
    pub fn check(&self, defaults: &RequestDefaults) -> Result<(), InvalidOptions> {
        self.resolve(defaults).map(|_| ())
    }

    /// These options with the client's defaults filled in, or why they are unusable.
    pub(crate) fn resolve(&self, defaults: &RequestDefaults) -> Result<ResolvedOptions, InvalidOptions> {
        let resolved = ResolvedOptions {
            timeout: self.timeout.unwrap_or(defaults.timeout),
            tries: self.tries.unwrap_or(defaults.tries),
            backoff: self.backoff.unwrap_or(defaults.backoff),
            detect_refusals: self.detect_refusals.unwrap_or(defaults.detect_refusals),
        };
        if resolved.timeout.is_zero() {
            return Err(InvalidOptions("timeout must be greater than zero"));
        }
        if resolved.tries == 0 {
            return Err(InvalidOptions("tries must be at least 1"));
        }
        if resolved.timeout > MAX_DURATION {
            return Err(InvalidOptions("timeout must be at most MAX_DURATION (a year)"));
        }
        Ok(resolved)
    }
}

/// One request's options: its [`RequestOptions`] with the client's [`RequestDefaults`]
/// filled in, and checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ResolvedOptions {
    pub(crate) timeout: Duration,
    pub(crate) tries: u32,
    pub(crate) backoff: Backoff,
    pub(crate) detect_refusals: bool,
}

/// A [`ClientConfig`] that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError(&'static str);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid client config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// [`RequestOptions`] that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidOptions(&'static str);

impl fmt::Display for InvalidOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidOptions {}
