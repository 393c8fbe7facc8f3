//! Requests waiting for a handler slot, first in first out.

use std::collections::VecDeque;

use super::id::RequestToken;

/// A FIFO of tokens. Entries whose request left the table (timed out while queued) are
/// skipped lazily by the caller; `live` counts the ones still waiting.
#[derive(Debug, Default)]
pub(crate) struct WaitQueue {
    tokens: VecDeque<RequestToken>,
    live: usize,
}

impl WaitQueue {
    pub(crate) fn push(&mut self, token: RequestToken) {
        self.tokens.push_back(token);
        self.live += 1;
    }

    /// The oldest token, live or not; the caller reports whether it was live.
    pub(crate) fn pop(&mut self) -> Option<RequestToken> {
        self.tokens.pop_front()
    }

    /// One live entry left the queue (started, timed out, or refused at shutdown).
    pub(crate) fn left(&mut self) {
        self.live -= 1;
    }

    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Forgets every entry (after the caller has answered them all).
    pub(crate) fn clear(&mut self) {
        self.tokens.clear();
        self.live = 0;
    }
}
