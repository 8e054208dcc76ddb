//! A spawned binary whose stdout and stderr go to one log file, killed (by the PID we
//! spawned) when dropped.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A running (or exited) child process.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `program` with exactly `env` (plus `PATH`), appending its output to
    /// `log`. The parent's environment is not inherited, so a developer's own
    /// `DATABASE_URL`, `RUST_LOG` or `DP_*` settings cannot change what a test runs.
    pub fn spawn<I, K, V>(name: &str, program: &Path, args: &[&str], env: I, log: &Path) -> Process
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let out = open_log(log);
        let err = out.try_clone().expect("a second handle to the log file");
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .envs(std::env::var_os("PATH").map(|path| ("PATH", path)))
            .envs(env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Process {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        }
    }

    /// Everything the process printed so far (all its runs, when the log is shared).
    pub fn logs(&self) -> String {
        read_lossy(&self.log)
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `grace` for it to exit (SIGKILL after that). Returns the
    /// exit status when it exited by itself.
    pub async fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exited() {
            return Some(status);
        }
        self.signal("TERM");
        let until = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < until {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.kill();
        None
    }

    /// Sends signal `name` (`INT`, `TERM`, ...) to the process we spawned.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "cannot send SIG{name} to {}",
            self.name
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

fn open_log(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open log file {}: {e}", path.display()))
}

/// A file's bytes as text (invalid UTF-8 replaced); empty when it does not exist.
pub fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// The last `lines` lines of `text`, for failure messages.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A port nobody listens on right now (bound to 127.0.0.1:0, then released). Another
/// process may take it before we bind it again; callers retry with a new port when the
/// bind fails.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
