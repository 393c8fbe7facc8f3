//! The tokio client against zmq.rs servers in the same process: round trips in both
//! modes over tcp and ipc, a silent server, garbage replies, cancellation, close,
//! restart, and the tower `Service`.

use std::time::Duration;

use bytes::Bytes;
use reqchan_tests::within;
use reqchan_tests::zmqrs::{BYTES_REPLY, ZmqRsServer};
use reqchan_tokio::{
    BuildError, Channel, ChannelConfig, ChannelKey, ConnectionState, Crypt, Error, RequestError, RequestOptions,
    SubmitError, Value,
};

const LIMIT: Duration = Duration::from_secs(20);
const TCP_ANY: &str = "tcp://127.0.0.1:0";

fn ping(n: u64) -> Value {
    Value::map([("cmd", "ping".into()), ("n", n.into())])
}

/// The echoed envelope's load.
fn load_of(reply: &Value) -> &Value {
    reply.get("load").unwrap_or_else(|| panic!("not an envelope: {reply:?}"))
}

#[tokio::test]
async fn lockstep_round_trip_against_rep() {
    let server = ZmqRsServer::rep(TCP_ANY).await;
    let channel = Channel::connect(server.endpoint(), ChannelConfig::lockstep()).unwrap();
    let reply: Value = within(LIMIT, "request", channel.request(&ping(1))).await.unwrap();
    assert_eq!(reply.get("enc").and_then(Value::as_str), Some("clear"));
    assert_eq!(reply.get("version").and_then(Value::as_i64), Some(3));
    assert_eq!(load_of(&reply), &ping(1));
    let raw = within(LIMIT, "raw request", channel.request_raw(Bytes::from_static(b"\x93\x01\x02\x03"))).await;
    assert_eq!(raw.unwrap(), Bytes::from_static(b"\x93\x01\x02\x03"));
    assert_eq!(channel.state(), ConnectionState::Connected);
    let stats = channel.stats();
    assert_eq!((stats.submitted, stats.transmitted, stats.replied, stats.resets), (2, 2, 2, 0));
    assert_eq!(server.received(), 2);
}

async fn pipelined_round_trips(server: &ZmqRsServer) {
    let channel = Channel::connect(server.endpoint(), ChannelConfig::pipelined(16)).unwrap();
    let requests = (0..200).map(|n| {
        let channel = channel.clone();
        async move { (n, channel.request::<_, Value>(&ping(n)).await) }
    });
    let replies = within(LIMIT, "200 pipelined requests", futures::future::join_all(requests)).await;
    for (n, reply) in replies {
        assert_eq!(load_of(&reply.unwrap()), &ping(n), "request {n} got another request's reply");
    }
    let stats = channel.stats();
    assert_eq!((stats.submitted, stats.transmitted, stats.replied, stats.stray_replies), (200, 200, 200, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_round_trips_against_rep() {
    pipelined_round_trips(&ZmqRsServer::rep(TCP_ANY).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_round_trips_against_router() {
    pipelined_round_trips(&ZmqRsServer::router(TCP_ANY, false).await).await;
}

#[tokio::test]
async fn ipc_endpoints_work_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, config) in [("lockstep", ChannelConfig::lockstep()), ("pipelined", ChannelConfig::pipelined(4))] {
        let bind = format!("ipc://{}/{name}.sock", dir.path().display());
        let server = ZmqRsServer::rep(&bind).await;
        let channel = Channel::connect(server.endpoint(), config).unwrap();
        let reply: Value = within(LIMIT, "ipc request", channel.request(&ping(7))).await.unwrap();
        assert_eq!(load_of(&reply), &ping(7), "{name}");
    }
}

#[tokio::test]
async fn a_silent_server_sees_exactly_tries_transmissions() {
    for config in [ChannelConfig::lockstep(), ChannelConfig::pipelined(8)] {
        let lockstep = config.client_config().mode == reqchan_tokio::Mode::Lockstep;
        let server = ZmqRsServer::router(TCP_ANY, true).await;
        let channel = Channel::connect(server.endpoint(), config).unwrap();
        let options = RequestOptions::default().timeout(Duration::from_millis(150)).tries(3);
        let started = std::time::Instant::now();
        let result = within(LIMIT, "silent request", channel.request_with::<_, Value>(&ping(1), options)).await;
        assert_eq!(result.unwrap_err(), Error::Request(RequestError::TimedOut { attempts: 3 }));
        assert!(started.elapsed() >= Duration::from_millis(450), "three timeouts of 150 ms: {:?}", started.elapsed());
        // Every attempt reached the server; the last one may still be in flight.
        assert_eq!(within(LIMIT, "three transmissions received", server.wait_received(3)).await, 3);
        let stats = channel.stats();
        assert_eq!((stats.transmitted, stats.retried, stats.timed_out), (3, 2, 1));
        // Lockstep resets its socket after each timed-out attempt; pipelined re-sends.
        assert_eq!(stats.resets, if lockstep { 3 } else { 0 });
    }
}

#[tokio::test]
async fn garbage_replies_are_typed_errors_and_the_channel_keeps_working() {
    for config in [ChannelConfig::lockstep(), ChannelConfig::pipelined(8)] {
        let server = ZmqRsServer::rep(TCP_ANY).await;
        let channel = Channel::connect(server.endpoint(), config).unwrap();
        let garbage = within(LIMIT, "garbage", channel.request::<_, Value>(&"garbage")).await;
        assert!(matches!(garbage, Err(Error::Decode(_))), "{garbage:?}");
        let multi = within(LIMIT, "multi-frame", channel.request::<_, Value>(&"multi-frame")).await;
        assert!(matches!(multi, Err(Error::Request(RequestError::MalformedReply { .. }))), "{multi:?}");
        let wrong_type = within(LIMIT, "wrong type", channel.request::<_, u64>(&ping(1))).await;
        assert!(matches!(wrong_type, Err(Error::Decode(_))), "{wrong_type:?}");
        let fine: Value = within(LIMIT, "after garbage", channel.request(&ping(2))).await.unwrap();
        assert_eq!(load_of(&fine), &ping(2));
        let bytes: Value = within(LIMIT, "bytes", channel.request(&"bytes-please")).await.unwrap();
        assert_eq!(bytes.get("bin"), Some(&Value::Binary(vec![0x00, 0xff])));
        assert_eq!(bytes.get("str"), Some(&Value::Binary(vec![0xff, 0xfe])));
        let raw = within(LIMIT, "raw", channel.request_raw(Bytes::from_static(b"bytes-please"))).await.unwrap();
        assert_eq!(raw, Bytes::from_static(BYTES_REPLY));
    }
}

#[tokio::test]
async fn dropping_a_request_future_cancels_it() {
    for config in [ChannelConfig::lockstep(), ChannelConfig::pipelined(8)] {
        let lockstep = config.client_config().mode == reqchan_tokio::Mode::Lockstep;
        let server = ZmqRsServer::router(TCP_ANY, true).await;
        let channel = Channel::connect(server.endpoint(), config).unwrap();
        let request = channel.request_raw(Bytes::from_static(b"no-reply"));
        within(LIMIT, "transmitted", channel.wait_for_stats(|s| s.transmitted == 1)).await;
        drop(request);
        within(LIMIT, "cancelled", channel.wait_for_stats(|s| s.cancelled == 1)).await;
        assert_eq!(channel.pending(), 0);
        // A cancelled lockstep attempt resets the socket; a pipelined one needs not.
        assert_eq!(channel.stats().resets, u64::from(lockstep));
        // Never sent again, and the channel still works.
        let echo = ZmqRsServer::rep(TCP_ANY).await;
        let other = Channel::connect(echo.endpoint(), ChannelConfig::lockstep()).unwrap();
        within(LIMIT, "other channel", other.request_raw(&b"x"[..])).await.unwrap();
        assert_eq!(server.received(), 1);
    }
}

#[tokio::test]
async fn close_completes_every_pending_request() {
    let server = ZmqRsServer::router(TCP_ANY, true).await;
    let config = ChannelConfig::lockstep().timeout(Duration::from_secs(30));
    let channel = Channel::connect(server.endpoint(), config).unwrap();
    let requests: Vec<_> = (0..3).map(|n| channel.request_raw(Bytes::from(format!("no-reply {n}")))).collect();
    within(LIMIT, "first transmitted", channel.wait_for_stats(|s| s.transmitted == 1)).await;
    channel.close();
    for request in requests {
        let result = within(LIMIT, "closed request", request).await;
        assert_eq!(result.unwrap_err(), Error::Request(RequestError::Closed));
    }
    let later = within(LIMIT, "request after close", channel.request_raw(&b"x"[..])).await;
    assert_eq!(later.unwrap_err(), Error::Submit(SubmitError::Closed));
    assert_eq!(within(LIMIT, "closed state", channel.watch().wait_for(|_| false)).await, ConnectionState::Closed);
    assert!(!channel.is_live());
    // The counters are final: a wait on them returns at once instead of hanging.
    assert_eq!(within(LIMIT, "final counters", channel.wait_for_stats(|_| false)).await.closed, 3);
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_channel() {
    let server = ZmqRsServer::router(TCP_ANY, true).await;
    let channel = Channel::connect(server.endpoint(), ChannelConfig::pipelined(4)).unwrap();
    let mut watch = channel.watch();
    let request = channel.request_raw(&b"no-reply"[..]);
    within(LIMIT, "transmitted", channel.wait_for_stats(|s| s.transmitted == 1)).await;
    drop(channel);
    // The pending request keeps the channel alive...
    let mut request = Box::pin(request);
    let still_pending = tokio::time::timeout(Duration::from_millis(200), request.as_mut()).await;
    assert!(still_pending.is_err(), "the request was completed: {still_pending:?}");
    assert_eq!(watch.current(), ConnectionState::Connected);
    // ...until its future is gone too: then the channel closes.
    drop(request);
    assert_eq!(within(LIMIT, "closed", watch.wait_for(|_| false)).await, ConnectionState::Closed);
}

#[tokio::test]
async fn no_server_times_out_in_the_queue_without_hanging() {
    // A port nobody listens on: bind one, note it, free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = ChannelConfig::lockstep().connect_timeout(Duration::from_millis(200));
    let channel = Channel::connect(&format!("tcp://127.0.0.1:{port}"), config).unwrap();
    let options = RequestOptions::default().timeout(Duration::from_millis(300)).tries(2);
    let result = within(LIMIT, "request to nobody", channel.request_raw_with(&b"x"[..], options)).await;
    // It never got a connection, and the error says why.
    let error = result.unwrap_err();
    let Error::Request(RequestError::Unreachable { attempts: 0, cause }) = &error else { panic!("{error:?}") };
    assert_eq!(cause.kind(), reqchan_tokio::ConnectErrorKind::Refused, "{error}");
    assert_eq!(channel.state(), ConnectionState::Connecting);
}

#[tokio::test]
async fn a_restarted_server_is_reached_again_by_the_same_channel() {
    for config in [ChannelConfig::lockstep(), ChannelConfig::pipelined(8)] {
        let server = ZmqRsServer::rep(TCP_ANY).await;
        let endpoint = server.endpoint().to_owned();
        let channel = Channel::connect(&endpoint, config.timeout(Duration::from_millis(500)).tries(20)).unwrap();
        within(LIMIT, "before restart", channel.request_raw(&b"a"[..])).await.unwrap();
        within(LIMIT, "stop", server.stop()).await;
        let pending = channel.request_raw(&b"b"[..]);
        let server = ZmqRsServer::rep(&endpoint).await;
        assert_eq!(within(LIMIT, "across restart", pending).await.unwrap(), Bytes::from_static(b"b"));
        within(LIMIT, "after restart", channel.request_raw(&b"c"[..])).await.unwrap();
        assert!(channel.stats().resets >= 1);
        drop(server);
    }
}

#[tokio::test]
async fn channel_is_a_tower_service() {
    use tower::{Service, ServiceBuilder, ServiceExt};

    let server = ZmqRsServer::rep(TCP_ANY).await;
    let channel = Channel::connect(server.endpoint(), ChannelConfig::pipelined(4)).unwrap();
    let reply = within(LIMIT, "Value service", channel.clone().oneshot(ping(5))).await.unwrap();
    assert_eq!(load_of(&reply), &ping(5));
    // One `Service` impl: `ready()` needs no annotation.
    let mut stack = ServiceBuilder::new().timeout(Duration::from_secs(5)).service(channel.clone());
    let ready = within(LIMIT, "ready", stack.ready()).await.unwrap();
    let reply = within(LIMIT, "through the stack", ready.call(ping(6))).await.unwrap();
    assert_eq!(load_of(&reply), &ping(6));
    // Raw bytes, as the docs say: `service_fn` over `request_raw`.
    let raw_channel = channel.clone();
    let raw = tower::service_fn(move |payload: Bytes| raw_channel.request_raw(payload));
    let reply = within(LIMIT, "raw service", raw.oneshot(Bytes::from_static(b"raw"))).await.unwrap();
    assert_eq!(reply, Bytes::from_static(b"raw"));
    channel.close();
    let mut closed = channel.clone();
    let refused = within(LIMIT, "closed service", closed.ready()).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_concurrency_limit_in_front_turns_queue_full_into_backpressure() {
    use tower::{Service, ServiceBuilder, ServiceExt};

    // Lockstep: one request in flight, `max_queued` behind it. The silent server makes
    // every request stay until its 200 ms timeout.
    let server = ZmqRsServer::router(TCP_ANY, true).await;
    let config = ChannelConfig::lockstep().timeout(Duration::from_millis(200)).tries(1).max_queued(2);
    let channel = Channel::connect(server.endpoint(), config).unwrap();

    // Bare, five callers at once overflow the queue: load shedding.
    let bare: Vec<_> = (0..5u64).map(|n| channel.request::<_, Value>(&ping(n))).collect();
    let results = within(LIMIT, "bare calls", futures::future::join_all(bare)).await;
    let refused = results.iter().filter(|r| matches!(r, Err(Error::Submit(SubmitError::QueueFull { .. })))).count();
    assert!(refused >= 1, "{results:?}");

    // Behind a limit of `max_queued`, `ready` waits instead and nothing is refused.
    let mut limited = ServiceBuilder::new().concurrency_limit(2).service(channel.clone());
    let mut calls = Vec::new();
    for n in 0..5u64 {
        let ready = within(LIMIT, "ready", limited.ready()).await.unwrap();
        calls.push(tokio::spawn(ready.call(ping(n))));
    }
    for call in calls {
        // Timed out, in flight or still queued (the timeout runs from submission).
        let result = within(LIMIT, "limited call", call).await.unwrap();
        assert!(matches!(result, Err(Error::Request(RequestError::TimedOut { .. }))), "{result:?}");
    }
}

#[tokio::test]
async fn bad_channels_are_refused_when_built() {
    let err = Channel::connect("http://example", ChannelConfig::lockstep()).unwrap_err();
    assert!(matches!(err, BuildError::InvalidEndpoint { .. }), "{err}");
    // An aes channel checks its endpoint as a clear one does.
    let key = ChannelKey::new("/pki", "minion", "http://example").with_crypt(Crypt::Aes);
    let err = Channel::get(key, ChannelConfig::lockstep()).unwrap_err();
    assert!(matches!(err, BuildError::InvalidEndpoint { .. }), "{err}");
    let err = Channel::connect("tcp://127.0.0.1:4506", ChannelConfig::pipelined(0)).unwrap_err();
    assert!(matches!(err, BuildError::Config(_)), "{err}");
}

#[test]
fn building_outside_a_runtime_is_a_typed_error() {
    let err = Channel::connect("tcp://127.0.0.1:4506", ChannelConfig::lockstep()).unwrap_err();
    assert_eq!(err, BuildError::NoRuntime { runtime: "tokio" });
    println!("{err}");
}
