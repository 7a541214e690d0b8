//! The measured operations, the fixtures they run on, and the loop that drives one run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use testkit::http::{Client, Response};
use tokio::sync::Barrier;

/// Without a key, every request carries a SigV4-shaped `Authorization` header with a dummy
/// signature (Versa's `--auth off` and moto do not verify it); the credential scope picks
/// account `123456789012` (the role's account, which moto checks) and tells moto which service
/// is called: without it moto routes these paths to S3. With a key (`--auth sigv4`), each request
/// is signed for real, by the client, inside the timed window.
const AUTHORIZATION: &str =
    "AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0";
const HEADERS: &[(&str, &str)] = &[("content-type", "application/json"), ("authorization", AUTHORIZATION)];

/// The SigV4 headers (`authorization`, `x-amz-date`, …) of one request to `service` at `addr`
/// (the `Host` the raw client sends), signed now with `key` in `us-east-1`.
pub fn sign(
    key: &testkit::Key,
    addr: SocketAddr,
    service: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let mut h = http::HeaderMap::new();
    h.insert(http::header::HOST, http::HeaderValue::from_str(&addr.to_string()).expect("an address is a host"));
    let params = sigv4::SigningParams {
        credentials: sigv4::Credentials { access_key_id: &key.id, secret: &key.secret, session_token: None },
        region: "us-east-1",
        service,
        time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
        mode: sigv4::UriMode::Normalized,
    };
    let (p, q) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
    let method = http::Method::from_bytes(method.as_bytes()).expect("a method");
    sigv4::sign(&method, p, q, &h, &params, sigv4::SignPayload::Body(body)).headers
}

/// The execution role of every function (moto requires it to exist in IAM).
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/r";
/// The alias each fixture function has; every client task owns one fixture, so its alias too.
const ALIAS: &str = "live";

/// One measured API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A new function per call (unique name, the same small zip).
    CreateFunction,
    /// PublishVersion on the client's fixture, which has not changed since version 2 was cut:
    /// each call returns the existing version, as on AWS.
    PublishVersion,
    /// UpdateFunctionConfiguration (a new description) followed by PublishVersion, which then
    /// cuts a new version: two durable writes per operation, timed together.
    UpdateAndPublish,
    /// UpdateAlias of the client's own alias, alternating between versions 1 and 2.
    UpdateAlias,
    GetAlias,
    /// GetFunction with `?Qualifier=<alias>`.
    GetFunctionByAlias,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::CreateFunction,
        Op::PublishVersion,
        Op::UpdateAndPublish,
        Op::UpdateAlias,
        Op::GetAlias,
        Op::GetFunctionByAlias,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::CreateFunction => "CreateFunction",
            Op::PublishVersion => "PublishVersion (unchanged)",
            Op::UpdateAndPublish => "UpdateConfig+PublishVersion",
            Op::UpdateAlias => "UpdateAlias",
            Op::GetAlias => "GetAlias",
            Op::GetFunctionByAlias => "GetFunction ?Qualifier=alias",
        }
    }

    /// The operation's short name in the guard's figures (`control.<slug>.c1.ops_per_s`) and
    /// in `--only`.
    pub fn slug(self) -> &'static str {
        match self {
            Op::CreateFunction => "create_function",
            Op::PublishVersion => "publish_unchanged",
            Op::UpdateAndPublish => "update_publish",
            Op::UpdateAlias => "update_alias",
            Op::GetAlias => "get_alias",
            Op::GetFunctionByAlias => "get_function",
        }
    }

    /// Reads and durable writes have different targets in PRODUCT.md.
    pub fn is_read(self) -> bool {
        matches!(self, Op::GetAlias | Op::GetFunctionByAlias)
    }

    /// The status AWS answers a successful call with.
    pub fn expected_status(self) -> u16 {
        match self {
            Op::CreateFunction | Op::PublishVersion | Op::UpdateAndPublish => 201,
            Op::UpdateAlias | Op::GetAlias | Op::GetFunctionByAlias => 200,
        }
    }
}

/// How long each client of a run keeps sending.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Duration(Duration),
    /// This many operations per client.
    Ops(u64),
}

/// What is shared by every run against one server: the name prefix and the request bodies.
#[derive(Debug)]
pub struct Workload {
    /// Makes function names unique across benchmark invocations against the same server.
    prefix: String,
    /// The CreateFunction body after `"FunctionName"`, with the zip already base64-encoded.
    create_rest: String,
    /// Sign every request with this key (`--auth sigv4`); `None`: the dummy header.
    key: Option<testkit::Key>,
}

impl Workload {
    pub fn new(prefix: String, key: Option<testkit::Key>) -> Workload {
        let zip = base64::engine::general_purpose::STANDARD.encode(testkit::zip::hello());
        let create_rest = format!(
            r#""Runtime":"python3.12","Role":"{ROLE_ARN}","Handler":"index.handler","Code":{{"ZipFile":"{zip}"}}}}"#
        );
        Workload { prefix, create_rest, key }
    }

    /// The headers of one request: signed with the workload's key, or the dummy ones.
    fn headers(&self, addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let Some(key) = &self.key else {
            return HEADERS.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        };
        let mut out = vec![("content-type", "application/json".to_owned())];
        out.extend(sign(key, addr, "lambda", method, path, body));
        out
    }

    fn create_body(&self, name: &str) -> Vec<u8> {
        format!(r#"{{"FunctionName":"{name}",{}"#, self.create_rest).into_bytes()
    }

    /// Creates `n` fixture functions, each with versions 1 and 2 and an alias pointing at 1,
    /// and returns their names. Fails on any unexpected answer: runs without fixtures would
    /// measure nothing but errors.
    pub async fn setup(&self, addr: SocketAddr, n: usize) -> anyhow::Result<Vec<String>> {
        let mut client = Client::new(addr);
        let mut names = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("{}-fixture-{i}", self.prefix);
            let base = format!("/2015-03-31/functions/{name}");
            let steps: [(&str, &str, Vec<u8>); 5] = [
                ("POST", "/2015-03-31/functions", self.create_body(&name)),
                ("POST", "/versions", b"{}".to_vec()),
                ("PUT", "/configuration", br#"{"Description":"bench: version 2"}"#.to_vec()),
                ("POST", "/versions", b"{}".to_vec()),
                ("POST", "/aliases", format!(r#"{{"Name":"{ALIAS}","FunctionVersion":"1"}}"#).into_bytes()),
            ];
            for (step, (method, path, body)) in steps.into_iter().enumerate() {
                let path = if step == 0 { path.to_owned() } else { format!("{base}{path}") };
                let h = self.headers(addr, method, &path, &body);
                let r =
                    client.send(method, &path, &borrow(&h), &body).await.with_context(|| format!("{method} {path}"))?;
                if !(200..300).contains(&r.status) {
                    bail!("setup: {method} {path} answered {}: {}", r.status, snippet(&r));
                }
            }
            names.push(name);
        }
        Ok(names)
    }

    /// Runs `op` with one client task per fixture until `limit`, all clients starting together.
    pub async fn run(
        self: &Arc<Self>,
        addr: SocketAddr,
        op: Op,
        fixtures: &[String],
        limit: Limit,
    ) -> anyhow::Result<RunStats> {
        let barrier = Arc::new(Barrier::new(fixtures.len()));
        let mut tasks = Vec::with_capacity(fixtures.len());
        for (task, fixture) in fixtures.iter().enumerate() {
            let (this, barrier, fixture) = (Arc::clone(self), Arc::clone(&barrier), fixture.clone());
            let clients = fixtures.len();
            tasks
                .push(tokio::spawn(async move { this.client(addr, op, task, clients, fixture, barrier, limit).await }));
        }
        let mut stats = RunStats::default();
        let (mut first, mut last) = (None::<Instant>, None::<Instant>);
        for t in tasks {
            let c = t.await.context("client task")?;
            first = Some(first.map_or(c.started, |f| f.min(c.started)));
            last = Some(last.map_or(c.finished, |l| l.max(c.finished)));
            stats.ok += c.ok;
            stats.errors += c.errors;
            stats.latencies_us.extend(c.latencies_us);
            for (k, v) in c.unexpected {
                *stats.unexpected.entry(k).or_default() += v;
            }
            for s in c.samples {
                if stats.samples.len() < SAMPLES_MAX && !stats.samples.contains(&s) {
                    stats.samples.push(s);
                }
            }
        }
        stats.elapsed = match (first, last) {
            (Some(f), Some(l)) => l - f,
            _ => Duration::ZERO,
        };
        stats.latencies_us.sort_unstable();
        Ok(stats)
    }

    /// One client task: its own keep-alive connection, warmed up before the start.
    #[allow(clippy::too_many_arguments)]
    async fn client(
        &self,
        addr: SocketAddr,
        op: Op,
        task: usize,
        clients: usize,
        fixture: String,
        barrier: Arc<Barrier>,
        limit: Limit,
    ) -> ClientStats {
        let mut client = Client::new(addr);
        let base = format!("/2015-03-31/functions/{fixture}");
        let alias_path = format!("{base}/aliases/{ALIAS}");
        let qualified_path = format!("{base}?Qualifier={ALIAS}");
        let publish_path = format!("{base}/versions");
        let configuration_path = format!("{base}/configuration");
        // Connect outside the measured window; the answer does not matter.
        let h = self.headers(addr, "GET", &alias_path, b"");
        let _ = client.send("GET", &alias_path, &borrow(&h), b"").await;
        barrier.wait().await;

        let started = Instant::now();
        let mut stats = ClientStats::new(started);
        let mut seq: u64 = 0;
        loop {
            match limit {
                Limit::Duration(d) if started.elapsed() >= d => break,
                Limit::Ops(n) if seq >= n => break,
                _ => {}
            }
            seq += 1;
            let (method, path, body): (&str, &str, Vec<u8>) = match op {
                Op::CreateFunction => (
                    "POST",
                    "/2015-03-31/functions",
                    self.create_body(&format!("{}-{clients}c-{task}-{seq}", self.prefix)),
                ),
                Op::PublishVersion | Op::UpdateAndPublish => ("POST", &publish_path, b"{}".to_vec()),
                Op::UpdateAlias => {
                    let version = if seq.is_multiple_of(2) { "1" } else { "2" };
                    ("PUT", &alias_path, format!(r#"{{"FunctionVersion":"{version}"}}"#).into_bytes())
                }
                Op::GetAlias => ("GET", &alias_path, Vec::new()),
                Op::GetFunctionByAlias => ("GET", &qualified_path, Vec::new()),
            };
            let t0 = Instant::now();
            if op == Op::UpdateAndPublish {
                // Change $LATEST so that the publish below cuts a new version.
                let update = format!(r#"{{"Description":"bench {task}-{seq}"}}"#);
                let h = self.headers(addr, "PUT", &configuration_path, update.as_bytes());
                match client.send("PUT", &configuration_path, &borrow(&h), update.as_bytes()).await {
                    Ok(r) if (200..300).contains(&r.status) => {}
                    Ok(r) => {
                        stats.error(format!("update: status {}: {}", r.status, snippet(&r)));
                        continue;
                    }
                    Err(e) => {
                        stats.error(format!("update: connection: {e}"));
                        continue;
                    }
                }
            }
            let h = self.headers(addr, method, path, &body);
            let result = client.send(method, path, &borrow(&h), &body).await;
            let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
            match result {
                Ok(r) if r.status == op.expected_status() => stats.success(us),
                Ok(r) if (200..300).contains(&r.status) => {
                    // A success with another 2xx status (moto answers GetAlias with 201):
                    // counted as done, reported separately.
                    stats.success(us);
                    *stats.unexpected.entry(r.status).or_default() += 1;
                }
                Ok(r) => stats.error(format!("status {}: {}", r.status, snippet(&r))),
                Err(e) => stats.error(format!("connection: {e}")),
            }
        }
        stats.finished = Instant::now();
        stats
    }
}

fn borrow<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Distinct error messages kept per run.
const SAMPLES_MAX: usize = 3;

struct ClientStats {
    started: Instant,
    finished: Instant,
    ok: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    unexpected: BTreeMap<u16, u64>,
    samples: Vec<String>,
}

impl ClientStats {
    fn new(started: Instant) -> ClientStats {
        ClientStats {
            started,
            finished: started,
            ok: 0,
            errors: 0,
            latencies_us: Vec::new(),
            unexpected: BTreeMap::new(),
            samples: Vec::new(),
        }
    }

    fn success(&mut self, us: u32) {
        self.ok += 1;
        self.latencies_us.push(us);
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.samples.len() < SAMPLES_MAX && !self.samples.contains(&message) {
            self.samples.push(message);
        }
    }
}

/// The outcome of one (operation, concurrency) run.
#[derive(Debug, Default)]
pub struct RunStats {
    /// Calls answered with a 2xx status.
    pub ok: u64,
    /// Calls answered with another status, or that failed on the connection.
    pub errors: u64,
    /// From the first client's start to the last client's end.
    pub elapsed: Duration,
    /// Latencies of the successful calls, sorted.
    pub latencies_us: Vec<u32>,
    /// Successful calls whose status differs from AWS's, by status.
    pub unexpected: BTreeMap<u16, u64>,
    /// A few distinct error messages.
    pub samples: Vec<String>,
}

impl RunStats {
    /// Successful calls per second.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.ok as f64 / secs } else { 0.0 }
    }

    /// The nearest-rank percentile of successful calls' latency, in microseconds.
    pub fn percentile_us(&self, p: f64) -> Option<u32> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        Some(self.latencies_us[rank.clamp(1, n) - 1])
    }
}

/// The start of a response body, for error messages.
fn snippet(r: &Response) -> String {
    let text = r.text();
    let text = text.trim();
    match text.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
