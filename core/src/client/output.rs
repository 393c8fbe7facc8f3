//! What the client asks of its driver: socket actions, transmissions, completions.

use std::time::Instant;

use bytes::Bytes;

use super::error::RequestError;
use super::id::RequestId;

/// A socket-level action for the driver, from [`Client::poll_action`](super::Client::poll_action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketAction {
    /// Drop the current socket if there is one (never read from it again), open a fresh
    /// one and connect it; then report [`handle_connected`](super::Client::handle_connected)
    /// or [`handle_connect_failed`](super::Client::handle_connect_failed).
    Connect {
        /// Why, for logs.
        reason: ConnectReason,
    },
    /// Drop the socket for good: the client is closed.
    Close,
}

/// Why the client asked for a (new) connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectReason {
    /// The client was just created.
    Initial,
    /// The previous connection attempt failed and its pause is over.
    Retry,
    /// A lockstep attempt timed out: its late reply must never answer the next request.
    AttemptTimedOut(RequestId),
    /// The driver reported the peer lost.
    PeerLost,
    /// The in-flight lockstep request was cancelled.
    Cancelled(RequestId),
}

/// The connection as a user of the client sees it, from [`Client::connection_state`](super::Client::connection_state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Opening the first connection (including retries after failed attempts).
    Connecting,
    /// Connected: requests are being sent.
    Connected,
    /// Was connected; the connection was reset (timeout, lost peer) and a new one is
    /// being opened, or retried after failing; requests wait in the queue meanwhile.
    Reconnecting,
    /// Closed: no request will be sent again.
    Closed,
}

/// One transmission to hand to the socket, from [`Client::poll_transmit`](super::Client::poll_transmit).
#[derive(Debug, Clone)]
pub struct Transmit {
    /// The request being sent.
    pub id: RequestId,
    /// 1 for the first transmission, 2 for the first retry, ...
    pub attempt: u32,
    frames: [Bytes; 3],
    len: usize,
}

impl Transmit {
    /// Lockstep with [`LockstepFraming::Plain`](super::LockstepFraming::Plain): no id.
    pub(crate) fn plain(id: RequestId, attempt: u32, payload: Bytes) -> Self {
        Self { id, attempt, frames: [Bytes::new(), payload, Bytes::new()], len: 2 }
    }

    /// With the request-id frame: pipelined, and correlated lockstep.
    pub(crate) fn correlated(id: RequestId, attempt: u32, id_frame: Bytes, payload: Bytes) -> Self {
        Self { id, attempt, frames: [id_frame, Bytes::new(), payload], len: 3 }
    }

    /// The message's frames, for a DEALER socket: `[request-id, "", payload]`, or
    /// `["", payload]` (the envelope a plain REQ socket adds) in lockstep mode with
    /// [`LockstepFraming::Plain`](super::LockstepFraming::Plain).
    pub fn frames(&self) -> &[Bytes] {
        &self.frames[..self.len]
    }

    /// The frames, owned.
    pub fn into_frames(self) -> Vec<Bytes> {
        let len = self.len;
        self.frames.into_iter().take(len).collect()
    }
}

/// The one outcome of an accepted request, from [`Client::poll_completion`](super::Client::poll_completion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The request.
    pub id: RequestId,
    /// The tag given to [`submit_tagged`](super::Client::submit_tagged) (0 from `submit`).
    pub tag: u64,
    /// Transmissions made for it.
    pub attempts: u32,
    /// The reply payload, or why there is none.
    pub result: Result<Bytes, RequestError>,
}

/// When the client must next be woken, and why, from
/// [`Client::poll_timeout`](super::Client::poll_timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// Call [`handle_timeout`](super::Client::handle_timeout) at this instant.
    pub at: Instant,
    /// What is due then (the earliest of several, if they coincide).
    pub reason: TimeoutReason,
}

/// What a [`Timeout`] is for: for logs and metrics, never needed to drive the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// A request waiting to be sent (queued, or ready for a retry) runs out of time.
    Expiry,
    /// An attempt on the wire has had no reply within its timeout.
    AttemptTimeout,
    /// A backoff pause between attempts ends.
    BackoffEnd,
    /// The pause after a failed connection attempt ends: connect again.
    Reconnect,
}
