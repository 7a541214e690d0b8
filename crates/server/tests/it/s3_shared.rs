//! Versa's own S3 on the shared backends: two servers on one PostgreSQL (`--store`) and one
//! S3-compatible bucket (`--blobs`, moto here) serve the same buckets and objects; an object put
//! through A is read through B, a multipart upload runs across both, and an upload through B
//! notifies a function created on A (through the shared outbox and event queue).

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use testkit::ServerProcess;
use testkit::moto;

use crate::events::{Collector, create_reporter};
use crate::s3::{allow_s3, lambda_config, put_notification};
use crate::support::*;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

async fn get(c: &aws_sdk_s3::Client, bucket: &str, key: &str, range: Option<&str>) -> Vec<u8> {
    let out = c.get_object().bucket(bucket).key(key).set_range(range.map(str::to_owned)).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_serve_the_same_buckets_objects_and_notifications() {
    let Some(url) = testkit::postgres::database("s3_shared") else { return };
    let Some(m) = moto::moto() else { return };
    let bucket = m.bucket("versa-s3-shared").await;
    let blobs = format!("s3://{bucket}/nodes?endpoint={}&region=us-east-1&path_style=true", m.endpoint());
    let env = [("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID), ("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)];
    let flags = ["--store", url.as_str(), "--blobs", blobs.as_str(), "--function-network", "host"];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = ServerProcess::spawn_env(bin(), dir_a.path(), &flags, &env);
    let b = ServerProcess::spawn_env(bin(), dir_b.path(), &flags, &env);
    let (sa, sb) = (s3_client_at(&a.endpoint()), s3_client_at(&b.endpoint()));

    // Put through A, read through B (whole and ranged), listed through B.
    sa.create_bucket().bucket("photos").send().await.unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    sa.put_object().bucket("photos").key("a/1.jpg").body(ByteStream::from(data.clone())).send().await.unwrap();
    assert_eq!(get(&sb, "photos", "a/1.jpg", None).await, data);
    assert_eq!(get(&sb, "photos", "a/1.jpg", Some("bytes=1000-1099")).await, &data[1000..1100]);
    let listed = sb.list_objects_v2().bucket("photos").send().await.unwrap();
    assert_eq!(listed.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["a/1.jpg"]);

    // A multipart upload started on B, parts through both (5 MiB minimum), completed on A.
    let up = sb.create_multipart_upload().bucket("photos").key("big").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let p1: Vec<u8> = (0..5 << 20).map(|i: u32| (i % 253) as u8).collect();
    let p2 = b"tail".to_vec();
    let e1 = sa.upload_part().bucket("photos").key("big").upload_id(&id).part_number(1);
    let e1 = e1.body(ByteStream::from(p1.clone())).send().await.unwrap().e_tag().unwrap().to_owned();
    let e2 = sb.upload_part().bucket("photos").key("big").upload_id(&id).part_number(2);
    let e2 = e2.body(ByteStream::from(p2.clone())).send().await.unwrap().e_tag().unwrap().to_owned();
    let parts = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(e1).build())
        .parts(CompletedPart::builder().part_number(2).e_tag(e2).build())
        .build();
    sa.complete_multipart_upload()
        .bucket("photos")
        .key("big")
        .upload_id(&id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();
    let whole = [p1, p2].concat();
    let n = whole.len();
    assert_eq!(get(&sb, "photos", "big", Some(&format!("bytes={}-{}", n - 10, n - 1))).await, &whole[n - 10..]);
    assert_eq!(get(&sb, "photos", "big", None).await.len(), n);

    // The bytes are in the bucket under the blobs prefix, by S3 bucket and uuid; nothing in the
    // nodes' data dirs.
    let out = m.s3_client().list_objects_v2().bucket(&bucket).prefix("nodes/s3/").send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 3, "one object and two parts: {keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("nodes/s3/photos/")), "{keys:?}");
    assert!(!dir_a.path().join("s3/s3.sqlite3").exists() && !dir_b.path().join("s3/data").exists());

    // A function created on A, notified of an upload through B.
    let collector = Collector::start().await;
    let la = testkit::lambda_client(&a.endpoint(), "test", REGION);
    create_reporter(&la, "on-photo", &collector).await;
    allow_s3(&la, "on-photo", None, "photos").await;
    put_notification(&sa, "photos", vec![lambda_config("n", &arn("on-photo"), &["s3:ObjectCreated:*"])]).await.unwrap();
    sb.put_object().bucket("photos").key("new.jpg").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let seen = collector
        .wait_for(Duration::from_secs(30), "the S3 event", |s| {
            s.iter().any(|r| r["event"]["Records"][0]["s3"]["object"]["key"] == "new.jpg")
        })
        .await;
    assert_eq!(seen.iter().filter(|r| r["event"]["Records"][0]["s3"]["object"]["key"] == "new.jpg").count(), 1);

    // Deleted through B: gone through A.
    sb.delete_object().bucket("photos").key("a/1.jpg").send().await.unwrap();
    let gone = sa.get_object().bucket("photos").key("a/1.jpg").send().await.unwrap_err();
    assert!(gone.into_service_error().is_no_such_key());
    assert!(a.terminate());
    assert!(b.terminate());
}
