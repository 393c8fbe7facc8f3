//! The core's own ZMTP state machine against libzmq (pyzmq), over a plain TCP stream on
//! 127.0.0.1 that this test drives by hand (blocking reads with a short timeout): the
//! handshake with ROUTER and REP peers, request/reply envelopes, and libzmq's ZMTP 3.1
//! heartbeats in both directions.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::wire::{Connection, Heartbeat, SocketType, WireConfig, WireEvent};
use reqchan_tests::python::{PythonPeer, python};

const LIMIT: Duration = Duration::from_secs(20);

/// A connection to a peer, driven over a blocking TCP stream.
struct Driven {
    stream: TcpStream,
    conn: Connection,
}

impl Driven {
    fn connect(endpoint: &str, config: WireConfig) -> Self {
        let address = endpoint.strip_prefix("tcp://").expect("a tcp endpoint");
        let stream = TcpStream::connect(address).expect("connect to the peer");
        stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        stream.set_nodelay(true).unwrap();
        Self { stream, conn: Connection::new(Instant::now(), config) }
    }

    /// Runs the connection until `done` holds for an event (returned), or for `for_at_least`
    /// with `done` never asked (returns every event then). Fails the test past `LIMIT`.
    fn run(&mut self, for_at_least: Option<Duration>, mut done: impl FnMut(&WireEvent) -> bool) -> Vec<WireEvent> {
        let start = Instant::now();
        let mut seen = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            while let Some(bytes) = self.conn.poll_transmit() {
                self.stream.write_all(&bytes).expect("write");
            }
            while let Some(event) = self.conn.poll_event() {
                let stop = for_at_least.is_none() && done(&event);
                seen.push(event);
                if stop {
                    return seen;
                }
            }
            let now = Instant::now();
            if for_at_least.is_some_and(|d| now - start >= d) {
                return seen;
            }
            assert!(now - start < LIMIT, "not done within {LIMIT:?}: {seen:?}");
            self.conn.handle_timeout(now);
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("the peer closed the stream: {seen:?}"),
                Ok(n) => self.conn.handle_input(Instant::now(), &buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}

fn frames(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

#[test]
fn our_dealer_talks_to_a_libzmq_router_and_rep() {
    let Some(python) = python() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (kind, request) in
        [("router", frames(&[b"\x00\x00\x00\x07", b"", b"hello"])), ("rep", frames(&[b"", b"hello"]))]
    {
        let peer = runtime.block_on(PythonPeer::start(&python, "zmq_peer.py", &["--type", kind]));
        let mut ours = Driven::connect(peer.endpoint(), WireConfig::new(SocketType::Dealer));
        let ready = ours.run(None, |e| matches!(e, WireEvent::Ready { .. }));
        let peer_type = if kind == "router" { SocketType::Router } else { SocketType::Rep };
        assert!(matches!(ready.last(), Some(WireEvent::Ready { peer, .. }) if *peer == peer_type), "{ready:?}");
        ours.conn.send(&request).unwrap();
        let reply = ours.run(None, |e| matches!(e, WireEvent::Message(_)));
        assert_eq!(reply.last(), Some(&WireEvent::Message(request.clone())), "{kind}: the envelope comes back");
    }
}

#[test]
fn libzmq_heartbeats_are_answered_and_ours_are_answered_by_libzmq() {
    let Some(python) = python() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let peer =
        runtime.block_on(PythonPeer::start(&python, "zmq_peer.py", &["--type", "router", "--heartbeat-ms", "50"]));
    let mut config = WireConfig::new(SocketType::Dealer);
    config.heartbeat = Some(Heartbeat::every(Duration::from_millis(50)));
    let mut ours = Driven::connect(peer.endpoint(), config);
    // A second of PINGs both ways: libzmq would drop us if we did not answer (TTL 500 ms),
    // and we would drop libzmq if it did not answer ours (timeout 50 ms).
    let events = ours.run(Some(Duration::from_secs(1)), |_| false);
    assert!(ours.conn.is_ready(), "the connection survived heartbeats: {events:?}");
    let stats = *ours.conn.stats();
    assert!(stats.pongs_sent >= 5, "libzmq pinged us and we answered: {stats:?}");
    assert!(stats.pings_sent >= 5, "we pinged libzmq: {stats:?}");
    // And messages still flow.
    let request = frames(&[b"\x00\x00\x00\x09", b"", b"after heartbeats"]);
    ours.conn.send(&request).unwrap();
    let reply = ours.run(None, |e| matches!(e, WireEvent::Message(_)));
    assert_eq!(reply.last(), Some(&WireEvent::Message(request)));
}
