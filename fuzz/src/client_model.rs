//! `client_ops`: a [`Client`] driven by an arbitrary sequence of operations, beside a
//! reference model of what it must do.
//!
//! The harness behaves like a driver: after every input it drains `poll_action`, then
//! `poll_transmit`, then `poll_completion`. The model predicts every deterministic
//! outcome (submit refusals, cancellations, replies, resets, counters) and bounds the
//! rest (a retry's backoff pause and the reconnect delay are jittered, so the model keeps
//! an interval instead of an instant). After every input it checks:
//!
//! - every accepted id completes exactly once, no completion for an id never accepted,
//!   and the completion is the one the model predicts (result and attempt count);
//! - nothing is transmitted for a finished id, after close, or without an open
//!   connection; attempts are numbered 1, 2, ... up to `tries`; a request is never
//!   transmitted at or after its queue deadline; first attempts leave in submission
//!   order, retries before first attempts; lockstep keeps one request on the wire (or
//!   between attempts), pipelined at most `max_in_flight`;
//! - nothing that could be sent is left waiting while a slot is free (no stall);
//! - `pending()`, `is_connected()`, `is_closed()` and every counter match the model, and
//!   `submitted = replied + timed_out + cancelled + closed + failed + pending`;
//! - `poll_timeout()` lies within the model's bounds, is `None` exactly when nothing can
//!   happen, and is later than `now` after `handle_timeout(now)`; a `handle_timeout`
//!   with nothing due changes nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use reqchan_core::client::{
    Backoff, Client, ClientConfig, ClientStats, Completion, ConnectError, ConnectErrorKind, ConnectReason,
    ConnectionState, ExponentialBackoff, LockstepFraming, MAX_DURATION, Mode, RequestError, RequestId, RequestOptions,
    SocketAction, SubmitError, Transmit,
};

use crate::clock;

/// Operations beyond this many are ignored, to keep one input fast.
const MAX_OPS: usize = 400;

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

/// Runs one fuzz input: decodes a [`Scenario`] and plays it; panics on a violation.
pub fn run(data: &[u8]) {
    play(data);
}

/// Runs one fuzz input and reports what it exercised (`None` if it does not decode).
pub fn play(data: &[u8]) -> Option<Seen> {
    Scenario::arbitrary_take_rest(Unstructured::new(data)).ok().map(Scenario::play)
}

/// What a run exercised: lets the replay test check that the corpus reaches every
/// behaviour worth checking, not just that it passes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Seen {
    /// Runs whose config the client refused.
    pub invalid_configs: u64,
    /// Runs in lockstep mode.
    pub lockstep_runs: u64,
    /// Runs in pipelined mode.
    pub pipelined_runs: u64,
    /// Submits refused because the queue was full.
    pub queue_full: u64,
    /// Submits refused because the payload was too large.
    pub too_large: u64,
    /// Submits refused for invalid options.
    pub invalid_options: u64,
    /// Submits refused after close.
    pub submit_after_close: u64,
    /// Transmissions that were retries.
    pub retries: u64,
    /// Completions with a reply.
    pub replied: u64,
    /// `TimedOut` with 0 attempts: expired in the queue.
    pub expired_in_queue: u64,
    /// `TimedOut` after at least one attempt.
    pub timed_out: u64,
    /// `Cancelled` completions.
    pub cancelled: u64,
    /// `cancel` calls for an id that was not an unfinished request.
    pub cancel_unknown: u64,
    /// `Closed` completions.
    pub closed: u64,
    /// `PeerLost` completions.
    pub peer_lost: u64,
    /// `ReplyTooLarge` completions.
    pub reply_too_large: u64,
    /// `MalformedReply` completions.
    pub malformed: u64,
    /// Replies counted as stray.
    pub stray: u64,
    /// Socket resets.
    pub resets: u64,
    /// Reconnects after a failed connection attempt.
    pub reconnects: u64,
    /// `handle_timeout` calls with nothing due.
    pub idle_timeouts: u64,
    /// Transmissions the socket refused.
    pub send_failures: u64,
}

impl Seen {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Seen) {
        let pairs = [
            (&mut self.invalid_configs, other.invalid_configs),
            (&mut self.lockstep_runs, other.lockstep_runs),
            (&mut self.pipelined_runs, other.pipelined_runs),
            (&mut self.queue_full, other.queue_full),
            (&mut self.too_large, other.too_large),
            (&mut self.invalid_options, other.invalid_options),
            (&mut self.submit_after_close, other.submit_after_close),
            (&mut self.retries, other.retries),
            (&mut self.replied, other.replied),
            (&mut self.expired_in_queue, other.expired_in_queue),
            (&mut self.timed_out, other.timed_out),
            (&mut self.cancelled, other.cancelled),
            (&mut self.cancel_unknown, other.cancel_unknown),
            (&mut self.closed, other.closed),
            (&mut self.peer_lost, other.peer_lost),
            (&mut self.reply_too_large, other.reply_too_large),
            (&mut self.malformed, other.malformed),
            (&mut self.stray, other.stray),
            (&mut self.resets, other.resets),
            (&mut self.reconnects, other.reconnects),
            (&mut self.idle_timeouts, other.idle_timeouts),
            (&mut self.send_failures, other.send_failures),
        ];
        for (mine, theirs) in pairs {
            *mine += theirs;
        }
    }

    /// The behaviours never exercised, by field name.
    pub fn missing(&self) -> Vec<&'static str> {
        let all = [
            ("invalid_configs", self.invalid_configs),
            ("lockstep_runs", self.lockstep_runs),
            ("pipelined_runs", self.pipelined_runs),
            ("queue_full", self.queue_full),
            ("too_large", self.too_large),
            ("invalid_options", self.invalid_options),
            ("submit_after_close", self.submit_after_close),
            ("retries", self.retries),
            ("replied", self.replied),
            ("expired_in_queue", self.expired_in_queue),
            ("timed_out", self.timed_out),
            ("cancelled", self.cancelled),
            ("cancel_unknown", self.cancel_unknown),
            ("closed", self.closed),
            ("peer_lost", self.peer_lost),
            ("reply_too_large", self.reply_too_large),
            ("malformed", self.malformed),
            ("stray", self.stray),
            ("resets", self.resets),
            ("reconnects", self.reconnects),
            ("idle_timeouts", self.idle_timeouts),
            ("send_failures", self.send_failures),
        ];
        all.into_iter().filter(|(_, n)| *n == 0).map(|(name, _)| name).collect()
    }

    fn completed(&mut self, result: &Result<Bytes, RequestError>) {
        match result {
            Ok(_) => self.replied += 1,
            Err(RequestError::TimedOut { attempts: 0 } | RequestError::Unreachable { attempts: 0, .. }) => {
                self.expired_in_queue += 1
            }
            Err(RequestError::TimedOut { .. } | RequestError::Unreachable { .. }) => self.timed_out += 1,
            Err(RequestError::Cancelled) => self.cancelled += 1,
            Err(RequestError::Closed) => self.closed += 1,
            Err(RequestError::PeerLost { .. }) => self.peer_lost += 1,
            Err(RequestError::ReplyTooLarge { .. }) => self.reply_too_large += 1,
            Err(RequestError::MalformedReply { .. }) => self.malformed += 1,
            Err(_) => {}
        }
    }
}

/// A client configuration and the operations to apply to it.
#[derive(Debug, Arbitrary)]
pub struct Scenario {
    config: ConfigChoice,
    ops: Vec<Op>,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
struct ConfigChoice {
    pipelined: bool,
    /// Pipelined only: 1 to 4, or 0 (an invalid config) for 255.
    max_in_flight: u8,
    /// 1 to 6, or 0 (invalid) for 255.
    max_queued: u8,
    /// 1 to 40 bytes, or 0 (invalid) for 255.
    max_message_size: u8,
    timeout: TimeoutChoice,
    /// 1 to 4.
    tries: u8,
    backoff: BackoffChoice,
    reconnect: ReconnectChoice,
    seed: u64,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum TimeoutChoice {
    Millis(u8),
    Secs(u8),
    Salt,
    Max,
}

impl TimeoutChoice {
    fn duration(self) -> Duration {
        match self {
            Self::Millis(ms) => Duration::from_millis(1 + u64::from(ms)),
            Self::Secs(s) => Duration::from_secs(1 + u64::from(s)),
            Self::Salt => Duration::from_secs(60),
            Self::Max => MAX_DURATION,
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum JitterChoice {
    None,
    Quarter,
    Half,
    Full,
}

impl JitterChoice {
    fn value(self) -> f64 {
        match self {
            Self::None => 0.0,
            Self::Quarter => 0.25,
            Self::Half => 0.5,
            Self::Full => 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum BackoffChoice {
    Immediate,
    Exponential { initial_ms: u8, spread: u8, factor: u8, jitter: JitterChoice },
}

impl BackoffChoice {
    /// The policy, and the longest pause it can produce (`None`: no pause).
    fn build(self) -> (Backoff, Option<Duration>) {
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
struct ReconnectChoice {
    initial_ms: u8,
    spread: u8,
    jitter: JitterChoice,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum RequestTimeout {
    Valid(TimeoutChoice),
    Zero,
    OverMax,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
struct OptionsChoice {
    timeout: Option<RequestTimeout>,
    /// 0 (invalid) to 4.
    tries: Option<u8>,
    backoff: Option<BackoffChoice>,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum PayloadChoice {
    Fixed(u8),
    Filled { byte: u8, len: u8 },
}

impl PayloadChoice {
    fn bytes(self) -> Bytes {
        match self {
            Self::Fixed(i) => Bytes::from_static(PAYLOADS[usize::from(i) % PAYLOADS.len()]),
            Self::Filled { byte, len } => Bytes::from(vec![byte; usize::from(len % 48)]),
        }
    }
}

/// Which request an operation is about.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Target {
    /// The n-th most recently accepted request (finished or not).
    Accepted(u8),
    /// The request of the n-th most recent transmission.
    Transmitted(u8),
    /// An id the client never handed out.
    Unknown(u8),
}

#[derive(Debug, Clone, Arbitrary)]
enum ReplyShape {
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
enum Step {
    Nanos(u16),
    Millis(u16),
    Secs(u16),
    Far,
}

impl Step {
    fn duration(self) -> Duration {
        match self {
            Self::Nanos(n) => Duration::from_nanos(u64::from(n)),
            Self::Millis(ms) => Duration::from_millis(u64::from(ms)),
            Self::Secs(s) => Duration::from_secs(u64::from(s)),
            Self::Far => MAX_DURATION,
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
enum Op {
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

/// Request options with the client's defaults filled in.
#[derive(Debug, Clone, Copy)]
struct Resolved {
    timeout: Duration,
    tries: u32,
    /// The longest backoff pause; `None` for an immediate retry.
    backoff_max: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Never transmitted, in the send queue.
    Queued,
    /// An attempt is on the wire until `deadline`; `wait` bounds the deadline the
    /// request had while it waited to be sent (it gets it back if the send is refused).
    InFlight {
        deadline: Instant,
        wait: (Instant, Instant),
    },
    /// An attempt failed at `since`, tries remain, and a backoff pause began; it may
    /// have ended since, at the latest at the `handle_timeout` at `wake`.
    BackingOff {
        since: Instant,
        wake: Instant,
    },
    /// Certainly in the retry queue, with its deadline between `lo` and `hi`.
    Ready {
        lo: Instant,
        hi: Instant,
    },
    Done,
}

#[derive(Debug)]
struct Req {
    id: RequestId,
    /// The tag given at submission, expected back in the completion.
    tag: u64,
    payload: Bytes,
    opts: Resolved,
    submitted: Instant,
    attempts: u32,
    /// The id frame of its pipelined transmissions.
    id_frame: Option<Bytes>,
    state: State,
}

impl Req {
    fn unfinished(&self) -> bool {
        self.state != State::Done
    }

    /// The earliest and latest instant the client's deadline for this request can be.
    fn deadline_bounds(&self) -> Option<(Instant, Instant)> {
        let timeout = self.opts.timeout;
        match self.state {
            State::Queued => Some((self.submitted + timeout, self.submitted + timeout)),
            State::InFlight { deadline, .. } => Some((deadline, deadline)),
            State::Ready { lo, hi } => Some((lo, hi)),
            // The end of the pause, or the deadline of the retry it became.
            State::BackingOff { since, wake } => {
                let pause_max = self.opts.backoff_max.unwrap_or_default();
                Some((since, (since + pause_max).max(wake + timeout)))
            }
            State::Done => None,
        }
    }

    /// Bounds of its deadline while waiting to be sent: what `InFlight::wait` records.
    fn wait_bounds(&self) -> (Instant, Instant) {
        let timeout = self.opts.timeout;
        match self.state {
            State::Ready { lo, hi } => (lo, hi),
            // Sent from a pause: it became ready between `since` and `wake`.
            State::BackingOff { since, wake } => (since + timeout, wake + timeout),
            _ => (self.submitted + timeout, self.submitted + timeout),
        }
    }

    /// Whether the client may already have expired it, had it reached it at `now`.
    fn may_have_expired(&self, now: Instant) -> bool {
        match self.state {
            State::Queued => now >= self.submitted + self.opts.timeout,
            State::Ready { lo, .. } => now >= lo,
            State::BackingOff { since, .. } => now >= since + self.opts.timeout,
            State::InFlight { .. } | State::Done => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Opening,
    Open,
    Waiting { since: Instant },
    Closed,
}

/// The model's own counters, compared field by field with [`ClientStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Stats {
    submitted: u64,
    transmitted: u64,
    retried: u64,
    replied: u64,
    timed_out: u64,
    cancelled: u64,
    closed: u64,
    failed: u64,
    resets: u64,
    connect_failures: u64,
    stray_replies: u64,
    send_failures: u64,
}

impl Stats {
    fn of(s: &ClientStats) -> Self {
        Self {
            submitted: s.submitted,
            transmitted: s.transmitted,
            retried: s.retried,
            replied: s.replied,
            timed_out: s.timed_out,
            cancelled: s.cancelled,
            closed: s.closed,
            failed: s.failed,
            resets: s.resets,
            connect_failures: s.connect_failures,
            stray_replies: s.stray_replies,
            send_failures: s.send_failures,
        }
    }

    fn count(&mut self, result: &Result<Bytes, RequestError>) {
        match result {
            Ok(_) => self.replied += 1,
            Err(RequestError::TimedOut { .. } | RequestError::Unreachable { .. }) => self.timed_out += 1,
            Err(RequestError::Cancelled) => self.cancelled += 1,
            Err(RequestError::Closed) => self.closed += 1,
            Err(_) => self.failed += 1,
        }
    }
}

/// Whether a link retry may, or must, fire during this input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Retry {
    #[default]
    No,
    Possible,
    Required,
}

/// What the model predicts for one input.
#[derive(Debug, Default)]
struct Expect {
    completions: BTreeMap<u64, Completion>,
    action: Option<SocketAction>,
    retry: Retry,
    /// Completions must come in submission order (close).
    in_order: bool,
}

/// What one drain produced.
#[derive(Debug, Default)]
struct Drained {
    actions: usize,
    transmits: usize,
    completions: Vec<u64>,
}

/// The reference model: what the client must have done so far.
#[derive(Debug)]
struct Model {
    max_in_flight: Option<usize>,
    max_queued: usize,
    max_message_size: usize,
    defaults: Resolved,
    reconnect_max: Duration,
    reqs: BTreeMap<u64, Req>,
    /// Transmitted requests, most recent last.
    transmitted: Vec<RequestId>,
    link: Link,
    /// Whether a connection was ever open.
    ever_open: bool,
    /// Lockstep with `LockstepFraming::Plain` (`["", payload]`, no id frame).
    plain_lockstep: bool,
    /// The latest connect failure, until a connection opens.
    connect_error: Option<ConnectError>,
    stats: Stats,
}

impl Model {
    fn lockstep(&self) -> bool {
        self.max_in_flight.is_none()
    }

    /// Lockstep with the plain REQ envelope: replies are matched by position.
    fn plain(&self) -> bool {
        self.lockstep() && self.plain_lockstep
    }

    /// The error of a request whose wait ran out after `attempts` transmissions.
    fn expired(&self, attempts: u32) -> RequestError {
        match (&self.link, &self.connect_error) {
            (Link::Open, _) | (_, None) => RequestError::TimedOut { attempts },
            (_, Some(cause)) => RequestError::Unreachable { attempts, cause: cause.clone() },
        }
    }

    fn unfinished(&self) -> impl Iterator<Item = &Req> {
        self.reqs.values().filter(|r| r.unfinished())
    }

    fn count(&self, pred: impl Fn(&Req) -> bool) -> usize {
        self.unfinished().filter(|r| pred(r)).count()
    }

    fn in_flight(&self) -> usize {
        self.count(|r| matches!(r.state, State::InFlight { .. }))
    }

    /// Marks `id` done with `result`, expected during this input.
    fn finish(&mut self, expect: &mut Expect, n: u64, result: Result<Bytes, RequestError>) {
        let req = self.reqs.get_mut(&n).expect("model: finishing an unknown request");
        req.state = State::Done;
        self.stats.count(&result);
        let completion = Completion { id: req.id, tag: req.tag, attempts: req.attempts, result };
        expect.completions.insert(n, completion);
    }

    /// The in-flight attempt of `n` failed at `now`.
    fn fail_attempt(&mut self, expect: &mut Expect, n: u64, now: Instant, error: RequestError) {
        let req = &mut self.reqs.get_mut(&n).expect("model: failing an unknown request");
        if req.attempts < req.opts.tries {
            let timeout = req.opts.timeout;
            req.state = match req.opts.backoff_max {
                None => State::Ready { lo: now + timeout, hi: now + timeout },
                Some(_) => State::BackingOff { since: now, wake: now },
            };
        } else {
            self.finish(expect, n, Err(error));
        }
    }

    fn reset(&mut self, expect: &mut Expect, reason: ConnectReason) {
        self.stats.resets += 1;
        self.link = Link::Opening;
        expect.action = Some(SocketAction::Connect { reason });
    }
}

/// The client under test, its model, and the clock.
struct Harness {
    client: Client,
    model: Model,
    now: Instant,
    start: Instant,
    /// Hands out ids this client never did (see [`Harness::unknown_id`]).
    foreign: Client,
    minted: Vec<RequestId>,
    /// The operation being applied, for failure messages.
    context: String,
    /// The socket refuses every send.
    refusing: bool,
    seen: Seen,
}

impl Scenario {
    /// Plays the scenario, checking every invariant after every input.
    pub fn play(self) -> Seen {
        let Some(mut harness) = Harness::new(self.config) else {
            return Seen { invalid_configs: 1, ..Seen::default() };
        };
        for (i, op) in self.ops.into_iter().take(MAX_OPS).enumerate() {
            harness.context = format!("op {i}: {op:?}");
            harness.apply(op);
        }
        let stats = harness.client.stats();
        let mut seen = harness.seen;
        (seen.retries, seen.stray, seen.resets) = (stats.retried, stats.stray_replies, stats.resets);
        match harness.model.lockstep() {
            true => seen.lockstep_runs = 1,
            false => seen.pipelined_runs = 1,
        }
        // The driver goes away: whatever is left completes now, so every accepted
        // request has completed exactly once by the end.
        harness.context = "final close".to_owned();
        harness.close();
        let unfinished: Vec<RequestId> = harness.model.unfinished().map(|r| r.id).collect();
        assert!(unfinished.is_empty(), "never completed: {unfinished:?}");
        seen
    }
}

/// Fails the fuzz input with the operation that broke an invariant.
macro_rules! ensure {
    ($h:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            panic!("{}\n  at {} (now = +{:?})", format_args!($($msg)+), $h.context, $h.elapsed());
        }
    };
}

impl Harness {
    fn new(choice: ConfigChoice) -> Option<Self> {
        let zero_if_max = |b: u8, modulus: u8| if b == u8::MAX { 0 } else { 1 + usize::from(b % modulus) };
        let mut config = ClientConfig::default();
        let max_in_flight = choice.pipelined.then(|| zero_if_max(choice.max_in_flight, 4));
        config.mode = match max_in_flight {
            Some(max_in_flight) => Mode::Pipelined { max_in_flight },
            None => Mode::Lockstep,
        };
        config.max_queued = zero_if_max(choice.max_queued, 6);
        config.max_message_size = zero_if_max(choice.max_message_size, 40);
        let (backoff, backoff_max) = choice.backoff.build();
        let defaults =
            Resolved { timeout: choice.timeout.duration(), tries: 1 + u32::from(choice.tries % 4), backoff_max };
        config.defaults.timeout = defaults.timeout;
        config.defaults.tries = defaults.tries;
        config.defaults.backoff = backoff;
        let initial = Duration::from_millis(1 + u64::from(choice.reconnect.initial_ms % 50));
        let reconnect_max = initial * (1 + u32::from(choice.reconnect.spread % 8));
        config.reconnect = ExponentialBackoff::new(initial, reconnect_max)
            .and_then(|b| b.with_jitter(choice.reconnect.jitter.value()))
            .expect("a valid reconnect policy was refused");
        config.seed = choice.seed;
        // Both lockstep framings, chosen by the seed's low bit (not a field of its own,
        // so the committed corpus keeps its meaning).
        let plain_lockstep = choice.seed & 1 == 1;
        if plain_lockstep {
            config.lockstep_framing = LockstepFraming::Plain;
        }

        let invalid = max_in_flight == Some(0) || config.max_queued == 0 || config.max_message_size == 0;
        let client = match Client::new(config.clone()) {
            Ok(client) => client,
            Err(e) => {
                assert!(invalid, "a valid config was refused: {e}: {config:?}");
                assert!(!e.to_string().is_empty());
                return None;
            }
        };
        assert!(!invalid, "an invalid config was accepted: {config:?}");
        let model = Model {
            max_in_flight,
            max_queued: config.max_queued,
            max_message_size: config.max_message_size,
            defaults,
            reconnect_max,
            reqs: BTreeMap::new(),
            transmitted: Vec::new(),
            link: Link::Opening,
            ever_open: false,
            plain_lockstep,
            connect_error: None,
            stats: Stats::default(),
        };
        let start = Instant::now();
        let mut harness = Self {
            client,
            model,
            now: start,
            start,
            foreign: Client::new(ClientConfig::default()).expect("the default config is valid"),
            minted: Vec::new(),
            context: "Client::new".to_owned(),
            refusing: false,
            seen: Seen::default(),
        };
        let expect =
            Expect { action: Some(SocketAction::Connect { reason: ConnectReason::Initial }), ..Expect::default() };
        harness.settle(expect, false);
        Some(harness)
    }

    /// Time since the harness started, for failure messages.
    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Submit { payload, options } => self.submit(payload.bytes(), options),
            Op::Cancel(target) => self.cancel(target),
            Op::Close => self.close(),
            Op::Connected => self.connected(),
            Op::ConnectFailed => self.connect_failed(),
            Op::PeerLost => self.peer_lost(),
            Op::SendFailed(target) => self.send_failed(target),
            Op::Refusing(on) => self.refusing = on,
            Op::Reply { target, shape, copies } => {
                let frames = self.reply_frames(target, &shape);
                for _ in 0..=copies % 3 {
                    self.reply(&frames);
                }
            }
            Op::Advance(step) => self.now += step.duration(),
            Op::HandleTimeout => self.handle_timeout(),
            Op::Tick => {
                self.now = clock::tick(self.now, self.client.poll_timeout().map(|t| t.at));
                self.handle_timeout();
            }
            Op::JustBefore => {
                if let Some(at) = clock::just_before(self.now, self.client.poll_timeout().map(|t| t.at)) {
                    self.now = at;
                    self.handle_timeout();
                }
            }
        }
    }

    // ----- inputs: predict, call, drain, check -----

    fn submit(&mut self, payload: Bytes, choice: OptionsChoice) {
        let m = &self.model;
        let mut options = RequestOptions::default();
        let mut timeout = m.defaults.timeout;
        let mut bad_options = false;
        if let Some(t) = choice.timeout {
            timeout = match t {
                RequestTimeout::Valid(t) => t.duration(),
                RequestTimeout::Zero => Duration::ZERO,
                RequestTimeout::OverMax => MAX_DURATION + Duration::from_nanos(1),
            };
            bad_options |= timeout.is_zero() || timeout > MAX_DURATION;
            options = options.timeout(timeout);
        }
        let mut tries = m.defaults.tries;
        if let Some(t) = choice.tries {
            tries = u32::from(t % 5);
            bad_options |= tries == 0;
            options = options.tries(tries);
        }
        let mut backoff_max = m.defaults.backoff_max;
        if let Some(b) = choice.backoff {
            let (policy, max) = b.build();
            backoff_max = max;
            options = options.backoff(policy);
        }
        let closed = m.link == Link::Closed;
        let too_large = payload.len() > m.max_message_size;
        let full = m.count(|_| true) - m.in_flight() >= m.max_queued;

        let refusals = format!("closed {closed}, too large {too_large}, bad options {bad_options}, queue full {full}");
        // A caller's tag, unrelated to the id: it must come back in the completion.
        let tag = u64::MAX - self.model.stats.submitted;
        match self.client.submit_tagged(self.now, payload.clone(), options, tag) {
            Ok(id) => {
                ensure!(self, !(closed || too_large || bad_options || full), "submit accepted: {refusals}");
                let n = id.as_u64();
                ensure!(self, !self.model.reqs.contains_key(&n), "submit reused id {id}");
                let opts = Resolved { timeout, tries, backoff_max };
                let req = Req {
                    id,
                    tag,
                    payload,
                    opts,
                    submitted: self.now,
                    attempts: 0,
                    id_frame: None,
                    state: State::Queued,
                };
                self.model.reqs.insert(n, req);
                self.model.stats.submitted += 1;
            }
            Err(e) => {
                let (size, limit) = (payload.len(), self.model.max_message_size);
                let fits = match &e {
                    SubmitError::Closed => closed,
                    SubmitError::TooLarge { size: s, limit: l } => too_large && *s == size && *l == limit,
                    SubmitError::InvalidOptions(_) => bad_options,
                    SubmitError::QueueFull { capacity } => full && *capacity == self.model.max_queued,
                    other => panic!("unknown SubmitError {other:?}"),
                };
                ensure!(self, fits, "submit refused with {e:?}: {refusals}");
                match e {
                    SubmitError::Closed => self.seen.submit_after_close += 1,
                    SubmitError::TooLarge { .. } => self.seen.too_large += 1,
                    SubmitError::InvalidOptions(_) => self.seen.invalid_options += 1,
                    _ => self.seen.queue_full += 1,
                }
                ensure!(self, !e.to_string().is_empty(), "empty error message");
            }
        }
        self.settle(Expect::default(), false);
    }

    fn cancel(&mut self, target: Target) {
        let id = match self.resolve(target) {
            Some(id) => id,
            None => self.unknown_id(target),
        };
        let n = id.as_u64();
        let mut expect = Expect::default();
        let live = self.model.reqs.get(&n).filter(|r| r.unfinished()).map(|r| r.state);
        if let Some(state) = live {
            if self.model.lockstep() && matches!(state, State::InFlight { .. }) {
                self.model.reset(&mut expect, ConnectReason::Cancelled(id));
            }
            self.model.finish(&mut expect, n, Err(RequestError::Cancelled));
        }
        let cancelled = self.client.cancel(self.now, id);
        ensure!(self, cancelled == live.is_some(), "cancel({id}) returned {cancelled}, model state {live:?}");
        self.seen.cancel_unknown += u64::from(!cancelled);
        self.settle(expect, false);
    }

    fn close(&mut self) {
        let mut expect = Expect { in_order: true, ..Expect::default() };
        if self.model.link != Link::Closed {
            let live: Vec<u64> = self.model.unfinished().map(|r| r.id.as_u64()).collect();
            for n in live {
                self.model.finish(&mut expect, n, Err(RequestError::Closed));
            }
            self.model.link = Link::Closed;
            expect.action = Some(SocketAction::Close);
        }
        self.client.close(self.now);
        self.settle(expect, false);
    }

    fn connected(&mut self) {
        if self.model.link == Link::Opening {
            self.model.link = Link::Open;
            self.model.ever_open = true;
            self.model.connect_error = None;
        }
        self.client.handle_connected(self.now);
        self.settle(Expect::default(), false);
    }

    fn connect_failed(&mut self) {
        if self.model.link == Link::Opening {
            self.model.link = Link::Waiting { since: self.now };
            self.model.stats.connect_failures += 1;
            self.model.connect_error = Some(connect_error());
        }
        self.client.handle_connect_failed(self.now, connect_error());
        self.settle(Expect::default(), false);
    }

    fn peer_lost(&mut self) {
        let expect = self.model_peer_lost();
        self.client.handle_peer_lost(self.now);
        self.settle(expect, false);
    }

    /// The model's side of a lost connection.
    fn model_peer_lost(&mut self) -> Expect {
        let mut expect = Expect::default();
        if self.model.link == Link::Open {
            self.model.reset(&mut expect, ConnectReason::PeerLost);
            let on_wire: Vec<(u64, u32)> = self
                .model
                .unfinished()
                .filter(|r| matches!(r.state, State::InFlight { .. }))
                .map(|r| (r.id.as_u64(), r.attempts))
                .collect();
            for (n, attempts) in on_wire {
                self.model.fail_attempt(&mut expect, n, self.now, RequestError::PeerLost { attempts });
            }
        }
        expect
    }

    /// `handle_send_refused([id])`, and the model's side of it: the refusal, then the
    /// lost connection.
    fn send_failed(&mut self, target: Target) {
        let id = match self.resolve(target) {
            Some(id) => id,
            None => self.unknown_id(target),
        };
        self.refuse(id);
    }

    /// `handle_send_refused([id])` and the model's side of it.
    fn refuse(&mut self, id: RequestId) {
        let n = id.as_u64();
        if let Some(req) = self.model.reqs.get_mut(&n) {
            // Not an attempt after all: back to the head of the retry queue, under the
            // deadline it had while waiting. Counters only go up: the transmission
            // stays counted.
            if let State::InFlight { wait: (lo, hi), .. } = req.state {
                req.state = State::Ready { lo, hi };
                req.attempts -= 1;
                self.model.stats.send_failures += 1;
                self.seen.send_failures += 1;
            }
        }
        let expect = self.model_peer_lost();
        self.client.handle_send_refused(self.now, &[id]);
        self.settle(expect, false);
    }

    fn reply(&mut self, frames: &[Bytes]) {
        let mut expect = Expect::default();
        match self.match_reply(frames) {
            // Every input is ignored after close: not even counted.
            None if self.model.link == Link::Closed => {}
            None => self.model.stats.stray_replies += 1,
            Some((n, result)) => {
                let limit = self.model.max_message_size;
                let result = result.and_then(|payload| match payload.len() {
                    size if size > limit => Err(RequestError::ReplyTooLarge { size, limit }),
                    _ => Ok(payload),
                });
                self.model.finish(&mut expect, n, result);
            }
        }
        self.client.handle_reply(self.now, frames);
        self.settle(expect, false);
    }

    /// Which unfinished request `frames` answer, as the model sees it.
    fn match_reply(&self, frames: &[Bytes]) -> Option<(u64, Result<Bytes, RequestError>)> {
        let m = &self.model;
        if m.link != Link::Open {
            return None;
        }
        let malformed = Err(RequestError::MalformedReply { reason: "" });
        if m.plain() {
            let req = m.unfinished().find(|r| matches!(r.state, State::InFlight { .. }))?;
            // Plain lockstep: the envelope a REQ socket would add, matched by position.
            let result = match frames {
                [delimiter, payload] if delimiter.is_empty() => Ok(payload.clone()),
                _ => malformed,
            };
            return Some((req.id.as_u64(), result));
        }
        let first = frames.first()?;
        if m.lockstep() {
            // Correlated lockstep: only the request on the wire, by its id frame.
            let req = m.unfinished().find(|r| matches!(r.state, State::InFlight { .. }))?;
            if req.id_frame.as_ref() != Some(first) {
                return None;
            }
            let result = match frames {
                [_, delimiter, payload] if delimiter.is_empty() => Ok(payload.clone()),
                _ => malformed,
            };
            return Some((req.id.as_u64(), result));
        }
        // A request never sent (queued, or its only send refused) cannot have been answered.
        let req = m.unfinished().find(|r| r.id_frame.as_ref() == Some(first) && r.attempts > 0)?;
        let result = match frames {
            [_, delimiter, payload] if delimiter.is_empty() => Ok(payload.clone()),
            _ => malformed,
        };
        Some((req.id.as_u64(), result))
    }

    fn handle_timeout(&mut self) {
        let now = self.now;
        let due = self.client.poll_timeout().map(|t| t.at).is_some_and(|at| at <= now);
        let before = (!due).then(|| self.snapshot());
        let mut expect = Expect::default();
        let m = &mut self.model;
        if let Link::Waiting { since } = m.link {
            expect.retry = if now >= since + m.reconnect_max { Retry::Required } else { Retry::Possible };
        }
        let ids: Vec<u64> = m.unfinished().map(|r| r.id.as_u64()).collect();
        for n in ids {
            let req = m.reqs.get_mut(&n).expect("listed above");
            let timeout = req.opts.timeout;
            match req.state {
                State::Queued if now >= req.submitted + timeout => {
                    let error = m.expired(0);
                    m.finish(&mut expect, n, Err(error));
                }
                State::InFlight { deadline, .. } if now >= deadline => {
                    let (id, attempts) = (req.id, req.attempts);
                    if m.lockstep() {
                        m.reset(&mut expect, ConnectReason::AttemptTimedOut(id));
                    }
                    m.fail_attempt(&mut expect, n, now, RequestError::TimedOut { attempts });
                }
                // The pause ends at the latest `backoff_max` after it began; the retry's
                // deadline then counts from the `handle_timeout` that saw it end.
                State::BackingOff { since, .. } => {
                    req.state = match now >= since + req.opts.backoff_max.unwrap_or_default() {
                        true => State::Ready { lo: since + timeout, hi: now + timeout },
                        false => State::BackingOff { since, wake: now },
                    };
                }
                State::Ready { hi, .. } if now >= hi => {
                    let attempts = req.attempts;
                    let error = m.expired(attempts);
                    m.finish(&mut expect, n, Err(error));
                }
                _ => {}
            }
        }
        self.client.handle_timeout(now);
        let drained = self.settle(expect, true);
        if let Some(before) = before {
            ensure!(
                self,
                drained.actions == 0 && drained.transmits == 0 && drained.completions.is_empty(),
                "handle_timeout with nothing due produced output: {drained:?}"
            );
            ensure!(self, self.snapshot() == before, "handle_timeout with nothing due changed the client");
            self.seen.idle_timeouts += 1;
        }
    }

    fn snapshot(&self) -> (ClientStats, usize, Option<Instant>, bool) {
        (
            *self.client.stats(),
            self.client.pending(),
            self.client.poll_timeout().map(|t| t.at),
            self.client.is_connected(),
        )
    }

    // ----- targets -----

    fn resolve(&self, target: Target) -> Option<RequestId> {
        let nth_last = |ids: &[RequestId], i: u8| ids.iter().rev().nth(usize::from(i) % ids.len().max(1)).copied();
        match target {
            Target::Accepted(i) => {
                let ids: Vec<RequestId> = self.model.reqs.values().map(|r| r.id).collect();
                nth_last(&ids, i)
            }
            Target::Transmitted(i) => nth_last(&self.model.transmitted, i),
            Target::Unknown(_) => None,
        }
    }

    /// An id this client never handed out: minted by another client, past every id
    /// this one has accepted.
    fn unknown_id(&mut self, target: Target) -> RequestId {
        let k = match target {
            Target::Unknown(k) => u64::from(k % 4),
            _ => 0,
        };
        let next = self.model.reqs.keys().next_back().map_or(0, |n| n + 1);
        loop {
            if let Some(id) = self.minted.iter().find(|id| id.as_u64() >= next + k) {
                return *id;
            }
            let id = self.foreign.submit(self.now, Bytes::new(), RequestOptions::default()).expect("minting an id");
            self.minted.push(id);
        }
    }

    fn reply_frames(&self, target: Target, shape: &ReplyShape) -> Vec<Bytes> {
        let req = self.resolve(target).and_then(|id| self.model.reqs.get(&id.as_u64()));
        let id_frame = match (req, target) {
            (Some(req), _) => {
                req.id_frame.clone().unwrap_or_else(|| Bytes::copy_from_slice(&req.id.as_u64().to_be_bytes()))
            }
            (None, Target::Unknown(k)) => Bytes::copy_from_slice(&(u64::MAX - u64::from(k)).to_be_bytes()),
            (None, _) => Bytes::from_static(b"\0\0\0\0\0\0\0\0"),
        };
        let limit = self.model.max_message_size;
        let payload = match shape {
            ReplyShape::Echo => req.map_or_else(|| Bytes::from_static(b"echo"), |r| r.payload.clone()),
            ReplyShape::Payload(p) => p.bytes(),
            ReplyShape::Oversized(n) => Bytes::from(vec![0xab; limit + 1 + usize::from(n % 4)]),
            ReplyShape::AtLimit => Bytes::from(vec![0x01; limit]),
            _ => Bytes::from_static(b"reply"),
        };
        let empty = Bytes::new();
        let good = match self.model.plain() {
            true => vec![empty.clone(), payload.clone()],
            false => vec![id_frame.clone(), empty.clone(), payload.clone()],
        };
        match shape {
            ReplyShape::Echo | ReplyShape::Payload(_) | ReplyShape::Oversized(_) | ReplyShape::AtLimit => good,
            ReplyShape::NoFrames => Vec::new(),
            ReplyShape::ExtraFrame => good.into_iter().chain([Bytes::from_static(b"extra")]).collect(),
            ReplyShape::MissingDelimiter if self.model.plain() => vec![payload],
            ReplyShape::MissingDelimiter => vec![id_frame, payload],
            ReplyShape::NonEmptyDelimiter if self.model.plain() => vec![Bytes::from_static(b"x"), payload],
            ReplyShape::NonEmptyDelimiter => vec![id_frame, Bytes::from_static(b"x"), payload],
            ReplyShape::BadIdFrame(_) if self.model.plain() => good,
            ReplyShape::BadIdFrame(n) => {
                let mut frame = id_frame.to_vec();
                frame.resize(usize::from(n % 12) + usize::from(n % 12 >= 8), 0x5a);
                vec![Bytes::from(frame), empty, payload]
            }
            ReplyShape::Raw(frames) => {
                frames.iter().take(4).map(|f| Bytes::copy_from_slice(&f[..f.len().min(64)])).collect()
            }
        }
    }

    // ----- outputs -----

    /// Drains the client like a driver, checks each output against the model, then
    /// checks the invariants.
    fn settle(&mut self, mut expect: Expect, after_timeout: bool) -> Drained {
        let mut drained = Drained::default();
        let action = self.client.poll_action();
        ensure!(self, self.client.poll_action().is_none(), "two socket actions at once");
        drained.actions = usize::from(action.is_some());
        self.check_action(action, &expect);
        let mut refused = None;
        while let Some(transmit) = self.client.poll_transmit(self.now) {
            drained.transmits += 1;
            ensure!(self, drained.transmits <= 64, "poll_transmit does not stop");
            self.check_transmit(&transmit);
            if self.refusing {
                // A socket that refuses: the driver stops sending and reports the
                // refusal (and with it the lost connection) once this drain is done.
                refused = Some(transmit.id);
                break;
            }
        }
        while let Some(completion) = self.client.poll_completion() {
            drained.completions.push(completion.id.as_u64());
            self.check_completion(completion, &mut expect);
        }
        ensure!(self, expect.completions.is_empty(), "missing completions: {:?}", expect.completions);
        if expect.in_order {
            ensure!(
                self,
                drained.completions.is_sorted(),
                "completions out of submission order: {:?}",
                drained.completions
            );
        }
        self.check_invariants(after_timeout, refused.is_some());
        if let Some(id) = refused {
            self.refuse(id);
        }
        drained
    }

    fn check_action(&mut self, action: Option<SocketAction>, expect: &Expect) {
        match (expect.action, action) {
            (Some(want), got) => ensure!(self, got == Some(want), "socket action {got:?}, expected {want:?}"),
            (None, Some(SocketAction::Connect { reason: ConnectReason::Retry })) if expect.retry != Retry::No => {
                self.model.link = Link::Opening;
                self.seen.reconnects += 1;
            }
            (None, Some(got)) => ensure!(self, false, "unexpected socket action {got:?}"),
            (None, None) => ensure!(self, expect.retry != Retry::Required, "reconnect pause over, no Connect asked"),
        }
    }

    fn check_transmit(&mut self, t: &Transmit) {
        let now = self.now;
        let n = t.id.as_u64();
        let m = &self.model;
        ensure!(self, m.link == Link::Open, "transmit of {} while the link is {:?}", t.id, m.link);
        let Some(req) = m.reqs.get(&n) else {
            panic!("transmit of {} which was never accepted\n  at {}", t.id, self.context);
        };
        ensure!(
            self,
            t.attempt == req.attempts + 1,
            "transmit of {} as attempt {}, after {} attempts",
            t.id,
            t.attempt,
            req.attempts
        );
        ensure!(
            self,
            t.attempt <= req.opts.tries,
            "transmit of {} as attempt {} of {} tries",
            t.id,
            t.attempt,
            req.opts.tries
        );
        match req.state {
            State::Done => ensure!(self, false, "transmit of finished {}", t.id),
            State::InFlight { .. } => ensure!(self, false, "transmit of {} already in flight", t.id),
            State::BackingOff { .. } => {}
            State::Queued => {
                let deadline = req.submitted + req.opts.timeout;
                ensure!(self, now < deadline, "transmit of {} at or after its queue deadline", t.id);
                let earlier =
                    m.unfinished().find(|r| r.state == State::Queued && r.id < t.id && !r.may_have_expired(now));
                ensure!(self, earlier.is_none(), "{} sent before earlier queued {:?}", t.id, earlier.map(|r| r.id));
                let retry = m.unfinished().find(|r| matches!(r.state, State::Ready { .. }) && !r.may_have_expired(now));
                ensure!(self, retry.is_none(), "{} sent before ready retry {:?}", t.id, retry.map(|r| r.id));
            }
            State::Ready { hi, .. } => ensure!(self, now < hi, "retry of {} sent after its deadline", t.id),
        }
        match m.max_in_flight {
            None => {
                let busy = m.unfinished().find(|r| {
                    r.id != t.id
                        && match r.state {
                            State::InFlight { .. } => true,
                            State::BackingOff { .. } | State::Ready { .. } => !r.may_have_expired(now),
                            _ => false,
                        }
                });
                ensure!(
                    self,
                    busy.is_none(),
                    "lockstep transmit of {} while {:?} holds the slot",
                    t.id,
                    busy.map(|r| r.id)
                );
            }
            Some(max) => ensure!(self, m.in_flight() < max, "transmit of {} beyond max_in_flight {max}", t.id),
        }
        let frames = t.frames();
        let id_frame = match m.plain() {
            true => {
                ensure!(
                    self,
                    frames == [Bytes::new(), req.payload.clone()],
                    "lockstep frames {frames:?} for payload {:?}",
                    req.payload
                );
                None
            }
            false => {
                let ok = matches!(frames, [id, delim, payload] if !id.is_empty() && delim.is_empty() && *payload == req.payload);
                ensure!(self, ok, "correlated frames {frames:?} for payload {:?}", req.payload);
                let frame = frames[0].clone();
                if let Some(previous) = &req.id_frame {
                    ensure!(self, *previous == frame, "{} changed its id frame", t.id);
                }
                let clash = m.reqs.values().find(|r| r.id != t.id && r.id_frame.as_ref() == Some(&frame));
                ensure!(self, clash.is_none(), "{} sent with the id frame of {:?}", t.id, clash.map(|r| r.id));
                Some(frame)
            }
        };
        let m = &mut self.model;
        let req = m.reqs.get_mut(&n).expect("checked above");
        req.attempts += 1;
        req.state = State::InFlight { deadline: now + req.opts.timeout, wait: req.wait_bounds() };
        req.id_frame = id_frame.or(req.id_frame.take());
        m.stats.transmitted += 1;
        if t.attempt > 1 {
            m.stats.retried += 1;
        }
        m.transmitted.push(t.id);
    }

    fn check_completion(&mut self, c: Completion, expect: &mut Expect) {
        let n = c.id.as_u64();
        if let Some(want) = expect.completions.remove(&n) {
            let same = match (&c.result, &want.result) {
                (Err(RequestError::MalformedReply { .. }), Err(RequestError::MalformedReply { .. })) => {
                    c.id == want.id && c.tag == want.tag && c.attempts == want.attempts
                }
                _ => c == want,
            };
            ensure!(self, same, "completion {c:?}, expected {want:?}");
            self.seen.completed(&c.result);
            if let Err(e) = &c.result {
                ensure!(self, !e.to_string().is_empty(), "empty error message");
            }
            return;
        }
        let now = self.now;
        let Some(req) = self.model.reqs.get(&n) else {
            panic!("completion for {} which was never accepted: {c:?}\n  at {}", c.id, self.context);
        };
        ensure!(self, req.unfinished(), "second completion for {}: {c:?}", c.id);
        // Only an expiry (in `poll_transmit`, or of a retry whose pause the model only
        // bounds) is not predicted exactly; its error still follows the connection.
        let expected = Err(self.model.expired(req.attempts));
        let expiry = c.result == expected && c.attempts == req.attempts && c.tag == req.tag;
        ensure!(self, expiry, "unexpected completion {c:?} in state {:?}", req.state);
        ensure!(self, req.may_have_expired(now), "{} expired early, in state {:?}", c.id, req.state);
        let req = self.model.reqs.get_mut(&n).expect("checked above");
        req.state = State::Done;
        self.model.stats.timed_out += 1;
        self.seen.completed(&c.result);
    }

    // ----- invariants -----

    /// `stopped`: the driver stopped draining transmissions (refused sends).
    fn check_invariants(&self, after_timeout: bool, stopped: bool) {
        let m = &self.model;
        let c = &self.client;
        let unfinished = m.count(|_| true);
        ensure!(self, c.pending() == unfinished, "pending() = {}, model has {unfinished} unfinished", c.pending());
        let stats = Stats::of(c.stats());
        ensure!(self, stats == m.stats, "stats {stats:?}\n  model {:?}", m.stats);
        let s = c.stats();
        let ended = s.replied + s.timed_out + s.cancelled + s.closed + s.failed;
        ensure!(self, s.submitted == ended + c.pending() as u64, "stats do not add up: {s:?}, pending {}", c.pending());
        ensure!(
            self,
            c.is_connected() == (m.link == Link::Open),
            "is_connected() {} with link {:?}",
            c.is_connected(),
            m.link
        );
        ensure!(
            self,
            c.is_closed() == (m.link == Link::Closed),
            "is_closed() {} with link {:?}",
            c.is_closed(),
            m.link
        );
        let state = match m.link {
            Link::Open => ConnectionState::Connected,
            Link::Closed => ConnectionState::Closed,
            Link::Opening | Link::Waiting { .. } if m.ever_open => ConnectionState::Reconnecting,
            Link::Opening | Link::Waiting { .. } => ConnectionState::Connecting,
        };
        let got = c.connection_state();
        ensure!(self, got == state, "connection_state() {got:?} with link {:?}, ever open {}", m.link, m.ever_open);

        // Shape of the unfinished set.
        let in_flight = m.in_flight();
        let ready = m.count(|r| matches!(r.state, State::Ready { .. }));
        let backing_off = m.count(|r| matches!(r.state, State::BackingOff { .. }));
        let queued = m.count(|r| r.state == State::Queued);
        ensure!(self, in_flight == 0 || m.link == Link::Open, "{in_flight} in flight with link {:?}", m.link);
        for r in m.unfinished() {
            ensure!(self, r.attempts <= r.opts.tries, "{} made {} of {} tries", r.id, r.attempts, r.opts.tries);
        }
        match m.max_in_flight {
            None => {
                ensure!(self, in_flight + ready + backing_off <= 1, "lockstep with several requests past the queue");
                if m.link == Link::Open && in_flight == 0 && !stopped {
                    ensure!(self, ready == 0, "a ready retry was not sent on an idle lockstep socket");
                    ensure!(
                        self,
                        backing_off > 0 || queued == 0,
                        "queued requests were not sent on an idle lockstep socket"
                    );
                }
            }
            Some(max) => {
                ensure!(self, in_flight <= max, "{in_flight} in flight, max {max}");
                if m.link == Link::Open && in_flight < max && !stopped {
                    ensure!(self, ready == 0 && queued == 0, "requests wait while a slot is free");
                }
            }
        }

        // Timers.
        let mut bounds: Vec<(Instant, Instant)> = m.unfinished().filter_map(Req::deadline_bounds).collect();
        if let Link::Waiting { since } = m.link {
            bounds.push((since, since + m.reconnect_max));
        }
        let timeout = c.poll_timeout().map(|t| t.at);
        match (timeout, bounds.iter().map(|b| b.0).min(), bounds.iter().map(|b| b.1).min()) {
            (None, None, _) => {}
            (Some(at), Some(lo), Some(hi)) => {
                ensure!(
                    self,
                    lo <= at && at <= hi,
                    "poll_timeout() at +{:?} outside the model's bounds [+{:?}, +{:?}]",
                    self.since(at),
                    self.since(lo),
                    self.since(hi)
                );
                ensure!(
                    self,
                    !after_timeout || at > self.now,
                    "poll_timeout() not after now after handle_timeout(now)"
                );
            }
            (at, _, _) => {
                ensure!(self, false, "poll_timeout() = {at:?} with {unfinished} unfinished and link {:?}", m.link)
            }
        }
    }

    /// `at` as time since the harness started, for failure messages.
    fn since(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }
}

/// The connect failure the harness reports (its content does not matter to the client).
fn connect_error() -> ConnectError {
    ConnectError::new(ConnectErrorKind::Refused, "fuzz")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lockstep or pipelined (2 in flight), 3 requests queued at most, 100 ms timeout,
    /// 2 tries, no backoff.
    fn scenario(pipelined: bool, ops: Vec<Op>) -> Scenario {
        let config = ConfigChoice {
            pipelined,
            max_in_flight: 1,
            max_queued: 2,
            max_message_size: 39,
            timeout: TimeoutChoice::Millis(99),
            tries: 1,
            backoff: BackoffChoice::Immediate,
            reconnect: ReconnectChoice { initial_ms: 9, spread: 0, jitter: JitterChoice::Half },
            seed: 7,
        };
        Scenario { config, ops }
    }

    fn submit() -> Op {
        let options = OptionsChoice { timeout: None, tries: None, backoff: None };
        Op::Submit { payload: PayloadChoice::Fixed(0), options }
    }

    #[test]
    fn silent_server_two_attempts_then_timed_out() {
        for pipelined in [false, true] {
            let ops = vec![submit(), Op::Connected, Op::Tick, Op::Connected, Op::Tick, Op::Tick];
            let seen = scenario(pipelined, ops).play();
            assert_eq!((seen.retries, seen.timed_out), (1, 1), "{seen:?}");
        }
    }

    #[test]
    fn a_refusing_socket_cannot_keep_a_request_past_its_queue_deadline() {
        let mut ops = vec![submit(), Op::Advance(Step::Millis(50)), Op::Refusing(true)];
        for _ in 0..4 {
            ops.extend([Op::Connected, Op::Advance(Step::Millis(10))]);
        }
        ops.push(Op::Tick);
        let seen = scenario(false, ops).play();
        assert_eq!(seen.expired_in_queue, 1, "{seen:?}");
        assert_eq!(seen.send_failures, 4, "{seen:?}");
    }

    #[test]
    fn identical_payloads_are_two_requests_and_replies_match_by_id() {
        let reply = |i| Op::Reply { target: Target::Transmitted(i), shape: ReplyShape::Echo, copies: 1 };
        let ops = vec![submit(), submit(), Op::Connected, reply(0), reply(1)];
        let seen = scenario(true, ops).play();
        // Each reply delivered twice: the second copy is stray.
        assert_eq!((seen.replied, seen.stray), (2, 2), "{seen:?}");
    }
}
