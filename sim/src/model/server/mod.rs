//! `server_ops`: a [`Server`](reqchan_core::server::Server) fed arbitrary messages (well-formed Salt requests, bad
//! envelopes, broken framing, oversized) and handler outcomes in any order, beside a
//! reference model.
//!
//! The harness drains `poll_transmit`, `poll_request` and `poll_event` after every
//! input, like a driver. The model predicts each input's transmits (token, kind,
//! frames, in order), started requests and events exactly, and after every input it
//! checks:
//!
//! - every routable message gets exactly one reply: at once (an error reply behind its
//!   own envelope) or, once accepted, exactly one reply for its token and never a second;
//! - bad input (framing, size, envelope) gets `bad load`; a full server or a shutdown
//!   gets `server busy`; a failed, panicked, oversized or timed-out handler gets Salt's
//!   handler-exception reply; a handler's reply is sent as it is;
//! - at most `max_concurrent` handlers run, queued requests start in FIFO order as soon
//!   as a slot frees, and a request handed to the handler carries the envelope's crypt,
//!   version and exact load bytes;
//! - a handler result for an answered request is refused and changes nothing else;
//! - counters match the model and add up; `pending()`, `running()`,
//!   `is_shutting_down()`, `is_drained()` match; `poll_timeout()` is the earliest
//!   deadline, later than `now` after `handle_timeout(now)`, and a `handle_timeout`
//!   with nothing due changes nothing.

mod checks;
mod generate;
mod harness;
mod inputs;
mod model;
mod ops;
#[cfg(test)]
mod tests;

use arbitrary::{Arbitrary, Unstructured};
use reqchan_core::server::ServerStats;

use std::time::Duration;

use harness::Harness;
use model::Phase;
pub use ops::Scenario;

/// Operations beyond this many are ignored, to keep one input fast.
const MAX_OPS: usize = 300;

/// Runs one fuzz input: decodes a [`Scenario`] and plays it; panics on a violation.
pub fn run(data: &[u8]) {
    play(data);
}

/// Runs one fuzz input; returns the server's counters at the end (`None` if the input
/// does not decode or its config is refused), to see what the corpus exercises.
pub fn play(data: &[u8]) -> Option<ServerStats> {
    Scenario::arbitrary_take_rest(Unstructured::new(data)).ok()?.play()
}

impl Scenario {
    /// Plays the scenario, checking every invariant after every input; returns the
    /// server's counters (`None` if the config was refused, as it should be).
    pub fn play(self) -> Option<ServerStats> {
        let mut harness = Harness::new(self.config)?;
        for (i, op) in self.ops.into_iter().take(MAX_OPS).enumerate() {
            harness.context = format!("op {i}: {op:?}");
            harness.apply(op);
        }
        let stats = *harness.server.stats();
        // Shut down with no grace: every accepted request is answered, exactly once.
        harness.context = "final shutdown".to_owned();
        harness.shutdown(Duration::ZERO);
        harness.handle_timeout();
        let unanswered: Vec<u64> =
            harness.model.reqs.iter().filter(|(_, r)| r.phase != Phase::Answered).map(|(n, _)| *n).collect();
        assert!(unanswered.is_empty(), "never answered: {unanswered:?}");
        assert!(harness.server.is_drained(), "not drained after shutdown");
        Some(stats)
    }
}
