//! The reference model: what the server must answer, as plain data.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::codec::{BAD_LOAD_REPLY, HANDLER_EXCEPTION_REPLY, SERVER_BUSY_REPLY};
use reqchan_core::server::{Framing, RejectReason, ReplyKind, RequestToken, ServerEvent, ServerStats};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Queued,
    Running,
    Answered,
}

#[derive(Debug)]
pub(super) struct Req {
    pub(super) envelope: Vec<Bytes>,
    pub(super) payload: Bytes,
    pub(super) deadline: Instant,
    pub(super) phase: Phase,
}

/// The model's own counters, compared field by field with [`ServerStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stats {
    pub(super) received: u64,
    pub(super) unroutable: u64,
    pub(super) rejected_malformed: u64,
    pub(super) rejected_too_large: u64,
    pub(super) refused_queue_full: u64,
    pub(super) refused_shutting_down: u64,
    pub(super) accepted: u64,
    pub(super) queued: u64,
    pub(super) started: u64,
    pub(super) handler_replies: u64,
    pub(super) handler_errors: u64,
    pub(super) handler_panics: u64,
    pub(super) replies_too_large: u64,
    pub(super) timed_out_running: u64,
    pub(super) timed_out_queued: u64,
    pub(super) refused_shutting_down_queued: u64,
    pub(super) late_handler_results: u64,
    pub(super) replies_sent: u64,
    pub(super) events_dropped: u64,
}

impl Stats {
    pub(super) fn of(s: &ServerStats) -> Self {
        Self {
            received: s.received,
            unroutable: s.unroutable,
            rejected_malformed: s.rejected_malformed,
            rejected_too_large: s.rejected_too_large,
            refused_queue_full: s.refused_queue_full,
            refused_shutting_down: s.refused_shutting_down,
            accepted: s.accepted,
            queued: s.queued,
            started: s.started,
            handler_replies: s.handler_replies,
            handler_errors: s.handler_errors,
            handler_panics: s.handler_panics,
            replies_too_large: s.replies_too_large,
            timed_out_running: s.timed_out_running,
            timed_out_queued: s.timed_out_queued,
            refused_shutting_down_queued: s.refused_shutting_down_queued,
            late_handler_results: s.late_handler_results,
            replies_sent: s.replies_sent,
            events_dropped: s.events_dropped,
        }
    }
}

/// One predicted reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub(super) token: Option<u64>,
    pub(super) kind: ReplyKind,
    pub(super) frames: Vec<Bytes>,
    /// Sent in a running handler's stead: the driver must abort that handler.
    pub(super) aborts: bool,
}

/// What the model predicts for one input.
#[derive(Debug, Default)]
pub(super) struct Expect {
    pub(super) transmits: VecDeque<Reply>,
    pub(super) started: VecDeque<u64>,
    pub(super) events: VecDeque<Event>,
}

/// A predicted event.
#[derive(Debug)]
pub(super) enum Event {
    Exact(ServerEvent),
    /// By token number: a request that timed out in the queue was never handed out, so
    /// the model has no `RequestToken` for it.
    TimedOut {
        token: u64,
        started: bool,
    },
}

impl Event {
    pub(super) fn matches(&self, event: &ServerEvent) -> bool {
        match (self, event) {
            (Self::Exact(want), got) => want == got,
            (Self::TimedOut { token, started }, ServerEvent::TimedOut { token: t, started: s }) => {
                t.as_u64() == *token && s == started
            }
            _ => false,
        }
    }
}

pub(super) struct Model {
    pub(super) framing: Framing,
    pub(super) max_concurrent: usize,
    pub(super) max_queued: usize,
    pub(super) max_message_size: usize,
    pub(super) request_timeout: Duration,
    pub(super) reqs: BTreeMap<u64, Req>,
    /// Queued tokens, first in first out.
    pub(super) waiting: VecDeque<u64>,
    /// Running tokens, as the handler received them.
    pub(super) tokens: BTreeMap<u64, RequestToken>,
    /// Tokens answered, for late handler results.
    pub(super) answered: Vec<RequestToken>,
    pub(super) shutting_down: bool,
    pub(super) stats: Stats,
}

impl Model {
    pub(super) fn count(&self, phase: Phase) -> usize {
        self.reqs.values().filter(|r| r.phase == phase).count()
    }

    /// Answers accepted request `n` with `kind` (and `body`, for a handler reply).
    pub(super) fn answer(&mut self, expect: &mut Expect, n: u64, kind: ReplyKind, body: Option<Bytes>) {
        let req = self.reqs.get_mut(&n).expect("model: answering an unknown request");
        req.phase = Phase::Answered;
        let body = body.unwrap_or_else(|| Bytes::from_static(error_body(kind)));
        let mut frames = req.envelope.clone();
        frames.push(body);
        if let Some(token) = self.tokens.remove(&n) {
            self.answered.push(token);
        }
        self.stats.replies_sent += 1;
        expect.transmits.push_back(Reply { token: Some(n), kind, frames, aborts: false });
    }

    pub(super) fn reject(&mut self, expect: &mut Expect, envelope: Vec<Bytes>, reason: RejectReason) {
        let kind = match reason {
            RejectReason::QueueFull => {
                self.stats.refused_queue_full += 1;
                ReplyKind::Busy
            }
            RejectReason::ShuttingDown => {
                self.stats.refused_shutting_down += 1;
                ReplyKind::Busy
            }
            RejectReason::TooLarge { .. } => {
                self.stats.rejected_malformed += 1;
                self.stats.rejected_too_large += 1;
                ReplyKind::BadLoad
            }
            _ => {
                self.stats.rejected_malformed += 1;
                ReplyKind::BadLoad
            }
        };
        let mut frames = envelope;
        frames.push(Bytes::from_static(error_body(kind)));
        self.stats.replies_sent += 1;
        expect.events.push_back(Event::Exact(ServerEvent::Rejected { reason }));
        expect.transmits.push_back(Reply { token: None, kind, frames, aborts: false });
    }

    /// Starts queued requests while slots are free.
    pub(super) fn start_waiting(&mut self, expect: &mut Expect) {
        while self.count(Phase::Running) < self.max_concurrent {
            let Some(n) = self.waiting.pop_front() else { break };
            self.reqs.get_mut(&n).expect("queued requests are known").phase = Phase::Running;
            self.stats.started += 1;
            expect.started.push_back(n);
        }
    }
}

pub(super) fn error_body(kind: ReplyKind) -> &'static [u8] {
    match kind {
        ReplyKind::BadLoad => BAD_LOAD_REPLY,
        ReplyKind::Busy => SERVER_BUSY_REPLY,
        _ => HANDLER_EXCEPTION_REPLY,
    }
}
