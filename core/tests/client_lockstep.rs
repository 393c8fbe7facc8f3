//! Lockstep mode (REQ semantics, one request in flight): the slot, socket resets on
//! timeout and cancel, late and duplicated replies, framing, and retries that keep the
//! slot.

use reqchan_sim as sim;

use std::time::Duration;

use bytes::Bytes;
use reqchan_core::client::{
    Backoff, ConnectReason, ExponentialBackoff, LockstepFraming, RequestError, RequestId, SocketAction,
};
use sim::{Behaviour, Connector, Sim, SocketState, lockstep, ms, opts};

const NS: Duration = Duration::from_nanos(1);

fn constant_backoff(delay: Duration) -> Backoff {
    Backoff::Exponential(ExponentialBackoff::new(delay, delay).unwrap())
}

#[test]
fn given_the_server_holds_the_slot_a_queued_request_times_out_with_zero_attempts_and_is_never_sent() {
    let mut sim = Sim::new(lockstep(), 20);
    sim.server.behave(Behaviour::Silent);
    let start = sim.now();
    let holder = sim.submit("holder", opts(Duration::from_secs(10), 1)).unwrap();
    let waiter = sim.submit("waiter", opts(ms(300), 3)).unwrap();

    let done = sim.run_until_done(waiter);

    assert_eq!(done.result, Err(RequestError::TimedOut { attempts: 0 }));
    assert_eq!(sim.done(waiter).unwrap().at - start, ms(300), "it fails when its timeout runs out in the queue");
    sim.run_until_idle();
    assert!(sim.sent_for(waiter).is_empty(), "an expired request is never transmitted");
    assert_eq!(sim.server.transmissions(waiter), 0);
    assert_eq!(sim.result(holder), &Err(RequestError::TimedOut { attempts: 1 }));
}

#[test]
fn a_timed_out_attempt_resets_the_socket_and_the_retry_goes_out_on_the_new_one() {
    let mut sim = Sim::new(lockstep(), 21);
    sim.server.script(|_, attempt, _| if attempt == 1 { Behaviour::Silent } else { Behaviour::Answer });
    let start = sim.now();
    let id = sim.submit("stuck", opts(ms(200), 2)).unwrap();

    sim.run_until(start + ms(200) - NS);
    assert_eq!(sim.actions().len(), 1, "no reset before the timeout");
    sim.step();

    let (at, action) = *sim.actions().last().unwrap();
    assert_eq!(action, SocketAction::Connect { reason: ConnectReason::AttemptTimedOut(id) });
    assert_eq!(at - start, ms(200), "the reset is asked for on the deadline");
    let done = sim.run_until_done(id);
    assert_eq!(done.result, Ok(sim.server.reply_to(id, 2).unwrap()));
    let epochs: Vec<_> = sim.sent_for(id).iter().map(|s| (s.attempt, s.epoch)).collect();
    assert_eq!(epochs, [(1, 1), (2, 2)], "the retry goes out on the fresh socket");
    assert_eq!(sim.client().stats().resets, 1);
}

#[test]
fn the_last_timed_out_attempt_also_resets_the_socket_before_the_next_request() {
    let mut sim = Sim::new(lockstep(), 22);
    sim.server.script(|_, _, payload| if payload == b"lost" { Behaviour::Silent } else { Behaviour::Answer });
    let lost = sim.submit("lost", opts(ms(100), 1)).unwrap();
    let next = sim.request("next");

    sim.run_until_idle();

    assert_eq!(sim.result(lost), &Err(RequestError::TimedOut { attempts: 1 }));
    assert!(sim.actions().contains(&(
        sim.done(lost).unwrap().at,
        SocketAction::Connect { reason: ConnectReason::AttemptTimedOut(lost) }
    )));
    assert_eq!(sim.sent_for(next)[0].epoch, 2, "a REQ socket stuck waiting is never reused");
    assert!(sim.result(next).is_ok());
}

#[test]
fn a_late_reply_delivered_while_the_new_socket_opens_is_stray_and_completes_nothing() {
    let connector = Connector { latency: ms(5), refusals: 0 };
    let mut sim = Sim::with_connector(lockstep(), 23, connector);
    sim.server.script(|_, attempt, _| if attempt == 1 { Behaviour::AnswerAfter(ms(300)) } else { Behaviour::Answer });
    let id = sim.submit("slow", opts(ms(200), 2)).unwrap();
    sim.run_for(ms(5));
    let first = sim.sent_for(id)[0].at;

    sim.run_until(first + ms(200));
    assert_eq!(sim.socket(), SocketState::Opening, "the reset socket is still connecting");
    let late = sim.server.reply_to(id, 1).expect("the server has answered attempt 1 (slowly)");
    // Exactly what the server sent, echoing the request's envelope.
    let envelope = &sim.sent_for(id)[0].frames;
    let late_frames: Vec<Bytes> = envelope[..envelope.len() - 1].iter().cloned().chain([late.clone()]).collect();
    sim.deliver(&late_frames);

    assert_eq!(sim.client().stats().stray_replies, 1);
    assert!(sim.completion(id).is_none(), "a reply on a reset socket is never delivered");
    let done = sim.run_until_done(id);
    assert_eq!(done.result, Ok(sim.server.reply_to(id, 2).unwrap()));
    assert_ne!(done.result, Ok(late));
    sim.run_until_idle();
    assert!(sim.dropped() >= 1, "the slow reply on the old connection was dropped with it");
    assert_eq!(sim.client().stats().stray_replies, 1);
}

#[test]
fn a_reply_when_nothing_is_in_flight_is_stray() {
    let mut sim = Sim::new(lockstep(), 24);
    sim.deliver(&[Bytes::new(), Bytes::from_static(b"unsolicited")]);
    assert_eq!(sim.client().stats().stray_replies, 1);
    let id = sim.request("then a real one");
    sim.run_until_done(id);
    assert_eq!(sim.result(id), &Ok(sim.server.reply_to(id, 1).unwrap()));
}

#[test]
fn cancelling_the_request_in_flight_resets_the_socket_and_it_is_never_sent_again() {
    let mut sim = Sim::new(lockstep(), 25);
    sim.server.script(|_, _, payload| if payload == b"first" { Behaviour::Silent } else { Behaviour::Answer });
    let first = sim.submit("first", opts(ms(500), 3)).unwrap();
    let second = sim.request("second");
    sim.run_for(ms(50));

    assert!(sim.cancel(first));

    let cancel_time = sim.now();
    assert_eq!(
        *sim.actions().last().unwrap(),
        (cancel_time, SocketAction::Connect { reason: ConnectReason::Cancelled(first) })
    );
    assert_eq!(sim.client().stats().resets, 1);
    sim.run_until_idle();
    assert_eq!(sim.sent_for(first).len(), 1, "a cancelled request is never retransmitted");
    let sent = sim.sent_for(second);
    assert_eq!((sent[0].at, sent[0].epoch), (cancel_time, 2), "the queue moves on at once, on the new socket");
    assert!(sim.result(second).is_ok());
}

#[test]
fn a_retry_keeps_the_slot_through_its_backoff_pause() {
    let mut sim = Sim::new(lockstep(), 26);
    sim.server.script(
        |_, attempt, payload| {
            if payload == b"a" && attempt == 1 { Behaviour::Silent } else { Behaviour::Answer }
        },
    );
    let start = sim.now();
    let a = sim.submit("a", opts(ms(200), 2).backoff(constant_backoff(ms(100)))).unwrap();
    let b = sim.submit("b", opts(Duration::from_secs(5), 1)).unwrap();

    sim.run_until_idle();

    let order: Vec<_> = sim.sent().iter().map(|s| (s.id, s.attempt, s.at - start)).collect();
    // a times out at 200 ms, pauses 100 ms, goes again at 300 ms and is answered at
    // 302 ms; only then does b get the slot.
    assert_eq!(order, [(a, 1, ms(0)), (a, 2, ms(300)), (b, 1, ms(302))]);
    assert!(sim.result(a).is_ok() && sim.result(b).is_ok());
}

#[test]
fn cancelling_a_request_in_its_backoff_pause_frees_the_slot_without_another_reset() {
    let mut sim = Sim::new(lockstep(), 27);
    sim.server.script(|_, _, payload| if payload == b"a" { Behaviour::Silent } else { Behaviour::Answer });
    let a = sim.submit("a", opts(ms(200), 3).backoff(constant_backoff(ms(500)))).unwrap();
    let b = sim.request("b");
    sim.run_for(ms(250));
    assert_eq!(sim.client().stats().resets, 1, "a's first attempt timed out");

    assert!(sim.cancel(a));

    assert_eq!(sim.client().stats().resets, 1, "nothing is on the wire: no reset");
    assert_eq!(sim.sent_for(b)[0].at, sim.now(), "b takes the slot at once");
    sim.run_until_idle();
    assert_eq!(sim.sent_for(a).len(), 1, "a is never retransmitted after cancel");
    assert!(sim.result(b).is_ok());
}

/// Runs `first` to completion, then submits `second` (which the server leaves
/// unanswered) and delivers a second copy of `first`'s reply while `second` is on the
/// wire, as a server that answers twice would. Returns the sim and `second`'s id.
fn duplicate_reply_while_the_next_request_waits(framing: LockstepFraming) -> (Sim, RequestId) {
    let mut config = lockstep();
    config.lockstep_framing = framing;
    let mut sim = Sim::new(config, 26);
    sim.server.script(|_, _, payload| if payload == b"first" { Behaviour::Answer } else { Behaviour::Silent });
    let first = sim.request("first");
    sim.run_until_done(first);
    let reply = sim.server.reply_to(first, 1).unwrap();
    let envelope = sim.sent_for(first)[0].frames.clone();
    let duplicate: Vec<Bytes> = envelope[..envelope.len() - 1].iter().cloned().chain([reply]).collect();

    let second = sim.submit("second", opts(ms(500), 1)).unwrap();
    sim.run_for(ms(10));
    assert_eq!(sim.sent_for(second).len(), 1, "the second request is on the wire");
    sim.deliver(&duplicate);
    (sim, second)
}

#[test]
fn a_duplicated_reply_never_answers_the_next_request() {
    let (mut sim, second) = duplicate_reply_while_the_next_request_waits(LockstepFraming::Correlated);
    let frames = &sim.sent_for(second)[0].frames;
    assert_eq!(frames.len(), 3, "[request-id, \"\", payload]: {frames:?}");
    assert_eq!((frames[1].is_empty(), &frames[2][..]), (true, &b"second"[..]));

    assert!(sim.completion(second).is_none(), "the copy of the first reply did not answer the second request");
    assert_eq!(sim.client().stats().stray_replies, 1);
    assert_eq!(sim.run_until_done(second).result, Err(RequestError::TimedOut { attempts: 1 }));
}

#[test]
fn plain_framing_sends_the_bare_req_envelope_and_matches_replies_by_position() {
    let (sim, second) = duplicate_reply_while_the_next_request_waits(LockstepFraming::Plain);
    let frames = &sim.sent_for(second)[0].frames;
    assert_eq!(frames, &[Bytes::new(), Bytes::from_static(b"second")]);
    // The documented limit of plain framing: a duplicated reply cannot be told apart.
    let done = sim.completion(second).expect("answered by position");
    assert!(matches!(&done.result, Ok(reply) if reply.starts_with(b"reply 0 to first")));
}
