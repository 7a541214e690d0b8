//! Request bodies: object data streamed to a temp file while it is hashed (never held whole in
//! memory) through [`Sink`], and small XML bodies read under a size limit.

use axum::body::Body;
use axum::http::HeaderMap;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use sha2::Sha256;
use tokio::io::AsyncWriteExt as _;

use crate::PayloadCheck;
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
    match e {
        ChunkError::Signature => ApiError::SignatureDoesNotMatch,
        ChunkError::Malformed(_) | ChunkError::Incomplete => ApiError::IncompleteBody,
    }
}

/// `XAmzContentSHA256Mismatch` unless `computed` is the signed digest.
fn check_sha256(signed: &[u8; 32], computed: [u8; 32]) -> Result<(), ApiError> {
    if *signed == computed {
        return Ok(());
    }
    Err(ApiError::XAmzContentSHA256Mismatch {
        client: stdx::hex::encode(signed),
        computed: stdx::hex::encode(&computed),
    })
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
/// announced length is already too large). `check`: the signed body digest (compared once the
/// body is read) or the chunk signatures (each checked as its chunk ends). On any error, or if the
/// returned future is dropped, the temp file is removed: nothing unverified is ever stored.
pub async fn receive(
    files: &Files,
    body: Body,
    spec: &BodySpec,
    max_bytes: u64,
    check: Option<PayloadCheck>,
) -> Result<Received, ApiError> {
    if let Some(n) = spec.length.filter(|n| *n > max_bytes) {
        return Err(ApiError::EntityTooLarge { proposed: n, max: max_bytes });
    }
    let mut sink = Sink::create(files, max_bytes, spec.length).await?;
    let (mut digest, verifier) = match check {
        Some(PayloadCheck::Sha256(d)) => (Some((d, Sha256::new())), None),
        Some(PayloadCheck::Chunks(v)) => (None, Some(v)),
        None => (None, None),
    };
    let mut decoder = match verifier {
        Some(v) if spec.chunked => Some(Decoder::verified(v)),
        // Signed chunks without aws-chunked framing: nothing can carry the chunk signatures.
        Some(_) => return Err(ApiError::SignatureDoesNotMatch),
        None => spec.chunked.then(Decoder::new),
    };
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|e| {
            tracing::debug!(error = %e, "s3: request body ended with an error");
            ApiError::IncompleteBody
        })?;
        if let Some((_, hasher)) = digest.as_mut() {
            // The signed digest covers the body as sent (framing included).
            hasher.update(&frame);
        }
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
    if let Some((signed, hasher)) = digest {
        check_sha256(&signed, hasher.finalize().into())?;
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

/// Reads a small (XML) body whole, refusing more than `max_bytes` (`MaxMessageLengthExceeded`),
/// and checks it against a signed digest (`XAmzContentSHA256Mismatch`). Small bodies are never
/// `aws-chunked`: signed chunks are refused (`SignatureDoesNotMatch`).
pub async fn read_small(body: Body, max_bytes: usize, check: Option<&PayloadCheck>) -> Result<Vec<u8>, ApiError> {
    let out = read_small_unchecked(body, max_bytes).await?;
    match check {
        None => {}
        Some(PayloadCheck::Sha256(signed)) => check_sha256(signed, Sha256::digest(&out).into())?,
        Some(PayloadCheck::Chunks(_)) => return Err(ApiError::SignatureDoesNotMatch),
    }
    Ok(out)
}

async fn read_small_unchecked(body: Body, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
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
        let r = receive(&files, body, &spec, 100, None).await.unwrap();
        assert_eq!(std::fs::read(r.tmp.path()).unwrap(), b"hello world");
        assert_eq!(r.size, 11);
        drop(r);

        let body = Body::from(&b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"[..]);
        assert_eq!(receive(&files, body, &spec, 100, None).await.unwrap_err().code(), "BadDigest");
        let plain = BodySpec { chunked: false, length: None, content_md5: None, crc32: None };
        assert_eq!(
            receive(&files, Body::from(vec![0u8; 101]), &plain, 100, None).await.unwrap_err().code(),
            "EntityTooLarge"
        );
        let announced = BodySpec { length: Some(1000), ..plain.clone() };
        assert_eq!(
            receive(&files, Body::from(vec![0u8; 10]), &announced, 100, None).await.unwrap_err().code(),
            "EntityTooLarge"
        );
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "rejected uploads leave nothing");
    }

    /// A signed streaming PUT's chunk verifier (as the server hands it over) and the signer that
    /// produces its chunks, for `payload`.
    fn signed_streaming(payload: &str) -> (sigv4::ChunkVerifier, sigv4::ChunkSigner) {
        use axum::http::{HeaderValue, Method};
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
        headers.insert("content-encoding", HeaderValue::from_static("aws-chunked"));
        let params = sigv4::SigningParams {
            credentials: sigv4::Credentials { access_key_id: "AKID", secret: "s", session_token: None },
            region: "us-east-1",
            service: "s3",
            time: 1_704_067_200,
            mode: sigv4::UriMode::S3,
        };
        let signed = sigv4::sign(&Method::PUT, "/b/k", None, &headers, &params, sigv4::SignPayload::Header(payload));
        signed.apply(&mut headers);
        let req = sigv4::RequestParts { method: &Method::PUT, raw_path: "/b/k", raw_query: None, headers: &headers };
        let verified = sigv4::parse(&req).unwrap().unwrap().verify(&req, sigv4::UriMode::S3, "s", None).unwrap();
        (verified.chunks(), signed.chunk_signer())
    }

    #[tokio::test]
    async fn signed_digest_is_checked_and_nothing_is_left_on_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let plain = BodySpec { chunked: false, length: Some(11), content_md5: None, crc32: None };
        let good: [u8; 32] = Sha256::digest(b"hello world").into();
        let r =
            receive(&files, Body::from("hello world"), &plain, 100, Some(PayloadCheck::Sha256(good))).await.unwrap();
        assert_eq!(r.size, 11);
        drop(r);
        let e = receive(&files, Body::from("hello wOrld"), &plain, 100, Some(PayloadCheck::Sha256(good)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "XAmzContentSHA256Mismatch");
        assert_eq!(e.status(), 400);
        assert_eq!(e.message(), "The provided 'x-amz-content-sha256' header does not match what was computed.");
        let body = e.body("R", "H").unwrap();
        assert!(
            body.contains(&format!(
                "<ClientComputedContentSHA256>{}</ClientComputedContentSHA256>",
                stdx::hex::encode(&good)
            )),
            "{body}"
        );
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "a mismatched body leaves nothing");

        // Small (XML) bodies too.
        assert_eq!(
            read_small(Body::from("<a/>"), 100, Some(&PayloadCheck::Sha256(Sha256::digest(b"<a/>").into())))
                .await
                .unwrap(),
            b"<a/>"
        );
        let e = read_small(Body::from("<b/>"), 100, Some(&PayloadCheck::Sha256(good))).await.unwrap_err();
        assert_eq!(e.code(), "XAmzContentSHA256Mismatch");
    }

    #[tokio::test]
    async fn chunk_signatures_are_checked_as_the_body_streams() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let spec = BodySpec { chunked: true, length: Some(300), content_md5: None, crc32: None };
        let data: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
        let crc = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(&data).to_be_bytes())
        };
        let trailer = Some(("x-amz-checksum-crc32", crc.as_str()));

        for payload in [sigv4::STREAMING_PAYLOAD, sigv4::STREAMING_PAYLOAD_TRAILER] {
            let with_trailer = payload == sigv4::STREAMING_PAYLOAD_TRAILER;
            let (verifier, mut signer) = signed_streaming(payload);
            let body = sigv4::aws_chunked_body(Some(&mut signer), &data, 128, trailer.filter(|_| with_trailer));
            // Fed in odd-sized frames, so that chunks and headers are split.
            let frames: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(37).map(|c| Ok(c.to_vec())).collect();
            let stream = Body::from_stream(futures_util::stream::iter(frames));
            let r = receive(&files, stream, &spec, 1000, Some(PayloadCheck::Chunks(verifier))).await.unwrap();
            assert_eq!(std::fs::read(r.tmp.path()).unwrap(), data, "{payload}");
        }

        let (verifier, mut signer) = signed_streaming(sigv4::STREAMING_PAYLOAD_TRAILER);
        let body = sigv4::aws_chunked_body(Some(&mut signer), &data, 128, trailer);
        let check = || Some(PayloadCheck::Chunks(verifier.clone()));
        // One data byte changed in the second chunk.
        let mut bad = body.clone();
        let at = bad.windows(4).position(|w| w == b"\r\n80").unwrap() + 100;
        bad[at] ^= 1;
        let e = receive(&files, Body::from(bad), &spec, 1000, check()).await.unwrap_err();
        assert_eq!((e.code(), e.status().as_u16()), ("SignatureDoesNotMatch", 403));
        assert_eq!(
            e.message(),
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        );
        // Another trailer value (the signature no longer covers it).
        let tampered = String::from_utf8(body.clone())
            .unwrap()
            .replace(&format!("x-amz-checksum-crc32:{crc}"), "x-amz-checksum-crc32:AAAAAA==");
        let e = receive(&files, Body::from(tampered), &spec, 1000, check()).await.unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        // A chunk without its signature; the trailer without its signature.
        let unsigned = sigv4::aws_chunked_body(None, &data, 128, trailer);
        let e = receive(&files, Body::from(unsigned), &spec, 1000, check()).await.unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        let text = String::from_utf8(body.clone()).unwrap();
        let cut = text.find("x-amz-trailer-signature").unwrap();
        let no_trailer_sig = format!("{}\r\n", &text[..cut]);
        let e = receive(&files, Body::from(no_trailer_sig), &spec, 1000, check()).await.unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        // Signed chunks, but the body is not aws-chunked.
        let plain = BodySpec { chunked: false, ..spec.clone() };
        assert_eq!(
            receive(&files, Body::from(data.clone()), &plain, 1000, check()).await.unwrap_err().code(),
            "SignatureDoesNotMatch"
        );
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "refused uploads leave nothing");
    }
}
