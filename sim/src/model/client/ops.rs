//! The operations grammar: what `arbitrary` decodes a fuzz input into.
//!
//! Changing it reinterprets the committed corpus: see `fuzz/README.md`.

use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use reqchan_core::client::{Backoff, ExponentialBackoff, MAX_DURATION};

/// Request payloads: identical ones on purpose (two byte-identical requests are two
/// requests), an empty one, and sizes around the small message limits the configs use.
const PAYLOADS: [&[u8]; 6] = [
    b"ping",
    b"ping",
    b"",
    b"\x83\xa3enc\xa5clear\xa4load\x80\xa7version\x03",
    b"a payload of thirty-three bytes!!",
    b"\x00",
];

/// A client configuration and the operations to apply to it.
#[derive(Debug, Arbitrary)]
pub struct Scenario {
    pub(super) config: ConfigChoice,
    pub(super) ops: Vec<Op>,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) struct ConfigChoice {
    pub(super) pipelined: bool,
    /// Pipelined only: 1 to 4, or 0 (an invalid config) for 255.
    pub(super) max_in_flight: u8,
    /// 1 to 6, or 0 (invalid) for 255.
    pub(super) max_queued: u8,
    /// 1 to 40 bytes, or 0 (invalid) for 255.
    pub(super) max_message_size: u8,
    pub(super) timeout: TimeoutChoice,
    /// 1 to 4.
    pub(super) tries: u8,
    pub(super) backoff: BackoffChoice,
    pub(super) reconnect: ReconnectChoice,
    pub(super) seed: u64,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) enum TimeoutChoice {
    Millis(u8),
    Secs(u8),
    Salt,
    Max,
}

impl TimeoutChoice {
    pub(super) fn duration(self) -> Duration {
        match self {
            Self::Millis(ms) => Duration::from_millis(1 + u64::from(ms)),
            Self::Secs(s) => Duration::from_secs(1 + u64::from(s)),
            Self::Salt => Duration::from_secs(60),
            Self::Max => MAX_DURATION,
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) enum JitterChoice {
    None,
    Quarter,
    Half,
    Full,
}

impl JitterChoice {
    pub(super) fn value(self) -> f64 {
        match self {
            Self::None => 0.0,
            Self::Quarter => 0.25,
            Self::Half => 0.5,
            Self::Full => 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) enum BackoffChoice {
    Immediate,
    Exponential { initial_ms: u8, spread: u8, factor: u8, jitter: JitterChoice },
}

impl BackoffChoice {
    /// The policy, and the longest pause it can produce (`None`: no pause).
    pub(super) fn build(self) -> (Backoff, Option<Duration>) {
        match self {
            Self::Immediate => (Backoff::Immediate, None),
            Self::Exponential { initial_ms, spread, factor, jitter } => {
                let initial = Duration::from_millis(1 + u64::from(initial_ms % 100));
                let max = initial * (1 + u32::from(spread % 8));
                let policy = ExponentialBackoff::new(initial, max)
                    .and_then(|b| b.with_factor(1 + u32::from(factor % 3)))
                    .and_then(|b| b.with_jitter(jitter.value()))
                    .expect("a valid backoff policy was refused");
                (Backoff::Exponential(policy), Some(max))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) struct ReconnectChoice {
    pub(super) initial_ms: u8,
    pub(super) spread: u8,
    pub(super) jitter: JitterChoice,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) enum RequestTimeout {
    Valid(TimeoutChoice),
    Zero,
    OverMax,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) struct OptionsChoice {
    pub(super) timeout: Option<RequestTimeout>,
    /// 0 (invalid) to 4.
    pub(super) tries: Option<u8>,
    pub(super) backoff: Option<BackoffChoice>,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) enum PayloadChoice {
    Fixed(u8),
    Filled { byte: u8, len: u8 },
}

impl PayloadChoice {
    pub(super) fn bytes(self) -> Bytes {
        match self {
            Self::Fixed(i) => Bytes::from_static(PAYLOADS[usize::from(i) % PAYLOADS.len()]),
            Self::Filled { byte, len } => Bytes::from(vec![byte; usize::from(len % 48)]),
        }
    }
}

/// Which request an operation is about.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) enum Target {
    /// The n-th most recently accepted request (finished or not).
    Accepted(u8),
    /// The request of the n-th most recent transmission.
    Transmitted(u8),
    /// An id the client never handed out.
    Unknown(u8),
}

#[derive(Debug, Clone, Arbitrary)]
pub(super) enum ReplyShape {
    /// The request's own payload.
    Echo,
    Payload(PayloadChoice),
    /// A payload 1 to 4 bytes over `max_message_size`.
    Oversized(u8),
    /// A payload of exactly `max_message_size` bytes.
    AtLimit,
    NoFrames,
    ExtraFrame,
    MissingDelimiter,
    NonEmptyDelimiter,
    /// Pipelined: an id frame of the wrong length.
    BadIdFrame(u8),
    /// Arbitrary frames (at most 4 of at most 64 bytes are used).
    Raw(Vec<Vec<u8>>),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) enum Step {
    Nanos(u16),
    Millis(u16),
    Secs(u16),
    Far,
}

impl Step {
    pub(super) fn duration(self) -> Duration {
        match self {
            Self::Nanos(n) => Duration::from_nanos(u64::from(n)),
            Self::Millis(ms) => Duration::from_millis(u64::from(ms)),
            Self::Secs(s) => Duration::from_secs(u64::from(s)),
            Self::Far => MAX_DURATION,
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
pub(super) enum Op {
    Submit {
        payload: PayloadChoice,
        options: OptionsChoice,
    },
    Cancel(Target),
    Close,
    Connected,
    ConnectFailed,
    PeerLost,
    /// The socket refused to send a request (usually one just transmitted).
    SendFailed(Target),
    /// From now on, the socket refuses every send (or stops refusing): the driver
    /// reports each refusal, then the connection lost.
    Refusing(bool),
    /// The same reply delivered 1 to 3 times.
    Reply {
        target: Target,
        shape: ReplyShape,
        copies: u8,
    },
    /// Time passes; the client is not told.
    Advance(Step),
    /// `handle_timeout` at the current time, due or not.
    HandleTimeout,
    /// What a driver's timer does: jump to `poll_timeout()` and `handle_timeout` there.
    Tick,
    /// `handle_timeout` one nanosecond before `poll_timeout()`: nothing is due.
    JustBefore,
}
