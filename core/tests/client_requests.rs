//! Requests and replies in both modes: identity, retries, timeouts to the tick, bad
//! replies, size limits, timers and counters.

use reqchan_sim as sim;

use std::time::Duration;

use bytes::Bytes;
use reqchan_core::client::{RequestError, RequestOptions, SubmitError};
use sim::{Behaviour, Sim, both_modes, is_pipelined, ms, opts};

const NS: Duration = Duration::from_nanos(1);

#[test]
fn two_identical_payloads_are_two_requests_each_with_its_own_reply() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 1);
        let a = sim.request("same bytes");
        let b = sim.request("same bytes");
        assert_ne!(a, b, "ids never derive from the payload");

        sim.run_until_idle();

        for id in [a, b] {
            assert_eq!(sim.server.transmissions(id), 1);
            let own_reply = sim.server.reply_to(id, 1).expect("the server answered");
            assert_eq!(sim.result(id), &Ok(own_reply), "{id} got another request's reply");
        }
        assert_ne!(sim.result(a), sim.result(b));
    }
}

#[test]
fn each_retry_is_a_real_transmission_counted_at_the_server() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 2);
        sim.server.script(|_, attempt, _| if attempt < 3 { Behaviour::Silent } else { Behaviour::Answer });
        let id = sim.submit("retry me", opts(ms(100), 3)).unwrap();

        let done = sim.run_until_done(id);

        let at_server: Vec<_> = sim.server.received_for(id).iter().map(|r| (r.attempt, r.payload.clone())).collect();
        let payload = Bytes::from_static(b"retry me");
        assert_eq!(at_server, [(1, payload.clone()), (2, payload.clone()), (3, payload)]);
        assert_eq!(done.attempts, 3);
        assert_eq!(done.result, Ok(sim.server.reply_to(id, 3).unwrap()));
        assert_eq!((sim.client().stats().transmitted, sim.client().stats().retried), (3, 2));
    }
}

#[test]
fn given_a_silent_server_exactly_tries_transmissions_then_timed_out() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 3);
        sim.server.behave(Behaviour::Silent);
        let start = sim.now();
        let id = sim.submit("anyone?", opts(ms(250), 3)).unwrap();

        let done = sim.run_until_done(id);

        assert_eq!(done.result, Err(RequestError::TimedOut { attempts: 3 }));
        assert_eq!(sim.server.transmissions(id), 3);
        let sent_at: Vec<_> = sim.sent_for(id).iter().map(|s| s.at - start).collect();
        assert_eq!(sent_at, [ms(0), ms(250), ms(500)], "each retry goes out when the previous attempt times out");
        assert_eq!(sim.done(id).unwrap().at - start, ms(750), "the last attempt times out to the tick");
        sim.run_until_idle();
        assert_eq!(sim.server.transmissions(id), 3, "nothing is sent after the request failed");
    }
}

#[test]
fn a_deadline_is_honoured_to_the_tick_not_earlier_not_later() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 4);
        sim.server.behave(Behaviour::Silent);
        sim.run_for(ms(3));
        let id = sim.submit("tick", opts(ms(250), 1)).unwrap();
        let sent = sim.sent_for(id)[0].at;
        let deadline = sent + ms(250);
        assert_eq!(sim.client().poll_timeout().map(|t| t.at), Some(deadline));

        sim.run_until(deadline - NS);
        sim.handle_timeout_at(deadline - NS);
        assert!(sim.completion(id).is_none(), "timed out before its deadline");
        assert!(sim.step());
        assert_eq!(sim.now(), deadline, "the sim wakes exactly at poll_timeout()");
        assert_eq!(sim.result(id), &Err(RequestError::TimedOut { attempts: 1 }));
        assert_eq!(sim.done(id).unwrap().at, deadline);
    }
}

#[test]
fn a_reply_on_the_deadline_tick_still_counts() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 5);
        sim.net.latency = Duration::ZERO;
        // Answered exactly one timeout after transmission.
        sim.server.behave(Behaviour::AnswerAfter(ms(250)));
        let id = sim.submit("just in time", opts(ms(250), 1)).unwrap();
        let done = sim.run_until_done(id);
        assert_eq!(done.result, Ok(sim.server.reply_to(id, 1).unwrap()));
    }
}

#[test]
fn a_malformed_reply_fails_the_request_and_the_client_keeps_working() {
    for config in both_modes() {
        let pipelined = is_pipelined(&config);
        let mut sim = Sim::new(config, 6);
        sim.server.script(|_, _, payload| if payload == b"bad" { Behaviour::Malformed } else { Behaviour::Answer });
        let bad = sim.request("bad");
        let good = sim.request("good");

        sim.run_until_idle();

        assert!(matches!(sim.result(bad), Err(RequestError::MalformedReply { .. })), "{:?}", sim.result(bad));
        assert_eq!(sim.completion(bad).unwrap().attempts, 1, "a malformed reply is an answer: no retry");
        assert_eq!(sim.result(good), &Ok(sim.server.reply_to(good, 1).unwrap()));
        assert_eq!(sim.client().stats().failed, 1);
        assert_eq!(
            sim.client().stats().resets,
            0,
            "{}: a bad reply needs no reset",
            if pipelined { "dealer" } else { "req" }
        );
    }
}

#[test]
fn a_reply_over_max_message_size_fails_with_reply_too_large_and_the_client_keeps_working() {
    for mut config in both_modes() {
        config.max_message_size = 64;
        let mut sim = Sim::new(config, 7);
        sim.server.script(|_, _, payload| match payload {
            b"huge" => Behaviour::Oversized(65),
            b"edge" => Behaviour::Oversized(64),
            _ => Behaviour::Answer,
        });
        let huge = sim.request("huge");
        let edge = sim.request("edge");
        let after = sim.request("after");

        sim.run_until_idle();

        assert_eq!(sim.result(huge), &Err(RequestError::ReplyTooLarge { size: 65, limit: 64 }));
        assert_eq!(sim.result(edge).as_ref().map(Bytes::len), Ok(64), "a reply of exactly the limit is delivered");
        assert_eq!(sim.result(after), &Ok(sim.server.reply_to(after, 1).unwrap()));
    }
}

#[test]
fn a_payload_over_max_message_size_is_refused_at_submit_and_nothing_is_queued() {
    for mut config in both_modes() {
        config.max_message_size = 16;
        let mut sim = Sim::new(config, 8);
        let fits = sim.submit(vec![b'a'; 16], RequestOptions::default());
        assert!(fits.is_ok());

        let refused = sim.submit(vec![b'a'; 17], RequestOptions::default());

        assert_eq!(refused, Err(SubmitError::TooLarge { size: 17, limit: 16 }));
        assert_eq!(sim.client().stats().submitted, 1);
        sim.run_until_idle();
        assert_eq!(sim.sent().len(), 1, "only the accepted request is sent");
    }
}

#[test]
fn invalid_request_options_are_refused_at_submit() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 9);
        let too_long = reqchan_core::client::MAX_DURATION + NS;
        for options in [opts(Duration::ZERO, 1), opts(ms(1), 0), opts(too_long, 1), RequestOptions::default().tries(0)]
        {
            let refused = sim.submit("x", options);
            assert!(matches!(refused, Err(SubmitError::InvalidOptions(_))), "{options:?}: {refused:?}");
        }
        assert_eq!(sim.client().stats().submitted, 0);
        assert_eq!(sim.client().pending(), 0);
        let ok = sim.submit("x", opts(reqchan_core::client::MAX_DURATION, 1));
        assert!(ok.is_ok(), "the longest timeout is accepted: {ok:?}");
    }
}

#[test]
fn handle_timeout_is_a_no_op_when_nothing_is_due() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 10);
        // A busy schedule: silent first attempts, backoff pauses, a refused reconnect.
        sim.server.script(|_, attempt, _| if attempt == 1 { Behaviour::Silent } else { Behaviour::Answer });
        let backoff = reqchan_core::client::ExponentialBackoff::new(ms(30), ms(30)).unwrap();
        let options = opts(ms(100), 3).backoff(reqchan_core::client::Backoff::Exponential(backoff));
        for payload in ["a", "b", "c"] {
            sim.submit(payload, options).unwrap();
        }
        // The reconnect after a lost peer is refused once.
        sim.connector.refusals = 1;
        let mut probes = 0;
        probe_until(&mut sim, sim::origin() + ms(50), &mut probes);
        sim.lose_peer();
        probe_until(&mut sim, sim::origin() + Duration::from_secs(60), &mut probes);
        assert!(probes >= 10, "the schedule was not busy: {probes} probes");
        assert_eq!(sim.completions().len(), 3, "every request ran to its end");
        assert!(sim.client().stats().retried >= 2, "{:?}", sim.client().stats());
        assert!(sim.client().stats().connect_failures >= 1);
    }
}

/// Steps through everything up to `t`, checking before each wake-up that
/// `handle_timeout` at the current time and just before the wake-up changes nothing.
fn probe_until(sim: &mut Sim, t: std::time::Instant, probes: &mut usize) {
    while let Some(wake) = sim.next_wake().filter(|wake| *wake <= t) {
        for at in [sim.now(), wake - NS] {
            // Only instants before the wake-up: at it, something is due (a timer can fall
            // due at the instant of the network event just handled).
            if at < sim.now() || at >= wake {
                continue;
            }
            let stats = *sim.client().stats();
            let (pending, timer) = (sim.client().pending(), sim.client().poll_timeout().map(|t| t.at));
            let outputs = (sim.actions().len(), sim.sent().len(), sim.completions().len());
            sim.handle_timeout_at(at);
            let when = at - sim::origin();
            assert_eq!(sim.actions().len(), outputs.0, "handle_timeout(+{when:?}) asked for a socket action");
            assert_eq!(sim.sent().len(), outputs.1, "handle_timeout(+{when:?}) released a transmission");
            assert_eq!(sim.completions().len(), outputs.2, "handle_timeout(+{when:?}) completed something");
            assert_eq!(*sim.client().stats(), stats, "handle_timeout(+{when:?}) changed the counters");
            assert_eq!((sim.client().pending(), sim.client().poll_timeout().map(|t| t.at)), (pending, timer));
            *probes += 1;
        }
        sim.step();
    }
}

#[test]
fn time_going_backwards_is_tolerated() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 11);
        sim.server.behave(Behaviour::Silent);
        sim.run_for(Duration::from_secs(10));
        // The client sees the time of this submission...
        let first = sim.submit("on time", opts(ms(100), 1)).unwrap();
        let earlier = sim::origin();
        sim.run_until_done(first);

        // ...then one with a clock 10 s behind: its deadline counts from the latest time seen.
        let id = sim.submit_at(earlier, "late clock", opts(ms(100), 1)).unwrap();
        let now = sim.now();
        assert_eq!(sim.sent_for(id)[0].at, now);
        assert_eq!(sim.client().poll_timeout().map(|t| t.at), Some(now + ms(100)));

        // Inputs from the past change nothing that is not due.
        sim.handle_timeout_at(earlier);
        assert!(sim.completion(id).is_none());
        assert_eq!(sim.client().poll_timeout().map(|t| t.at), Some(now + ms(100)));

        sim.run_until_idle();
        assert_eq!(sim.done(id).unwrap().at, now + ms(100));
        assert_eq!(sim.result(id), &Err(RequestError::TimedOut { attempts: 1 }));
    }
}

#[test]
fn a_reply_with_a_stale_clock_still_completes_its_request() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 12);
        sim.server.behave(Behaviour::Silent);
        let id = sim.submit("x", opts(ms(100), 1)).unwrap();
        sim.run_for(ms(50));
        let frames = sim.sent_for(id)[0].frames.clone();
        let reply = if frames.len() == 3 { frames } else { vec![Bytes::new(), Bytes::from_static(b"pong")] };
        sim.deliver_at(sim::origin(), &reply);
        assert!(sim.result(id).is_ok(), "{:?}", sim.result(id));
    }
}

#[test]
fn counters_add_up_to_one_outcome_per_request() {
    for config in both_modes() {
        let pipelined = is_pipelined(&config);
        let mut sim = Sim::new(config, 13);
        sim.server.script(|_, _, payload| match payload {
            b"silent" => Behaviour::Silent,
            b"malformed" => Behaviour::Malformed,
            b"slow" => Behaviour::AnswerAfter(ms(500)),
            _ => Behaviour::Answer,
        });
        let replied = sim.request("hello");
        let timed_out = sim.submit("silent", opts(ms(100), 2)).unwrap();
        let failed = sim.request("malformed");
        let cancelled = sim.request("cancel me");
        let closed = sim.request("slow");
        sim.cancel(cancelled);
        sim.run_for(ms(300));
        sim.close();

        let stats = *sim.client().stats();
        assert_eq!(sim.completions().len(), 5);
        assert!(sim.result(replied).is_ok());
        assert_eq!(sim.result(timed_out), &Err(RequestError::TimedOut { attempts: 2 }));
        assert!(matches!(sim.result(failed), Err(RequestError::MalformedReply { .. })));
        assert_eq!(sim.result(cancelled), &Err(RequestError::Cancelled));
        assert_eq!(sim.result(closed), &Err(RequestError::Closed));
        let outcomes = (stats.replied, stats.timed_out, stats.failed, stats.cancelled, stats.closed);
        assert_eq!((stats.submitted, outcomes), (5, (1, 1, 1, 1, 1)));
        // Lockstep cancels "cancel me" in the queue; pipelined had already sent it.
        let transmitted = if pipelined { 6 } else { 5 };
        assert_eq!((stats.transmitted, stats.retried), (transmitted, 1));
    }
}
