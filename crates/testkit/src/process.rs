//! The real `versa` binary as a child process, so a test can `kill -9` it.

// JUSTIFICATION: tests must run the shipped binary itself; spawning it is the point.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `bin server` on a free loopback port with `data_dir`, and waits until it listens.
    pub fn spawn(bin: &Path, data_dir: &Path) -> ServerProcess {
        ServerProcess::spawn_with(bin, data_dir, &[])
    }

    /// Like [`ServerProcess::spawn`], with extra flags.
    pub fn spawn_with(bin: &Path, data_dir: &Path, extra: &[&str]) -> ServerProcess {
        ServerProcess::spawn_env(bin, data_dir, extra, &[])
    }

    /// Like [`ServerProcess::spawn_with`], with extra environment variables (such as
    /// `VERSA_FAULT`, which is otherwise never passed on).
    pub fn spawn_env(bin: &Path, data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut child = Command::new(bin)
            .args(["server", "--listen", "127.0.0.1:0", "--log-level", "warn", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("VERSA_EPHEMERAL")
            .env_remove("VERSA_FAULT")
            .env_remove("VERSA_AUTH")
            .env_remove("VERSA_ALLOW_ANONYMOUS")
            .env_remove("VERSA_ROOT_ACCESS_KEY_ID")
            .env_remove("VERSA_ROOT_SECRET_ACCESS_KEY")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn versa");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("versa listening on http://") {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("versa did not report its address");
        ServerProcess { child, addr: addr.parse().expect("listen address") }
    }

    /// Sends `signal` (`STOP`, `CONT`, …) with `kill`: e.g. a node that hangs without
    /// refusing connections, then resumes.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args([&format!("-{signal}"), &pid]).status().is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {pid} failed");
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    /// Waits for the process to end by itself (an injected crash), at most `limit`; its exit
    /// status, or `None` if it is still running (it is then killed).
    pub fn wait_exit(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status's success.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
