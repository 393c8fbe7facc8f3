//! `reqchan serve ENDPOINT [--socket router|rep] [--max-concurrent N]`: an echo server.
//!
//! Replies to every clear request with its `load`, byte for byte; malformed requests
//! get `{"msg": "bad load"}`. Prints `listening on <endpoint>` on stdout once bound
//! (with the real port for `:0`), logs rejected requests and failures on stderr, and
//! runs until SIGINT or SIGTERM, then shuts down gracefully: running requests are
//! answered, replies flushed, then it exits.

use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use reqchan_tokio::server::{self, Reply, ServerConfig, ServerError, ServerOptions, SocketKind};

use crate::options::{TransportArg, seconds};

/// Arguments of `reqchan serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Endpoint to bind, e.g. `tcp://127.0.0.1:4506` (port 0 picks a free port).
    pub(crate) endpoint: String,
    /// Socket type: `router` answers many requests at once, `rep` one at a time.
    /// (`--mode` is accepted as an older spelling.)
    #[arg(long, alias = "mode", value_enum, default_value_t = SocketArg::Router)]
    pub(crate) socket: SocketArg,
    /// Requests handled at once (ROUTER); more wait in a queue of 1,024, beyond that
    /// they are answered `{"msg": "server busy"}`.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_concurrent: u32,
    /// Seconds running requests get to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 5)]
    pub(crate) grace_secs: u64,
    /// The largest request and reply, in bytes (default 64 MiB); larger requests are
    /// answered `{"msg": "bad load"}`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=(1 << 32)))]
    pub(crate) max_message_size: Option<u64>,
    /// wire (our own ZMTP: a peer that breaks the protocol or a limit loses its own
    /// connection, nothing else) or zmq (the zeromq crate, zmq.rs).
    #[arg(long, value_enum, default_value_t = TransportArg::Wire)]
    pub(crate) transport: TransportArg,
    /// Seconds between ZMTP heartbeats to each client (needs --transport wire); a client
    /// silent for that long after one is dropped. Off when absent.
    #[arg(long, value_parser = seconds)]
    pub(crate) heartbeat: Option<Duration>,
    /// Connections at once (needs --transport wire); more are closed when accepted.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: u32,
    /// Seconds a new connection has to complete the ZMTP handshake (needs --transport
    /// wire).
    #[arg(long, default_value = "10", value_parser = seconds)]
    pub(crate) handshake_timeout: Duration,
    /// Misbehave on purpose, to test clients: wait this long before each reply.
    #[arg(long, value_parser = seconds)]
    pub(crate) delay: Option<Duration>,
    /// Misbehave on purpose: never answer this share of requests (0 to 1).
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub(crate) drop_rate: f64,
    /// Misbehave on purpose: answer this share of requests with bytes that are not
    /// msgpack (0 to 1).
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub(crate) reply_garbage_rate: f64,
}

/// A share, from 0 to 1.
fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a share from 0 to 1")),
    }
}

/// What `serve` does wrong on purpose, per request.
#[derive(Debug, Clone)]
struct Misbehaviour {
    delay: Option<Duration>,
    drop_rate: f64,
    garbage_rate: f64,
    /// A small generator seeded from the clock: which requests misbehave.
    state: Arc<std::sync::atomic::AtomicU64>,
}

impl Misbehaviour {
    /// A uniform draw in [0, 1) (SplitMix64 on a shared counter).
    fn roll(&self) -> f64 {
        let mut z = self.state.fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }

    fn is_on(&self) -> bool {
        self.delay.is_some() || self.drop_rate > 0.0 || self.garbage_rate > 0.0
    }
}

/// Bytes that are not msgpack (0xc1 is reserved).
const GARBAGE: &[u8] = b"\xc1 not msgpack";

/// The socket type, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SocketArg {
    /// A ROUTER socket.
    Router,
    /// A REP socket.
    Rep,
}

/// Why `reqchan serve` failed.
#[derive(Debug)]
pub(crate) enum ServeCliError {
    /// Options that do not go together.
    Usage(String),
    /// Binding or running the server failed.
    Server(ServerError),
    /// The signal handlers could not be installed.
    Signals(std::io::Error),
}

impl fmt::Display for ServeCliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(e) => f.write_str(e),
            Self::Server(e) => write!(f, "{e}"),
            Self::Signals(e) => write!(f, "cannot install SIGINT/SIGTERM handlers: {e}"),
        }
    }
}

impl ServeCliError {
    /// The process exit code: 2 when the endpoint cannot be bound, 1 otherwise.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Self::Server(ServerError::Bind(_)) => ExitCode::from(6),
            Self::Usage(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Runs the echo server until SIGINT or SIGTERM.
pub(crate) async fn run(args: ServeArgs) -> Result<(), ServeCliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeCliError::Signals)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeCliError::Signals)?;

    let kind = match args.socket {
        SocketArg::Router => SocketKind::Router,
        SocketArg::Rep => SocketKind::Rep,
    };
    let mut core = ServerConfig::default().max_concurrent(args.max_concurrent as usize);
    if let Some(bytes) = args.max_message_size {
        core = core.max_message_size(bytes as usize);
    }
    if args.drop_rate > 0.0 {
        // A dropped request is never answered while the server runs.
        core = core.request_timeout(reqchan_core::client::MAX_DURATION);
    }
    if args.transport == TransportArg::Zmq && args.heartbeat.is_some() {
        return Err(ServeCliError::Usage("--heartbeat needs --transport wire (zmq.rs has no heartbeats)".to_owned()));
    }
    let mut options = ServerOptions::new(core)
        .shutdown_grace(Duration::from_secs(args.grace_secs))
        .transport(args.transport.transport())
        .max_connections(args.max_connections as usize)
        .handshake_timeout(args.handshake_timeout)
        .event_sink(Arc::new(|event| eprintln!("reqchan serve: {event}")));
    if let Some(interval) = args.heartbeat {
        options = options.heartbeat(interval);
    }
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let misbehaviour = Misbehaviour {
        delay: args.delay,
        drop_rate: args.drop_rate,
        garbage_rate: args.reply_garbage_rate,
        state: Arc::new(std::sync::atomic::AtomicU64::new(seed)),
    };
    if misbehaviour.is_on() {
        eprintln!("reqchan serve: misbehaving on purpose: {misbehaviour:?}");
    }
    let handler = move |request| {
        let misbehaviour = misbehaviour.clone();
        async move {
            if let Some(delay) = misbehaviour.delay {
                tokio::time::sleep(delay).await;
            }
            let roll = misbehaviour.roll();
            if roll < misbehaviour.drop_rate {
                std::future::pending::<()>().await;
            }
            if roll < misbehaviour.drop_rate + misbehaviour.garbage_rate {
                return Ok(Reply::msgpack(GARBAGE));
            }
            reqchan_cli::echo(request).await
        }
    };
    let handle = server::bind(&args.endpoint, kind, options, handler).await.map_err(ServeCliError::Server)?;
    println!("listening on {}", handle.endpoint());

    let signal_name = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    eprintln!("reqchan serve: {signal_name}: shutting down");
    let report = handle.shutdown().await.map_err(ServeCliError::Server)?;
    let (core, driver) = (report.stats.core, report.stats.driver);
    eprintln!(
        "reqchan serve: stopped: {} received, {} answered by the handler, {} bad load, {} busy, replies flushed: {}",
        core.received,
        core.handler_replies,
        core.rejected_malformed,
        core.refused_queue_full + core.refused_shutting_down + core.refused_shutting_down_queued,
        report.flushed,
    );
    if args.transport == TransportArg::Wire {
        eprintln!(
            "reqchan serve: connections: {} accepted, {} refused (too many), {} dropped for violations, {} timed out, {} not reading",
            driver.connections_accepted,
            driver.connections_refused,
            driver.peer_violations,
            driver.peer_timeouts,
            driver.peers_not_reading,
        );
    }
    Ok(())
}
