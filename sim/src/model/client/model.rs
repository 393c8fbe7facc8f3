//! The reference model: what the client must do, as plain data.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{
    ClientStats, Completion, ConnectError, ConnectReason, RequestError, RequestId, SocketAction,
};

/// Request options with the client's defaults filled in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resolved {
    pub(super) timeout: Duration,
    pub(super) tries: u32,
    /// The longest backoff pause; `None` for an immediate retry.
    pub(super) backoff_max: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
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
pub(super) struct Req {
    pub(super) id: RequestId,
    /// The tag given at submission, expected back in the completion.
    pub(super) tag: u64,
    pub(super) payload: Bytes,
    pub(super) opts: Resolved,
    pub(super) submitted: Instant,
    pub(super) attempts: u32,
    /// The id frame of its pipelined transmissions.
    pub(super) id_frame: Option<Bytes>,
    pub(super) state: State,
}

impl Req {
    pub(super) fn unfinished(&self) -> bool {
        self.state != State::Done
    }

    /// The earliest and latest instant the client's deadline for this request can be.
    pub(super) fn deadline_bounds(&self) -> Option<(Instant, Instant)> {
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
    pub(super) fn wait_bounds(&self) -> (Instant, Instant) {
        let timeout = self.opts.timeout;
        match self.state {
            State::Ready { lo, hi } => (lo, hi),
            // Sent from a pause: it became ready between `since` and `wake`.
            State::BackingOff { since, wake } => (since + timeout, wake + timeout),
            _ => (self.submitted + timeout, self.submitted + timeout),
        }
    }

    /// Whether the client may already have expired it, had it reached it at `now`.
    pub(super) fn may_have_expired(&self, now: Instant) -> bool {
        match self.state {
            State::Queued => now >= self.submitted + self.opts.timeout,
            State::Ready { lo, .. } => now >= lo,
            State::BackingOff { since, .. } => now >= since + self.opts.timeout,
            State::InFlight { .. } | State::Done => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    Opening,
    Open,
    Waiting { since: Instant },
    Closed,
}

/// The model's own counters, compared field by field with [`ClientStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stats {
    pub(super) submitted: u64,
    pub(super) transmitted: u64,
    pub(super) retried: u64,
    pub(super) replied: u64,
    pub(super) timed_out: u64,
    pub(super) cancelled: u64,
    pub(super) closed: u64,
    pub(super) failed: u64,
    pub(super) resets: u64,
    pub(super) connect_failures: u64,
    pub(super) stray_replies: u64,
    pub(super) send_failures: u64,
}

impl Stats {
    pub(super) fn of(s: &ClientStats) -> Self {
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

    pub(super) fn count(&mut self, result: &Result<Bytes, RequestError>) {
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
pub(super) enum Retry {
    #[default]
    No,
    Possible,
    Required,
}

/// What the model predicts for one input.
#[derive(Debug, Default)]
pub(super) struct Expect {
    pub(super) completions: BTreeMap<u64, Completion>,
    pub(super) action: Option<SocketAction>,
    pub(super) retry: Retry,
    /// Completions must come in submission order (close).
    pub(super) in_order: bool,
}

/// What one drain produced.
#[derive(Debug, Default)]
pub(super) struct Drained {
    pub(super) actions: usize,
    pub(super) transmits: usize,
    pub(super) completions: Vec<u64>,
}

/// The reference model: what the client must have done so far.
#[derive(Debug)]
pub(super) struct Model {
    pub(super) max_in_flight: Option<usize>,
    pub(super) max_queued: usize,
    pub(super) max_message_size: usize,
    pub(super) defaults: Resolved,
    pub(super) reconnect_max: Duration,
    /// The unfinished requests (apart from the finished ones, so each check costs what
    /// is pending, not what was ever accepted).
    pub(super) reqs: BTreeMap<u64, Req>,
    /// The finished ones.
    pub(super) finished: BTreeMap<u64, Req>,
    /// Which request each id frame sent so far belongs to.
    pub(super) id_frames: HashMap<Bytes, RequestId>,
    /// Transmitted requests, most recent last.
    pub(super) transmitted: Vec<RequestId>,
    pub(super) link: Link,
    /// Whether a connection was ever open.
    pub(super) ever_open: bool,
    /// Lockstep with `LockstepFraming::Plain` (`["", payload]`, no id frame).
    pub(super) plain_lockstep: bool,
    /// The latest connect failure, until a connection opens.
    pub(super) connect_error: Option<ConnectError>,
    pub(super) stats: Stats,
}

impl Model {
    pub(super) fn lockstep(&self) -> bool {
        self.max_in_flight.is_none()
    }

    /// Lockstep with the plain REQ envelope: replies are matched by position.
    pub(super) fn plain(&self) -> bool {
        self.lockstep() && self.plain_lockstep
    }

    /// The error of a request whose wait ran out after `attempts` transmissions.
    pub(super) fn expired(&self, attempts: u32) -> RequestError {
        match (&self.link, &self.connect_error) {
            (Link::Open, _) | (_, None) => RequestError::TimedOut { attempts },
            (_, Some(cause)) => RequestError::Unreachable { attempts, cause: cause.clone() },
        }
    }

    /// Request `n`, finished or not.
    pub(super) fn req(&self, n: u64) -> Option<&Req> {
        self.reqs.get(&n).or_else(|| self.finished.get(&n))
    }

    /// Every accepted id, in order.
    pub(super) fn accepted(&self) -> Vec<RequestId> {
        let mut ids: Vec<RequestId> = self.reqs.values().chain(self.finished.values()).map(|r| r.id).collect();
        ids.sort();
        ids
    }

    /// Marks unfinished request `n` done, and moves it to the finished ones.
    pub(super) fn retire(&mut self, n: u64) -> &Req {
        let mut req = self.reqs.remove(&n).expect("model: finishing an unknown request");
        req.state = State::Done;
        self.finished.entry(n).insert_entry(req).into_mut()
    }

    pub(super) fn unfinished(&self) -> impl Iterator<Item = &Req> {
        self.reqs.values()
    }

    pub(super) fn count(&self, pred: impl Fn(&Req) -> bool) -> usize {
        self.unfinished().filter(|r| pred(r)).count()
    }

    pub(super) fn in_flight(&self) -> usize {
        self.count(|r| matches!(r.state, State::InFlight { .. }))
    }

    /// Marks `id` done with `result`, expected during this input.
    pub(super) fn finish(&mut self, expect: &mut Expect, n: u64, result: Result<Bytes, RequestError>) {
        let req = self.retire(n);
        let completion = Completion { id: req.id, tag: req.tag, attempts: req.attempts, result };
        self.stats.count(&completion.result);
        expect.completions.insert(n, completion);
    }

    /// The in-flight attempt of `n` failed at `now`.
    pub(super) fn fail_attempt(&mut self, expect: &mut Expect, n: u64, now: Instant, error: RequestError) {
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

    pub(super) fn reset(&mut self, expect: &mut Expect, reason: ConnectReason) {
        self.stats.resets += 1;
        self.link = Link::Opening;
        expect.action = Some(SocketAction::Connect { reason });
    }
}
