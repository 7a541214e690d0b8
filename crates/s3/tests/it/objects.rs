//! PutObject, GetObject (ranges, conditions), HeadObject, DeleteObject(s), CopyObject, digests,
//! metadata, aws-chunked bodies, limits.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, MetadataDirective, ObjectIdentifier};
use s3::S3Limits;

use crate::support::{TestS3, code, keys, md5_b64, md5_hex};

async fn bucket(t: &TestS3, name: &str) -> aws_sdk_s3::Client {
    let c = t.client();
    c.create_bucket().bucket(name).send().await.unwrap();
    c
}

pub(crate) async fn get(c: &aws_sdk_s3::Client, b: &str, k: &str) -> Vec<u8> {
    c.get_object().bucket(b).key(k).send().await.unwrap().body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn put_get_head_with_metadata() {
    let t = TestS3::start().await;
    let c = bucket(&t, "objs").await;
    let put = c
        .put_object()
        .bucket("objs")
        .key("dir/hello world+é.txt")
        .body(ByteStream::from_static(b"hello, world"))
        .content_type("text/plain")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"h.txt\"")
        .content_language("en")
        .cache_control("max-age=60")
        .expires(aws_sdk_s3::primitives::DateTime::from_secs(2_000_000_000))
        .metadata("color", "blue")
        .metadata("Mixed-Case", "v")
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(b"hello, world"));
    assert_eq!(put.e_tag(), Some(etag.as_str()));

    let got = c.get_object().bucket("objs").key("dir/hello world+é.txt").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(got.content_disposition(), Some("attachment; filename=\"h.txt\""));
    assert_eq!(got.content_language(), Some("en"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
    assert_eq!(got.content_length(), Some(12));
    assert_eq!(got.accept_ranges(), Some("bytes"));
    let meta = got.metadata().unwrap();
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(meta.get("mixed-case").map(String::as_str), Some("v"));
    assert!(got.last_modified().is_some());
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello, world");

    let head = c.head_object().bucket("objs").key("dir/hello world+é.txt").send().await.unwrap();
    assert_eq!(head.content_length(), Some(12));
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.metadata().unwrap().get("color").map(String::as_str), Some("blue"));

    // Defaults: binary/octet-stream (the SDK itself sends application/octet-stream, so raw
    // HTTP), no encoding; an empty object.
    let r = t.raw("PUT", "/objs/empty", &[], b"").await;
    assert_eq!(r.status, 200);
    let head = c.head_object().bucket("objs").key("empty").send().await.unwrap();
    assert_eq!(head.content_type(), Some("binary/octet-stream"));
    assert_eq!(head.content_length(), Some(0));
    assert_eq!(head.e_tag(), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));

    // Last-Modified is RFC 1123.
    let r = t.raw("HEAD", "/objs/empty", &[], b"").await;
    let lm = r.header("last-modified").unwrap();
    assert!(lm.ends_with(" GMT") && lm.contains(", "), "{lm}");
    assert_eq!(r.header("content-length"), Some("0"));
}

#[tokio::test]
async fn missing_keys_and_buckets() {
    let t = TestS3::start().await;
    let c = bucket(&t, "miss").await;
    let e = c.get_object().bucket("miss").key("nope").send().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_no_such_key());
    let e = c.head_object().bucket("miss").key("nope").send().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_not_found());
    let e = c.get_object().bucket("nobucket").key("k").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchBucket");
    let e = c.put_object().bucket("nobucket").key("k").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchBucket");

    let r = t.raw("GET", "/miss/a%20b", &[], b"").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/xml"));
    let text = r.text();
    assert!(text.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a b</Key><RequestId>"#), "{text}");
    let r = t.raw("GET", "/nobucket/k", &[], b"").await;
    assert_eq!(r.xml("Message").as_deref(), Some("The specified bucket does not exist"));
    assert_eq!(r.xml("BucketName").as_deref(), Some("nobucket"));
    let r = t.raw("HEAD", "/miss/nope", &[], b"").await;
    assert_eq!((r.status, r.body.len()), (404, 0));
    assert!(r.header("x-amz-request-id").is_some());
}

#[tokio::test]
async fn ranges() {
    let t = TestS3::start().await;
    let c = bucket(&t, "ranges").await;
    let data: Vec<u8> = (0..100u8).collect();
    c.put_object().bucket("ranges").key("k").body(data.clone().into()).send().await.unwrap();
    for (range, from, to) in
        [("bytes=0-9", 0, 9), ("bytes=90-", 90, 99), ("bytes=-5", 95, 99), ("bytes=50-500", 50, 99)]
    {
        let got = c.get_object().bucket("ranges").key("k").range(range).send().await.unwrap();
        assert_eq!(got.content_range(), Some(format!("bytes {from}-{to}/100").as_str()), "{range}");
        assert_eq!(got.content_length(), Some(to - from + 1));
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(body.as_ref(), &data[from as usize..=to as usize], "{range}");
    }
    let r = t.raw("GET", "/ranges/k", &[("range", "bytes=0-9")], b"").await;
    assert_eq!(r.status, 206);
    // Ranges S3 ignores: the whole object, 200.
    let r = t.raw("GET", "/ranges/k", &[("range", "bytes=0-1,5-6")], b"").await;
    assert_eq!((r.status, r.body.len()), (200, 100));
    let e = c.get_object().bucket("ranges").key("k").range("bytes=100-").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "InvalidRange");
    let r = t.raw("GET", "/ranges/k", &[("range", "bytes=200-300")], b"").await;
    assert_eq!(r.status, 416);
    assert_eq!(r.xml("Message").as_deref(), Some("The requested range is not satisfiable"));
    assert_eq!(r.xml("RangeRequested").as_deref(), Some("bytes=200-300"));
    assert_eq!(r.xml("ActualObjectSize").as_deref(), Some("100"));
    let head = c.head_object().bucket("ranges").key("k").range("bytes=10-19").send().await.unwrap();
    assert_eq!(head.content_length(), Some(10));
}

#[tokio::test]
async fn conditional_reads() {
    let t = TestS3::start().await;
    let c = bucket(&t, "cond").await;
    let put = c.put_object().bucket("cond").key("k").body(ByteStream::from_static(b"v1")).send().await.unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    let got = c.get_object().bucket("cond").key("k").if_match(&etag).send().await.unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    let e = c.get_object().bucket("cond").key("k").if_match("\"other\"").send().await.unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 412);
    assert_eq!(code(e.as_service_error().unwrap()), "PreconditionFailed");
    let e = c.get_object().bucket("cond").key("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 304);
    let later = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
    let e = c.get_object().bucket("cond").key("k").if_modified_since(later).send().await.unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 304);
    let earlier = aws_sdk_s3::primitives::DateTime::from_secs(1_000_000_000);
    let e = c.get_object().bucket("cond").key("k").if_unmodified_since(earlier).send().await.unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 412);
    let e = c.head_object().bucket("cond").key("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 304);

    let r = t.raw("GET", "/cond/k", &[("if-match", "\"nope\"")], b"").await;
    assert_eq!(r.xml("Message").as_deref(), Some("At least one of the pre-conditions you specified did not hold"));
    assert_eq!(r.xml("Condition").as_deref(), Some("If-Match"));
    let r = t.raw("GET", "/cond/k", &[("if-none-match", &etag)], b"").await;
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    // A version id other than `null` names no version of an unversioned bucket's object.
    let r = t.raw("GET", "/cond/k?versionId=abc", &[], b"").await;
    assert_eq!((r.status, r.xml("Message").as_deref()), (400, Some("Invalid version id specified")));
    assert_eq!(t.raw("GET", "/cond/k?versionId=null", &[], b"").await.status, 200);

    // Conditional writes: If-None-Match: * creates only once.
    c.put_object()
        .bucket("cond")
        .key("once")
        .if_none_match("*")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("cond")
        .key("once")
        .if_none_match("*")
        .body(ByteStream::from_static(b"b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 412);
    assert_eq!(crate::objects::get(&c, "cond", "once").await, b"a");
}

#[tokio::test]
async fn digests_are_verified() {
    let t = TestS3::start().await;
    let c = bucket(&t, "digests").await;
    c.put_object()
        .bucket("digests")
        .key("ok")
        .content_md5(md5_b64(b"data"))
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("digests")
        .key("bad")
        .content_md5(md5_b64(b"other"))
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "BadDigest");
    let r = t.raw("PUT", "/digests/bad", &[("content-md5", &md5_b64(b"other"))], b"data").await;
    assert_eq!(r.xml("Message").as_deref(), Some("The Content-MD5 you specified did not match what we received."));
    let r = t.raw("PUT", "/digests/bad", &[("content-md5", "not-base64!")], b"data").await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidDigest")));
    assert_eq!(r.xml("Message").as_deref(), Some("The Content-MD5 you specified was invalid."));
    // A wrong CRC32 checksum header is refused too.
    let r = t.raw("PUT", "/digests/bad", &[("x-amz-checksum-crc32", "AAAAAA==")], b"data").await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("BadDigest")));
    assert_eq!(keys(&c, "digests").await, ["ok"], "rejected bodies store nothing");
    assert_eq!(std::fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn metadata_limit() {
    let t = TestS3::start().await;
    let c = bucket(&t, "meta").await;
    let e = c
        .put_object()
        .bucket("meta")
        .key("k")
        .metadata("big", "v".repeat(2048))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "MetadataTooLarge");
    c.put_object()
        .bucket("meta")
        .key("k")
        .metadata("big", "v".repeat(2045))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn aws_chunked_bodies_are_decoded() {
    let t = TestS3::start().await;
    let c = bucket(&t, "chunked").await;
    // Unsigned payload with a CRC32 trailer, as current SDKs and the CLI send it.
    let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    let r = t
        .raw(
            "PUT",
            "/chunked/unsigned",
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                ("x-amz-decoded-content-length", "11"),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag").map(str::to_owned), Some(format!("\"{}\"", md5_hex(b"hello world"))));
    // Signed chunks, and a content encoding of the client's own next to aws-chunked.
    let body = b"5;chunk-signature=aa\r\nhello\r\n6;chunk-signature=bb\r\n world\r\n0;chunk-signature=cc\r\n\r\n";
    let r = t
        .raw(
            "PUT",
            "/chunked/signed",
            &[
                ("content-encoding", "aws-chunked,gzip"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("x-amz-decoded-content-length", "11"),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c.get_object().bucket("chunked").key("unsigned").send().await.unwrap();
    assert_eq!(got.content_encoding(), None, "aws-chunked is not stored");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello world");
    let got = c.get_object().bucket("chunked").key("signed").send().await.unwrap();
    assert_eq!(got.content_encoding(), Some("gzip"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello world");

    // A wrong trailer checksum, a wrong decoded length and a truncated body are refused.
    let bad = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
    let r = t
        .raw("PUT", "/chunked/bad", &[("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", "5")], bad)
        .await;
    assert_eq!(r.xml("Code").as_deref(), Some("BadDigest"));
    let r = t
        .raw(
            "PUT",
            "/chunked/bad",
            &[("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", "6")],
            b"5\r\nhello\r\n0\r\n\r\n",
        )
        .await;
    assert_eq!(r.xml("Code").as_deref(), Some("IncompleteBody"));
    let r = t.raw("PUT", "/chunked/bad", &[("content-encoding", "aws-chunked")], b"5\r\nhel").await;
    assert_eq!(r.xml("Code").as_deref(), Some("IncompleteBody"));
    assert_eq!(keys(&c, "chunked").await, ["signed", "unsigned"]);
}

#[tokio::test]
async fn sdk_streaming_uploads_with_checksums() {
    let t = TestS3::start().await;
    let c = bucket(&t, "sdk-stream").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let data = crate::support::bytes(300_000, 7);
    std::fs::write(&path, &data).unwrap();
    // A file body: the SDK streams it (aws-chunked with a CRC32 trailer).
    c.put_object()
        .bucket("sdk-stream")
        .key("file")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "sdk-stream", "file").await, data);
    // The SDK's response checksum validation copes with answers that carry no checksum headers.
    let got = c
        .get_object()
        .bucket("sdk-stream")
        .key("file")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), data.len());
}

#[tokio::test]
async fn deletes() {
    let t = TestS3::start().await;
    let c = bucket(&t, "del").await;
    for k in ["a", "b", "c", "d"] {
        c.put_object().bucket("del").key(k).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    let r = c.delete_object().bucket("del").key("a").send().await.unwrap();
    let _ = r;
    // Idempotent: deleting a missing key is a 204 too.
    c.delete_object().bucket("del").key("a").send().await.unwrap();
    let raw = t.raw("DELETE", "/del/never-existed", &[], b"").await;
    assert_eq!(raw.status, 204);

    let ids = |keys: &[&str]| {
        Delete::builder()
            .set_objects(Some(keys.iter().map(|k| ObjectIdentifier::builder().key(*k).build().unwrap()).collect()))
            .build()
            .unwrap()
    };
    let out = c.delete_objects().bucket("del").delete(ids(&["b", "missing"])).send().await.unwrap();
    let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["b", "missing"]);
    assert!(out.errors().is_empty());
    let quiet = Delete::builder()
        .set_objects(Some(vec![ObjectIdentifier::builder().key("c").build().unwrap()]))
        .quiet(true)
        .build()
        .unwrap();
    let out = c.delete_objects().bucket("del").delete(quiet).send().await.unwrap();
    assert!(out.deleted().is_empty() && out.errors().is_empty());
    assert_eq!(keys(&c, "del").await, ["d"]);

    // Content-MD5 (or a flexible checksum) is required, and checked.
    let body = b"<Delete><Object><Key>d</Key></Object></Delete>";
    let r = t.raw("POST", "/del?delete", &[], body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.xml("Code").as_deref(), Some("InvalidRequest"));
    assert_eq!(r.xml("Message").as_deref(), Some("Missing required header for this request: Content-MD5."));
    let r = t.raw("POST", "/del?delete", &[("content-md5", &md5_b64(b"other"))], body).await;
    assert_eq!(r.xml("Code").as_deref(), Some("BadDigest"));
    let r = t.raw("POST", "/del?delete", &[("content-md5", &md5_b64(b"<Delete>"))], b"<Delete>").await;
    assert_eq!(r.xml("Code").as_deref(), Some("MalformedXML"));
    let r = t.raw("POST", "/del?delete", &[("content-md5", &md5_b64(body))], body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.xml("Key").as_deref(), Some("d"));
    assert!(keys(&c, "del").await.is_empty());
    // More than 1000 keys is malformed.
    let many: String = (0..1001).map(|i| format!("<Object><Key>k{i}</Key></Object>")).collect();
    let body = format!("<Delete>{many}</Delete>");
    let r = t.raw("POST", "/del?delete", &[("content-md5", &md5_b64(body.as_bytes()))], body.as_bytes()).await;
    assert_eq!(r.xml("Code").as_deref(), Some("MalformedXML"));
}

#[tokio::test]
async fn copies() {
    let t = TestS3::start().await;
    let c = bucket(&t, "src").await;
    c.create_bucket().bucket("dst").send().await.unwrap();
    let src_key = "dir/a b+c&d.txt";
    let put = c
        .put_object()
        .bucket("src")
        .key(src_key)
        .content_type("text/x-src")
        .metadata("origin", "src")
        .body(ByteStream::from_static(b"copy me"))
        .send()
        .await
        .unwrap();
    let encoded = "src/dir/a%20b%2Bc%26d.txt";

    // COPY (the default): bytes, ETag and metadata come along.
    let out = c.copy_object().bucket("dst").key("copy").copy_source(encoded).send().await.unwrap();
    let res = out.copy_object_result().unwrap();
    assert_eq!(res.e_tag(), put.e_tag());
    assert!(res.last_modified().is_some());
    let got = c.get_object().bucket("dst").key("copy").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/x-src"));
    assert_eq!(got.metadata().unwrap().get("origin").map(String::as_str), Some("src"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"copy me");

    // REPLACE takes the request's headers; `?versionId=null` and a leading slash are accepted.
    c.copy_object()
        .bucket("dst")
        .key("replaced")
        .copy_source(format!("/{encoded}?versionId=null"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("fresh", "yes")
        .send()
        .await
        .unwrap();
    let head = c.head_object().bucket("dst").key("replaced").send().await.unwrap();
    assert_eq!(head.content_type(), Some("binary/octet-stream"));
    let meta = head.metadata().unwrap();
    assert_eq!((meta.get("fresh").map(String::as_str), meta.get("origin")), (Some("yes"), None));

    // Onto itself: only with REPLACE.
    let e = c.copy_object().bucket("src").key(src_key).copy_source(encoded).send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "InvalidRequest");
    let r = t.raw("PUT", "/src/dir/a%20b%2Bc%26d.txt", &[("x-amz-copy-source", encoded)], b"").await;
    assert_eq!(
        r.xml("Message").as_deref(),
        Some(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object&apos;s metadata, storage class, website redirect location or encryption attributes."
        )
    );
    c.copy_object()
        .bucket("src")
        .key(src_key)
        .copy_source(encoded)
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/y")
        .send()
        .await
        .unwrap();
    assert_eq!(c.head_object().bucket("src").key(src_key).send().await.unwrap().content_type(), Some("text/y"));

    // Errors: missing source key / bucket, bad directive, failed copy-source condition.
    let e = c.copy_object().bucket("dst").key("x").copy_source("src/missing").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchKey");
    let e = c.copy_object().bucket("dst").key("x").copy_source("nobucket/k").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchBucket");
    let r = t.raw("PUT", "/dst/x", &[("x-amz-copy-source", encoded), ("x-amz-metadata-directive", "MOVE")], b"").await;
    assert_eq!(
        (r.xml("Code").as_deref(), r.xml("Message").as_deref()),
        (Some("InvalidArgument"), Some("Unknown metadata directive."))
    );
    let e = c
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source(encoded)
        .copy_source_if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 412);

    // The copy is independent of its source.
    c.delete_object().bucket("src").key(src_key).send().await.unwrap();
    assert_eq!(get(&c, "dst", "copy").await, b"copy me");
}

#[tokio::test]
async fn oversized_objects_store_nothing() {
    let limits = S3Limits { object_bytes_max: 1024, ..S3Limits::default() };
    let t = TestS3::start_with(limits).await;
    let c = bucket(&t, "small").await;
    c.put_object().bucket("small").key("fits").body(vec![1u8; 1024].into()).send().await.unwrap();
    let e = c.put_object().bucket("small").key("big").body(vec![1u8; 1025].into()).send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "EntityTooLarge");
    let r = t.raw("PUT", "/small/big", &[], &[0u8; 2000]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.xml("Message").as_deref(), Some("Your proposed upload exceeds the maximum allowed size"));
    assert_eq!(r.xml("MaxSizeAllowed").as_deref(), Some("1024"));
    // Announced as small but larger on the wire (aws-chunked lies about nothing here: the
    // decoded stream is counted).
    let big = format!("{:x}\r\n{}\r\n0\r\n\r\n", 2000, "z".repeat(2000));
    let r = t.raw("PUT", "/small/big", &[("content-encoding", "aws-chunked")], big.as_bytes()).await;
    assert_eq!(r.xml("Code").as_deref(), Some("EntityTooLarge"));
    assert_eq!(keys(&c, "small").await, ["fits"]);
    assert_eq!(std::fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn abandoned_uploads_leave_nothing() {
    let t = TestS3::start().await;
    let c = bucket(&t, "abandon").await;
    // Announce 1 MB, send 10 bytes, hang up.
    {
        use tokio::io::AsyncWriteExt as _;
        let mut s = tokio::net::TcpStream::connect(t.addr).await.unwrap();
        s.write_all(b"PUT /abandon/k HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n0123456789").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(keys(&c, "abandon").await.is_empty());
    assert_eq!(std::fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn object_acl_and_tagging_answers() {
    let t = TestS3::start().await;
    let c = bucket(&t, "acl").await;
    c.put_object().bucket("acl").key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let acl = c.get_object_acl().bucket("acl").key("k").send().await.unwrap();
    assert_eq!(acl.grants()[0].permission().map(|p| p.as_str()), Some("FULL_CONTROL"));
    let tags = c.get_object_tagging().bucket("acl").key("k").send().await.unwrap();
    assert!(tags.tag_set().is_empty());
    let e = c.get_object_tagging().bucket("acl").key("none").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchKey");
    // Tags are not kept: asking to set them is refused, not silently dropped.
    let e = c
        .put_object()
        .bucket("acl")
        .key("tagged")
        .tagging("a=b")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(e.as_service_error().unwrap()), e.raw_response().unwrap().status().as_u16()),
        ("NotImplemented".to_owned(), 501)
    );
    let r = t.raw("GET", "/acl/k?response-content-type=text/csv&response-cache-control=no-store", &[], b"").await;
    assert_eq!(r.header("content-type"), Some("text/csv"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = t.raw("POST", "/acl/k", &[], b"").await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (405, Some("MethodNotAllowed")));
    let r = t.raw("PUT", &format!("/acl/{}", "k".repeat(1025)), &[], b"x").await;
    assert_eq!(r.xml("Code").as_deref(), Some("KeyTooLongError"));
}
