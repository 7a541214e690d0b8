//! A throwaway PostgreSQL cluster for tests: started once per test process from the host's
//! binaries (`/usr/lib/postgresql/<newest>/bin`), on a unix socket in a temp dir, fsync off;
//! each test gets a fresh database. A watchdog process stops the cluster and removes its
//! directory once the test process is gone (however it ended).
//!
//! When the binaries are missing, [`database`] returns `None` (the test prints why and skips),
//! unless `VERSA_REQUIRE_POSTGRES=1`, when it panics. As root, the server runs as the
//! `postgres` user (through `runuser`).
//!
//! Dependency-free on purpose: `store`'s own tests include this file by path (a dev-dependency
//! on `testkit` would build the whole server into the store's tests).

// JUSTIFICATION: starting the database server (and its watchdog) is the point of this module.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian puts PostgreSQL's server binaries, one directory per major version.
const PG_LIB: &str = "/usr/lib/postgresql";
/// The environment variable that turns a missing PostgreSQL into a failure.
pub const REQUIRE_ENV: &str = "VERSA_REQUIRE_POSTGRES";
/// The superuser initdb creates (trust authentication on the socket).
const SUPERUSER: &str = "versa";
/// The account the server runs as when the tests run as root.
const SERVICE_USER: &str = "postgres";
/// Connections the test cluster accepts (each backend opens writers + readers).
const MAX_CONNECTIONS: u32 = 300;

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    /// The temp dir: `data/` and the unix socket.
    pub dir: PathBuf,
    bin: PathBuf,
    root: bool,
    /// The server options (`pg_ctl -o`), to start it again on the same socket and data.
    options: String,
    /// A [`private`] cluster: stopped and removed when dropped.
    private: bool,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// Whether this process runs as uid 0 (from `/proc/self/status`: no `unsafe` here).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next()) == Some("0")
    })
}

/// The newest installed `bin` directory with `initdb`, if any.
pub fn binaries() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir(PG_LIB)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

/// Runs `program` with `args`, as the service user when root; an error carries its output.
fn run(root: bool, program: &Path, args: &[&str]) -> Result<(), String> {
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", SERVICE_USER, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).stdin(Stdio::null()).output().map_err(|e| format!("{}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn chown_to_service(root: bool, path: &Path) -> Result<(), String> {
    if root {
        let out = Command::new("chown")
            .args(["-R", &format!("{SERVICE_USER}:{SERVICE_USER}")])
            .arg(path)
            .output()
            .map_err(|e| format!("chown: {e}"))?;
        if !out.status.success() {
            return Err(format!("chown {}: {}", path.display(), String::from_utf8_lossy(&out.stderr)));
        }
    }
    Ok(())
}

/// An initialised data directory to copy (initdb takes about a second; a copy much less).
/// Made once per machine and PostgreSQL version, atomically (by rename).
fn template(root: bool, bin: &Path) -> Result<PathBuf, String> {
    let version = bin.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("x").to_owned();
    let path = std::env::temp_dir().join(format!("versa-pg-template-{version}-{}", if root { "root" } else { "user" }));
    if path.join("data/PG_VERSION").exists() {
        return Ok(path);
    }
    let building = std::env::temp_dir().join(format!("versa-pg-template-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building).map_err(|e| format!("{}: {e}", building.display()))?;
    chown_to_service(root, &building)?;
    let data = building.join("data");
    let data_s = data.to_str().ok_or("non-UTF-8 temp dir")?;
    run(
        root,
        &bin.join("initdb"),
        &["-D", data_s, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
    )?;
    // Another process may have won the race; either template is as good.
    if std::fs::rename(&building, &path).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    Ok(path)
}

fn start() -> Result<Cluster, String> {
    start_in(&format!("versa-pg-{}", std::process::id()), false)
}

/// `crash_safe`: commits reach the WAL before they are acknowledged (`synchronous_commit=on`),
/// so an immediate stop loses nothing acknowledged (fsync stays off: the machine does not crash).
fn start_in(dir_name: &str, crash_safe: bool) -> Result<Cluster, String> {
    let bin = binaries().ok_or_else(|| format!("no PostgreSQL server binaries under {PG_LIB}/*/bin"))?;
    let root = is_root();
    let template = template(root, &bin)?;
    let dir = std::env::temp_dir().join(dir_name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = Command::new("cp")
        .arg("-a")
        .arg(template.join("data"))
        .arg(dir.join("data"))
        .output()
        .map_err(|e| format!("cp: {e}"))?;
    if !out.status.success() {
        return Err(format!("copying the template cluster: {}", String::from_utf8_lossy(&out.stderr)));
    }
    chown_to_service(root, &dir)?;
    let dir_s = dir.to_str().ok_or("non-UTF-8 temp dir")?.to_owned();
    let options = format!(
        "-k {dir_s} -c listen_addresses='' -c fsync=off -c synchronous_commit={} -c full_page_writes=off \
         -c max_connections={MAX_CONNECTIONS}",
        if crash_safe { "on" } else { "off" }
    );
    // The watchdog first, so the cluster goes even if starting it half-fails.
    let pg_ctl = bin.join("pg_ctl");
    let stop = format!(
        "{} {} -D {dir_s}/data -m immediate stop >/dev/null 2>&1",
        if root { format!("runuser -u {SERVICE_USER} --") } else { String::new() },
        pg_ctl.display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop}; rm -rf {dir_s}",
            pid = std::process::id()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cluster's watchdog: {e}"))?;
    let cluster = Cluster { dir, bin, root, options, private: false };
    cluster.start_again()?;
    Ok(cluster)
}

/// A cluster of the caller's own (not the process's shared one), for a test that stops and
/// starts its database mid-run; stopped and removed when dropped. `None` as for [`database`].
#[allow(dead_code, reason = "store's and logs' tests include this file by path and use only `database`")]
pub fn private(label: &str) -> Option<Cluster> {
    static NEXT_PRIVATE: AtomicU32 = AtomicU32::new(0);
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
    let n = NEXT_PRIVATE.fetch_add(1, Ordering::Relaxed);
    match start_in(&format!("versa-pg-{}-p{n}", std::process::id()), true) {
        Ok(mut c) => {
            c.private = true;
            Some(c)
        }
        Err(why) if !required => {
            eprintln!("skipping the PostgreSQL part of {label}: {why}");
            None
        }
        Err(why) => panic!("{REQUIRE_ENV}=1 but PostgreSQL is not usable: {why}"),
    }
}

/// The process's cluster, started on first use; `Err` says why there is none.
pub fn cluster() -> Result<&'static Cluster, String> {
    CLUSTER.get_or_init(start).as_ref().map_err(Clone::clone)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.private {
            let _ = self.stop_immediate();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Cluster {
    /// Starts the server (again) on the same data directory and socket; waits until it accepts
    /// connections.
    pub fn start_again(&self) -> Result<(), String> {
        let dir_s = self.dir.to_str().ok_or("non-UTF-8 temp dir")?;
        let data = format!("{dir_s}/data");
        let log = format!("{dir_s}/log");
        run(self.root, &self.bin.join("pg_ctl"), &["-D", &data, "-l", &log, "-w", "-o", &self.options, "start"])
            .map_err(|e| format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()))
    }

    /// Stops the server the way a crash does (`pg_ctl stop -m immediate`: every connection is
    /// cut, no checkpoint; committed data survives through the WAL).
    #[allow(dead_code, reason = "used by the server's tests, not by every includer of this file")]
    pub fn stop_immediate(&self) -> Result<(), String> {
        let data = format!("{}/data", self.dir.to_str().ok_or("non-UTF-8 temp dir")?);
        run(self.root, &self.bin.join("pg_ctl"), &["-D", &data, "-m", "immediate", "-w", "stop"])
    }

    /// The URL of database `name` (`postgres://` with the socket directory as `host`).
    pub fn url(&self, name: &str) -> String {
        format!("postgresql:///{name}?user={SUPERUSER}&host={}", self.dir.display())
    }

    /// Runs `sql` on the database at `url` (one of this cluster's) with `psql`; its output.
    pub fn sql(&self, url: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if !out.status.success() {
            return Err(format!("{sql}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn create_database(&self, label: &str) -> Result<String, String> {
        let clean: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .take(40)
            .collect();
        let name = format!("t{}_{clean}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir)
            .args(["-U", SUPERUSER, "-d", "postgres", "-c", &format!("CREATE DATABASE {name}")])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if !out.status.success() {
            return Err(format!("CREATE DATABASE {name}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(self.url(&name))
    }
}

/// A fresh database's URL for the test `label`; `None` (having printed why) when there is no
/// PostgreSQL here and `VERSA_REQUIRE_POSTGRES` is not `1`.
pub fn database(label: &str) -> Option<String> {
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
    match cluster().and_then(|c| c.create_database(label)) {
        Ok(url) => Some(url),
        Err(why) if !required => {
            eprintln!("skipping the PostgreSQL part of {label}: {why}");
            None
        }
        Err(why) => panic!("{REQUIRE_ENV}=1 but PostgreSQL is not usable: {why}"),
    }
}
