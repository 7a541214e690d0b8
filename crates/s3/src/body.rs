//! Request bodies: object data streamed to a temp file while it is hashed (never held whole in
//! memory) through [`Sink`], and small XML bodies read under a size limit.

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

/// The object write path shared by every upload (PutObject, UploadPart, browser-form POST): a
/// new temp file fed piece by piece, hashed (MD5 for the ETag, CRC32 for flexible checksums)
/// and bounded as it is written, then flushed and fsynced by [`Sink::finish`], which also checks
/// the client's digests. The temp file is removed if the sink is dropped unfinished or
/// `finish` fails, so a rejected or abandoned upload leaves nothing behind.
#[derive(Debug)]
pub struct Sink {
    tmp: TempFile,
    out: tokio::io::BufWriter<tokio::fs::File>,
    md5: Md5,
    crc: crc32fast::Hasher,
    size: u64,
    max_bytes: u64,
    /// The size the client announced, reported as `ProposedSize` when larger than what was
    /// written when the limit is crossed.
    announced: Option<u64>,
}

impl Sink {
    /// Creates the temp file. More than `max_bytes` written → `EntityTooLarge`.
    pub async fn create(files: &Files, max_bytes: u64, announced: Option<u64>) -> Result<Sink, ApiError> {
        let tmp = TempFile::new(files);
        let file = tokio::fs::File::create(tmp.path()).await?;
        Ok(Sink {
            tmp,
            out: tokio::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
            md5: Md5::new(),
            crc: crc32fast::Hasher::new(),
            size: 0,
            max_bytes,
            announced,
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `data`, refusing to go past the limit (nothing of `data` is written then).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), ApiError> {
        let size = self.size + data.len() as u64;
        if size > self.max_bytes {
            return Err(ApiError::EntityTooLarge {
                proposed: self.announced.unwrap_or(size).max(size),
                max: self.max_bytes,
            });
        }
        self.size = size;
        self.md5.update(data);
        self.crc.update(data);
        self.out.write_all(data).await?;
        Ok(())
    }

    /// Flushes and fsyncs the file, then checks `content_md5` (`BadDigest`) and a claimed
    /// `x-amz-checksum-crc32` (base64).
    pub async fn finish(mut self, content_md5: Option<[u8; 16]>, crc32: Option<&str>) -> Result<Received, ApiError> {
        self.out.flush().await?;
        self.out.into_inner().sync_all().await?;
        let digest: [u8; 16] = self.md5.finalize().into();
        if let Some(expected) = content_md5
            && expected != digest
        {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            return Err(ApiError::BadDigest { expected: b64.encode(expected), calculated: b64.encode(digest) });
        }
        if let Some(claimed) = crc32 {
            check_crc32(claimed, self.crc.finalize())?;
        }
        Ok(Received { tmp: self.tmp, size: self.size, md5: digest })
    }
}

/// Streams `body` into a new temp file through a [`Sink`], decoding `aws-chunked` framing,
/// refusing more than `max_bytes` of payload (`EntityTooLarge`, before reading anything when the
/// announced length is already too large). On any error, or if the returned future is dropped,
/// the temp file is removed.
pub async fn receive(files: &Files, body: Body, spec: &BodySpec, max_bytes: u64) -> Result<Received, ApiError> {
    if let Some(n) = spec.length.filter(|n| *n > max_bytes) {
        return Err(ApiError::EntityTooLarge { proposed: n, max: max_bytes });
    }
    let mut sink = Sink::create(files, max_bytes, spec.length).await?;
    let mut decoder = spec.chunked.then(Decoder::new);
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
            sink.write(data).await?;
        }
    }
    let trailers = match decoder {
        Some(d) => d.finish().map_err(chunk_error)?,
        None => Vec::new(),
    };
    if spec.length.is_some_and(|n| n != sink.size()) {
        return Err(ApiError::IncompleteBody);
    }
    let trailer_crc = trailers.iter().find(|(k, _)| k == "x-amz-checksum-crc32").map(|(_, v)| v.as_str());
    sink.finish(spec.content_md5, spec.crc32.as_deref().or(trailer_crc)).await
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
