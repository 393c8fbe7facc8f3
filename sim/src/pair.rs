//! A core request client and a core reply server joined by an in-memory link, driven
//! as their docs say, on a virtual clock: the whole request channel, both ends, with
//! no socket in between.
//!
//! The link behaves like a DEALER talking to a ROUTER: each client transmission reaches
//! the server behind a peer identity frame, and each reply comes back without it.
//! Connecting succeeds at once; nothing is lost. The handler answers each request at
//! once with a function of it, or holds it (never answers) when that function says
//! `None`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{Client, ClientConfig, Completion, RequestId, RequestOptions, SocketAction, SubmitError};
use reqchan_core::server::{Framing, HandlerFailure, IncomingRequest, Server, ServerConfig};

use crate::client::origin;

/// What the handler does with a request: answer it (a reply or a failure), or hold it.
pub type PairHandler = Box<dyn FnMut(&IncomingRequest) -> Option<Result<Bytes, HandlerFailure>>>;

/// The identity the server sees the client's connection under.
const PEER: &[u8] = b"pair-peer";

/// A client and a server, joined. See the [module docs](self).
pub struct Pair {
    /// The request client.
    pub client: Client,
    /// The reply server (ROUTER framing).
    pub server: Server,
    now: Instant,
    handler: PairHandler,
    connected: bool,
    to_server: VecDeque<Vec<Bytes>>,
    to_client: VecDeque<Vec<Bytes>>,
    completions: Vec<Completion>,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair").field("now", &self.now).field("connected", &self.connected).finish_non_exhaustive()
    }
}

impl Pair {
    /// A pair whose server echoes every request's load.
    pub fn new(client: ClientConfig, server: ServerConfig) -> Self {
        Self::with_handler(client, server, Box::new(|request| Some(Ok(request.load_bytes()))))
    }

    /// A pair whose server answers with `handler`.
    pub fn with_handler(client: ClientConfig, server: ServerConfig, handler: PairHandler) -> Self {
        let mut pair = Self {
            client: Client::new(client).expect("a valid client config"),
            server: Server::new(Framing::Routed, server).expect("a valid server config"),
            now: origin(),
            handler,
            connected: false,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            completions: Vec::new(),
        };
        pair.run_until_idle();
        pair
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Submits a request (with the caller's `tag`) at the current time.
    pub fn submit(&mut self, payload: Bytes, options: RequestOptions, tag: u64) -> Result<RequestId, SubmitError> {
        self.client.submit_tagged(self.now, payload, options, tag)
    }

    /// Every completion so far, in order.
    pub fn completions(&self) -> &[Completion] {
        &self.completions
    }

    /// Moves every message across the link and drains both ends until nothing moves.
    pub fn run_until_idle(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the pair never settled: a livelock");
    }

    /// Lets `duration` pass: both ends handle their timeouts as they come due, and
    /// everything that moves meanwhile moves.
    pub fn advance(&mut self, duration: Duration) {
        let until = self.now + duration;
        loop {
            self.run_until_idle();
            let next = [self.client.poll_timeout().map(|t| t.at), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|at| *at <= until)
                .min();
            let Some(at) = next else { break };
            self.now = self.now.max(at);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
        self.now = until;
        self.run_until_idle();
    }

    /// One round: the client's outputs, then the server's, then one message each way.
    /// Returns whether anything happened.
    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(action) = self.client.poll_action() {
            moved = true;
            match action {
                SocketAction::Connect { .. } => {
                    // A new connection: whatever was in flight on the old one is gone.
                    self.to_server.clear();
                    self.to_client.clear();
                    self.connected = true;
                    self.client.handle_connected(self.now);
                }
                SocketAction::Close => self.connected = false,
                _ => {}
            }
        }
        while let Some(transmit) = self.client.poll_transmit(self.now) {
            moved = true;
            let mut frames = vec![Bytes::from_static(PEER)];
            frames.extend(transmit.into_frames());
            self.to_server.push_back(frames);
        }
        while let Some(done) = self.client.poll_completion() {
            moved = true;
            self.completions.push(done);
        }
        if let Some(frames) = self.to_server.pop_front() {
            moved = true;
            self.server.handle_message(self.now, frames);
        }
        while let Some(transmit) = self.server.poll_transmit() {
            moved = true;
            let mut frames = transmit.into_frames();
            // The ROUTER routes by the identity frame and strips it.
            if frames.first().is_some_and(|f| f.as_ref() == PEER) {
                frames.remove(0);
                self.to_client.push_back(frames);
            }
        }
        while let Some(request) = self.server.poll_request() {
            moved = true;
            if let Some(result) = (self.handler)(&request) {
                self.server.handle_result(self.now, request.token, result).expect("the request is pending");
            }
        }
        while self.server.poll_event().is_some() {}
        if let Some(frames) = self.to_client.pop_front() {
            moved = true;
            if self.connected {
                self.client.handle_reply(self.now, &frames);
            }
        }
        moved
    }
}
