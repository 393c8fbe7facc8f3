//! `reqchan bench`: throughput and latency of one channel shared by C callers.
//!
//! Without `--endpoint`, an echo server (`reqchan_tokio::server`, ROUTER) is started in
//! this process on a free 127.0.0.1 port. Each request carries a `--size`-byte binary
//! load in the clear envelope (encoded once; the bench measures the channel, not the
//! encoder). The clock starts once the channel is connected. Latency is measured from
//! the call to the reply, over answered requests, into an HDR histogram. A progress bar
//! is drawn on stderr when stderr is a terminal. SIGINT/SIGTERM stop new requests, let
//! those in flight finish (bounded), print what was done and exit 130/143. Exit status
//! otherwise: 0 when every request was answered, 1 when some failed (the summary, with
//! failures by kind, is printed either way).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io::{IsTerminal, Write as _};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use hdrhistogram::Histogram;
use reqchan_core::codec::{self, Crypt};
use reqchan_tokio::server::{self, ServerError, ServerHandle, ServerOptions, SocketKind};
use reqchan_tokio::{
    Channel, ChannelConfig, ClientStats, ConnectionState, Error, Mode, RequestError, RequestOptions, Value,
};

use crate::options::{ModeArg, TransportArgs, seconds};

/// Arguments of `reqchan bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Server to benchmark; without it, an embedded echo server on 127.0.0.1.
    #[arg(long)]
    endpoint: Option<String>,
    /// Requests in total (default 20,000; unbounded with --duration).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Stop sending after this long (seconds, or with a unit: 30s, 2m).
    #[arg(long, value_parser = seconds)]
    duration: Option<Duration>,
    /// Open loop: start requests at this many per second whatever the answers do, and
    /// measure each latency from its intended start (so a stall is not hidden by the
    /// requests it held back). --concurrency is ignored.
    #[arg(long, value_parser = rate)]
    rate: Option<f64>,
    /// Callers sharing the channel, each with one request outstanding (pipelined: also
    /// the requests in flight on the socket).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    concurrency: u64,
    /// lockstep (one request at a time with REQ semantics) or pipelined (many in flight).
    #[arg(long, value_enum, default_value_t = ModeArg::Pipelined)]
    mode: ModeArg,
    /// Bytes of binary load in each request (at most 64 MiB, the channel's message limit;
    /// ignored with --payload or --payload-file).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=(64 << 20) - 64))]
    size: u64,
    /// Seconds to wait for the reply to each attempt.
    #[arg(long, default_value = "10", value_parser = seconds)]
    timeout: Duration,
    /// Attempts per request.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    tries: u32,
    /// The load of each request, as JSON (`{"$bytes": "<base64>"}` for bytes), instead
    /// of --size bytes.
    #[arg(long, conflicts_with = "payload_file")]
    payload: Option<String>,
    /// Read the load of each request (JSON) from this file.
    #[arg(long)]
    payload_file: Option<std::path::PathBuf>,
    /// Print exactly one line of JSON on stdout instead of the summary.
    #[arg(long)]
    json: bool,
    /// Also print the latency distribution (HDR histogram) as a table.
    #[arg(long)]
    histogram: bool,
    #[command(flatten)]
    pub(crate) transport: TransportArgs,
}

/// What a run measured.
struct Outcome {
    requests: u64,
    ok: u64,
    failed: u64,
    elapsed: Duration,
    /// Latencies of answered requests, in microseconds.
    latencies: Histogram<u64>,
    /// Failures by kind.
    errors: BTreeMap<String, u64>,
    stats: ClientStats,
    first_error: Option<String>,
    /// The signal that stopped the run early, if one did.
    interrupted: Option<&'static str>,
}

impl Outcome {
    /// Answered requests per second: failures do not count as throughput.
    fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.ok as f64 / secs } else { 0.0 }
    }

    /// The latency at percentile `p`, or `None` when nothing was answered.
    fn percentile(&self, p: f64) -> Option<u64> {
        (!self.latencies.is_empty()).then(|| self.latencies.value_at_quantile(p / 100.0))
    }

    fn max(&self) -> Option<u64> {
        (!self.latencies.is_empty()).then(|| self.latencies.max())
    }

    fn json(&self) -> String {
        serde_json::json!({
            "requests": self.requests,
            "ok": self.ok,
            "failed": self.failed,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "rps": self.rps(),
            "p50_us": self.percentile(50.0),
            "p99_us": self.percentile(99.0),
            "max_us": self.max(),
            "transmissions": self.stats.transmitted,
            "retries": self.stats.retried,
            "resets": self.stats.resets,
            "latency_us": {
                "p50": self.percentile(50.0),
                "p90": self.percentile(90.0),
                "p99": self.percentile(99.0),
                "p99.9": self.percentile(99.9),
                "max": self.max(),
            },
            "errors": self.errors,
            "stats": self.stats,
            "interrupted": self.interrupted,
        })
        .to_string()
    }
}

/// A positive request rate, per second.
fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 10_000_000.0 => Ok(r),
        _ => Err(format!("{text:?} is not a rate of requests per second (above 0)")),
    }
}

/// A failure's kind, for the breakdown.
fn kind(error: &Error) -> String {
    match error {
        Error::Request(RequestError::Rejected { reason }) => format!("rejected: {reason}"),
        Error::Request(RequestError::TimedOut { .. }) => "timed out".to_owned(),
        Error::Request(RequestError::Unreachable { .. }) => "unreachable".to_owned(),
        Error::Request(RequestError::PeerLost { .. }) => "peer lost".to_owned(),
        Error::Request(RequestError::MalformedReply { .. }) => "malformed reply".to_owned(),
        Error::Request(RequestError::ReplyTooLarge { .. }) => "reply too large".to_owned(),
        Error::Request(_) => "request failed".to_owned(),
        Error::Submit(_) => "refused by the channel".to_owned(),
        _ => "other".to_owned(),
    }
}

/// The embedded echo server, over the transport the client uses.
async fn embedded_server(transport: reqchan_tokio::Transport) -> Result<ServerHandle, ServerError> {
    let options = ServerOptions::default().transport(transport);
    server::bind("tcp://127.0.0.1:0", SocketKind::Router, options, reqchan_cli::echo).await
}

/// Runs `reqchan bench`; returns the exit status.
pub(crate) async fn run(args: BenchArgs) -> ExitCode {
    let (endpoint, embedded) = match &args.endpoint {
        Some(endpoint) => (endpoint.clone(), None),
        None => match embedded_server(args.transport.transport.transport()).await {
            Ok(server) => (server.endpoint().to_owned(), Some(server)),
            Err(e) => {
                eprintln!("reqchan bench: cannot start the embedded echo server: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let outcome = bench(&args, &endpoint).await;
    if let Some(server) = embedded {
        shutdown(server).await;
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(message) => {
            eprintln!("reqchan bench: {message}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{}", outcome.json());
    } else {
        print_summary(&args, &endpoint, args.endpoint.is_none(), &outcome);
        if args.histogram {
            print_histogram(&outcome);
        }
    }
    if let Some(error) = &outcome.first_error {
        eprintln!("reqchan bench: {} request(s) failed; the first: {error}", outcome.failed);
    }
    match outcome.interrupted {
        Some("SIGINT") => ExitCode::from(130),
        Some(_) => ExitCode::from(143),
        None if outcome.failed == 0 => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}

async fn shutdown(server: ServerHandle) {
    if let Err(e) = server.shutdown().await {
        eprintln!("reqchan bench: the embedded server did not stop cleanly: {e}");
    }
}

async fn bench(args: &BenchArgs, endpoint: &str) -> Result<Outcome, String> {
    let total = match (args.requests, args.duration) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) => 20_000,
    };
    let callers = args.concurrency.min(total);
    let defaults = ChannelConfig::default();
    let max_queued = defaults.client_config().max_queued.max(callers as usize);
    let config = defaults
        .mode(args.mode.into_mode(callers as usize))
        .timeout(args.timeout)
        .tries(args.tries)
        .max_queued(max_queued);
    let config = args.transport.apply(config)?;
    let channel = Channel::connect(endpoint, config).map_err(|e| e.to_string())?;
    let payload = codec::encode_request(Crypt::Clear, &load(args)?).map_err(|e| e.to_string())?;

    // Start the clock once connected (or once it is clear no connection comes soon).
    let mut watch = channel.watch();
    let _ = tokio::time::timeout(args.timeout, watch.wait_for(|s| s == ConnectionState::Connected)).await;

    let progress = Progress::new(total, std::io::stderr().is_terminal() && !args.json);
    let shared = Arc::new(Mutex::new(Tally::new()));
    let next = Arc::new(AtomicU64::new(0));
    // Set when no more requests may start: the count is reached, the time is up, or a
    // signal came.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let workers = (0..callers).map(|_| {
        let (channel, payload, tally, next, progress, stop) =
            (channel.clone(), payload.clone(), shared.clone(), next.clone(), progress.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed)
                && next.load(Ordering::Relaxed) < total
                && deadline.is_none_or(|at| Instant::now() < at)
            {
                next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                // A refusal from the server (`bad load`, `server busy`) is a failure.
                let options = RequestOptions::default().detect_refusals(true);
                let result = channel.request_raw_with(Bytes::clone(&payload), options).await;
                lock(&tally).record(sent, result);
                progress.tick(started);
            }
        }
    });
    // The callers run in a task of their own, the driver in another: one thread for
    // everything (a current-thread runtime), the fastest setup for a single connection.
    // (Callers in `block_on`'s own future would cost tokio an extra poll of its reactor
    // each time the driver wakes them.)
    let all: Pin<Box<dyn Future<Output = ()> + Send>> = match args.rate {
        None => Box::pin(futures::future::join_all(workers).map(drop)),
        Some(rate) => {
            drop(workers);
            let (channel, payload, tally, stop) = (channel.clone(), payload.clone(), shared.clone(), stop.clone());
            Box::pin(open_loop(channel, payload, rate, total, started, deadline, stop, tally, progress.clone()))
        }
    };
    let all = tokio::spawn(all);
    let interrupted = tokio::select! {
        _ = all => None,
        signal = signals() => {
            // Stop starting requests, then let those in flight finish (bounded).
            stop.store(true, Ordering::Relaxed);
            let grace = args.timeout.saturating_mul(args.tries).min(Duration::from_secs(10));
            let _ = tokio::time::timeout(grace, channel.wait_for_stats(|s| s.submitted == s.replied + s.rejected + s.timed_out + s.cancelled + s.closed + s.failed)).await;
            Some(signal)
        }
    };
    let elapsed = started.elapsed();
    progress.finish();
    let stats = channel.stats();
    channel.close();
    let tally = lock(&shared).clone();
    Ok(Outcome {
        requests: tally.ok + tally.failed,
        ok: tally.ok,
        failed: tally.failed,
        elapsed,
        latencies: tally.latencies,
        errors: tally.errors,
        stats,
        first_error: tally.first_error,
        interrupted,
    })
}

/// Starts request `i` at `started + i / rate` until `total`, the deadline or `stop`;
/// each latency counts from its intended start.
#[allow(clippy::too_many_arguments)] // the run's shared state, passed once
async fn open_loop(
    channel: Channel,
    payload: Bytes,
    rate: f64,
    total: u64,
    started: Instant,
    deadline: Option<Instant>,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    progress: Progress,
) {
    use futures::stream::{FuturesUnordered, StreamExt};
    let mut in_flight = FuturesUnordered::new();
    let mut i = 0u64;
    loop {
        let intended = started + Duration::from_secs_f64(i as f64 / rate);
        let may_start = i < total && !stop.load(Ordering::Relaxed) && deadline.is_none_or(|at| intended < at);
        if !may_start && in_flight.is_empty() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(intended.into()), if may_start => {
                i += 1;
                let options = RequestOptions::default().detect_refusals(true);
                let request = channel.request_raw_with(Bytes::clone(&payload), options);
                in_flight.push(async move { (intended, request.await) });
            }
            Some((intended, result)) = in_flight.next(), if !in_flight.is_empty() => {
                lock(&tally).record(intended, result);
                progress.tick(started);
            }
        }
    }
}

/// The load of each request: --payload or --payload-file (JSON), else --size bytes.
fn load(args: &BenchArgs) -> Result<Value, String> {
    let text = match (&args.payload, &args.payload_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        (None, None) => return Ok(Value::Binary(vec![0x5a; args.size as usize])),
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("the payload is not JSON: {e}"))?;
    crate::json::to_msgpack(&json).map_err(|e| format!("the payload: {e}"))
}

/// Resolves with the name of the first SIGINT or SIGTERM (never, if they cannot be
/// watched).
async fn signals() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        },
        _ => std::future::pending().await,
    }
}

#[derive(Clone)]
struct Tally {
    ok: u64,
    failed: u64,
    latencies: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        // 1 µs to an hour, three significant figures.
        let latencies = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
        Self { ok: 0, failed: 0, latencies, errors: BTreeMap::new(), first_error: None }
    }

    /// Counts one request's outcome; its latency runs from `since` (when it was sent,
    /// or meant to be) to now.
    fn record(&mut self, since: Instant, result: Result<Bytes, Error>) {
        match result {
            Ok(_) => {
                self.ok += 1;
                let micros = (since.elapsed().as_micros() as u64).max(1);
                let _ = self.latencies.record(micros);
            }
            Err(e) => {
                self.failed += 1;
                *self.errors.entry(kind(&e)).or_default() += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

fn print_summary(args: &BenchArgs, endpoint: &str, embedded: bool, outcome: &Outcome) {
    let mode = match args.mode.into_mode(args.concurrency as usize) {
        Mode::Pipelined { max_in_flight } => format!("pipelined, {max_in_flight} in flight"),
        _ => "lockstep".to_owned(),
    };
    let server = if embedded { " (embedded echo server)" } else { "" };
    println!(
        "reqchan bench: {} requests of {} B, {} caller(s), {mode}, {endpoint}{server}",
        outcome.requests, args.size, args.concurrency
    );
    if let Some(signal) = outcome.interrupted {
        println!("  interrupted by {signal}: what was done until then");
    }
    println!(
        "  {} ok, {} failed in {:.3} s: {:.0} requests/s answered",
        outcome.ok,
        outcome.failed,
        outcome.elapsed.as_secs_f64(),
        outcome.rps()
    );
    let us = |v: Option<u64>| v.map_or("-".to_owned(), |v| format!("{v} µs"));
    println!(
        "  latency: p50 {}, p90 {}, p99 {}, p99.9 {}, max {}",
        us(outcome.percentile(50.0)),
        us(outcome.percentile(90.0)),
        us(outcome.percentile(99.0)),
        us(outcome.percentile(99.9)),
        us(outcome.max())
    );
    for (kind, count) in &outcome.errors {
        println!("  failed: {count} {kind}");
    }
    println!(
        "  transmissions {}, retries {}, resets {}",
        outcome.stats.transmitted, outcome.stats.retried, outcome.stats.resets
    );
}

fn print_histogram(outcome: &Outcome) {
    if outcome.latencies.is_empty() {
        println!("  (no latencies: nothing was answered)");
        return;
    }
    println!("  {:>9}  {:>12}  {:>10}", "percentile", "latency", "count");
    for p in [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0] {
        let value = outcome.latencies.value_at_quantile(p / 100.0);
        let count = outcome.latencies.count_between(0, value);
        println!("  {p:>9}  {:>9} µs  {count:>10}", value);
    }
}

/// A progress bar on stderr, redrawn at most every 100 ms; does nothing when off.
/// The value behind `mutex` (a panic elsewhere does not hide the counts).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone)]
struct Progress {
    inner: Option<Arc<Mutex<ProgressState>>>,
}

struct ProgressState {
    total: u64,
    done: u64,
    drawn_at: Option<Instant>,
}

impl Progress {
    fn new(total: u64, enabled: bool) -> Self {
        Self { inner: enabled.then(|| Arc::new(Mutex::new(ProgressState { total, done: 0, drawn_at: None }))) }
    }

    fn tick(&self, started: Instant) {
        let Some(inner) = &self.inner else { return };
        let mut state = lock(inner);
        state.done += 1;
        let due = state.drawn_at.is_none_or(|at| at.elapsed() >= Duration::from_millis(100));
        if due || state.done == state.total {
            state.drawn_at = Some(Instant::now());
            draw(&state, started);
        }
    }

    fn finish(&self) {
        if self.inner.is_some() {
            // Clear the bar's line.
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    }
}

fn draw(state: &ProgressState, started: Instant) {
    const WIDTH: u64 = 30;
    let filled = (state.done * WIDTH).checked_div(state.total).unwrap_or(WIDTH) as usize;
    let secs = started.elapsed().as_secs_f64();
    let rate = if secs > 0.0 { state.done as f64 / secs } else { 0.0 };
    let mut line = String::new();
    if state.total == u64::MAX {
        // A run bounded by --duration: no count to fill.
        let _ = write!(line, "\r{} done, {rate:.0} req/s, {secs:.1} s", state.done);
    } else {
        let left = state.total - state.done.min(state.total);
        let eta = if rate > 0.0 { format!("{:.1} s", left as f64 / rate) } else { "?".to_owned() };
        let _ = write!(
            line,
            "\r[{}{}] {}/{} {:.0} req/s, ETA {eta}",
            "#".repeat(filled),
            " ".repeat(WIDTH as usize - filled),
            state.done,
            state.total,
            rate
        );
    }
    eprint!("{line}");
    let _ = std::io::stderr().flush();
}
