//! Verification errors. `Display` gives AWS's generic wording; each service renders its own status,
//! code and extra fields from the variant's data (reference §A2).

use std::fmt;

use crate::time::format_amz_date;

/// Why a request's SigV4 authentication was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The `Authorization` header lacks parameters: `missing` lists `"Credential"`, `"Signature"`,
    /// `"SignedHeaders"` and `"X-Amz-Date"` (neither `X-Amz-Date` nor `Date` was sent), in that order.
    Incomplete { missing: Vec<&'static str>, authorization: String },
    /// An `Authorization` parameter without `=`.
    NotKeyValue { pair: String, authorization: String },
    /// SigV2 (`AWS AKID:sig`), SigV4a (`AWS4-ECDSA-P256-SHA256`, also its streaming payloads) or
    /// anything else that is not `AWS4-HMAC-SHA256`; the value is the algorithm as sent.
    UnsupportedAlgorithm(String),
    /// The credential is not `AKID/YYYYMMDD/region/service/aws4_request`.
    CredentialMalformed { credential: String, presigned: bool },
    /// The credential scope's date is not the request's date.
    ScopeDateMismatch { scope_date: String, request_time: String },
    /// `host` is not in the signed headers.
    HostNotSigned,
    /// The request time (`X-Amz-Date`, else `Date`) as sent, unparseable.
    BadDate(String),
    /// Oversized or non-ASCII authorization, too many parameters.
    Malformed(String),
    /// `x-amz-content-sha256` is neither a digest nor one of the known literals.
    InvalidContentSha256(String),
    /// Header form, outside the skew window. `request_time` is as sent; `time` and `server_time` are unix seconds.
    Skewed { request_time: String, time: i64, server_time: i64, skew_secs: i64, future: bool },
    /// Presigned: a required `X-Amz-*` parameter is missing.
    PresignMissingParams,
    /// Presigned: `X-Amz-Expires` above [`crate::PRESIGN_EXPIRES_MAX_SECS`].
    PresignExpiresTooLarge,
    /// Presigned: `X-Amz-Expires` is not a number, or is 0.
    PresignExpiresInvalid(String),
    /// Presigned: `now > X-Amz-Date + X-Amz-Expires` (unix seconds).
    PresignExpired { expires_secs: u64, expired_at: i64, server_time: i64 },
    /// S3 presigned: `x-amz-*` headers were sent but not signed (lower-case names).
    HeadersNotSigned(Vec<String>),
    /// The signature does not match; the strings the server computed, and the signature provided.
    Mismatch { canonical_request: String, string_to_sign: String, signature_provided: String },
    /// An aws-chunked chunk or trailer signature does not match.
    ChunkMismatch,
}

/// S3's fixed text for a bad signature (also used for chunks).
pub const S3_SIGNATURE_MISMATCH: &str =
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.";

const CREDENTIAL_FORMAT: &str = "expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Incomplete { missing, authorization } => {
                for m in missing {
                    if *m == "X-Amz-Date" {
                        f.write_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")?;
                    } else {
                        write!(f, "Authorization header requires '{m}' parameter. ")?;
                    }
                }
                write!(f, "Authorization={authorization}")
            }
            Error::NotKeyValue { pair, authorization } => {
                write!(f, "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{authorization}'.")
            }
            Error::UnsupportedAlgorithm(_) => {
                f.write_str("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
            }
            Error::CredentialMalformed { presigned: true, .. } => {
                write!(f, "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; {CREDENTIAL_FORMAT}")
            }
            Error::CredentialMalformed { presigned: false, .. } => {
                write!(f, "The authorization header is malformed; the Credential is mal-formed; {CREDENTIAL_FORMAT}")
            }
            Error::ScopeDateMismatch { scope_date, request_time } => write!(
                f,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{}', from '{request_time}'.",
                request_time.get(..8).unwrap_or(request_time)
            ),
            Error::HostNotSigned => f.write_str("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
            Error::BadDate(text) => write!(
                f,
                "Date must be in ISO-8601 'basic format'. Got '{text}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ),
            Error::Malformed(reason) => f.write_str(reason),
            Error::InvalidContentSha256(_) => f.write_str(
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, \
                 STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
            ),
            Error::Skewed { time, server_time, skew_secs, future, .. } => {
                let (t, now, minutes) = (format_amz_date(*time), format_amz_date(*server_time), skew_secs / 60);
                if *future {
                    let limit = format_amz_date(server_time.saturating_add(*skew_secs));
                    write!(f, "Signature not yet current: {t} is still later than {limit} ({now} + {minutes} min.)")
                } else {
                    let limit = format_amz_date(server_time.saturating_sub(*skew_secs));
                    write!(f, "Signature expired: {t} is now earlier than {limit} ({now} - {minutes} min.)")
                }
            }
            Error::PresignMissingParams => f.write_str(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, \
                 X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            ),
            Error::PresignExpiresTooLarge => f.write_str(
                "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds",
            ),
            Error::PresignExpiresInvalid(_) => f.write_str("X-Amz-Expires should be a number greater than 0"),
            Error::PresignExpired { .. } => f.write_str("Request has expired"),
            Error::HeadersNotSigned(_) => f.write_str("There were headers present in the request which were not signed"),
            Error::Mismatch { canonical_request, string_to_sign, .. } => write!(
                f,
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
                 Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String \
                 for this request should have been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
            ),
            Error::ChunkMismatch => f.write_str(S3_SIGNATURE_MISMATCH),
        }
    }
}

impl std::error::Error for Error {}
