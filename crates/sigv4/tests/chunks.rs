//! aws-chunked chunk and trailer signatures (reference §A1.6): AWS's documented example, bodies
//! framed by hand with signatures from the `aws-sigv4` crate, and tampering.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::SigningSettings;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderValue, Method};
use sha2::{Digest, Sha256};
use sigv4::{Credentials, Error, Payload, RequestParts, SignPayload, SigningParams, UriMode};

/// The example of "Signature Calculations for the Authorization Header: Transferring Payload in
/// Multiple Chunks" (S3 API reference, sigv4-streaming): 65536 + 1024 bytes of `a`.
#[test]
fn aws_documented_streaming_example() {
    let mut headers = HeaderMap::new();
    for (n, v) in [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,\
             Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        ),
    ] {
        headers.insert(n, HeaderValue::from_static(v));
    }
    let req = RequestParts {
        method: &Method::PUT,
        raw_path: "/examplebucket/chunkObject.txt",
        raw_query: None,
        headers: &headers,
    };
    let auth = sigv4::parse(&req).unwrap().unwrap();
    assert_eq!(auth.payload, Payload::Streaming { signed: true, trailer: false });
    let verified = auth.verify(&req, UriMode::S3, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None).unwrap();
    let mut chunks = verified.chunks();
    let sha = |n: usize| -> [u8; 32] { Sha256::digest(vec![b'a'; n]).into() };
    let expected = [
        (sha(65536), "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
        (sha(1024), "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
        (sha(0), "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
    ];
    // Out of order fails; in order passes.
    assert_eq!(chunks.clone().verify_chunk(expected[1].0, expected[1].1.as_bytes()), Err(Error::ChunkMismatch));
    for (hash, sig) in expected {
        chunks.verify_chunk(hash, sig.as_bytes()).unwrap();
    }
}

const SECRET: &str = "chunk-secret";
const T0: i64 = 1_704_067_200;

/// A signed streaming PUT: the headers on the wire.
fn streaming_put(payload: &str) -> (HeaderMap, sigv4::Signed) {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
    h.insert("content-encoding", HeaderValue::from_static("aws-chunked"));
    h.insert("x-amz-decoded-content-length", HeaderValue::from_static("300"));
    if payload.ends_with("TRAILER") {
        h.insert("x-amz-trailer", HeaderValue::from_static("x-amz-checksum-crc32"));
    }
    let params = SigningParams {
        credentials: Credentials { access_key_id: "AKID", secret: SECRET, session_token: None },
        region: "us-east-1",
        service: "s3",
        time: T0,
        mode: UriMode::S3,
    };
    let signed = sigv4::sign(&Method::PUT, "/bkt/key", None, &h, &params, SignPayload::Header(payload));
    signed.apply(&mut h);
    (h, signed)
}

/// The chunk and trailer signatures aws-sigv4 computes from `seed`.
fn oracle_signatures(seed: &str, chunks: &[&[u8]], trailer: Option<(&str, &str)>) -> (Vec<String>, Option<String>) {
    let identity: Identity = AwsCredentials::new("AKID", SECRET, None, None, "oracle").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(UNIX_EPOCH + Duration::from_secs(T0 as u64))
        .settings(SigningSettings::default())
        .build()
        .unwrap();
    let mut prev = seed.to_owned();
    let mut sigs = Vec::new();
    for c in chunks {
        prev =
            aws_sigv4::sign::v4::sign_chunk(&bytes::Bytes::copy_from_slice(c), &prev, &params).unwrap().into_parts().1;
        sigs.push(prev.clone());
    }
    let trailer_sig = trailer.map(|(n, v)| {
        let mut headers = aws_smithy_runtime_api::http::Headers::new();
        headers.insert(n.to_owned(), v.to_owned());
        aws_sigv4::sign::v4::sign_trailer(&headers, &prev, &params).unwrap().into_parts().1
    });
    (sigs, trailer_sig)
}

/// A chunk's signature (if signed) and data.
type Chunk = (Option<String>, Vec<u8>);

/// A minimal aws-chunked reader for the test: the chunks, then the trailer lines.
fn split_body(body: &[u8]) -> (Vec<Chunk>, Vec<String>) {
    let mut rest = body;
    let mut chunks = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let line = std::str::from_utf8(&rest[..end]).unwrap();
        rest = &rest[end + 2..];
        let (size, sig) = match line.split_once(";chunk-signature=") {
            Some((s, sig)) => (s, Some(sig.to_owned())),
            None => (line, None),
        };
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            chunks.push((sig, Vec::new()));
            break;
        }
        chunks.push((sig, rest[..size].to_vec()));
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
    let trailers =
        std::str::from_utf8(rest).unwrap().split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect();
    (chunks, trailers)
}

#[test]
fn hand_framed_signed_body_with_trailer() {
    let (headers, signed) = streaming_put(sigv4::STREAMING_PAYLOAD_TRAILER);
    let data: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let (c1, c2) = data.split_at(256);
    let trailer = ("x-amz-checksum-crc32", "AAAAAA==");
    let (sigs, trailer_sig) = oracle_signatures(&signed.signature, &[c1, c2, b""], Some(trailer));
    let trailer_sig = trailer_sig.unwrap();

    // Framed by hand, per §A1.6.
    let mut body = Vec::new();
    body.extend_from_slice(format!("100;chunk-signature={}\r\n", sigs[0]).as_bytes());
    body.extend_from_slice(c1);
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(format!("2c;chunk-signature={}\r\n", sigs[1]).as_bytes());
    body.extend_from_slice(c2);
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(format!("0;chunk-signature={}\r\n", sigs[2]).as_bytes());
    body.extend_from_slice(
        format!("x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:{trailer_sig}\r\n\r\n").as_bytes(),
    );
    // The crate's own framing and signing give the same bytes.
    let mut signer = signed.chunk_signer();
    assert_eq!(sigv4::aws_chunked_body(Some(&mut signer), &data, 256, Some(trailer)), body);

    let req = RequestParts { method: &Method::PUT, raw_path: "/bkt/key", raw_query: None, headers: &headers };
    let auth = sigv4::parse(&req).unwrap().unwrap();
    assert_eq!(auth.payload, Payload::Streaming { signed: true, trailer: true });
    let verified = auth.verify(&req, UriMode::S3, SECRET, None).unwrap();

    let (chunks, trailers) = split_body(&body);
    assert_eq!(
        trailers,
        vec!["x-amz-checksum-crc32:AAAAAA==".to_owned(), format!("x-amz-trailer-signature:{trailer_sig}")]
    );
    let mut v = verified.chunks();
    for (sig, data) in &chunks {
        v.verify_chunk(Sha256::digest(data).into(), sig.as_deref().unwrap().as_bytes()).unwrap();
    }
    v.verify_trailer(b"x-amz-checksum-crc32:AAAAAA==\n", trailer_sig.as_bytes()).unwrap();

    // Tampering: a flipped data byte, a replayed signature, another trailer value, a wrong seed.
    let mut v = verified.chunks();
    let mut bad = chunks[0].1.clone();
    bad[10] ^= 1;
    assert_eq!(
        v.verify_chunk(Sha256::digest(&bad).into(), chunks[0].0.as_deref().unwrap().as_bytes()),
        Err(Error::ChunkMismatch)
    );
    let mut v = verified.chunks();
    v.verify_chunk(Sha256::digest(&chunks[0].1).into(), chunks[0].0.as_deref().unwrap().as_bytes()).unwrap();
    assert_eq!(
        v.verify_chunk(Sha256::digest(&chunks[0].1).into(), chunks[0].0.as_deref().unwrap().as_bytes()),
        Err(Error::ChunkMismatch)
    );
    let mut v = verified.chunks();
    for (sig, data) in &chunks {
        v.verify_chunk(Sha256::digest(data).into(), sig.as_deref().unwrap().as_bytes()).unwrap();
    }
    assert_eq!(
        v.clone().verify_trailer(b"x-amz-checksum-crc32:AAAAAB==\n", trailer_sig.as_bytes()),
        Err(Error::ChunkMismatch)
    );
    assert_eq!(v.verify_trailer(b"x-amz-checksum-crc32:AAAAAA==\n", sigs[2].as_bytes()), Err(Error::ChunkMismatch));
    let (_, other) = streaming_put(sigv4::STREAMING_PAYLOAD);
    let (other_sigs, _) = oracle_signatures(&other.signature, &[c1], None);
    assert_ne!(other_sigs[0], sigs[0], "the seed (header signature) chains into every chunk signature");
}

#[test]
fn unsigned_trailer_and_signed_without_trailer() {
    let (headers, signed) = streaming_put(sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER);
    let req = RequestParts { method: &Method::PUT, raw_path: "/bkt/key", raw_query: None, headers: &headers };
    let auth = sigv4::parse(&req).unwrap().unwrap();
    assert_eq!(auth.payload, Payload::Streaming { signed: false, trailer: true });
    auth.verify(&req, UriMode::S3, SECRET, None).unwrap();
    let body = sigv4::aws_chunked_body(None, b"hello", 3, Some(("x-amz-checksum-crc32", "NhCmhg==")));
    assert_eq!(body, b"3\r\nhel\r\n2\r\nlo\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n");
    drop(signed);

    let (headers, signed) = streaming_put(sigv4::STREAMING_PAYLOAD);
    let req = RequestParts { method: &Method::PUT, raw_path: "/bkt/key", raw_query: None, headers: &headers };
    let verified = sigv4::parse(&req).unwrap().unwrap().verify(&req, UriMode::S3, SECRET, None).unwrap();
    let (sigs, _) = oracle_signatures(&signed.signature, &[b"hello", b""], None);
    let body = sigv4::aws_chunked_body(Some(&mut signed.chunk_signer()), b"hello", 64, None);
    assert_eq!(
        body,
        format!("5;chunk-signature={}\r\nhello\r\n0;chunk-signature={}\r\n\r\n", sigs[0], sigs[1]).into_bytes()
    );
    let mut v = verified.chunks();
    v.verify_chunk(Sha256::digest(b"hello").into(), sigs[0].as_bytes()).unwrap();
    v.verify_chunk(Sha256::digest(b"").into(), sigs[1].as_bytes()).unwrap();
}
