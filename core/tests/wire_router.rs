//! The server side of the wire in memory: a `Router` with several client connections
//! (our own `Connection`s as DEALER and REQ peers), routing both ways, one peer's
//! violation or silence costing only that peer, limits, and close with linger.

use std::time::Duration;

use bytes::Bytes;
use reqchan_core::wire::{
    AcceptError, Connection, PeerId, RouteError, Router, RouterConfig, RouterEvent, SocketType, WireConfig, WireError,
    WireEvent,
};
use reqchan_sim::origin;

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

/// A router and its clients, joined by in-memory streams.
struct Net {
    router: Router,
    clients: Vec<(PeerId, Connection)>,
    events: Vec<RouterEvent>,
    closed: Vec<PeerId>,
}

impl Net {
    fn new(config: RouterConfig) -> Self {
        Self { router: Router::new(config), clients: Vec::new(), events: Vec::new(), closed: Vec::new() }
    }

    fn router(kind: SocketType) -> Self {
        Self::new(RouterConfig::new(WireConfig::new(kind)))
    }

    /// A client of `kind` connects; returns its index.
    fn connect(&mut self, kind: SocketType) -> usize {
        let peer = self.router.accept(origin()).expect("accepted");
        self.clients.push((peer, Connection::new(origin(), WireConfig::new(kind))));
        self.pump();
        self.clients.len() - 1
    }

    /// Moves bytes both ways until nothing moves; collects the router's events.
    fn pump(&mut self) {
        let now = origin();
        loop {
            let mut moved = false;
            while let Some(event) = self.router.poll_event() {
                self.events.push(event);
            }
            while let Some((peer, bytes)) = self.router.poll_transmit() {
                if let Some((_, client)) = self.clients.iter_mut().find(|(p, _)| *p == peer) {
                    client.handle_input(now, &bytes);
                }
                self.router.handle_written(peer);
                moved = true;
            }
            while let Some(peer) = self.router.poll_close() {
                self.closed.push(peer);
                moved = true;
            }
            for (peer, client) in &mut self.clients {
                if self.closed.contains(peer) {
                    continue;
                }
                while let Some(bytes) = client.poll_transmit() {
                    self.router.handle_input(now, *peer, &bytes);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn messages(&mut self) -> Vec<Vec<Bytes>> {
        let mut out = Vec::new();
        self.events.retain(|e| match e {
            RouterEvent::Message(frames) => {
                out.push(frames.clone());
                false
            }
            _ => true,
        });
        out
    }

    fn client_messages(&mut self, i: usize) -> Vec<Vec<Bytes>> {
        std::iter::from_fn(|| self.clients[i].1.poll_event())
            .filter_map(|e| match e {
                WireEvent::Message(frames) => Some(frames),
                _ => None,
            })
            .collect()
    }

    fn closed_with(&self, peer: PeerId) -> Option<&WireError> {
        self.events.iter().find_map(|e| match e {
            RouterEvent::PeerClosed { peer: p, error } if *p == peer => Some(error),
            _ => None,
        })
    }
}

#[test]
fn messages_carry_their_peers_routing_id_and_replies_go_back_to_that_peer_only() {
    let mut net = Net::router(SocketType::Router);
    let a = net.connect(SocketType::Dealer);
    let r = net.connect(SocketType::Req);
    assert!(net.events.iter().filter(|e| matches!(e, RouterEvent::PeerReady(_))).count() == 2);
    let (peer_a, peer_r) = (net.clients[a].0, net.clients[r].0);
    assert_ne!(peer_a.routing_id(), peer_r.routing_id());

    net.clients[a].1.send(&[b(b"id-1"), Bytes::new(), b(b"from a")]).unwrap();
    net.clients[r].1.send(&[Bytes::new(), b(b"from r")]).unwrap();
    net.pump();
    let got = net.messages();
    assert_eq!(
        got,
        vec![
            vec![peer_a.routing_id(), b(b"id-1"), Bytes::new(), b(b"from a")],
            vec![peer_r.routing_id(), Bytes::new(), b(b"from r")],
        ]
    );

    net.router.send(&[peer_r.routing_id(), Bytes::new(), b(b"to r")]).unwrap();
    net.router.send(&[peer_a.routing_id(), b(b"id-1"), Bytes::new(), b(b"to a")]).unwrap();
    net.pump();
    assert_eq!(net.client_messages(a), vec![vec![b(b"id-1"), Bytes::new(), b(b"to a")]]);
    assert_eq!(net.client_messages(r), vec![vec![Bytes::new(), b(b"to r")]]);
    assert_eq!(net.router.stats().messages_received, 2);
    assert_eq!(net.router.stats().messages_sent, 2);
}

#[test]
fn a_reply_that_names_no_live_peer_is_dropped_and_counted() {
    let mut net = Net::router(SocketType::Router);
    let a = net.connect(SocketType::Dealer);
    let peer = net.clients[a].0;
    assert_eq!(net.router.send(&[]), Err(RouteError::NoRoute));
    assert_eq!(net.router.send(&[peer.routing_id()]), Err(RouteError::NoRoute), "no frames after the id");
    assert_eq!(net.router.send(&[b(b"someone"), b(b"x")]), Err(RouteError::NoRoute));
    net.router.handle_stream_closed(peer);
    net.pump();
    assert_eq!(net.closed_with(peer), Some(&WireError::Disconnected));
    assert_eq!(net.router.send(&[peer.routing_id(), b(b"x")]), Err(RouteError::PeerGone(peer)));
    assert_eq!(net.router.stats().unroutable, 4);
    assert_eq!(net.router.peers(), 0);
}

#[test]
fn a_peer_that_breaks_the_protocol_loses_only_its_own_connection() {
    let mut net = Net::router(SocketType::Router);
    let good = net.connect(SocketType::Dealer);
    let bad = net.router.accept(origin()).unwrap();
    net.pump();
    // A greeting, then a READY-less long frame declaring 2^40 bytes.
    let mut greeting = [0u8; 64];
    greeting[0] = 0xFF;
    greeting[9] = 0x7F;
    greeting[10] = 3;
    greeting[12..16].copy_from_slice(b"NULL");
    net.router.handle_input(origin(), bad, &greeting);
    let mut header = vec![0x06u8];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    net.router.handle_input(origin(), bad, &header);
    net.pump();
    assert!(matches!(net.closed_with(bad), Some(WireError::Protocol(_) | WireError::FrameTooLarge { .. })));
    assert_eq!(net.closed, vec![bad], "its stream is to be closed");
    assert_eq!(net.router.stats().violations, 1);
    assert_eq!(net.router.buffered_input(bad), 0);

    let peer = net.clients[good].0;
    net.clients[good].1.send(&[b(b"i"), Bytes::new(), b(b"still here")]).unwrap();
    net.pump();
    assert_eq!(net.messages(), vec![vec![peer.routing_id(), b(b"i"), Bytes::new(), b(b"still here")]]);
}

#[test]
fn an_incompatible_socket_type_is_told_why_then_closed() {
    let mut router = Router::new(RouterConfig::new(WireConfig::new(SocketType::Rep)));
    let peer = router.accept(origin()).unwrap();
    let mut client = Connection::new(origin(), WireConfig::new(SocketType::Router));
    while let Some(bytes) = client.poll_transmit() {
        router.handle_input(origin(), peer, &bytes);
    }
    let events: Vec<_> = std::iter::from_fn(|| router.poll_event()).collect();
    assert!(matches!(&events[..], [RouterEvent::PeerClosed { error: WireError::IncompatibleSocketType { .. }, .. }]));
    // Its stream is closed only after our greeting, READY and the ERROR are written.
    assert_eq!(router.poll_close(), None);
    let (_, out) = router.poll_transmit().unwrap();
    assert!(out.windows(6).any(|w| w == b"\x05ERROR"), "an ERROR command goes out");
    router.handle_written(peer);
    assert_eq!(router.poll_close(), Some(peer));
    assert_eq!(router.stats().violations, 1);
}

#[test]
fn a_peer_that_never_completes_its_handshake_is_closed_at_the_timeout() {
    let mut wire = WireConfig::new(SocketType::Router);
    wire.handshake_timeout = Duration::from_secs(2);
    let mut net = Net::new(RouterConfig::new(wire));
    let silent = net.router.accept(origin()).unwrap();
    let talker = net.connect(SocketType::Dealer);
    net.pump();
    assert_eq!(net.router.poll_timeout(), Some(origin() + Duration::from_secs(2)));
    net.router.handle_timeout(origin() + Duration::from_millis(1999));
    net.pump();
    assert!(net.closed.is_empty());
    net.router.handle_timeout(origin() + Duration::from_secs(2));
    net.pump();
    assert_eq!(net.closed, vec![silent]);
    assert_eq!(net.closed_with(silent), Some(&WireError::HandshakeTimeout));
    assert_eq!(net.router.stats().handshake_timeouts, 1);
    assert!(net.router.is_ready(net.clients[talker].0));
    assert_eq!(net.router.poll_timeout(), None, "nothing left to time");
}

#[test]
fn connections_beyond_max_peers_are_refused() {
    let mut config = RouterConfig::new(WireConfig::new(SocketType::Router));
    config.max_peers = 2;
    let mut net = Net::new(config);
    net.connect(SocketType::Dealer);
    let gone = net.connect(SocketType::Dealer);
    assert_eq!(net.router.accept(origin()), Err(AcceptError::TooManyPeers { limit: 2 }));
    net.router.handle_stream_closed(net.clients[gone].0);
    assert!(net.router.accept(origin()).is_ok(), "room again once one left");
    assert_eq!(net.router.stats().refused, 1);
}

#[test]
fn a_peer_that_stops_reading_loses_its_connection_once_its_output_passes_max_output() {
    let mut config = RouterConfig::new(WireConfig::new(SocketType::Router));
    config.wire.max_message_size = 1000;
    config.max_output = 4000;
    let mut router = Router::new(config);
    let peer = router.accept(origin()).unwrap();
    let other = router.accept(origin()).unwrap();
    for p in [peer, other] {
        let mut client = Connection::new(origin(), WireConfig::new(SocketType::Dealer));
        while let Some(bytes) = client.poll_transmit() {
            router.handle_input(origin(), p, &bytes);
        }
    }
    // Our handshake goes out to the driver, which never finishes writing it to `peer`.
    let mut held = Vec::new();
    while let Some((p, bytes)) = router.poll_transmit() {
        held.push(p);
        assert!(!bytes.is_empty());
    }
    router.handle_written(other);
    let reply = [peer.routing_id(), Bytes::from(vec![1u8; 900])];
    let mut queued = 0;
    while router.send(&reply).is_ok() {
        queued += 1;
    }
    assert_eq!(queued, 4, "4 x 900 bytes fit in 4,000");
    assert_eq!(router.poll_transmit(), None, "one buffer in the driver per peer, until it is written");
    // The fifth ended the connection: its stream is closed at once, nothing more queued.
    let events: Vec<_> = std::iter::from_fn(|| router.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(
        e,
        RouterEvent::PeerClosed { peer: p, error: WireError::NotReading { limit: 4000 } } if *p == peer
    )));
    assert_eq!(router.poll_close(), Some(peer));
    assert_eq!(router.pending_output(peer), 0);
    assert_eq!(router.stats().not_reading, 1);
    assert_eq!(router.send(&reply), Err(RouteError::PeerGone(peer)));
    // Another peer is not affected.
    router.send(&[other.routing_id(), Bytes::from_static(b"fine")]).unwrap();
    assert!(matches!(router.poll_transmit(), Some((p, _)) if p == other));
}

#[test]
fn close_all_writes_what_is_queued_then_closes_every_stream() {
    let mut net = Net::router(SocketType::Router);
    let a = net.connect(SocketType::Dealer);
    let c = net.connect(SocketType::Dealer);
    let (pa, pc) = (net.clients[a].0, net.clients[c].0);
    net.router.send(&[pa.routing_id(), b(b"last words")]).unwrap();
    net.router.close_all();
    net.pump();
    assert_eq!(net.client_messages(a), vec![vec![b(b"last words")]]);
    let mut closed = net.closed.clone();
    closed.sort();
    assert_eq!(closed, vec![pa, pc]);
    assert_eq!(net.router.peers(), 0);
}

#[test]
fn routing_ids_round_trip_and_foreign_shapes_are_not_ours() {
    let mut router = Router::new(RouterConfig::new(WireConfig::new(SocketType::Router)));
    let peer = router.accept(origin()).unwrap();
    assert_eq!(PeerId::from_routing_id(&peer.routing_id()), Some(peer));
    assert_eq!(PeerId::from_routing_id(b"\x01abcd"), None);
    assert_eq!(PeerId::from_routing_id(b""), None);
}
