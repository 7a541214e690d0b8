//! A throwaway PostgreSQL cluster for the log store's tests (Debian's binaries, as in
//! `shared/reference/scale-out.md` §4): `initdb` into a temporary directory, a server on a unix
//! socket in it with durability off, stopped and removed when the [`Cluster`] drops. Without the
//! binaries the tests that need it are skipped with a printed reason, unless
//! `VERSA_REQUIRE_POSTGRES=1`, which makes that a failure.
//!
//! Test support only: it spawns `initdb` and `pg_ctl` (the workspace allows processes only in
//! the sandbox crate; tests are the exception, as in the server's integration tests).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian installs the server binaries, one directory per major version.
const PG_LIB_DIR: &str = "/usr/lib/postgresql";
/// The user the cluster runs as when the tests run as root (PostgreSQL refuses root).
const PG_OS_USER: &str = "postgres";

/// A running throwaway cluster.
pub(crate) struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
}

fn newest_bin() -> Option<PathBuf> {
    let mut bins: Vec<(u32, PathBuf)> = std::fs::read_dir(PG_LIB_DIR)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    bins.sort();
    bins.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Cluster {
    /// Starts a cluster, or says why not: `None` after printing the reason (the test is then
    /// skipped), a panic instead when `VERSA_REQUIRE_POSTGRES=1`.
    pub(crate) fn start() -> Option<Cluster> {
        match Cluster::try_start() {
            Ok(cluster) => Some(cluster),
            Err(reason) => {
                if std::env::var("VERSA_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                    panic!("PostgreSQL is required (VERSA_REQUIRE_POSTGRES=1) but unavailable: {reason}");
                }
                eprintln!("skipping the PostgreSQL variant: {reason}");
                None
            }
        }
    }

    fn try_start() -> Result<Cluster, String> {
        let bin = newest_bin().ok_or_else(|| format!("no PostgreSQL server binaries under {PG_LIB_DIR}"))?;
        let dir = tempfile::Builder::new().prefix("versa-logs-pg").tempdir().map_err(|e| e.to_string())?;
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg(format!("{PG_OS_USER}:{PG_OS_USER}")).arg(dir.path()))?;
        }
        let cluster = Cluster { bin, dir, as_postgres };
        let data = cluster.data();
        cluster.pg(
            "initdb",
            &["-D", path_str(&data)?, "-U", "versa", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        )?;
        let options = format!(
            "-k {} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=100",
            path_str(cluster.dir.path())?
        );
        let log = cluster.dir.path().join("log");
        cluster.pg("pg_ctl", &["-D", path_str(&data)?, "-l", path_str(&log)?, "-w", "-o", &options, "start"])?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of the server's binaries, as `postgres` when the tests run as root.
    fn pg(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", PG_OS_USER, "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        run(command.args(args))
    }

    /// A connection string (libpq keywords) for the `postgres` database.
    pub(crate) fn url(&self) -> String {
        format!("host={} user=versa dbname=postgres", self.dir.path().display())
    }
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| format!("not UTF-8: {}", path.display()))
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.stdin(Stdio::null()).output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        if let Some(data) = data.to_str() {
            let _ = self.pg("pg_ctl", &["-D", data, "-m", "immediate", "-w", "stop"]);
        }
    }
}
