//! The one timer every drive loop keeps: a sleep armed for its state machine's next
//! deadline, re-armed only when that deadline changes, with expiry judged by the clock.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Instant;

use crate::Runtime;

/// What [`DeadlineTimer::poll`] found.
pub(crate) enum Fired {
    /// Nothing to do yet (no deadline, or the sleep is pending and registered).
    No,
    /// The deadline has come by the clock at this instant: call `handle_timeout(now)`.
    Due(Instant),
    /// The sleep ended: look at the clock again in the next round.
    Woken,
}

/// A sleep kept armed for the next deadline of a state machine.
pub(crate) struct DeadlineTimer<R: Runtime> {
    /// The armed sleep and the deadline it was armed for.
    armed: Option<(Instant, Pin<Box<R::Sleep>>)>,
}

impl<R: Runtime> Default for DeadlineTimer<R> {
    fn default() -> Self {
        Self { armed: None }
    }
}

impl<R: Runtime> DeadlineTimer<R> {
    /// Checks `deadline` (the state machine's `poll_timeout`) against the clock, and
    /// otherwise keeps a sleep armed for it on `runtime`.
    pub(crate) fn poll(&mut self, runtime: &R, deadline: Option<Instant>, cx: &mut Context<'_>) -> Fired {
        let Some(deadline) = deadline else {
            self.armed = None;
            return Fired::No;
        };
        let now = Instant::now();
        if deadline <= now {
            self.armed = None;
            return Fired::Due(now);
        }
        if self.armed.as_ref().is_none_or(|(at, _)| *at != deadline) {
            self.armed = Some((deadline, Box::pin(runtime.sleep_until(deadline))));
        }
        let Some((_, sleep)) = &mut self.armed else { return Fired::No };
        if sleep.as_mut().poll(cx).is_pending() {
            return Fired::No;
        }
        self.armed = None;
        Fired::Woken
    }
}
