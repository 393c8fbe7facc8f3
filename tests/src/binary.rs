//! The `reqchan` binary, built with the same cargo and profile as the test (never a
//! stale one), and a `reqchan serve` process to test against.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::within;

/// Builds `reqchan` once per test process and returns its path.
pub fn reqchan() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            // target/<profile>/deps/<test>-<hash> -> target/<profile>/reqchan
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>").to_path_buf();
            let mut build = std::process::Command::new(env!("CARGO"));
            build.args(["build", "--quiet", "-p", "reqchan-cli", "--bin", "reqchan"]);
            if profile_dir.file_name().is_some_and(|name| name == "release") {
                build.arg("--release");
            }
            if let Some(target_dir) = profile_dir.parent() {
                build.env("CARGO_TARGET_DIR", target_dir);
            }
            let status = build.current_dir(env!("CARGO_MANIFEST_DIR")).status().expect("run cargo build");
            assert!(status.success(), "cargo build --bin reqchan failed");
            profile_dir.join("reqchan")
        })
        .clone()
}

/// A running `reqchan serve` on 127.0.0.1, its stderr collected; killed if dropped.
pub struct ServeProcess {
    child: tokio::process::Child,
    endpoint: String,
    stderr: tokio::task::JoinHandle<String>,
}

impl ServeProcess {
    /// Starts `reqchan serve tcp://127.0.0.1:0 <extra>` and waits until it listens.
    pub async fn start(extra: &[&str]) -> Self {
        let mut child = tokio::process::Command::new(reqchan())
            .args(["serve", "tcp://127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start reqchan serve");
        let mut stderr = child.stderr.take().expect("piped");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let stdout = child.stdout.take().expect("piped");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let limit = Duration::from_secs(60);
        let line = within(limit, "serve listening", lines.next_line()).await.unwrap().expect("a line");
        let endpoint = line.strip_prefix("listening on ").expect("`listening on ENDPOINT`").to_owned();
        Self { child, endpoint, stderr }
    }

    /// `tcp://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> &str {
        self.endpoint.trim_start_matches("tcp://")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its resident set size, in bytes (`VmRSS` in `/proc/<pid>/status`).
    pub fn rss(&self) -> u64 {
        self.status_kib("VmRSS:") * 1024
    }

    /// The most it was ever resident, in bytes (`VmHWM`).
    pub fn peak_rss(&self) -> u64 {
        self.status_kib("VmHWM:") * 1024
    }

    fn status_kib(&self, field: &str) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
    }

    /// Ends it at once (SIGKILL, by PID) and waits until it is gone.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Stops it with SIGINT; returns its exit code and everything it wrote to stderr.
    pub async fn stop(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().expect("running").to_string();
        assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        let limit = Duration::from_secs(30);
        let status = within(limit, "serve exits after SIGINT", self.child.wait()).await.unwrap();
        let stderr = within(limit, "serve stderr", &mut self.stderr).await.unwrap();
        (status.code(), stderr)
    }
}
