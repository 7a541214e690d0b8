//! `--slow-clients N`: does a well-behaved client still get answers while N connections sit
//! idle with half a request head sent (slowloris)?
//!
//! 1. N connections are opened (64 connects in flight at once, each given
//!    [`CONNECT_TIMEOUT`]); each sends the first line and one header of a request and then
//!    nothing, keeping its socket open.
//! 2. For `--seconds`, a normal client alternates `GET /_versa/health` and ListFunctions, each
//!    on a NEW connection (what a new client needs is a free slot), one after the other, each
//!    given [`REQUEST_TIMEOUT`]. Latency includes the connect.
//! 3. Every slow connection is then checked: closed by the server (EOF or reset), answered
//!    (the server wrote something, e.g. a 408), or still open.
//!
//! The requirement: with 5,000 slow connections a normal client is answered within a
//! second (look at `max`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Connects in flight at once while opening the slow connections.
const CONNECTS_IN_FLIGHT: usize = 64;
/// A slow connection that is not accepted by then counts as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A normal request not answered by then counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a slow client sends before stalling: the request line and one header, no blank line.
const HALF_HEAD: &[u8] = b"GET /_versa/health HTTP/1.1\r\nhost: localhost\r\nx-slow: ";

const AUTHORIZATION: &str =
    "AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0";

pub async fn run(addr: SocketAddr, slow: usize, seconds: f64) -> anyhow::Result<()> {
    eprintln!("opening {slow} slow connections to {addr}");
    let opened = Instant::now();
    let mut streams: Vec<TcpStream> = Vec::with_capacity(slow);
    let mut refused = 0usize;
    let mut first_error: Option<String> = None;
    let mut pending = tokio::task::JoinSet::new();
    let mut started = 0usize;
    while started < slow || !pending.is_empty() {
        while started < slow && pending.len() < CONNECTS_IN_FLIGHT {
            started += 1;
            pending.spawn(async move {
                let mut s = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                    .await
                    .map_err(|_| "connect timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
                s.write_all(HALF_HEAD).await.map_err(|e| e.to_string())?;
                Ok::<TcpStream, String>(s)
            });
        }
        match pending.join_next().await {
            Some(Ok(Ok(s))) => streams.push(s),
            Some(Ok(Err(e))) => {
                refused += 1;
                first_error.get_or_insert(e);
            }
            Some(Err(e)) => return Err(e).context("connect task"),
            None => {}
        }
    }
    eprintln!(
        "{} slow connections open, {refused} not ({:.1} s){}",
        streams.len(),
        opened.elapsed().as_secs_f64(),
        first_error.map(|e| format!("; first error: {e}")).unwrap_or_default()
    );

    let mut latencies_us: Vec<u64> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let window = Duration::from_secs_f64(seconds);
    let measuring = Instant::now();
    let mut i = 0u64;
    while measuring.elapsed() < window {
        let path = if i.is_multiple_of(2) { "/_versa/health" } else { "/2015-03-31/functions/" };
        i += 1;
        let t = Instant::now();
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut client = testkit::http::Client::new(addr);
            client.send("GET", path, &[("authorization", AUTHORIZATION)], b"").await
        })
        .await;
        match answer {
            Ok(Ok(r)) if r.status == 200 => latencies_us.push(t.elapsed().as_micros() as u64),
            Ok(Ok(r)) => failures.push(format!("GET {path}: status {}", r.status)),
            Ok(Err(e)) => failures.push(format!("GET {path}: {e}")),
            Err(_) => failures.push(format!("GET {path}: no answer in {} s", REQUEST_TIMEOUT.as_secs())),
        }
    }

    let (mut closed, mut answered, mut open) = (0usize, 0usize, 0usize);
    let mut buf = [0u8; 256];
    for s in &streams {
        // Let the readiness of each socket be known before looking.
        let _ = tokio::time::timeout(Duration::from_millis(1), s.readable()).await;
        match s.try_read(&mut buf) {
            Ok(0) => closed += 1,
            Ok(_) => answered += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            Err(_) => closed += 1,
        }
    }
    drop(streams);

    latencies_us.sort_unstable();
    let pct = |p: f64| -> String {
        if latencies_us.is_empty() {
            return "-".to_owned();
        }
        let n = latencies_us.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        format!("{:.1}", latencies_us[rank.clamp(1, n) - 1] as f64 / 1000.0)
    };
    println!();
    println!(
        "slow clients: {slow} attempted, {} connected, {refused} not connected within {} s",
        slow - refused,
        CONNECT_TIMEOUT.as_secs()
    );
    println!(
        "normal client ({:.1} s, GET /_versa/health and ListFunctions alternately, a new connection each): {} \
         answered 200, {} failed",
        window.as_secs_f64(),
        latencies_us.len(),
        failures.len()
    );
    println!("latency ms (answered, incl. connect): p50 {}  p99 {}  max {}", pct(50.0), pct(99.0), pct(100.0));
    println!(
        "slow connections after the run: {closed} closed by the server, {answered} answered by it, {open} still open"
    );
    for f in failures.iter().take(5) {
        println!("failure: {f}");
    }
    Ok(())
}
