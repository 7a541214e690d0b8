//! Provisioned concurrency: environments started ahead, following their alias.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{LogType, ProvisionedConcurrencyStatusEnum as Status};
use base64::Engine;
use testkit::TestServer;

use crate::invoke::create_py;
use crate::support::*;

const INIT_TYPE: &str = "import os, time\nINIT = os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return {'init': INIT, 'version': c.function_version}\n";

async fn wait_status(
    c: &aws_sdk_lambda::Client,
    name: &str,
    q: &str,
    want: Status,
) -> aws_sdk_lambda::operation::get_provisioned_concurrency_config::GetProvisionedConcurrencyConfigOutput {
    let start = std::time::Instant::now();
    loop {
        let got = c.get_provisioned_concurrency_config().function_name(name).qualifier(q).send().await.unwrap();
        if got.status() == Some(&want) {
            return got;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "still {:?} ({:?})", got.status(), got.status_reason());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn call(c: &aws_sdk_lambda::Client, name: &str, q: &str, payload: &str) -> (serde_json::Value, String) {
    let r = c
        .invoke()
        .function_name(name)
        .qualifier(q)
        .payload(Blob::new(payload.as_bytes().to_vec()))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    let tail =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap()).unwrap()).unwrap();
    (serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap(), tail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_environments_are_ready_before_traffic_and_follow_the_alias() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "warm", INIT_TYPE).await;
    c.publish_version().function_name("warm").send().await.unwrap();
    c.update_function_configuration().function_name("warm").description("v2").send().await.unwrap();
    c.publish_version().function_name("warm").send().await.unwrap();
    c.create_alias().function_name("warm").name("prod").function_version("1").send().await.unwrap();

    let put = c
        .put_provisioned_concurrency_config()
        .function_name("warm")
        .qualifier("prod")
        .provisioned_concurrent_executions(2)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), Some(&Status::InProgress));
    assert_eq!(put.requested_provisioned_concurrent_executions(), Some(2));
    assert_eq!(put.allocated_provisioned_concurrent_executions(), Some(0));
    let ready = wait_status(&c, "warm", "prod", Status::Ready).await;
    assert_eq!(ready.available_provisioned_concurrent_executions(), Some(2));
    assert_eq!(ready.allocated_provisioned_concurrent_executions(), Some(2));

    // The first invoke through the alias is warm: provisioned, no Init Duration.
    let (body, tail) = call(&c, "warm", "prod", "{}").await;
    assert_eq!(body, serde_json::json!({"init": "provisioned-concurrency", "version": "1"}));
    assert!(!tail.contains("Init Duration"), "{tail}");

    // Beyond the provisioned environments, invocations spill over to on-demand ones.
    let mut calls = Vec::new();
    for _ in 0..3 {
        let c = c.clone();
        calls.push(tokio::spawn(async move { call(&c, "warm", "prod", r#"{"sleep": 1}"#).await.0 }));
    }
    let mut inits = Vec::new();
    for call in calls {
        inits.push(call.await.unwrap()["init"].as_str().unwrap().to_owned());
    }
    inits.sort();
    assert_eq!(inits, ["on-demand", "provisioned-concurrency", "provisioned-concurrency"]);

    // The alias moves: the provisioned environments follow it to version 2.
    c.update_alias().function_name("warm").name("prod").function_version("2").send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    wait_status(&c, "warm", "prod", Status::Ready).await;
    let (body, tail) = call(&c, "warm", "prod", "{}").await;
    assert_eq!(body, serde_json::json!({"init": "provisioned-concurrency", "version": "2"}));
    assert!(!tail.contains("Init Duration"), "{tail}");

    let list = c.list_provisioned_concurrency_configs().function_name("warm").send().await.unwrap();
    let configs = list.provisioned_concurrency_configs();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].function_arn(), Some(format!("{}:prod", arn("warm")).as_str()));
    assert!(configs[0].last_modified().unwrap().ends_with("+0000"));

    // Deleting the alias takes its config along.
    c.delete_alias().function_name("warm").name("prod").send().await.unwrap();
    let e = err(c.get_provisioned_concurrency_config().function_name("warm").qualifier("prod").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Cannot find alias arn: {}:prod", arn("warm")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_concurrency_rules_and_errors() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "rules", "def handler(e, c):\n    return 1\n").await;
    c.publish_version().function_name("rules").send().await.unwrap();
    c.create_alias().function_name("rules").name("live").function_version("1").send().await.unwrap();
    let put = |q: &str, n: i32| {
        c.put_provisioned_concurrency_config()
            .function_name("rules")
            .qualifier(q)
            .provisioned_concurrent_executions(n)
            .send()
    };
    let e = err(put("$LATEST", 1).await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    );
    let e = err(c.get_provisioned_concurrency_config().function_name("rules").qualifier("$LATEST").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "The function resource provided must be an alias or a published version.",
    );
    let e = err(put("nope", 1).await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Cannot find alias arn: {}:nope", arn("rules")));
    let e = err(put("42", 1).await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:42", arn("rules")));
    let e = err(put("live", 0).await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    let e = err(c.get_provisioned_concurrency_config().function_name("rules").qualifier("live").send().await);
    assert_err(
        e,
        404,
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
    );
    c.delete_provisioned_concurrency_config().function_name("rules").qualifier("live").send().await.unwrap();

    put("1", 1).await.unwrap();
    let e = err(put("live", 1).await);
    assert_err(
        e,
        409,
        "ResourceConflictException",
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
    );
    c.delete_provisioned_concurrency_config().function_name("rules").qualifier("1").send().await.unwrap();
    put("live", 1).await.unwrap();
    let e = err(put("1", 1).await);
    assert_err(e, 409, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias");

    // Reserved and provisioned concurrency constrain each other.
    put("live", 2).await.unwrap();
    let mut http = testkit::http::Client::new(server.addr);
    let r = http
        .send("PUT", "/2017-10-31/functions/rules/concurrency", &[], br#"{"ReservedConcurrentExecutions": 1}"#)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        " ReservedConcurrentExecutions  1 should not be lower than function's total provisioned concurrency [2]."
    );
    assert!(r.json().get("Type").is_none());
    c.put_function_concurrency().function_name("rules").reserved_concurrent_executions(3).send().await.unwrap();
    let e = err(put("live", 4).await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_failure_marks_the_config_failed() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "broken", "raise ValueError('cannot start')\n").await;
    c.publish_version().function_name("broken").send().await.unwrap();
    c.put_provisioned_concurrency_config()
        .function_name("broken")
        .qualifier("1")
        .provisioned_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let failed = wait_status(&c, "broken", "1", Status::Failed).await;
    assert_eq!(failed.status_reason(), Some("cannot start"));
}
