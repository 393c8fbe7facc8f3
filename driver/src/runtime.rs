//! The two things a driver needs from an async runtime: a timer and a way to spawn.

use std::future::Future;
use std::time::Instant;

/// An async runtime as the drivers see it. `reqchan-tokio` and `reqchan-async-std`
/// each provide one; a custom event loop can provide its own.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The future returned by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()> + Send + 'static;

    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Runs `future` to completion in the background.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;
}
