//! A deterministic, IO-free world for the request client.
//!
//! [`Sim`] owns a [`Client`], a virtual clock, a seeded network and a scripted
//! [`Server`], and plays the driver exactly as the client's docs say: after every input
//! it drains `poll_action` (carrying each out), then `poll_transmit`, then
//! `poll_completion`. Time starts at [`origin`] and moves only by jumping to the next
//! thing that can happen: the client's `poll_timeout()` or the next network event.
//!
//! - **Connections**: each `Connect` action opens a new connection (a new *epoch*);
//!   messages in transit on the old one are dropped, as with a dropped socket. The
//!   [`Connector`] reports success or a scripted refusal, at once or after a latency.
//! - **Network** ([`Net`]): per-message latency, jitter, loss, and (pipelined only)
//!   duplicated replies, all drawn from the seed: one seed, one exact run.
//! - **Socket**: `refuse_sends` makes the socket refuse transmissions; the sim then
//!   reports `handle_send_refused`, as a driver would.
//! - **Checks** (every step): the [`Ledger`] rules, `pending()` and the counters, the
//!   socket state and `connection_state()`, and that `handle_timeout(now)` leaves
//!   nothing due at `now`. A run of more than `max_steps` steps is a livelock: panic.
//! - **Records**: every transmission (`sent`), what the server received (with request
//!   id and attempt), completions with their times, socket actions, peer losses and
//!   refused sends, so tests count real transmissions and check exact instants.

mod ledger;
mod peer;

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{
    Client, ClientConfig, Completion, ConnectError, ConnectErrorKind, ConnectionState, Mode, RequestError, RequestId,
    RequestOptions, SocketAction, SubmitError,
};

pub use ledger::{Entry, Ledger};
pub use peer::{Behaviour, Received, Server};

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

/// The client, the clock, the network and the server. See the [module docs](self).
pub struct Sim {
    /// The client under test.
    pub client: Client,
    /// The scripted peer.
    pub server: Server,
    /// The network between them.
    pub net: Net,
    /// How connects turn out.
    pub connector: Connector,
    /// Steps allowed before the run is declared a livelock.
    pub max_steps: u64,
    /// The socket refuses this many of the next transmissions; for each, the driver
    /// reports `handle_send_refused`.
    pub refuse_sends: u32,
    now: Instant,
    rng: SimRng,
    epoch: u64,
    socket: SocketState,
    events: BTreeMap<(Instant, u64), Event>,
    next_event: u64,
    ledger: Ledger,
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
        let client = Client::new(config).expect("the test config is valid");
        let mut sim = Self {
            client,
            server: Server::new(pipelined, seed),
            net: Net::default(),
            connector,
            max_steps: 100_000,
            refuse_sends: 0,
            now: origin(),
            rng: SimRng::new(seed),
            epoch: 0,
            socket: SocketState::Down,
            events: BTreeMap::new(),
            next_event: 0,
            ledger: Ledger::default(),
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
        sim.drain();
        sim
    }

    // ----- the clock -----

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Time since the sim started.
    pub fn elapsed(&self) -> Duration {
        self.now - origin()
    }

    /// When the next thing happens: the client's timer or a network event.
    pub fn next_wake(&self) -> Option<Instant> {
        let event = self.events.first_key_value().map(|((at, _), _)| *at);
        match (self.client.poll_timeout().map(|t| t.at), event) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Jumps to the next wake-up and handles it. False if nothing will ever happen.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_wake() else { return false };
        self.steps += 1;
        assert!(self.steps <= self.max_steps, "livelock: {} steps, now +{:?}", self.steps, self.elapsed());
        self.now = self.now.max(at);
        let event_due = self.events.first_key_value().is_some_and(|((at, _), _)| *at <= self.now);
        if event_due {
            let (_, event) = self.events.pop_first().expect("an event is due");
            self.handle_event(event);
        } else {
            self.client.handle_timeout(self.now);
            self.drain();
            if let Some(next) = self.client.poll_timeout().map(|t| t.at) {
                assert!(next > self.now, "handle_timeout(+{:?}) left a deadline due at {next:?}", self.elapsed());
            }
        }
        true
    }

    /// Handles everything that happens up to and including `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Instant) {
        while self.next_wake().is_some_and(|wake| wake <= t) {
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// [`run_until`](Self::run_until) `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
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

    /// Submits `payload` at `now`.
    pub fn submit(&mut self, payload: impl Into<Bytes>, options: RequestOptions) -> Result<RequestId, SubmitError> {
        self.submit_at(self.now, payload, options)
    }

    /// Submits `payload`, telling the client the time is `at` (which may lie in the
    /// past, like a driver whose clock stepped back).
    pub fn submit_at(
        &mut self,
        at: Instant,
        payload: impl Into<Bytes>,
        options: RequestOptions,
    ) -> Result<RequestId, SubmitError> {
        let payload = payload.into();
        let defaults = self.client.config().defaults;
        let result = self.client.submit(at, payload, options);
        match &result {
            Ok(id) => self.ledger.accept(
                *id,
                Entry {
                    submitted_at: self.now,
                    timeout: options.timeout.unwrap_or(defaults.timeout),
                    tries: options.tries.unwrap_or(defaults.tries),
                    sent: 0,
                    sent_at: Vec::new(),
                    done: false,
                },
            ),
            Err(error) => {
                if self.ledger.closed {
                    assert_eq!(*error, SubmitError::Closed, "submit after close");
                }
            }
        }
        self.drain();
        result
    }

    /// Submits `payload` with the client's defaults; panics if refused.
    pub fn request(&mut self, payload: &'static str) -> RequestId {
        self.submit(payload, RequestOptions::default()).expect("request accepted")
    }

    /// Cancels `id`. Checks that it returns true exactly for unfinished requests, and
    /// that a refused cancel changes nothing.
    pub fn cancel(&mut self, id: RequestId) -> bool {
        let open = self.ledger.is_open(id);
        let stats = *self.client.stats();
        let cancelled = self.client.cancel(self.now, id);
        assert_eq!(cancelled, open, "cancel({id}) must succeed exactly for unfinished requests");
        if !cancelled {
            assert_eq!(*self.client.stats(), stats, "a refused cancel changed the counters");
            assert_eq!(self.client.poll_action(), None, "a refused cancel asked for a socket action");
            assert!(self.client.poll_transmit(self.now).is_none(), "a refused cancel released a transmission");
            assert_eq!(self.client.poll_completion(), None, "a refused cancel completed something");
        }
        self.drain();
        if cancelled {
            let done = self.completion(id).expect("a cancelled request completes at once");
            assert_eq!(done.result, Err(RequestError::Cancelled));
        }
        cancelled
    }

    /// Closes the client. Checks that every unfinished request completes with `Closed`,
    /// in submission order, and that the socket is dropped.
    pub fn close(&mut self) {
        let open = self.ledger.open_ids();
        let before = self.completions.len();
        let already = self.ledger.closed;
        self.client.close(self.now);
        self.ledger.closed = true;
        self.drain();
        let closed: Vec<_> = self.completions[before..].iter().map(|d| d.completion.id).collect();
        assert_eq!(closed, open, "close completes every pending request, in submission order");
        assert!(self.completions[before..].iter().all(|d| d.completion.result == Err(RequestError::Closed)));
        if !already {
            assert_eq!(self.actions.last().map(|a| a.1), Some(SocketAction::Close), "close drops the socket");
        }
        assert_eq!(self.socket, SocketState::Closed);
    }

    /// The driver reports the connection lost.
    pub fn lose_peer(&mut self) {
        self.report_peer_lost();
        self.drain();
    }

    fn report_peer_lost(&mut self) {
        self.note_peer_loss();
        self.client.handle_peer_lost(self.now);
    }

    /// Records a peer loss the client is about to be told of.
    fn note_peer_loss(&mut self) {
        if self.client.is_connected() {
            self.seq += 1;
            self.losses.push((self.seq, self.now));
        }
    }

    /// Hands `frames` to the client as if read from the socket now, whatever the socket
    /// state (a driver that reads from a socket it should have dropped).
    pub fn deliver(&mut self, frames: &[Bytes]) {
        self.client.handle_reply(self.now, frames);
        self.drain();
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

    /// The rules checked so far, and what they observed.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
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

    /// Drains the client's outputs in the documented order, carrying each out, then
    /// checks the ledger. Call after feeding `sim.client` directly.
    pub fn settle(&mut self) {
        self.drain();
    }

    fn drain(&mut self) {
        while self.drain_once() {}
        while let Some(completion) = self.client.poll_completion() {
            self.ledger.complete(self.now, &completion);
            self.seq += 1;
            self.done_at.insert(completion.id, self.completions.len());
            self.completions.push(Done { seq: self.seq, at: self.now, completion });
        }
        self.ledger.check(&self.client);
        self.check_connection_state();
    }

    /// Carries out the socket actions, then hands transmissions to the socket. True if
    /// the socket refused one (the driver then reports the peer lost): drain again.
    fn drain_once(&mut self) -> bool {
        while let Some(action) = self.client.poll_action() {
            self.actions.push((self.now, action));
            match action {
                SocketAction::Connect { reason } => {
                    self.ledger.connect_action(reason);
                    self.epoch += 1;
                    self.socket = SocketState::Opening;
                    let ok = if self.connector.refusals > 0 {
                        self.connector.refusals -= 1;
                        false
                    } else {
                        true
                    };
                    if self.connector.latency.is_zero() {
                        self.connect_outcome(ok);
                    } else {
                        let epoch = self.epoch;
                        self.schedule(self.now + self.connector.latency, Event::ConnectOutcome { epoch, ok });
                    }
                }
                SocketAction::Close => {
                    self.epoch += 1;
                    self.socket = SocketState::Closed;
                }
                other => panic!("unknown socket action {other:?}"),
            }
        }
        while let Some(transmit) = self.client.poll_transmit(self.now) {
            assert_eq!(self.socket, SocketState::Open, "{} released while the socket is not open", transmit.id);
            self.ledger.transmit(self.now, transmit.id, transmit.attempt);
            if self.refuse_sends > 0 {
                self.refuse_sends -= 1;
                self.ledger.send_failed(transmit.id, transmit.attempt);
                self.refused.push((self.now, transmit.id, transmit.attempt));
                self.note_peer_loss();
                self.client.handle_send_refused(self.now, &[transmit.id]);
                return true;
            }
            self.seq += 1;
            let sent = Sent {
                seq: self.seq,
                at: self.now,
                epoch: self.epoch,
                id: transmit.id,
                attempt: transmit.attempt,
                frames: transmit.into_frames(),
            };
            if self.rng.chance(self.net.loss) {
                self.dropped += 1;
            } else {
                let at = self.now + self.one_way();
                let event = Event::ToServer {
                    epoch: sent.epoch,
                    id: sent.id,
                    attempt: sent.attempt,
                    frames: sent.frames.clone(),
                };
                self.schedule(at, event);
            }
            self.sent_at.entry(sent.id).or_default().push(self.sent.len());
            self.sent.push(sent);
        }
        false
    }

    fn check_connection_state(&mut self) {
        assert_eq!(self.client.is_connected(), self.socket == SocketState::Open, "is_connected()");
        let expected = match self.socket {
            SocketState::Open => ConnectionState::Connected,
            SocketState::Closed => ConnectionState::Closed,
            _ if self.ever_open => ConnectionState::Reconnecting,
            _ => ConnectionState::Connecting,
        };
        assert_eq!(self.client.connection_state(), expected, "connection_state() with the socket {:?}", self.socket);
    }

    fn connect_outcome(&mut self, ok: bool) {
        if ok {
            self.socket = SocketState::Open;
            self.ever_open = true;
            self.client.handle_connected(self.now);
        } else {
            self.socket = SocketState::Down;
            self.ledger.connect_failed();
            self.client.handle_connect_failed(self.now, refused());
        }
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::ToServer { epoch, id, attempt, frames } => {
                if epoch != self.epoch {
                    self.dropped += 1;
                    return;
                }
                let Some((delay, reply)) = self.server.receive(self.now, epoch, id, attempt, &frames) else { return };
                let copies = if self.server_pipelined() && self.rng.chance(self.net.duplicate) { 2 } else { 1 };
                for _ in 0..copies {
                    if self.rng.chance(self.net.loss) {
                        self.dropped += 1;
                        continue;
                    }
                    let at = self.now + delay + self.one_way();
                    self.schedule(at, Event::ToClient { epoch, frames: reply.clone() });
                }
            }
            Event::ToClient { epoch, frames } => {
                if epoch != self.epoch || self.socket != SocketState::Open {
                    self.dropped += 1;
                    return;
                }
                self.client.handle_reply(self.now, &frames);
            }
            Event::ConnectOutcome { epoch, ok } => {
                if epoch == self.epoch && self.socket == SocketState::Opening {
                    self.connect_outcome(ok);
                }
            }
        }
        self.drain();
    }

    fn server_pipelined(&self) -> bool {
        matches!(self.client.config().mode, Mode::Pipelined { .. })
    }

    fn one_way(&mut self) -> Duration {
        self.net.latency + self.rng.upto(self.net.jitter)
    }

    fn schedule(&mut self, at: Instant, event: Event) {
        self.events.insert((at, self.next_event), event);
        self.next_event += 1;
    }
}
