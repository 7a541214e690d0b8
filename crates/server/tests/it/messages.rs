//! The members of error bodies, byte for byte, as AWS sends them: which exceptions carry
//! `Type`, and whether the message member is `message` or `Message` (reference §1.3, §1.5).
//! The SDK hides both, so these requests are raw HTTP.

use serde_json::json;
use testkit::TestServer;
use testkit::http::{Client, Response};

use crate::support::*;

fn dlq(arn: &str) -> aws_sdk_lambda::types::DeadLetterConfig {
    aws_sdk_lambda::types::DeadLetterConfig::builder().target_arn(arn).build()
}

#[track_caller]
fn assert_body(r: &Response, status: u16, code: &str, body: serde_json::Value) {
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (status, Some(code)), "{}", r.text());
    assert_eq!(r.json(), body);
}

#[tokio::test]
async fn error_bodies_have_the_members_aws_sends() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "shape", testkit::zip::hello()).await;
    c.publish_version().function_name("shape").send().await.unwrap();
    c.create_alias().function_name("shape").name("live").function_version("1").send().await.unwrap();
    let mut http = Client::new(server.addr);

    // ResourceNotFoundException: `Message`, with `Type`.
    let r = http.send("GET", "/2015-03-31/functions/nope", &[], b"").await.unwrap();
    assert_body(
        &r,
        404,
        "ResourceNotFoundException",
        json!({"Type": "User", "Message": format!("Function not found: {}", arn("nope"))}),
    );
    // ValidationException: `message`, no `Type`.
    let r = http.send("GET", "/2015-03-31/functions/shape?Qualifier=invalid%21", &[], b"").await.unwrap();
    assert_body(
        &r,
        400,
        "ValidationException",
        json!({"message": r"1 validation error detected: Value 'invalid!' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: \$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"}),
    );
    // ResourceConflictException: `message`, with `Type`.
    let r = http
        .send("POST", "/2015-03-31/functions/shape/aliases", &[], br#"{"Name": "live", "FunctionVersion": "1"}"#)
        .await
        .unwrap();
    assert_body(
        &r,
        409,
        "ResourceConflictException",
        json!({"Type": "User", "message": format!("Alias already exists: {}:live", arn("shape"))}),
    );
    // InvalidParameterValueException: `message`, with `Type`...
    let r = http
        .send("PUT", "/2017-10-31/functions/shape%3A1/concurrency", &[], br#"{"ReservedConcurrentExecutions": 1}"#)
        .await
        .unwrap();
    assert_body(
        &r,
        400,
        "InvalidParameterValueException",
        json!({"Type": "User", "message": "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN."}),
    );
    // ...except where AWS's answer has none.
    let r = http
        .send(
            "POST",
            "/2015-03-31/functions/shape/aliases",
            &[],
            br#"{"Name": "x", "FunctionVersion": "$LATEST", "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}}"#,
        )
        .await
        .unwrap();
    assert_body(
        &r,
        400,
        "InvalidParameterValueException",
        json!({"message": "$LATEST is not supported for an alias pointing to more than 1 version"}),
    );
    let r = http
        .send("PUT", "/2017-10-31/functions/shape/concurrency", &[], br#"{"ReservedConcurrentExecutions": 901}"#)
        .await
        .unwrap();
    assert_body(
        &r,
        400,
        "InvalidParameterValueException",
        json!({"message": "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]."}),
    );
    // So do the provisioned-concurrency account limits.
    let r = http
        .send(
            "PUT",
            "/2019-09-30/functions/shape/provisioned-concurrency?Qualifier=1",
            &[],
            br#"{"ProvisionedConcurrentExecutions": 1001}"#,
        )
        .await
        .unwrap();
    assert_body(
        &r,
        400,
        "InvalidParameterValueException",
        json!({"message": "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [1000]."}),
    );
    let r = http
        .send(
            "PUT",
            "/2019-09-30/functions/shape/provisioned-concurrency?Qualifier=1",
            &[],
            br#"{"ProvisionedConcurrentExecutions": 901}"#,
        )
        .await
        .unwrap();
    assert_body(
        &r,
        400,
        "InvalidParameterValueException",
        json!({"message": "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]."}),
    );
    // PreconditionFailedException: `message`, with `Type`.
    let r = http
        .send("PUT", "/2015-03-31/functions/shape/configuration", &[], br#"{"RevisionId": "stale"}"#)
        .await
        .unwrap();
    assert_body(
        &r,
        412,
        "PreconditionFailedException",
        json!({"Type": "User", "message": "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}),
    );
    // ProvisionedConcurrencyConfigNotFoundException: `message`, with `Type`.
    let r =
        http.send("GET", "/2019-09-30/functions/shape/provisioned-concurrency?Qualifier=1", &[], b"").await.unwrap();
    assert_body(
        &r,
        404,
        "ProvisionedConcurrencyConfigNotFoundException",
        json!({"Type": "User", "message": "No Provisioned Concurrency Config found for this function"}),
    );
    // AccessDeniedException for another account's function: no message at all.
    let other = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A999999999999%3Afunction%3Ashape";
    let r = http.send("GET", other, &[], b"").await.unwrap();
    assert_body(&r, 403, "AccessDeniedException", json!({"Type": "User"}));
    // Nothing above changed the function.
    let conf = c.get_function().function_name("shape").send().await.unwrap();
    assert!(conf.concurrency().is_none());
    assert_eq!(c.list_aliases().function_name("shape").send().await.unwrap().aliases().len(), 1);
}

/// Patterns Versa quotes where no recording shows another text are the API model's, and values
/// are matched by exactly those patterns (Java's `\s`: ASCII whitespace only).
#[tokio::test]
async fn model_patterns_are_quoted_and_matched_exactly() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "pat", testkit::zip::hello()).await;
    let add = |sid: &str| c.add_permission().function_name("pat").statement_id(sid).action("lambda:InvokeFunction");
    let source_pattern = r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)";
    for bad in ["not-an-arn", "arn:aws:s3:us-iso-east-1::bucket", "arn:aws!:s3:::bucket"] {
        let e = err(add("s").principal("s3.amazonaws.com").source_arn(bad).send().await);
        assert_err(
            e,
            400,
            "ValidationException",
            &format!(
                "1 validation error detected: Value '{bad}' at 'sourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern: {source_pattern}"
            ),
        );
    }
    add("gov")
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws-us-gov:s3:us-gov-west-1::bucket")
        .send()
        .await
        .unwrap();
    // A non-breaking space is not `\s`: the principal passes the pattern and is then not one.
    let e = err(add("nbsp").principal("s3.amazonaws.com\u{a0}").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "The provided principal was invalid. Please check the principal and try again.",
    );
    let e = err(add("tab").principal("s3.amazonaws.com\t").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value 's3.amazonaws.com\t' at 'principal' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+",
    );
    // ListFunctions' MasterRegion: `ALL|[a-z]{2}(-gov)?-[a-z]+-\d{1}`.
    for bad in ["us-iso-east-1", "eusc-de-east-1", "nowhere"] {
        let e = err(c.list_functions().master_region(bad).send().await);
        assert_err(
            e,
            400,
            "ValidationException",
            &format!(
                r"1 validation error detected: Value '{bad}' at 'masterRegion' failed to satisfy constraint: Member must satisfy regular expression pattern: ALL|[a-z]{{2}}(-gov)?-[a-z]+-\d{{1}}"
            ),
        );
    }
    // A valid one keeps only Lambda@Edge replicas: none here, though `pat` exists.
    for region in ["us-east-1", "ALL"] {
        let all = c
            .list_functions()
            .master_region(region)
            .function_version(aws_sdk_lambda::types::FunctionVersion::All)
            .send()
            .await
            .unwrap();
        assert!(all.functions().is_empty() && all.next_marker().is_none(), "{region}: {all:?}");
    }
    assert!(!c.list_functions().send().await.unwrap().functions().is_empty());
    // Configuration members, one at a time.
    let update = || c.update_function_configuration().function_name("pat");
    let any_arn = r"(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()";
    let cases = [
        ("handler", "index handler", update().handler("index handler"), r"[^\s]+"),
        ("deadLetterConfig.targetArn", "sqs", update().dead_letter_config(dlq("sqs")), any_arn),
        (
            "deadLetterConfig.targetArn",
            "arn:aws:sqs:us-east-1:000000000000:q\nx",
            update().dead_letter_config(dlq("arn:aws:sqs:us-east-1:000000000000:q\nx")),
            any_arn,
        ),
        ("kMSKeyArn", "arn:aws:KMS:key", update().kms_key_arn("arn:aws:KMS:key"), any_arn),
        (
            "loggingConfig.logGroup",
            "my group",
            update().logging_config(aws_sdk_lambda::types::LoggingConfig::builder().log_group("my group").build()),
            r"[\.\-_/#A-Za-z0-9]+",
        ),
    ];
    for (field, value, call, pattern) in cases {
        let e = err(call.send().await);
        assert_err(
            e,
            400,
            "ValidationException",
            &format!(
                "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
            ),
        );
    }
    // Java's `\s` is ASCII: a handler with a non-breaking space satisfies `[^\s]+`.
    let conf = update().handler("index.handler\u{a0}").send().await.unwrap();
    assert_eq!(conf.handler(), Some("index.handler\u{a0}"));

    let policy = c.get_policy().function_name("pat").send().await.unwrap();
    assert!(policy.policy().unwrap().contains("\"Sid\":\"gov\""));
    assert!(!policy.policy().unwrap().contains("nbsp"));
}
