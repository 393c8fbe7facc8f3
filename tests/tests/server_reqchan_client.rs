//! The reply server against reqchan's own client: lockstep (REQ) and pipelined
//! (DEALER) channels, many requests at once, malformed payloads in between.

use std::time::Duration;

use futures::future::join_all;
use reqchan_core::codec::{BAD_LOAD_REPLY, Value};
use reqchan_tests::within;
use reqchan_tokio::server::SocketKind;
use reqchan_tokio::{Channel, ChannelConfig};

const LIMIT: Duration = Duration::from_secs(60);

async fn round_trips(kind: SocketKind, config: ChannelConfig, n: u64) {
    let server = within(LIMIT, "bind", reqchan_cli::spawn_echo("tcp://127.0.0.1:0", kind)).await.expect("bind");
    let channel = Channel::connect(server.endpoint(), config).expect("channel");
    let requests = (0..n).map(|i| {
        let channel = channel.clone();
        async move {
            let load = Value::map([("i", Value::UInt(i)), ("sig", Value::Binary(vec![0xff, 0xfe, i as u8]))]);
            let reply: Value = channel.request(&load).await.expect("a reply");
            assert_eq!(reply, load, "the echo of request {i}");
        }
    });
    within(LIMIT, "all requests", join_all(requests)).await;

    // Garbage in between does not disturb the channel or the server.
    let bad = within(LIMIT, "raw garbage", channel.request_raw(&b"\x93\x01"[..])).await.expect("a reply");
    assert_eq!(&bad[..], BAD_LOAD_REPLY);
    let reply: Value = within(LIMIT, "after garbage", channel.request(&Value::from("still here"))).await.unwrap();
    assert_eq!(reply, Value::from("still here"));

    channel.close();
    let report = within(LIMIT, "shutdown", server.shutdown()).await.expect("clean shutdown");
    assert_eq!(report.stats.core.handler_replies, n + 1);
    assert_eq!(report.stats.core.rejected_malformed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_channel_against_router_server() {
    round_trips(SocketKind::Router, ChannelConfig::pipelined(64), 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_channel_against_rep_server() {
    round_trips(SocketKind::Rep, ChannelConfig::lockstep(), 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_channel_against_router_server() {
    round_trips(SocketKind::Router, ChannelConfig::lockstep(), 100).await;
}
