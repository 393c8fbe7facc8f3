//! What a driver needs from an async runtime: a timer, a way to spawn, and a way to
//! find the runtime the caller runs on.

use std::future::Future;
use std::time::Instant;

/// An async runtime as the drivers see it. `reqchan-tokio` and `reqchan-async-std`
/// each provide one; a custom event loop can provide its own.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The runtime's name, for errors ("tokio").
    const NAME: &'static str;

    /// The future returned by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()> + Send + 'static;

    /// The runtime the caller runs on, if any.
    fn current() -> Option<Self>;

    /// Identifies this runtime among those alive in the process: channels are shared
    /// per runtime, so two live runtimes must never have the same key.
    fn key(&self) -> u64;

    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Runs `future` to completion in the background.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;
}
