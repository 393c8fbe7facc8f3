//! The one timer every drive loop keeps: a sleep armed no later than its state
//! machine's next deadline, re-armed only when that deadline moves earlier, with expiry
//! judged by the clock.

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
    /// The armed sleep and the instant it was armed for (at or before the deadline).
    armed: Option<(Instant, Pin<Box<R::Sleep>>)>,
    /// The armed sleep was polled, pending, during this poll of the task: it will wake
    /// the task when it fires, so polling it again before then only repeats the work.
    waiting: bool,
}

impl<R: Runtime> Default for DeadlineTimer<R> {
    fn default() -> Self {
        Self { armed: None, waiting: false }
    }
}

impl<R: Runtime> DeadlineTimer<R> {
    /// Checks `deadline` (the state machine's `poll_timeout`) against the clock, and
    /// otherwise keeps a sleep armed no later than it on `runtime`.
    ///
    /// A sleep is re-armed only when the deadline moves *earlier*. One armed for an
    /// earlier deadline than the current one (or for a deadline that went away) is left
    /// to fire: the wake-up is spurious, and cheap, while re-registering a timer for
    /// every request makes tokio's timer wake its own thread through an eventfd each
    /// time (two more syscalls and a trip through epoll per request).
    pub(crate) fn poll(&mut self, runtime: &R, deadline: Option<Instant>, cx: &mut Context<'_>) -> Fired {
        match deadline {
            // Nothing can be due: no need to read the clock.
            None => self.poll_armed(cx),
            Some(_) => self.poll_at(runtime, deadline, Instant::now(), cx),
        }
    }

    /// [`poll`](Self::poll) with the clock already read by the caller (once per round
    /// of a drive loop, instead of once per input).
    pub(crate) fn poll_at(
        &mut self,
        runtime: &R,
        deadline: Option<Instant>,
        now: Instant,
        cx: &mut Context<'_>,
    ) -> Fired {
        if let Some(deadline) = deadline {
            if deadline <= now {
                return Fired::Due(now);
            }
            if self.armed.as_ref().is_none_or(|(at, _)| *at > deadline) {
                self.armed = Some((deadline, Box::pin(runtime.sleep_until(deadline))));
                self.waiting = false;
            }
        }
        self.poll_armed(cx)
    }

    /// A new poll of the task that owns the timer has begun: its sleep may have fired
    /// since, so the next poll looks again. Call it first thing in every poll of the task.
    pub(crate) fn new_task_poll(&mut self) {
        self.waiting = false;
    }

    /// Polls the sleep already armed, if any (unless it was already found pending in
    /// this poll of the task).
    fn poll_armed(&mut self, cx: &mut Context<'_>) -> Fired {
        let Some((_, sleep)) = &mut self.armed else { return Fired::No };
        if self.waiting {
            return Fired::No;
        }
        if sleep.as_mut().poll(cx).is_pending() {
            self.waiting = true;
            return Fired::No;
        }
        self.armed = None;
        Fired::Woken
    }
}
