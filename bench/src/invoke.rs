//! The invoke benchmark (`--invoke`): warm latency and throughput, cold starts, and the
//! platform's own overhead, for a `provided` function (the stock `lambda_runtime` echo from
//! `crates/fixture-fns`) and a Python echo.
//!
//! - **warm**: every client sends `Invoke` back to back on its own keep-alive connection after
//!   one untimed call per client has warmed an environment for it; ops/s over the run, p50/p99.
//! - **cold start**: `UpdateFunctionConfiguration` + `PublishVersion`, then the first `Invoke`
//!   of the new version, timed end to end; one at a time.
//! - **overhead**: end-to-end latency minus the `Duration` of the invocation's `REPORT` line
//!   (the time from handing the event to the runtime until its answer), one client, with
//!   `X-Amz-Log-Type: Tail` to read the REPORT line. What remains is Versa's own cost:
//!   HTTP, qualifier resolution, queueing, log handling.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use testkit::http::Client;
use tokio::sync::Barrier;

const ROLE: &str = "arn:aws:iam::123456789012:role/r";
const HEADERS: &[(&str, &str)] = &[("content-type", "application/json")];
const PY_ECHO: &str = "def handler(event, context):\n    return event\n";
/// PRODUCT.md targets.
const TARGET_OVERHEAD_P50_US: u64 = 100;
const TARGET_OVERHEAD_P99_US: u64 = 1000;
const TARGET_COLD_P50_MS: f64 = 5.0;
const TARGET_COLD_PYTHON_P50_MS: f64 = 30.0;
const TARGET_WARM_OPS: f64 = 10_000.0;

struct Fixture {
    name: String,
    label: &'static str,
}

pub async fn run(
    addr: SocketAddr,
    prefix: &str,
    clients: &[usize],
    seconds: f64,
    cold_samples: usize,
) -> anyhow::Result<()> {
    let fixtures = setup(addr, prefix).await?;
    println!("\nWarm invokes ({seconds:.1} s per run; latencies in µs):");
    println!("{:<26} {:>7} {:>9} {:>7} {:>7} {:>7}  target", "function", "clients", "ops/s", "p50", "p99", "errors");
    for f in &fixtures {
        for &n in clients {
            let s = warm(addr, &f.name, n, Duration::from_secs_f64(seconds)).await?;
            let ops = s.ok as f64 / s.elapsed.as_secs_f64();
            println!(
                "{:<26} {:>7} {:>9.0} {:>7} {:>7} {:>7}  ≥{TARGET_WARM_OPS:.0}/s {}",
                f.label,
                n,
                ops,
                pct(&s.latencies, 50.0),
                pct(&s.latencies, 99.0),
                s.errors,
                if ops >= TARGET_WARM_OPS { "ok" } else { "MISS" }
            );
        }
    }

    println!("\nPlatform overhead (end-to-end minus the REPORT Duration; 1 client; µs):");
    println!("{:<26} {:>7} {:>7} {:>7} {:>9}  target", "function", "p50", "p99", "e2e p50", "samples");
    for f in &fixtures {
        let (overhead, e2e) = overhead(addr, &f.name, 2000).await?;
        println!(
            "{:<26} {:>7} {:>7} {:>7} {:>9}  p50 ≤{TARGET_OVERHEAD_P50_US} {}, p99 ≤{TARGET_OVERHEAD_P99_US} {}",
            f.label,
            pct(&overhead, 50.0),
            pct(&overhead, 99.0),
            pct(&e2e, 50.0),
            overhead.len(),
            if pct(&overhead, 50.0) <= TARGET_OVERHEAD_P50_US { "ok" } else { "MISS" },
            if pct(&overhead, 99.0) <= TARGET_OVERHEAD_P99_US { "ok" } else { "MISS" },
        );
    }

    println!("\nCold start (first invoke of a newly published version, end to end; ms):");
    println!("{:<26} {:>7} {:>7} {:>7} {:>9}  target", "function", "p50", "p99", "max", "samples");
    for f in &fixtures {
        let mut ms = cold(addr, &f.name, cold_samples).await?;
        ms.sort_by(f64::total_cmp);
        let p = |q: f64| ms[((q / 100.0 * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        let target = if f.label.starts_with("provided") {
            format!("p50 ≤{TARGET_COLD_P50_MS} {}", if p(50.0) <= TARGET_COLD_P50_MS { "ok" } else { "MISS" })
        } else {
            let ok = if p(50.0) <= TARGET_COLD_PYTHON_P50_MS { "ok" } else { "MISS" };
            format!("p50 ≤{TARGET_COLD_PYTHON_P50_MS} {ok}")
        };
        println!(
            "{:<26} {:>7.2} {:>7.2} {:>7.2} {:>9}  {target}",
            f.label,
            p(50.0),
            p(99.0),
            ms[ms.len() - 1],
            ms.len()
        );
    }
    Ok(())
}

async fn setup(addr: SocketAddr, prefix: &str) -> anyhow::Result<Vec<Fixture>> {
    let echo = std::fs::read(testkit::built_binary("fixture-rust-echo")).context("the Rust echo fixture")?;
    let rust_zip = testkit::zip::build(&[testkit::zip::Entry::File { name: "bootstrap", data: &echo, mode: 0o755 }]);
    let py_zip = testkit::zip::files(&[("index.py", PY_ECHO.as_bytes())]);
    let b64 = |z: &[u8]| base64::engine::general_purpose::STANDARD.encode(z);
    let mut client = Client::new(addr);
    let mut out = Vec::new();
    for (suffix, label, runtime, handler, zip) in [
        ("rust", "provided (lambda_runtime)", "provided.al2023", "bootstrap", b64(&rust_zip)),
        ("py", "python echo", "python3.12", "index.handler", b64(&py_zip)),
    ] {
        let name = format!("{prefix}-{suffix}");
        let body = serde_json::json!({
            "FunctionName": name, "Runtime": runtime, "Role": ROLE, "Handler": handler, "Code": {"ZipFile": zip},
        });
        let r = client.send("POST", "/2015-03-31/functions", HEADERS, body.to_string().as_bytes()).await?;
        if r.status != 201 {
            bail!("create {name}: {} {}", r.status, r.text());
        }
        out.push(Fixture { name, label });
    }
    Ok(out)
}

#[derive(Default)]
struct Stats {
    ok: u64,
    errors: u64,
    latencies: Vec<u64>,
    elapsed: Duration,
}

fn pct(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((q / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn warm(addr: SocketAddr, name: &str, clients: usize, length: Duration) -> anyhow::Result<Stats> {
    let path = Arc::new(format!("/2015-03-31/functions/{name}/invocations"));
    let barrier = Arc::new(Barrier::new(clients));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (path, barrier) = (path.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(addr);
            // Warm: all clients at once, so each ends up with an environment of its own.
            let _ = c.send("POST", &path, HEADERS, b"{}").await;
            barrier.wait().await;
            let mut s = Stats::default();
            let start = Instant::now();
            while start.elapsed() < length {
                let t = Instant::now();
                match c.send("POST", &path, HEADERS, br#"{"hello":"world"}"#).await {
                    Ok(r) if r.status == 200 && r.header("x-amz-function-error").is_none() => {
                        s.ok += 1;
                        s.latencies.push(t.elapsed().as_micros() as u64);
                    }
                    _ => s.errors += 1,
                }
            }
            s.elapsed = start.elapsed();
            s
        }));
    }
    let mut all = Stats::default();
    for t in tasks {
        let s = t.await?;
        all.ok += s.ok;
        all.errors += s.errors;
        all.latencies.extend(s.latencies);
        all.elapsed = all.elapsed.max(s.elapsed);
    }
    all.latencies.sort_unstable();
    Ok(all)
}

/// (overhead µs, end-to-end µs), both sorted.
async fn overhead(addr: SocketAddr, name: &str, samples: usize) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
    let path = format!("/2015-03-31/functions/{name}/invocations");
    let headers = [("content-type", "application/json"), ("x-amz-log-type", "Tail")];
    let mut c = Client::new(addr);
    let _ = c.send("POST", &path, &headers, b"{}").await?;
    let (mut over, mut e2e) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let t = Instant::now();
        let r = c.send("POST", &path, &headers, br#"{"hello":"world"}"#).await?;
        let total = t.elapsed().as_micros() as u64;
        let tail = r.header("x-amz-log-result").context("no log tail")?;
        let tail = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(tail)?)?;
        let duration_ms: f64 = tail
            .split('\t')
            .find_map(|f| f.strip_prefix("Duration: ")?.strip_suffix(" ms")?.parse().ok())
            .context("no Duration in REPORT")?;
        let inside = (duration_ms * 1000.0) as u64;
        over.push(total.saturating_sub(inside));
        e2e.push(total);
    }
    over.sort_unstable();
    e2e.sort_unstable();
    Ok((over, e2e))
}

/// Milliseconds of each cold start.
async fn cold(addr: SocketAddr, name: &str, samples: usize) -> anyhow::Result<Vec<f64>> {
    let mut c = Client::new(addr);
    let mut out = Vec::new();
    for i in 0..samples {
        let body = format!(r#"{{"Description":"cold {i}"}}"#);
        let r = c.send("PUT", &format!("/2015-03-31/functions/{name}/configuration"), HEADERS, body.as_bytes()).await?;
        if r.status != 200 {
            bail!("update: {} {}", r.status, r.text());
        }
        let r = c.send("POST", &format!("/2015-03-31/functions/{name}/versions"), HEADERS, b"{}").await?;
        let version = r.json()["Version"].as_str().unwrap_or_default().to_owned();
        let path = format!("/2015-03-31/functions/{name}/invocations?Qualifier={version}");
        let t = Instant::now();
        let r = c.send("POST", &path, HEADERS, b"{}").await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if r.status != 200 || r.header("x-amz-function-error").is_some() {
            bail!("cold invoke: {} {}", r.status, r.text());
        }
        out.push(ms);
    }
    Ok(out)
}
