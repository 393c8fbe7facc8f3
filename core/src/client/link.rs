//! The connection as the client sees it: opening, open, waiting to reopen, or closed;
//! and the one socket action the driver has not picked up yet.

use std::time::Instant;

use super::backoff::ExponentialBackoff;
use super::error::ConnectError;
use super::output::{ConnectReason, ConnectionState, SocketAction};
use crate::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A `Connect` action is pending or being carried out.
    Opening,
    Open,
    /// The last connection attempt failed; the next one starts at `retry_at`.
    Waiting {
        retry_at: Instant,
    },
    Closed,
}

#[derive(Debug)]
pub(crate) struct Link {
    state: State,
    action: Option<SocketAction>,
    failures_in_a_row: u32,
    ever_open: bool,
    /// Why the latest connection attempt failed, until one succeeds.
    last_error: Option<ConnectError>,
}

impl Link {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Opening,
            action: Some(SocketAction::Connect { reason: ConnectReason::Initial }),
            failures_in_a_row: 0,
            ever_open: false,
            last_error: None,
        }
    }

    /// The connection as a user sees it.
    pub(crate) fn status(&self) -> ConnectionState {
        match self.state {
            State::Open => ConnectionState::Connected,
            State::Closed => ConnectionState::Closed,
            State::Opening | State::Waiting { .. } if self.ever_open => ConnectionState::Reconnecting,
            State::Opening | State::Waiting { .. } => ConnectionState::Connecting,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.state == State::Open
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Asks the driver for a fresh socket.
    pub(crate) fn reconnect(&mut self, reason: ConnectReason) {
        if self.state != State::Closed {
            self.state = State::Opening;
            self.action = Some(SocketAction::Connect { reason });
        }
    }

    /// The driver connected. False if no connection was being opened.
    pub(crate) fn connected(&mut self) -> bool {
        if self.state != State::Opening || self.action.is_some() {
            return false;
        }
        self.state = State::Open;
        self.ever_open = true;
        self.failures_in_a_row = 0;
        self.last_error = None;
        true
    }

    /// The driver could not connect: wait, then ask again. False if no connection was
    /// being opened.
    pub(crate) fn connect_failed(
        &mut self,
        now: Instant,
        policy: &ExponentialBackoff,
        rng: &mut Rng,
        error: ConnectError,
    ) -> bool {
        if self.state != State::Opening || self.action.is_some() {
            return false;
        }
        self.last_error = Some(error);
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        let retry_at = now + policy.delay(self.failures_in_a_row, rng);
        self.state = State::Waiting { retry_at };
        true
    }

    /// Why the latest connection attempt failed, while no connection is open and one
    /// has failed since the last was open.
    pub(crate) fn last_connect_error(&self) -> Option<&ConnectError> {
        match self.state {
            State::Open | State::Closed => None,
            _ => self.last_error.as_ref(),
        }
    }

    pub(crate) fn retry_at(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { retry_at } => Some(retry_at),
            _ => None,
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.retry_at().is_some_and(|at| at <= now) {
            self.reconnect(ConnectReason::Retry);
        }
    }

    pub(crate) fn close(&mut self) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.action = Some(SocketAction::Close);
        }
    }

    pub(crate) fn poll_action(&mut self) -> Option<SocketAction> {
        self.action.take()
    }
}
