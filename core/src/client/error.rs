//! What can go wrong: [`SubmitError`] is the caller's side (refused at submit time),
//! [`RequestError`] is the peer's or the network's (the outcome of an accepted request).

use std::fmt;

use super::config::InvalidOptions;
use crate::codec::Refusal;

/// Why [`submit`](super::Client::submit) refused a request. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError {
    /// `max_queued` requests are already waiting; retry later or raise the limit.
    QueueFull {
        /// The configured `max_queued`.
        capacity: usize,
    },
    /// The payload is larger than `max_message_size`.
    TooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The configured `max_message_size`.
        limit: usize,
    },
    /// The client was closed.
    Closed,
    /// The request's options are unusable (zero timeout or zero tries).
    InvalidOptions(InvalidOptions),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::QueueFull { capacity } => {
                write!(f, "send queue is full ({capacity} requests waiting); retry later or raise max_queued")
            }
            SubmitError::TooLarge { size, limit } => {
                write!(f, "request of {size} bytes exceeds max_message_size of {limit} bytes")
            }
            SubmitError::Closed => f.write_str("the client is closed"),
            SubmitError::InvalidOptions(why) => write!(f, "invalid request options: {why}"),
        }
    }
}

impl std::error::Error for SubmitError {}

/// Why an accepted request completed without a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// No reply within the timeout, after `attempts` transmissions (0 if the request
    /// waited in the queue for its whole timeout and was never sent).
    TimedOut {
        /// Transmissions made.
        attempts: u32,
    },
    /// The connection was lost during the last of `attempts` transmissions.
    PeerLost {
        /// Transmissions made.
        attempts: u32,
    },
    /// The caller cancelled the request.
    Cancelled,
    /// The client was closed before a reply arrived.
    Closed,
    /// The reply is larger than `max_message_size`; it was discarded.
    ReplyTooLarge {
        /// The reply's size in bytes.
        size: usize,
        /// The configured `max_message_size`.
        limit: usize,
    },
    /// The peer answered with frames that are not a reply (for example a missing
    /// delimiter, or a missing request-id frame).
    MalformedReply {
        /// What was wrong with the frames.
        reason: &'static str,
    },
    /// The server answered, but with one of its refusals instead of a reply: Salt's
    /// `{"msg": "bad load"}` or bare `"bad load"`, reqchan's `{"msg": "server busy"}`,
    /// or Salt's handler-exception string. Only for requests that asked for refusals to
    /// be told apart ([`RequestOptions::detect_refusals`](super::RequestOptions::detect_refusals);
    /// the adapters' enveloped `request` does).
    Rejected {
        /// Which refusal.
        reason: Refusal,
    },
    /// No connection could be made before the request's timeout: it waited for a
    /// socket after `attempts` transmissions, and the last attempt to connect failed
    /// with `cause`.
    Unreachable {
        /// Transmissions made (0 if the server was never reached).
        attempts: u32,
        /// Why the last connection attempt failed.
        cause: ConnectError,
    },
}

impl RequestError {
    /// Whether the request ran out of time: [`TimedOut`](Self::TimedOut), or
    /// [`Unreachable`](Self::Unreachable) (which timed out waiting for a connection).
    pub fn is_timeout(&self) -> bool {
        matches!(self, RequestError::TimedOut { .. } | RequestError::Unreachable { .. })
    }

    /// Whether sending the same request again may succeed: it timed out, lost its
    /// connection, found no server, or the server was busy. Note that a request that
    /// was transmitted may have been carried out by the server even though no reply came.
    pub fn is_retryable(&self) -> bool {
        match self {
            RequestError::TimedOut { .. } | RequestError::PeerLost { .. } | RequestError::Unreachable { .. } => true,
            RequestError::Rejected { reason } => reason.is_retryable(),
            _ => false,
        }
    }

    /// Whether no connection to the server could be made.
    pub fn is_connect(&self) -> bool {
        matches!(self, RequestError::Unreachable { .. })
    }

    /// Transmissions made, for errors that count them.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            RequestError::TimedOut { attempts }
            | RequestError::PeerLost { attempts }
            | RequestError::Unreachable { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::TimedOut { attempts: 0 } => {
                f.write_str("timed out in the send queue before it could be sent (is the server reachable?)")
            }
            RequestError::TimedOut { attempts } => write!(f, "timed out with no reply after {attempts} attempt(s)"),
            RequestError::PeerLost { attempts } => {
                write!(f, "connection lost during the last of {attempts} attempt(s)")
            }
            RequestError::Cancelled => f.write_str("cancelled"),
            RequestError::Closed => f.write_str("the client was closed before a reply arrived"),
            RequestError::ReplyTooLarge { size, limit } => {
                write!(f, "reply of {size} bytes exceeds max_message_size of {limit} bytes")
            }
            RequestError::MalformedReply { reason } => write!(f, "malformed reply from the peer: {reason}"),
            RequestError::Rejected { reason } => write!(f, "the server refused the request: {reason}"),
            RequestError::Unreachable { attempts: 0, cause } => {
                write!(f, "timed out before the server could be reached: {cause}")
            }
            RequestError::Unreachable { attempts, cause } => {
                write!(f, "timed out waiting to reconnect after {attempts} attempt(s): {cause}")
            }
        }
    }
}

impl std::error::Error for RequestError {}

/// Why a connection attempt failed, as the driver reports it to
/// [`Client::handle_connect_failed`](super::Client::handle_connect_failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    kind: ConnectErrorKind,
    detail: String,
}

/// The kinds of [`ConnectError`] a caller may want to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// Nothing listens at the address (TCP: connection refused; ipc: nobody bound the path).
    Refused,
    /// The host name does not resolve.
    UnknownHost,
    /// The ipc path does not exist.
    NoSuchPath,
    /// The attempt took longer than the connect timeout.
    TimedOut,
    /// The peer answered, but the ZeroMQ handshake failed.
    Handshake,
    /// Anything else (see the detail).
    Other,
}

impl ConnectError {
    /// A failure of `kind`, with the driver's `detail` (for example the OS error).
    pub fn new(kind: ConnectErrorKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }

    /// What kind of failure.
    pub fn kind(&self) -> ConnectErrorKind {
        self.kind
    }

    /// The driver's description.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ConnectErrorKind::Refused => "connection refused",
            ConnectErrorKind::UnknownHost => "unknown host",
            ConnectErrorKind::NoSuchPath => "no such ipc path",
            ConnectErrorKind::TimedOut => "connect timed out",
            ConnectErrorKind::Handshake => "handshake failed",
            ConnectErrorKind::Other => "cannot connect",
        };
        if self.detail.is_empty() { f.write_str(what) } else { write!(f, "{what} ({})", self.detail) }
    }
}

impl std::error::Error for ConnectError {}
