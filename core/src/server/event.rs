//! What the server reports for logs: why a message was refused, how a handler failed.

use std::fmt;

use super::error::HandlerFailure;
use super::id::RequestToken;
use super::output::ReplyKind;
use crate::codec::EnvelopeError;

/// Why a received message was not handed to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The payload is not a valid request envelope. Answered `bad load`.
    Envelope(EnvelopeError),
    /// A ROUTER message without an empty delimiter frame. Answered `bad load` to the
    /// peer identity alone.
    MissingDelimiter,
    /// The delimiter is followed by `count` frames instead of exactly one. Answered
    /// `bad load`.
    PayloadFrames {
        /// Frames after the delimiter.
        count: usize,
    },
    /// The message is larger than `max_message_size`. Answered `bad load`.
    TooLarge {
        /// The message's size, all frames together.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The handler slots and the queue are full. Answered `server busy`.
    QueueFull,
    /// The server is shutting down. Answered `server busy`.
    ShuttingDown,
}

impl RejectReason {
    pub(crate) fn reply(&self) -> ReplyKind {
        match self {
            Self::QueueFull | Self::ShuttingDown => ReplyKind::Busy,
            _ => ReplyKind::BadLoad,
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Envelope(e) => write!(f, "{e}"),
            Self::MissingDelimiter => f.write_str("message has no empty delimiter frame after the peer identity"),
            Self::PayloadFrames { count } => {
                write!(f, "expected exactly one payload frame after the delimiter, got {count}")
            }
            Self::TooLarge { size, limit } => {
                write!(f, "message of {size} bytes exceeds max_message_size ({limit} bytes)")
            }
            Self::QueueFull => f.write_str("all handler slots and the queue are full"),
            Self::ShuttingDown => f.write_str("the server is shutting down"),
        }
    }
}

/// Something worth logging, from [`Server::poll_event`](super::Server::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A message was answered with an error reply instead of reaching the handler.
    Rejected {
        /// Why.
        reason: RejectReason,
    },
    /// A message named no peer and was dropped (nothing can be sent back).
    Unroutable,
    /// A handler failed; the request was answered with the handler-exception reply.
    HandlerFailed {
        /// The request.
        token: RequestToken,
        /// How it failed.
        failure: HandlerFailure,
    },
    /// A handler replied with more than `max_message_size` bytes; the request was
    /// answered with the handler-exception reply.
    ReplyTooLarge {
        /// The request.
        token: RequestToken,
        /// The reply's size.
        size: usize,
    },
    /// A request's `request_timeout` passed; it was answered with the
    /// handler-exception reply (handler running) or `server busy` (still queued).
    TimedOut {
        /// The request.
        token: RequestToken,
        /// Whether its handler had started.
        started: bool,
    },
}

impl fmt::Display for ServerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected { reason } => write!(f, "request rejected: {reason}"),
            Self::Unroutable => f.write_str("message without a peer identity dropped"),
            Self::HandlerFailed { token, failure } => write!(f, "request {token}: {failure}"),
            Self::ReplyTooLarge { token, size } => {
                write!(f, "request {token}: handler reply of {size} bytes exceeds max_message_size")
            }
            Self::TimedOut { token, started: true } => write!(f, "request {token}: handler timed out"),
            Self::TimedOut { token, started: false } => {
                write!(f, "request {token}: timed out waiting for a handler slot")
            }
        }
    }
}
