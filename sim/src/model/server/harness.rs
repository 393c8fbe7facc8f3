//! The harness: the server under test beside its model.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::codec::{Crypt, Value, encode_request};
use reqchan_core::server::{Framing, Server, ServerConfig};

use super::model::*;
use super::ops::*;
use crate::model::support::{self as clock};

/// The server under test, its model, and the clock.
pub(super) struct Harness {
    pub(super) server: Server,
    pub(super) model: Model,
    pub(super) now: Instant,
    pub(super) start: Instant,
    pub(super) context: String,
}

impl Harness {
    /// Time since the harness started, for failure messages.
    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub(super) fn new(choice: ConfigChoice) -> Option<Self> {
        let framing = if choice.bare { Framing::Bare } else { Framing::Routed };
        let max_concurrent =
            if choice.max_concurrent == u8::MAX { 0 } else { 1 + usize::from(choice.max_concurrent % 4) };
        let max_message_size =
            if choice.max_message_size == u8::MAX { 0 } else { 24 + usize::from(choice.max_message_size) };
        let request_timeout = Duration::from_millis(1 + u64::from(choice.request_timeout_ms));
        let config = ServerConfig::default()
            .max_concurrent(max_concurrent)
            .max_queued(usize::from(choice.max_queued % 5))
            .max_message_size(max_message_size)
            .request_timeout(request_timeout);
        let invalid = max_concurrent == 0 || max_message_size == 0;
        let server = match Server::new(framing, config.clone()) {
            Ok(server) => server,
            Err(e) => {
                assert!(invalid, "a valid config was refused: {e}: {config:?}");
                return None;
            }
        };
        assert!(!invalid, "an invalid config was accepted: {config:?}");
        let model = Model {
            framing,
            // A REP socket is lockstep: one request at a time, whatever the config says.
            max_concurrent: if choice.bare { 1 } else { max_concurrent },
            max_queued: config.max_queued,
            max_message_size,
            request_timeout,
            reqs: BTreeMap::new(),
            waiting: VecDeque::new(),
            tokens: BTreeMap::new(),
            answered: Vec::new(),
            shutting_down: false,
            stats: Stats::default(),
        };
        let start = crate::client::origin();
        Some(Self { server, model, now: start, start, context: "Server::new".to_owned() })
    }

    pub(super) fn apply(&mut self, op: Op) {
        match op {
            Op::Message { payload, framing } => {
                let frames = self.frames(&payload, &framing);
                self.message(frames);
            }
            Op::Handler { target, late, outcome } => self.handler(target, late, outcome),
            Op::Advance(step) => {
                let year = Duration::from_secs(365 * 24 * 3600);
                self.now += step.duration().min(year);
            }
            Op::HandleTimeout => self.handle_timeout(),
            Op::Tick => {
                self.now = clock::tick(self.now, self.server.poll_timeout());
                self.handle_timeout();
            }
            Op::JustBefore => {
                if let Some(at) = clock::just_before(self.now, self.server.poll_timeout()) {
                    self.now = at;
                    self.handle_timeout();
                }
            }
            Op::Shutdown(grace) => self.shutdown(grace.duration()),
        }
    }

    pub(super) fn payload(&self, choice: &PayloadChoice) -> Bytes {
        match choice {
            PayloadChoice::Clear(load) => encode_request(Crypt::Clear, &load.value()).expect("a Value encodes"),
            PayloadChoice::Aes(load) => encode_request(Crypt::Aes, &load.value()).expect("a Value encodes"),
            PayloadChoice::Fixed(i) => Bytes::from_static(FIXED[usize::from(*i) % FIXED.len()]),
            PayloadChoice::Raw(bytes) => Bytes::copy_from_slice(&bytes[..bytes.len().min(300)]),
            PayloadChoice::Oversized(n) => {
                let load = Value::Binary(vec![0x5a; self.model.max_message_size + usize::from(n % 4)]);
                encode_request(Crypt::Clear, &load).expect("a Value encodes")
            }
        }
    }

    pub(super) fn frames(&self, payload: &PayloadChoice, shape: &FrameShape) -> Vec<Bytes> {
        let payload = self.payload(payload);
        let empty = Bytes::new();
        let byte = |b: u8| Bytes::copy_from_slice(&[b'p', b]);
        let bare = self.model.framing == Framing::Bare;
        match shape {
            FrameShape::Req { .. } | FrameShape::Dealer { .. } if bare => vec![payload],
            FrameShape::Req { identity } => vec![byte(*identity), empty, payload],
            FrameShape::Dealer { identity, request_id } => {
                vec![byte(*identity), Bytes::copy_from_slice(&request_id.to_be_bytes()), empty, payload]
            }
            FrameShape::NoFrames => Vec::new(),
            FrameShape::NoDelimiter if bare => vec![payload.clone(), payload],
            FrameShape::NoDelimiter => vec![byte(0), payload],
            FrameShape::NoPayload if bare => Vec::new(),
            FrameShape::NoPayload => vec![byte(0), empty],
            FrameShape::TwoPayloads if bare => vec![payload.clone(), payload],
            FrameShape::TwoPayloads => vec![byte(0), empty, payload.clone(), payload],
            FrameShape::Raw(frames) => {
                let mut frames: Vec<Bytes> =
                    frames.iter().take(4).map(|f| Bytes::copy_from_slice(&f[..f.len().min(16)])).collect();
                frames.push(payload);
                frames
            }
        }
    }
}
