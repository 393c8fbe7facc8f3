//! Transmissions the socket refused, and the connection state users see.
//!
//! These drive a bare [`Client`] by hand, step by step, so each rule is visible in the
//! test: a refused send is not an attempt, it is sent again first on the next
//! connection, and it cannot outlive the deadline it had while waiting.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{
    Client, ClientConfig, ConnectError, ConnectErrorKind, ConnectReason, ConnectionState, Mode, RequestError,
    RequestOptions, SocketAction, Transmit,
};
use reqchan_sim::origin;

fn refused() -> ConnectError {
    ConnectError::new(ConnectErrorKind::Refused, "test")
}

const SECOND: Duration = Duration::from_secs(1);

fn client(mode: Mode) -> Client {
    let mut config = ClientConfig::default();
    config.mode = mode;
    config.defaults.timeout = SECOND;
    config.defaults.tries = 2;
    Client::new(config).unwrap()
}

/// What a REP server answers to `sent`: its envelope, then `body`.
fn reply_to(sent: &Transmit, body: &'static str) -> Vec<Bytes> {
    let frames = sent.frames();
    frames[..frames.len() - 1].iter().cloned().chain([Bytes::from_static(body.as_bytes())]).collect()
}

/// Carries out the pending socket action (a connect that succeeds) and returns it.
fn connect(client: &mut Client, now: Instant) -> Option<SocketAction> {
    let action = client.poll_action();
    if let Some(SocketAction::Connect { .. }) = action {
        client.handle_connected(now);
    }
    action
}

#[test]
fn a_refused_lockstep_send_is_not_an_attempt_and_goes_out_first_on_the_new_socket() {
    let t0 = origin();
    let mut client = client(Mode::Lockstep);
    connect(&mut client, t0);
    let first = client.submit(t0, Bytes::from_static(b"a"), RequestOptions::default()).unwrap();
    let second = client.submit(t0, Bytes::from_static(b"b"), RequestOptions::default()).unwrap();
    let sent = client.poll_transmit(t0).unwrap();
    assert_eq!((sent.id, sent.attempt), (first, 1));

    // The socket's peer died while it was idle: the send itself fails.
    let t1 = t0 + Duration::from_millis(10);
    client.handle_send_refused(t1, &[first]);
    assert_eq!(client.poll_action(), Some(SocketAction::Connect { reason: ConnectReason::PeerLost }));
    assert_eq!(client.connection_state(), ConnectionState::Reconnecting);
    assert!(client.poll_transmit(t1).is_none(), "nothing goes out before the new socket connects");
    let stats = *client.stats();
    // Counters only go up: the hand-off stays counted, the refusal is counted apart.
    assert_eq!((stats.transmitted, stats.send_failures, stats.retried), (1, 1, 0));

    client.handle_connected(t1);
    let again = client.poll_transmit(t1).unwrap();
    assert_eq!((again.id, again.attempt), (first, 1), "the refused request goes first, still attempt 1");
    client.handle_reply(t1, &reply_to(&again, "A"));
    let done = client.poll_completion().unwrap();
    assert_eq!((done.id, done.attempts, done.result), (first, 1, Ok(Bytes::from_static(b"A"))));
    assert_eq!(client.poll_transmit(t1).unwrap().id, second);
    assert_eq!(client.stats().transmitted - client.stats().send_failures, 2, "two reached the wire");
}

#[test]
fn a_connection_that_keeps_refusing_cannot_keep_a_request_past_its_queue_deadline() {
    let t0 = origin();
    let mut client = client(Mode::Lockstep);
    connect(&mut client, t0);
    let id = client.submit(t0, Bytes::from_static(b"a"), RequestOptions::default()).unwrap();
    let mut now = t0;
    // Connect, refuse, reconnect, refuse...: each round a little later.
    while now < t0 + 2 * SECOND {
        let Some(sent) = client.poll_transmit(now) else { break };
        assert_eq!(sent.attempt, 1);
        client.handle_send_refused(now, &[id]);
        now += Duration::from_millis(100);
        client.handle_timeout(now);
        connect(&mut client, now);
    }
    // Submitted at t0 with a 1 s timeout: it failed at t0 + 1 s, never sent for real.
    let done = client.poll_completion().expect("the request completed");
    assert_eq!((done.id, done.result), (id, Err(RequestError::TimedOut { attempts: 0 })));
    assert!(now <= t0 + SECOND + Duration::from_millis(100), "completed late: {:?}", now - t0);
    assert_eq!(client.stats().transmitted - client.stats().send_failures, 0, "nothing reached the wire");
    assert_eq!(client.stats().send_failures, 10);
}

#[test]
fn a_refused_retry_keeps_its_earlier_attempts_and_its_retry_deadline() {
    let t0 = origin();
    let mut client = client(Mode::Pipelined { max_in_flight: 4 });
    connect(&mut client, t0);
    let id = client.submit(t0, Bytes::from_static(b"a"), RequestOptions::default()).unwrap();
    assert_eq!(client.poll_transmit(t0).unwrap().attempt, 1);
    // Attempt 1 times out; the retry goes out at once (pipelined: no reset).
    let t1 = t0 + SECOND;
    client.handle_timeout(t1);
    let retry = client.poll_transmit(t1).unwrap();
    assert_eq!(retry.attempt, 2);
    client.handle_send_refused(t1, &[id]);
    let stats = *client.stats();
    // Counters only go up: both hand-offs stay counted, the refusal apart.
    assert_eq!((stats.transmitted, stats.retried, stats.send_failures), (2, 1, 1));
    // On the new connection, sent again as attempt 2 (not 3): the refused one did not count.
    assert!(client.poll_transmit(t1).is_none(), "nothing before the new socket connects");
    connect(&mut client, t1);
    assert_eq!(client.poll_transmit(t1).unwrap().attempt, 2);
    assert_eq!(client.poll_timeout().map(|t| t.at), Some(t1 + SECOND));
}

#[test]
fn a_refusal_naming_a_request_not_in_flight_is_ignored_for_it() {
    let t0 = origin();
    let mut client = client(Mode::Lockstep);
    connect(&mut client, t0);
    let id = client.submit(t0, Bytes::from_static(b"a"), RequestOptions::default()).unwrap();
    client.handle_send_refused(t0, &[id]); // still queued: nothing of it was refused
    assert_eq!(client.stats().send_failures, 0);
    connect(&mut client, t0); // the connection was reset all the same
    let sent = client.poll_transmit(t0).unwrap();
    client.handle_reply(t0, &reply_to(&sent, "A"));
    client.handle_send_refused(t0, &[sent.id]); // finished
    assert_eq!(client.stats().send_failures, 0);
    assert_eq!(client.poll_completion().unwrap().result, Ok(Bytes::from_static(b"A")));
    assert!(client.poll_completion().is_none());
}

#[test]
fn the_connection_state_follows_connect_reset_and_close() {
    let t0 = origin();
    let mut client = client(Mode::Lockstep);
    assert_eq!(client.connection_state(), ConnectionState::Connecting);
    assert!(client.poll_action().is_some());
    client.handle_connect_failed(t0, refused());
    assert_eq!(client.connection_state(), ConnectionState::Connecting, "never connected yet");
    let retry_at = client.poll_timeout().map(|t| t.at).unwrap();
    client.handle_timeout(retry_at);
    connect(&mut client, retry_at);
    assert_eq!(client.connection_state(), ConnectionState::Connected);
    client.handle_peer_lost(retry_at);
    assert_eq!(client.connection_state(), ConnectionState::Reconnecting);
    client.close(retry_at);
    assert_eq!(client.connection_state(), ConnectionState::Closed);
}

#[test]
fn a_reply_naming_a_request_whose_only_send_was_refused_is_stray() {
    let t0 = origin();
    let mut client = client(Mode::Pipelined { max_in_flight: 4 });
    connect(&mut client, t0);
    let id = client.submit(t0, Bytes::from_static(b"a"), RequestOptions::default()).unwrap();
    let sent = client.poll_transmit(t0).unwrap();
    client.handle_send_refused(t0, &[id]);
    connect(&mut client, t0);
    // The peer never saw it: a reply that names it (forged, or from a confused peer)
    // cannot be its answer.
    client.handle_reply(t0, &[sent.frames()[0].clone(), Bytes::new(), Bytes::from_static(b"forged")]);
    assert_eq!(client.stats().stray_replies, 1);
    assert!(client.poll_completion().is_none());
    assert_eq!(client.pending(), 1);
}

#[test]
fn poll_timeout_says_what_is_due() {
    use reqchan_core::client::{Backoff, ExponentialBackoff, TimeoutReason};
    let t0 = origin();
    let mut client = client(Mode::Lockstep);
    client.poll_action();
    let options = RequestOptions::default()
        .tries(2)
        .backoff(Backoff::Exponential(ExponentialBackoff::new(SECOND, SECOND).unwrap()));
    client.submit(t0, Bytes::from_static(b"a"), options).unwrap();
    let reason = |client: &Client| client.poll_timeout().map(|t| t.reason);
    assert_eq!(reason(&client), Some(TimeoutReason::Expiry), "queued, waiting for a connection");
    client.handle_connect_failed(t0, refused());
    assert_eq!(reason(&client), Some(TimeoutReason::Reconnect), "the reconnect pause ends first");
    let retry_at = client.poll_timeout().unwrap().at;
    client.handle_timeout(retry_at);
    connect(&mut client, retry_at);
    client.poll_transmit(retry_at).unwrap();
    assert_eq!(reason(&client), Some(TimeoutReason::AttemptTimeout));
    let timed_out = client.poll_timeout().unwrap().at;
    client.handle_timeout(timed_out);
    assert_eq!(reason(&client), Some(TimeoutReason::BackoffEnd), "a pause before the retry");
}
