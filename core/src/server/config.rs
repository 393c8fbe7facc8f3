//! Server configuration, checked by [`Server::new`](super::Server::new).

use std::fmt;
use std::time::Duration;

/// How the socket presents a request's frames to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framing {
    /// ROUTER: `[peer identity, envelope frames..., empty delimiter, payload]`. The
    /// frames up to and including the delimiter are echoed in front of the reply; a
    /// DEALER's request-id frame is part of them.
    Routed,
    /// REP: the socket strips the envelope itself and adds it back on send, so a
    /// message is just `[payload]` and a reply is `[reply]`. The driver must send each
    /// reply before receiving the next request (REP is lockstep).
    Bare,
}

/// The limits a [`Server`](super::Server) works within. (Its [`Framing`] is not a
/// setting: it is the socket's kind, given to [`Server::new`](super::Server::new).)
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Handlers running at once. Further requests wait in a FIFO queue. Default: 64.
    /// With [`Framing::Bare`] the socket is lockstep and at most one request is ever
    /// pending, whatever this says.
    pub max_concurrent: usize,
    /// Requests waiting for a handler slot. When the queue is full, a new request is
    /// refused at once with `{"msg": "server busy"}`. Default: 1,024.
    pub max_queued: usize,
    /// Largest request message (all frames together) and largest reply, in bytes.
    /// A larger request is answered `{"msg": "bad load"}`; a larger handler reply is
    /// replaced by Salt's handler-exception reply. Default: 64 MiB.
    pub max_message_size: usize,
    /// The longest a request may wait for its reply, counted from receipt: in the
    /// queue (then it is answered `{"msg": "server busy"}`) and in its handler (then it
    /// is answered with Salt's handler-exception reply and the handler's late result is
    /// discarded). Default: 30 s.
    pub request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 64,
            max_queued: 1024,
            max_message_size: 64 << 20,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerConfig {
    /// Sets [`max_concurrent`](Self::max_concurrent).
    pub fn max_concurrent(mut self, max_concurrent: usize) -> Self {
        self.max_concurrent = max_concurrent;
        self
    }

    /// Sets [`max_queued`](Self::max_queued).
    pub fn max_queued(mut self, max_queued: usize) -> Self {
        self.max_queued = max_queued;
        self
    }

    /// Sets [`max_message_size`](Self::max_message_size).
    pub fn max_message_size(mut self, max_message_size: usize) -> Self {
        self.max_message_size = max_message_size;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn request_timeout(mut self, request_timeout: Duration) -> Self {
        self.request_timeout = request_timeout;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrent == 0 {
            return Err(ConfigError("max_concurrent must be at least 1"));
        }
        if self.max_message_size == 0 {
            return Err(ConfigError("max_message_size must be at least 1"));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError("request_timeout must be greater than zero"));
        }
        if self.request_timeout > Duration::from_secs(365 * 24 * 3600) {
            return Err(ConfigError("request_timeout must be at most a year"));
        }
        Ok(())
    }
}

/// A [`ServerConfig`] that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError(&'static str);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid server config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}
