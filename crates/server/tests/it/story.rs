//! The release story, end to end: a bucket's notification and a function URL point at `prod`
//! once; promoting and rolling back is one UpdateAlias each, and every upload or request runs
//! the version `prod` points to at that moment — seen in the function's logs, whose stream
//! names carry the version.

use aws_sdk_lambda::types::FunctionUrlAuthType;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, S3KeyFilter,
};
use testkit::TestServer;

use crate::invoke::create_py;
use crate::logs::{find, stream_version};
use crate::support::*;

/// Logs which object it handled and which version it is; answers URL requests with its version.
const HANDLER: &str = r#"
def handler(event, context):
    for record in event.get("Records", []):
        print("handled", record["s3"]["object"]["key"], "as", record["eventName"], "by version", context.function_version)
    if "rawPath" in event:
        print("served", event["rawPath"], "by version", context.function_version)
        return {"statusCode": 200, "body": context.function_version}
    return "ok"
"#;

async fn notification_xml(server: &TestServer, bucket: &str) -> Vec<u8> {
    let auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
    let r = testkit::http::Client::new(server.addr)
        .send("GET", &format!("/{bucket}?notification"), &[("authorization", auth)], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.body
}

/// Uploads `key` and waits for the function's log line about it; returns the version that ran.
async fn upload_and_see(server: &TestServer, s3: &aws_sdk_s3::Client, key: &str) -> String {
    s3.put_object().bucket("uploads").key(key).body(ByteStream::from_static(b"pixels")).send().await.unwrap();
    let encoded = key.replace(' ', "+");
    let hits =
        find(&server.logs(), "/aws/lambda/thumbnailer", &format!("handled {encoded} as ObjectCreated:Put")).await;
    assert_eq!(hits.len(), 1, "exactly one run per upload: {hits:?}");
    let (stream, message) = &hits[0];
    let version = stream_version(stream).to_owned();
    assert!(message.trim_end().ends_with(&format!("by version {version}")), "{message}");
    version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_roll_back_prod_behind_a_bucket_and_a_url() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let s3 = s3_client(&server);

    // Versions 1, 2, 3 and aliases dev, beta, prod.
    create_py(&c, "thumbnailer", HANDLER).await;
    for description in ["one", "two", "three"] {
        c.update_function_configuration().function_name("thumbnailer").description(description).send().await.unwrap();
        c.publish_version().function_name("thumbnailer").send().await.unwrap();
    }
    for (alias, version) in [("dev", "3"), ("beta", "2"), ("prod", "1")] {
        c.create_alias().function_name("thumbnailer").name(alias).function_version(version).send().await.unwrap();
    }
    let prod_arn = format!("{}:prod", arn("thumbnailer"));

    // S3 may invoke prod, from this bucket of this account only.
    s3.create_bucket().bucket("uploads").send().await.unwrap();
    c.add_permission()
        .function_name("thumbnailer")
        .qualifier("prod")
        .statement_id("s3-uploads")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws:s3:::uploads")
        .source_account(ACCOUNT)
        .send()
        .await
        .unwrap();
    let config = NotificationConfiguration::builder()
        .lambda_function_configurations(
            LambdaFunctionConfiguration::builder()
                .id("to-prod")
                .lambda_function_arn(&prod_arn)
                .events(Event::from("s3:ObjectCreated:*"))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(
                            S3KeyFilter::builder()
                                .filter_rules(
                                    FilterRule::builder().name(FilterRuleName::Prefix).value("incoming/").build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build();
    s3.put_bucket_notification_configuration()
        .bucket("uploads")
        .notification_configuration(config)
        .send()
        .await
        .unwrap();
    let before = notification_xml(&server, "uploads").await;

    // An upload runs the version prod points to: 1.
    assert_eq!(upload_and_see(&server, &s3, "incoming/first photo.jpg").await, "1");

    // Promote: one alias update; the bucket is not touched; the next upload runs version 2.
    c.update_alias().function_name("thumbnailer").name("prod").function_version("2").send().await.unwrap();
    assert_eq!(upload_and_see(&server, &s3, "incoming/second.jpg").await, "2");
    assert_eq!(notification_xml(&server, "uploads").await, before, "the bucket's configuration is byte-identical");

    // Roll back: the next upload runs version 1 again.
    c.update_alias().function_name("thumbnailer").name("prod").function_version("1").send().await.unwrap();
    assert_eq!(upload_and_see(&server, &s3, "incoming/third.jpg").await, "1");
    assert_eq!(notification_xml(&server, "uploads").await, before);

    // Objects outside the prefix run nothing.
    s3.put_object().bucket("uploads").key("other/skip.jpg").body(ByteStream::from_static(b"x")).send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let skipped = server
        .logs()
        .filter_log_events()
        .log_group_name("/aws/lambda/thumbnailer")
        .filter_pattern("\"other/skip\"")
        .send()
        .await
        .unwrap();
    assert!(skipped.events().is_empty());

    // The same story through a function URL on prod.
    c.add_permission()
        .function_name("thumbnailer")
        .qualifier("prod")
        .statement_id("public-url")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    let url = c
        .create_function_url_config()
        .function_name("thumbnailer")
        .qualifier("prod")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap()
        .function_url()
        .to_owned();
    let host = url.strip_prefix("http://").unwrap().trim_end_matches('/').to_owned();
    let get = |path: &'static str| {
        let host = host.clone();
        let addr = server.addr;
        async move {
            let r = testkit::http::Client::new(addr).send("GET", path, &[("host", &host)], b"").await.unwrap();
            assert_eq!(r.status, 200, "{}", r.text());
            r.text()
        }
    };
    assert_eq!(get("/a").await, "1");
    c.update_alias().function_name("thumbnailer").name("prod").function_version("3").send().await.unwrap();
    assert_eq!(get("/b").await, "3");
    let hits = find(&server.logs(), "/aws/lambda/thumbnailer", "served /b").await;
    assert_eq!(stream_version(&hits[0].0), "3");
    c.update_alias().function_name("thumbnailer").name("prod").function_version("1").send().await.unwrap();
    assert_eq!(get("/c").await, "1");
}
