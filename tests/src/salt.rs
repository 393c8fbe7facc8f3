//! A real Salt master (salt 3007.16 from PyPI) started as a child process.
//!
//! `scripts/check` installs salt in `.venv-salt` (its own venv: salt pins an older
//! pyzmq than the interop peers use). The master runs from a temporary directory with
//! its own config, keys and sockets, on free 127.0.0.1 ports, and is stopped with
//! SIGTERM to its own PID (Salt's process manager then ends the processes it started),
//! with SIGKILL as the fallback.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The `salt-master` executable: `$REQCHAN_SALT_MASTER`, else the repository's
/// `.venv-salt`. `None` (the test should return, having said why) when there is none,
/// except under `CI`, where that fails.
pub fn salt_master() -> Option<PathBuf> {
    crate::interop_tool("REQCHAN_SALT_MASTER", ".venv-salt/bin/salt-master", &["--version"])
}

/// A running Salt master.
#[derive(Debug)]
pub struct SaltMaster {
    child: Child,
    dir: tempfile::TempDir,
    ret_endpoint: String,
    salt_master: PathBuf,
}

/// Runs `salt_master` on the configuration in `root`.
fn launch(salt_master: &Path, root: &Path) -> Child {
    let log = std::fs::File::create(root.join("stdout.log")).expect("create the stdout log");
    Command::new(salt_master)
        .arg("-c")
        .arg(root)
        .args(["-l", "warning"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start salt-master")
}

/// A port nobody listens on right now (the kernel's pick for port 0), and never handed
/// out before in this process: a master that restarts keeps its ports, which another
/// test's master must not take meanwhile.
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

impl SaltMaster {
    /// Starts `salt-master` with a fresh root directory. It is not waited for: a
    /// channel's connect waits until the request server listens.
    pub fn start(salt_master: &Path) -> Self {
        Self::start_with(salt_master, false)
    }

    /// [`start`](Self::start), accepting every minion key at once if `auto_accept`
    /// (Salt's default is not to: a new key waits in `minions_pre/`).
    pub fn start_with(salt_master: &Path, auto_accept: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path();
        let (ret_port, publish_port) = (free_port(), free_port());
        let user = std::process::Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "root".to_owned());
        let config = format!(
            "root_dir: {root}\npki_dir: {root}/pki\ncachedir: {root}/cache\nsock_dir: {root}/sock\n\
             pidfile: {root}/master.pid\nlog_file: {root}/master.log\nlog_level_logfile: info\n\
             interface: 127.0.0.1\nret_port: {ret_port}\npublish_port: {publish_port}\n\
             worker_threads: 2\nuser: {user}\nauto_accept: {auto_accept}\n",
            root = root.display()
        );
        std::fs::write(root.join("master"), config).expect("write the master config");
        let child = launch(salt_master, root);
        Self { child, dir, ret_endpoint: format!("tcp://127.0.0.1:{ret_port}"), salt_master: salt_master.to_owned() }
    }

    /// Stops the master and starts it again on the same directory and ports (same keys);
    /// with `forget_sessions`, its per-minion session keys are gone, as after a rotation,
    /// so every minion must authenticate again.
    pub async fn restart(&mut self, forget_sessions: bool) {
        self.terminate().await;
        if forget_sessions {
            let _ = std::fs::remove_dir_all(self.dir.path().join("cache/sessions"));
        }
        self.child = launch(&self.salt_master, self.dir.path());
    }

    /// The request server's endpoint (Salt's `ret_port`).
    pub fn ret_endpoint(&self) -> &str {
        &self.ret_endpoint
    }

    /// The master's `pki_dir` (its keys, and `minions/`, `minions_pre/`, ...).
    pub fn pki_dir(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    /// The master's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("master.log")).unwrap_or_default()
    }

    /// SIGTERM to the master's own PID, so it stops the processes it started; SIGKILL
    /// if it has not exited within 20 s.
    pub async fn stop(mut self) {
        self.terminate().await;
    }

    async fn terminate(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await.is_err() {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}
