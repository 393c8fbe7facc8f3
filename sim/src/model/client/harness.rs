//! The harness: the client under test beside its model, and the inputs it applies
//! (predict, call, drain, check).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{
    Backoff, Client, ClientConfig, ClientStats, Completion, ConnectError, ConnectReason, ExponentialBackoff,
    LockstepFraming, Mode, RequestId, SocketAction,
};

use super::coverage::Seen;
use super::model::*;
use super::ops::*;
use crate::model::support::{self as clock};

/// A request client beside its reference model: each input is predicted by the model,
/// applied to the client, drained like a driver drains it (`poll_action`, then
/// `poll_transmit`, then `poll_completion`) and every output and invariant checked (see
/// the [module docs](super)); a violation panics with the input at fault.
///
/// The fuzz target applies its decoded operations to it; [`Sim`](crate::Sim) drives it
/// from its network, keeping the drained [`Output`]s to carry out.
pub struct Harness {
    pub(super) client: Client,
    pub(super) model: Model,
    pub(super) now: Instant,
    pub(super) start: Instant,
    /// The latest instant the client was given.
    pub(super) observed: Instant,
    /// What the driver's clock read for the current input, when it lags `now`.
    pub(super) reading: Option<Instant>,
    /// Hands out ids this client never did (see [`Harness::unknown_id`]).
    pub(super) foreign: Client,
    pub(super) minted: Vec<RequestId>,
    /// The operation being applied, for failure messages.
    pub(super) context: String,
    /// The socket refuses this many of the next sends.
    pub(super) refuse_sends: u32,
    pub(super) seen: Seen,
    /// Drained since the last [`Harness::take_outputs`], in order.
    pub(super) outputs: Vec<Output>,
}

/// One output of the client, in the order a driver drains them.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A socket action to carry out.
    Action(SocketAction),
    /// A transmission the socket accepted.
    Transmit {
        /// The request.
        id: RequestId,
        /// Its attempt number.
        attempt: u32,
        /// The frames to send.
        frames: Vec<Bytes>,
    },
    /// A transmission the socket refused (the client was told, and lost its peer).
    Refused {
        /// The request.
        id: RequestId,
        /// The attempt that was not made.
        attempt: u32,
    },
    /// A request completed.
    Completion(Completion),
}

/// The longest pause of a retry policy; `None` for an immediate retry.
pub(super) fn longest_pause(backoff: &Backoff) -> Option<Duration> {
    match backoff {
        Backoff::Exponential(policy) => Some(policy.max()),
        _ => None,
    }
}

impl Harness {
    pub(super) fn new(choice: ConfigChoice) -> Option<Self> {
        let zero_if_max = |b: u8, modulus: u8| if b == u8::MAX { 0 } else { 1 + usize::from(b % modulus) };
        let mut config = ClientConfig::default();
        let max_in_flight = choice.pipelined.then(|| zero_if_max(choice.max_in_flight, 4));
        config.mode = match max_in_flight {
            Some(max_in_flight) => Mode::Pipelined { max_in_flight },
            None => Mode::Lockstep,
        };
        config.max_queued = zero_if_max(choice.max_queued, 6);
        config.max_message_size = zero_if_max(choice.max_message_size, 40);
        config.defaults.timeout = choice.timeout.duration();
        config.defaults.tries = 1 + u32::from(choice.tries % 4);
        config.defaults.backoff = choice.backoff.build().0;
        let initial = Duration::from_millis(1 + u64::from(choice.reconnect.initial_ms % 50));
        let reconnect_max = initial * (1 + u32::from(choice.reconnect.spread % 8));
        config.reconnect = ExponentialBackoff::new(initial, reconnect_max)
            .and_then(|b| b.with_jitter(choice.reconnect.jitter.value()))
            .expect("a valid reconnect policy was refused");
        config.seed = choice.seed;
        // Both lockstep framings, chosen by the seed's low bit (not a field of its own,
        // so the committed corpus keeps its meaning).
        if choice.seed & 1 == 1 {
            config.lockstep_framing = LockstepFraming::Plain;
        }

        let invalid = max_in_flight == Some(0) || config.max_queued == 0 || config.max_message_size == 0;
        if let Err(e) = Client::new(config.clone()) {
            assert!(invalid, "a valid config was refused: {e}: {config:?}");
            assert!(!e.to_string().is_empty());
            return None;
        }
        assert!(!invalid, "an invalid config was accepted: {config:?}");
        Some(Self::from_config(config))
    }

    /// A client with `config` (valid, and not detecting refusals: the model does not
    /// cover them) beside its model, its initial `Connect` drained (see
    /// [`take_outputs`](Self::take_outputs)). Time starts at [`origin`](crate::origin).
    pub fn from_config(config: ClientConfig) -> Self {
        let client = Client::new(config.clone()).expect("the harness's config is valid");
        assert!(!config.defaults.detect_refusals, "the model does not cover refusal detection");
        let max_in_flight = match config.mode {
            Mode::Pipelined { max_in_flight } => Some(max_in_flight),
            _ => None,
        };
        let defaults = Resolved {
            timeout: config.defaults.timeout,
            tries: config.defaults.tries,
            backoff_max: longest_pause(&config.defaults.backoff),
        };
        let model = Model {
            max_in_flight,
            max_queued: config.max_queued,
            max_message_size: config.max_message_size,
            defaults,
            reconnect_max: config.reconnect.max(),
            reqs: BTreeMap::new(),
            finished: BTreeMap::new(),
            id_frames: HashMap::new(),
            transmitted: Vec::new(),
            link: Link::Opening,
            ever_open: false,
            plain_lockstep: config.lockstep_framing == LockstepFraming::Plain,
            connect_error: None,
            stats: Stats::default(),
        };
        let start = crate::client::origin();
        let mut harness = Self {
            client,
            model,
            now: start,
            start,
            observed: start,
            reading: None,
            foreign: Client::new(ClientConfig::default()).expect("the default config is valid"),
            minted: Vec::new(),
            context: "Client::new".to_owned(),
            refuse_sends: 0,
            seen: Seen::default(),
            outputs: Vec::new(),
        };
        let expect =
            Expect { action: Some(SocketAction::Connect { reason: ConnectReason::Initial }), ..Expect::default() };
        harness.settle(expect, false);
        harness
    }

    // ----- for drivers of the harness -----

    /// The client under test (to read; inputs go through the harness).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client itself, for inputs the model is not told of. Only for inputs that
    /// must change nothing: anything they change leaves the model behind, and the next
    /// check ([`settle`](Self::settle_unexpected)) fails.
    pub fn client_unchecked(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The model's time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves the time on to `now` (never back).
    pub fn set_now(&mut self, now: Instant) {
        assert!(now >= self.now, "the harness's clock runs backwards");
        self.now = now;
    }

    /// Runs `f` with the driver's clock reading `reading`, behind the model's time: every
    /// input in `f` passes `reading` to the client, and the model expects the client to
    /// use the latest instant it was given instead.
    pub fn with_reading<R>(&mut self, reading: Instant, f: impl FnOnce(&mut Self) -> R) -> R {
        assert!(reading <= self.now, "a clock reading ahead of the model's time");
        let now = self.now;
        self.now = self.observed.max(reading);
        self.reading = Some(reading);
        let result = f(self);
        self.reading = None;
        self.now = now;
        result
    }

    /// The socket refuses the next `n` sends (on top of any still to come).
    pub fn refuse_sends(&mut self, n: u32) {
        self.refuse_sends = self.refuse_sends.saturating_add(n);
    }

    /// The socket refuses exactly the next `n` sends.
    pub fn set_sends_to_refuse(&mut self, n: u32) {
        self.refuse_sends = n;
    }

    /// Sends still to be refused.
    pub fn sends_to_refuse(&self) -> u32 {
        self.refuse_sends
    }

    /// Names the input about to be applied, for failure messages.
    pub fn set_context(&mut self, context: impl Into<String>) {
        self.context = context.into();
    }

    /// Everything drained since the last call, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// Drains and checks after inputs given to [`client_unchecked`](Self::client_unchecked):
    /// the model expects nothing.
    pub fn settle_unexpected(&mut self) {
        self.settle(Expect::default(), false);
    }

    /// The instant the current input passes to the client.
    pub(super) fn reading(&self) -> Instant {
        self.reading.unwrap_or(self.now)
    }

    /// Time since the harness started, for failure messages.
    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub(super) fn apply(&mut self, op: Op) {
        match op {
            Op::Submit { payload, options } => self.submit_choice(payload.bytes(), options),
            Op::Cancel(target) => self.cancel_target(target),
            Op::Close => self.close(),
            Op::Connected => self.connected(),
            Op::ConnectFailed => self.connect_failed(),
            Op::PeerLost => self.peer_lost(),
            Op::SendFailed(target) => self.send_failed(target),
            Op::Refusing(on) => self.refuse_sends = if on { u32::MAX } else { 0 },
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
        // Nobody carries the outputs out: the fuzz target only checks them.
        self.outputs.clear();
    }

    pub(super) fn snapshot(&self) -> (ClientStats, usize, Option<Instant>, bool) {
        (
            *self.client.stats(),
            self.client.pending(),
            self.client.poll_timeout().map(|t| t.at),
            self.client.is_connected(),
        )
    }
}

/// The connect failure the harness reports: the sim's (its content does not matter to
/// the client, only that it comes back as the cause).
pub(super) fn connect_error() -> ConnectError {
    crate::client::refused()
}
