//! A reply server on a virtual clock that records everything it outputs: the harness
//! the server's scenario tests drive by hand.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::server::{
    Framing, HandlerFailure, IncomingRequest, RequestToken, Server, ServerConfig, ServerEvent, Transmit, UnknownRequest,
};

use crate::client::origin;

/// A server, a virtual clock, and everything it has output so far.
pub struct ServerHarness {
    /// The server under test (ROUTER framing unless chosen).
    pub server: Server,
    /// The virtual time.
    pub now: Instant,
    /// Transmits drained so far.
    pub sent: Vec<Transmit>,
    /// Requests handed out to start a handler.
    pub started: Vec<IncomingRequest>,
    /// Events drained so far.
    pub events: Vec<ServerEvent>,
}

impl ServerHarness {
    /// A ROUTER-framed server with `config`.
    pub fn new(config: ServerConfig) -> Self {
        Self::with_framing(Framing::Routed, config)
    }

    /// A server with `framing` and `config`.
    pub fn with_framing(framing: Framing, config: ServerConfig) -> Self {
        Self {
            server: Server::new(framing, config).expect("a valid server config"),
            now: origin(),
            sent: Vec::new(),
            started: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Drains every output, in the documented order, into the records.
    pub fn drain(&mut self) {
        while let Some(t) = self.server.poll_transmit() {
            self.sent.push(t);
        }
        while let Some(r) = self.server.poll_request() {
            self.started.push(r);
        }
        while let Some(e) = self.server.poll_event() {
            self.events.push(e);
        }
    }

    /// The socket received `frames` now; then drains.
    pub fn recv(&mut self, frames: Vec<Bytes>) {
        self.server.handle_message(self.now, frames);
        self.drain();
    }

    /// A handler finished `token` with `result`; then drains.
    pub fn reply(&mut self, token: RequestToken, result: Result<Bytes, HandlerFailure>) -> Result<(), UnknownRequest> {
        let r = self.server.handle_result(self.now, token, result);
        self.drain();
        r
    }

    /// Moves the clock by `by` and handles what came due; then drains.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.server.handle_timeout(self.now);
        self.drain();
    }

    /// The requests started since the last call.
    pub fn take_started(&mut self) -> Vec<IncomingRequest> {
        std::mem::take(&mut self.started)
    }

    /// The frames sent since the last call.
    pub fn take_sent(&mut self) -> Vec<Vec<Bytes>> {
        std::mem::take(&mut self.sent).into_iter().map(Transmit::into_frames).collect()
    }
}
