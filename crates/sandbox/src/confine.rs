//! The last two locks on the runtime, applied just before it `exec`s: a seccomp filter that
//! refuses what a Lambda function never needs, and a Landlock ruleset that keeps its writes in
//! its scratch space.
//!
//! **Seccomp** is a deny list with everything else allowed, so interpreters, `provided`
//! bootstraps and whatever they run keep working. The denied calls fail with `EPERM`, as they
//! would for an unprivileged user, except `clone3`, which fails with `ENOSYS`: its flags are
//! behind a pointer a filter cannot read, and libcs fall back to `clone`, whose namespace flags
//! the filter can see. The filter is compiled once per sandbox init, before it waits for its
//! function, so cold starts only pay for installing it.
//!
//! **Landlock** (best effort, up to [`LANDLOCK_ABI`]): reading and executing beneath `/` (after
//! `pivot_root`, that is the sandbox's own root), full access to the writable tmpfs mounts
//! (`/tmp`), writing to the harmless devices; nothing else is writable, not even what the
//! ordinary permissions allow (`/proc/self/...`). It also stops signals to processes outside
//! the runtime's tree (pid 1) and connections to abstract Unix sockets outside it.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
    path_beneath_rules,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// The newest Landlock ABI whose access rights this ruleset was written and tested for. Newer
/// kernels get these rights; older ones get what they support.
pub(crate) const LANDLOCK_ABI: ABI = ABI::V7;

/// System calls refused with `EPERM`, whatever their arguments.
const DENIED: &[(&str, libc::c_long)] = &[
    // Mounts and the root.
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    // Namespaces (`clone` is filtered by its flags, `clone3` refused with ENOSYS).
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    // Other processes' memory and descriptors.
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    // The kernel itself.
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("syslog", libc::SYS_syslog),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("quotactl", libc::SYS_quotactl),
    // Kernel keyrings.
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    // The clock.
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    // Files by handle, bypassing paths.
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    // x86 port I/O and relics.
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
    #[cfg(target_arch = "x86_64")]
    ("uselib", libc::SYS_uselib),
    ("vhangup", libc::SYS_vhangup),
    // io_uring: its operations bypass system-call filtering, and no runtime needs it (Docker's
    // default profile refuses it too).
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
];

/// `clone` flags that create namespaces; `clone` with any of them is refused. (`CLONE_NEWTIME`
/// shares its bit with the exit signal in `clone`, and only `unshare`/`clone3` take it.)
const CLONE_NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

/// `personality(2)` personas allowed (Docker's list): Linux, 32-bit Linux, the `uname26`
/// variants, and the query. Anything else (turning ASLR off with `ADDR_NO_RANDOMIZE`,
/// `READ_IMPLIES_EXEC`…) is refused.
const PERSONAS_ALLOWED: &[u64] = &[0x0000_0000, 0x0000_0008, 0x0002_0000, 0x0002_0008, 0xffff_ffff];

/// The names of [`DENIED`] plus the filtered ones, for tests and documentation.
pub fn denied_syscalls() -> Vec<&'static str> {
    let mut names: Vec<&str> = DENIED.iter().map(|(n, _)| *n).collect();
    names.extend(["clone (namespace flags)", "clone3 (ENOSYS)", "personality (other than Linux's)"]);
    names
}

fn seccomp_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("seccomp filter: {e}"))
}

/// The filters to install, compiled for the running architecture: the deny list (`EPERM`);
/// `clone3` (`ENOSYS`); on x86_64, the x32 ABI (`ENOSYS`), whose syscall numbers would
/// otherwise slip past a deny list written for x86_64's.
pub(crate) fn seccomp_filters() -> io::Result<Vec<BpfProgram>> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(seccomp_error)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|(_, nr)| (*nr, Vec::new())).collect();
    let clone_rules = CLONE_NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(seccomp_error)?;
    rules.insert(libc::SYS_clone, clone_rules);
    // One rule: the persona differs from every allowed one.
    let persona = PERSONAS_ALLOWED
        .iter()
        .map(|&p| SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, p))
        .collect::<Result<Vec<_>, _>>()
        .and_then(SeccompRule::new)
        .map_err(seccomp_error)?;
    rules.insert(libc::SYS_personality, vec![persona]);

    let eperm = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(seccomp_error)?;
    let enosys = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(seccomp_error)?;
    let mut filters =
        vec![BpfProgram::try_from(eperm).map_err(seccomp_error)?, BpfProgram::try_from(enosys).map_err(seccomp_error)?];
    if arch == TargetArch::x86_64 {
        filters.push(x32_filter());
    }
    Ok(filters)
}

/// Refuses every x32 system call (`nr & __X32_SYSCALL_BIT`) with `ENOSYS`. seccompiler has no
/// way to say "numbers from here on", so this one is written out in classic BPF.
fn x32_filter() -> BpfProgram {
    use seccompiler::sock_filter;
    // Instruction codes (linux/bpf_common.h): class | size | mode, class | op | source.
    const BPF_LD: u16 = 0x00;
    const BPF_W: u16 = 0x00;
    const BPF_ABS: u16 = 0x20;
    const BPF_JMP: u16 = 0x05;
    const BPF_JEQ: u16 = 0x10;
    const BPF_JGE: u16 = 0x30;
    const BPF_K: u16 = 0x00;
    const BPF_RET: u16 = 0x06;
    #[allow(clippy::identity_op)]
    const BPF_LD_W_ABS: u16 = BPF_LD | BPF_W | BPF_ABS;
    #[allow(clippy::identity_op)]
    const BPF_JMP_JEQ_K: u16 = BPF_JMP | BPF_JEQ | BPF_K;
    #[allow(clippy::identity_op)]
    const BPF_JMP_JGE_K: u16 = BPF_JMP | BPF_JGE | BPF_K;
    #[allow(clippy::identity_op)]
    const BPF_RET_K: u16 = BPF_RET | BPF_K;
    /// `offsetof(struct seccomp_data, nr)` and `arch`.
    const NR_OFFSET: u32 = 0;
    const ARCH_OFFSET: u32 = 4;
    const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let op = |code, k, jt, jf| sock_filter { code, jt, jf, k };
    vec![
        op(BPF_LD_W_ABS, ARCH_OFFSET, 0, 0),
        // Other architectures are the other filters' business.
        op(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, 0, 2),
        op(BPF_LD_W_ABS, NR_OFFSET, 0, 0),
        op(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 1, 0),
        op(BPF_RET_K, libc::SECCOMP_RET_ALLOW, 0, 0),
        op(BPF_RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32, 0, 0),
    ]
}

/// Installs `filters` on the calling thread (and what it `exec`s and forks). Needs no new
/// privileges, which seccompiler sets.
pub(crate) fn apply_seccomp(filters: &[BpfProgram]) -> io::Result<()> {
    for f in filters {
        seccompiler::apply_filter(f).map_err(seccomp_error)?;
    }
    Ok(())
}

/// Host devices the runtime may write to (and `ioctl`) under `/dev`.
const WRITABLE_DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"];

/// Restricts the calling thread (and what it `exec`s and forks) with Landlock: read and
/// execute beneath `/`, everything beneath `writable`, write to [`WRITABLE_DEVICES`] (and
/// `/dev/shm` where it exists). Best effort: on a kernel without Landlock it changes nothing
/// and says so; the caller decides (from the probe) whether to call it at all.
pub(crate) fn apply_landlock(writable: &[PathBuf]) -> io::Result<RulesetStatus> {
    let abi = LANDLOCK_ABI;
    let error = |e: landlock::RulesetError| io::Error::other(format!("landlock: {e}"));
    let mut dirs: Vec<&Path> = writable.iter().map(PathBuf::as_path).collect();
    if Path::new("/dev/shm").is_dir() {
        dirs.push(Path::new("/dev/shm"));
    }
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(error)?
        .scope(Scope::from_all(abi))
        .map_err(error)?
        .create()
        .map_err(error)?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
        .map_err(error)?
        .add_rules(path_beneath_rules(&dirs, AccessFs::from_all(abi)))
        .map_err(error)?
        .add_rules(path_beneath_rules(WRITABLE_DEVICES, AccessFs::from_file(abi)))
        .map_err(error)?
        .restrict_self()
        .map_err(error)?;
    Ok(status.ruleset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno<T: Into<i64>>(r: T) -> Option<i32> {
        (r.into() == -1).then(|| io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// Seccomp filters are per thread: this one is installed on a thread of its own, which
    /// then tries what the deny list refuses.
    #[test]
    fn the_filter_refuses_the_deny_list_and_allows_the_rest() {
        if let Err(why) = crate::sys::seccomp_errno_available() {
            println!("skipped: {why}");
            return;
        }
        let filters = seccomp_filters().expect("compiles for this architecture");
        std::thread::spawn(move || {
            apply_seccomp(&filters).expect("install");
            // SAFETY: each call below takes integer arguments or null pointers the kernel
            // checks (and the filter refuses before it looks at them).
            unsafe {
                // Without the filter: EINVAL (a multithreaded process cannot unshare a user
                // namespace). With it: EPERM.
                assert_eq!(errno(libc::unshare(libc::CLONE_NEWUSER)), Some(libc::EPERM));
                assert_eq!(
                    errno(libc::mount(
                        std::ptr::null(),
                        c"/nonexistent".as_ptr(),
                        std::ptr::null(),
                        0,
                        std::ptr::null()
                    )),
                    Some(libc::EPERM)
                );
                assert_eq!(errno(libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)), Some(libc::EPERM));
                assert_eq!(errno(libc::syscall(libc::SYS_io_uring_setup, 1, 0)), Some(libc::EPERM));
                assert_eq!(errno(libc::ptrace(libc::PTRACE_PEEKDATA, 1, 0, 0)), Some(libc::EPERM));
                let ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                assert_eq!(errno(libc::clock_settime(libc::CLOCK_MONOTONIC, &ts)), Some(libc::EPERM));
                assert_eq!(errno(libc::syscall(libc::SYS_clone3, 0, 0)), Some(libc::ENOSYS));
                assert_eq!(errno(libc::personality(0x0040000)), Some(libc::EPERM), "ADDR_NO_RANDOMIZE");
                // x32's getpid.
                #[cfg(target_arch = "x86_64")]
                assert_eq!(errno(libc::syscall(0x4000_0000 | libc::SYS_getpid)), Some(libc::ENOSYS));
                // Allowed: the persona query, ordinary calls, threads and processes.
                assert_ne!(errno(libc::personality(0xffff_ffff)), Some(libc::EPERM));
                assert!(libc::getpid() > 0);
            }
            std::thread::spawn(|| ()).join().expect("threads still start");
        })
        .join()
        .expect("the filtered thread passes");
    }

    #[test]
    fn the_deny_list_has_no_duplicates() {
        let mut nrs: Vec<_> = DENIED.iter().map(|(_, nr)| *nr).collect();
        nrs.sort_unstable();
        nrs.dedup();
        assert_eq!(nrs.len(), DENIED.len());
        assert!(!nrs.contains(&libc::SYS_clone) && !nrs.contains(&libc::SYS_personality));
    }

    #[test]
    fn landlock_keeps_writes_in_the_writable_dirs() {
        let abi = match crate::sys::landlock_abi() {
            Ok(abi) => abi,
            Err(why) => {
                println!("skipped: {why}");
                return;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let writable = dir.path().join("w");
        std::fs::create_dir(&writable).unwrap();
        let other = tempfile::tempdir().unwrap();
        let (w, o) = (writable.clone(), other.path().to_owned());
        std::thread::spawn(move || {
            let status = apply_landlock(std::slice::from_ref(&w)).expect("restrict");
            let expected = if abi >= LANDLOCK_ABI as i32 {
                RulesetStatus::FullyEnforced
            } else {
                RulesetStatus::PartiallyEnforced
            };
            assert_eq!(status, expected, "kernel ABI {abi}");
            std::fs::write(w.join("f"), "ok").expect("writable dir");
            std::fs::write("/dev/null", "ok").expect("/dev/null");
            let e = std::fs::write(o.join("f"), "no").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
            assert!(std::fs::read_to_string("/proc/self/status").is_ok(), "reads go on");
        })
        .join()
        .expect("the restricted thread passes");
        // This thread is not restricted.
        std::fs::write(other.path().join("f"), "yes").unwrap();
    }
}
