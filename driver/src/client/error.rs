//! The errors a channel's user sees: [`Error`] for a request, [`BuildError`] for
//! creating a channel.

use super::key::ChannelKey;
use reqchan_core::client::{ConfigError, RequestError, SubmitError};
use reqchan_core::codec::{Crypt, DecodeError, EncodeError};

/// Why a request produced no reply value.
///
/// `Submit` is the caller's side (the request was refused and never queued); `Request`
/// is the peer's or the network's (an accepted request failed); `Decode` means a reply
/// arrived but is not what the caller asked for — the channel keeps working.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The channel refused the request: queue full, payload too large, invalid options,
    /// or the channel is closed. Nothing was sent.
    #[error("request refused: {0}")]
    Submit(#[from] SubmitError),
    /// The request was accepted but got no usable reply: timed out after N attempts,
    /// connection lost, closed, reply too large or malformed.
    #[error("request failed: {0}")]
    Request(#[from] RequestError),
    /// The request's load could not be encoded as msgpack. Nothing was sent.
    #[error("cannot encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// A reply arrived but does not decode to the requested type.
    #[error("cannot decode the reply: {0}")]
    Decode(#[from] DecodeError),
    /// The channel's driver task ended without completing the request: its runtime
    /// shut down. Get a new channel on a running runtime.
    #[error("the channel's driver task is gone (its runtime shut down); create a new channel")]
    DriverGone,
    /// An `aes` channel could not authenticate, or a reply did not open.
    #[error("aes: {0}")]
    Salt(#[from] SaltError),
}

/// What went wrong on an `aes` channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaltError {
    /// The master has this minion's key but has not accepted it yet (it waits in the
    /// master's `minions_pre/`): accept it there (`salt-key -a ID`), then retry.
    #[error("the master has not accepted this minion's key yet (accept it with salt-key -a)")]
    Pending,
    /// `_auth` failed: rejected key, full master, bad signature, changed master key, ...
    #[error("{0}")]
    Auth(reqchan_salt::AuthError),
    /// A reply did not open: tampered with, sealed under another key, answering another
    /// request, or the session refused twice.
    #[error("{0}")]
    Reply(reqchan_salt::ReplyError),
    /// The load cannot be sealed (an `aes` load must be a map).
    #[error("{0}")]
    Seal(reqchan_salt::SealError),
    /// The minion's keys in its `pki_dir` could not be read, made or stored.
    #[error("minion keys: {0}")]
    Keys(reqchan_salt::pki::PkiError),
    /// A raw payload on an `aes` channel: it would travel unencrypted. Use `request`.
    #[error("raw payloads cannot be sent on an aes channel (they would travel unencrypted): use request")]
    RawPayload,
}

impl SaltError {
    /// Whether the master has not accepted (or has rejected) this minion's key: the
    /// CLI's exit 4.
    pub fn is_not_accepted(&self) -> bool {
        matches!(self, Self::Pending | Self::Auth(reqchan_salt::AuthError::Rejected))
    }
}

impl Error {
    /// Whether the request ran out of time: it timed out after all its tries, in the
    /// queue, or waiting for a connection that could not be made.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Request(e) if e.is_timeout())
    }

    /// Whether sending the same request again may succeed: it timed out, lost its
    /// connection, found no server, the server was busy, or the queue was full. (A
    /// request that was transmitted may have been carried out even though no reply
    /// came: retry only what is safe to repeat.)
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Request(e) => e.is_retryable(),
            Error::Submit(SubmitError::QueueFull { .. }) => true,
            _ => false,
        }
    }

    /// Whether no connection to the server could be made (the cause is in the error:
    /// refused, unknown host, no such ipc path, ...).
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Request(e) if e.is_connect())
    }

    /// Whether the server answered with one of its refusals (`bad load`, `server busy`,
    /// a handler exception).
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Request(RequestError::Rejected { .. }))
    }

    /// Transmissions made, for a request that timed out, lost its peer or found no
    /// server.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Error::Request(e) => e.attempts(),
            _ => None,
        }
    }
}

/// Why a channel could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The endpoint is not a `tcp://host:port` or `ipc://path` address.
    #[error("invalid endpoint {endpoint:?}: {reason} (expected tcp://HOST:PORT or ipc://PATH)")]
    InvalidEndpoint {
        /// The endpoint given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The client configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A crypt this version does not implement (it implements `clear` and `aes`).
    #[error("crypt {:?} is not supported by this version", .0.as_str())]
    UnsupportedCrypt(Crypt),
    /// The runtime refused the driver task: it is shut down.
    #[error("the runtime is shut down: the channel's driver task could not start")]
    RuntimeShutDown,
    /// [`Channel::get`](super::Channel::get) found a live channel for the key, running
    /// with a different configuration than the one asked for.
    #[error(
        "a live channel for {key:?} runs with a different configuration; ask with the same config, or connect a channel of your own"
    )]
    ConfigMismatch {
        /// The key asked for.
        key: Box<ChannelKey>,
    },
    /// No runtime to run the driver task on.
    #[error("no {runtime} runtime is running here: create channels from inside the runtime")]
    NoRuntime {
        /// The runtime that was looked for.
        runtime: &'static str,
    },
}
