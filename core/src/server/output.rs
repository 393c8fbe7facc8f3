//! What the server hands to the socket: a reply behind its request's envelope.

use bytes::Bytes;

use super::id::RequestToken;
use crate::codec;

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
    /// grace). Its result, should it still come, is refused by `handle_result`.
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
