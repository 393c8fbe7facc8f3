//! Random operation sequences over a lossy, jittery network, in both modes, checked
//! after every input against the client's reference model (`reqchan_sim::model::client`,
//! the one the fuzzer runs), through which the sim drives the client.
//!
//! Each case is generated from a seed: the client config, the network, the server's
//! behaviour and 10 to 60 operations (submit with random options and identical
//! payloads, cancel of live, finished and foreign ids, close, peer loss, refused
//! connections, time jumps, stray replies). A failing case is shrunk by dropping
//! operations and printed; replay one with `REQCHAN_SIM_SEED=<seed>`, and run more with
//! `REQCHAN_SIM_CASES=<n>` (default 1000 per mode).

use reqchan_sim as sim;

use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;

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

// ----- what a run reached -----

/// What a run reached, summed over the cases to show the generator is not vacuous.
/// (The rules themselves are the client model's, checked by the sim on every input.)
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

    /// Counts the outcomes of a finished run.
    fn count(&mut self, sim: &Sim) {
        for done in sim.completions() {
            match &done.completion.result {
                Ok(_) => self.replied += 1,
                Err(RequestError::TimedOut { attempts: 0 } | RequestError::Unreachable { attempts: 0, .. }) => {
                    self.expired_in_queue += 1
                }
                Err(RequestError::TimedOut { .. } | RequestError::Unreachable { .. }) => {
                    self.timed_out_after_sending += 1
                }
                Err(RequestError::PeerLost { .. }) => self.peer_lost += 1,
                Err(RequestError::Cancelled) => self.cancelled += 1,
                Err(RequestError::Closed) => self.closed += 1,
                Err(RequestError::MalformedReply { .. }) => self.malformed += 1,
                Err(RequestError::ReplyTooLarge { .. }) => self.too_large += 1,
                Err(other) => panic!("{}: unexpected {other:?}", done.completion.id),
            }
        }
        let stats = sim.client().stats();
        (self.retries, self.strays) = (stats.retried, stats.stray_replies);
        self.refused_sends = sim.refused().len() as u64;
    }
}

// ----- running a case -----

fn run(case: &Case) -> Coverage {
    let connector = Connector { latency: ms(case.connect_latency), refusals: 0 };
    let mut sim = Sim::with_connector(config(case), case.seed, connector);
    sim.max_steps = 20_000 + 500 * case.ops.len() as u64;
    sim.net.latency = ms(case.latency);
    sim.net.jitter = ms(case.jitter);
    sim.net.loss = case.loss;
    sim.net.duplicate = case.duplicate;
    let pipelined = matches!(case.mode, Mode::Pipelined { .. });
    let mut coverage = Coverage::default();
    // Accepted requests, in submission order.
    let mut accepted: Vec<RequestId> = Vec::new();

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
                    match sim.submit(*payload, options) {
                        Ok(id) => accepted.push(id),
                        Err(SubmitError::QueueFull { .. }) => coverage.queue_full += 1,
                        Err(_) => {}
                    }
                }
            }
            Op::Cancel(index) => {
                let id = accepted.get(index % (accepted.len() + 1)).copied().unwrap_or_else(foreign);
                sim.cancel(id);
            }
            Op::Close => sim.close(),
            Op::LosePeer => sim.lose_peer(),
            Op::Refuse(n) => sim.connector.refusals += n,
            Op::RefuseSends(n) => sim.refuse_sends(*n),
            Op::Advance(d) => sim.run_for(ms(*d)),
            Op::Serve(profile) => match *profile {
                Profile::Answer => sim.server.behave(Behaviour::Answer),
                Profile::Slow(d) => sim.server.behave(Behaviour::AnswerAfter(ms(d))),
                Profile::Silent => sim.server.behave(Behaviour::Silent),
                Profile::Mixed(seed) => sim.server.script(mixed(seed)),
            },
            Op::Stray(pick) if pipelined => {
                // Ids that cannot be answered: finished, never sent, or foreign.
                let candidate = accepted.get(pick % (accepted.len() + 2)).copied();
                let unanswerable = candidate.filter(|id| sim.completion(*id).is_some() || sim.sent_for(*id).is_empty());
                let frames = match unanswerable {
                    Some(id) => vec![Bytes::copy_from_slice(&id.as_u64().to_be_bytes()), Bytes::new(), "x".into()],
                    None if pick % 2 == 0 => vec![Bytes::copy_from_slice(&foreign().as_u64().to_be_bytes())],
                    None => vec![Bytes::from_static(b"?")],
                };
                sim.deliver(&frames);
            }
            Op::Stray(pick) => {
                // Lockstep: frames without the id frame of the request on the wire.
                let frames = if pick % 2 == 0 { vec![Bytes::new(), "x".into()] } else { vec!["x".into(), "y".into()] };
                sim.deliver(&frames);
            }
        }
        coverage.peak_pending = coverage.peak_pending.max(sim.client().pending() as u64);
    }

    // Let everything run out, then close: every accepted request ends exactly once.
    sim.connector.refusals = sim.connector.refusals.min(3);
    sim.set_sends_to_refuse(sim.sends_to_refuse().min(3));
    sim.run_until_idle();
    assert_eq!(sim.client().pending(), 0, "requests left unfinished when nothing more can happen");
    if !sim.client().is_closed() {
        sim.close();
    }
    assert_eq!(sim.completions().len(), accepted.len(), "every accepted request completed once");
    coverage.count(&sim);
    coverage
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
