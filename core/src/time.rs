//! Time as the state machines see it: only what the caller passes in, never running
//! backwards, and durations bounded far from overflow.

use std::time::{Duration, Instant};

/// The longest timeout or delay accepted anywhere (a year): keeps deadline arithmetic
/// far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The latest `now` a state machine was given. Every input passes its `now` through
/// [`observe`](Self::observe), so time inside never runs backwards even if the
/// caller's clock does (or two inputs race).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Monotonic {
    latest: Option<Instant>,
}

impl Monotonic {
    /// `now`, or the latest instant seen if `now` is earlier; remembered.
    pub(crate) fn observe(&mut self, now: Instant) -> Instant {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        self.latest = Some(now);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_never_runs_backwards() {
        #[allow(clippy::disallowed_methods)] // the one clock reading: a test origin
        let t0 = Instant::now();
        let mut clock = Monotonic::default();
        assert_eq!(clock.observe(t0 + Duration::from_secs(2)), t0 + Duration::from_secs(2));
        assert_eq!(clock.observe(t0), t0 + Duration::from_secs(2), "an earlier now is clamped");
        assert_eq!(clock.observe(t0 + Duration::from_secs(3)), t0 + Duration::from_secs(3));
    }
}
