//! The checks: every output against the model, then the invariants.

use reqchan_core::codec::{Value, decode_reply, split_request};
use reqchan_core::server::{Framing, IncomingRequest, RequestToken};

use super::harness::*;
use super::model::*;
use crate::model::support::ensure;

impl Harness {
    // ----- outputs -----

    /// Drains the server like a driver, checks each output against the model, then
    /// checks the invariants. Returns how many outputs there were.
    pub(super) fn settle(&mut self, mut expect: Expect, after_timeout: bool) -> usize {
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

    pub(super) fn check_request(&self, request: &IncomingRequest) {
        let n = request.token.as_u64();
        let req = &self.model.reqs[&n];
        ensure!(self, *request.payload() == req.payload, "{} carries another payload", request.token);
        let raw = split_request(&req.payload).expect("the model accepted it");
        ensure!(self, (request.crypt, request.version) == (raw.crypt, raw.version), "crypt or version differs");
        ensure!(self, request.load_bytes() == raw.load, "load bytes differ");
        let value = request.load_value();
        let want: Result<Value, _> = decode_reply(raw.load);
        match (value, want) {
            (Ok(a), Ok(b)) => ensure!(self, crate::model::same(&a, &b), "load_value differs from the load bytes"),
            (a, b) => ensure!(self, false, "load_value {a:?}, the load bytes {b:?}"),
        }
    }

    // ----- invariants -----

    pub(super) fn check_invariants(&self, after_timeout: bool) {
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
