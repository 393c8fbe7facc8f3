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

/// Parses a positive duration of at most a year: plain seconds (`5`, `0.25`) or a
/// number with a unit (`250ms`, `1.5s`, `2m`, `1h`; also `us`, `ns`).
pub(crate) fn seconds(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use s, ms, us, ns, m or h)")),
    };
    let value: f64 =
        number.trim().parse().map_err(|_| format!("{text:?} is not a duration (e.g. 5, 0.25, 250ms, 1m)"))?;
    match Duration::try_from_secs_f64(value * scale) {
        Ok(d) if !d.is_zero() && d <= MAX_DURATION => Ok(d),
        _ => Err(format!("{text:?}: a duration must be greater than 0 and at most a year")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_or_a_unit() {
        assert_eq!(seconds("5"), Ok(Duration::from_secs(5)));
        assert_eq!(seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(seconds("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(seconds("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["0", "-1", "abc", "5 parsecs", "1e12", "ms", ""] {
            assert!(seconds(bad).is_err(), "{bad:?}");
        }
    }
}

/// How a client connects: `--transport` and `--heartbeat`, shared by `send` and `bench`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TransportArgs {
    /// wire (our own ZMTP over the runtime's stream: hostile frame lengths end the
    /// connection, never the process; libzmq heartbeats answered) or zmq (the zeromq
    /// crate, zmq.rs).
    #[arg(long, value_enum, default_value_t = TransportArg::Wire)]
    pub(crate) transport: TransportArg,
    /// Seconds between ZMTP heartbeats (needs --transport wire); the peer is lost when
    /// nothing arrives within that long after one. Off when absent.
    #[arg(long, value_parser = seconds)]
    heartbeat: Option<Duration>,
    /// The largest request and reply, in bytes (default 64 MiB).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=(1 << 32)))]
    max_message_size: Option<u64>,
}

/// `--transport` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TransportArg {
    /// Our own wire.
    Wire,
    /// The zeromq crate (zmq.rs).
    Zmq,
}

impl TransportArg {
    /// The transport it names.
    pub(crate) fn transport(self) -> Transport {
        match self {
            Self::Wire => Transport::Wire,
            Self::Zmq => Transport::ZeroMq,
        }
    }
}

impl TransportArgs {
    /// Options that cannot go together (checked before anything runs: a usage error).
    pub(crate) fn conflict(&self) -> Option<&'static str> {
        (self.transport == TransportArg::Zmq && self.heartbeat.is_some())
            .then_some("--heartbeat needs --transport wire (zmq.rs has no heartbeats)")
    }

    /// `config` with the transport and heartbeat asked for; an error for a heartbeat
    /// over zmq.rs, which cannot send them.
    pub(crate) fn apply(&self, config: ChannelConfig) -> Result<ChannelConfig, String> {
        let config = match self.transport {
            TransportArg::Zmq if self.heartbeat.is_some() => {
                return Err("--heartbeat needs --transport wire (zmq.rs has no heartbeats)".to_owned());
            }
            other => config.transport(other.transport()),
        };
        let config = match self.max_message_size {
            Some(bytes) => config.max_message_size(bytes as usize),
            None => config,
        };
        Ok(match self.heartbeat {
            Some(interval) => config.heartbeat(interval),
            None => config,
        })
    }
}
