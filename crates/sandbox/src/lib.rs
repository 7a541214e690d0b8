//! Starting and confining function processes. **The only crate that spawns processes or uses
//! `unsafe`.**
//!
//! A sandbox is a small process tree, set up the way a jailer sets one up:
//!
//! ```text
//! versa server ──spawn──▶ init (`versa __sandbox-init`, new mount/net/ipc/uts/cgroup namespaces)
//!      ▲                   │  opens 127.0.0.1:9001 (and :4566) in the new network namespace
//!      └── listeners ──────┤  and passes them back over a Unix socket (SCM_RIGHTS)
//!                          └─▶ pid 1 of a new PID namespace, in a read-only root (pivot_root)
//!                               └─▶ the runtime: unprivileged user, no new privileges, rlimits,
//!                                   Landlock, a seccomp filter
//! ```
//!
//! The server describes what to run in a [`Spec`]; [`Sandbox::spawn`] starts init with the
//! namespaces already unshared and hands it the spec on stdin; [`init::main`] (called by the
//! `versa` binary before anything else) does the privileged setup in a fresh, single-threaded
//! process and finally `exec`s the runtime. Every sandbox joins its own cgroup, which carries
//! the memory and process limits and reports memory use and OOM kills.
//!
//! Where a mechanism is missing (not root, no cgroup controller, no namespaces), [`probe`]
//! finds out at startup and the server runs with the protections it has, saying which are off.

// The one crate that may use `unsafe`: each block says why it is sound
// (`clippy::undocumented_unsafe_blocks`).
#![allow(unsafe_code)]

pub mod alloc;
mod cgroup;
mod confine;
pub mod init;
mod spawn;
mod spec;
mod sys;

pub use crate::cgroup::{Cgroup, CgroupRoot};
pub use crate::confine::denied_syscalls;
pub use crate::spawn::{
    Capabilities, Meter, SANDBOX_GID, SANDBOX_UID, Sandbox, Shell, host_command_output, probe, run_host_command,
};
pub use crate::spec::{Isolation, Limits, Listener, Mount, MountKind, Network, Spec};

/// Raises the soft limit on open files (RLIMIT_NOFILE) to the hard limit, so that a server
/// holding many connections does not run out of descriptors; returns the limit now in force.
/// Sandboxed functions are unaffected: their init sets their own limit.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    sys::raise_nofile_limit()
}

/// The first argument that makes the `versa` binary run [`init::main`].
pub const INIT_ARG: &str = "__sandbox-init";
