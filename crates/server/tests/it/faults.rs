//! Faults: exceptions, init errors, timeouts, crashes, signals, out of memory, oversized
//! responses and payloads. Each gets AWS's error; the server and other functions keep working.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, LogType, Runtime};
use base64::Engine;
use testkit::TestServer;

use crate::support::*;

async fn create(c: &aws_sdk_lambda::Client, name: &str, code: &str, timeout: i32, memory: i32) {
    c.create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .timeout(timeout)
        .memory_size(memory)
        .code(
            FunctionCode::builder().zip_file(Blob::new(testkit::zip::files(&[("index.py", code.as_bytes())]))).build(),
        )
        .send()
        .await
        .expect("create");
}

struct Invoked {
    status: i32,
    error: Option<String>,
    body: serde_json::Value,
    raw: Vec<u8>,
    tail: String,
    request_id: String,
}

async fn invoke(c: &aws_sdk_lambda::Client, name: &str, payload: &str) -> Invoked {
    use aws_sdk_lambda::operation::RequestId;
    let r = c
        .invoke()
        .function_name(name)
        .payload(Blob::new(payload.as_bytes().to_vec()))
        .log_type(LogType::Tail)
        .send()
        .await
        .expect("invoke");
    let raw = r.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
    Invoked {
        status: r.status_code(),
        error: r.function_error().map(str::to_owned),
        body: serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
        raw,
        tail: String::from_utf8_lossy(
            &base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap_or_default()).unwrap(),
        )
        .into_owned(),
        request_id: r.request_id().unwrap_or_default().to_owned(),
    }
}

const OK: &str = "def handler(event, context):\n    return 'ok'\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_exceptions_are_unhandled_errors_and_the_environment_survives() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(
        &c,
        "raises",
        "calls = 0\ndef handler(event, context):\n    global calls\n    calls += 1\n    if event.get('fail'):\n        raise ValueError('Handler fails')\n    return calls\n",
        3,
        128,
    )
    .await;
    let r = invoke(&c, "raises", r#"{"fail": true}"#).await;
    assert_eq!((r.status, r.error.as_deref()), (200, Some("Unhandled")));
    assert_eq!(r.body["errorMessage"], "Handler fails");
    assert_eq!(r.body["errorType"], "ValueError");
    assert_eq!(r.body["requestId"], r.request_id.as_str());
    let trace = r.body["stackTrace"].as_array().unwrap();
    assert!(trace[0].as_str().unwrap().contains("File \"/var/task/index.py\", line 6, in handler"), "{trace:?}");
    assert!(r.tail.contains("[ERROR] ValueError: Handler fails"), "{}", r.tail);
    // The same environment (module state survives) serves the next call.
    let r = invoke(&c, "raises", "{}").await;
    assert_eq!((r.error, r.body), (None, serde_json::json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_errors_are_reported_on_the_first_invoke() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "import-error", "import does_not_exist\ndef handler(e, c):\n    return 1\n", 3, 128).await;
    let r = invoke(&c, "import-error", "{}").await;
    assert_eq!(r.error.as_deref(), Some("Unhandled"));
    assert_eq!(r.body["errorType"], "Runtime.ImportModuleError");
    assert_eq!(r.body["errorMessage"], "Unable to import module 'index': No module named 'does_not_exist'");
    assert_eq!(r.body["requestId"], "");
    // The tail starts with START and shows the init error inside the invocation, as Lambda's
    // retried init prints it there again.
    let lines: Vec<&str> = r.tail.lines().collect();
    assert_eq!(lines[0], format!("START RequestId: {} Version: $LATEST", r.request_id), "{}", r.tail);
    assert_eq!(
        lines[1],
        "[ERROR] Runtime.ImportModuleError: Unable to import module 'index': No module named 'does_not_exist'",
        "{}",
        r.tail
    );
    assert_eq!(lines[lines.len() - 2], format!("END RequestId: {}", r.request_id), "{}", r.tail);
    assert!(lines[lines.len() - 1].starts_with(&format!("REPORT RequestId: {}\t", r.request_id)), "{}", r.tail);
    assert!(!r.tail.contains("INIT_"), "{}", r.tail);
    // The stream: the init phase with its error and INIT_REPORT, then the invocation.
    let messages = crate::logs::stream_messages(&server.logs(), "/aws/lambda/import-error", "REPORT ").await;
    let messages: Vec<&str> = messages.iter().map(|m| m.as_str()).filter(|m| !m.starts_with("INIT_NOTICE ")).collect();
    assert!(messages[0].starts_with("INIT_START Runtime Version: python:3.12.v"), "{messages:?}");
    assert!(
        messages[1].starts_with("[ERROR] Runtime.ImportModuleError: Unable to import module 'index'"),
        "{messages:?}"
    );
    let init_report = messages.iter().position(|m| m.starts_with("INIT_REPORT ")).expect("an INIT_REPORT line");
    let start = messages.iter().position(|m| m.starts_with("START ")).unwrap();
    assert!(init_report < start, "{messages:?}");
    let report = messages[init_report];
    assert!(
        report.starts_with("INIT_REPORT Init Duration: ") && report.contains(" ms\tPhase: init\tStatus: error"),
        "{report}"
    );
    assert!(report.ends_with("\tError Type: Runtime.ImportModuleError"), "{report}");

    c.create_function()
        .function_name("no-handler")
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.missing")
        .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::files(&[("index.py", OK.as_bytes())]))).build())
        .send()
        .await
        .unwrap();
    let r = invoke(&c, "no-handler", "{}").await;
    assert_eq!(r.body["errorType"], "Runtime.HandlerNotFound");
    assert_eq!(r.body["errorMessage"], "Handler 'missing' missing on module 'index'");

    create(&c, "syntax", "def handler(e, c)\n    return 1\n", 3, 128).await;
    let r = invoke(&c, "syntax", "{}").await;
    assert_eq!(r.body["errorType"], "Runtime.UserCodeSyntaxError");

    // A provided function without a bootstrap.
    c.create_function()
        .function_name("no-bootstrap")
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("x")
        .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::hello())).build())
        .send()
        .await
        .unwrap();
    let r = invoke(&c, "no-bootstrap", "{}").await;
    assert_eq!(r.error.as_deref(), Some("Unhandled"));
    assert_eq!(r.body["errorType"], "Runtime.InvalidEntrypoint");
    assert!(r.tail.starts_with(&format!("START RequestId: {} Version: $LATEST\n", r.request_id)), "{}", r.tail);
    let messages = crate::logs::stream_messages(&server.logs(), "/aws/lambda/no-bootstrap", "REPORT ").await;
    assert!(messages[0].starts_with("INIT_START Runtime Version: provided:al2023.v"), "{messages:?}");
    assert!(messages[1].ends_with("\tError Type: Runtime.InvalidEntrypoint"), "{messages:?}");
    assert!(messages[2].starts_with("START RequestId: "), "{messages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_crashes_signals_and_oom() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "healthy", OK, 3, 128).await;
    create(&c, "sleepy", "import time\ndef handler(e, c):\n    print('going to sleep')\n    time.sleep(30)\n", 1, 128)
        .await;
    let began = std::time::Instant::now();
    let r = invoke(&c, "sleepy", "{}").await;
    assert!(began.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(r.error.as_deref(), Some("Unhandled"));
    assert_eq!(r.body["errorType"], "Sandbox.Timedout");
    assert_eq!(r.body["errorMessage"], format!("RequestId: {} Error: Task timed out after 1.00 seconds", r.request_id));
    assert!(r.tail.contains("going to sleep"), "{}", r.tail);
    assert!(r.tail.contains(&format!("{} Task timed out after 1.00 seconds", r.request_id)), "{}", r.tail);

    create(&c, "exits", "import os\ndef handler(e, c):\n    os._exit(3)\n", 3, 128).await;
    let r = invoke(&c, "exits", "{}").await;
    assert_eq!(r.body["errorType"], "Runtime.ExitError");
    assert_eq!(
        r.body["errorMessage"],
        format!("RequestId: {} Error: Runtime exited with error: exit status 3", r.request_id)
    );

    create(&c, "quits", "import os\ndef handler(e, c):\n    os._exit(0)\n", 3, 128).await;
    let r = invoke(&c, "quits", "{}").await;
    assert_eq!(r.body["errorType"], "Runtime.ExitError");
    assert_eq!(
        r.body["errorMessage"],
        format!("RequestId: {} Error: Runtime exited without providing a reason", r.request_id)
    );

    create(&c, "segfault", "import os, signal\ndef handler(e, c):\n    os.kill(os.getpid(), signal.SIGSEGV)\n", 3, 128)
        .await;
    let r = invoke(&c, "segfault", "{}").await;
    assert_eq!(r.body["errorType"], "Runtime.ExitError");
    assert_eq!(
        r.body["errorMessage"],
        format!("RequestId: {} Error: Runtime exited with error: signal: segmentation fault", r.request_id)
    );

    create(
        &c,
        "hungry",
        "def handler(e, c):\n    blocks = [bytearray(16 << 20) for _ in range(64)]\n    return len(blocks)\n",
        // Touching 1 GiB takes seconds on a loaded machine: time is not what this tests.
        30,
        128,
    )
    .await;
    let r = invoke(&c, "hungry", "{}").await;
    assert_eq!(r.error.as_deref(), Some("Unhandled"));
    assert_eq!(r.body["errorType"], "Runtime.OutOfMemory", "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(
        r.body["errorMessage"],
        format!("RequestId: {} Error: Runtime exited with error: signal: killed", r.request_id)
    );
    // With more memory the same code runs.
    c.update_function_configuration().function_name("hungry").memory_size(2048).send().await.unwrap();
    let r = invoke(&c, "hungry", "{}").await;
    assert_eq!((r.error, r.body), (None, serde_json::json!(64)));

    // Every fault was contained.
    let r = invoke(&c, "healthy", "{}").await;
    assert_eq!((r.error, r.body), (None, serde_json::json!("ok")));
    // A timed-out or crashed function starts afresh on its next invoke.
    let r = invoke(&c, "exits", "{}").await;
    assert_eq!(r.body["errorType"], "Runtime.ExitError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_limits() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "big-answer", "def handler(e, c):\n    return 'x' * (e['n'])\n", 10, 512).await;
    let r = invoke(&c, "big-answer", r#"{"n": 7000000}"#).await;
    assert_eq!(r.error.as_deref(), Some("Unhandled"));
    assert_eq!(
        r.body,
        serde_json::json!({
            "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
            "errorType": "Function.ResponseSizeTooLarge"
        })
    );
    // Exactly at the limit is fine: a JSON string of 6291554 characters plus its quotes.
    let r = invoke(&c, "big-answer", r#"{"n": 6291554}"#).await;
    assert_eq!(r.error, None);
    assert_eq!(r.raw.len(), 6_291_556);

    let mut http = testkit::http::Client::new(server.addr);
    let path = "/2015-03-31/functions/big-answer/invocations";
    let big = format!("\"{}\"", "y".repeat(6_291_456));
    let r = http.send("POST", path, &[], big.as_bytes()).await.unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("RequestEntityTooLargeException"));
    assert_eq!(r.json()["message"], "Request must be smaller than 6291456 bytes for the InvokeFunction operation");
    let mut http = testkit::http::Client::new(server.addr);
    let r = http.send("POST", path, &[], b"not json").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("InvalidRequestContentException"));
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Could not parse request body into json: Could not parse payload into json:")
    );
    let r = http.send("POST", path, &[("x-amz-invocation-type", "Sometimes")], b"{}").await.unwrap();
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (400, Some("ValidationException")));
}
