//! S3-compatible object storage over S3's XML REST API: buckets, objects (streamed, ranged,
//! conditional, copied), multipart uploads, browser-form POST uploads, and bucket notifications
//! to Lambda.
//!
//! The surface is HTTP-shaped but independent of the server: [`S3::handle`] serves one S3 REST
//! request; the server decides which requests are S3's (SigV4 service `s3`, or host/path) and
//! passes the caller's account and region in a [`RequestContext`]. The Lambda side is behind
//! [`Notifier`], which the server implements.
//!
//! # Storage and durability
//!
//! Metadata (buckets, objects, uploads, parts, the event sequencer and outbox) lives in one
//! embedded SQLite database in the data directory (`store`: WAL, `synchronous=FULL`, one writer
//! connection); object data in immutable files (`files`). A write streams the body to a temp file
//! while hashing it, fsyncs it, renames it into `data/` and fsyncs the directory, and only then
//! commits the row that references it; the answer is sent after that commit. So an acknowledged
//! write survives `kill -9` and power loss, and a crash at any point leaves either the old or the
//! new object. Replaced or deleted data files are unlinked after the commit; a crash in between
//! leaves an unreferenced file, which the startup sweep of [`S3::open`] removes (with every temp
//! file). One instance owns a directory (an advisory lock on `s3.lock`), so the sweep never races
//! another instance. `tests/it/crash.rs` kills a serving process with SIGKILL under concurrent
//! writes and checks that every acknowledged write is intact after a reopen and that nothing is
//! left over.
//!
//! The event records a write produces (one per matching Lambda destination) are inserted into
//! the `outbox` table in the same transaction as the object change, and delivered to the
//! [`Notifier`] after the commit and before the answer, in a task of its own (a client that
//! disconnects does not stop it). A row leaves the outbox only once its event is queued on the
//! Lambda side or refused for good, so a crash between the commit and the delivery delays the
//! event (the drainer of [`S3::start_outbox`] delivers it at the next start) but never loses it.
//!
//! # Several nodes
//!
//! [`S3::open_with`] puts the metadata in PostgreSQL ([`Metadata::Postgres`]: S3's own `s3_*`
//! tables and `s3_schema_version`, same transactions, the outbox row in the object's
//! transaction) and the bytes in a shared object store ([`ObjectBytes::ObjectStore`]: one
//! backing object per object and per part, never overwritten, uploaded before the commit), so
//! several nodes serve the same buckets. Each node keeps a data directory of its own for temp
//! files. The drainer claims due outbox rows `FOR UPDATE SKIP LOCKED` with a lease
//! ([`limits::OUTBOX_CLAIM_LEASE_MS`]), so two nodes never deliver one event at once, and a dead
//! node's rows are delivered by the others once their grace or lease ends; no node makes the
//! outbox due at its start. Backing data a crash leaves unreferenced is deleted by each node's
//! orphan sweep, only once older than the grace period (`files::ORPHAN_GRACE`).
//! `tests/it/shared.rs` runs the API story on PostgreSQL (with files, and with moto as the
//! store) and on two instances sharing one database and one store.
//!
//! # Layout
//!
//! `router` (method + path + query → an `Endpoint` named after the AWS operation), `buckets`,
//! `objects`, `multipart`, `post` (one module per group of operations; `post` is the browser-form
//! upload), `outbox` (staging event records in a write's transaction, delivering and retrying
//! them), `error` (every AWS error code, message and status), `notify` (notification
//! configurations and event records), `list` (the listing walk), `chunked` (`aws-chunked`
//! decoding), `form` (incremental `multipart/form-data` parsing), `body` (the object write path
//! every upload shares), `headers`, `range`, `xml`, `encode`, `names`, `limits`. COMPAT.md lists
//! the choices made where AWS's behaviour is unclear, and what is not implemented.

mod body;
mod buckets;
mod chunked;
mod encode;
mod error;
mod files;
mod form;
mod headers;
pub mod limits;
mod list;
mod multipart;
mod names;
mod notify;
mod objects;
mod outbox;
#[cfg(test)]
#[path = "../tests/it/pgcluster.rs"]
mod pgcluster;
mod post;
#[cfg(test)]
mod proptests;
mod range;
mod router;
mod service;
mod store;
mod xml;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};

pub use crate::limits::S3Limits;
pub use crate::service::refusal as error_response;

/// A boxed, sendable future (the shape of `futures::future::BoxFuture`), for [`Notifier`]'s
/// methods without an async-trait crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the server verified of the request's signature that S3 finishes while the body streams.
#[derive(Debug, Clone)]
pub enum PayloadCheck {
    /// The signed `x-amz-content-sha256` digest: the body must hash to it, else
    /// `XAmzContentSHA256Mismatch` (400) and nothing is stored.
    Sha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: each `aws-chunked` chunk signature (and the
    /// trailer's), seeded with the request's signature; a bad one → `SignatureDoesNotMatch` (403)
    /// and nothing is stored.
    Chunks(sigv4::ChunkVerifier),
}

/// Who is asking, as the server determined it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The caller's account (12 digits), from the SigV4 credential scope.
    pub account: String,
    /// The region of the caller's SigV4 scope: where CreateBucket without a LocationConstraint
    /// puts the bucket.
    pub region: String,
    /// `Some(bucket)` when the server resolved a virtual-hosted-style Host (see
    /// [`bucket_from_host`]): then the whole path is the key. `None` for path-style requests,
    /// whose first path segment is the bucket.
    pub bucket_from_host: Option<String>,
    /// Goes into `x-amz-request-id`, error bodies and event records.
    pub request_id: String,
    /// The client's address, for event records (`requestParameters.sourceIPAddress`).
    pub source_ip: String,
    /// The payload signature to check as the body streams (`None`: no check, as with
    /// `--auth off` or an unsigned payload).
    pub payload_check: Option<PayloadCheck>,
    /// The request came over TLS: `Location` URLs start with `https://`.
    pub secure: bool,
}

/// Why a Lambda destination of a notification configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// No such function (in any qualifier form of the ARN).
    #[error("the function does not exist")]
    FunctionMissing,
    /// The function's policy does not let `s3.amazonaws.com` invoke it for this bucket.
    #[error("the function's policy does not let s3.amazonaws.com invoke it for this bucket")]
    NotAuthorized,
}

/// Why [`Notifier::deliver`] did not queue an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The destination refuses it for good (the function is gone, or its policy no longer lets
    /// S3 invoke it): the event is dropped with a warning.
    #[error("{0}")]
    Refused(DestinationError),
    /// Not now (the Lambda side is not ready, its queue is full, its store failed): the event
    /// stays in the outbox and is tried again later.
    #[error("{0}")]
    Unavailable(String),
}

/// A fault the server can inject for crash tests (`VERSA_FAULT`); never set in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `std::process::abort()` right after a write's transaction (object and outbox rows)
    /// commits, before its events are delivered.
    CrashAfterCommit,
}

/// The Lambda side, implemented by the server.
pub trait Notifier: Send + Sync + 'static {
    /// Validates one `LambdaFunctionConfiguration` target at PutBucketNotificationConfiguration:
    /// the function ARN exists (any qualifier form) and its policy lets `s3.amazonaws.com`
    /// invoke it with SourceArn `arn:aws:s3:::<bucket>` and SourceAccount `<bucket_owner>`.
    fn check_destination<'a>(
        &'a self,
        function_arn: &'a str,
        bucket: &'a str,
        bucket_owner: &'a str,
    ) -> BoxFuture<'a, Result<(), DestinationError>>;

    /// Queues one asynchronous (Event) invocation of `function_arn` with `payload` (the event
    /// JSON, `{"Records":[…]}`), after checking the destination as `check_destination` does.
    /// `Ok` means it is durably queued. Called for each row of the outbox: before the S3
    /// request that wrote it is answered, then by the outbox drainer for rows left over (a
    /// crash) or refused for now ([`DeliveryError::Unavailable`]). The same event may be
    /// delivered more than once (a crash after `Ok` and before the row's delete).
    fn deliver<'a>(
        &'a self,
        function_arn: &'a str,
        bucket: &'a str,
        bucket_owner: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// Why [`S3::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("s3 storage I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("s3 metadata database: {0}")]
    Database(String),
    #[error("invalid s3 limits: {0}")]
    Limits(String),
    #[error("{0} is in use by another S3 instance")]
    Locked(std::path::PathBuf),
}

impl From<store::DbError> for S3Error {
    fn from(e: store::DbError) -> S3Error {
        S3Error::Database(e.to_string())
    }
}

/// Where the metadata lives.
#[derive(Debug, Clone, Default)]
pub enum Metadata {
    /// `s3.sqlite3` in the data directory (the embedded default).
    #[default]
    Sqlite,
    /// S3's own tables (`s3_*`, schema version in `s3_schema_version`) in a PostgreSQL
    /// database shared by several nodes; `url` is a libpq URL or keyword string.
    Postgres { url: String },
}

/// Where object bytes live.
#[derive(Debug, Clone, Default)]
pub enum ObjectBytes {
    /// Files in the data directory (the embedded default).
    #[default]
    Files,
    /// Backing objects `<prefix>/<bucket>/<uuid>` in an S3-compatible store shared by several
    /// nodes (never overwritten; multipart objects are read through their parts).
    ObjectStore { store: Arc<dyn object_store::ObjectStore>, prefix: String },
}

/// The backends [`S3::open_with`] uses; the default is the embedded pair.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    pub metadata: Metadata,
    pub bytes: ObjectBytes,
}

/// Why [`S3::read_object`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    #[error("the specified key does not exist")]
    NoSuchKey,
    #[error("the object is {size} bytes, more than the {max_bytes} allowed")]
    TooLarge { size: u64, max_bytes: u64 },
    #[error("internal error reading the object")]
    Internal,
}

/// A bucket notification configuration that invokes a Lambda function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaNotification {
    pub bucket: String,
    /// The configuration's `Id`.
    pub id: String,
    /// The function's ARN as configured (unqualified, or with a version or alias).
    pub function_arn: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

/// The S3 service over one data directory. Cheap to clone.
#[derive(Clone)]
pub struct S3 {
    inner: Arc<service::Inner>,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3").finish_non_exhaustive()
    }
}

impl S3 {
    /// Opens (creating if needed) the storage in `dir`: the metadata database `s3.sqlite3` and
    /// the `data/` and `tmp/` directories. Sweeps temp files and data files nothing references
    /// (left by a crash) before returning.
    pub fn open(dir: &Path, limits: S3Limits, notifier: Arc<dyn Notifier>) -> Result<S3, S3Error> {
        S3::open_with(dir, limits, notifier, Backends::default())
    }

    /// Like [`S3::open`], on the given backends: with [`Metadata::Postgres`] and
    /// [`ObjectBytes::ObjectStore`] several nodes (each with a data directory of its own, for
    /// temp files) serve the same buckets, objects, uploads and notifications. Must be called
    /// inside a tokio runtime when the bytes are shared.
    pub fn open_with(
        dir: &Path,
        limits: S3Limits,
        notifier: Arc<dyn Notifier>,
        backends: Backends,
    ) -> Result<S3, S3Error> {
        Ok(S3 { inner: Arc::new(service::Inner::open(dir, limits, notifier, backends)?) })
    }

    /// Starts the outbox drainer, once the [`Notifier`] can deliver: it first delivers every
    /// event a previous run left in the outbox (a crash between a write's commit and its
    /// deliveries), then retries deliveries that failed for now, with a bounded backoff. Runs
    /// until the returned task is aborted.
    pub fn start_outbox(&self) -> tokio::task::JoinHandle<()> {
        outbox::start(self.inner.clone())
    }

    /// Events written to the outbox and not yet delivered (`None` if the metadata database
    /// cannot be read).
    pub async fn pending_events(&self) -> Option<u64> {
        self.inner.pending_events().await
    }

    /// Injects a fault for crash tests (see [`Fault`]).
    pub fn inject_fault(&self, fault: Fault) {
        self.inner.outbox.inject(fault);
    }

    /// Serves one S3 REST request.
    pub async fn handle(&self, ctx: RequestContext, req: Request<Body>) -> Response<Body> {
        service::handle(&self.inner, ctx, req).await
    }

    /// Every notification of `account`'s buckets that invokes a Lambda function (the console's
    /// Event sources tab), by bucket name; `None` if the metadata database cannot be read. A
    /// stored configuration that cannot be read is skipped.
    pub async fn lambda_notifications(&self, account: &str) -> Option<Vec<LambdaNotification>> {
        let owner = account.to_owned();
        let buckets =
            self.inner.blocking(move |inner| inner.db.read(|tx| Ok(store::list_buckets(tx, &owner)?))).await.ok()?;
        let mut out = Vec::new();
        for b in buckets {
            let Some(doc) = b.notification.as_deref() else { continue };
            let Ok(config) = xml::parse(doc.as_bytes())
                .map_err(|_| ())
                .and_then(|root| notify::parse(&root, &b.region).map_err(|_| ()))
            else {
                continue;
            };
            for d in config.destinations.into_iter().filter(|d| d.target == notify::Target::Lambda) {
                out.push(LambdaNotification {
                    bucket: b.name.clone(),
                    id: d.id,
                    function_arn: d.arn,
                    events: d.events,
                    prefix: d.prefix,
                    suffix: d.suffix,
                });
            }
        }
        Some(out)
    }

    /// The whole object (for Lambda's CreateFunction/UpdateFunctionCode with `S3Bucket`/`S3Key`),
    /// refusing objects larger than `max_bytes`. No account check: the caller decides who may
    /// read which bucket.
    pub async fn read_object(&self, bucket: &str, key: &str, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
        self.inner.read_object(bucket, key, max_bytes).await
    }
}

/// The bucket a virtual-hosted-style `Host` header names: `bucket.s3.localhost[:port]`,
/// `bucket.s3.<region>.localhost[:port]` and `bucket.localhost[:port]` → `Some("bucket")`;
/// plain `localhost`, IP addresses, `s3.localhost`, and hosts ending in
/// `.lambda-url.<region>.localhost` → `None`.
pub fn bucket_from_host(host: &str) -> Option<String> {
    names::bucket_from_host(host)
}
