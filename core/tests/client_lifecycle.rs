//! The client's life around its requests, in both modes: the bounded queue, config
//! validation, cancel, close, peer loss, refused connections and backoff.

use reqchan_sim as sim;

use std::time::Duration;

use bytes::Bytes;
use reqchan_core::client::{
    Backoff, Client, ConnectReason, ExponentialBackoff, MAX_DURATION, Mode, RequestError, SocketAction, SubmitError,
};
use sim::{Behaviour, Connector, Sim, both_modes, foreign_id, is_pipelined, lockstep, ms, opts, pipelined, refused};

/// Both modes with one request on the wire at a time, so that queues form alike.
fn one_at_a_time() -> [reqchan_core::client::ClientConfig; 2] {
    [lockstep(), pipelined(1)]
}

fn exponential(initial: Duration, max: Duration) -> ExponentialBackoff {
    ExponentialBackoff::new(initial, max).unwrap()
}

// ----- the queue and the config -----

#[test]
fn a_full_queue_refuses_at_submit_and_accepts_again_once_it_drains() {
    for mut config in one_at_a_time() {
        config.max_queued = 2;
        let mut sim = Sim::new(config, 40);
        sim.server.behave(Behaviour::Silent);
        let on_the_wire = sim.submit("a", opts(ms(100), 1)).unwrap();
        sim.submit("b", opts(ms(1000), 1)).unwrap();
        sim.submit("c", opts(ms(1000), 1)).unwrap();

        assert_eq!(sim.submit("d", opts(ms(1000), 1)), Err(SubmitError::QueueFull { capacity: 2 }));
        assert_eq!((sim.client().stats().submitted, sim.client().pending()), (3, 3), "a refusal queues nothing");

        sim.run_until_done(on_the_wire);
        assert!(sim.submit("e", opts(ms(1000), 1)).is_ok(), "b went on the wire: one place is free");
        assert_eq!(sim.submit("f", opts(ms(1000), 1)), Err(SubmitError::QueueFull { capacity: 2 }));
    }
}

#[test]
fn an_invalid_config_is_refused_by_new() {
    let mut cases = Vec::new();
    let mut c = lockstep();
    c.max_queued = 0;
    cases.push(("max_queued 0", c));
    cases.push(("max_in_flight 0", pipelined(0)));
    let mut c = lockstep();
    c.max_message_size = 0;
    cases.push(("max_message_size 0", c));
    let mut c = lockstep();
    c.defaults.timeout = Duration::ZERO;
    cases.push(("timeout 0", c));
    let mut c = lockstep();
    c.defaults.timeout = MAX_DURATION + Duration::from_nanos(1);
    cases.push(("timeout over MAX_DURATION", c));
    let mut c = lockstep();
    c.defaults.tries = 0;
    cases.push(("tries 0", c));
    for (what, config) in cases {
        assert!(Client::new(config).is_err(), "{what} accepted");
    }
    let mut smallest = pipelined(1);
    smallest.max_queued = 1;
    smallest.max_message_size = 1;
    smallest.defaults.timeout = Duration::from_nanos(1);
    smallest.defaults.tries = 1;
    assert!(Client::new(smallest).is_ok());
}

#[test]
fn invalid_backoff_policies_are_refused_when_built() {
    assert!(ExponentialBackoff::new(Duration::ZERO, ms(1)).is_err());
    assert!(ExponentialBackoff::new(ms(2), ms(1)).is_err());
    assert!(ExponentialBackoff::new(ms(1), MAX_DURATION + ms(1)).is_err());
    assert!(exponential(ms(1), ms(2)).with_factor(0).is_err());
    assert!(exponential(ms(1), ms(2)).with_jitter(1.01).is_err());
}

// ----- cancel -----

#[test]
fn a_cancelled_queued_request_completes_at_once_and_is_never_transmitted() {
    for config in one_at_a_time() {
        let mut sim = Sim::new(config, 41);
        sim.server.behave(Behaviour::Silent);
        let a = sim.submit("a", opts(ms(100), 3)).unwrap();
        let b = sim.request("b");
        let c = sim.request("c");

        assert!(sim.cancel(b));

        assert_eq!(sim.client().stats().resets, 0, "nothing on the wire was touched");
        sim.run_until_idle();
        assert!(sim.sent_for(b).is_empty());
        assert_eq!(sim.server.transmissions(a), 3);
        assert!(!sim.sent_for(c).is_empty(), "the queue moved past the cancelled request");
    }
}

#[test]
fn cancel_of_an_unknown_or_finished_id_returns_false_and_emits_nothing() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 42);
        let done = sim.request("done");
        sim.run_until_done(done);
        let pending = sim.submit("pending", opts(ms(100), 1)).unwrap();
        let cancelled = sim.request("cancelled");
        assert!(sim.cancel(cancelled));

        // `Sim::cancel` also checks that a refused cancel emits nothing and counts nothing.
        assert!(!sim.cancel(foreign_id(1000)), "never accepted");
        assert!(!sim.cancel(done), "already replied");
        assert!(!sim.cancel(cancelled), "already cancelled");
        assert_eq!(sim.completions().len(), 2);
        assert!(sim.completion(pending).is_none());
    }
}

// ----- close -----

#[test]
fn close_completes_every_pending_request_with_closed_in_submission_order_and_sends_nothing_after() {
    for config in one_at_a_time() {
        let mut sim = Sim::new(config, 43);
        sim.server.behave(Behaviour::Silent);
        let pause = Backoff::Exponential(exponential(ms(500), ms(500)));
        let backing_off = sim.submit("backing off", opts(ms(100), 2).backoff(pause)).unwrap();
        let queued = sim.request("queued");
        let last = sim.request("last");
        sim.run_for(ms(200));
        let sent_before = sim.sent().len();

        // `Sim::close` checks the order, the results and the Close action.
        sim.close();

        assert_eq!(sim.completions().iter().filter(|d| d.completion.result == Err(RequestError::Closed)).count(), 3);
        for id in [backing_off, queued, last] {
            assert_eq!(sim.result(id), &Err(RequestError::Closed));
        }
        let now = sim.now();
        assert!(sim.client_unchecked().poll_transmit(now).is_none());
        assert_eq!(sim.submit("after", opts(ms(100), 1)), Err(SubmitError::Closed));
        sim.run_until_idle();
        assert_eq!(sim.sent().len(), sent_before, "nothing is sent after close");
        assert_eq!(sim.client().pending(), 0);
        assert_eq!(sim.client().poll_timeout().map(|t| t.at), None, "a closed client never needs waking");
    }
}

#[test]
fn after_close_every_input_is_ignored() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 44);
        sim.server.behave(Behaviour::Silent);
        let a = sim.request("a");
        sim.close();
        let stats = *sim.client().stats();
        let later = sim.now() + Duration::from_secs(3600);

        // Straight to the client, behind the model's back: none of it may change anything.
        let client = sim.client_unchecked();
        client.handle_connected(later);
        client.handle_connect_failed(later, refused());
        client.handle_peer_lost(later);
        client.handle_send_refused(later, &[a]);
        client.handle_reply(later, &[Bytes::from_static(b"late")]);
        client.handle_reply(later, &[Bytes::copy_from_slice(&a.as_u64().to_be_bytes()), Bytes::new(), "late".into()]);
        client.handle_timeout(later);
        client.close(later);

        assert_eq!(client.poll_action(), None);
        assert!(client.poll_transmit(later).is_none());
        assert_eq!(client.poll_completion(), None);
        assert_eq!(*sim.client().stats(), stats);
        assert!(sim.client().is_closed() && !sim.client().is_connected());
        sim.settle();
    }
}

// ----- peer loss -----

#[test]
fn a_lost_peer_fails_the_attempts_in_flight_at_once_and_they_are_retried() {
    for config in both_modes() {
        let pipelined = is_pipelined(&config);
        let mut sim = Sim::new(config, 45);
        sim.server.behave(Behaviour::Silent);
        let ids: Vec<_> = (0..3).map(|_| sim.submit("r", opts(ms(1000), 2)).unwrap()).collect();
        sim.run_for(ms(100));
        let lost_at = sim.now();

        sim.lose_peer();

        assert_eq!(
            *sim.actions().last().unwrap(),
            (lost_at, SocketAction::Connect { reason: ConnectReason::PeerLost })
        );
        let in_flight = if pipelined { 3 } else { 1 };
        let retried: Vec<_> =
            sim.sent().iter().filter(|s| s.at == lost_at).map(|s| (s.id, s.attempt, s.epoch)).collect();
        let expected: Vec<_> = ids[..in_flight].iter().map(|id| (*id, 2, 2)).collect();
        assert_eq!(retried, expected, "re-sent at once on the new connection, not after the timeout");
        let done = sim.run_until_done(ids[0]);
        assert_eq!(done.result, Err(RequestError::TimedOut { attempts: 2 }));
        assert_eq!(sim.done(ids[0]).unwrap().at, lost_at + ms(1000));
    }
}

#[test]
fn a_lost_peer_on_the_last_try_fails_with_peer_lost_at_once() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 46);
        sim.server.behave(Behaviour::Silent);
        let last_try = sim.submit("once", opts(ms(1000), 1)).unwrap();
        let other = sim.request("other");
        sim.run_for(ms(100));

        sim.lose_peer();

        assert_eq!(sim.result(last_try), &Err(RequestError::PeerLost { attempts: 1 }));
        assert_eq!(sim.done(last_try).unwrap().at, sim.now());
        assert!(sim.completion(other).is_none(), "tries remain for the other request");
        assert_eq!(sim.client().stats().failed, 1);
    }
}

#[test]
fn a_reply_read_while_the_connection_reopens_is_stray() {
    for config in both_modes() {
        let pipelined = is_pipelined(&config);
        let connector = Connector { latency: ms(10), refusals: 0 };
        let mut sim = Sim::with_connector(config, 51, connector);
        sim.server.behave(Behaviour::Silent);
        let id = sim.request("r");
        sim.run_for(ms(20));
        sim.lose_peer();
        let id_frame = Bytes::copy_from_slice(&id.as_u64().to_be_bytes());
        let late =
            if pipelined { vec![id_frame, Bytes::new(), "late".into()] } else { vec![Bytes::new(), "late".into()] };

        sim.deliver(&late);

        assert_eq!(sim.client().stats().stray_replies, 1);
        assert!(sim.completion(id).is_none(), "no reply is accepted before the new socket is connected");
        sim.run_for(ms(10));
        let resent: Vec<_> = sim.sent_for(id).iter().map(|s| (s.attempt, s.epoch)).collect();
        assert_eq!(resent, [(1, 1), (2, 2)]);
    }
}

#[test]
fn a_lost_peer_reported_while_no_connection_is_open_is_ignored() {
    for config in both_modes() {
        let connector = Connector { latency: ms(10), refusals: 0 };
        let mut sim = Sim::with_connector(config, 47, connector);
        let id = sim.request("r");
        sim.run_for(ms(5));
        let (stats, actions) = (*sim.client().stats(), sim.actions().len());

        sim.lose_peer();

        assert_eq!((*sim.client().stats(), sim.actions().len()), (stats, actions));
        sim.run_until_done(id);
        assert!(sim.result(id).is_ok());
    }
}

// ----- refused sends -----

#[test]
fn a_refused_send_is_not_an_attempt_and_goes_out_again_on_the_new_connection() {
    for config in both_modes() {
        let mut sim = Sim::new(config, 52);
        sim.refuse_sends(1);
        let id = sim.submit("r", opts(ms(500), 1)).unwrap();

        // `Sim` reports the refusal, then the peer lost, as a driver would.
        assert_eq!(sim.refused(), [(sim.now(), id, 1)]);
        let sent: Vec<_> = sim.sent_for(id).iter().map(|s| (s.attempt, s.epoch)).collect();
        assert_eq!(sent, [(1, 2)], "sent once, as attempt 1, on the fresh connection");
        let done = sim.run_until_done(id);
        assert_eq!((done.attempts, done.result), (1, Ok(sim.server.reply_to(id, 1).unwrap())));
        assert_eq!(sim.server.transmissions(id), 1);
        // Counters only go up: two hand-offs, one of them refused.
        assert_eq!((sim.client().stats().transmitted, sim.client().stats().send_failures), (2, 1));
    }
}

#[test]
fn a_refused_send_keeps_its_place_at_the_head_of_the_retries() {
    let mut sim = Sim::new(pipelined(2), 54);
    sim.server.behave(Behaviour::Silent);
    let a = sim.request("a");
    let b = sim.request("b");
    sim.run_for(ms(10));
    sim.refuse_sends(1);

    // Both retries wait for the new connection, a first; a's send is refused there.
    sim.lose_peer();

    assert_eq!(sim.refused(), [(sim.now(), a, 2)]);
    let on_third: Vec<_> = sim.sent().iter().filter(|s| s.epoch == 3).map(|s| (s.id, s.attempt)).collect();
    assert_eq!(on_third, [(a, 2), (b, 2)], "the refused request goes first again");
}

#[test]
fn a_request_whose_sends_keep_being_refused_fails_at_its_queue_deadline() {
    for config in both_modes() {
        let mut sim = Sim::with_connector(config, 53, Connector { latency: ms(5), refusals: 0 });
        sim.refuse_sends(u32::MAX);
        let start = sim.now();
        let id = sim.submit("r", opts(ms(300), 3)).unwrap();

        let done = sim.run_until_done(id);

        assert_eq!(done.result, Err(RequestError::TimedOut { attempts: 0 }));
        assert_eq!(sim.done(id).unwrap().at - start, ms(300), "refusals never extend the wait");
        assert!(sim.refused().len() > 10, "refused {} times", sim.refused().len());
        assert!(sim.sent().is_empty());
    }
}

// ----- refused connections -----

#[test]
fn refused_connections_are_retried_after_backoff_and_queued_requests_keep_their_deadlines() {
    for mut config in both_modes() {
        config.reconnect = exponential(ms(100), ms(1000));
        let mut sim = Sim::with_connector(config, 48, Connector { latency: Duration::ZERO, refusals: 3 });
        let start = sim.now();
        let short = sim.submit("short", opts(ms(500), 1)).unwrap();
        let long = sim.submit("long", opts(ms(2000), 1)).unwrap();

        sim.run_until_idle();

        let connects: Vec<_> = sim
            .actions()
            .iter()
            .map(|(at, action)| match action {
                SocketAction::Connect { reason } => (*at - start, *reason),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        #[rustfmt::skip]
        assert_eq!(connects, [
            (ms(0), ConnectReason::Initial), (ms(100), ConnectReason::Retry),
            (ms(300), ConnectReason::Retry), (ms(700), ConnectReason::Retry),
        ]);
        // It timed out waiting for a connection: the error says why none was made.
        assert_eq!(sim.result(short), &Err(RequestError::Unreachable { attempts: 0, cause: refused() }));
        assert_eq!(sim.done(short).unwrap().at - start, ms(500), "its deadline did not move while disconnected");
        assert!(sim.sent_for(short).is_empty());
        assert_eq!(sim.sent_for(long)[0].at - start, ms(700), "sent as soon as the connection is up");
        assert!(sim.result(long).is_ok());
        assert_eq!(sim.client().stats().connect_failures, 3);
    }
}

#[test]
fn a_successful_connection_resets_the_reconnect_backoff() {
    let mut config = lockstep();
    config.reconnect = exponential(ms(100), Duration::from_secs(10));
    let mut sim = Sim::with_connector(config, 50, Connector { latency: Duration::ZERO, refusals: 3 });
    sim.run_for(ms(1000));
    assert_eq!(sim.actions().len(), 4, "connected at the fourth attempt, after 100 + 200 + 400 ms");

    sim.connector.refusals = 1;
    sim.lose_peer();
    let lost_at = sim.now();
    sim.run_for(ms(1000));

    let reconnects: Vec<_> = sim.actions()[4..].iter().map(|(at, _)| *at - lost_at).collect();
    assert_eq!(reconnects, [ms(0), ms(100)], "the first failure after a success waits the initial delay again");
}

#[test]
fn reconnect_jitter_follows_the_seed() {
    let connect_times = |seed: u64| {
        let mut config = lockstep();
        config.seed = seed;
        config.reconnect = exponential(ms(100), ms(1000)).with_jitter(0.5).unwrap();
        let mut sim = Sim::with_connector(config, 0, Connector { latency: Duration::ZERO, refusals: 5 });
        let id = sim.submit("r", opts(Duration::from_secs(10), 1)).unwrap();
        sim.run_until_done(id);
        sim.actions().iter().map(|(at, _)| *at - sim::origin()).collect::<Vec<_>>()
    };
    let a = connect_times(1);
    assert_eq!(a.len(), 6);
    for (n, gap) in a.windows(2).map(|w| w[1] - w[0]).enumerate() {
        let full = (ms(100) * 2u32.pow(n as u32)).min(ms(1000));
        assert!(gap >= full / 2 && gap <= full, "gap {n}: {gap:?} outside [{:?}, {full:?}]", full / 2);
    }
    assert_eq!(a, connect_times(1));
    assert_ne!(a, connect_times(2));
}

#[test]
fn a_retry_waiting_for_a_connection_longer_than_its_timeout_times_out() {
    for config in one_at_a_time() {
        let mut sim = Sim::new(config, 49);
        sim.server.behave(Behaviour::Silent);
        let id = sim.submit("r", opts(ms(300), 3)).unwrap();
        sim.run_for(ms(50));
        sim.connector.refusals = u32::MAX;

        sim.lose_peer();

        let lost_at = sim.now();
        let done = sim.run_until_done(id);
        assert_eq!(done.result, Err(RequestError::Unreachable { attempts: 1, cause: refused() }));
        assert_eq!(sim.done(id).unwrap().at, lost_at + ms(300), "the wait for a slot is bounded by the timeout");
    }
}

#[test]
fn a_request_expiring_before_any_connect_failed_is_a_plain_timeout_and_a_later_success_clears_the_cause() {
    let mut sim = Sim::with_connector(lockstep(), 50, Connector { latency: Duration::ZERO, refusals: 1 });
    // The first connect fails, the retry succeeds after the reconnect pause (100 ms):
    // a request that times out before that is unreachable, one after it is not.
    let early = sim.submit("early", opts(ms(50), 1)).unwrap();
    assert_eq!(sim.run_until_done(early).result, Err(RequestError::Unreachable { attempts: 0, cause: refused() }));
    sim.server.behave(Behaviour::Silent);
    let late = sim.submit("late", opts(ms(500), 1)).unwrap();
    assert_eq!(sim.run_until_done(late).result, Err(RequestError::TimedOut { attempts: 1 }));
}

// ----- backoff between attempts -----

fn retry_gaps(mode: Mode, client_seed: u64, backoff: ExponentialBackoff) -> Vec<Duration> {
    let mut config = lockstep();
    config.mode = mode;
    config.seed = client_seed;
    let mut sim = Sim::new(config, 0);
    sim.server.behave(Behaviour::Silent);
    let id = sim.submit(Bytes::from_static(b"r"), opts(ms(100), 5).backoff(Backoff::Exponential(backoff))).unwrap();
    let done = sim.run_until_done(id);
    assert_eq!(done.result, Err(RequestError::TimedOut { attempts: 5 }));
    let at: Vec<_> = sim.server.received_for(id).iter().map(|r| r.at).collect();
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn backoff_delays_grow_exponentially_between_real_transmissions() {
    for mode in [Mode::Lockstep, Mode::Pipelined { max_in_flight: 4 }] {
        let gaps = retry_gaps(mode, 0, exponential(ms(50), ms(300)));
        // Each gap is the attempt's timeout (100 ms) plus the pause: 50, 100, 200, then capped at 300.
        assert_eq!(gaps, [ms(150), ms(200), ms(300), ms(400)], "{mode:?}");
    }
}

#[test]
fn backoff_jitter_is_seeded_and_bounded() {
    let policy = exponential(ms(50), ms(1000)).with_jitter(0.5).unwrap();
    for mode in [Mode::Lockstep, Mode::Pipelined { max_in_flight: 4 }] {
        let gaps = retry_gaps(mode, 3, policy);
        for (n, gap) in gaps.iter().enumerate() {
            let full = ms(50) * 2u32.pow(n as u32);
            let pause = *gap - ms(100);
            assert!(
                pause >= full / 2 && pause <= full,
                "{mode:?} pause {n}: {pause:?} outside [{:?}, {full:?}]",
                full / 2
            );
        }
        assert_eq!(gaps, retry_gaps(mode, 3, policy), "same seed, same schedule");
        assert_ne!(gaps, retry_gaps(mode, 4, policy), "another seed, another schedule");
    }
}
