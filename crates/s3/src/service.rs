//! The service core: request dispatch, the shared state, and the helpers every operation uses
//! (bucket lookups, blocking database work, the commit-then-deliver step, responses).

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};

use crate::buckets::Listing;
use crate::error::ApiError;
use crate::files::Files;
use crate::limits::S3Limits;
use crate::outbox::{self, Outbox, Staged};
use crate::router::{self, Endpoint, Query};
use crate::store::{self, BucketRow, Db, Tx};
use crate::{
    Backends, Metadata, Notifier, ObjectBytes, PayloadCheck, ReadError, RequestContext, S3Error, buckets, multipart,
    objects, post,
};

/// The shared state behind [`crate::S3`].
pub struct Inner {
    /// Held (an advisory lock on `<dir>/s3.lock`) for as long as this instance lives: one
    /// instance per directory, so the startup sweep never deletes another instance's files.
    _lock: std::fs::File,
    pub db: Db,
    pub files: Files,
    pub limits: S3Limits,
    pub notifier: Arc<dyn Notifier>,
    pub outbox: Arc<Outbox>,
}

/// One request, routed, with its parts (the body travels separately).
pub struct Call {
    pub origin: Origin,
    pub region: String,
    pub headers: HeaderMap,
    pub query: Query,
    pub bucket: String,
    pub key: String,
    /// The payload signature to check while the body is read (see [`crate::PayloadCheck`]).
    pub payload_check: Option<PayloadCheck>,
    /// `https` or `http`, as the request came.
    pub scheme: &'static str,
}

/// Who made the request and which answer it gets: what event records carry. Owned, so that the
/// commit task can outlive the request.
#[derive(Debug, Clone)]
pub struct Origin {
    pub account: String,
    pub source_ip: String,
    pub request_id: String,
    pub host_id: String,
}

impl Inner {
    pub fn open(
        dir: &Path,
        limits: S3Limits,
        notifier: Arc<dyn Notifier>,
        backends: Backends,
    ) -> Result<Inner, S3Error> {
        limits.validate().map_err(S3Error::Limits)?;
        std::fs::create_dir_all(dir)?;
        let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("s3.lock"))?;
        lock.try_lock().map_err(|_| S3Error::Locked(dir.to_owned()))?;
        let files = match backends.bytes {
            ObjectBytes::Files => Files::open(dir)?,
            ObjectBytes::ObjectStore { store, prefix } => Files::open_shared(dir, store, &prefix)?,
        };
        let db = match &backends.metadata {
            Metadata::Sqlite => Db::open(&dir.join("s3.sqlite3"))?,
            Metadata::Postgres { url } => Db::open_postgres(url)?,
        };
        // Temp files, and (local data) files nothing references; shared data is swept with a
        // grace period by `start_outbox`'s sweeper instead.
        let referenced = if files.is_shared() { Default::default() } else { db.referenced_files()? };
        let removed = files.sweep(&referenced)?;
        if removed > 0 {
            tracing::info!(removed, "s3: startup sweep removed unreferenced files");
        }
        Ok(Inner { _lock: lock, db, files, limits, notifier, outbox: Arc::default() })
    }

    /// Runs blocking database work on tokio's blocking pool.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Inner) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let inner = self.clone();
        tokio::task::spawn_blocking(move || f(&inner)).await.map_err(|_| ApiError::InternalError)?
    }

    /// The bucket, if it exists and belongs to `account` (`NoSuchBucket` / `AccessDenied`).
    pub async fn bucket(self: &Arc<Self>, name: &str, account: &str) -> Result<BucketRow, ApiError> {
        let name = name.to_owned();
        let account = account.to_owned();
        self.blocking(move |inner| inner.db.read(|tx| owned_bucket(tx, &name, &account))).await
    }

    /// Runs a write job (blocking: file moves and one commit that also stages the write's event
    /// records in the outbox, see `outbox::stage`) and then delivers the staged events, all in a
    /// task of its own: once started it finishes even if the client goes away. The job gets the
    /// request's origin (for the records) and returns its answer and the staged rows.
    pub async fn commit<T: Send + 'static>(
        self: &Arc<Self>,
        origin: &Origin,
        job: impl FnOnce(&Inner, &Origin) -> Result<(T, Staged), ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let inner = self.clone();
        let origin = origin.clone();
        tokio::spawn(async move {
            let worker = inner.clone();
            let (out, staged) = tokio::task::spawn_blocking(move || job(&worker, &origin))
                .await
                .map_err(|_| ApiError::InternalError)??;
            if !staged.is_empty() {
                inner.outbox.after_commit();
                outbox::deliver(&inner, staged).await;
            }
            Ok(out)
        })
        .await
        .map_err(|_| ApiError::InternalError)?
    }

    /// Rows in the outbox; `None` if the database cannot be read.
    pub async fn pending_events(self: &Arc<Self>) -> Option<u64> {
        self.blocking(|inner| inner.db.read(|tx| Ok(store::outbox_totals(tx)?))).await.ok().map(|t| t.rows)
    }

    pub async fn read_object(self: &Arc<Self>, bucket: &str, key: &str, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let inner = self.clone();
        tokio::task::spawn_blocking(move || {
            // A concurrent overwrite may unlink the file between the lookup and the open: look
            // again.
            for _ in 0..3 {
                let found = inner.db.read(|tx| {
                    let exists = store::get_bucket(tx, &bucket)?.is_some();
                    Ok((exists, store::get_object(tx, &bucket, &key)?))
                });
                let object = match found {
                    Ok((false, _)) => return Err(ReadError::NoSuchBucket),
                    Ok((true, None)) => return Err(ReadError::NoSuchKey),
                    Ok((true, Some(o))) => o,
                    Err(_) => return Err(ReadError::Internal),
                };
                if object.size > max_bytes {
                    return Err(ReadError::TooLarge { size: object.size, max_bytes });
                }
                let read = inner.files.reader(&object.file, object.size, 0).and_then(|mut r| {
                    let mut bytes = Vec::with_capacity(usize::try_from(object.size).unwrap_or(0));
                    std::io::Read::read_to_end(&mut r, &mut bytes).map(|_| bytes)
                });
                match read {
                    Ok(bytes) => return Ok(bytes),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(_) => return Err(ReadError::Internal),
                }
            }
            Err(ReadError::Internal)
        })
        .await
        .map_err(|_| ReadError::Internal)?
    }
}

/// The bucket row if it exists and `account` owns it.
pub fn owned_bucket(c: &Tx<'_>, name: &str, account: &str) -> Result<BucketRow, ApiError> {
    match store::get_bucket(c, name)? {
        None => Err(ApiError::NoSuchBucket { bucket: name.to_owned() }),
        Some(b) if b.owner != account => Err(ApiError::AccessDenied),
        Some(b) => Ok(b),
    }
}

/// An `x-amz-id-2` value: 48 random bytes in base64, like S3's.
fn new_host_id() -> String {
    use base64::Engine as _;
    let mut bytes = Vec::with_capacity(48);
    for _ in 0..3 {
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The canonical user id S3 would show for an account's owner: 64 hex digits, stable per account.
pub fn canonical_id(account: &str) -> String {
    use sha2::Digest as _;
    stdx::hex::encode(&sha2::Sha256::digest(format!("versa-s3-owner:{account}")))
}

/// The URL of the request's bucket as the client addressed it (for `Location` answers):
/// `http://<host>` when the Host names the bucket (virtual-hosted style), else
/// `http://<host>/<bucket>`.
pub fn bucket_url(call: &Call) -> String {
    let host = crate::headers::header(&call.headers, "host").unwrap_or("localhost");
    let scheme = call.scheme;
    if host.starts_with(&format!("{}.", call.bucket)) {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{}", call.bucket)
    }
}

/// A 200 answer with an XML document.
pub fn xml_response(body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

/// An answer with no body.
pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

fn error_response(e: &ApiError, request_id: &str, host_id: &str, head: bool) -> Response<Body> {
    let body = if head { None } else { e.body(request_id, host_id) };
    let mut r = match body {
        Some(xml) => {
            let mut r = Response::new(Body::from(xml));
            r.headers_mut().insert("content-type", HeaderValue::from_static("application/xml"));
            r
        }
        None => Response::new(Body::empty()),
    };
    *r.status_mut() = e.status();
    r
}

/// An S3 error decided outside S3 (authentication refusals): S3's XML error document and
/// headers.
pub fn refusal(
    status: StatusCode,
    code: &str,
    message: &str,
    extra: &[(String, String)],
    request_id: &str,
) -> Response<Body> {
    let host_id = new_host_id();
    let mut r = Response::new(Body::from(crate::error::document(code, message, extra, request_id, &host_id)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amz-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&host_id) {
        h.insert("x-amz-id-2", v);
    }
    h.insert("server", HeaderValue::from_static("AmazonS3"));
    r
}

pub async fn handle(inner: &Arc<Inner>, ctx: RequestContext, req: Request<Body>) -> Response<Body> {
    let host_id = new_host_id();
    let head = req.method() == Method::HEAD;
    let (parts, body) = req.into_parts();
    let request_id = ctx.request_id.clone();
    let mut resp = match dispatch(inner, ctx, &host_id, parts, body).await {
        Ok(r) => r,
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!(code = e.code(), request_id = %request_id, "s3: request failed");
            }
            error_response(&e, &request_id, &host_id, head)
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amz-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&host_id) {
        h.insert("x-amz-id-2", v);
    }
    h.insert("server", HeaderValue::from_static("AmazonS3"));
    resp
}

async fn dispatch(
    inner: &Arc<Inner>,
    ctx: RequestContext,
    host_id: &str,
    parts: Parts,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(parts.uri.query());
    let has_copy_source = parts.headers.contains_key("x-amz-copy-source");
    let route =
        router::route(&parts.method, parts.uri.path(), &query, has_copy_source, ctx.bucket_from_host.as_deref())?;
    let call = Call {
        origin: Origin {
            account: ctx.account,
            source_ip: ctx.source_ip,
            request_id: ctx.request_id,
            host_id: host_id.to_owned(),
        },
        region: ctx.region,
        headers: parts.headers,
        query,
        bucket: route.bucket,
        key: route.key,
        payload_check: ctx.payload_check,
        scheme: if ctx.secure { "https" } else { "http" },
    };
    match route.endpoint {
        Endpoint::ListBuckets => buckets::list_buckets(inner, &call).await,
        Endpoint::CreateBucket => buckets::create_bucket(inner, &call, body).await,
        Endpoint::HeadBucket => buckets::head_bucket(inner, &call).await,
        Endpoint::DeleteBucket => buckets::delete_bucket(inner, &call).await,
        Endpoint::GetBucketLocation => buckets::get_bucket_location(inner, &call).await,
        Endpoint::ListObjects => buckets::list_objects(inner, &call, Listing::V1).await,
        Endpoint::ListObjectsV2 => buckets::list_objects(inner, &call, Listing::V2).await,
        Endpoint::ListObjectVersions => buckets::list_objects(inner, &call, Listing::Versions).await,
        Endpoint::GetBucketNotificationConfiguration => buckets::get_notification(inner, &call).await,
        Endpoint::PutBucketNotificationConfiguration => buckets::put_notification(inner, &call, body).await,
        Endpoint::GetBucketVersioning | Endpoint::GetBucketAcl | Endpoint::GetBucketEncryption => {
            buckets::get_bucket_config(inner, &call, &route.endpoint).await
        }
        Endpoint::GetBucketMissingConfig(which) => {
            inner.bucket(&call.bucket, &call.origin.account).await?;
            Err(which.error(&call.bucket))
        }
        Endpoint::ListMultipartUploads => multipart::list_uploads(inner, &call).await,
        Endpoint::DeleteObjects => objects::delete_objects(inner, &call, body).await,
        Endpoint::PostObject => post::post_object(inner, &call, body).await,
        Endpoint::PutObject => objects::put_object(inner, &call, body).await,
        Endpoint::CopyObject => objects::copy_object(inner, &call).await,
        Endpoint::GetObject => objects::get_object(inner, &call, false).await,
        Endpoint::HeadObject => objects::get_object(inner, &call, true).await,
        Endpoint::DeleteObject => objects::delete_object(inner, &call).await,
        Endpoint::GetObjectAcl | Endpoint::GetObjectTagging => {
            objects::get_object_config(inner, &call, &route.endpoint).await
        }
        Endpoint::CreateMultipartUpload => multipart::create(inner, &call).await,
        Endpoint::UploadPart { upload_id, part_number } => {
            multipart::upload_part(inner, &call, &upload_id, &part_number, body).await
        }
        Endpoint::UploadPartCopy { upload_id, part_number } => {
            multipart::upload_part_copy(inner, &call, &upload_id, &part_number).await
        }
        Endpoint::CompleteMultipartUpload { upload_id } => multipart::complete(inner, &call, &upload_id, body).await,
        Endpoint::AbortMultipartUpload { upload_id } => multipart::abort(inner, &call, &upload_id).await,
        Endpoint::ListParts { upload_id } => multipart::list_parts(inner, &call, &upload_id).await,
    }
}
