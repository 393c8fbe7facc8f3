//! `reqchan send ENDPOINT [PAYLOAD_JSON]`: one request, its reply as one line of JSON.
//!
//! The payload (default `{}`) becomes msgpack and, unless `--raw`, the load of the clear
//! Salt envelope `{"enc": "clear", "load": PAYLOAD, "version": 3}`. The reply is printed
//! on stdout as one line of JSON, bytes as `{"$bytes": "<base64>"}`. Exit status: 0 on a
//! reply, 3 when the request timed out after all its tries (or never got a connection:
//! the message says why, such as "connection refused"), 5 when the server refused it
//! (`bad load`, `server busy`, a handler exception), 1 on any other error, with the
//! reason on stderr.
//!
//! With `--crypt aes --pki-dir DIR --id ID` it is a Salt minion: it authenticates with
//! `_auth` (making the minion's keys in DIR if there are none, trusting the master's key
//! on first contact or checking `--master-finger`), sends the payload sealed under the
//! session key and prints the decrypted reply. Exit 4 when the master has not accepted
//! the key (pending in its `minions_pre/`, or rejected).

use std::process::ExitCode;
use std::time::Duration;

use std::path::PathBuf;

use reqchan_core::codec;
use reqchan_tokio::{Channel, ChannelConfig, ChannelKey, Crypt, Error, RequestOptions, Value};

use crate::json;
use crate::options::{ModeArg, TransportArgs, seconds};

/// Exit status when the request timed out after all its tries.
pub(crate) const EXIT_TIMED_OUT: u8 = 3;

/// Exit status when the server answered with a refusal instead of a reply.
pub(crate) const EXIT_REJECTED: u8 = 5;

/// Exit status when the master has not accepted the minion's key (`--crypt aes`).
pub(crate) const EXIT_NOT_ACCEPTED: u8 = 4;

/// `--crypt` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CryptArg {
    /// The clear envelope: the load travels as plain msgpack.
    Clear,
    /// Salt's aes channel: `_auth` first, then the load sealed under the session key.
    Aes,
}

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
    /// Send the payload's msgpack as it is, without the Salt envelope (clear only).
    #[arg(long, conflicts_with = "pki_dir")]
    raw: bool,
    /// clear, or aes: authenticate as a Salt minion and seal the request (needs
    /// --pki-dir and --id).
    #[arg(long, value_enum, default_value_t = CryptArg::Clear, requires_ifs = [("aes", "pki_dir"), ("aes", "id")])]
    crypt: CryptArg,
    /// aes: the minion's key directory (minion.pem, minion.pub, minion_master.pub); keys
    /// are made there if absent, as salt-minion does.
    #[arg(long, value_name = "DIR")]
    pki_dir: Option<PathBuf>,
    /// aes: the minion id.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// aes: accept only a master key with this fingerprint (as `salt-key -F master`
    /// prints it) instead of trusting the first one on first contact.
    #[arg(long, value_name = "FINGERPRINT")]
    master_finger: Option<String>,
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
        Err(Failure::NotAccepted(e)) => {
            eprintln!("reqchan send: {}: {e}", args.endpoint);
            ExitCode::from(EXIT_NOT_ACCEPTED)
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
    NotAccepted(Error),
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
    let mut config = ChannelConfig::default()
        .mode(args.mode.into_mode(1))
        .connect_timeout(connect_timeout)
        .timeout(args.timeout)
        .tries(args.tries);
    if let Some(finger) = &args.master_finger {
        config = config.master_finger(finger.clone());
    }
    let config = args.transport.apply(config).map_err(Failure::Other)?;
    let channel = match (args.crypt, &args.pki_dir, &args.id) {
        (CryptArg::Aes, Some(pki_dir), Some(id)) => {
            let key = ChannelKey::new(pki_dir, id.as_str(), args.endpoint.as_str()).with_crypt(Crypt::Aes);
            Channel::connect_key(key, config)
        }
        _ => Channel::connect(&args.endpoint, config),
    }
    .map_err(|e| Failure::Other(e.to_string()))?;
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
        Error::Salt(salt) if salt.is_not_accepted() => Failure::NotAccepted(Error::Salt(salt)),
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
