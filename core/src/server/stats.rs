//! Counters of what the server did, for metrics and for tests.

/// Totals since the server was created.
///
/// Every received message ends in exactly one of: `unroutable` (dropped: no peer to
/// answer), `rejected_*`/`refused_*` (answered with an error at once), or `accepted`.
/// Every accepted request ends in exactly one of `handler_replies`, `handler_errors`,
/// `handler_panics`, `replies_too_large`, `timed_out_running`, `timed_out_queued` or
/// `refused_shutting_down_queued`. `replies_sent` counts every transmit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct ServerStats {
    /// Messages received.
    pub received: u64,
    /// Messages dropped because they named no peer.
    pub unroutable: u64,
    /// Messages answered `bad load`: not a valid envelope, no delimiter, wrong frame
    /// count, or too large.
    pub rejected_malformed: u64,
    /// Of `rejected_malformed`, those over `max_message_size`.
    pub rejected_too_large: u64,
    /// Messages answered `server busy` because the slots and the queue were full.
    pub refused_queue_full: u64,
    /// Messages answered `server busy` because the server was shutting down.
    pub refused_shutting_down: u64,
    /// Requests accepted (given a token).
    pub accepted: u64,
    /// Accepted requests that waited in the queue for a slot.
    pub queued: u64,
    /// Handlers started.
    pub started: u64,
    /// Requests answered with their handler's reply.
    pub handler_replies: u64,
    /// Requests whose handler returned an error.
    pub handler_errors: u64,
    /// Requests whose handler panicked.
    pub handler_panics: u64,
    /// Requests whose handler reply exceeded `max_message_size`.
    pub replies_too_large: u64,
    /// Requests whose handler ran past `request_timeout`.
    pub timed_out_running: u64,
    /// Requests that waited in the queue past `request_timeout`.
    pub timed_out_queued: u64,
    /// Queued requests answered `server busy` when shutdown began.
    pub refused_shutting_down_queued: u64,
    /// Handler results reported for a request already answered (late after a timeout).
    pub late_handler_results: u64,
    /// Transmits produced (every reply, handler or error).
    pub replies_sent: u64,
    /// Events not queued because the driver left 1,024 undrained.
    pub events_dropped: u64,
}
