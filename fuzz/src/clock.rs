//! The models' two ways of stepping the simulated clock onto a state machine's deadline.

use std::time::{Duration, Instant};

/// The `Tick` op: `now` moved to `deadline`, if there is one and it is later.
pub(crate) fn tick(now: Instant, deadline: Option<Instant>) -> Instant {
    deadline.map_or(now, |at| now.max(at))
}

/// The `JustBefore` op: one nanosecond before `deadline`, if that is still ahead of `now`.
pub(crate) fn just_before(now: Instant, deadline: Option<Instant>) -> Option<Instant> {
    let tick = Duration::from_nanos(1);
    deadline.filter(|at| *at > now + tick).map(|at| at - tick)
}
