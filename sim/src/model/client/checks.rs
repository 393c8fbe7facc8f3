//! The checks: every output against the model, then the invariants.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::{Completion, ConnectReason, ConnectionState, RequestError, SocketAction, Transmit};

use super::harness::*;
use super::model::*;
use crate::model::support::ensure;

impl Harness {
    // ----- outputs -----

    /// Drains the client like a driver, checks each output against the model, then
    /// checks the invariants.
    pub(super) fn settle(&mut self, mut expect: Expect, after_timeout: bool) -> Drained {
        self.observed = self.observed.max(self.now);
        let mut drained = Drained::default();
        let action = self.client.poll_action();
        ensure!(self, self.client.poll_action().is_none(), "two socket actions at once");
        drained.actions = usize::from(action.is_some());
        self.check_action(action, &expect);
        self.outputs.extend(action.map(Output::Action));
        let mut refused = None;
        // Each transmission puts its request in flight, and the model refuses a second
        // one of a request in flight: this ends.
        while let Some(transmit) = self.client.poll_transmit(self.reading()) {
            drained.transmits += 1;
            self.check_transmit(&transmit);
            if self.refuse_sends > 0 {
                // A socket that refuses: the driver stops sending and reports the
                // refusal (and with it the lost connection) once this drain is done.
                self.refuse_sends -= 1;
                refused = Some((transmit.id, transmit.attempt));
                break;
            }
            let (id, attempt) = (transmit.id, transmit.attempt);
            self.outputs.push(Output::Transmit { id, attempt, frames: transmit.into_frames() });
        }
        while let Some(completion) = self.client.poll_completion() {
            drained.completions.push(completion.id.as_u64());
            self.check_completion(completion.clone(), &mut expect);
            self.outputs.push(Output::Completion(completion));
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
        if let Some((id, attempt)) = refused {
            self.outputs.push(Output::Refused { id, attempt });
            self.refuse(id);
        }
        drained
    }

    pub(super) fn check_action(&mut self, action: Option<SocketAction>, expect: &Expect) {
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

    pub(super) fn check_transmit(&mut self, t: &Transmit) {
        let now = self.now;
        let n = t.id.as_u64();
        let m = &self.model;
        ensure!(self, m.link == Link::Open, "transmit of {} while the link is {:?}", t.id, m.link);
        let Some(req) = m.req(n) else {
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
                let clash = m.id_frames.get(&frame).filter(|id| **id != t.id);
                ensure!(self, clash.is_none(), "{} sent with the id frame of {:?}", t.id, clash);
                Some(frame)
            }
        };
        let m = &mut self.model;
        let req = m.reqs.get_mut(&n).expect("checked above");
        req.attempts += 1;
        req.state = State::InFlight { deadline: now + req.opts.timeout, wait: req.wait_bounds() };
        if let Some(frame) = &id_frame {
            m.id_frames.insert(frame.clone(), t.id);
        }
        req.id_frame = id_frame.or(req.id_frame.take());
        m.stats.transmitted += 1;
        if t.attempt > 1 {
            m.stats.retried += 1;
        }
        m.transmitted.push(t.id);
    }

    pub(super) fn check_completion(&mut self, c: Completion, expect: &mut Expect) {
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
        let Some(req) = self.model.req(n) else {
            panic!("completion for {} which was never accepted: {c:?}\n  at {}", c.id, self.context);
        };
        ensure!(self, req.unfinished(), "second completion for {}: {c:?}", c.id);
        // Only an expiry (in `poll_transmit`, or of a retry whose pause the model only
        // bounds) is not predicted exactly; its error still follows the connection.
        let expected = Err(self.model.expired(req.attempts));
        let expiry = c.result == expected && c.attempts == req.attempts && c.tag == req.tag;
        ensure!(self, expiry, "unexpected completion {c:?} in state {:?}", req.state);
        ensure!(self, req.may_have_expired(now), "{} expired early, in state {:?}", c.id, req.state);
        self.model.retire(n);
        self.model.stats.timed_out += 1;
        self.seen.completed(&c.result);
    }

    // ----- invariants -----

    /// `stopped`: the driver stopped draining transmissions (refused sends).
    pub(super) fn check_invariants(&self, after_timeout: bool, stopped: bool) {
        let m = &self.model;
        let c = &self.client;
        // One pass over the unfinished requests: their shape and their timers' bounds.
        let (mut in_flight, mut ready, mut backing_off, mut queued) = (0, 0, 0, 0);
        let (mut lo, mut hi): (Option<Instant>, Option<Instant>) = (None, None);
        for r in m.unfinished() {
            ensure!(self, r.attempts <= r.opts.tries, "{} made {} of {} tries", r.id, r.attempts, r.opts.tries);
            match r.state {
                State::InFlight { .. } => in_flight += 1,
                State::Ready { .. } => ready += 1,
                State::BackingOff { .. } => backing_off += 1,
                State::Queued => queued += 1,
                State::Done => {}
            }
            if let Some((l, h)) = r.deadline_bounds() {
                lo = Some(lo.map_or(l, |x| x.min(l)));
                hi = Some(hi.map_or(h, |x| x.min(h)));
            }
        }
        if let Link::Waiting { since } = m.link {
            let (l, h) = (since, since + m.reconnect_max);
            lo = Some(lo.map_or(l, |x| x.min(l)));
            hi = Some(hi.map_or(h, |x| x.min(h)));
        }
        let unfinished = m.reqs.len();
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
        ensure!(self, in_flight == 0 || m.link == Link::Open, "{in_flight} in flight with link {:?}", m.link);
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
        let timeout = c.poll_timeout().map(|t| t.at);
        match (timeout, lo, hi) {
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
    pub(super) fn since(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }
}
