//! The reply server, scenario by scenario, with a simulated clock.

use std::time::Duration;

use bytes::Bytes;
use reqchan_core::codec::{self, BAD_LOAD_REPLY, Crypt, HANDLER_EXCEPTION_REPLY, SERVER_BUSY_REPLY, Value};
use reqchan_core::server::{
    Framing, HandlerFailure, RejectReason, ReplyKind, RequestToken, Server, ServerConfig, ServerEvent, Transmit,
    UnknownRequest,
};

use reqchan_sim::ServerHarness as Harness;

/// Checks that a rejection has the expected reason.
type ReasonCheck = fn(&RejectReason) -> bool;

fn b(bytes: &'static [u8]) -> Bytes {
    Bytes::from_static(bytes)
}

fn request(load: Value) -> Bytes {
    codec::encode_request(Crypt::Clear, &load).unwrap()
}

fn from_req(peer: &'static [u8], payload: Bytes) -> Vec<Bytes> {
    vec![b(peer), Bytes::new(), payload]
}

fn echo(h: &mut Harness) {
    for r in h.take_started() {
        h.reply(r.token, Ok(r.load_bytes())).unwrap();
    }
}

#[test]
fn a_req_peer_gets_the_handler_reply_behind_its_envelope() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(from_req(b"peer", request(Value::map([("cmd", "ping".into())]))));
    let started = h.take_started();
    assert_eq!(started.len(), 1);
    let load = started[0].load_value().unwrap();
    assert_eq!(load.get("cmd"), Some(&Value::from("ping")));
    assert_eq!(started[0].crypt, Crypt::Clear);
    assert!(h.sent.is_empty(), "nothing is sent before the handler answers");

    h.reply(started[0].token, Ok(b(b"\x80"))).unwrap();
    assert_eq!(h.take_sent(), vec![vec![b(b"peer"), b(b""), b(b"\x80")]]);
    assert_eq!(h.server.stats().handler_replies, 1);
    assert_eq!(h.server.pending(), 0);
}

#[test]
fn a_dealer_request_id_frame_is_echoed_and_replies_leave_out_of_order() {
    let mut h = Harness::new(ServerConfig::default());
    for id in [&b"r1"[..], b"r2", b"r3"] {
        h.recv(vec![b(b"dealer"), Bytes::copy_from_slice(id), Bytes::new(), request(Value::from(id.to_vec()))]);
    }
    let started = h.take_started();
    assert_eq!(started.len(), 3);
    // Handlers finish 3, 1, 2.
    for i in [2, 0, 1] {
        h.reply(started[i].token, Ok(started[i].load_bytes())).unwrap();
    }
    let sent = h.take_sent();
    let ids: Vec<&[u8]> = sent.iter().map(|f| &f[1][..]).collect();
    assert_eq!(ids, vec![&b"r3"[..], b"r1", b"r2"]);
    for frames in &sent {
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0], b(b"dealer"));
        assert!(frames[2].is_empty());
        // The echo of the load carries the same id: replies matched their requests.
        assert_eq!(codec::decode_reply::<Value>(&frames[3]).unwrap(), Value::Binary(frames[1].to_vec()));
    }
}

#[test]
fn every_malformed_message_is_answered_bad_load_and_good_ones_still_work() {
    let config = ServerConfig::default().max_message_size(256);
    let mut h = Harness::new(config);
    let bad_payloads: Vec<(Bytes, ReasonCheck)> = vec![
        (b(b"\xc1garbage"), |r| matches!(r, RejectReason::Envelope(codec::EnvelopeError::NotMsgpack(_)))),
        (b(b"\x92\x01\x02"), |r| matches!(r, RejectReason::Envelope(codec::EnvelopeError::NotAMap))),
        (b(b"\x82\xa4load\x01\xa7version\x03"), |r| {
            matches!(r, RejectReason::Envelope(codec::EnvelopeError::MissingEnc))
        }),
        (b(b"\x82\xa3enc\xa5clear\xa7version\x03"), |r| {
            matches!(r, RejectReason::Envelope(codec::EnvelopeError::MissingLoad))
        }),
        (b(b"\x83\xa3enc\xa3rsa\xa4load\x01\xa7version\x03"), |r| {
            matches!(r, RejectReason::Envelope(codec::EnvelopeError::UnsupportedEnc { .. }))
        }),
        (b(b"\x83\xa3enc\xa5clear\xa4load\x01\xa7version\x02"), |r| {
            matches!(r, RejectReason::Envelope(codec::EnvelopeError::VersionTooOld { version: 2 }))
        }),
        (b(b"\x82\xa3enc\xa5clear\xa4load\x01"), |r| {
            matches!(r, RejectReason::Envelope(codec::EnvelopeError::MissingVersion))
        }),
        (Bytes::from(vec![0xc0; 300]), |r| matches!(r, RejectReason::TooLarge { limit: 256, .. })),
    ];
    let n = bad_payloads.len();
    for (payload, _) in &bad_payloads {
        h.recv(from_req(b"p", payload.clone()));
    }
    // No delimiter: answered to the identity alone. Two payload frames: bad load.
    h.recv(vec![b(b"q"), request(Value::Nil)]);
    h.recv(vec![b(b"p"), Bytes::new(), request(Value::Nil), request(Value::Nil)]);

    let sent = h.take_sent();
    assert_eq!(sent.len(), n + 2, "one reply per message");
    for frames in &sent[..n] {
        assert_eq!(frames, &vec![b(b"p"), b(b""), b(BAD_LOAD_REPLY)]);
    }
    assert_eq!(sent[n], vec![b(b"q"), b(BAD_LOAD_REPLY)]);
    assert_eq!(sent[n + 1], vec![b(b"p"), b(b""), b(BAD_LOAD_REPLY)]);
    assert!(h.take_started().is_empty(), "no handler ran");

    let reasons: Vec<RejectReason> = h
        .events
        .drain(..)
        .map(|e| match e {
            ServerEvent::Rejected { reason } => reason,
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    for (reason, (_, check)) in reasons.iter().zip(&bad_payloads) {
        assert!(check(reason), "unexpected reason {reason:?}");
        assert!(!reason.to_string().is_empty());
    }
    assert_eq!(reasons[n], RejectReason::MissingDelimiter);
    assert_eq!(reasons[n + 1], RejectReason::PayloadFrames { count: 2 });
    let stats = *h.server.stats();
    assert_eq!(stats.rejected_malformed, n as u64 + 2);
    assert_eq!(stats.rejected_too_large, 1);
    assert_eq!(stats.accepted, 0);

    // The server is unharmed.
    h.recv(from_req(b"p", request(Value::from("fine"))));
    echo(&mut h);
    assert_eq!(h.take_sent(), vec![vec![b(b"p"), b(b""), b(b"\xa4fine")]]);
}

#[test]
fn a_message_without_frames_is_dropped_and_counted() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(vec![]);
    assert!(h.sent.is_empty());
    assert_eq!(h.server.stats().unroutable, 1);
    assert_eq!(h.events, vec![ServerEvent::Unroutable]);
}

#[test]
fn handler_errors_panics_and_oversized_replies_get_salts_exception_reply() {
    let config = ServerConfig::default().max_message_size(64);
    let mut h = Harness::new(config);
    for peer in [&b"a"[..], b"b", b"c"] {
        h.recv(vec![Bytes::copy_from_slice(peer), Bytes::new(), request(Value::Nil)]);
    }
    let s = h.take_started();
    h.reply(s[0].token, Err(HandlerFailure::Error("db down".into()))).unwrap();
    h.reply(s[1].token, Err(HandlerFailure::Panicked("index out of bounds".into()))).unwrap();
    h.reply(s[2].token, Ok(Bytes::from(vec![0u8; 65]))).unwrap();
    let sent = h.take_sent();
    assert_eq!(sent.len(), 3);
    for frames in &sent {
        assert_eq!(frames[2], b(HANDLER_EXCEPTION_REPLY));
    }
    let stats = *h.server.stats();
    assert_eq!((stats.handler_errors, stats.handler_panics, stats.replies_too_large), (1, 1, 1));
    assert!(
        matches!(&h.events[0], ServerEvent::HandlerFailed { failure: HandlerFailure::Error(e), .. } if e == "db down")
    );
    assert!(matches!(&h.events[1], ServerEvent::HandlerFailed { failure: HandlerFailure::Panicked(_), .. }));
    assert!(matches!(&h.events[2], ServerEvent::ReplyTooLarge { size: 65, .. }));
}

#[test]
fn a_slow_handler_is_answered_at_its_deadline_and_its_late_result_is_discarded() {
    let config = ServerConfig::default().request_timeout(Duration::from_secs(5));
    let mut h = Harness::new(config);
    assert_eq!(h.server.poll_timeout(), None);
    let start = h.now;
    h.recv(from_req(b"p", request(Value::Nil)));
    let token = h.take_started()[0].token;
    assert_eq!(h.server.poll_timeout(), Some(start + Duration::from_secs(5)));

    h.advance(Duration::from_secs(5) - Duration::from_nanos(1));
    assert!(h.sent.is_empty(), "not due yet");
    h.advance(Duration::from_nanos(1));
    assert_eq!(h.take_sent(), vec![vec![b(b"p"), b(b""), b(HANDLER_EXCEPTION_REPLY)]]);
    assert_eq!(h.events, vec![ServerEvent::TimedOut { token, started: true }]);
    assert_eq!(h.server.poll_timeout(), None);

    assert_eq!(h.reply(token, Ok(b(b"\x01"))), Err(UnknownRequest(token)));
    assert!(h.sent.is_empty(), "a late result sends nothing");
    assert_eq!(h.server.stats().late_handler_results, 1);
    // Calling handle_timeout with nothing due does nothing.
    h.advance(Duration::from_secs(100));
    assert!(h.sent.is_empty());
}

#[test]
fn over_max_concurrent_requests_queue_then_are_refused_busy() {
    let config = ServerConfig::default().max_concurrent(2).max_queued(1);
    let mut h = Harness::new(config);
    for peer in [&b"1"[..], b"2", b"3", b"4"] {
        h.recv(vec![Bytes::copy_from_slice(peer), Bytes::new(), request(Value::Nil)]);
    }
    let first = h.take_started();
    assert_eq!(first.len(), 2, "two run");
    assert_eq!(h.server.pending(), 3, "one waits");
    assert_eq!(h.take_sent(), vec![vec![b(b"4"), b(b""), b(SERVER_BUSY_REPLY)]], "the fourth is refused at once");
    assert_eq!(h.server.stats().refused_queue_full, 1);

    h.reply(first[1].token, Ok(b(b"\xc0"))).unwrap();
    let next = h.take_started();
    assert_eq!(next.len(), 1, "the queued request starts when a slot frees");
    assert_eq!(h.take_sent(), vec![vec![b(b"2"), b(b""), b(b"\xc0")]]);
    h.reply(next[0].token, Ok(b(b"\xc3"))).unwrap();
    assert_eq!(h.take_sent(), vec![vec![b(b"3"), b(b""), b(b"\xc3")]]);
    assert_eq!(h.server.running(), 1);
}

#[test]
fn a_request_queued_past_its_timeout_is_answered_busy_and_never_started() {
    let config = ServerConfig::default().max_concurrent(1).request_timeout(Duration::from_secs(2));
    let mut h = Harness::new(config);
    h.recv(from_req(b"a", request(Value::Nil)));
    h.advance(Duration::from_secs(1));
    h.recv(from_req(b"b", request(Value::Nil)));
    let a = h.take_started();
    assert_eq!(a.len(), 1, "b waits behind a");

    // At 2 s a's handler is still running: it gets the exception reply and b starts
    // (b's own deadline is 3 s).
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take_sent(), vec![vec![b(b"a"), b(b""), b(HANDLER_EXCEPTION_REPLY)]]);
    let b_started = h.take_started();
    assert_eq!(b_started.len(), 1);

    // c queues behind b; both deadlines pass while b still runs.
    h.recv(from_req(b"c", request(Value::Nil)));
    h.advance(Duration::from_secs(5));
    let sent = h.take_sent();
    assert_eq!(
        sent,
        vec![vec![b(b"b"), b(b""), b(HANDLER_EXCEPTION_REPLY)], vec![b(b"c"), b(b""), b(SERVER_BUSY_REPLY)]]
    );
    assert!(h.take_started().is_empty(), "c never reaches a handler");
    let stats = *h.server.stats();
    assert_eq!((stats.timed_out_running, stats.timed_out_queued), (2, 1));
    assert_eq!(h.server.pending(), 0);
    assert!(h.events.contains(&ServerEvent::TimedOut { token: b_started[0].token, started: true }));
}

#[test]
fn shutdown_refuses_queued_and_new_requests_and_waits_for_running_ones_within_grace() {
    let config = ServerConfig::default().max_concurrent(2);
    let mut h = Harness::new(config);
    for peer in [&b"1"[..], b"2", b"3"] {
        h.recv(vec![Bytes::copy_from_slice(peer), Bytes::new(), request(Value::Nil)]);
    }
    let running = h.take_started();
    assert_eq!(running.len(), 2);

    h.server.shutdown(h.now, Duration::from_secs(1));
    h.drain();
    assert_eq!(h.take_sent(), vec![vec![b(b"3"), b(b""), b(SERVER_BUSY_REPLY)]], "queued: busy at once");
    assert!(!h.server.is_drained());

    h.recv(from_req(b"late", request(Value::Nil)));
    assert_eq!(h.take_sent(), vec![vec![b(b"late"), b(b""), b(SERVER_BUSY_REPLY)]]);
    assert!(h.take_started().is_empty());

    // One handler finishes within the grace, the other does not.
    h.reply(running[0].token, Ok(b(b"\x01"))).unwrap();
    assert_eq!(h.take_sent(), vec![vec![b(b"1"), b(b""), b(b"\x01")]]);
    assert_eq!(h.server.poll_timeout(), Some(h.now + Duration::from_secs(1)));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take_sent(), vec![vec![b(b"2"), b(b""), b(HANDLER_EXCEPTION_REPLY)]]);
    assert!(h.server.is_drained());
    let stats = *h.server.stats();
    assert_eq!(stats.refused_shutting_down, 1);
    assert_eq!(stats.refused_shutting_down_queued, 1);
}

#[test]
fn bare_framing_replies_with_the_body_alone_one_at_a_time() {
    let mut h = Harness::with_framing(Framing::Bare, ServerConfig::default());
    h.recv(vec![request(Value::from(7i64))]);
    let r = h.take_started();
    h.reply(r[0].token, Ok(r[0].load_bytes())).unwrap();
    assert_eq!(h.take_sent(), vec![vec![b(b"\x07")]]);
    h.recv(vec![b(b"\x01\x02")]);
    assert_eq!(h.take_sent(), vec![vec![b(BAD_LOAD_REPLY)]]);
    assert_eq!(h.sent.len(), 0);
    let t = h.server.stats();
    assert_eq!((t.received, t.accepted, t.rejected_malformed), (2, 1, 1));
}

#[test]
fn transmits_say_what_they_are() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(from_req(b"p", request(Value::Nil)));
    h.recv(from_req(b"p", b(b"\xc1")));
    let token = h.take_started()[0].token;
    h.reply(token, Ok(b(b"\xc0"))).unwrap();
    let kinds: Vec<(Option<RequestToken>, ReplyKind)> = h.sent.iter().map(|t| (t.token, t.kind)).collect();
    assert_eq!(kinds, vec![(None, ReplyKind::BadLoad), (Some(token), ReplyKind::Handler)]);
    assert_eq!(h.sent[1].body(), &b(b"\xc0"));
}

#[test]
fn time_never_runs_backwards() {
    let config = ServerConfig::default().request_timeout(Duration::from_secs(1));
    let mut h = Harness::new(config);
    let t0 = h.now;
    h.now = t0 + Duration::from_secs(10);
    h.recv(from_req(b"p", request(Value::Nil)));
    // An input with an older `now` does not move the deadline earlier.
    h.now = t0;
    h.recv(from_req(b"q", request(Value::Nil)));
    assert_eq!(h.server.poll_timeout(), Some(t0 + Duration::from_secs(11)));
}

#[test]
fn invalid_configs_are_refused_with_a_reason() {
    for config in [
        ServerConfig::default().max_concurrent(0),
        ServerConfig::default().max_message_size(0),
        ServerConfig::default().request_timeout(Duration::ZERO),
    ] {
        let err = Server::new(Framing::Routed, config).unwrap_err();
        assert!(err.to_string().starts_with("invalid server config: "), "{err}");
    }
}

#[test]
fn the_core_says_when_a_rep_driver_may_receive() {
    let mut h = Harness::with_framing(Framing::Bare, ServerConfig::default());
    assert!(h.server.may_receive(), "idle");
    h.server.handle_message(h.now, vec![request(Value::Nil)]);
    assert!(!h.server.may_receive(), "a request is pending: REP answers before it reads again");
    h.drain();
    let r = h.take_started();
    h.server.handle_result(h.now, r[0].token, Ok(r[0].load_bytes())).unwrap();
    assert!(!h.server.may_receive(), "the reply has not been handed to the socket yet");
    h.drain();
    assert!(h.server.may_receive(), "answered and sent");
    h.server.shutdown(h.now, Duration::from_secs(1));
    assert!(!h.server.may_receive(), "a shutting-down REP reads nothing more");

    let mut routed = Harness::new(ServerConfig::default());
    routed.recv(from_req(b"a", request(Value::Nil)));
    assert!(routed.server.may_receive(), "ROUTER reads while requests run");
    routed.server.shutdown(routed.now, Duration::from_secs(1));
    assert!(routed.server.may_receive(), "and after shutdown, to answer newcomers busy");
}

#[test]
fn only_a_reply_sent_in_a_running_handlers_stead_asks_to_abort_it() {
    let config = ServerConfig::default().max_concurrent(1).request_timeout(Duration::from_secs(2));
    let mut h = Harness::new(config);
    h.recv(from_req(b"a", request(Value::Nil)));
    h.recv(from_req(b"b", request(Value::Nil)));
    let a = h.take_started().remove(0);
    h.advance(Duration::from_secs(3));
    // a's handler ran past its timeout; b timed out in the queue, never started.
    let aborts: Vec<_> = h.sent.iter().map(Transmit::handler_to_abort).collect();
    assert_eq!(aborts, [Some(a.token), None]);
    h.sent.clear();
    // A handler that finishes in time is not aborted.
    h.recv(from_req(b"c", request(Value::Nil)));
    let c = h.take_started().remove(0);
    h.reply(c.token, Ok(c.load_bytes())).unwrap();
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.sent[0].handler_to_abort(), None);
}
