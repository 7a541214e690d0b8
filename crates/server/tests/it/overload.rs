//! Overload: invocations beyond what the node can run are refused at once with Lambda's 429
//! (`TooManyRequestsException`, its `Reason`, `Retry-After`), never queued without bound or
//! left hanging.

use std::time::{Duration, Instant};

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use testkit::TestServer;

use crate::invoke::create_py;

const SLOW: &str = "import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return 'done'\n";
/// Longer than any refusal may take: a 429 that takes this long is a hang.
const REFUSAL_WITHIN: Duration = Duration::from_secs(2);

/// Checks one raw answer is Lambda's throttle: status, error type header, body, Retry-After.
fn assert_throttle(r: &testkit::http::Response, reason: &str) {
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("x-amzn-ErrorType"), Some("TooManyRequestsException"));
    let retry: u64 = r.header("retry-after").expect("a Retry-After header").parse().expect("whole seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body = r.json();
    assert_eq!(body["Reason"], reason, "{body}");
    assert_eq!(body["message"], "Rate Exceeded.");
    assert_eq!(body["Type"], "User");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_answers_429_with_retry_after_at_once() {
    let server = TestServer::start_with(|c| c.max_environments = 2).await;
    let c = server.lambda();
    create_py(&c, "busy", SLOW).await;

    // Both environments the node may run are busy for a while...
    let mut running = Vec::new();
    for _ in 0..2 {
        let c = c.clone();
        running.push(tokio::spawn(async move {
            c.invoke().function_name("busy").payload(Blob::new(br#"{"sleep": 3}"#.to_vec())).send().await
        }));
    }
    let mut http = testkit::http::Client::new(server.addr);
    let started = Instant::now();
    loop {
        let h = http.send("GET", "/_versa/health", &[], b"").await.unwrap().json();
        if h["environments"].as_u64() == Some(2) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the environments did not start: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // ...so a burst of 32 concurrent invokes is refused, each at once.
    let mut burst = Vec::new();
    for _ in 0..32 {
        let addr = server.addr;
        burst.push(tokio::spawn(async move {
            let mut http = testkit::http::Client::new(addr);
            let t = Instant::now();
            let r = tokio::time::timeout(
                REFUSAL_WITHIN,
                http.send("POST", "/2015-03-31/functions/busy/invocations", &[], br#"{}"#),
            )
            .await
            .expect("an overloaded invoke hung")
            .unwrap();
            (r, t.elapsed())
        }));
    }
    for b in burst {
        let (r, took) = b.await.unwrap();
        assert_throttle(&r, "ConcurrentInvocationLimitExceeded");
        assert!(took < REFUSAL_WITHIN, "{took:?}");
    }

    // The SDK reads the same answer as the modelled exception, with `retryAfterSeconds`.
    match c.invoke().function_name("busy").send().await {
        Err(SdkError::ServiceError(e)) => match e.err() {
            InvokeError::TooManyRequestsException(t) => {
                assert_eq!(t.reason().map(|r| r.as_str()), Some("ConcurrentInvocationLimitExceeded"));
                assert_eq!(t.retry_after_seconds(), Some("1"));
                assert_eq!(t.message(), Some("Rate Exceeded."));
            }
            other => panic!("not a throttle: {other:?}"),
        },
        other => panic!("not a service error: {other:?}"),
    }

    for r in running {
        assert!(r.await.unwrap().is_ok(), "the running invocations finish");
    }
    // Free again: the next invoke runs.
    let r = c.invoke().function_name("busy").send().await.unwrap();
    assert_eq!(r.function_error(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_concurrency_throttle_has_the_same_shape() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "reserved", SLOW).await;
    c.put_function_concurrency().function_name("reserved").reserved_concurrent_executions(1).send().await.unwrap();
    let running = {
        let c = c.clone();
        tokio::spawn(async move {
            c.invoke().function_name("reserved").payload(Blob::new(br#"{"sleep": 2}"#.to_vec())).send().await
        })
    };
    let mut http = testkit::http::Client::new(server.addr);
    let started = Instant::now();
    // Its environment exists once the slow call holds the one slot (admission comes first).
    loop {
        let h = http.send("GET", "/_versa/health", &[], b"").await.unwrap().json();
        if h["environments"].as_u64() == Some(1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the environment did not start: {h}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = tokio::time::timeout(
        REFUSAL_WITHIN,
        http.send("POST", "/2015-03-31/functions/reserved/invocations", &[], br#"{}"#),
    )
    .await
    .expect("a throttled invoke hung")
    .unwrap();
    assert_throttle(&r, "ReservedFunctionConcurrentInvocationLimitExceeded");
    assert!(running.await.unwrap().is_ok());
}
