//! A FIFO of request ids waiting for a transmission slot (the send queue, and the retry
//! queue that is served before it).
//!
//! Removal from the middle (cancel, expiry, a late reply) is lazy: the id stays and is
//! skipped when it reaches the front. The deque is compacted when stale ids outnumber
//! live ones, so its memory stays proportional to the live requests.

use std::collections::VecDeque;

use super::id::RequestId;

#[derive(Debug, Default)]
pub(crate) struct IdQueue {
    ids: VecDeque<RequestId>,
}

impl IdQueue {
    pub(crate) fn push_back(&mut self, id: RequestId) {
        self.ids.push_back(id);
    }

    pub(crate) fn push_front(&mut self, id: RequestId) {
        self.ids.push_front(id);
    }

    /// Pops the first id for which `is_live` holds, dropping stale ones on the way.
    pub(crate) fn pop_front(&mut self, mut is_live: impl FnMut(RequestId) -> bool) -> Option<RequestId> {
        while let Some(id) = self.ids.pop_front() {
            if is_live(id) {
                return Some(id);
            }
        }
        None
    }

    /// Drops stale ids if they outnumber the `live` ones. Amortised O(1) per removal.
    pub(crate) fn compact(&mut self, live: usize, mut is_live: impl FnMut(RequestId) -> bool) {
        if self.ids.len() > 2 * live + 32 {
            self.ids.retain(|id| is_live(*id));
        }
    }

    pub(crate) fn clear(&mut self) {
        self.ids.clear();
    }
}
