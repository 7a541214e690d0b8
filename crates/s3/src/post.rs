//! Browser-form POST uploads (S3's "POST Object"): `POST /<bucket>` (or `POST /` on a
//! virtual-hosted bucket host) with a `multipart/form-data` body whose fields stand in for
//! PutObject's headers and whose `file` field is the object.
//!
//! The body is parsed as it arrives (`form`); the fields before the file are collected (at most
//! [`FORM_FIELDS_BYTES_MAX`] of form data), and when the file part starts they are checked and
//! the file's content streams through the same [`Sink`] and commit as PutObject's body. The
//! answer follows `success_action_redirect` / `success_action_status`. A `policy` is not
//! verified (nor are signatures), except its `content-length-range`, which bounds the upload.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use futures_util::StreamExt as _;

use crate::body::Sink;
use crate::encode::uri_encode;
use crate::error::ApiError;
use crate::form::{self, Event, FormError, FormParser};
use crate::headers::{
    WriteCondition, header, meta_from_pairs, parse_content_md5, quoted, refuse_unsupported_fields, set,
};
use crate::limits::{FORM_FIELDS_BYTES_MAX, FORM_TRAILER_BYTES_MAX};
use crate::objects::{Upload, check_key, store_upload};
use crate::service::{Call, Inner, bucket_url};
use crate::store::{Meta, ObjectRow};
use crate::xml;

/// `PreconditionFailed`'s condition when the body is not a form (*AWS-recorded*).
const NOT_A_FORM: &str = "Bucket POST must be of the enclosure-type multipart/form-data";
/// The variable a field's value may use for the uploaded file's name.
const FILENAME_VARIABLE: &str = "${filename}";

/// No `key` field before the file.
fn missing_key() -> ApiError {
    ApiError::InvalidArgument {
        message: "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
        name: "key".into(),
        value: String::new(),
    }
}

/// A form without a `file` field.
fn missing_file() -> ApiError {
    ApiError::InvalidArgument {
        message: "POST requires exactly one file upload per request.",
        name: "file".into(),
        value: "0".into(),
    }
}

fn form_error(e: FormError) -> ApiError {
    tracing::debug!(error = %e, "s3: rejected POST form");
    match e {
        FormError::Malformed(_) => ApiError::MalformedPOSTRequest,
        FormError::FieldsTooLarge(_) => ApiError::MaxPostPreDataLengthExceededError,
    }
}

/// How a successful upload is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// 303 to this URL, with `bucket`, `key` and `etag` added to its query.
    Redirect(String),
    /// 200 or 204 with no body, or 201 with a `PostResponse` document.
    Status(StatusCode),
}

/// What the fields before the file ask for, checked.
#[derive(Debug)]
struct Plan {
    key: String,
    meta: Meta,
    content_md5: Option<[u8; 16]>,
    crc32: Option<String>,
    /// The policy's `content-length-range` (0 and the object size limit without one).
    min_bytes: u64,
    max_bytes: u64,
    answer: Answer,
}

impl Plan {
    /// Checks the fields (lowercase names, the first of repeated ones) once the file part
    /// starts: `${filename}` in any value becomes `filename`; `key` is required; fields asking
    /// for unsupported features are refused as PutObject refuses their headers.
    fn new(fields: &[(String, String)], filename: &str, object_bytes_max: u64) -> Result<Plan, ApiError> {
        let fields: Vec<(String, String)> =
            fields.iter().map(|(n, v)| (n.clone(), v.replace(FILENAME_VARIABLE, filename))).collect();
        let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let key = get("key").filter(|k| !k.is_empty()).ok_or_else(missing_key)?.to_owned();
        check_key(&key)?;
        refuse_unsupported_fields(&fields)?;
        let meta = meta_from_pairs(&fields)?;
        let content_md5 = get("content-md5").map(parse_content_md5).transpose()?;
        let (min_bytes, max_bytes) = match get("policy").and_then(content_length_range) {
            Some((min, max)) => (min, max.min(object_bytes_max)),
            None => (0, object_bytes_max),
        };
        let answer = match get("success_action_redirect").or_else(|| get("redirect")).and_then(redirect_target) {
            Some(url) => Answer::Redirect(url.to_owned()),
            None => Answer::Status(match get("success_action_status").map(str::trim) {
                Some("200") => StatusCode::OK,
                Some("201") => StatusCode::CREATED,
                _ => StatusCode::NO_CONTENT,
            }),
        };
        Ok(Plan {
            key,
            meta,
            content_md5,
            crc32: get("x-amz-checksum-crc32").map(str::to_owned),
            min_bytes,
            max_bytes,
            answer,
        })
    }
}

/// The `content-length-range` conditions of a POST policy (base64 of a JSON document): the
/// tightest `(min, max)` of all of them. `None` when the policy does not decode and parse, or
/// has no such condition with two non-negative integer bounds (numbers or numeric strings).
fn content_length_range(policy: &str) -> Option<(u64, u64)> {
    use base64::Engine as _;
    let compact: String = policy.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let json = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let bound = |v: &serde_json::Value| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok());
    let mut range: Option<(u64, u64)> = None;
    for condition in doc.get("conditions")?.as_array()? {
        let Some([name, min, max]) = condition.as_array().map(Vec::as_slice) else { continue };
        if !name.as_str().is_some_and(|n| n.eq_ignore_ascii_case("content-length-range")) {
            continue;
        }
        let (Some(min), Some(max)) = (bound(min), bound(max)) else { continue };
        range = Some(range.map_or((min, max), |(a, b)| (a.max(min), b.min(max))));
    }
    range
}

/// A redirect URL S3 can interpret: absolute (`scheme://authority…`), without whitespace or
/// control characters. Otherwise the field is treated as absent, as S3 documents.
fn redirect_target(url: &str) -> Option<&str> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (scheme_ok && !authority.is_empty() && clean).then_some(url)
}

/// `base` with `bucket`, `key` and `etag` (quoted) added to its query, before any fragment.
fn redirect_url(base: &str, bucket: &str, key: &str, etag: &str) -> String {
    let (url, fragment) = match base.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (base, None),
    };
    let separator = if !url.contains('?') {
        "?"
    } else if url.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    };
    let mut out = format!(
        "{url}{separator}bucket={}&key={}&etag={}",
        uri_encode(bucket),
        uri_encode(key),
        uri_encode(&quoted(etag))
    );
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The 201 answer's document. S3 writes it without a namespace.
fn post_response(location: &str, bucket: &str, key: &str, etag: &str) -> String {
    format!(
        "{}<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
        xml::DECLARATION,
        xml::escape(location),
        xml::escape(bucket),
        xml::escape(key),
        xml::escape(&quoted(etag)),
    )
}

pub async fn post_object(inner: &Arc<Inner>, call: &Call, body: Body) -> Result<Response<Body>, ApiError> {
    let boundary = form::boundary(header(&call.headers, "content-type").unwrap_or_default())
        .map_err(form_error)?
        .ok_or(ApiError::PreconditionFailed { condition: NOT_A_FORM })?;
    inner.bucket(&call.bucket, &call.origin.account).await?;
    let content_length = header(&call.headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());

    let mut parser = FormParser::new(&boundary, FORM_FIELDS_BYTES_MAX);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut upload: Option<(Plan, Sink)> = None;
    let mut file_ended = false;
    let mut trailer_bytes: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|e| {
            tracing::debug!(error = %e, "s3: request body ended with an error");
            ApiError::IncompleteBody
        })?;
        if file_ended {
            // Fields after the file are ignored; read a little of them so that a client still
            // sending them sees the answer, then stop.
            trailer_bytes += frame.len() as u64;
            if trailer_bytes > FORM_TRAILER_BYTES_MAX {
                break;
            }
            continue;
        }
        parser.push(&frame);
        while let Some(event) = parser.next().map_err(form_error)? {
            match event {
                Event::Field { name, value } => {
                    let name = name.to_ascii_lowercase();
                    if !fields.iter().any(|(n, _)| *n == name) {
                        fields.push((name, value));
                    }
                }
                Event::FileStart { filename } => {
                    let plan =
                        Plan::new(&fields, filename.as_deref().unwrap_or_default(), inner.limits.object_bytes_max)?;
                    // The file's size if the body ends right after it.
                    let announced =
                        content_length.map(|n| n.saturating_sub((parser.fields_bytes() + parser.closing_len()) as u64));
                    let sink = Sink::create(&inner.files, plan.max_bytes, announced).await?;
                    upload = Some((plan, sink));
                }
                Event::FileData(data) => {
                    if let Some((_, sink)) = upload.as_mut() {
                        sink.write(&data).await?;
                    }
                }
                Event::FileEnd => file_ended = true,
            }
        }
    }
    let Some((plan, sink)) = upload.filter(|_| file_ended) else {
        return Err(match parser.finish() {
            Ok(_) => missing_file(),
            Err(e) => form_error(e),
        });
    };
    let received = sink.finish(plan.content_md5, plan.crc32.as_deref()).await?;
    if received.size < plan.min_bytes {
        return Err(ApiError::EntityTooSmallForPolicy { proposed: received.size, min: plan.min_bytes });
    }

    let target = Upload { bucket: call.bucket.clone(), key: plan.key, meta: plan.meta, event: "s3:ObjectCreated:Post" };
    let object = store_upload(inner, &call.origin, target, received, WriteCondition::None).await?;
    Ok(answer(call, &object, &plan.answer))
}

fn answer(call: &Call, object: &ObjectRow, answer: &Answer) -> Response<Body> {
    let location = format!("{}/{}", bucket_url(call), uri_encode(&object.key));
    let mut r = match answer {
        Answer::Redirect(url) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            set(r.headers_mut(), "location", &redirect_url(url, &call.bucket, &object.key, &object.etag));
            r
        }
        Answer::Status(StatusCode::CREATED) => {
            let mut r = Response::new(Body::from(post_response(&location, &call.bucket, &object.key, &object.etag)));
            *r.status_mut() = StatusCode::CREATED;
            set(r.headers_mut(), "content-type", "application/xml");
            set(r.headers_mut(), "location", &location);
            r
        }
        Answer::Status(status) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = *status;
            set(r.headers_mut(), "location", &location);
            r
        }
    };
    set(r.headers_mut(), "etag", &quoted(&object.etag));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    fn policy(json: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    #[test]
    fn plans_substitute_the_file_name_and_require_a_key() {
        let f = fields(&[
            ("key", "uploads/${filename}"),
            ("content-type", "image/png"),
            ("content-disposition", "attachment; filename=\"${filename}\""),
            ("x-amz-meta-origin", "form ${filename}"),
            ("success_action_status", "201"),
        ]);
        let plan = Plan::new(&f, "cat.png", 100).unwrap();
        assert_eq!(plan.key, "uploads/cat.png");
        assert_eq!(plan.meta.get("content-type"), Some("image/png"));
        assert_eq!(plan.meta.get("content-disposition"), Some("attachment; filename=\"cat.png\""));
        assert_eq!(plan.meta.get("x-amz-meta-origin"), Some("form cat.png"));
        assert_eq!(plan.answer, Answer::Status(StatusCode::CREATED));
        assert_eq!((plan.min_bytes, plan.max_bytes), (0, 100));

        let plan = Plan::new(&fields(&[("key", "k")]), "", 100).unwrap();
        assert_eq!(plan.meta.get("content-type"), Some("binary/octet-stream"));
        assert_eq!(plan.answer, Answer::Status(StatusCode::NO_CONTENT));

        for f in [fields(&[]), fields(&[("key", "")]), fields(&[("key", "${filename}")])] {
            let e = Plan::new(&f, "", 100).unwrap_err();
            assert_eq!(e, missing_key(), "{f:?}");
        }
        let long = "k".repeat(1025);
        assert_eq!(Plan::new(&fields(&[("key", &long)]), "", 100).unwrap_err().code(), "KeyTooLongError");
        let e = Plan::new(&fields(&[("key", "k"), ("tagging", "<Tagging/>")]), "", 100).unwrap_err();
        assert_eq!(e, ApiError::NotImplemented { header: "tagging".into() });
        let e = Plan::new(&fields(&[("key", "k"), ("content-md5", "nope")]), "", 100).unwrap_err();
        assert_eq!(e.code(), "InvalidDigest");
    }

    #[test]
    fn success_actions() {
        let status = |v: &str| Plan::new(&fields(&[("key", "k"), ("success_action_status", v)]), "", 1).unwrap().answer;
        assert_eq!(status("200"), Answer::Status(StatusCode::OK));
        assert_eq!(status(" 201 "), Answer::Status(StatusCode::CREATED));
        assert_eq!(status("204"), Answer::Status(StatusCode::NO_CONTENT));
        assert_eq!(status("404"), Answer::Status(StatusCode::NO_CONTENT), "an invalid status is the default");
        let redirect = |pairs: &[(&str, &str)]| {
            let mut f = fields(&[("key", "k"), ("success_action_status", "201")]);
            f.extend(fields(pairs));
            Plan::new(&f, "", 1).unwrap().answer
        };
        assert_eq!(
            redirect(&[("success_action_redirect", "https://example.com/done")]),
            Answer::Redirect("https://example.com/done".into())
        );
        assert_eq!(redirect(&[("redirect", "http://h:8080/x?y=1")]), Answer::Redirect("http://h:8080/x?y=1".into()));
        for bad in ["not a url", "/relative", "https://", "http://exa mple.com/", "://x"] {
            assert_eq!(redirect(&[("success_action_redirect", bad)]), Answer::Status(StatusCode::CREATED), "{bad}");
        }
    }

    #[test]
    fn redirect_urls_carry_bucket_key_and_quoted_etag() {
        assert_eq!(
            redirect_url("https://example.com/done", "b", "dir/a b.txt", "abc"),
            "https://example.com/done?bucket=b&key=dir%2Fa%20b.txt&etag=%22abc%22"
        );
        assert_eq!(redirect_url("http://h/x?y=1", "b", "k", "e"), "http://h/x?y=1&bucket=b&key=k&etag=%22e%22");
        assert_eq!(redirect_url("http://h/x?#top", "b", "k", "e"), "http://h/x?bucket=b&key=k&etag=%22e%22#top");
    }

    #[test]
    fn policies_bound_the_size_only_through_content_length_range() {
        let p = policy(
            r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key",""],["content-length-range",10,"2048"]]}"#,
        );
        assert_eq!(content_length_range(&p), Some((10, 2048)));
        let f = fields(&[("key", "k"), ("policy", &p)]);
        let plan = Plan::new(&f, "", 1000).unwrap();
        assert_eq!((plan.min_bytes, plan.max_bytes), (10, 1000), "the object limit still applies");
        let two = policy(r#"{"conditions":[["Content-Length-Range",1,100],["content-length-range",5,50]]}"#);
        assert_eq!(content_length_range(&two), Some((5, 50)));
        for ignored in [
            "not base64!".to_owned(),
            policy("not json"),
            policy(r#"{"conditions":[["eq","$key","k"]]}"#),
            policy(r#"{"conditions":[["content-length-range",-1,"x"]]}"#),
            policy(r#"{"expiration":"2030-01-01T00:00:00Z"}"#),
        ] {
            assert_eq!(content_length_range(&ignored), None, "{ignored}");
        }
    }

    #[test]
    fn post_response_document() {
        assert_eq!(
            post_response("http://h/b/a%26b", "b", "a&b", "e"),
            format!(
                "{}<PostResponse><Location>http://h/b/a%26b</Location><Bucket>b</Bucket><Key>a&amp;b</Key><ETag>&quot;e&quot;</ETag></PostResponse>",
                xml::DECLARATION
            )
        );
    }
}
