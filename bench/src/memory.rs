//! Bytes per pending request, in the core alone and through the tokio adapter, at 1,000
//! and 100,000 pending: heap bytes live and allocations made (a counting global
//! allocator), and the change in resident memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{Client, ClientConfig, Mode, RequestOptions};
use reqchan_tokio::{Channel, ChannelConfig};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are
// added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|r| r.split_whitespace().next());
    kib.and_then(|k| k.parse::<usize>().ok()).unwrap_or(0) * 1024
}

/// Heap bytes, allocations and resident bytes per request, from a snapshot to now.
struct Snapshot {
    live: usize,
    allocations: u64,
    rss: usize,
}

impl Snapshot {
    fn now() -> Self {
        Self { live: LIVE.load(Ordering::Relaxed), allocations: ALLOCATIONS.load(Ordering::Relaxed), rss: rss() }
    }

    fn per(&self, n: usize) -> serde_json::Value {
        let now = Self::now();
        serde_json::json!({
            "pending": n,
            "heap_bytes_per_request": (now.live as f64 - self.live as f64) / n as f64,
            "allocations_per_request": (now.allocations - self.allocations) as f64 / n as f64,
            "rss_bytes_per_request": (now.rss as f64 - self.rss as f64) / n as f64,
        })
    }
}

/// The core alone: `n` requests in flight on a pipelined client (the payload is one
/// shared buffer, so only the client's own records count).
fn core(n: usize) -> serde_json::Value {
    let start = Instant::now();
    let mut config = ClientConfig::default();
    config.mode = Mode::Pipelined { max_in_flight: n };
    config.max_queued = n;
    let payload = Bytes::from_static(&[b'x'; 64]);
    let before = Snapshot::now();
    let mut client = Client::new(config).expect("config");
    client.handle_connected(start);
    for _ in 0..n {
        client.submit(start, payload.clone(), RequestOptions::default()).expect("accepted");
        // A driver hands each transmission to its socket and drops it.
        while let Some(transmit) = client.poll_transmit(start) {
            drop(transmit);
        }
    }
    let result = before.per(n);
    assert_eq!(client.pending(), n);
    result
}

/// Through the tokio adapter: `n` requests on a pipelined channel to a server that
/// never answers, all transmitted, their futures held by the caller.
fn adapter(endpoint: &str, n: usize) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    runtime.block_on(async {
        let config = ChannelConfig::pipelined(n).max_queued(n);
        let channel = Channel::connect(endpoint, config).expect("channel");
        let payload = Bytes::from_static(&[b'x'; 64]);
        let options = RequestOptions::default().timeout(Duration::from_secs(600)).tries(1);
        // One request first (never answered, held), so the connection and its buffers
        // exist before counting.
        let _warm = channel.request_raw_with(payload.clone(), options);
        let limit = Duration::from_secs(60);
        tokio::time::timeout(limit, channel.wait_for_stats(|s| s.transmitted >= 1)).await.expect("connected");
        let base = channel.stats().transmitted;
        let before = Snapshot::now();
        let mut pending = Vec::with_capacity(n);
        for _ in 0..n {
            pending.push(channel.request_raw_with(payload.clone(), options));
        }
        let target = base + n as u64;
        tokio::time::timeout(limit, channel.wait_for_stats(|s| s.transmitted >= target)).await.expect("all sent");
        // The caller's own Vec of futures is not the channel's cost.
        let vec_bytes = pending.capacity() * std::mem::size_of_val(&pending[0]);
        let mut result = before.per(n);
        if let Some(heap) = result["heap_bytes_per_request"].as_f64() {
            result["heap_bytes_per_request"] = serde_json::json!(heap - vec_bytes as f64 / n as f64);
        }
        result["future_bytes"] = serde_json::json!(std::mem::size_of_val(&pending[0]));
        channel.close();
        result
    })
}

/// Prints the measurements as one JSON line.
pub(super) fn run(silent_endpoint: &str) {
    let mut results = serde_json::Map::new();
    for n in [1_000, 100_000] {
        results.insert(format!("core_{n}"), core(n));
    }
    for n in [1_000, 100_000] {
        results.insert(format!("adapter_{n}"), adapter(silent_endpoint, n));
    }
    println!("{}", serde_json::Value::Object(results));
}
