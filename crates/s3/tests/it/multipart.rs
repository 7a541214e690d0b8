//! Multipart uploads through the SDK.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::support::{HEAVY, TestS3, bytes, code, keys};

const MIB: usize = 1 << 20;

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts.iter().map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build()).collect(),
        ))
        .build()
}

fn multipart_etag(parts: &[&[u8]]) -> String {
    use md5::Digest as _;
    let mut all = Vec::new();
    for p in parts {
        let d: [u8; 16] = md5::Md5::digest(p).into();
        all.extend_from_slice(&d);
    }
    format!("\"{}-{}\"", crate::support::md5_hex(&all), parts.len())
}

#[tokio::test]
async fn three_parts_assemble_with_a_dash_three_etag() {
    let _heavy = HEAVY.lock().await;
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("big/object.bin")
        .content_type("application/x-test")
        .metadata("kind", "multipart")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    assert_eq!((up.bucket(), up.key()), (Some("mpu"), Some("big/object.bin")));

    let p1 = bytes(5 * MIB, 1);
    let p2 = bytes(5 * MIB, 2);
    let p3 = bytes(1000, 3);
    let mut etags = Vec::new();
    for (n, data) in [(1, &p1), (2, &p2), (3, &p3)] {
        let out = c
            .upload_part()
            .bucket("mpu")
            .key("big/object.bin")
            .upload_id(&id)
            .part_number(n)
            .body(data.clone().into())
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag().map(str::to_owned), Some(format!("\"{}\"", crate::support::md5_hex(data))));
        etags.push(out.e_tag().unwrap().to_owned());
    }
    // Re-uploading a part replaces it.
    let out = c
        .upload_part()
        .bucket("mpu")
        .key("big/object.bin")
        .upload_id(&id)
        .part_number(3)
        .body(p3.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(etags[2].as_str()));

    let listed = c.list_parts().bucket("mpu").key("big/object.bin").upload_id(&id).send().await.unwrap();
    let numbers: Vec<i32> = listed.parts().iter().filter_map(|p| p.part_number()).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(listed.parts()[2].size(), Some(1000));
    let paged = c.list_parts().bucket("mpu").key("big/object.bin").upload_id(&id).max_parts(2).send().await.unwrap();
    assert_eq!(
        (paged.parts().len(), paged.is_truncated(), paged.next_part_number_marker()),
        (2, Some(true), Some("2"))
    );
    let rest =
        c.list_parts().bucket("mpu").key("big/object.bin").upload_id(&id).part_number_marker("2").send().await.unwrap();
    assert_eq!(rest.parts().len(), 1);

    let uploads = c.list_multipart_uploads().bucket("mpu").send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));
    assert_eq!(uploads.uploads()[0].key(), Some("big/object.bin"));

    let done = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big/object.bin")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])]))
        .send()
        .await
        .unwrap();
    let expected = multipart_etag(&[&p1, &p2, &p3]);
    assert_eq!(done.e_tag(), Some(expected.as_str()));
    assert!(done.e_tag().unwrap().ends_with("-3\""));
    assert!(done.location().unwrap().ends_with("/mpu/big/object.bin"), "{:?}", done.location());

    let got = c.get_object().bucket("mpu").key("big/object.bin").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(expected.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.metadata().unwrap().get("kind").map(String::as_str), Some("multipart"));
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), p1.len() + p2.len() + p3.len());
    assert!(body[..5 * MIB] == p1[..] && body[5 * MIB..10 * MIB] == p2[..] && body[10 * MIB..] == p3[..]);

    // The upload is gone, and its parts with it.
    assert!(c.list_multipart_uploads().bucket("mpu").send().await.unwrap().uploads().is_empty());
    let e = c.list_parts().bucket("mpu").key("big/object.bin").upload_id(&id).send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchUpload");
    let data_files: usize = std::fs::read_dir(t.path().join("data"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(data_files, 1, "only the assembled object remains on disk");

    // A copy of a multipart object has the plain MD5 ETag of its bytes.
    let copy = c.copy_object().bucket("mpu").key("copy").copy_source("mpu/big/object.bin").send().await.unwrap();
    assert_eq!(
        copy.copy_object_result().unwrap().e_tag().map(str::to_owned),
        Some(format!("\"{}\"", crate::support::md5_hex(&body)))
    );
}

#[tokio::test]
async fn completion_errors() {
    let _heavy = HEAVY.lock().await;
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("mperr").send().await.unwrap();
    let id = c.create_multipart_upload().bucket("mperr").key("k").send().await.unwrap().upload_id().unwrap().to_owned();
    let small = c
        .upload_part()
        .bucket("mperr")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"small"))
        .send()
        .await
        .unwrap();
    let e1 = small.e_tag().unwrap().to_owned();
    let two = c
        .upload_part()
        .bucket("mperr")
        .key("k")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap();
    let e2 = two.e_tag().unwrap().to_owned();

    let complete = |parts: Vec<(i32, String)>| {
        let c = c.clone();
        let id = id.clone();
        async move {
            let parts: Vec<(i32, &str)> = parts.iter().map(|(n, e)| (*n, e.as_str())).collect();
            c.complete_multipart_upload()
                .bucket("mperr")
                .key("k")
                .upload_id(id)
                .multipart_upload(completed(&parts))
                .send()
                .await
        }
    };
    let e = complete(vec![(2, e2.clone()), (1, e1.clone())]).await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "InvalidPartOrder");
    let e = complete(vec![(1, "\"0000\"".into())]).await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "InvalidPart");
    let e = complete(vec![(1, e1.clone()), (7, e2.clone())]).await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "InvalidPart");
    // A part other than the last below 5 MiB.
    let e = complete(vec![(1, e1.clone()), (2, e2.clone())]).await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "EntityTooSmall");
    // The exact texts.
    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{e1}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>{e2}</ETag></Part></CompleteMultipartUpload>"
    );
    let r = t.raw("POST", &format!("/mperr/k?uploadId={id}"), &[], body.as_bytes()).await;
    assert_eq!(
        r.xml("Message").as_deref(),
        Some("Your proposed upload is smaller than the minimum allowed object size.")
    );
    assert_eq!(r.xml("ProposedSize").as_deref(), Some("5"));
    assert_eq!(r.xml("MinSizeAllowed").as_deref(), Some("5242880"));
    let body =
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"00\"</ETag></Part></CompleteMultipartUpload>";
    let r = t.raw("POST", &format!("/mperr/k?uploadId={id}"), &[], body.as_bytes()).await;
    assert_eq!(
        r.xml("Message").as_deref(),
        Some(
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part&apos;s entity tag."
        )
    );
    let r = t.raw("POST", &format!("/mperr/k?uploadId={id}"), &[], b"<CompleteMultipartUpload/>").await;
    assert_eq!(r.xml("Code").as_deref(), Some("MalformedXML"));
    // A single small part is fine: only non-last parts have a minimum.
    let done = complete(vec![(2, e2.clone())]).await.unwrap();
    assert!(done.e_tag().unwrap().ends_with("-1\""));
    assert_eq!(crate::support::keys(&c, "mperr").await, ["k"]);

    // Bad part numbers and unknown uploads.
    let id2 =
        c.create_multipart_upload().bucket("mperr").key("k2").send().await.unwrap().upload_id().unwrap().to_owned();
    let r = t.raw("PUT", &format!("/mperr/k2?partNumber=10001&uploadId={id2}"), &[], b"x").await;
    assert_eq!(r.xml("Message").as_deref(), Some("Part number must be an integer between 1 and 10000, inclusive"));
    assert_eq!(r.xml("ArgumentName").as_deref(), Some("partNumber"));
    let e = c
        .upload_part()
        .bucket("mperr")
        .key("k2")
        .upload_id("nope")
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchUpload");
    let e = c
        .upload_part()
        .bucket("mperr")
        .key("other-key")
        .upload_id(&id2)
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchUpload", "an upload belongs to its key");
    let r = t.raw("DELETE", "/mperr/k2?uploadId=nope", &[], b"").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.xml("Message").as_deref(),
        Some(
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        )
    );
    assert_eq!(r.xml("UploadId").as_deref(), Some("nope"));

    c.upload_part()
        .bucket("mperr")
        .key("k2")
        .upload_id(&id2)
        .part_number(1)
        .body(ByteStream::from_static(b"p"))
        .send()
        .await
        .unwrap();
    c.abort_multipart_upload().bucket("mperr").key("k2").upload_id(&id2).send().await.unwrap();
    let e = c.abort_multipart_upload().bucket("mperr").key("k2").upload_id(&id2).send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchUpload");
    assert_eq!(keys(&c, "mperr").await, ["k"]);
}

#[tokio::test]
async fn upload_part_copy() {
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("mpcopy").send().await.unwrap();
    let src = bytes(100_000, 9);
    c.put_object().bucket("mpcopy").key("src").body(src.clone().into()).send().await.unwrap();
    let id =
        c.create_multipart_upload().bucket("mpcopy").key("dst").send().await.unwrap().upload_id().unwrap().to_owned();
    let out = c
        .upload_part_copy()
        .bucket("mpcopy")
        .key("dst")
        .upload_id(&id)
        .part_number(1)
        .copy_source("mpcopy/src")
        .copy_source_range("bytes=1000-1999")
        .send()
        .await
        .unwrap();
    let etag = out.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", crate::support::md5_hex(&src[1000..2000])));
    c.complete_multipart_upload()
        .bucket("mpcopy")
        .key("dst")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &etag)]))
        .send()
        .await
        .unwrap();
    let got =
        c.get_object().bucket("mpcopy").key("dst").send().await.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(got.as_ref(), &src[1000..2000]);

    let id =
        c.create_multipart_upload().bucket("mpcopy").key("dst2").send().await.unwrap().upload_id().unwrap().to_owned();
    let e = c
        .upload_part_copy()
        .bucket("mpcopy")
        .key("dst2")
        .upload_id(&id)
        .part_number(1)
        .copy_source("mpcopy/src")
        .copy_source_range("bytes=0-100000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "InvalidArgument");
    assert_eq!(
        e.as_service_error().unwrap().meta().message(),
        Some("Range specified is not valid for source object of size: 100000")
    );
}

#[tokio::test]
async fn in_flight_uploads_are_bounded() {
    let limits = s3::S3Limits { multipart_uploads_max: 2, ..s3::S3Limits::default() };
    let t = TestS3::start_with(limits).await;
    let c = t.client();
    c.create_bucket().bucket("bounded").send().await.unwrap();
    for k in ["a", "b"] {
        c.create_multipart_upload().bucket("bounded").key(k).send().await.unwrap();
    }
    let e = c.create_multipart_upload().bucket("bounded").key("c").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "SlowDown");
    let page = c.list_multipart_uploads().bucket("bounded").max_uploads(1).send().await.unwrap();
    assert_eq!((page.uploads().len(), page.is_truncated()), (1, Some(true)));
    let next = c
        .list_multipart_uploads()
        .bucket("bounded")
        .key_marker(page.next_key_marker().unwrap())
        .upload_id_marker(page.next_upload_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(next.uploads().iter().filter_map(|u| u.key()).collect::<Vec<_>>(), ["b"]);
    let filtered = c.list_multipart_uploads().bucket("bounded").prefix("b").send().await.unwrap();
    assert_eq!(filtered.uploads().len(), 1);
}

/// CompleteMultipartUpload and CopyObject take PutObject's conditional write on their
/// destination: `If-None-Match: *` only creates, `If-Match` only replaces that ETag (412
/// otherwise, and the object stays as it was).
#[tokio::test]
async fn completion_and_copy_honour_conditional_writes() {
    let _heavy = HEAVY.lock().await;
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("mpcond").send().await.unwrap();
    let first = c.put_object().bucket("mpcond").key("k").body(ByteStream::from_static(b"first")).send().await.unwrap();
    let first_etag = first.e_tag().unwrap().to_owned();
    let upload = |key: &'static str| {
        let c = c.clone();
        async move {
            let id = c.create_multipart_upload().bucket("mpcond").key(key).send().await.unwrap();
            let id = id.upload_id().unwrap().to_owned();
            let part = c
                .upload_part()
                .bucket("mpcond")
                .key(key)
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from_static(b"second"))
                .send()
                .await
                .unwrap();
            let xml = format!(
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
                part.e_tag().unwrap()
            );
            (id, xml)
        }
    };
    let (id, xml) = upload("k").await;
    let path = format!("/mpcond/k?uploadId={id}");
    let r = t.raw("POST", &path, &[("if-none-match", "*")], xml.as_bytes()).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (412, Some("PreconditionFailed")));
    let r = t.raw("POST", &path, &[("if-match", "\"not-it\"")], xml.as_bytes()).await;
    assert_eq!(r.status, 412);
    assert_eq!(crate::objects::get(&c, "mpcond", "k").await, b"first", "the object stays");
    let r = t.raw("POST", &path, &[("if-match", &first_etag)], xml.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(crate::objects::get(&c, "mpcond", "k").await, b"second");
    // A new key: If-None-Match: * creates it.
    let (id, xml) = upload("fresh").await;
    let r = t.raw("POST", &format!("/mpcond/fresh?uploadId={id}"), &[("if-none-match", "*")], xml.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // CopyObject onto an existing key with If-None-Match: * is refused; onto a new one it copies.
    let r = t.raw("PUT", "/mpcond/fresh", &[("x-amz-copy-source", "/mpcond/k"), ("if-none-match", "*")], b"").await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (412, Some("PreconditionFailed")));
    let r = t.raw("PUT", "/mpcond/copy", &[("x-amz-copy-source", "/mpcond/k"), ("if-none-match", "*")], b"").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(crate::objects::get(&c, "mpcond", "copy").await, b"second");
}
