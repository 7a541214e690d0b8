//! The soak (`--soak SECONDS`): full load on a real `versa server` process for a long time,
//! watching its memory.
//!
//! The server is the `versa` binary beside this one (or `$VERSA_BIN`), started with
//! `--auth sigv4` on a temporary data dir. The load, all signed, runs until the end:
//! - `SYNC_CLIENTS` clients invoking the `provided` echo through alias `live` back to back;
//! - `EVENT_CLIENTS` clients sending `Event` invokes back to back (a 429 is counted and the
//!   client waits `Retry-After`, or `THROTTLE_PAUSE` without one);
//! - one control-plane client alternating UpdateAlias (versions 1 and 2 of another function)
//!   and UpdateFunctionConfiguration, every `CONTROL_GAP`.
//!
//! Every `--soak-interval` seconds (default 60) it prints the server's `VmRSS` (from
//! `/proc/<pid>/status`), the live environments (`/_versa/health`), the events waiting in the
//! queue (`versa_async_events_queued` from `/metrics`), and per-second rates and
//! error/429 counts over the interval. The first interval is warm-up (environments start, caches
//! and pools fill); the soak fails if RSS at the end exceeds RSS after warm-up by more than
//! `RSS_GROWTH_MAX_MB` or `RSS_GROWTH_MAX_FRACTION`, whichever is larger, or if any request
//! failed other than with a 429.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use testkit::Key;

use crate::suite::{Signed, create_function};

const SYNC_CLIENTS: usize = 16;
const EVENT_CLIENTS: usize = 4;
/// Pause of the control-plane client between its writes (~20 writes/s).
const CONTROL_GAP: Duration = Duration::from_millis(50);
/// Pause after a 429 without `Retry-After`.
const THROTTLE_PAUSE: Duration = Duration::from_millis(100);
/// Allowed RSS growth after warm-up: this many MB …
const RSS_GROWTH_MAX_MB: f64 = 16.0;
/// … or this fraction of the RSS after warm-up, whichever is larger.
const RSS_GROWTH_MAX_FRACTION: f64 = 0.2;

#[derive(Default)]
struct Counters {
    sync_ok: AtomicU64,
    event_ok: AtomicU64,
    control_ok: AtomicU64,
    throttled: AtomicU64,
    errors: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

impl Counters {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().expect("not poisoned") = Some(what);
    }

    fn snapshot(&self) -> [u64; 5] {
        [&self.sync_ok, &self.event_ok, &self.control_ok, &self.throttled, &self.errors]
            .map(|c| c.load(Ordering::Relaxed))
    }
}

pub async fn run(seconds: f64, interval: f64) -> anyhow::Result<()> {
    if !(seconds > 0.0 && interval > 0.0 && interval < seconds) {
        bail!("--soak needs a positive length longer than --soak-interval");
    }
    let bin = testkit::versa_binary();
    let dir = tempfile::Builder::new().prefix("versa-soak-").tempdir()?;
    let server = testkit::ServerProcess::spawn_with(&bin, dir.path(), &["--auth", "sigv4"]);
    let key = root_key(dir.path()).await?;
    let result = soak(server.addr, server.pid(), &key, seconds, interval).await;
    drop(server);
    result
}

/// The root key `--auth sigv4` wrote into `dir`'s credentials file (waits for the server to write it).
pub async fn root_key(dir: &std::path::Path) -> anyhow::Result<Key> {
    let path = server::credentials::credentials_path(dir);
    for _ in 0..200 {
        if let Ok((id, secret)) = server::credentials::read_file(&path) {
            return Ok(Key { id, secret, token: None });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{} was not written", path.display())
}

/// `VmRSS` of `pid`, in MB.
fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/<pid>/status")?;
    Ok(kb / 1024.0)
}

/// (live environments from `/_versa/health`, events waiting in the queue from `/metrics`).
async fn probe(addr: SocketAddr) -> (String, String) {
    let mut c = testkit::http::Client::new(addr);
    let envs = match c.send("GET", "/_versa/health", &[], b"").await {
        Ok(r) if r.status == 200 => r.json()["environments"].to_string(),
        _ => "?".to_owned(),
    };
    let queued = match c.send("GET", "/metrics", &[], b"").await {
        Ok(r) if r.status == 200 => r
            .text()
            .lines()
            .find_map(|l| l.strip_prefix("versa_async_events_queued ").map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| "?".to_owned()),
        _ => "?".to_owned(),
    };
    (envs, queued)
}

async fn soak(addr: SocketAddr, pid: u32, key: &Key, seconds: f64, interval: f64) -> anyhow::Result<()> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let prefix = format!("vs{:08x}", nanos as u32);
    let (echo, events_fn, control_fn) = (format!("{prefix}-echo"), format!("{prefix}-async"), format!("{prefix}-ctl"));
    create_function(addr, key, &echo, false, true).await?;
    create_function(addr, key, &events_fn, false, false).await?;
    create_function(addr, key, &control_fn, false, true).await?;
    {
        // Version 2 of the control function, for UpdateAlias to alternate between.
        let mut c = Signed::new(addr, key);
        let base = format!("/2015-03-31/functions/{control_fn}");
        c.lambda("PUT", &format!("{base}/configuration"), br#"{"Description":"v2"}"#).await?;
        let r = c.lambda("POST", &format!("{base}/versions"), b"{}").await?;
        if r.status != 201 {
            bail!("publish v2: {} {}", r.status, r.text());
        }
    }

    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let sync_path = format!("/2015-03-31/functions/{echo}/invocations?Qualifier=live");
    for _ in 0..SYNC_CLIENTS {
        let (c, stop, key, path) = (counters.clone(), stop.clone(), key.clone(), sync_path.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Signed::new(addr, &key);
            while !stop.load(Ordering::Relaxed) {
                match client.lambda("POST", &path, br#"{"hello":"world"}"#).await {
                    Ok(r) if r.status == 200 && r.header("x-amz-function-error").is_none() => {
                        c.sync_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) if r.status == 429 => throttled(&c, &r).await,
                    Ok(r) => c.error(format!("sync invoke: {} {}", r.status, r.text())),
                    Err(e) => c.error(format!("sync invoke: {e}")),
                }
            }
        }));
    }
    let event_path = format!("/2015-03-31/functions/{events_fn}/invocations");
    for _ in 0..EVENT_CLIENTS {
        let (c, stop, key, path) = (counters.clone(), stop.clone(), key.clone(), event_path.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Signed::new(addr, &key);
            let headers = [("x-amz-invocation-type", "Event")];
            while !stop.load(Ordering::Relaxed) {
                match client.call("lambda", "POST", &path, &headers, br#"{"hello":"world"}"#).await {
                    Ok(r) if r.status == 202 => {
                        c.event_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) if r.status == 429 => throttled(&c, &r).await,
                    Ok(r) => c.error(format!("event invoke: {} {}", r.status, r.text())),
                    Err(e) => c.error(format!("event invoke: {e}")),
                }
            }
        }));
    }
    {
        let (c, stop, key) = (counters.clone(), stop.clone(), key.clone());
        let base = format!("/2015-03-31/functions/{control_fn}");
        tasks.push(tokio::spawn(async move {
            let mut client = Signed::new(addr, &key);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let (method, path, body) = if i.is_multiple_of(2) {
                    ("PUT", format!("{base}/aliases/live"), format!(r#"{{"FunctionVersion":"{}"}}"#, 1 + (i / 2) % 2))
                } else {
                    ("PUT", format!("{base}/configuration"), format!(r#"{{"Description":"soak {i}"}}"#))
                };
                match client.lambda(method, &path, body.as_bytes()).await {
                    Ok(r) if r.status == 200 => {
                        c.control_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) if r.status == 429 => throttled(&c, &r).await,
                    Ok(r) => c.error(format!("{method} {path}: {} {}", r.status, r.text())),
                    Err(e) => c.error(format!("{method} {path}: {e}")),
                }
                tokio::time::sleep(CONTROL_GAP).await;
            }
        }));
    }

    println!(
        "\nSoak: {seconds:.0} s against versa (pid {pid}, --auth sigv4); {SYNC_CLIENTS} sync + {EVENT_CLIENTS} Event \
         clients + 1 control-plane writer"
    );
    println!(
        "{:>7} {:>8} {:>6} {:>9} {:>9} {:>8} {:>9} {:>7} {:>7}",
        "t s", "RSS MB", "envs", "sync/s", "events/s", "queued", "writes/s", "429s", "errors"
    );
    let start = Instant::now();
    let rss_start = rss_mb(pid)?;
    let (envs, queued) = probe(addr).await;
    println!("{:>7.0} {:>8.1} {envs:>6} {:>9} {:>9} {queued:>8}", 0.0, rss_start, "-", "-");
    let mut previous = counters.snapshot();
    let mut last_tick = start;
    let mut after_warmup = None;
    let mut rss_now = rss_start;
    let mut ticks = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        ticks += 1;
        let next = (ticks as f64 * interval).min(seconds);
        let wait = next - start.elapsed().as_secs_f64();
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        let now = counters.snapshot();
        let dt = last_tick.elapsed().as_secs_f64().max(1e-9);
        last_tick = Instant::now();
        let d: Vec<u64> = now.iter().zip(previous).map(|(n, p)| n - p).collect();
        previous = now;
        rss_now = rss_mb(pid).context("the server is gone")?;
        after_warmup.get_or_insert(rss_now);
        let (envs, queued) = probe(addr).await;
        println!(
            "{:>7.0} {:>8.1} {envs:>6} {:>9.0} {:>9.0} {queued:>8} {:>9.1} {:>7} {:>7}",
            start.elapsed().as_secs_f64(),
            rss_now,
            d[0] as f64 / dt,
            d[1] as f64 / dt,
            d[2] as f64 / dt,
            d[3],
            d[4]
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let [sync, events, writes, throttles, errors] = counters.snapshot();
    let warm = after_warmup.unwrap_or(rss_start);
    let allowed = RSS_GROWTH_MAX_MB.max(warm * RSS_GROWTH_MAX_FRACTION);
    let growth = rss_now - warm;
    println!(
        "\ntotal: {sync} sync invokes, {events} Event invokes accepted, {writes} control-plane writes, \
         {throttles} 429s, {errors} errors"
    );
    println!(
        "RSS: {rss_start:.1} MB at start, {warm:.1} MB after warm-up ({interval:.0} s), {rss_now:.1} MB at the end: \
         growth {growth:+.1} MB, allowed ≤ {allowed:.1} MB (max of {RSS_GROWTH_MAX_MB} MB and {:.0}% of the warm RSS)",
        RSS_GROWTH_MAX_FRACTION * 100.0
    );
    if let Some(e) = counters.last_error.lock().expect("not poisoned").as_ref() {
        println!("last error: {e}");
    }
    if growth > allowed {
        bail!("soak FAILED: RSS grew {growth:.1} MB after warm-up (allowed {allowed:.1} MB)");
    }
    if errors > 0 {
        bail!("soak FAILED: {errors} requests failed (other than 429)");
    }
    println!("soak passed");
    Ok(())
}

/// Counts a 429 and waits as it asks.
async fn throttled(c: &Counters, r: &testkit::http::Response) {
    c.throttled.fetch_add(1, Ordering::Relaxed);
    let pause = r.header("retry-after").and_then(|s| s.trim().parse::<f64>().ok()).map(Duration::from_secs_f64);
    tokio::time::sleep(pause.unwrap_or(THROTTLE_PAUSE).min(Duration::from_secs(5))).await;
}
