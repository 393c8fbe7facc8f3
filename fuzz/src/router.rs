//! `wire_router`: the server side of the wire (`Router`) driven by an arbitrary mix of
//! well-behaved clients (our own DEALER `Connection`s), hostile bytes, replies to any
//! routing id, writes that finish or not, streams that end, and time, beside a small
//! model.
//!
//! Checked after every operation: never a panic; never more peers than `max_peers`;
//! each peer buffers at most a greeting and one frame of input, and at most
//! `max_output` of output (what the driver holds included); every message a
//! well-behaved client sends after its handshake reaches the router once, in order,
//! behind that client's routing id, until the client's connection ends; a reply
//! routed to a live, ready, reading peer is queued, and one to anyone else is refused
//! and counted; a peer handed to `poll_close` never produces anything again; and
//! `handle_timeout(now)` leaves nothing due at `now`.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use reqchan_core::wire::{
    Connection, Heartbeat, PeerId, RouteError, Router, RouterConfig, RouterEvent, SocketType, WireConfig,
};

/// Operations beyond this many are ignored, to keep one input fast.
const MAX_OPS: usize = 300;

#[derive(Debug, Arbitrary)]
struct Scenario {
    max_peers: u8,
    max_message_size: u16,
    max_output: u16,
    heartbeat_ms: Option<u8>,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// A well-behaved DEALER connects.
    Connect,
    /// Raw bytes connect and arrive (a hostile or broken peer).
    ConnectRaw(Vec<u8>),
    /// Raw bytes arrive from peer `n`.
    Bytes(u8, Vec<u8>),
    /// Client `n` sends a message.
    Send(u8, Vec<Vec<u8>>),
    /// What client `n` queued reaches the router, in pieces of this size.
    Deliver(u8, u8),
    /// A reply to peer `n`.
    Reply(u8, Vec<Vec<u8>>),
    /// A reply whose first frame is anything at all.
    ReplyRaw(Vec<Vec<u8>>),
    /// The driver finishes writing to peer `n`, and the client reads it.
    Written(u8),
    /// Peer `n`'s stream ends.
    StreamClosed(u8),
    /// Time passes; timers fire.
    Advance(u16),
    /// Shutdown: close every connection after its output.
    CloseAll,
}

/// One peer as the driver and the model see it.
struct Peer {
    id: PeerId,
    /// Our well-behaved client behind it, if it is one.
    client: Option<Connection>,
    /// Messages the client sent after its handshake, not yet delivered.
    expected: VecDeque<Vec<Bytes>>,
    /// A buffer the router handed out, not yet written.
    writing: Option<Bytes>,
    /// The router reported it ended.
    ended: bool,
}

struct Harness {
    router: Router,
    config: RouterConfig,
    now: Instant,
    peers: Vec<Peer>,
    closed: BTreeSet<PeerId>,
}

/// Runs one fuzz input; panics on a violation.
pub fn run(data: &[u8]) {
    let Ok(scenario) = Scenario::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let mut wire = WireConfig::new(SocketType::Router);
    wire.max_message_size = 1 + usize::from(scenario.max_message_size % 2048);
    wire.handshake_timeout = Duration::from_millis(500);
    wire.heartbeat = scenario.heartbeat_ms.map(|ms| Heartbeat::every(Duration::from_millis(1 + u64::from(ms))));
    let mut config = RouterConfig::new(wire);
    config.max_peers = 1 + usize::from(scenario.max_peers % 8);
    config.max_output = usize::from(scenario.max_output);
    #[allow(clippy::disallowed_methods)] // the one clock reading: a fixed origin
    let now = Instant::now();
    let mut harness =
        Harness { router: Router::new(config.clone()), config, now, peers: Vec::new(), closed: BTreeSet::new() };
    for op in scenario.ops.into_iter().take(MAX_OPS) {
        harness.apply(op);
        harness.drain();
        harness.check();
    }
    harness.finish();
}

fn frames(parts: &[Vec<u8>]) -> Vec<Bytes> {
    parts.iter().take(8).map(|p| Bytes::copy_from_slice(&p[..p.len().min(64)])).collect()
}

impl Harness {
    /// Which peer `n` names (any n names one, while there are peers).
    fn index(&self, n: u8) -> Option<usize> {
        let len = self.peers.len();
        (len > 0).then(|| usize::from(n) % len)
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Connect | Op::ConnectRaw(_) => {
                let full = self.router.peers() >= self.config.max_peers;
                match self.router.accept(self.now) {
                    Ok(id) => {
                        assert!(!full, "accepted beyond max_peers");
                        let client = match &op {
                            Op::Connect => Some(Connection::new(self.now, WireConfig::new(SocketType::Dealer))),
                            _ => None,
                        };
                        self.peers.push(Peer { id, client, expected: VecDeque::new(), writing: None, ended: false });
                        if let Op::ConnectRaw(bytes) = op {
                            self.router.handle_input(self.now, id, &bytes);
                        }
                    }
                    Err(_) => assert!(full, "refused with room"),
                }
            }
            Op::Bytes(n, bytes) => {
                let now = self.now;
                if let Some(i) = self.index(n) {
                    let peer = &mut self.peers[i];
                    // Hostile bytes into a well-behaved client's stream break its
                    // framing: it is no longer one whose messages are expected.
                    peer.client = None;
                    peer.expected.clear();
                    let id = peer.id;
                    self.router.handle_input(now, id, &bytes);
                }
            }
            Op::Send(n, parts) => {
                let frames = frames(&parts);
                if let Some(i) = self.index(n)
                    && let peer = &mut self.peers[i]
                    && let Some(client) = &mut peer.client
                    && !frames.is_empty()
                    && client.send(&frames).is_ok()
                {
                    peer.expected.push_back(frames);
                }
            }
            Op::Deliver(n, piece) => {
                let now = self.now;
                let piece = 1 + usize::from(piece);
                if let Some(i) = self.index(n)
                    && let peer = &mut self.peers[i]
                    && let Some(client) = &mut peer.client
                {
                    let id = peer.id;
                    while let Some(bytes) = client.poll_transmit() {
                        for chunk in bytes.chunks(piece) {
                            self.router.handle_input(now, id, chunk);
                        }
                    }
                }
            }
            Op::Reply(n, parts) => {
                let Some(i) = self.index(n) else { return };
                let id = self.peers[i].id;
                let mut message = vec![id.routing_id()];
                message.extend(frames(&parts));
                let ready = self.router.is_ready(id);
                match self.router.send(&message) {
                    Ok(()) => assert!(ready && message.len() > 1, "a reply queued for {id}, not ready"),
                    Err(RouteError::NoRoute) => assert_eq!(message.len(), 1),
                    Err(RouteError::PeerGone(_)) => assert!(!ready || message.len() == 1),
                    Err(RouteError::PeerFull(_)) => {}
                    Err(other) => panic!("unknown route error {other:?}"),
                }
            }
            Op::ReplyRaw(parts) => {
                let _ = self.router.send(&frames(&parts));
            }
            Op::Written(n) => {
                let now = self.now;
                if let Some(i) = self.index(n)
                    && let peer = &mut self.peers[i]
                    && let Some(bytes) = peer.writing.take()
                {
                    if let Some(client) = &mut peer.client {
                        client.handle_input(now, &bytes);
                        while client.poll_event().is_some() {}
                    }
                    let id = peer.id;
                    self.router.handle_written(id);
                }
            }
            Op::StreamClosed(n) => {
                if let Some(i) = self.index(n) {
                    let peer = &mut self.peers[i];
                    let id = peer.id;
                    peer.client = None;
                    peer.expected.clear();
                    self.router.handle_stream_closed(id);
                    self.closed.insert(id);
                }
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(ms % 2000));
                self.router.handle_timeout(self.now);
                if let Some(at) = self.router.poll_timeout() {
                    assert!(at > self.now, "handle_timeout left a deadline due");
                }
            }
            Op::CloseAll => self.router.close_all(),
        }
    }

    /// Drains the router like a driver and checks each output against the model.
    fn drain(&mut self) {
        while let Some(event) = self.router.poll_event() {
            match event {
                RouterEvent::Message(message) => {
                    let id = PeerId::from_routing_id(&message[0]).expect("a routing id of ours first");
                    assert!(!self.closed.contains(&id), "a message from closed {id}");
                    let peer = self.peers.iter_mut().find(|p| p.id == id).expect("a known peer");
                    if peer.client.is_some() {
                        let expected = peer.expected.pop_front().expect("a message nobody sent");
                        assert_eq!(message[1..], expected[..], "a message changed on the way");
                    }
                }
                RouterEvent::PeerClosed { peer, .. } => {
                    let p = self.peers.iter_mut().find(|p| p.id == peer).expect("a known peer");
                    assert!(!p.ended, "{peer} ended twice");
                    p.ended = true;
                    // What a client sent after the end is never delivered.
                    p.client = None;
                    p.expected.clear();
                }
                RouterEvent::PeerReady(_) => {}
                other => panic!("unknown event {other:?}"),
            }
        }
        while let Some((id, bytes)) = self.router.poll_transmit() {
            assert!(!self.closed.contains(&id), "output for closed {id}");
            let peer = self.peers.iter_mut().find(|p| p.id == id).expect("a known peer");
            assert!(peer.writing.is_none(), "a second buffer for {id} before the first was written");
            peer.writing = Some(bytes);
        }
        while let Some(id) = self.router.poll_close() {
            assert!(self.closed.insert(id), "{id} closed twice");
            let peer = self.peers.iter_mut().find(|p| p.id == id).expect("a known peer");
            peer.client = None;
            peer.expected.clear();
            peer.writing = None;
        }
        self.peers.retain(|p| !self.closed.contains(&p.id));
    }

    fn check(&self) {
        assert!(self.router.peers() <= self.config.max_peers);
        let frame = self.config.wire.max_message_size.max(16 << 10);
        let room = self.config.max_output.max(self.config.wire.max_message_size);
        for peer in &self.peers {
            assert!(self.router.buffered_input(peer.id) <= 64 + 9 + frame, "{}: input beyond a frame", peer.id);
            let held = peer.writing.as_ref().map_or(0, Bytes::len);
            // Our greeting and READY, and the PINGs, PONGs and ERROR of the protocol,
            // are not replies and are bounded by time, not by `max_output`: allow a
            // generous amount on top.
            let protocol = 64 << 10;
            assert!(
                self.router.pending_output(peer.id) + held <= room + protocol,
                "{}: {} bytes of output beyond the bound {room}",
                peer.id,
                self.router.pending_output(peer.id) + held
            );
        }
    }

    /// At the end: everything each well-behaved client sent reaches the router, unless
    /// its connection ended.
    fn finish(&mut self) {
        // By id: a drain may drop closed peers from the list.
        let ids: Vec<PeerId> = self.peers.iter().map(|p| p.id).collect();
        for id in ids {
            if let Some(i) = self.peers.iter().position(|p| p.id == id) {
                self.apply(Op::Deliver(i as u8, u8::MAX));
                self.drain();
            }
        }
        for peer in &self.peers {
            if peer.client.is_some() && !peer.ended {
                assert!(peer.expected.is_empty(), "{}: sent, never delivered: {:?}", peer.id, peer.expected);
            }
        }
    }
}
