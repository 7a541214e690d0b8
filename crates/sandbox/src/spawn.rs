//! The host side: finding out what isolation this host supports, and spawning sandboxes.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use crate::cgroup::{Cgroup, CgroupRoot};
use crate::spec::{Isolation, Limits, MountKind, Network, Spec};
use crate::sys;

/// The unprivileged user functions run as when Versa runs as root (Lambda's `sbx_user1051`).
pub const SANDBOX_UID: u32 = 993;
pub const SANDBOX_GID: u32 = 993;

/// What this host lets the sandbox do, found out once at startup by [`probe`].
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// The program that runs as sandbox init (the `versa` binary).
    pub init_program: PathBuf,
    pub isolation: Isolation,
    /// Memory and process limits, memory accounting, OOM detection.
    pub cgroup: Option<CgroupRoot>,
    /// The user functions run as; `None` when Versa is not root and cannot switch users.
    pub user: Option<(u32, u32)>,
    /// Whether runtimes get the seccomp filter of [`crate::denied_syscalls`].
    pub seccomp: bool,
    /// The Landlock ABI the runtimes' ruleset uses (the kernel's, at most the one the ruleset
    /// was written for); `None` when they get none.
    pub landlock: Option<i32>,
    /// Each protection that is off, with the reason. Empty when everything is on.
    pub off: Vec<String>,
}

impl Capabilities {
    /// Without a mount namespace the function's code is read in place, under the operator's
    /// data dir, which the sandbox user may not be able to reach: functions then run as the
    /// server's user.
    fn without_namespaces(&mut self) {
        if self.user.take().is_some() {
            self.off.push("unprivileged user: needs namespaces (functions read their code in place)".to_owned());
        }
    }

    /// One line per protection, for the startup log and the health endpoint.
    pub fn summary(&self) -> Vec<String> {
        let mut s = vec![match self.isolation {
            Isolation::Namespaces { network: Network::Isolated } => {
                "namespaces: mount, pid, ipc, uts, cgroup, network (loopback only); read-only root".to_owned()
            }
            Isolation::Namespaces { network: Network::Host } => {
                "namespaces: mount, pid, ipc, uts, cgroup; host network; read-only root".to_owned()
            }
            Isolation::None => "namespaces: off".to_owned(),
        }];
        s.push(match &self.cgroup {
            Some(c) => format!("limits: memory and processes via {}", c.describe()),
            None => "limits: no cgroup (memory and process limits off)".to_owned(),
        });
        s.push(match self.user {
            Some((uid, _)) => format!("user: unprivileged uid {uid}, no new privileges"),
            None => "user: runs as the server's user".to_owned(),
        });
        s.push(if self.seccomp {
            "seccomp: on; mount, ptrace, bpf, keyrings, modules, kexec, namespaces, clock changes… refused (EPERM)"
                .to_owned()
        } else {
            "seccomp: off".to_owned()
        });
        s.push(match (self.landlock, self.isolation) {
            (Some(abi), Isolation::Namespaces { .. }) => {
                format!("landlock: ABI {abi}; writes only to /tmp, reads only in the sandbox's root")
            }
            (Some(abi), Isolation::None) => format!("landlock: ABI {abi}; writes only to /tmp"),
            (None, _) => "landlock: off".to_owned(),
        });
        s
    }

    /// The value of the init's [`crate::init::CONFINE_ENV`].
    fn confinement(&self) -> String {
        let mut on = Vec::new();
        if self.seccomp {
            on.push(crate::init::SECCOMP);
        }
        if self.landlock.is_some() {
            on.push(crate::init::LANDLOCK);
        }
        on.join(",")
    }
}

/// Probes the host: tries a real sandbox with `wanted` isolation, and a cgroup. Never fails;
/// what does not work is listed in [`Capabilities::off`].
pub async fn probe(init_program: PathBuf, wanted: Isolation, scratch: &Path) -> Capabilities {
    let mut off = Vec::new();
    let root = sys::geteuid() == 0;
    let cgroup = if root {
        match CgroupRoot::detect() {
            Ok(c) => Some(c),
            Err(why) => {
                off.push(format!("memory and process limits: {why}"));
                None
            }
        }
    } else {
        off.push("memory and process limits: Versa is not running as root".to_owned());
        None
    };
    let user = root.then_some((SANDBOX_UID, SANDBOX_GID));
    if !root {
        off.push("unprivileged user: Versa is not running as root, functions run as its user".to_owned());
    }
    // Both work without root (the runtime has no new privileges), hence without namespaces;
    // `--sandbox none` turns them off with the rest.
    let (mut seccomp, mut landlock) = (false, None);
    if wanted == Isolation::None {
        off.push("seccomp and landlock: turned off by configuration".to_owned());
    } else {
        match sys::seccomp_errno_available() {
            Ok(()) => seccomp = true,
            Err(why) => off.push(format!("seccomp: {why}")),
        }
        match sys::landlock_abi() {
            Ok(abi) => landlock = Some(abi.min(crate::confine::LANDLOCK_ABI as i32)),
            Err(why) => off.push(format!("landlock: {why}")),
        }
    }
    let mut caps = Capabilities { init_program, isolation: wanted, cgroup, user, seccomp, landlock, off };
    if wanted == Isolation::None {
        caps.off.push("namespaces and read-only root: turned off by configuration".to_owned());
        caps.without_namespaces();
        return caps;
    }
    if !root {
        caps.isolation = Isolation::None;
        caps.off.push("namespaces and read-only root: Versa is not running as root".to_owned());
        return caps;
    }
    let mut tried = trial(&caps, scratch).await;
    if let Err(why) = tried.clone()
        && (caps.seccomp || caps.landlock.is_some())
    {
        // Without seccomp and Landlock, then, before giving up on namespaces.
        let (seccomp, landlock) = (caps.seccomp, caps.landlock);
        (caps.seccomp, caps.landlock) = (false, None);
        tried = trial(&caps, scratch).await;
        if tried.is_ok() {
            caps.off.push(format!("seccomp and landlock: a trial sandbox failed with them: {why}"));
        } else {
            (caps.seccomp, caps.landlock) = (seccomp, landlock);
        }
    }
    match tried {
        Ok(()) => {}
        Err(why) => {
            caps.isolation = Isolation::None;
            caps.off.push(format!("namespaces and read-only root: a trial sandbox failed: {why}"));
            caps.without_namespaces();
        }
    }
    caps
}

/// Runs `true` in a sandbox built the way functions' are.
async fn trial(caps: &Capabilities, scratch: &Path) -> Result<(), String> {
    let dir = scratch.join("probe");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("task")).map_err(|e| e.to_string())?;
    let program =
        ["/usr/bin/true", "/bin/true"].into_iter().find(|p| Path::new(p).exists()).ok_or("no `true` binary")?;
    let spec = Spec {
        program: program.into(),
        args: Vec::new(),
        env: Vec::new(),
        workdir: "/var/task".into(),
        root_dir: dir.join("root"),
        mounts: vec![crate::spec::Mount {
            target: "/var/task".into(),
            kind: crate::spec::MountKind::ReadOnly { source: dir.join("task") },
        }],
        listeners: Vec::new(),
        limits: Limits { open_files: 1024, processes: 1024 },
        user: caps.user,
        hostname: "probe".into(),
        isolation: caps.isolation,
    };
    let mut sb = Sandbox::spawn(caps, spec, None).await.map_err(|e| e.to_string())?;
    let mut output = String::new();
    if let Some(mut out) = sb.output.take() {
        let _ = out.read_to_string(&mut output).await;
    }
    let status = sb.wait().await.map_err(|e| e.to_string())?;
    sb.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
    if status.success() { Ok(()) } else { Err(format!("{status}: {}", output.trim())) }
}

/// A sandbox init started ahead of time: in its namespaces and its cgroup, waiting for the
/// function to run. Starting a process in a new cgroup and network namespace costs most of a
/// cold start (the first migration into a fresh cgroup waits for an RCU grace period), so the
/// engine keeps a few of these ready and [`Shell::start`] only has to hand over the spec.
pub struct Shell {
    child: tokio::process::Child,
    cgroup: Option<Cgroup>,
    /// Where the init builds the sandbox's root (ahead, with namespaces).
    root_dir: PathBuf,
    stdin: std::fs::File,
    control: std::os::unix::net::UnixStream,
    output: pipe::Receiver,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell").field("pid", &self.child.id()).finish()
    }
}

/// Distinguishes the cgroups of one server's sandboxes.
static SHELLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Memory limit of a shell's cgroup until it is given a function.
const SHELL_MEMORY_BYTES: u64 = 64 << 20;
/// Process limit of a shell's cgroup until it is given a function.
const SHELL_PROCESSES: u64 = 16;

impl Shell {
    /// Starts an init that builds the shared part of its root in a new directory under
    /// `run_dir` (`s<n>/root`, removed with the sandbox) and waits for its spec.
    ///
    /// Must be called from a long-lived thread (a runtime worker, not a blocking-pool thread):
    /// the init's parent-death signal fires when the *thread* that spawned it exits.
    pub fn spawn(caps: &Capabilities, run_dir: &Path) -> io::Result<Shell> {
        let n = SHELLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Shell::spawn_at(caps, n, run_dir.join(format!("s{n}")).join("root"))
    }

    fn spawn_at(caps: &Capabilities, n: u64, root_dir: PathBuf) -> io::Result<Shell> {
        let cgroup = match &caps.cgroup {
            Some(root) => Some(Cgroup::create(root, &format!("s{n}"), SHELL_MEMORY_BYTES, SHELL_PROCESSES)?),
            None => None,
        };
        let procs: Vec<String> = cgroup.iter().flat_map(Cgroup::procs_files).map(|p| p.display().to_string()).collect();
        std::fs::create_dir_all(&root_dir)?;
        let (reader, writer) = io::pipe()?;
        let (control, theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut child = spawn_init(caps, &procs.join(":"), &root_dir, writer, theirs)?;
        let stdin = child.stdin.take().ok_or_else(|| io::Error::other("no stdin"))?;
        let stdin = std::fs::File::from(stdin.into_owned_fd()?);
        let output = pipe::Receiver::from_owned_fd(reader.into())?;
        Ok(Shell { child, cgroup, root_dir, stdin, control, output })
    }

    /// The directory the sandbox's root is built on; [`Shell::start`] puts it in the spec.
    pub fn root_dir(&self) -> &Path {
        &self.root_dir
    }

    /// Gives the shell its function: sets the cgroup's limits (memory bytes, processes), sends
    /// the spec, and waits for the listeners.
    pub async fn start(
        mut self,
        caps: &Capabilities,
        mut spec: Spec,
        limits: Option<(u64, u64)>,
    ) -> io::Result<Sandbox> {
        spec.isolation = caps.isolation;
        spec.user = caps.user;
        spec.root_dir = self.root_dir;
        if let (Some(cg), Some((memory, pids))) = (&self.cgroup, limits) {
            cg.set_limits(memory, pids)?;
        }
        if matches!(caps.isolation, Isolation::Namespaces { .. }) {
            // The function's read-only mounts, as detached trees: pid 1 is in the sandbox's
            // root already and attaches them there.
            let trees = spec
                .mounts
                .iter()
                .filter_map(|m| match &m.kind {
                    MountKind::ReadOnly { source } => Some(sys::detached_ro_tree(source)),
                    MountKind::Tmpfs { .. } => None,
                })
                .collect::<io::Result<Vec<_>>>()?;
            if trees.len() > sys::FDS_MAX {
                return Err(io::Error::other(format!("more than {} read-only mounts", sys::FDS_MAX)));
            }
            let fds: Vec<i32> = trees.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
            sys::send_fds(std::os::fd::AsRawFd::as_raw_fd(&self.control), &fds)?;
        }
        // The spec goes in on stdin; the init reads it to EOF.
        let json = serde_json::to_vec(&spec).map_err(io::Error::other)?;
        self.stdin.write_all(&json)?;
        drop(self.stdin);
        let listeners = if spec.listeners.is_empty() { Vec::new() } else { receive_listeners(self.control).await? };
        Ok(Sandbox {
            child: self.child,
            cgroup: self.cgroup,
            root_dir: spec.root_dir,
            output: Some(self.output),
            listeners,
        })
    }

    /// Stops an unused shell and removes what it left on the host.
    pub fn discard(mut self) {
        let _ = self.child.start_kill();
        let cgroup = self.cgroup.take();
        if let Some(cg) = &cgroup {
            cg.kill_all();
        }
        // The root's mounts live in the init's namespace: on the host the directory is empty.
        let dir = self.root_dir.parent().map(Path::to_owned);
        tokio::task::spawn_blocking(move || {
            if let Some(cg) = cgroup {
                cg.remove();
            }
            if let Some(dir) = dir {
                let _ = std::fs::remove_dir_all(dir);
            }
        });
    }
}

/// A running sandbox. Killing the init takes the whole tree down (pid 1 has the init as its
/// parent-death signal source, and the PID namespace dies with pid 1).
pub struct Sandbox {
    child: tokio::process::Child,
    cgroup: Option<Cgroup>,
    root_dir: PathBuf,
    /// The runtime's stdout and stderr, merged, as a non-blocking pipe.
    pub output: Option<pipe::Receiver>,
    /// The listeners of [`Spec::listeners`], in order, opened inside the sandbox's network
    /// namespace. Empty if the init failed before opening them.
    pub listeners: Vec<std::net::TcpListener>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("pid", &self.child.id()).field("root_dir", &self.root_dir).finish()
    }
}

impl Sandbox {
    /// Starts `spec` confined as `caps` allows, in a new shell. `limits` is (memory bytes, max
    /// processes) for the cgroup, when there is one. See [`Shell::spawn`] for threads.
    pub async fn spawn(caps: &Capabilities, spec: Spec, limits: Option<(u64, u64)>) -> io::Result<Sandbox> {
        let n = SHELLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Shell::spawn_at(caps, n, spec.root_dir.clone())?.start(caps, spec, limits).await
    }

    /// The init's pid on the host.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILLs the whole sandbox.
    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
    }

    /// Waits for the init to exit; its status is the runtime's.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }

    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// A handle that reads this sandbox's memory figures, usable while another task waits on it.
    pub fn meter(&self) -> Meter {
        // Opened once: a warm invocation reads it again at offset 0 (one `pread`, where a path
        // open, `fstat`, read and close cost more than the rest of the invocation's bookkeeping).
        let peak = self.cgroup.as_ref().and_then(|c| std::fs::File::open(c.peak_memory_file()).ok()).map(Arc::new);
        Meter(self.cgroup.clone(), peak)
    }

    /// Peak memory use of the sandbox, when a cgroup measures it.
    pub fn peak_memory_bytes(&self) -> Option<u64> {
        self.cgroup.as_ref().and_then(Cgroup::peak_memory_bytes)
    }

    /// Processes the OOM killer killed in this sandbox.
    pub fn oom_kills(&self) -> u64 {
        self.cgroup.as_ref().map_or(0, Cgroup::oom_kills)
    }

    /// Removes what the sandbox left on the host (its cgroup and root directory). Call after
    /// `wait`.
    pub fn cleanup(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            cg.kill_all();
            cg.remove();
        }
        if let Some(parent) = self.root_dir.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
    }
}

/// Waits for the init to send its listeners; none if it exits first.
async fn receive_listeners(control: std::os::unix::net::UnixStream) -> io::Result<Vec<std::net::TcpListener>> {
    use std::os::fd::AsRawFd;
    control.set_nonblocking(true)?;
    let control = tokio::net::UnixStream::from_std(control)?;
    loop {
        control.readable().await?;
        match control.try_io(tokio::io::Interest::READABLE, || sys::recv_fds(control.as_raw_fd())) {
            Ok(fds) => return Ok(fds.into_iter().map(std::net::TcpListener::from).collect()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

// JUSTIFICATION: this is the one place Versa starts a process.
#[allow(clippy::disallowed_methods)]
fn spawn_init(
    caps: &Capabilities,
    cgroups: &str,
    root_dir: &Path,
    output: io::PipeWriter,
    control: std::os::unix::net::UnixStream,
) -> io::Result<tokio::process::Child> {
    use std::os::fd::AsRawFd;
    let mut cmd = tokio::process::Command::new(&caps.init_program);
    // argv[0] names no host path: `/proc/1/cmdline` is readable inside the sandbox.
    cmd.arg0("init")
        .arg(crate::INIT_ARG)
        .env_clear()
        .env(crate::init::CGROUPS_ENV, cgroups)
        .env(crate::init::CONFINE_ENV, caps.confinement())
        .stdin(std::process::Stdio::piped())
        .stdout(output.try_clone()?)
        .stderr(output)
        .kill_on_drop(true);
    if let Isolation::Namespaces { network } = caps.isolation {
        cmd.env(crate::init::ROOT_ENV, root_dir);
        if network == Network::Isolated {
            cmd.env(crate::init::LOOPBACK_ENV, "1");
        }
    }
    let flags = match caps.isolation {
        Isolation::Namespaces { network } => {
            let mut f = libc::CLONE_NEWNS
                | libc::CLONE_NEWPID
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWUTS
                | libc::CLONE_NEWCGROUP;
            if network == Network::Isolated {
                f |= libc::CLONE_NEWNET;
            }
            f
        }
        Isolation::None => 0,
    };
    let control_fd = control.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only makes raw system calls
    // (prctl, dup2/fcntl, unshare), which are async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            sys::set_parent_death_signal(libc::SIGKILL)?;
            sys::dup2_inheritable(control_fd, crate::init::CONTROL_FD)?;
            if flags != 0 {
                sys::unshare(flags)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn();
    // The child has its copy (as fd 3); ours closes here.
    drop(control);
    child
}

/// Runs a host program outside any sandbox and returns its stdout, for probing the host (an
/// interpreter's version). `None` if it cannot run or fails.
// JUSTIFICATION: this crate is where processes are started; probing is one more case.
#[allow(clippy::disallowed_methods)]
pub fn host_command_output(program: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program).args(args).stdin(std::process::Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a host program outside any sandbox to completion, with `env` added to Versa's own
/// environment, and returns its exit status and output. For host chores such as installing
/// the runtimes' AWS SDKs (`versa runtimes install`); `program` is looked up on `PATH` when it
/// has no `/`.
// JUSTIFICATION: this crate is where processes are started; host chores are one more case.
#[allow(clippy::disallowed_methods)]
pub fn run_host_command(
    program: &std::ffi::OsStr,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> io::Result<std::process::Output> {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
}

/// Reads a sandbox's memory figures from its cgroup.
#[derive(Debug, Clone)]
pub struct Meter(Option<Cgroup>, Option<Arc<std::fs::File>>);

/// Bytes of a cgroup counter file read at once (a decimal `u64` and a newline).
const COUNTER_BYTES_MAX: usize = 32;

impl Meter {
    /// Peak memory use since the sandbox started, when a cgroup measures it.
    pub fn peak_memory_bytes(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let Some(file) = &self.1 else { return self.0.as_ref().and_then(Cgroup::peak_memory_bytes) };
        let mut buf = [0u8; COUNTER_BYTES_MAX];
        let n = file.read_at(&mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
    }

    /// Processes the OOM killer killed in the sandbox.
    pub fn oom_kills(&self) -> u64 {
        self.0.as_ref().map_or(0, Cgroup::oom_kills)
    }
}
