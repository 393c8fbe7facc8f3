//! What the driver shares with the handles: connection state, counters, liveness.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use reqchan_core::client::ClientStats;
pub use reqchan_core::client::ConnectionState;

/// Drivers currently running in this process, across all runtimes.
static LIVE_DRIVERS: AtomicUsize = AtomicUsize::new(0);

/// How many client driver tasks are running in this process right now (each owns one
/// socket). For leak checks and metrics.
pub fn live_drivers() -> usize {
    LIVE_DRIVERS.load(Ordering::SeqCst)
}

#[derive(Debug)]
struct Snapshot {
    state: ConnectionState,
    stats: ClientStats,
    pending: usize,
    /// Bumped on every change of `state`.
    version: u64,
    /// Tasks waiting for the next change of `state`.
    wakers: Vec<Waker>,
    /// Tasks waiting for the next change of `stats`.
    stats_wakers: Vec<Waker>,
}

/// Shared between the driver task and every handle of one channel.
#[derive(Debug)]
pub(crate) struct Shared {
    snapshot: Mutex<Snapshot>,
    driver_alive: AtomicBool,
    /// Set when a handle asked to close the channel.
    closing: AtomicBool,
    /// Set when the driver ended by closing the channel (not by being dropped).
    closed: AtomicBool,
    next_token: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            snapshot: Mutex::new(Snapshot {
                state: ConnectionState::Connecting,
                stats: ClientStats::default(),
                pending: 0,
                version: 0,
                wakers: Vec::new(),
                stats_wakers: Vec::new(),
            }),
            driver_alive: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            next_token: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // The lock guards plain data with no invariant spanning a panic: recover it.
        self.snapshot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn token(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn state(&self) -> ConnectionState {
        self.lock().state
    }

    pub(crate) fn stats(&self) -> ClientStats {
        self.lock().stats
    }

    pub(crate) fn pending(&self) -> usize {
        self.lock().pending
    }

    pub(crate) fn driver_alive(&self) -> bool {
        self.driver_alive.load(Ordering::SeqCst)
    }

    pub(crate) fn mark_closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Whether the driver ended by closing the channel, as opposed to being dropped
    /// with its runtime.
    pub(crate) fn was_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Publishes the driver's view after a drain; wakes those waiting on what changed.
    ///
    /// `Closed` is held back until the driver has ended (see [`DriverGuard`]), so a
    /// watcher that sees `Closed` knows the socket is gone and the driver no longer counts
    /// in [`live_drivers`].
    pub(crate) fn publish(&self, state: ConnectionState, stats: &ClientStats, pending: usize) {
        self.publish_state(Some(state).filter(|s| *s != ConnectionState::Closed), stats, pending);
    }

    fn publish_state(&self, state: Option<ConnectionState>, stats: &ClientStats, pending: usize) {
        let mut woken = Vec::new();
        {
            let mut snapshot = self.lock();
            snapshot.pending = pending;
            if snapshot.stats != *stats {
                snapshot.stats = *stats;
                woken.append(&mut snapshot.stats_wakers);
            }
            let current = snapshot.state;
            if let Some(state) = state.filter(|s| *s != current && current != ConnectionState::Closed) {
                snapshot.state = state;
                snapshot.version += 1;
                woken.append(&mut snapshot.wakers);
                if state == ConnectionState::Closed {
                    // Counters never change after close: release those waiting on them.
                    woken.append(&mut snapshot.stats_wakers);
                }
            }
        }
        woken.into_iter().for_each(Waker::wake);
    }

    /// Poll side of [`Channel::wait_for_stats`](super::Channel::wait_for_stats).
    pub(crate) fn poll_stats(
        &self,
        cx: &mut Context<'_>,
        predicate: &mut impl FnMut(&ClientStats) -> bool,
    ) -> Poll<ClientStats> {
        let mut snapshot = self.lock();
        if predicate(&snapshot.stats) || snapshot.state == ConnectionState::Closed {
            return Poll::Ready(snapshot.stats);
        }
        if !snapshot.stats_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            snapshot.stats_wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Poll side of [`StateWatch::changed`].
    fn poll_change(&self, seen: &mut u64, cx: &mut Context<'_>) -> Poll<ConnectionState> {
        let mut snapshot = self.lock();
        if snapshot.version != *seen || snapshot.state == ConnectionState::Closed {
            *seen = snapshot.version;
            return Poll::Ready(snapshot.state);
        }
        if !snapshot.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            snapshot.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Held by the driver task: counts it as live, and marks the channel dead and closed
/// when the task ends, however it ends (finished, or dropped with its runtime).
#[derive(Debug)]
pub(crate) struct DriverGuard(Arc<Shared>);

impl DriverGuard {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        LIVE_DRIVERS.fetch_add(1, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        // The guard is the driver's last field: its socket is already dropped. Count the
        // driver out before announcing `Closed`, so whoever sees `Closed` sees it gone.
        self.0.driver_alive.store(false, Ordering::SeqCst);
        LIVE_DRIVERS.fetch_sub(1, Ordering::SeqCst);
        let stats = self.0.stats();
        self.0.publish_state(Some(ConnectionState::Closed), &stats, 0);
    }
}

/// Follows a channel's [`ConnectionState`], from [`Channel::watch`](super::Channel::watch).
///
/// `Closed` is announced when the driver task has ended: by then its socket is closed
/// and it no longer counts in [`live_drivers`].
#[derive(Debug, Clone)]
pub struct StateWatch {
    shared: Arc<Shared>,
    seen: u64,
}

impl StateWatch {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let seen = shared.lock().version;
        Self { shared, seen }
    }

    /// The state now.
    pub fn current(&self) -> ConnectionState {
        self.shared.state()
    }

    /// Waits for the state to change since this watch last looked, and returns the new
    /// state. Returns at once with `Closed` once the channel is closed (it never
    /// reopens), so a loop over `changed` always ends.
    pub fn changed(&mut self) -> Changed<'_> {
        Changed { watch: self }
    }

    /// Waits until `predicate` holds for the current state, and returns that state; or
    /// returns `Closed` if the channel closes first.
    pub async fn wait_for(&mut self, mut predicate: impl FnMut(ConnectionState) -> bool) -> ConnectionState {
        let mut state = self.current();
        loop {
            if predicate(state) || state == ConnectionState::Closed {
                return state;
            }
            state = self.changed().await;
        }
    }
}

/// The future returned by [`StateWatch::changed`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Changed<'a> {
    watch: &'a mut StateWatch,
}

impl Future for Changed<'_> {
    type Output = ConnectionState;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConnectionState> {
        let watch = &mut *self.watch;
        watch.shared.poll_change(&mut watch.seen, cx)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::Context;

    use futures::task::noop_waker;

    use super::*;

    fn transmitted(n: u64) -> ClientStats {
        let mut stats = ClientStats::default();
        stats.transmitted = n;
        stats
    }

    #[test]
    fn closed_is_announced_only_by_the_ending_driver() {
        let shared = Shared::new();
        let guard = DriverGuard::new(Arc::clone(&shared));
        let mut watch = StateWatch::new(Arc::clone(&shared));
        shared.publish(ConnectionState::Connected, &transmitted(0), 0);
        // The core says Closed while the driver still holds its socket: not yet.
        shared.publish(ConnectionState::Closed, &transmitted(1), 0);
        assert_eq!(watch.current(), ConnectionState::Connected);
        assert_eq!(shared.stats(), transmitted(1));
        drop(guard);
        assert_eq!(watch.current(), ConnectionState::Closed);
        // (`live_drivers` is process-wide and tests run in parallel: the registry tests
        // check it, each in a binary of its own.)
        assert!(!shared.driver_alive());
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(pin!(watch.changed()).poll(&mut cx), Poll::Ready(ConnectionState::Closed));
    }

    #[test]
    fn a_stats_waiter_returns_when_its_predicate_holds_or_the_channel_closes() {
        let shared = Shared::new();
        let guard = DriverGuard::new(Arc::clone(&shared));
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut two = |s: &ClientStats| s.transmitted == 2;
        assert!(shared.poll_stats(&mut cx, &mut two).is_pending());
        shared.publish(ConnectionState::Connected, &transmitted(1), 1);
        assert!(shared.poll_stats(&mut cx, &mut two).is_pending());
        assert_eq!(shared.lock().stats_wakers.len(), 1, "one waker, however often polled");
        shared.publish(ConnectionState::Connected, &transmitted(2), 0);
        assert_eq!(shared.poll_stats(&mut cx, &mut two), Poll::Ready(transmitted(2)));
        let mut never = |_: &ClientStats| false;
        assert!(shared.poll_stats(&mut cx, &mut never).is_pending());
        drop(guard);
        assert_eq!(shared.poll_stats(&mut cx, &mut never), Poll::Ready(transmitted(2)));
    }
}
