//! Every live request's one deadline, ordered, so that the earliest entry is always the
//! next thing that can happen. Entries are removed when a request moves on: no stale
//! entries, no growth beyond the live requests.

use std::collections::BTreeSet;
use std::time::Instant;

use super::id::RequestId;

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    set: BTreeSet<(Instant, RequestId)>,
}

impl Deadlines {
    pub(crate) fn insert(&mut self, at: Instant, id: RequestId) {
        let fresh = self.set.insert((at, id));
        debug_assert!(fresh, "{id} already has a deadline at {at:?}");
    }

    pub(crate) fn remove(&mut self, at: Instant, id: RequestId) {
        let found = self.set.remove(&(at, id));
        debug_assert!(found, "{id} had no deadline at {at:?}");
    }

    pub(crate) fn first(&self) -> Option<Instant> {
        self.set.first().map(|(at, _)| *at)
    }

    /// The id with the earliest deadline, if it is due at `now`.
    pub(crate) fn first_due(&self, now: Instant) -> Option<RequestId> {
        self.set.first().filter(|(at, _)| *at <= now).map(|(_, id)| *id)
    }
}
