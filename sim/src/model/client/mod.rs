//! `client_ops`: a [`Client`](reqchan_core::client::Client) driven by an arbitrary sequence of operations, beside a
//! reference model of what it must do.
//!
//! The harness behaves like a driver: after every input it drains `poll_action`, then
//! `poll_transmit`, then `poll_completion`. The model predicts every deterministic
//! outcome (submit refusals, cancellations, replies, resets, counters) and bounds the
//! rest (a retry's backoff pause and the reconnect delay are jittered, so the model keeps
//! an interval instead of an instant). After every input it checks:
//!
//! - every accepted id completes exactly once, no completion for an id never accepted,
//!   and the completion is the one the model predicts (result and attempt count);
//! - nothing is transmitted for a finished id, after close, or without an open
//!   connection; attempts are numbered 1, 2, ... up to `tries`; a request is never
//!   transmitted at or after its queue deadline; first attempts leave in submission
//!   order, retries before first attempts; lockstep keeps one request on the wire (or
//!   between attempts), pipelined at most `max_in_flight`;
//! - nothing that could be sent is left waiting while a slot is free (no stall);
//! - `pending()`, `is_connected()`, `is_closed()` and every counter match the model, and
//!   `submitted = replied + timed_out + cancelled + closed + failed + pending`;
//! - `poll_timeout()` lies within the model's bounds, is `None` exactly when nothing can
//!   happen, and is later than `now` after `handle_timeout(now)`; a `handle_timeout`
//!   with nothing due changes nothing.

mod checks;
mod coverage;
mod generate;
mod harness;
mod inputs;
mod model;
mod ops;
mod targets;
#[cfg(test)]
mod tests;

use arbitrary::{Arbitrary, Unstructured};
use reqchan_core::client::RequestId;

pub use coverage::Seen;
pub use harness::{Harness, Output};
pub use ops::Scenario;

/// Operations beyond this many are ignored, to keep one input fast.
const MAX_OPS: usize = 400;

/// Runs one fuzz input: decodes a [`Scenario`] and plays it; panics on a violation.
pub fn run(data: &[u8]) {
    play(data);
}

/// Runs one fuzz input and reports what it exercised (`None` if it does not decode).
pub fn play(data: &[u8]) -> Option<Seen> {
    Scenario::arbitrary_take_rest(Unstructured::new(data)).ok().map(Scenario::play)
}

impl Scenario {
    /// Plays the scenario, checking every invariant after every input.
    pub fn play(self) -> Seen {
        let Some(mut harness) = Harness::new(self.config) else {
            return Seen { invalid_configs: 1, ..Seen::default() };
        };
        for (i, op) in self.ops.into_iter().take(MAX_OPS).enumerate() {
            harness.context = format!("op {i}: {op:?}");
            harness.apply(op);
        }
        let stats = harness.client.stats();
        let mut seen = harness.seen;
        (seen.retries, seen.stray, seen.resets) = (stats.retried, stats.stray_replies, stats.resets);
        match harness.model.lockstep() {
            true => seen.lockstep_runs = 1,
            false => seen.pipelined_runs = 1,
        }
        // The driver goes away: whatever is left completes now, so every accepted
        // request has completed exactly once by the end.
        harness.context = "final close".to_owned();
        harness.close();
        let unfinished: Vec<RequestId> = harness.model.unfinished().map(|r| r.id).collect();
        assert!(unfinished.is_empty(), "never completed: {unfinished:?}");
        seen
    }
}
