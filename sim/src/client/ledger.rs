//! What the sim has seen the client do, checked against the rules after every step:
//! each accepted request completes exactly once, transmissions count up by one and stay
//! within `tries`, nothing is sent for a finished request or after close, and the
//! client's counters and `pending()` agree with what was observed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqchan_core::client::{Client, Completion, ConnectReason, RequestError, RequestId};

/// One accepted request, as observed from outside the client.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When it was accepted.
    pub submitted_at: Instant,
    /// Its per-attempt timeout.
    pub timeout: Duration,
    /// Its attempts in total.
    pub tries: u32,
    /// Transmissions handed to the socket.
    pub sent: u32,
    /// When each of them was handed over.
    pub sent_at: Vec<Instant>,
    /// Whether it has completed.
    pub done: bool,
}

/// Everything observed of the client, checked against its rules after every step.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: BTreeMap<RequestId, Entry>,
    open: usize,
    pub(super) closed: bool,
    transmitted: u64,
    retried: u64,
    replied: u64,
    timed_out: u64,
    rejected: u64,
    cancelled: u64,
    closed_count: u64,
    failed: u64,
    resets: u64,
    connect_failures: u64,
    send_failures: u64,
}

impl Ledger {
    /// What was observed of request `id`.
    pub fn entry(&self, id: RequestId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Whether `id` was accepted and has not completed.
    pub fn is_open(&self, id: RequestId) -> bool {
        self.entries.get(&id).is_some_and(|e| !e.done)
    }

    /// Unfinished requests, in submission order.
    pub fn open_ids(&self) -> Vec<RequestId> {
        self.entries.iter().filter(|(_, e)| !e.done).map(|(id, _)| *id).collect()
    }

    /// Requests accepted so far.
    pub fn accepted(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn accept(&mut self, id: RequestId, entry: Entry) {
        assert!(!self.closed, "{id} accepted after close");
        let previous = self.entries.insert(id, entry);
        assert!(previous.is_none(), "{id} handed out twice");
        self.open += 1;
    }

    pub(super) fn transmit(&mut self, now: Instant, id: RequestId, attempt: u32) {
        assert!(!self.closed, "{id} transmitted after close");
        let entry = self.entries.get_mut(&id).unwrap_or_else(|| panic!("transmission of {id}, never accepted"));
        assert!(!entry.done, "transmission of {id} after it completed");
        assert_eq!(attempt, entry.sent + 1, "{id}: attempts must count up by one");
        assert!(attempt <= entry.tries, "{id}: attempt {attempt} exceeds tries {}", entry.tries);
        if attempt == 1 {
            assert!(
                now < entry.submitted_at + entry.timeout,
                "{id} first sent at +{:?} after waiting its whole timeout {:?} in the queue",
                now - entry.submitted_at,
                entry.timeout
            );
        }
        entry.sent = attempt;
        entry.sent_at.push(now);
        self.transmitted += 1;
        if attempt > 1 {
            self.retried += 1;
        }
    }

    /// The socket refused the transmission just recorded: it was not an attempt.
    pub(super) fn send_failed(&mut self, id: RequestId, attempt: u32) {
        let entry = self.entries.get_mut(&id).expect("transmitted");
        assert_eq!(entry.sent, attempt);
        entry.sent -= 1;
        entry.sent_at.pop();
        // Counters only go up: the transmission stays counted, the refusal is added.
        self.send_failures += 1;
    }

    pub(super) fn complete(&mut self, now: Instant, done: &Completion) {
        let id = done.id;
        let entry = self.entries.get_mut(&id).unwrap_or_else(|| panic!("completion for {id}, never accepted"));
        assert!(!entry.done, "{id} completed twice: {done:?}");
        entry.done = true;
        self.open -= 1;
        assert_eq!(
            done.attempts, entry.sent,
            "{id}: completion reports {} attempts, {} seen",
            done.attempts, entry.sent
        );
        match &done.result {
            Ok(_) => self.replied += 1,
            Err(RequestError::TimedOut { attempts } | RequestError::Unreachable { attempts, .. }) => {
                self.timed_out += 1;
                assert_eq!(*attempts, entry.sent, "{id}: TimedOut attempts");
                let waited_since = entry.sent_at.last().copied().unwrap_or(entry.submitted_at);
                assert!(now >= waited_since + entry.timeout, "{id} timed out early at {now:?}");
            }
            Err(RequestError::PeerLost { attempts }) => {
                self.failed += 1;
                assert_eq!(*attempts, entry.sent, "{id}: PeerLost attempts");
                assert_eq!(*attempts, entry.tries, "{id}: PeerLost with tries left");
            }
            Err(RequestError::Cancelled) => self.cancelled += 1,
            Err(RequestError::Closed) => self.closed_count += 1,
            Err(RequestError::Rejected { .. }) => self.rejected += 1,
            Err(_) => self.failed += 1,
        }
    }

    pub(super) fn connect_action(&mut self, reason: ConnectReason) {
        if !matches!(reason, ConnectReason::Initial | ConnectReason::Retry) {
            self.resets += 1;
        }
    }

    pub(super) fn connect_failed(&mut self) {
        self.connect_failures += 1;
    }

    /// The client's getters agree with what was observed.
    pub(super) fn check(&self, client: &Client) {
        let stats = client.stats();
        assert_eq!(client.pending(), self.open, "pending() disagrees with the requests seen unfinished");
        assert_eq!(stats.submitted, self.entries.len() as u64, "stats.submitted");
        assert_eq!(stats.transmitted, self.transmitted, "stats.transmitted");
        assert_eq!(stats.retried, self.retried, "stats.retried");
        assert_eq!(stats.replied, self.replied, "stats.replied");
        assert_eq!(stats.timed_out, self.timed_out, "stats.timed_out");
        assert_eq!(stats.rejected, self.rejected, "stats.rejected");
        assert_eq!(stats.cancelled, self.cancelled, "stats.cancelled");
        assert_eq!(stats.closed, self.closed_count, "stats.closed");
        assert_eq!(stats.failed, self.failed, "stats.failed");
        assert_eq!(stats.resets, self.resets, "stats.resets");
        assert_eq!(stats.connect_failures, self.connect_failures, "stats.connect_failures");
        assert_eq!(stats.send_failures, self.send_failures, "stats.send_failures");
        let finished = stats.replied + stats.rejected + stats.timed_out + stats.cancelled + stats.closed + stats.failed;
        assert_eq!(finished + client.pending() as u64, stats.submitted, "every request is pending or counted once");
        assert_eq!(client.is_closed(), self.closed, "is_closed()");
    }
}
