//! S3's errors: one variant per AWS error code, each with AWS's exact message, status and extra
//! elements, rendered as S3's XML error document. This is the only place that knows them.
//!
//! Message sources (see COMPAT.md): AWS's error-code reference, responses recorded against AWS
//! (LocalStack's snapshot tests), and messages users quote from real S3 responses.

use axum::http::StatusCode;

use crate::xml;

/// An S3 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    AccessDenied,
    /// A `Content-MD5` (base64) that differs from the MD5 of the body.
    BadDigest {
        expected: String,
        calculated: String,
    },
    /// A flexible checksum (`x-amz-checksum-crc32`, header or trailer) that differs.
    BadChecksum {
        algorithm: &'static str,
    },
    BucketAlreadyExists {
        bucket: String,
    },
    BucketAlreadyOwnedByYou {
        bucket: String,
    },
    BucketNotEmpty {
        bucket: String,
    },
    /// Destination checks of PutBucketNotificationConfiguration failed: `(ARN, reason)` pairs,
    /// rendered as `ArgumentName1`/`ArgumentValue1`, … as AWS does.
    DestinationsNotValidated(Vec<(String, String)>),
    EntityTooLarge {
        proposed: u64,
        max: u64,
    },
    EntityTooSmall {
        proposed: u64,
        min: u64,
        part_number: u32,
        etag: String,
    },
    /// `EntityTooSmall` of a browser-form POST whose file is shorter than its policy's
    /// `content-length-range`.
    EntityTooSmallForPolicy {
        proposed: u64,
        min: u64,
    },
    IncompleteBody,
    InternalError,
    InvalidArgument {
        message: &'static str,
        name: String,
        value: String,
    },
    /// An `x-amz-copy-source-range` outside the source (an `InvalidArgument` naming the size).
    InvalidCopySourceRange {
        value: String,
        size: u64,
    },
    InvalidBucketName {
        bucket: String,
    },
    InvalidDigest {
        content_md5: String,
    },
    InvalidPart {
        part_number: u32,
        etag: String,
        upload_id: String,
    },
    InvalidPartOrder {
        upload_id: String,
    },
    InvalidRange {
        requested: String,
        size: u64,
    },
    InvalidRequest {
        message: &'static str,
    },
    InvalidURI,
    KeyTooLongError {
        size: usize,
        max: usize,
    },
    /// A browser-form POST body that is not `multipart/form-data` as declared.
    MalformedPOSTRequest,
    MalformedXML,
    /// A CreateBucketConfiguration's LocationConstraint that is not a region S3 takes there
    /// (`us-east-1` itself is written as no constraint).
    InvalidLocationConstraint,
    MaxMessageLengthExceeded,
    /// The fields (and boundaries) of a browser-form POST before the file exceed
    /// [`crate::limits::FORM_FIELDS_BYTES_MAX`].
    MaxPostPreDataLengthExceededError,
    MetadataTooLarge {
        size: usize,
        max: usize,
    },
    MethodNotAllowed {
        method: String,
        resource_type: &'static str,
    },
    /// A bucket configuration Versa never has (`?policy`, `?cors`, …): its 404 code and message.
    NoSuchConfiguration {
        code: &'static str,
        message: &'static str,
        bucket: String,
    },
    NoSuchBucket {
        bucket: String,
    },
    NoSuchKey {
        key: String,
    },
    NoSuchUpload {
        upload_id: String,
    },
    /// Unsupported functionality; `header` names the header or parameter that asked for it.
    NotImplemented {
        header: String,
    },
    /// 304 for GET/HEAD conditions (no body).
    NotModified,
    OperationAborted,
    PreconditionFailed {
        condition: &'static str,
    },
    /// An `aws-chunked` chunk or trailer signature that does not match.
    SignatureDoesNotMatch,
    SlowDown,
    TooManyBuckets,
    /// The body does not hash to the signed `x-amz-content-sha256` (both in hex).
    XAmzContentSHA256Mismatch {
        client: String,
        computed: String,
    },
}

impl ApiError {
    /// Status, code, message, and the extra elements that follow `<Message>`.
    fn parts(&self) -> (StatusCode, &'static str, String, Vec<(String, String)>) {
        use ApiError::*;
        let s = |v: &str| v.to_owned();
        let kv = |k: &str, v: String| (k.to_owned(), v);
        match self {
            AccessDenied => (StatusCode::FORBIDDEN, "AccessDenied", s("Access Denied"), vec![]),
            BadDigest { expected, calculated } => (
                StatusCode::BAD_REQUEST,
                "BadDigest",
                s("The Content-MD5 you specified did not match what we received."),
                vec![kv("ExpectedDigest", expected.clone()), kv("CalculatedDigest", calculated.clone())],
            ),
            BadChecksum { algorithm } => (
                StatusCode::BAD_REQUEST,
                "BadDigest",
                format!("The {algorithm} you specified did not match the calculated checksum."),
                vec![],
            ),
            BucketAlreadyExists { bucket } => (
                StatusCode::CONFLICT,
                "BucketAlreadyExists",
                s(
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                ),
                vec![kv("BucketName", bucket.clone())],
            ),
            BucketAlreadyOwnedByYou { bucket } => (
                StatusCode::CONFLICT,
                "BucketAlreadyOwnedByYou",
                s("Your previous request to create the named bucket succeeded and you already own it."),
                vec![kv("BucketName", bucket.clone())],
            ),
            BucketNotEmpty { bucket } => (
                StatusCode::CONFLICT,
                "BucketNotEmpty",
                s("The bucket you tried to delete is not empty"),
                vec![kv("BucketName", bucket.clone())],
            ),
            DestinationsNotValidated(pairs) => {
                let mut extra = Vec::new();
                for (i, (arn, reason)) in pairs.iter().enumerate() {
                    extra.push((format!("ArgumentName{}", i + 1), arn.clone()));
                    extra.push((format!("ArgumentValue{}", i + 1), reason.clone()));
                }
                (
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    s("Unable to validate the following destination configurations"),
                    extra,
                )
            }
            EntityTooLarge { proposed, max } => (
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                s("Your proposed upload exceeds the maximum allowed size"),
                vec![kv("ProposedSize", proposed.to_string()), kv("MaxSizeAllowed", max.to_string())],
            ),
            EntityTooSmall { proposed, min, part_number, etag } => (
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                s("Your proposed upload is smaller than the minimum allowed object size."),
                vec![
                    kv("ProposedSize", proposed.to_string()),
                    kv("MinSizeAllowed", min.to_string()),
                    kv("PartNumber", part_number.to_string()),
                    kv("ETag", etag.clone()),
                ],
            ),
            EntityTooSmallForPolicy { proposed, min } => (
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                s("Your proposed upload is smaller than the minimum allowed size"),
                vec![kv("ProposedSize", proposed.to_string()), kv("MinSizeAllowed", min.to_string())],
            ),
            IncompleteBody => (
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                s("You did not provide the number of bytes specified by the Content-Length HTTP header"),
                vec![],
            ),
            InternalError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                s("We encountered an internal error. Please try again."),
                vec![],
            ),
            InvalidArgument { message, name, value } => (
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                s(message),
                vec![kv("ArgumentName", name.clone()), kv("ArgumentValue", value.clone())],
            ),
            InvalidCopySourceRange { value, size } => (
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                format!("Range specified is not valid for source object of size: {size}"),
                vec![kv("ArgumentName", "x-amz-copy-source-range".to_owned()), kv("ArgumentValue", value.clone())],
            ),
            InvalidBucketName { bucket } => (
                StatusCode::BAD_REQUEST,
                "InvalidBucketName",
                s("The specified bucket is not valid."),
                vec![kv("BucketName", bucket.clone())],
            ),
            InvalidDigest { content_md5 } => (
                StatusCode::BAD_REQUEST,
                "InvalidDigest",
                s("The Content-MD5 you specified was invalid."),
                vec![kv("Content-MD5", content_md5.clone())],
            ),
            InvalidPart { part_number, etag, upload_id } => (
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                s(
                    "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                ),
                vec![
                    kv("UploadId", upload_id.clone()),
                    kv("PartNumber", part_number.to_string()),
                    kv("ETag", etag.clone()),
                ],
            ),
            InvalidPartOrder { upload_id } => (
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                s("The list of parts was not in ascending order. Parts must be ordered by part number."),
                vec![kv("UploadId", upload_id.clone())],
            ),
            InvalidRange { requested, size } => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                s("The requested range is not satisfiable"),
                vec![kv("RangeRequested", requested.clone()), kv("ActualObjectSize", size.to_string())],
            ),
            InvalidRequest { message } => (StatusCode::BAD_REQUEST, "InvalidRequest", s(message), vec![]),
            InvalidURI => (StatusCode::BAD_REQUEST, "InvalidURI", s("Couldn't parse the specified URI."), vec![]),
            KeyTooLongError { size, max } => (
                StatusCode::BAD_REQUEST,
                "KeyTooLongError",
                s("Your key is too long"),
                vec![kv("Size", size.to_string()), kv("MaxSizeAllowed", max.to_string())],
            ),
            MalformedPOSTRequest => (
                StatusCode::BAD_REQUEST,
                "MalformedPOSTRequest",
                s("The body of your POST request is not well-formed multipart/form-data."),
                vec![],
            ),
            InvalidLocationConstraint => (
                StatusCode::BAD_REQUEST,
                "InvalidLocationConstraint",
                s("The specified location-constraint is not valid"),
                vec![],
            ),
            MalformedXML => (
                StatusCode::BAD_REQUEST,
                "MalformedXML",
                s("The XML you provided was not well-formed or did not validate against our published schema"),
                vec![],
            ),
            MaxMessageLengthExceeded => {
                (StatusCode::BAD_REQUEST, "MaxMessageLengthExceeded", s("Your request was too big."), vec![])
            }
            MaxPostPreDataLengthExceededError => (
                StatusCode::BAD_REQUEST,
                "MaxPostPreDataLengthExceededError",
                s("Your POST request fields preceding the upload file were too large."),
                vec![],
            ),
            MetadataTooLarge { size, max } => (
                StatusCode::BAD_REQUEST,
                "MetadataTooLarge",
                s("Your metadata headers exceed the maximum allowed metadata size."),
                vec![kv("Size", size.to_string()), kv("MaxSizeAllowed", max.to_string())],
            ),
            MethodNotAllowed { method, resource_type } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                s("The specified method is not allowed against this resource."),
                vec![kv("Method", method.clone()), kv("ResourceType", (*resource_type).to_owned())],
            ),
            NoSuchConfiguration { code, message, bucket } => {
                (StatusCode::NOT_FOUND, code, s(message), vec![kv("BucketName", bucket.clone())])
            }
            NoSuchBucket { bucket } => (
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                s("The specified bucket does not exist"),
                vec![kv("BucketName", bucket.clone())],
            ),
            NoSuchKey { key } => (
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                s("The specified key does not exist."),
                vec![kv("Key", key.clone())],
            ),
            NoSuchUpload { upload_id } => (
                StatusCode::NOT_FOUND,
                "NoSuchUpload",
                s(
                    "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
                ),
                vec![kv("UploadId", upload_id.clone())],
            ),
            NotImplemented { header } => (
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                s("A header you provided implies functionality that is not implemented"),
                vec![kv("Header", header.clone())],
            ),
            NotModified => (StatusCode::NOT_MODIFIED, "NotModified", s("Not Modified"), vec![]),
            OperationAborted => (
                StatusCode::CONFLICT,
                "OperationAborted",
                s(
                    "A conflicting conditional operation is currently in progress against this resource. Please try again.",
                ),
                vec![],
            ),
            PreconditionFailed { condition } => (
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                s("At least one of the pre-conditions you specified did not hold"),
                vec![kv("Condition", (*condition).to_owned())],
            ),
            SignatureDoesNotMatch => {
                (StatusCode::FORBIDDEN, "SignatureDoesNotMatch", s(sigv4::S3_SIGNATURE_MISMATCH), vec![])
            }
            SlowDown => (StatusCode::SERVICE_UNAVAILABLE, "SlowDown", s("Please reduce your request rate."), vec![]),
            TooManyBuckets => (
                StatusCode::BAD_REQUEST,
                "TooManyBuckets",
                s("You have attempted to create more buckets than allowed"),
                vec![],
            ),
            XAmzContentSHA256Mismatch { client, computed } => (
                StatusCode::BAD_REQUEST,
                "XAmzContentSHA256Mismatch",
                s("The provided 'x-amz-content-sha256' header does not match what was computed."),
                vec![
                    kv("ClientComputedContentSHA256", client.clone()),
                    kv("S3ComputedContentSHA256", computed.clone()),
                ],
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    pub fn message(&self) -> String {
        self.parts().2
    }

    /// The XML error document (`None` for 304, which has no body).
    pub fn body(&self, request_id: &str, host_id: &str) -> Option<String> {
        let (status, code, message, extra) = self.parts();
        if status == StatusCode::NOT_MODIFIED {
            return None;
        }
        Some(document(code, &message, &extra, request_id, host_id))
    }
}

/// S3's XML error document: code, message, the error's own elements, request and host ids.
pub(crate) fn document(
    code: &str,
    message: &str,
    extra: &[(String, String)],
    request_id: &str,
    host_id: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(xml::DECLARATION);
    out.push_str("<Error><Code>");
    out.push_str(code);
    out.push_str("</Code><Message>");
    out.push_str(&xml::escape(message));
    out.push_str("</Message>");
    for (name, value) in extra {
        out.push('<');
        out.push_str(name);
        out.push('>');
        out.push_str(&xml::escape(value));
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out.push_str("<RequestId>");
    out.push_str(&xml::escape(request_id));
    out.push_str("</RequestId><HostId>");
    out.push_str(&xml::escape(host_id));
    out.push_str("</HostId></Error>");
    out
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        tracing::error!(error = %e, "s3: metadata database error");
        ApiError::InternalError
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> ApiError {
        tracing::error!(error = %e, "s3: storage I/O error");
        ApiError::InternalError
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_s3_error_documents() {
        let e = ApiError::NoSuchKey { key: "a&b".into() };
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            e.body("REQ", "HOST").unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;b</Key><RequestId>REQ</RequestId><HostId>HOST</HostId></Error>"
        );
        let e = ApiError::DestinationsNotValidated(vec![("arn:1".into(), "r1".into()), ("arn:2".into(), "r2".into())]);
        let body = e.body("R", "H").unwrap();
        assert!(body.contains("<ArgumentName1>arn:1</ArgumentName1><ArgumentValue1>r1</ArgumentValue1><ArgumentName2>arn:2</ArgumentName2><ArgumentValue2>r2</ArgumentValue2>"), "{body}");
        assert_eq!(ApiError::NotModified.body("R", "H"), None);
    }
}
