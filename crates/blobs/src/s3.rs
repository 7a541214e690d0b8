//! Code blobs in an S3-compatible bucket (`--blobs s3://BUCKET/PREFIX?endpoint=URL&region=R`),
//! shared by every Versa node that shares the store.
//!
//! One object per blob, `<prefix>/code/sha256/<first two hex>/<hex>`, written with one whole-object
//! PUT (atomic: readers see all of it or nothing). No conditional PUT: some servers (Garage)
//! ignore `If-None-Match` and overwrite; content addressing makes an overwrite harmless anyway.
//! Which blobs are garbage is decided by `control` through the store's `code_blobs` table, never
//! by this module.
//!
//! [`BlobBackend`] is blocking and its callers are on blocking threads; the `object_store`
//! client is async. Each [`S3Blobs`] owns a small runtime of its own and every call runs there,
//! the calling thread waiting on a channel: nothing here ever blocks a worker of the caller's
//! runtime, and nothing needs a runtime on the calling thread.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use model::function::Sha256;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::BlobBackend;

/// Longest wait for a TCP (and TLS) connection to the endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest single request, body included (a 250 MB package at ~2 MB/s still fits).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Retries of a failed request (5xx, connection errors, timeouts), with exponential backoff.
pub const MAX_RETRIES: usize = 3;
/// No retry starts later than this after the first attempt.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(30);
/// First backoff between retries; doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_INIT: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The whole of one [`BlobBackend`] call, retries included: past it the call fails.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(300);
/// The startup check of the bucket (see [`S3Blobs::check`]).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
/// Worker threads of the client's own runtime.
pub const RUNTIME_THREADS: usize = 2;

/// Where code blobs live: `file://DIR` or `s3://BUCKET/PREFIX?endpoint=URL&region=R[&path_style=true]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobsUrl {
    File(std::path::PathBuf),
    S3(S3Url),
}

/// A parsed `s3://` blobs URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// `http(s)://host[:port]` of an S3-compatible server; `None` for AWS S3.
    pub endpoint: Option<String>,
    /// `None`: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1.
    pub region: Option<String>,
    /// Bucket in the path (`http://host/bucket/key`) rather than the host name.
    pub path_style: bool,
}

impl BlobsUrl {
    /// Parses `--blobs`; the error says what is wrong.
    pub fn parse(url: &str) -> Result<BlobsUrl, String> {
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(format!("--blobs {url}: a file:// URL needs a directory (file:///var/lib/versa/blobs)"));
            }
            return Ok(BlobsUrl::File(dir.into()));
        }
        if url.starts_with("s3://") {
            return S3Url::parse(url).map(BlobsUrl::S3);
        }
        Err(format!(
            "--blobs {url}: expected file://DIR or s3://BUCKET/PREFIX?endpoint=URL&region=REGION[&path_style=true]"
        ))
    }
}

impl S3Url {
    pub fn parse(url: &str) -> Result<S3Url, String> {
        let bad = |why: &str| format!("--blobs {url}: {why}");
        let rest = url.strip_prefix("s3://").ok_or_else(|| bad("not an s3:// URL"))?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if !valid_bucket(bucket) {
            return Err(bad(&format!(
                "'{bucket}' is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
            return Err(bad("the prefix may not contain empty, '.' or '..' segments"));
        }
        Path::parse(prefix).map_err(|e| bad(&format!("the prefix is not a valid object path: {e}")))?;
        let mut out = S3Url {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
            path_style: false,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "endpoint" => {
                    let e = value.trim_end_matches('/');
                    let host = e.strip_prefix("http://").or_else(|| e.strip_prefix("https://"));
                    if host.is_none_or(|h| h.is_empty() || h.contains('/')) {
                        return Err(bad(&format!("endpoint={value} is not http(s)://HOST[:PORT]")));
                    }
                    out.endpoint = Some(e.to_owned());
                }
                "region" if !value.is_empty() => out.region = Some(value.into_owned()),
                "path_style" => {
                    out.path_style = match &*value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad(&format!("path_style={value}: expected true or false"))),
                    }
                }
                other => {
                    return Err(bad(&format!("unknown parameter '{other}' (known: endpoint, region, path_style)")));
                }
            }
        }
        Ok(out)
    }
}

fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)?;
        if let Some(e) = &self.endpoint {
            write!(f, " at {e}")?;
        }
        Ok(())
    }
}

/// Where the client's credentials come from.
#[derive(Clone)]
pub enum Credentials {
    /// The standard variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// or web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`), or the container or
    /// instance metadata endpoints.
    Environment,
    /// Given keys (tests: the process environment is not theirs to change).
    Static { access_key_id: String, secret_access_key: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Environment => f.write_str("Environment"),
            Credentials::Static { access_key_id, .. } => write!(f, "Static({access_key_id})"),
        }
    }
}

/// The variables (lowercased into `object_store`'s keys) that carry credentials.
const CREDENTIAL_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// Code blobs in an S3-compatible bucket. See the module documentation.
pub struct S3Blobs {
    store: Arc<AmazonS3>,
    /// `<prefix>/code/sha256`.
    root: Path,
    url: S3Url,
    /// Owned so that it lives as long as the client; shut down (never dropped in place, which
    /// panics inside an async context) in `Drop`.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Blobs({})", self.url)
    }
}

impl Drop for S3Blobs {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl S3Blobs {
    /// Builds the client; no request is made (see [`S3Blobs::check`]).
    pub fn open(url: &S3Url, credentials: Credentials) -> Result<S3Blobs, String> {
        // reqwest is built without a bundled provider: use ring, like the rest of Versa (not
        // aws-lc-rs, a long C build; rustls 0.23.48 deprecates ring's provider only because it
        // has no post-quantum key exchange).
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("versa-blobs")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the blob client's runtime: {e}"))?;
        let mut builder = AmazonS3Builder::new();
        match credentials {
            Credentials::Environment => {
                for name in CREDENTIAL_VARIABLES {
                    if let (Ok(value), Ok(key)) =
                        (std::env::var(name), name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>())
                    {
                        builder = builder.with_config(key, value);
                    }
                }
            }
            Credentials::Static { access_key_id, secret_access_key } => {
                builder = builder.with_access_key_id(access_key_id).with_secret_access_key(secret_access_key);
            }
        }
        let region = url
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok().filter(|r| !r.is_empty()))
            .unwrap_or_else(|| "us-east-1".to_owned());
        builder = builder.with_bucket_name(&url.bucket).with_region(region);
        if let Some(endpoint) = &url.endpoint {
            let endpoint = if url.path_style {
                endpoint.clone()
            } else {
                // object_store wants the bucket in a virtual-hosted endpoint's host name.
                let (scheme, host) = endpoint.split_once("://").expect("parsed endpoints have a scheme");
                format!("{scheme}://{}.{host}", url.bucket)
            };
            builder = builder.with_endpoint(endpoint).with_allow_http(true);
        }
        builder = builder
            .with_virtual_hosted_style_request(!url.path_style)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_allow_http(url.endpoint.as_deref().is_some_and(|e| e.starts_with("http://"))),
            )
            .with_retry(RetryConfig {
                backoff: object_store::BackoffConfig {
                    init_backoff: BACKOFF_INIT,
                    max_backoff: BACKOFF_MAX,
                    base: 2.0,
                },
                max_retries: MAX_RETRIES,
                retry_timeout: RETRY_TIMEOUT,
            });
        let store = builder.build().map_err(|e| format!("--blobs {url}: {e}"))?;
        let mut root = Path::parse(&url.prefix).map_err(|e| format!("--blobs {url}: {e}"))?;
        root = root.join("code").join("sha256");
        Ok(S3Blobs {
            store: Arc::new(store),
            root,
            url: url.clone(),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Checks that the bucket exists and answers (one listing of the prefix, nothing written),
    /// within [`CHECK_TIMEOUT`]. The error names the bucket, the endpoint and what went wrong.
    pub async fn check(&self) -> Result<(), String> {
        let (store, root) = (self.store.clone(), self.root.clone());
        let listed = self
            .handle
            .spawn(async move { tokio::time::timeout(CHECK_TIMEOUT, store.list_with_delimiter(Some(&root))).await });
        let url = &self.url;
        match listed.await {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err(e))) => {
                let why = explain(&e);
                let what = if why.contains("NoSuchBucket") {
                    "the bucket does not exist"
                } else if why.contains("(Connect)") || why.contains("Connect,") {
                    "the endpoint cannot be reached"
                } else if ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403 Forbidden"]
                    .iter()
                    .any(|c| why.contains(c))
                {
                    "the credentials are refused (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
                } else {
                    "listing it failed"
                };
                Err(format!("the blobs bucket {url} cannot be used: {what}: {why}"))
            }
            Ok(Err(_)) => Err(format!(
                "the blobs bucket {url} did not answer within {} s (endpoint down, or no credentials: set \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                CHECK_TIMEOUT.as_secs()
            )),
            Err(e) => Err(format!("the blobs bucket {url}: the check failed: {e}")),
        }
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &S3Url {
        &self.url
    }

    /// The client and the key prefix of `<prefix>/<name>`, for another user of the same bucket
    /// (the S3 service's object bytes live under `<prefix>/s3`).
    pub fn shared_store(&self, name: &str) -> (Arc<dyn ObjectStore>, String) {
        let prefix = if self.url.prefix.is_empty() { name.to_owned() } else { format!("{}/{name}", self.url.prefix) };
        (self.store.clone(), prefix)
    }

    fn path(&self, key: &Sha256) -> Path {
        let hex = key.to_hex();
        self.root.clone().join(&hex[..2]).join(hex.as_str())
    }

    /// Runs `op` on the client's runtime and waits for it, at most [`OPERATION_TIMEOUT`].
    fn run<T: Send + 'static>(
        &self,
        what: String,
        op: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> io::Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let out = match tokio::time::timeout(OPERATION_TIMEOUT, op).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(io::Error::other(format!("{what}: {}", explain(&e)))),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{what}: no answer within {} s", OPERATION_TIMEOUT.as_secs()),
                )),
            };
            let _ = tx.send(out);
        });
        rx.recv().map_err(|_| io::Error::other("the blob client's runtime stopped"))?
    }
}

/// A one-line reason for an `object_store` error (its `Display` of a generic error is long and
/// nests the source).
fn explain(e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl BlobBackend for S3Blobs {
    fn put(&self, key: &Sha256, data: &[u8]) -> io::Result<()> {
        let path = self.path(key);
        let (store, p) = (self.store.clone(), path.clone());
        // HEAD first: a package shared by many versions is uploaded once. (`control` records the
        // blob as touched before calling this, so the collector cannot remove what HEAD saw.)
        let size = self.run(format!("HEAD {path}"), async move {
            match store.head(&p).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        if size == Some(data.len() as u64) {
            return Ok(());
        }
        // Absent (or not the size its name promises): one whole-object PUT, unconditional.
        let (store, payload) = (self.store.clone(), PutPayload::from(Bytes::copy_from_slice(data)));
        self.run(format!("PUT {path}"), async move { store.put(&path, payload).await.map(|_| ()) })
    }

    fn get(&self, key: &Sha256) -> io::Result<Option<Vec<u8>>> {
        let path = self.path(key);
        let (store, p) = (self.store.clone(), path.clone());
        self.run(format!("GET {path}"), async move {
            match store.get(&p).await {
                Ok(got) => Ok(Some(got.bytes().await?.to_vec())),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn delete(&self, key: &Sha256) -> io::Result<()> {
        let path = self.path(key);
        let (store, p) = (self.store.clone(), path.clone());
        self.run(format!("DELETE {path}"), async move {
            match store.delete(&p).await {
                Err(e) if is_not_found(&e) => Ok(()),
                other => other,
            }
        })
    }

    fn list(&self) -> io::Result<Vec<Sha256>> {
        let (store, root) = (self.store.clone(), self.root.clone());
        let depth = root.parts_count();
        self.run(format!("LIST {}", self.root), async move {
            let mut out = Vec::new();
            let mut listing = store.list(Some(&root));
            while let Some(meta) = listing.next().await {
                let meta = meta?;
                let parts: Vec<_> = meta.location.parts().skip(depth).collect();
                // Only `<ab>/<hex>` with a matching shard: anything else under the prefix is not ours.
                if let [shard, name] = parts.as_slice()
                    && let Some(key) = Sha256::from_hex(name.as_ref())
                    && name.as_ref().starts_with(shard.as_ref())
                {
                    out.push(key);
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests;
