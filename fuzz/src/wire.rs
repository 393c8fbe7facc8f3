//! `wire_decode`: the ZMTP state machine fed arbitrary bytes, and valid streams cut at
//! arbitrary points, beside a small model.
//!
//! - **Hostile bytes** (after a valid handshake, or from the first octet): never a panic;
//!   the input buffer never holds more than one greeting and one frame within the limit
//!   (16 KiB for a command);
//!   every message delivered is within `max_message_size` and `max_frames`; a `Closed`
//!   event comes at most once and last, and nothing follows it.
//! - **Valid streams**: what one connection sends, cut anywhere into any number of
//!   pieces, reaches the other as exactly the messages sent, in order, once each.

use std::time::Instant;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use reqchan_core::wire::{Connection, SocketType, WireConfig, WireEvent};

/// One fuzz input.
#[derive(Debug, Arbitrary)]
enum Input {
    /// Bytes from a peer, in pieces.
    Hostile { handshake_first: bool, max_message_size: u16, max_frames: u8, pieces: Vec<Vec<u8>> },
    /// Messages sent by a DEALER, and where the stream is cut.
    Valid { messages: Vec<Vec<Vec<u8>>>, cuts: Vec<u16> },
}

/// Runs one fuzz input; panics on a violation.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    #[allow(clippy::disallowed_methods)] // the one clock reading: a fixed origin
    let now = Instant::now();
    match input {
        Input::Hostile { handshake_first, max_message_size, max_frames, pieces } => {
            hostile(now, handshake_first, usize::from(max_message_size), usize::from(max_frames).max(1), pieces)
        }
        Input::Valid { messages, cuts } => valid(now, messages, cuts),
    }
}

fn hostile(now: Instant, handshake_first: bool, max_message_size: usize, max_frames: usize, pieces: Vec<Vec<u8>>) {
    let mut config = WireConfig::new(SocketType::Router);
    config.max_message_size = max_message_size;
    config.max_frames = max_frames;
    let mut router = Connection::new(now, config);
    if handshake_first {
        let mut dealer = Connection::new(now, WireConfig::new(SocketType::Dealer));
        router.handle_input(now, &dealer.poll_transmit().expect("greeting and READY"));
        assert!(matches!(router.poll_event(), Some(WireEvent::Ready { .. })));
    }
    let mut closed = false;
    for piece in pieces.iter().take(64) {
        router.handle_input(now, piece);
        let frame = max_message_size.max(16 << 10);
        assert!(router.buffered_input() <= 64 + 9 + frame, "more than a greeting and a frame buffered");
        router.handle_timeout(now);
        while let Some(event) = router.poll_event() {
            assert!(!closed, "an event after Closed: {event:?}");
            match event {
                WireEvent::Message(frames) => {
                    assert!(frames.len() <= max_frames, "{} frames delivered", frames.len());
                    let size: usize = frames.iter().map(Bytes::len).sum();
                    assert!(size <= max_message_size, "{size} bytes delivered");
                }
                WireEvent::Closed(error) => {
                    assert!(!error.to_string().is_empty());
                    closed = true;
                }
                WireEvent::Ready { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(router.is_closed(), closed);
        let _ = router.poll_transmit();
    }
}

fn valid(now: Instant, messages: Vec<Vec<Vec<u8>>>, cuts: Vec<u16>) {
    let sent: Vec<Vec<Bytes>> = messages
        .into_iter()
        .take(8)
        .filter(|m| !m.is_empty())
        .map(|m| m.into_iter().take(4).map(|f| Bytes::from(f.into_iter().take(300).collect::<Vec<u8>>())).collect())
        .collect();
    let mut dealer = Connection::new(now, WireConfig::new(SocketType::Dealer));
    for message in &sent {
        dealer.send(message).expect("an open connection sends");
    }
    let stream = dealer.poll_transmit().expect("greeting, READY and the messages");
    let mut at: Vec<usize> = cuts.into_iter().take(32).map(|c| usize::from(c) % (stream.len() + 1)).collect();
    at.push(stream.len());
    at.sort_unstable();
    let mut router = Connection::new(now, WireConfig::new(SocketType::Router));
    let mut from = 0;
    let mut got = Vec::new();
    for to in at {
        router.handle_input(now, &stream[from..to]);
        from = to;
        while let Some(event) = router.poll_event() {
            match event {
                WireEvent::Message(frames) => got.push(frames),
                WireEvent::Ready { peer, .. } => assert_eq!(peer, SocketType::Dealer),
                other => panic!("a valid stream gave {other:?}"),
            }
        }
    }
    assert_eq!(got, sent, "every message exactly once, in order");
    assert_eq!(router.buffered_input(), 0);
}
