//! Helpers for the integration tests: peers, ports, processes.

pub mod binary;
pub mod python;
pub mod salt;
pub mod zmqrs;
pub mod zmtp;

use std::future::Future;
use std::time::Duration;

/// Awaits `future`, failing the test if it takes longer than `limit`: every await in a
/// test is bounded.
pub async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match tokio::time::timeout(limit, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: not done within {limit:?}"),
    }
}

pub use reqchan_peers::interop_tool;

/// Open file descriptors of this process (Linux: entries of `/proc/self/fd`).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|dir| dir.count()).unwrap_or(0)
}

/// Waits until `condition` holds, checking every few milliseconds; fails the test after
/// `limit`. For state that has no change notification (counters in another task).
pub async fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    within(limit, what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}
