//! Model constraints on less-trodden members, in AWS's wording (reference §1.3): the
//! `SourceKMSKeyArn` members, one violation per CORS list however many items break it, and a
//! value breaking both a length and a pattern constraint listing the length first. Raw HTTP,
//! so the SDK's own checks cannot hide the answer.

use base64::Engine;
use serde_json::json;
use testkit::TestServer;
use testkit::http::{Client, Response};

use crate::support::*;

const KMS_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()";

#[track_caller]
fn assert_validation(r: &Response, message: &str) {
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (400, Some("ValidationException")), "{}", r.text());
    assert_eq!(r.json(), json!({ "message": message }));
}

/// `Value '<value>' at '<field>' failed to satisfy constraint: <constraint>`.
fn violation(value: &str, field: &str, constraint: &str) -> String {
    format!("Value '{value}' at '{field}' failed to satisfy constraint: {constraint}")
}

fn len_min(value: &str, field: &str, min: usize) -> String {
    violation(value, field, &format!("Member must have length greater than or equal to {min}"))
}

fn pattern(value: &str, field: &str, pattern: &str) -> String {
    violation(value, field, &format!("Member must satisfy regular expression pattern: {pattern}"))
}

fn zip_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(testkit::zip::hello())
}

#[tokio::test]
async fn source_kms_key_arns_are_checked_like_kms_key_arn() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let mut http = Client::new(server.addr);
    let body = |kms: &str| {
        json!({
            "FunctionName": "kms", "Role": ROLE, "Runtime": "python3.12", "Handler": "index.handler",
            "Code": {"ZipFile": zip_b64(), "SourceKMSKeyArn": kms},
        })
        .to_string()
    };
    let r = http.send("POST", "/2015-03-31/functions", &[], body("garbage").as_bytes()).await.unwrap();
    assert_validation(
        &r,
        &format!("1 validation error detected: {}", pattern("garbage", "code.sourceKMSKeyArn", KMS_PATTERN)),
    );
    assert!(c.get_function().function_name("kms").send().await.is_err());
    let key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let r = http.send("POST", "/2015-03-31/functions", &[], body(key).as_bytes()).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.text());

    let code = |kms: &str| json!({"ZipFile": zip_b64(), "SourceKMSKeyArn": kms}).to_string();
    let r = http.send("PUT", "/2015-03-31/functions/kms/code", &[], code("garbage").as_bytes()).await.unwrap();
    assert_validation(
        &r,
        &format!("1 validation error detected: {}", pattern("garbage", "sourceKMSKeyArn", KMS_PATTERN)),
    );
    let r = http.send("PUT", "/2015-03-31/functions/kms/code", &[], code(key).as_bytes()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn put_url(http: &mut Client, cors: serde_json::Value) -> Response {
    let body = json!({"AuthType": "NONE", "Cors": cors}).to_string();
    http.send("POST", "/2021-10-31/functions/cors/url", &[], body.as_bytes()).await.unwrap()
}

#[tokio::test]
async fn a_cors_list_gets_one_violation_however_many_items_break_it() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "cors", testkit::zip::hello()).await;
    let mut http = Client::new(server.addr);
    let list = |c: &str| format!("Member must satisfy constraint: [{c}]");
    let r = put_url(&mut http, json!({"AllowOrigins": ["", ""]})).await;
    assert_validation(
        &r,
        &format!(
            "1 validation error detected: {}",
            violation("[, ]", "cors.allowOrigins", &list("Member must have length greater than or equal to 1"))
        ),
    );
    let r = put_url(&mut http, json!({"AllowMethods": ["OPTIONS", "OPTIONS"], "AllowHeaders": ["a", "b"]})).await;
    assert_validation(
        &r,
        &format!(
            "1 validation error detected: {}",
            violation(
                "[OPTIONS, OPTIONS]",
                "cors.allowMethods",
                &list("Member must have length less than or equal to 6")
            )
        ),
    );
    // Items breaking different member constraints: still one violation, naming both.
    let long = "o".repeat(254);
    let r = put_url(&mut http, json!({"AllowOrigins": [long, ""]})).await;
    assert_validation(
        &r,
        &format!(
            "1 validation error detected: {}",
            violation(
                &format!("[{long}, ]"),
                "cors.allowOrigins",
                &list(
                    "Member must have length less than or equal to 253, Member must have length greater than or \
                     equal to 1"
                )
            )
        ),
    );
}

#[tokio::test]
async fn length_violations_come_before_pattern_violations() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "order", testkit::zip::hello()).await;
    c.publish_version().function_name("order").send().await.unwrap();
    let mut http = Client::new(server.addr);
    let two = |a: String, b: String| format!("2 validation errors detected: {a}; {b}");
    let sid = "([a-zA-Z0-9-_]+)";

    // AddPermission: StatementId and PrincipalOrgID.
    let r = http
        .send(
            "POST",
            "/2015-03-31/functions/order/policy",
            &[],
            br#"{"StatementId": "", "Action": "lambda:InvokeFunction", "Principal": "*"}"#,
        )
        .await
        .unwrap();
    assert_validation(&r, &two(len_min("", "statementId", 1), pattern("", "statementId", sid)));
    let r = http
        .send(
            "POST",
            "/2015-03-31/functions/order/policy",
            &[],
            br#"{"StatementId": "o1", "Action": "lambda:InvokeFunction", "Principal": "*", "PrincipalOrgID": "o-abc"}"#,
        )
        .await
        .unwrap();
    assert_validation(
        &r,
        &two(len_min("o-abc", "principalOrgID", 12), pattern("o-abc", "principalOrgID", "o-[a-z0-9]{10,32}")),
    );

    // AddLayerVersionPermission: StatementId.
    let layer = json!({"Content": {"ZipFile": zip_b64()}}).to_string();
    let r = http.send("POST", "/2018-10-31/layers/order/versions", &[], layer.as_bytes()).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = http
        .send(
            "POST",
            "/2018-10-31/layers/order/versions/1/policy",
            &[],
            br#"{"StatementId": "", "Action": "lambda:GetLayerVersion", "Principal": "*"}"#,
        )
        .await
        .unwrap();
    assert_validation(&r, &two(len_min("", "statementId", 1), pattern("", "statementId", sid)));

    // Qualifier.
    let r = http.send("GET", "/2015-03-31/functions/order/configuration?Qualifier=", &[], b"").await.unwrap();
    assert_validation(
        &r,
        &two(len_min("", "qualifier", 1), pattern("", "qualifier", r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+")),
    );

    // CreateAlias: Name.
    let r = http
        .send("POST", "/2015-03-31/functions/order/aliases", &[], br#"{"Name": "", "FunctionVersion": "1"}"#)
        .await
        .unwrap();
    assert_validation(&r, &two(len_min("", "name", 1), pattern("", "name", "(?!^[0-9]+$)([a-zA-Z0-9-_]+)")));
}
