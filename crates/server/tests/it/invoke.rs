//! Invoke: runtimes, qualifiers and aliases, faults, logs.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, InvocationType, LogType, Runtime};
use base64::Engine;
use testkit::TestServer;
use testkit::zip::Entry;

use crate::support::*;

const PY_ECHO: &str = r#"
import json, os
def handler(event, context):
    return {
        "event": event,
        "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
        "context_version": context.function_version,
        "arn": context.invoked_function_arn,
        "request_id": context.aws_request_id,
        "remaining": context.get_remaining_time_in_millis(),
        "memory": context.memory_limit_in_mb,
        "name": context.function_name,
    }
"#;

pub async fn create_py(c: &aws_sdk_lambda::Client, name: &str, code: &str) {
    c.create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(
            FunctionCode::builder().zip_file(Blob::new(testkit::zip::files(&[("index.py", code.as_bytes())]))).build(),
        )
        .send()
        .await
        .expect("create");
}

fn json(p: &aws_sdk_lambda::primitives::Blob) -> serde_json::Value {
    serde_json::from_slice(p.as_ref()).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(p.as_ref())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_echo_runs_latest_versions_and_aliases() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "py-echo", PY_ECHO).await;
    let r = c
        .invoke()
        .function_name("py-echo")
        .payload(Blob::new(br#"{"hello": "world"}"#.to_vec()))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status_code(), 200);
    assert_eq!(r.executed_version(), Some("$LATEST"));
    assert!(r.function_error().is_none());
    let body = json(r.payload().unwrap());
    assert_eq!(body["event"]["hello"], "world");
    assert_eq!(body["version"], "$LATEST");
    assert_eq!(body["arn"], arn("py-echo"));
    assert_eq!(body["name"], "py-echo");
    assert_eq!(body["memory"], "128");
    let remaining = body["remaining"].as_i64().unwrap();
    assert!(remaining > 0 && remaining <= 3000, "{remaining}");
    let tail =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r.log_result().expect("log tail")).unwrap())
            .unwrap();
    let request_id = body["request_id"].as_str().unwrap();
    assert!(tail.contains(&format!("START RequestId: {request_id} Version: $LATEST")), "{tail}");
    assert!(tail.contains(&format!("END RequestId: {request_id}")), "{tail}");
    assert!(tail.contains(&format!("REPORT RequestId: {request_id}\tDuration: ")), "{tail}");
    assert!(tail.contains("Init Duration: "), "a cold start reports its init duration: {tail}");

    // Warm: the same environment, no init duration.
    let r = c.invoke().function_name("py-echo").log_type(LogType::Tail).send().await.unwrap();
    let tail =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap()).unwrap()).unwrap();
    assert!(!tail.contains("Init Duration"), "{tail}");
    assert_eq!(json(r.payload().unwrap())["event"], serde_json::json!({}));

    c.publish_version().function_name("py-echo").send().await.unwrap();
    c.create_alias().function_name("py-echo").name("prod").function_version("1").send().await.unwrap();
    let r = c.invoke().function_name("py-echo").qualifier("prod").send().await.unwrap();
    assert_eq!(r.executed_version(), Some("1"));
    let body = json(r.payload().unwrap());
    assert_eq!(body["version"], "1");
    assert_eq!(body["context_version"], "1");
    assert_eq!(body["arn"], format!("{}:prod", arn("py-echo")));
    let r = c.invoke().function_name(format!("{}:1", arn("py-echo"))).send().await.unwrap();
    assert_eq!(r.executed_version(), Some("1"));
    assert_eq!(json(r.payload().unwrap())["arn"], format!("{}:1", arn("py-echo")));

    let r = c.invoke().function_name("py-echo").invocation_type(InvocationType::DryRun).send().await.unwrap();
    assert_eq!(r.status_code(), 204);
    let e = err(c.invoke().function_name("missing").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:$LATEST", arn("missing")));
    let e = err(c.invoke().function_name("py-echo").qualifier("nope").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:nope", arn("py-echo")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provided_bootstrap_runs() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let bootstrap = r#"#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | cut -d: -f2 | tr -d '[:space:]')
  echo "handling $ID"
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "{\"echo\": $EVENT, \"user\": \"$(id -u)\"}"
  rm -f "$HEADERS"
done
"#;
    let zip = testkit::zip::build(&[Entry::File { name: "bootstrap", data: bootstrap.as_bytes(), mode: 0o755 }]);
    c.create_function()
        .function_name("sh-echo")
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("bootstrap")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .unwrap();
    let r = c
        .invoke()
        .function_name("sh-echo")
        .payload(Blob::new(br#"[1,2,3]"#.to_vec()))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    let body = json(r.payload().unwrap());
    assert_eq!(body["echo"], serde_json::json!([1, 2, 3]));
    let tail =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap()).unwrap()).unwrap();
    assert!(tail.contains("handling "), "{tail}");
    assert_eq!(body["user"], "993", "functions run as the unprivileged sandbox user");
}
