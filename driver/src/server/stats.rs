//! A server's counters, shared live between its drive loop and its handles.

use reqchan_core::server::ServerStats;

use crate::watch::{EndOnDrop, Watch};

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
    /// Our wire: connections accepted.
    pub connections_accepted: u64,
    /// Our wire: connections closed as soon as accepted (`max_connections`).
    pub connections_refused: u64,
    /// Our wire: connections open now.
    pub connections_open: u64,
    /// Our wire: connections ended for breaking the protocol or a limit.
    pub peer_violations: u64,
    /// Our wire: connections ended because their handshake or heartbeat timed out.
    pub peer_timeouts: u64,
    /// Our wire: connections ended because the peer stopped reading its replies.
    pub peers_not_reading: u64,
    /// Our wire: accept errors (each pauses accepting).
    pub accept_errors: u64,
    /// Our wire: reports left out beyond the rate limit.
    pub logs_suppressed: u64,
    /// Our wire: connections still writing queued replies when the linger time ran out
    /// at shutdown (their replies were lost).
    pub connections_unflushed: u64,
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

/// Live counters of a running server, updated after every input; final once the drive
/// loop has ended.
#[derive(Debug, Clone)]
pub struct StatsHandle(Watch<ServeReport>);

impl Default for StatsHandle {
    fn default() -> Self {
        Self(Watch::new(ServeReport::default()))
    }
}

impl StatsHandle {
    /// The latest snapshot.
    pub fn get(&self) -> ServeReport {
        self.0.get()
    }

    /// Waits until `predicate` holds for the counters and returns them. If the server
    /// stops first, returns its final counters, so this never waits on a dead server.
    pub async fn wait_for(&self, predicate: impl FnMut(&ServeReport) -> bool) -> ServeReport {
        self.0.wait_for(predicate).await
    }

    pub(super) fn set(&self, report: ServeReport) {
        self.0.set(report);
    }

    /// Marks the counters final when dropped, however the drive loop ends.
    pub(super) fn end_on_drop(&self) -> EndOnDrop<ServeReport> {
        self.0.end_on_drop()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll};

    use futures::task::noop_waker;

    use super::*;

    fn errors(recv_errors: u64) -> ServeReport {
        ServeReport { driver: DriverStats { recv_errors, ..DriverStats::default() }, ..ServeReport::default() }
    }

    #[test]
    fn the_end_of_the_drive_loop_releases_waiters_with_the_final_counters() {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let stats = StatsHandle::default();
        let ended = stats.end_on_drop();
        stats.set(errors(3));
        let mut waiting = pin!(stats.wait_for(|_| false));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        drop(ended);
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(errors(3)));
        stats.set(errors(4));
        assert_eq!(stats.get(), errors(3), "final once the loop ended");
    }
}
