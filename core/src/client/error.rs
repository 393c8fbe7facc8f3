//! What can go wrong: [`SubmitError`] is the caller's side (refused at submit time),
//! [`RequestError`] is the peer's or the network's (the outcome of an accepted request).

use std::fmt;

use super::config::InvalidOptions;

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
    /// delimiter in pipelined mode, or several frames in lockstep mode).
    MalformedReply {
        /// What was wrong with the frames.
        reason: &'static str,
    },
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
        }
    }
}

impl std::error::Error for RequestError {}
