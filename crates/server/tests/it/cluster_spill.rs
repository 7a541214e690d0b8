//! Spilling on two nodes sharing one PostgreSQL, each with room for one environment: an
//! invocation its owner cannot admit runs on the next node instead of being throttled, while a
//! function at its reserved concurrency is throttled (a reservation is exact at the owner).

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use testkit::TestServer;

use crate::cluster::{DEAD_AFTER_MS, HEARTBEAT_MS, shared_node, wait_live};
use crate::support::ROLE;

/// Sleeps for the payload's `sleep` seconds, then answers the node-independent word "done".
const SLOW: &str =
    "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 'done'\n";
/// How long the first invocation holds its node's only environment.
const HOLD_S: &str = "3";

fn config(c: &mut server::Config, url: &str, name: &str, blobs: &std::path::Path) {
    shared_node(c, url, name, blobs, HEARTBEAT_MS, DEAD_AFTER_MS);
    c.max_environments = 1;
}

/// Status, `x-versa-node` and body of a synchronous invoke of `name` on the node at `addr`.
async fn invoke(addr: SocketAddr, name: &str, payload: &str) -> (u16, String, String) {
    let mut c = testkit::http::Client::new(addr);
    let path = format!("/2015-03-31/functions/{name}/invocations");
    let r = c.send("POST", &path, &[], payload.as_bytes()).await.expect("invoke");
    (r.status, r.header("x-versa-node").unwrap_or("").to_owned(), r.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_saturated_owner_spills_unless_the_function_is_at_its_reservation() {
    let Some(url) = testkit::postgres::database("cluster_spill") else { return };
    let blobs = tempfile::tempdir().unwrap();
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let a = TestServer::start_with(move |c| config(c, &u, "a", &b)).await;
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let b = TestServer::start_with(move |c| config(c, &u, "b", &b)).await;
    wait_live(a.addr, 2).await;
    wait_live(b.addr, 2).await;

    let lambda = testkit::lambda_client(&format!("http://{}", a.addr), "test", "us-east-1");
    lambda
        .create_function()
        .function_name("slow")
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .timeout(30)
        .code(
            FunctionCode::builder().zip_file(Blob::new(testkit::zip::files(&[("index.py", SLOW.as_bytes())]))).build(),
        )
        .send()
        .await
        .unwrap();
    // The owner of $LATEST runs the first invocation, wherever it arrives.
    let (status, owner, body) = invoke(a.addr, "slow", "{}").await;
    assert_eq!((status, body.as_str()), (200, "\"done\""));
    let (owner_addr, other) = if owner == "a" { (a.addr, "b") } else { (b.addr, "a") };

    // The owner's only environment is busy: the next invocation sent to the owner runs on the
    // other node, not a 429.
    let hold = tokio::spawn(async move { invoke(owner_addr, "slow", &format!("{{\"sleep\": {HOLD_S}}}")).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, node, body) = invoke(owner_addr, "slow", "{}").await;
    assert_eq!((status, node.as_str(), body.as_str()), (200, other, "\"done\""), "spilled to the next node");
    let (status, node, _) = hold.await.unwrap();
    assert_eq!((status, node.as_str()), (200, owner.as_str()));

    // At its reserved concurrency, the owner throttles and nothing spills.
    lambda.put_function_concurrency().function_name("slow").reserved_concurrent_executions(1).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // past the other node's resolution cache
    let (status, node, _) = invoke(owner_addr, "slow", "{}").await;
    assert_eq!((status, node.as_str()), (200, owner.as_str()), "the owner runs it while it has room");
    let hold = tokio::spawn(async move { invoke(owner_addr, "slow", &format!("{{\"sleep\": {HOLD_S}}}")).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    for addr in [a.addr, b.addr] {
        let mut c = testkit::http::Client::new(addr);
        let r = c.send("POST", "/2015-03-31/functions/slow/invocations", &[], b"{}").await.unwrap();
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(r.header("x-amzn-errortype"), Some("TooManyRequestsException"));
        assert_eq!(r.json()["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
    }
    assert_eq!(hold.await.unwrap().0, 200);
}
