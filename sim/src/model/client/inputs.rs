//! The inputs the harness applies: for each, predict with the model, call the client,
//! then drain and check.

use std::time::Duration;

use bytes::Bytes;
use reqchan_core::client::{
    ConnectReason, MAX_DURATION, RequestError, RequestId, RequestOptions, SocketAction, SubmitError,
};

use super::harness::{Harness, connect_error, longest_pause};
use super::model::*;
use super::ops::*;
use crate::model::support::ensure;

impl Harness {
    /// The fuzz grammar's submit: options (valid or not) chosen by `choice`.
    pub(super) fn submit_choice(&mut self, payload: Bytes, choice: OptionsChoice) {
        let mut options = RequestOptions::default();
        if let Some(t) = choice.timeout {
            options = options.timeout(match t {
                RequestTimeout::Valid(t) => t.duration(),
                RequestTimeout::Zero => Duration::ZERO,
                RequestTimeout::OverMax => MAX_DURATION + Duration::from_nanos(1),
            });
        }
        if let Some(t) = choice.tries {
            options = options.tries(u32::from(t % 5));
        }
        if let Some(b) = choice.backoff {
            options = options.backoff(b.build().0);
        }
        let _ = self.submit(payload, options);
    }

    /// `submit`, predicted: accepted, or refused for the reason the model sees.
    pub fn submit(&mut self, payload: Bytes, options: RequestOptions) -> Result<RequestId, SubmitError> {
        assert!(options.detect_refusals != Some(true), "the model does not cover refusal detection");
        let m = &self.model;
        let timeout = options.timeout.unwrap_or(m.defaults.timeout);
        let tries = options.tries.unwrap_or(m.defaults.tries);
        let backoff_max = options.backoff.map_or(m.defaults.backoff_max, |b| longest_pause(&b));
        let bad_options = timeout.is_zero() || timeout > MAX_DURATION || tries == 0;
        let closed = m.link == Link::Closed;
        let too_large = payload.len() > m.max_message_size;
        let full = m.count(|_| true) - m.in_flight() >= m.max_queued;

        let refusals = format!("closed {closed}, too large {too_large}, bad options {bad_options}, queue full {full}");
        // A caller's tag, unrelated to the id: it must come back in the completion.
        let tag = u64::MAX - self.model.stats.submitted;
        let result = self.client.submit_tagged(self.reading(), payload.clone(), options, tag);
        match &result {
            Ok(id) => {
                let id = *id;
                ensure!(self, !(closed || too_large || bad_options || full), "submit accepted: {refusals}");
                let n = id.as_u64();
                ensure!(self, self.model.req(n).is_none(), "submit reused id {id}");
                let opts = Resolved { timeout, tries, backoff_max };
                let req = Req {
                    id,
                    tag,
                    payload,
                    opts,
                    submitted: self.now,
                    attempts: 0,
                    id_frame: None,
                    state: State::Queued,
                };
                self.model.reqs.insert(n, req);
                self.model.stats.submitted += 1;
            }
            Err(e) => {
                let (size, limit) = (payload.len(), self.model.max_message_size);
                let fits = match &e {
                    SubmitError::Closed => closed,
                    SubmitError::TooLarge { size: s, limit: l } => too_large && *s == size && *l == limit,
                    SubmitError::InvalidOptions(_) => bad_options,
                    SubmitError::QueueFull { capacity } => full && *capacity == self.model.max_queued,
                    other => panic!("unknown SubmitError {other:?}"),
                };
                ensure!(self, fits, "submit refused with {e:?}: {refusals}");
                match e {
                    SubmitError::Closed => self.seen.submit_after_close += 1,
                    SubmitError::TooLarge { .. } => self.seen.too_large += 1,
                    SubmitError::InvalidOptions(_) => self.seen.invalid_options += 1,
                    _ => self.seen.queue_full += 1,
                }
                ensure!(self, !e.to_string().is_empty(), "empty error message");
            }
        }
        self.settle(Expect::default(), false);
        result
    }

    pub(super) fn cancel_target(&mut self, target: Target) {
        let id = match self.resolve(target) {
            Some(id) => id,
            None => self.unknown_id(target),
        };
        self.cancel(id);
    }

    /// `cancel`, predicted: true exactly for an unfinished request, which completes
    /// `Cancelled` at once (a lockstep request on the wire resets the connection).
    pub fn cancel(&mut self, id: RequestId) -> bool {
        let n = id.as_u64();
        let mut expect = Expect::default();
        let live = self.model.reqs.get(&n).filter(|r| r.unfinished()).map(|r| r.state);
        if let Some(state) = live {
            if self.model.lockstep() && matches!(state, State::InFlight { .. }) {
                self.model.reset(&mut expect, ConnectReason::Cancelled(id));
            }
            self.model.finish(&mut expect, n, Err(RequestError::Cancelled));
        }
        let cancelled = self.client.cancel(self.reading(), id);
        ensure!(self, cancelled == live.is_some(), "cancel({id}) returned {cancelled}, model state {live:?}");
        self.seen.cancel_unknown += u64::from(!cancelled);
        self.settle(expect, false);
        cancelled
    }

    /// `close`, predicted: every unfinished request completes `Closed`, in submission
    /// order, and the socket is dropped.
    pub fn close(&mut self) {
        let mut expect = Expect { in_order: true, ..Expect::default() };
        if self.model.link != Link::Closed {
            let live: Vec<u64> = self.model.unfinished().map(|r| r.id.as_u64()).collect();
            for n in live {
                self.model.finish(&mut expect, n, Err(RequestError::Closed));
            }
            self.model.link = Link::Closed;
            expect.action = Some(SocketAction::Close);
        }
        self.client.close(self.reading());
        self.settle(expect, false);
    }

    /// `handle_connected`: the connection asked for is open.
    pub fn connected(&mut self) {
        if self.model.link == Link::Opening {
            self.model.link = Link::Open;
            self.model.ever_open = true;
            self.model.connect_error = None;
        }
        self.client.handle_connected(self.reading());
        self.settle(Expect::default(), false);
    }

    /// `handle_connect_failed`: the connection asked for could not be opened.
    pub fn connect_failed(&mut self) {
        if self.model.link == Link::Opening {
            self.model.link = Link::Waiting { since: self.now };
            self.model.stats.connect_failures += 1;
            self.model.connect_error = Some(connect_error());
        }
        self.client.handle_connect_failed(self.reading(), connect_error());
        self.settle(Expect::default(), false);
    }

    /// `handle_peer_lost`: every attempt on the wire fails and the connection resets.
    pub fn peer_lost(&mut self) {
        let expect = self.model_peer_lost();
        self.client.handle_peer_lost(self.reading());
        self.settle(expect, false);
    }

    /// The model's side of a lost connection.
    pub(super) fn model_peer_lost(&mut self) -> Expect {
        let mut expect = Expect::default();
        if self.model.link == Link::Open {
            self.model.reset(&mut expect, ConnectReason::PeerLost);
            let on_wire: Vec<(u64, u32)> = self
                .model
                .unfinished()
                .filter(|r| matches!(r.state, State::InFlight { .. }))
                .map(|r| (r.id.as_u64(), r.attempts))
                .collect();
            for (n, attempts) in on_wire {
                self.model.fail_attempt(&mut expect, n, self.now, RequestError::PeerLost { attempts });
            }
        }
        expect
    }

    /// `handle_send_refused([id])`, and the model's side of it: the refusal, then the
    /// lost connection.
    pub(super) fn send_failed(&mut self, target: Target) {
        let id = match self.resolve(target) {
            Some(id) => id,
            None => self.unknown_id(target),
        };
        self.refuse(id);
    }

    /// `handle_send_refused([id])`: the transmission was not an attempt, and the
    /// connection is lost.
    pub fn refuse(&mut self, id: RequestId) {
        let n = id.as_u64();
        if let Some(req) = self.model.reqs.get_mut(&n) {
            // Not an attempt after all: back to the head of the retry queue, under the
            // deadline it had while waiting. Counters only go up: the transmission
            // stays counted.
            if let State::InFlight { wait: (lo, hi), .. } = req.state {
                req.state = State::Ready { lo, hi };
                req.attempts -= 1;
                self.model.stats.send_failures += 1;
                self.seen.send_failures += 1;
            }
        }
        let expect = self.model_peer_lost();
        self.client.handle_send_refused(self.reading(), &[id]);
        self.settle(expect, false);
    }

    /// `handle_reply`: the request `frames` answer (as the model matches them)
    /// completes; anything else is a stray reply.
    pub fn reply(&mut self, frames: &[Bytes]) {
        let mut expect = Expect::default();
        match self.match_reply(frames) {
            // Every input is ignored after close: not even counted.
            None if self.model.link == Link::Closed => {}
            None => self.model.stats.stray_replies += 1,
            Some((n, result)) => {
                let limit = self.model.max_message_size;
                let result = result.and_then(|payload| match payload.len() {
                    size if size > limit => Err(RequestError::ReplyTooLarge { size, limit }),
                    _ => Ok(payload),
                });
                self.model.finish(&mut expect, n, result);
            }
        }
        self.client.handle_reply(self.reading(), frames);
        self.settle(expect, false);
    }

    /// Which unfinished request `frames` answer, as the model sees it.
    pub(super) fn match_reply(&self, frames: &[Bytes]) -> Option<(u64, Result<Bytes, RequestError>)> {
        let m = &self.model;
        if m.link != Link::Open {
            return None;
        }
        let malformed = Err(RequestError::MalformedReply { reason: "" });
        if m.plain() {
            let req = m.unfinished().find(|r| matches!(r.state, State::InFlight { .. }))?;
            // Plain lockstep: the envelope a REQ socket would add, matched by position.
            let result = match frames {
                [delimiter, payload] if delimiter.is_empty() => Ok(payload.clone()),
                _ => malformed,
            };
            return Some((req.id.as_u64(), result));
        }
        let first = frames.first()?;
        if m.lockstep() {
            // Correlated lockstep: only the request on the wire, by its id frame.
            let req = m.unfinished().find(|r| matches!(r.state, State::InFlight { .. }))?;
            if req.id_frame.as_ref() != Some(first) {
                return None;
            }
            let result = match frames {
                [_, delimiter, payload] if delimiter.is_empty() => Ok(payload.clone()),
                _ => malformed,
            };
            return Some((req.id.as_u64(), result));
        }
        // A request never sent (queued, or its only send refused) cannot have been answered.
        let req = m.unfinished().find(|r| r.id_frame.as_ref() == Some(first) && r.attempts > 0)?;
        let result = match frames {
            [_, delimiter, payload] if delimiter.is_empty() => Ok(payload.clone()),
            _ => malformed,
        };
        Some((req.id.as_u64(), result))
    }

    /// `handle_timeout` at the model's time; with nothing due, it must change nothing.
    pub fn handle_timeout(&mut self) {
        let now = self.now;
        let due = self.client.poll_timeout().map(|t| t.at).is_some_and(|at| at <= now);
        let before = (!due).then(|| self.snapshot());
        let mut expect = Expect::default();
        let m = &mut self.model;
        if let Link::Waiting { since } = m.link {
            expect.retry = if now >= since + m.reconnect_max { Retry::Required } else { Retry::Possible };
        }
        let ids: Vec<u64> = m.unfinished().map(|r| r.id.as_u64()).collect();
        for n in ids {
            let req = m.reqs.get_mut(&n).expect("listed above");
            let timeout = req.opts.timeout;
            match req.state {
                State::Queued if now >= req.submitted + timeout => {
                    let error = m.expired(0);
                    m.finish(&mut expect, n, Err(error));
                }
                State::InFlight { deadline, .. } if now >= deadline => {
                    let (id, attempts) = (req.id, req.attempts);
                    if m.lockstep() {
                        m.reset(&mut expect, ConnectReason::AttemptTimedOut(id));
                    }
                    m.fail_attempt(&mut expect, n, now, RequestError::TimedOut { attempts });
                }
                // The pause ends at the latest `backoff_max` after it began; the retry's
                // deadline then counts from the `handle_timeout` that saw it end.
                State::BackingOff { since, .. } => {
                    req.state = match now >= since + req.opts.backoff_max.unwrap_or_default() {
                        true => State::Ready { lo: since + timeout, hi: now + timeout },
                        false => State::BackingOff { since, wake: now },
                    };
                }
                State::Ready { hi, .. } if now >= hi => {
                    let attempts = req.attempts;
                    let error = m.expired(attempts);
                    m.finish(&mut expect, n, Err(error));
                }
                _ => {}
            }
        }
        self.client.handle_timeout(self.reading());
        let drained = self.settle(expect, true);
        if let Some(before) = before {
            ensure!(
                self,
                drained.actions == 0 && drained.transmits == 0 && drained.completions.is_empty(),
                "handle_timeout with nothing due produced output: {drained:?}"
            );
            ensure!(self, self.snapshot() == before, "handle_timeout with nothing due changed the client");
            self.seen.idle_timeouts += 1;
        }
    }
}
