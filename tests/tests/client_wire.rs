//! The client over our own wire (`Transport::Wire`: tokio streams and the core's ZMTP
//! state machine) against libzmq (pyzmq), zmq.rs, and a hostile server written by hand.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqchan_core::wire::{Connection, SocketType, WireConfig};
use reqchan_tests::python::{PythonPeer, python};
use reqchan_tests::zmqrs::ZmqRsServer;
use reqchan_tests::{within, zmtp};
use reqchan_tokio::{Channel, ChannelConfig, ConnectErrorKind, Error, RequestError, RequestOptions, Transport, Value};

const LIMIT: Duration = Duration::from_secs(30);

fn ping(n: u64) -> Value {
    Value::map([("cmd", "ping".into()), ("n", n.into())])
}

fn wire(config: ChannelConfig) -> ChannelConfig {
    config.transport(Transport::Wire)
}

fn modes() -> [ChannelConfig; 2] {
    [wire(ChannelConfig::lockstep()), wire(ChannelConfig::pipelined(16))]
}

async fn round_trips(endpoint: &str, config: ChannelConfig, what: &str) {
    let channel = Channel::connect(endpoint, config).unwrap();
    let requests = (0..50).map(|n| {
        let channel = channel.clone();
        async move { (n, channel.request::<_, Value>(&ping(n)).await) }
    });
    for (n, reply) in within(LIMIT, what, futures::future::join_all(requests)).await {
        let reply = reply.unwrap_or_else(|e| panic!("{what}: request {n}: {e}"));
        assert_eq!(reply["load"], ping(n), "{what}: request {n} got another's reply");
    }
    let stats = channel.stats();
    assert_eq!((stats.replied, stats.stray_replies), (50, 0), "{what}: {stats:?}");
    channel.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_over_our_wire_with_libzmq_router_and_rep_over_tcp_and_ipc() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ipc = format!("ipc://{}/peer.sock", dir.path().display());
    for (kind, bind) in [("router", "tcp://127.0.0.1:*"), ("rep", "tcp://127.0.0.1:*"), ("router", ipc.as_str())] {
        let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", kind, "--bind", bind]).await;
        for config in modes() {
            let what = format!("{kind} at {bind}, {:?}", config.client_config().mode);
            round_trips(peer.endpoint(), config, &what).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_over_our_wire_with_zmqrs_servers() {
    for server in [ZmqRsServer::rep("tcp://127.0.0.1:0").await, ZmqRsServer::router("tcp://127.0.0.1:0", false).await] {
        for config in modes() {
            round_trips(server.endpoint(), config, "zmq.rs").await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libzmq_heartbeats_do_not_break_the_connection() {
    let Some(python) = python() else { return };
    // libzmq PINGs every 50 ms (zmq.rs drops such connections: "Unknown command").
    let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "router", "--heartbeat-ms", "50"]).await;
    let channel = Channel::connect(peer.endpoint(), wire(ChannelConfig::lockstep())).unwrap();
    within(LIMIT, "first", channel.request::<_, Value>(&ping(1))).await.unwrap();
    let mut watch = channel.watch();
    // Half a second of idle heartbeats, then another request on the same connection.
    let idle = tokio::time::timeout(Duration::from_millis(500), watch.changed()).await;
    assert!(idle.is_err(), "the connection state changed while idle: {idle:?}");
    within(LIMIT, "after heartbeats", channel.request::<_, Value>(&ping(2))).await.unwrap();
    assert_eq!(channel.stats().resets, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_heartbeats_a_stopped_peer_is_lost_long_before_the_request_times_out() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "router"]).await;
    let config = wire(ChannelConfig::lockstep()).heartbeat(Duration::from_millis(200));
    let channel = Channel::connect(peer.endpoint(), config).unwrap();
    within(LIMIT, "first", channel.request::<_, Value>(&ping(1))).await.unwrap();
    let pid = peer.pid().to_string();
    let signal = |sig: &str| std::process::Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(signal("-STOP").success());
    let started = Instant::now();
    let options = RequestOptions::default().timeout(Duration::from_secs(60)).tries(1);
    let result = within(LIMIT, "request to a stopped peer", channel.request_with::<_, Value>(&ping(2), options)).await;
    let took = started.elapsed();
    assert!(signal("-CONT").success());
    assert_eq!(result.unwrap_err(), Error::Request(RequestError::PeerLost { attempts: 1 }));
    eprintln!("a stopped peer was noticed after {took:?} (heartbeat 200 ms, request timeout 60 s)");
}

/// A fake server on 127.0.0.1 that answers every connection with `bytes`, then holds
/// it open a little and closes it. Detached: it serves until the test process ends.
fn fake_server(bytes: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("tcp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        loop {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let _ = stream.write_all(&bytes);
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    endpoint
}

/// A valid ROUTER handshake (our own state machine's greeting and READY), then `tail`.
fn router_then(tail: &[u8]) -> Vec<u8> {
    let mut router = Connection::new(Instant::now(), WireConfig::new(SocketType::Router));
    let mut bytes = router.poll_transmit().unwrap().to_vec();
    bytes.extend_from_slice(tail);
    bytes
}

/// Hostile servers, each against a client: frame headers declaring 2^40, 2^33 and
/// 2^31 bytes (zmq.rs aborts the process on the first), a command with MORE, a
/// truncated frame then a disconnect, a bad greeting, a wrong mechanism, an
/// incompatible socket type. Every time the request ends with a typed error and the
/// process lives on; a bad handshake is named in the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_cost_a_connection_and_a_typed_error_never_the_process() {
    let mut bad_greeting = b"HTTP/1.1 200 OK\r\n".to_vec();
    bad_greeting.resize(64, b' ');
    let after_handshake: [(&str, Vec<u8>); 5] = [
        ("2^40-byte frame", router_then(&zmtp::long_header(1 << 40))),
        ("2^33-byte frame", router_then(&zmtp::long_header(1 << 33))),
        ("2^31-byte frame", router_then(&zmtp::long_header(1 << 31))),
        ("command with MORE", router_then(&zmtp::frame(0x05, b"\x04PING\x00\x00"))),
        ("truncated frame", router_then(&[0x00, 200, 1, 2, 3])),
    ];
    let in_handshake: [(&str, Vec<u8>, &str); 3] = [
        ("bad greeting", bad_greeting, "bad greeting"),
        ("wrong mechanism", zmtp::greeting(3, 1, "CURVE"), "CURVE"),
        ("incompatible socket type", zmtp::handshake("PUB"), "PUB"),
    ];
    let options = RequestOptions::default().timeout(Duration::from_millis(1500)).tries(2);
    for (what, bytes) in after_handshake {
        let endpoint = fake_server(bytes);
        let channel = Channel::connect(&endpoint, wire(ChannelConfig::lockstep())).unwrap();
        let result = within(LIMIT, what, channel.request_with::<_, Value>(&ping(1), options)).await;
        // The bytes arrive before or after the request leaves: the connection is lost
        // either way (the request fails, or waits for the next connection in vain).
        let error = result.unwrap_err();
        assert!(
            matches!(
                error,
                Error::Request(
                    RequestError::PeerLost { .. } | RequestError::TimedOut { .. } | RequestError::Unreachable { .. }
                )
            ),
            "{what}: {error:?}"
        );
        assert!(channel.stats().resets + channel.stats().connect_failures >= 1, "{what}: {:?}", channel.stats());
        channel.close();
    }
    for (what, bytes, named) in in_handshake {
        let endpoint = fake_server(bytes);
        let channel = Channel::connect(&endpoint, wire(ChannelConfig::lockstep())).unwrap();
        let result = within(LIMIT, what, channel.request_with::<_, Value>(&ping(1), options)).await;
        match result.unwrap_err() {
            Error::Request(RequestError::Unreachable { attempts: 0, cause }) => {
                assert_eq!(cause.kind(), ConnectErrorKind::Handshake, "{what}: {cause}");
                assert!(cause.to_string().contains(named), "{what}: {cause}");
            }
            other => panic!("{what}: {other:?}"),
        }
        channel.close();
    }
}
