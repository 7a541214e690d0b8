//! Request bodies: object data streamed to a temp file while it is hashed (never held whole in
//! memory), and small XML bodies read under a size limit.

use axum::body::Body;
use axum::http::HeaderMap;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use tokio::io::AsyncWriteExt as _;

use crate::chunked::{ChunkError, Decoder};
use crate::error::ApiError;
use crate::files::{Files, TempFile};
use crate::headers::{content_md5, header};
use crate::limits::WRITE_BUFFER_BYTES;

/// How to read an object body, from its request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodySpec {
    /// `aws-chunked` framing (streaming SigV4 payloads, signed or not).
    pub chunked: bool,
    /// The payload length the client announced (`x-amz-decoded-content-length` when chunked,
    /// else `Content-Length`).
    pub length: Option<u64>,
    pub content_md5: Option<[u8; 16]>,
    /// `x-amz-checksum-crc32` sent as a header (base64 of the big-endian CRC32).
    pub crc32: Option<String>,
}

impl BodySpec {
    pub fn from_headers(headers: &HeaderMap) -> Result<BodySpec, ApiError> {
        let sha = header(headers, "x-amz-content-sha256").unwrap_or_default();
        let chunked = sha.starts_with("STREAMING-")
            || header(headers, "content-encoding")
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("aws-chunked")));
        let number = |name: &str| header(headers, name).and_then(|v| v.trim().parse::<u64>().ok());
        let length = if chunked { number("x-amz-decoded-content-length") } else { number("content-length") };
        Ok(BodySpec {
            chunked,
            length,
            content_md5: content_md5(headers)?,
            crc32: header(headers, "x-amz-checksum-crc32").map(str::to_owned),
        })
    }
}

/// An object body on disk, fsynced, not yet persisted.
#[derive(Debug)]
pub struct Received {
    pub tmp: TempFile,
    pub size: u64,
    pub md5: [u8; 16],
}

fn chunk_error(e: ChunkError) -> ApiError {
    tracing::debug!(error = %e, "s3: rejected aws-chunked body");
    ApiError::IncompleteBody
}

/// Streams `body` into a new temp file, decoding `aws-chunked` framing, computing the MD5 (and
/// CRC32 when the client sent one to check), refusing more than `max_bytes` of payload
/// (`EntityTooLarge`, before reading anything when the announced length is already too large).
/// On any error, or if the returned future is dropped, the temp file is removed.
pub async fn receive(files: &Files, body: Body, spec: &BodySpec, max_bytes: u64) -> Result<Received, ApiError> {
    if let Some(n) = spec.length.filter(|n| *n > max_bytes) {
        return Err(ApiError::EntityTooLarge { proposed: n, max: max_bytes });
    }
    let tmp = TempFile::new(files);
    let file = tokio::fs::File::create(tmp.path()).await?;
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
    let mut md5 = Md5::new();
    let mut crc = crc32fast::Hasher::new();
    let mut decoder = spec.chunked.then(Decoder::new);
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|e| {
            tracing::debug!(error = %e, "s3: request body ended with an error");
            ApiError::IncompleteBody
        })?;
        let mut input: &[u8] = &frame;
        loop {
            let data = match decoder.as_mut() {
                Some(d) => match d.decode(&mut input).map_err(chunk_error)? {
                    Some(data) => data,
                    None => break,
                },
                None if input.is_empty() => break,
                None => std::mem::take(&mut input),
            };
            size += data.len() as u64;
            if size > max_bytes {
                return Err(ApiError::EntityTooLarge {
                    proposed: spec.length.unwrap_or(size).max(size),
                    max: max_bytes,
                });
            }
            md5.update(data);
            crc.update(data);
            out.write_all(data).await?;
        }
    }
    let trailers = match decoder {
        Some(d) => d.finish().map_err(chunk_error)?,
        None => Vec::new(),
    };
    if spec.length.is_some_and(|n| n != size) {
        return Err(ApiError::IncompleteBody);
    }
    out.flush().await?;
    out.into_inner().sync_all().await?;

    let digest: [u8; 16] = md5.finalize().into();
    if let Some(expected) = spec.content_md5
        && expected != digest
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        return Err(ApiError::BadDigest { expected: b64.encode(expected), calculated: b64.encode(digest) });
    }
    let trailer_crc = trailers.iter().find(|(k, _)| k == "x-amz-checksum-crc32").map(|(_, v)| v.as_str());
    if let Some(claimed) = spec.crc32.as_deref().or(trailer_crc) {
        check_crc32(claimed, crc.finalize())?;
    }
    Ok(Received { tmp, size, md5: digest })
}

/// Compares a claimed `x-amz-checksum-crc32` (base64 of the big-endian value) with the computed
/// one.
pub fn check_crc32(claimed: &str, computed: u32) -> Result<(), ApiError> {
    use base64::Engine as _;
    if base64::engine::general_purpose::STANDARD.encode(computed.to_be_bytes()) == claimed.trim() {
        Ok(())
    } else {
        Err(ApiError::BadChecksum { algorithm: "CRC32" })
    }
}

/// Reads a small (XML) body whole, refusing more than `max_bytes` (`MaxMessageLengthExceeded`).
pub async fn read_small(body: Body, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|_| ApiError::IncompleteBody)?;
        if out.len() + frame.len() > max_bytes {
            return Err(ApiError::MaxMessageLengthExceeded);
        }
        out.extend_from_slice(&frame);
    }
    Ok(out)
}

/// Checks a small body against its `Content-MD5` and `x-amz-checksum-crc32` headers.
pub fn check_small(headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    if let Some(expected) = content_md5(headers)? {
        let digest: [u8; 16] = Md5::digest(body).into();
        if expected != digest {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            return Err(ApiError::BadDigest { expected: b64.encode(expected), calculated: b64.encode(digest) });
        }
    }
    if let Some(claimed) = header(headers, "x-amz-checksum-crc32") {
        check_crc32(claimed, crc32fast::hash(body))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_compared_in_base64() {
        assert_eq!(check_crc32("DUoRhQ==", crc32fast::hash(b"hello world")), Ok(()));
        assert_eq!(check_crc32("AAAAAA==", crc32fast::hash(b"hello world")).unwrap_err().code(), "BadDigest");
    }

    #[tokio::test]
    async fn streams_chunked_bodies_and_cleans_up_on_errors() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let spec = BodySpec { chunked: true, length: Some(11), content_md5: None, crc32: None };
        let body = Body::from(&b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"[..]);
        let r = receive(&files, body, &spec, 100).await.unwrap();
        assert_eq!(std::fs::read(r.tmp.path()).unwrap(), b"hello world");
        assert_eq!(r.size, 11);
        drop(r);

        let body = Body::from(&b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"[..]);
        assert_eq!(receive(&files, body, &spec, 100).await.unwrap_err().code(), "BadDigest");
        let plain = BodySpec { chunked: false, length: None, content_md5: None, crc32: None };
        assert_eq!(
            receive(&files, Body::from(vec![0u8; 101]), &plain, 100).await.unwrap_err().code(),
            "EntityTooLarge"
        );
        let announced = BodySpec { length: Some(1000), ..plain.clone() };
        assert_eq!(
            receive(&files, Body::from(vec![0u8; 10]), &announced, 100).await.unwrap_err().code(),
            "EntityTooLarge"
        );
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "rejected uploads leave nothing");
    }
}
