//! The server side of the wire: one ROUTER (or REP) socket over many connections, as a
//! state machine. The driver accepts streams and feeds their bytes in; the router
//! gives each connection a routing id, puts it in front of every message it delivers,
//! and sends each reply to the connection its first frame names.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Instant;

use bytes::Bytes;

use super::connection::{Connection, WireConfig, WireEvent};
use super::error::WireError;

/// One connection of a [`Router`], named by the router. Its routing id (the frame in
/// front of its messages) is [`PeerId::routing_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(u32);

impl PeerId {
    /// The routing id frame: five octets, a zero then the id (the shape libzmq gives
    /// its generated routing ids).
    pub fn routing_id(self) -> Bytes {
        let [a, b, c, d] = self.0.to_be_bytes();
        Bytes::copy_from_slice(&[0, a, b, c, d])
    }

    /// The peer a routing id frame names, if it is one of ours in shape.
    pub fn from_routing_id(frame: &[u8]) -> Option<Self> {
        match frame {
            [0, a, b, c, d] => Some(Self(u32::from_be_bytes([*a, *b, *c, *d]))),
            _ => None,
        }
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// How a [`Router`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterConfig {
    /// Every connection's settings (its `socket_type` is ours: ROUTER or REP).
    pub wire: WireConfig,
    /// Connections at once; more are refused at [`Router::accept`]. Default: 10,000.
    pub max_peers: usize,
    /// Bytes queued for one peer and not yet written (in the router or in the driver's
    /// hands). A message that would go beyond
    /// ends that peer's connection (what was queued for it is dropped): a peer that
    /// stops reading cannot grow our memory. Default: 16 MiB, and always room for one
    /// message of `wire.max_message_size`.
    pub max_output: usize,
}

impl RouterConfig {
    /// The defaults around `wire`.
    pub fn new(wire: WireConfig) -> Self {
        Self { wire, max_peers: 10_000, max_output: 16 << 20 }
    }
}

/// What the router tells its driver, from [`Router::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterEvent {
    /// A message from a peer: its routing id, then its frames.
    Message(Vec<Bytes>),
    /// A peer completed its handshake.
    PeerReady(PeerId),
    /// A peer's connection ended, with why; its stream is closed once
    /// [`Router::poll_close`] names it.
    PeerClosed {
        /// The peer.
        peer: PeerId,
        /// Why (a protocol violation, a timeout, the stream ending, ...).
        error: WireError,
    },
}

/// Why [`Router::send`] did not queue a message. The message is dropped, as a libzmq
/// ROUTER drops what it cannot route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// No frames, or a first frame that is no routing id of ours.
    NoRoute,
    /// The peer it names is gone (or still in its handshake).
    PeerGone(PeerId),
    /// The peer stopped reading and its output passed the bound: its connection was
    /// ended.
    PeerFull(PeerId),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRoute => f.write_str("the message names no peer"),
            Self::PeerGone(peer) => write!(f, "{peer} is gone"),
            Self::PeerFull(peer) => write!(f, "{peer} stopped reading: its connection was ended"),
        }
    }
}

impl std::error::Error for RouteError {}

/// Why [`Router::accept`] refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptError {
    /// `max_peers` connections are open.
    TooManyPeers {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyPeers { limit } => write!(f, "{limit} connections open already"),
        }
    }
}

impl std::error::Error for AcceptError {}

/// Counters since the router was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RouterStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused at `accept` (too many).
    pub refused: u64,
    /// Connections that completed the handshake.
    pub handshakes: u64,
    /// Connections ended by a protocol violation or a limit (see
    /// [`WireError::is_violation`]).
    pub violations: u64,
    /// Connections ended because the handshake did not complete in time.
    pub handshake_timeouts: u64,
    /// Connections ended by heartbeat silence.
    pub heartbeat_timeouts: u64,
    /// Connections ended because the peer stopped reading (output over the bound).
    pub not_reading: u64,
    /// Messages delivered.
    pub messages_received: u64,
    /// Messages queued for peers.
    pub messages_sent: u64,
    /// Messages dropped: no such peer, or the peer's output was full.
    pub unroutable: u64,
}

#[derive(Debug)]
struct Peer {
    conn: Connection,
    /// The deadline it is filed under in the timer index.
    deadline: Option<Instant>,
    /// Bytes of ours the driver holds and has not finished writing (0: none).
    in_driver: usize,
    /// Listed in `dirty`.
    dirty: bool,
    /// Ended: close its stream once its output is written.
    closing: bool,
    /// Ended without writing what was queued: close its stream at once.
    aborted: bool,
    /// Its routing id frame, made once (each message gets a reference to it).
    routing_id: Bytes,
}

/// Many ZMTP connections behind one ROUTER or REP socket. Bytes in, events out; bytes
/// to write (per peer) drained by [`poll_transmit`](Self::poll_transmit); `now` passed
/// in. No socket, no clock.
///
/// # Drive loop
/// - a stream accepted: [`accept`](Self::accept) (refused: close the stream);
/// - bytes read from a peer's stream: [`handle_input`](Self::handle_input); the stream
///   ended or failed: [`handle_stream_closed`](Self::handle_stream_closed);
/// - a buffer from `poll_transmit` fully written: [`handle_written`](Self::handle_written);
/// - the deadline from [`poll_timeout`](Self::poll_timeout) reached:
///   [`handle_timeout`](Self::handle_timeout);
/// - after each: drain [`poll_event`](Self::poll_event), then `poll_transmit` (at most
///   one buffer in the driver per peer), then [`poll_close`](Self::poll_close).
///
/// Replies go in with [`send`](Self::send), routing id first.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    peers: BTreeMap<PeerId, Peer>,
    next_id: u32,
    timers: BTreeSet<(Instant, PeerId)>,
    events: VecDeque<RouterEvent>,
    dirty: VecDeque<PeerId>,
    to_close: VecDeque<PeerId>,
    stats: RouterStats,
}

impl Router {
    /// A router with no peers.
    pub fn new(config: RouterConfig) -> Self {
        Self {
            config,
            peers: BTreeMap::new(),
            next_id: 1,
            timers: BTreeSet::new(),
            events: VecDeque::new(),
            dirty: VecDeque::new(),
            to_close: VecDeque::new(),
            stats: RouterStats::default(),
        }
    }

    // ----- inputs -----

    /// A stream was accepted: returns the peer it is from now on. Our greeting and
    /// READY are queued for it at once.
    pub fn accept(&mut self, now: Instant) -> Result<PeerId, AcceptError> {
        if self.peers.len() >= self.config.max_peers {
            self.stats.refused += 1;
            return Err(AcceptError::TooManyPeers { limit: self.config.max_peers });
        }
        let mut id = PeerId(self.next_id);
        while self.peers.contains_key(&id) {
            id = PeerId(id.0.wrapping_add(1));
        }
        self.next_id = id.0.wrapping_add(1);
        let conn = Connection::new(now, self.config.wire.clone());
        self.peers.insert(
            id,
            Peer {
                conn,
                deadline: None,
                in_driver: 0,
                dirty: false,
                closing: false,
                aborted: false,
                routing_id: id.routing_id(),
            },
        );
        self.stats.accepted += 1;
        self.after(id);
        Ok(id)
    }

    /// Bytes read from `peer`'s stream. Ignored for a peer that is gone.
    pub fn handle_input(&mut self, now: Instant, peer: PeerId, bytes: &[u8]) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        p.conn.handle_input(now, bytes);
        self.after(peer);
    }

    /// `peer`'s stream ended or failed (the driver has closed it): the peer is gone,
    /// and whatever was queued for it is dropped.
    pub fn handle_stream_closed(&mut self, peer: PeerId) {
        let Some(p) = self.remove(peer) else { return };
        if !p.closing {
            self.events.push_back(RouterEvent::PeerClosed { peer, error: WireError::Disconnected });
        }
    }

    /// The driver finished writing the buffer `poll_transmit` gave it for `peer`.
    pub fn handle_written(&mut self, peer: PeerId) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        p.in_driver = 0;
        self.after(peer);
    }

    /// Fires what is due at `now` on every connection: handshake timeouts, heartbeat
    /// PINGs, peers lost to silence.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, peer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(p) = self.peers.get_mut(&peer) else { continue };
            p.deadline = None;
            p.conn.handle_timeout(now);
            self.after(peer);
        }
    }

    /// Queues a message for the peer its first frame names (that frame is not sent).
    /// On error the message is dropped and counted; nothing else changes.
    pub fn send(&mut self, frames: &[Bytes]) -> Result<(), RouteError> {
        let result = self.route(frames);
        match result {
            Ok(peer) => {
                self.stats.messages_sent += 1;
                self.after(peer);
                Ok(())
            }
            Err(error) => {
                self.stats.unroutable += 1;
                Err(error)
            }
        }
    }

    /// Ends every connection once what is queued for it is written (shutdown with
    /// linger). New connections are still accepted unless the driver stops accepting.
    pub fn close_all(&mut self) {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in ids {
            if let Some(p) = self.peers.get_mut(&peer)
                && !p.closing
            {
                p.conn.close();
                self.after(peer);
            }
        }
    }

    // ----- outputs -----

    /// The next event.
    pub fn poll_event(&mut self) -> Option<RouterEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to a peer's stream (everything queued for it, in one buffer).
    /// A peer gets nothing more until [`handle_written`](Self::handle_written).
    pub fn poll_transmit(&mut self) -> Option<(PeerId, Bytes)> {
        while let Some(peer) = self.dirty.pop_front() {
            let Some(p) = self.peers.get_mut(&peer) else { continue };
            p.dirty = false;
            if p.in_driver > 0 {
                continue;
            }
            if let Some(bytes) = p.conn.poll_transmit() {
                p.in_driver = bytes.len();
                return Some((peer, bytes));
            }
        }
        None
    }

    /// A peer whose stream the driver must now close (its connection ended and what
    /// was queued for it is written). The peer is gone from the router.
    pub fn poll_close(&mut self) -> Option<PeerId> {
        while let Some(peer) = self.to_close.pop_front() {
            if self.remove(peer).is_some() {
                return Some(peer);
            }
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    // ----- getters -----

    /// Connections open (in the handshake, ready, or closing).
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    /// Whether `peer` is connected and has completed its handshake.
    pub fn is_ready(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.conn.is_ready())
    }

    /// Bytes queued for `peer` and not yet handed out by `poll_transmit`.
    pub fn pending_output(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.conn.pending_output())
    }

    /// Bytes received from `peer` and not yet parsed (bounded by one frame).
    pub fn buffered_input(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.conn.buffered_input())
    }

    /// Counters since creation.
    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    // ----- internals -----

    fn route(&mut self, frames: &[Bytes]) -> Result<PeerId, RouteError> {
        let [routing_id, message @ ..] = frames else { return Err(RouteError::NoRoute) };
        if message.is_empty() {
            return Err(RouteError::NoRoute);
        }
        let peer = PeerId::from_routing_id(routing_id).ok_or(RouteError::NoRoute)?;
        let p = self.peers.get_mut(&peer).ok_or(RouteError::PeerGone(peer))?;
        if p.closing || !p.conn.is_ready() {
            return Err(RouteError::PeerGone(peer));
        }
        let size: usize = message.iter().map(Bytes::len).sum();
        let room = self.config.max_output.max(self.config.wire.max_message_size);
        // What the driver is still writing counts: a peer that stopped reading holds it.
        if p.conn.pending_output().saturating_add(p.in_driver).saturating_add(size) > room {
            p.conn.abort(WireError::NotReading { limit: room });
            p.aborted = true;
            self.after(peer);
            return Err(RouteError::PeerFull(peer));
        }
        p.conn.send(message).map_err(|_| RouteError::PeerGone(peer))?;
        Ok(peer)
    }

    /// After anything touched `peer`: collect its events, list its output, file its
    /// deadline, and schedule its close.
    fn after(&mut self, peer: PeerId) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        while let Some(event) = p.conn.poll_event() {
            match event {
                WireEvent::Message(mut frames) => {
                    self.stats.messages_received += 1;
                    frames.insert(0, p.routing_id.clone());
                    self.events.push_back(RouterEvent::Message(frames));
                }
                WireEvent::Ready { .. } => {
                    self.stats.handshakes += 1;
                    self.events.push_back(RouterEvent::PeerReady(peer));
                }
                WireEvent::Closed(error) => {
                    p.closing = true;
                    match &error {
                        WireError::HandshakeTimeout => self.stats.handshake_timeouts += 1,
                        WireError::HeartbeatTimeout => self.stats.heartbeat_timeouts += 1,
                        WireError::NotReading { .. } => self.stats.not_reading += 1,
                        e if e.is_violation() => self.stats.violations += 1,
                        _ => {}
                    }
                    self.events.push_back(RouterEvent::PeerClosed { peer, error });
                }
            }
        }
        if p.conn.pending_output() > 0 && !p.dirty && p.in_driver == 0 {
            p.dirty = true;
            self.dirty.push_back(peer);
        }
        let deadline = p.conn.poll_timeout();
        if deadline != p.deadline {
            if let Some(old) = p.deadline {
                self.timers.remove(&(old, peer));
            }
            if let Some(new) = deadline {
                self.timers.insert((new, peer));
            }
            p.deadline = deadline;
        }
        if p.closing && (p.aborted || (p.in_driver == 0 && p.conn.pending_output() == 0)) {
            self.to_close.push_back(peer);
        }
    }

    fn remove(&mut self, peer: PeerId) -> Option<Peer> {
        let p = self.peers.remove(&peer)?;
        if let Some(at) = p.deadline {
            self.timers.remove(&(at, peer));
        }
        Some(p)
    }
}
