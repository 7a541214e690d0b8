//! The asynchronous-invocation benchmark (`--events`): how fast `Event` invokes are accepted
//! (each is durably queued before its 202), how fast the worker executes them, and the latency
//! from the 202 to the start of execution.
//!
//! Every client sends `X-Amz-Invocation-Type: Event` invokes back to back for the run's length,
//! noting each request id and when its 202 arrived. Then the benchmark waits for the server's
//! queue gauge (`versa_async_events_queued`) to reach 0 and reads the function's log through the
//! logs API (FilterLogEvents for `START` lines, whose timestamps are when each invocation
//! started, in milliseconds) until every accepted event has started. `measure` serves both
//! `--events` (unsigned) and the guard (signed).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use testkit::Key;
use testkit::http::Client;
use tokio::sync::Barrier;

use crate::suite::{Signed, percentile};

const ROLE: &str = "arn:aws:iam::123456789012:role/r";
/// Longest wait for the accepted events to have started.
const DRAIN_MAX: Duration = Duration::from_secs(300);
/// Fewest events left when sending stopped for [`Run::drained_per_s`] to be measured.
const DRAINED_MIN: usize = 1000;

pub async fn run(addr: SocketAddr, prefix: &str, clients: &[usize], seconds: f64) -> anyhow::Result<()> {
    let name = format!("{prefix}-async");
    setup(addr, &name).await?;
    println!("\nAsynchronous invokes (provided echo; {seconds:.1} s of sending per run; latency 202 → START in ms):");
    println!(
        "{:>7} {:>9} {:>12} {:>12} {:>11} {:>7} {:>7} {:>7} {:>9}",
        "clients", "accepted", "accepted/s", "executed/s", "drained/s", "p50", "p99", "max", "drain s"
    );
    for &n in clients {
        let run = measure(addr, None, &name, n, Duration::from_secs_f64(seconds), None, None).await?;
        let latencies = run.latencies();
        println!(
            "{:>7} {:>9} {:>12.0} {:>12.0} {:>11} {:>7.0} {:>7.0} {:>7.0} {:>9.2}",
            n,
            run.accepted.len(),
            run.accepted_per_s(),
            run.executed_per_s(),
            run.drained_per_s().map_or_else(|| "-".to_owned(), |d| format!("{d:.0}")),
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            percentile(&latencies, 100.0),
            run.drain.as_secs_f64(),
        );
    }
    Ok(())
}

/// One run of Event invokes: when each accepted event's 202 arrived and when it started.
pub struct Run {
    /// Request id → epoch milliseconds (fractional) at which its 202 arrived.
    pub accepted: HashMap<String, f64>,
    /// Request id → epoch milliseconds of its `START` line.
    pub started: HashMap<String, i64>,
    /// From the last client's end to the last event's start being seen.
    pub drain: Duration,
    /// CPU seconds the server process used from the first send until the queue was empty
    /// (when its pid was given).
    pub server_cpu_s: Option<f64>,
}

impl Run {
    fn first_accept(&self) -> f64 {
        self.accepted.values().copied().fold(f64::MAX, f64::min)
    }

    fn last_accept(&self) -> f64 {
        self.accepted.values().copied().fold(0.0, f64::max)
    }

    /// Events accepted per second of sending.
    pub fn accepted_per_s(&self) -> f64 {
        self.accepted.len() as f64 / ((self.last_accept() - self.first_accept()) / 1000.0).max(0.001)
    }

    /// Events started per second, from the first 202 to the last start (or the last 202).
    pub fn executed_per_s(&self) -> f64 {
        let last_start = self.started.values().copied().max().unwrap_or(0) as f64;
        self.accepted.len() as f64 / ((last_start.max(self.last_accept()) - self.first_accept()) / 1000.0).max(0.001)
    }

    /// Events started per second once sending stopped: those that started after the last 202,
    /// from it to the last start. The queue drains then with no 202s to answer, so this is the
    /// execution rate alone. `None` when fewer than [`DRAINED_MIN`] were left: execution kept up
    /// with the sending ([`Run::drain_figure`] then takes [`Run::executed_per_s`]).
    pub fn drained_per_s(&self) -> Option<f64> {
        let last_accept = self.last_accept();
        let (after, last_start) = self
            .started
            .values()
            .map(|&s| s as f64)
            .filter(|&s| s > last_accept)
            .fold((0usize, last_accept), |(n, last), s| (n + 1, last.max(s)));
        let span_s = (last_start - last_accept) / 1000.0;
        (after >= DRAINED_MIN && span_s > 0.0).then(|| after as f64 / span_s)
    }

    /// The guard's drain figure: [`Run::drained_per_s`], or, when execution kept up with the
    /// sending, [`Run::executed_per_s`] (a lower bound of the drain rate).
    pub fn drain_figure(&self) -> f64 {
        self.drained_per_s().unwrap_or_else(|| self.executed_per_s())
    }

    /// 202 → START of every event, in milliseconds, sorted.
    pub fn latencies(&self) -> Vec<f64> {
        let mut l: Vec<f64> =
            self.accepted.iter().filter_map(|(id, t)| self.started.get(id).map(|s| (*s as f64 - t).max(0.0))).collect();
        l.sort_by(f64::total_cmp);
        l
    }
}

/// Event invokes of `name` from `clients` clients for `length` (each pausing `gap` between
/// invokes, or none), signed with `key` when given; waits until every accepted event started.
/// With `server` (the server's pid), also what CPU time the server spent on them.
pub async fn measure(
    addr: SocketAddr,
    key: Option<&Key>,
    name: &str,
    clients: usize,
    length: Duration,
    gap: Option<Duration>,
    server: Option<u32>,
) -> anyhow::Result<Run> {
    let path = Arc::new(format!("/2015-03-31/functions/{name}/invocations"));
    // The clients and this task: the CPU clock is read when every client is ready to send.
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (path, barrier) = (path.clone(), barrier.clone());
        let mut c = Signed::maybe(addr, key);
        tasks.push(tokio::spawn(async move {
            let headers = [("x-amz-invocation-type", "Event")];
            let mut out = Vec::new();
            barrier.wait().await;
            let start = Instant::now();
            while start.elapsed() < length {
                let r = c.call("lambda", "POST", &path, &headers, br#"{"hello":"world"}"#).await?;
                if r.status != 202 {
                    bail!("event invoke: {} {}", r.status, r.text());
                }
                let id = r.header("x-amzn-requestid").context("no request id")?.to_owned();
                out.push((id, epoch_ms()));
                if let Some(g) = gap {
                    tokio::time::sleep(g).await;
                }
            }
            Ok(out)
        }));
    }
    barrier.wait().await;
    let cpu_before = server.and_then(crate::suite::cpu_seconds);
    // Request id → epoch milliseconds (fractional) at which its 202 arrived.
    let mut accepted = HashMap::new();
    for t in tasks {
        accepted.extend(t.await??);
    }
    let first_accept = accepted.values().copied().fold(f64::MAX, f64::min);
    let drain_from = Instant::now();
    wait_queue_empty(addr, drain_from + DRAIN_MAX).await?;
    let server_cpu_s = crate::suite::cpu_since(server, cpu_before);
    let started = wait_started(addr, key, name, &accepted, first_accept as i64 - 1000).await?;
    Ok(Run { accepted, started, drain: drain_from.elapsed(), server_cpu_s })
}

async fn setup(addr: SocketAddr, name: &str) -> anyhow::Result<()> {
    let echo = std::fs::read(testkit::built_binary("fixture-rust-echo")).context("the Rust echo fixture")?;
    let zip = testkit::zip::build(&[testkit::zip::Entry::File { name: "bootstrap", data: &echo, mode: 0o755 }]);
    let body = serde_json::json!({
        "FunctionName": name, "Runtime": "provided.al2023", "Role": ROLE, "Handler": "bootstrap",
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(&zip)},
    });
    let mut c = Client::new(addr);
    let r = c.send("POST", "/2015-03-31/functions", &[], body.to_string().as_bytes()).await?;
    if r.status != 201 {
        bail!("create {name}: {} {}", r.status, r.text());
    }
    let r = c.send("POST", &format!("/2015-03-31/functions/{name}/invocations"), &[], b"{}").await?;
    if r.status != 200 {
        bail!("warm-up invoke: {} {}", r.status, r.text());
    }
    Ok(())
}

/// How often [`wait_queue_empty`] reads the queue's gauge.
const QUEUE_POLL: Duration = Duration::from_millis(50);

/// Waits until the server's event queue is empty (`versa_async_events_queued` of an unsigned
/// `GET /metrics` is 0: every accepted event has run), or the server records no metrics, or
/// `deadline`. Reading one gauge costs the server little; reading every `START` line again
/// every 200 ms while the queue drained took CPU from the executions being measured.
async fn wait_queue_empty(addr: SocketAddr, deadline: Instant) -> anyhow::Result<()> {
    let mut c = Client::new(addr);
    while Instant::now() < deadline {
        let r = c.send("GET", "/metrics", &[], b"").await?;
        if r.status != 200 {
            return Ok(());
        }
        let queued = r
            .text()
            .lines()
            .find_map(|l| l.strip_prefix("versa_async_events_queued ").and_then(|v| v.trim().parse::<f64>().ok()));
        if queued.is_none_or(|q| q == 0.0) {
            return Ok(());
        }
        tokio::time::sleep(QUEUE_POLL).await;
    }
    Ok(())
}

/// Request id → epoch milliseconds of its `START` line, for every accepted event.
async fn wait_started(
    addr: SocketAddr,
    key: Option<&Key>,
    name: &str,
    accepted: &HashMap<String, f64>,
    since_ms: i64,
) -> anyhow::Result<HashMap<String, i64>> {
    let group = format!("/aws/lambda/{name}");
    let began = Instant::now();
    let mut c = Signed::maybe(addr, key);
    loop {
        let mut started = HashMap::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = serde_json::json!({ "logGroupName": group, "startTime": since_ms, "filterPattern": "START" });
            if let Some(t) = &token {
                req["nextToken"] = serde_json::json!(t);
            }
            let headers =
                [("x-amz-target", "Logs_20140328.FilterLogEvents"), ("content-type", "application/x-amz-json-1.1")];
            let r = c.call("logs", "POST", "/", &headers, req.to_string().as_bytes()).await?;
            if r.status != 200 {
                bail!("FilterLogEvents: {} {}", r.status, r.text());
            }
            let v = r.json();
            for e in v["events"].as_array().into_iter().flatten() {
                let msg = e["message"].as_str().unwrap_or_default();
                if let Some(id) = msg.strip_prefix("START RequestId: ").and_then(|m| m.split_whitespace().next())
                    && accepted.contains_key(id)
                {
                    started.insert(id.to_owned(), e["timestamp"].as_i64().unwrap_or(0));
                }
            }
            token = v["nextToken"].as_str().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        if started.len() >= accepted.len() {
            return Ok(started);
        }
        if began.elapsed() > DRAIN_MAX {
            bail!("only {} of {} accepted events started within {DRAIN_MAX:?}", started.len(), accepted.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn epoch_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` events accepted at 0..n ms and started `lag` ms after their acceptance.
    fn run(n: usize, lag: i64) -> Run {
        let accepted = (0..n).map(|i| (format!("r{i}"), i as f64)).collect();
        let started = (0..n).map(|i| (format!("r{i}"), i as i64 + lag)).collect();
        Run { accepted, started, drain: Duration::ZERO, server_cpu_s: None }
    }

    #[test]
    fn the_drain_rate_counts_only_the_starts_after_the_last_202() {
        // 3,000 events accepted one per ms (0..2999) and each started 2,000 ms later: the
        // 2,000 that start after the last 202 (at 2999) do so within the 2,000 ms from it.
        let r = run(3000, 2000);
        let drained = r.drained_per_s().expect("2,000 left to drain");
        assert!((drained - 1000.0).abs() < 1.0, "{drained}");
        // The whole run: 3,000 events from the first 202 to the last start, 4.999 s.
        assert!((r.executed_per_s() - 3000.0 / 4.999).abs() < 1.0);
    }

    #[test]
    fn too_few_left_at_the_end_is_no_drain_rate() {
        let kept_up = run(3000, 10);
        assert_eq!(kept_up.drained_per_s(), None);
        assert_eq!(kept_up.drain_figure(), kept_up.executed_per_s());
        assert_eq!(run(0, 0).drained_per_s(), None);
    }
}
