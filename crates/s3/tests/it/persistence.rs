//! Everything acknowledged survives closing and reopening `S3` on the same directory; the
//! startup sweep removes what a crash could leave behind.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, LambdaFunctionConfiguration, NotificationConfiguration};
use s3::S3Limits;

use crate::support::TestS3;

const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

#[tokio::test]
async fn state_survives_reopen_and_orphans_are_swept() {
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("durable").send().await.unwrap();
    c.put_object()
        .bucket("durable")
        .key("a")
        .metadata("m", "1")
        .body(ByteStream::from_static(b"first"))
        .send()
        .await
        .unwrap();
    c.put_object().bucket("durable").key("a").body(ByteStream::from_static(b"second")).send().await.unwrap();
    c.put_object()
        .bucket("durable")
        .key("b/c")
        .content_type("text/plain")
        .body(ByteStream::from_static(b"bc"))
        .send()
        .await
        .unwrap();
    let up = c.create_multipart_upload().bucket("durable").key("pending").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    c.upload_part()
        .bucket("durable")
        .key("pending")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    c.put_bucket_notification_configuration()
        .bucket("durable")
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(
                    LambdaFunctionConfiguration::builder()
                        .lambda_function_arn(FN)
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.put_object().bucket("durable").key("evented").body(ByteStream::from_static(b"e")).send().await.unwrap();
    let first_seq =
        t.notifier.delivered_to(FN)[0]["Records"][0]["s3"]["object"]["sequencer"].as_str().unwrap().to_owned();
    let config_before = t.raw("GET", "/durable?notification", &[], b"").await.body;

    let path = t.path().to_owned();
    let notifier = t.notifier.clone();
    // One instance per directory.
    let second = s3::S3::open(&path, S3Limits::default(), std::sync::Arc::new(notifier.clone()));
    assert!(matches!(second, Err(s3::S3Error::Locked(_))), "{second:?}");
    let dir = t.stop().await.expect("temp dir");

    // What a crash could leave: a half-written temp file, a data file no row references.
    std::fs::write(path.join("tmp").join("half-written"), b"partial").unwrap();
    let orphan = path.join("data").join("ab").join("ab000000000000000000000000000000");
    std::fs::write(&orphan, b"orphan").unwrap();

    let t = TestS3::serve(&path, S3Limits::default(), notifier).await;
    let c = t.client();
    assert_eq!(std::fs::read_dir(path.join("tmp")).unwrap().count(), 0);
    assert!(!orphan.exists());
    let got = c.get_object().bucket("durable").key("a").send().await.unwrap();
    assert!(got.metadata().is_none_or(|m| m.is_empty()), "the overwrite's metadata won");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"second");
    let got = c.get_object().bucket("durable").key("b/c").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    let uploads = c.list_multipart_uploads().bucket("durable").send().await.unwrap();
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));
    let parts = c.list_parts().bucket("durable").key("pending").upload_id(&id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 1);
    assert_eq!(t.raw("GET", "/durable?notification", &[], b"").await.body, config_before);
    // Every referenced file is still there: 3 objects + 1 part (the overwritten "first" is gone).
    let files: usize = std::fs::read_dir(path.join("data"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(files, 4);

    // The event sequencer continues where it was.
    c.put_object().bucket("durable").key("evented-2").body(ByteStream::from_static(b"e")).send().await.unwrap();
    let delivered = t.notifier.delivered_to(FN);
    let last_seq = delivered.last().unwrap()["Records"][0]["s3"]["object"]["sequencer"].as_str().unwrap().to_owned();
    assert!(last_seq > first_seq, "{last_seq} > {first_seq}");

    // read_object, the Lambda side's door.
    assert_eq!(t.s3.read_object("durable", "a", 100).await.unwrap(), b"second");
    assert_eq!(t.s3.read_object("durable", "a", 3).await, Err(s3::ReadError::TooLarge { size: 6, max_bytes: 3 }));
    assert_eq!(t.s3.read_object("durable", "zz", 100).await, Err(s3::ReadError::NoSuchKey));
    assert_eq!(t.s3.read_object("nobucket", "a", 100).await, Err(s3::ReadError::NoSuchBucket));
    drop(t);
    drop(dir);
}
