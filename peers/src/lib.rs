//! Real peers for reqchan's tests, shared by every test crate (`tests/` on tokio,
//! `adapter-async-std/tests/` on async-std): the python scripts in `peers/python/`
//! (pyzmq, a real libzmq) started as child processes, and the rule that finds the tools
//! they need.
//!
//! Nothing here depends on an async runtime: a peer's stdout is read by a thread of its
//! own into a channel, and waits are bounded by [`sleep`], a timer on a thread, so the
//! same helpers work under tokio, async-std or smol.
//!
//! A peer is started with its stdin piped (it exits when the test's end closes) and is
//! killed only by its own PID, on [`PythonPeer::kill`] or when dropped. It must print
//! `ready <endpoint>` on stdout once it listens; [`PythonPeer::start`] waits for that
//! line (bounded), so tests never sleep to synchronise. Later lines are its reports.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};

/// How long a peer may take to print its `ready` line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A tool the interop tests need: `$env_var`, else `default` (relative to the repository
/// root, where `scripts/check` installs it), if running it with `probe` succeeds.
///
/// Returns `None` (the test should return early; why is printed) when the tool is
/// missing, except when `CI` is set: there a missing tool fails the test, never skips it.
pub fn interop_tool(env_var: &str, default: &str, probe: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os(env_var).map(PathBuf::from).unwrap_or_else(|| repository_root().join(default));
    let works = Command::new(&path)
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

/// The repository's root directory.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The python interpreter with pyzmq: `$REQCHAN_PYTHON`, else the repository's `.venv`
/// (which `scripts/check` creates). `None` when missing, except under `CI` (see
/// [`interop_tool`]).
pub fn python() -> Option<PathBuf> {
    interop_tool("REQCHAN_PYTHON", ".venv/bin/python", &["-c", "import zmq"])
}

/// The directory of the python peers (`peers/python`).
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// Completes after `duration`, on any executor: a thread sleeps, then wakes it.
pub fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
    let (done, wait) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(duration);
        let _ = done.send(());
    });
    async move {
        let _ = wait.await;
    }
}

/// `future`'s output, or `None` if it takes longer than `limit`.
pub async fn timeout<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    match future::select(std::pin::pin!(future), std::pin::pin!(sleep(limit))).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// Awaits `future`, failing the test if it takes longer than `limit`: every await in a
/// test is bounded.
pub async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match timeout(limit, future).await {
        Some(output) => output,
        None => panic!("{what}: not done within {limit:?}"),
    }
}

/// A running python peer.
#[derive(Debug)]
pub struct PythonPeer {
    child: Child,
    /// Held open: the peer exits when it closes.
    _stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    endpoint: String,
}

impl PythonPeer {
    /// Starts `peers/python/<script>` with `args` and waits for its `ready <endpoint>`.
    ///
    /// Panics (failing the test) if it does not start or get ready in time.
    pub async fn start(python: &Path, script: &str, args: &[&str]) -> Self {
        let mut child = Command::new(python)
            .arg(peers_dir().join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.unbounded_send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = Self { child, _stdin: stdin, lines, endpoint: String::new() };
        let Some(line) = peer.next_line(READY_TIMEOUT).await else {
            panic!("{script} not ready within {READY_TIMEOUT:?} (or exited first)");
        };
        match line.strip_prefix("ready ") {
            Some(endpoint) => peer.endpoint = endpoint.trim().to_owned(),
            None => panic!("{script} printed {line:?} instead of `ready <endpoint>`"),
        }
        peer
    }

    /// The endpoint the peer bound, as it printed it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the peer prints, if one comes within `wait`.
    pub async fn next_line(&mut self, wait: Duration) -> Option<String> {
        timeout(wait, self.lines.next()).await.flatten()
    }

    /// Every line the peer prints until it has been quiet for `quiet`.
    pub async fn lines_until_quiet(&mut self, quiet: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.next_line(quiet).await {
            lines.push(line);
        }
        lines
    }

    /// Kills the peer (SIGKILL to its own PID) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        self.kill();
    }
}
