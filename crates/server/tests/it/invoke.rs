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
        "custom": context.client_context.custom if context.client_context else None,
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
    let ctx = base64::engine::general_purpose::STANDARD.encode(br#"{"custom": {"tenant": "t1"}}"#);
    let r = c
        .invoke()
        .function_name("py-echo")
        .payload(Blob::new(br#"{"hello": "world"}"#.to_vec()))
        .log_type(LogType::Tail)
        .client_context(ctx)
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
    assert_eq!(body["custom"], serde_json::json!({"tenant": "t1"}), "the client context reaches the function");
    let remaining = body["remaining"].as_i64().unwrap();
    assert!(remaining > 0 && remaining <= 3000, "{remaining}");
    let tail =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r.log_result().expect("log tail")).unwrap())
            .unwrap();
    let request_id = body["request_id"].as_str().unwrap();
    assert!(
        tail.starts_with(&format!("START RequestId: {request_id} Version: $LATEST\n")),
        "a cold start's tail starts with START: {tail}"
    );
    assert!(!tail.contains("INIT_START"), "the init phase is in the stream, not in the tail: {tail}");
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

const PY_VERSION: &str =
    "import os\ndef handler(event, context):\n    return os.environ['AWS_LAMBDA_FUNCTION_VERSION']\n";

/// A function with versions 1 and 2 (different code) and alias `live` → 1.
async fn two_versions(c: &aws_sdk_lambda::Client, name: &str) {
    create_py(c, name, PY_VERSION).await;
    c.publish_version().function_name(name).send().await.unwrap();
    c.update_function_configuration().function_name(name).description("v2").send().await.unwrap();
    c.publish_version().function_name(name).send().await.unwrap();
    c.create_alias().function_name(name).name("live").function_version("1").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_alias_routes_by_weight() {
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "weighted").await;
    let routing =
        aws_sdk_lambda::types::AliasRoutingConfiguration::builder().additional_version_weights("2", 0.3).build();
    c.update_alias().function_name("weighted").name("live").routing_config(routing).send().await.unwrap();

    const N: usize = 5000;
    const TASKS: usize = 8;
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = (0usize, 0usize);
            for _ in 0..N / TASKS {
                let r = c.invoke().function_name("weighted").qualifier("live").send().await.unwrap();
                let ran: String = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
                assert_eq!(r.executed_version(), Some(ran.as_str()), "the header names the version that ran");
                match ran.as_str() {
                    "1" => seen.0 += 1,
                    "2" => seen.1 += 1,
                    other => panic!("version {other} ran"),
                }
            }
            seen
        }));
    }
    let (mut v1, mut v2) = (0, 0);
    for t in tasks {
        let (a, b) = t.await.unwrap();
        v1 += a;
        v2 += b;
    }
    let n = (v1 + v2) as f64;
    let expected = 0.3 * n;
    let sd = (n * 0.3 * 0.7).sqrt();
    assert!(v1 > 0 && v2 > 0, "both versions ran");
    assert!(
        ((v2 as f64) - expected).abs() <= 3.0 * sd,
        "version 2 ran {v2} of {n} times; expected {expected} ± {}",
        3.0 * sd
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_update_takes_effect_for_the_next_invocation() {
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "flip").await;
    // Background load on the alias while it flips.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let (c, stop) = (c.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.invoke().function_name("flip").qualifier("live").send().await.unwrap();
            }
        })
    };
    for round in 0..20 {
        let target = if round % 2 == 0 { "2" } else { "1" };
        c.update_alias().function_name("flip").name("live").function_version(target).send().await.unwrap();
        for _ in 0..3 {
            let r = c.invoke().function_name(format!("{}:live", arn("flip"))).send().await.unwrap();
            assert_eq!(r.executed_version(), Some(target), "round {round}");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    background.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_latest_runs_the_new_code_and_versions_are_unaffected() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "evolving", "def handler(e, c):\n    return 'one'\n").await;
    c.publish_version().function_name("evolving").send().await.unwrap();
    let run = |q: Option<&'static str>| {
        let c = c.clone();
        async move {
            let r = c.invoke().function_name("evolving").set_qualifier(q.map(str::to_owned)).send().await.unwrap();
            serde_json::from_slice::<String>(r.payload().unwrap().as_ref()).unwrap()
        }
    };
    assert_eq!(run(None).await, "one");
    let zip = testkit::zip::files(&[("index.py", b"def handler(e, c):\n    return 'two'\n")]);
    c.update_function_code().function_name("evolving").zip_file(Blob::new(zip)).send().await.unwrap();
    assert_eq!(run(None).await, "two");
    assert_eq!(run(Some("$LATEST")).await, "two");
    assert_eq!(run(Some("1")).await, "one", "published versions keep their code");
    c.update_function_configuration()
        .function_name("evolving")
        .environment(aws_sdk_lambda::types::Environment::builder().variables("WHO", "three").build())
        .handler("index.handler")
        .send()
        .await
        .unwrap();
    let zip = testkit::zip::files(&[("index.py", b"import os\ndef handler(e, c):\n    return os.environ['WHO']\n")]);
    c.update_function_code().function_name("evolving").zip_file(Blob::new(zip)).send().await.unwrap();
    assert_eq!(run(None).await, "three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_is_lambdas() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(
        &c,
        "env-dump",
        "import os\ndef handler(event, context):\n    return {'env': dict(os.environ), 'cwd': os.getcwd(), 'uid': os.getuid()}\n",
    )
    .await;
    c.update_function_configuration()
        .function_name("env-dump")
        .environment(aws_sdk_lambda::types::Environment::builder().variables("GREETING", "hi").build())
        .memory_size(256)
        .send()
        .await
        .unwrap();
    let ctx = base64::engine::general_purpose::STANDARD.encode(br#"{"custom": {"k": "v"}}"#);
    let r = c.invoke().function_name("env-dump").client_context(ctx).send().await.unwrap();
    let body = json(r.payload().unwrap());
    let env = body["env"].as_object().unwrap();
    let get = |k: &str| env.get(k).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("{k} missing: {env:?}"));
    assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), "env-dump");
    assert_eq!(get("AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
    assert_eq!(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "256");
    assert_eq!(get("AWS_REGION"), "us-east-1");
    assert_eq!(get("AWS_DEFAULT_REGION"), "us-east-1");
    assert_eq!(get("AWS_EXECUTION_ENV"), "AWS_Lambda_python3.12");
    assert_eq!(get("AWS_LAMBDA_INITIALIZATION_TYPE"), "on-demand");
    assert_eq!(get("AWS_LAMBDA_LOG_GROUP_NAME"), "/aws/lambda/env-dump");
    assert!(get("AWS_LAMBDA_LOG_STREAM_NAME").contains("/[$LATEST]"));
    assert_eq!(get("AWS_LAMBDA_RUNTIME_API"), "127.0.0.1:9001");
    assert_eq!(get("LAMBDA_TASK_ROOT"), "/var/task");
    assert_eq!(get("LAMBDA_RUNTIME_DIR"), "/var/runtime");
    assert_eq!(get("_HANDLER"), "index.handler");
    assert_eq!(get("TZ"), ":UTC");
    assert_eq!(get("GREETING"), "hi");
    assert!(get("AWS_ENDPOINT_URL").starts_with("http://127.0.0.1:"));
    // The environment's own temporary key (acting in the function's account), as on Lambda.
    let key = get("AWS_ACCESS_KEY_ID");
    assert!(key.starts_with("VSIA") && key.len() == 20, "{key}");
    assert_eq!(get("AWS_SECRET_ACCESS_KEY").len(), 40);
    assert_eq!(get("AWS_SESSION_TOKEN").len(), 128);
    assert_eq!(body["cwd"], "/var/task");
    assert_eq!(body["uid"], 993);
    assert!(!env.contains_key("HOME") || env["HOME"] != "/root", "nothing leaks from the server's environment");
    assert!(!env.contains_key("CARGO_TARGET_DIR") && !env.contains_key("RUST_BACKTRACE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_reach_versa_from_inside() {
    let server = TestServer::start().await;
    let c = server.lambda();
    // A function that calls the Lambda API of the Versa it runs on, through AWS_ENDPOINT_URL.
    create_py(
        &c,
        "caller",
        "import os, urllib.request, json\ndef handler(event, context):\n    url = os.environ['AWS_ENDPOINT_URL'] + '/2015-03-31/functions/caller/configuration'\n    with urllib.request.urlopen(url) as r:\n        return json.loads(r.read())['FunctionName']\n",
    )
    .await;
    let r = c.invoke().function_name("caller").send().await.unwrap();
    assert_eq!(r.function_error(), None, "{}", String::from_utf8_lossy(r.payload().unwrap().as_ref()));
    assert_eq!(json(r.payload().unwrap()), serde_json::json!("caller"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_lambda_runtime_rust_function_runs_unchanged() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let binary = std::fs::read(testkit::built_binary("fixture-rust-echo")).unwrap();
    let zip = testkit::zip::build(&[Entry::File { name: "bootstrap", data: &binary, mode: 0o755 }]);
    c.create_function()
        .function_name("rust-echo")
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("bootstrap")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .unwrap();
    c.publish_version().function_name("rust-echo").send().await.unwrap();
    c.create_alias().function_name("rust-echo").name("prod").function_version("1").send().await.unwrap();
    let r = c
        .invoke()
        .function_name("rust-echo")
        .qualifier("prod")
        .payload(Blob::new(br#"{"x": 1}"#.to_vec()))
        .send()
        .await
        .unwrap();
    use aws_sdk_lambda::operation::RequestId;
    let body = json(r.payload().unwrap());
    assert_eq!(body["echo"], serde_json::json!({"x": 1}));
    assert_eq!(body["invoked_arn"], format!("{}:prod", arn("rust-echo")));
    assert_eq!(body["version"], "1");
    assert_eq!(body["request_id"], r.request_id().unwrap(), "the runtime's request id is the invoke's");
    let deadline = body["deadline"].as_u64().unwrap() as i64;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!(deadline > now && deadline <= now + 3_000, "deadline {deadline} is within the 3 s timeout of {now}");
    let r =
        c.invoke().function_name("rust-echo").payload(Blob::new(br#"{"fail": true}"#.to_vec())).send().await.unwrap();
    assert_eq!(r.function_error(), Some("Unhandled"));
    assert_eq!(json(r.payload().unwrap())["errorMessage"], "asked to fail");
}
