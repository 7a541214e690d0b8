//! One execution environment: a sandboxed runtime process, its Runtime API endpoint, its log
//! capture, and the task that notices when it exits.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runtime_api::{Endpoint, Invocation, Outcome, Start};
use sandbox::{Meter, Sandbox};
use tokio::sync::{oneshot, watch};

use crate::logs::{Capture, Sink};

/// How a sandbox ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exit {
    /// Exit code, or 128 + signal.
    pub code: i32,
    pub signal: Option<i32>,
    pub oom: bool,
}

impl Exit {
    /// Lambda's wording for a runtime that went away: `exit status N` or `signal: killed`.
    pub(crate) fn describe(&self) -> String {
        match self.signal {
            Some(9) => "signal: killed".to_owned(),
            Some(sig) => format!("signal: {}", signal_name(sig)),
            None => format!("exit status {}", self.code),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        6 => "aborted",
        7 => "bus error",
        8 => "floating point exception",
        11 => "segmentation fault",
        13 => "broken pipe",
        15 => "terminated",
        _ => "unknown signal",
    }
}

/// What running one invocation in an environment came to.
#[derive(Debug)]
pub(crate) enum Ran {
    Outcome(Outcome),
    /// The runtime exited before answering.
    Exited(Exit),
    TimedOut,
}

/// How an environment's start went.
#[derive(Debug)]
pub(crate) enum Started {
    Ready,
    InitError { error_type: Option<String>, body: bytes::Bytes },
    Exited(Exit),
    TimedOut,
}

pub(crate) struct Env {
    /// For logs: which environment this is.
    pub id: u64,
    /// The Runtime API; `None` when the sandbox died before opening it.
    endpoint: Option<Endpoint>,
    /// Serves Versa's API to the function; aborted with the environment.
    api: Option<tokio::task::JoinHandle<()>>,
    pub sink: Arc<Mutex<Sink>>,
    capture: Capture,
    meter: Meter,
    exit: watch::Receiver<Option<Exit>>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    waiter: tokio::task::JoinHandle<()>,
    /// Set on a cold start until the first invocation reports it.
    pub init_duration: Mutex<Option<Duration>>,
    pub last_used: Mutex<Instant>,
    /// The environment's own access key (`AWS_ACCESS_KEY_ID`…); revoked when the environment
    /// is dropped.
    _credentials: Option<control::keys::TemporaryCredentials>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(api) = &self.api {
            api.abort();
        }
        // The waiter kills and cleans up when told, or when the sandbox exits by itself.
        if let Some(k) = self.kill.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = k.send(());
        }
    }
}

impl Env {
    /// Wraps a started sandbox and the endpoint serving its Runtime API listener.
    pub(crate) fn new(
        id: u64,
        mut sandbox: Sandbox,
        endpoint: Option<Endpoint>,
        api: Option<tokio::task::JoinHandle<()>>,
        sink: Arc<Mutex<Sink>>,
        credentials: Option<control::keys::TemporaryCredentials>,
    ) -> Env {
        let output = sandbox.output.take().expect("a fresh sandbox has its output");
        let capture = Capture::start(output, sink.clone());
        let meter = sandbox.meter();
        let (exit_tx, exit) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let waiter = tokio::spawn(async move {
            let status = tokio::select! {
                s = sandbox.wait() => s,
                _ = kill_rx => {
                    sandbox.kill();
                    sandbox.wait().await
                }
            };
            let oom = sandbox.oom_kills() > 0;
            let exit = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    // The init reports a killed runtime as 128 + signal.
                    let code = s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9));
                    let signal = s.signal().or((code > 128 && code < 160).then_some(code - 128));
                    Exit { code, signal, oom }
                }
                Err(_) => Exit { code: -1, signal: None, oom },
            };
            let _ = exit_tx.send(Some(exit));
            tokio::task::spawn_blocking(move || sandbox.cleanup());
        });
        Env {
            id,
            endpoint,
            api,
            sink,
            capture,
            meter,
            exit,
            kill: Mutex::new(Some(kill_tx)),
            waiter,
            init_duration: Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
            _credentials: credentials,
        }
    }

    /// Waits for the runtime to ask for work, report an init error, or die.
    pub(crate) async fn started(&self, limit: Duration) -> Started {
        let mut exit = self.exit.clone();
        let started = async {
            match &self.endpoint {
                Some(e) => e.started().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            s = started => match s {
                Some(Start::Ready) => Started::Ready,
                Some(Start::InitError { error_type, body }) => Started::InitError { error_type, body },
                None => Started::Exited(Exit { code: -1, signal: None, oom: false }),
            },
            e = exit.wait_for(Option::is_some) => match e {
                Ok(e) => Started::Exited(e.expect("waited for Some")),
                Err(_) => Started::Exited(Exit { code: -1, signal: None, oom: false }),
            },
            _ = tokio::time::sleep(limit) => Started::TimedOut,
        }
    }

    /// Runs one invocation, waiting at most `timeout`.
    pub(crate) async fn run(&self, invocation: Invocation, timeout: Duration) -> Ran {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut exit = self.exit.clone();
        let exited = |e: Result<watch::Ref<'_, Option<Exit>>, _>| match e {
            Ok(e) => Ran::Exited(e.expect("waited for Some")),
            Err(_) => Ran::Exited(Exit { code: -1, signal: None, oom: false }),
        };
        let Some(endpoint) = &self.endpoint else {
            return exited(exit.wait_for(Option::is_some).await);
        };
        // One timer for both waits (an idle environment's queue has room: the first one
        // normally finishes at once).
        let timeout = tokio::time::sleep_until(deadline);
        tokio::pin!(timeout);
        let rx = match endpoint.try_invoke(invocation) {
            Ok(rx) => rx,
            Err(Some(invocation)) => tokio::select! {
                r = endpoint.invoke(invocation) => match r {
                    Ok(rx) => rx,
                    Err(_) => return Ran::Exited(Exit { code: -1, signal: None, oom: false }),
                },
                e = exit.wait_for(Option::is_some) => return exited(e),
                _ = &mut timeout => return Ran::TimedOut,
            },
            Err(None) => return Ran::Exited(Exit { code: -1, signal: None, oom: false }),
        };
        let answered = tokio::select! {
            o = rx => o,
            e = exit.wait_for(Option::is_some) => return exited(e),
            _ = &mut timeout => return Ran::TimedOut,
        };
        match answered {
            Ok(o) => Ran::Outcome(o),
            Err(_) => {
                // The runtime dropped the invocation (asked for the next one, or died).
                let mut exit = self.exit.clone();
                let e = exit.wait_for(Option::is_some).await;
                exited(e)
            }
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.exit.borrow().is_none() && !self.waiter.is_finished()
    }

    /// How the environment ended, once it has.
    pub(crate) async fn exited(&self) -> Option<Exit> {
        let mut exit = self.exit.clone();
        exit.wait_for(Option::is_some).await.ok().and_then(|e| *e)
    }

    /// Kills the sandbox (idempotent).
    pub(crate) fn kill(&self) {
        if let Some(k) = self.kill.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = k.send(());
        }
    }

    pub(crate) async fn flush_logs(&self) {
        self.capture.flush().await;
    }

    pub(crate) fn max_memory_used_mb(&self) -> u64 {
        self.meter.peak_memory_bytes().map_or(0, |b| b.div_ceil(1024 * 1024))
    }

    pub(crate) fn oom_killed(&self) -> bool {
        self.meter.oom_kills() > 0
    }
}
