//! How a channel is set up: the core's [`ClientConfig`] plus socket settings.

use std::time::Duration;

use reqchan_core::client::{ClientConfig, Mode};

/// Settings for one channel. The request behaviour (mode, timeouts, tries, backoff,
/// limits) is the core's [`ClientConfig`]; the rest is about the socket.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// Mode, queue and size limits, request defaults, reconnect backoff, seed.
    pub client: ClientConfig,
    /// How long one connection attempt may take before it is reported failed (zeromq
    /// keeps retrying a refused connection until then; the core's reconnect backoff
    /// applies between attempts). Default: 5 s.
    pub connect_timeout: Duration,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self { client: ClientConfig::default(), connect_timeout: Duration::from_secs(5) }
    }
}

impl ChannelConfig {
    /// The default configuration in lockstep mode (one request at a time with REQ
    /// semantics, as Salt does).
    pub fn lockstep() -> Self {
        Self::default()
    }

    /// The default configuration in pipelined mode: up to `max_in_flight` requests at
    /// once on a DEALER socket.
    pub fn pipelined(max_in_flight: usize) -> Self {
        let mut config = Self::default();
        config.client.mode = Mode::Pipelined { max_in_flight };
        config
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.client.mode = mode;
        self
    }

    /// Sets the per-attempt timeout used when a request gives none.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client.defaults.timeout = timeout;
        self
    }

    /// Sets the attempts per request used when a request gives none.
    pub fn tries(mut self, tries: u32) -> Self {
        self.client.defaults.tries = tries;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}
