//! The reply server under async-std (our wire): our own async-std channel in both
//! modes, real libzmq REQ clients (pyzmq), and a hostile peer that only costs its own
//! connection.

use std::time::{Duration, Instant};

use async_std::io::{ReadExt, WriteExt};
use futures::future::join_all;
use reqchan_async_std::server::{self, Reply, ServerOptions, SocketKind};
use reqchan_async_std::{Channel, ChannelConfig, Value};
use reqchan_core::wire::{Connection, SocketType, WireConfig};
use reqchan_peers::{PythonPeer, python};

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    reqchan_peers::within(Duration::from_secs(60), "the test", test).await
}

async fn echo(request: server::IncomingRequest) -> Result<Reply, std::convert::Infallible> {
    Ok(Reply::msgpack(request.load_bytes()))
}

fn ping(n: u64) -> Value {
    Value::map([("cmd", "ping".into()), ("n", n.into())])
}

#[async_std::test]
async fn our_channel_in_both_modes_is_answered_by_the_async_std_server() {
    bounded(async {
        for kind in [SocketKind::Router, SocketKind::Rep] {
            let server = server::bind("tcp://127.0.0.1:0", kind, ServerOptions::default(), echo).await.unwrap();
            for config in [ChannelConfig::lockstep(), ChannelConfig::pipelined(16)] {
                let channel = Channel::connect(server.endpoint(), config).unwrap();
                let replies = join_all((0..20).map(|n| {
                    let channel = channel.clone();
                    async move { (n, channel.request::<_, Value>(&ping(n)).await) }
                }))
                .await;
                for (n, reply) in replies {
                    assert_eq!(reply.unwrap(), ping(n), "{kind:?}");
                }
                channel.close();
            }
            let report = server.shutdown().await.unwrap();
            assert_eq!(report.core.handler_replies, 40, "{kind:?}: {report:?}");
        }
    })
    .await;
}

#[async_std::test]
async fn libzmq_req_clients_are_answered_and_a_hostile_peer_costs_only_its_connection() {
    let Some(python) = python() else { return };
    bounded(async {
        let server =
            server::bind("tcp://127.0.0.1:0", SocketKind::Router, ServerOptions::default(), echo).await.unwrap();
        // A DEALER's greeting and READY (from the core's ZMTP state machine), then a
        // long-frame header declaring 2^40 bytes.
        let address = server.endpoint().trim_start_matches("tcp://").to_owned();
        let mut hostile = async_std::net::TcpStream::connect(&address).await.unwrap();
        let dealer = WireConfig::new(SocketType::Dealer);
        let mut bytes = Connection::new(Instant::now(), dealer).poll_transmit().expect("a handshake").to_vec();
        bytes.push(0x02);
        bytes.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let _ = hostile.write_all(&bytes).await;
        let mut sink = Vec::new();
        let _ = hostile.read_to_end(&mut sink).await; // closed by the server
        let dropped = server.wait_for_stats(|s| s.driver.peer_violations >= 1).await;
        assert_eq!(dropped.driver.peer_violations, 1);

        let args = [server.endpoint(), "req-parallel", "2", "10"];
        let mut peer = PythonPeer::start(&python, "server_client.py", &args).await;
        let mut lines = Vec::new();
        while let Some(line) = peer.next_line(Duration::from_secs(30)).await {
            if line == "done" {
                break;
            }
            lines.push(line);
        }
        assert_eq!(lines, vec!["ok 0 10".to_owned(), "ok 1 10".to_owned()]);
        let report = server.shutdown().await.unwrap();
        assert_eq!(report.core.handler_replies, 20, "{report:?}");
    })
    .await;
}
