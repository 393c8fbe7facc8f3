//! The inputs the harness applies: for each, predict with the model, call the server,
//! then drain and check.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::codec::{encode_reply, split_request};
use reqchan_core::server::{
    Framing, HandlerFailure, RejectReason, ReplyKind, RequestToken, ServerEvent, ServerStats, UnknownRequest,
};

use super::harness::*;
use super::model::*;
use super::ops::*;
use crate::model::support::ensure;

impl Harness {
    pub(super) fn message(&mut self, frames: Vec<Bytes>) {
        let mut expect = Expect::default();
        self.predict_message(&mut expect, frames.clone());
        self.server.handle_message(self.now, frames);
        self.settle(expect, false);
    }

    /// What `handle_message` must do with `frames`.
    pub(super) fn predict_message(&mut self, expect: &mut Expect, mut frames: Vec<Bytes>) {
        let m = &mut self.model;
        m.stats.received += 1;
        let size: usize = frames.iter().map(Bytes::len).sum();
        let (envelope, body) = match m.framing {
            Framing::Bare => (Vec::new(), frames),
            _ => {
                if frames.is_empty() {
                    m.stats.unroutable += 1;
                    expect.events.push_back(Event::Exact(ServerEvent::Unroutable));
                    return;
                }
                // The identity frame may itself be empty; the delimiter comes after it.
                let Some(at) = frames.iter().skip(1).position(Bytes::is_empty) else {
                    frames.truncate(1);
                    return m.reject(expect, frames, RejectReason::MissingDelimiter);
                };
                let body = frames.split_off(at + 2);
                (frames, body)
            }
        };
        if size > m.max_message_size {
            return m.reject(expect, envelope, RejectReason::TooLarge { size, limit: m.max_message_size });
        }
        let payload = match <[Bytes; 1]>::try_from(body) {
            Ok([payload]) => payload,
            Err(body) => return m.reject(expect, envelope, RejectReason::PayloadFrames { count: body.len() }),
        };
        if m.shutting_down {
            return m.reject(expect, envelope, RejectReason::ShuttingDown);
        }
        if let Err(e) = split_request(&payload) {
            return m.reject(expect, envelope, RejectReason::Envelope(e));
        }
        let running = m.count(Phase::Running);
        let queued = m.waiting.len();
        if running >= m.max_concurrent && queued >= m.max_queued {
            return m.reject(expect, envelope, RejectReason::QueueFull);
        }
        let n = m.stats.accepted;
        m.stats.accepted += 1;
        let deadline = self.now + m.request_timeout;
        let phase = if running < m.max_concurrent { Phase::Running } else { Phase::Queued };
        m.reqs.insert(n, Req { envelope, payload, deadline, phase });
        if phase == Phase::Running {
            m.stats.started += 1;
            expect.started.push_back(n);
        } else {
            m.stats.queued += 1;
            m.waiting.push_back(n);
        }
    }

    pub(super) fn handler(&mut self, target: u8, late: bool, outcome: Outcome) {
        let token = if late {
            let answered = &self.model.answered;
            answered.iter().rev().nth(usize::from(target) % answered.len().max(1)).copied()
        } else {
            let running: Vec<RequestToken> = self.model.tokens.values().copied().collect();
            running.get(usize::from(target) % running.len().max(1)).copied()
        };
        let Some(token) = token else { return };
        let limit = self.model.max_message_size;
        let result = match outcome {
            Outcome::Reply(load) => Ok(encode_reply(&load.value()).expect("a Value encodes")),
            Outcome::Large(n) => Ok(Bytes::from(vec![0xc0; limit + usize::from(n % 4)])),
            Outcome::Error => Err(HandlerFailure::Error("no such function".to_owned())),
            Outcome::Panic => Err(HandlerFailure::Panicked("index out of range".to_owned())),
        };
        let n = token.as_u64();
        let mut expect = Expect::default();
        let m = &mut self.model;
        let running = m.reqs.get(&n).is_some_and(|r| r.phase == Phase::Running);
        if running {
            match &result {
                Ok(body) if body.len() <= limit => {
                    m.stats.handler_replies += 1;
                    m.answer(&mut expect, n, ReplyKind::Handler, Some(body.clone()));
                }
                Ok(body) => {
                    m.stats.replies_too_large += 1;
                    expect.events.push_back(Event::Exact(ServerEvent::ReplyTooLarge { token, size: body.len() }));
                    m.answer(&mut expect, n, ReplyKind::HandlerException, None);
                }
                Err(failure) => {
                    match failure {
                        HandlerFailure::Panicked(_) => m.stats.handler_panics += 1,
                        _ => m.stats.handler_errors += 1,
                    }
                    let failure = failure.clone();
                    expect.events.push_back(Event::Exact(ServerEvent::HandlerFailed { token, failure }));
                    m.answer(&mut expect, n, ReplyKind::HandlerException, None);
                }
            }
            m.start_waiting(&mut expect);
        } else {
            m.stats.late_handler_results += 1;
        }
        let got = self.server.handle_result(self.now, token, result);
        let want = if running { Ok(()) } else { Err(UnknownRequest(token)) };
        ensure!(self, got == want, "handle_result({token}) returned {got:?}, expected {want:?}");
        if let Err(e) = got {
            ensure!(self, !e.to_string().is_empty(), "empty error message");
        }
        self.settle(expect, false);
    }

    pub(super) fn handle_timeout(&mut self) {
        let now = self.now;
        let due = self.server.poll_timeout().is_some_and(|at| at <= now);
        let before = (!due).then(|| self.snapshot());
        let mut expect = Expect::default();
        let m = &mut self.model;
        let mut expired: Vec<(Instant, u64)> = m
            .reqs
            .iter()
            .filter(|(_, r)| r.phase != Phase::Answered && r.deadline <= now)
            .map(|(n, r)| (r.deadline, *n))
            .collect();
        expired.sort();
        for (_, n) in expired {
            match m.reqs[&n].phase {
                Phase::Running => {
                    m.stats.timed_out_running += 1;
                    expect.events.push_back(Event::TimedOut { token: n, started: true });
                    m.answer(&mut expect, n, ReplyKind::HandlerException, None);
                    if let Some(reply) = expect.transmits.back_mut() {
                        reply.aborts = true;
                    }
                }
                _ => {
                    m.waiting.retain(|w| *w != n);
                    m.stats.timed_out_queued += 1;
                    expect.events.push_back(Event::TimedOut { token: n, started: false });
                    m.answer(&mut expect, n, ReplyKind::Busy, None);
                }
            }
        }
        m.start_waiting(&mut expect);
        self.server.handle_timeout(now);
        let outputs = self.settle(expect, true);
        if let Some(before) = before {
            ensure!(self, outputs == 0, "handle_timeout with nothing due produced {outputs} outputs");
            ensure!(self, self.snapshot() == before, "handle_timeout with nothing due changed the server");
        }
    }

    pub(super) fn shutdown(&mut self, grace: Duration) {
        let now = self.now;
        let mut expect = Expect::default();
        let m = &mut self.model;
        m.shutting_down = true;
        while let Some(n) = m.waiting.pop_front() {
            m.stats.refused_shutting_down_queued += 1;
            expect.events.push_back(Event::Exact(ServerEvent::Rejected { reason: RejectReason::ShuttingDown }));
            m.answer(&mut expect, n, ReplyKind::Busy, None);
        }
        let cap = now.checked_add(grace).unwrap_or(now + m.request_timeout);
        for req in m.reqs.values_mut().filter(|r| r.phase == Phase::Running) {
            req.deadline = req.deadline.min(cap);
        }
        self.server.shutdown(now, grace);
        self.settle(expect, false);
    }

    pub(super) fn snapshot(&self) -> (ServerStats, usize, usize, Option<Instant>, bool) {
        let s = &self.server;
        (*s.stats(), s.pending(), s.running(), s.poll_timeout(), s.is_drained())
    }
}
