//! `reqchan bench`: throughput and latency of one channel shared by C callers.
//!
//! Without `--endpoint`, an echo server (`reqchan_tokio::server`, ROUTER) is started in
//! this process on a free 127.0.0.1 port. Each request carries a `--size`-byte binary
//! load in the clear envelope (encoded once; the bench measures the channel, not the
//! encoder). The clock starts once the channel is connected. Latency is measured from
//! the call to the reply, over answered requests. A progress bar is drawn on stderr
//! when stderr is a terminal. Exit status: 0 when every request was answered, 1
//! otherwise (the summary is printed either way).

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::codec::{self, Crypt};
use reqchan_tokio::server::{ServerHandle, SocketKind};
use reqchan_tokio::{Channel, ChannelConfig, ClientStats, ConnectionState, Mode, RequestOptions, Value};

use crate::options::{ModeArg, TransportArgs, seconds};

/// Arguments of `reqchan bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Server to benchmark; without it, an embedded echo server on 127.0.0.1.
    #[arg(long)]
    endpoint: Option<String>,
    /// Requests in total.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    requests: u64,
    /// Callers sharing the channel, each with one request outstanding (pipelined: also
    /// the requests in flight on the socket).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    concurrency: u64,
    /// lockstep (one request at a time with REQ semantics) or pipelined (many in flight).
    #[arg(long, value_enum, default_value_t = ModeArg::Pipelined)]
    mode: ModeArg,
    /// Bytes of binary load in each request (at most 64 MiB, the channel's message limit).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=(64 << 20) - 64))]
    size: u64,
    /// Seconds to wait for the reply to each attempt.
    #[arg(long, default_value = "10", value_parser = seconds)]
    timeout: Duration,
    /// Attempts per request.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    tries: u32,
    /// Print exactly one line of JSON on stdout instead of the summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    transport: TransportArgs,
}

/// What a run measured.
struct Outcome {
    requests: u64,
    ok: u64,
    failed: u64,
    elapsed: Duration,
    /// Latencies of answered requests, in microseconds, sorted.
    latencies: Vec<u64>,
    stats: ClientStats,
    first_error: Option<String>,
}

impl Outcome {
    fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { (self.ok + self.failed) as f64 / secs } else { 0.0 }
    }

    fn percentile(&self, p: f64) -> u64 {
        if self.latencies.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
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
            "max_us": self.latencies.last().copied().unwrap_or(0),
            "transmissions": self.stats.transmitted,
            "retries": self.stats.retried,
            "resets": self.stats.resets,
        })
        .to_string()
    }
}

/// Runs `reqchan bench`; returns the exit status.
pub(crate) async fn run(args: BenchArgs) -> ExitCode {
    let (endpoint, embedded) = match &args.endpoint {
        Some(endpoint) => (endpoint.clone(), None),
        None => match reqchan_cli::spawn_echo("tcp://127.0.0.1:0", SocketKind::Router).await {
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
    }
    if let Some(error) = &outcome.first_error {
        eprintln!("reqchan bench: {} request(s) failed; the first: {error}", outcome.failed);
    }
    if outcome.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn shutdown(server: ServerHandle) {
    if let Err(e) = server.shutdown().await {
        eprintln!("reqchan bench: the embedded server did not stop cleanly: {e}");
    }
}

async fn bench(args: &BenchArgs, endpoint: &str) -> Result<Outcome, String> {
    let callers = args.concurrency.min(args.requests);
    let defaults = ChannelConfig::default();
    let max_queued = defaults.client_config().max_queued.max(callers as usize);
    let config = defaults
        .mode(args.mode.into_mode(callers as usize))
        .timeout(args.timeout)
        .tries(args.tries)
        .max_queued(max_queued);
    let config = args.transport.apply(config)?;
    let channel = Channel::connect(endpoint, config).map_err(|e| e.to_string())?;
    let load = Value::Binary(vec![0x5a; args.size as usize]);
    let payload = codec::encode_request(Crypt::Clear, &load).map_err(|e| e.to_string())?;

    // Start the clock once connected (or once it is clear no connection comes soon).
    let mut watch = channel.watch();
    let _ = tokio::time::timeout(args.timeout, watch.wait_for(|s| s == ConnectionState::Connected)).await;

    let progress = Progress::new(args.requests, std::io::stderr().is_terminal() && !args.json);
    let shared = Rc::new(RefCell::new(Tally::default()));
    let next = Rc::new(Cell::new(0u64));
    let started = Instant::now();
    let workers = (0..callers).map(|_| {
        let (channel, payload, tally, next, progress) =
            (channel.clone(), payload.clone(), shared.clone(), next.clone(), progress.clone());
        let total = args.requests;
        async move {
            while next.get() < total {
                next.set(next.get() + 1);
                let sent = Instant::now();
                // A refusal from the server (`bad load`, `server busy`) is a failure.
                let options = RequestOptions::default().detect_refusals(true);
                let result = channel.request_raw_with(Bytes::clone(&payload), options).await;
                let micros = sent.elapsed().as_micros() as u64;
                let mut tally = tally.borrow_mut();
                match result {
                    Ok(_) => tally.latencies.push(micros),
                    Err(e) => {
                        tally.failed += 1;
                        tally.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
                drop(tally);
                progress.tick(started);
            }
        }
    });
    // The callers run on this task, the driver on its own: one thread for everything
    // (a current-thread runtime), the fastest setup for a single connection.
    futures::future::join_all(workers).await;
    let elapsed = started.elapsed();
    progress.finish();
    let stats = channel.stats();
    channel.close();
    let mut tally = Rc::try_unwrap(shared).map(RefCell::into_inner).unwrap_or_default();
    tally.latencies.sort_unstable();
    Ok(Outcome {
        requests: args.requests,
        ok: tally.latencies.len() as u64,
        failed: tally.failed,
        elapsed,
        latencies: tally.latencies,
        stats,
        first_error: tally.first_error,
    })
}

#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    failed: u64,
    first_error: Option<String>,
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
    println!(
        "  {} ok, {} failed in {:.3} s: {:.0} requests/s",
        outcome.ok,
        outcome.failed,
        outcome.elapsed.as_secs_f64(),
        outcome.rps()
    );
    println!(
        "  latency: p50 {} µs, p99 {} µs, max {} µs",
        outcome.percentile(50.0),
        outcome.percentile(99.0),
        outcome.latencies.last().copied().unwrap_or(0)
    );
    println!(
        "  transmissions {}, retries {}, resets {}",
        outcome.stats.transmitted, outcome.stats.retried, outcome.stats.resets
    );
}

/// A progress bar on stderr, redrawn at most every 100 ms; does nothing when off.
#[derive(Clone)]
struct Progress {
    inner: Option<Rc<RefCell<ProgressState>>>,
}

struct ProgressState {
    total: u64,
    done: u64,
    drawn_at: Option<Instant>,
}

impl Progress {
    fn new(total: u64, enabled: bool) -> Self {
        Self { inner: enabled.then(|| Rc::new(RefCell::new(ProgressState { total, done: 0, drawn_at: None }))) }
    }

    fn tick(&self, started: Instant) {
        let Some(inner) = &self.inner else { return };
        let mut state = inner.borrow_mut();
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
    let _ = write!(
        line,
        "\r[{}{}] {}/{} {:.0} req/s",
        "#".repeat(filled),
        " ".repeat(WIDTH as usize - filled),
        state.done,
        state.total,
        rate
    );
    eprint!("{line}");
    let _ = std::io::stderr().flush();
}
