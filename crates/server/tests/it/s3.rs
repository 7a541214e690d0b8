//! S3 on Versa's endpoint as Lambda's event source and code store: notification validation
//! against functions and their policies, the event records functions receive, the durable
//! asynchronous path they take, and function code read from a bucket.

use std::time::Duration;

use aws_sdk_lambda::types::{DestinationConfig, FunctionCode, OnFailure, Runtime};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, LambdaFunctionConfiguration, NotificationConfiguration};
use testkit::TestServer;

use crate::events::{Collector, create_reporter};
use crate::invoke::create_py;
use crate::support::*;

/// Prints each record it receives as one JSON line.
const RECORDER: &str = r#"
import json
def handler(event, context):
    for record in event["Records"]:
        print("RECORD " + json.dumps(record, sort_keys=True))
    return "ok"
"#;

pub(crate) fn lambda_config(id: &str, arn: &str, events: &[&str]) -> LambdaFunctionConfiguration {
    let mut b = LambdaFunctionConfiguration::builder().id(id).lambda_function_arn(arn);
    for e in events {
        b = b.events(Event::from(*e));
    }
    b.build().unwrap()
}

/// Lets S3 invoke `name` (or its `qualifier`) for `bucket` of the default account.
pub(crate) async fn allow_s3(c: &aws_sdk_lambda::Client, name: &str, qualifier: Option<&str>, bucket: &str) {
    c.add_permission()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_owned))
        .statement_id(format!("s3-{bucket}"))
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn(format!("arn:aws:s3:::{bucket}"))
        .source_account(ACCOUNT)
        .send()
        .await
        .unwrap();
}

pub(crate) async fn put_notification(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    configs: Vec<LambdaFunctionConfiguration>,
) -> Result<
    (),
    aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::put_bucket_notification_configuration::PutBucketNotificationConfigurationError,
    >,
> {
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder().set_lambda_function_configurations(Some(configs)).build(),
        )
        .send()
        .await
        .map(|_| ())
}

/// The records the recorder logged so far, parsed, once `count` have arrived.
async fn records(server: &TestServer, name: &str, count: usize) -> Vec<serde_json::Value> {
    let start = std::time::Instant::now();
    loop {
        let hits = crate::logs::find(&server.logs(), &format!("/aws/lambda/{name}"), "RECORD").await;
        if hits.len() >= count {
            return hits
                .iter()
                .map(|(_, m)| serde_json::from_str(m.trim_end().strip_prefix("RECORD ").unwrap()).unwrap())
                .collect();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "only {} of {count} records", hits.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_validated_against_functions_and_policies() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let s3 = s3_client(&server);
    create_py(&c, "target", RECORDER).await;
    c.publish_version().function_name("target").send().await.unwrap();
    c.create_alias().function_name("target").name("prod").function_version("1").send().await.unwrap();
    s3.create_bucket().bucket("guarded").send().await.unwrap();
    let prod = format!("{}:prod", arn("target"));

    // A missing function, and a function without a permission for S3: S3's InvalidArgument.
    let e = put_notification(&s3, "guarded", vec![lambda_config("a", &arn("absent"), &["s3:ObjectCreated:*"])])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidArgument"), "{e:?}");
    assert_eq!(e.message(), Some("Unable to validate the following destination configurations"));
    let e =
        put_notification(&s3, "guarded", vec![lambda_config("a", &prod, &["s3:ObjectCreated:*"])]).await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidArgument"));
    // A permission on the function does not cover the alias; one for another bucket neither.
    allow_s3(&c, "target", None, "guarded").await;
    allow_s3(&c, "target", Some("prod"), "elsewhere").await;
    let e =
        put_notification(&s3, "guarded", vec![lambda_config("a", &prod, &["s3:ObjectCreated:*"])]).await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidArgument"));
    // Nothing was stored by the refused configurations.
    let got = s3.get_bucket_notification_configuration().bucket("guarded").send().await.unwrap();
    assert!(got.lambda_function_configurations().is_empty());

    // With the permission on prod for this bucket, the configuration is accepted and kept.
    allow_s3(&c, "target", Some("prod"), "guarded").await;
    put_notification(
        &s3,
        "guarded",
        vec![lambda_config("to-prod", &prod, &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])],
    )
    .await
    .unwrap();
    let got = s3.get_bucket_notification_configuration().bucket("guarded").send().await.unwrap();
    let configs = got.lambda_function_configurations();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].id(), Some("to-prod"));
    assert_eq!(configs[0].lambda_function_arn(), prod);

    // Unknown buckets and malformed XML get S3's errors.
    let e = put_notification(&s3, "no-such-bucket", vec![]).await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchBucket"));
    let auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
    let r = testkit::http::Client::new(server.addr)
        .send(
            "PUT",
            "/guarded?notification",
            &[("authorization", auth)],
            b"<NotificationConfiguration><CloudFunctionConfiguration>",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("<Code>MalformedXML</Code>"), "{}", r.text());
    assert_eq!(
        s3.get_bucket_notification_configuration()
            .bucket("guarded")
            .send()
            .await
            .unwrap()
            .lambda_function_configurations()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_receive_s3_event_records() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let s3 = s3_client(&server);
    create_py(&c, "recorder", RECORDER).await;
    s3.create_bucket().bucket("photos").send().await.unwrap();
    allow_s3(&c, "recorder", None, "photos").await;
    put_notification(
        &s3,
        "photos",
        vec![lambda_config("all", &arn("recorder"), &["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"])],
    )
    .await
    .unwrap();

    let put = s3
        .put_object()
        .bucket("photos")
        .key("dir/red flower.jpg")
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().trim_matches('"').to_owned();
    let got = records(&server, "recorder", 1).await;
    let r = &got[0];
    assert_eq!(r["eventVersion"], "2.1");
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["awsRegion"], "us-east-1");
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    assert_eq!(r["s3"]["s3SchemaVersion"], "1.0");
    assert_eq!(r["s3"]["configurationId"], "all");
    assert_eq!(r["s3"]["bucket"]["name"], "photos");
    assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::photos");
    assert_eq!(r["s3"]["object"]["key"], "dir/red+flower.jpg");
    assert_eq!(r["s3"]["object"]["size"], 10);
    assert_eq!(r["s3"]["object"]["eTag"], etag.as_str());
    let sequencer = r["s3"]["object"]["sequencer"].as_str().unwrap().to_owned();
    assert!(sequencer.bytes().all(|b| b.is_ascii_hexdigit()), "{sequencer}");
    assert!(r["eventTime"].as_str().unwrap().ends_with('Z'));

    // Copy and delete produce their own events, in order.
    s3.copy_object().bucket("photos").key("copy.jpg").copy_source("photos/dir/red%20flower.jpg").send().await.unwrap();
    s3.delete_object().bucket("photos").key("copy.jpg").send().await.unwrap();
    let got = records(&server, "recorder", 3).await;
    let names: Vec<&str> = got.iter().map(|r| r["eventName"].as_str().unwrap()).collect();
    assert!(names.contains(&"ObjectCreated:Copy") && names.contains(&"ObjectRemoved:Delete"), "{names:?}");
    let deleted = got.iter().find(|r| r["eventName"] == "ObjectRemoved:Delete").unwrap();
    assert_eq!(deleted["s3"]["object"]["key"], "copy.jpg");
    assert!(deleted["s3"]["object"].get("size").is_none(), "no size for removals");
    let copy_seq = got.iter().find(|r| r["eventName"] == "ObjectCreated:Copy").unwrap()["s3"]["object"]["sequencer"]
        .as_str()
        .unwrap()
        .to_owned();
    let delete_seq = deleted["s3"]["object"]["sequencer"].as_str().unwrap().to_owned();
    assert!(u128::from_str_radix(&delete_seq, 16).unwrap() > u128::from_str_radix(&copy_seq, 16).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_events_take_the_async_path_with_retries_and_destinations() {
    let server = crate::events::async_server().await;
    let c = server.lambda();
    let s3 = s3_client(&server);
    let collector = Collector::start().await;
    create_reporter(&c, "sink", &collector).await;
    create_py(
        &c,
        "broken",
        "def handler(e, c):\n    raise RuntimeError('cannot process ' + e['Records'][0]['s3']['object']['key'])\n",
    )
    .await;
    c.put_function_event_invoke_config()
        .function_name("broken")
        .maximum_retry_attempts(1)
        .destination_config(
            DestinationConfig::builder().on_failure(OnFailure::builder().destination(arn("sink")).build()).build(),
        )
        .send()
        .await
        .unwrap();
    s3.create_bucket().bucket("inbox").send().await.unwrap();
    allow_s3(&c, "broken", None, "inbox").await;
    put_notification(&s3, "inbox", vec![lambda_config("in", &arn("broken"), &["s3:ObjectCreated:Put"])]).await.unwrap();
    s3.put_object().bucket("inbox").key("letter.txt").body(ByteStream::from_static(b"hi")).send().await.unwrap();

    // Two attempts fail, then the failure destination gets the record with the S3 event.
    let seen = collector
        .wait_for(Duration::from_secs(30), "the failure record", |s| {
            s.iter().any(|v| v["event"]["requestContext"]["condition"] == "RetriesExhausted")
        })
        .await;
    let record =
        &seen.iter().find(|v| v["event"]["requestContext"]["condition"] == "RetriesExhausted").unwrap()["event"];
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(record["requestPayload"]["Records"][0]["s3"]["object"]["key"], "letter.txt");
    assert_eq!(record["responsePayload"]["errorMessage"], "cannot process letter.txt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_code_from_a_bucket() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let s3 = s3_client(&server);
    s3.create_bucket().bucket("artifacts").send().await.unwrap();
    let v1 = testkit::zip::files(&[("index.py", b"def handler(e, c):\n    return 'from s3 v1'\n".as_slice())]);
    let v2 = testkit::zip::files(&[("index.py", b"def handler(e, c):\n    return 'from s3 v2'\n".as_slice())]);
    s3.put_object().bucket("artifacts").key("builds/v1.zip").body(ByteStream::from(v1.clone())).send().await.unwrap();
    s3.put_object().bucket("artifacts").key("builds/v2.zip").body(ByteStream::from(v2.clone())).send().await.unwrap();

    let created = c
        .create_function()
        .function_name("from-s3")
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(FunctionCode::builder().s3_bucket("artifacts").s3_key("builds/v1.zip").build())
        .send()
        .await
        .unwrap();
    assert_eq!(created.code_sha256(), Some(code_sha256(&v1).as_str()));
    let r = c.invoke().function_name("from-s3").send().await.unwrap();
    assert_eq!(r.payload().unwrap().as_ref(), br#""from s3 v1""#);
    let updated = c
        .update_function_code()
        .function_name("from-s3")
        .s3_bucket("artifacts")
        .s3_key("builds/v2.zip")
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.code_sha256(), Some(code_sha256(&v2).as_str()));
    assert_eq!(updated.version(), Some("1"));
    let r = c.invoke().function_name("from-s3").qualifier("1").send().await.unwrap();
    assert_eq!(r.payload().unwrap().as_ref(), br#""from s3 v2""#);

    // Missing buckets and keys get Lambda's messages, and change nothing.
    let code = |bucket: &str, key: &str| FunctionCode::builder().s3_bucket(bucket).s3_key(key).build();
    let e = err(c
        .create_function()
        .function_name("nope")
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(code("missing", "x.zip"))
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist",
    );
    let e = err(c
        .update_function_code()
        .function_name("from-s3")
        .s3_bucket("artifacts")
        .s3_key("builds/none.zip")
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist.",
    );
    assert!(c.get_function().function_name("nope").send().await.is_err());
    let latest = c.get_function().function_name("from-s3").send().await.unwrap();
    assert_eq!(latest.configuration().unwrap().code_sha256(), Some(code_sha256(&v2).as_str()));
    // An object that is not a zip is refused as a bad package.
    s3.put_object()
        .bucket("artifacts")
        .key("notes.txt")
        .body(ByteStream::from_static(b"not a zip"))
        .send()
        .await
        .unwrap();
    let e =
        err(c.update_function_code().function_name("from-s3").s3_bucket("artifacts").s3_key("notes.txt").send().await);
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidParameterValueException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_s3_input_changes_nothing() {
    let server = TestServer::start_with(|c| c.s3_limits.object_bytes_max = 1024).await;
    let s3 = s3_client(&server);
    s3.create_bucket().bucket("small").send().await.unwrap();
    // Beyond the configured object limit: EntityTooLarge, and no object.
    let e =
        s3.put_object().bucket("small").key("big").body(ByteStream::from(vec![7u8; 4096])).send().await.unwrap_err();
    assert_eq!(e.code(), Some("EntityTooLarge"), "{e:?}");
    let e = s3.head_object().bucket("small").key("big").send().await.unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
    s3.put_object().bucket("small").key("ok").body(ByteStream::from(vec![7u8; 1024])).send().await.unwrap();
    // Unknown buckets and keys, invalid names, a non-empty bucket.
    let e = s3.get_object().bucket("small").key("missing").send().await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchKey"));
    let e = s3.list_objects_v2().bucket("nothing-here").send().await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchBucket"));
    let e = s3.create_bucket().bucket("Bad_Name").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidBucketName"));
    let e = s3.delete_bucket().bucket("small").send().await.unwrap_err();
    assert_eq!(e.code(), Some("BucketNotEmpty"));
    let listed = s3.list_objects_v2().bucket("small").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["ok"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_path_style_and_virtual_hosted_requests_reach_s3() {
    let server = TestServer::start().await;
    let mut http = testkit::http::Client::new(server.addr);
    let port = server.addr.port();
    // Unsigned path style: create a bucket and put an object.
    let r = http.send("PUT", "/site", &[], b"").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http.send("PUT", "/site/index.html", &[("content-type", "text/html")], b"<h1>hi</h1>").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // Virtual-hosted style, both host forms: the whole path is the key.
    for host in [format!("site.s3.localhost:{port}"), format!("site.localhost:{port}")] {
        let r = http.send("GET", "/index.html", &[("host", &host)], b"").await.unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "<h1>hi</h1>"), "{host}");
        assert_eq!(r.header("content-type"), Some("text/html"));
    }
    let host = format!("site.s3.localhost:{port}");
    let r = http.send("PUT", "/b.txt", &[("host", &host)], b"virtual").await.unwrap();
    assert_eq!(r.status, 200);
    let r = http.send("GET", "/site/b.txt", &[], b"").await.unwrap();
    assert_eq!(r.text(), "virtual");
    // Unsigned ListBuckets at the root; Lambda's paths still reach Lambda.
    let r = http.send("GET", "/", &[], b"").await.unwrap();
    assert!(r.text().contains("<Name>site</Name>"), "{}", r.text());
    let r = http.send("GET", "/2015-03-31/functions", &[], b"").await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("{\"Functions\""), "{}", r.text());
    // S3's XML errors for unknown buckets and keys.
    let r = http.send("GET", "/site/nope", &[], b"").await.unwrap();
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<Code>NoSuchKey</Code>"));
    let r = http.send("GET", "/ghost/x", &[], b"").await.unwrap();
    assert!(r.text().contains("<Code>NoSuchBucket</Code>"));
}
