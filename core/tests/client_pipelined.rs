//! Pipelined mode (a DEALER socket, replies matched by the echoed request id):
//! retransmission without reset, late and duplicated replies, stray replies, the
//! in-flight bound, and seeded reproducibility.

use reqchan_sim as sim;

use bytes::Bytes;
use reqchan_core::client::{RequestError, RequestId};
use sim::{Behaviour, Sim, foreign_id, ms, opts, pipelined};

fn id_frame(id: RequestId) -> Bytes {
    Bytes::copy_from_slice(&id.as_u64().to_be_bytes())
}

fn reply(id: RequestId, payload: &'static [u8]) -> Vec<Bytes> {
    vec![id_frame(id), Bytes::new(), Bytes::from_static(payload)]
}

#[test]
fn a_timed_out_attempt_is_resent_without_a_reset_and_a_late_reply_to_attempt_one_completes_it() {
    let mut sim = Sim::new(pipelined(4), 30);
    sim.server.script(|_, attempt, _| match attempt {
        1 => Behaviour::AnswerAfter(ms(300)),
        _ => Behaviour::AnswerAfter(ms(400)),
    });
    let start = sim.now();
    let id = sim.submit("x", opts(ms(200), 3)).unwrap();

    let done = sim.run_until_done(id);

    let sent: Vec<_> = sim.sent_for(id).iter().map(|s| (s.attempt, s.epoch, s.at - start)).collect();
    assert_eq!(sent, [(1, 1, ms(0)), (2, 1, ms(200))], "the retry goes out on the same socket");
    assert_eq!(sim.actions().len(), 1, "no socket reset in pipelined mode");
    assert_eq!(sim.client().stats().resets, 0);
    assert_eq!(done.result, Ok(sim.server.reply_to(id, 1).unwrap()), "the late reply to attempt 1 completes it");
    assert_eq!((done.attempts, sim.done(id).unwrap().at - start), (2, ms(302)));

    sim.run_until_idle();
    assert!(sim.server.reply_to(id, 2).is_some());
    assert_eq!(sim.client().stats().stray_replies, 1, "the reply to attempt 2 arrives for a finished id");
    assert_eq!(sim.sent_for(id).len(), 2, "no third attempt after the reply");
}

#[test]
fn replies_for_unknown_unsent_or_finished_ids_are_stray() {
    let mut sim = Sim::new(pipelined(1), 31);
    sim.server.behave(Behaviour::AnswerAfter(ms(50)));
    let a = sim.request("a");
    let b = sim.request("b");
    assert!(sim.sent_for(b).is_empty(), "b waits for the one slot");

    sim.deliver(&reply(b, b"forged: b was never sent"));
    sim.deliver(&reply(foreign_id(1000), b"never accepted"));
    sim.deliver(&[Bytes::from_static(b"abc"), Bytes::new(), Bytes::from_static(b"unreadable id")]);
    sim.deliver(&[]);

    assert_eq!(sim.client().stats().stray_replies, 4);
    assert_eq!(sim.client().pending(), 2, "no request was completed by a stray reply");
    sim.run_until_idle();
    assert_eq!(sim.result(a), &Ok(sim.server.reply_to(a, 1).unwrap()));
    assert_eq!(sim.result(b), &Ok(sim.server.reply_to(b, 1).unwrap()));

    sim.deliver(&reply(a, b"again"));
    assert_eq!(sim.client().stats().stray_replies, 5);
    assert_eq!(sim.completions().len(), 2);
}

#[test]
fn a_reply_with_the_right_id_but_no_delimiter_is_malformed() {
    let mut sim = Sim::new(pipelined(2), 32);
    sim.server.behave(Behaviour::Silent);
    let a = sim.request("a");
    let b = sim.request("b");

    sim.deliver(&[id_frame(a), Bytes::from_static(b"payload, no delimiter")]);
    sim.deliver(&[id_frame(b), Bytes::from_static(b"x"), Bytes::from_static(b"y")]);

    for id in [a, b] {
        assert!(matches!(sim.result(id), Err(RequestError::MalformedReply { .. })), "{:?}", sim.result(id));
    }
    let c = sim.request("c");
    sim.deliver(&reply(c, b"fine"));
    assert_eq!(sim.result(c), &Ok(Bytes::from_static(b"fine")), "the client keeps working");
}

#[test]
fn duplicated_replies_complete_once_and_the_copies_are_stray() {
    let mut sim = Sim::new(pipelined(8), 33);
    sim.net.duplicate = 1.0;
    let ids: Vec<_> = (0..5).map(|_| sim.request("dup")).collect();

    sim.run_until_idle();

    for id in &ids {
        assert_eq!(sim.result(*id), &Ok(sim.server.reply_to(*id, 1).unwrap()));
    }
    assert_eq!(sim.completions().len(), 5);
    assert_eq!(sim.client().stats().stray_replies, 5);
}

#[test]
fn at_most_max_in_flight_are_outstanding_and_retries_go_before_the_queue() {
    let mut sim = Sim::new(pipelined(2), 34);
    sim.server.behave(Behaviour::Silent);
    let start = sim.now();
    let first: Vec<_> = (0..2).map(|_| sim.submit("first", opts(ms(1000), 2)).unwrap()).collect();
    let later: Vec<_> = (0..2).map(|_| sim.submit("later", opts(ms(5000), 1)).unwrap()).collect();

    sim.run_until_idle();

    let sent: Vec<_> = sim.sent().iter().map(|s| (s.id, s.attempt, s.at - start)).collect();
    #[rustfmt::skip]
    assert_eq!(sent, [
        (first[0], 1, ms(0)), (first[1], 1, ms(0)),
        (first[0], 2, ms(1000)), (first[1], 2, ms(1000)),
        (later[0], 1, ms(2000)), (later[1], 1, ms(2000)),
    ]);
}

#[test]
fn cancelling_a_request_in_flight_needs_no_reset_and_its_reply_is_stray() {
    let mut sim = Sim::new(pipelined(4), 35);
    sim.server.behave(Behaviour::AnswerAfter(ms(100)));
    let a = sim.request("a");
    let b = sim.request("b");
    sim.run_for(ms(10));

    assert!(sim.cancel(a));

    assert_eq!(sim.actions().len(), 1, "a DEALER socket needs no reset");
    sim.run_until_idle();
    assert_eq!(sim.client().stats().stray_replies, 1);
    assert_eq!(sim.sent_for(a).len(), 1);
    assert!(sim.result(b).is_ok());
}

#[test]
fn jittered_replies_arrive_out_of_order_and_each_reaches_its_own_request() {
    let mut sim = Sim::new(pipelined(64), 36);
    sim.net.jitter = ms(50);
    let ids: Vec<_> = (0..40).map(|_| sim.request("same")).collect();

    sim.run_until_idle();

    let order: Vec<_> = sim.completions().iter().map(|d| d.completion.id).collect();
    assert_ne!(order, ids, "jitter should reorder the replies");
    for id in ids {
        assert_eq!(sim.result(id), &Ok(sim.server.reply_to(id, 1).unwrap()));
    }
}

#[test]
fn one_seed_gives_one_exact_run() {
    let run = |seed| {
        let mut sim = Sim::new(pipelined(4), seed);
        sim.net.jitter = ms(20);
        sim.net.loss = 0.2;
        for _ in 0..20 {
            sim.submit("r", opts(ms(100), 3)).unwrap();
        }
        sim.run_until_idle();
        let sent: Vec<_> = sim.sent().iter().map(|s| (s.id, s.attempt, s.at)).collect();
        let done: Vec<_> = sim.completions().iter().map(|d| (d.at, d.completion.clone())).collect();
        (sent, done)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}
