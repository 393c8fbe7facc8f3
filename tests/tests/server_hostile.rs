//! `reqchan serve` (our wire) against peers that misbehave on purpose, on 127.0.0.1:
//! frame headers declaring 2^40, 2^33 and 2^31 bytes, a bad greeting, a wrong
//! mechanism, an incompatible socket type, a command frame with MORE, a truncated frame
//! then a disconnect, a greeting sent one byte per second, 200 connections that never
//! finish the handshake, 2,000 connect/disconnect cycles, more connections than
//! allowed. Each time: the process survives, a well-behaved client connected all along
//! keeps being served (and new ones are), memory stays bounded, and the server says why
//! it dropped the peer and counts it.

use std::time::{Duration, Instant};

use reqchan_tests::binary::ServeProcess;
use reqchan_tests::within;
use reqchan_tests::zmtp;
use reqchan_tokio::{Channel, ChannelConfig, RequestOptions, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(30);

fn ping(n: u64) -> Value {
    Value::map([("cmd", "ping".into()), ("n", n.into())])
}

/// One request on `channel`, answered with its own load.
async fn served(channel: &Channel, n: u64, what: &str) {
    let options = RequestOptions::default().timeout(Duration::from_secs(5)).tries(1);
    let reply = within(LIMIT, what, channel.request_with::<_, Value>(&ping(n), options)).await;
    let reply = reply.unwrap_or_else(|e| panic!("{what}: a well-behaved client was not served: {e}"));
    assert_eq!(reply, ping(n), "{what}: the echo server answers with the load");
}

/// A fresh well-behaved client is served too.
async fn served_fresh(endpoint: &str, n: u64, what: &str) {
    let channel = Channel::connect(endpoint, ChannelConfig::lockstep()).unwrap();
    served(&channel, n, what).await;
    channel.close();
}

/// Reads until the server closes the connection; panics if it stays open for `limit`.
async fn closed_by_server(stream: &mut TcpStream, limit: Duration, what: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    within(limit, &format!("{what}: the server closes the connection"), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    received
}

/// Connects, sends `bytes`, and waits for the server to close the connection.
async fn send_hostile(address: &str, bytes: &[u8], what: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).await.unwrap();
    // The server may close before taking everything: a failed write is fine.
    let _ = stream.write_all(bytes).await;
    closed_by_server(&mut stream, LIMIT, what).await
}

/// The counters `reqchan serve` prints when it stops: (violations, timeouts).
fn final_counters(stderr: &str) -> (u64, u64) {
    let line = stderr.lines().find(|l| l.contains("connections:")).unwrap_or_else(|| panic!("no counters: {stderr}"));
    let number_before = |label: &str| -> u64 {
        let head = line.split(label).next().unwrap_or_else(|| panic!("{label} in {line}"));
        head.split_whitespace().last().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{label} in {line}"))
    };
    (number_before(" dropped for violations"), number_before(" timed out"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqchan_serve_drops_each_hostile_peer_and_keeps_serving_everyone_else() {
    let server = ServeProcess::start(&["--handshake-timeout", "2"]).await;
    let address = server.address().to_owned();
    let steady = Channel::connect(server.endpoint(), ChannelConfig::pipelined(8)).unwrap();
    served(&steady, 0, "before").await;

    let with_handshake = |tail: &[u8]| {
        let mut bytes = zmtp::handshake("DEALER");
        bytes.extend_from_slice(tail);
        bytes
    };
    let mut bad_greeting = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec();
    bad_greeting.resize(64, b' ');
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("2^40-byte frame", with_handshake(&zmtp::long_header(1 << 40)), "frame declares 1099511627776 bytes"),
        ("2^33-byte frame", with_handshake(&zmtp::long_header(1 << 33)), "frame declares 8589934592 bytes"),
        ("2^31-byte frame", with_handshake(&zmtp::long_header(1 << 31)), "frame declares 2147483648 bytes"),
        ("bad greeting", bad_greeting, "bad greeting"),
        ("wrong mechanism", zmtp::greeting(3, 1, "PLAIN"), "mechanism \"PLAIN\""),
        ("incompatible socket type", zmtp::handshake("PUB"), "socket type \"PUB\""),
        ("command with MORE", with_handshake(&zmtp::frame(0x05, b"\x04PING\x00\x00")), "protocol violation"),
    ];
    for (n, (what, bytes, _)) in cases.iter().enumerate() {
        let received = send_hostile(&address, bytes, what).await;
        assert!(received.starts_with(&[0xFF]), "{what}: our greeting went out first: {received:?}");
        served(&steady, n as u64 + 1, what).await;
    }
    // The incompatible peer was told why before being closed.
    let received = send_hostile(&address, &zmtp::handshake("PUB"), "incompatible, again").await;
    assert!(received.windows(6).any(|w| w == b"\x05ERROR"), "an ERROR command: {received:?}");

    // A truncated frame, then the peer disconnects.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.write_all(&with_handshake(&[0x00, 200, 1, 2, 3])).await.unwrap();
    drop(stream);
    served(&steady, 20, "after a truncated frame").await;
    served_fresh(server.endpoint(), 21, "a new client after the hostile peers").await;

    let (code, stderr) = server.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    for (what, _, reason) in &cases {
        assert!(stderr.contains(reason), "{what}: the reason {reason:?} is logged: {stderr}");
    }
    let (violations, _) = final_counters(&stderr);
    assert_eq!(violations, cases.len() as u64 + 1, "each violation counted once: {stderr}");
    steady.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_handshakes_time_out_and_connection_churn_leaves_memory_flat() {
    let server = ServeProcess::start(&["--handshake-timeout", "2"]).await;
    let address = server.address().to_owned();
    let steady = Channel::connect(server.endpoint(), ChannelConfig::lockstep()).unwrap();
    served(&steady, 0, "before").await;

    // A greeting sent one byte per second: closed at the handshake timeout.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    let greeting = zmtp::null_greeting();
    let started = Instant::now();
    let dripped = within(LIMIT, "the slow peer is cut off", async {
        for (i, byte) in greeting.iter().enumerate() {
            if slow.write_all(&[*byte]).await.is_err() {
                return i;
            }
            let mut buf = [0u8; 128];
            if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_secs(1), slow.read(&mut buf)).await {
                return i + 1;
            }
        }
        greeting.len()
    })
    .await;
    assert!(dripped < greeting.len(), "the whole greeting dripped in: the slow peer was never cut off");
    eprintln!("a greeting sent one byte per second was cut off after {dripped} bytes, {:?}", started.elapsed());
    served(&steady, 1, "after the slow peer").await;

    // 200 connections that never finish the handshake: everyone else is still served,
    // and each is closed at the timeout.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    served(&steady, 2, "with 200 idle connections").await;
    served_fresh(server.endpoint(), 3, "a new client with 200 idle connections").await;
    for (i, stream) in idle.iter_mut().enumerate() {
        closed_by_server(stream, LIMIT, &format!("idle connection {i}")).await;
    }

    // 2,000 connect/disconnect cycles, half of them mid-greeting.
    let before = server.rss();
    for i in 0..2000 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        if i % 2 == 0 {
            let _ = stream.write_all(&greeting[..20]).await;
        }
        drop(stream);
    }
    served(&steady, 4, "after 2,000 connection cycles").await;
    served_fresh(server.endpoint(), 5, "a new client after 2,000 connection cycles").await;
    let (after, peak) = (server.rss(), server.peak_rss());
    eprintln!(
        "serve RSS {} KiB before 2,000 connection cycles, {} KiB after, peak {} KiB",
        before / 1024,
        after / 1024,
        peak / 1024
    );
    assert!(peak < before + (16 << 20), "RSS peaked at {peak} bytes, from {before}");

    let (code, stderr) = server.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    let (_, timeouts) = final_counters(&stderr);
    assert!(timeouts >= 201, "the slow peer and the 200 idle ones timed out: {stderr}");
    assert!(stderr.contains("the handshake did not complete in time"), "{stderr}");
    // 201 timeouts within about a second are not 201 lines: reports are rate-limited.
    let reported = stderr.lines().filter(|l| l.contains("dropped a connection")).count();
    assert!(reported < 100, "{reported} reports: not rate-limited");
    assert!(stderr.contains("more such reports in that second"), "{stderr}");
    steady.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_connections_are_closed_at_once_and_counted() {
    let server = ServeProcess::start(&["--max-connections", "3", "--handshake-timeout", "30"]).await;
    let address = server.address().to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    // The fourth is closed as soon as it is accepted (the handshake timeout is 30 s).
    let mut fourth = TcpStream::connect(&address).await.unwrap();
    closed_by_server(&mut fourth, Duration::from_secs(10), "a connection beyond the limit").await;
    // Room again once one leaves.
    drop(held.pop());
    let channel = Channel::connect(server.endpoint(), ChannelConfig::lockstep()).unwrap();
    let options = RequestOptions::default().timeout(Duration::from_secs(5)).tries(3);
    let reply = within(LIMIT, "served once there is room", channel.request_with::<_, Value>(&ping(1), options)).await;
    assert_eq!(reply.unwrap(), ping(1));
    channel.close();
    drop(held);
    let (code, stderr) = server.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("refused a connection: 3 connections open already"), "{stderr}");
    let line = stderr.lines().find(|l| l.contains("connections:")).unwrap();
    assert!(!line.contains(" 0 refused"), "{line}");
}

/// A client that sends requests and never reads the replies: once what is queued for
/// it passes the output bound, its connection is ended (instead of the server holding
/// every reply: 759 MB under zmq.rs), and the server's memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_loses_its_connection_not_our_memory() {
    let server = ServeProcess::start(&[]).await;
    let before = server.rss();
    // A small receive buffer, so the kernel cannot hold what the server must not.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.address().parse().unwrap()).await.unwrap();
    stream.write_all(&zmtp::handshake("DEALER")).await.unwrap();
    // Requests of 8 KiB each, never reading a byte of the echoes, until the server
    // ends the connection (our writes then fail). What the server may hold meanwhile
    // is bounded by its configuration: the requests in its queue and in its handlers
    // (1,024 + 64 of 8 KiB) and the replies queued for this peer (16 MiB, in buffers
    // that may have twice that capacity). Measured: a peak of about +67 MiB.
    let load = Value::Binary(vec![b'x'; 8 << 10]);
    let request = reqchan_core::codec::encode_request(reqchan_core::codec::Crypt::Clear, &load).unwrap();
    let mut message = zmtp::frame(0x01, b"id");
    message.extend_from_slice(&zmtp::frame(0x01, b""));
    message.extend_from_slice(&zmtp::frame(0x00, &request));
    let sent = within(LIMIT, "the server ends the connection of a client that never reads", async {
        for i in 0..100_000 {
            if stream.write_all(&message).await.is_err() {
                return i;
            }
            // Paced (64 requests per 5 ms), so the server answers them instead of
            // refusing them `server busy` (small replies would take long to fill up).
            if i % 64 == 63 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        panic!("100,000 requests (800 MB of echoes) written and never read: the connection was not ended");
    })
    .await;
    let peak = server.peak_rss();
    eprintln!("{sent} requests written; serve RSS {} KiB before, peak {} KiB", before / 1024, peak / 1024);
    assert!(peak < before + (96 << 20), "RSS peaked at {peak} bytes, from {before}");
    served_fresh(server.endpoint(), 1, "after the client that never read").await;
    let (code, stderr) = server.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("the peer stopped reading"), "{stderr}");
    assert!(stderr.contains(", 1 not reading"), "{stderr}");
}
