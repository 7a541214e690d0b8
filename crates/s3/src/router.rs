//! Method + path + query → the S3 operation, named as AWS names it. Pure; table-tested below.

use axum::http::Method;

use crate::encode::percent_decode;
use crate::error::ApiError;

/// The decoded query string; parameters keep their order.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Bucket configurations Versa never has: GET answers AWS's "does not exist" error for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingConfig {
    Policy,
    Cors,
    Tagging,
    Lifecycle,
    Website,
}

impl MissingConfig {
    /// AWS's code and message for GET of the absent configuration.
    pub fn error(self, bucket: &str) -> ApiError {
        let (code, message) = match self {
            MissingConfig::Policy => ("NoSuchBucketPolicy", "The bucket policy does not exist"),
            MissingConfig::Cors => ("NoSuchCORSConfiguration", "The CORS configuration does not exist"),
            MissingConfig::Tagging => ("NoSuchTagSet", "The TagSet does not exist"),
            MissingConfig::Lifecycle => ("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"),
            MissingConfig::Website => {
                ("NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration")
            }
        };
        ApiError::NoSuchConfiguration { code, message, bucket: bucket.to_owned() }
    }
}

/// Every operation Versa serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PostObject,
    GetBucketNotificationConfiguration,
    PutBucketNotificationConfiguration,
    GetBucketVersioning,
    GetBucketAcl,
    GetBucketEncryption,
    GetBucketMissingConfig(MissingConfig),
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetObjectAcl,
    GetObjectTagging,
    CreateMultipartUpload,
    UploadPart { upload_id: String, part_number: String },
    UploadPartCopy { upload_id: String, part_number: String },
    CompleteMultipartUpload { upload_id: String },
    AbortMultipartUpload { upload_id: String },
    ListParts { upload_id: String },
}

/// A routed request: the operation, its bucket (empty for ListBuckets) and key (empty for
/// bucket operations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub endpoint: Endpoint,
    pub bucket: String,
    pub key: String,
}

/// S3 subresources (query parameters that select a different operation). Those not routed to an
/// operation above answer `NotImplemented`.
const SUBRESOURCES: &[&str] = &[
    "abac",
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "metadataConfiguration",
    "metadataTable",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "renameObject",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "session",
    "tagging",
    "torrent",
    "versioning",
    "versions",
    "website",
];

/// Routes one request. `host_bucket` is the bucket of a virtual-hosted-style Host (then the
/// whole path is the key); otherwise the first path segment is the bucket.
pub fn route(
    method: &Method,
    raw_path: &str,
    query: &Query,
    has_copy_source: bool,
    host_bucket: Option<&str>,
) -> Result<Route, ApiError> {
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let (bucket, key) = match host_bucket {
        Some(b) => (b.to_owned(), percent_decode(path).ok_or(ApiError::InvalidURI)?),
        None => {
            let (b, k) = path.split_once('/').unwrap_or((path, ""));
            (percent_decode(b).ok_or(ApiError::InvalidURI)?, percent_decode(k).ok_or(ApiError::InvalidURI)?)
        }
    };
    let unsupported = || {
        let name = SUBRESOURCES.iter().find(|s| query.has(s)).copied().unwrap_or("");
        ApiError::NotImplemented { header: name.to_owned() }
    };
    let has_unsupported = |handled: &[&str]| SUBRESOURCES.iter().any(|s| query.has(s) && !handled.contains(s));
    let not_allowed =
        |resource_type: &'static str| ApiError::MethodNotAllowed { method: method.to_string(), resource_type };
    let upload_id = || query.get("uploadId").map(str::to_owned);

    let endpoint = if bucket.is_empty() {
        match *method {
            Method::GET => Endpoint::ListBuckets,
            _ => return Err(not_allowed("SERVICE")),
        }
    } else if key.is_empty() {
        match *method {
            Method::GET => {
                if query.has("location") {
                    Endpoint::GetBucketLocation
                } else if query.has("notification") {
                    Endpoint::GetBucketNotificationConfiguration
                } else if query.has("uploads") {
                    Endpoint::ListMultipartUploads
                } else if query.has("versions") {
                    Endpoint::ListObjectVersions
                } else if query.has("versioning") {
                    Endpoint::GetBucketVersioning
                } else if query.has("acl") {
                    Endpoint::GetBucketAcl
                } else if query.has("encryption") {
                    Endpoint::GetBucketEncryption
                } else if query.has("policy") {
                    Endpoint::GetBucketMissingConfig(MissingConfig::Policy)
                } else if query.has("cors") {
                    Endpoint::GetBucketMissingConfig(MissingConfig::Cors)
                } else if query.has("tagging") {
                    Endpoint::GetBucketMissingConfig(MissingConfig::Tagging)
                } else if query.has("lifecycle") {
                    Endpoint::GetBucketMissingConfig(MissingConfig::Lifecycle)
                } else if query.has("website") {
                    Endpoint::GetBucketMissingConfig(MissingConfig::Website)
                } else if has_unsupported(&[]) {
                    return Err(unsupported());
                } else if query.get("list-type") == Some("2") {
                    Endpoint::ListObjectsV2
                } else {
                    Endpoint::ListObjects
                }
            }
            Method::PUT if query.has("notification") => Endpoint::PutBucketNotificationConfiguration,
            Method::PUT if has_unsupported(&[]) => return Err(unsupported()),
            Method::PUT => Endpoint::CreateBucket,
            Method::HEAD => Endpoint::HeadBucket,
            Method::DELETE if has_unsupported(&[]) => return Err(unsupported()),
            Method::DELETE => Endpoint::DeleteBucket,
            Method::POST if query.has("delete") => Endpoint::DeleteObjects,
            Method::POST if has_unsupported(&[]) => return Err(unsupported()),
            Method::POST => Endpoint::PostObject,
            _ => return Err(not_allowed("BUCKET")),
        }
    } else {
        match *method {
            Method::PUT => match (upload_id(), query.get("partNumber")) {
                (Some(upload_id), Some(part)) => {
                    let part_number = part.to_owned();
                    if has_copy_source {
                        Endpoint::UploadPartCopy { upload_id, part_number }
                    } else {
                        Endpoint::UploadPart { upload_id, part_number }
                    }
                }
                _ if has_unsupported(&[]) => return Err(unsupported()),
                _ if has_copy_source => Endpoint::CopyObject,
                _ => Endpoint::PutObject,
            },
            Method::GET => {
                if let Some(upload_id) = upload_id() {
                    Endpoint::ListParts { upload_id }
                } else if query.has("acl") {
                    Endpoint::GetObjectAcl
                } else if query.has("tagging") {
                    Endpoint::GetObjectTagging
                } else if has_unsupported(&[]) {
                    return Err(unsupported());
                } else if query.has("partNumber") {
                    return Err(ApiError::NotImplemented { header: "partNumber".into() });
                } else {
                    Endpoint::GetObject
                }
            }
            Method::HEAD if query.has("partNumber") => {
                return Err(ApiError::NotImplemented { header: "partNumber".into() });
            }
            Method::HEAD => Endpoint::HeadObject,
            Method::DELETE => match upload_id() {
                Some(upload_id) => Endpoint::AbortMultipartUpload { upload_id },
                None if has_unsupported(&[]) => return Err(unsupported()),
                None => Endpoint::DeleteObject,
            },
            Method::POST => {
                if query.has("uploads") {
                    Endpoint::CreateMultipartUpload
                } else if let Some(upload_id) = upload_id() {
                    Endpoint::CompleteMultipartUpload { upload_id }
                } else if has_unsupported(&[]) {
                    return Err(unsupported());
                } else {
                    return Err(not_allowed("OBJECT"));
                }
            }
            _ => return Err(not_allowed("OBJECT")),
        }
    };
    Ok(Route { endpoint, bucket, key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Endpoint::*;

    /// `"METHOD /path?query"` as the SDKs send it (path-style), → endpoint, bucket, key.
    #[track_caller]
    fn check(line: &str, copy: bool, expect: Result<(Endpoint, &str, &str), &str>) {
        let (method, target) = line.split_once(' ').unwrap();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let got = route(&method, path, &Query::parse(query), copy, None);
        match (got, expect) {
            (Ok(r), Ok((e, b, k))) => assert_eq!((r.endpoint, r.bucket.as_str(), r.key.as_str()), (e, b, k), "{line}"),
            (Err(e), Err(code)) => assert_eq!(e.code(), code, "{line}"),
            (got, expect) => panic!("{line}: got {got:?}, expected {expect:?}"),
        }
    }

    fn up(id: &str) -> String {
        id.to_owned()
    }

    #[test]
    fn routes_sdk_request_lines() {
        check("GET /?x-id=ListBuckets", false, Ok((ListBuckets, "", "")));
        check("GET /", false, Ok((ListBuckets, "", "")));
        check("PUT /b", false, Ok((CreateBucket, "b", "")));
        check("PUT /b/", false, Ok((CreateBucket, "b", "")));
        check("HEAD /b", false, Ok((HeadBucket, "b", "")));
        check("DELETE /b", false, Ok((DeleteBucket, "b", "")));
        check("GET /b?location", false, Ok((GetBucketLocation, "b", "")));
        check("GET /b?list-type=2&prefix=a%2F&delimiter=%2F", false, Ok((ListObjectsV2, "b", "")));
        check("GET /b?prefix=x&encoding-type=url", false, Ok((ListObjects, "b", "")));
        check("GET /b?uploads", false, Ok((ListMultipartUploads, "b", "")));
        check("GET /b?versions&prefix=a", false, Ok((ListObjectVersions, "b", "")));
        check("POST /b?delete", false, Ok((DeleteObjects, "b", "")));
        check("POST /b", false, Ok((PostObject, "b", "")));
        check("POST /b/", false, Ok((PostObject, "b", "")));
        check("GET /b?notification", false, Ok((GetBucketNotificationConfiguration, "b", "")));
        check("PUT /b?notification", false, Ok((PutBucketNotificationConfiguration, "b", "")));
        check("GET /b?versioning", false, Ok((GetBucketVersioning, "b", "")));
        check("GET /b?acl", false, Ok((GetBucketAcl, "b", "")));
        check("GET /b?encryption", false, Ok((GetBucketEncryption, "b", "")));
        check("GET /b?policy", false, Ok((GetBucketMissingConfig(MissingConfig::Policy), "b", "")));
        check("GET /b?cors", false, Ok((GetBucketMissingConfig(MissingConfig::Cors), "b", "")));
        check("PUT /b/k?x-id=PutObject", false, Ok((PutObject, "b", "k")));
        check("PUT /b/dir/a%20b%2Bc", false, Ok((PutObject, "b", "dir/a b+c")));
        check("PUT /b/k", true, Ok((CopyObject, "b", "k")));
        check("GET /b/k?x-id=GetObject", false, Ok((GetObject, "b", "k")));
        check("GET /b/k/", false, Ok((GetObject, "b", "k/")));
        check("GET /b//k", false, Ok((GetObject, "b", "/k")));
        check("HEAD /b/k", false, Ok((HeadObject, "b", "k")));
        check("DELETE /b/k?x-id=DeleteObject", false, Ok((DeleteObject, "b", "k")));
        check("GET /b/k?acl", false, Ok((GetObjectAcl, "b", "k")));
        check("GET /b/k?tagging", false, Ok((GetObjectTagging, "b", "k")));
        check("POST /b/k?uploads", false, Ok((CreateMultipartUpload, "b", "k")));
        check(
            "PUT /b/k?x-id=UploadPart&partNumber=3&uploadId=U",
            false,
            Ok((UploadPart { upload_id: up("U"), part_number: "3".into() }, "b", "k")),
        );
        check(
            "PUT /b/k?partNumber=3&uploadId=U",
            true,
            Ok((UploadPartCopy { upload_id: up("U"), part_number: "3".into() }, "b", "k")),
        );
        check("POST /b/k?uploadId=U", false, Ok((CompleteMultipartUpload { upload_id: up("U") }, "b", "k")));
        check("DELETE /b/k?uploadId=U", false, Ok((AbortMultipartUpload { upload_id: up("U") }, "b", "k")));
        check("GET /b/k?uploadId=U&max-parts=2", false, Ok((ListParts { upload_id: up("U") }, "b", "k")));
    }

    #[test]
    fn refuses_what_is_not_implemented_or_allowed() {
        check("PUT /b?versioning", false, Err("NotImplemented"));
        check("PUT /b?acl", false, Err("NotImplemented"));
        check("GET /b?replication", false, Err("NotImplemented"));
        check("DELETE /b?policy", false, Err("NotImplemented"));
        check("PUT /b/k?tagging", false, Err("NotImplemented"));
        check("POST /b/k?restore", false, Err("NotImplemented"));
        check("GET /b/k?partNumber=1", false, Err("NotImplemented"));
        check("POST /b?replication", false, Err("NotImplemented"));
        check("POST /b/k", false, Err("MethodNotAllowed"));
        check("PATCH /b/k", false, Err("MethodNotAllowed"));
        check("PUT /", false, Err("MethodNotAllowed"));
        check("GET /b/%FF", false, Err("InvalidURI"));
    }

    #[test]
    fn virtual_hosted_style_takes_the_whole_path_as_key() {
        let q = Query::parse(None);
        let r = route(&Method::GET, "/dir/file", &q, false, Some("vb")).unwrap();
        assert_eq!((r.endpoint, r.bucket.as_str(), r.key.as_str()), (GetObject, "vb", "dir/file"));
        let r = route(&Method::PUT, "/", &q, false, Some("vb")).unwrap();
        assert_eq!((r.endpoint, r.bucket.as_str(), r.key.as_str()), (CreateBucket, "vb", ""));
        let r = route(&Method::POST, "/", &q, false, Some("vb")).unwrap();
        assert_eq!((r.endpoint, r.bucket.as_str(), r.key.as_str()), (PostObject, "vb", ""));
    }
}
