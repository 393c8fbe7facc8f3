//! `reqchan send ENDPOINT [PAYLOAD_JSON]`: one request, its reply as one line of JSON.
//!
//! The payload (default `{}`) becomes msgpack and, unless `--raw`, the load of the clear
//! Salt envelope `{"enc": "clear", "load": PAYLOAD, "version": 3}`. The reply is printed
//! on stdout as one line of JSON, bytes as `{"$bytes": "<base64>"}`. Exit status: 0 on a
//! reply, 3 when the request timed out after all its tries (or never got a connection:
//! the message says why, such as "connection refused"), 5 when the server refused it
//! (`bad load`, `server busy`, a handler exception), 1 on any other error, with the
//! reason on stderr.

use std::process::ExitCode;
use std::time::Duration;

use reqchan_core::codec;
use reqchan_tokio::{Channel, ChannelConfig, Error, RequestOptions, Value};

use crate::json;
use crate::options::{ModeArg, TransportArgs, seconds};

/// Exit status when the request timed out after all its tries.
pub(crate) const EXIT_TIMED_OUT: u8 = 3;

/// Exit status when the server answered with a refusal instead of a reply.
pub(crate) const EXIT_REJECTED: u8 = 5;

/// Arguments of `reqchan send`.
#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    /// Server endpoint: tcp://HOST:PORT or ipc://PATH.
    endpoint: String,
    /// The request's load as JSON; `{"$bytes": "<base64>"}` stands for bytes; `-` reads
    /// it from standard input (for loads too large for a command line).
    #[arg(default_value = "{}")]
    payload: String,
    /// Seconds to wait for the reply to each attempt.
    #[arg(long, default_value = "10", value_parser = seconds)]
    timeout: Duration,
    /// Attempts in total before giving up.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    tries: u32,
    /// lockstep (one request at a time with REQ semantics, as Salt) or pipelined.
    #[arg(long, value_enum, default_value_t = ModeArg::Lockstep)]
    mode: ModeArg,
    /// Send the payload's msgpack as it is, without the Salt envelope.
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    pub(crate) transport: TransportArgs,
}

/// Runs `reqchan send`; prints the reply or the error, and returns the exit status.
pub(crate) async fn run(args: SendArgs) -> ExitCode {
    match send(&args).await {
        Ok(reply) => {
            println!("{}", json::to_json(&reply));
            ExitCode::SUCCESS
        }
        Err(Failure::TimedOut(e)) => {
            eprintln!("reqchan send: {}: {e}", args.endpoint);
            ExitCode::from(EXIT_TIMED_OUT)
        }
        Err(Failure::Rejected(e)) => {
            eprintln!("reqchan send: {}: {e}", args.endpoint);
            ExitCode::from(EXIT_REJECTED)
        }
        Err(Failure::Other(message)) => {
            eprintln!("reqchan send: {message}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    TimedOut(Error),
    Rejected(Error),
    Other(String),
}

async fn send(args: &SendArgs) -> Result<Value, Failure> {
    let text = match args.payload.as_str() {
        "-" => read_stdin().map_err(Failure::Other)?,
        text => text.to_owned(),
    };
    let payload: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Failure::Other(format!("PAYLOAD_JSON is not valid JSON: {e}")))?;
    let load = json::to_msgpack(&payload).map_err(|e| Failure::Other(format!("PAYLOAD_JSON: {e}")))?;
    // A connect attempt that fails within the request's timeout can say why (refused,
    // no such path) instead of leaving a bare timeout: give it half of it, at most 5 s.
    let connect_timeout = (args.timeout / 2).min(Duration::from_secs(5));
    let config = ChannelConfig::default().mode(args.mode.into_mode(1)).connect_timeout(connect_timeout);
    let config = args.transport.apply(config).map_err(Failure::Other)?;
    let channel = Channel::connect(&args.endpoint, config).map_err(|e| Failure::Other(e.to_string()))?;
    let options = RequestOptions::default().timeout(args.timeout).tries(args.tries).detect_refusals(true);
    let result = if args.raw {
        match codec::encode_reply(&load) {
            Ok(bytes) => channel
                .request_raw_with(bytes, options)
                .await
                .and_then(|reply| codec::decode_reply::<Value>(&reply).map_err(Error::Decode)),
            Err(e) => Err(Error::Encode(e)),
        }
    } else {
        channel.request_with::<_, Value>(&load, options).await
    };
    channel.close();
    result.map_err(|e| match e {
        e if e.is_timeout() => Failure::TimedOut(e),
        e if e.is_rejected() => Failure::Rejected(e),
        e => Failure::Other(format!("{}: {e}", args.endpoint)),
    })
}

/// The payload from standard input, refused beyond what a message may carry.
fn read_stdin() -> Result<String, String> {
    use std::io::Read;
    // JSON text of a 64 MiB message is at most a few times larger (base64 for bytes).
    const LIMIT: u64 = 256 << 20;
    let mut text = String::new();
    std::io::stdin()
        .take(LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the payload from standard input: {e}"))?;
    if text.len() as u64 > LIMIT {
        return Err(format!("the payload on standard input is larger than {LIMIT} bytes"));
    }
    Ok(text)
}
