//! The `reqchan` command line.

mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// SaltStack's request channel over ZeroMQ.
#[derive(Debug, Parser)]
#[command(name = "reqchan", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an echo server: replies to each request with its load until SIGINT/SIGTERM.
    Serve(serve::ServeArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => match serve::run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("reqchan serve: {e}");
                e.exit_code()
            }
        },
    }
}
