//! CodeDeploy on two nodes sharing one PostgreSQL: the API may be called on any node, whatever
//! node walks the deployments (the `codedeploy` lease). Concurrent CreateDeployments of one group
//! on both nodes: exactly one wins, the other is `DeploymentLimitExceededException` (the store's
//! one-active index, not one node's memory); StopDeployment on the node that does not run the
//! engine stops it for everyone, and the engine does not bring it back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use serde_json::{Value, json};
use testkit::TestServer;

use crate::cluster::shared_node;
use crate::support::*;

const HEARTBEAT_MS: u64 = 200;
const DEAD_AFTER_MS: u64 = 2000;

fn node_config(c: &mut server::Config, url: &str, name: &str, blobs: &std::path::Path) {
    shared_node(c, url, name, blobs, HEARTBEAT_MS, DEAD_AFTER_MS);
}

/// One CodeDeploy JSON 1.1 call: status and body.
async fn cd(addr: SocketAddr, op: &str, body: Value) -> (u16, Value) {
    let mut c = testkit::http::Client::new(addr);
    let target = format!("CodeDeploy_20141006.{op}");
    let headers = [("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.1")];
    let r = c.send("POST", "/", &headers, body.to_string().as_bytes()).await.expect("codedeploy call");
    let v = if r.body.is_empty() { Value::Null } else { r.json() };
    (r.status, v)
}

async fn node_id(addr: SocketAddr) -> String {
    let mut c = testkit::http::Client::new(addr);
    let h = c.send("GET", "/_versa/health", &[], b"").await.expect("health").json();
    h["node"]["id"].as_str().expect("clustered").to_owned()
}

fn spec() -> String {
    "version: 0.0\nResources:\n  - f:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: \"f\"\n        \
     Alias: \"live\"\n        CurrentVersion: \"1\"\n        TargetVersion: \"2\"\n"
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codedeploy_calls_on_either_node_are_serialised_by_the_store() {
    let Some(url) = testkit::postgres::database("deploy_nodes") else { return };
    let blobs = tempfile::tempdir().unwrap();
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let a = TestServer::start_with(move |c| node_config(c, &u, "a", &b)).await;
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let bn = TestServer::start_with(move |c| node_config(c, &u, "b", &b)).await;
    let (a_addr, b_addr) = (a.addr, bn.addr);

    // Who runs the engine: the holder of the `codedeploy` lease (`<node id>/<epoch>`).
    let (a_id, b_id) = (node_id(a_addr).await, node_id(b_addr).await);
    let cluster = testkit::postgres::cluster().unwrap();
    let holder = cluster
        .sql(&url, "SELECT split_part(holder, '/', 1) FROM leases WHERE name = 'codedeploy'")
        .expect("the lease row");
    let (leader, other) = if holder == a_id {
        (a_addr, b_addr)
    } else {
        assert_eq!(holder, b_id, "one of the two nodes holds the engine's lease");
        (b_addr, a_addr)
    };

    let lambda = testkit::lambda_client(&a.endpoint(), "test", REGION);
    create(&lambda, "f", testkit::zip::tagged("one")).await;
    lambda.publish_version().function_name("f").send().await.unwrap();
    lambda
        .update_function_code()
        .function_name("f")
        .zip_file(Blob::new(testkit::zip::tagged("two")))
        .send()
        .await
        .unwrap();
    lambda.publish_version().function_name("f").send().await.unwrap();
    lambda.create_alias().function_name("f").name("live").function_version("1").send().await.unwrap();

    let (s, v) = cd(other, "CreateApplication", json!({"applicationName": "app", "computePlatform": "Lambda"})).await;
    assert_eq!(s, 200, "{v}");
    // Linear 10 % every minute: the deployment stays in progress for the whole test.
    let (s, v) = cd(
        leader,
        "CreateDeploymentGroup",
        json!({"applicationName": "app", "deploymentGroupName": "g", "serviceRoleArn": ROLE,
               "deploymentConfigName": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
               "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let create = json!({"applicationName": "app", "deploymentGroupName": "g",
                        "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": spec()}}});

    for round in 0..3 {
        // Both nodes at once: exactly one deployment becomes active.
        let ((s1, v1), (s2, v2)) =
            tokio::join!(cd(leader, "CreateDeployment", create.clone()), cd(other, "CreateDeployment", create.clone()));
        let ids: Vec<&str> = [&v1, &v2].iter().filter_map(|v| v["deploymentId"].as_str()).collect();
        assert_eq!(ids.len(), 1, "round {round}: exactly one create wins: {s1} {v1} / {s2} {v2}");
        let refused = if s1 == 200 { (s2, &v2) } else { (s1, &v1) };
        assert_eq!(
            (refused.0, refused.1["__type"].as_str()),
            (400, Some("DeploymentLimitExceededException")),
            "round {round}: {}",
            refused.1
        );
        let id = ids[0].to_owned();
        // The engine (on the leader) starts it: the alias moves to 10 % of version 2.
        let started = Instant::now();
        loop {
            let (_, v) = cd(other, "GetDeployment", json!({"deploymentId": id})).await;
            if v["deploymentInfo"]["status"] == "InProgress" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "round {round}: never started: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Stopped on the node that does not run the engine, with a rollback to version 1.
        let (s, v) = cd(other, "StopDeployment", json!({"deploymentId": id, "autoRollbackEnabled": true})).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("Succeeded")), "round {round}: {v}");
        // Everyone sees it stopped, and the engine does not walk it again.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for node in [leader, other] {
            let (_, v) = cd(node, "GetDeployment", json!({"deploymentId": id})).await;
            assert_eq!(v["deploymentInfo"]["status"], "Stopped", "round {round}: {v}");
        }
        // The rollback deployment (created by the stop) finishes: version 1 takes all traffic.
        let moved = Instant::now();
        loop {
            let alias = lambda.get_alias().function_name("f").name("live").send().await.unwrap();
            let weights = alias.routing_config().and_then(|r| r.additional_version_weights()).map_or(0, |w| w.len());
            let (_, listed) = cd(
                leader,
                "ListDeployments",
                json!({"applicationName": "app", "deploymentGroupName": "g",
                "includeOnlyStatuses": ["Created", "Queued", "InProgress"]}),
            )
            .await;
            let active = listed["deployments"].as_array().map_or(0, Vec::len);
            if alias.function_version() == Some("1") && weights == 0 && active == 0 {
                break;
            }
            assert!(moved.elapsed() < Duration::from_secs(20), "round {round}: the rollback did not finish: {listed}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    bn.stop().await;
    a.stop().await;
}
