//! `server_ops`: a [`Server`] fed arbitrary messages (well-formed Salt requests, bad
//! envelopes, broken framing, oversized) and handler outcomes in any order, beside a
//! reference model.
//!
//! The harness drains `poll_transmit`, `poll_request` and `poll_event` after every
//! input, like a driver. The model predicts each input's transmits (token, kind,
//! frames, in order), started requests and events exactly, and after every input it
//! checks:
//!
//! - every routable message gets exactly one reply: at once (an error reply behind its
//!   own envelope) or, once accepted, exactly one reply for its token and never a second;
//! - bad input (framing, size, envelope) gets `bad load`; a full server or a shutdown
//!   gets `server busy`; a failed, panicked, oversized or timed-out handler gets Salt's
//!   handler-exception reply; a handler's reply is sent as it is;
//! - at most `max_concurrent` handlers run, queued requests start in FIFO order as soon
//!   as a slot frees, and a request handed to the handler carries the envelope's crypt,
//!   version and exact load bytes;
//! - a handler result for an answered request is refused and changes nothing else;
//! - counters match the model and add up; `pending()`, `running()`,
//!   `is_shutting_down()`, `is_drained()` match; `poll_timeout()` is the earliest
//!   deadline, later than `now` after `handle_timeout(now)`, and a `handle_timeout`
//!   with nothing due changes nothing.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use reqchan_core::codec::{
    BAD_LOAD_REPLY, Crypt, HANDLER_EXCEPTION_REPLY, SERVER_BUSY_REPLY, Value, decode_reply, encode_reply,
    encode_request, split_request,
};
use reqchan_core::server::{
    Framing, HandlerFailure, IncomingRequest, RejectReason, ReplyKind, RequestToken, Server, ServerConfig, ServerEvent,
    ServerStats, UnknownRequest,
};

use crate::clock;

/// Operations beyond this many are ignored, to keep one input fast.
const MAX_OPS: usize = 300;

/// Runs one fuzz input: decodes a [`Scenario`] and plays it; panics on a violation.
pub fn run(data: &[u8]) {
    play(data);
}

/// Runs one fuzz input; returns the server's counters at the end (`None` if the input
/// does not decode or its config is refused), to see what the corpus exercises.
pub fn play(data: &[u8]) -> Option<ServerStats> {
    Scenario::arbitrary_take_rest(Unstructured::new(data)).ok()?.play()
}

/// A server configuration and the operations to apply to it.
#[derive(Debug, Arbitrary)]
pub struct Scenario {
    config: ConfigChoice,
    ops: Vec<Op>,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
struct ConfigChoice {
    bare: bool,
    /// 1 to 4, or 0 (invalid) for 255.
    max_concurrent: u8,
    /// 0 to 4.
    max_queued: u8,
    /// 24 to 279 bytes, or 0 (invalid) for 255.
    max_message_size: u8,
    /// 1 to 256 ms.
    request_timeout_ms: u8,
}

#[derive(Debug, Clone, Arbitrary)]
enum Op {
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
enum Step {
    Nanos(u16),
    Millis(u8),
    Secs(u8),
    Far,
}

impl Step {
    fn duration(self) -> Duration {
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
enum LoadChoice {
    Ping,
    Auth { id: u8 },
    Return { jid: u32, ok: bool },
    Text(String),
    Number(i64),
    Nil,
}

impl LoadChoice {
    fn value(&self) -> Value {
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
enum PayloadChoice {
    Clear(LoadChoice),
    Aes(LoadChoice),
    /// A fixed, mostly invalid, payload.
    Fixed(u8),
    Raw(Vec<u8>),
    /// `max_message_size` bytes or more.
    Oversized(u8),
}

/// Payloads a master meets that are not valid requests (and one that is).
const FIXED: [&[u8]; 8] = [
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
enum FrameShape {
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
enum Outcome {
    Reply(LoadChoice),
    /// A reply of `max_message_size` plus 0 to 3 bytes.
    Large(u8),
    Error,
    Panic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Queued,
    Running,
    Answered,
}

#[derive(Debug)]
struct Req {
    envelope: Vec<Bytes>,
    payload: Bytes,
    deadline: Instant,
    phase: Phase,
}

/// The model's own counters, compared field by field with [`ServerStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Stats {
    received: u64,
    unroutable: u64,
    rejected_malformed: u64,
    rejected_too_large: u64,
    refused_queue_full: u64,
    refused_shutting_down: u64,
    accepted: u64,
    queued: u64,
    started: u64,
    handler_replies: u64,
    handler_errors: u64,
    handler_panics: u64,
    replies_too_large: u64,
    timed_out_running: u64,
    timed_out_queued: u64,
    refused_shutting_down_queued: u64,
    late_handler_results: u64,
    replies_sent: u64,
    events_dropped: u64,
}

impl Stats {
    fn of(s: &ServerStats) -> Self {
        Self {
            received: s.received,
            unroutable: s.unroutable,
            rejected_malformed: s.rejected_malformed,
            rejected_too_large: s.rejected_too_large,
            refused_queue_full: s.refused_queue_full,
            refused_shutting_down: s.refused_shutting_down,
            accepted: s.accepted,
            queued: s.queued,
            started: s.started,
            handler_replies: s.handler_replies,
            handler_errors: s.handler_errors,
            handler_panics: s.handler_panics,
            replies_too_large: s.replies_too_large,
            timed_out_running: s.timed_out_running,
            timed_out_queued: s.timed_out_queued,
            refused_shutting_down_queued: s.refused_shutting_down_queued,
            late_handler_results: s.late_handler_results,
            replies_sent: s.replies_sent,
            events_dropped: s.events_dropped,
        }
    }
}

/// One predicted reply.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    token: Option<u64>,
    kind: ReplyKind,
    frames: Vec<Bytes>,
    /// Sent in a running handler's stead: the driver must abort that handler.
    aborts: bool,
}

/// What the model predicts for one input.
#[derive(Debug, Default)]
struct Expect {
    transmits: VecDeque<Reply>,
    started: VecDeque<u64>,
    events: VecDeque<Event>,
}

/// A predicted event.
#[derive(Debug)]
enum Event {
    Exact(ServerEvent),
    /// By token number: a request that timed out in the queue was never handed out, so
    /// the model has no `RequestToken` for it.
    TimedOut {
        token: u64,
        started: bool,
    },
}

impl Event {
    fn matches(&self, event: &ServerEvent) -> bool {
        match (self, event) {
            (Self::Exact(want), got) => want == got,
            (Self::TimedOut { token, started }, ServerEvent::TimedOut { token: t, started: s }) => {
                t.as_u64() == *token && s == started
            }
            _ => false,
        }
    }
}

struct Model {
    framing: Framing,
    max_concurrent: usize,
    max_queued: usize,
    max_message_size: usize,
    request_timeout: Duration,
    reqs: BTreeMap<u64, Req>,
    /// Queued tokens, first in first out.
    waiting: VecDeque<u64>,
    /// Running tokens, as the handler received them.
    tokens: BTreeMap<u64, RequestToken>,
    /// Tokens answered, for late handler results.
    answered: Vec<RequestToken>,
    shutting_down: bool,
    stats: Stats,
}

impl Model {
    fn count(&self, phase: Phase) -> usize {
        self.reqs.values().filter(|r| r.phase == phase).count()
    }

    /// Answers accepted request `n` with `kind` (and `body`, for a handler reply).
    fn answer(&mut self, expect: &mut Expect, n: u64, kind: ReplyKind, body: Option<Bytes>) {
        let req = self.reqs.get_mut(&n).expect("model: answering an unknown request");
        req.phase = Phase::Answered;
        let body = body.unwrap_or_else(|| Bytes::from_static(error_body(kind)));
        let mut frames = req.envelope.clone();
        frames.push(body);
        if let Some(token) = self.tokens.remove(&n) {
            self.answered.push(token);
        }
        self.stats.replies_sent += 1;
        expect.transmits.push_back(Reply { token: Some(n), kind, frames, aborts: false });
    }

    fn reject(&mut self, expect: &mut Expect, envelope: Vec<Bytes>, reason: RejectReason) {
        let kind = match reason {
            RejectReason::QueueFull => {
                self.stats.refused_queue_full += 1;
                ReplyKind::Busy
            }
            RejectReason::ShuttingDown => {
                self.stats.refused_shutting_down += 1;
                ReplyKind::Busy
            }
            RejectReason::TooLarge { .. } => {
                self.stats.rejected_malformed += 1;
                self.stats.rejected_too_large += 1;
                ReplyKind::BadLoad
            }
            _ => {
                self.stats.rejected_malformed += 1;
                ReplyKind::BadLoad
            }
        };
        let mut frames = envelope;
        frames.push(Bytes::from_static(error_body(kind)));
        self.stats.replies_sent += 1;
        expect.events.push_back(Event::Exact(ServerEvent::Rejected { reason }));
        expect.transmits.push_back(Reply { token: None, kind, frames, aborts: false });
    }

    /// Starts queued requests while slots are free.
    fn start_waiting(&mut self, expect: &mut Expect) {
        while self.count(Phase::Running) < self.max_concurrent {
            let Some(n) = self.waiting.pop_front() else { break };
            self.reqs.get_mut(&n).expect("queued requests are known").phase = Phase::Running;
            self.stats.started += 1;
            expect.started.push_back(n);
        }
    }
}

fn error_body(kind: ReplyKind) -> &'static [u8] {
    match kind {
        ReplyKind::BadLoad => BAD_LOAD_REPLY,
        ReplyKind::Busy => SERVER_BUSY_REPLY,
        _ => HANDLER_EXCEPTION_REPLY,
    }
}

/// The server under test, its model, and the clock.
struct Harness {
    server: Server,
    model: Model,
    now: Instant,
    start: Instant,
    context: String,
}

/// Fails the fuzz input with the operation that broke an invariant.
macro_rules! ensure {
    ($h:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            panic!("{}\n  at {} (now = +{:?})", format_args!($($msg)+), $h.context, $h.now - $h.start);
        }
    };
}

impl Scenario {
    /// Plays the scenario, checking every invariant after every input; returns the
    /// server's counters (`None` if the config was refused, as it should be).
    pub fn play(self) -> Option<ServerStats> {
        let mut harness = Harness::new(self.config)?;
        for (i, op) in self.ops.into_iter().take(MAX_OPS).enumerate() {
            harness.context = format!("op {i}: {op:?}");
            harness.apply(op);
        }
        let stats = *harness.server.stats();
        // Shut down with no grace: every accepted request is answered, exactly once.
        harness.context = "final shutdown".to_owned();
        harness.shutdown(Duration::ZERO);
        harness.handle_timeout();
        let unanswered: Vec<u64> =
            harness.model.reqs.iter().filter(|(_, r)| r.phase != Phase::Answered).map(|(n, _)| *n).collect();
        assert!(unanswered.is_empty(), "never answered: {unanswered:?}");
        assert!(harness.server.is_drained(), "not drained after shutdown");
        Some(stats)
    }
}

impl Harness {
    fn new(choice: ConfigChoice) -> Option<Self> {
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
        let start = Instant::now();
        Some(Self { server, model, now: start, start, context: "Server::new".to_owned() })
    }

    fn apply(&mut self, op: Op) {
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

    fn payload(&self, choice: &PayloadChoice) -> Bytes {
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

    fn frames(&self, payload: &PayloadChoice, shape: &FrameShape) -> Vec<Bytes> {
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

    // ----- inputs: predict, call, drain, check -----

    fn message(&mut self, frames: Vec<Bytes>) {
        let mut expect = Expect::default();
        self.predict_message(&mut expect, frames.clone());
        self.server.handle_message(self.now, frames);
        self.settle(expect, false);
    }

    /// What `handle_message` must do with `frames`.
    fn predict_message(&mut self, expect: &mut Expect, mut frames: Vec<Bytes>) {
        let m = &mut self.model;
        m.stats.received += 1;
        let size: usize = frames.iter().map(Bytes::len).sum();
        let (envelope, body) = match m.framing {
            Framing::Bare => (Vec::new(), frames),
            _ => {
                if frames.is_empty() {
                    m.stats.unroutable += 1;
                    expect.events.push_back(Event::Exact(ServerEvent::Unroutable));
                    return;
                }
                // The identity frame may itself be empty; the delimiter comes after it.
                let Some(at) = frames.iter().skip(1).position(Bytes::is_empty) else {
                    frames.truncate(1);
                    return m.reject(expect, frames, RejectReason::MissingDelimiter);
                };
                let body = frames.split_off(at + 2);
                (frames, body)
            }
        };
        if size > m.max_message_size {
            return m.reject(expect, envelope, RejectReason::TooLarge { size, limit: m.max_message_size });
        }
        let payload = match <[Bytes; 1]>::try_from(body) {
            Ok([payload]) => payload,
            Err(body) => return m.reject(expect, envelope, RejectReason::PayloadFrames { count: body.len() }),
        };
        if m.shutting_down {
            return m.reject(expect, envelope, RejectReason::ShuttingDown);
        }
        if let Err(e) = split_request(&payload) {
            return m.reject(expect, envelope, RejectReason::Envelope(e));
        }
        let running = m.count(Phase::Running);
        let queued = m.waiting.len();
        if running >= m.max_concurrent && queued >= m.max_queued {
            return m.reject(expect, envelope, RejectReason::QueueFull);
        }
        let n = m.stats.accepted;
        m.stats.accepted += 1;
        let deadline = self.now + m.request_timeout;
        let phase = if running < m.max_concurrent { Phase::Running } else { Phase::Queued };
        m.reqs.insert(n, Req { envelope, payload, deadline, phase });
        if phase == Phase::Running {
            m.stats.started += 1;
            expect.started.push_back(n);
        } else {
            m.stats.queued += 1;
            m.waiting.push_back(n);
        }
    }

    fn handler(&mut self, target: u8, late: bool, outcome: Outcome) {
        let token = if late {
            let answered = &self.model.answered;
            answered.iter().rev().nth(usize::from(target) % answered.len().max(1)).copied()
        } else {
            let running: Vec<RequestToken> = self.model.tokens.values().copied().collect();
            running.get(usize::from(target) % running.len().max(1)).copied()
        };
        let Some(token) = token else { return };
        let limit = self.model.max_message_size;
        let result = match outcome {
            Outcome::Reply(load) => Ok(encode_reply(&load.value()).expect("a Value encodes")),
            Outcome::Large(n) => Ok(Bytes::from(vec![0xc0; limit + usize::from(n % 4)])),
            Outcome::Error => Err(HandlerFailure::Error("no such function".to_owned())),
            Outcome::Panic => Err(HandlerFailure::Panicked("index out of range".to_owned())),
        };
        let n = token.as_u64();
        let mut expect = Expect::default();
        let m = &mut self.model;
        let running = m.reqs.get(&n).is_some_and(|r| r.phase == Phase::Running);
        if running {
            match &result {
                Ok(body) if body.len() <= limit => {
                    m.stats.handler_replies += 1;
                    m.answer(&mut expect, n, ReplyKind::Handler, Some(body.clone()));
                }
                Ok(body) => {
                    m.stats.replies_too_large += 1;
                    expect.events.push_back(Event::Exact(ServerEvent::ReplyTooLarge { token, size: body.len() }));
                    m.answer(&mut expect, n, ReplyKind::HandlerException, None);
                }
                Err(failure) => {
                    match failure {
                        HandlerFailure::Panicked(_) => m.stats.handler_panics += 1,
                        _ => m.stats.handler_errors += 1,
                    }
                    let failure = failure.clone();
                    expect.events.push_back(Event::Exact(ServerEvent::HandlerFailed { token, failure }));
                    m.answer(&mut expect, n, ReplyKind::HandlerException, None);
                }
            }
            m.start_waiting(&mut expect);
        } else {
            m.stats.late_handler_results += 1;
        }
        let got = self.server.handle_result(self.now, token, result);
        let want = if running { Ok(()) } else { Err(UnknownRequest(token)) };
        ensure!(self, got == want, "handle_result({token}) returned {got:?}, expected {want:?}");
        if let Err(e) = got {
            ensure!(self, !e.to_string().is_empty(), "empty error message");
        }
        self.settle(expect, false);
    }

    fn handle_timeout(&mut self) {
        let now = self.now;
        let due = self.server.poll_timeout().is_some_and(|at| at <= now);
        let before = (!due).then(|| self.snapshot());
        let mut expect = Expect::default();
        let m = &mut self.model;
        let mut expired: Vec<(Instant, u64)> = m
            .reqs
            .iter()
            .filter(|(_, r)| r.phase != Phase::Answered && r.deadline <= now)
            .map(|(n, r)| (r.deadline, *n))
            .collect();
        expired.sort();
        for (_, n) in expired {
            match m.reqs[&n].phase {
                Phase::Running => {
                    m.stats.timed_out_running += 1;
                    expect.events.push_back(Event::TimedOut { token: n, started: true });
                    m.answer(&mut expect, n, ReplyKind::HandlerException, None);
                    if let Some(reply) = expect.transmits.back_mut() {
                        reply.aborts = true;
                    }
                }
                _ => {
                    m.waiting.retain(|w| *w != n);
                    m.stats.timed_out_queued += 1;
                    expect.events.push_back(Event::TimedOut { token: n, started: false });
                    m.answer(&mut expect, n, ReplyKind::Busy, None);
                }
            }
        }
        m.start_waiting(&mut expect);
        self.server.handle_timeout(now);
        let outputs = self.settle(expect, true);
        if let Some(before) = before {
            ensure!(self, outputs == 0, "handle_timeout with nothing due produced {outputs} outputs");
            ensure!(self, self.snapshot() == before, "handle_timeout with nothing due changed the server");
        }
    }

    fn shutdown(&mut self, grace: Duration) {
        let now = self.now;
        let mut expect = Expect::default();
        let m = &mut self.model;
        m.shutting_down = true;
        while let Some(n) = m.waiting.pop_front() {
            m.stats.refused_shutting_down_queued += 1;
            expect.events.push_back(Event::Exact(ServerEvent::Rejected { reason: RejectReason::ShuttingDown }));
            m.answer(&mut expect, n, ReplyKind::Busy, None);
        }
        let cap = now.checked_add(grace).unwrap_or(now + m.request_timeout);
        for req in m.reqs.values_mut().filter(|r| r.phase == Phase::Running) {
            req.deadline = req.deadline.min(cap);
        }
        self.server.shutdown(now, grace);
        self.settle(expect, false);
    }

    fn snapshot(&self) -> (ServerStats, usize, usize, Option<Instant>, bool) {
        let s = &self.server;
        (*s.stats(), s.pending(), s.running(), s.poll_timeout(), s.is_drained())
    }

    // ----- outputs -----

    /// Drains the server like a driver, checks each output against the model, then
    /// checks the invariants. Returns how many outputs there were.
    fn settle(&mut self, mut expect: Expect, after_timeout: bool) -> usize {
        let mut outputs = 0;
        while let Some(t) = self.server.poll_transmit() {
            outputs += 1;
            let aborts = t.handler_to_abort().is_some();
            ensure!(self, !aborts || t.handler_to_abort() == t.token, "aborts a handler it does not answer");
            let got =
                Reply { token: t.token.map(RequestToken::as_u64), kind: t.kind, frames: t.frames().to_vec(), aborts };
            ensure!(
                self,
                t.body() == t.frames().last().expect("a transmit has frames"),
                "body() is not the last frame"
            );
            let want = expect.transmits.pop_front();
            ensure!(self, want.as_ref() == Some(&got), "transmit {got:?}\n  expected {want:?}");
        }
        ensure!(self, expect.transmits.is_empty(), "missing transmits: {:?}", expect.transmits);
        while let Some(request) = self.server.poll_request() {
            outputs += 1;
            let want = expect.started.pop_front();
            ensure!(self, want == Some(request.token.as_u64()), "started {} expected {want:?}", request.token);
            self.check_request(&request);
            self.model.tokens.insert(request.token.as_u64(), request.token);
        }
        ensure!(self, expect.started.is_empty(), "requests not started: {:?}", expect.started);
        while let Some(event) = self.server.poll_event() {
            outputs += 1;
            ensure!(self, !event.to_string().is_empty(), "empty event message");
            let want = expect.events.pop_front();
            ensure!(self, want.as_ref().is_some_and(|w| w.matches(&event)), "event {event:?}\n  expected {want:?}");
        }
        ensure!(self, expect.events.is_empty(), "missing events: {:?}", expect.events);
        self.check_invariants(after_timeout);
        outputs
    }

    fn check_request(&self, request: &IncomingRequest) {
        let n = request.token.as_u64();
        let req = &self.model.reqs[&n];
        ensure!(self, *request.payload() == req.payload, "{} carries another payload", request.token);
        let raw = split_request(&req.payload).expect("the model accepted it");
        ensure!(self, (request.crypt, request.version) == (raw.crypt, raw.version), "crypt or version differs");
        ensure!(self, request.load_bytes() == raw.load, "load bytes differ");
        let value = request.load_value();
        let want: Result<Value, _> = decode_reply(raw.load);
        match (value, want) {
            (Ok(a), Ok(b)) => ensure!(self, crate::codec::same(&a, &b), "load_value differs from the load bytes"),
            (a, b) => ensure!(self, false, "load_value {a:?}, the load bytes {b:?}"),
        }
    }

    // ----- invariants -----

    fn check_invariants(&self, after_timeout: bool) {
        let m = &self.model;
        let s = self.server.stats();
        let stats = Stats::of(s);
        ensure!(self, stats == m.stats, "stats {stats:?}\n  model {:?}", m.stats);
        let pending = m.count(Phase::Running) + m.count(Phase::Queued);
        ensure!(self, self.server.pending() == pending, "pending() {} != {pending}", self.server.pending());
        let running = m.count(Phase::Running);
        ensure!(self, self.server.running() == running, "running() {} != {running}", self.server.running());
        ensure!(self, running <= m.max_concurrent, "{running} handlers, max {}", m.max_concurrent);
        ensure!(self, running == m.max_concurrent || m.waiting.is_empty(), "requests wait while a slot is free");
        ensure!(self, m.waiting.len() <= m.max_queued, "{} queued, max {}", m.waiting.len(), m.max_queued);
        let refused = s.unroutable + s.rejected_malformed + s.refused_queue_full + s.refused_shutting_down;
        ensure!(self, s.received == refused + s.accepted, "received does not add up: {s:?}");
        let ended = s.handler_replies
            + s.handler_errors
            + s.handler_panics
            + s.replies_too_large
            + s.timed_out_running
            + s.timed_out_queued
            + s.refused_shutting_down_queued;
        ensure!(self, s.accepted == ended + pending as u64, "accepted does not add up: {s:?}");
        ensure!(self, self.server.is_shutting_down() == m.shutting_down, "is_shutting_down() differs");
        // Checked after a drain: no transmit waits.
        let may_receive = m.framing == Framing::Routed || (!m.shutting_down && pending == 0);
        ensure!(self, self.server.may_receive() == may_receive, "may_receive() != {may_receive}");
        let drained = m.shutting_down && pending == 0;
        ensure!(self, self.server.is_drained() == drained, "is_drained() {} != {drained}", self.server.is_drained());
        let next = m.reqs.values().filter(|r| r.phase != Phase::Answered).map(|r| r.deadline).min();
        let got = self.server.poll_timeout();
        ensure!(self, got == next, "poll_timeout() {got:?}, earliest deadline {next:?}");
        if after_timeout {
            ensure!(self, got.is_none_or(|at| at > self.now), "poll_timeout() not after now after handle_timeout");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Routed, one handler, one queued, 100 ms request timeout.
    fn scenario(ops: Vec<Op>) -> Scenario {
        let config = ConfigChoice {
            bare: false,
            max_concurrent: 0,
            max_queued: 1,
            max_message_size: 200,
            request_timeout_ms: 99,
        };
        Scenario { config, ops }
    }

    fn ping() -> Op {
        Op::Message { payload: PayloadChoice::Clear(LoadChoice::Ping), framing: FrameShape::Req { identity: 1 } }
    }

    fn reply(outcome: Outcome) -> Op {
        Op::Handler { target: 0, late: false, outcome }
    }

    #[test]
    fn one_runs_one_waits_the_third_is_refused_and_each_is_answered_once() {
        let ops = vec![ping(), ping(), ping(), reply(Outcome::Reply(LoadChoice::Nil)), reply(Outcome::Panic)];
        let s = scenario(ops).play().expect("a valid config");
        assert_eq!((s.accepted, s.refused_queue_full, s.handler_replies, s.handler_panics), (2, 1, 1, 1), "{s:?}");
    }

    #[test]
    fn bad_input_gets_bad_load_and_a_late_handler_is_refused() {
        let bad = |i| Op::Message { payload: PayloadChoice::Fixed(i), framing: FrameShape::Req { identity: 2 } };
        let late = Op::Handler { target: 0, late: true, outcome: Outcome::Error };
        let ops = vec![bad(0), bad(3), ping(), Op::Tick, late, Op::Shutdown(Step::Millis(5)), ping()];
        let s = scenario(ops).play().expect("a valid config");
        assert_eq!((s.rejected_malformed, s.timed_out_running, s.late_handler_results), (2, 1, 1), "{s:?}");
        assert_eq!(s.refused_shutting_down, 1, "{s:?}");
    }
}
