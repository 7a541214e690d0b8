//! Payload signatures (`RequestContext::payload_check`): a signed `x-amz-content-sha256` digest
//! and signed `aws-chunked` chunks and trailers, checked while the body streams; nothing is stored
//! when a check fails. Requests are signed with the `sigv4` crate's helpers and sent raw.

use axum::http::{HeaderMap, HeaderValue, Method};
use sha2::{Digest as _, Sha256};

use crate::support::{RawResponse, TestS3};

fn params() -> sigv4::SigningParams<'static> {
    sigv4::SigningParams {
        credentials: sigv4::Credentials { access_key_id: "test", secret: "secret", session_token: None },
        region: "us-east-1",
        service: "s3",
        time: 1_764_892_800,
        mode: sigv4::UriMode::S3,
    }
}

/// Signs `PUT path?query` with `extra` headers and payload literal `payload`, sends `body` raw.
async fn signed_put(
    t: &TestS3,
    target: &str,
    extra: &[(&'static str, &str)],
    payload: &str,
    body: &[u8],
) -> RawResponse {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let host = t.addr.to_string();
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_str(&host).unwrap());
    for (n, v) in extra {
        headers.insert(*n, HeaderValue::from_str(v).unwrap());
    }
    let signed = sigv4::sign(&Method::PUT, path, query, &headers, &params(), sigv4::SignPayload::Header(payload));
    let mut all: Vec<(&str, &str)> = vec![("host", &host)];
    all.extend(extra.iter().copied());
    all.extend(signed.headers.iter().map(|(n, v)| (*n, v.as_str())));
    t.raw("PUT", target, &all, body).await
}

/// Signs a streaming PUT and frames `data` as signed `aws-chunked` (64-byte chunks, a CRC32
/// trailer when `payload` has one); `tamper` edits the framed body before it is sent.
async fn chunked_put(
    t: &TestS3,
    target: &str,
    payload: &str,
    data: &[u8],
    tamper: impl FnOnce(&mut Vec<u8>),
) -> RawResponse {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let host = t.addr.to_string();
    let length = data.len().to_string();
    let with_trailer = payload == sigv4::STREAMING_PAYLOAD_TRAILER;
    let mut extra: Vec<(&'static str, &str)> =
        vec![("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", &length)];
    if with_trailer {
        extra.push(("x-amz-trailer", "x-amz-checksum-crc32"));
    }
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_str(&host).unwrap());
    for (n, v) in &extra {
        headers.insert(*n, HeaderValue::from_str(v).unwrap());
    }
    let signed = sigv4::sign(&Method::PUT, path, query, &headers, &params(), sigv4::SignPayload::Header(payload));
    let crc = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(data).to_be_bytes())
    };
    let trailer = with_trailer.then_some(("x-amz-checksum-crc32", crc.as_str()));
    let mut body = sigv4::aws_chunked_body(Some(&mut signed.chunk_signer()), data, 64, trailer);
    tamper(&mut body);
    let mut all: Vec<(&str, &str)> = vec![("host", &host)];
    all.extend(extra.iter().copied());
    all.extend(signed.headers.iter().map(|(n, v)| (*n, v.as_str())));
    t.raw("PUT", target, &all, &body).await
}

async fn object(t: &TestS3, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let got = t.client().get_object().bucket(bucket).key(key).send().await.ok()?;
    Some(got.body.collect().await.unwrap().into_bytes().to_vec())
}

#[tokio::test]
async fn a_signed_digest_must_match_the_body() {
    let t = TestS3::start().await;
    t.client().create_bucket().bucket("sig").send().await.unwrap();
    let digest = stdx::hex::encode(&Sha256::digest(b"hello world"));

    let r = signed_put(&t, "/sig/k", &[], &digest, b"hello world").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(object(&t, "sig", "k").await.as_deref(), Some(&b"hello world"[..]));

    // Another body under the same signed digest: refused, and the object is unchanged.
    let r = signed_put(&t, "/sig/k", &[], &digest, b"hello WORLD").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.xml("Code").as_deref(), Some("XAmzContentSHA256Mismatch"));
    assert_eq!(
        r.xml("Message").map(|m| m.replace("&apos;", "'")).as_deref(),
        Some("The provided 'x-amz-content-sha256' header does not match what was computed.")
    );
    assert_eq!(r.xml("ClientComputedContentSHA256"), Some(digest.clone()));
    assert_eq!(r.xml("S3ComputedContentSHA256"), Some(stdx::hex::encode(&Sha256::digest(b"hello WORLD"))));
    assert_eq!(object(&t, "sig", "k").await.as_deref(), Some(&b"hello world"[..]));
    let r = signed_put(&t, "/sig/new", &[], &digest, b"hello WORLD").await;
    assert_eq!(r.status, 400);
    assert_eq!(object(&t, "sig", "new").await, None, "nothing stored");

    // An XML body (PutBucketNotificationConfiguration) is checked too.
    let xml = b"<NotificationConfiguration/>";
    let r = signed_put(&t, "/sig?notification", &[], &digest, xml).await;
    assert_eq!(r.xml("Code").as_deref(), Some("XAmzContentSHA256Mismatch"), "{}", r.text());
    let r = signed_put(&t, "/sig?notification", &[], &stdx::hex::encode(&Sha256::digest(xml)), xml).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn signed_chunks_and_trailers_are_verified() {
    let t = TestS3::start().await;
    t.client().create_bucket().bucket("chunks").send().await.unwrap();
    let data: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();

    for payload in [sigv4::STREAMING_PAYLOAD, sigv4::STREAMING_PAYLOAD_TRAILER] {
        let r = chunked_put(&t, "/chunks/good", payload, &data, |_| {}).await;
        assert_eq!(r.status, 200, "{payload}: {}", r.text());
        assert_eq!(object(&t, "chunks", "good").await.as_deref(), Some(&data[..]));
    }
    let head = t.client().head_object().bucket("chunks").key("good").send().await.unwrap();
    assert_eq!(head.content_encoding(), None, "aws-chunked is not stored");

    // One data byte changed in the fifth chunk: 403, and the object keeps its old bytes.
    let flip = |body: &mut Vec<u8>| {
        let fifth = body.windows(4).enumerate().filter(|(_, w)| *w == b"\r\n40").nth(3).unwrap().0;
        let at = fifth + 100;
        body[at] ^= 0x20;
    };
    for payload in [sigv4::STREAMING_PAYLOAD, sigv4::STREAMING_PAYLOAD_TRAILER] {
        let r = chunked_put(&t, "/chunks/good", payload, &b"z".repeat(1000), flip).await;
        assert_eq!(r.status, 403, "{payload}: {}", r.text());
        assert_eq!(r.xml("Code").as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(
            r.xml("Message").as_deref(),
            Some(
                "The request signature we calculated does not match the signature you provided. Check your key and signing method."
            )
        );
        assert_eq!(object(&t, "chunks", "good").await.as_deref(), Some(&data[..]), "unchanged");
    }
    let r = chunked_put(&t, "/chunks/bad", sigv4::STREAMING_PAYLOAD, &data, flip).await;
    assert_eq!(r.status, 403);
    assert_eq!(object(&t, "chunks", "bad").await, None, "nothing stored");

    // The trailer's checksum replaced (consistent with another body): its signature no longer matches.
    let r = chunked_put(&t, "/chunks/bad", sigv4::STREAMING_PAYLOAD_TRAILER, &data, |body| {
        let text = String::from_utf8(body.clone()).unwrap();
        let start = text.find("x-amz-checksum-crc32:").unwrap() + "x-amz-checksum-crc32:".len();
        body.splice(start..start + 8, *b"AAAAAA==");
    })
    .await;
    assert_eq!(r.xml("Code").as_deref(), Some("SignatureDoesNotMatch"), "{}", r.text());
    assert_eq!(object(&t, "chunks", "bad").await, None);

    // Multipart: UploadPart with signed chunks.
    let up = t.client().create_multipart_upload().bucket("chunks").key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let target = format!("/chunks/mp?partNumber=1&uploadId={id}");
    let r = chunked_put(&t, &target, sigv4::STREAMING_PAYLOAD_TRAILER, &data, flip).await;
    assert_eq!(r.xml("Code").as_deref(), Some("SignatureDoesNotMatch"));
    let parts = t.client().list_parts().bucket("chunks").key("mp").upload_id(id).send().await.unwrap();
    assert!(parts.parts().is_empty(), "no part stored");
    let r = chunked_put(&t, &target, sigv4::STREAMING_PAYLOAD_TRAILER, &data, |_| {}).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let parts = t.client().list_parts().bucket("chunks").key("mp").upload_id(id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 1);
}
