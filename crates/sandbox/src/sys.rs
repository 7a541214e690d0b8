//! Thin, checked wrappers over the Linux calls the sandbox needs. Every `unsafe` block of the
//! crate that is not in `spawn.rs` is here, each with its safety argument.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(crate) fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `mount(2)`. `source`, `fstype` and `data` may be absent.
pub(crate) fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype.map(|f| CString::new(f).expect("static fs type"));
    let data = data.map(|d| CString::new(d).expect("mount data has no NUL"));
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or a NUL-terminated string that outlives the call;
    // mount(2) does not keep them.
    check(unsafe { libc::mount(ptr(&source), target.as_ptr(), ptr(&fstype), flags, ptr(&data).cast::<libc::c_void>()) })
        .map_err(|e| io::Error::new(e.kind(), format!("mount {}: {e}", target.to_string_lossy())))
}

/// A read-only bind mount of `source` at `target` (bind, then remount read-only: the kernel
/// ignores `MS_RDONLY` on the first call).
pub(crate) fn bind_ro(source: &Path, target: &Path) -> io::Result<()> {
    mount(Some(source), target, None, libc::MS_BIND | libc::MS_REC, None)?;
    mount(
        None,
        target,
        None,
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    )
}

pub(crate) fn umount_detach(target: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    // SAFETY: `t` is a valid C string for the duration of the call.
    check(unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) })
}

pub(crate) fn pivot_root(new_root: &Path, put_old: &Path) -> io::Result<()> {
    let (n, o) = (cstr(new_root)?, cstr(put_old)?);
    // SAFETY: both are valid C strings; the raw syscall has no other preconditions.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) } as libc::c_int)
}

pub(crate) fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })
}

pub(crate) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
}

pub(crate) fn set_parent_death_signal(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) })
}

/// Drops to `uid`/`gid` with no supplementary groups. Capabilities go with the uid.
pub(crate) fn drop_to(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: an empty group list is valid with a null pointer and length 0.
    check(unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: integer arguments only.
    check(unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: integer arguments only.
    check(unsafe { libc::setresuid(uid, uid, uid) })
}

pub(crate) fn set_rlimit(resource: libc::__rlimit_resource_t, limit: u64) -> io::Result<()> {
    let r = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: `r` is a valid rlimit for the duration of the call.
    check(unsafe { libc::setrlimit(resource, &r) })
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit; returns the new soft limit.
pub(crate) fn raise_nofile_limit() -> io::Result<u64> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `r` is a valid, writable rlimit for the duration of the call.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) })?;
    if r.rlim_cur < r.rlim_max {
        let raised = libc::rlimit { rlim_cur: r.rlim_max, rlim_max: r.rlim_max };
        // SAFETY: `raised` is a valid rlimit for the duration of the call.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) })?;
        r.rlim_cur = r.rlim_max;
    }
    Ok(r.rlim_cur)
}

pub(crate) enum Fork {
    Parent(libc::pid_t),
    Child,
}

/// `fork(2)`. Only called by the single-threaded sandbox init, where forking is safe.
pub(crate) fn fork() -> io::Result<Fork> {
    // SAFETY: the caller is single-threaded (the sandbox init before it starts threads), so the
    // child gets a consistent copy of the whole process.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// Waits for `pid` (or any child with -1) and returns (pid, raw status).
pub(crate) fn waitpid(pid: libc::pid_t) -> io::Result<(libc::pid_t, libc::c_int)> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok((r, status));
    }
}

/// The shell convention for a wait status: the exit code, or 128 + the signal.
pub(crate) fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) }
}

pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::kill(pid, sig) })
}

/// Replaces the process image. Returns only on failure.
pub(crate) fn execve(path: &CStr, argv: &[CString], env: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = env.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: `a` and `e` are null-terminated arrays of pointers to C strings that live until
    // the call returns (it returns only on failure).
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// Brings the loopback interface of the current network namespace up.
pub(crate) fn loopback_up() -> io::Result<()> {
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `fd` is a socket we own; `req` is a valid ifreq naming "lo".
    let mut r = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    if r == 0 {
        // SAFETY: reading the flags member the kernel just filled in.
        unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
        // SAFETY: as above.
        r = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) };
    }
    let err = io::Error::last_os_error();
    // SAFETY: closing the socket we opened.
    unsafe { libc::close(fd) };
    if r == 0 { Ok(()) } else { Err(err) }
}

/// `unshare(2)`.
pub(crate) fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: integer argument only.
    check(unsafe { libc::unshare(flags) })
}

pub(crate) fn geteuid() -> u32 {
    // SAFETY: no preconditions, cannot fail.
    unsafe { libc::geteuid() }
}

pub(crate) fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is a valid C string.
    check(unsafe { libc::chdir(path.as_ptr()) })
}

/// Most descriptors passed in one message.
pub(crate) const FDS_MAX: usize = 16;

/// Sends `fds` over the Unix socket `sock` (one byte of payload, the descriptors as
/// `SCM_RIGHTS`).
pub(crate) fn send_fds(sock: std::os::fd::RawFd, fds: &[std::os::fd::RawFd]) -> io::Result<()> {
    assert!(fds.len() <= FDS_MAX);
    let mut byte = [fds.len() as u8];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let payload = std::mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: `msg` points at a control buffer of CMSG_SPACE(payload) bytes, so the first
        // header exists and has room for `payload` bytes of data.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast::<std::os::fd::RawFd>(), fds.len());
        }
    }
    // SAFETY: `msg` and everything it points to live until the call returns.
    let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Receives descriptors sent by [`send_fds`]. An empty list means the peer closed without
/// sending. Non-blocking sockets give `WouldBlock` as usual.
pub(crate) fn recv_fds(sock: std::os::fd::RawFd) -> io::Result<Vec<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let payload = (FDS_MAX * std::mem::size_of::<std::os::fd::RawFd>()) as u32;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points at buffers that live until the call returns.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    if n == 0 {
        return Ok(fds);
    }
    // SAFETY: the kernel filled `msg_control`; the CMSG_* walk stays within msg_controllen, and
    // each SCM_RIGHTS payload is an array of descriptors now owned by this process.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data_len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let count = data_len / std::mem::size_of::<std::os::fd::RawFd>();
                let data = libc::CMSG_DATA(cmsg).cast::<std::os::fd::RawFd>();
                for i in 0..count {
                    fds.push(std::os::fd::OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(fds)
}

/// `dup2(2)`; clears close-on-exec on `to` even when `from == to`.
pub(crate) fn dup2_inheritable(from: std::os::fd::RawFd, to: std::os::fd::RawFd) -> io::Result<()> {
    if from == to {
        // SAFETY: fcntl on a descriptor we own, integer arguments only.
        check(unsafe { libc::fcntl(to, libc::F_SETFD, 0) })
    } else {
        // SAFETY: dup2 on descriptors we own, integer arguments only.
        check(unsafe { libc::dup2(from, to) })
    }
}

pub(crate) fn close(fd: std::os::fd::RawFd) {
    // SAFETY: closing a descriptor this process owns and no longer uses.
    unsafe { libc::close(fd) };
}

/// Whether the kernel can filter system calls and make them fail with an errno (seccomp
/// filter mode, `SECCOMP_RET_ERRNO`). The error says why not.
pub(crate) fn seccomp_errno_available() -> Result<(), String> {
    // SAFETY: PR_GET_SECCOMP takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } == -1 {
        return Err(format!("the kernel has no seccomp ({})", io::Error::last_os_error()));
    }
    let action: u32 = libc::SECCOMP_RET_ERRNO;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 through the pointer, which is valid.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_GET_ACTION_AVAIL, 0, &action as *const u32) };
    if r == -1 {
        return Err(format!("the kernel has no seccomp filters ({})", io::Error::last_os_error()));
    }
    Ok(())
}

/// The kernel's Landlock ABI version, or why there is none.
pub(crate) fn landlock_abi() -> Result<i32, String> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, the call only returns
    // the ABI version.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if r >= 1 {
        return Ok(r as i32);
    }
    let e = io::Error::last_os_error();
    Err(match e.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel is built without Landlock".to_owned(),
        Some(libc::EOPNOTSUPP) => "Landlock is not enabled at boot (add it to the lsm= kernel parameter)".to_owned(),
        _ => format!("the kernel refused Landlock ({e})"),
    })
}

/// The process's name, as `/proc/<pid>/comm` shows it (truncated to 15 bytes by the kernel).
pub(crate) fn set_name(name: &CStr) -> io::Result<()> {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string from a valid pointer.
    check(unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) })
}

/// Rewrites this process's command line (`/proc/<pid>/cmdline`) in place to `name`, the way
/// `setproctitle` emulations (PostgreSQL's, nginx's) do: the argument strings the kernel laid
/// out at `exec` are overwritten with `name`, a NUL, and filler up to a non-NUL last byte, which
/// tells the kernel to show the area only up to its first NUL. Needs no privilege. Afterwards
/// `std::env::args` must not be called (its pointers now lead to the filler).
pub(crate) fn rewrite_cmdline(name: &str) -> io::Result<()> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/self/stat: {what}"));
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields 3 and on follow the `(comm)` field, which may itself hold spaces and parentheses.
    let rest = stat.rfind(") ").map(|i| &stat[i + 2..]).ok_or_else(|| invalid("no comm"))?;
    let field = |n: usize| -> io::Result<usize> {
        rest.split(' ').nth(n - 3).and_then(|f| f.trim().parse().ok()).ok_or_else(|| invalid("short"))
    };
    /// `arg_start` and `arg_end` in proc_pid_stat(5).
    const ARG_START_FIELD: usize = 48;
    const ARG_END_FIELD: usize = 49;
    let (start, end) = (field(ARG_START_FIELD)?, field(ARG_END_FIELD)?);
    let current = std::fs::read("/proc/self/cmdline")?;
    if end < start || end - start != current.len() || current.len() < name.len() + 2 || name.contains('\0') {
        return Err(invalid("the argument area is not the command line"));
    }
    let area = std::ptr::with_exposed_provenance_mut::<u8>(start);
    // SAFETY: [start, end) is this process's argument area, which the kernel mapped writable
    // on the initial stack at `exec` and which holds exactly the command line just read (its
    // length checked above). No Rust object owns it: std keeps only pointers into it, for
    // `std::env::args`, which the caller no longer uses; the process is single-threaded.
    let area = unsafe { std::slice::from_raw_parts_mut(area, end - start) };
    if area != current.as_slice() {
        return Err(invalid("the argument area is not the command line"));
    }
    area.fill(b' ');
    area[..name.len()].copy_from_slice(name.as_bytes());
    area[name.len()] = 0;
    Ok(())
}

/// Gives the pipe open as `fd` to `uid`/`gid`, so a process running as them can open it again
/// by path (`/dev/stdout` is `/proc/self/fd/1`). Anything but a pipe is left alone.
pub(crate) fn chown_pipe(fd: std::os::fd::RawFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: `stat` is plain data; all-zero is valid.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `stat` is a valid out-pointer for the call.
    check(unsafe { libc::fstat(fd, &mut stat) })?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Ok(());
    }
    // SAFETY: integer arguments only.
    check(unsafe { libc::fchown(fd, uid, gid) })
}

/// The new mount API's flags and `struct mount_attr` (include/uapi/linux/mount.h; a stable
/// kernel ABI), defined here rather than taken from libc's newer modules.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the mount tree at `source` (`open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)`),
/// made read-only, nosuid, nodev and private (`mount_setattr`): a descriptor another mount
/// namespace attaches with [`attach_tree`]. Needs Linux 5.12.
pub(crate) fn detached_ro_tree(source: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let path = cstr(source)?;
    let flags = OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: `path` is a valid C string for the duration of the call; integer flags.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("open_tree {}: {e}", source.display())));
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    let flags = libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE;
    // SAFETY: `fd` is the tree we own, the path is an empty C string, `attr` is a valid
    // `struct mount_attr` of the size passed; the kernel only reads it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("mount_setattr {}: {e}", source.display())));
    }
    Ok(fd)
}

/// Attaches a tree from [`detached_ro_tree`] at `target` in this mount namespace.
pub(crate) fn attach_tree(tree: std::os::fd::RawFd, target: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    // SAFETY: `tree` is a descriptor this process owns, both paths are valid C strings for the
    // duration of the call; integer flags.
    let r = unsafe {
        libc::syscall(libc::SYS_move_mount, tree, c"".as_ptr(), libc::AT_FDCWD, t.as_ptr(), MOVE_MOUNT_F_EMPTY_PATH)
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("move_mount to {}: {e}", target.display())));
    }
    Ok(())
}
