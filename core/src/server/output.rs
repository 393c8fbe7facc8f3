//! What the server hands to its driver: requests for the handler, replies for the
//! socket, and events for logs.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::codec::{self, Crypt, EnvelopeError, Request, Value};

/// Identifies an accepted request until its reply is sent. Unique for the life of the
/// server; never derived from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestToken(pub(crate) u64);

impl RequestToken {
    /// The token as a number (for logs).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A validated request for the handler, from [`Server::poll_request`](super::Server::poll_request).
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    /// Pass this back to [`Server::handle_reply`](super::Server::handle_reply).
    pub token: RequestToken,
    /// The envelope's `"enc"`.
    pub crypt: Crypt,
    /// The envelope's `"version"`.
    pub version: u64,
    payload: Bytes,
    load: Range<usize>,
}

impl IncomingRequest {
    pub(crate) fn new(token: RequestToken, payload: Bytes) -> Result<Self, EnvelopeError> {
        let raw = codec::split_request(&payload)?;
        let start = raw.load.as_ptr() as usize - payload.as_ptr() as usize;
        let load = start..start + raw.load.len();
        Ok(Self { token, crypt: raw.crypt, version: raw.version, load, payload })
    }

    /// The exact msgpack bytes of the request's `"load"` (a zero-copy slice).
    pub fn load_bytes(&self) -> Bytes {
        self.payload.slice(self.load.clone())
    }

    /// The whole request payload (the envelope map), as received.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The load as a dynamic value. Cannot fail for a validated request, except for a
    /// load that is not valid for [`Value`] (none is known).
    pub fn load_value(&self) -> Result<Value, EnvelopeError> {
        self.decode_load::<Value>().map(|r| r.load)
    }

    /// The request with its load decoded to `T`.
    pub fn decode_load<T: DeserializeOwned>(&self) -> Result<Request<T>, EnvelopeError> {
        codec::RawRequest { crypt: self.crypt, version: self.version, load: &self.payload[self.load.clone()] }
            .decode_load()
    }
}

/// One message for the socket, from [`Server::poll_transmit`](super::Server::poll_transmit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The request answered, if it had been accepted (`None` for a rejected message).
    pub token: Option<RequestToken>,
    /// What kind of reply this is.
    pub kind: ReplyKind,
    frames: Vec<Bytes>,
    /// The server answers in a running handler's stead.
    aborts_handler: bool,
}

impl Transmit {
    pub(crate) fn new(token: Option<RequestToken>, kind: ReplyKind, mut envelope: Vec<Bytes>, body: Bytes) -> Self {
        envelope.push(body);
        Self { token, kind, frames: envelope, aborts_handler: false }
    }

    /// Marks this reply as one sent in place of a handler that is still running.
    pub(crate) fn aborting_handler(mut self) -> Self {
        self.aborts_handler = true;
        self
    }

    /// The request whose handler is still running and must be aborted: this reply was
    /// sent in its stead (the handler ran past `request_timeout`, or past the shutdown
    /// grace). Its result, should it still come, is refused by `handle_reply`.
    pub fn handler_to_abort(&self) -> Option<RequestToken> {
        self.token.filter(|_| self.aborts_handler)
    }

    /// The frames to send: the request's envelope (Routed) followed by the reply body.
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// The frames, owned.
    pub fn into_frames(self) -> Vec<Bytes> {
        self.frames
    }

    /// The reply body (the last frame).
    pub fn body(&self) -> &Bytes {
        self.frames.last().expect("a transmit always has a body frame")
    }
}

/// What a reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyKind {
    /// The handler's reply.
    Handler,
    /// `{"msg": "bad load"}` for a malformed request ([`codec::BAD_LOAD_REPLY`]).
    BadLoad,
    /// Salt's `"Some exception handling minion payload"` for a handler that failed,
    /// panicked, timed out or replied too much ([`codec::HANDLER_EXCEPTION_REPLY`]).
    HandlerException,
    /// `{"msg": "server busy"}` for a request refused by a full queue, an expired
    /// queue wait, or shutdown ([`codec::SERVER_BUSY_REPLY`]).
    Busy,
}

impl ReplyKind {
    pub(crate) fn body(self) -> Bytes {
        Bytes::from_static(match self {
            Self::BadLoad => codec::BAD_LOAD_REPLY,
            Self::HandlerException => codec::HANDLER_EXCEPTION_REPLY,
            Self::Busy => codec::SERVER_BUSY_REPLY,
            Self::Handler => b"",
        })
    }
}

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

/// How a handler failed, as reported to [`Server::handle_reply`](super::Server::handle_reply).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandlerFailure {
    /// The handler returned an error.
    Error(String),
    /// The handler panicked.
    Panicked(String),
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(e) => write!(f, "handler failed: {e}"),
            Self::Panicked(e) => write!(f, "handler panicked: {e}"),
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

/// [`Server::handle_reply`](super::Server::handle_reply) for a token that has no
/// pending request: never issued, already answered, or timed out (a late handler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownRequest(pub RequestToken);

impl fmt::Display for UnknownRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request {} has no pending reply (already answered or timed out)", self.0)
    }
}

impl std::error::Error for UnknownRequest {}
