//! The table of accepted requests that still owe a reply, with their deadlines.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::Bytes;

use super::id::RequestToken;
use super::request::IncomingRequest;

/// Where an accepted request is.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Waiting for a handler slot; holds the request to hand out later.
    Queued(IncomingRequest),
    /// Handed to the handler.
    Running,
}

#[derive(Debug)]
pub(crate) struct Entry {
    /// Frames to send in front of the reply.
    pub(crate) envelope: Vec<Bytes>,
    pub(crate) deadline: Instant,
    pub(crate) phase: Phase,
}

/// Accepted requests by token, and an ordered index of their deadlines.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    entries: BTreeMap<RequestToken, Entry>,
    deadlines: BTreeSet<(Instant, RequestToken)>,
    running: usize,
}

impl Requests {
    pub(crate) fn insert(&mut self, token: RequestToken, entry: Entry) {
        self.deadlines.insert((entry.deadline, token));
        if matches!(entry.phase, Phase::Running) {
            self.running += 1;
        }
        self.entries.insert(token, entry);
    }

    pub(crate) fn remove(&mut self, token: RequestToken) -> Option<Entry> {
        let entry = self.entries.remove(&token)?;
        self.deadlines.remove(&(entry.deadline, token));
        if matches!(entry.phase, Phase::Running) {
            self.running -= 1;
        }
        Some(entry)
    }

    /// Marks a queued request as running and returns what to hand to the handler.
    pub(crate) fn start(&mut self, token: RequestToken) -> Option<IncomingRequest> {
        let entry = self.entries.get_mut(&token)?;
        match std::mem::replace(&mut entry.phase, Phase::Running) {
            Phase::Queued(request) => {
                self.running += 1;
                Some(request)
            }
            Phase::Running => None,
        }
    }

    pub(crate) fn is_running(&self, token: RequestToken) -> bool {
        matches!(self.entries.get(&token), Some(Entry { phase: Phase::Running, .. }))
    }

    /// Moves a request's deadline earlier (never later).
    pub(crate) fn cap_deadline(&mut self, token: RequestToken, deadline: Instant) {
        if let Some(entry) = self.entries.get_mut(&token)
            && deadline < entry.deadline
        {
            self.deadlines.remove(&(entry.deadline, token));
            entry.deadline = deadline;
            self.deadlines.insert((deadline, token));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Removes and returns the request with the earliest deadline if it is due.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(RequestToken, Entry)> {
        let &(deadline, token) = self.deadlines.first()?;
        if deadline > now {
            return None;
        }
        self.remove(token).map(|entry| (token, entry))
    }

    /// Tokens of running requests, in token order.
    pub(crate) fn running_tokens(&self) -> Vec<RequestToken> {
        self.entries.iter().filter(|(_, e)| matches!(e.phase, Phase::Running)).map(|(&t, _)| t).collect()
    }

    pub(crate) fn running(&self) -> usize {
        self.running
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
