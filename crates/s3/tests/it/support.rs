//! The test harness: the crate's `S3::handle` behind a tiny axum server on `127.0.0.1:0`
//! (path-style, or virtual-hosted via `bucket_from_host`), the official SDK pointed at it, a
//! recording `Notifier`, and a raw HTTP/1.1 client for requests an SDK would not send.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use axum::body::Body;
use axum::http::Request;
use s3::{BoxFuture, DeliveryError, DestinationError, Notifier, RequestContext, S3, S3Limits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;

/// The account of access key `test`; a 12-digit access key is its own account.
pub const ACCOUNT: &str = "000000000000";
pub const OTHER_ACCOUNT: &str = "111111111111";

/// What the recording notifier saw and how it answers.
#[derive(Default)]
pub struct Recorded {
    /// `(function_arn, bucket, bucket_owner)` of each check.
    pub checks: Vec<(String, String, String)>,
    /// `(function_arn, bucket, bucket_owner, payload JSON)` of each delivery.
    pub deliveries: Vec<(String, String, String, serde_json::Value)>,
    /// ARNs that `check_destination` reports missing / not authorized.
    pub missing: HashSet<String>,
    pub unauthorized: HashSet<String>,
    /// ARNs whose deliveries fail for now (`DeliveryError::Unavailable`: retried).
    pub failing: HashSet<String>,
    /// ARNs whose deliveries are refused for good (`DeliveryError::Refused`: dropped).
    pub refusing: HashSet<String>,
}

/// A test double of the Lambda side: records every call.
#[derive(Default, Clone)]
pub struct Recorder(pub Arc<Mutex<Recorded>>);

impl Recorder {
    pub fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    /// Deliveries to `arn`, their payloads.
    pub fn delivered_to(&self, arn: &str) -> Vec<serde_json::Value> {
        self.with(|r| r.deliveries.iter().filter(|d| d.0 == arn).map(|d| d.3.clone()).collect())
    }
}

impl Notifier for Recorder {
    fn check_destination<'a>(
        &'a self,
        arn: &'a str,
        bucket: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), DestinationError>> {
        Box::pin(async move {
            self.with(|r| {
                r.checks.push((arn.to_owned(), bucket.to_owned(), owner.to_owned()));
                if r.missing.contains(arn) {
                    Err(DestinationError::FunctionMissing)
                } else if r.unauthorized.contains(arn) {
                    Err(DestinationError::NotAuthorized)
                } else {
                    Ok(())
                }
            })
        })
    }

    fn deliver<'a>(
        &'a self,
        arn: &'a str,
        bucket: &'a str,
        owner: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let json: serde_json::Value = serde_json::from_slice(&payload).expect("event payload is JSON");
            self.with(|r| {
                r.deliveries.push((arn.to_owned(), bucket.to_owned(), owner.to_owned(), json));
                if r.failing.contains(arn) {
                    Err(DeliveryError::Unavailable("function queue is full".to_owned()))
                } else if r.refusing.contains(arn) {
                    Err(DeliveryError::Refused(DestinationError::NotAuthorized))
                } else {
                    Ok(())
                }
            })
        })
    }
}

/// The server side of a test: `S3` over a temp dir, served on a loopback port.
pub struct TestS3 {
    pub addr: SocketAddr,
    pub s3: S3,
    pub notifier: Recorder,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    outbox: tokio::task::JoinHandle<()>,
}

impl TestS3 {
    pub async fn start() -> TestS3 {
        TestS3::start_with(S3Limits::default()).await
    }

    pub async fn start_with(limits: S3Limits) -> TestS3 {
        let dir = tempfile::Builder::new().prefix("versa-s3-test-").tempdir().unwrap();
        let path = dir.path().to_owned();
        let mut t = TestS3::serve(&path, limits, Recorder::default()).await;
        t.dir = Some(dir);
        t
    }

    /// A fresh data dir on the given backends (PostgreSQL metadata, shared object bytes).
    pub async fn start_on(limits: S3Limits, backends: s3::Backends) -> TestS3 {
        let dir = tempfile::Builder::new().prefix("versa-s3-test-").tempdir().unwrap();
        let path = dir.path().to_owned();
        let mut t = TestS3::serve_with(&path, limits, Recorder::default(), backends).await;
        t.dir = Some(dir);
        t
    }

    /// Serves an existing data dir (for reopen tests); the caller keeps the dir alive.
    pub async fn serve(path: &Path, limits: S3Limits, notifier: Recorder) -> TestS3 {
        TestS3::serve_with(path, limits, notifier, s3::Backends::default()).await
    }

    /// Like [`TestS3::serve`], on the given backends.
    pub async fn serve_with(path: &Path, limits: S3Limits, notifier: Recorder, backends: s3::Backends) -> TestS3 {
        let s3 = S3::open_with(path, limits, Arc::new(notifier.clone()), backends).expect("open s3");
        let outbox = s3.start_outbox();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback({
            let s3 = s3.clone();
            move |req: Request<Body>| {
                let s3 = s3.clone();
                async move {
                    let mut ctx = context(&req);
                    match payload_check(&req) {
                        Ok(check) => ctx.payload_check = check,
                        Err(e) => {
                            let mut r = axum::http::Response::new(Body::from(format!("harness: {e}")));
                            *r.status_mut() = axum::http::StatusCode::FORBIDDEN;
                            return r;
                        }
                    }
                    s3.handle(ctx, req).await
                }
            }
        });
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        TestS3 { addr, s3, notifier, dir: None, path: path.to_owned(), shutdown: Some(tx), task: Some(task), outbox }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path-style SDK client for account `000000000000` in `us-east-1`.
    pub fn client(&self) -> aws_sdk_s3::Client {
        client(&self.endpoint(), "test", "us-east-1")
    }

    pub fn client_as(&self, access_key: &str, region: &str) -> aws_sdk_s3::Client {
        client(&self.endpoint(), access_key, region)
    }

    /// Stops serving and returns the data dir (kept alive) for a reopen.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        // The drainer holds the instance (and its directory lock) until it has stopped.
        self.outbox.abort();
        let _ = (&mut self.outbox).await;
        self.dir.take()
    }

    /// A raw request, signed-looking for account `000000000000` (the harness reads only the
    /// credential scope).
    pub async fn raw(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
        raw(self.addr, method, target, headers, body).await
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.outbox.abort();
    }
}

/// What the server would take from SigV4: account from the access key, region from the scope,
/// the virtual-hosted bucket from Host.
fn context(req: &Request<Body>) -> RequestContext {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let scope = auth.split("Credential=").nth(1).and_then(|s| s.split(',').next()).unwrap_or_default();
    let mut parts = scope.split('/');
    let key = parts.next().unwrap_or_default();
    let region = parts.nth(1).filter(|r| !r.is_empty()).unwrap_or("us-east-1");
    let account = if key.len() == 12 && key.bytes().all(|c| c.is_ascii_digit()) { key } else { ACCOUNT };
    let host = req.headers().get("host").and_then(|v| v.to_str().ok()).unwrap_or_default();
    RequestContext {
        account: account.to_owned(),
        region: region.to_owned(),
        bucket_from_host: s3::bucket_from_host(host),
        request_id: uuid::Uuid::new_v4().simple().to_string().to_uppercase()[..16].to_owned(),
        source_ip: "127.0.0.1".to_owned(),
        payload_check: None,
        secure: false,
    }
}

/// The secrets the harness's clients sign with: the SDK's, the `aws` CLI's.
const SECRETS: [&str; 2] = ["secret", "test"];

/// What the server does with SigV4 before S3 reads the body: verify the request's signature
/// (with the `sigv4` crate, S3's URI rules) and hand over the payload check. Requests from the
/// raw client carry a placeholder signature (all zeros, or not 64 hex digits) and are passed
/// through unchecked; any other signature must verify, so every SDK and CLI request exercises
/// the verifier.
fn payload_check(req: &Request<Body>) -> Result<Option<s3::PayloadCheck>, String> {
    let parts = sigv4::RequestParts {
        method: req.method(),
        raw_path: req.uri().path(),
        raw_query: req.uri().query(),
        headers: req.headers(),
    };
    let auth = match sigv4::parse(&parts) {
        Ok(Some(auth)) => auth,
        Ok(None) => return Ok(None),
        Err(e) => return if req.headers().contains_key("authorization") { Ok(None) } else { Err(e.to_string()) },
    };
    let sig = auth.signature();
    if sig.len() != 64 || sig.bytes().all(|b| b == b'0') {
        return Ok(None);
    }
    let mut last = None;
    for secret in SECRETS {
        match auth.verify(&parts, sigv4::UriMode::S3, secret, None) {
            Ok(verified) => {
                return Ok(match verified.payload() {
                    sigv4::Payload::Digest(d) => Some(s3::PayloadCheck::Sha256(d)),
                    sigv4::Payload::Streaming { signed: true, .. } => Some(s3::PayloadCheck::Chunks(verified.chunks())),
                    _ => None,
                });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.map(|e| e.to_string()).unwrap_or_default())
}

/// The official SDK for S3: path-style, plain HTTP, no retries (tests must see every error).
pub fn client(endpoint: &str, access_key: &str, region: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(access_key, "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The text of the first `<name>` element of an XML body.
    pub fn xml(&self, name: &str) -> Option<String> {
        let text = self.text();
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))?;
        Some(text[start..start + end].to_owned())
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`).
pub async fn raw(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nconnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("host: {addr}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
        req.push_str(&format!(
            "authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={}\r\n",
            "0".repeat(64)
        ));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding"))
    {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf).await;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    RawResponse { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().split(';').next().unwrap().trim(), 16)
            .unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}

/// Deterministic pseudo-random bytes (xorshift), so large bodies need no fixtures.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = seed | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    let d: [u8; 16] = md5::Md5::digest(data).into();
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn md5_b64(data: &[u8]) -> String {
    use base64::Engine as _;
    use md5::Digest as _;
    let d: [u8; 16] = md5::Md5::digest(data).into();
    base64::engine::general_purpose::STANDARD.encode(d)
}

/// The S3 error code of an SDK error.
pub fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<none>").to_owned()
}

/// Memory-heavy tests hold this so that they do not overlap the streaming-memory measurement.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The bucket's contents as `(key, size)`.
pub async fn keys(c: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = c.list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}
