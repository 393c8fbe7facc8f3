//! Keeps a failing socket from spinning the driver.
//!
//! zmq.rs 0.7's REP socket keeps a connection whose peer vanished mid-frame in its
//! fair queue and reports the same decode error on every `recv` — about 160,000 times
//! a second. [`RecvGuard`] turns a run of errors into growing pauses and, past a
//! threshold, asks for the socket to be recreated (which drops the poisoned
//! connection). Pure logic: time comes in as an argument.

use std::time::{Duration, Instant};

/// What to do after a receive error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardAction {
    /// Receive again at once (an isolated error).
    Retry,
    /// Pause this long before receiving again.
    Pause(Duration),
    /// Replace the socket with a fresh one bound to the same endpoint.
    Recreate,
}

/// Errors in a row before pausing grows beyond zero.
const FREE_RETRIES: u32 = 1;
/// The longest pause between receives.
const MAX_PAUSE: Duration = Duration::from_millis(100);
/// Errors within [`WINDOW`] (interleaved with good messages or not) that mean the
/// socket is stuck reporting the same failure.
const WINDOW_ERRORS: u32 = 64;
const WINDOW: Duration = Duration::from_secs(1);
/// Errors in a row that mean the socket is stuck.
const CONSECUTIVE_ERRORS: u32 = 8;
/// Recreations allowed per [`RECREATE_WINDOW`]; beyond that only pauses are used.
const MAX_RECREATES: u32 = 5;
const RECREATE_WINDOW: Duration = Duration::from_secs(60);

/// Tracks receive errors; see the module docs.
#[derive(Debug)]
pub(crate) struct RecvGuard {
    can_recreate: bool,
    consecutive: u32,
    window_start: Option<Instant>,
    window_errors: u32,
    recreate_window_start: Option<Instant>,
    recreates: u32,
}

impl RecvGuard {
    /// A guard; `can_recreate` is false for sockets that must not be replaced.
    pub(crate) fn new(can_recreate: bool) -> Self {
        Self {
            can_recreate,
            consecutive: 0,
            window_start: None,
            window_errors: 0,
            recreate_window_start: None,
            recreates: 0,
        }
    }

    /// A message was received: the error run is over.
    pub(crate) fn on_message(&mut self) {
        self.consecutive = 0;
    }

    /// A receive failed at `now`.
    pub(crate) fn on_error(&mut self, now: Instant) -> GuardAction {
        self.consecutive += 1;
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < WINDOW => self.window_errors += 1,
            _ => {
                self.window_start = Some(now);
                self.window_errors = 1;
            }
        }
        let stuck = self.consecutive >= CONSECUTIVE_ERRORS || self.window_errors >= WINDOW_ERRORS;
        if stuck && self.may_recreate(now) {
            self.recreates += 1;
            self.consecutive = 0;
            self.window_start = None;
            self.window_errors = 0;
            return GuardAction::Recreate;
        }
        if self.consecutive <= FREE_RETRIES && !stuck {
            return GuardAction::Retry;
        }
        let doublings = (self.consecutive.saturating_sub(FREE_RETRIES + 1)).min(16);
        GuardAction::Pause((Duration::from_millis(1) * (1u32 << doublings)).min(MAX_PAUSE))
    }

    fn may_recreate(&mut self, now: Instant) -> bool {
        if !self.can_recreate {
            return false;
        }
        match self.recreate_window_start {
            Some(start) if now.saturating_duration_since(start) < RECREATE_WINDOW => self.recreates < MAX_RECREATES,
            _ => {
                self.recreate_window_start = Some(now);
                self.recreates = 0;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    #[test]
    fn an_isolated_error_retries_at_once() {
        let mut g = RecvGuard::new(true);
        let t = origin();
        assert_eq!(g.on_error(t), GuardAction::Retry);
        g.on_message();
        assert_eq!(g.on_error(t + Duration::from_secs(2)), GuardAction::Retry);
    }

    #[test]
    fn a_run_of_errors_pauses_longer_each_time_then_recreates() {
        let mut g = RecvGuard::new(true);
        let t = origin();
        let actions: Vec<GuardAction> = (0..8).map(|_| g.on_error(t)).collect();
        assert_eq!(
            actions,
            vec![
                GuardAction::Retry,
                GuardAction::Pause(Duration::from_millis(1)),
                GuardAction::Pause(Duration::from_millis(2)),
                GuardAction::Pause(Duration::from_millis(4)),
                GuardAction::Pause(Duration::from_millis(8)),
                GuardAction::Pause(Duration::from_millis(16)),
                GuardAction::Pause(Duration::from_millis(32)),
                GuardAction::Recreate,
            ]
        );
        // After a recreation the count starts over.
        assert_eq!(g.on_error(t), GuardAction::Retry);
    }

    #[test]
    fn errors_interleaved_with_messages_still_trip_the_window() {
        let mut g = RecvGuard::new(true);
        let t = origin();
        let mut recreated = false;
        for i in 0..WINDOW_ERRORS {
            let action = g.on_error(t + Duration::from_micros(u64::from(i)));
            g.on_message();
            if action == GuardAction::Recreate {
                recreated = true;
                assert_eq!(i, WINDOW_ERRORS - 1);
            }
        }
        assert!(recreated);
    }

    #[test]
    fn recreation_is_bounded_then_only_pauses_up_to_the_cap() {
        let mut g = RecvGuard::new(true);
        let t = origin();
        let recreates = (0..1000).filter(|_| g.on_error(t) == GuardAction::Recreate).count();
        assert_eq!(recreates as u32, MAX_RECREATES);
        assert_eq!(g.on_error(t), GuardAction::Pause(MAX_PAUSE));
        // A minute later recreation is allowed again.
        let later = t + RECREATE_WINDOW;
        let again = (0..CONSECUTIVE_ERRORS).any(|_| g.on_error(later) == GuardAction::Recreate);
        assert!(again);
    }

    #[test]
    fn a_socket_that_cannot_be_recreated_only_pauses() {
        let mut g = RecvGuard::new(false);
        let t = origin();
        assert!((0..1000).all(|_| g.on_error(t) != GuardAction::Recreate));
        assert_eq!(g.on_error(t), GuardAction::Pause(MAX_PAUSE));
    }
}
