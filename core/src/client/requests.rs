//! The table of accepted, unfinished requests, with each request's one deadline and a
//! count per phase kept in step by every transition.
//!
//! Bounded: `submit` refuses once `max_queued` requests are waiting, so it holds at most
//! `max_queued + max_in_flight`.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use super::config::ResolvedOptions;
use super::deadlines::Deadlines;
use super::id::RequestId;
use crate::hash::BuildIdHasher;

/// Where an accepted request stands, and what its deadline means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// In the send queue, never transmitted. Deadline: submission + timeout.
    Queued,
    /// Transmitted, waiting for its reply. Deadline: transmission + timeout.
    InFlight,
    /// An attempt failed; pausing before the retry. Deadline: end of the pause.
    BackingOff,
    /// In the retry queue, waiting for a slot. Deadline: readiness + timeout.
    Ready,
}

impl Phase {
    const ALL: usize = 4;

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) payload: Bytes,
    /// The caller's tag, returned in the completion.
    pub(crate) tag: u64,
    pub(crate) options: ResolvedOptions,
    /// Transmissions so far.
    pub(crate) attempts: u32,
    /// The deadline the request had while it waited for its latest transmission: if the
    /// socket refuses that transmission, the request waits again under this deadline.
    pub(crate) wait_deadline: Instant,
    phase: Phase,
    deadline: Instant,
    /// Marks this request's current entry in the deadline heap.
    stamp: u64,
}

impl Request {
    pub(crate) fn new(payload: Bytes, tag: u64, options: ResolvedOptions, deadline: Instant) -> Self {
        Self { payload, tag, options, attempts: 0, wait_deadline: deadline, phase: Phase::Queued, deadline, stamp: 0 }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    pub(crate) fn tries_left(&self) -> bool {
        self.attempts < self.options.tries
    }
}

#[derive(Debug, Default)]
pub(crate) struct Requests {
    /// Where each live request sits in `slots`. Small entries, so the index of many
    /// thousands of requests stays in cache.
    index: HashMap<RequestId, usize, BuildIdHasher>,
    /// The requests; a freed slot is reused first, so busy slots stay warm. Grows to the
    /// most requests ever live at once (bounded by `max_queued + max_in_flight`).
    slots: Vec<Option<Request>>,
    free: Vec<usize>,
    deadlines: Deadlines,
    counts: [usize; Phase::ALL],
}

impl Requests {
    pub(crate) fn insert(&mut self, id: RequestId, mut request: Request) {
        request.stamp = self.deadlines.stamp();
        self.deadlines.insert(request.deadline, id, request.stamp);
        self.counts[request.phase.index()] += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(request);
                slot
            }
            None => {
                self.slots.push(Some(request));
                self.slots.len() - 1
            }
        };
        let previous = self.index.insert(id, slot);
        debug_assert!(previous.is_none(), "{id} reused");
    }

    pub(crate) fn remove(&mut self, id: RequestId) -> Option<Request> {
        let slot = self.index.remove(&id)?;
        let request = self.slots[slot].take()?;
        self.free.push(slot);
        let (index, slots) = (&self.index, &self.slots);
        let is_current = |id, stamp| Self::holds(index, slots, id, stamp);
        self.deadlines.remove(id, (request.deadline, request.stamp), index.len(), is_current);
        self.counts[request.phase.index()] -= 1;
        Some(request)
    }

    /// Moves `id` to `phase` with a new `deadline`. Returns the request, or `None` if
    /// `id` is not live.
    pub(crate) fn transition(&mut self, id: RequestId, phase: Phase, deadline: Instant) -> Option<&mut Request> {
        let slot = *self.index.get(&id)?;
        let request = self.slots[slot].as_mut()?;
        let old = (request.deadline, request.stamp);
        request.stamp = self.deadlines.stamp();
        request.deadline = deadline;
        self.counts[request.phase.index()] -= 1;
        self.counts[phase.index()] += 1;
        request.phase = phase;
        let new = (deadline, request.stamp);
        let (index, slots) = (&self.index, &self.slots);
        let is_current = |id, stamp| Self::holds(index, slots, id, stamp);
        self.deadlines.replace(id, old, new, index.len(), is_current);
        self.slots[slot].as_mut()
    }

    /// Whether live request `id` holds deadline stamp `stamp`.
    fn holds(
        index: &HashMap<RequestId, usize, BuildIdHasher>,
        slots: &[Option<Request>],
        id: RequestId,
        stamp: u64,
    ) -> bool {
        index.get(&id).and_then(|slot| slots[*slot].as_ref()).is_some_and(|r| r.stamp == stamp)
    }

    pub(crate) fn get(&self, id: RequestId) -> Option<&Request> {
        self.slots[*self.index.get(&id)?].as_ref()
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn count(&self, phase: Phase) -> usize {
        self.counts[phase.index()]
    }

    pub(crate) fn is_in(&self, id: RequestId, phase: Phase) -> bool {
        self.get(id).is_some_and(|r| r.phase == phase)
    }

    /// The earliest deadline of any request, and that request's phase.
    pub(crate) fn next_deadline(&self) -> Option<(Instant, Phase)> {
        let (at, id) = self.deadlines.first()?;
        Some((at, self.get(id)?.phase))
    }

    /// The request whose deadline is earliest, if that deadline has come at `now`.
    pub(crate) fn next_due(&self, now: Instant) -> Option<RequestId> {
        self.deadlines.first_due(now)
    }

    /// Ids in `phase` (all if `None`), in submission order. Linear: for rare events.
    pub(crate) fn ids_in(&self, phase: Option<Phase>) -> Vec<RequestId> {
        #[allow(clippy::disallowed_methods)] // sorted right below
        let mut ids: Vec<RequestId> = self
            .index
            .iter()
            .filter(|(_, slot)| phase.is_none_or(|p| self.slots[**slot].as_ref().is_some_and(|r| r.phase == p)))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }
}
