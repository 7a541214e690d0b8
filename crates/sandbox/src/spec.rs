//! What to run and how to confine it: sent from the server to the sandbox init as JSON.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything the sandbox init needs to build one environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// The program to `exec`, as a path inside the sandbox.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The complete environment of the program; nothing is inherited.
    pub env: Vec<(String, String)>,
    /// Working directory inside the sandbox.
    pub workdir: PathBuf,
    /// An empty host directory the init mounts the new root on (it stays empty on the host).
    /// [`crate::Shell::start`] sets it to the shell's, which has built the shared part there.
    pub root_dir: PathBuf,
    /// Mounts inside the root, in order.
    pub mounts: Vec<Mount>,
    /// TCP listeners opened inside the sandbox's network namespace and handed to the server,
    /// which serves them directly (see [`crate::Sandbox::listeners`]).
    pub listeners: Vec<Listener>,
    pub limits: Limits,
    /// The user and group the program runs as; `None` keeps the init's (when not root).
    pub user: Option<(u32, u32)>,
    pub hostname: String,
    pub isolation: Isolation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Isolation {
    /// New mount, PID, IPC, UTS, cgroup (and network, per [`Network`]) namespaces and a
    /// read-only root.
    Namespaces { network: Network },
    /// A plain child process: limits and (as root) another user only. For hosts without
    /// namespaces, and when the operator turns isolation off.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Network {
    /// A network namespace with only loopback; Versa's endpoints are served on listeners in it.
    Isolated,
    /// The host's network, for functions that need the outside world.
    Host,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mount {
    /// Path inside the sandbox.
    pub target: PathBuf,
    pub kind: MountKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MountKind {
    /// A read-only bind mount of a host path.
    ReadOnly { source: PathBuf },
    /// A private writable tmpfs of at most `size_mb` megabytes.
    Tmpfs { size_mb: u32 },
}

/// A TCP listener on `127.0.0.1:<port>` in the sandbox's network namespace. The init opens it
/// there and passes it to the server, so connections from inside reach the server with no
/// copy in between, and nothing outside the sandbox can connect to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listener {
    /// 0 picks a free port (needed when the sandbox shares the host's network).
    pub port: u16,
    /// An environment variable to set to `template` with `{port}` replaced by the bound port.
    pub env: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Limits {
    /// RLIMIT_NOFILE.
    pub open_files: u64,
    /// RLIMIT_NPROC, effective for non-root users only; the cgroup's pids.max is the real bound.
    pub processes: u64,
}
