//! Asynchronous invocation: the durable queue, retries, destinations, event invoke configs,
//! reserved concurrency.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{DestinationConfig, FunctionCode, InvocationType, OnFailure, OnSuccess, Runtime};
use testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// A tiny HTTP server the test functions report to (functions here use the host's network).
#[derive(Clone)]
pub struct Collector {
    pub url: String,
    seen: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Collector {
    pub async fn start() -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let sink = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else { break };
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let body = &buf[end + 4..end + 4 + len];
                            if let Ok(v) = serde_json::from_slice(body) {
                                sink.lock().unwrap().push(v);
                            }
                            let _ =
                                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                            return;
                        }
                    }
                });
            }
        });
        Collector { url, seen }
    }

    pub fn seen(&self) -> Vec<serde_json::Value> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for what was seen, or panics after `limit`.
    pub async fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let start = std::time::Instant::now();
        loop {
            let seen = self.seen();
            if pred(&seen) {
                return seen;
            }
            assert!(start.elapsed() < limit, "timed out waiting for {what}; seen: {seen:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Reports each event (and its context) to the collector, then fails if asked to, and
/// sleeps if asked to.
pub const REPORTER: &str = r#"
import json, os, time, urllib.request
def handler(event, context):
    report = {"event": event, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
              "request_id": context.aws_request_id, "function": context.function_name,
              "arn": context.invoked_function_arn}
    req = urllib.request.Request(os.environ["COLLECTOR"], data=json.dumps(report).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()
    time.sleep(event.get("sleep", 0) if isinstance(event, dict) else 0)
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"ok": True, "echo": event}
"#;

pub async fn create_reporter(c: &aws_sdk_lambda::Client, name: &str, collector: &Collector) {
    c.create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .timeout(10)
        .environment(aws_sdk_lambda::types::Environment::builder().variables("COLLECTOR", &collector.url).build())
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(testkit::zip::files(&[("index.py", REPORTER.as_bytes())])))
                .build(),
        )
        .send()
        .await
        .expect("create reporter");
}

pub async fn async_server() -> TestServer {
    TestServer::start_with(|c| {
        c.function_network = sandbox::Network::Host;
        c.events.retry_delay = Duration::from_millis(200);
        c.events.throttle_delay = Duration::from_millis(100);
    })
    .await
}

async fn event(c: &aws_sdk_lambda::Client, name: &str, payload: &str) -> String {
    use aws_sdk_lambda::operation::RequestId;
    let r = c
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status_code(), 202);
    assert!(r.payload().is_none_or(|p| p.as_ref().is_empty()));
    assert!(r.executed_version().is_none());
    r.request_id().unwrap().to_owned()
}

fn dest(on_success: Option<String>, on_failure: Option<String>) -> DestinationConfig {
    let mut d = DestinationConfig::builder();
    if let Some(s) = on_success {
        d = d.on_success(OnSuccess::builder().destination(s).build());
    }
    if let Some(f) = on_failure {
        d = d.on_failure(OnFailure::builder().destination(f).build());
    }
    d.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_run_with_retries_and_reach_their_destinations() {
    let server = async_server().await;
    let c = server.lambda();
    let collector = Collector::start().await;
    create_reporter(&c, "worker", &collector).await;
    create_reporter(&c, "on-success", &collector).await;
    create_reporter(&c, "on-failure", &collector).await;
    c.publish_version().function_name("worker").send().await.unwrap();
    c.create_alias().function_name("worker").name("prod").function_version("1").send().await.unwrap();
    c.put_function_event_invoke_config()
        .function_name("worker")
        .qualifier("prod")
        .maximum_retry_attempts(1)
        .destination_config(dest(Some(arn("on-success")), Some(format!("{}:$LATEST", arn("on-failure")))))
        .send()
        .await
        .unwrap();

    // A success: runs once through the alias, and the success record reaches its destination.
    use aws_sdk_lambda::operation::RequestId;
    let r = c
        .invoke()
        .function_name("worker")
        .qualifier("prod")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(br#"{"n": 1}"#.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status_code(), 202);
    let ok_id = r.request_id().unwrap().to_owned();
    let seen = collector
        .wait_for(Duration::from_secs(20), "the success record", |s| s.iter().any(|v| v["function"] == "on-success"))
        .await;
    let run: Vec<_> = seen.iter().filter(|v| v["function"] == "worker").collect();
    assert_eq!(run.len(), 1);
    assert_eq!(run[0]["request_id"], ok_id.as_str(), "the event runs under the invoke's request id");
    assert_eq!(run[0]["version"], "1");
    assert_eq!(run[0]["arn"], format!("{}:prod", arn("worker")));
    let record = &seen.iter().find(|v| v["function"] == "on-success").unwrap()["event"];
    assert_eq!(record["version"], "1.0");
    assert_eq!(record["requestContext"]["requestId"], ok_id.as_str());
    assert_eq!(record["requestContext"]["functionArn"], format!("{}:prod", arn("worker")));
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(record["requestPayload"], serde_json::json!({"n": 1}));
    assert_eq!(record["responseContext"], serde_json::json!({"statusCode": 200, "executedVersion": "1"}));
    assert_eq!(record["responsePayload"], serde_json::json!({"ok": true, "echo": {"n": 1}}));

    // A failure: tried 1 + 1 times, then the failure record.
    let r = c
        .invoke()
        .function_name(format!("{}:prod", arn("worker")))
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(br#"{"fail": true}"#.to_vec()))
        .send()
        .await
        .unwrap();
    let fail_id = r.request_id().unwrap().to_owned();
    let seen = collector
        .wait_for(Duration::from_secs(20), "the failure record", |s| s.iter().any(|v| v["function"] == "on-failure"))
        .await;
    let attempts = seen.iter().filter(|v| v["function"] == "worker" && v["request_id"] == fail_id.as_str()).count();
    assert_eq!(attempts, 2, "MaximumRetryAttempts 1 means two attempts");
    let record = &seen.iter().find(|v| v["function"] == "on-failure").unwrap()["event"];
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(record["requestPayload"], serde_json::json!({"fail": true}));
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorMessage"], "asked to fail");
    assert_eq!(record["responsePayload"]["errorType"], "RuntimeError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_retries_and_zero_reserved_concurrency() {
    let server = async_server().await;
    let c = server.lambda();
    let collector = Collector::start().await;
    create_reporter(&c, "flaky", &collector).await;
    create_reporter(&c, "dlq-fn", &collector).await;
    let id = event(&c, "flaky", r#"{"fail": true}"#).await;
    collector
        .wait_for(Duration::from_secs(20), "three attempts", |s| {
            s.iter().filter(|v| v["request_id"] == id.as_str()).count() == 3
        })
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        collector.seen().iter().filter(|v| v["request_id"] == id.as_str()).count(),
        3,
        "2 retries by default, no more"
    );

    // Reserved concurrency 0: the event goes straight to the failure destination.
    c.put_function_concurrency().function_name("flaky").reserved_concurrent_executions(0).send().await.unwrap();
    c.put_function_event_invoke_config()
        .function_name("flaky")
        .destination_config(dest(None, Some(arn("dlq-fn"))))
        .send()
        .await
        .unwrap();
    let id = event(&c, "flaky", r#"{"x": 1}"#).await;
    let seen = collector
        .wait_for(Duration::from_secs(20), "the zero-concurrency record", |s| {
            s.iter().any(|v| v["function"] == "dlq-fn")
        })
        .await;
    assert!(!seen.iter().any(|v| v["function"] == "flaky" && v["request_id"] == id.as_str()), "it never ran");
    let record = &seen.iter().find(|v| v["function"] == "dlq-fn").unwrap()["event"];
    assert_eq!(record["requestContext"]["condition"], "ZeroReservedConcurrency");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 0);
    assert_eq!(record["requestContext"]["functionArn"], format!("{}:$LATEST", arn("flaky")));
    assert!(record.get("responseContext").is_none() && record.get("responsePayload").is_none(), "{record}");
    // Synchronous invokes are throttled too.
    let e = err(c.invoke().function_name("flaky").send().await);
    assert_err(e, 429, "TooManyRequestsException", "Rate Exceeded.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_events_wait_instead_of_being_lost() {
    let server = async_server().await;
    let c = server.lambda();
    let collector = Collector::start().await;
    create_reporter(&c, "narrow", &collector).await;
    c.put_function_concurrency().function_name("narrow").reserved_concurrent_executions(1).send().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(event(&c, "narrow", &format!(r#"{{"sleep": 0.3, "i": {i}}}"#)).await);
    }
    let seen = collector
        .wait_for(Duration::from_secs(30), "every event", |s| {
            ids.iter().all(|id| s.iter().any(|v| v["request_id"] == id.as_str()))
        })
        .await;
    assert_eq!(seen.len(), 4, "each ran exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_event_queue_refuses_with_429_and_accepts_again_once_drained() {
    let server = TestServer::start_with(|c| {
        c.function_network = sandbox::Network::Host;
        c.queued_events_max = 3;
    })
    .await;
    let c = server.lambda();
    let collector = Collector::start().await;
    create_reporter(&c, "slow", &collector).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(event(&c, "slow", &format!(r#"{{"sleep": 1.0, "i": {i}}}"#)).await);
    }
    // Queued and running events both count until they finish.
    let refused = c
        .invoke()
        .function_name("slow")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"i": 3}"#))
        .send()
        .await;
    let e = refused.unwrap_err();
    let raw = e.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 429);
    let body: serde_json::Value = serde_json::from_slice(raw.body().bytes().unwrap()).unwrap();
    assert_eq!(body["Reason"], "FunctionInvocationRateLimitExceeded");
    assert_eq!(body["message"], "Rate Exceeded.");
    collector
        .wait_for(Duration::from_secs(30), "the accepted events", |s| {
            ids.iter().all(|id| s.iter().any(|v| v["request_id"] == id.as_str()))
        })
        .await;
    // Once they have finished (and the totals are recounted), events are accepted again.
    let start = std::time::Instant::now();
    loop {
        let r = c
            .invoke()
            .function_name("slow")
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(r#"{"i": 4}"#))
            .send()
            .await;
        match r {
            Ok(r) => {
                assert_eq!(r.status_code(), 202);
                break;
            }
            Err(e) => {
                assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(429));
                assert!(start.elapsed() < Duration::from_secs(10), "the queue never drained");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_concurrency_throttles_at_exactly_the_limit() {
    let server = TestServer::start().await;
    let c = server.lambda();
    crate::invoke::create_py(
        &c,
        "capped",
        "import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return 'ok'\n",
    )
    .await;
    let put =
        c.put_function_concurrency().function_name("capped").reserved_concurrent_executions(2).send().await.unwrap();
    assert_eq!(put.reserved_concurrent_executions(), Some(2));
    let got = c.get_function_concurrency().function_name("capped").send().await.unwrap();
    assert_eq!(got.reserved_concurrent_executions(), Some(2));
    let f = c.get_function().function_name("capped").send().await.unwrap();
    assert_eq!(f.concurrency().unwrap().reserved_concurrent_executions(), Some(2));
    let s = c.get_account_settings().send().await.unwrap();
    assert_eq!(s.account_limit().unwrap().unreserved_concurrent_executions(), Some(998));

    let mut running = Vec::new();
    for _ in 0..2 {
        let c = c.clone();
        running.push(tokio::spawn(async move {
            c.invoke().function_name("capped").payload(Blob::new(br#"{"sleep": 1.5}"#.to_vec())).send().await.unwrap()
        }));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = c.invoke().function_name("capped").send().await;
    let e = err(r);
    assert_err(e, 429, "TooManyRequestsException", "Rate Exceeded.");
    // The Reason member, as the raw body shows it.
    let mut http = testkit::http::Client::new(server.addr);
    let raw = http.send("POST", "/2015-03-31/functions/capped/invocations", &[], b"{}").await.unwrap();
    assert_eq!(raw.status, 429);
    assert_eq!(raw.json()["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
    for r in running {
        assert_eq!(r.await.unwrap().function_error(), None);
    }
    c.invoke().function_name("capped").send().await.unwrap();

    c.delete_function_concurrency().function_name("capped").send().await.unwrap();
    let got = c.get_function_concurrency().function_name("capped").send().await.unwrap();
    assert_eq!(got.reserved_concurrent_executions(), None);
    assert!(c.get_function().function_name("capped").send().await.unwrap().concurrency().is_none());

    // Errors.
    let e = err(c.put_function_concurrency().function_name("capped:1").reserved_concurrent_executions(1).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.",
    );
    let e = err(c.put_function_concurrency().function_name("capped").reserved_concurrent_executions(901).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].",
    );
    let e = err(c.put_function_concurrency().function_name("nope").reserved_concurrent_executions(1).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:$LATEST", arn("nope")));
    let e = err(c.get_function_concurrency().function_name("nope").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("nope")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_invoke_config_operations() {
    let server = TestServer::start().await;
    let c = server.lambda();
    crate::invoke::create_py(&c, "cfg", "def handler(e, c):\n    return 1\n").await;
    crate::invoke::create_py(&c, "target", "def handler(e, c):\n    return 1\n").await;
    c.publish_version().function_name("cfg").send().await.unwrap();

    let put = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .maximum_retry_attempts(0)
        .maximum_event_age_in_seconds(3600)
        .send()
        .await
        .unwrap();
    assert_eq!(put.function_arn(), Some(format!("{}:$LATEST", arn("cfg")).as_str()));
    assert_eq!(put.maximum_retry_attempts(), Some(0));
    assert_eq!(put.maximum_event_age_in_seconds(), Some(3600));
    assert!(put.last_modified().is_some());
    // Update merges; put replaces.
    let up = c
        .update_function_event_invoke_config()
        .function_name("cfg")
        .destination_config(dest(Some(arn("target")), None))
        .send()
        .await
        .unwrap();
    assert_eq!(up.maximum_retry_attempts(), Some(0));
    assert_eq!(up.destination_config().unwrap().on_success().unwrap().destination(), Some(arn("target").as_str()));
    let put = c.put_function_event_invoke_config().function_name("cfg").maximum_retry_attempts(1).send().await.unwrap();
    assert_eq!(put.maximum_event_age_in_seconds(), None, "put replaces the whole config");
    assert!(put.destination_config().unwrap().on_success().unwrap().destination().is_none());
    c.put_function_event_invoke_config()
        .function_name("cfg")
        .qualifier("1")
        .maximum_retry_attempts(2)
        .send()
        .await
        .unwrap();
    let got = c.get_function_event_invoke_config().function_name("cfg").qualifier("1").send().await.unwrap();
    assert_eq!(got.function_arn(), Some(format!("{}:1", arn("cfg")).as_str()));
    let list = c.list_function_event_invoke_configs().function_name("cfg").send().await.unwrap();
    let arns: Vec<&str> = list.function_event_invoke_configs().iter().map(|c| c.function_arn().unwrap()).collect();
    assert_eq!(arns.len(), 2);

    // The raw answer always has both destination members.
    let mut http = testkit::http::Client::new(server.addr);
    let raw = http.send("GET", "/2019-09-25/functions/cfg/event-invoke-config", &[], b"").await.unwrap();
    assert_eq!(raw.json()["DestinationConfig"], serde_json::json!({"OnSuccess": {}, "OnFailure": {}}));
    assert!(raw.json()["LastModified"].is_number(), "LastModified is an epoch number");

    c.delete_function_event_invoke_config().function_name("cfg").send().await.unwrap();
    let e = err(c.get_function_event_invoke_config().function_name("cfg").send().await);
    assert_err(
        e,
        404,
        "ResourceNotFoundException",
        &format!("The function {}:$LATEST doesn't have an EventInvokeConfig", arn("cfg")),
    );
    let e = err(c.update_function_event_invoke_config().function_name("cfg").maximum_retry_attempts(1).send().await);
    assert_eq!(e.status, 404);
    let e = err(c.put_function_event_invoke_config().function_name("missing").maximum_retry_attempts(1).send().await);
    assert_err(e, 404, "ResourceNotFoundException", "The function doesn't exist.");
    let e = err(c.list_function_event_invoke_configs().function_name("missing").send().await);
    assert_err(e, 404, "ResourceNotFoundException", "The function doesn't exist.");
    let e = err(c.put_function_event_invoke_config().function_name("cfg").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting.",
    );
    let e = err(c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .destination_config(dest(None, Some(arn("cfg"))))
        .send()
        .await);
    assert_err(e, 400, "InvalidParameterValueException", "You can't specify the function as a destination for itself.");
    let e = err(c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .destination_config(dest(None, Some(arn("nobody"))))
        .send()
        .await);
    assert_err(e, 400, "InvalidParameterValueException", &format!("The destination ARN {} is invalid.", arn("nobody")));
    let e = err(c.put_function_event_invoke_config().function_name("cfg").maximum_retry_attempts(3).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2",
    );
}

/// What each event-invoke-config operation answers when the function, version, alias or config
/// is missing, as recorded on AWS (reference §1.5).
#[tokio::test]
async fn event_invoke_config_missing_targets_answer_as_recorded() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "eic", testkit::zip::hello()).await;
    create(&c, "eic-target", testkit::zip::hello()).await;
    c.publish_version().function_name("eic").send().await.unwrap();
    c.create_alias().function_name("eic").name("live").function_version("1").send().await.unwrap();
    let no_config = |q: &str| format!("The function {}:{q} doesn't have an EventInvokeConfig", arn("eic"));
    let not_exist = "The function doesn't exist.";

    // Get and Delete: whatever is missing, the qualified ARN has no config.
    for q in ["7", "gone"] {
        let e = err(c.get_function_event_invoke_config().function_name("eic").qualifier(q).send().await);
        assert_err(e, 404, "ResourceNotFoundException", &no_config(q));
        let e = err(c.delete_function_event_invoke_config().function_name("eic").qualifier(q).send().await);
        assert_err(e, 404, "ResourceNotFoundException", &no_config(q));
    }
    let e = err(c.get_function_event_invoke_config().function_name(format!("{}:gone", arn("eic"))).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &no_config("gone"));
    for q in ["$LATEST", "1", "live"] {
        let e = err(c.get_function_event_invoke_config().function_name("eic").qualifier(q).send().await);
        assert_err(e, 404, "ResourceNotFoundException", &no_config(q));
    }
    let missing = format!("The function {}:$LATEST doesn't have an EventInvokeConfig", arn("doesnotexist"));
    let e = err(c.get_function_event_invoke_config().function_name("doesnotexist").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &missing);
    let e = err(c.delete_function_event_invoke_config().function_name("doesnotexist").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &missing);
    let e = err(c.get_function_event_invoke_config().function_name("doesnotexist").qualifier("live").send().await);
    assert_err(
        e,
        404,
        "ResourceNotFoundException",
        &format!("The function {}:live doesn't have an EventInvokeConfig", arn("doesnotexist")),
    );

    // Update: a missing function does not exist; a missing version or alias has no config.
    let update = |name: &str, q: Option<&str>| {
        c.update_function_event_invoke_config()
            .function_name(name)
            .set_qualifier(q.map(str::to_owned))
            .maximum_retry_attempts(0)
    };
    let e = err(update("doesnotexist", None).send().await);
    assert_err(e, 404, "ResourceNotFoundException", not_exist);
    for q in ["$LATEST", "live", "7", "gone"] {
        let e = err(update("eic", Some(q)).send().await);
        assert_err(e, 404, "ResourceNotFoundException", &no_config(q));
    }

    // Put and List: nothing missing has a config to put; the function does not exist.
    let put = |name: &str, q: Option<&str>| {
        c.put_function_event_invoke_config()
            .function_name(name)
            .set_qualifier(q.map(str::to_owned))
            .maximum_retry_attempts(1)
    };
    for (name, q) in [("doesnotexist", None), ("eic", Some("7")), ("eic", Some("livedoesnotexist"))] {
        let e = err(put(name, q).send().await);
        assert_err(e, 404, "ResourceNotFoundException", not_exist);
    }
    let e = err(put(&format!("{}:livedoesnotexist", arn("eic")), None).send().await);
    assert_err(e, 404, "ResourceNotFoundException", not_exist);
    let e = err(c.list_function_event_invoke_configs().function_name("doesnotexist").send().await);
    assert_err(e, 404, "ResourceNotFoundException", not_exist);
    // A put without settings is refused before the function is looked up.
    let e = err(c.put_function_event_invoke_config().function_name("doesnotexist").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting.",
    );

    // A destination in a service that cannot be one: the whole config is echoed.
    let iam = arn("eic").replace(":lambda:", ":iam:");
    let e = err(c
        .put_function_event_invoke_config()
        .function_name("eic")
        .destination_config(dest(Some(iam.clone()), None))
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        &format!(
            "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={iam}), onFailure=null) is invalid."
        ),
    );
    let e = err(c
        .put_function_event_invoke_config()
        .function_name("eic")
        .destination_config(dest(Some(arn("eic-target")), Some(iam.clone())))
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        &format!(
            "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={}), \
             onFailure=OnFailure(destination={iam})) is invalid.",
            arn("eic-target")
        ),
    );
    // An ARN outside the pattern AWS quotes for destinations.
    let bad = arn("eic").replace(":lambda:", ":_-/!lambda:");
    let e = err(c
        .put_function_event_invoke_config()
        .function_name("eic")
        .destination_config(dest(None, Some(bad.clone())))
        .send()
        .await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            r"1 validation error detected: Value '{bad}' at 'destinationConfig.onFailure.destination' failed to satisfy constraint: Member must satisfy regular expression pattern: ^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{{2}}((-gov)|(-iso(b?)))?-[a-z]+-\d{{1}})?:(\d{{12}})?:(.*)"
        ),
    );
    // Nothing was stored by any of the refused calls.
    let list = c.list_function_event_invoke_configs().function_name("eic").send().await.unwrap();
    assert!(list.function_event_invoke_configs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_payload_limits_and_the_legacy_invoke_async() {
    let server = async_server().await;
    let c = server.lambda();
    let collector = Collector::start().await;
    create_reporter(&c, "legacy", &collector).await;
    let mut http = testkit::http::Client::new(server.addr);
    let big = format!("\"{}\"", "z".repeat(1_048_576));
    let r = http
        .send("POST", "/2015-03-31/functions/legacy/invocations", &[("x-amz-invocation-type", "Event")], big.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json()["message"],
        "1048578 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    );
    let e = err(c.invoke().function_name("nobody").invocation_type(InvocationType::Event).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:$LATEST", arn("nobody")));

    #[allow(deprecated)]
    let r = c
        .invoke_async()
        .function_name("legacy")
        .invoke_args(aws_sdk_lambda::primitives::ByteStream::from_static(br#"{"legacy": true}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    collector
        .wait_for(Duration::from_secs(20), "the legacy event", |s| s.iter().any(|v| v["event"]["legacy"] == true))
        .await;
}

/// A burst of queued events of one function does not cold-start an environment per event: the
/// worker starts `RAMP_START` of a function's events at once and lets one more run per round of
/// successes, so 48 events of a function that takes 0.2 s run on a handful of environments
/// (one log stream each), where running all at once would start about 48.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_events_ramps_up_instead_of_cold_starting_one_environment_each() {
    const EVENTS: usize = 48;
    let server = async_server().await;
    let c = server.lambda();
    let collector = Collector::start().await;
    create_reporter(&c, "burst", &collector).await;
    let mut ids = Vec::new();
    for i in 0..EVENTS {
        ids.push(event(&c, "burst", &format!(r#"{{"i": {i}, "sleep": 0.2}}"#)).await);
    }
    collector
        .wait_for(Duration::from_secs(60), "every event", |s| {
            ids.iter().all(|id| s.iter().any(|v| v["request_id"] == id.as_str()))
        })
        .await;
    let streams = server
        .logs()
        .describe_log_streams()
        .log_group_name("/aws/lambda/burst")
        .send()
        .await
        .unwrap()
        .log_streams
        .unwrap_or_default();
    // 8 at first, 9 after 8 successes, 10 after 9 more, …: at most 12 by the 48th.
    let most = invoke::events::RAMP_START + 6;
    assert!(
        (1..=most).contains(&streams.len()),
        "{} environments for {EVENTS} events (at most {most} expected)",
        streams.len()
    );
}

/// Destinations on Versa's own SQS queue (OnSuccess) and EventBridge bus (OnFailure), and the
/// dead-letter queue, through boto3 (reference §7.4): the records' shapes, the bus event's
/// source, detail-type and resources, the dead letter's body and attributes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_reach_versas_queues_and_bus_and_failed_events_the_dead_letter_queue() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = boto3_script("destinations_boto3.py", &[&server.endpoint()]).await;
    assert_eq!(out["success_record"]["requestContext"]["condition"], "Success", "{out}");
    assert_eq!(out["bus_event"]["detail"]["requestContext"]["condition"], "RetriesExhausted", "{out}");
    assert_eq!(out["dead_letter"]["Body"], r#"{"fail": true}"#, "{out}");
}
