//! The operations grammar: what `arbitrary` decodes a fuzz input into.
//!
//! Changing it reinterprets the committed corpus: see `fuzz/README.md`.

use std::time::Duration;

use arbitrary::Arbitrary;
use reqchan_core::codec::Value;

/// A server configuration and the operations to apply to it.
#[derive(Debug, Arbitrary)]
pub struct Scenario {
    pub(super) config: ConfigChoice,
    pub(super) ops: Vec<Op>,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) struct ConfigChoice {
    pub(super) bare: bool,
    /// 1 to 4, or 0 (invalid) for 255.
    pub(super) max_concurrent: u8,
    /// 0 to 4.
    pub(super) max_queued: u8,
    /// 24 to 279 bytes, or 0 (invalid) for 255.
    pub(super) max_message_size: u8,
    /// 1 to 256 ms.
    pub(super) request_timeout_ms: u8,
}

#[derive(Debug, Clone, Arbitrary)]
pub(super) enum Op {
    /// A message from the socket.
    Message {
        payload: PayloadChoice,
        framing: FrameShape,
    },
    /// A handler finishes: the n-th running request, or (`late`) an answered one.
    Handler {
        target: u8,
        late: bool,
        outcome: Outcome,
    },
    Advance(Step),
    HandleTimeout,
    /// What a driver's timer does: jump to `poll_timeout()` and `handle_timeout` there.
    Tick,
    /// `handle_timeout` one nanosecond before `poll_timeout()`: nothing is due.
    JustBefore,
    Shutdown(Step),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub(super) enum Step {
    Nanos(u16),
    Millis(u8),
    Secs(u8),
    Far,
}

impl Step {
    pub(super) fn duration(self) -> Duration {
        match self {
            Self::Nanos(n) => Duration::from_nanos(u64::from(n)),
            Self::Millis(ms) => Duration::from_millis(u64::from(ms)),
            Self::Secs(s) => Duration::from_secs(u64::from(s)),
            Self::Far => Duration::MAX,
        }
    }
}

/// A request load: small Salt-like values.
#[derive(Debug, Clone, Arbitrary)]
pub(super) enum LoadChoice {
    Ping,
    Auth { id: u8 },
    Return { jid: u32, ok: bool },
    Text(String),
    Number(i64),
    Nil,
}

impl LoadChoice {
    pub(super) fn value(&self) -> Value {
        match self {
            Self::Ping => Value::map([("cmd", "ping".into())]),
            Self::Auth { id } => Value::map([("cmd", "_auth".into()), ("id", format!("minion-{id}").into())]),
            Self::Return { jid, ok } => Value::map([
                ("cmd", "_return".into()),
                ("jid", format!("2026{jid:010}").into()),
                ("return", Value::Bool(*ok)),
            ]),
            Self::Text(s) => Value::from(s.chars().take(40).collect::<String>()),
            Self::Number(n) => Value::from(*n),
            Self::Nil => Value::Nil,
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
pub(super) enum PayloadChoice {
    Clear(LoadChoice),
    Aes(LoadChoice),
    /// A fixed, mostly invalid, payload.
    Fixed(u8),
    Raw(Vec<u8>),
    /// `max_message_size` bytes or more.
    Oversized(u8),
}

/// Payloads a master meets that are not valid requests (and one that is).
pub(super) const FIXED: [&[u8]; 8] = [
    b"\x82\xa3enc\xa5clear\xa4load\x80",                // no version: Salt says bad load
    b"\x83\xa3enc\xa5clear\xa4load\x80\xa7version\x02", // version 2
    b"\x83\xa3enc\xa3rsa\xa4load\x80\xa7version\x03",   // unsupported enc
    b"\x93\x01\x02\x03",                                // not a map
    b"\xc1",                                            // reserved marker
    b"\x83\xa3enc\xa5clear\xa4load\x80\xa7version\x03\xc0", // trailing bytes
    b"",                                                // empty
    b"\x83\xa7version\x04\xa4load\xc0\xa3enc\xa3aes",   // valid: any key order
];

/// How the message's frames are laid out around the payload.
#[derive(Debug, Clone, Arbitrary)]
pub(super) enum FrameShape {
    /// REQ peer: `[identity, empty, payload]` (Bare: `[payload]`).
    Req {
        identity: u8,
    },
    /// DEALER peer: `[identity, request-id, empty, payload]` (Bare: `[payload]`).
    Dealer {
        identity: u8,
        request_id: u64,
    },
    NoFrames,
    NoDelimiter,
    NoPayload,
    TwoPayloads,
    /// Arbitrary frames before the payload (at most 4 of at most 16 bytes).
    Raw(Vec<Vec<u8>>),
}

#[derive(Debug, Clone, Arbitrary)]
pub(super) enum Outcome {
    Reply(LoadChoice),
    /// A reply of `max_message_size` plus 0 to 3 bytes.
    Large(u8),
    Error,
    Panic,
}
