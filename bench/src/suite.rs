//! The guard's figures (`--save`, `--check`): every figure issue 16 names, measured against one
//! in-process server with SigV4 verification on (every request signed by the client, inside the
//! timed window) and metrics recording on (always on), plus yardsticks measured in the same run
//! so that ratios cancel the machine's own speed and load:
//!
//! | figure | what |
//! |---|---|
//! | `warm.bare.c{8,64}.ops_per_s` | the bare Runtime API loop (`bare.rs`), same echo bootstrap, same clients |
//! | `warm.c{8,64}.ops_per_s`, `…vs_bare` | `provided` echo invoked through alias `live` |
//! | `overhead.p50_us`, `overhead.p99_us` | end-to-end minus the REPORT `Duration`, 1 client |
//! | `cold.provided.p50_ms`, `cold.python.p50_ms` | first invoke of a newly published version |
//! | `events.c64.accepted_per_s`, `…executed_per_s`, `…executed_vs_accepted` | Event invokes from 64 clients; executed counts from the first 202 to the last start, so while the clients still send |
//! | `events.c64.drained_per_s` | the same run's starts after the last 202, per second: the execution rate with no 202s to answer (`executed_per_s` when execution kept up) |
//! | `events.paced.start_p99_ms` | 202 → START p99 at a rate well below capacity (not saturated) |
//! | `control.*.c1.ops_per_s` | the control-plane rows (CreateFunction, PublishVersion unchanged, UpdateAlias, UpdateConfig+PublishVersion, GetAlias, GetFunction ?Qualifier), 1 client |
//! | `control.sqlite_commit.ops_per_s`, `control.update_alias.c1.vs_sqlite_commit` | a raw SQLite WAL commit loop (`synchronous=FULL`, the store's setting) on the same disk |
//! | `warm.c{8,64}.server_cpu_us`, `events.c64.server_cpu_us` | with `--server-process`: the server process's CPU time (user + system, all threads) per warm invoke, and per Event invoke from its 202 to its end; the function's own processes are not in it |
//!
//! The CPU figures split an invocation's cost: what the server spends, apart from the clients
//! and the functions' processes that share the CPUs with it (which the rates include).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use testkit::Key;
use testkit::http::{Client, Response};
use tokio::sync::Barrier;

use crate::guard::Figure;
use crate::workload::{Limit, Op, Workload, sign};

const ROLE: &str = "arn:aws:iam::123456789012:role/r";
const PY_ECHO: &str = "def handler(event, context):\n    return event\n";
/// Warm-invoke concurrency levels (issue 16: 8–64 clients).
pub const WARM_CLIENTS: [usize; 2] = [8, 64];
/// Event-invoke clients (issue 16: at 64 clients).
const EVENT_CLIENTS: usize = 64;
/// Pause between the paced Event sender's invokes: 100/s, far below capacity.
const PACED_GAP: Duration = Duration::from_millis(10);
/// Samples of the overhead measurement.
const OVERHEAD_SAMPLES: usize = 2000;

/// How long each measurement runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub seconds: f64,
    pub cold_samples: usize,
    /// Measure a `versa server` process rather than the server linked into this binary.
    pub process: bool,
}

/// A raw keep-alive client that signs every request with `key` (sends them unsigned without one).
pub struct Signed {
    client: Client,
    addr: SocketAddr,
    key: Option<Key>,
}

impl Signed {
    pub fn new(addr: SocketAddr, key: &Key) -> Signed {
        Signed::maybe(addr, Some(key))
    }

    pub fn maybe(addr: SocketAddr, key: Option<&Key>) -> Signed {
        Signed { client: Client::new(addr), addr, key: key.cloned() }
    }

    pub async fn call(
        &mut self,
        service: &str,
        method: &str,
        path: &str,
        extra: &[(&'static str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let signed = self.key.as_ref().map(|k| sign(k, self.addr, service, method, path, body)).unwrap_or_default();
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        headers.extend(extra.iter().copied());
        headers.extend(signed.iter().map(|(k, v)| (*k, v.as_str())));
        self.client.send(method, path, &headers, body).await
    }

    pub async fn lambda(&mut self, method: &str, path: &str, body: &[u8]) -> anyhow::Result<Response> {
        Ok(self.call("lambda", method, path, &[], body).await?)
    }
}

/// Creates a function (and, with `alias`, publishes version 1 and points alias `live` at it).
pub async fn create_function(addr: SocketAddr, key: &Key, name: &str, python: bool, alias: bool) -> anyhow::Result<()> {
    let b64 = |z: &[u8]| base64::engine::general_purpose::STANDARD.encode(z);
    let (runtime, handler, zip) = if python {
        ("python3.12", "index.handler", b64(&testkit::zip::files(&[("index.py", PY_ECHO.as_bytes())])))
    } else {
        let echo = std::fs::read(testkit::built_binary("fixture-rust-echo")).context("the Rust echo fixture")?;
        let zip = testkit::zip::build(&[testkit::zip::Entry::File { name: "bootstrap", data: &echo, mode: 0o755 }]);
        ("provided.al2023", "bootstrap", b64(&zip))
    };
    let body = serde_json::json!({
        "FunctionName": name, "Runtime": runtime, "Role": ROLE, "Handler": handler, "Code": {"ZipFile": zip},
    });
    let mut c = Signed::new(addr, key);
    let r = c.lambda("POST", "/2015-03-31/functions", body.to_string().as_bytes()).await?;
    if r.status != 201 {
        bail!("create {name}: {} {}", r.status, r.text());
    }
    if alias {
        let r = c.lambda("POST", &format!("/2015-03-31/functions/{name}/versions"), b"{}").await?;
        if r.status != 201 {
            bail!("publish {name}: {} {}", r.status, r.text());
        }
        let r = c
            .lambda(
                "POST",
                &format!("/2015-03-31/functions/{name}/aliases"),
                br#"{"Name":"live","FunctionVersion":"1"}"#,
            )
            .await?;
        if r.status != 201 {
            bail!("alias {name}: {} {}", r.status, r.text());
        }
    }
    Ok(())
}

/// Every figure, against a fresh in-process server with `--auth sigv4`.
/// With `settings.process`, the server is a `versa server --auth sigv4` process instead
/// (`$VERSA_BIN`, or the `versa` beside this binary), so one `versa-bench` measures any build.
pub async fn run(settings: Settings) -> anyhow::Result<Vec<Figure>> {
    if settings.process {
        let dir = tempfile::Builder::new().prefix("versa-guard-").tempdir()?;
        let server = testkit::ServerProcess::spawn_with(&testkit::versa_binary(), dir.path(), &["--auth", "sigv4"]);
        let key = crate::soak::root_key(dir.path()).await?;
        let result = measure(server.addr, &key, settings, Some(server.pid())).await;
        drop(server);
        return result;
    }
    let server = testkit::TestServer::start_sigv4().await;
    let key = server.root_key().await;
    // In-process, the server's CPU time cannot be told from the clients': no CPU figures.
    let result = measure(server.addr, &key, settings, None).await;
    server.stop().await;
    result
}

/// The figures; `server`: the server's pid when it is a process of its own (for the CPU
/// figures).
async fn measure(addr: SocketAddr, key: &Key, settings: Settings, server: Option<u32>) -> anyhow::Result<Vec<Figure>> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let prefix = format!("vg{:08x}", nanos as u32);
    let length = Duration::from_secs_f64(settings.seconds);
    let mut out = Vec::new();
    let note = |f: Figure, out: &mut Vec<Figure>| {
        eprintln!("  {:<44} {:>10.3} {}", f.name, f.value, f.unit);
        out.push(f);
    };

    // Warm invokes through an alias, each level beside the bare loop at the same level.
    let echo = format!("{prefix}-echo");
    create_function(addr, key, &echo, false, true).await?;
    for n in WARM_CLIENTS {
        let bare = crate::bare::ops_per_sec(n, length).await.context("the bare Runtime API loop")?;
        let path = format!("/2015-03-31/functions/{echo}/invocations?Qualifier=live");
        let (versa, cpu) = warm(addr, key, &path, n, length, server).await?;
        note(Figure::throughput(&format!("warm.bare.c{n}.ops_per_s"), bare), &mut out);
        note(Figure::throughput(&format!("warm.c{n}.ops_per_s"), versa), &mut out);
        note(Figure::ratio(&format!("warm.c{n}.vs_bare"), versa / bare.max(1e-9)), &mut out);
        if let Some(us) = cpu {
            note(Figure::cpu(&format!("warm.c{n}.server_cpu_us"), us), &mut out);
        }
    }

    let (p50, p99) = overhead(addr, key, &echo, OVERHEAD_SAMPLES).await?;
    note(Figure::latency("overhead.p50_us", p50, "µs", false), &mut out);
    note(Figure::latency("overhead.p99_us", p99, "µs", true), &mut out);

    for (label, python) in [("provided", false), ("python", true)] {
        let name = format!("{prefix}-cold-{label}");
        create_function(addr, key, &name, python, false).await?;
        let mut ms = cold(addr, key, &name, settings.cold_samples).await?;
        ms.sort_by(f64::total_cmp);
        note(Figure::latency(&format!("cold.{label}.p50_ms"), percentile(&ms, 50.0), "ms", false), &mut out);
    }

    let name = format!("{prefix}-async");
    create_function(addr, key, &name, false, false).await?;
    let run = crate::events::measure(addr, Some(key), &name, EVENT_CLIENTS, length, None, server).await?;
    let (accepted, executed) = (run.accepted_per_s(), run.executed_per_s());
    note(Figure::throughput(&format!("events.c{EVENT_CLIENTS}.accepted_per_s"), accepted), &mut out);
    note(Figure::throughput(&format!("events.c{EVENT_CLIENTS}.executed_per_s"), executed), &mut out);
    note(
        Figure::ratio(&format!("events.c{EVENT_CLIENTS}.executed_vs_accepted"), executed / accepted.max(1e-9)),
        &mut out,
    );
    note(Figure::throughput(&format!("events.c{EVENT_CLIENTS}.drained_per_s"), run.drain_figure()), &mut out);
    if let Some(s) = run.server_cpu_s {
        let per_event = s * 1e6 / (run.accepted.len() as f64).max(1.0);
        note(Figure::cpu(&format!("events.c{EVENT_CLIENTS}.server_cpu_us"), per_event), &mut out);
    }
    let p99 = percentile(
        &crate::events::measure(addr, Some(key), &name, 1, length, Some(PACED_GAP), None).await?.latencies(),
        99.0,
    );
    note(Figure::latency("events.paced.start_p99_ms", p99, "ms", true), &mut out);

    let workload = Arc::new(Workload::new(format!("{prefix}c"), Some(key.clone())));
    let fixtures = workload.setup(addr, 1).await.context("control-plane fixtures")?;
    for (op, slug) in [
        (Op::CreateFunction, "create_function"),
        (Op::PublishVersion, "publish_unchanged"),
        (Op::UpdateAlias, "update_alias"),
        (Op::UpdateAndPublish, "update_publish"),
        (Op::GetAlias, "get_alias"),
        (Op::GetFunctionByAlias, "get_function"),
    ] {
        let stats = workload.run(addr, op, &fixtures, Limit::Duration(length)).await?;
        if stats.errors > 0 {
            bail!("{}: {} errors: {:?}", op.name(), stats.errors, stats.samples);
        }
        note(Figure::throughput(&format!("control.{slug}.c1.ops_per_s"), stats.ops_per_sec()), &mut out);
        if op == Op::UpdateAlias {
            // Right after UpdateAlias, so that both see the same disk.
            let commits = tokio::task::spawn_blocking(move || sqlite_commits_per_sec(length)).await??;
            note(Figure::throughput("control.sqlite_commit.ops_per_s", commits), &mut out);
            let ratio = stats.ops_per_sec() / commits.max(1e-9);
            let mut f = Figure::ratio("control.update_alias.c1.vs_sqlite_commit", ratio);
            f.margin = crate::guard::MARGIN_FSYNC_RATIO;
            note(f, &mut out);
        }
    }
    Ok(out)
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((q / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times (Linux's `USER_HZ`, 100 on every
/// architecture's ABI).
const USER_HZ: f64 = 100.0;

/// CPU time (user + system, every thread, exited ones included) the process `pid` has used so
/// far, in seconds; `None` where `/proc` cannot tell.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_of_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU seconds the process `pid` used since its [`cpu_seconds`] read `before`.
pub fn cpu_since(pid: Option<u32>, before: Option<f64>) -> Option<f64> {
    Some(cpu_seconds(pid?)? - before?)
}

/// [`cpu_seconds`] of one `/proc/<pid>/stat` line.
fn cpu_of_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces: split after it, so that
    // the first field is field 3 and `utime`, `stime` (fields 14 and 15) are the 12th and 13th.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split(' ').skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Successful warm invokes per second over `path`, `clients` clients, and with `server` (the
/// server's pid) the server's CPU µs per successful invoke, read once every client has its
/// environment (cold starts excluded) and after the last one.
async fn warm(
    addr: SocketAddr,
    key: &Key,
    path: &str,
    clients: usize,
    length: Duration,
    server: Option<u32>,
) -> anyhow::Result<(f64, Option<f64>)> {
    // The clients and this task: the CPU clock is read when every client is warm.
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (path, barrier, key) = (path.to_owned(), barrier.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Signed::new(addr, &key);
            // Warm: all clients at once, so each ends up with an environment of its own.
            let _ = c.lambda("POST", &path, b"{}").await;
            barrier.wait().await;
            let (mut ok, start) = (0u64, Instant::now());
            while start.elapsed() < length {
                let r = c.lambda("POST", &path, br#"{"hello":"world"}"#).await?;
                if r.status != 200 || r.header("x-amz-function-error").is_some() {
                    bail!("warm invoke: {} {}", r.status, r.text());
                }
                ok += 1;
            }
            Ok((ok, start.elapsed()))
        }));
    }
    barrier.wait().await;
    let before = server.and_then(cpu_seconds);
    let (mut ok, mut elapsed) = (0u64, Duration::ZERO);
    for t in tasks {
        let (n, e) = t.await??;
        ok += n;
        elapsed = elapsed.max(e);
    }
    let cpu = cpu_since(server, before).map(|s| s * 1e6 / (ok as f64).max(1.0));
    Ok((ok as f64 / elapsed.as_secs_f64().max(1e-9), cpu))
}

/// (p50, p99) in µs of end-to-end latency minus the REPORT line's `Duration`, 1 client.
async fn overhead(addr: SocketAddr, key: &Key, name: &str, samples: usize) -> anyhow::Result<(f64, f64)> {
    let path = format!("/2015-03-31/functions/{name}/invocations?Qualifier=live");
    let tail = [("x-amz-log-type", "Tail")];
    let mut c = Signed::new(addr, key);
    c.call("lambda", "POST", &path, &tail, b"{}").await?;
    let body = br#"{"hello":"world"}"#;
    let mut over = Vec::with_capacity(samples);
    for _ in 0..samples {
        // Signed before the clock starts: the client's signing is not the platform's cost
        // (the server's verification is, and is inside).
        let signed = sign(key, addr, "lambda", "POST", &path, body);
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json"), tail[0]];
        headers.extend(signed.iter().map(|(k, v)| (*k, v.as_str())));
        let t = Instant::now();
        let r = c.client.send("POST", &path, &headers, body).await?;
        let total = t.elapsed().as_secs_f64() * 1e6;
        let log = r.header("x-amz-log-result").context("no log tail")?;
        let log = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(log)?)?;
        let duration_ms: f64 = log
            .split('\t')
            .find_map(|f| f.strip_prefix("Duration: ")?.strip_suffix(" ms")?.parse().ok())
            .context("no Duration in REPORT")?;
        over.push((total - duration_ms * 1000.0).max(0.0));
    }
    over.sort_by(f64::total_cmp);
    Ok((percentile(&over, 50.0), percentile(&over, 99.0)))
}

/// Milliseconds of each cold start: UpdateFunctionConfiguration + PublishVersion, then the
/// first invoke of the new version, timed.
async fn cold(addr: SocketAddr, key: &Key, name: &str, samples: usize) -> anyhow::Result<Vec<f64>> {
    let mut c = Signed::new(addr, key);
    let mut out = Vec::new();
    for i in 0..samples {
        let body = format!(r#"{{"Description":"cold {i}"}}"#);
        let r = c.lambda("PUT", &format!("/2015-03-31/functions/{name}/configuration"), body.as_bytes()).await?;
        if r.status != 200 {
            bail!("update: {} {}", r.status, r.text());
        }
        let r = c.lambda("POST", &format!("/2015-03-31/functions/{name}/versions"), b"{}").await?;
        let version = r.json()["Version"].as_str().unwrap_or_default().to_owned();
        let path = format!("/2015-03-31/functions/{name}/invocations?Qualifier={version}");
        let t = Instant::now();
        let r = c.lambda("POST", &path, b"{}").await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if r.status != 200 || r.header("x-amz-function-error").is_some() {
            bail!("cold invoke: {} {}", r.status, r.text());
        }
        out.push(ms);
    }
    Ok(out)
}

/// Durable single-row commits per second: SQLite in WAL mode with `synchronous=FULL` (the
/// store's settings), one UPDATE per transaction, in a temporary directory under `$TMPDIR`
/// (where the in-process server's data dir is).
fn sqlite_commits_per_sec(length: Duration) -> anyhow::Result<f64> {
    let dir = tempfile::Builder::new().prefix("versa-bench-sqlite-").tempdir()?;
    let conn = rusqlite::Connection::open(dir.path().join("commit.db"))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("SQLite refused WAL mode ({mode})");
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL; CREATE TABLE t(k INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 0);",
    )?;
    let mut update = conn.prepare("UPDATE t SET v = v + 1 WHERE k = 1")?;
    let (mut n, start) = (0u64, Instant::now());
    while start.elapsed() < length {
        update.execute([])?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1 1 1";
        assert_eq!(cpu_of_stat(stat), Some(3.25));
        assert_eq!(cpu_of_stat("4242 (cut short) S 1 2"), None);
    }

    #[test]
    fn cpu_time_of_this_process_grows_while_it_computes() {
        let pid = std::process::id();
        let before = cpu_seconds(pid).expect("this process's /proc stat");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut x = 0u64;
        while cpu_seconds(pid).unwrap() - before < 0.05 {
            assert!(Instant::now() < deadline, "50 ms of computing never showed in /proc/{pid}/stat");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
            }
        }
        assert!(cpu_seconds(u32::MAX).is_none());
    }
}
