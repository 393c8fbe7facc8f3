//! Python peers (pyzmq, a real libzmq) started as child processes.
//!
//! A peer is started with its stdin piped (it exits when the test's end closes), with
//! kill-on-drop, and is killed only by its own PID. It must print `ready <endpoint>` on
//! stdout once it listens; [`PythonPeer::start`] waits for that line (bounded), so tests
//! never sleep to synchronise. Later stdout lines are the peer's reports.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a peer may take to print its `ready` line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The python interpreter with pyzmq: `$REQCHAN_PYTHON`, else the repository's
/// `.venv` (which `scripts/check` creates).
///
/// Returns `None` (the test should return early, having printed why) when no such
/// python exists — except when `CI` is set, where a missing pyzmq fails the test.
pub fn python() -> Option<PathBuf> {
    crate::interop_tool("REQCHAN_PYTHON", ".venv/bin/python", &["-c", "import zmq"])
}

/// The directory of the python peers (`tests/peers`).
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// A running python peer.
#[derive(Debug)]
pub struct PythonPeer {
    child: Child,
    /// Held open: the peer exits when it closes.
    _stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    endpoint: String,
}

impl PythonPeer {
    /// Starts `tests/peers/<script>` with `args` and waits for its `ready <endpoint>`.
    ///
    /// Panics (failing the test) if it does not start or get ready in time.
    pub async fn start(python: &Path, script: &str, args: &[&str]) -> Self {
        let mut child = Command::new(python)
            .arg(peers_dir().join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, lines.next_line()).await;
        let endpoint = match ready {
            Ok(Ok(Some(line))) => match line.strip_prefix("ready ") {
                Some(endpoint) => endpoint.trim().to_owned(),
                None => panic!("{script} printed {line:?} instead of `ready <endpoint>`"),
            },
            Ok(Ok(None)) => panic!("{script} exited before it was ready"),
            Ok(Err(e)) => panic!("cannot read {script}'s stdout: {e}"),
            Err(_) => panic!("{script} not ready within {READY_TIMEOUT:?}"),
        };
        Self { child, _stdin: stdin, lines, endpoint }
    }

    /// The endpoint the peer bound, as it printed it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The peer's process id (`None` once it has been reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The next line the peer prints, if one comes within `wait`.
    pub async fn next_line(&mut self, wait: Duration) -> Option<String> {
        tokio::time::timeout(wait, self.lines.next_line()).await.ok()?.ok()?
    }

    /// Every line the peer prints until it has been quiet for `quiet`.
    pub async fn lines_until_quiet(&mut self, quiet: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.next_line(quiet).await {
            lines.push(line);
        }
        lines
    }

    /// Kills the peer (SIGKILL to its own PID) and waits for it to exit.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
