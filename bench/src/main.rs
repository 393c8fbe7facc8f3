//! The baselines of `scripts/bench`, one process per side: echo servers and closed-loop
//! clients over zmq.rs, libzmq (the `zmq` crate) and plain TCP, and the memory probe.
//!
//! ```text
//! bench-peer zmqrs-server  rep|router  ENDPOINT
//! bench-peer libzmq-server rep|router  ENDPOINT
//! bench-peer tcp-server    ADDRESS
//! bench-peer zmqrs-client  req|dealer  ENDPOINT REQUESTS IN_FLIGHT SIZE
//! bench-peer libzmq-client req|dealer  ENDPOINT REQUESTS IN_FLIGHT SIZE
//! bench-peer tcp-client    ADDRESS     REQUESTS IN_FLIGHT SIZE
//! bench-peer memory        ENDPOINT_OF_A_SERVER_THAT_NEVER_ANSWERS
//! bench-peer hold          ENDPOINT N
//! ```
//! Servers print `listening on ENDPOINT` and echo until killed. Clients print one JSON
//! line: requests, seconds, req/s and latency percentiles (µs). REQ clients keep one
//! request in flight; DEALER and TCP clients keep IN_FLIGHT, sending the next request
//! as each reply arrives. Every loop is bounded by REQUESTS; a client gives up after
//! 120 s without a reply.

mod memory;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;

/// The largest message the TCP echo server takes (the connection is closed beyond).
const MAX_TCP_MESSAGE: usize = 1 << 20;

/// The longest any client waits for one reply.
const STALL: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| usage());
    let num = |i: usize| arg(i).parse::<usize>().unwrap_or_else(|_| usage());
    match arg(0) {
        "zmqrs-server" => zmqrs::server(arg(1), arg(2)),
        "libzmq-server" => libzmq::server(arg(1), arg(2)),
        "tcp-server" => tcp_server(arg(1)),
        "zmqrs-client" => report(zmqrs::client(arg(1), arg(2), num(3), num(4), num(5))),
        "libzmq-client" => report(libzmq::client(arg(1), arg(2), num(3), num(4), num(5))),
        "tcp-client" => report(tcp_client(arg(1), num(2), num(3), num(4))),
        "memory" => memory::run(arg(1)),
        "hold" => hold(arg(1), num(2)),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: see the doc comment of bench/src/main.rs");
    std::process::exit(2)
}

/// What one client run measured.
struct Run {
    requests: usize,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Run {
    fn new() -> Self {
        Self { requests: 0, elapsed: Duration::ZERO, latency: Histogram::new(3).expect("histogram") }
    }

    fn record(&mut self, latency: Duration) {
        let _ = self.latency.record(latency.as_nanos().max(1) as u64);
        self.requests += 1;
    }
}

fn report(run: Run) {
    let us = |q: f64| run.latency.value_at_quantile(q) as f64 / 1000.0;
    let json = serde_json::json!({
        "requests": run.requests,
        "elapsed_s": run.elapsed.as_secs_f64(),
        "rps": run.requests as f64 / run.elapsed.as_secs_f64(),
        "p50_us": us(0.5),
        "p99_us": us(0.99),
        "p999_us": us(0.999),
    });
    println!("{json}");
}

fn announce(endpoint: &str) {
    println!("listening on {endpoint}");
    std::io::stdout().flush().expect("stdout");
}

/// Pipelined bookkeeping: when each request was sent, by its number.
struct InFlight {
    sent_at: Vec<Option<Instant>>,
    next: usize,
}

impl InFlight {
    fn new(requests: usize) -> Self {
        Self { sent_at: vec![None; requests], next: 0 }
    }

    /// The number of the next request to send, if any are left.
    fn take(&mut self) -> Option<usize> {
        let n = self.next;
        (n < self.sent_at.len()).then(|| {
            self.sent_at[n] = Some(Instant::now());
            self.next += 1;
            n
        })
    }

    fn id(n: usize) -> [u8; 8] {
        (n as u64).to_be_bytes()
    }

    /// The reply with id frame `id` arrived: its latency.
    fn done(&mut self, id: &[u8]) -> Duration {
        let n = u64::from_be_bytes(id.try_into().expect("an 8-byte id")) as usize;
        self.sent_at[n].take().expect("a reply to a request in flight").elapsed()
    }
}

mod zmqrs {
    use zeromq::{DealerSocket, RepSocket, ReqSocket, RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio")
    }

    pub(super) fn server(kind: &str, endpoint: &str) {
        runtime().block_on(async {
            match kind {
                "rep" => echo(RepSocket::new(), endpoint).await,
                "router" => echo(RouterSocket::new(), endpoint).await,
                _ => usage(),
            }
        })
    }

    /// Binds `socket` and sends every message back as it came.
    async fn echo(mut socket: impl Socket + SocketRecv + SocketSend, endpoint: &str) {
        announce(&socket.bind(endpoint).await.expect("bind").to_string());
        loop {
            let message = socket.recv().await.expect("recv");
            socket.send(message).await.expect("send");
        }
    }

    pub(super) fn client(kind: &str, endpoint: &str, requests: usize, in_flight: usize, size: usize) -> Run {
        let payload = Bytes::from(vec![b'x'; size]);
        runtime().block_on(async {
            let mut run = Run::new();
            async fn stall(recv: impl Future<Output = zeromq::ZmqResult<ZmqMessage>>) -> ZmqMessage {
                tokio::time::timeout(STALL, recv).await.expect("a reply within the stall limit").expect("recv")
            }
            match kind {
                "req" => {
                    let mut socket = ReqSocket::new();
                    socket.connect(endpoint).await.expect("connect");
                    let started = Instant::now();
                    for _ in 0..requests {
                        let sent = Instant::now();
                        socket.send(ZmqMessage::from(payload.clone())).await.expect("send");
                        let _: ZmqMessage = stall(socket.recv()).await;
                        run.record(sent.elapsed());
                    }
                    run.elapsed = started.elapsed();
                }
                "dealer" => {
                    let mut socket = DealerSocket::new();
                    socket.connect(endpoint).await.expect("connect");
                    let mut flight = InFlight::new(requests);
                    let started = Instant::now();
                    let message = |n: usize| {
                        let id = Bytes::copy_from_slice(&InFlight::id(n));
                        ZmqMessage::try_from(vec![id, payload.clone()]).expect("frames")
                    };
                    for _ in 0..in_flight {
                        if let Some(n) = flight.take() {
                            socket.send(message(n)).await.expect("send");
                        }
                    }
                    while run.requests < requests {
                        let reply: ZmqMessage = stall(socket.recv()).await;
                        run.record(flight.done(reply.get(0).expect("an id frame")));
                        if let Some(n) = flight.take() {
                            socket.send(message(n)).await.expect("send");
                        }
                    }
                    run.elapsed = started.elapsed();
                }
                _ => usage(),
            }
            run
        })
    }
}

mod libzmq {
    use super::*;

    pub(super) fn server(kind: &str, endpoint: &str) {
        let context = zmq::Context::new();
        let socket = context
            .socket(match kind {
                "rep" => zmq::REP,
                "router" => zmq::ROUTER,
                _ => usage(),
            })
            .expect("socket");
        socket.bind(&endpoint.replace(":0", ":*")).expect("bind");
        announce(&socket.get_last_endpoint().expect("endpoint").expect("utf-8"));
        loop {
            let message = socket.recv_multipart(0).expect("recv");
            socket.send_multipart(message, 0).expect("send");
        }
    }

    pub(super) fn client(kind: &str, endpoint: &str, requests: usize, in_flight: usize, size: usize) -> Run {
        let context = zmq::Context::new();
        let payload = vec![b'x'; size];
        let mut run = Run::new();
        let socket = context
            .socket(match kind {
                "req" => zmq::REQ,
                "dealer" => zmq::DEALER,
                _ => usage(),
            })
            .expect("socket");
        socket.set_rcvtimeo(STALL.as_millis() as i32).expect("rcvtimeo");
        socket.connect(endpoint).expect("connect");
        let started = Instant::now();
        if kind == "req" {
            for _ in 0..requests {
                let sent = Instant::now();
                socket.send(&payload[..], 0).expect("send");
                socket.recv_bytes(0).expect("a reply within the stall limit");
                run.record(sent.elapsed());
            }
        } else {
            let mut flight = InFlight::new(requests);
            let send = |n: usize| socket.send_multipart([&InFlight::id(n)[..], &payload[..]], 0).expect("send");
            for _ in 0..in_flight {
                if let Some(n) = flight.take() {
                    send(n);
                }
            }
            while run.requests < requests {
                let reply = socket.recv_multipart(0).expect("a reply within the stall limit");
                run.record(flight.done(&reply[0]));
                if let Some(n) = flight.take() {
                    send(n);
                }
            }
        }
        run.elapsed = started.elapsed();
        run
    }
}

/// The physical limit: a length-prefixed echo over blocking TCP sockets, one thread per
/// connection, one write and one read per message and side.
fn tcp_server(address: &str) {
    let listener = TcpListener::bind(address).expect("bind");
    announce(&format!("tcp://{}", listener.local_addr().expect("address")));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut buf = Vec::new();
            loop {
                let mut len = [0u8; 4];
                if stream.read_exact(&mut len).is_err() {
                    return;
                }
                let n = u32::from_be_bytes(len) as usize;
                // Checked before anything is allocated from the declared length.
                if n > MAX_TCP_MESSAGE {
                    return;
                }
                buf.resize(4 + n, 0);
                buf[..4].copy_from_slice(&len);
                if stream.read_exact(&mut buf[4..]).is_err() || stream.write_all(&buf).is_err() {
                    return;
                }
            }
        });
    }
}

fn tcp_client(address: &str, requests: usize, in_flight: usize, size: usize) -> Run {
    let mut stream = TcpStream::connect(address.trim_start_matches("tcp://")).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.set_read_timeout(Some(STALL)).expect("timeout");
    let mut message = (size as u32).to_be_bytes().to_vec();
    message.resize(4 + size, b'x');
    let mut reply = vec![0u8; 4 + size];
    let mut run = Run::new();
    let mut sent_at = std::collections::VecDeque::with_capacity(in_flight);
    let started = Instant::now();
    let mut sent = 0;
    while sent < requests.min(in_flight) {
        sent_at.push_back(Instant::now());
        stream.write_all(&message).expect("write");
        sent += 1;
    }
    while run.requests < requests {
        stream.read_exact(&mut reply).expect("a reply within the stall limit");
        run.record(sent_at.pop_front().expect("in flight").elapsed());
        if sent < requests {
            sent_at.push_back(Instant::now());
            stream.write_all(&message).expect("write");
            sent += 1;
        }
    }
    run.elapsed = started.elapsed();
    run
}

/// Opens `n` connections to a ZMTP server, completes each handshake as a DEALER, holds
/// them until stdin closes (prints `held N` once all are up).
fn hold(endpoint: &str, n: usize) {
    use reqchan_core::wire::{Connection, SocketType, WireConfig};
    let address = endpoint.trim_start_matches("tcp://");
    // Our greeting and READY as a DEALER, from the core's own ZMTP state machine.
    let handshake = Connection::new(Instant::now(), WireConfig::new(SocketType::Dealer))
        .poll_transmit()
        .expect("a greeting and READY");
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream.write_all(&handshake).expect("greeting and READY");
        stream.set_read_timeout(Some(STALL)).expect("timeout");
        let mut theirs = [0u8; 64];
        stream.read_exact(&mut theirs).expect("the server's greeting");
        held.push(stream);
    }
    println!("held {n}");
    std::io::stdout().flush().expect("stdout");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
