//! `versa-bench`: throughput and latency of Versa's control plane, the Lambda management calls
//! behind deployments.
//!
//! **What is measured.** Five API calls, each in its own run, at each concurrency level of
//! `--clients` (default 1 and 16):
//!
//! | operation | request | kind |
//! |---|---|---|
//! | CreateFunction | `POST /2015-03-31/functions`, a new name each call, a ~200-byte zip | durable write |
//! | PublishVersion (unchanged) | `POST …/functions/{f}/versions` `{}` | write path, no new row |
//! | UpdateConfig+PublishVersion | `PUT …/configuration` then `POST …/versions`, timed as one | two durable writes, a new version |
//! | UpdateAlias | `PUT …/functions/{f}/aliases/live`, alternating versions 1 and 2 | durable write |
//! | GetAlias | `GET …/functions/{f}/aliases/live` | read |
//! | GetFunction ?Qualifier=alias | `GET …/functions/{f}?Qualifier=live` | read |
//!
//! Each client is one task with one keep-alive HTTP/1.1 connection (`testkit::http::Client`,
//! not an AWS SDK, whose own cost would dominate) sending its next request as soon as the
//! previous answer is read: closed loop, no pipelining. Every client owns one fixture function
//! (versions 1 and 2, alias `live`), so clients never contend on the same function or alias;
//! what they share is the server, its store and, for writes, the store's single writer thread.
//! PublishVersion runs on a function that has not changed since its last version, so, as on
//! AWS, each call answers the existing version: it measures the call, not version creation.
//!
//! **How to read the table.** `ops/s` counts calls answered with 2xx, over the wall time from
//! the first client's start to the last one's end. `p50`/`p99` are latencies of those calls
//! in microseconds, measured by the client (loopback, client and server share the CPUs).
//! `errors` are other statuses and connection failures; the first few messages are printed
//! under the table. A 2xx that is not AWS's status (moto answers GetAlias with 201) counts as
//! done and is listed under the table too. `target` is PRODUCT.md's goal for the control plane
//! (≥ 5,000 reads/s, ≥ 1,000 durable writes/s), stated for one raw-HTTP client, so the
//! `clients = 1` rows are the ones it judges. Writes are durable: SQLite in WAL mode fsyncs
//! every commit, and the store commits whatever writes are queued together, so concurrent
//! writers share fsyncs. In-process, the data dir is a temporary directory under `$TMPDIR`:
//! the disk behind it sets the write figures.
//!
//! With `--compare-moto` the same workload, same requests, runs against `python3 -m
//! moto.server` and a `Versa/moto` column gives the throughput ratio.
//!
//! Every request carries a SigV4-shaped `Authorization` header with a dummy signature (see
//! `workload.rs`); the benchmark needs changing once Versa verifies signatures.

mod bare;
mod cluster;
mod events;
mod guard;
mod invoke;
mod moto;
mod slow;
mod soak;
mod suite;
mod workload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use crate::workload::{Limit, Op, RunStats, Workload};

/// PRODUCT.md, "Targets": control plane with one raw-HTTP client.
const TARGET_READS_PER_SEC: f64 = 5_000.0;
const TARGET_WRITES_PER_SEC: f64 = 1_000.0;

/// Benchmarks Versa's control plane (CreateFunction, PublishVersion, UpdateAlias, GetAlias,
/// GetFunction by alias) over raw keep-alive HTTP/1.1.
#[derive(Debug, Parser)]
struct Args {
    /// Benchmark the server at this URL (`http://host:port`) instead of starting Versa
    /// in-process. Functions the benchmark creates are left behind.
    #[arg(long)]
    endpoint: Option<String>,
    /// Concurrency levels: clients, each with its own connection, per run.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    clients: Vec<usize>,
    /// Length of each run, in seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// End each run after this many calls per client instead of after `--seconds`.
    #[arg(long)]
    ops: Option<u64>,
    /// Run only these operations (comma-separated: create_function, publish_unchanged,
    /// update_publish, update_alias, get_alias, get_function); default all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also run the workload against moto (`python3 -m moto.server`, started and stopped here).
    #[arg(long)]
    compare_moto: bool,
    /// Benchmark invocations instead of the control plane: warm latency and throughput at
    /// `--clients` (default 1,8,64), cold starts and the platform's overhead. Needs the
    /// release binaries: `cargo build --release --workspace --bins`.
    #[arg(long)]
    invoke: bool,
    /// Benchmark asynchronous invocations instead: events accepted and executed per second at
    /// `--clients`, and the latency from the 202 to the start of execution. Needs the release
    /// binaries, like `--invoke`.
    #[arg(long, conflicts_with = "invoke")]
    events: bool,
    /// Verify requests (`sigv4`: the in-process server runs with `--auth sigv4` and every
    /// control-plane request is signed with its root key) or not (`off`).
    #[arg(long, default_value = "off", value_parser = ["off", "sigv4"])]
    auth: String,
    /// Hold this many idle connections with half a request head sent (slowloris) while a normal
    /// client calls the health endpoint and ListFunctions for `--seconds`; prints the normal
    /// client's latency and how many slow connections the server dropped.
    #[arg(long, conflicts_with_all = ["invoke", "events"])]
    slow_clients: Option<usize>,
    /// Benchmark these servers together (`http://host:port`, comma-separated: nodes sharing one
    /// store, or one node to compare): UpdateAlias, sync and Event invokes per second with the
    /// first `--clients` value's clients spread round robin over them.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["endpoint", "invoke", "events", "compare_moto"])]
    endpoints: Vec<String>,
    /// With `--endpoint URL --auth sigv4`: the server's credentials file (its data
    /// dir's `credentials`, written by `versa server --auth sigv4`) holding the key to sign with.
    #[arg(long, requires = "endpoint")]
    credentials_file: Option<std::path::PathBuf>,
    /// Cold starts measured per function with `--invoke` (and `--check`/`--save`).
    #[arg(long, default_value_t = 30)]
    cold_starts: usize,
    /// Regression guard: measure every figure of issue 16 (warm invokes beside a bare Runtime
    /// API loop, overhead, cold starts, Event invokes, control plane beside a raw SQLite commit
    /// loop; `--auth sigv4` and metrics on) and compare them with this baseline file; exits
    /// non-zero if a figure is worse than its baseline by more than its margin.
    #[arg(long, value_name = "BASELINE.json", conflicts_with_all = ["invoke", "events", "slow_clients", "endpoints", "endpoint", "compare_moto"])]
    check: Option<std::path::PathBuf>,
    /// Measure the guard's figures (as `--check`) and write them as a new baseline file.
    #[arg(long, value_name = "BASELINE.json", conflicts_with_all = ["check", "invoke", "events", "slow_clients", "endpoints", "endpoint", "compare_moto"])]
    save: Option<std::path::PathBuf>,
    /// With `--check`/`--save`: measure this many times and keep each figure's best value.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// With `--check`/`--save`: measure a `versa server` process (`$VERSA_BIN`, or the `versa`
    /// beside this binary) instead of the server linked in, so that one `versa-bench` measures
    /// any build (before/after). Compare only with a baseline recorded the same way.
    #[arg(long)]
    server_process: bool,
    /// With `--check`: multiply every baseline margin by this factor.
    #[arg(long, default_value_t = 1.0)]
    margin_scale: f64,
    /// Soak: full load (sync and Event invokes, control-plane writes) on a `versa server`
    /// process for this many seconds, reporting its RSS and throughput every
    /// `--soak-interval`; fails if RSS grows past a bound after the first interval.
    #[arg(long, value_name = "SECONDS", conflicts_with_all = ["check", "save", "invoke", "events", "slow_clients", "endpoints", "endpoint", "compare_moto"])]
    soak: Option<f64>,
    /// Seconds between the soak's reports; the first interval is its warm-up.
    #[arg(long, default_value_t = 60.0)]
    soak_interval: f64,
}

/// All runs against one server, in the order of `Op::ALL` × `--clients`.
struct Results {
    label: &'static str,
    runs: Vec<(Op, usize, RunStats)>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients needs one or more positive numbers");
    }
    let limit = match args.ops {
        Some(0) => bail!("--ops must be positive"),
        Some(n) => Limit::Ops(n),
        None if args.seconds.is_finite() && args.seconds > 0.0 => {
            Limit::Duration(Duration::from_secs_f64(args.seconds))
        }
        None => bail!("--seconds must be positive"),
    };
    // Unique per invocation, so runs against a long-lived `--endpoint` never collide.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    if let Some(seconds) = args.soak {
        return soak::run(seconds, args.soak_interval).await;
    }
    if args.check.is_some() || args.save.is_some() {
        return guard_run(&args).await;
    }
    if let Some(n) = args.slow_clients {
        // Both ends of every connection live in this process.
        let files = sandbox::raise_nofile_limit().context("cannot raise the open-files limit")?;
        if (files as usize) < 2 * n + 256 {
            bail!("the open-files limit is {files}, too low for {n} slow connections (both ends are here)");
        }
        return match &args.endpoint {
            Some(url) => slow::run(resolve(url).await?, n, args.seconds).await,
            None => {
                let server = testkit::TestServer::start().await;
                let r = slow::run(server.addr, n, args.seconds).await;
                server.stop().await;
                r
            }
        };
    }
    if !args.endpoints.is_empty() {
        let mut addrs = Vec::new();
        for url in &args.endpoints {
            addrs.push(resolve(url).await?);
        }
        let prefix = format!("vc{:08x}", nanos as u32);
        return cluster::run(&addrs, &prefix, args.clients[0], args.seconds).await;
    }
    if args.events {
        let prefix = format!("ve{:08x}", nanos as u32);
        return match &args.endpoint {
            Some(url) => events::run(resolve(url).await?, &prefix, &args.clients, args.seconds).await,
            None => {
                let server = testkit::TestServer::start().await;
                let r = events::run(server.addr, &prefix, &args.clients, args.seconds).await;
                server.stop().await;
                r
            }
        };
    }
    if args.invoke {
        let clients = if args.clients == [1, 16] { vec![1, 8, 64] } else { args.clients.clone() };
        let prefix = format!("vi{:08x}", nanos as u32);
        let sigv4 = args.auth == "sigv4";
        return match &args.endpoint {
            Some(url) => {
                let key = match (&args.credentials_file, sigv4) {
                    (Some(path), true) => {
                        let (id, secret) = server::credentials::read_file(path)?;
                        Some(testkit::Key { id, secret, token: None })
                    }
                    (None, true) => bail!("--auth sigv4 with --endpoint needs --credentials-file"),
                    _ => None,
                };
                invoke::run(resolve(url).await?, &prefix, &clients, args.seconds, args.cold_starts, key).await
            }
            None => {
                let server = testkit::TestServer::start_with(|c| {
                    if sigv4 {
                        c.auth = server::AuthMode::Sigv4;
                    }
                })
                .await;
                let key = if sigv4 { Some(server.root_key().await) } else { None };
                let r = invoke::run(server.addr, &prefix, &clients, args.seconds, args.cold_starts, key).await;
                server.stop().await;
                r
            }
        };
    }
    let sigv4 = args.auth == "sigv4";
    if sigv4 && args.compare_moto {
        bail!("--auth sigv4 cannot be compared with moto");
    }
    if sigv4 && args.endpoint.is_some() && args.credentials_file.is_none() {
        bail!("--auth sigv4 with --endpoint needs --credentials-file");
    }
    let server = if args.endpoint.is_some() {
        None
    } else {
        Some(
            testkit::TestServer::start_with(|c| {
                if sigv4 {
                    c.auth = server::AuthMode::Sigv4;
                }
            })
            .await,
        )
    };
    let key = match (&server, &args.credentials_file) {
        (Some(s), _) if sigv4 => Some(s.root_key().await),
        (None, Some(path)) if sigv4 => {
            let (id, secret) = server::credentials::read_file(path)?;
            Some(testkit::Key { id, secret, token: None })
        }
        _ => None,
    };
    let workload = Arc::new(Workload::new(format!("vb{:08x}", nanos as u32), key));

    let (versa, location) = match &args.endpoint {
        Some(url) => {
            let addr = resolve(url).await?;
            (bench(&workload, "Versa", addr, &args.clients, limit, &args.only).await?, format!("at {url}"))
        }
        None => {
            let server = server.expect("started above");
            let results = bench(&workload, "Versa", server.addr, &args.clients, limit, &args.only).await?;
            let dir = server.data_dir().display().to_string();
            server.stop().await;
            (results, format!("in-process, --auth {}, data dir {dir}", args.auth))
        }
    };
    let moto = if args.compare_moto {
        let moto = moto::Moto::start().await?;
        let results = bench(&workload, "moto", moto.addr, &args.clients, limit, &args.only).await;
        drop(moto);
        Some(results?)
    } else {
        None
    };

    let length = match limit {
        Limit::Duration(d) => format!("{:.1} s per run", d.as_secs_f64()),
        Limit::Ops(n) => format!("{n} calls per client per run"),
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!("Versa {location}; {length}; {cpus} CPUs shared by clients and server(s); latencies in µs.");
    print_table(&versa, moto.as_ref());
    println!();
    println!("target: PRODUCT.md control-plane goal for ONE raw-HTTP client; judge the clients=1 rows.");
    println!("PublishVersion (unchanged): no change since the last publish, so each call returns the existing");
    println!("version (AWS semantics); it exercises the write path without creating a version.");
    print_notes(&versa);
    if let Some(m) = &moto {
        print_notes(m);
    }
    Ok(())
}

/// `--check` / `--save`: the guard's figures, compared with or written as a baseline.
async fn guard_run(args: &Args) -> anyhow::Result<()> {
    if args.rounds == 0 || args.seconds.is_nan() || args.seconds <= 0.0 || args.cold_starts == 0 {
        bail!("--rounds, --seconds and --cold-starts must be positive");
    }
    if args.margin_scale.is_nan() || args.margin_scale < 0.0 {
        bail!("--margin-scale must be ≥ 0");
    }
    // Read the baseline first: a typo should not cost a whole run.
    let baseline = match &args.check {
        Some(path) => Some(
            guard::Baseline::from_json(
                &std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
            )
            .with_context(|| format!("{}", path.display()))?,
        ),
        None => None,
    };
    if let Some(b) = &baseline
        && b.server_process != args.server_process
    {
        let (was, flag) = if b.server_process { ("a server process", "with") } else { ("in-process", "without") };
        bail!("the baseline was measured {was}: run --check {flag} --server-process");
    }
    let settings =
        suite::Settings { seconds: args.seconds, cold_samples: args.cold_starts, process: args.server_process };
    let server = if args.server_process {
        format!("server process {}", testkit::versa_binary().display())
    } else {
        "in-process server".to_owned()
    };
    let load_before = load_average();
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        eprintln!("guard: round {round} of {}", args.rounds);
        rounds.push(suite::run(settings).await?);
    }
    let figures = guard::best_of(&rounds);
    let load = format!("load average before: {load_before}; after: {}", load_average());
    if let Some(path) = &args.save {
        let command: Vec<String> = std::env::args().collect();
        let comment = format!(
            "recorded {} UTC with `{}` ({server}; best of {} round(s)); {} CPUs; {load}",
            utc_now(),
            command.join(" "),
            args.rounds,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        let b = guard::Baseline { comment, server_process: args.server_process, figures };
        std::fs::write(path, b.to_json()).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", guard::render(&guard::compare(&b, &b.figures, 1.0)));
        println!("baseline written to {} ({load})", path.display());
        return Ok(());
    }
    let baseline = baseline.expect("--check or --save");
    let rows = guard::compare(&baseline, &figures, args.margin_scale);
    println!("\nbaseline: {}", baseline.comment);
    println!("this run: {server}; {load}; margin scale {}\n", args.margin_scale);
    print!("{}", guard::render(&rows));
    let failed: Vec<&str> = rows.iter().filter(|r| r.verdict.fails()).map(|r| r.name.as_str()).collect();
    if !failed.is_empty() {
        bail!("regression guard FAILED: {}", failed.join(", "));
    }
    println!("\nregression guard passed ({} figures)", rows.len());
    Ok(())
}

/// `/proc/loadavg`'s three load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// `YYYY-MM-DD HH:MM` now, in UTC.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rest / 3600, rest % 3600 / 60)
}

/// Sets up fixtures for the largest concurrency level and runs every operation at every level.
async fn bench(
    workload: &Arc<Workload>,
    label: &'static str,
    addr: SocketAddr,
    clients: &[usize],
    limit: Limit,
    only: &[String],
) -> anyhow::Result<Results> {
    if let Some(o) = only.iter().find(|o| !Op::ALL.iter().any(|op| op.slug() == o.as_str())) {
        bail!("--only: unknown operation {o}");
    }
    let most = clients.iter().copied().max().unwrap_or(1);
    eprintln!("{label} on {addr}: creating {most} fixture functions");
    let fixtures = workload.setup(addr, most).await.with_context(|| format!("{label}: setup"))?;
    let mut runs = Vec::new();
    for op in Op::ALL.into_iter().filter(|op| only.is_empty() || only.iter().any(|o| o == op.slug())) {
        for &n in clients {
            let stats = workload.run(addr, op, &fixtures[..n], limit).await?;
            eprintln!(
                "{label}: {:<29} clients={n:<3} {:>9.0} ops/s  errors={}",
                op.name(),
                stats.ops_per_sec(),
                stats.errors
            );
            runs.push((op, n, stats));
        }
    }
    Ok(Results { label, runs })
}

/// `http://host:port[/]` to a socket address.
async fn resolve(url: &str) -> anyhow::Result<SocketAddr> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--endpoint must be an http:// URL (the raw client speaks plain HTTP): {url}");
    };
    let host = rest.trim_end_matches('/');
    if host.contains('/') {
        bail!("--endpoint must have no path: {url}");
    }
    let host = if host.contains(':') { host.to_owned() } else { format!("{host}:80") };
    tokio::net::lookup_host(&host).await?.next().with_context(|| format!("{host} resolves to no address"))
}

fn print_table(versa: &Results, moto: Option<&Results>) {
    let mut header = vec!["operation", "kind", "clients", "ops/s", "p50", "p99", "errors", "target"];
    if moto.is_some() {
        header.extend(["moto ops/s", "moto p50", "moto p99", "moto errors", "Versa/moto"]);
    }
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
    for (i, (op, clients, stats)) in versa.runs.iter().enumerate() {
        let target = if op.is_read() { TARGET_READS_PER_SEC } else { TARGET_WRITES_PER_SEC };
        let verdict = if stats.ops_per_sec() >= target { "ok" } else { "MISS" };
        let mut row = vec![
            op.name().to_owned(),
            if op.is_read() { "read" } else { "write" }.to_owned(),
            clients.to_string(),
            format!("{:.0}", stats.ops_per_sec()),
            micros(stats.percentile_us(50.0)),
            micros(stats.percentile_us(99.0)),
            stats.errors.to_string(),
            format!("≥{target:.0} {verdict}"),
        ];
        if let Some(m) = moto.and_then(|m| m.runs.get(i)).map(|(_, _, s)| s) {
            let ratio = if m.ops_per_sec() > 0.0 {
                format!("{:.1}x", stats.ops_per_sec() / m.ops_per_sec())
            } else {
                "-".to_owned()
            };
            row.extend([
                format!("{:.0}", m.ops_per_sec()),
                micros(m.percentile_us(50.0)),
                micros(m.percentile_us(99.0)),
                m.errors.to_string(),
                ratio,
            ]);
        }
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            // Text columns left-aligned, numbers right-aligned.
            if c < 2 || c == 7 {
                line.push_str(&format!("{cell}{pad}  "))
            } else {
                line.push_str(&format!("{pad}{cell}  "))
            }
        }
        println!("{}", line.trim_end());
        if i == 0 {
            println!("{}", "-".repeat(widths.iter().sum::<usize>() + 2 * (columns - 1)));
        }
    }
}

fn micros(us: Option<u32>) -> String {
    us.map_or_else(|| "-".to_owned(), |us| us.to_string())
}

/// Error messages and unexpected 2xx statuses of one server's runs.
fn print_notes(results: &Results) {
    for (op, clients, stats) in &results.runs {
        for (status, count) in &stats.unexpected {
            let (label, name, expected) = (results.label, op.name(), op.expected_status());
            println!("{label}: {name} clients={clients}: {count} calls answered {status}, AWS answers {expected}");
        }
        for sample in &stats.samples {
            println!("{}: {} clients={clients}: error: {sample}", results.label, op.name());
        }
    }
}
