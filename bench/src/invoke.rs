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
    key: Option<testkit::Key>,
) -> anyhow::Result<()> {
    let signer = Signer { key, addr };
    let fixtures = setup(&signer, prefix).await?;
    let length = Duration::from_secs_f64(seconds);
    let signed = if signer.key.is_some() { "every request signed and verified" } else { "unsigned (--auth off)" };
    println!("\nWarm invokes through alias `{ALIAS}` ({seconds:.1} s per run; {signed}; latencies in µs):");
    println!(
        "{:<26} {:>7} {:>9} {:>7} {:>7} {:>7} {:>10}  target",
        "function", "clients", "ops/s", "p50", "p99", "errors", "Versa/bare"
    );
    // The bare Runtime API loop (bare.rs), measured between Versa's runs at each level.
    let echo = testkit::built_binary("fixture-rust-echo");
    let most = clients.iter().copied().max().unwrap_or(1);
    let bare = crate::bare::Bare::start(&echo, most).await?;
    let mut bare_ops = std::collections::HashMap::new();
    for f in &fixtures {
        for &n in clients {
            let s = warm(&signer, &f.name, n, length).await?;
            let ops = s.ok as f64 / s.elapsed.as_secs_f64();
            let ratio = if f.label.starts_with("provided") {
                let b = warm_bare(bare.addr, n, length).await?;
                let b_ops = b.ok as f64 / b.elapsed.as_secs_f64();
                bare_ops.insert(n, b);
                format!("{:.2}", ops / b_ops.max(1.0))
            } else {
                "-".to_owned()
            };
            println!(
                "{:<26} {:>7} {:>9.0} {:>7} {:>7} {:>7} {:>10}  ≥{TARGET_WARM_OPS:.0}/s {}",
                f.label,
                n,
                ops,
                pct(&s.latencies, 50.0),
                pct(&s.latencies, 99.0),
                s.errors,
                ratio,
                if ops >= TARGET_WARM_OPS { "ok" } else { "MISS" }
            );
        }
    }
    for &n in clients {
        if let Some(b) = bare_ops.get(&n) {
            println!(
                "{:<26} {:>7} {:>9.0} {:>7} {:>7} {:>7}",
                "bare runtime API loop",
                n,
                b.ok as f64 / b.elapsed.as_secs_f64(),
                pct(&b.latencies, 50.0),
                pct(&b.latencies, 99.0),
                b.errors
            );
        }
    }
    drop(bare);

    println!("\nPlatform overhead (end-to-end minus the REPORT Duration; 1 client; µs):");
    println!("{:<26} {:>7} {:>7} {:>7} {:>9}  target", "function", "p50", "p99", "e2e p50", "samples");
    for f in &fixtures {
        let (overhead, e2e) = overhead(&signer, &f.name, 2000).await?;
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

    if cold_samples == 0 {
        return Ok(());
    }
    println!("\nCold start (first invoke of a newly published version, end to end; ms):");
    println!("{:<26} {:>7} {:>7} {:>7} {:>9}  target", "function", "p50", "p99", "max", "samples");
    for f in &fixtures {
        let mut ms = cold(&signer, &f.name, cold_samples).await?;
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

/// Signs requests with the root key under `--auth sigv4` (inside the timed window, as an SDK
/// would), else sends them unsigned.
struct Signer {
    key: Option<testkit::Key>,
    addr: SocketAddr,
}

impl Signer {
    fn headers(
        &self,
        method: &str,
        path: &str,
        extra: &[(&'static str, &'static str)],
        body: &[u8],
    ) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let Some(key) = &self.key else { return out };
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::HOST,
            http::HeaderValue::from_str(&self.addr.to_string()).expect("an address is a host"),
        );
        let params = sigv4::SigningParams {
            credentials: sigv4::Credentials { access_key_id: &key.id, secret: &key.secret, session_token: None },
            region: "us-east-1",
            service: "lambda",
            time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
            mode: sigv4::UriMode::Normalized,
        };
        let (p, q) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        let method = http::Method::from_bytes(method.as_bytes()).expect("a method");
        out.extend(sigv4::sign(&method, p, q, &h, &params, sigv4::SignPayload::Body(body)).headers);
        out
    }

    async fn send(
        &self,
        c: &mut Client,
        method: &str,
        path: &str,
        extra: &[(&'static str, &'static str)],
        body: &[u8],
    ) -> std::io::Result<testkit::http::Response> {
        let h = self.headers(method, path, extra, body);
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        c.send(method, path, &h, body).await
    }
}

/// The alias every fixture is invoked through (version 1).
const ALIAS: &str = "live";

async fn setup(signer: &Signer, prefix: &str) -> anyhow::Result<Vec<Fixture>> {
    let addr = signer.addr;
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
        let r = signer.send(&mut client, "POST", "/2015-03-31/functions", HEADERS, body.to_string().as_bytes()).await?;
        if r.status != 201 {
            bail!("create {name}: {} {}", r.status, r.text());
        }
        let r =
            signer.send(&mut client, "POST", &format!("/2015-03-31/functions/{name}/versions"), HEADERS, b"{}").await?;
        if r.status != 201 {
            bail!("publish {name}: {} {}", r.status, r.text());
        }
        let alias = format!(r#"{{"Name":"{ALIAS}","FunctionVersion":"1"}}"#);
        let r = signer
            .send(&mut client, "POST", &format!("/2015-03-31/functions/{name}/aliases"), HEADERS, alias.as_bytes())
            .await?;
        if r.status != 201 {
            bail!("alias {name}: {} {}", r.status, r.text());
        }
        out.push(Fixture { name, label });
    }
    Ok(out)
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) ok: u64,
    errors: u64,
    latencies: Vec<u64>,
    pub(crate) elapsed: Duration,
}

fn pct(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((q / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn warm(signer: &Signer, name: &str, clients: usize, length: Duration) -> anyhow::Result<Stats> {
    let path = format!("/2015-03-31/functions/{name}/invocations?Qualifier={ALIAS}");
    loop_clients(Signer { key: signer.key.clone(), addr: signer.addr }, path, clients, length).await
}

pub(crate) async fn warm_bare(addr: SocketAddr, clients: usize, length: Duration) -> anyhow::Result<Stats> {
    loop_clients(Signer { key: None, addr }, "/invoke".to_owned(), clients, length).await
}

/// `clients` tasks, each on its own keep-alive connection, sending `POST path` back to back
/// for `length` after one untimed call each (all at once, so each ends up with an
/// environment of its own).
async fn loop_clients(signer: Signer, path: String, clients: usize, length: Duration) -> anyhow::Result<Stats> {
    let (signer, path) = (Arc::new(signer), Arc::new(path));
    let barrier = Arc::new(Barrier::new(clients));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (signer, path, barrier) = (signer.clone(), path.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(signer.addr);
            let _ = signer.send(&mut c, "POST", &path, HEADERS, b"{}").await;
            barrier.wait().await;
            let mut s = Stats::default();
            let start = Instant::now();
            while start.elapsed() < length {
                let t = Instant::now();
                match signer.send(&mut c, "POST", &path, HEADERS, br#"{"hello":"world"}"#).await {
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
async fn overhead(signer: &Signer, name: &str, samples: usize) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
    let path = format!("/2015-03-31/functions/{name}/invocations?Qualifier={ALIAS}");
    let headers = [("content-type", "application/json"), ("x-amz-log-type", "Tail")];
    let mut c = Client::new(signer.addr);
    let _ = signer.send(&mut c, "POST", &path, &headers, b"{}").await?;
    let (mut over, mut e2e) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let t = Instant::now();
        let r = signer.send(&mut c, "POST", &path, &headers, br#"{"hello":"world"}"#).await?;
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
async fn cold(signer: &Signer, name: &str, samples: usize) -> anyhow::Result<Vec<f64>> {
    let mut c = Client::new(signer.addr);
    let mut out = Vec::new();
    for i in 0..samples {
        let body = format!(r#"{{"Description":"cold {i}"}}"#);
        let r = signer
            .send(&mut c, "PUT", &format!("/2015-03-31/functions/{name}/configuration"), HEADERS, body.as_bytes())
            .await?;
        if r.status != 200 {
            bail!("update: {} {}", r.status, r.text());
        }
        let r = signer.send(&mut c, "POST", &format!("/2015-03-31/functions/{name}/versions"), HEADERS, b"{}").await?;
        let version = r.json()["Version"].as_str().unwrap_or_default().to_owned();
        let path = format!("/2015-03-31/functions/{name}/invocations?Qualifier={version}");
        let t = Instant::now();
        let r = signer.send(&mut c, "POST", &path, HEADERS, b"{}").await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if r.status != 200 || r.header("x-amz-function-error").is_some() {
            bail!("cold invoke: {} {}", r.status, r.text());
        }
        out.push(ms);
    }
    Ok(out)
}
