//! The invocation engine: runs a function version in a warm execution environment.
//!
//! Environments are pooled per function version (for `$LATEST`, per configuration revision,
//! so an update retires the old ones). An environment serves one invocation at a time;
//! concurrent invocations get more environments, up to a global bound. A cold start unpacks
//! the code (once per package), starts a sandbox with the runtime, and waits for the runtime's
//! first `/next`. Idle environments are reaped after a configurable time.
//!
//! The engine knows nothing of HTTP or of the control plane: callers resolve the qualifier and
//! pass the version to run as a [`Target`].

mod coldcap;
mod env;
pub mod esm;
pub mod events;
pub mod logs;
pub mod provisioned;
pub mod runtimes;
pub mod sdk;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blobs::BlobBackend;
use bytes::Bytes;
use model::function::{FunctionId, VersionRecord};
use model::layer::FunctionLayer;
use model::name::Version;
use model::scope::Scope;
use runtime_api::{Invocation, Outcome};
use sandbox::{Capabilities, Isolation, Limits, Listener, Mount, MountKind, Network, Spec};

pub use crate::coldcap::{COLD_STARTS_PER_VERSION, FORWARDED_START_WAIT};
use crate::env::{Env, Exit, Ran, Started};
use crate::logs::Sink;
use crate::runtimes::{Language, Launch, RuntimeTable};

/// The longest a runtime may take to become ready (Lambda's init phase limit).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Processes and threads one environment may have (Lambda's limit).
pub const PROCESSES_MAX: u64 = 1024;
/// Open files one environment may have (Lambda's limit).
pub const OPEN_FILES_MAX: u64 = 1024;
/// Sandbox shells kept started ahead of cold starts (see `sandbox::Shell`).
pub const PRESTARTED_SHELLS: usize = 2;
/// Where a function's layers are mounted in its sandbox.
pub const OPT: &str = "/opt";
/// Runtimes whose interpreter substitution the server's log has mentioned, at most.
const WARNED_RUNTIMES_MAX: usize = 64;
/// The runtime of a function that names none (Lambda requires one for `Zip` packages).
const DEFAULT_RUNTIME: &str = "provided.al2023";
/// How often idle environments are checked for reaping (more often for short idle timeouts).
const REAP_EVERY: Duration = Duration::from_secs(5);

/// Engine settings from the server configuration.
#[derive(Clone)]
pub struct EngineConfig {
    /// Per-environment sockets and root mount points (short paths: Unix sockets are limited).
    pub run_dir: PathBuf,
    /// Unpacked code packages, one directory per SHA-256.
    pub code_dir: PathBuf,
    /// Versa's runtime clients, one directory per language.
    pub runtime_dir: PathBuf,
    /// Serves Versa's own API on a listener inside a sandbox (`AWS_ENDPOINT_URL`). The task it
    /// returns is aborted when the environment ends. `None`: functions get no endpoint.
    pub serve_api: Option<ServeApi>,
    /// Idle environments older than this are stopped.
    pub idle_timeout: Duration,
    /// Most environments alive at once, across all functions.
    pub max_environments: usize,
    /// Extra interpreter locations (binaries or directories), searched first.
    pub interpreter_paths: Vec<PathBuf>,
    /// Also search the standard places (`runtimes::SearchPath::standard`).
    pub interpreter_search: bool,
    /// Versa's runtimes directory: the AWS SDKs functions find on their module path.
    pub sdk: sdk::RuntimesDir,
    /// Mints each environment's own access key, secret and session token. `None`: functions
    /// get the `--auth off` convention (their account as key id).
    pub keys: Option<Arc<control::Keys>>,
    /// Records each invocation's metrics (`AWS/Lambda`, Prometheus). `None`: none recorded.
    pub metrics: Option<metrics::Recorder>,
}

/// Where invocations run when several nodes share the store (implemented by the server's
/// cluster module; absent on a single node, where every invocation runs here).
/// The `Reason` of a 429 for an account's unreserved pool at its limit.
pub const UNRESERVED_THROTTLE: &str = "ConcurrentInvocationLimitExceeded";

pub trait Placement: Send + Sync + 'static {
    /// Starts running the invocation on another node when that node owns `target`; `None`: it
    /// runs here. The future answers `None` when no other node took it (busy or unreachable),
    /// and it then runs here.
    fn forward(&self, target: &Target, request: &Request) -> Option<Forwarding>;
    /// Offers an invocation this node could not admit (no free environment, or the unreserved
    /// pool full) to the nodes ranked after it; `None`, or a future answering `None`, when none
    /// took it. Never called for a reserved-concurrency throttle: a reservation is exact.
    fn spill(&self, _target: &Target, _request: &Request) -> Option<Forwarding> {
        None
    }
    /// Whether this node may take queued work: `false` while it cannot prove it is alive.
    fn may_claim(&self) -> bool {
        true
    }
    /// This node's id among the nodes sharing the store (the provisioned-concurrency
    /// allocations name it); `None` alone.
    fn node_id(&self) -> Option<&str> {
        None
    }
    /// Live nodes now (at least 1): each admits at most ⌈unreserved limit / this⌉ unreserved
    /// invocations, so together they hold the account's limit (reserved stays exact at the owner).
    fn live_nodes(&self) -> usize {
        1
    }
}

/// An invocation on its way to another node; see [`Placement::forward`].
pub type Forwarding =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<Result<Response, InvokeError>>> + Send>>;

/// Serves Versa's API on a listener; see [`EngineConfig::serve_api`].
pub type ServeApi = Arc<dyn Fn(std::net::TcpListener) -> Option<tokio::task::JoinHandle<()>> + Send + Sync>;

/// Which version of which function to run, and as what the caller named it.
#[derive(Debug, Clone)]
pub struct Target {
    pub scope: Scope,
    pub function_id: FunctionId,
    pub function_name: String,
    /// The version that runs (`$LATEST` or a number): `AWS_LAMBDA_FUNCTION_VERSION`.
    pub version: Version,
    pub record: VersionRecord,
    /// The ARN the caller used (`…:prod` for an alias): `Lambda-Runtime-Invoked-Function-Arn`.
    pub invoked_arn: String,
    /// The function's reserved concurrency: at most this many of its invocations at once.
    pub reserved_concurrency: Option<u32>,
    /// The account's unreserved concurrency, shared by functions without a reservation.
    pub unreserved_concurrency: u32,
    /// The function's provisioned concurrency, all configs together; it is carved out of a
    /// reservation, so on-demand environments get the rest.
    pub provisioned_concurrency: u32,
}

#[derive(Debug, Clone)]
pub struct Request {
    /// Also the `x-amzn-RequestId` of the invoke.
    pub request_id: String,
    pub payload: Bytes,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    /// Return the tail of the invocation's log.
    pub log_tail: bool,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub payload: Bytes,
    /// `X-Amz-Function-Error: Unhandled`.
    pub function_error: bool,
    /// The last 4 KB of the invocation's log, when asked for.
    pub log_tail: Option<Vec<u8>>,
    pub executed_version: String,
    /// The node that ran it, when another node did (`x-versa-node`).
    pub node: Option<String>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The function's runtime cannot run on this host.
    #[error("{0}")]
    RuntimeUnavailable(String),
    /// Every environment slot is in use.
    #[error("too many execution environments")]
    TooManyEnvironments,
    /// A concurrency limit is reached; `reason` is the `Reason` of the 429.
    #[error("throttled: {reason}")]
    Throttled { reason: &'static str },
    #[error("{0}")]
    Internal(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    function: FunctionId,
    version: Version,
    /// For `$LATEST`: the configuration revision, so updated code never meets old envs.
    config_rev: u64,
}

#[derive(Default)]
struct Pools {
    idle: HashMap<PoolKey, Vec<Arc<Env>>>,
    /// Every environment alive, idle or busy.
    live: usize,
    /// The newest `$LATEST` revision seen per function; older envs are retired.
    latest_rev: HashMap<FunctionId, u64>,
}

impl Pools {
    /// Removes the idle environment unused for longest (each key's list is oldest first).
    fn take_least_recently_used(&mut self) -> Option<Arc<Env>> {
        let used = |env: &Arc<Env>| *env.last_used.lock().unwrap_or_else(|e| e.into_inner());
        let key =
            self.idle.iter().filter(|(_, envs)| !envs.is_empty()).min_by_key(|(_, envs)| used(&envs[0]))?.0.clone();
        let envs = self.idle.get_mut(&key)?;
        let env = envs.remove(0);
        if envs.is_empty() {
            self.idle.remove(&key);
        }
        Some(env)
    }
}

/// The engine. Cheap to share behind an `Arc`.
pub struct Engine {
    config: EngineConfig,
    caps: Capabilities,
    runtimes: RuntimeTable,
    blobs: Arc<dyn BlobBackend>,
    pools: Mutex<Pools>,
    next_id: AtomicU64,
    logs: ::logs::Logs,
    unpacking: tokio::sync::Mutex<()>,
    reaper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Sandboxes started ahead, waiting for a function; refilled after each cold start.
    shells: Mutex<Vec<sandbox::Shell>>,
    /// Interpreters that have been asked to compile the Python client's bytecode (at most one
    /// per discovered interpreter).
    compiled: Mutex<std::collections::HashSet<PathBuf>>,
    /// Set at shutdown: no more shells are started.
    stopping: std::sync::atomic::AtomicBool,
    /// Invocations running now, for concurrency limits.
    inflight: Arc<Mutex<Inflight>>,
    /// Provisioned concurrency configs and their environments; see `provisioned.rs`.
    pub(crate) provisioned: Mutex<provisioned::Provisioned>,
    /// How many slices of provisioned environments exist: invokes skip the lock at 0.
    pub(crate) provisioned_slices: std::sync::atomic::AtomicUsize,
    /// Runtimes whose substituted interpreter the server's log has mentioned already.
    warned: Mutex<std::collections::HashSet<String>>,
    /// Invocations running now, all functions (the `ConcurrentExecutions` metric).
    running: AtomicU64,
    /// Where invocations run when nodes share the store; unset on a single node.
    placement: std::sync::OnceLock<Arc<dyn Placement>>,
    /// Cold starts under way per version (the per-version cap, `coldcap.rs`).
    cold_gates: coldcap::Gates,
}

/// An invocation's future, polled in the caller's task (no task spawn, no wake-up of a joining
/// task per invocation) until the caller stops waiting: dropped unfinished, it moves to a task
/// of its own and runs to its end there, so a client that disconnects interrupts neither the
/// function nor the return of its environment. A panic answers `Internal`, as a failed task
/// would.
struct RunToEnd<F: std::future::Future<Output = Result<Response, InvokeError>> + Send + 'static> {
    future: Option<std::pin::Pin<Box<F>>>,
}

impl<F: std::future::Future<Output = Result<Response, InvokeError>> + Send + 'static> RunToEnd<F> {
    fn new(future: F) -> RunToEnd<F> {
        RunToEnd { future: Some(Box::pin(future)) }
    }
}

impl<F: std::future::Future<Output = Result<Response, InvokeError>> + Send + 'static> std::future::Future
    for RunToEnd<F>
{
    type Output = Result<Response, InvokeError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let Some(future) = self.future.as_mut() else {
            return std::task::Poll::Ready(Err(InvokeError::Internal(
                "the invocation was polled after its end".into(),
            )));
        };
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx)));
        match polled {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(answer)) => {
                self.future = None;
                std::task::Poll::Ready(answer)
            }
            Err(panic) => {
                self.future = None;
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                std::task::Poll::Ready(Err(InvokeError::Internal(format!("the invocation failed: panicked: {what}"))))
            }
        }
    }
}

impl<F: std::future::Future<Output = Result<Response, InvokeError>> + Send + 'static> Drop for RunToEnd<F> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(future);
        }
    }
}

/// Counts one running invocation in [`Engine::running`] until dropped.
struct Running<'a>(&'a AtomicU64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The qualifier of an invoked ARN (`…:function:name:qualifier`), if it has one.
fn invoked_qualifier(arn: &str) -> Option<&str> {
    arn.splitn(8, ':').nth(7)
}

/// The function a target names, as the metrics need it.
fn function_at(target: &Target) -> metrics::FunctionAt<'_> {
    metrics::FunctionAt {
        account: target.scope.account.as_str(),
        region: target.scope.region.as_str(),
        function: &target.function_name,
        qualifier: invoked_qualifier(&target.invoked_arn),
    }
}

/// Running invocations per function, and of functions without a reservation per account.
#[derive(Debug, Default)]
struct Inflight {
    per_function: HashMap<FunctionId, u32>,
    unreserved: HashMap<Scope, u32>,
}

/// Counts one running invocation until dropped.
struct Admitted {
    inflight: Arc<Mutex<Inflight>>,
    function: FunctionId,
    unreserved_scope: Option<Scope>,
    /// Invocations of functions without a reservation running in the scope, this one included.
    unreserved_in_use: u32,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut i = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = i.per_function.get_mut(&self.function) {
            *n -= 1;
            if *n == 0 {
                i.per_function.remove(&self.function);
            }
        }
        if let Some(scope) = &self.unreserved_scope
            && let Some(n) = i.unreserved.get_mut(scope)
        {
            *n -= 1;
            if *n == 0 {
                i.unreserved.remove(scope);
            }
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("run_dir", &self.run_dir)
            .field("code_dir", &self.code_dir)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_environments", &self.max_environments)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(r) = self.reaper.lock().unwrap_or_else(|e| e.into_inner()).take() {
            r.abort();
        }
    }
}

impl Engine {
    /// Prepares the directories and runtime clients and starts the idle reaper.
    pub fn start(
        config: EngineConfig,
        caps: Capabilities,
        blobs: Arc<dyn BlobBackend>,
        logs: ::logs::Logs,
    ) -> std::io::Result<Arc<Engine>> {
        // Unpacked code is a cache of the blobs; environments from a previous run are gone.
        let _ = std::fs::remove_dir_all(&config.code_dir);
        let _ = std::fs::remove_dir_all(&config.run_dir);
        std::fs::create_dir_all(&config.code_dir)?;
        std::fs::create_dir_all(&config.run_dir)?;
        // The clients, with empty mount points for the SDKs inside them (`/var/runtime/sdk`,
        // `/var/runtime/node_modules`; the directory is read-only inside the sandbox).
        std::fs::create_dir_all(config.runtime_dir.join("python").join(PYTHON_SDK_DIR))?;
        std::fs::create_dir_all(config.runtime_dir.join("nodejs/node_modules"))?;
        std::fs::write(config.runtime_dir.join("python/bootstrap.py"), runtimes::PYTHON_CLIENT)?;
        let _ = std::fs::remove_dir_all(config.runtime_dir.join("python/__pycache__"));
        std::fs::write(
            config.runtime_dir.join("python").join(runtimes::PYTHON_CLIENT_MODULE_FILE),
            runtimes::PYTHON_CLIENT_MODULE,
        )?;
        std::fs::write(config.runtime_dir.join("nodejs/index.mjs"), runtimes::NODE_CLIENT)?;
        std::fs::write(config.runtime_dir.join("nodejs/resolve.mjs"), runtimes::NODE_RESOLVE_HOOK)?;
        let search = if config.interpreter_search {
            runtimes::SearchPath::standard(|k| std::env::var_os(k))
        } else {
            runtimes::SearchPath::default()
        };
        let mut runtimes = RuntimeTable::discover(&config.interpreter_paths, &search);
        if matches!(caps.isolation, Isolation::Namespaces { .. }) {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            for why in runtimes.retain_bindable(home.as_deref()) {
                tracing::warn!("{why}");
            }
        }
        let engine = Arc::new(Engine {
            config,
            caps,
            runtimes,
            blobs,
            pools: Mutex::new(Pools::default()),
            next_id: AtomicU64::new(1),
            logs,
            unpacking: tokio::sync::Mutex::new(()),
            reaper: Mutex::new(None),
            shells: Mutex::new(Vec::new()),
            compiled: Mutex::default(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            inflight: Arc::default(),
            provisioned: Mutex::default(),
            provisioned_slices: std::sync::atomic::AtomicUsize::new(0),
            warned: Mutex::default(),
            running: AtomicU64::new(0),
            placement: std::sync::OnceLock::new(),
            cold_gates: coldcap::Gates::default(),
        });
        engine.refill_shells();
        let weak = Arc::downgrade(&engine);
        let every = REAP_EVERY.min(engine.config.idle_timeout / 2).max(Duration::from_millis(50));
        let reaper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(engine) = weak.upgrade() else { break };
                engine.reap_idle();
            }
        });
        *engine.reaper.lock().unwrap_or_else(|e| e.into_inner()) = Some(reaper);
        Ok(engine)
    }

    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    pub fn runtimes(&self) -> &RuntimeTable {
        &self.runtimes
    }

    pub fn logs(&self) -> &::logs::Logs {
        &self.logs
    }

    /// Which AWS SDKs the runtimes carry (read now: an install needs no restart).
    pub fn sdk_status(&self) -> sdk::SdkStatus {
        self.config.sdk.status()
    }

    pub fn runtimes_dir(&self) -> &Path {
        &self.config.sdk.root
    }

    /// Whether `runtime` can run here; the error names what is missing.
    pub fn check_runtime(&self, runtime: &str) -> Result<(), String> {
        self.runtimes.resolve(runtime).map(|_| ())
    }

    /// The metrics recorder, if metrics are recorded.
    pub fn metrics(&self) -> Option<&metrics::Recorder> {
        self.config.metrics.as_ref()
    }

    /// Invocations running now.
    pub fn running_invocations(&self) -> u64 {
        self.running.load(Ordering::Relaxed)
    }

    /// On-demand environments alive and idle, and alive and busy.
    pub fn environments(&self) -> (usize, usize) {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let idle: usize = pools.idle.values().map(Vec::len).sum();
        (idle, pools.live.saturating_sub(idle))
    }

    /// Environments alive (idle or busy).
    pub fn live_environments(&self) -> usize {
        self.pools.lock().unwrap_or_else(|e| e.into_inner()).live
    }

    /// Stops the idle environments of a function (all versions), e.g. after it changed or was
    /// deleted. Busy ones stop when their invocation ends if they are out of date.
    pub fn retire(&self, function: FunctionId) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<PoolKey> = pools.idle.keys().filter(|k| k.function == function).cloned().collect();
        for k in keys {
            for env in pools.idle.remove(&k).unwrap_or_default() {
                env.kill();
                pools.live -= 1;
            }
        }
        pools.latest_rev.remove(&function);
    }

    /// Starts shells until [`PRESTARTED_SHELLS`] wait. Runs on the calling runtime thread:
    /// shells must be spawned from long-lived threads (see `sandbox::Shell::spawn`).
    fn refill_shells(&self) {
        if self.stopping.load(Ordering::Relaxed) {
            return;
        }
        let mut shells = self.shells.lock().unwrap_or_else(|e| e.into_inner());
        while shells.len() < PRESTARTED_SHELLS {
            match sandbox::Shell::spawn(&self.caps, &self.config.run_dir) {
                Ok(s) => shells.push(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a sandbox shell");
                    break;
                }
            }
        }
    }

    /// A started shell, or a new one. [`Engine::refill_soon`] replaces it once the start (and,
    /// on demand, the first invocation) is over.
    fn shell(self: &Arc<Self>) -> std::io::Result<sandbox::Shell> {
        // The oldest: the one most likely to have finished preparing (a refill started just
        // before may still be building its root).
        let taken = {
            let mut shells = self.shells.lock().unwrap_or_else(|e| e.into_inner());
            (!shells.is_empty()).then(|| shells.remove(0))
        };
        match taken {
            Some(s) => Ok(s),
            None => sandbox::Shell::spawn(&self.caps, &self.config.run_dir),
        }
    }

    /// Refills the shells on a runtime worker. Called after a cold start and its first
    /// invocation rather than when it takes its shell: starting a shell (fork, exec, building
    /// its root) would compete with them for the CPU.
    fn refill_soon(self: &Arc<Self>) {
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            if let Some(e) = engine.upgrade() {
                e.refill_shells();
            }
        });
    }

    /// Has `interpreter` compile the Python client to bytecode in the runtimes directory (its
    /// `__pycache__`), once, in the background: later cold starts on it skip compiling the
    /// client. The runtime cannot write there itself (read-only in the sandbox).
    fn compile_python_client_once(&self, interpreter: &Path) {
        if !self.compiled.lock().unwrap_or_else(|e| e.into_inner()).insert(interpreter.to_owned()) {
            return;
        }
        let program = interpreter.to_owned();
        let module = self.config.runtime_dir.join("python").join(runtimes::PYTHON_CLIENT_MODULE_FILE);
        tokio::task::spawn_blocking(move || {
            let script = "import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True)";
            let args = [std::ffi::OsStr::new("-c"), std::ffi::OsStr::new(script), module.as_os_str()];
            match sandbox::run_host_command(program.as_os_str(), &args, &[]) {
                Ok(out) if out.status.success() => {}
                Ok(out) => tracing::debug!(
                    interpreter = %program.display(),
                    stderr = %String::from_utf8_lossy(&out.stderr),
                    "cannot compile the Python client"
                ),
                Err(e) => {
                    tracing::debug!(interpreter = %program.display(), error = %e, "cannot compile the Python client")
                }
            }
        });
    }

    /// Stops every environment (server shutdown).
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.stop_provisioned();
        for shell in self.shells.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            shell.discard();
        }
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let mut killed = 0;
        for (_, envs) in pools.idle.drain() {
            for env in envs {
                env.kill();
                killed += 1;
            }
        }
        // Busy and starting environments count themselves out when they end (a cold start
        // that fails because of the shutdown included): zeroing the count here made theirs
        // underflow.
        pools.live -= killed;
    }

    fn reap_idle(&self) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let timeout = self.config.idle_timeout;
        let mut reaped = 0;
        for envs in pools.idle.values_mut() {
            envs.retain(|env| {
                let idle = env.last_used.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
                let keep = idle < timeout && env.is_alive();
                if !keep {
                    env.kill();
                    reaped += 1;
                }
                keep
            });
        }
        pools.idle.retain(|_, v| !v.is_empty());
        pools.live -= reaped;
    }

    /// Counts an on-demand invocation against what its function's reservation leaves beside
    /// its provisioned concurrency, or against the account's unreserved pool; refuses it when
    /// the limit is reached. (Invocations on provisioned environments are not counted: the
    /// environments are the limit.)
    fn admit(&self, target: &Target) -> Result<Admitted, InvokeError> {
        // Provisioned concurrency is carved out of the reservation, except what failed to start.
        let carved = match (target.reserved_concurrency, target.provisioned_concurrency) {
            (Some(_), p) if p > 0 => p.saturating_sub(self.provisioned_failed(target.function_id)),
            _ => 0,
        };
        let mut i = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        let mut unreserved_in_use = 0;
        let running = i.per_function.get(&target.function_id).copied().unwrap_or(0);
        let unreserved_scope = match target.reserved_concurrency {
            Some(n) => {
                if running >= n.saturating_sub(carved) {
                    return Err(InvokeError::Throttled { reason: "ReservedFunctionConcurrentInvocationLimitExceeded" });
                }
                None
            }
            None => {
                let pool = i.unreserved.get(&target.scope).copied().unwrap_or(0);
                if pool >= self.unreserved_share(target.unreserved_concurrency) {
                    return Err(InvokeError::Throttled { reason: UNRESERVED_THROTTLE });
                }
                *i.unreserved.entry(target.scope.clone()).or_default() += 1;
                unreserved_in_use = pool + 1;
                Some(target.scope.clone())
            }
        };
        *i.per_function.entry(target.function_id).or_default() += 1;
        Ok(Admitted {
            inflight: self.inflight.clone(),
            function: target.function_id,
            unreserved_scope,
            unreserved_in_use,
        })
    }

    /// This node's part of an account's unreserved concurrency: all of it alone, ⌈limit / k⌉
    /// with k live nodes.
    fn unreserved_share(&self, limit: u32) -> u32 {
        match self.placement.get() {
            None => limit,
            Some(p) => limit.div_ceil(u32::try_from(p.live_nodes().max(1)).unwrap_or(u32::MAX)),
        }
    }

    /// This node's id when several nodes share the store.
    pub fn node_id(&self) -> Option<&str> {
        self.placement.get().and_then(|p| p.node_id())
    }

    /// Places invocations across nodes from now on (set once, by the server, when the store is
    /// shared).
    pub fn set_placement(&self, placement: Arc<dyn Placement>) {
        let _ = self.placement.set(placement);
    }

    /// Whether this node may take queued work now (see [`Placement::may_claim`]).
    pub fn may_claim(&self) -> bool {
        self.placement.get().is_none_or(|p| p.may_claim())
    }

    /// Most environments this node runs at once.
    pub fn capacity(&self) -> usize {
        self.config.max_environments
    }

    /// Runs one invocation (synchronous, or an event from the queue) on the node that owns its
    /// version, here unless several nodes share the store (see [`Placement`]).
    pub async fn invoke(self: &Arc<Self>, target: Target, request: Request) -> Result<Response, InvokeError> {
        let Some(p) = self.placement.get() else { return self.invoke_here(target, request).await };
        if let Some(forwarding) = p.forward(&target, &request)
            && let Some(answer) = forwarding.await
        {
            return answer;
        }
        let again = (target.clone(), request.clone());
        match self.invoke_here(target, request).await {
            Err(e @ (InvokeError::TooManyEnvironments | InvokeError::Throttled { reason: UNRESERVED_THROTTLE })) => {
                match p.spill(&again.0, &again.1) {
                    Some(spilling) => spilling.await.unwrap_or(Err(e)),
                    None => Err(e),
                }
            }
            answer => answer,
        }
    }

    /// Runs one invocation on this node.
    ///
    /// The invocation runs to its end in a task of its own, even when the caller stops waiting
    /// (a client that disconnects): as on Lambda, the function is not interrupted, and its
    /// environment is always returned or retired, never lost with a dropped future.
    pub async fn invoke_here(self: &Arc<Self>, target: Target, request: Request) -> Result<Response, InvokeError> {
        self.spawn_invocation(target, request, false).await
    }

    /// Runs an invocation another node forwarded here: as [`Engine::invoke_here`], except that
    /// one that would wait longer than `coldcap::FORWARDED_START_WAIT` for a cold start of its
    /// version is refused with [`InvokeError::TooManyEnvironments`] (busy: the sender moves on).
    pub async fn invoke_forwarded(self: &Arc<Self>, target: Target, request: Request) -> Result<Response, InvokeError> {
        self.spawn_invocation(target, request, true).await
    }

    async fn spawn_invocation(
        self: &Arc<Self>,
        target: Target,
        request: Request,
        forwarded: bool,
    ) -> Result<Response, InvokeError> {
        let engine = Arc::clone(self);
        RunToEnd::new(async move { engine.run_invocation(&target, request, forwarded).await }).await
    }

    async fn run_invocation(
        self: &Arc<Self>,
        target: &Target,
        request: Request,
        forwarded: bool,
    ) -> Result<Response, InvokeError> {
        let start_ms = stdx::time::now_ms();
        let concurrent = self.running.fetch_add(1, Ordering::Relaxed) + 1;
        let _running = Running(&self.running);
        let answer = self.run_admitted(target, request, start_ms, concurrent, forwarded).await;
        if let (Some(m), Err(InvokeError::Throttled { .. } | InvokeError::TooManyEnvironments)) =
            (&self.config.metrics, &answer)
        {
            m.throttle(&function_at(target), start_ms);
        }
        answer
    }

    /// Records the metrics of an invocation that ran.
    fn record(
        &self,
        target: &Target,
        start_ms: i64,
        concurrent: u64,
        ran: (&str, f64, metrics::Outcome, Option<bool>),
    ) {
        let Some(m) = &self.config.metrics else { return };
        let (executed_version, duration_ms, outcome, provisioned) = ran;
        let f = function_at(target);
        m.invocation(&metrics::Invocation {
            account: f.account,
            region: f.region,
            function: f.function,
            qualifier: f.qualifier,
            executed_version,
            start_ms,
            duration_ms,
            outcome,
            concurrent,
            provisioned,
        });
    }

    async fn run_admitted(
        self: &Arc<Self>,
        target: &Target,
        request: Request,
        start_ms: i64,
        concurrent: u64,
        forwarded: bool,
    ) -> Result<Response, InvokeError> {
        let taken = self.take_provisioned(target);
        let provisioned = (target.provisioned_concurrency > 0).then_some(taken.is_some());
        let (from_set, in_use) = match taken {
            Some((id, env, in_use)) => (Some((id, env)), in_use),
            None => (None, None),
        };
        let _admitted = match from_set {
            Some(_) => None,
            None => Some(self.admit(target)?),
        };
        if let Some(m) = &self.config.metrics {
            let scope = &target.scope;
            match (&_admitted, in_use) {
                (Some(a), _) if a.unreserved_scope.is_some() => {
                    m.unreserved_concurrency(
                        scope.account.as_str(),
                        scope.region.as_str(),
                        start_ms,
                        a.unreserved_in_use.into(),
                    );
                }
                (_, Some(u)) => m.provisioned(&metrics::ProvisionedUse {
                    account: scope.account.as_str(),
                    region: scope.region.as_str(),
                    function: &target.function_name,
                    qualifier: &u.qualifier,
                    ts_ms: start_ms,
                    in_use: u.config,
                    allocated: u.allocated,
                    function_in_use: u.function,
                    account_in_use: u.account,
                }),
                _ => {}
            }
        }
        let config = &target.record.config;
        let key = PoolKey {
            function: target.function_id,
            version: target.version,
            config_rev: if target.version == Version::Latest { target.record.config_rev } else { 0 },
        };
        let version = target.version.to_string();
        let started = Instant::now();

        let (env, cold) = match from_set.as_ref().map(|(_, env)| env.clone()).or_else(|| self.take_idle(&key)) {
            Some(env) => (env, false),
            // At most `COLD_STARTS_PER_VERSION` start at once; others wait for one of them.
            None => match self.warm_or_start(&key, forwarded).await {
                coldcap::Turn::Warm(env) => (env, false),
                coldcap::Turn::Busy => return Err(InvokeError::TooManyEnvironments),
                coldcap::Turn::Start(_slot) => {
                    let runtime = config.runtime.as_deref().unwrap_or(DEFAULT_RUNTIME);
                    let launch = self.runtimes.resolve(runtime).map_err(InvokeError::RuntimeUnavailable)?;
                    match self.cold_start(target, &launch).await? {
                        ColdStart::Ready(env) => (env, true),
                        ColdStart::Failed { payload, env: _, log } => {
                            let ms = started.elapsed().as_secs_f64() * 1000.0;
                            self.record(
                                target,
                                start_ms,
                                concurrent,
                                (&version, ms, metrics::Outcome::FunctionError, provisioned),
                            );
                            return Ok(self.failed_start(&request, &version, payload, &log));
                        }
                    }
                }
            },
        };

        let timeout = Duration::from_secs(u64::from(config.timeout_s));
        let deadline_ms = stdx::time::now_ms() + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let invocation = Invocation {
            request_id: request.request_id.clone(),
            payload: if request.payload.is_empty() { Bytes::from_static(b"{}") } else { request.payload.clone() },
            deadline_ms,
            invoked_function_arn: target.invoked_arn.clone(),
            trace_id: trace_id(),
            client_context: request.client_context.clone(),
            cognito_identity: None,
        };
        let init = if cold { env.init_duration.lock().unwrap_or_else(|e| e.into_inner()).take() } else { None };
        {
            let mut sink = env.sink.lock().unwrap_or_else(|e| e.into_inner());
            sink.open_invocation();
            sink.platform(logs::start_line(&request.request_id, &version));
        }
        let began = Instant::now();
        let ran = env.run(invocation, timeout).await;
        let duration = began.elapsed();

        let mut keep = true;
        let timed_out = matches!(ran, Ran::TimedOut);
        let (payload, function_error) = match ran {
            Ran::Outcome(Outcome::Response(body)) => (body, false),
            Ran::Outcome(Outcome::ResponseTooLarge) => (
                Bytes::from(format!(
                    r#"{{"errorMessage":"Response payload size exceeded maximum allowed payload size ({} bytes).","errorType":"Function.ResponseSizeTooLarge"}}"#,
                    runtime_api::RESPONSE_BYTES_MAX
                )),
                true,
            ),
            Ran::Outcome(Outcome::Error { error_type, body }) => (error_body(error_type, body), true),
            Ran::TimedOut => {
                keep = false;
                env.kill();
                let message = format!("Task timed out after {}.00 seconds", config.timeout_s);
                env.sink.lock().unwrap_or_else(|e| e.into_inner()).platform(format!(
                    "{} {} {message}",
                    stdx::time::format_iso8601_ms(stdx::time::now_ms()),
                    request.request_id
                ));
                (error_json("Sandbox.Timedout", &format!("RequestId: {} Error: {message}", request.request_id)), true)
            }
            Ran::Exited(exit) => {
                keep = false;
                (exit_payload(&request.request_id, exit, env.oom_killed()), true)
            }
        };
        env.flush_logs().await;
        let memory = env.max_memory_used_mb();
        let log_tail = {
            let mut sink = env.sink.lock().unwrap_or_else(|e| e.into_inner());
            sink.platform(logs::end_line(&request.request_id));
            sink.platform(logs::report_line(
                &request.request_id,
                duration.as_secs_f64() * 1000.0,
                config.memory_mb,
                memory,
                init.map(|d| d.as_secs_f64() * 1000.0),
            ));
            let log = sink.invocation.take().unwrap_or_default();
            request.log_tail.then(|| logs::tail(&log))
        };
        match from_set {
            Some((slice, _)) => self.release_provisioned(slice, env, keep),
            None => self.release(&key, env, keep),
        }
        if cold {
            // The shell this cold start took is replaced now that its answer is in.
            self.refill_soon();
        }
        let outcome = match (function_error, timed_out) {
            (false, _) => metrics::Outcome::Success,
            (true, false) => metrics::Outcome::FunctionError,
            (true, true) => metrics::Outcome::Timeout,
        };
        self.record(target, start_ms, concurrent, (&version, duration.as_secs_f64() * 1000.0, outcome, provisioned));
        tracing::debug!(request_id = %request.request_id, ?cold, total_ms = started.elapsed().as_secs_f64() * 1000.0, "invoked");
        Ok(Response { payload, function_error, log_tail, executed_version: version, node: None })
    }

    fn take_idle(&self, key: &PoolKey) -> Option<Arc<Env>> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if key.version == Version::Latest {
            let newest = pools.latest_rev.entry(key.function).or_insert(key.config_rev);
            if *newest < key.config_rev {
                *newest = key.config_rev;
                // $LATEST changed: its old environments go.
                let stale: Vec<PoolKey> = pools
                    .idle
                    .keys()
                    .filter(|k| {
                        k.function == key.function && k.version == Version::Latest && k.config_rev < key.config_rev
                    })
                    .cloned()
                    .collect();
                for k in stale {
                    for env in pools.idle.remove(&k).unwrap_or_default() {
                        env.kill();
                        pools.live -= 1;
                    }
                }
            }
        }
        let mut dead = 0;
        let found = {
            let envs = pools.idle.get_mut(key)?;
            let mut found = None;
            while let Some(env) = envs.pop() {
                if env.is_alive() {
                    found = Some(env);
                    break;
                }
                env.kill();
                dead += 1;
            }
            found
        };
        pools.live -= dead;
        found
    }

    fn release(&self, key: &PoolKey, env: Arc<Env>, healthy: bool) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let stale = key.version == Version::Latest
            && pools.latest_rev.get(&key.function).is_some_and(|newest| *newest > key.config_rev);
        if healthy && !stale && env.is_alive() {
            *env.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            pools.idle.entry(key.clone()).or_default().push(env);
            drop(pools);
            self.wake_waiters(key);
        } else {
            env.kill();
            pools.live -= 1;
        }
    }

    /// Starts an environment and waits until its runtime is ready.
    async fn cold_start(self: &Arc<Self>, target: &Target, launch: &Launch) -> Result<ColdStart, InvokeError> {
        {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            if pools.live >= self.config.max_environments {
                // At the bound, an idle environment (of another version: this one's has none)
                // makes room, the least recently used first; only busy ones refuse.
                let Some(env) = pools.take_least_recently_used() else {
                    return Err(InvokeError::TooManyEnvironments);
                };
                env.kill();
                pools.live -= 1;
            }
            pools.live += 1;
        }
        match self.spawn_env(target, launch, "on-demand").await {
            Ok(ColdStart::Ready(env)) => Ok(ColdStart::Ready(env)),
            other => {
                self.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= 1;
                other
            }
        }
    }

    /// Starts an environment; `init_type` is `AWS_LAMBDA_INITIALIZATION_TYPE`.
    pub(crate) async fn spawn_env(
        self: &Arc<Self>,
        target: &Target,
        launch: &Launch,
        init_type: &str,
    ) -> Result<ColdStart, InvokeError> {
        let began = Instant::now();
        let code = self.unpacked(target.record.code.sha256).await?;
        let opt = self.opt_dir(&target.record.config.layers).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let stream = log_stream_name(&target.version);
        let group = target
            .record
            .config
            .logging
            .log_group
            .clone()
            .unwrap_or_else(|| format!("/aws/lambda/{}", target.function_name));
        // The stream opens with the init phase, as on Lambda: INIT_START, notices about the
        // host, then whatever the runtime prints while it starts. None of it is in the first
        // invocation's tail, which starts with START.
        let mut first = Sink::new(self.logs.clone(), target.scope.clone(), group.clone(), stream.clone());
        first.init = Some(Vec::new());
        let runtime = target.record.config.runtime.as_deref().unwrap_or(DEFAULT_RUNTIME);
        first.platform(logs::init_start_line(runtime, target.scope.region.as_str()));
        if let Some(w) = &launch.warning {
            self.warn_once(runtime, w);
            first.platform(format!("INIT_NOTICE {w}"));
        }
        let sink = Arc::new(Mutex::new(first));

        let namespaces = matches!(self.caps.isolation, Isolation::Namespaces { .. });
        let task_root = if namespaces { PathBuf::from("/var/task") } else { code.clone() };
        // Where the function sees its layers: `/opt` in the sandbox, or (without namespaces)
        // the merged directory itself.
        let opt_root = if namespaces { PathBuf::from(OPT) } else { opt.clone() };
        let runtime_root = |lang: &str| {
            if namespaces { PathBuf::from("/var/runtime") } else { self.config.runtime_dir.join(lang) }
        };
        // The SDK on the host, when installed, and where the function sees it.
        let sdk_host = match launch.language {
            Language::Python => self.config.sdk.installed_python(),
            Language::Node => self.config.sdk.installed_node_modules(),
            Language::Provided => None,
        };
        let sdk_seen = |host: &PathBuf| match launch.language {
            _ if !namespaces => host.clone(),
            Language::Node => runtime_root("nodejs").join("node_modules"),
            _ => runtime_root("python").join(PYTHON_SDK_DIR),
        };
        let paths = ModulePaths {
            task_root: task_root.clone(),
            runtime_dir: None,
            opt_root: opt_root.clone(),
            sdk: sdk_host.as_ref().map(sdk_seen),
        };
        let (program, args, runtime_dir) = match launch.language {
            Language::Provided => {
                // The package's bootstrap, else a layer's (Lambda's lookup order).
                let program = if code.join("bootstrap").exists() {
                    task_root.join("bootstrap")
                } else if opt.join("bootstrap").exists() {
                    opt_root.join("bootstrap")
                } else {
                    let error_type = "Runtime.InvalidEntrypoint";
                    let init_ms = began.elapsed().as_secs_f64() * 1000.0;
                    sink.lock().unwrap_or_else(|e| e.into_inner()).platform(logs::init_report_line(
                        init_ms,
                        "error",
                        Some(error_type),
                    ));
                    return Ok(ColdStart::Failed {
                        payload: error_json(
                            error_type,
                            "Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
                        ),
                        env: None,
                        log: sink,
                    });
                };
                (program, Vec::new(), None)
            }
            Language::Python => {
                let interp = launch.interpreter.as_ref().expect("python has an interpreter");
                let rt = runtime_root("python");
                let mut args = vec![
                    "-u".to_owned(),
                    rt.join("bootstrap.py").display().to_string(),
                    "--opt".to_owned(),
                    paths.opt_root.display().to_string(),
                ];
                if let Some(sdk) = &paths.sdk {
                    args.extend(["--sdk".to_owned(), sdk.display().to_string()]);
                }
                (interp.path.clone(), args, Some("python"))
            }
            Language::Node => {
                let interp = launch.interpreter.as_ref().expect("node has an interpreter");
                let rt = runtime_root("nodejs");
                (interp.path.clone(), vec![rt.join("index.mjs").display().to_string()], Some("nodejs"))
            }
        };

        let config = &target.record.config;
        let paths = ModulePaths { runtime_dir: runtime_dir.map(runtime_root), ..paths };
        let credentials =
            match &self.config.keys {
                Some(keys) => Some(keys.mint_temporary(&target.scope.account).ok_or_else(|| {
                    InvokeError::Internal("too many execution environments hold credentials".to_owned())
                })?),
                None => None,
            };
        let env_vars = environment(target, launch, &paths, &group, &stream, init_type, credentials.as_ref());
        let network = match self.caps.isolation {
            Isolation::Namespaces { network } => network,
            Isolation::None => Network::Host,
        };
        let fixed = |port: u16| if network == Network::Isolated { port } else { 0 };
        let mut listeners = vec![Listener {
            port: fixed(9001),
            env: Some(("AWS_LAMBDA_RUNTIME_API".to_owned(), "127.0.0.1:{port}".to_owned())),
        }];
        if self.config.serve_api.is_some() {
            listeners.push(Listener {
                port: fixed(4566),
                env: Some(("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:{port}".to_owned())),
            });
        }
        let mut mounts = Vec::new();
        if namespaces {
            mounts.push(Mount { target: "/var/task".into(), kind: MountKind::ReadOnly { source: code.clone() } });
            mounts.push(Mount { target: OPT.into(), kind: MountKind::ReadOnly { source: opt.clone() } });
            if let Some(lang) = runtime_dir {
                mounts.push(Mount {
                    target: "/var/runtime".into(),
                    kind: MountKind::ReadOnly { source: self.config.runtime_dir.join(lang) },
                });
            }
            if let (Some(source), Some(target)) = (sdk_host, &paths.sdk) {
                mounts.push(Mount { target: target.clone(), kind: MountKind::ReadOnly { source } });
            }
            for b in launch.interpreter.iter().flat_map(|i| i.binds.iter()) {
                mounts.push(Mount { target: b.clone(), kind: MountKind::ReadOnly { source: b.clone() } });
            }
            mounts
                .push(Mount { target: "/tmp".into(), kind: MountKind::Tmpfs { size_mb: config.ephemeral_storage_mb } });
        }
        let spec = Spec {
            program,
            args,
            env: env_vars,
            workdir: task_root,
            // The shell's own, where it has built the shared part of the root ahead.
            root_dir: PathBuf::new(),
            mounts,
            listeners,
            limits: Limits { open_files: OPEN_FILES_MAX, processes: PROCESSES_MAX },
            user: None,
            hostname: format!("169.254.{}.{}", (id >> 8) & 0xff, id & 0xff),
            isolation: self.caps.isolation,
        };
        let memory_bytes = u64::from(config.memory_mb) * 1024 * 1024;
        let shell = self.shell().map_err(|e| InvokeError::Internal(format!("cannot start the sandbox: {e}")))?;
        let started = shell.start(&self.caps, spec, Some((memory_bytes, PROCESSES_MAX))).await;
        if started.is_err() {
            self.refill_soon();
        }
        let mut sandbox = started.map_err(|e| InvokeError::Internal(format!("cannot start the sandbox: {e}")))?;
        let mut listeners = std::mem::take(&mut sandbox.listeners).into_iter();
        let endpoint = match listeners.next() {
            Some(l) => Some(
                runtime_api::Endpoint::serve(l)
                    .map_err(|e| InvokeError::Internal(format!("cannot serve the runtime API: {e}")))?,
            ),
            // The init failed before opening its listeners; its exit says why.
            None => None,
        };
        let api = match (listeners.next(), &self.config.serve_api) {
            (Some(l), Some(serve)) => serve(l),
            _ => None,
        };
        let env = Arc::new(Env::new(id, sandbox, endpoint, api, sink, credentials));
        tracing::debug!(env = env.id, function = %target.function_name, version = %target.version, "environment started");
        let started = env.started(INIT_TIMEOUT).await;
        let init_ms = began.elapsed().as_secs_f64() * 1000.0;
        if !matches!(started, Started::Ready) {
            // Otherwise the caller refills, once the first invocation is over.
            self.refill_soon();
        }
        if let (Started::Ready, Language::Python, Some(interp)) = (&started, launch.language, &launch.interpreter) {
            self.compile_python_client_once(&interp.path);
        }
        let (payload, status, error_type) = match started {
            Started::Ready => {
                *env.init_duration.lock().unwrap_or_else(|e| e.into_inner()) = Some(began.elapsed());
                // Everything printed during init reaches the stream before the first START.
                env.flush_logs().await;
                env.sink.lock().unwrap_or_else(|e| e.into_inner()).init = None;
                return Ok(ColdStart::Ready(env));
            }
            Started::InitError { error_type, body } => {
                env.kill();
                let t = error_type.clone().unwrap_or_else(|| "Runtime.Unknown".to_owned());
                (error_body(error_type, body), "error", Some(t))
            }
            Started::Exited(exit) => {
                let oom = exit.oom || env.oom_killed();
                let t = if oom { "Runtime.OutOfMemory" } else { "Runtime.ExitError" };
                (exit_payload("", exit, oom), "error", Some(t.to_owned()))
            }
            Started::TimedOut => {
                env.kill();
                let _ = env.exited().await;
                let message = format!("Error: the runtime did not start within {} seconds", INIT_TIMEOUT.as_secs());
                (error_json("Sandbox.Timedout", &message), "timeout", None)
            }
        };
        env.flush_logs().await;
        env.sink.lock().unwrap_or_else(|e| e.into_inner()).platform(logs::init_report_line(
            init_ms,
            status,
            error_type.as_deref(),
        ));
        let log = env.sink.clone();
        Ok(ColdStart::Failed { payload, env: Some(env), log })
    }

    /// Says once per runtime in the server's log that the host substitutes its interpreter.
    fn warn_once(&self, runtime: &str, warning: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.len() < WARNED_RUNTIMES_MAX && warned.insert(runtime.to_owned()) {
            tracing::warn!("{warning}");
        }
    }

    /// The answer to an invocation whose environment could not start.
    fn failed_start(&self, request: &Request, version: &str, payload: Bytes, log: &Mutex<Sink>) -> Response {
        let log_tail = {
            let mut sink = log.lock().unwrap_or_else(|e| e.into_inner());
            sink.finish_partial();
            let init = sink.init.take().unwrap_or_default();
            sink.open_invocation();
            sink.platform(logs::start_line(&request.request_id, version));
            // The init phase's output (the error, a traceback) shows again in the invocation's
            // log, where Lambda's retried init prints it again, so the tail says what failed.
            sink.output(&init);
            sink.platform(logs::end_line(&request.request_id));
            sink.platform(logs::report_line(&request.request_id, 0.0, 0, 0, None));
            logs::tail(&sink.invocation.take().unwrap_or_default())
        };
        Response {
            payload,
            function_error: true,
            log_tail: request.log_tail.then_some(log_tail),
            executed_version: version.to_owned(),
            node: None,
        }
    }

    /// The merged directory of a version's layers (its `/opt`), built on first use from the
    /// unpacked layers, for each distinct ordered list of layer packages.
    async fn opt_dir(&self, layers: &[FunctionLayer]) -> Result<PathBuf, InvokeError> {
        let name = if layers.is_empty() {
            "opt".to_owned()
        } else {
            let list: Vec<String> = layers.iter().map(|l| l.code.sha256.to_hex()).collect();
            format!("opt-{}", blobs::sha256(list.join("\n").as_bytes()).to_hex())
        };
        let dir = self.config.code_dir.join(name);
        if dir.exists() {
            return Ok(dir);
        }
        let mut sources = Vec::with_capacity(layers.len());
        for l in layers {
            sources.push(self.unpacked(l.code.sha256).await?);
        }
        let _one_at_a_time = self.unpacking.lock().await;
        if dir.exists() {
            return Ok(dir);
        }
        let target = dir.clone();
        tokio::task::spawn_blocking(move || blobs::merge::merge(&sources, &target))
            .await
            .map_err(|e| InvokeError::Internal(e.to_string()))?
            .map_err(|e| InvokeError::Internal(format!("cannot lay out the layers: {e}")))?;
        Ok(dir)
    }

    /// An unpacked package (function code or layer), unpacking it on first use.
    async fn unpacked(&self, sha: model::function::Sha256) -> Result<PathBuf, InvokeError> {
        let dir = self.config.code_dir.join(sha.to_hex());
        if dir.exists() {
            return Ok(dir);
        }
        let _one_at_a_time = self.unpacking.lock().await;
        if dir.exists() {
            return Ok(dir);
        }
        let blobs = self.blobs.clone();
        let target = dir.clone();
        tokio::task::spawn_blocking(move || {
            let data = blobs.get(&sha).map_err(|e| e.to_string())?.ok_or("the code package is missing")?;
            blobs::package::unpack(&data, &target).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| InvokeError::Internal(e.to_string()))?
        .map_err(|e: String| InvokeError::Internal(format!("cannot unpack the code: {e}")))?;
        Ok(dir)
    }
}

pub(crate) enum ColdStart {
    Ready(Arc<Env>),
    /// The runtime could not start: the invocation's answer, the environment (when one was
    /// started) and its log.
    Failed {
        payload: Bytes,
        env: Option<Arc<Env>>,
        log: Arc<Mutex<Sink>>,
    },
}

/// `{"errorMessage": …, "errorType": …}`.
fn error_json(error_type: &str, message: &str) -> Bytes {
    Bytes::from(
        format!("{{\"errorMessage\":{},\"errorType\":{}}}", json_string(message), json_string(error_type)).into_bytes(),
    )
}

fn json_string(s: &str) -> String {
    model::validate::compact_json_map([("", s)]).trim_start_matches("{\"\":").trim_end_matches('}').to_owned()
}

/// The error a runtime posted, or one built from its error-type header when the body is not
/// an error object (AWS does the same).
fn error_body(error_type: Option<String>, body: Bytes) -> Bytes {
    let is_object = body.first() == Some(&b'{') && body.last() == Some(&b'}');
    if is_object {
        body
    } else {
        let t = error_type.unwrap_or_else(|| "Runtime.UnknownReason".to_owned());
        error_json(&t, &String::from_utf8_lossy(&body))
    }
}

/// The answer when the runtime went away mid-invocation (or during init, with an empty id).
fn exit_payload(request_id: &str, exit: Exit, oom: bool) -> Bytes {
    let prefix = if request_id.is_empty() { String::new() } else { format!("RequestId: {request_id} ") };
    if oom || exit.oom {
        return error_json("Runtime.OutOfMemory", &format!("{prefix}Error: Runtime exited with error: signal: killed"));
    }
    let detail = if exit.code == 0 {
        "Runtime exited without providing a reason".to_owned()
    } else {
        format!("Runtime exited with error: {}", exit.describe())
    };
    error_json("Runtime.ExitError", &format!("{prefix}Error: {detail}"))
}

/// `YYYY/MM/DD/[<version>]<32 hex>`, as Lambda names log streams.
fn log_stream_name(version: &Version) -> String {
    let c = stdx::time::Civil::from_epoch_ms(stdx::time::now_ms());
    format!("{:04}/{:02}/{:02}/[{}]{}", c.year, c.month, c.day, version, uuid::Uuid::new_v4().simple())
}

/// An X-Ray trace header, `Root=1-<8 hex time>-<24 hex>;Parent=<16 hex>;Sampled=0`.
fn trace_id() -> String {
    let mut id = [0u8; uuid::fmt::Simple::LENGTH];
    let mut parent = [0u8; uuid::fmt::Simple::LENGTH];
    let id = uuid::Uuid::new_v4().simple().encode_lower(&mut id);
    let parent = uuid::Uuid::new_v4().simple().encode_lower(&mut parent);
    let mut time = [0u8; 8];
    let seconds = u32::try_from(stdx::time::now_ms() / 1000).unwrap_or(u32::MAX);
    for (i, b) in time.iter_mut().enumerate() {
        *b = b"0123456789abcdef"[((seconds >> (28 - 4 * i)) & 0xf) as usize];
    }
    let mut s = String::with_capacity(80);
    s.push_str("Root=1-");
    s.push_str(std::str::from_utf8(&time).expect("hex digits"));
    s.push('-');
    s.push_str(&id[..24]);
    s.push_str(";Parent=");
    s.push_str(&parent[..16]);
    s.push_str(";Sampled=0");
    s
}

/// The Python SDK's mount point inside Versa's Python runtime directory.
const PYTHON_SDK_DIR: &str = "sdk";

/// Where a runtime finds code, as the function sees it (inside the sandbox, or host paths
/// without namespaces).
#[derive(Debug, Clone)]
struct ModulePaths {
    /// The function's code: `/var/task`.
    task_root: PathBuf,
    /// Versa's runtime client: `/var/runtime`; `None` for `provided`.
    runtime_dir: Option<PathBuf>,
    /// The layers: `/opt`.
    opt_root: PathBuf,
    /// The AWS SDK, when installed: `/var/runtime/sdk` (Python), `/var/runtime/node_modules`.
    sdk: Option<PathBuf>,
}

impl ModulePaths {
    /// `NODE_PATH` as Lambda sets it (`/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:
    /// /var/runtime/node_modules:/var/runtime:/var/task`): layers, then the SDK, then the rest.
    fn node_path(&self, runtime: &str) -> String {
        let runtime_dir = self.runtime_dir.clone().unwrap_or_else(|| PathBuf::from("/var/runtime"));
        let mut dirs = Vec::new();
        if let Some(major) = runtime.strip_prefix("nodejs").and_then(|r| r.strip_suffix(".x")) {
            dirs.push(self.opt_root.join(format!("nodejs/node{major}/node_modules")));
        }
        dirs.push(self.opt_root.join("nodejs/node_modules"));
        dirs.push(self.sdk.clone().unwrap_or_else(|| runtime_dir.join("node_modules")));
        dirs.push(runtime_dir);
        dirs.push(self.task_root.clone());
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":")
    }
}

/// The environment variables of the runtime: Lambda's reserved and default ones, then the
/// function's own (the reserved ones win).
fn environment(
    target: &Target,
    launch: &Launch,
    paths: &ModulePaths,
    group: &str,
    stream: &str,
    init_type: &str,
    credentials: Option<&control::keys::TemporaryCredentials>,
) -> Vec<(String, String)> {
    let c = &target.record.config;
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| {
        env.retain(|(key, _)| key != k);
        env.push((k.to_owned(), v));
    };
    let opt = paths.opt_root.display();
    set("PATH", format!("/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:{opt}/bin"));
    set(
        "LD_LIBRARY_PATH",
        format!("/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:{opt}/lib"),
    );
    set("LANG", "en_US.UTF-8".to_owned());
    set("LC_CTYPE", "C.UTF-8".to_owned());
    set("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".to_owned());
    set("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000".to_owned());
    set("_AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129".to_owned());
    set("_AWS_XRAY_DAEMON_PORT", "2000".to_owned());
    match launch.language {
        Language::Python => {
            // The client orders `sys.path`: the code, the layers, the runtime, the SDK.
            set("PYTHONPATH", paths.runtime_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default());
            set("PYTHONUNBUFFERED", "1".to_owned());
            set("PYTHONDONTWRITEBYTECODE", "1".to_owned());
        }
        Language::Node => set("NODE_PATH", paths.node_path(c.runtime.as_deref().unwrap_or_default())),
        Language::Provided => {}
    }
    for (k, v) in c.environment.iter().flatten() {
        set(k, v.clone());
    }
    let region = target.scope.region.to_string();
    set("_HANDLER", c.handler.clone().unwrap_or_default());
    set("AWS_REGION", region.clone());
    set("AWS_DEFAULT_REGION", region);
    if let Some(e) = &launch.execution_env {
        set("AWS_EXECUTION_ENV", e.clone());
    }
    set("AWS_LAMBDA_FUNCTION_NAME", target.function_name.clone());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string());
    set("AWS_LAMBDA_FUNCTION_VERSION", target.version.to_string());
    set("AWS_LAMBDA_INITIALIZATION_TYPE", init_type.to_owned());
    set("AWS_LAMBDA_LOG_GROUP_NAME", group.to_owned());
    set("AWS_LAMBDA_LOG_STREAM_NAME", stream.to_owned());
    // Credentials for calling Versa from inside: the environment's own temporary key, bound to
    // the function's account; without keys, a 12-digit key id is the function's account.
    match credentials {
        Some(c) => {
            set("AWS_ACCESS_KEY_ID", c.access_key_id.clone());
            set("AWS_SECRET_ACCESS_KEY", c.secret_access_key.clone());
            set("AWS_SESSION_TOKEN", c.session_token.clone());
        }
        None => {
            set("AWS_ACCESS_KEY_ID", target.scope.account.to_string());
            set("AWS_SECRET_ACCESS_KEY", "versa".to_owned());
            set("AWS_SESSION_TOKEN", "versa".to_owned());
        }
    }
    set("LAMBDA_TASK_ROOT", paths.task_root.display().to_string());
    set(
        "LAMBDA_RUNTIME_DIR",
        paths.runtime_dir.as_ref().map_or_else(|| "/var/runtime".to_owned(), |d| d.display().to_string()),
    );
    set("TZ", ":UTC".to_owned());
    env
}

#[cfg(test)]
mod trace_tests {
    #[test]
    fn trace_ids_have_the_x_ray_shape_and_differ() {
        let a = super::trace_id();
        let b = super::trace_id();
        assert_ne!(a, b);
        let rest = a.strip_prefix("Root=1-").expect("prefix");
        let (time, rest) = rest.split_once('-').expect("time");
        assert_eq!(time.len(), 8);
        let seconds = i64::from_str_radix(time, 16).unwrap();
        assert!((stdx::time::now_ms() / 1000 - seconds).abs() <= 2, "{a}");
        let (id, rest) = rest.split_once(";Parent=").expect("parent");
        assert_eq!(id.len(), 24);
        let parent = rest.strip_suffix(";Sampled=0").expect("sampled");
        assert_eq!(parent.len(), 16);
        assert!(id.chars().chain(parent.chars()).all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
