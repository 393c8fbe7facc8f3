//! The reply server: Salt's request server (`ReqServerChannel`), as a sans-IO state
//! machine that answers every request exactly once.
//!
//! [`Server`] takes the messages a ROUTER or REP socket received, validates each with
//! the [codec](crate::codec), hands valid requests to the caller's handler, and turns
//! every result — reply, error, panic, timeout — into exactly one reply sent behind the
//! request's own envelope. It reads no clock and touches no socket.
//!
//! # Methods, in four groups
//! - **Inputs** — [`handle_message`](Server::handle_message) (frames from the socket),
//!   [`handle_result`](Server::handle_result) (a handler's result),
//!   [`handle_timeout`](Server::handle_timeout), [`shutdown`](Server::shutdown).
//! - **Outputs**, drained after every input in this order:
//!   1. [`poll_transmit`](Server::poll_transmit) until `None` — send each to the socket;
//!      one whose [`handler_to_abort`](Transmit::handler_to_abort) names a request
//!      answers in a running handler's stead (it timed out): abort that handler.
//!   2. [`poll_request`](Server::poll_request) until `None` — start a handler for each.
//!   3. [`poll_event`](Server::poll_event) until `None` — log them (at most 1,024 are
//!      kept; more are counted in [`ServerStats::events_dropped`]).
//!   4. [`poll_timeout`](Server::poll_timeout) — when to call `handle_timeout` next.
//! - **Getters** — [`may_receive`](Server::may_receive) (whether the driver may read
//!   the socket now), [`stats`](Server::stats), [`pending`](Server::pending),
//!   [`running`](Server::running), [`is_shutting_down`](Server::is_shutting_down),
//!   [`is_drained`](Server::is_drained), [`config`](Server::config).
//!
//! # What each input gets back
//! | received | reply | counted in |
//! |---|---|---|
//! | valid request, handler replies | the handler's bytes | `handler_replies` |
//! | handler error / panic / reply over `max_message_size` / running past `request_timeout` | [`HANDLER_EXCEPTION_REPLY`](crate::codec::HANDLER_EXCEPTION_REPLY) (Salt's `"Some exception handling minion payload"`) | `handler_errors`, `handler_panics`, `replies_too_large`, `timed_out_running` |
//! | not msgpack, not a map with `enc`/`load`, unsupported `enc`, `version` < 3 or missing, no delimiter, not exactly one payload frame, over `max_message_size` | [`BAD_LOAD_REPLY`](crate::codec::BAD_LOAD_REPLY) `{"msg": "bad load"}` | `rejected_malformed` |
//! | valid, but `max_concurrent` handlers run and `max_queued` wait | [`SERVER_BUSY_REPLY`](crate::codec::SERVER_BUSY_REPLY) `{"msg": "server busy"}` | `refused_queue_full` |
//! | valid, queued past `request_timeout` | `server busy` | `timed_out_queued` |
//! | well-framed, after [`shutdown`](Server::shutdown) (frames are checked first: a framing or size error is still `bad load`); queued when it began | `server busy` | `refused_shutting_down`, `refused_shutting_down_queued` |
//! | a ROUTER message with no frames at all | nothing: no peer to answer | `unroutable` |
//!
//! A ROUTER message without a delimiter still names its peer (the identity frame), so
//! it is answered `bad load` behind the identity alone. The typed reason of every
//! error reply is kept in a [`ServerEvent`].
//!
//! # Concurrency
//! At most `max_concurrent` handlers run; further valid requests wait in a FIFO queue of
//! `max_queued` and start as slots free up; beyond that they are refused with `server
//! busy` at once — never silence. Replies leave in the order handlers finish, so on a
//! ROUTER socket they may be out of order (each carries its own envelope). With
//! [`Framing::Bare`] (REP) the driver receives the next request only after sending the
//! reply, so one request is pending at a time.
//!
//! # Shutdown
//! [`shutdown(now, grace)`](Server::shutdown) answers queued requests `server busy`,
//! gives running handlers until `now + grace`, and answers every well-framed message
//! received after it `server busy` without decoding it (a framing or size error is
//! still answered `bad load`). [`is_drained`](Server::is_drained) turns true once every accepted
//! request has been answered and every transmit drained: then the driver flushes and
//! closes its socket.
//!
//! # Drive loop
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use reqchan_core::codec::{self, Crypt, Value};
//! use reqchan_core::server::{Framing, Server, ServerConfig};
//!
//! let mut server = Server::new(Framing::Routed, ServerConfig::default()).unwrap();
//! let mut now = Instant::now();
//! let payload = codec::encode_request(Crypt::Clear, &Value::from("hi")).unwrap();
//! // What a ROUTER socket receives from a REQ peer: identity, delimiter, payload.
//! let mut inbox = vec![vec![Bytes::from_static(b"peer-1"), Bytes::new(), payload]];
//! let mut sent = Vec::new();
//!
//! for _ in 0..10 {
//!     // Feed one input: a message from the socket, or the timer.
//!     if let Some(frames) = inbox.pop() {
//!         server.handle_message(now, frames);
//!     } else if let Some(deadline) = server.poll_timeout() {
//!         now = now.max(deadline);
//!         server.handle_timeout(now);
//!     }
//!     // Then drain, in order.
//!     while let Some(transmit) = server.poll_transmit() {
//!         sent.push(transmit.into_frames());
//!     }
//!     while let Some(request) = server.poll_request() {
//!         // An echo handler, run inline here; a real driver spawns it and calls
//!         // `handle_result` when it finishes.
//!         let reply = request.load_bytes();
//!         server.handle_result(now, request.token, Ok(reply)).unwrap();
//!         while let Some(transmit) = server.poll_transmit() {
//!             sent.push(transmit.into_frames());
//!         }
//!     }
//!     while let Some(event) = server.poll_event() {
//!         eprintln!("{event}");
//!     }
//!     now += Duration::from_millis(1);
//! }
//! assert_eq!(sent, vec![vec![Bytes::from_static(b"peer-1"), Bytes::new(), Bytes::from_static(b"\xa2hi")]]);
//! ```

mod config;
mod error;
mod event;
mod frames;
mod id;
mod output;
mod queue;
mod request;
mod requests;
mod stats;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use config::{ConfigError, Framing, ServerConfig};
pub use error::{HandlerFailure, UnknownRequest};
pub use event::{RejectReason, ServerEvent};
pub use id::RequestToken;
pub use output::{ReplyKind, Transmit};
pub use request::IncomingRequest;
pub use stats::ServerStats;

use crate::time::Monotonic;
use frames::Split;
use queue::WaitQueue;
use requests::{Entry, Phase, Requests};

/// Events kept for [`Server::poll_event`] before further ones are only counted.
const MAX_EVENTS: usize = 1024;

/// The reply server state machine. See the [module docs](self) for the drive loop.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    requests: Requests,
    waiting: WaitQueue,
    /// The socket's kind, as the server sees it.
    framing: Framing,
    /// Requests started, not yet handed out by `poll_request`.
    started: VecDeque<IncomingRequest>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ServerEvent>,
    next_token: u64,
    shutting_down: bool,
    /// Time never runs backwards inside the server.
    clock: Monotonic,
    stats: ServerStats,
}

impl Server {
    /// A server for a socket that presents messages with `framing` (ROUTER: routed,
    /// REP: bare), within `config`'s limits.
    pub fn new(framing: Framing, config: ServerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            framing,
            config,
            requests: Requests::default(),
            waiting: WaitQueue::default(),
            started: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_token: 0,
            shutting_down: false,
            clock: Monotonic::default(),
            stats: ServerStats::default(),
        })
    }

    // ----- inputs -----

    /// A message received from the socket: `[identity, envelope..., empty, payload]`
    /// for [`Framing::Routed`], `[payload]` for [`Framing::Bare`].
    ///
    /// Produces either an error reply at once ([`poll_transmit`](Self::poll_transmit)),
    /// or an accepted request, started ([`poll_request`](Self::poll_request)) or queued.
    pub fn handle_message(&mut self, now: Instant, frames: Vec<Bytes>) {
        let now = self.observe(now);
        self.stats.received += 1;
        let (envelope, payload) = match frames::split(self.framing, frames, self.config.max_message_size) {
            Split::Ok { envelope, payload } => (envelope, payload),
            Split::Reject { envelope, reason } => return self.reject(envelope, reason),
            Split::Unroutable => {
                self.stats.unroutable += 1;
                return self.event(ServerEvent::Unroutable);
            }
        };
        if self.shutting_down {
            return self.reject(envelope, RejectReason::ShuttingDown);
        }
        let token = RequestToken(self.next_token);
        let request = match IncomingRequest::new(token, payload) {
            Ok(request) => request,
            Err(e) => return self.reject(envelope, RejectReason::Envelope(e)),
        };
        let deadline = now + self.config.request_timeout;
        if self.requests.running() < self.max_concurrent() {
            self.accept(token);
            self.requests.insert(token, Entry { envelope, deadline, phase: Phase::Running });
            self.stats.started += 1;
            self.started.push_back(request);
        } else if self.waiting.live() < self.config.max_queued {
            self.accept(token);
            self.stats.queued += 1;
            self.requests.insert(token, Entry { envelope, deadline, phase: Phase::Queued(request) });
            self.waiting.push(token);
        } else {
            self.reject(envelope, RejectReason::QueueFull);
        }
    }

    /// A handler's result for `token`: `Ok(reply)` with the reply's msgpack bytes (see
    /// [`codec::encode_reply`](crate::codec::encode_reply)), or how it failed.
    ///
    /// Produces the request's one reply and may start a queued request. Returns
    /// [`UnknownRequest`] (and changes nothing but `late_handler_results`) when the
    /// request was already answered, e.g. because it timed out.
    pub fn handle_result(
        &mut self,
        now: Instant,
        token: RequestToken,
        result: Result<Bytes, HandlerFailure>,
    ) -> Result<(), UnknownRequest> {
        self.observe(now);
        if !self.requests.is_running(token) {
            self.stats.late_handler_results += 1;
            return Err(UnknownRequest(token));
        }
        let entry = self.requests.remove(token).ok_or(UnknownRequest(token))?;
        let (kind, body) = match result {
            Ok(reply) if reply.len() <= self.config.max_message_size => {
                self.stats.handler_replies += 1;
                (ReplyKind::Handler, reply)
            }
            Ok(reply) => {
                self.stats.replies_too_large += 1;
                self.event(ServerEvent::ReplyTooLarge { token, size: reply.len() });
                (ReplyKind::HandlerException, ReplyKind::HandlerException.body())
            }
            Err(failure) => {
                match failure {
                    HandlerFailure::Panicked(_) => self.stats.handler_panics += 1,
                    _ => self.stats.handler_errors += 1,
                }
                self.event(ServerEvent::HandlerFailed { token, failure });
                (ReplyKind::HandlerException, ReplyKind::HandlerException.body())
            }
        };
        self.transmit(Some(token), kind, entry.envelope, body);
        self.start_waiting();
        Ok(())
    }

    /// Answers every request whose `request_timeout` has passed. Does nothing when
    /// nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.observe(now);
        while let Some((token, entry)) = self.requests.pop_expired(now) {
            match entry.phase {
                Phase::Running => {
                    self.stats.timed_out_running += 1;
                    self.event(ServerEvent::TimedOut { token, started: true });
                    // The handler is still running: the reply goes in its stead, and
                    // the driver must abort it.
                    let body = ReplyKind::HandlerException.body();
                    let transmit = Transmit::new(Some(token), ReplyKind::HandlerException, entry.envelope, body);
                    self.push_transmit(transmit.aborting_handler());
                }
                Phase::Queued(_) => {
                    self.waiting.left();
                    self.stats.timed_out_queued += 1;
                    self.event(ServerEvent::TimedOut { token, started: false });
                    self.transmit(Some(token), ReplyKind::Busy, entry.envelope, ReplyKind::Busy.body());
                }
            }
        }
        self.start_waiting();
    }

    /// Begins a graceful shutdown: queued requests are answered `server busy` now,
    /// running handlers have until `now + grace` (then they get the handler-exception
    /// reply), and every later message is answered `server busy`. Calling it again can
    /// only shorten the grace.
    pub fn shutdown(&mut self, now: Instant, grace: Duration) {
        let now = self.observe(now);
        self.shutting_down = true;
        while let Some(token) = self.waiting.pop() {
            if let Some(entry) = self.requests.remove(token) {
                self.stats.refused_shutting_down_queued += 1;
                self.event(ServerEvent::Rejected { reason: RejectReason::ShuttingDown });
                self.transmit(Some(token), ReplyKind::Busy, entry.envelope, ReplyKind::Busy.body());
            }
        }
        self.waiting.clear();
        let deadline = now.checked_add(grace).unwrap_or(now + self.config.request_timeout);
        for token in self.requests.running_tokens() {
            self.requests.cap_deadline(token, deadline);
        }
    }

    // ----- outputs -----

    /// The next message to send on the socket.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next request to start a handler for.
    pub fn poll_request(&mut self) -> Option<IncomingRequest> {
        while let Some(request) = self.started.pop_front() {
            // A request can time out before it is handed out; skip it then.
            if self.requests.is_running(request.token) {
                return Some(request);
            }
        }
        None
    }

    /// The next event to log.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the earliest
    /// request deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.requests.next_deadline()
    }

    // ----- getters -----

    /// Counters since creation.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Whether the driver may receive the next message now. Always with
    /// [`Framing::Routed`] (after [`shutdown`](Self::shutdown) too: newcomers get `server
    /// busy`). With [`Framing::Bare`] (REP, lockstep) only when no request is pending
    /// and no reply waits to be sent, and never after shutdown. A driver that receives
    /// only when this says so keeps REP's rules without knowing them.
    pub fn may_receive(&self) -> bool {
        match self.framing {
            Framing::Routed => true,
            Framing::Bare => !self.shutting_down && self.requests.len() == 0 && self.transmits.is_empty(),
        }
    }

    /// The socket's framing, given to [`new`](Self::new).
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Accepted requests not yet answered (queued or running).
    pub fn pending(&self) -> usize {
        self.requests.len()
    }

    /// Requests whose handler is running.
    pub fn running(&self) -> usize {
        self.requests.running()
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Whether shutdown has finished: every accepted request answered and every
    /// transmit drained. The driver may then flush and close its socket.
    pub fn is_drained(&self) -> bool {
        self.shutting_down && self.requests.len() == 0 && self.transmits.is_empty()
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    // ----- internals -----

    fn observe(&mut self, now: Instant) -> Instant {
        self.clock.observe(now)
    }

    fn max_concurrent(&self) -> usize {
        match self.framing {
            Framing::Routed => self.config.max_concurrent,
            Framing::Bare => 1,
        }
    }

    fn accept(&mut self, token: RequestToken) {
        self.next_token += 1;
        debug_assert_eq!(token.0 + 1, self.next_token);
        self.stats.accepted += 1;
    }

    fn start_waiting(&mut self) {
        while self.requests.running() < self.max_concurrent() {
            let Some(token) = self.waiting.pop() else { break };
            if let Some(request) = self.requests.start(token) {
                self.waiting.left();
                self.stats.started += 1;
                self.started.push_back(request);
            }
        }
    }

    fn reject(&mut self, envelope: Vec<Bytes>, reason: RejectReason) {
        match reason {
            RejectReason::QueueFull => self.stats.refused_queue_full += 1,
            RejectReason::ShuttingDown => self.stats.refused_shutting_down += 1,
            RejectReason::TooLarge { .. } => {
                self.stats.rejected_malformed += 1;
                self.stats.rejected_too_large += 1;
            }
            _ => self.stats.rejected_malformed += 1,
        }
        let kind = reason.reply();
        self.event(ServerEvent::Rejected { reason });
        self.transmit(None, kind, envelope, kind.body());
    }

    fn transmit(&mut self, token: Option<RequestToken>, kind: ReplyKind, envelope: Vec<Bytes>, body: Bytes) {
        self.push_transmit(Transmit::new(token, kind, envelope, body));
    }

    fn push_transmit(&mut self, transmit: Transmit) {
        self.stats.replies_sent += 1;
        self.transmits.push_back(transmit);
    }

    fn event(&mut self, event: ServerEvent) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(event);
        } else {
            self.stats.events_dropped += 1;
        }
    }
}
