//! What a run exercised, so the replay test can check the corpus reaches every behaviour.

use bytes::Bytes;
use reqchan_core::client::RequestError;

/// What a run exercised: lets the replay test check that the corpus reaches every
/// behaviour worth checking, not just that it passes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Seen {
    /// Runs whose config the client refused.
    pub invalid_configs: u64,
    /// Runs in lockstep mode.
    pub lockstep_runs: u64,
    /// Runs in pipelined mode.
    pub pipelined_runs: u64,
    /// Submits refused because the queue was full.
    pub queue_full: u64,
    /// Submits refused because the payload was too large.
    pub too_large: u64,
    /// Submits refused for invalid options.
    pub invalid_options: u64,
    /// Submits refused after close.
    pub submit_after_close: u64,
    /// Transmissions that were retries.
    pub retries: u64,
    /// Completions with a reply.
    pub replied: u64,
    /// `TimedOut` with 0 attempts: expired in the queue.
    pub expired_in_queue: u64,
    /// `TimedOut` after at least one attempt.
    pub timed_out: u64,
    /// `Cancelled` completions.
    pub cancelled: u64,
    /// `cancel` calls for an id that was not an unfinished request.
    pub cancel_unknown: u64,
    /// `Closed` completions.
    pub closed: u64,
    /// `PeerLost` completions.
    pub peer_lost: u64,
    /// `ReplyTooLarge` completions.
    pub reply_too_large: u64,
    /// `MalformedReply` completions.
    pub malformed: u64,
    /// Replies counted as stray.
    pub stray: u64,
    /// Socket resets.
    pub resets: u64,
    /// Reconnects after a failed connection attempt.
    pub reconnects: u64,
    /// `handle_timeout` calls with nothing due.
    pub idle_timeouts: u64,
    /// Transmissions the socket refused.
    pub send_failures: u64,
}

impl Seen {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Seen) {
        let pairs = [
            (&mut self.invalid_configs, other.invalid_configs),
            (&mut self.lockstep_runs, other.lockstep_runs),
            (&mut self.pipelined_runs, other.pipelined_runs),
            (&mut self.queue_full, other.queue_full),
            (&mut self.too_large, other.too_large),
            (&mut self.invalid_options, other.invalid_options),
            (&mut self.submit_after_close, other.submit_after_close),
            (&mut self.retries, other.retries),
            (&mut self.replied, other.replied),
            (&mut self.expired_in_queue, other.expired_in_queue),
            (&mut self.timed_out, other.timed_out),
            (&mut self.cancelled, other.cancelled),
            (&mut self.cancel_unknown, other.cancel_unknown),
            (&mut self.closed, other.closed),
            (&mut self.peer_lost, other.peer_lost),
            (&mut self.reply_too_large, other.reply_too_large),
            (&mut self.malformed, other.malformed),
            (&mut self.stray, other.stray),
            (&mut self.resets, other.resets),
            (&mut self.reconnects, other.reconnects),
            (&mut self.idle_timeouts, other.idle_timeouts),
            (&mut self.send_failures, other.send_failures),
        ];
        for (mine, theirs) in pairs {
            *mine += theirs;
        }
    }

    /// The behaviours never exercised, by field name.
    pub fn missing(&self) -> Vec<&'static str> {
        let all = [
            ("invalid_configs", self.invalid_configs),
            ("lockstep_runs", self.lockstep_runs),
            ("pipelined_runs", self.pipelined_runs),
            ("queue_full", self.queue_full),
            ("too_large", self.too_large),
            ("invalid_options", self.invalid_options),
            ("submit_after_close", self.submit_after_close),
            ("retries", self.retries),
            ("replied", self.replied),
            ("expired_in_queue", self.expired_in_queue),
            ("timed_out", self.timed_out),
            ("cancelled", self.cancelled),
            ("cancel_unknown", self.cancel_unknown),
            ("closed", self.closed),
            ("peer_lost", self.peer_lost),
            ("reply_too_large", self.reply_too_large),
            ("malformed", self.malformed),
            ("stray", self.stray),
            ("resets", self.resets),
            ("reconnects", self.reconnects),
            ("idle_timeouts", self.idle_timeouts),
            ("send_failures", self.send_failures),
        ];
        all.into_iter().filter(|(_, n)| *n == 0).map(|(name, _)| name).collect()
    }

    pub(super) fn completed(&mut self, result: &Result<Bytes, RequestError>) {
        match result {
            Ok(_) => self.replied += 1,
            Err(RequestError::TimedOut { attempts: 0 } | RequestError::Unreachable { attempts: 0, .. }) => {
                self.expired_in_queue += 1
            }
            Err(RequestError::TimedOut { .. } | RequestError::Unreachable { .. }) => self.timed_out += 1,
            Err(RequestError::Cancelled) => self.cancelled += 1,
            Err(RequestError::Closed) => self.closed += 1,
            Err(RequestError::PeerLost { .. }) => self.peer_lost += 1,
            Err(RequestError::ReplyTooLarge { .. }) => self.reply_too_large += 1,
            Err(RequestError::MalformedReply { .. }) => self.malformed += 1,
            Err(_) => {}
        }
    }
}
