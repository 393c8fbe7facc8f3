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

use reqchan_tokio::server::{self, ServerConfig, ServerError, ServerOptions, SocketKind};

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
}

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
    /// Binding or running the server failed.
    Server(ServerError),
    /// The signal handlers could not be installed.
    Signals(std::io::Error),
}

impl fmt::Display for ServeCliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
    let options = ServerOptions::new(ServerConfig::default().max_concurrent(args.max_concurrent as usize))
        .shutdown_grace(Duration::from_secs(args.grace_secs))
        .event_sink(Arc::new(|event| eprintln!("reqchan serve: {event}")));
    let handle = server::bind(&args.endpoint, kind, options, reqchan_cli::echo).await.map_err(ServeCliError::Server)?;
    println!("listening on {}", handle.endpoint());

    let signal_name = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    eprintln!("reqchan serve: {signal_name}: shutting down");
    let report = handle.shutdown().await.map_err(ServeCliError::Server)?;
    let core = report.stats.core;
    eprintln!(
        "reqchan serve: stopped: {} received, {} answered by the handler, {} bad load, {} busy, replies flushed: {}",
        core.received,
        core.handler_replies,
        core.rejected_malformed,
        core.refused_queue_full + core.refused_shutting_down + core.refused_shutting_down_queued,
        report.flushed,
    );
    Ok(())
}
