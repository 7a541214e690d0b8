//! The S3 API story on the shared backends: metadata in PostgreSQL (S3's own `s3_*` tables),
//! object bytes in files or in an S3-compatible object store (moto), and two instances on the
//! same database and store serving the same buckets, objects, uploads and outbox.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, Event, LambdaFunctionConfiguration, NotificationConfiguration,
    ObjectIdentifier,
};
use s3::{Backends, Metadata, ObjectBytes, S3Limits};

use crate::engines::{Moto, Postgres};
use crate::support::{TestS3, bytes, code, md5_hex};

const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:on-upload";
/// Small parts, so multipart stories stay small.
fn limits() -> S3Limits {
    S3Limits { part_bytes_min: 1024, ..S3Limits::default() }
}

fn postgres_backends(url: &str, moto: Option<&Moto>) -> Backends {
    Backends {
        metadata: Metadata::Postgres { url: url.to_owned() },
        bytes: match moto {
            Some(m) => ObjectBytes::ObjectStore { store: m.store(), prefix: "nodes/s3".into() },
            None => ObjectBytes::Files,
        },
    }
}

async fn body(c: &aws_sdk_s3::Client, bucket: &str, key: &str, range: Option<&str>) -> Vec<u8> {
    let out = c.get_object().bucket(bucket).key(key).set_range(range.map(str::to_owned)).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The story: buckets, put/get/range/list/delete, multipart, copy, notifications through the
/// outbox. `a` writes, `b` reads (the same instance in the single-node runs).
async fn story(a: &TestS3, b: &TestS3, large: bool) {
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("shared").send().await.unwrap();
    // Both instances see the bucket; creating it again through the other one is the owner's
    // us-east-1 re-create (200), through another account a conflict.
    let listed = cb.list_buckets().send().await.unwrap();
    assert_eq!(listed.buckets().iter().filter_map(|x| x.name()).collect::<Vec<_>>(), ["shared"]);
    cb.create_bucket().bucket("shared").send().await.unwrap();
    let other = b.client_as("111111111111", "us-east-1");
    assert_eq!(code(&other.create_bucket().bucket("shared").send().await.unwrap_err()), "BucketAlreadyExists");

    // Put through A, read through B: whole, ranged, head, list in byte order.
    let data = bytes(100_000, 7);
    let put = ca.put_object().bucket("shared").key("dir/é.bin").body(ByteStream::from(data.clone())).send().await;
    assert_eq!(put.unwrap().e_tag().unwrap(), format!("\"{}\"", md5_hex(&data)));
    assert_eq!(body(&cb, "shared", "dir/é.bin", None).await, data);
    assert_eq!(body(&cb, "shared", "dir/é.bin", Some("bytes=10-19")).await, &data[10..20]);
    assert_eq!(body(&cb, "shared", "dir/é.bin", Some("bytes=-5")).await, &data[data.len() - 5..]);
    let head = cb.head_object().bucket("shared").key("dir/é.bin").send().await.unwrap();
    assert_eq!(head.content_length(), Some(100_000));
    for key in ["b", "a/", "a", "Z", "a0"] {
        ca.put_object().bucket("shared").key(key).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    let listed = cb.list_objects_v2().bucket("shared").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["Z", "a", "a/", "a0", "b", "dir/é.bin"]);
    let page = cb.list_objects_v2().bucket("shared").delimiter("/").max_keys(3).send().await.unwrap();
    assert_eq!(page.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["Z", "a"]);
    assert_eq!(page.common_prefixes().iter().filter_map(|p| p.prefix()).collect::<Vec<_>>(), ["a/"]);
    assert_eq!(page.is_truncated(), Some(true));

    // Overwrite through B, read through A.
    cb.put_object().bucket("shared").key("a").body(ByteStream::from_static(b"second")).send().await.unwrap();
    assert_eq!(body(&ca, "shared", "a", None).await, b"second");
    // Conditional create: the key exists, so If-None-Match: * fails wherever it is asked.
    let refused = ca
        .put_object()
        .bucket("shared")
        .key("a")
        .if_none_match("*")
        .body(ByteStream::from_static(b"third"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "PreconditionFailed");

    // Multipart: created on A, parts through both, listed on B, completed on A, read on B.
    let up = ca.create_multipart_upload().bucket("shared").key("big").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let (p1, p2) = (bytes(3000, 1), bytes(1500, 2));
    let e1 = ca.upload_part().bucket("shared").key("big").upload_id(&id).part_number(1);
    let e1 = e1.body(ByteStream::from(p1.clone())).send().await.unwrap().e_tag().unwrap().to_owned();
    let e2 = cb.upload_part().bucket("shared").key("big").upload_id(&id).part_number(2);
    let e2 = e2.body(ByteStream::from(p2.clone())).send().await.unwrap().e_tag().unwrap().to_owned();
    let parts = cb.list_parts().bucket("shared").key("big").upload_id(&id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 2);
    let uploads = cb.list_multipart_uploads().bucket("shared").send().await.unwrap();
    assert_eq!(uploads.uploads().iter().filter_map(|u| u.upload_id()).collect::<Vec<_>>(), [id.as_str()]);
    let done = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(e1).build())
        .parts(CompletedPart::builder().part_number(2).e_tag(e2).build())
        .build();
    let completed = ca
        .complete_multipart_upload()
        .bucket("shared")
        .key("big")
        .upload_id(&id)
        .multipart_upload(done)
        .send()
        .await
        .unwrap();
    assert!(completed.e_tag().unwrap().ends_with("-2\""));
    let whole: Vec<u8> = [p1.clone(), p2.clone()].concat();
    assert_eq!(body(&cb, "shared", "big", None).await, whole);
    // A range across the part boundary.
    assert_eq!(body(&cb, "shared", "big", Some("bytes=2990-3009")).await, &whole[2990..3010]);
    assert!(cb.list_multipart_uploads().bucket("shared").send().await.unwrap().uploads().is_empty());

    // Copy (of a plain object and of a multipart one) through B, read through A.
    cb.copy_object().bucket("shared").key("copy").copy_source("shared/dir/%C3%A9.bin").send().await.unwrap();
    assert_eq!(body(&ca, "shared", "copy", None).await, data);
    let copied = cb.copy_object().bucket("shared").key("copy-big").copy_source("shared/big").send().await.unwrap();
    assert_eq!(copied.copy_object_result().unwrap().e_tag().unwrap(), format!("\"{}\"", md5_hex(&whole)));
    assert_eq!(body(&ca, "shared", "copy-big", Some("bytes=2995-3004")).await, &whole[2995..3005]);

    if large {
        // Larger than one PUT to the backing store: uploaded in parts.
        let big = bytes(17 << 20, 9);
        ca.put_object().bucket("shared").key("large").body(ByteStream::from(big.clone())).send().await.unwrap();
        let got = body(&cb, "shared", "large", Some("bytes=16777210-16777229")).await;
        assert_eq!(got, &big[16_777_210..16_777_230]);
        assert_eq!(md5_hex(&body(&cb, "shared", "large", None).await), md5_hex(&big));
    }

    // Delete through B; gone through A.
    cb.delete_object().bucket("shared").key("b").send().await.unwrap();
    assert_eq!(code(&ca.get_object().bucket("shared").key("b").send().await.unwrap_err()), "NoSuchKey");
    assert_eq!(code(&ca.delete_bucket().bucket("shared").send().await.unwrap_err()), "BucketNotEmpty");

    // Notifications: configured through A, an upload through B is delivered (by B, which wrote
    // it, through the outbox) exactly once.
    let lambda =
        LambdaFunctionConfiguration::builder().lambda_function_arn(FN).events(Event::S3ObjectCreated).build().unwrap();
    ca.put_bucket_notification_configuration()
        .bucket("shared")
        .notification_configuration(NotificationConfiguration::builder().lambda_function_configurations(lambda).build())
        .send()
        .await
        .unwrap();
    cb.put_object().bucket("shared").key("in/new").body(ByteStream::from_static(b"ev")).send().await.unwrap();
    let mut delivered = a.notifier.delivered_to(FN);
    if a.addr != b.addr {
        delivered.extend(b.notifier.delivered_to(FN));
    }
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["Records"][0]["s3"]["object"]["key"], "in/new");
    assert_eq!(delivered[0]["Records"][0]["s3"]["bucket"]["name"], "shared");
    assert_eq!(a.s3.pending_events().await, Some(0));
    assert_eq!(b.s3.pending_events().await, Some(0));

    // Empty the bucket (one DeleteObjects, its keys locked in one order) and delete it through A.
    let all = ca.list_objects_v2().bucket("shared").send().await.unwrap();
    let ids: Vec<ObjectIdentifier> =
        all.contents().iter().map(|o| ObjectIdentifier::builder().key(o.key().unwrap()).build().unwrap()).collect();
    let n = ids.len();
    assert_eq!(n, if large { 10 } else { 9 });
    let deleted = ca
        .delete_objects()
        .bucket("shared")
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.deleted().len(), n);
    assert!(cb.list_objects_v2().bucket("shared").send().await.unwrap().contents().is_empty());
    ca.delete_bucket().bucket("shared").send().await.unwrap();
    assert_eq!(code(&cb.head_bucket().bucket("shared").send().await.unwrap_err()), "NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_on_postgres_with_local_files() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database();
    let t = TestS3::start_on(limits(), postgres_backends(&url, None)).await;
    story(&t, &t, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_on_postgres_and_an_object_store() {
    let Some(pg) = Postgres::start() else { return };
    let Some(moto) = Moto::start().await else { return };
    let url = pg.database();
    let t = TestS3::start_on(limits(), postgres_backends(&url, Some(&moto))).await;
    story(&t, &t, true).await;
    // Every byte went to the store, under the prefix, keyed by bucket and uuid.
    let keys = moto.keys("nodes/s3").await;
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.starts_with("nodes/s3/shared/") && k.len() == "nodes/s3/shared/".len() + 32),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_buckets_objects_uploads_and_the_outbox() {
    let Some(pg) = Postgres::start() else { return };
    let Some(moto) = Moto::start().await else { return };
    let url = pg.database();
    let a = TestS3::start_on(limits(), postgres_backends(&url, Some(&moto))).await;
    let b = TestS3::start_on(limits(), postgres_backends(&url, Some(&moto))).await;
    story(&a, &b, false).await;

    // An event the Lambda side refuses for now stays in the shared outbox and is retried by
    // the drainers of both instances, never by both at once: each retry is one delivery.
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("events").send().await.unwrap();
    let lambda =
        LambdaFunctionConfiguration::builder().lambda_function_arn(FN).events(Event::S3ObjectCreated).build().unwrap();
    ca.put_bucket_notification_configuration()
        .bucket("events")
        .notification_configuration(NotificationConfiguration::builder().lambda_function_configurations(lambda).build())
        .send()
        .await
        .unwrap();
    a.notifier.with(|r| r.failing.insert(FN.to_owned()));
    b.notifier.with(|r| r.failing.insert(FN.to_owned()));
    ca.put_object().bucket("events").key("k").body(ByteStream::from_static(b"1")).send().await.unwrap();
    assert_eq!(b.s3.pending_events().await, Some(1), "the refused event is in the shared outbox");
    // The writer tried once. Now the Lambda side takes it again; the drainers retry after
    // the minimum delay and the row leaves the outbox.
    let tries = || a.notifier.delivered_to(FN).len() + b.notifier.delivered_to(FN).len();
    a.notifier.with(|r| r.failing.clear());
    b.notifier.with(|r| r.failing.clear());
    let started = std::time::Instant::now();
    while a.s3.pending_events().await != Some(0) {
        assert!(started.elapsed() < Duration::from_secs(20), "the retried event was never delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The story's delivery, the writer's refused try, then the retry that succeeded (after any
    // further refused retries); once delivered, nobody delivers it again.
    let delivered = tries();
    assert!(delivered >= 3, "{delivered}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(tries(), delivered);
    cb.delete_object().bucket("events").key("k").send().await.unwrap();
    ca.delete_bucket().bucket("events").send().await.unwrap();
}
