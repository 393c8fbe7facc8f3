//! The async-std adapter against a real libzmq peer (pyzmq): round trips in both
//! modes and a silent server. The registry has its own binary (`registry.rs`).

use std::time::Duration;

use futures::future::join_all;
use reqchan_async_std::{Channel, ChannelConfig, ConnectionState, Error, RequestError, Value};
use reqchan_peers::{PythonPeer, python};

/// Runs `test` within a bound: nothing here may hang.
async fn bounded<T>(test: impl Future<Output = T>) -> T {
    reqchan_peers::within(std::time::Duration::from_secs(60), "the test", test).await
}

#[async_std::test]
async fn lockstep_round_trip_through_a_libzmq_rep_server() {
    let Some(python) = python() else { return };
    bounded(async {
        let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "rep"]).await;
        let channel = Channel::connect(peer.endpoint(), ChannelConfig::lockstep()).unwrap();
        let load = Value::map([("cmd", "ping".into()), ("n", 7u64.into())]);
        // The echo server returns the whole envelope: the load sits under "load".
        let reply: Value = channel.request(&load).await.unwrap();
        assert_eq!(reply.get("enc").and_then(Value::as_str), Some("clear"));
        assert_eq!(reply.get("load"), Some(&load));
        assert_eq!(channel.state(), ConnectionState::Connected);
        let stats = channel.stats();
        assert_eq!((stats.submitted, stats.transmitted, stats.replied), (1, 1, 1));
    })
    .await;
}

#[async_std::test]
async fn pipelined_requests_through_a_libzmq_router_each_get_their_own_reply() {
    let Some(python) = python() else { return };
    bounded(async {
        let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "router"]).await;
        let channel = Channel::connect(peer.endpoint(), ChannelConfig::pipelined(16)).unwrap();
        // Identical payloads too: ids, not bytes, match replies to requests.
        let payloads: Vec<Vec<u8>> = (0..64u8).map(|i| vec![b'p', i % 8]).collect();
        let replies = join_all(payloads.iter().map(|p| channel.request_raw(p.clone()))).await;
        for (payload, reply) in payloads.iter().zip(replies) {
            assert_eq!(reply.unwrap().as_ref(), payload.as_slice());
        }
        assert_eq!(channel.stats().replied, 64);
        assert_eq!(channel.stats().stray_replies, 0);
    })
    .await;
}

#[async_std::test]
async fn a_silent_server_sees_exactly_tries_transmissions_then_the_request_times_out() {
    let Some(python) = python() else { return };
    bounded(async {
        let mut peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "router", "--silent"]).await;
        let config = ChannelConfig::lockstep().timeout(Duration::from_millis(200)).tries(3);
        let channel = Channel::connect(peer.endpoint(), config).unwrap();
        let error = channel.request_raw(&b"hello"[..]).await.unwrap_err();
        assert_eq!(error, Error::Request(RequestError::TimedOut { attempts: 3 }));
        // Each attempt was a real transmission that reached the server.
        for attempt in 1..=3 {
            let line = peer.next_line(Duration::from_secs(5)).await;
            assert_eq!(line.as_deref(), Some("recv 1 68656c6c6f"), "attempt {attempt}");
        }
        let stats = channel.stats();
        assert_eq!((stats.transmitted, stats.retried, stats.timed_out), (3, 2, 1));
        assert!(stats.resets >= 3, "a lockstep timeout resets the socket: {stats:?}");
    })
    .await;
}

#[async_std::test]
async fn the_same_channel_api_as_tokio_a_tower_service_and_pending_requests_keep_it_alive() {
    use tower_service::Service;

    let Some(python) = python() else { return };
    bounded(async {
        let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "router"]).await;
        let mut channel = Channel::connect(peer.endpoint(), ChannelConfig::pipelined(4)).unwrap();
        let load = Value::map([("cmd", "ping".into())]);
        std::future::poll_fn(|cx| Service::<Value>::poll_ready(&mut channel, cx)).await.unwrap();
        let reply = Service::call(&mut channel, load.clone()).await.unwrap();
        assert_eq!(reply["load"], load);

        // The last handle goes while a request is pending: the request is still answered.
        let pending = channel.request::<_, Value>(&load);
        drop(channel);
        assert_eq!(pending.await.unwrap()["load"], load);

        // A refusal is a typed error here too.
        let channel = Channel::connect(peer.endpoint(), ChannelConfig::lockstep()).unwrap();
        let refused = channel.request::<_, Value>(&Value::from("refuse-busy")).await.unwrap_err();
        assert!(refused.is_rejected() && refused.is_retryable(), "{refused}");
    })
    .await;
}

#[async_std::test]
async fn our_own_wire_runs_on_async_std_too() {
    let Some(python) = python() else { return };
    bounded(async {
        let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "router", "--heartbeat-ms", "50"]).await;
        for config in [ChannelConfig::lockstep(), ChannelConfig::pipelined(8)] {
            let channel =
                Channel::connect(peer.endpoint(), config.transport(reqchan_async_std::Transport::Wire)).unwrap();
            let replies = join_all((0..20u64).map(|n| channel.request::<_, Value>(&Value::from(n)))).await;
            for (n, reply) in replies.into_iter().enumerate() {
                assert_eq!(reply.unwrap()["load"], Value::from(n as u64));
            }
            assert_eq!(channel.stats().resets, 0, "libzmq's heartbeats were answered");
            channel.close();
        }
    })
    .await;
}
