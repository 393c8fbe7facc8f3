//! Request cycles per second through the core client:
//! `submit` → `poll_transmit` → `handle_reply` → `poll_completion`, with no IO.
//!
//! **Pending** means unfinished requests held by the client while a cycle runs,
//! counting the cycled one: with N pending, N - 1 background requests stay unfinished
//! for the whole measurement.
//! - `pipelined/in_flight/N`: the background requests were transmitted and are never
//!   answered (`max_in_flight` = N, one-year timeout), so they sit in the request table
//!   and the deadline set: the cost of matching a reply among N outstanding requests.
//! - `lockstep/queued/N`: the background requests wait in the send queue behind the one
//!   slot. Each cycle submits at the back and sends the oldest, so the queue stays N - 1
//!   deep and the request cycled is always the one at the front.
//! - `lockstep/1` and `pipelined/in_flight/1`: nothing else pending.
//!
//! The reply is the transmission's own frames (an echo server), so no reply is built
//! inside the timed loop. The clock advances 1 µs per cycle.
//!
//! Run: `cargo bench -p reqchan-core --bench client_cycle`; criterion reports the
//! throughput in elements (cycles) per second.
//!
//! Measured 2026-11-25 on the project's 2-core machine (AMD EPYC, shared with other
//! builds, so ±10%), criterion's median per cycle:
//!
//! | case | before (BTreeSet deadlines, map of requests) | after (heap, slab) |
//! |---|---|---|
//! | `lockstep/1` | 152 ns (6.6 M/s) | 135–138 ns (7.2–7.4 M/s) |
//! | `pipelined/in_flight/1` | 172 ns (5.8 M/s) | 162 ns (6.2 M/s) |
//! | `pipelined/in_flight/1000` | 271 ns (3.7 M/s) | 159–160 ns (6.3 M/s) |
//! | `pipelined/in_flight/100000` | 450 ns (2.2 M/s), 2.6x | 169–185 ns (5.4–5.9 M/s), 1.05–1.14x |
//! | `lockstep/queued/1000` | 254 ns (3.9 M/s) | 275 ns (3.6 M/s) |
//! | `lockstep/queued/100000` | 544 ns (1.8 M/s) | 468–516 ns (1.9–2.1 M/s) |
//!
//! A queued backlog costs more per cycle by design: the request sent is the oldest, so
//! its table entry is cold, and its deadline is the heap's first (an O(log n) sift).

#![allow(missing_docs)] // `criterion_group!` generates an undocumented `pub fn`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use reqchan_core::client::{Client, ClientConfig, Mode, RequestOptions, SocketAction};

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
const TICK: Duration = Duration::from_micros(1);

/// A client with `mode`, connected, holding `background` unfinished requests.
fn client(mode: Mode, background: usize, now: &mut Instant) -> Client {
    let mut config = ClientConfig::default();
    config.mode = mode;
    config.max_queued = background + 1;
    config.defaults.timeout = YEAR;
    config.defaults.tries = 1;
    let mut client = Client::new(config).expect("valid config");
    assert!(matches!(client.poll_action(), Some(SocketAction::Connect { .. })));
    client.handle_connected(*now);
    let payload = Bytes::from_static(b"background");
    for _ in 0..background {
        client.submit(*now, payload.clone(), RequestOptions::default()).expect("room in the queue");
        *now += TICK;
    }
    // Pipelined: put them all on the wire. Lockstep: the first takes the slot and the
    // rest queue behind it; answer it so the slot is free for the cycles.
    let mut first = None;
    while let Some(transmit) = client.poll_transmit(*now) {
        first.get_or_insert(transmit);
    }
    if matches!(mode, Mode::Lockstep)
        && let Some(transmit) = first
    {
        client.handle_reply(*now, transmit.frames());
        assert!(client.poll_completion().is_some_and(|c| c.result.is_ok()));
        // Keep N - 1 waiting: one more joins the queue.
        client.submit(*now, payload, RequestOptions::default()).expect("room in the queue");
    }
    assert_eq!(client.pending(), background);
    client
}

/// One full cycle. Returns the reply so the work cannot be optimised away.
fn cycle(client: &mut Client, now: &mut Instant, payload: &Bytes) -> Bytes {
    *now += TICK;
    let id = client.submit(*now, payload.clone(), RequestOptions::default()).expect("accepted");
    let transmit = client.poll_transmit(*now).expect("a slot is free");
    client.handle_reply(*now, transmit.frames());
    let done = client.poll_completion().expect("the reply completes a request");
    // Lockstep with a queue: the request answered is the oldest, not the one just submitted.
    debug_assert!(done.id == transmit.id && (done.id == id || client.pending() > 0));
    done.result.expect("a reply")
}

fn bench(c: &mut Criterion) {
    let payload = Bytes::from_static(b"{\"enc\": \"clear\", \"load\": {\"cmd\": \"_return\"}, \"version\": 3}");
    let mut group = c.benchmark_group("client_cycle");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    let mut cases = vec![(String::from("lockstep"), 1, Mode::Lockstep)];
    for pending in [1, 1_000, 100_000] {
        cases.push((String::from("pipelined/in_flight"), pending, Mode::Pipelined { max_in_flight: pending }));
    }
    for pending in [1_000, 100_000] {
        cases.push((String::from("lockstep/queued"), pending, Mode::Lockstep));
    }
    for (name, pending, mode) in cases {
        let mut now = start();
        let mut client = client(mode, pending - 1, &mut now);
        group.bench_function(BenchmarkId::new(name, pending), |b| {
            b.iter(|| black_box(cycle(&mut client, &mut now, &payload)));
        });
        assert_eq!(client.pending(), pending - 1, "the background stayed pending");
    }
    group.finish();
}

/// The benchmark's time origin: the only clock reading, before any client exists.
fn start() -> Instant {
    #[allow(clippy::disallowed_methods)] // a bench needs some instant to start from
    Instant::now()
}

criterion_group!(benches, bench);
criterion_main!(benches);
