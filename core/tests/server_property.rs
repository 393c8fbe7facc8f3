//! Property: whatever arrives, in whatever order, every routable message gets exactly
//! one reply, every accepted request is answered once, and nothing is ever answered
//! that was not received.
//!
//! A seeded generator (xorshift, so a failing seed replays) drives random operation
//! sequences: good and malformed messages, handler results in random order (ok, error,
//! panic, oversized, late), clock jumps, and a shutdown at a random point.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use reqchan_core::codec::{self, Crypt, Value};
use reqchan_core::server::{Framing, HandlerFailure, RequestToken, Server, ServerConfig, ServerStats};

use reqchan_sim::{SimRng, origin};

/// Each message carries a unique identity frame `m<seq>` so replies can be traced back.
fn message(rng: &mut SimRng, seq: u64, framing: Framing) -> Vec<Bytes> {
    let identity = Bytes::from(format!("m{seq}"));
    let good = codec::encode_request(Crypt::Clear, &Value::UInt(seq)).unwrap();
    let payload = match rng.below(10) {
        0 => Bytes::from((0..rng.below(12)).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>()),
        1 => Bytes::from_static(b"\x82\xa3enc\xa5clear\xa4load\x01"),
        2 => Bytes::from(vec![0u8; 600]),
        _ => good,
    };
    match framing {
        Framing::Bare => vec![payload],
        _ => match rng.below(12) {
            0 => vec![identity, payload],                                           // no delimiter
            1 => vec![identity, Bytes::new()],                                      // no payload frame
            2 => vec![identity, Bytes::from_static(b"rid"), Bytes::new(), payload], // DEALER
            _ => vec![identity, Bytes::new(), payload],
        },
    }
}

fn run(seed: u64, framing: Framing) -> ServerStats {
    let mut rng = SimRng::new(seed);
    let config = ServerConfig::default()
        .max_concurrent(1 + rng.below(4) as usize)
        .max_queued(rng.below(4) as usize)
        .max_message_size(512)
        .request_timeout(Duration::from_millis(50 + rng.below(200)));
    let max_concurrent = config.max_concurrent;
    let max_queued = config.max_queued;
    let mut server = Server::new(framing, config).unwrap();
    let start = origin();
    let mut now = start;

    let mut seq = 0u64;
    let mut routable_sent = 0u64;
    let mut seen = Seen::new(framing);

    for step in 0..400 {
        match rng.below(10) {
            0..=3 if framing == Framing::Routed || seen.bare_outstanding == 0 => {
                let frames = message(&mut rng, seq, framing);
                seq += 1;
                routable_sent += 1;
                seen.bare_outstanding += 1;
                server.handle_message(now, frames);
            }
            4 if framing == Framing::Routed => server.handle_message(now, Vec::new()), // unroutable
            5..=6 if !seen.running.is_empty() => {
                let token = seen.running.swap_remove(rng.below(seen.running.len() as u64) as usize);
                let result = match rng.below(5) {
                    0 => Err(HandlerFailure::Error("e".into())),
                    1 => Err(HandlerFailure::Panicked("p".into())),
                    2 => Ok(Bytes::from(vec![0xc0; 600])),
                    _ => Ok(Bytes::from_static(b"\xc3")),
                };
                let known = server.handle_result(now, token, result).is_ok();
                assert_eq!(known, !seen.finished.contains(&token), "seed {seed} step {step}");
                seen.finished.push(token);
            }
            7 if !seen.finished.is_empty() => {
                // A duplicate or late result for an answered request.
                let token = seen.finished[rng.below(seen.finished.len() as u64) as usize];
                assert!(server.handle_result(now, token, Ok(Bytes::new())).is_err());
            }
            8 => {
                now += Duration::from_millis(rng.below(120));
                server.handle_timeout(now);
            }
            9 if rng.chance(0.03) => server.shutdown(now, Duration::from_millis(rng.below(100))),
            _ => {
                if let Some(deadline) = server.poll_timeout() {
                    now = now.max(deadline);
                    server.handle_timeout(now);
                }
            }
        }
        seen.drain(&mut server);
        assert!(server.running() <= max_concurrent, "seed {seed}");
        assert!(server.pending() <= max_concurrent + max_queued, "seed {seed}");
    }

    // Let every deadline pass: nothing may stay unanswered.
    let end = now + Duration::from_secs(3600);
    server.handle_timeout(end);
    seen.drain(&mut server);
    assert_eq!(server.pending(), 0, "seed {seed}");
    assert_eq!(server.poll_timeout(), None, "seed {seed}");

    let stats = *server.stats();
    assert_eq!(
        stats.received,
        stats.unroutable
            + stats.rejected_malformed
            + stats.refused_queue_full
            + stats.refused_shutting_down
            + stats.accepted,
        "seed {seed}: every message is classified once: {stats:?}"
    );
    let answered = stats.handler_replies
        + stats.handler_errors
        + stats.handler_panics
        + stats.replies_too_large
        + stats.timed_out_running
        + stats.timed_out_queued
        + stats.refused_shutting_down_queued;
    assert_eq!(answered, stats.accepted, "seed {seed}: every accepted request answered once: {stats:?}");
    assert_eq!(stats.replies_sent, stats.received - stats.unroutable, "seed {seed}");

    for (token, n) in &seen.by_token {
        assert_eq!(*n, 1, "seed {seed}: token {token} answered {n} times");
    }
    assert_eq!(seen.by_token.len() as u64, stats.accepted, "seed {seed}");
    for token in &seen.handed_out {
        assert!(seen.by_token.contains_key(token), "seed {seed}: {token} handed out, never answered");
    }
    if framing == Framing::Routed {
        assert_eq!(seen.by_identity.len() as u64, routable_sent, "seed {seed}: one reply per message");
        for (identity, n) in &seen.by_identity {
            assert_eq!(*n, 1, "seed {seed}: {identity:?} answered {n} times");
        }
    }
    stats
}

/// What the test observed of the server's outputs.
struct Seen {
    framing: Framing,
    /// Replies per message identity (Routed).
    by_identity: BTreeMap<Bytes, u32>,
    /// Replies per request token.
    by_token: BTreeMap<RequestToken, u32>,
    /// Requests handed to a handler, in order.
    handed_out: Vec<RequestToken>,
    /// Handed out, and their handler has not reported yet.
    running: Vec<RequestToken>,
    /// Answered: a handler result for these is late.
    finished: Vec<RequestToken>,
    /// Bare (REP) messages sent and not yet answered.
    bare_outstanding: u32,
}

impl Seen {
    fn new(framing: Framing) -> Self {
        Self {
            framing,
            by_identity: BTreeMap::new(),
            by_token: BTreeMap::new(),
            handed_out: Vec::new(),
            running: Vec::new(),
            finished: Vec::new(),
            bare_outstanding: 0,
        }
    }

    /// Drains every output of `server`, recording and checking it.
    fn drain(&mut self, server: &mut Server) {
        loop {
            let mut progressed = false;
            while let Some(t) = server.poll_transmit() {
                progressed = true;
                let frames = t.frames();
                match self.framing {
                    Framing::Routed => {
                        assert!(frames[0].starts_with(b"m"), "a reply goes to a message's identity");
                        *self.by_identity.entry(frames[0].clone()).or_default() += 1;
                    }
                    _ => {
                        assert_eq!(frames.len(), 1);
                        self.bare_outstanding = self.bare_outstanding.saturating_sub(1);
                    }
                }
                if let Some(token) = t.token {
                    *self.by_token.entry(token).or_default() += 1;
                    if self.running.contains(&token) {
                        // Answered while its handler still runs (timed out): the handler's
                        // result, when it comes, is late.
                        self.finished.push(token);
                    }
                }
            }
            while let Some(r) = server.poll_request() {
                progressed = true;
                assert!(!self.handed_out.contains(&r.token), "a request is handed out once");
                self.handed_out.push(r.token);
                self.running.push(r.token);
            }
            while server.poll_event().is_some() {}
            if !progressed {
                break;
            }
        }
    }
}

/// Sums the runs' counters, so the test can prove every path was taken.
fn total(runs: impl Iterator<Item = ServerStats>) -> ServerStats {
    runs.fold(ServerStats::default(), |mut t, s| {
        t.accepted += s.accepted;
        t.unroutable += s.unroutable;
        t.rejected_malformed += s.rejected_malformed;
        t.rejected_too_large += s.rejected_too_large;
        t.refused_queue_full += s.refused_queue_full;
        t.refused_shutting_down += s.refused_shutting_down;
        t.refused_shutting_down_queued += s.refused_shutting_down_queued;
        t.handler_replies += s.handler_replies;
        t.handler_errors += s.handler_errors;
        t.handler_panics += s.handler_panics;
        t.replies_too_large += s.replies_too_large;
        t.timed_out_running += s.timed_out_running;
        t.timed_out_queued += s.timed_out_queued;
        t.late_handler_results += s.late_handler_results;
        t
    })
}

#[test]
fn every_routed_message_gets_exactly_one_reply_whatever_the_order() {
    let t = total((0..300u64).map(|seed| run(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), Framing::Routed)));
    // Every path was exercised somewhere in the runs.
    for (name, n) in [
        ("accepted", t.accepted),
        ("unroutable", t.unroutable),
        ("rejected_malformed", t.rejected_malformed),
        ("rejected_too_large", t.rejected_too_large),
        ("refused_queue_full", t.refused_queue_full),
        ("refused_shutting_down", t.refused_shutting_down),
        ("refused_shutting_down_queued", t.refused_shutting_down_queued),
        ("handler_replies", t.handler_replies),
        ("handler_errors", t.handler_errors),
        ("handler_panics", t.handler_panics),
        ("replies_too_large", t.replies_too_large),
        ("timed_out_running", t.timed_out_running),
        ("timed_out_queued", t.timed_out_queued),
        ("late_handler_results", t.late_handler_results),
    ] {
        assert!(n > 0, "no run exercised {name}: {t:?}");
    }
}

#[test]
fn every_bare_message_gets_exactly_one_reply_whatever_the_order() {
    let t = total((0..300u64).map(|seed| run(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xbeef, Framing::Bare)));
    assert!(t.handler_replies > 0 && t.rejected_malformed > 0 && t.timed_out_running > 0, "{t:?}");
}
