//! What the driver shares with the handles: connection state, counters, liveness.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use reqchan_core::client::ClientStats;
pub use reqchan_core::client::ConnectionState;

use crate::watch::Watch;

/// Drivers currently running in this process, across all runtimes.
static LIVE_DRIVERS: AtomicUsize = AtomicUsize::new(0);

/// How many client driver tasks are running in this process right now (each owns one
/// socket). For leak checks and metrics.
pub fn live_drivers() -> usize {
    LIVE_DRIVERS.load(Ordering::SeqCst)
}

/// Shared between the driver task and every handle of one channel.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The connection state; `Closed` only once the driver has ended.
    state: Watch<ConnectionState>,
    /// The core's counters; final once the driver has ended.
    stats: Watch<ClientStats>,
    pending: AtomicUsize,
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
            state: Watch::new(ConnectionState::Connecting),
            stats: Watch::new(ClientStats::default()),
            pending: AtomicUsize::new(0),
            driver_alive: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            next_token: AtomicU64::new(0),
        })
    }

    pub(crate) fn token(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn state(&self) -> ConnectionState {
        self.state.get()
    }

    pub(crate) fn stats(&self) -> ClientStats {
        self.stats.get()
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
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
        self.pending.store(pending, Ordering::SeqCst);
        // Counters first: a caller woken by a state change sees counters that include it.
        self.stats.set(*stats);
        if state != ConnectionState::Closed {
            self.state.set(state);
        }
    }

    /// Poll side of [`Channel::wait_for_stats`](super::Channel::wait_for_stats).
    pub(crate) fn poll_stats(
        &self,
        cx: &mut Context<'_>,
        predicate: &mut impl FnMut(&ClientStats) -> bool,
    ) -> Poll<ClientStats> {
        self.stats.poll_until(cx, predicate)
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
        self.0.pending.store(0, Ordering::SeqCst);
        // Counters never change after this: release those waiting on them.
        self.0.stats.end();
        self.0.state.end_with(ConnectionState::Closed);
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
        let seen = shared.state.version();
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
        watch.shared.state.poll_changed(cx, &mut watch.seen)
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
        shared.publish(ConnectionState::Connected, &transmitted(2), 0);
        assert_eq!(shared.poll_stats(&mut cx, &mut two), Poll::Ready(transmitted(2)));
        let mut never = |_: &ClientStats| false;
        assert!(shared.poll_stats(&mut cx, &mut never).is_pending());
        drop(guard);
        assert_eq!(shared.poll_stats(&mut cx, &mut never), Poll::Ready(transmitted(2)));
    }
}
