//! Request headers S3 interprets (stored object headers, user metadata, conditions, digests)
//! and the response headers of objects.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::ApiError;
use crate::limits::USER_METADATA_BYTES_MAX;
use crate::store::Meta;

/// The standard headers S3 stores with an object and returns on GET/HEAD.
const STORED_HEADERS: [&str; 6] =
    ["content-type", "content-encoding", "content-disposition", "content-language", "cache-control", "expires"];

/// What GET/HEAD answers when an object was stored without a Content-Type.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A header value as text; bytes that are not visible ASCII are kept as Latin-1 (what HTTP/1.1
/// says obs-text is), so that they can be returned unchanged.
fn header_text(v: &HeaderValue) -> String {
    match v.to_str() {
        Ok(s) => s.to_owned(),
        Err(_) => v.as_bytes().iter().map(|b| char::from(*b)).collect(),
    }
}

/// The headers to store with a new object (PutObject, CreateMultipartUpload, CopyObject with
/// REPLACE): see [`meta_from_pairs`].
pub fn object_meta(headers: &HeaderMap) -> Result<Meta, ApiError> {
    let pairs: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.as_str().to_owned(), header_text(v))).collect();
    meta_from_pairs(&pairs)
}

/// The metadata to store from `(lowercase name, value)` pairs (request headers, or the fields of
/// a browser-form POST): the standard headers (the first of each; Content-Type defaulting to
/// `binary/octet-stream`; Content-Encoding without `aws-chunked`) and every `x-amz-meta-*` (at
/// most [`USER_METADATA_BYTES_MAX`] of names and values → `MetadataTooLarge`).
pub fn meta_from_pairs(pairs: &[(String, String)]) -> Result<Meta, ApiError> {
    let mut meta = Vec::new();
    for name in STORED_HEADERS {
        let Some((_, v)) = pairs.iter().find(|(n, _)| n == name) else { continue };
        let mut value = v.clone();
        if name == "content-encoding" {
            value = value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
                .collect::<Vec<_>>()
                .join(",");
            if value.is_empty() {
                continue;
            }
        }
        meta.push((name.to_owned(), value));
    }
    if !meta.iter().any(|(k, _)| k == "content-type") {
        meta.insert(0, ("content-type".to_owned(), DEFAULT_CONTENT_TYPE.to_owned()));
    }
    let mut user_bytes = 0;
    for (name, value) in pairs {
        if let Some(suffix) = name.strip_prefix("x-amz-meta-") {
            user_bytes += suffix.len() + value.len();
            meta.push((name.clone(), value.clone()));
        }
    }
    if user_bytes > USER_METADATA_BYTES_MAX {
        return Err(ApiError::MetadataTooLarge { size: user_bytes, max: USER_METADATA_BYTES_MAX });
    }
    Ok(Meta(meta))
}

/// Request headers asking for object features Versa does not keep (tags, Object Lock,
/// customer-provided encryption keys): refused with `NotImplemented` rather than dropped.
const UNSUPPORTED_OBJECT_HEADERS: [&str; 5] = [
    "x-amz-tagging",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
    "x-amz-server-side-encryption-customer-algorithm",
];

/// `NotImplemented` naming the first unsupported object feature the request asks for.
pub fn refuse_unsupported(headers: &HeaderMap) -> Result<(), ApiError> {
    match UNSUPPORTED_OBJECT_HEADERS.iter().find(|h| headers.contains_key(**h)) {
        Some(h) => Err(ApiError::NotImplemented { header: (*h).to_owned() }),
        None => Ok(()),
    }
}

/// The same refusal for the fields of a browser-form POST (lowercase names), where tags come
/// in a `tagging` field.
pub fn refuse_unsupported_fields(fields: &[(String, String)]) -> Result<(), ApiError> {
    let asked = |name: &str| fields.iter().any(|(n, _)| n == name);
    match std::iter::once("tagging").chain(UNSUPPORTED_OBJECT_HEADERS).find(|h| asked(h)) {
        Some(h) => Err(ApiError::NotImplemented { header: h.to_owned() }),
        None => Ok(()),
    }
}

/// Writes stored headers into a response.
pub fn put_meta(out: &mut HeaderMap, meta: &Meta) {
    for (name, value) in &meta.0 {
        let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), latin1_value(value)) else { continue };
        out.append(n, v);
    }
}

fn latin1_value(s: &str) -> Result<HeaderValue, axum::http::header::InvalidHeaderValue> {
    if s.chars().all(|c| (c as u32) < 256) {
        let bytes: Vec<u8> = s.chars().map(|c| c as u8).collect();
        HeaderValue::from_bytes(&bytes)
    } else {
        HeaderValue::from_str(s)
    }
}

pub fn set(out: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        out.insert(name, v);
    }
}

/// `"<etag>"`.
pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// RFC 1123 (`Last-Modified`), from epoch milliseconds.
pub fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// The `Content-MD5` header, decoded: `Ok(None)` when absent; `InvalidDigest` when it is not
/// base64 of 16 bytes.
pub fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, ApiError> {
    match headers.get("content-md5") {
        Some(v) => parse_content_md5(&header_text(v)).map(Some),
        None => Ok(None),
    }
}

/// A `Content-MD5` value (header or form field): base64 of 16 bytes, else `InvalidDigest`.
pub fn parse_content_md5(text: &str) -> Result<[u8; 16], ApiError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok();
    match bytes.and_then(|b| <[u8; 16]>::try_from(b).ok()) {
        Some(d) => Ok(d),
        None => Err(ApiError::InvalidDigest { content_md5: text.to_owned() }),
    }
}

/// Which GET/HEAD (or copy-source) condition headers to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditions {
    /// `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` (GET/HEAD):
    /// failures are 412 and 304.
    Read,
    /// `x-amz-copy-source-if-*` (CopyObject, UploadPartCopy): every failure is 412.
    CopySource,
}

/// Whether an `If-Match`-style list (`"a", "b"`, `*`, weak tags) names `etag`.
fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/").trim_matches('"') == etag)
}

fn date_header(headers: &HeaderMap, name: &str) -> Option<SystemTime> {
    header(headers, name).and_then(|v| httpdate::parse_http_date(v).ok())
}

/// Evaluates the conditional headers against an object (ETag unquoted, Last-Modified in epoch
/// ms), in RFC 7232 / S3 order: If-Match, else If-Unmodified-Since (412); then If-None-Match,
/// else If-Modified-Since (304 for reads, 412 for copy sources). Dates compare at second
/// precision; unparseable dates are ignored, as S3 does.
pub fn check_conditions(headers: &HeaderMap, which: Conditions, etag: &str, modified_ms: i64) -> Result<(), ApiError> {
    let names: [&'static str; 4] = match which {
        Conditions::Read => ["if-match", "if-unmodified-since", "if-none-match", "if-modified-since"],
        Conditions::CopySource => [
            "x-amz-copy-source-if-match",
            "x-amz-copy-source-if-unmodified-since",
            "x-amz-copy-source-if-none-match",
            "x-amz-copy-source-if-modified-since",
        ],
    };
    let conditions: [&'static str; 4] = match which {
        Conditions::Read => ["If-Match", "If-Unmodified-Since", "If-None-Match", "If-Modified-Since"],
        Conditions::CopySource => [
            "x-amz-copy-source-If-Match",
            "x-amz-copy-source-If-Unmodified-Since",
            "x-amz-copy-source-If-None-Match",
            "x-amz-copy-source-If-Modified-Since",
        ],
    };
    let modified_s = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(modified_ms / 1000).unwrap_or(0));
    if let Some(list) = header(headers, names[0]) {
        if !etag_listed(list, etag) {
            return Err(ApiError::PreconditionFailed { condition: conditions[0] });
        }
    } else if let Some(t) = date_header(headers, names[1])
        && modified_s > t
    {
        return Err(ApiError::PreconditionFailed { condition: conditions[1] });
    }
    let not_modified = |i: usize| match which {
        Conditions::Read => ApiError::NotModified,
        Conditions::CopySource => ApiError::PreconditionFailed { condition: conditions[i] },
    };
    if let Some(list) = header(headers, names[2]) {
        if etag_listed(list, etag) {
            return Err(not_modified(2));
        }
    } else if let Some(t) = date_header(headers, names[3])
        && modified_s <= t
    {
        return Err(not_modified(3));
    }
    Ok(())
}

/// PutObject's conditional write: `If-None-Match: *` (only if absent) or `If-Match: <etag>`
/// (only if present with that ETag).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteCondition {
    #[default]
    None,
    IfAbsent,
    IfMatch(String),
}

impl WriteCondition {
    pub fn from_headers(headers: &HeaderMap) -> Result<WriteCondition, ApiError> {
        if let Some(v) = header(headers, "if-none-match") {
            if v.trim() != "*" {
                return Err(ApiError::NotImplemented { header: "If-None-Match".into() });
            }
            return Ok(WriteCondition::IfAbsent);
        }
        Ok(match header(headers, "if-match") {
            Some(v) => WriteCondition::IfMatch(v.trim().to_owned()),
            None => WriteCondition::None,
        })
    }

    /// Checks the condition against the current object's ETag (`None`: no object), inside the
    /// commit transaction.
    pub fn check(&self, current: Option<&str>, key: &str) -> Result<(), ApiError> {
        match (self, current) {
            (WriteCondition::None, _) => Ok(()),
            (WriteCondition::IfAbsent, None) => Ok(()),
            (WriteCondition::IfAbsent, Some(_)) => Err(ApiError::PreconditionFailed { condition: "If-None-Match" }),
            (WriteCondition::IfMatch(_), None) => Err(ApiError::NoSuchKey { key: key.to_owned() }),
            (WriteCondition::IfMatch(list), Some(etag)) if etag_listed(list, etag) => Ok(()),
            (WriteCondition::IfMatch(_), Some(_)) => Err(ApiError::PreconditionFailed { condition: "If-Match" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn stores_standard_headers_and_metadata() {
        let h = headers(&[
            ("content-encoding", "aws-chunked"),
            ("cache-control", "no-cache"),
            ("x-amz-meta-color", "blue"),
            ("x-amz-meta-empty", ""),
        ]);
        let m = object_meta(&h).unwrap();
        assert_eq!(m.get("content-type"), Some(DEFAULT_CONTENT_TYPE));
        assert_eq!(m.get("content-encoding"), None);
        assert_eq!(m.get("cache-control"), Some("no-cache"));
        assert_eq!(m.get("x-amz-meta-color"), Some("blue"));
        let m = object_meta(&headers(&[("content-encoding", "gzip, aws-chunked"), ("content-type", "text/plain")]))
            .unwrap();
        assert_eq!(m.get("content-encoding"), Some("gzip"));
        assert_eq!(m.get("content-type"), Some("text/plain"));
    }

    #[test]
    fn unsupported_object_features_are_refused() {
        assert_eq!(refuse_unsupported(&headers(&[("x-amz-meta-a", "b")])), Ok(()));
        assert_eq!(
            refuse_unsupported(&headers(&[("x-amz-tagging", "a=b")])),
            Err(ApiError::NotImplemented { header: "x-amz-tagging".into() })
        );
    }

    #[test]
    fn metadata_is_limited_to_2_kb() {
        let at_limit = "v".repeat(USER_METADATA_BYTES_MAX - 1);
        assert!(object_meta(&headers(&[("x-amz-meta-k", &at_limit)])).is_ok());
        let over = "v".repeat(USER_METADATA_BYTES_MAX);
        assert_eq!(
            object_meta(&headers(&[("x-amz-meta-k", &over)])),
            Err(ApiError::MetadataTooLarge { size: USER_METADATA_BYTES_MAX + 1, max: USER_METADATA_BYTES_MAX })
        );
    }

    #[test]
    fn content_md5_must_be_base64_of_16_bytes() {
        assert_eq!(content_md5(&headers(&[])), Ok(None));
        assert!(content_md5(&headers(&[("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")])).unwrap().is_some());
        assert_eq!(content_md5(&headers(&[("content-md5", "abc")])).unwrap_err().code(), "InvalidDigest");
    }

    #[test]
    fn read_conditions_follow_s3_order() {
        let t = 1_700_000_000_000;
        let before = http_date(t - 10_000);
        let after = http_date(t + 10_000);
        let check = |pairs: &[(&'static str, &str)]| check_conditions(&headers(pairs), Conditions::Read, "abc", t);
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(check(&[("if-match", "\"abc\"")]), Ok(()));
        assert_eq!(check(&[("if-match", "\"x\", \"abc\"")]), Ok(()));
        assert_eq!(check(&[("if-match", "*")]), Ok(()));
        assert_eq!(check(&[("if-match", "\"x\"")]), Err(ApiError::PreconditionFailed { condition: "If-Match" }));
        assert_eq!(check(&[("if-none-match", "\"abc\"")]), Err(ApiError::NotModified));
        assert_eq!(check(&[("if-none-match", "W/\"abc\"")]), Err(ApiError::NotModified));
        assert_eq!(check(&[("if-none-match", "\"x\"")]), Ok(()));
        assert_eq!(check(&[("if-modified-since", &after)]), Err(ApiError::NotModified));
        assert_eq!(check(&[("if-modified-since", &before)]), Ok(()));
        assert_eq!(
            check(&[("if-unmodified-since", &before)]),
            Err(ApiError::PreconditionFailed { condition: "If-Unmodified-Since" })
        );
        // If-Match true wins over a failing If-Unmodified-Since; If-None-Match decides over
        // If-Modified-Since.
        assert_eq!(check(&[("if-match", "\"abc\""), ("if-unmodified-since", &before)]), Ok(()));
        assert_eq!(check(&[("if-none-match", "\"x\""), ("if-modified-since", &after)]), Ok(()));
        assert_eq!(check(&[("if-modified-since", "not a date")]), Ok(()));
        let copy = check_conditions(
            &headers(&[("x-amz-copy-source-if-none-match", "\"abc\"")]),
            Conditions::CopySource,
            "abc",
            t,
        );
        assert_eq!(copy, Err(ApiError::PreconditionFailed { condition: "x-amz-copy-source-If-None-Match" }));
    }

    #[test]
    fn write_conditions() {
        assert_eq!(WriteCondition::from_headers(&headers(&[("if-none-match", "*")])), Ok(WriteCondition::IfAbsent));
        assert_eq!(WriteCondition::IfAbsent.check(None, "k"), Ok(()));
        assert!(WriteCondition::IfAbsent.check(Some("e"), "k").is_err());
        let m = WriteCondition::IfMatch("\"e\"".into());
        assert_eq!(m.check(Some("e"), "k"), Ok(()));
        assert_eq!(m.check(Some("f"), "k").unwrap_err().code(), "PreconditionFailed");
        assert_eq!(m.check(None, "k").unwrap_err().code(), "NoSuchKey");
    }
}
