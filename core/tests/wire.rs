//! The ZMTP state machine, end to end in memory: two connections joined by a byte pipe,
//! every split of the stream, hostile peers, heartbeats and timeouts on a virtual clock.

use std::time::Duration;

use bytes::Bytes;
use reqchan_core::wire::{Connection, Heartbeat, SocketType, WireConfig, WireError, WireEvent};
use reqchan_sim::origin;

fn msg(frames: &[&'static [u8]]) -> Vec<Bytes> {
    frames.iter().map(|f| Bytes::from_static(f)).collect()
}

/// Moves every byte each side has queued to the other, until nothing moves.
fn pump(a: &mut Connection, b: &mut Connection) {
    let now = origin();
    loop {
        let mut moved = false;
        while let Some(bytes) = a.poll_transmit() {
            b.handle_input(now, &bytes);
            moved = true;
        }
        while let Some(bytes) = b.poll_transmit() {
            a.handle_input(now, &bytes);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn events(c: &mut Connection) -> Vec<WireEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn pair(a: SocketType, b: SocketType) -> (Connection, Connection) {
    (Connection::new(origin(), WireConfig::new(a)), Connection::new(origin(), WireConfig::new(b)))
}

#[test]
fn a_dealer_and_a_router_handshake_and_exchange_messages_both_ways() {
    let (mut dealer, mut router) = pair(SocketType::Dealer, SocketType::Router);
    dealer.send(&msg(&[b"id-1", b"", b"ping"])).unwrap();
    dealer.send(&msg(&[b"id-2", b"", &[7u8; 300]])).unwrap();
    pump(&mut dealer, &mut router);
    assert_eq!(
        events(&mut router),
        vec![
            WireEvent::Ready { peer: SocketType::Dealer, identity: Bytes::new() },
            WireEvent::Message(msg(&[b"id-1", b"", b"ping"])),
            WireEvent::Message(vec![Bytes::from_static(b"id-2"), Bytes::new(), Bytes::from(vec![7u8; 300])]),
        ]
    );
    router.send(&msg(&[b"id-1", b"", b"pong"])).unwrap();
    pump(&mut dealer, &mut router);
    assert_eq!(
        events(&mut dealer),
        vec![
            WireEvent::Ready { peer: SocketType::Router, identity: Bytes::new() },
            WireEvent::Message(msg(&[b"id-1", b"", b"pong"])),
        ]
    );
    assert_eq!((router.stats().messages_received, dealer.stats().messages_received), (2, 1));
}

#[test]
fn every_split_of_the_stream_delivers_each_message_exactly_once() {
    // What a DEALER sends: greeting, READY, three messages, as one stream.
    let mut dealer = Connection::new(origin(), WireConfig::new(SocketType::Dealer));
    let sent = [msg(&[b"a"]), msg(&[b"b", b"", b"c"]), vec![Bytes::from(vec![1u8; 600])]];
    for m in &sent {
        dealer.send(m).unwrap();
    }
    let stream = dealer.poll_transmit().unwrap();
    assert!(dealer.poll_transmit().is_none(), "one buffer holds everything: writes are batched");
    for cut in 0..=stream.len() {
        for second_cut in [cut, (cut + 7).min(stream.len()), stream.len()] {
            let mut router = Connection::new(origin(), WireConfig::new(SocketType::Router));
            for piece in [&stream[..cut], &stream[cut..second_cut], &stream[second_cut..]] {
                router.handle_input(origin(), piece);
                assert!(router.buffered_input() <= 9 + 600, "more than a frame buffered");
            }
            let got: Vec<_> = events(&mut router)
                .into_iter()
                .filter_map(|e| match e {
                    WireEvent::Message(m) => Some(m),
                    _ => None,
                })
                .collect();
            assert_eq!(got, sent, "split at {cut} and {second_cut}");
        }
    }
}

#[test]
fn incompatible_socket_types_end_both_sides_with_typed_reasons() {
    let (mut req, mut router_as_rep) = pair(SocketType::Req, SocketType::Req);
    pump(&mut req, &mut router_as_rep);
    let closed: Vec<_> = events(&mut req).into_iter().filter(|e| matches!(e, WireEvent::Closed(_))).collect();
    assert!(
        matches!(&closed[..], [WireEvent::Closed(WireError::IncompatibleSocketType { peer })] if peer == "REQ"),
        "{closed:?}"
    );
    assert!(req.is_closed() && router_as_rep.is_closed());
    assert!(req.send(&msg(&[b"x"])).is_err(), "nothing is sent once closed");
}

/// A ROUTER connection that has completed its handshake with a DEALER peer whose bytes
/// the test writes by hand: returns the router.
fn ready_router(config: WireConfig) -> Connection {
    let mut router = Connection::new(origin(), config);
    let mut dealer = Connection::new(origin(), WireConfig::new(SocketType::Dealer));
    router.handle_input(origin(), &dealer.poll_transmit().unwrap());
    assert!(matches!(router.poll_event(), Some(WireEvent::Ready { .. })));
    router
}

#[test]
fn a_header_declaring_a_huge_frame_ends_the_connection_before_anything_is_buffered() {
    for declared in [1u64 << 40, 1 << 33, 1 << 31] {
        let mut router = ready_router(WireConfig::new(SocketType::Router));
        let mut header = vec![0x02];
        header.extend_from_slice(&declared.to_be_bytes());
        header.extend_from_slice(&[0u8; 100]);
        router.handle_input(origin(), &header);
        assert_eq!(
            router.poll_event(),
            Some(WireEvent::Closed(WireError::FrameTooLarge { declared, limit: 64 << 20 }))
        );
        assert_eq!(router.buffered_input(), 0);
    }
}

#[test]
fn message_limits_hold_across_frames() {
    let mut config = WireConfig::new(SocketType::Router);
    config.max_message_size = 100;
    config.max_frames = 3;
    // Four frames of 1 octet: too many.
    let mut router = ready_router(config.clone());
    router.handle_input(origin(), b"\x01\x01a\x01\x01b\x01\x01c\x00\x01d");
    assert_eq!(router.poll_event(), Some(WireEvent::Closed(WireError::TooManyFrames { limit: 3 })));
    // 60 + 60 octets: each frame fits, the message does not.
    let mut router = ready_router(config);
    let mut bytes = vec![0x01, 60];
    bytes.extend_from_slice(&[b'x'; 60]);
    bytes.extend_from_slice(&[0x00, 60]);
    router.handle_input(origin(), &bytes);
    assert_eq!(router.poll_event(), Some(WireEvent::Closed(WireError::MessageTooLarge { limit: 100 })));
}

#[test]
fn protocol_violations_are_typed() {
    let cases: [(&[u8], WireError); 3] = [
        (b"\x05\x04\x04PING", WireError::Protocol("a command frame with MORE")),
        (b"\x10\x00", WireError::Protocol("reserved frame flags set")),
        (b"\x04\x06\x05READY", WireError::Protocol("READY after the handshake")),
    ];
    for (bytes, error) in cases {
        let mut router = ready_router(WireConfig::new(SocketType::Router));
        router.handle_input(origin(), bytes);
        assert_eq!(router.poll_event(), Some(WireEvent::Closed(error)));
    }
    // A message before READY, and a bad greeting.
    let mut router = Connection::new(origin(), WireConfig::new(SocketType::Router));
    let mut greeting = Connection::new(origin(), WireConfig::new(SocketType::Dealer)).poll_transmit().unwrap().to_vec();
    greeting.truncate(64);
    greeting.extend_from_slice(b"\x00\x01x");
    router.handle_input(origin(), &greeting);
    assert_eq!(
        router.poll_event(),
        Some(WireEvent::Closed(WireError::Protocol("a message before the handshake completed")))
    );
    let mut router = Connection::new(origin(), WireConfig::new(SocketType::Router));
    router.handle_input(origin(), &[0u8; 64]);
    assert_eq!(router.poll_event(), Some(WireEvent::Closed(WireError::BadGreeting)));
}

#[test]
fn a_handshake_not_done_in_time_ends_the_connection() {
    let mut config = WireConfig::new(SocketType::Router);
    config.handshake_timeout = Duration::from_secs(2);
    let mut router = Connection::new(origin(), config);
    // One greeting octet a second: still not done at the deadline.
    for s in 0..2 {
        router.handle_input(origin() + Duration::from_secs(s), &[0xff]);
        router.handle_timeout(origin() + Duration::from_secs(s));
        assert!(!router.is_closed());
    }
    assert_eq!(router.poll_timeout(), Some(origin() + Duration::from_secs(2)));
    router.handle_timeout(origin() + Duration::from_secs(2));
    assert_eq!(router.poll_event(), Some(WireEvent::Closed(WireError::HandshakeTimeout)));
    assert_eq!(router.poll_timeout(), None);
}

#[test]
fn a_ping_is_answered_with_a_pong_echoing_its_context_and_unknown_commands_are_ignored() {
    let mut router = ready_router(WireConfig::new(SocketType::Router));
    router.poll_transmit();
    router.handle_input(origin(), b"\x04\x0a\x04PING\x00\x00ctx\x04\x0a\x09SUBSCRIBE");
    assert_eq!(router.poll_transmit().unwrap(), Bytes::from_static(b"\x04\x08\x04PONGctx"));
    assert!(router.is_ready());
    assert_eq!((router.stats().pongs_sent, router.stats().commands_ignored), (1, 1));
}

#[test]
fn heartbeats_ping_on_time_and_lose_a_silent_peer_but_any_traffic_keeps_it() {
    let ivl = Duration::from_secs(1);
    let mut config = WireConfig::new(SocketType::Dealer);
    config.heartbeat = Some(Heartbeat { interval: ivl, timeout: ivl, ttl: Duration::from_secs(3) });
    let mut dealer = Connection::new(origin(), config);
    let mut router = Connection::new(origin(), WireConfig::new(SocketType::Router));
    pump(&mut dealer, &mut router);
    assert_eq!(dealer.poll_timeout(), Some(origin() + ivl), "the first PING is due one interval after READY");
    dealer.handle_timeout(origin() + ivl);
    assert_eq!(dealer.stats().pings_sent, 1);
    // The router answers (our ttl of 3 s rides along in deciseconds: 30).
    let ping = dealer.poll_transmit().unwrap();
    assert_eq!(&ping[..], b"\x04\x07\x04PING\x00\x1e");
    router.handle_input(origin() + ivl, &ping);
    dealer.handle_input(origin() + ivl, &router.poll_transmit().unwrap());
    dealer.handle_timeout(origin() + ivl * 2);
    assert!(dealer.is_ready(), "the PONG came: alive: {:?}", events(&mut dealer));
    // That round also sent the next PING; now silence: lost one timeout later.
    assert_eq!(dealer.stats().pings_sent, 2);
    dealer.handle_timeout(origin() + ivl * 3 - Duration::from_nanos(1));
    assert!(dealer.is_ready());
    dealer.handle_timeout(origin() + ivl * 3);
    assert_eq!(events(&mut dealer).last(), Some(&WireEvent::Closed(WireError::HeartbeatTimeout)));
}

#[test]
fn the_ttl_a_peer_announces_is_honoured() {
    let mut router = ready_router(WireConfig::new(SocketType::Router));
    // PING with ttl 20 deciseconds = 2 s.
    router.handle_input(origin(), b"\x04\x07\x04PING\x00\x14");
    assert_eq!(router.poll_timeout(), Some(origin() + Duration::from_secs(2)));
    router.handle_input(origin() + Duration::from_secs(1), b"\x00\x01x");
    assert_eq!(router.poll_timeout(), Some(origin() + Duration::from_secs(3)), "traffic extends it");
    router.handle_timeout(origin() + Duration::from_secs(3));
    assert_eq!(events(&mut router).last(), Some(&WireEvent::Closed(WireError::HeartbeatTimeout)));
}

#[test]
fn an_error_command_from_the_peer_ends_the_connection_with_its_reason() {
    let mut router = ready_router(WireConfig::new(SocketType::Router));
    router.handle_input(origin(), b"\x04\x0b\x05ERROR\x04nope");
    assert_eq!(router.poll_event(), Some(WireEvent::Closed(WireError::PeerError { reason: "nope".into() })));
}

#[test]
fn commands_have_their_own_bound_whatever_max_message_size_says() {
    // A tiny message limit still lets the handshake through...
    let mut config = WireConfig::new(SocketType::Router);
    config.max_message_size = 4;
    let router = ready_router(config);
    assert!(router.is_ready());
    // ...and a command header declaring more than 16 KiB ends the connection.
    let mut router = ready_router(WireConfig::new(SocketType::Router));
    router.handle_input(origin(), b"\x06\x00\x00\x00\x00\x00\x01\x00\x00");
    assert_eq!(router.poll_event(), Some(WireEvent::Closed(WireError::Protocol("a command larger than 16 KiB"))));
}

/// Each message that arrives whole gets one allocation of its own holding all its
/// frames: one allocation per message whatever its frame count, and a message held for
/// a while (a queued request) pins only itself, neither the read it came in nor the
/// messages beside it.
#[test]
fn a_message_shares_one_allocation_with_nothing_but_itself() {
    let (mut dealer, mut router) = pair(SocketType::Dealer, SocketType::Router);
    pump(&mut dealer, &mut router);
    let _ = events(&mut router);
    let large = Bytes::from(vec![9u8; 4096]);
    dealer.send(&[Bytes::from_static(b"small-1"), large.clone(), Bytes::from_static(b"small-2")]).unwrap();
    dealer.send(&[Bytes::from_static(b"next")]).unwrap();
    let stream = dealer.poll_transmit().unwrap();
    router.handle_input(origin(), &stream);
    let Some(WireEvent::Message(first)) = router.poll_event() else { panic!("no message") };
    let Some(WireEvent::Message(second)) = router.poll_event() else { panic!("no second message") };
    assert_eq!(first, [Bytes::from_static(b"small-1"), large, Bytes::from_static(b"small-2")]);
    assert_eq!(second, [Bytes::from_static(b"next")]);
    // In the stream: a 2-byte header, "small-1", a 9-byte header, 4096 bytes, a 2-byte
    // header, "small-2", then the next message's 2-byte header and "next". The first
    // message's frames sit as the stream put them, in one buffer; the next message
    // does not follow them there.
    let base = first[0].as_ptr() as usize;
    assert_eq!(first[1].as_ptr() as usize, base + 7 + 9, "frames of a message share its copy");
    assert_eq!(first[2].as_ptr() as usize, base + 7 + 9 + 4096 + 2, "frames of a message share its copy");
    assert_ne!(second[0].as_ptr() as usize, base + 7 + 9 + 4096 + 2 + 7 + 2, "the next message has its own copy");
    assert_eq!(router.buffered_input(), 0, "whole frames never pass through the input buffer");
}
