//! The `reqchan` command line.

mod bench;
mod json;
mod options;
mod send;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// SaltStack's request channel over ZeroMQ.
#[derive(Debug, Parser)]
#[command(name = "reqchan", version, about)]
struct Cli {
    /// Log what the channel does on stderr: -v connects, resets, retries and timeouts;
    /// -vv everything. RUST_LOG, when set, takes precedence.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Installs a stderr log for `-v`/`-vv` or `RUST_LOG`; nothing otherwise.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match (std::env::var("RUST_LOG"), verbose) {
        (Ok(spec), _) if !spec.is_empty() => EnvFilter::new(spec),
        (_, 0) => return,
        (_, 1) => EnvFilter::new("reqchan=info,reqchan_driver=info"),
        _ => EnvFilter::new("debug"),
    };
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an echo server: replies to each request with its load until SIGINT/SIGTERM.
    #[command(after_help = SERVE_EXIT_CODES)]
    Serve(serve::ServeArgs),
    /// Send one request and print the reply as one line of JSON (exit 0 on a reply, 3
    /// when it timed out after all tries or found no server, 5 when the server refused
    /// it, 1 on any other error).
    #[command(after_help = SEND_EXIT_CODES)]
    Send(send::SendArgs),
    /// Benchmark one channel shared by concurrent callers (an embedded echo server
    /// unless --endpoint is given).
    #[command(after_help = BENCH_EXIT_CODES)]
    Bench(bench::BenchArgs),
}

/// Exit status of a usage error (a bad flag or value), for every subcommand.
const EXIT_USAGE: u8 = 2;

/// The exit statuses of `reqchan send`, listed in its `--help`.
const SEND_EXIT_CODES: &str = "Exit status:
  0  a reply (printed on stdout)
  1  any other error (the reason on stderr)
  2  a usage error
  3  timed out after all tries, or no connection could be made (the cause on stderr)
  4  --crypt aes: the master has not accepted this minion's key (pending, or rejected)
  5  the server refused it: bad load, server busy, or its handler failed";

/// The exit statuses of `reqchan serve`, listed in its `--help`.
const SERVE_EXIT_CODES: &str = "Exit status:
  0  stopped by SIGINT/SIGTERM after a graceful shutdown
  1  the server failed while running
  2  a usage error
  6  the endpoint could not be bound (in use, no permission, bad address)";

/// The exit statuses of `reqchan bench`, listed in its `--help`.
const BENCH_EXIT_CODES: &str = "Exit status:
  0  every request answered
  1  some requests failed (timed out, refused, ...), or the benchmark could not run
  2  a usage error";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors exit 2; --help and --version exit 0.
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(EXIT_USAGE) } else { ExitCode::SUCCESS };
        }
    };
    let conflict = match &cli.command {
        Command::Send(args) => args.transport.conflict(),
        Command::Bench(args) => args.transport.conflict(),
        Command::Serve(_) => None,
    };
    if let Some(message) = conflict {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_USAGE);
    }
    init_logging(cli.verbose);
    match cli.command {
        Command::Serve(args) => match serve::run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("reqchan serve: {e}");
                e.exit_code()
            }
        },
        Command::Send(args) => send::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
