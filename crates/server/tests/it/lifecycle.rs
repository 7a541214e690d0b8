//! Environment lifecycle: warm reuse, more environments for concurrent calls, the global
//! bound, retirement on update, idle reaping, substituted interpreter versions.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, LogType, Runtime};
use base64::Engine;
use testkit::TestServer;

use crate::invoke::create_py;
use crate::support::*;

async fn environments(server: &TestServer) -> u64 {
    let mut http = testkit::http::Client::new(server.addr);
    http.send("GET", "/_versa/health", &[], b"").await.unwrap().json()["environments"].as_u64().unwrap()
}

const SLOW: &str = "import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return 'done'\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_are_reused_scaled_bounded_and_retired() {
    let server = TestServer::start_with(|c| c.max_environments = 3).await;
    let c = server.lambda();
    create_py(&c, "scaled", SLOW).await;
    for _ in 0..5 {
        c.invoke().function_name("scaled").send().await.unwrap();
    }
    assert_eq!(environments(&server).await, 1, "sequential calls reuse one warm environment");

    // Three at once need three environments; a fourth is refused while they run.
    let mut calls = Vec::new();
    for _ in 0..3 {
        let c = c.clone();
        calls.push(tokio::spawn(async move {
            c.invoke().function_name("scaled").payload(Blob::new(br#"{"sleep": 1.5}"#.to_vec())).send().await.unwrap()
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(environments(&server).await, 3);
    let e = err(c.invoke().function_name("scaled").send().await);
    assert_err(e, 429, "TooManyRequestsException", "Rate Exceeded.");
    for call in calls {
        assert_eq!(call.await.unwrap().function_error(), None);
    }
    assert_eq!(environments(&server).await, 3, "finished environments stay warm");

    // Changing $LATEST retires its environments.
    c.update_function_configuration().function_name("scaled").description("changed").send().await.unwrap();
    assert_eq!(environments(&server).await, 0);
    c.invoke().function_name("scaled").send().await.unwrap();
    assert_eq!(environments(&server).await, 1);
    c.delete_function().function_name("scaled").send().await.unwrap();
    assert_eq!(environments(&server).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_environments_are_reaped() {
    let server = TestServer::start_with(|c| c.environment_idle_timeout = std::time::Duration::from_millis(600)).await;
    let c = server.lambda();
    create_py(&c, "reaped", SLOW).await;
    c.invoke().function_name("reaped").send().await.unwrap();
    assert_eq!(environments(&server).await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(environments(&server).await, 0);
    // And the next call is a cold start again.
    let r = c.invoke().function_name("reaped").log_type(LogType::Tail).send().await.unwrap();
    let tail = base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap()).unwrap();
    assert!(String::from_utf8_lossy(&tail).contains("Init Duration"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_interpreter_version_is_substituted_with_a_warning() {
    let server = TestServer::start().await;
    let c = server.lambda();
    // No machine here has Python 3.9 installed system-wide, so the nearest version runs.
    c.create_function()
        .function_name("old-python")
        .runtime(Runtime::Python39)
        .role(ROLE)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(testkit::zip::files(&[(
                    "index.py",
                    b"import sys\ndef handler(e, c):\n    return '%d.%d' % sys.version_info[:2]\n",
                )])))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = c.invoke().function_name("old-python").log_type(LogType::Tail).send().await.unwrap();
    let ran: String = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    let tail =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap()).unwrap()).unwrap();
    if ran != "3.9" {
        assert!(
            tail.contains(&format!("Versa: python3.9 is not installed on this host; running python{ran} instead")),
            "{tail}"
        );
    }
    // A language with no interpreter at all is refused at create.
    let e = err(c
        .create_function()
        .function_name("java")
        .runtime(Runtime::Java21)
        .role(ROLE)
        .handler("x::y")
        .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::hello())).build())
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "java21 cannot run: Versa has no java runtime. It runs provided.al2023, provided.al2, python3.x and nodejs*.x functions",
    );
}
