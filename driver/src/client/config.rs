//! How a channel is set up: the core's [`ClientConfig`], the socket settings, the seed
//! and the reply decoding budget, each with a setter.

use crate::Transport;
use std::time::Duration;

use reqchan_core::client::{Backoff, ClientConfig, ExponentialBackoff, LockstepFraming, Mode};
use reqchan_core::codec::DecodeLimits;

/// Settings for one channel, built with chained setters:
///
/// ```
/// use std::time::Duration;
/// use reqchan_driver::client::ChannelConfig;
///
/// let config = ChannelConfig::pipelined(64)
///     .timeout(Duration::from_secs(5))
///     .tries(2)
///     .max_queued(1_000)
///     .connect_timeout(Duration::from_secs(1));
/// assert_eq!(config.client_config().max_queued, 1_000);
/// ```
///
/// Backoff jitter is drawn from a seed: by default a fresh one from the operating
/// system for each channel (so a fleet of clients does not retry in step), or the one
/// given to [`seed`](Self::seed), for runs that must repeat exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    client: ClientConfig,
    seed: Option<u64>,
    pub(crate) connect_timeout: Duration,
    pub(crate) decode: DecodeLimits,
    pub(crate) transport: Transport,
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) master_finger: Option<String>,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            client: ClientConfig::default(),
            seed: None,
            connect_timeout: Duration::from_secs(5),
            decode: DecodeLimits::default(),
            transport: Transport::Wire,
            heartbeat: None,
            master_finger: None,
        }
    }
}

impl ChannelConfig {
    /// The default configuration in lockstep mode (one request at a time with REQ
    /// semantics, as Salt does).
    pub fn lockstep() -> Self {
        Self::default()
    }

    /// The default configuration in pipelined mode: up to `max_in_flight` requests at
    /// once, matched to their replies by id.
    pub fn pipelined(max_in_flight: usize) -> Self {
        Self::default().mode(Mode::Pipelined { max_in_flight })
    }

    /// A configuration with the core's `client` settings. Its `seed` is used as an
    /// explicit seed.
    pub fn from_client_config(client: ClientConfig) -> Self {
        let seed = Some(client.seed);
        Self { client, seed, ..Self::default() }
    }

    /// For an `aes` channel: accept only a master whose key has this fingerprint
    /// (Salt's `master_finger`, as `salt-key -F master` prints it), instead of trusting
    /// the first key the master offers.
    pub fn master_finger(mut self, fingerprint: impl Into<String>) -> Self {
        self.master_finger = Some(fingerprint.into());
        self
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.client.mode = mode;
        self
    }

    /// Sets how lockstep requests are framed (default: correlated by request id; see
    /// [`LockstepFraming`]).
    pub fn lockstep_framing(mut self, framing: LockstepFraming) -> Self {
        self.client.lockstep_framing = framing;
        self
    }

    /// Sets the per-attempt timeout used when a request gives none (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client.defaults.timeout = timeout;
        self
    }

    /// Sets the attempts per request used when a request gives none (default 3).
    pub fn tries(mut self, tries: u32) -> Self {
        self.client.defaults.tries = tries;
        self
    }

    /// Sets the delay between attempts used when a request gives none (default: none).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.client.defaults.backoff = backoff;
        self
    }

    /// Sets the delay between failed connection attempts (default: 100 ms doubling up
    /// to 5 s, jitter 0.5).
    pub fn reconnect_backoff(mut self, backoff: ExponentialBackoff) -> Self {
        self.client.reconnect = backoff;
        self
    }

    /// Sets how many requests may wait to be sent before new ones are refused with
    /// `QueueFull` (default 10,000).
    pub fn max_queued(mut self, max_queued: usize) -> Self {
        self.client.max_queued = max_queued;
        self
    }

    /// Sets the largest request and reply, in bytes (default 64 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.client.max_message_size = bytes;
        self
    }

    /// Sets the budget for decoding a reply (default: 2^20 elements; see
    /// [`DecodeLimits`] for what that bounds).
    pub fn decode_limits(mut self, limits: DecodeLimits) -> Self {
        self.decode = limits;
        self
    }

    /// Sets an explicit seed for backoff jitter, for runs that must repeat exactly.
    /// Without one, each channel draws its own from the operating system.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets how long one connection attempt may take before it is reported failed
    /// (default 5 s). The reconnect backoff applies between attempts. A request whose
    /// timeout runs out before the first attempt fails learns no cause
    /// (`TimedOut { attempts: 0 }` rather than `Unreachable`): keep this below the
    /// request timeout to have one.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets what carries the channel's bytes (default: [`Transport::Wire`]).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// With [`Transport::Wire`]: sends a ZMTP PING every `interval` and reports the peer
    /// lost when nothing arrives within `interval` after one (any traffic counts), so a
    /// peer that vanished without closing is noticed long before a request times out.
    /// Off by default.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }

    /// The core's settings (mode, limits, request defaults, reconnect backoff). Its
    /// `seed` is the explicit seed if one was set; a running channel's
    /// [`config`](super::Channel::config) shows the seed it drew.
    pub fn client_config(&self) -> &ClientConfig {
        &self.client
    }

    /// The explicit seed, if one was set.
    pub fn explicit_seed(&self) -> Option<u64> {
        self.seed
    }

    /// This configuration with its seed fixed: the explicit one, or `draw()`'s.
    pub(crate) fn with_seed_drawn(mut self, draw: impl FnOnce() -> u64) -> Self {
        let seed = self.seed.unwrap_or_else(draw);
        self.client.seed = seed;
        self.seed = Some(seed);
        self
    }

    /// Whether `self` (a running channel's configuration) is what `asked` asks for:
    /// equal, except that a running channel always has a seed and `asked` may not.
    pub(crate) fn satisfies(&self, asked: &ChannelConfig) -> bool {
        match asked.seed {
            Some(_) => self == asked,
            None => self.clone().unseeded() == asked.clone().unseeded(),
        }
    }

    fn unseeded(mut self) -> Self {
        self.seed = None;
        self.client.seed = 0;
        self
    }
}
