//! What a tokio/tower user relies on first: a pending request keeps its channel alive,
//! each channel draws its own jitter, the server's refusals are typed errors, an
//! unreachable server says why, a duplicated reply never answers the next request,
//! a dropped request is never sent, `Channel::get` never ignores a config silently,
//! and a server handle can be awaited.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{Client, ConnectError, ConnectErrorKind};
use reqchan_tests::python::{PythonPeer, python};
use reqchan_tests::within;
use reqchan_tests::zmqrs::ZmqRsServer;
use reqchan_tokio::server::SocketKind;
use reqchan_tokio::{
    BuildError, Channel, ChannelConfig, ChannelKey, Error, Refusal, RequestError, RequestOptions, Value,
};

const LIMIT: Duration = Duration::from_secs(30);
const TCP_ANY: &str = "tcp://127.0.0.1:0";

fn ping(n: u64) -> Value {
    Value::map([("cmd", "ping".into()), ("n", n.into())])
}

#[tokio::test]
async fn a_pending_request_keeps_its_channel_alive_after_the_last_handle_is_dropped() {
    let server = ZmqRsServer::rep(TCP_ANY).await;
    for config in [ChannelConfig::lockstep(), ChannelConfig::pipelined(4)] {
        let channel = Channel::connect(server.endpoint(), config).unwrap();
        let pending = channel.request::<_, Value>(&ping(1));
        let watch = channel.watch();
        drop(channel);
        let reply = within(LIMIT, "request after drop", pending).await.unwrap();
        assert_eq!(reply["load"], ping(1));
        // Once the request is done and nothing holds the channel, it closes.
        let mut watch = watch;
        within(LIMIT, "closed", watch.wait_for(|s| s == reqchan_tokio::ConnectionState::Closed)).await;
    }
}

#[tokio::test]
async fn oneshot_through_a_tower_stack_on_a_temporary_channel_is_answered() {
    use tower::{ServiceBuilder, ServiceExt};

    let server = ZmqRsServer::rep(TCP_ANY).await;
    let channel = Channel::connect(server.endpoint(), ChannelConfig::lockstep()).unwrap();
    // `service(channel)` moves the only handle into the stack; `oneshot` drops the
    // stack as soon as the request is made.
    let stack = ServiceBuilder::new().timeout(Duration::from_secs(10)).service(channel);
    let reply = within(LIMIT, "oneshot", stack.oneshot(ping(2))).await.unwrap();
    assert_eq!(reply["load"], ping(2));
}

#[tokio::test]
async fn close_still_completes_every_pending_request_at_once() {
    let server = ZmqRsServer::router(TCP_ANY, true).await;
    let channel = Channel::connect(server.endpoint(), ChannelConfig::lockstep().timeout(LIMIT * 2)).unwrap();
    let pending: Vec<_> = (0..3).map(|n| channel.request::<_, Value>(&ping(n))).collect();
    within(LIMIT, "first sent", channel.wait_for_stats(|s| s.transmitted == 1)).await;
    let closer = channel.clone();
    drop(channel);
    closer.close();
    for result in within(LIMIT, "closed requests", futures::future::join_all(pending)).await {
        assert_eq!(result, Err(Error::Request(RequestError::Closed)));
    }
}

/// When the first reconnect after a failed connect is due, for a core client built
/// with `config` (the core is deterministic: the same seed, the same delay).
fn first_reconnect_delay(config: &ChannelConfig) -> Duration {
    let start = Instant::now();
    let mut client = Client::new(config.client_config().clone()).unwrap();
    client.poll_action();
    client.handle_connect_failed(start, ConnectError::new(ConnectErrorKind::Refused, "test"));
    client.poll_timeout().unwrap().at - start
}

#[tokio::test]
async fn each_default_channel_draws_its_own_jitter_and_an_explicit_seed_repeats() {
    let unused = "tcp://127.0.0.1:9";
    let a = Channel::connect(unused, ChannelConfig::lockstep()).unwrap();
    let b = Channel::connect(unused, ChannelConfig::lockstep()).unwrap();
    let (seed_a, seed_b) = (a.config().explicit_seed().unwrap(), b.config().explicit_seed().unwrap());
    assert_ne!(seed_a, seed_b, "two default channels drew the same seed");
    assert_ne!(first_reconnect_delay(a.config()), first_reconnect_delay(b.config()), "the same jitter");

    let c = Channel::connect(unused, ChannelConfig::lockstep().seed(7)).unwrap();
    let d = Channel::connect(unused, ChannelConfig::lockstep().seed(7)).unwrap();
    assert_eq!(c.config().explicit_seed(), Some(7));
    assert_eq!(first_reconnect_delay(c.config()), first_reconnect_delay(d.config()));
    for channel in [a, b, c, d] {
        channel.close();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_refusals_are_typed_errors_counted_apart_and_raw_requests_keep_the_bytes() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "router"]).await;
    let channel = Channel::connect(peer.endpoint(), ChannelConfig::pipelined(4)).unwrap();
    let cases = [
        ("refuse-bad-load-map", Refusal::BadLoad),
        ("refuse-bad-load-str", Refusal::BadLoad),
        ("refuse-busy", Refusal::ServerBusy),
        ("refuse-exception", Refusal::HandlerException),
    ];
    for (marker, reason) in cases {
        let result = within(LIMIT, marker, channel.request::<_, Value>(&Value::from(marker))).await;
        let error = result.unwrap_err();
        assert_eq!(error, Error::Request(RequestError::Rejected { reason }), "{marker}");
        assert!(error.is_rejected());
        assert_eq!(error.is_retryable(), reason == Refusal::ServerBusy, "{marker}");
    }
    let raw = within(LIMIT, "raw", channel.request_raw(&b"refuse-busy"[..])).await.unwrap();
    assert_eq!(raw, Bytes::from_static(b"\x81\xa3msg\xabserver busy"), "request_raw returns the bytes untouched");
    let stats = channel.stats();
    assert_eq!((stats.rejected, stats.replied), (4, 1), "{stats:?}");
    let json = serde_json::to_value(stats).unwrap();
    assert_eq!(json["rejected"], 4, "stats serialize: {json}");
}

/// The driver keeps one timer armed no later than the core's next deadline and leaves
/// it armed when that deadline moves later (a request finished or was dropped): the
/// early wake-up must re-arm it for the deadline that remains, or the later request
/// would wait forever on a server that never answers.
#[tokio::test]
async fn a_request_times_out_after_an_earlier_deadline_went_away() {
    let server = ZmqRsServer::router(TCP_ANY, true).await;
    let channel = Channel::connect(server.endpoint(), ChannelConfig::pipelined(4)).unwrap();
    let once = |ms| RequestOptions::default().timeout(Duration::from_millis(ms)).tries(1);
    let early = channel.request_with::<_, Value>(&ping(1), once(150));
    let late = channel.request_with::<_, Value>(&ping(2), once(600));
    within(LIMIT, "both sent", channel.wait_for_stats(|s| s.transmitted == 2)).await;
    // The timer is armed for the early deadline; dropping the request moves the core's
    // next deadline later.
    drop(early);
    within(LIMIT, "early cancelled", channel.wait_for_stats(|s| s.cancelled == 1)).await;
    // Its deadline is at most 600 ms away; left unarmed, the driver would next wake
    // for something else, seconds later (a hang, but for that).
    let result = within(Duration::from_secs(3), "the late request times out near its deadline", late).await;
    assert_eq!(result.unwrap_err(), Error::Request(RequestError::TimedOut { attempts: 1 }));
    assert_eq!(channel.stats().timed_out, 1);
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unreachable_server_fails_with_the_connect_error_not_a_bare_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("ipc://{}/nobody-here.sock", dir.path().display());
    let cases = [
        (format!("tcp://127.0.0.1:{}", closed_port()), ConnectErrorKind::Refused),
        (missing, ConnectErrorKind::NoSuchPath),
    ];
    for (endpoint, kind) in cases {
        let config = ChannelConfig::lockstep().connect_timeout(Duration::from_millis(100));
        let channel = Channel::connect(&endpoint, config).unwrap();
        let options = RequestOptions::default().timeout(Duration::from_millis(600)).tries(1);
        let error =
            within(LIMIT, "unreachable", channel.request_with::<_, Value>(&ping(1), options)).await.unwrap_err();
        let Error::Request(RequestError::Unreachable { attempts: 0, cause }) = &error else {
            panic!("{endpoint}: {error:?}");
        };
        assert_eq!(cause.kind(), kind, "{endpoint}: {cause}");
        assert!(error.is_timeout() && error.is_connect() && error.is_retryable(), "{error}");
        println!("{endpoint}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_never_takes_a_duplicated_reply_as_the_next_requests() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "router", "--duplicate"]).await;
    let channel = Channel::connect(peer.endpoint(), ChannelConfig::lockstep()).unwrap();
    for n in 0..300 {
        let reply: Value = within(LIMIT, "request", channel.request(&ping(n))).await.unwrap();
        assert_eq!(reply["load"], ping(n), "request {n} got another request's reply");
    }
    let stats = channel.wait_for_stats(|s| s.stray_replies >= 299).await;
    assert_eq!((stats.replied, stats.resets), (300, 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dropped_while_the_driver_is_busy_is_never_sent_when_the_connection_opens() {
    // The first request waits for a server that is not there yet. Then a long backlog
    // of commands reaches the driver, the first request's cancel last of all, and the
    // server starts: the connection opens while the driver is still working through
    // the backlog. The cancel must still win over the first request's transmission.
    const BACKLOG: usize = 200_000;
    let port = closed_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let config = ChannelConfig::lockstep().max_queued(BACKLOG + 1).connect_timeout(LIMIT);
    let channel = Channel::connect(&endpoint, config).unwrap();
    let first = channel.request_raw(&b"dropped"[..]);
    within(LIMIT, "first submitted", channel.wait_for_stats(|s| s.submitted == 1)).await;
    let backlog: Vec<_> = (0..BACKLOG).map(|_| channel.request_raw(&b"kept"[..])).collect();
    drop(first);
    let server = ZmqRsServer::router(&endpoint, false).await;

    let mut backlog = backlog.into_iter();
    let reply = within(LIMIT, "the first kept request", backlog.next().unwrap()).await;
    assert_eq!(reply.unwrap(), Bytes::from_static(b"kept"));
    let mut watch = channel.watch();
    channel.close();
    drop(backlog);
    within(LIMIT, "closed", watch.wait_for(|s| s == reqchan_tokio::ConnectionState::Closed)).await;
    let stats = channel.stats();
    assert_eq!((stats.cancelled, stats.resets), (1, 0), "the dropped request went out: {stats:?}");
    drop(server);
}

#[tokio::test]
async fn get_with_another_config_is_a_typed_error_and_the_same_config_shares() {
    let key = ChannelKey::new("/pki", "minion-config", "tcp://127.0.0.1:9");
    let first = Channel::get(key.clone(), ChannelConfig::pipelined(8)).unwrap();
    let again = Channel::get(key.clone(), ChannelConfig::pipelined(8)).unwrap();
    assert!(first.same_channel(&again), "the same config shares the live channel (its drawn seed counts)");
    let other = Channel::get(key.clone(), ChannelConfig::pipelined(16)).unwrap_err();
    assert_eq!(other, BuildError::ConfigMismatch { key: Box::new(key.clone()) });
    println!("{other}");
    let seeded = Channel::get(key.clone(), ChannelConfig::pipelined(8).seed(1)).unwrap_err();
    assert!(matches!(seeded, BuildError::ConfigMismatch { .. }), "a different explicit seed is another config");
    first.close();
    // Closed: replaced by a channel with the new config.
    let replaced = Channel::get(key, ChannelConfig::pipelined(16)).unwrap();
    assert!(!replaced.same_channel(&first));
    replaced.close();
}

#[tokio::test]
async fn an_awaited_server_handle_resolves_when_the_server_ends() {
    let server = reqchan_cli::spawn_echo(TCP_ANY, SocketKind::Router).await.unwrap();
    let channel = Channel::connect(server.endpoint(), ChannelConfig::lockstep()).unwrap();
    let reply: Value = within(LIMIT, "echo", channel.request(&ping(3))).await.unwrap();
    assert_eq!(reply, ping(3));
    let stopper = server.stopper();
    let ended = tokio::spawn(async move { server.await });
    stopper.stop();
    let report = within(LIMIT, "server end", ended).await.unwrap().unwrap();
    assert_eq!(report.stats.core.replies_sent, 1, "{report:?}");
    channel.close();
}
