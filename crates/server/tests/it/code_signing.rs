//! Code signing configurations, of which Versa has none: `CodeSigningConfigArn` is checked and
//! then not found, nothing is created, and the read operations answer as for an account
//! without any (GetFunctionCodeSigningConfig is what Terraform's `aws_lambda_function` reads).

use base64::Engine;
use serde_json::json;
use testkit::TestServer;
use testkit::http::{Client, Response};

use crate::support::*;

const CSC: &str = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdefg";
const CSC_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}:\d{12}:code-signing-config:csc-[a-z0-9]{17}";

#[track_caller]
fn assert_body(r: &Response, status: u16, code: &str, body: serde_json::Value) {
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (status, Some(code)), "{}", r.text());
    assert_eq!(r.json(), body);
}

fn create_body(name: &str, csc: &str) -> Vec<u8> {
    let zip = base64::engine::general_purpose::STANDARD.encode(testkit::zip::hello());
    json!({
        "FunctionName": name, "Role": ROLE, "Runtime": "python3.12", "Handler": "index.handler",
        "Code": {"ZipFile": zip}, "CodeSigningConfigArn": csc,
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn create_function_checks_the_code_signing_config_and_creates_nothing() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let mut http = Client::new(server.addr);

    let r = http.send("POST", "/2015-03-31/functions", &[], &create_body("csc1", "garbage")).await.unwrap();
    assert_body(
        &r,
        400,
        "ValidationException",
        json!({"message": format!("1 validation error detected: Value 'garbage' at 'codeSigningConfigArn' failed to satisfy constraint: Member must satisfy regular expression pattern: {CSC_PATTERN}")}),
    );
    let r = http.send("POST", "/2015-03-31/functions", &[], &create_body("csc2", CSC)).await.unwrap();
    assert_body(
        &r,
        404,
        "CodeSigningConfigNotFoundException",
        json!({"Type": "User", "Message": format!("The code signing configuration cannot be found. Check that the provided configuration is not deleted: {CSC}.")}),
    );
    for name in ["csc1", "csc2"] {
        let e = err(c.get_function().function_name(name).send().await);
        assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn(name)));
    }
    // The SDK decodes the modeled error.
    let e = c
        .create_function()
        .function_name("csc3")
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(testkit::zip::hello()))
                .build(),
        )
        .code_signing_config_arn(CSC)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_code_signing_config_not_found_exception());
}

#[tokio::test]
async fn code_signing_reads_answer_as_for_an_account_without_configs() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "signed", testkit::zip::hello()).await;

    let out = c.get_function_code_signing_config().function_name("signed").send().await.unwrap();
    assert_eq!((out.code_signing_config_arn(), out.function_name()), ("", "signed"));
    let out = c.get_function_code_signing_config().function_name(arn("signed")).send().await.unwrap();
    assert_eq!(out.function_name(), "signed");
    let e = err(c.get_function_code_signing_config().function_name("unsigned").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("unsigned")));

    let out = c.list_code_signing_configs().send().await.unwrap();
    assert!(out.code_signing_configs().is_empty());
    let mut http = Client::new(server.addr);
    let r = http.send("GET", "/2020-04-22/code-signing-configs", &[], b"").await.unwrap();
    assert_eq!((r.status, r.json()), (200, json!({"CodeSigningConfigs": []})));

    let missing = format!("The Lambda code signing configuration {CSC} can not be found.");
    let e = err(c.get_code_signing_config().code_signing_config_arn(CSC).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &missing);
    let e = err(c.list_functions_by_code_signing_config().code_signing_config_arn(CSC).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &missing);
    let e = err(c.get_code_signing_config().code_signing_config_arn("csc-1").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value 'csc-1' at 'codeSigningConfigArn' failed to satisfy constraint: Member must satisfy regular expression pattern: {CSC_PATTERN}"
        ),
    );
}
