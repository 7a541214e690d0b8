//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.
//!
//! Each part is its own immutable data file. Completion concatenates the listed parts into a new
//! data file (the kernel copies: `std::io::copy` between files uses `copy_file_range`), commits
//! the object and drops the upload in one transaction, then unlinks the parts.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use md5::{Digest as _, Md5};

use crate::body::{BodySpec, read_small, receive};
use crate::encode::path_encode_key;
use crate::error::ApiError;
use crate::files::{self, DataFile, TempFile};
use crate::headers::{Conditions, check_conditions, header, object_meta, quoted, refuse_unsupported, set};
use crate::objects::{check_key, commit_object, copy_range, parse_copy_source, persist};
use crate::range::{self, ByteRange};
use crate::service::{Call, Inner, bucket_url, canonical_id, empty_response, owned_bucket, xml_response};
use crate::store::{self, ObjectRow, PartRow, Tx, UploadRow};
use crate::xml::{self, Writer};

/// The upload, if it exists and belongs to this bucket and key (`NoSuchUpload` otherwise).
fn upload_for(c: &Tx<'_>, bucket: &str, key: &str, upload_id: &str) -> Result<UploadRow, ApiError> {
    match store::get_upload(c, upload_id)? {
        Some(u) if u.bucket == bucket && u.key == key => Ok(u),
        _ => Err(ApiError::NoSuchUpload { upload_id: upload_id.to_owned() }),
    }
}

fn part_number(inner: &Inner, raw: &str) -> Result<u32, ApiError> {
    match raw.trim().parse::<u32>() {
        Ok(n) if (1..=inner.limits.parts_max).contains(&n) => Ok(n),
        _ => Err(ApiError::InvalidArgument {
            message: "Part number must be an integer between 1 and 10000, inclusive",
            name: "partNumber".into(),
            value: raw.to_owned(),
        }),
    }
}

pub async fn create(inner: &Arc<Inner>, call: &Call) -> Result<Response<Body>, ApiError> {
    check_key(&call.key)?;
    inner.bucket(&call.bucket, &call.origin.account).await?;
    refuse_unsupported(&call.headers)?;
    let upload = UploadRow {
        upload_id: uuid::Uuid::new_v4().simple().to_string(),
        bucket: call.bucket.clone(),
        key: call.key.clone(),
        initiator: call.origin.account.clone(),
        initiated_ms: stdx::time::now_ms(),
        meta: object_meta(&call.headers)?,
    };
    let upload_id = upload.upload_id.clone();
    inner
        .blocking(move |inner| {
            let max = inner.limits.multipart_uploads_max;
            inner.db.write(|tx| {
                owned_bucket(tx, &upload.bucket, &upload.initiator)?;
                if store::count_uploads(tx)? >= max {
                    return Err(ApiError::SlowDown);
                }
                Ok(store::insert_upload(tx, &upload)?)
            })
        })
        .await?;
    let mut w = Writer::new("InitiateMultipartUploadResult");
    w.elem("Bucket", &call.bucket).elem("Key", &call.key).elem("UploadId", &upload_id);
    Ok(xml_response(w.finish()))
}

/// Commits a part whose data file was written to `tmp`: persists it, checks that the upload
/// still exists, replaces the part, unlinks the replaced part's file.
fn commit_part(
    inner: &Inner,
    call_bucket: &str,
    key: &str,
    account: &str,
    upload_id: &str,
    tmp: TempFile,
    part: PartRow,
) -> Result<(), ApiError> {
    let file = persist(inner, tmp, call_bucket)?;
    let part = PartRow { file: file.id.clone(), ..part };
    let old = inner.db.write(|tx| {
        owned_bucket(tx, call_bucket, account)?;
        upload_for(tx, call_bucket, key, upload_id)?;
        Ok(store::put_part(tx, upload_id, &part)?)
    })?;
    file.committed();
    inner.files.remove_data(old);
    Ok(())
}

async fn check_upload(inner: &Arc<Inner>, call: &Call, upload_id: &str) -> Result<UploadRow, ApiError> {
    let (bucket, key, account, id) =
        (call.bucket.clone(), call.key.clone(), call.origin.account.clone(), upload_id.to_owned());
    inner
        .blocking(move |inner| {
            inner.db.read(|tx| {
                owned_bucket(tx, &bucket, &account)?;
                upload_for(tx, &bucket, &key, &id)
            })
        })
        .await
}

pub async fn upload_part(
    inner: &Arc<Inner>,
    call: &Call,
    upload_id: &str,
    raw_part: &str,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let number = part_number(inner, raw_part)?;
    check_upload(inner, call, upload_id).await?;
    let spec = BodySpec::from_headers(&call.headers)?;
    let received = receive(&inner.files, body, &spec, inner.limits.part_bytes_max, call.payload_check.clone()).await?;
    let md5 = stdx::hex::encode(&received.md5);
    let part = PartRow {
        part_number: number,
        file: String::new(),
        size: received.size,
        md5: md5.clone(),
        modified_ms: stdx::time::now_ms(),
    };
    let (bucket, key, account, id) =
        (call.bucket.clone(), call.key.clone(), call.origin.account.clone(), upload_id.to_owned());
    let tmp = received.tmp;
    inner.blocking(move |inner| commit_part(inner, &bucket, &key, &account, &id, tmp, part)).await?;
    let mut r = Response::new(Body::empty());
    set(r.headers_mut(), "etag", &quoted(&md5));
    Ok(r)
}

pub async fn upload_part_copy(
    inner: &Arc<Inner>,
    call: &Call,
    upload_id: &str,
    raw_part: &str,
) -> Result<Response<Body>, ApiError> {
    let number = part_number(inner, raw_part)?;
    let (src_bucket, src_key) = parse_copy_source(header(&call.headers, "x-amz-copy-source").unwrap_or_default())?;
    check_upload(inner, call, upload_id).await?;
    inner.bucket(&src_bucket, &call.origin.account).await?;
    let range_header = header(&call.headers, "x-amz-copy-source-range").map(str::to_owned);
    let requested = match range_header.as_deref() {
        None => None,
        Some(h) => match range::parse(h) {
            Some(ByteRange::FromTo(a, b)) => Some((a, b)),
            _ => {
                return Err(ApiError::InvalidArgument {
                    message: "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                    name: "x-amz-copy-source-range".into(),
                    value: h.to_owned(),
                });
            }
        },
    };
    let headers = call.headers.clone();
    let max = inner.limits.part_bytes_max;
    let (bucket, key, account, id) =
        (call.bucket.clone(), call.key.clone(), call.origin.account.clone(), upload_id.to_owned());
    let (etag, modified_ms) = inner
        .blocking(move |inner| {
            for _ in 0..3 {
                let src = inner.db.read(|tx| {
                    owned_bucket(tx, &src_bucket, &account)?;
                    store::get_object(tx, &src_bucket, &src_key)?.ok_or(ApiError::NoSuchKey { key: src_key.clone() })
                })?;
                check_conditions(&headers, Conditions::CopySource, &src.etag, src.modified_ms)?;
                let (start, len) = match requested {
                    None => (0, src.size),
                    Some((a, b)) if b < src.size => (a, b - a + 1),
                    Some(_) => {
                        return Err(ApiError::InvalidCopySourceRange {
                            value: range_header.clone().unwrap_or_default(),
                            size: src.size,
                        });
                    }
                };
                if len > max {
                    return Err(ApiError::EntityTooLarge { proposed: len, max });
                }
                let Some((tmp, md5)) = copy_range(inner, &src.file, src.size, start, len)? else { continue };
                let md5 = stdx::hex::encode(&md5);
                let modified_ms = stdx::time::now_ms();
                let part =
                    PartRow { part_number: number, file: String::new(), size: len, md5: md5.clone(), modified_ms };
                commit_part(inner, &bucket, &key, &account, &id, tmp, part)?;
                return Ok((md5, modified_ms));
            }
            Err(ApiError::InternalError)
        })
        .await?;
    let mut w = Writer::new("CopyPartResult");
    w.elem("LastModified", &stdx::time::format_iso8601_ms(modified_ms)).elem("ETag", &quoted(&etag));
    Ok(xml_response(w.finish()))
}

/// The `(PartNumber, ETag)` list of a CompleteMultipartUpload body.
pub(crate) fn parse_complete(body: &[u8]) -> Result<Vec<(u32, String)>, ApiError> {
    let root = xml::parse(body).map_err(|_| ApiError::MalformedXML)?;
    if root.name != "CompleteMultipartUpload" {
        return Err(ApiError::MalformedXML);
    }
    let mut parts = Vec::new();
    for p in root.children_named("Part") {
        let number =
            p.child_text("PartNumber").and_then(|n| n.trim().parse::<u32>().ok()).ok_or(ApiError::MalformedXML)?;
        let etag = p.child_text("ETag").ok_or(ApiError::MalformedXML)?;
        parts.push((number, etag.trim().trim_matches('"').to_owned()));
    }
    if parts.is_empty() {
        return Err(ApiError::MalformedXML);
    }
    Ok(parts)
}

pub async fn complete(
    inner: &Arc<Inner>,
    call: &Call,
    upload_id: &str,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    check_upload(inner, call, upload_id).await?;
    let body = read_small(body, inner.limits.xml_body_bytes_max, call.payload_check.as_ref()).await?;
    let listed = parse_complete(&body)?;
    // The completed object's conditional write, as PutObject's.
    let condition = crate::headers::WriteCondition::from_headers(&call.headers)?;
    let (bucket, key, id) = (call.bucket.clone(), call.key.clone(), upload_id.to_owned());
    let limits = inner.limits.clone();
    let object =
        inner
            .commit(&call.origin, move |inner, origin| {
                let (upload, stored) = inner.db.read(|tx| {
                    owned_bucket(tx, &bucket, &origin.account)?;
                    let upload = upload_for(tx, &bucket, &key, &id)?;
                    let parts = store::list_parts(tx, &id, 0, limits.parts_max as usize)?;
                    Ok((upload, parts))
                })?;
                let by_number: HashMap<u32, &PartRow> = stored.iter().map(|p| (p.part_number, p)).collect();
                let mut chosen: Vec<&PartRow> = Vec::with_capacity(listed.len());
                for (i, (number, etag)) in listed.iter().enumerate() {
                    if i > 0 && *number <= listed[i - 1].0 {
                        return Err(ApiError::InvalidPartOrder { upload_id: id.clone() });
                    }
                    let part = by_number.get(number).filter(|p| p.md5 == *etag).ok_or_else(|| {
                        ApiError::InvalidPart { part_number: *number, etag: etag.clone(), upload_id: id.clone() }
                    })?;
                    chosen.push(part);
                }
                for (i, p) in chosen.iter().enumerate() {
                    if i + 1 < chosen.len() && p.size < limits.part_bytes_min {
                        return Err(ApiError::EntityTooSmall {
                            proposed: p.size,
                            min: limits.part_bytes_min,
                            part_number: p.part_number,
                            etag: p.md5.clone(),
                        });
                    }
                }
                let total: u64 = chosen.iter().map(|p| p.size).sum();
                if total > limits.multipart_object_bytes_max {
                    return Err(ApiError::EntityTooLarge { proposed: total, max: limits.multipart_object_bytes_max });
                }
                // The ETag is the MD5 of the parts' binary MD5s, then `-<count>`.
                let mut digests = Md5::new();
                for p in &chosen {
                    digests.update(stdx::hex::decode(&p.md5).unwrap_or_default());
                }
                let digest: [u8; 16] = digests.finalize().into();
                let etag = format!("{}-{}", stdx::hex::encode(&digest), chosen.len());
                let used: Vec<(u32, String)> = chosen.iter().map(|p| (p.part_number, p.file.clone())).collect();
                let file = if inner.files.is_shared() {
                    // Shared: the object is its parts, read in order (nothing is copied); they
                    // stay the upload's until the commit.
                    let segments: Vec<(String, u64)> = chosen.iter().map(|p| (p.file.clone(), p.size)).collect();
                    DataFile::borrowed(&inner.files, files::manifest(&segments))
                } else {
                    // Local: concatenate into one new data file.
                    let tmp = TempFile::new(&inner.files);
                    let mut out = std::fs::File::create(tmp.path())?;
                    for p in &chosen {
                        let mut input = match inner.files.reader(&p.file, p.size, 0) {
                            Ok(f) => f,
                            // Replaced or aborted meanwhile.
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                                return Err(ApiError::OperationAborted);
                            }
                            Err(e) => return Err(e.into()),
                        };
                        std::io::copy(&mut input, &mut out)?;
                    }
                    out.sync_all()?;
                    drop(out);
                    persist(inner, tmp, &bucket)?
                };
                let object = ObjectRow {
                    key: key.clone(),
                    file: file.id.clone(),
                    size: total,
                    etag,
                    modified_ms: stdx::time::now_ms(),
                    meta: upload.meta,
                };
                // Drop the upload in the same transaction as the object commit; a part replaced
                // while we were copying aborts the completion.
                let mut part_files = Vec::new();
                let result = commit_object(
                    inner,
                    origin,
                    &bucket,
                    file,
                    object,
                    "s3:ObjectCreated:CompleteMultipartUpload",
                    |tx, current| {
                        condition.check(current.map(|o| o.etag.as_str()), &key)?;
                        upload_for(tx, &bucket, &key, &id)?;
                        let now: HashMap<u32, String> = store::list_parts(tx, &id, 0, limits.parts_max as usize)?
                            .into_iter()
                            .map(|p| (p.part_number, p.file))
                            .collect();
                        if used.iter().any(|(n, f)| now.get(n) != Some(f)) {
                            return Err(ApiError::OperationAborted);
                        }
                        part_files = store::delete_upload(tx, &id)?;
                        Ok(())
                    },
                );
                // Only a committed completion releases the parts (a rolled-back one keeps them);
                // shared, the parts it is made of stay (its manifest names them).
                if result.is_ok() {
                    if inner.files.is_shared() {
                        part_files.retain(|f| !used.iter().any(|(_, u)| u == f));
                    }
                    inner.files.remove_data(part_files);
                }
                result
            })
            .await?;
    let location = format!("{}/{}", bucket_url(call), path_encode_key(&call.key));
    let mut w = Writer::new("CompleteMultipartUploadResult");
    w.elem("Location", &location)
        .elem("Bucket", &call.bucket)
        .elem("Key", &call.key)
        .elem("ETag", &quoted(&object.etag));
    Ok(xml_response(w.finish()))
}

pub async fn abort(inner: &Arc<Inner>, call: &Call, upload_id: &str) -> Result<Response<Body>, ApiError> {
    let (bucket, key, account, id) =
        (call.bucket.clone(), call.key.clone(), call.origin.account.clone(), upload_id.to_owned());
    inner
        .blocking(move |inner| {
            let files = inner.db.write(|tx| {
                owned_bucket(tx, &bucket, &account)?;
                upload_for(tx, &bucket, &key, &id)?;
                Ok(store::delete_upload(tx, &id)?)
            })?;
            inner.files.remove_data(files);
            Ok(())
        })
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

fn page_size(call: &Call, inner: &Inner, param: &'static str) -> Result<usize, ApiError> {
    let max = inner.limits.keys_per_page_max as usize;
    match call.query.get(param) {
        None => Ok(max),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(max).min(max)),
            _ => Err(ApiError::InvalidArgument {
                message: "Provided max-parts or max-uploads not an integer or within integer range",
                name: param.into(),
                value: v.to_owned(),
            }),
        },
    }
}

pub async fn list_parts(inner: &Arc<Inner>, call: &Call, upload_id: &str) -> Result<Response<Body>, ApiError> {
    let max = page_size(call, inner, "max-parts")?;
    let marker = match call.query.get("part-number-marker") {
        None => 0,
        Some(v) => v.trim().parse::<u32>().map_err(|_| ApiError::InvalidArgument {
            message: "Provided part-number-marker not an integer or within integer range",
            name: "part-number-marker".into(),
            value: v.to_owned(),
        })?,
    };
    let (bucket, key, account, id) =
        (call.bucket.clone(), call.key.clone(), call.origin.account.clone(), upload_id.to_owned());
    let (upload, mut parts) = inner
        .blocking(move |inner| {
            inner.db.read(|tx| {
                owned_bucket(tx, &bucket, &account)?;
                let upload = upload_for(tx, &bucket, &key, &id)?;
                Ok((upload, store::list_parts(tx, &id, marker, max + 1)?))
            })
        })
        .await?;
    let truncated = parts.len() > max;
    parts.truncate(max);
    let initiator = canonical_id(&upload.initiator);
    let mut w = Writer::new("ListPartsResult");
    w.elem("Bucket", &call.bucket).elem("Key", &call.key).elem("UploadId", upload_id);
    w.open("Initiator").elem("ID", &initiator).elem("DisplayName", &upload.initiator).close("Initiator");
    w.open("Owner").elem("ID", &initiator).elem("DisplayName", &upload.initiator).close("Owner");
    w.elem("StorageClass", "STANDARD").elem("PartNumberMarker", &marker.to_string());
    if let Some(last) = parts.last() {
        w.elem("NextPartNumberMarker", &last.part_number.to_string());
    }
    w.elem("MaxParts", &max.to_string()).elem("IsTruncated", if truncated { "true" } else { "false" });
    for p in &parts {
        w.open("Part")
            .elem("PartNumber", &p.part_number.to_string())
            .elem("LastModified", &stdx::time::format_iso8601_ms(p.modified_ms))
            .elem("ETag", &quoted(&p.md5))
            .elem("Size", &p.size.to_string())
            .close("Part");
    }
    Ok(xml_response(w.finish()))
}

pub async fn list_uploads(inner: &Arc<Inner>, call: &Call) -> Result<Response<Body>, ApiError> {
    let q = &call.query;
    if q.get("delimiter").is_some_and(|d| !d.is_empty()) {
        return Err(ApiError::NotImplemented { header: "delimiter".into() });
    }
    let max = page_size(call, inner, "max-uploads")?;
    let prefix = q.get("prefix").unwrap_or_default().to_owned();
    let key_marker = q.get("key-marker").unwrap_or_default().to_owned();
    let id_marker = q.get("upload-id-marker").unwrap_or_default().to_owned();
    let (bucket, account) = (call.bucket.clone(), call.origin.account.clone());
    let (p, km, im) = (prefix.clone(), key_marker.clone(), id_marker.clone());
    let (uploads, truncated) = inner
        .blocking(move |inner| {
            inner.db.read(|tx| {
                owned_bucket(tx, &bucket, &account)?;
                // After the marker: later keys, or the marker's key with a later upload id (all
                // uploads of the marker key are skipped when no upload-id-marker is given).
                let (mut after_key, mut after_id) = if km.is_empty() {
                    (Vec::new(), String::new())
                } else if im.is_empty() {
                    (km.clone().into_bytes(), "\u{10FFFF}".to_owned())
                } else {
                    (km.clone().into_bytes(), im.clone())
                };
                if p.as_bytes() > after_key.as_slice() {
                    (after_key, after_id) = (p.clone().into_bytes(), String::new());
                }
                let mut out: Vec<UploadRow> = Vec::new();
                loop {
                    let batch = store::list_uploads(tx, &bucket, &after_key, &after_id, 1000)?;
                    let done = batch.len() < 1000;
                    for u in batch {
                        if !u.key.starts_with(&p) {
                            return Ok((out, false));
                        }
                        if out.len() == max {
                            return Ok((out, true));
                        }
                        (after_key, after_id) = (u.key.clone().into_bytes(), u.upload_id.clone());
                        out.push(u);
                    }
                    if done {
                        return Ok((out, false));
                    }
                }
            })
        })
        .await?;
    let mut w = Writer::new("ListMultipartUploadsResult");
    w.elem("Bucket", &call.bucket).elem("KeyMarker", &key_marker).elem("UploadIdMarker", &id_marker);
    if truncated && let Some(last) = uploads.last() {
        w.elem("NextKeyMarker", &last.key).elem("NextUploadIdMarker", &last.upload_id);
    }
    w.elem("Prefix", &prefix)
        .elem("MaxUploads", &max.to_string())
        .elem("IsTruncated", if truncated { "true" } else { "false" });
    for u in &uploads {
        let id = canonical_id(&u.initiator);
        w.open("Upload").elem("Key", &u.key).elem("UploadId", &u.upload_id);
        w.open("Initiator").elem("ID", &id).elem("DisplayName", &u.initiator).close("Initiator");
        w.open("Owner").elem("ID", &id).elem("DisplayName", &u.initiator).close("Owner");
        w.elem("StorageClass", "STANDARD")
            .elem("Initiated", &stdx::time::format_iso8601_ms(u.initiated_ms))
            .close("Upload");
    }
    Ok(xml_response(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_complete_bodies() {
        let body = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"aa"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>bb</ETag><ChecksumCRC32>x</ChecksumCRC32></Part></CompleteMultipartUpload>"#;
        assert_eq!(parse_complete(body), Ok(vec![(1, "aa".into()), (2, "bb".into())]));
        for bad in [
            &b"<CompleteMultipartUpload/>"[..],
            b"<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<X/>",
            b"<CompleteMultipartUpload>",
        ] {
            assert_eq!(parse_complete(bad), Err(ApiError::MalformedXML));
        }
    }
}
