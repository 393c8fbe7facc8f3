//! Every live request's one deadline, ordered by `(deadline, id)`, so that the first
//! entry is always the next thing that can happen.
//!
//! A binary min-heap, with stamps for lazy removal. Deadlines mostly arrive in
//! increasing order (`now + timeout`): pushing the latest deadline costs one comparison,
//! where an ordered tree searches its whole right edge. An entry that is the last in
//! the heap (a request that moves on right after it was queued or sent) or the first
//! (the next deadline) is removed or replaced in place; any other entry is *retired*:
//! it stays, and is recognised as stale by its stamp, which its request no longer
//! holds. Two rules keep this exact and bounded:
//! - the first entry is always current (stale entries that surface are popped), so
//!   `first` needs no cleaning and stays `&self`;
//! - retired entries never outnumber live ones by more than a constant: the heap is
//!   rebuilt from its current entries when they do (amortised O(1) per retirement).

use std::time::Instant;

use super::id::RequestId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Instant,
    id: RequestId,
    stamp: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    /// A min-heap: each entry is no later than its children.
    heap: Vec<Entry>,
    retired: usize,
    next_stamp: u64,
}

impl Deadlines {
    /// A fresh stamp, to store in the request before its entry goes in.
    pub(crate) fn stamp(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }

    /// Adds the deadline `at` for `id`, under a fresh `stamp`.
    pub(crate) fn insert(&mut self, at: Instant, id: RequestId, stamp: u64) {
        self.heap.push(Entry { at, id, stamp });
        self.sift_up(self.heap.len() - 1);
    }

    /// `id`'s deadline moves from `(old_at, old_stamp)` to `(at, stamp)`. The request
    /// must already hold `stamp`: `is_current` reads the stamps requests hold, and
    /// `live` counts the live requests.
    pub(crate) fn replace(
        &mut self,
        id: RequestId,
        (old_at, old_stamp): (Instant, u64),
        (at, stamp): (Instant, u64),
        live: usize,
        is_current: impl Fn(RequestId, u64) -> bool,
    ) {
        let old = Entry { at: old_at, id, stamp: old_stamp };
        let new = Entry { at, id, stamp };
        let last = self.heap.len() - 1;
        if self.heap[last] == old {
            // A leaf: overwrite it and let it rise to its place.
            self.heap[last] = new;
            self.sift_up(last);
        } else if self.heap[0] == old {
            self.heap[0] = new;
            self.sift_down(0);
            self.clean_first(&is_current);
        } else {
            self.insert(at, id, stamp);
            self.retired += 1;
            self.compact(live, &is_current);
        }
        debug_assert_eq!(self.heap.len(), live + self.retired);
    }

    /// `id`'s deadline `(at, stamp)` is gone with its request.
    pub(crate) fn remove(
        &mut self,
        id: RequestId,
        (at, stamp): (Instant, u64),
        live: usize,
        is_current: impl Fn(RequestId, u64) -> bool,
    ) {
        let old = Entry { at, id, stamp };
        if self.heap.last() == Some(&old) {
            self.heap.pop();
        } else if self.heap.first() == Some(&old) {
            self.pop_first();
            self.clean_first(&is_current);
        } else {
            self.retired += 1;
        }
        // Fewer live requests: the bound on retired entries tightens.
        self.compact(live, &is_current);
        debug_assert_eq!(self.heap.len(), live + self.retired);
    }

    /// The earliest deadline and whose it is.
    pub(crate) fn first(&self) -> Option<(Instant, RequestId)> {
        self.heap.first().map(|first| (first.at, first.id))
    }

    /// The id with the earliest deadline, if it is due at `now`.
    pub(crate) fn first_due(&self, now: Instant) -> Option<RequestId> {
        self.heap.first().filter(|first| first.at <= now).map(|first| first.id)
    }

    /// Pops retired entries until the first one is current.
    fn clean_first(&mut self, is_current: &impl Fn(RequestId, u64) -> bool) {
        while let Some(first) = self.heap.first() {
            if is_current(first.id, first.stamp) {
                break;
            }
            self.pop_first();
            self.retired -= 1;
        }
    }

    /// Rebuilds the heap from its current entries once retired ones outnumber them.
    fn compact(&mut self, live: usize, is_current: &impl Fn(RequestId, u64) -> bool) {
        if self.retired > live + 32 {
            self.heap.retain(|entry| is_current(entry.id, entry.stamp));
            self.retired = 0;
            for i in (0..self.heap.len() / 2).rev() {
                self.sift_down(i);
            }
        }
    }

    fn pop_first(&mut self) {
        self.heap.swap_remove(0);
        if !self.heap.is_empty() {
            self.sift_down(0);
        }
    }

    /// Lets the entry at `i` rise to its place.
    fn sift_up(&mut self, i: usize) {
        self.sift_up_to(i, 0);
    }

    /// Lets the entry at `i` rise, no higher than `top`.
    fn sift_up_to(&mut self, mut i: usize, top: usize) {
        if i == top || self.heap[i] >= self.heap[(i - 1) / 2] {
            return; // already in place: the usual case for the latest deadline
        }
        let entry = self.heap[i];
        while i > top {
            let parent = (i - 1) / 2;
            if entry >= self.heap[parent] {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = entry;
    }

    /// Moves the entry at `i` down to its place, bottom-up: the hole descends along the
    /// earlier children to a leaf (one comparison per level), then the entry rises from
    /// there. An entry that replaced the first is usually one of the latest, so it
    /// barely rises: about half the comparisons of a top-down sift.
    fn sift_down(&mut self, i: usize) {
        let len = self.heap.len();
        let entry = self.heap[i];
        let mut hole = i;
        loop {
            let left = 2 * hole + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right] < self.heap[left] { right } else { left };
            self.heap[hole] = self.heap[child];
            hole = child;
        }
        self.heap[hole] = entry;
        self.sift_up_to(hole, i);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use super::*;
    use crate::rng::Rng;

    /// Random inserts, moves and removals, checked against an ordered set after each.
    #[test]
    fn the_first_entry_is_always_the_earliest_live_deadline_and_retired_entries_stay_bounded() {
        #[allow(clippy::disallowed_methods)] // a test needs some instant to start from
        let origin = Instant::now();
        let mut rng = Rng::new(5);
        let mut deadlines = Deadlines::default();
        let mut live: BTreeMap<RequestId, (Instant, u64)> = BTreeMap::new();
        let mut reference: BTreeSet<(Instant, RequestId)> = BTreeSet::new();
        let mut next_id = 0;
        for step in 0..20_000u64 {
            // Mostly increasing deadlines, like `now + timeout`, with some out of order.
            let now = origin + Duration::from_micros(step);
            let at = now + Duration::from_millis(rng.next_u64() % 50);
            // The newest request (often the last entry), the earliest deadline (the first
            // entry), or any request (an entry in the middle, which is retired).
            let pick = |rng: &mut Rng| match rng.next_u64() % 3 {
                0 => live.keys().next_back().copied(),
                1 => reference.first().map(|(_, id)| *id),
                _ => live.keys().nth((rng.next_u64() % live.len().max(1) as u64) as usize).copied(),
            };
            match rng.next_u64() % 3 {
                0 => {
                    let id = RequestId(next_id);
                    next_id += 1;
                    let stamp = deadlines.stamp();
                    live.insert(id, (at, stamp));
                    deadlines.insert(at, id, stamp);
                    reference.insert((at, id));
                }
                1 => {
                    let Some(id) = pick(&mut rng) else { continue };
                    let old = live[&id];
                    let stamp = deadlines.stamp();
                    live.insert(id, (at, stamp));
                    let current = |id, stamp| live.get(&id).is_some_and(|(_, s)| *s == stamp);
                    deadlines.replace(id, old, (at, stamp), live.len(), current);
                    reference.remove(&(old.0, id));
                    reference.insert((at, id));
                }
                _ => {
                    let Some(id) = pick(&mut rng) else { continue };
                    let old = live.remove(&id).unwrap();
                    let current = |id, stamp| live.get(&id).is_some_and(|(_, s)| *s == stamp);
                    deadlines.remove(id, old, live.len(), current);
                    reference.remove(&(old.0, id));
                }
            }
            let first = reference.first().copied();
            assert_eq!(deadlines.first().map(|(at, _)| at), first.map(|(at, _)| at), "step {step}");
            let later = now + Duration::from_millis(25);
            assert_eq!(deadlines.first_due(later), first.filter(|(at, _)| *at <= later).map(|(_, id)| id));
            assert!(
                deadlines.heap.len() <= 2 * live.len() + 33,
                "step {step}: {} entries for {} live",
                deadlines.heap.len(),
                live.len()
            );
        }
    }
}
