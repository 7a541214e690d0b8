//! Cold starts: what the fast paths must keep — the Python runtime client's behaviour with its
//! lean imports, fresh state per version, and pre-started shells that carry nothing from one
//! function to the next.

use aws_sdk_lambda::types::LogType;
use base64::Engine;
use testkit::TestServer;

use crate::invoke::create_py;

fn json(p: &aws_sdk_lambda::primitives::Blob) -> serde_json::Value {
    serde_json::from_slice(p.as_ref()).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(p.as_ref())))
}

const PY_STATE: &str = r#"
import os, sys
COUNT = 0
# What the runtime client had imported before the function's module ran.
EARLY = sorted(m for m in ("logging", "http.client", "email", "ssl", "traceback") if m in sys.modules)

def handler(event, context):
    global COUNT
    COUNT += 1
    if event.get("bad"):
        return {1, 2}
    import logging
    logging.getLogger().warning("count %d", COUNT)
    logging.getLogger().info("below the level")
    client = sys.modules["versa_runtime"]
    cached = os.path.exists(client.__cached__) and client.__spec__.loader.path == "/var/runtime/versa_runtime.py"
    return {"count": COUNT, "event": event, "early": EARLY, "request_id": context.aws_request_id, "cached": cached}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_logs_encodes_and_gives_each_version_fresh_module_state() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "state", PY_STATE).await;
    c.publish_version().function_name("state").send().await.unwrap();

    let event = serde_json::json!({
        "text": "héllo \u{2028} \"quoted\" \\ ☃", "n": 12345678901234567890u64, "f": 1.5e-7, "neg": -3,
        "nested": {"list": [1, 2.5, null, true, false, "x"], "empty": {}}, "unicode_key_é": []
    });
    let invoke = |payload: serde_json::Value| {
        c.invoke()
            .function_name("state")
            .qualifier("1")
            .log_type(LogType::Tail)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
            .send()
    };
    let first = invoke(event.clone()).await.unwrap();
    assert_eq!(first.function_error(), None, "{:?}", first.payload());
    let body = json(first.payload().unwrap());
    assert_eq!(body["count"], 1);
    assert_eq!(body["event"], event, "the event round-trips through the client's JSON codec");
    assert_eq!(body["early"], serde_json::json!([]), "the runtime client imports none of these before the function");

    let second = invoke(event.clone()).await.unwrap();
    let body = json(second.payload().unwrap());
    assert_eq!(body["count"], 2, "a warm environment keeps its module state");
    let tail = String::from_utf8(
        base64::engine::general_purpose::STANDARD.decode(second.log_result().expect("tail")).unwrap(),
    )
    .unwrap();
    let request_id = body["request_id"].as_str().unwrap();
    let line = tail.lines().find(|l| l.starts_with("[WARNING]\t")).unwrap_or_else(|| panic!("no warning: {tail}"));
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields.len(), 4, "{line:?}");
    assert!(fields[1].ends_with('Z') && fields[1].len() == 24, "an ISO timestamp in UTC: {line:?}");
    assert_eq!(fields[2], request_id, "{line:?}");
    assert_eq!(fields[3], "count 2", "{line:?}");
    assert!(!tail.contains("below the level"), "the root logger is at WARNING: {tail}");

    let bad = invoke(serde_json::json!({"bad": true})).await.unwrap();
    assert_eq!(bad.function_error(), Some("Unhandled"));
    let body = json(bad.payload().unwrap());
    assert_eq!(body["errorType"], "Runtime.MarshalError", "{body}");
    assert!(body["errorMessage"].as_str().unwrap().contains("Object of type set is not JSON serializable"), "{body}");

    // A new version is a new environment: its module starts from scratch.
    c.update_function_configuration().function_name("state").description("v2").send().await.unwrap();
    let v2 = c.publish_version().function_name("state").send().await.unwrap();
    let r = c
        .invoke()
        .function_name("state")
        .qualifier(v2.version().unwrap())
        .payload(aws_sdk_lambda::primitives::Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(r.payload().unwrap())["count"], 1);

    // After the first cold start the server has the client compiled to bytecode, which later
    // cold starts load instead of compiling it again.
    let mut cached = false;
    for i in 0..20 {
        c.update_function_configuration().function_name("state").description(format!("v{i}")).send().await.unwrap();
        let v = c.publish_version().function_name("state").send().await.unwrap();
        let r = c
            .invoke()
            .function_name("state")
            .qualifier(v.version().unwrap())
            .payload(aws_sdk_lambda::primitives::Blob::new("{}"))
            .send()
            .await
            .unwrap();
        if json(r.payload().unwrap())["cached"] == true {
            cached = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(cached, "the client's bytecode is never cached");
    server.stop().await;
}

const PY_LEAK: &str = r#"
import os, socket
def handler(event, context):
    if event.get("write"):
        open("/tmp/left-behind", "w").write(os.environ.get("SECRET", ""))
    return {
        "tmp": sorted(os.listdir("/tmp")),
        "task": sorted(os.listdir("/var/task")),
        "secret": os.environ.get("SECRET"),
        "host": socket.gethostname(),
        "name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
    }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prestarted_shell_carries_nothing_from_one_function_to_the_next() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "first", PY_LEAK).await;
    c.update_function_configuration()
        .function_name("first")
        .environment(aws_sdk_lambda::types::Environment::builder().variables("SECRET", "alpha").build())
        .send()
        .await
        .unwrap();
    let code = PY_LEAK.replace("def handler", "OTHER = 1\ndef handler");
    let zip = testkit::zip::files(&[("index.py", code.as_bytes()), ("second.txt", b"2")]);
    crate::support::create(&c, "second", zip).await;

    let call = |name: &'static str, payload: &'static str| {
        let c = c.clone();
        async move {
            let r = c
                .invoke()
                .function_name(name)
                .payload(aws_sdk_lambda::primitives::Blob::new(payload))
                .send()
                .await
                .unwrap();
            assert_eq!(r.function_error(), None, "{:?}", r.payload());
            json(r.payload().unwrap())
        }
    };
    let a = call("first", r#"{"write": true}"#).await;
    assert_eq!(a["secret"], "alpha");
    assert_eq!(a["tmp"], serde_json::json!(["left-behind"]));
    // Several cold starts of the other function, each in a shell started after, or alongside,
    // the first's.
    for _ in 0..3 {
        let b = call("second", "{}").await;
        assert_eq!(b["name"], "second");
        assert_eq!(b["secret"], serde_json::Value::Null, "{b}");
        assert_eq!(b["tmp"], serde_json::json!([]), "{b}");
        assert_eq!(b["task"], serde_json::json!(["index.py", "second.txt"]), "{b}");
        assert_ne!(b["host"], a["host"], "each environment has its own hostname");
        c.update_function_configuration()
            .function_name("second")
            .description(format!("{}", rand_suffix()))
            .send()
            .await
            .unwrap();
        // The update retires the warm environment: the next call is a cold start.
    }
    server.stop().await;
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}
