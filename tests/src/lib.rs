//! Helpers for the integration tests: peers, ports, processes.

pub mod python;
pub mod salt;
pub mod zmqrs;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Awaits `future`, failing the test if it takes longer than `limit`: every await in a
/// test is bounded.
pub async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match tokio::time::timeout(limit, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: not done within {limit:?}"),
    }
}

/// A tool the interop tests need: `$env_var`, else `default` (relative to the repository
/// root, where `scripts/check` installs it), if running it with `probe` succeeds.
///
/// Returns `None` (the test should return early; why is printed) when the tool is
/// missing, except when `CI` is set: there a missing tool fails the test, never skips it.
pub fn interop_tool(env_var: &str, default: &str, probe: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(default));
    let works = std::process::Command::new(&path)
        .args(probe)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if works {
        return Some(path);
    }
    let why = format!("{path:?} {probe:?} failed; run scripts/check, or set {env_var}");
    if std::env::var_os("CI").is_some() {
        panic!("{why}: the interop tests must run in CI");
    }
    eprintln!("SKIPPED: {why}");
    None
}

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
