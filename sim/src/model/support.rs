//! What both models share: the two ways of stepping the simulated clock onto a state
//! machine's deadline, and `ensure!`, which fails an input with the operation at fault.

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

/// Fails the fuzz input with the operation that broke an invariant: `$h` is a harness
/// with a `context` (the operation being applied) and an `elapsed()` time.
macro_rules! ensure {
    ($h:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            panic!("{}\n  at {} (now = +{:?})", format_args!($($msg)+), $h.context, $h.elapsed());
        }
    };
}
pub(crate) use ensure;
