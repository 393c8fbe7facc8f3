//! The tokio client against a real libzmq peer (pyzmq REP and ROUTER servers started
//! as child processes): round trips in both modes, a silent server, a server killed
//! and restarted mid-run, garbage replies.
//!
//! Needs python with pyzmq (`scripts/check` makes one); skipped with a message when it
//! is missing, except under `CI`, where that fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use std::time::Duration;
use tokio::sync::watch;

use bytes::Bytes;
use reqchan_tests::python::{PythonPeer, python};
use reqchan_tests::within;
use reqchan_tokio::{Channel, ChannelConfig, ConnectionState, Error, RequestError, RequestOptions, Value};

const LIMIT: Duration = Duration::from_secs(30);
const PEER: &str = "zmq_peer.py";

fn ping(n: u64) -> Value {
    Value::map([("cmd", "ping".into()), ("n", n.into())])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn modes() -> [ChannelConfig; 2] {
    [ChannelConfig::lockstep(), ChannelConfig::pipelined(16)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_against_pyzmq_rep_and_router() {
    let Some(python) = python() else { return };
    for kind in ["rep", "router"] {
        let peer = PythonPeer::start(&python, PEER, &["--type", kind]).await;
        for config in modes() {
            let mode = config.client_config().mode;
            let channel = Channel::connect(peer.endpoint(), config).unwrap();
            let requests = (0..50).map(|n| {
                let channel = channel.clone();
                async move { (n, channel.request::<_, Value>(&ping(n)).await) }
            });
            for (n, reply) in within(LIMIT, "50 requests", futures::future::join_all(requests)).await {
                let reply = reply.unwrap_or_else(|e| panic!("{kind} {mode:?} request {n}: {e}"));
                assert_eq!(reply.get("load"), Some(&ping(n)), "{kind} {mode:?}: request {n} got another reply");
            }
            let raw = within(LIMIT, "raw", channel.request_raw(Bytes::from_static(b"\x01\x02"))).await.unwrap();
            assert_eq!(raw, Bytes::from_static(b"\x01\x02"));
            let stats = channel.stats();
            assert_eq!((stats.replied, stats.transmitted, stats.stray_replies), (51, 51, 0), "{kind} {mode:?}");
        }
    }
}

#[tokio::test]
async fn a_silent_pyzmq_server_sees_exactly_tries_fresh_transmissions() {
    let Some(python) = python() else { return };
    for config in modes() {
        let mode = config.client_config().mode;
        let mut peer = PythonPeer::start(&python, PEER, &["--type", "router", "--silent"]).await;
        let channel = Channel::connect(peer.endpoint(), config).unwrap();
        let payload = Bytes::from_static(b"\x81\xa1n\x07");
        let options = RequestOptions::default().timeout(Duration::from_millis(200)).tries(3);
        let result = within(LIMIT, "silent", channel.request_raw_with(payload.clone(), options)).await;
        assert_eq!(result.unwrap_err(), Error::Request(RequestError::TimedOut { attempts: 3 }), "{mode:?}");
        // The server reports each message it received: three, each the whole request.
        for attempt in 1..=3 {
            let line = peer.next_line(LIMIT).await.unwrap_or_else(|| panic!("{mode:?}: attempt {attempt} not seen"));
            assert_eq!(line, format!("recv 1 {}", hex(&payload)), "{mode:?} attempt {attempt}");
        }
        assert_eq!(peer.next_line(Duration::from_millis(300)).await, None, "{mode:?}: a fourth transmission");
        let stats = channel.stats();
        assert_eq!((stats.transmitted, stats.retried, stats.timed_out), (3, 2, 1), "{mode:?}");
    }
}

#[tokio::test]
async fn garbage_from_pyzmq_is_a_typed_error_and_the_channel_keeps_working() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, PEER, &["--type", "rep"]).await;
    for config in modes() {
        let channel = Channel::connect(peer.endpoint(), config).unwrap();
        let garbage = within(LIMIT, "garbage", channel.request::<_, Value>(&"garbage")).await;
        assert!(matches!(garbage, Err(Error::Decode(_))), "{garbage:?}");
        let multi = within(LIMIT, "multi-frame", channel.request::<_, Value>(&"multi-frame")).await;
        assert!(matches!(multi, Err(Error::Request(RequestError::MalformedReply { .. }))), "{multi:?}");
        let bytes: Value = within(LIMIT, "bytes", channel.request(&"bytes-please")).await.unwrap();
        assert_eq!(bytes.get("str"), Some(&Value::Binary(vec![0xff, 0xfe])));
        let fine: Value = within(LIMIT, "after garbage", channel.request(&ping(9))).await.unwrap();
        assert_eq!(fine.get("load"), Some(&ping(9)));
    }
}

/// Outcomes of a run of requests by several concurrent callers. Replies are counted in
/// a watch channel, so the test can wait for "n replies so far" as an event.
#[derive(Debug)]
struct Tally {
    ok: watch::Sender<usize>,
    failed: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pyzmq_server_killed_and_restarted_mid_run_loses_no_request() {
    let Some(python) = python() else { return };
    for config in modes() {
        let mode = config.client_config().mode;
        let mut peer = PythonPeer::start(&python, PEER, &["--type", "rep"]).await;
        let endpoint = peer.endpoint().to_owned();
        let config = config.timeout(Duration::from_millis(500)).tries(4);
        let channel = Channel::connect(&endpoint, config).unwrap();
        let tally = Arc::new(Tally { ok: watch::Sender::new(0), failed: AtomicUsize::new(0) });
        let stop = Arc::new(AtomicBool::new(false));
        let callers: Vec<_> = (0..4u64)
            .map(|caller| {
                let (channel, tally, stop) = (channel.clone(), tally.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        let load = Value::map([("caller", caller.into()), ("n", n.into())]);
                        // Every request resolves: a reply to this very request, or a typed error.
                        match channel.request::<_, Value>(&load).await {
                            Ok(reply) => {
                                assert_eq!(reply.get("load"), Some(&load), "{mode:?}: a reply to another request");
                                tally.ok.send_modify(|ok| *ok += 1);
                            }
                            Err(Error::Request(RequestError::TimedOut { .. } | RequestError::PeerLost { .. })) => {
                                tally.failed.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(other) => panic!("{mode:?}: unexpected error {other}"),
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let wait_ok = |at_least: usize| {
            let mut ok = tally.ok.subscribe();
            async move {
                let _ = ok.wait_for(|ok| *ok >= at_least).await;
            }
        };
        within(LIMIT, "replies before the kill", wait_ok(20)).await;
        peer.kill();
        let before_restart = *tally.ok.borrow();
        let mut peer = PythonPeer::start(&python, PEER, &["--type", "rep", "--bind", &endpoint]).await;
        within(LIMIT, "replies after the restart", wait_ok(before_restart + 20)).await;
        stop.store(true, Ordering::SeqCst);
        let mut sent = 0;
        for caller in callers {
            sent += within(LIMIT, "caller", caller).await.unwrap();
        }
        let (ok, failed) = (*tally.ok.borrow(), tally.failed.load(Ordering::SeqCst));
        assert_eq!(ok as u64 + failed as u64, sent, "{mode:?}: a request did not resolve");
        let stats = channel.stats();
        assert_eq!(stats.submitted, sent, "{mode:?}");
        assert!(stats.resets >= 1, "{mode:?}: the socket was never reset: {stats:?}");
        assert_eq!(channel.pending(), 0);
        peer.kill();
        assert!(channel.is_live(), "{mode:?}: the same channel carried on");
        eprintln!("{mode:?}: {ok} answered, {failed} failed, {} resets", stats.resets);
    }
}

/// zmq.rs's REQ socket never notices that its peer died while idle: the next request
/// would be written into the dead connection and lose an attempt. The channel's DEALER
/// socket watches its monitor, so an idle channel sees the loss by itself and
/// reconnects, and the next request, with a single try, succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_channel_notices_a_killed_server_and_its_next_request_does_not_pay_for_it() {
    let Some(python) = python() else { return };
    for config in modes() {
        let mode = config.client_config().mode;
        let mut peer = PythonPeer::start(&python, PEER, &["--type", "rep"]).await;
        let endpoint = peer.endpoint().to_owned();
        let channel = Channel::connect(&endpoint, config.timeout(Duration::from_secs(10)).tries(1)).unwrap();
        within(LIMIT, "before the kill", channel.request_raw(&b"\xa1a"[..])).await.unwrap();
        let mut watch = channel.watch();
        peer.kill();
        let noticed = within(LIMIT, "loss noticed", watch.wait_for(|s| s != ConnectionState::Connected)).await;
        assert_eq!(noticed, ConnectionState::Reconnecting, "{mode:?}: the idle channel saw the loss itself");
        let mut peer = PythonPeer::start(&python, PEER, &["--type", "rep", "--bind", &endpoint]).await;
        let reply = within(LIMIT, "after the restart", channel.request_raw(&b"\xa1b"[..])).await;
        assert_eq!(reply.unwrap(), Bytes::from_static(b"\xa1b"), "{mode:?}");
        let stats = channel.stats();
        assert_eq!((stats.transmitted, stats.replied, stats.failed), (2, 2, 0), "{mode:?}: {stats:?}");
        let seen = within(LIMIT, "the new server's report", peer.next_line(LIMIT)).await;
        assert_eq!(seen.as_deref(), Some("recv 1 a162"), "{mode:?}: the new server saw the request once");
    }
}
