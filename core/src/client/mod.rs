//! The request client: Salt's `AsyncReqMessageClient`, as a sans-IO state machine.
//!
//! [`Client`] keeps the send queue, the table of unfinished requests, their timeouts
//! and retries, and the connection state. It reads no clock and touches no socket: a
//! driver passes `now` into every call, carries out the [`SocketAction`]s, sends the
//! [`Transmit`]s, feeds replies back, and wakes the client at [`Client::poll_timeout`].
//!
//! # Methods, in four groups
//! - **Inputs** — [`submit`](Client::submit) (or [`submit_tagged`](Client::submit_tagged)),
//!   [`cancel`](Client::cancel),
//!   [`close`](Client::close), [`handle_connected`](Client::handle_connected),
//!   [`handle_connect_failed`](Client::handle_connect_failed),
//!   [`handle_peer_lost`](Client::handle_peer_lost),
//!   [`handle_send_refused`](Client::handle_send_refused), [`handle_reply`](Client::handle_reply),
//!   [`handle_timeout`](Client::handle_timeout).
//! - **Outputs**, drained after every input in this order:
//!   1. [`poll_action`](Client::poll_action) — open a fresh socket, or close it. Carry
//!      it out before sending anything: transmissions are only released on an open
//!      connection.
//!   2. [`poll_transmit`](Client::poll_transmit) until `None` — hand each to the socket.
//!   3. [`poll_completion`](Client::poll_completion) until `None` — resolve the callers.
//!   4. [`poll_timeout`](Client::poll_timeout) — when to call `handle_timeout` next, and
//!      why (a [`TimeoutReason`], for logs).
//! - **Getters** — [`stats`](Client::stats), [`pending`](Client::pending),
//!   [`is_connected`](Client::is_connected), [`connection_state`](Client::connection_state),
//!   [`config`](Client::config).
//!
//! # Rules the client keeps
//! - Every accepted request completes exactly once: reply, `TimedOut`, `PeerLost`,
//!   `Cancelled`, `Closed`, `ReplyTooLarge` or `MalformedReply`.
//! - A request's timeout bounds each wait: in the queue before its first transmission
//!   (then it fails with 0 attempts and is never sent), each attempt from the moment it
//!   is handed to the socket, and the wait for a slot before each retry.
//! - Cancelled, expired and closed requests are never transmitted.
//! - Lockstep: one request on the wire, sent as `["", payload]` — the envelope a REQ
//!   socket would add — so a driver can use a DEALER socket and watch it for a dead
//!   peer even while idle (zmq.rs's REQ only notices at the next send). The reply
//!   `["", payload]` answers
//!   the request on the wire. A timed-out or cancelled in-flight attempt resets the
//!   socket, and no reply is accepted until the new socket is reported connected, so a
//!   late reply can never answer the next request. During a backoff pause the retrying
//!   request keeps the slot: the queue waits behind it.
//! - Pipelined: a timed-out attempt is re-sent on the same socket; a late reply to an
//!   earlier attempt of an unfinished request completes it; any other reply is stray.
//! - Replies that arrive while no connection is open are stray: discarded and counted.
//!
//! # Drive loop
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use reqchan_core::client::{Client, ClientConfig, RequestOptions, SocketAction};
//!
//! let mut client = Client::new(ClientConfig::default()).unwrap();
//! let start = Instant::now();
//! let id = client.submit(start, Bytes::from_static(b"ping"), RequestOptions::default()).unwrap();
//!
//! // A toy "socket": whatever is sent is answered with the same bytes.
//! let mut wire: Vec<Vec<Bytes>> = Vec::new();
//! let mut now = start;
//! let mut answered = None;
//! for _ in 0..10 {
//!     // 1. Socket actions first.
//!     while let Some(action) = client.poll_action() {
//!         match action {
//!             SocketAction::Connect { .. } => client.handle_connected(now),
//!             SocketAction::Close => {}
//!             _ => {}
//!         }
//!     }
//!     // 2. Then transmissions.
//!     while let Some(transmit) = client.poll_transmit(now) {
//!         wire.push(transmit.into_frames());
//!     }
//!     // 3. Then completions.
//!     while let Some(done) = client.poll_completion() {
//!         answered = Some(done);
//!     }
//!     if answered.is_some() {
//!         break;
//!     }
//!     // 4. Wait for the socket or the timer, whichever comes first.
//!     if let Some(frames) = wire.pop() {
//!         client.handle_reply(now, &frames);
//!     } else if let Some(timeout) = client.poll_timeout() {
//!         now = timeout.at.max(now);
//!         client.handle_timeout(now);
//!     }
//!     now += Duration::from_millis(1);
//! }
//! let done = answered.unwrap();
//! assert_eq!(done.id, id);
//! assert_eq!(done.result.unwrap(), Bytes::from_static(b"ping"));
//! ```

mod backoff;
mod config;
mod deadlines;
mod error;
mod id;
mod link;
mod output;
mod queue;
mod requests;
mod stats;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

/// Re-exported from [`crate::time`], where it lives.
pub use crate::time::MAX_DURATION;
pub use backoff::{Backoff, ExponentialBackoff, InvalidBackoff};
pub use config::{ClientConfig, ConfigError, InvalidOptions, LockstepFraming, Mode, RequestDefaults, RequestOptions};
pub use error::{ConnectError, ConnectErrorKind, RequestError, SubmitError};
pub use id::RequestId;

use id::IdFrames;
pub use output::{Completion, ConnectReason, ConnectionState, SocketAction, Timeout, TimeoutReason, Transmit};
pub use stats::ClientStats;

use link::Link;
use queue::IdQueue;
use requests::{Phase, Request, Requests};

use crate::codec::Refusal;
use crate::rng::Rng;
use crate::time::Monotonic;

/// The request client state machine. See the [module docs](self) for the drive loop.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    requests: Requests,
    /// Requests never transmitted, in submission order.
    queue: IdQueue,
    /// Requests ready for another attempt; served before `queue`.
    retries: IdQueue,
    /// Lockstep: the request on the wire, which the next reply answers.
    on_the_wire: Option<RequestId>,
    link: Link,
    completions: VecDeque<Completion>,
    next_id: u64,
    id_frames: IdFrames,
    /// Time never runs backwards inside the client.
    clock: Monotonic,
    rng: Rng,
    stats: ClientStats,
}

impl Client {
    /// A client with `config`, asking for its first connection (see [`poll_action`](Self::poll_action)).
    pub fn new(config: ClientConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            rng: Rng::new(config.seed),
            config,
            requests: Requests::default(),
            queue: IdQueue::default(),
            retries: IdQueue::default(),
            on_the_wire: None,
            link: Link::new(),
            completions: VecDeque::new(),
            next_id: 0,
            id_frames: IdFrames::default(),
            clock: Monotonic::default(),
            stats: ClientStats::default(),
        })
    }

    // ----- inputs -----

    /// Accepts a request for `payload`, to be sent when a slot is free.
    ///
    /// Refused, with nothing queued, if the client is closed, the payload is larger
    /// than `max_message_size`, the options are invalid, or `max_queued` requests wait.
    pub fn submit(&mut self, now: Instant, payload: Bytes, options: RequestOptions) -> Result<RequestId, SubmitError> {
        self.submit_tagged(now, payload, options, 0)
    }

    /// [`submit`](Self::submit), with an opaque `tag` of the caller's that comes back in
    /// the request's [`Completion`] (a driver keeps its waiters by tag: one map).
    pub fn submit_tagged(
        &mut self,
        now: Instant,
        payload: Bytes,
        options: RequestOptions,
        tag: u64,
    ) -> Result<RequestId, SubmitError> {
        let now = self.observe(now);
        if self.link.is_closed() {
            return Err(SubmitError::Closed);
        }
        let limit = self.config.max_message_size;
        if payload.len() > limit {
            return Err(SubmitError::TooLarge { size: payload.len(), limit });
        }
        let options = options.resolve(&self.config.defaults).map_err(SubmitError::InvalidOptions)?;
        if self.waiting() >= self.config.max_queued {
            return Err(SubmitError::QueueFull { capacity: self.config.max_queued });
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.requests.insert(id, Request::new(payload, tag, options, now + options.timeout));
        self.queue.push_back(id);
        self.stats.submitted += 1;
        Ok(id)
    }

    /// Cancels request `id`: it completes with `Cancelled` and is never sent again.
    /// Returns false, and does nothing, if `id` is not an unfinished request.
    ///
    /// In lockstep mode, cancelling the request on the wire resets the socket: replies
    /// are matched by position there, so its late reply must never reach the next one.
    pub fn cancel(&mut self, now: Instant, id: RequestId) -> bool {
        self.observe(now);
        let Some(request) = self.remove(id) else {
            return false;
        };
        if request.phase() == Phase::InFlight && self.is_lockstep() {
            self.reset_socket(ConnectReason::Cancelled(id));
        }
        self.complete(id, &request, Err(RequestError::Cancelled));
        true
    }

    /// Closes the client: every unfinished request completes with `Closed` (in
    /// submission order), nothing is transmitted from now on, and the driver is asked to
    /// drop the socket. Later submissions are refused; later inputs are ignored.
    pub fn close(&mut self, now: Instant) {
        self.observe(now);
        if self.link.is_closed() {
            return;
        }
        for id in self.requests.ids_in(None) {
            if let Some(request) = self.requests.remove(id) {
                self.complete(id, &request, Err(RequestError::Closed));
            }
        }
        self.queue.clear();
        self.retries.clear();
        self.on_the_wire = None;
        self.link.close();
    }

    /// The socket asked for by [`SocketAction::Connect`] is connected: transmissions
    /// can start. Ignored if no connection was being opened.
    pub fn handle_connected(&mut self, now: Instant) {
        self.observe(now);
        self.link.connected();
    }

    /// The socket asked for by [`SocketAction::Connect`] could not connect, because of
    /// `error`. The client asks again after the reconnect backoff; queued requests keep
    /// their deadlines, and one that times out before a connection is made completes
    /// with [`RequestError::Unreachable`] carrying the latest such error.
    pub fn handle_connect_failed(&mut self, now: Instant, error: ConnectError) {
        let now = self.observe(now);
        if self.link.connect_failed(now, &self.config.reconnect, &mut self.rng, error) {
            self.stats.connect_failures += 1;
        }
    }

    /// The connection broke (the peer went away, or a send failed): every attempt in
    /// flight fails at once, to be retried if tries remain, and the socket is reset.
    /// Ignored unless a connection is open.
    pub fn handle_peer_lost(&mut self, now: Instant) {
        let now = self.observe(now);
        if !self.link.is_open() {
            return;
        }
        self.reset_socket(ConnectReason::PeerLost);
        for id in self.requests.ids_in(Some(Phase::InFlight)) {
            self.fail_attempt(now, id, AttemptFailure::PeerLost);
        }
    }

    /// The socket refused the transmissions of `refused` (sends that failed: the
    /// connection broke before they were written), and so the connection is lost.
    ///
    /// A refused transmission never reached the wire: it does not count as an attempt,
    /// and the request goes back to the head of the retry queue under the deadline it
    /// had while waiting, so a connection that keeps refusing cannot keep it alive past
    /// that deadline (`transmitted` keeps counting it, `send_failures` counts the
    /// refusal: counters only go up). Then the connection is handled as
    /// [`handle_peer_lost`](Self::handle_peer_lost): every other attempt in flight fails
    /// and the socket is reset. Ids not in flight are ignored.
    pub fn handle_send_refused(&mut self, now: Instant, refused: &[RequestId]) {
        let now = self.observe(now);
        for &id in refused {
            self.unsend(id);
        }
        self.handle_peer_lost(now);
    }

    /// Takes back the transmission of `id`, if it is in flight.
    fn unsend(&mut self, id: RequestId) {
        let Some(request) = self.requests.get(id) else { return };
        if request.phase() != Phase::InFlight {
            return;
        }
        let wait_deadline = request.wait_deadline;
        if self.on_the_wire == Some(id) {
            self.on_the_wire = None;
        }
        let Some(request) = self.requests.transition(id, Phase::Ready, wait_deadline) else { return };
        request.attempts -= 1;
        self.retries.push_front(id);
        self.stats.send_failures += 1;
    }

    /// A message arrived on the open socket. Completes the request it answers; a reply
    /// that answers no unfinished request is discarded and counted as stray. Ignored
    /// after [`close`](Self::close), like every input.
    pub fn handle_reply(&mut self, now: Instant, frames: &[Bytes]) {
        self.observe(now);
        if self.link.is_closed() {
            return;
        }
        let Some((id, result)) = self.match_reply(frames) else {
            self.stats.stray_replies += 1;
            return;
        };
        let result = result.and_then(|payload| {
            let limit = self.config.max_message_size;
            match payload.len() {
                size if size > limit => Err(RequestError::ReplyTooLarge { size, limit }),
                _ => Ok(payload),
            }
        });
        if let Some(request) = self.remove(id) {
            let result = match result {
                Ok(payload) if request.options.detect_refusals => match Refusal::of(&payload) {
                    Some(reason) => Err(RequestError::Rejected { reason }),
                    None => Ok(payload),
                },
                other => other,
            };
            self.complete(id, &request, result);
        }
    }

    /// Processes every deadline that has come at `now`: queue expiry, attempt timeouts,
    /// ends of backoff pauses, reconnect pauses. Does nothing if nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.observe(now);
        self.link.handle_timeout(now);
        while let Some(id) = self.requests.next_due(now) {
            let Some(request) = self.requests.get(id) else { break };
            match request.phase() {
                Phase::Queued | Phase::Ready => self.expire(id),
                Phase::InFlight => {
                    if self.is_lockstep() {
                        self.reset_socket(ConnectReason::AttemptTimedOut(id));
                    }
                    self.fail_attempt(now, id, AttemptFailure::TimedOut);
                }
                Phase::BackingOff => self.make_ready(now, id),
            }
        }
    }

    // ----- outputs -----

    /// The next socket action for the driver. Drain before [`poll_transmit`](Self::poll_transmit).
    pub fn poll_action(&mut self) -> Option<SocketAction> {
        self.link.poll_action()
    }

    /// The next message to hand to the socket, if a connection is open and a slot is
    /// free. The attempt's timeout starts at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let now = self.observe(now);
        if !self.link.is_open() {
            return None;
        }
        while self.slot_free() {
            let requests = &self.requests;
            let id = self
                .retries
                .pop_front(|id| requests.is_in(id, Phase::Ready))
                .or_else(|| self.queue.pop_front(|id| requests.is_in(id, Phase::Queued)))?;
            let request = self.requests.get(id)?;
            if request.deadline() <= now {
                // Due but not yet seen by `handle_timeout`: never send it.
                self.expire(id);
                continue;
            }
            let deadline = now + request.options.timeout;
            let wait_deadline = request.deadline();
            let request = self.requests.transition(id, Phase::InFlight, deadline)?;
            request.wait_deadline = wait_deadline;
            request.attempts += 1;
            let attempt = request.attempts;
            let payload = request.payload.clone();
            self.stats.transmitted += 1;
            if attempt > 1 {
                self.stats.retried += 1;
            }
            return Some(match (self.config.mode, self.config.lockstep_framing) {
                (Mode::Lockstep, framing) => {
                    self.on_the_wire = Some(id);
                    match framing {
                        LockstepFraming::Plain => Transmit::plain(id, attempt, payload),
                        _ => Transmit::correlated(id, attempt, self.id_frames.frame(id), payload),
                    }
                }
                (Mode::Pipelined { .. }, _) => Transmit::correlated(id, attempt, self.id_frames.frame(id), payload),
            });
        }
        None
    }

    /// The next finished request. Each accepted request appears here exactly once.
    pub fn poll_completion(&mut self) -> Option<Completion> {
        self.completions.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if ever,
    /// and why.
    pub fn poll_timeout(&self) -> Option<Timeout> {
        let request = self.requests.next_deadline().map(|(at, phase)| Timeout {
            at,
            reason: match phase {
                Phase::Queued | Phase::Ready => TimeoutReason::Expiry,
                Phase::InFlight => TimeoutReason::AttemptTimeout,
                Phase::BackingOff => TimeoutReason::BackoffEnd,
            },
        });
        let reconnect = self.link.retry_at().map(|at| Timeout { at, reason: TimeoutReason::Reconnect });
        match (request, reconnect) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    // ----- getters -----

    /// Counters since creation.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Unfinished requests: queued, in flight, or between attempts.
    pub fn pending(&self) -> usize {
        self.requests.len()
    }

    /// Whether a connection is open (reported by the driver and not lost or reset since).
    pub fn is_connected(&self) -> bool {
        self.link.is_open()
    }

    /// Connecting (never connected yet), connected, reconnecting, or closed.
    pub fn connection_state(&self) -> ConnectionState {
        self.link.status()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.link.is_closed()
    }

    /// The configuration the client runs with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    // ----- internals -----

    fn observe(&mut self, now: Instant) -> Instant {
        self.clock.observe(now)
    }

    fn is_lockstep(&self) -> bool {
        self.config.mode == Mode::Lockstep
    }

    /// Requests counted against `max_queued`: everything not on the wire.
    fn waiting(&self) -> usize {
        self.requests.len() - self.requests.count(Phase::InFlight)
    }

    fn slot_free(&self) -> bool {
        let busy = match self.config.mode {
            // A lockstep retry keeps the slot through its backoff pause.
            Mode::Lockstep => self.requests.count(Phase::InFlight) + self.requests.count(Phase::BackingOff),
            Mode::Pipelined { .. } => self.requests.count(Phase::InFlight),
        };
        busy < self.config.mode.max_in_flight()
    }

    /// Which unfinished request `frames` answer, and with what.
    fn match_reply(&self, frames: &[Bytes]) -> Option<(RequestId, Result<Bytes, RequestError>)> {
        if !self.link.is_open() {
            return None;
        }
        match (self.config.mode, self.config.lockstep_framing) {
            (Mode::Lockstep, LockstepFraming::Plain) => {
                let id = self.on_the_wire?;
                let result = match frames {
                    [delimiter, payload] if delimiter.is_empty() => Ok(payload.clone()),
                    _ => Err(RequestError::MalformedReply { reason: "a lockstep reply must be [empty, payload]" }),
                };
                Some((id, result))
            }
            (Mode::Lockstep, _) => {
                // Only the request on the wire can be answered: a duplicated or late
                // reply names another id (or none) and is stray.
                let id = self.on_the_wire?;
                if RequestId::from_frame(frames.first()?)? != id {
                    return None;
                }
                let result = match frames {
                    [_, delimiter, payload] if delimiter.is_empty() => Ok(payload.clone()),
                    _ => Err(RequestError::MalformedReply {
                        reason: "a lockstep reply must be [request-id, empty, payload]",
                    }),
                };
                Some((id, result))
            }
            (Mode::Pipelined { .. }, _) => {
                let id = RequestId::from_frame(frames.first()?)?;
                // A request never transmitted (queued, or its only send was refused)
                // cannot have been answered.
                if self.requests.get(id)?.attempts == 0 {
                    return None;
                }
                let result = match frames {
                    [_, delimiter, payload] if delimiter.is_empty() => Ok(payload.clone()),
                    _ => Err(RequestError::MalformedReply {
                        reason: "a pipelined reply must be [request-id, empty, payload]",
                    }),
                };
                Some((id, result))
            }
        }
    }

    /// Removes `id` from every structure that tracks it.
    fn remove(&mut self, id: RequestId) -> Option<Request> {
        let request = self.requests.remove(id)?;
        match request.phase() {
            Phase::Queued => {
                let live = self.requests.count(Phase::Queued);
                let requests = &self.requests;
                self.queue.compact(live, |id| requests.is_in(id, Phase::Queued));
            }
            Phase::Ready => {
                let live = self.requests.count(Phase::Ready);
                let requests = &self.requests;
                self.retries.compact(live, |id| requests.is_in(id, Phase::Ready));
            }
            Phase::InFlight if self.on_the_wire == Some(id) => self.on_the_wire = None,
            Phase::InFlight | Phase::BackingOff => {}
        }
        Some(request)
    }

    /// A waiting request's deadline came before it could be sent: it timed out, or, if
    /// it was waiting for a connection that the latest attempt failed to make, the
    /// server is unreachable.
    fn expire(&mut self, id: RequestId) {
        if let Some(request) = self.remove(id) {
            let attempts = request.attempts;
            let error = match self.link.last_connect_error() {
                Some(cause) => RequestError::Unreachable { attempts, cause: cause.clone() },
                None => RequestError::TimedOut { attempts },
            };
            self.complete(id, &request, Err(error));
        }
    }

    /// The attempt in flight for `id` failed: schedule a retry if tries remain, else
    /// complete with the failure.
    fn fail_attempt(&mut self, now: Instant, id: RequestId, failure: AttemptFailure) {
        let Some(request) = self.requests.get(id) else { return };
        if !request.tries_left() {
            let attempts = request.attempts;
            let error = match failure {
                AttemptFailure::TimedOut => RequestError::TimedOut { attempts },
                AttemptFailure::PeerLost => RequestError::PeerLost { attempts },
            };
            if let Some(request) = self.remove(id) {
                self.complete(id, &request, Err(error));
            }
            return;
        }
        if self.on_the_wire == Some(id) {
            self.on_the_wire = None;
        }
        let pause = request.options.backoff.delay(request.attempts, &mut self.rng);
        if pause.is_zero() {
            self.make_ready(now, id);
        } else {
            self.requests.transition(id, Phase::BackingOff, now + pause);
        }
    }

    /// Puts `id` in the retry queue, bounded by its timeout like any wait.
    fn make_ready(&mut self, now: Instant, id: RequestId) {
        let Some(request) = self.requests.get(id) else { return };
        let deadline = now + request.options.timeout;
        self.requests.transition(id, Phase::Ready, deadline);
        self.retries.push_back(id);
    }

    fn reset_socket(&mut self, reason: ConnectReason) {
        self.stats.resets += 1;
        self.link.reconnect(reason);
    }

    fn complete(&mut self, id: RequestId, request: &Request, result: Result<Bytes, RequestError>) {
        let (attempts, tag) = (request.attempts, request.tag);
        match &result {
            Ok(_) => self.stats.replied += 1,
            Err(RequestError::TimedOut { .. } | RequestError::Unreachable { .. }) => self.stats.timed_out += 1,
            Err(RequestError::Rejected { .. }) => self.stats.rejected += 1,
            Err(RequestError::Cancelled) => self.stats.cancelled += 1,
            Err(RequestError::Closed) => self.stats.closed += 1,
            Err(_) => self.stats.failed += 1,
        }
        self.completions.push_back(Completion { id, tag, attempts, result });
    }
}

/// Why an attempt on the wire failed.
#[derive(Debug, Clone, Copy)]
enum AttemptFailure {
    TimedOut,
    PeerLost,
}
