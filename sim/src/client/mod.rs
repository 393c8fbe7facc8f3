//! A deterministic, IO-free world for the request client.
//!
//! [`Sim`] drives a [`Client`] through the client's reference model
//! ([`model::client::Harness`](crate::model::client::Harness)): every input is
//! predicted, applied, drained in the documented order (`poll_action`, then
//! `poll_transmit`, then `poll_completion`) and checked against the model's rules, and
//! the sim carries the outputs out over a virtual clock, a seeded network and a scripted
//! [`Server`]. Time starts at [`origin`] and moves only by jumping to the next thing
//! that can happen: the client's `poll_timeout()` or the next network event.
//!
//! - **Connections**: each `Connect` action opens a new connection (a new *epoch*);
//!   messages in transit on the old one are dropped, as with a dropped socket. The
//!   [`Connector`] reports success or a scripted refusal, at once or after a latency.
//! - **Network** ([`Net`]): per-message latency, jitter, loss, and (pipelined only)
//!   duplicated replies, all drawn from the seed: one seed, one exact run.
//! - **Socket**: [`Sim::refuse_sends`] makes the socket refuse transmissions; the driver
//!   then reports `handle_send_refused`.
//! - **Checks** (every input): the model's (each request completes exactly once, as
//!   predicted; attempts, counters, timers, `pending()`, the connection), the socket's
//!   state against `connection_state()`; a run of more than `max_steps` steps is a
//!   livelock: panic.
//! - **Records**: every transmission (`sent`), what the server received (with request
//!   id and attempt), completions with their times, socket actions, peer losses and
//!   refused sends, so tests count real transmissions and check exact instants.

mod peer;

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{
    Client, ClientConfig, Completion, ConnectError, ConnectErrorKind, ConnectionState, Mode, RequestError, RequestId,
    RequestOptions, SocketAction, SubmitError,
};

pub use peer::{Behaviour, Received, Server};

use crate::model::client::{Harness, Output};
use crate::rng::SimRng;

/// One millisecond.
pub const MS: Duration = Duration::from_millis(1);

/// `n` milliseconds.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The instant every sim starts at, read once per test process.
pub fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    #[allow(clippy::disallowed_methods)] // the harness's one clock reading: its time origin
    *ORIGIN.get_or_init(Instant::now)
}

/// A lockstep config with test-sized defaults: 1 s per attempt, 3 tries, no backoff.
pub fn lockstep() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.mode = Mode::Lockstep;
    config.defaults.timeout = Duration::from_secs(1);
    config.defaults.tries = 3;
    config
}

/// A pipelined config with test-sized defaults: 1 s per attempt, 3 tries, no backoff.
pub fn pipelined(max_in_flight: usize) -> ClientConfig {
    let mut config = lockstep();
    config.mode = Mode::Pipelined { max_in_flight };
    config
}

/// One config per mode: lockstep, and pipelined with room for 8 in flight.
pub fn both_modes() -> [ClientConfig; 2] {
    [lockstep(), pipelined(8)]
}

/// Whether `config` is pipelined.
pub fn is_pipelined(config: &ClientConfig) -> bool {
    matches!(config.mode, Mode::Pipelined { .. })
}

/// Options with a timeout and a number of tries.
pub fn opts(timeout: Duration, tries: u32) -> RequestOptions {
    RequestOptions::default().timeout(timeout).tries(tries)
}

/// An id that a client which accepted at most `n` requests never handed out (ids are
/// not constructible from outside the crate, so take one from a scratch client).
/// The connect failure the simulated connector reports.
pub fn refused() -> ConnectError {
    ConnectError::new(ConnectErrorKind::Refused, "simulated")
}

/// An id this client never issued (from a client of its own).
pub fn foreign_id(n: u64) -> RequestId {
    let mut config = pipelined(1);
    config.max_queued = n as usize + 1;
    let mut scratch = Client::new(config).expect("valid config");
    let mut last = None;
    for _ in 0..=n {
        last = Some(scratch.submit(origin(), Bytes::new(), RequestOptions::default()).expect("accepted"));
    }
    last.expect("at least one")
}

/// The network between the client and the server.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    /// One-way delay of every message.
    pub latency: Duration,
    /// Extra one-way delay, uniform in `[0, jitter]`, drawn per message.
    pub jitter: Duration,
    /// Probability that a message (either way) is lost.
    pub loss: f64,
    /// Probability that a reply arrives twice (pipelined only: a lockstep socket never
    /// delivers a second reply to one request).
    pub duplicate: f64,
}

impl Default for Net {
    fn default() -> Self {
        Self { latency: MS, jitter: Duration::ZERO, loss: 0.0, duplicate: 0.0 }
    }
}

/// How the driver's connection attempts turn out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Connector {
    /// Time from a `Connect` action to its outcome; zero reports it at once.
    pub latency: Duration,
    /// Refuse this many of the next connection attempts.
    pub refusals: u32,
}

/// The driver-side socket, as the sim tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketState {
    /// No socket (before the first connect, or after a refused one).
    Down,
    /// A connect was asked for and is in progress.
    Opening,
    /// Connected.
    Open,
    /// Closed for good.
    Closed,
}

/// One transmission the client handed to the socket.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Position in the sim's combined order of transmissions and completions.
    pub seq: u64,
    /// When it was handed to the socket.
    pub at: Instant,
    /// The connection it went out on.
    pub epoch: u64,
    /// The request.
    pub id: RequestId,
    /// Its attempt number.
    pub attempt: u32,
    /// The frames as sent.
    pub frames: Vec<Bytes>,
}

/// One completion, with the time it was drained.
#[derive(Debug, Clone)]
pub struct Done {
    /// Position in the sim's combined order of transmissions and completions.
    pub seq: u64,
    /// When it was drained.
    pub at: Instant,
    /// The completion.
    pub completion: Completion,
}

#[derive(Debug)]
enum Event {
    ToServer { epoch: u64, id: RequestId, attempt: u32, frames: Vec<Bytes> },
    ToClient { epoch: u64, frames: Vec<Bytes> },
    ConnectOutcome { epoch: u64, ok: bool },
}

/// The client (beside its model), the clock, the network and the server. See the
/// [module docs](self).
pub struct Sim {
    /// The scripted peer.
    pub server: Server,
    /// The network between them.
    pub net: Net,
    /// How connects turn out.
    pub connector: Connector,
    /// Steps allowed before the run is declared a livelock.
    pub max_steps: u64,
    harness: Harness,
    rng: SimRng,
    epoch: u64,
    socket: SocketState,
    events: BTreeMap<(Instant, u64), Event>,
    next_event: u64,
    sent: Vec<Sent>,
    completions: Vec<Done>,
    /// Positions in `completions` and in `sent`, by request.
    done_at: HashMap<RequestId, usize>,
    sent_at: HashMap<RequestId, Vec<usize>>,
    actions: Vec<(Instant, SocketAction)>,
    dropped: u64,
    steps: u64,
    seq: u64,
    /// (seq, time) of each peer loss reported while connected.
    losses: Vec<(u64, Instant)>,
    /// (time, id, attempt) of each transmission the socket refused.
    refused: Vec<(Instant, RequestId, u32)>,
    ever_open: bool,
}

impl Sim {
    /// A sim around a client with `config`; `seed` drives the network and the server.
    /// The client's first `Connect` is carried out at once.
    pub fn new(config: ClientConfig, seed: u64) -> Self {
        Self::with_connector(config, seed, Connector::default())
    }

    /// [`new`](Self::new), with the connector in place before the first `Connect`.
    pub fn with_connector(config: ClientConfig, seed: u64, connector: Connector) -> Self {
        let pipelined = matches!(config.mode, Mode::Pipelined { .. });
        let mut sim = Self {
            server: Server::new(pipelined, seed),
            net: Net::default(),
            connector,
            max_steps: 100_000,
            harness: Harness::from_config(config),
            rng: SimRng::new(seed),
            epoch: 0,
            socket: SocketState::Down,
            events: BTreeMap::new(),
            next_event: 0,
            sent: Vec::new(),
            completions: Vec::new(),
            done_at: HashMap::new(),
            sent_at: HashMap::new(),
            actions: Vec::new(),
            dropped: 0,
            steps: 0,
            seq: 0,
            losses: Vec::new(),
            refused: Vec::new(),
            ever_open: false,
        };
        sim.carry_out();
        sim
    }

    /// The client under test. Inputs go through the sim, which tells the model.
    pub fn client(&self) -> &Client {
        self.harness.client()
    }

    /// The client itself, for inputs neither the sim nor the model sees. Only for inputs
    /// that must change nothing (the caller checks that; [`settle`](Self::settle) then
    /// checks the model's rules).
    pub fn client_unchecked(&mut self) -> &mut Client {
        self.harness.client_unchecked()
    }

    // ----- the clock -----

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.harness.now()
    }

    /// Time since the sim started.
    pub fn elapsed(&self) -> Duration {
        self.now() - origin()
    }

    /// When the next thing happens: the client's timer or a network event.
    pub fn next_wake(&self) -> Option<Instant> {
        let event = self.events.first_key_value().map(|((at, _), _)| *at);
        match (self.client().poll_timeout().map(|t| t.at), event) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Jumps to the next wake-up and handles it. False if nothing will ever happen.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_wake() else { return false };
        self.steps += 1;
        assert!(self.steps <= self.max_steps, "livelock: {} steps, now +{:?}", self.steps, self.elapsed());
        self.harness.set_now(self.now().max(at));
        let event_due = self.events.first_key_value().is_some_and(|((at, _), _)| *at <= self.now());
        if event_due {
            let (_, event) = self.events.pop_first().expect("an event is due");
            self.handle_event(event);
        } else {
            self.harness.set_context("sim: the client's timer");
            self.harness.handle_timeout();
            self.carry_out();
        }
        true
    }

    /// Handles everything that happens up to and including `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Instant) {
        while self.next_wake().is_some_and(|wake| wake <= t) {
            self.step();
        }
        self.harness.set_now(self.now().max(t));
    }

    /// [`run_until`](Self::run_until) `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now() + d);
    }

    /// Runs until nothing more can happen.
    pub fn run_until_idle(&mut self) {
        while self.step() {}
    }

    /// Runs until `id` has completed; panics if the sim goes idle first.
    pub fn run_until_done(&mut self, id: RequestId) -> Completion {
        while self.completion(id).is_none() {
            assert!(self.step(), "{id} never completed");
        }
        self.completion(id).expect("just checked").clone()
    }

    // ----- inputs -----

    /// Submits `payload` now.
    pub fn submit(&mut self, payload: impl Into<Bytes>, options: RequestOptions) -> Result<RequestId, SubmitError> {
        self.harness.set_context("sim: submit");
        let result = self.harness.submit(payload.into(), options);
        self.carry_out();
        result
    }

    /// Submits `payload`, telling the client the time is `at`, at or before now (like a
    /// driver whose clock stepped back): its deadline counts from the latest time the
    /// client has seen.
    pub fn submit_at(
        &mut self,
        at: Instant,
        payload: impl Into<Bytes>,
        options: RequestOptions,
    ) -> Result<RequestId, SubmitError> {
        self.harness.set_context("sim: submit with a stale clock");
        let result = self.harness.with_reading(at, |h| h.submit(payload.into(), options));
        self.carry_out();
        result
    }

    /// Submits `payload` with the client's defaults; panics if refused.
    pub fn request(&mut self, payload: &'static str) -> RequestId {
        self.submit(payload, RequestOptions::default()).expect("request accepted")
    }

    /// Cancels `id` (the model checks it succeeds exactly for unfinished requests, which
    /// complete `Cancelled` at once). A refused cancel must change nothing at all.
    pub fn cancel(&mut self, id: RequestId) -> bool {
        self.harness.set_context("sim: cancel");
        let stats = *self.client().stats();
        let cancelled = self.harness.cancel(id);
        if !cancelled {
            assert_eq!(*self.client().stats(), stats, "a refused cancel changed the counters");
            let outputs = self.harness.take_outputs();
            assert!(outputs.is_empty(), "a refused cancel had outputs: {outputs:?}");
        }
        self.carry_out();
        cancelled
    }

    /// Closes the client: every unfinished request completes with `Closed`, in
    /// submission order, and the socket is dropped.
    pub fn close(&mut self) {
        self.harness.set_context("sim: close");
        self.harness.close();
        self.carry_out();
        assert_eq!(self.socket, SocketState::Closed);
    }

    /// The driver reports the connection lost.
    pub fn lose_peer(&mut self) {
        self.note_peer_loss();
        self.harness.set_context("sim: peer lost");
        self.harness.peer_lost();
        self.carry_out();
    }

    /// Records a peer loss the client is about to be told of.
    fn note_peer_loss(&mut self) {
        if self.socket == SocketState::Open {
            self.seq += 1;
            self.losses.push((self.seq, self.now()));
        }
    }

    /// Hands `frames` to the client as if read from the socket now, whatever the socket
    /// state (a driver that reads from a socket it should have dropped).
    pub fn deliver(&mut self, frames: &[Bytes]) {
        self.harness.set_context("sim: a delivered reply");
        self.harness.reply(frames);
        self.carry_out();
    }

    /// [`deliver`](Self::deliver), telling the client the time is `at`, at or before now.
    pub fn deliver_at(&mut self, at: Instant, frames: &[Bytes]) {
        self.harness.set_context("sim: a delivered reply with a stale clock");
        self.harness.with_reading(at, |h| h.reply(frames));
        self.carry_out();
    }

    /// `handle_timeout`, telling the client the time is `at`: moves the clock on to `at`
    /// if it is later (handling whatever happens before), or passes an earlier reading.
    pub fn handle_timeout_at(&mut self, at: Instant) {
        self.run_until(at);
        self.harness.set_context("sim: handle_timeout");
        self.harness.with_reading(at, Harness::handle_timeout);
        self.carry_out();
    }

    /// The socket refuses the next `n` transmissions (on top of any still to come); for
    /// each, the driver reports `handle_send_refused`.
    pub fn refuse_sends(&mut self, n: u32) {
        self.harness.refuse_sends(n);
    }

    /// Transmissions the socket will still refuse.
    pub fn sends_to_refuse(&self) -> u32 {
        self.harness.sends_to_refuse()
    }

    /// The socket refuses exactly the next `n` transmissions.
    pub fn set_sends_to_refuse(&mut self, n: u32) {
        self.harness.set_sends_to_refuse(n);
    }

    // ----- what happened -----

    /// The completion of `id`, if it has completed.
    pub fn completion(&self, id: RequestId) -> Option<&Completion> {
        self.done(id).map(|d| &d.completion)
    }

    /// The completion of `id` with the time it was drained.
    pub fn done(&self, id: RequestId) -> Option<&Done> {
        self.done_at.get(&id).map(|i| &self.completions[*i])
    }

    /// The result of `id`; panics if it has not completed.
    pub fn result(&self, id: RequestId) -> &Result<Bytes, RequestError> {
        &self.completion(id).unwrap_or_else(|| panic!("{id} has not completed")).result
    }

    /// Every completion, in the order drained.
    pub fn completions(&self) -> &[Done] {
        &self.completions
    }

    /// Every transmission the client handed to the socket, in order.
    pub fn sent(&self) -> &[Sent] {
        &self.sent
    }

    /// Every transmission of `id`, in order.
    pub fn sent_for(&self, id: RequestId) -> Vec<&Sent> {
        self.sent_at.get(&id).map_or(Vec::new(), |at| at.iter().map(|i| &self.sent[*i]).collect())
    }

    /// Every socket action, with its time.
    pub fn actions(&self) -> &[(Instant, SocketAction)] {
        &self.actions
    }

    /// The current connection's number; each `Connect` starts a new one.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The socket, as the sim drives it.
    pub fn socket(&self) -> SocketState {
        self.socket
    }

    /// The position of the latest transmission or completion (see [`Sent::seq`]).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// (seq, time) of each peer loss reported while a connection was open, whether by
    /// [`lose_peer`](Self::lose_peer) or after a refused send.
    pub fn peer_losses(&self) -> &[(u64, Instant)] {
        &self.losses
    }

    /// (time, id, attempt) of each transmission the socket refused.
    pub fn refused(&self) -> &[(Instant, RequestId, u32)] {
        &self.refused
    }

    /// Messages lost by the network or dropped with their connection.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Messages in transit either way.
    pub fn in_transit(&self) -> usize {
        self.events.values().filter(|e| !matches!(e, Event::ConnectOutcome { .. })).count()
    }

    // ----- the driver -----

    /// Drains and checks the client after inputs given to
    /// [`client_unchecked`](Self::client_unchecked) (the model expects nothing), and
    /// carries out what it drained.
    pub fn settle(&mut self) {
        self.harness.set_context("sim: settle after unchecked inputs");
        self.harness.settle_unexpected();
        self.carry_out();
    }

    /// Carries out what the harness drained, in order: socket actions, transmissions
    /// onto the network, refused sends and completions recorded. A connect that
    /// succeeds or fails at once is reported after the rest, then its outputs carried out.
    fn carry_out(&mut self) {
        loop {
            let mut outcome_now = None;
            for output in self.harness.take_outputs() {
                match output {
                    Output::Action(action) => outcome_now = self.act(action).or(outcome_now),
                    Output::Transmit { id, attempt, frames } => self.transmit(id, attempt, frames),
                    Output::Refused { id, attempt } => {
                        self.note_peer_loss();
                        self.refused.push((self.now(), id, attempt));
                    }
                    Output::Completion(completion) => {
                        self.seq += 1;
                        self.done_at.insert(completion.id, self.completions.len());
                        self.completions.push(Done { seq: self.seq, at: self.now(), completion });
                    }
                }
            }
            match outcome_now {
                Some(ok) => self.connect_outcome(ok),
                None => break,
            }
        }
        self.check_connection_state();
    }

    /// Carries out a socket action; a connect whose outcome is due at once returns it.
    fn act(&mut self, action: SocketAction) -> Option<bool> {
        self.actions.push((self.now(), action));
        self.epoch += 1;
        match action {
            SocketAction::Connect { .. } => {
                self.socket = SocketState::Opening;
                let ok = match self.connector.refusals {
                    0 => true,
                    _ => {
                        self.connector.refusals -= 1;
                        false
                    }
                };
                if self.connector.latency.is_zero() {
                    return Some(ok);
                }
                let epoch = self.epoch;
                self.schedule(self.now() + self.connector.latency, Event::ConnectOutcome { epoch, ok });
            }
            SocketAction::Close => self.socket = SocketState::Closed,
            other => panic!("unknown socket action {other:?}"),
        }
        None
    }

    fn transmit(&mut self, id: RequestId, attempt: u32, frames: Vec<Bytes>) {
        assert_eq!(self.socket, SocketState::Open, "{id} released while the socket is not open");
        self.seq += 1;
        let sent = Sent { seq: self.seq, at: self.now(), epoch: self.epoch, id, attempt, frames };
        if self.rng.chance(self.net.loss) {
            self.dropped += 1;
        } else {
            let at = self.now() + self.one_way();
            let event = Event::ToServer { epoch: sent.epoch, id, attempt, frames: sent.frames.clone() };
            self.schedule(at, event);
        }
        self.sent_at.entry(id).or_default().push(self.sent.len());
        self.sent.push(sent);
    }

    fn check_connection_state(&mut self) {
        let client = self.harness.client();
        assert_eq!(client.is_connected(), self.socket == SocketState::Open, "is_connected()");
        let expected = match self.socket {
            SocketState::Open => ConnectionState::Connected,
            SocketState::Closed => ConnectionState::Closed,
            _ if self.ever_open => ConnectionState::Reconnecting,
            _ => ConnectionState::Connecting,
        };
        assert_eq!(client.connection_state(), expected, "connection_state() with the socket {:?}", self.socket);
    }

    /// Reports the current connect's outcome to the client.
    fn connect_outcome(&mut self, ok: bool) {
        if ok {
            self.socket = SocketState::Open;
            self.ever_open = true;
            self.harness.set_context("sim: connected");
            self.harness.connected();
        } else {
            self.socket = SocketState::Down;
            self.harness.set_context("sim: connect refused");
            self.harness.connect_failed();
        }
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::ToServer { epoch, id, attempt, frames } => {
                if epoch != self.epoch {
                    self.dropped += 1;
                    return;
                }
                let now = self.now();
                let Some((delay, reply)) = self.server.receive(now, epoch, id, attempt, &frames) else { return };
                let copies = if self.server_pipelined() && self.rng.chance(self.net.duplicate) { 2 } else { 1 };
                for _ in 0..copies {
                    if self.rng.chance(self.net.loss) {
                        self.dropped += 1;
                        continue;
                    }
                    let at = now + delay + self.one_way();
                    self.schedule(at, Event::ToClient { epoch, frames: reply.clone() });
                }
                return;
            }
            Event::ToClient { epoch, frames } => {
                if epoch != self.epoch || self.socket != SocketState::Open {
                    self.dropped += 1;
                    return;
                }
                self.harness.set_context("sim: a reply arrived");
                self.harness.reply(&frames);
            }
            Event::ConnectOutcome { epoch, ok } => {
                if epoch == self.epoch && self.socket == SocketState::Opening {
                    self.connect_outcome(ok);
                }
            }
        }
        self.carry_out();
    }

    fn server_pipelined(&self) -> bool {
        matches!(self.client().config().mode, Mode::Pipelined { .. })
    }

    fn one_way(&mut self) -> Duration {
        self.net.latency + self.rng.upto(self.net.jitter)
    }

    fn schedule(&mut self, at: Instant, event: Event) {
        self.events.insert((at, self.next_event), event);
        self.next_event += 1;
    }
}
