//! Random operation sequences, in both modes, checked after every operation against a
//! small reference model of what the client promises.
//!
//! Each case is generated from a seed: the client config, the network, the server's
//! behaviour and 10 to 60 operations (submit with random options and identical
//! payloads, cancel of live, finished and foreign ids, close, peer loss, refused
//! connections, time jumps, stray replies). A failing case is shrunk by dropping
//! operations and printed; replay one with `REQCHAN_SIM_SEED=<seed>`, and run more with
//! `REQCHAN_SIM_CASES=<n>` (default 1000 per mode).

use reqchan_sim as sim;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{
    Backoff, ClientConfig, ExponentialBackoff, Mode, RequestError, RequestId, RequestOptions, SubmitError,
};
use sim::{Behaviour, Connector, Sim, SimRng, ms};

/// Largest payload (and reply) in every case.
const MAX_MESSAGE: usize = 32;

#[derive(Debug, Clone, Copy)]
enum Profile {
    Answer,
    Slow(u64),
    Silent,
    /// A seeded mix of every behaviour, drawn per message.
    Mixed(u64),
}

#[derive(Debug, Clone)]
enum Op {
    /// Submits `count` requests alike.
    Submit {
        count: u32,
        payload: &'static str,
        timeout: Option<u64>,
        tries: Option<u32>,
        backoff: Option<(u64, bool)>,
    },
    /// Cancels the accepted request at this index (modulo), or a foreign id past the end.
    Cancel(usize),
    Close,
    LosePeer,
    Refuse(u32),
    /// The socket refuses the next sends (the driver then reports the peer lost).
    RefuseSends(u32),
    Advance(u64),
    Serve(Profile),
    /// Pipelined only: a reply for a foreign, finished or never-sent id, or unreadable frames.
    Stray(usize),
}

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    mode: Mode,
    max_queued: usize,
    timeout: u64,
    tries: u32,
    latency: u64,
    jitter: u64,
    loss: f64,
    duplicate: f64,
    connect_latency: u64,
    ops: Vec<Op>,
}

fn generate(seed: u64, pipelined: bool) -> Case {
    generate_sized(seed, pipelined, false)
}

/// A case; `crowded` ones have thousands of operations and room for hundreds of
/// requests at once, to exercise the client's tables at size.
fn generate_sized(seed: u64, pipelined: bool, crowded: bool) -> Case {
    let mut rng = SimRng::new(seed);
    let scale = if crowded { 100 } else { 1 };
    let max_in_flight = scale * (1 + rng.below(4) as usize);
    let mode = if pipelined { Mode::Pipelined { max_in_flight } } else { Mode::Lockstep };
    let mut case = Case {
        seed,
        mode,
        max_queued: scale * (1 + rng.below(8) as usize),
        timeout: rng.pick(&[20, 50, 200]),
        tries: 1 + rng.below(3) as u32,
        latency: rng.below(3),
        jitter: rng.pick(&[0, 0, 5]),
        loss: rng.pick(&[0.0, 0.0, 0.1]),
        duplicate: if pipelined { rng.pick(&[0.0, 0.2]) } else { 0.0 },
        connect_latency: rng.pick(&[0, 0, 3]),
        ops: Vec::new(),
    };
    let count = if crowded { 3000 } else { 10 + rng.below(51) };
    for _ in 0..count {
        let op = match rng.below(100) {
            0..=39 => {
                let exponential = Some((1 + rng.below(30), rng.chance(0.5)));
                Op::Submit {
                    count: if crowded && rng.chance(0.2) { 1 + rng.below(200) as u32 } else { 1 },
                    payload: rng.pick(&["a", "a", "b", "0123456789abcdef0123456789abcdefXX"]),
                    timeout: rng.pick(&[None, None, Some(0), Some(5), Some(20), Some(50), Some(200)]),
                    tries: rng.pick(&[None, None, Some(0), Some(1), Some(2), Some(4)]),
                    backoff: rng.pick(&[None, None, Some((0, false)), exponential]),
                }
            }
            40..=51 => Op::Cancel(rng.below(64) as usize),
            52..=53 if !crowded => Op::Close,
            52..=53 => Op::Advance(1),
            54..=59 => Op::LosePeer,
            60..=61 => Op::Refuse(1 + rng.below(3) as u32),
            62..=63 => Op::RefuseSends(1 + rng.below(2) as u32),
            64..=84 => Op::Advance(rng.pick(&[0, 1, 3, 10, 30, 100, 300])),
            85..=93 => Op::Serve(match rng.below(4) {
                0 => Profile::Answer,
                1 => Profile::Slow(rng.pick(&[10, 60, 250])),
                2 => Profile::Silent,
                _ => Profile::Mixed(rng.next_u64()),
            }),
            _ => Op::Stray(rng.below(64) as usize),
        };
        case.ops.push(op);
    }
    case
}

fn config(case: &Case) -> ClientConfig {
    let mut config = sim::lockstep();
    config.mode = case.mode;
    config.max_queued = case.max_queued;
    config.max_message_size = MAX_MESSAGE;
    config.defaults.timeout = ms(case.timeout);
    config.defaults.tries = case.tries;
    config.reconnect = ExponentialBackoff::new(ms(5), ms(40)).unwrap().with_jitter(0.5).unwrap();
    config.seed = case.seed;
    config
}

fn mixed(seed: u64) -> impl FnMut(RequestId, u32, &[u8]) -> Behaviour {
    let mut rng = SimRng::new(seed);
    move |_, _, _| match rng.below(20) {
        0..=9 => Behaviour::Answer,
        10..=11 => Behaviour::AnswerAfter(ms(rng.pick(&[10, 60, 250]))),
        12..=15 => Behaviour::Silent,
        16 => Behaviour::Malformed,
        17 => Behaviour::Oversized(MAX_MESSAGE + 1),
        18 => Behaviour::Oversized(MAX_MESSAGE),
        _ => Behaviour::Junk,
    }
}

fn foreign() -> RequestId {
    static FOREIGN: OnceLock<RequestId> = OnceLock::new();
    *FOREIGN.get_or_init(|| sim::foreign_id(200))
}

// ----- the reference model -----

#[derive(Debug)]
struct Req {
    submitted_at: Instant,
    timeout: Duration,
    tries: u32,
    /// (seq, time) of each transmission.
    sent: Vec<(u64, Instant)>,
    done: bool,
    cancelled_at: Option<Instant>,
}

/// What a run reached, summed over the cases to show the generator is not vacuous.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    replied: u64,
    expired_in_queue: u64,
    timed_out_after_sending: u64,
    peer_lost: u64,
    cancelled: u64,
    closed: u64,
    malformed: u64,
    too_large: u64,
    queue_full: u64,
    retries: u64,
    strays: u64,
    /// The most requests pending at once.
    peak_pending: u64,
    refused_sends: u64,
}

impl Coverage {
    fn add(&mut self, other: Coverage) {
        self.replied += other.replied;
        self.expired_in_queue += other.expired_in_queue;
        self.timed_out_after_sending += other.timed_out_after_sending;
        self.peer_lost += other.peer_lost;
        self.cancelled += other.cancelled;
        self.closed += other.closed;
        self.malformed += other.malformed;
        self.too_large += other.too_large;
        self.queue_full += other.queue_full;
        self.retries += other.retries;
        self.strays += other.strays;
        self.peak_pending = self.peak_pending.max(other.peak_pending);
        self.refused_sends += other.refused_sends;
    }

    fn all_reached(&self) -> bool {
        [
            self.replied,
            self.expired_in_queue,
            self.timed_out_after_sending,
            self.peer_lost,
            self.cancelled,
            self.closed,
            self.malformed,
            self.too_large,
            self.queue_full,
            self.retries,
            self.strays,
            self.refused_sends,
        ]
        .iter()
        .all(|n| *n > 0)
    }
}

#[derive(Debug, Default)]
struct Model {
    reqs: HashMap<RequestId, Req>,
    order: Vec<RequestId>,
    closed_at: Option<Instant>,
    /// (seq, time) of each peer loss the client acted on.
    peer_losses: Vec<Instant>,
    sent_seen: usize,
    done_seen: usize,
    losses_seen: usize,
    outcomes: [u64; 5],
    coverage: Coverage,
    /// Unfinished requests.
    open: BTreeSet<RequestId>,
    /// Requests with an attempt on the wire, and when that attempt times out.
    wire: BTreeMap<RequestId, Instant>,
    expiries: BTreeSet<(Instant, RequestId)>,
    transmitted: u64,
    retried: u64,
}

impl Model {
    fn pending(&self) -> usize {
        self.open.len()
    }

    /// Requests with an attempt on the wire: sent, unfinished, the attempt not timed out
    /// and not lost with the peer.
    fn in_flight(&mut self, now: Instant) -> usize {
        while let Some(&(expiry, id)) = self.expiries.first() {
            if expiry > now {
                break;
            }
            self.expiries.pop_first();
            self.wire.remove(&id);
        }
        self.wire.len()
    }

    /// Replays the sim's new transmissions and completions in order, checking each.
    fn sync(&mut self, sim: &Sim) {
        enum Seen<'a> {
            Sent(&'a sim::Sent),
            Done(&'a sim::Done),
            Lost(Instant),
        }
        let mut seen: Vec<(u64, Seen)> = Vec::new();
        seen.extend(sim.sent()[self.sent_seen..].iter().map(|t| (t.seq, Seen::Sent(t))));
        seen.extend(sim.completions()[self.done_seen..].iter().map(|d| (d.seq, Seen::Done(d))));
        seen.extend(sim.peer_losses()[self.losses_seen..].iter().map(|(seq, at)| (*seq, Seen::Lost(*at))));
        self.sent_seen = sim.sent().len();
        self.done_seen = sim.completions().len();
        self.losses_seen = sim.peer_losses().len();
        seen.sort_by_key(|(seq, _)| *seq);
        for (_, event) in seen {
            match event {
                Seen::Sent(t) => {
                    let req = self.reqs.get_mut(&t.id).unwrap_or_else(|| panic!("{} sent, never accepted", t.id));
                    assert!(!req.done, "{} sent after it completed", t.id);
                    assert!(self.closed_at.is_none(), "{} sent after close", t.id);
                    assert_eq!(t.attempt as usize, req.sent.len() + 1, "{} attempt numbering", t.id);
                    assert!(t.attempt <= req.tries, "{} sent more than {} times", t.id, req.tries);
                    if t.attempt == 1 {
                        assert!(t.at < req.submitted_at + req.timeout, "{} sent after its queue deadline", t.id);
                    }
                    req.sent.push((t.seq, t.at));
                    let expiry = t.at + req.timeout;
                    if let Some(old) = self.wire.insert(t.id, expiry) {
                        self.expiries.remove(&(old, t.id));
                    }
                    self.expiries.insert((expiry, t.id));
                    self.transmitted += 1;
                    self.retried += u64::from(t.attempt > 1);
                }
                Seen::Done(d) => self.complete(sim, d.at, &d.completion),
                Seen::Lost(at) => {
                    // Every attempt on the wire fails with the connection.
                    self.peer_losses.push(at);
                    self.wire.clear();
                    self.expiries.clear();
                }
            }
        }
    }

    fn complete(&mut self, sim: &Sim, at: Instant, c: &reqchan_core::client::Completion) {
        let id = c.id;
        let req = self.reqs.get_mut(&id).unwrap_or_else(|| panic!("completion for {id}, never accepted"));
        assert!(!req.done, "{id} completed twice");
        req.done = true;
        self.open.remove(&id);
        if let Some(old) = self.wire.remove(&id) {
            self.expiries.remove(&(old, id));
        }
        let attempts = req.sent.len() as u32;
        assert_eq!(c.attempts, attempts, "{id} attempts");
        let last_sent = req.sent.last().map(|(_, at)| *at);
        let behaviours: Vec<_> =
            sim.server.received_for(id).iter().filter(|r| r.attempt <= attempts).map(|r| r.behaviour).collect();
        let slot = match &c.result {
            Ok(reply) => {
                let own = (1..=attempts).any(|k| sim.server.reply_to(id, k).as_ref() == Some(reply));
                assert!(own, "{id} got a reply the server never sent for it: {reply:?}");
                self.coverage.replied += 1;
                0
            }
            Err(RequestError::Unreachable { .. }) if sim.client.stats().connect_failures == 0 => {
                panic!("{id} unreachable, but no connect ever failed")
            }
            Err(RequestError::TimedOut { attempts: 0 } | RequestError::Unreachable { attempts: 0, .. }) => {
                assert_eq!(at, req.submitted_at + req.timeout, "{id} must expire in the queue on its deadline");
                self.coverage.expired_in_queue += 1;
                1
            }
            Err(RequestError::TimedOut { attempts: n } | RequestError::Unreachable { attempts: n, .. }) => {
                let last = last_sent.expect("sent");
                assert!(at >= last + req.timeout, "{id} timed out early");
                if *n == req.tries {
                    assert_eq!(at, last + req.timeout, "{id}'s last attempt must time out on its deadline");
                }
                self.coverage.timed_out_after_sending += 1;
                1
            }
            Err(RequestError::PeerLost { attempts: n }) => {
                assert_eq!(*n, req.tries, "{id} PeerLost with tries left");
                assert!(self.peer_losses.contains(&at), "{id} PeerLost with no peer loss at {at:?}");
                self.coverage.peer_lost += 1;
                4
            }
            Err(RequestError::Cancelled) => {
                assert_eq!(req.cancelled_at, Some(at), "{id} Cancelled but not cancelled then");
                self.coverage.cancelled += 1;
                2
            }
            Err(RequestError::Closed) => {
                assert_eq!(self.closed_at, Some(at), "{id} Closed but not closed then");
                self.coverage.closed += 1;
                3
            }
            Err(RequestError::MalformedReply { .. }) => {
                let bad = behaviours.iter().any(|b| {
                    matches!(b, Behaviour::Malformed)
                        || matches!(b, Behaviour::Junk) && sim.client.config().mode == Mode::Lockstep
                });
                assert!(bad, "{id} MalformedReply but the server sent none: {behaviours:?}");
                self.coverage.malformed += 1;
                4
            }
            Err(RequestError::ReplyTooLarge { size, limit }) => {
                assert!(size > limit);
                assert!(behaviours.contains(&Behaviour::Oversized(*size)), "{id} ReplyTooLarge: {behaviours:?}");
                self.coverage.too_large += 1;
                4
            }
            Err(other) => panic!("{id}: unexpected {other:?}"),
        };
        self.outcomes[slot] += 1;
    }

    /// Rules that hold whenever the sim has handled everything due up to now.
    fn check(&self, sim: &Sim) {
        let now = sim.now();
        for (id, req) in self.open.iter().map(|id| (id, &self.reqs[id])) {
            let deadline = req.submitted_at + req.timeout;
            assert!(!req.sent.is_empty() || now < deadline, "{id} queued past its deadline without completing");
            if req.sent.len() as u32 == req.tries {
                let last = req.sent.last().unwrap().1;
                assert!(now < last + req.timeout, "{id}'s last attempt outlived its timeout");
            }
        }
        if self.closed_at.is_some() {
            assert_eq!(self.pending(), 0, "requests survived close");
        }
        let stats = sim.client.stats();
        assert_eq!(sim.client.pending(), self.pending(), "pending()");
        assert_eq!(stats.submitted, self.reqs.len() as u64, "submitted");
        // Counters only go up: refused hand-offs stay counted, and are counted apart.
        let refused = sim.refused();
        let refused_retries = refused.iter().filter(|(_, _, attempt)| *attempt > 1).count() as u64;
        assert_eq!(stats.transmitted, self.transmitted + refused.len() as u64, "transmitted");
        assert_eq!(stats.retried, self.retried + refused_retries, "retried");
        assert_eq!(stats.send_failures, refused.len() as u64, "send_failures");
        let counted = [stats.replied, stats.timed_out, stats.cancelled, stats.closed, stats.failed];
        assert_eq!(counted, self.outcomes, "outcome counters [replied, timed_out, cancelled, closed, failed]");
    }
}

// ----- running a case -----

/// Delivers `frames`, which answer nothing, and checks that they were counted as a stray
/// reply (unless the client is closed and ignores every input) and completed nothing.
fn deliver_stray(sim: &mut Sim, model: &mut Model, frames: &[Bytes]) {
    let (stray, done) = (sim.client.stats().stray_replies, sim.completions().len());
    sim.deliver(frames);
    let counted = u64::from(model.closed_at.is_none());
    assert_eq!(sim.client.stats().stray_replies, stray + counted, "{frames:?} must be stray");
    assert_eq!(sim.completions().len(), done, "a stray reply completed something");
    model.coverage.strays += 1;
}

fn run(case: &Case) -> Coverage {
    let connector = Connector { latency: ms(case.connect_latency), refusals: 0 };
    let mut sim = Sim::with_connector(config(case), case.seed, connector);
    sim.max_steps = 20_000 + 500 * case.ops.len() as u64;
    sim.net.latency = ms(case.latency);
    sim.net.jitter = ms(case.jitter);
    sim.net.loss = case.loss;
    sim.net.duplicate = case.duplicate;
    let pipelined = matches!(case.mode, Mode::Pipelined { .. });
    let mut model = Model::default();

    for op in &case.ops {
        match op {
            Op::Submit { count, payload, timeout, tries, backoff } => {
                for _ in 0..*count {
                    let mut options = RequestOptions::default();
                    if let Some(t) = timeout {
                        options = options.timeout(ms(*t));
                    }
                    if let Some(n) = tries {
                        options = options.tries(*n);
                    }
                    if let Some((initial, jitter)) = backoff {
                        options = options.backoff(match initial {
                            0 => Backoff::Immediate,
                            _ => {
                                let policy = ExponentialBackoff::new(ms(*initial), ms(initial * 4)).unwrap();
                                Backoff::Exponential(policy.with_jitter(if *jitter { 0.5 } else { 0.0 }).unwrap())
                            }
                        });
                    }
                    let waiting = model.pending() - model.in_flight(sim.now());
                    let result = sim.submit(*payload, options);
                    let timeout = timeout.map_or(ms(case.timeout), ms);
                    let tries = tries.unwrap_or(case.tries);
                    let expected = if model.closed_at.is_some() {
                        Some(SubmitError::Closed)
                    } else if payload.len() > MAX_MESSAGE {
                        Some(SubmitError::TooLarge { size: payload.len(), limit: MAX_MESSAGE })
                    } else if timeout.is_zero() || tries == 0 {
                        None // InvalidOptions, checked below
                    } else if waiting >= case.max_queued {
                        Some(SubmitError::QueueFull { capacity: case.max_queued })
                    } else {
                        None
                    };
                    match (&result, expected) {
                        (Err(SubmitError::InvalidOptions(_)), None) if timeout.is_zero() || tries == 0 => {}
                        (Ok(_), None) if !timeout.is_zero() && tries > 0 => {}
                        (Err(e), Some(x)) if *e == x => {}
                        (r, x) => panic!("submit: got {r:?}, expected {x:?} (waiting {waiting})"),
                    }
                    if let Err(SubmitError::QueueFull { .. }) = result {
                        model.coverage.queue_full += 1;
                    }
                    if let Ok(id) = result {
                        let req = Req {
                            submitted_at: sim.now(),
                            timeout,
                            tries,
                            sent: vec![],
                            done: false,
                            cancelled_at: None,
                        };
                        model.reqs.insert(id, req);
                        model.open.insert(id);
                        model.order.push(id);
                    }
                    model.sync(&sim);
                }
            }
            Op::Cancel(index) => {
                let id = model.order.get(index % (model.order.len() + 1)).copied().unwrap_or_else(foreign);
                let live = model.reqs.get(&id).is_some_and(|r| !r.done);
                if live {
                    model.reqs.get_mut(&id).unwrap().cancelled_at = Some(sim.now());
                }
                assert_eq!(sim.cancel(id), live, "cancel({id})");
            }
            Op::Close => {
                if model.closed_at.is_none() {
                    model.closed_at = Some(sim.now());
                }
                sim.close();
            }
            Op::LosePeer => sim.lose_peer(),
            Op::Refuse(n) => sim.connector.refusals += n,
            Op::RefuseSends(n) => sim.refuse_sends += n,
            Op::Advance(d) => sim.run_for(ms(*d)),
            Op::Serve(profile) => match *profile {
                Profile::Answer => sim.server.behave(Behaviour::Answer),
                Profile::Slow(d) => sim.server.behave(Behaviour::AnswerAfter(ms(d))),
                Profile::Silent => sim.server.behave(Behaviour::Silent),
                Profile::Mixed(seed) => sim.server.script(mixed(seed)),
            },
            Op::Stray(pick) if pipelined => {
                // Only ids that cannot be answered: finished, never sent, or foreign.
                let candidate = model.order.get(pick % (model.order.len() + 2)).copied();
                let unanswerable = candidate.filter(|id| model.reqs[id].done || model.reqs[id].sent.is_empty());
                let frames = match unanswerable {
                    Some(id) => vec![Bytes::copy_from_slice(&id.as_u64().to_be_bytes()), Bytes::new(), "x".into()],
                    None if pick % 2 == 0 => vec![Bytes::copy_from_slice(&foreign().as_u64().to_be_bytes())],
                    None => vec![Bytes::from_static(b"?")],
                };
                deliver_stray(&mut sim, &mut model, &frames);
            }
            Op::Stray(pick) if model.in_flight(sim.now()) == 0 => {
                // Lockstep: a reply with nothing on the wire answers nothing.
                let frames = if pick % 2 == 0 { vec![Bytes::new(), "x".into()] } else { vec!["x".into(), "y".into()] };
                deliver_stray(&mut sim, &mut model, &frames);
            }
            Op::Stray(_) => {}
        }
        model.sync(&sim);
        model.check(&sim);
        model.coverage.peak_pending = model.coverage.peak_pending.max(model.pending() as u64);
    }

    // Let everything run out, then close: every accepted request ends exactly once.
    sim.connector.refusals = sim.connector.refusals.min(3);
    sim.refuse_sends = sim.refuse_sends.min(3);
    sim.run_until_idle();
    model.sync(&sim);
    model.check(&sim);
    assert_eq!(model.pending(), 0, "requests left unfinished when nothing more can happen");
    if model.closed_at.is_none() {
        model.closed_at = Some(sim.now());
        sim.close();
        model.sync(&sim);
        model.check(&sim);
    }
    assert!(model.open.is_empty());
    assert!(sim.client.poll_transmit(sim.now()).is_none());
    model.coverage.retries = sim.client.stats().retried;
    model.coverage.refused_sends = sim.refused().len() as u64;
    model.coverage
}

fn fails(case: &Case) -> Option<String> {
    panic::catch_unwind(AssertUnwindSafe(|| run(case))).err().map(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// Drops operations, in halving chunks, while the case still fails.
fn shrink(mut case: Case) -> Case {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut chunk = case.ops.len() / 2;
    while chunk >= 1 {
        let mut i = 0;
        while i < case.ops.len() {
            let mut smaller = case.clone();
            smaller.ops.drain(i..(i + chunk).min(smaller.ops.len()));
            if fails(&smaller).is_some() {
                case = smaller;
            } else {
                i += chunk;
            }
        }
        chunk /= 2;
    }
    panic::set_hook(hook);
    case
}

fn check_many(pipelined: bool) {
    if let Some(seed) = std::env::var("REQCHAN_SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        eprintln!("{:#?}", run(&generate(seed, pipelined)));
        return;
    }
    let cases = std::env::var("REQCHAN_SIM_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(1000u64);
    let mut coverage = Coverage::default();
    for seed in 0..cases {
        let case = generate(seed, pipelined);
        match panic::catch_unwind(AssertUnwindSafe(|| run(&case))) {
            Ok(reached) => coverage.add(reached),
            Err(_) => {
                let minimal = shrink(case);
                let error = fails(&minimal).unwrap_or_default();
                panic!("seed {seed} fails: {error}\nshrunk to {minimal:#?}");
            }
        }
    }
    if std::env::var_os("REQCHAN_SIM_VERBOSE").is_some() {
        eprintln!("{cases} cases reached {coverage:#?}");
    }
    assert!(cases < 64 || coverage.all_reached(), "the generator missed an outcome: {coverage:#?}");
}

#[test]
fn crowded_runs_keep_every_rule() {
    for seed in 0..4 {
        for pipelined in [false, true] {
            let case = generate_sized(seed, pipelined, true);
            let reached = run(&case);
            if std::env::var_os("REQCHAN_SIM_VERBOSE").is_some() {
                eprintln!("crowded seed {seed} pipelined {pipelined}: {reached:?}");
            }
            assert!(reached.replied > 100, "seed {seed}: not crowded enough: {reached:?}");
        }
    }
}

#[test]
fn lockstep_random_operations_keep_every_rule() {
    check_many(false);
}

#[test]
fn pipelined_random_operations_keep_every_rule() {
    check_many(true);
}
