//! Option types shared by `send` and `bench`.

use std::time::Duration;

use reqchan_core::client::MAX_DURATION;
use reqchan_tokio::{ChannelConfig, Mode, Transport};

/// `--mode` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ModeArg {
    /// One request at a time with REQ semantics, as Salt does (a DEALER socket carrying
    /// the REQ envelope, correlated by request id).
    Lockstep,
    /// Many requests at once on a DEALER socket, matched to replies by id.
    Pipelined,
}

impl ModeArg {
    /// The core's mode, with `max_in_flight` requests in flight when pipelined.
    pub(crate) fn into_mode(self, max_in_flight: usize) -> Mode {
        match self {
            ModeArg::Lockstep => Mode::Lockstep,
            ModeArg::Pipelined => Mode::Pipelined { max_in_flight: max_in_flight.max(1) },
        }
    }
}

/// Parses a positive number of seconds (fractions allowed) of at most a year.
pub(crate) fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() && d <= MAX_DURATION => Ok(d),
        _ => Err(format!("{text:?}: seconds must be greater than 0 and at most a year")),
    }
}

/// How a client connects: `--transport` and `--heartbeat`, shared by `send` and `bench`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TransportArgs {
    /// zmq (the zeromq crate) or wire (our own ZMTP over the runtime's stream: hostile
    /// frame lengths end the connection, never the process; libzmq heartbeats answered).
    #[arg(long, value_enum, default_value_t = TransportArg::Zmq)]
    transport: TransportArg,
    /// Seconds between ZMTP heartbeats (needs --transport wire); the peer is lost when
    /// nothing arrives within that long after one. Off when absent.
    #[arg(long, value_parser = seconds)]
    heartbeat: Option<Duration>,
}

/// `--transport` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TransportArg {
    /// The zeromq crate (zmq.rs).
    Zmq,
    /// Our own wire.
    Wire,
}

impl TransportArgs {
    /// `config` with the transport and heartbeat asked for; an error for a heartbeat
    /// over zmq.rs, which cannot send them.
    pub(crate) fn apply(&self, config: ChannelConfig) -> Result<ChannelConfig, String> {
        let config = match self.transport {
            TransportArg::Zmq if self.heartbeat.is_some() => {
                return Err("--heartbeat needs --transport wire (zmq.rs has no heartbeats)".to_owned());
            }
            TransportArg::Zmq => config,
            TransportArg::Wire => config.transport(Transport::Wire),
        };
        Ok(match self.heartbeat {
            Some(interval) => config.heartbeat(interval),
            None => config,
        })
    }
}
