//! What can go wrong between a server and its caller.

use std::fmt;

use super::id::RequestToken;

/// How a handler failed, as reported to [`Server::handle_result`](super::Server::handle_result).
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

/// [`Server::handle_result`](super::Server::handle_result) for a token that has no
/// pending request: never issued, already answered, or timed out (a late handler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownRequest(pub RequestToken);

impl fmt::Display for UnknownRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request {} has no pending reply (already answered or timed out)", self.0)
    }
}

impl std::error::Error for UnknownRequest {}
