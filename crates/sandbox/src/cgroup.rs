//! Per-sandbox cgroups: memory and process limits, memory use, OOM kills, killing everything.
//!
//! Detected at run time: cgroup v1 (a `memory` hierarchy, and `pids` if present) or v2 (the
//! unified hierarchy with the `memory` and `pids` controllers available). Sandbox cgroups live
//! under a `versa-<server pid>` directory below the server's own cgroup, so host-imposed limits
//! still apply on top.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where this server creates sandbox cgroups.
#[derive(Debug, Clone)]
pub enum CgroupRoot {
    /// Separate hierarchies: the memory one, and the pids one when it exists.
    V1 { memory: PathBuf, pids: Option<PathBuf> },
    /// The unified hierarchy.
    V2 { base: PathBuf },
}

impl CgroupRoot {
    /// Finds a usable hierarchy and creates this server's directory in it; `Err` says why
    /// there is none.
    pub fn detect() -> Result<CgroupRoot, String> {
        let own = fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let name = format!("versa-{}", std::process::id());
        let v1_path = |controller: &str| {
            own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                ctrls.split(',').any(|c| c == controller).then(|| path.trim_start_matches('/').to_owned())
            })
        };
        if let Some(mem) = v1_path("memory") {
            let memory = Path::new("/sys/fs/cgroup/memory").join(mem).join(&name);
            fs::create_dir_all(&memory).map_err(|e| format!("cannot create {}: {e}", memory.display()))?;
            let pids = v1_path("pids")
                .map(|p| Path::new("/sys/fs/cgroup/pids").join(p).join(&name))
                .filter(|p| fs::create_dir_all(p).is_ok());
            return Ok(CgroupRoot::V1 { memory, pids });
        }
        let unified = own.lines().find_map(|l| l.strip_prefix("0::")).ok_or("no memory cgroup controller")?;
        let parent = Path::new("/sys/fs/cgroup").join(unified.trim_start_matches('/'));
        let controllers = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return Err(format!("the memory controller is not available in {}", parent.display()));
        }
        let base = parent.join(&name);
        fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
        // Sandboxes are children of `base`, so it must delegate the controllers to them.
        fs::write(base.join("cgroup.subtree_control"), "+memory +pids")
            .map_err(|e| format!("cannot enable memory and pids controllers in {}: {e}", base.display()))?;
        Ok(CgroupRoot::V2 { base })
    }

    pub fn describe(&self) -> String {
        match self {
            CgroupRoot::V1 { memory, pids } => format!(
                "cgroup v1 ({}{})",
                memory.display(),
                if pids.is_some() { ", pids" } else { ", no pids controller" }
            ),
            CgroupRoot::V2 { base } => format!("cgroup v2 ({})", base.display()),
        }
    }

    /// Removes this server's directory (and any sandbox cgroups left in it).
    pub fn remove(&self) {
        let dirs: Vec<&PathBuf> = match self {
            CgroupRoot::V1 { memory, pids } => std::iter::once(memory).chain(pids.iter()).collect(),
            CgroupRoot::V2 { base } => vec![base],
        };
        for d in dirs {
            if let Ok(entries) = fs::read_dir(d) {
                for e in entries.flatten() {
                    if e.path().is_dir() {
                        let _ = fs::remove_dir(e.path());
                    }
                }
            }
            let _ = fs::remove_dir(d);
        }
    }
}

/// One sandbox's cgroup (one directory per hierarchy). Clones are handles to the same cgroup.
#[derive(Debug, Clone)]
pub struct Cgroup {
    v2: bool,
    memory: PathBuf,
    pids: Option<PathBuf>,
}

impl Cgroup {
    /// Creates the cgroup `name` with a memory limit (no swap) and a process limit.
    pub fn create(root: &CgroupRoot, name: &str, memory_bytes: u64, pids_max: u64) -> io::Result<Cgroup> {
        let cg = match root {
            CgroupRoot::V1 { memory, pids } => {
                Cgroup { v2: false, memory: memory.join(name), pids: pids.as_ref().map(|p| p.join(name)) }
            }
            CgroupRoot::V2 { base } => Cgroup { v2: true, memory: base.join(name), pids: None },
        };
        fs::create_dir_all(&cg.memory)?;
        if cg.v2 {
            fs::write(cg.memory.join("memory.max"), memory_bytes.to_string())?;
            let _ = fs::write(cg.memory.join("memory.swap.max"), "0");
            let _ = fs::write(cg.memory.join("pids.max"), pids_max.to_string());
        } else {
            fs::write(cg.memory.join("memory.limit_in_bytes"), memory_bytes.to_string())?;
            // Absent without swap accounting; then there is no swap to limit.
            let _ = fs::write(cg.memory.join("memory.memsw.limit_in_bytes"), memory_bytes.to_string());
            if let Some(p) = &cg.pids {
                fs::create_dir_all(p)?;
                fs::write(p.join("pids.max"), pids_max.to_string())?;
            }
        }
        Ok(cg)
    }

    /// Changes the limits (of a cgroup that may already hold processes).
    pub fn set_limits(&self, memory_bytes: u64, pids_max: u64) -> io::Result<()> {
        if self.v2 {
            fs::write(self.memory.join("memory.max"), memory_bytes.to_string())?;
            let _ = fs::write(self.memory.join("pids.max"), pids_max.to_string());
        } else {
            // memsw must stay >= the memory limit, so order the two writes by direction.
            let memsw = self.memory.join("memory.memsw.limit_in_bytes");
            let current: u64 = read_u64(&self.memory.join("memory.limit_in_bytes")).unwrap_or(0);
            if memory_bytes >= current {
                let _ = fs::write(&memsw, memory_bytes.to_string());
                fs::write(self.memory.join("memory.limit_in_bytes"), memory_bytes.to_string())?;
            } else {
                fs::write(self.memory.join("memory.limit_in_bytes"), memory_bytes.to_string())?;
                let _ = fs::write(&memsw, memory_bytes.to_string());
            }
            // Peak use counts from here on, not from the shell's wait.
            let _ = fs::write(self.memory.join("memory.max_usage_in_bytes"), "0");
            if let Some(p) = &self.pids {
                fs::write(p.join("pids.max"), pids_max.to_string())?;
            }
        }
        Ok(())
    }

    /// The `cgroup.procs` files a process writes its pid into to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        std::iter::once(self.memory.join("cgroup.procs"))
            .chain(self.pids.iter().map(|p| p.join("cgroup.procs")))
            .collect()
    }

    /// Peak memory use since creation, in bytes.
    pub fn peak_memory_bytes(&self) -> Option<u64> {
        read_u64(&self.peak_memory_file())
    }

    /// The file [`Cgroup::peak_memory_bytes`] reads.
    pub fn peak_memory_file(&self) -> PathBuf {
        self.memory.join(if self.v2 { "memory.peak" } else { "memory.max_usage_in_bytes" })
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let file = if self.v2 { "memory.events" } else { "memory.oom_control" };
        fs::read_to_string(self.memory.join(file))
            .ok()
            .and_then(|t| t.lines().find_map(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse().ok())))
            .unwrap_or(0)
    }

    /// SIGKILLs every process in the cgroup.
    pub fn kill_all(&self) {
        if self.v2 && fs::write(self.memory.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        // v1: no cgroup.kill; kill what is listed (a fork racing this is caught by pid 1's
        // death taking the whole PID namespace down).
        if let Ok(text) = fs::read_to_string(self.memory.join("cgroup.procs")) {
            for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = crate::sys::kill(pid, libc::SIGKILL);
            }
        }
    }

    /// Removes the cgroup once its processes are gone; retries briefly while they exit.
    pub fn remove(&self) {
        for dir in std::iter::once(&self.memory).chain(self.pids.iter()) {
            for _ in 0..50 {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
                }
            }
        }
    }
}

fn read_u64(p: &Path) -> Option<u64> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}
