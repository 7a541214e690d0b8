//! Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject,
//! and the fixed ACL / tagging answers.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use md5::{Digest as _, Md5};

use crate::body::{BodySpec, Received, check_small, read_small, receive};
use crate::buckets::owner_acl;
use crate::encode::percent_decode;
use crate::error::ApiError;
use crate::files::{DataFile, TempFile};
use crate::headers::{
    Conditions, WriteCondition, check_conditions, header, http_date, object_meta, put_meta, quoted, refuse_unsupported,
    set,
};
use crate::limits::{COPY_SOURCE_BYTES_MAX, DELETE_OBJECTS_KEYS_MAX, KEY_BYTES_MAX, READ_CHUNK_BYTES};
use crate::notify::ObjectEvent;
use crate::outbox::{self, Staged};
use crate::range;
use crate::router::Endpoint;
use crate::service::{Call, Inner, Origin, owned_bucket, xml_response};
use crate::store::{self, BucketRow, Meta, ObjectRow, Tx};
use crate::xml::{self, Writer};

/// Tries of a read whose data file was replaced (and unlinked) between lookup and open.
const STALE_FILE_RETRIES: usize = 3;

pub fn check_key(key: &str) -> Result<(), ApiError> {
    if key.len() > KEY_BYTES_MAX {
        return Err(ApiError::KeyTooLongError { size: key.len(), max: KEY_BYTES_MAX });
    }
    Ok(())
}

/// Sequencer for an event if the bucket has a notification configuration (0 otherwise: no
/// event will be built).
pub fn sequencer(tx: &Tx<'_>, bucket: &BucketRow) -> Result<u64, ApiError> {
    Ok(if bucket.notification.is_some() { store::next_sequencer(tx)? } else { 0 })
}

/// Commits a new object whose data file is already persisted, in one transaction: checks the
/// bucket (still there, the caller's: `origin.account`), runs `check` (given the current object,
/// if any), replaces the row and stages the event in the outbox; then unlinks the replaced data
/// file. Returns the row and the staged event records.
pub fn commit_object(
    inner: &Inner,
    origin: &Origin,
    bucket: &str,
    file: DataFile,
    object: ObjectRow,
    event: &'static str,
    check: impl FnOnce(&Tx<'_>, Option<&ObjectRow>) -> Result<(), ApiError>,
) -> Result<(ObjectRow, Staged), ApiError> {
    let (old, staged) = inner.db.write(|tx| {
        let b = owned_bucket(tx, bucket, &origin.account)?;
        let current = store::get_object(tx, bucket, &object.key)?;
        check(tx, current.as_ref())?;
        let old = store::put_object(tx, bucket, &object)?;
        let ev = ObjectEvent {
            event,
            key: object.key.clone(),
            created: Some((object.size, object.etag.clone())),
            sequencer: sequencer(tx, &b)?,
            time_ms: object.modified_ms,
        };
        let staged = outbox::stage(tx, inner, origin, &b, &[ev])?;
        Ok((old, staged))
    })?;
    file.committed();
    inner.files.remove_data(old);
    Ok((object, staged))
}

pub async fn put_object(inner: &Arc<Inner>, call: &Call, body: Body) -> Result<Response<Body>, ApiError> {
    check_key(&call.key)?;
    inner.bucket(&call.bucket, &call.origin.account).await?;
    refuse_unsupported(&call.headers)?;
    let meta = object_meta(&call.headers)?;
    let spec = BodySpec::from_headers(&call.headers)?;
    let condition = WriteCondition::from_headers(&call.headers)?;
    let received =
        receive(&inner.files, body, &spec, inner.limits.object_bytes_max, call.payload_check.clone()).await?;
    let upload = Upload { bucket: call.bucket.clone(), key: call.key.clone(), meta, event: "s3:ObjectCreated:Put" };
    let object = store_upload(inner, &call.origin, upload, received, condition).await?;
    let mut r = Response::new(Body::empty());
    set(r.headers_mut(), "etag", &quoted(&object.etag));
    Ok(r)
}

/// Where an uploaded body goes: the object it becomes and the event its commit emits.
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub meta: Meta,
    /// `s3:ObjectCreated:Put` or `s3:ObjectCreated:Post`.
    pub event: &'static str,
}

/// Stores a received (fsynced) body as an object: persists the file and commits its row, if
/// `condition` holds, in the commit task (which also delivers the event). Returns the row.
pub async fn store_upload(
    inner: &Arc<Inner>,
    origin: &Origin,
    upload: Upload,
    received: Received,
    condition: WriteCondition,
) -> Result<ObjectRow, ApiError> {
    let object = ObjectRow {
        key: upload.key,
        file: received.tmp.id.clone(),
        size: received.size,
        etag: stdx::hex::encode(&received.md5),
        modified_ms: 0,
        meta: upload.meta,
    };
    let (bucket, event) = (upload.bucket, upload.event);
    let tmp = received.tmp;
    inner
        .commit(origin, move |inner, origin| {
            let file = persist(inner, tmp, &bucket)?;
            let object = ObjectRow { file: file.id.clone(), modified_ms: stdx::time::now_ms(), ..object };
            let key = object.key.clone();
            commit_object(inner, origin, &bucket, file, object, event, |_, current| {
                condition.check(current.map(|o| o.etag.as_str()), &key)
            })
        })
        .await
}

/// Makes a finished temp file a data file of `bucket` (renamed into `data/`, or uploaded to
/// the shared store); from then on it is removed on failure until its row commits.
pub fn persist(inner: &Inner, tmp: TempFile, bucket: &str) -> Result<DataFile, ApiError> {
    let id = inner.files.persist(&tmp.id, bucket)?;
    if !inner.files.is_shared() {
        // Renamed away: nothing left to remove. (Shared: the upload is a copy; dropping the
        // temp file removes it.)
        tmp.keep();
    }
    Ok(DataFile::new(&inner.files, id))
}

/// Looks an object up for reading (bucket and ownership checked).
async fn lookup(inner: &Arc<Inner>, call: &Call) -> Result<ObjectRow, ApiError> {
    let (bucket, key, account) = (call.bucket.clone(), call.key.clone(), call.origin.account.clone());
    inner
        .blocking(move |inner| {
            inner.db.read(|tx| {
                owned_bucket(tx, &bucket, &account)?;
                store::get_object(tx, &bucket, &key)?.ok_or(ApiError::NoSuchKey { key: key.clone() })
            })
        })
        .await
}

/// GetObject and HeadObject: conditions, one byte range, response header overrides; the body
/// streams from the data file.
pub async fn get_object(inner: &Arc<Inner>, call: &Call, head: bool) -> Result<Response<Body>, ApiError> {
    check_key(&call.key)?;
    // Buckets are unversioned: only `null` names the one version there is (as DeleteObject).
    if let Some(v) = call.query.get("versionId").filter(|v| *v != "null") {
        return Err(invalid_version(v));
    }
    for _ in 0..STALE_FILE_RETRIES {
        let o = lookup(inner, call).await?;
        match check_conditions(&call.headers, Conditions::Read, &o.etag, o.modified_ms) {
            Ok(()) => {}
            Err(ApiError::NotModified) => {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                set(r.headers_mut(), "etag", &quoted(&o.etag));
                set(r.headers_mut(), "last-modified", &http_date(o.modified_ms));
                return Ok(r);
            }
            Err(e) => return Err(e),
        }
        let requested = header(&call.headers, "range");
        let span = match requested.and_then(range::parse) {
            None => None,
            Some(r) => Some(range::resolve(r, o.size).ok_or_else(|| ApiError::InvalidRange {
                requested: requested.unwrap_or_default().to_owned(),
                size: o.size,
            })?),
        };
        let (start, len) = match span {
            Some((a, b)) => (a, b - a + 1),
            None => (0, o.size),
        };
        let body = if head {
            Body::empty()
        } else {
            match inner.files.body(&o.file, o.size, start, len).await {
                Ok(body) => body,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let mut r = Response::new(body);
        let h = r.headers_mut();
        put_meta(h, &o.meta);
        set(h, "content-length", &len.to_string());
        set(h, "etag", &quoted(&o.etag));
        set(h, "last-modified", &http_date(o.modified_ms));
        set(h, "accept-ranges", "bytes");
        if let Some((a, b)) = span {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(r.headers_mut(), "content-range", &format!("bytes {a}-{b}/{}", o.size));
        }
        for (param, name) in [
            ("response-content-type", "content-type"),
            ("response-content-language", "content-language"),
            ("response-expires", "expires"),
            ("response-cache-control", "cache-control"),
            ("response-content-disposition", "content-disposition"),
            ("response-content-encoding", "content-encoding"),
        ] {
            if let Some(v) = call.query.get(param) {
                set(r.headers_mut(), name, v);
            }
        }
        return Ok(r);
    }
    Err(ApiError::InternalError)
}

pub async fn delete_object(inner: &Arc<Inner>, call: &Call) -> Result<Response<Body>, ApiError> {
    check_key(&call.key)?;
    if let Some(v) = call.query.get("versionId").filter(|v| *v != "null") {
        return Err(invalid_version(v));
    }
    inner.bucket(&call.bucket, &call.origin.account).await?;
    let (bucket, key) = (call.bucket.clone(), call.key.clone());
    inner
        .commit(&call.origin, move |inner, origin| {
            let (old, staged) = inner.db.write(|tx| {
                let b = owned_bucket(tx, &bucket, &origin.account)?;
                let old = store::delete_object(tx, &bucket, &key)?;
                if old.is_none() {
                    return Ok((old, Staged::none(inner)));
                }
                let ev = ObjectEvent {
                    event: "s3:ObjectRemoved:Delete",
                    key: key.clone(),
                    created: None,
                    sequencer: sequencer(tx, &b)?,
                    time_ms: stdx::time::now_ms(),
                };
                let staged = outbox::stage(tx, inner, origin, &b, &[ev])?;
                Ok((old, staged))
            })?;
            inner.files.remove_data(old);
            Ok(((), staged))
        })
        .await?;
    Ok(crate::service::empty_response(StatusCode::NO_CONTENT))
}

fn invalid_version(v: &str) -> ApiError {
    ApiError::InvalidArgument { message: "Invalid version id specified", name: "versionId".into(), value: v.to_owned() }
}

/// The `(Key, VersionId)` of each object a DeleteObjects body names.
pub(crate) type DeleteKeys = Vec<(String, Option<String>)>;

/// A DeleteObjects body: whether it is quiet, and the objects it names.
pub(crate) fn parse_delete(body: &[u8]) -> Result<(bool, DeleteKeys), ApiError> {
    let root = xml::parse(body).map_err(|_| ApiError::MalformedXML)?;
    if root.name != "Delete" {
        return Err(ApiError::MalformedXML);
    }
    let quiet = root.child_text("Quiet").is_some_and(|q| q.trim() == "true");
    let mut requested = Vec::new();
    for o in root.children_named("Object") {
        let key = o.child_text("Key").ok_or(ApiError::MalformedXML)?.to_owned();
        let version = o.child_text("VersionId").map(str::to_owned);
        requested.push((key, version));
    }
    if requested.is_empty() || requested.len() > DELETE_OBJECTS_KEYS_MAX {
        return Err(ApiError::MalformedXML);
    }
    Ok((quiet, requested))
}

/// One key's outcome in DeleteObjects.
enum Outcome {
    Deleted(String),
    Failed { key: String, code: &'static str, message: String },
}

pub async fn delete_objects(inner: &Arc<Inner>, call: &Call, body: Body) -> Result<Response<Body>, ApiError> {
    inner.bucket(&call.bucket, &call.origin.account).await?;
    let has_checksum = call.headers.keys().any(|k| k.as_str().starts_with("x-amz-checksum-"));
    if !call.headers.contains_key("content-md5") && !has_checksum {
        return Err(ApiError::InvalidRequest { message: "Missing required header for this request: Content-MD5." });
    }
    let body = read_small(body, inner.limits.xml_body_bytes_max, call.payload_check.as_ref()).await?;
    check_small(&call.headers, &body)?;
    let (quiet, requested) = parse_delete(&body)?;
    let bucket = call.bucket.clone();
    let outcomes = inner
        .commit(&call.origin, move |inner, origin| {
            let now = stdx::time::now_ms();
            let (outcomes, files, staged) = inner.db.write(|tx| {
                let b = owned_bucket(tx, &bucket, &origin.account)?;
                let named: Vec<&str> = requested.iter().map(|(k, _)| k.as_str()).collect();
                store::lock_keys(tx, &bucket, &named)?;
                let (mut outcomes, mut files, mut events) = (Vec::new(), Vec::new(), Vec::new());
                for (key, version) in &requested {
                    if key.len() > KEY_BYTES_MAX {
                        outcomes.push(Outcome::Failed {
                            key: key.clone(),
                            code: "KeyTooLongError",
                            message: "Your key is too long".into(),
                        });
                        continue;
                    }
                    if let Some(v) = version.as_deref().filter(|v| !v.is_empty() && *v != "null") {
                        let e = invalid_version(v);
                        outcomes.push(Outcome::Failed { key: key.clone(), code: e.code(), message: e.message() });
                        continue;
                    }
                    if let Some(file) = store::delete_object(tx, &bucket, key)? {
                        files.push(file);
                        let seq = sequencer(tx, &b)?;
                        events.push(ObjectEvent {
                            event: "s3:ObjectRemoved:Delete",
                            key: key.clone(),
                            created: None,
                            sequencer: seq,
                            time_ms: now,
                        });
                    }
                    outcomes.push(Outcome::Deleted(key.clone()));
                }
                let staged = outbox::stage(tx, inner, origin, &b, &events)?;
                Ok((outcomes, files, staged))
            })?;
            inner.files.remove_data(files);
            Ok((outcomes, staged))
        })
        .await?;
    let mut w = Writer::new("DeleteResult");
    for o in &outcomes {
        match o {
            Outcome::Deleted(key) if !quiet => {
                w.open("Deleted").elem("Key", key).close("Deleted");
            }
            Outcome::Deleted(_) => {}
            Outcome::Failed { key, code, message } => {
                w.open("Error").elem("Key", key).elem("Code", code).elem("Message", message).close("Error");
            }
        }
    }
    Ok(xml_response(w.finish()))
}

/// `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded.
pub fn parse_copy_source(raw: &str) -> Result<(String, String), ApiError> {
    let invalid = || ApiError::InvalidArgument {
        message: "Invalid copy source object key",
        name: "x-amz-copy-source".into(),
        value: raw.to_owned(),
    };
    let (path, query) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw, None),
    };
    if let Some(q) = query {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if k == "versionId" && v != "null" {
                return Err(invalid_version(&v));
            }
        }
    }
    let path = path.strip_prefix('/').unwrap_or(path);
    let decoded = percent_decode(path).ok_or_else(invalid)?;
    let (bucket, key) = decoded.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    Ok((bucket.to_owned(), key.to_owned()))
}

/// Copies `len` bytes of data file `source` (`size` bytes in all) from `start` into a new temp
/// file, hashing them; fsynced. `Ok(None)` if the source file vanished (replaced concurrently).
pub fn copy_range(
    inner: &Inner,
    source: &str,
    size: u64,
    start: u64,
    len: u64,
) -> Result<Option<(TempFile, [u8; 16])>, ApiError> {
    let mut from = match inner.files.reader(source, size, start) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let tmp = TempFile::new(&inner.files);
    let mut to = std::fs::File::create(tmp.path())?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = match from.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(ApiError::InternalError);
        }
        md5.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        left -= n as u64;
    }
    to.sync_all()?;
    Ok(Some((tmp, md5.finalize().into())))
}

pub async fn copy_object(inner: &Arc<Inner>, call: &Call) -> Result<Response<Body>, ApiError> {
    check_key(&call.key)?;
    let (src_bucket, src_key) = parse_copy_source(header(&call.headers, "x-amz-copy-source").unwrap_or_default())?;
    check_key(&src_key)?;
    inner.bucket(&call.bucket, &call.origin.account).await?;
    refuse_unsupported(&call.headers)?;
    inner.bucket(&src_bucket, &call.origin.account).await?;
    let replace = match header(&call.headers, "x-amz-metadata-directive").map(str::trim) {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(other) => {
            return Err(ApiError::InvalidArgument {
                message: "Unknown metadata directive.",
                name: "MetadataDirective".into(),
                value: other.to_owned(),
            });
        }
    };
    let changes_something = replace
        || ["x-amz-storage-class", "x-amz-website-redirect-location", "x-amz-server-side-encryption"]
            .iter()
            .any(|h| call.headers.contains_key(*h));
    if src_bucket == call.bucket && src_key == call.key && !changes_something {
        return Err(ApiError::InvalidRequest {
            message: "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        });
    }
    let new_meta = if replace { Some(object_meta(&call.headers)?) } else { None };
    // The destination's conditional write, as PutObject's.
    let condition = WriteCondition::from_headers(&call.headers)?;
    let headers = call.headers.clone();
    let max = inner.limits.object_bytes_max;
    let (bucket, key) = (call.bucket.clone(), call.key.clone());
    let object = inner
        .commit(&call.origin, move |inner, origin| {
            for _ in 0..STALE_FILE_RETRIES {
                let src = inner.db.read(|tx| {
                    owned_bucket(tx, &src_bucket, &origin.account)?;
                    store::get_object(tx, &src_bucket, &src_key)?.ok_or(ApiError::NoSuchKey { key: src_key.clone() })
                })?;
                check_conditions(&headers, Conditions::CopySource, &src.etag, src.modified_ms)?;
                if src.size > COPY_SOURCE_BYTES_MAX {
                    return Err(ApiError::InvalidRequest {
                        message: "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120",
                    });
                }
                if src.size > max {
                    return Err(ApiError::EntityTooLarge { proposed: src.size, max });
                }
                // Data files are immutable: a link is a copy. A multipart source's ETag is not
                // the MD5 of its bytes, which a copy's must be, so those are read and hashed.
                let (file, etag) = if src.etag.contains('-') {
                    let Some((tmp, md5)) = copy_range(inner, &src.file, src.size, 0, src.size)? else { continue };
                    (persist(inner, tmp, &bucket)?, stdx::hex::encode(&md5))
                } else {
                    let id = match inner.files.link_copy(&src.file, &bucket) {
                        Ok(id) => id,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e.into()),
                    };
                    (DataFile::new(&inner.files, id), src.etag.clone())
                };
                let object = ObjectRow {
                    key: key.clone(),
                    file: file.id.clone(),
                    size: src.size,
                    etag,
                    modified_ms: stdx::time::now_ms(),
                    meta: new_meta.clone().unwrap_or(src.meta),
                };
                return commit_object(inner, origin, &bucket, file, object, "s3:ObjectCreated:Copy", |_, current| {
                    condition.check(current.map(|o| o.etag.as_str()), &key)
                });
            }
            Err(ApiError::InternalError)
        })
        .await?;
    let mut w = Writer::new("CopyObjectResult");
    w.elem("LastModified", &stdx::time::format_iso8601_ms(object.modified_ms)).elem("ETag", &quoted(&object.etag));
    Ok(xml_response(w.finish()))
}

/// GetObjectAcl (the owner's FULL_CONTROL) and GetObjectTagging (an empty tag set).
pub async fn get_object_config(
    inner: &Arc<Inner>,
    call: &Call,
    endpoint: &Endpoint,
) -> Result<Response<Body>, ApiError> {
    lookup(inner, call).await?;
    let body = match endpoint {
        Endpoint::GetObjectTagging => {
            format!(r#"{}<Tagging xmlns="{}"><TagSet></TagSet></Tagging>"#, xml::DECLARATION, xml::NS)
        }
        _ => owner_acl(&call.origin.account),
    };
    Ok(xml_response(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources() {
        assert_eq!(parse_copy_source("b/k"), Ok(("b".into(), "k".into())));
        assert_eq!(parse_copy_source("/b/dir/a%20b%2Bc"), Ok(("b".into(), "dir/a b+c".into())));
        assert_eq!(parse_copy_source("/b/k?versionId=null"), Ok(("b".into(), "k".into())));
        assert_eq!(parse_copy_source("b/k?versionId=abc").unwrap_err().message(), "Invalid version id specified");
        for bad in ["b", "/b/", "", "b%FF/k"] {
            assert_eq!(parse_copy_source(bad).unwrap_err().code(), "InvalidArgument", "{bad}");
        }
    }

    #[test]
    fn keys_are_bounded() {
        assert!(check_key(&"k".repeat(KEY_BYTES_MAX)).is_ok());
        assert_eq!(check_key(&"k".repeat(KEY_BYTES_MAX + 1)).unwrap_err().code(), "KeyTooLongError");
    }
}
