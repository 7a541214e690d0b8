//! A throwaway PostgreSQL cluster for tests: the image's PostgreSQL binaries, started in about a
//! second in a temp dir (a Unix socket there, durability off), stopped when the handle drops.
//! Without the binaries a test says why and passes, unless `VERSA_REQUIRE_POSTGRES=1`. Shared
//! by the integration tests and the `store` unit tests (`#[path]`).

// JUSTIFICATION: these tests run the real engine, `initdb` and `pg_ctl`.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// Skips (returns `None` after printing why) or fails, as `var` says.
fn unavailable<T>(var: &str, why: String) -> Option<T> {
    if required(var) {
        panic!("{why} (and {var}=1)");
    }
    eprintln!("SKIPPED: {why}; set {var}=1 to make this a failure");
    None
}

/// A throwaway PostgreSQL cluster listening on a Unix socket in its temp dir.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
}

fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    found.pop()
}

impl Postgres {
    /// Starts a cluster, or `None` (skipped) when the binaries are missing.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = pg_bin() else {
            return unavailable("VERSA_REQUIRE_POSTGRES", "no PostgreSQL binaries under /usr/lib/postgresql".into());
        };
        let dir = tempfile::Builder::new().prefix("versa-pg.").tempdir_in("/tmp").unwrap();
        // initdb refuses to run as root: as root, the cluster belongs to `postgres`.
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let pg = Postgres { dir, bin, as_postgres };
        if as_postgres {
            assert!(pg.run("chown", &["postgres:postgres", &pg.dir.path().to_string_lossy()], false));
        }
        let data = pg.dir.path().join("data");
        let (data, log, sock) = (
            data.to_string_lossy().into_owned(),
            pg.dir.path().join("log").to_string_lossy().into_owned(),
            pg.dir.path().to_string_lossy().into_owned(),
        );
        let initdb = pg.bin.join("initdb").to_string_lossy().into_owned();
        if !pg.run(&initdb, &["-D", &data, "-U", "versa", "--auth=trust", "-E", "UTF8", "--no-sync"], true) {
            return unavailable("VERSA_REQUIRE_POSTGRES", "initdb failed".into());
        }
        let options = format!(
            "-k {sock} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        );
        let pg_ctl = pg.bin.join("pg_ctl").to_string_lossy().into_owned();
        if !pg.run(&pg_ctl, &["-D", &data, "-l", &log, "-w", "-o", &options, "start"], true) {
            let log = std::fs::read_to_string(pg.dir.path().join("log")).unwrap_or_default();
            return unavailable("VERSA_REQUIRE_POSTGRES", format!("PostgreSQL did not start: {log}"));
        }
        Some(pg)
    }

    fn run(&self, program: &str, args: &[&str], as_owner: bool) -> bool {
        let mut cmd = if as_owner && self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh database in the cluster, as a libpq keyword string.
    pub fn database(&self) -> String {
        let name = format!("s3_{}", uuid::Uuid::new_v4().simple());
        let admin = format!("host={} user=versa dbname=postgres", self.socket_dir().display());
        let create = format!("CREATE DATABASE {name}");
        // A `postgres::Client` must not live on a runtime thread.
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("connect to the test cluster");
            c.batch_execute(&create).expect("create a test database");
        })
        .join()
        .unwrap();
        format!("host={} user=versa dbname={name}", self.socket_dir().display())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        let pg_ctl = self.bin.join("pg_ctl").to_string_lossy().into_owned();
        self.run(&pg_ctl, &["-D", &data, "-m", "immediate", "stop"], true);
    }
}
