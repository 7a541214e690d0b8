//! The sandbox init: runs as `versa __sandbox-init` in a fresh, single-threaded process whose
//! mount, network, IPC, UTS and cgroup namespaces are already new (the spawner unshared them
//! before `exec`), and whose children land in a new PID namespace.
//!
//! Steps: join the cgroup; make mounts private and build the part of the new root every
//! function shares on a tmpfs (read-only binds of `/usr`, a minimal `/dev` and `/etc`) — a
//! pre-started shell has done all this before it waits for its spec —; then add the
//! function's part (read-only binds of the code, layers and runtime, a private `/tmp`); open the
//! listeners in the new network namespace and send them to the server over fd 3; fork pid 1 of
//! the new PID namespace, which mounts `/proc`, pivots into the root and forks the runtime; the
//! runtime drops to the unprivileged user with no new privileges and its rlimits, restricts
//! itself with Landlock and seccomp (see [`crate::confine`]), and `exec`s. Pid 1 reaps; the init
//! exits with the runtime's exit code.
//!
//! The init calls itself `init` (its `comm` and command line), so nothing inside the sandbox
//! shows the path of the host's `versa` binary (`/proc/1/cmdline`).
//!
//! The init stays single-threaded: a process that unshared its PID namespace cannot create
//! threads (`clone` refuses `CLONE_THREAD` when the namespace for children differs), and every
//! fork here happens in a single-threaded process.
//!
//! Anything that fails is reported on stderr (the function's log) and ends the init with
//! status 125, before the runtime ever starts.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::path::Path;

use seccompiler::BpfProgram;

use crate::confine;
use crate::spec::{MountKind, Spec};
use crate::sys::{self, Fork};

/// The Unix socket the server passed as fd 3, over which the init sends it the listeners.
pub(crate) const CONTROL_FD: i32 = 3;

/// Exit status of an init that could not set the sandbox up.
pub const SETUP_FAILED: i32 = 125;
/// Size of the tmpfs holding the new root's skeleton (directories, /etc files, mount points).
const ROOT_TMPFS: &str = "size=1m,mode=0755";
/// Host files and directories exposed read-only under `/etc` when they exist.
const ETC_ENTRIES: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "resolv.conf",
    "hosts",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "protocols",
    "services",
    "ssl",
    "ca-certificates",
    "alternatives",
    "localtime",
    "mime.types",
];
/// Top-level host paths that are either symlinks into /usr (recreated) or directories (bound).
const ROOT_LINKS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
/// Device nodes bound from the host.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// The environment variable naming the `cgroup.procs` files (`:`-separated) the init joins
/// first, before it waits for its spec.
pub(crate) const CGROUPS_ENV: &str = "VERSA_SANDBOX_CGROUPS";
/// The environment variable naming the directory the init builds the sandbox's root on while
/// it waits for its spec (namespaces only): the part of the root every function shares, so a
/// cold start only adds the function's own mounts.
pub(crate) const ROOT_ENV: &str = "VERSA_SANDBOX_ROOT";
/// Set (to `1`) when the init's network namespace is new: it brings loopback up ahead too.
pub(crate) const LOOPBACK_ENV: &str = "VERSA_SANDBOX_LOOPBACK";
/// The environment variable listing (`,`-separated) the confinements the init applies to the
/// runtime: [`SECCOMP`], [`LANDLOCK`].
pub(crate) const CONFINE_ENV: &str = "VERSA_SANDBOX_CONFINE";
pub(crate) const SECCOMP: &str = "seccomp";
pub(crate) const LANDLOCK: &str = "landlock";
/// What the init and pid 1 call themselves inside the sandbox.
const NAME: &std::ffi::CStr = c"init";

/// What the runtime is confined with besides namespaces, user and limits.
struct Confinement {
    /// The compiled seccomp filters, when seccomp is on.
    seccomp: Option<Vec<BpfProgram>>,
    landlock: bool,
}

impl Confinement {
    /// Reads [`CONFINE_ENV`] and compiles the filters: done before the init waits for its
    /// spec, so a cold start does not pay for it.
    fn from_env() -> io::Result<Confinement> {
        let wanted = std::env::var(CONFINE_ENV).unwrap_or_default();
        let on = |name: &str| wanted.split(',').any(|w| w == name);
        let seccomp = if on(SECCOMP) { Some(confine::seccomp_filters()?) } else { None };
        Ok(Confinement { seccomp, landlock: on(LANDLOCK) })
    }
}

/// Entry point of `versa __sandbox-init`: joins its cgroups and, with namespaces, builds the
/// shared part of the root and forks pid 1, which pivots into it; then waits for the [`Spec`]
/// on stdin (a pre-started sandbox waits here until it is given a function), runs it, never
/// returns.
pub fn main() -> ! {
    hide_the_host_path();
    let code =
        match join_cgroups().and_then(|()| Confinement::from_env()).and_then(|confinement| {
            match std::env::var_os(ROOT_ENV) {
                Some(root) => run_in_namespaces(Path::new(&root), &confinement),
                None => run_plain(read_spec()?, &confinement),
            }
        }) {
            Ok(code) => code,
            Err(e) => {
                let _ = writeln!(io::stderr(), "versa sandbox: {e}");
                SETUP_FAILED
            }
        };
    std::process::exit(code)
}

/// Renames the process `init` (comm and command line; pid 1 inherits both). The spawner
/// already passed `init` as `argv[0]`, so no host path shows even if this fails; it also drops
/// the argument that selected the init.
fn hide_the_host_path() {
    let _ = sys::set_name(NAME);
    let _ = NAME.to_str().map_err(io::Error::other).and_then(sys::rewrite_cmdline);
}

fn join_cgroups() -> io::Result<()> {
    let pid = std::process::id().to_string();
    for procs in std::env::var(CGROUPS_ENV).unwrap_or_default().split(':').filter(|p| !p.is_empty()) {
        context(std::fs::write(procs, &pid), format!("join cgroup {procs}"))?;
    }
    Ok(())
}

fn read_spec() -> io::Result<Spec> {
    let mut text = Vec::new();
    io::stdin().lock().take(1 << 20).read_to_end(&mut text)?;
    serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad spec: {e}")))
}

fn context<T>(r: io::Result<T>, what: impl std::fmt::Display) -> io::Result<T> {
    r.map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// With namespaces, everything that does not depend on the function happens before the spec
/// arrives: private mounts, loopback up, the shared part of the root (see [`ROOT_ENV`]), and
/// pid 1, which mounts `/proc`, pivots into the root and detaches the host's. Pid 1 then reads
/// the spec and the function's mounts (detached trees the server sends over fd 3, attached in
/// place: the host's paths are out of reach by then). The init waits for pid 1.
fn run_in_namespaces(root: &Path, confinement: &Confinement) -> io::Result<i32> {
    sys::mount(None, Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    if std::env::var_os(LOOPBACK_ENV).is_some() {
        context(sys::loopback_up(), "bring up loopback")?;
    }
    build_shared_root(root)?;
    match sys::fork()? {
        Fork::Child => {
            let code = match pid_one(root, confinement) {
                Ok(code) => code,
                Err(e) => {
                    let _ = writeln!(io::stderr(), "versa sandbox: {e}");
                    SETUP_FAILED
                }
            };
            std::process::exit(code)
        }
        Fork::Parent(child) => {
            // Pid 1 holds the spec's pipe and the control socket alone: if it fails, the
            // server sees them close.
            sys::close(libc::STDIN_FILENO);
            sys::close(CONTROL_FD);
            let (_, status) = sys::waitpid(child)?;
            Ok(sys::exit_code(status))
        }
    }
}

/// Pid 1 of the new PID namespace: finishes the root, waits for the spec, forks the runtime
/// and reaps until the runtime exits.
fn pid_one(root: &Path, confinement: &Confinement) -> io::Result<i32> {
    // If the init dies, so does everything below it.
    sys::set_parent_death_signal(libc::SIGKILL)?;
    context(
        sys::mount(
            Some(Path::new("proc")),
            &root.join("proc"),
            Some("proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        ),
        "mount /proc",
    )?;
    context(sys::pivot_root(root, &root.join(".old")), "pivot_root")?;
    std::env::set_current_dir("/")?;
    context(sys::umount_detach(Path::new("/.old")), "detach the old root")?;

    let spec = read_spec()?;
    let trees = context(sys::recv_fds(CONTROL_FD), "receive the function's mounts")?;
    context(sys::sethostname(&spec.hostname), "sethostname")?;
    finish_root(&spec, &trees)?;
    drop(trees);
    let launch = Launch::new(&spec)?;
    spawn_and_reap(&spec, confinement, true, &launch)
}

/// Without namespaces: the init forks the runtime's parent, which reaps.
fn run_plain(spec: Spec, confinement: &Confinement) -> io::Result<i32> {
    let launch = Launch::new(&spec)?;
    match sys::fork()? {
        Fork::Child => {
            let code = match sys::set_parent_death_signal(libc::SIGKILL)
                .and_then(|()| spawn_and_reap(&spec, confinement, false, &launch))
            {
                Ok(code) => code,
                Err(e) => {
                    let _ = writeln!(io::stderr(), "versa sandbox: {e}");
                    SETUP_FAILED
                }
            };
            std::process::exit(code)
        }
        Fork::Parent(child) => {
            let (_, status) = sys::waitpid(child)?;
            Ok(sys::exit_code(status))
        }
    }
}

/// The runtime's command line and environment, with the listeners opened (in the sandbox's
/// network namespace) and handed to the server.
struct Launch {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    workdir: CString,
}

impl Launch {
    fn new(spec: &Spec) -> io::Result<Launch> {
        // Listeners first: their ports go into the runtime's environment, and the server gets them.
        let mut env = spec.env.clone();
        let mut listeners = Vec::new();
        for l in &spec.listeners {
            let listener = context(TcpListener::bind(("127.0.0.1", l.port)), format!("listen on port {}", l.port))?;
            let port = listener.local_addr()?.port();
            if let Some((name, template)) = &l.env {
                env.retain(|(k, _)| k != name);
                env.push((name.clone(), template.replace("{port}", &port.to_string())));
            }
            listeners.push(listener);
        }
        if !listeners.is_empty() {
            use std::os::fd::AsRawFd;
            let fds: Vec<i32> = listeners.iter().map(AsRawFd::as_raw_fd).collect();
            context(sys::send_fds(CONTROL_FD, &fds), "hand the listeners to the server")?;
        }
        // The server holds them now; neither the init nor the runtime keeps a copy.
        drop(listeners);
        sys::close(CONTROL_FD);

        let program = sys::cstr(&spec.program)?;
        let mut argv = vec![program.clone()];
        for a in &spec.args {
            argv.push(CString::new(a.as_str()).map_err(|_| io::Error::other("NUL in argument"))?);
        }
        let envp: Vec<CString> = env
            .iter()
            .map(|(k, v)| CString::new(format!("{k}={v}")).map_err(|_| io::Error::other("NUL in environment")))
            .collect::<io::Result<_>>()?;
        Ok(Launch { program, argv, envp, workdir: sys::cstr(&spec.workdir)? })
    }
}

/// Forks the runtime and reaps everything (orphans are re-parented to pid 1) until the runtime
/// exits; returns its exit code.
fn spawn_and_reap(spec: &Spec, confinement: &Confinement, namespaces: bool, launch: &Launch) -> io::Result<i32> {
    match sys::fork()? {
        Fork::Child => {
            let e = exec_runtime(
                spec,
                confinement,
                namespaces,
                &launch.program,
                &launch.argv,
                &launch.envp,
                &launch.workdir,
            );
            let _ = writeln!(io::stderr(), "versa sandbox: cannot start {}: {e}", spec.program.display());
            std::process::exit(127)
        }
        Fork::Parent(runtime) => loop {
            let (pid, status) = sys::waitpid(-1)?;
            if pid == runtime {
                return Ok(sys::exit_code(status));
            }
        },
    }
}

/// Drops privileges, applies limits, Landlock and seccomp (last: it refuses nothing the
/// steps before need), and `exec`s. Returns only the error.
fn exec_runtime(
    spec: &Spec,
    confinement: &Confinement,
    namespaces: bool,
    program: &CString,
    argv: &[CString],
    envp: &[CString],
    workdir: &CString,
) -> io::Error {
    let step = || -> io::Result<()> {
        sys::set_parent_death_signal(libc::SIGKILL)?;
        sys::set_rlimit(libc::RLIMIT_NOFILE, spec.limits.open_files)?;
        sys::set_rlimit(libc::RLIMIT_CORE, 0)?;
        if let Some((uid, gid)) = spec.user {
            if uid != 0 {
                sys::set_rlimit(libc::RLIMIT_NPROC, spec.limits.processes)?;
            }
            // The output pipe is the server's (root's, mode 0600): the runtime must be able to
            // open `/dev/stdout` and `/dev/stderr` again, as bootstraps do.
            for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
                context(sys::chown_pipe(fd, uid, gid), "give the output pipe to the sandbox user")?;
            }
            context(sys::drop_to(uid, gid), format!("switch to uid {uid}"))?;
        }
        sys::set_no_new_privs()?;
        context(sys::chdir(workdir), format!("chdir {}", spec.workdir.display()))?;
        if confinement.landlock {
            // With namespaces the writable places are the sandbox's tmpfs mounts (`/tmp`);
            // without, the function shares the host's `/tmp`, and nothing else.
            let writable: Vec<std::path::PathBuf> = if namespaces {
                spec.mounts
                    .iter()
                    .filter(|m| matches!(m.kind, MountKind::Tmpfs { .. }))
                    .map(|m| m.target.clone())
                    .collect()
            } else {
                vec!["/tmp".into()]
            };
            confine::apply_landlock(&writable)?;
        }
        if let Some(filters) = &confinement.seccomp {
            confine::apply_seccomp(filters)?;
        }
        Ok(())
    };
    match step() {
        Ok(()) => sys::execve(program, argv, envp),
        Err(e) => e,
    }
}

/// Builds the part of the new root under `root` that is the same for every function (see the
/// module docs); [`finish_root`] adds the function's own and makes it read-only.
fn build_shared_root(root: &Path) -> io::Result<()> {
    context(
        sys::mount(Some(Path::new("tmpfs")), root, Some("tmpfs"), libc::MS_NOSUID, Some(ROOT_TMPFS)),
        "root tmpfs",
    )?;
    mkdir(&root.join("usr"))?;
    sys::bind_ro(Path::new("/usr"), &root.join("usr"))?;
    for name in ROOT_LINKS {
        let host = Path::new("/").join(name);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                std::os::unix::fs::symlink(std::fs::read_link(&host)?, root.join(name))?;
            }
            Ok(m) if m.is_dir() => {
                mkdir(&root.join(name))?;
                sys::bind_ro(&host, &root.join(name))?;
            }
            _ => {}
        }
    }

    let etc = root.join("etc");
    mkdir(&etc)?;
    for name in ETC_ENTRIES {
        let host = Path::new("/etc").join(name);
        let Ok(meta) = std::fs::metadata(&host) else { continue };
        let target = etc.join(name);
        if meta.is_dir() {
            mkdir(&target)?;
        } else {
            std::fs::write(&target, b"")?;
        }
        sys::bind_ro(&host, &target)?;
    }

    let dev = root.join("dev");
    mkdir(&dev)?;
    sys::mount(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("size=64k,mode=0755"),
    )?;
    for name in DEVICES {
        let target = dev.join(name);
        std::fs::write(&target, b"")?;
        sys::mount(Some(&Path::new("/dev").join(name)), &target, None, libc::MS_BIND, None)?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(to, dev.join(link))?;
    }
    sys::mount(
        None,
        &dev,
        None,
        libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("size=64k,mode=0755"),
    )?;

    mkdir(&root.join("proc"))?;
    mkdir(&root.join(".old"))?;
    // Lambda's layer directory exists in every environment, with or without layers.
    mkdir(&root.join("opt"))
}

/// Adds the function's part to the root [`build_shared_root`] built, from inside it (after
/// `pivot_root`): its users, its mounts — the read-only ones are the detached `trees` the server
/// sent, in the order of the spec's — and `/tmp`, then makes the root read-only.
fn finish_root(spec: &Spec, trees: &[std::os::fd::OwnedFd]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (uid, gid) = spec.user.unwrap_or((0, 0));
    std::fs::write(
        "/etc/passwd",
        format!("root:x:0:0:root:/root:/bin/sh\nsbx_user:x:{uid}:{gid}::/tmp:/sbin/nologin\n"),
    )?;
    std::fs::write("/etc/group", format!("root:x:0:\nsbx_user:x:{gid}:\n"))?;
    let wanted = spec.mounts.iter().filter(|m| matches!(m.kind, MountKind::ReadOnly { .. })).count();
    if trees.len() != wanted {
        return Err(io::Error::other(format!("got {} mounts from the server, the spec has {wanted}", trees.len())));
    }
    let mut trees = trees.iter();
    for m in &spec.mounts {
        let target = Path::new("/").join(&m.target);
        mkdir(&target)?;
        match &m.kind {
            MountKind::ReadOnly { source } => {
                let tree = trees.next().expect("counted above");
                context(sys::attach_tree(tree.as_raw_fd(), &target), format!("bind {}", source.display()))?;
            }
            MountKind::Tmpfs { size_mb } => {
                let data = format!("size={size_mb}m,mode=1777");
                sys::mount(
                    Some(Path::new("tmpfs")),
                    &target,
                    Some("tmpfs"),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    Some(&data),
                )?;
            }
        }
    }
    // Nothing else may change the root's skeleton.
    context(
        sys::mount(None, Path::new("/"), None, libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID, Some(ROOT_TMPFS)),
        "make the root read-only",
    )
}

fn mkdir(p: &Path) -> io::Result<()> {
    context(std::fs::create_dir_all(p), format!("mkdir {}", p.display()))
}
