//! The harness: the client under test beside its model, and the inputs it applies
//! (predict, call, drain, check).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqchan_core::client::{
    Client, ClientConfig, ClientStats, ConnectError, ConnectErrorKind, ConnectReason, ExponentialBackoff,
    LockstepFraming, Mode, RequestId, SocketAction,
};

use super::coverage::Seen;
use super::model::*;
use super::ops::*;
use crate::model::support::{self as clock};

/// The client under test, its model, and the clock.
pub(super) struct Harness {
    pub(super) client: Client,
    pub(super) model: Model,
    pub(super) now: Instant,
    pub(super) start: Instant,
    /// Hands out ids this client never did (see [`Harness::unknown_id`]).
    pub(super) foreign: Client,
    pub(super) minted: Vec<RequestId>,
    /// The operation being applied, for failure messages.
    pub(super) context: String,
    /// The socket refuses every send.
    pub(super) refusing: bool,
    pub(super) seen: Seen,
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
        let start = crate::client::origin();
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
    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub(super) fn apply(&mut self, op: Op) {
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

    pub(super) fn snapshot(&self) -> (ClientStats, usize, Option<Instant>, bool) {
        (
            *self.client.stats(),
            self.client.pending(),
            self.client.poll_timeout().map(|t| t.at),
            self.client.is_connected(),
        )
    }
}

/// The connect failure the harness reports (its content does not matter to the client).
pub(super) fn connect_error() -> ConnectError {
    ConnectError::new(ConnectErrorKind::Refused, "fuzz")
}
