//! Every bound the S3 service enforces: S3's own fixed limits as constants, and the deployment's
//! choices as validated [`S3Limits`] fields.

/// One gibibyte, for readable limits.
const GIB: u64 = 1 << 30;
/// One mebibyte, for readable limits.
const MIB: u64 = 1 << 20;

/// Longest object key in UTF-8 bytes (S3's fixed limit; longer → `KeyTooLongError`).
pub const KEY_BYTES_MAX: usize = 1024;
/// Highest part number of a multipart upload (S3's fixed limit).
pub const PART_NUMBER_MAX: u32 = 10_000;
/// Most keys plus common prefixes one list page returns (S3's fixed limit).
pub const LIST_PAGE_MAX: u32 = 1000;
/// Most keys one DeleteObjects request may name (S3's fixed limit; more → `MalformedXML`).
pub const DELETE_OBJECTS_KEYS_MAX: usize = 1000;
/// User metadata: the sum of the names (without `x-amz-meta-`) and values, in bytes (S3's fixed
/// limit; more → `MetadataTooLarge`).
pub const USER_METADATA_BYTES_MAX: usize = 2048;
/// Largest CopyObject / UploadPartCopy source (S3's fixed limit; the copy is one request).
pub const COPY_SOURCE_BYTES_MAX: u64 = 5 * GIB;
/// Shortest and longest bucket names (S3's fixed rules).
pub const BUCKET_NAME_LEN_MIN: usize = 3;
pub const BUCKET_NAME_LEN_MAX: usize = 63;
/// Lambda, queue and topic configurations in one notification configuration (Versa's bound:
/// every object write is matched against all of them).
pub const NOTIFICATION_CONFIGURATIONS_MAX: usize = 100;
/// Nesting depth of an XML request body (Versa's bound; S3's schemas nest at most 6 deep).
pub const XML_DEPTH_MAX: usize = 32;
/// Bytes buffered between the request body and the object file while an upload streams.
pub const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// Bytes read from an object file per response body frame.
pub const READ_CHUNK_BYTES: usize = 256 << 10;
/// Longest `aws-chunked` chunk header line (`<hex-size>;chunk-signature=<64 hex>\r\n` is ~90).
pub const CHUNK_HEADER_BYTES_MAX: usize = 4096;
/// Largest `aws-chunked` trailer section (a checksum and a signature are ~200 bytes).
pub const CHUNK_TRAILER_BYTES_MAX: usize = 16 << 10;
/// Browser-form POST uploads: the form data and boundaries before the file's content (every
/// field, and the file part's own headers) in bytes (S3's fixed limit: "cannot exceed 20KB";
/// more → `MaxPostPreDataLengthExceededError`).
pub const FORM_FIELDS_BYTES_MAX: usize = 20 << 10;
/// Bytes of a browser-form POST body after the file part (fields there are ignored) read and
/// discarded before answering; past this, the rest is left unread (Versa's bound).
pub const FORM_TRAILER_BYTES_MAX: u64 = 20 << 10;
/// Longest multipart boundary accepted (RFC 2046 allows 70; Versa's lenient bound).
pub const FORM_BOUNDARY_BYTES_MAX: usize = 256;
/// Read connections to the metadata database (one writer connection besides).
pub const READ_CONNECTIONS: usize = 4;
/// Outbox rows the drainer takes per pass (and deletes in one transaction).
pub const OUTBOX_DRAIN_BATCH: usize = 64;
/// How long a new outbox row belongs to the request that wrote it (which delivers it before
/// answering) before the drainer may take it; only a request that failed to settle its rows
/// leaves them that long.
pub const OUTBOX_OWNER_GRACE_MS: i64 = 30_000;
/// On a shared (PostgreSQL) outbox, how long a row the drainer claimed is its node's: no other
/// node takes it before, unless it is settled first. A node that dies while delivering leaves
/// its rows to the others after this.
pub const OUTBOX_CLAIM_LEASE_MS: i64 = 30_000;
/// The first retry of a delivery refused for now waits this long; each further one twice as
/// long, up to [`OUTBOX_RETRY_DELAY_MAX_MS`].
pub const OUTBOX_RETRY_DELAY_MIN_MS: i64 = 1_000;
pub const OUTBOX_RETRY_DELAY_MAX_MS: i64 = 60_000;
/// Longest sleep of the drainer between looks at the outbox when nothing wakes it.
pub const OUTBOX_IDLE_POLL_MS: u64 = 10_000;

/// The deployment-tunable limits. [`S3Limits::default`] gives AWS's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Limits {
    /// Largest object a single PutObject or CopyObject may create (AWS: 5 GiB) →
    /// `EntityTooLarge`.
    pub object_bytes_max: u64,
    /// Largest part of a multipart upload (AWS: 5 GiB) → `EntityTooLarge`.
    pub part_bytes_max: u64,
    /// Smallest part other than the last one at CompleteMultipartUpload (AWS: 5 MiB) →
    /// `EntityTooSmall`.
    pub part_bytes_min: u64,
    /// Largest object a multipart upload may assemble (AWS: 5 TiB) → `EntityTooLarge`.
    pub multipart_object_bytes_max: u64,
    /// Highest part number accepted (AWS: 10,000; at most [`PART_NUMBER_MAX`]).
    pub parts_max: u32,
    /// Page size cap of every list operation (AWS: 1000; at most [`LIST_PAGE_MAX`]).
    pub keys_per_page_max: u32,
    /// Largest XML request body (CreateBucketConfiguration, Delete, CompleteMultipartUpload,
    /// NotificationConfiguration) → `MaxMessageLengthExceeded`.
    pub xml_body_bytes_max: usize,
    /// Multipart uploads in flight on the whole server → `SlowDown` (Versa's bound; AWS has
    /// none).
    pub multipart_uploads_max: u64,
    /// Buckets per account → `TooManyBuckets` (AWS's default quota: 10,000).
    pub buckets_per_account_max: u32,
    /// Event records waiting in the outbox (written, not yet queued on the Lambda side): a
    /// write whose events would take a non-empty outbox past it is refused with `SlowDown` and
    /// changes nothing (Versa's bound; AWS has none). An empty outbox takes any one write's
    /// events, so that no write is refused for ever.
    pub outbox_events_max: u64,
    /// Payload bytes waiting in the outbox; beyond, like `outbox_events_max`.
    pub outbox_bytes_max: u64,
}

impl Default for S3Limits {
    fn default() -> S3Limits {
        S3Limits {
            object_bytes_max: 5 * GIB,
            part_bytes_max: 5 * GIB,
            part_bytes_min: 5 * MIB,
            multipart_object_bytes_max: 5 * 1024 * GIB,
            parts_max: PART_NUMBER_MAX,
            keys_per_page_max: LIST_PAGE_MAX,
            xml_body_bytes_max: MIB as usize,
            multipart_uploads_max: 10_000,
            buckets_per_account_max: 10_000,
            outbox_events_max: 100_000,
            outbox_bytes_max: 256 * MIB,
        }
    }
}

impl S3Limits {
    /// Checks that the limits are coherent; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if self.object_bytes_max == 0 {
            return Err("object_bytes_max must be positive".into());
        }
        if self.part_bytes_min > self.part_bytes_max || self.part_bytes_max == 0 {
            return Err("part_bytes_min must be at most part_bytes_max, which must be positive".into());
        }
        if self.multipart_object_bytes_max < self.part_bytes_max {
            return Err("multipart_object_bytes_max must be at least part_bytes_max".into());
        }
        if !(1..=PART_NUMBER_MAX).contains(&self.parts_max) {
            return Err(format!("parts_max must be between 1 and {PART_NUMBER_MAX}"));
        }
        if !(1..=LIST_PAGE_MAX).contains(&self.keys_per_page_max) {
            return Err(format!("keys_per_page_max must be between 1 and {LIST_PAGE_MAX}"));
        }
        if self.xml_body_bytes_max < 4096 {
            return Err("xml_body_bytes_max must be at least 4096".into());
        }
        if self.multipart_uploads_max == 0 || self.buckets_per_account_max == 0 {
            return Err("multipart_uploads_max and buckets_per_account_max must be positive".into());
        }
        if self.outbox_events_max == 0 || self.outbox_bytes_max == 0 {
            return Err("outbox_events_max and outbox_bytes_max must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_aws_values_and_valid() {
        let l = S3Limits::default();
        assert_eq!(l.object_bytes_max, 5_368_709_120);
        assert_eq!(l.part_bytes_min, 5_242_880);
        assert_eq!(l.parts_max, 10_000);
        assert!(l.validate().is_ok());
        assert!(S3Limits { parts_max: 10_001, ..S3Limits::default() }.validate().is_err());
        assert!(S3Limits { part_bytes_min: 6 * GIB, ..S3Limits::default() }.validate().is_err());
    }
}
