//! A pyzmq (libzmq) peer from `tests/peers/zmq_peer.py` at the repository root, run as a
//! child process: started with kill-on-drop semantics (killed by its own PID), stdin
//! held open (it exits when the test's end closes), and synchronised on the lines it
//! prints (`ready <endpoint>`, then `recv <frames> <hex>` per message), never on sleeps.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;

/// Bound on every test's whole run: nothing here may hang.
const TEST_BOUND: Duration = Duration::from_secs(60);

/// Runs `test` within [`TEST_BOUND`], failing the test if it takes longer.
pub(crate) async fn bounded<T>(test: impl Future<Output = T>) -> T {
    async_std::future::timeout(TEST_BOUND, test).await.expect("the test finished within its bound")
}

/// A running python peer.
pub(crate) struct Peer {
    child: Child,
    _stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    pub(crate) endpoint: String,
}

/// The python with pyzmq: `$REQCHAN_PYTHON`, else the repository's `.venv`. `None`
/// (skip, saying why) when there is none — but under `CI` a missing pyzmq fails.
pub(crate) fn python() -> Option<PathBuf> {
    let path = std::env::var_os("REQCHAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let ok = Command::new(&path)
        .args(["-c", "import zmq"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(path);
    }
    let why = format!("no python with pyzmq at {path:?}; run scripts/check or set REQCHAN_PYTHON");
    assert!(std::env::var_os("CI").is_none(), "{why}: the interop tests must run in CI");
    eprintln!("SKIPPED: {why}");
    None
}

impl Peer {
    /// Starts `zmq_peer.py` with `args` and waits (bounded) for its `ready` line.
    pub(crate) async fn start(python: &Path, args: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/zmq_peer.py");
        let mut child = Command::new(python)
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the python peer");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.unbounded_send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = Self { child, _stdin: stdin, lines, endpoint: String::new() };
        let ready = peer.next_line(Duration::from_secs(20)).await.expect("the peer printed `ready`");
        peer.endpoint = ready.strip_prefix("ready ").expect("`ready <endpoint>`").trim().to_owned();
        peer
    }

    /// The next line the peer prints, if one comes within `wait`.
    pub(crate) async fn next_line(&mut self, wait: Duration) -> Option<String> {
        async_std::future::timeout(wait, self.lines.next()).await.ok().flatten()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
