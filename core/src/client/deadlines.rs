//! Every live request's one deadline, ordered by `(deadline, id)`, so that the first
//! entry is always the next thing that can happen.
//!
//! A binary min-heap with lazy removal. Deadlines mostly arrive in increasing order
//! (`now + timeout`), and pushing the latest deadline onto a heap costs one comparison,
//! where an ordered tree searches its whole right edge. A request that moves on
//! retires its entry instead of removing it: each entry carries a stamp, and an entry
//! is current only while its request still holds that stamp. Two rules keep this exact
//! and bounded:
//! - the first entry is always current (retiring it pops it, and any retired entries
//!   beneath it), so `first` needs no cleaning and can stay `&self`;
//! - retired entries never outnumber live ones by more than a constant: the heap is
//!   rebuilt from its current entries when they do (amortised O(1) per retirement).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
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
    heap: BinaryHeap<Reverse<Entry>>,
    retired: usize,
    next_stamp: u64,
}

impl Deadlines {
    /// Adds a deadline for `id`; returns the stamp that marks it current.
    pub(crate) fn insert(&mut self, at: Instant, id: RequestId) -> u64 {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.heap.push(Reverse(Entry { at, id, stamp }));
        stamp
    }

    /// The entry `(at, id, stamp)` is no longer current. `is_current` tells whether an
    /// entry's stamp is still held by its request; `live` is the number of live requests.
    pub(crate) fn retire(
        &mut self,
        at: Instant,
        id: RequestId,
        stamp: u64,
        live: usize,
        is_current: impl Fn(RequestId, u64) -> bool,
    ) {
        self.retired += 1;
        if self.heap.peek() == Some(&Reverse(Entry { at, id, stamp })) {
            self.heap.pop();
            self.retired -= 1;
            while let Some(Reverse(first)) = self.heap.peek() {
                if is_current(first.id, first.stamp) {
                    break;
                }
                self.heap.pop();
                self.retired -= 1;
            }
        }
        if self.retired > live + 32 {
            self.heap.retain(|Reverse(entry)| is_current(entry.id, entry.stamp));
            self.retired = 0;
        }
        debug_assert_eq!(self.heap.len(), live + self.retired);
    }

    pub(crate) fn first(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(first)| first.at)
    }

    /// The id with the earliest deadline, if it is due at `now`.
    pub(crate) fn first_due(&self, now: Instant) -> Option<RequestId> {
        self.heap.peek().filter(|Reverse(first)| first.at <= now).map(|Reverse(first)| first.id)
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
            let pick = |rng: &mut Rng| live.keys().nth((rng.next_u64() % live.len().max(1) as u64) as usize).copied();
            match rng.next_u64() % 3 {
                0 => {
                    let id = RequestId(next_id);
                    next_id += 1;
                    live.insert(id, (at, deadlines.insert(at, id)));
                    reference.insert((at, id));
                }
                1 => {
                    let Some(id) = pick(&mut rng) else { continue };
                    let (old_at, old_stamp) = live[&id];
                    live.insert(id, (at, deadlines.insert(at, id)));
                    let current = |id, stamp| live.get(&id).is_some_and(|(_, s)| *s == stamp);
                    deadlines.retire(old_at, id, old_stamp, live.len(), current);
                    reference.remove(&(old_at, id));
                    reference.insert((at, id));
                }
                _ => {
                    let Some(id) = pick(&mut rng) else { continue };
                    let (old_at, old_stamp) = live.remove(&id).unwrap();
                    let current = |id, stamp| live.get(&id).is_some_and(|(_, s)| *s == stamp);
                    deadlines.retire(old_at, id, old_stamp, live.len(), current);
                    reference.remove(&(old_at, id));
                }
            }
            let first = reference.first().copied();
            assert_eq!(deadlines.first(), first.map(|(at, _)| at), "step {step}");
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
