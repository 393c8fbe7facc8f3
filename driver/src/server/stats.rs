//! A server's counters, shared live between its drive loop and its handles.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use reqchan_core::server::ServerStats;

/// Counters kept by the driver, beside the core's [`ServerStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct DriverStats {
    /// `recv` errors.
    pub recv_errors: u64,
    /// Pauses the receive guard imposed after repeated errors.
    pub recv_pauses: u64,
    /// Sockets replaced after repeated errors.
    pub sockets_recreated: u64,
    /// Replies the socket refused (peer gone).
    pub send_errors: u64,
    /// Replies given up after `send_timeout`.
    pub send_timeouts: u64,
    /// Handlers aborted because their request was answered without them.
    pub handlers_aborted: u64,
}

/// A snapshot of a server's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct ServeReport {
    /// The core's counters.
    pub core: ServerStats,
    /// The driver's counters.
    pub driver: DriverStats,
}

#[derive(Debug, Default)]
struct Live {
    report: ServeReport,
    /// Set when the drive loop is gone: the counters are final.
    ended: bool,
    /// Tasks waiting for the next change.
    waiters: Vec<Waker>,
}

/// Live counters of a running server, updated after every input.
#[derive(Debug, Clone, Default)]
pub struct StatsHandle(Arc<Mutex<Live>>);

impl StatsHandle {
    fn lock(&self) -> MutexGuard<'_, Live> {
        // Plain counters, no invariant spanning a panic: recover them.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The latest snapshot.
    pub fn get(&self) -> ServeReport {
        self.lock().report
    }

    /// Waits until `predicate` holds for the counters and returns them. If the server
    /// stops first, returns its final counters, so this never waits on a dead server.
    pub async fn wait_for(&self, mut predicate: impl FnMut(&ServeReport) -> bool) -> ServeReport {
        poll_fn(|cx| {
            let mut live = self.lock();
            if predicate(&live.report) || live.ended {
                return Poll::Ready(live.report);
            }
            if !live.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                live.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    pub(super) fn set(&self, report: ServeReport) {
        let waiters = {
            let mut live = self.lock();
            if live.report == report {
                return;
            }
            live.report = report;
            std::mem::take(&mut live.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Marks the counters final when dropped, however the drive loop ends.
    pub(super) fn end_on_drop(&self) -> EndOnDrop {
        EndOnDrop(self.clone())
    }
}

/// From [`StatsHandle::end_on_drop`].
pub(super) struct EndOnDrop(StatsHandle);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        let waiters = {
            let mut live = self.0.lock();
            live.ended = true;
            std::mem::take(&mut live.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    use futures::task::{ArcWake, waker};

    use super::*;

    #[derive(Default)]
    struct CountWakes(AtomicUsize);

    impl ArcWake for CountWakes {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn errors(recv_errors: u64) -> ServeReport {
        ServeReport { driver: DriverStats { recv_errors, ..DriverStats::default() }, ..ServeReport::default() }
    }

    #[test]
    fn a_waiter_wakes_on_each_change_and_returns_once_its_predicate_holds() {
        let wakes = Arc::new(CountWakes::default());
        let waker = waker(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let stats = StatsHandle::default();
        let mut waiting = pin!(stats.wait_for(|r| r.driver.recv_errors == 2));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        stats.set(errors(0)); // unchanged: nobody woken
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
        stats.set(errors(1));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        stats.set(errors(2));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(errors(2)));
    }

    #[test]
    fn the_end_of_the_drive_loop_releases_waiters_with_the_final_counters() {
        let wakes = Arc::new(CountWakes::default());
        let waker = waker(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let stats = StatsHandle::default();
        let ended = stats.end_on_drop();
        stats.set(errors(3));
        let mut waiting = pin!(stats.wait_for(|_| false));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        drop(ended);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(errors(3)));
        // Once ended, a new waiter returns at once.
        assert_eq!(pin!(stats.wait_for(|_| false)).poll(&mut cx), Poll::Ready(errors(3)));
    }
}
