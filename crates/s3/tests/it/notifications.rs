//! Bucket notification configurations and the events delivered to Lambda.

use aws_sdk_s3::operation::RequestId as _;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration,
    NotificationConfiguration, NotificationConfigurationFilter, ObjectIdentifier, QueueConfiguration, S3KeyFilter,
};

use crate::support::{ACCOUNT, TestS3, code, md5_hex};

const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:on-upload";
const FN2: &str = "arn:aws:lambda:us-east-1:000000000000:function:on-delete:live";

fn lambda(
    id: Option<&str>,
    arn: &str,
    events: &[Event],
    prefix: Option<&str>,
    suffix: Option<&str>,
) -> LambdaFunctionConfiguration {
    let mut rules = Vec::new();
    if let Some(p) = prefix {
        rules.push(FilterRule::builder().name(FilterRuleName::Prefix).value(p).build());
    }
    if let Some(s) = suffix {
        rules.push(FilterRule::builder().name(FilterRuleName::Suffix).value(s).build());
    }
    let mut b = LambdaFunctionConfiguration::builder()
        .set_id(id.map(str::to_owned))
        .lambda_function_arn(arn)
        .set_events(Some(events.to_vec()));
    if !rules.is_empty() {
        b = b.filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build(),
        );
    }
    b.build().unwrap()
}

fn config(lambdas: Vec<LambdaFunctionConfiguration>) -> NotificationConfiguration {
    NotificationConfiguration::builder().set_lambda_function_configurations(Some(lambdas)).build()
}

async fn setup(t: &TestS3, bucket: &str) -> aws_sdk_s3::Client {
    let c = t.client();
    c.create_bucket().bucket(bucket).send().await.unwrap();
    c.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(config(vec![
            lambda(Some("uploads"), FN, &[Event::S3ObjectCreated], Some("in/"), None),
            lambda(None, FN2, &[Event::S3ObjectRemoved], None, None),
        ]))
        .send()
        .await
        .unwrap();
    c
}

#[tokio::test]
async fn put_and_get_configuration() {
    let t = TestS3::start().await;
    let c = setup(&t, "notif").await;
    let checks = t.notifier.with(|r| r.checks.clone());
    assert_eq!(
        checks,
        [
            (FN.to_owned(), "notif".to_owned(), ACCOUNT.to_owned()),
            (FN2.to_owned(), "notif".to_owned(), ACCOUNT.to_owned())
        ]
    );

    let got = c.get_bucket_notification_configuration().bucket("notif").send().await.unwrap();
    let lambdas = got.lambda_function_configurations();
    assert_eq!(lambdas.len(), 2);
    assert_eq!(lambdas[0].id(), Some("uploads"));
    assert_eq!(lambdas[0].lambda_function_arn(), FN);
    assert_eq!(lambdas[0].events(), [Event::S3ObjectCreated]);
    let rule = &lambdas[0].filter().unwrap().key().unwrap().filter_rules()[0];
    assert_eq!((rule.name().map(|n| n.as_str()), rule.value()), (Some("Prefix"), Some("in/")));
    let generated = lambdas[1].id().unwrap().to_owned();
    assert!(!generated.is_empty(), "an Id is generated");

    // Byte-identical until the next Put.
    let a = t.raw("GET", "/notif?notification", &[], b"").await;
    let b = t.raw("GET", "/notif?notification", &[], b"").await;
    assert_eq!(a.body, b.body);
    assert!(a.text().contains("<CloudFunctionConfiguration><Id>uploads</Id><CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:on-upload</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>Prefix</Name><Value>in/</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration>"), "{}", a.text());
    assert!(a.text().contains(&format!("<Id>{generated}</Id>")));

    // An empty configuration clears it.
    c.put_bucket_notification_configuration()
        .bucket("notif")
        .notification_configuration(NotificationConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_notification_configuration().bucket("notif").send().await.unwrap();
    assert!(got.lambda_function_configurations().is_empty());
    let r = t.raw("GET", "/notif?notification", &[], b"").await;
    assert!(
        r.text().ends_with(
            r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></NotificationConfiguration>"#
        ),
        "{}",
        r.text()
    );
    c.put_object().bucket("notif").key("in/x").body(ByteStream::from_static(b"x")).send().await.unwrap();
    assert!(t.notifier.with(|r| r.deliveries.is_empty()));
}

#[tokio::test]
async fn rejected_configurations_change_nothing() {
    let t = TestS3::start().await;
    let c = setup(&t, "reject").await;
    let before = t.raw("GET", "/reject?notification", &[], b"").await.body;
    let put = |cfg: NotificationConfiguration| {
        let c = c.clone();
        async move {
            c.put_bucket_notification_configuration().bucket("reject").notification_configuration(cfg).send().await
        }
    };

    // A missing function and one S3 may not invoke: both named, in order.
    let missing = "arn:aws:lambda:us-east-1:000000000000:function:gone";
    let locked = "arn:aws:lambda:us-east-1:000000000000:function:locked";
    t.notifier.with(|r| {
        r.missing.insert(missing.to_owned());
        r.unauthorized.insert(locked.to_owned());
    });
    let e = put(config(vec![
        lambda(None, missing, &[Event::S3ObjectCreatedPut], None, None),
        lambda(None, locked, &[Event::S3ObjectRemovedDelete], None, None),
    ]))
    .await
    .unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "InvalidArgument");
    let body = String::from_utf8_lossy(e.raw_response().unwrap().body().bytes().unwrap()).into_owned();
    assert!(body.contains("<Message>Unable to validate the following destination configurations</Message>"), "{body}");
    assert!(body.contains(&format!("<ArgumentName1>{missing}, null</ArgumentName1><ArgumentValue1>The destination Lambda does not exist</ArgumentValue1>")), "{body}");
    assert!(body.contains(&format!("<ArgumentName2>{locked}, null</ArgumentName2><ArgumentValue2>Not authorized to invoke function [{locked}]</ArgumentValue2>")), "{body}");
    assert!(t.notifier.with(|r| r.checks.iter().any(|c| c.0 == missing) && r.checks.iter().any(|c| c.0 == locked)));

    // Queues cannot be validated (no SQS here).
    let queue = QueueConfiguration::builder()
        .queue_arn("arn:aws:sqs:us-east-1:000000000000:q")
        .events(Event::S3ObjectCreated)
        .build()
        .unwrap();
    let e = c
        .put_bucket_notification_configuration()
        .bucket("reject")
        .notification_configuration(NotificationConfiguration::builder().queue_configurations(queue).build())
        .send()
        .await
        .unwrap_err();
    let body = String::from_utf8_lossy(e.raw_response().unwrap().body().bytes().unwrap()).into_owned();
    assert!(body.contains("<ArgumentName1>arn:aws:sqs:us-east-1:000000000000:q</ArgumentName1><ArgumentValue1>The destination queue does not exist</ArgumentValue1>"), "{body}");

    // Overlapping rules for the same event type.
    let e = put(config(vec![
        lambda(None, FN, &[Event::S3ObjectCreated], Some("a/"), None),
        lambda(None, FN2, &[Event::S3ObjectCreatedPut], Some("a/b/"), None),
    ]))
    .await
    .unwrap_err();
    assert_eq!(
        e.as_service_error().unwrap().meta().message(),
        Some(
            "Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if the prefixes are overlapping for the same event type."
        )
    );

    // Unknown event names; bad ARNs; bad filter names; malformed XML.
    let e =
        put(config(vec![lambda(None, FN, &[Event::from("s3:ObjectCreated:Teleport")], None, None)])).await.unwrap_err();
    assert_eq!(e.as_service_error().unwrap().meta().message(), Some("The event is not supported for notifications"));
    let e = put(config(vec![lambda(None, "not-an-arn", &[Event::S3ObjectCreated], None, None)])).await.unwrap_err();
    assert_eq!(e.as_service_error().unwrap().meta().message(), Some("The ARN could not be parsed"));
    let bad_filter = "<NotificationConfiguration><CloudFunctionConfiguration><CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:on-upload</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>INVALID</Name><Value>x</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration></NotificationConfiguration>";
    let r = t.raw("PUT", "/reject?notification", &[], bad_filter.as_bytes()).await;
    assert_eq!(r.xml("Message").as_deref(), Some("filter rule name must be either prefix or suffix"));
    assert_eq!(
        (r.xml("ArgumentName").as_deref(), r.xml("ArgumentValue").as_deref()),
        (Some("FilterRule.Name"), Some("INVALID"))
    );
    let r = t.raw("PUT", "/reject?notification", &[], b"<NotificationConfiguration><CloudFunctionConfiguration>").await;
    assert_eq!(r.xml("Code").as_deref(), Some("MalformedXML"));

    assert_eq!(t.raw("GET", "/reject?notification", &[], b"").await.body, before, "nothing changed");

    // x-amz-skip-destination-validation skips the destination checks.
    t.notifier.with(|r| r.checks.clear());
    c.put_bucket_notification_configuration()
        .bucket("reject")
        .skip_destination_validation(true)
        .notification_configuration(config(vec![lambda(None, missing, &[Event::S3ObjectCreated], None, None)]))
        .send()
        .await
        .unwrap();
    assert!(t.notifier.with(|r| r.checks.is_empty()));
}

/// The one record of a payload.
fn record(payload: &serde_json::Value) -> &serde_json::Value {
    let records = payload["Records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    &records[0]
}

#[tokio::test]
async fn events_for_put_copy_multipart_and_deletes() {
    let t = TestS3::start().await;
    let c = setup(&t, "events").await;

    // Put under the prefix: one event to FN; outside the prefix: none.
    let put = c
        .put_object()
        .bucket("events")
        .key("in/red flower@1.jpg")
        .body(ByteStream::from_static(b"petals"))
        .send()
        .await
        .unwrap();
    c.put_object().bucket("events").key("out/ignored").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let got = t.notifier.delivered_to(FN);
    assert_eq!(got.len(), 1, "{got:?}");
    let r = record(&got[0]);
    assert_eq!(r["eventVersion"], "2.1");
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["awsRegion"], "us-east-1");
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    let time = r["eventTime"].as_str().unwrap();
    assert!(time.len() == 24 && time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
    assert_eq!(r["userIdentity"]["principalId"], format!("AWS:{ACCOUNT}"));
    assert_eq!(r["requestParameters"]["sourceIPAddress"], "127.0.0.1");
    let request_id = put.request_id().unwrap();
    assert_eq!(r["responseElements"]["x-amz-request-id"], request_id);
    assert!(r["responseElements"]["x-amz-id-2"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(r["s3"]["s3SchemaVersion"], "1.0");
    assert_eq!(r["s3"]["configurationId"], "uploads");
    assert_eq!(r["s3"]["bucket"]["name"], "events");
    assert_eq!(r["s3"]["bucket"]["ownerIdentity"]["principalId"], ACCOUNT);
    assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::events");
    assert_eq!(r["s3"]["object"]["key"], "in/red+flower%401.jpg");
    assert_eq!(r["s3"]["object"]["size"], 6);
    assert_eq!(r["s3"]["object"]["eTag"], md5_hex(b"petals"));
    let seq1 = r["s3"]["object"]["sequencer"].as_str().unwrap().to_owned();
    assert!(seq1.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()), "{seq1}");
    assert_eq!(
        t.notifier.with(|r| (r.deliveries[0].1.clone(), r.deliveries[0].2.clone())),
        ("events".to_owned(), ACCOUNT.to_owned())
    );

    // Copy and multipart.
    c.copy_object()
        .bucket("events")
        .key("in/copied")
        .copy_source("events/in/red%20flower%401.jpg")
        .send()
        .await
        .unwrap();
    let id =
        c.create_multipart_upload().bucket("events").key("in/mp").send().await.unwrap().upload_id().unwrap().to_owned();
    let part = c
        .upload_part()
        .bucket("events")
        .key("in/mp")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("events")
        .key("in/mp")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = t.notifier.delivered_to(FN);
    let names: Vec<&str> = got.iter().map(|p| record(p)["eventName"].as_str().unwrap()).collect();
    assert_eq!(names, ["ObjectCreated:Put", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload"]);
    let mp = record(&got[2]);
    assert_eq!(mp["s3"]["object"]["size"], 4);
    assert!(mp["s3"]["object"]["eTag"].as_str().unwrap().ends_with("-1"));
    let seqs: Vec<String> =
        got.iter().map(|p| record(p)["s3"]["object"]["sequencer"].as_str().unwrap().to_owned()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequencers increase: {seqs:?}");

    // Deletes go to FN2 (ObjectRemoved:*), only for keys that existed.
    c.delete_object().bucket("events").key("in/copied").send().await.unwrap();
    c.delete_object().bucket("events").key("never-existed").send().await.unwrap();
    let objects: Vec<ObjectIdentifier> = ["in/mp", "missing", "out/ignored"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    c.delete_objects()
        .bucket("events")
        .delete(Delete::builder().set_objects(Some(objects)).build().unwrap())
        .send()
        .await
        .unwrap();
    let got = t.notifier.delivered_to(FN2);
    let keys: Vec<&str> = got.iter().map(|p| record(p)["s3"]["object"]["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["in/copied", "in/mp", "out/ignored"]);
    let r = record(&got[0]);
    assert_eq!(r["eventName"], "ObjectRemoved:Delete");
    let object = r["s3"]["object"].as_object().unwrap();
    assert_eq!(
        object.keys().map(String::as_str).collect::<Vec<_>>(),
        ["key", "sequencer"],
        "no size or eTag for removals"
    );
    assert!(r["s3"]["object"]["sequencer"].as_str().unwrap() > seq1.as_str());
    assert_eq!(t.notifier.delivered_to(FN).len(), 3, "deletes do not match the ObjectCreated rule");
}

#[tokio::test]
async fn failed_deliveries_do_not_fail_the_write() {
    let t = TestS3::start().await;
    let c = setup(&t, "failing").await;
    t.notifier.with(|r| {
        r.failing.insert(FN.to_owned());
    });
    c.put_object().bucket("failing").key("in/a").body(ByteStream::from_static(b"a")).send().await.unwrap();
    assert_eq!(t.notifier.delivered_to(FN).len(), 1, "delivery was attempted before the answer");
    let body =
        c.get_object().bucket("failing").key("in/a").send().await.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), b"a");
}

#[tokio::test]
async fn suffix_filters_match_encoded_keys() {
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("suffixes").send().await.unwrap();
    c.put_bucket_notification_configuration()
        .bucket("suffixes")
        .notification_configuration(config(vec![
            lambda(Some("jpg"), FN, &[Event::S3ObjectCreatedPut], Some("my+"), Some(".jpg")),
            lambda(Some("png"), FN2, &[Event::S3ObjectCreatedPut], Some("my+"), Some(".png")),
        ]))
        .send()
        .await
        .unwrap();
    for key in ["my photo.jpg", "my photo.png", "my photo.gif", "other.jpg"] {
        c.put_object().bucket("suffixes").key(key).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    let to = |arn: &str| {
        t.notifier
            .delivered_to(arn)
            .iter()
            .map(|p| record(p)["s3"]["configurationId"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(to(FN), ["jpg"]);
    assert_eq!(to(FN2), ["png"]);
}

#[tokio::test]
async fn configurations_need_an_existing_owned_bucket() {
    let t = TestS3::start().await;
    let c = t.client();
    let e = c.get_bucket_notification_configuration().bucket("none").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchBucket");
    c.create_bucket().bucket("mine").send().await.unwrap();
    let other = t.client_as(crate::support::OTHER_ACCOUNT, "us-east-1");
    let e = other
        .put_bucket_notification_configuration()
        .bucket("mine")
        .notification_configuration(config(vec![lambda(None, FN, &[Event::S3ObjectCreated], None, None)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "AccessDenied");
    // A function in another region than the bucket.
    let e = c
        .put_bucket_notification_configuration()
        .bucket("mine")
        .notification_configuration(config(vec![lambda(
            None,
            "arn:aws:lambda:eu-west-1:000000000000:function:f",
            &[Event::S3ObjectCreated],
            None,
            None,
        )]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "InvalidArgument");
}
