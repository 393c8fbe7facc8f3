//! Counters of what the client did, for metrics and for tests.

/// Totals since the client was created. Every accepted request ends in exactly one of
/// `replied`, `rejected`, `timed_out`, `cancelled`, `closed` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct ClientStats {
    /// Requests accepted by `submit`.
    pub submitted: u64,
    /// Transmissions handed to the socket, first attempts and retries, including those
    /// the socket then refused (`send_failures`). Counters only go up: transmissions
    /// that reached the wire are `transmitted - send_failures`.
    pub transmitted: u64,
    /// Transmissions that were retries (attempt 2 and later).
    pub retried: u64,
    /// Requests completed with a reply.
    pub replied: u64,
    /// Requests completed with `Rejected`: the server answered with a refusal.
    pub rejected: u64,
    /// Requests completed with `TimedOut` or `Unreachable`.
    pub timed_out: u64,
    /// Requests completed with `Cancelled`.
    pub cancelled: u64,
    /// Requests completed with `Closed`.
    pub closed: u64,
    /// Requests completed with another error (peer lost, malformed or oversized reply).
    pub failed: u64,
    /// Sockets reset after a timeout, a lost peer or a cancelled lockstep attempt.
    pub resets: u64,
    /// Connection attempts reported failed.
    pub connect_failures: u64,
    /// Transmissions the socket refused (reported by `handle_send_refused`): not
    /// attempts, sent again on the next connection.
    pub send_failures: u64,
    /// Replies discarded because no unfinished request matched them.
    pub stray_replies: u64,
}
