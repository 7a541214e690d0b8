//! The event outbox: a write's event records are stored with the write and leave only once
//! delivered (or refused for good); deliveries refused for now are retried, rows left by a
//! previous run are delivered at the next start, and a full outbox refuses writes with
//! `SlowDown` instead of dropping events.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, LambdaFunctionConfiguration, NotificationConfiguration};
use s3::S3Limits;

use crate::support::{Recorder, TestS3, code};

const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:on-upload";

async fn notified_bucket(t: &TestS3, bucket: &str) -> aws_sdk_s3::Client {
    let c = t.client();
    c.create_bucket().bucket(bucket).send().await.unwrap();
    c.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(
                    LambdaFunctionConfiguration::builder()
                        .id("uploads")
                        .lambda_function_arn(FN)
                        .events(Event::S3ObjectCreated)
                        .events(Event::S3ObjectRemoved)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    c
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    c.put_object().bucket(bucket).key(key).body(ByteStream::from_static(b"data")).send().await.unwrap();
}

/// The object keys of the records delivered to [`FN`], in delivery order.
fn delivered_keys(r: &Recorder) -> Vec<String> {
    r.delivered_to(FN).iter().map(|p| p["Records"][0]["s3"]["object"]["key"].as_str().unwrap().to_owned()).collect()
}

/// Waits until `pred` holds, or panics after `limit`.
async fn wait_until(limit: Duration, what: &str, mut pred: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !pred().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn delivered_events_leave_the_outbox_before_the_answer() {
    let t = TestS3::start().await;
    let c = notified_bucket(&t, "outbox").await;
    put(&c, "outbox", "a").await;
    c.delete_object().bucket("outbox").key("a").send().await.unwrap();
    assert_eq!(delivered_keys(&t.notifier), ["a", "a"]);
    assert_eq!(t.s3.pending_events().await, Some(0));
    // A bucket without a configuration stages nothing.
    c.create_bucket().bucket("quiet").send().await.unwrap();
    put(&c, "quiet", "b").await;
    assert_eq!(t.s3.pending_events().await, Some(0));
    assert_eq!(t.notifier.delivered_to(FN).len(), 2);
}

#[tokio::test]
async fn events_refused_for_now_stay_and_are_retried() {
    let t = TestS3::start().await;
    let c = notified_bucket(&t, "retry").await;
    t.notifier.with(|r| r.failing.insert(FN.to_owned()));
    put(&c, "retry", "kept").await;
    // Tried before the answer, refused for now: the write stands and its event stays.
    assert_eq!(delivered_keys(&t.notifier), ["kept"]);
    assert_eq!(t.s3.pending_events().await, Some(1));
    let object = c.get_object().bucket("retry").key("kept").send().await.unwrap();
    assert_eq!(object.body.collect().await.unwrap().into_bytes().as_ref(), b"data");
    // A write that fails its precondition commits nothing, so it stages no event either.
    let e = c
        .put_object()
        .bucket("retry")
        .key("kept")
        .if_none_match("*")
        .body(ByteStream::from_static(b"other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "PreconditionFailed");
    assert_eq!(t.s3.pending_events().await, Some(1));
    let got = t.notifier.delivered_to(FN);
    assert!(got.iter().all(|p| p == &got[0]), "only the first write's record, maybe retried: {got:?}");

    // Once the Lambda side takes events again, the drainer delivers the same record.
    t.notifier.with(|r| r.failing.clear());
    wait_until(Duration::from_secs(10), "the retry", async || t.s3.pending_events().await == Some(0)).await;
    let got = t.notifier.delivered_to(FN);
    assert!(got.len() >= 2, "{got:?}");
    assert_eq!(got[0], got[got.len() - 1], "the retry delivers the record as it was written");
    let settled = got.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(t.notifier.delivered_to(FN).len(), settled, "a delivered event is not delivered again");
}

#[tokio::test]
async fn events_refused_for_good_are_dropped() {
    let t = TestS3::start().await;
    let c = notified_bucket(&t, "refused").await;
    t.notifier.with(|r| r.refusing.insert(FN.to_owned()));
    put(&c, "refused", "x").await;
    assert_eq!(delivered_keys(&t.notifier), ["x"]);
    assert_eq!(t.s3.pending_events().await, Some(0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(delivered_keys(&t.notifier), ["x"], "never retried");
}

#[tokio::test]
async fn rows_left_by_a_previous_run_are_delivered_at_start() {
    let t = TestS3::start().await;
    let c = notified_bucket(&t, "restart").await;
    t.notifier.with(|r| r.failing.insert(FN.to_owned()));
    put(&c, "restart", "one").await;
    put(&c, "restart", "two").await;
    assert_eq!(t.s3.pending_events().await, Some(2));
    // Refused three times each (before the answers, then after 1 s and 2 s): the next try
    // would be 4 s away.
    wait_until(Duration::from_secs(10), "two retries", async || t.notifier.delivered_to(FN).len() >= 6).await;
    let path = t.path().to_owned();
    let dir = t.stop().await;

    // The next run delivers them at once, not when the retry was due.
    let fresh = Recorder::default();
    let t = TestS3::serve(&path, S3Limits::default(), fresh.clone()).await;
    wait_until(Duration::from_millis(1500), "the startup drain", async || t.s3.pending_events().await == Some(0)).await;
    let mut keys = delivered_keys(&fresh);
    keys.sort();
    assert_eq!(keys, ["one", "two"]);
    drop(t);
    drop(dir);
}

#[tokio::test]
async fn a_full_outbox_refuses_writes_with_slow_down() {
    let limits = S3Limits { outbox_events_max: 2, ..S3Limits::default() };
    let t = TestS3::start_with(limits).await;
    let c = notified_bucket(&t, "full").await;
    t.notifier.with(|r| r.failing.insert(FN.to_owned()));
    put(&c, "full", "a").await;
    put(&c, "full", "b").await;
    assert_eq!(t.s3.pending_events().await, Some(2));

    // A third event does not fit: the write is refused and changes nothing.
    let e = c.put_object().bucket("full").key("c").body(ByteStream::from_static(b"c")).send().await.unwrap_err();
    let e = e.into_service_error();
    assert_eq!(code(&e), "SlowDown");
    assert_eq!(aws_sdk_s3::error::ProvideErrorMetadata::message(&e), Some("Please reduce your request rate."));
    let e = c.head_object().bucket("full").key("c").send().await.unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 404);
    let e = c.delete_object().bucket("full").key("a").send().await.unwrap_err();
    assert_eq!(code(&e.into_service_error()), "SlowDown");
    c.head_object().bucket("full").key("a").send().await.expect("the refused delete changed nothing");
    assert_eq!(t.s3.pending_events().await, Some(2));
    // Writes without events are not held up.
    c.create_bucket().bucket("other").send().await.unwrap();
    put(&c, "other", "c").await;

    // Once the events are delivered, the write goes through.
    t.notifier.with(|r| r.failing.clear());
    wait_until(Duration::from_secs(10), "the drain", async || t.s3.pending_events().await == Some(0)).await;
    put(&c, "full", "c").await;
    assert_eq!(t.s3.pending_events().await, Some(0));
}
