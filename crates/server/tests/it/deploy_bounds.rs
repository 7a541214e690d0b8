//! CodeDeploy on the Prometheus view (`versa_deployment_status`,
//! `versa_deployment_target_weight`) and ListDeployments paged by the store.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::TestServer;

const OK: &str = "def handler(e, c):\n    return 'ok'\n";
const ROLE: &str = "arn:aws:iam::000000000000:role/r";

/// One CodeDeploy JSON 1.1 call on an open server; panics unless it answers 200.
async fn cd(server: &TestServer, op: &str, input: Value) -> Value {
    let r = cd_raw(server, op, input).await;
    assert_eq!(r.0, 200, "{op}: {}", r.1);
    r.1
}

async fn cd_raw(server: &TestServer, op: &str, input: Value) -> (u16, Value) {
    let mut http = testkit::http::Client::new(server.addr);
    let target = format!("CodeDeploy_20141006.{op}");
    let headers = [("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.1")];
    let r = http.send("POST", "/", &headers, input.to_string().as_bytes()).await.unwrap();
    (r.status, r.json())
}

async fn scrape(server: &TestServer) -> String {
    let mut http = testkit::http::Client::new(server.addr);
    let r = http.send("GET", "/metrics", &[], b"").await.unwrap();
    assert_eq!(r.status, 200);
    r.text()
}

fn appspec(function: &str) -> Value {
    let content = format!(
        "version: 0.0\nResources:\n  - f:\n      Type: AWS::Lambda::Function\n      Properties:\n        \
         Name: \"{function}\"\n        Alias: \"live\"\n        CurrentVersion: \"1\"\n        TargetVersion: 2\n"
    );
    json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": content}})
}

async fn group(server: &TestServer, name: &str, config: &str) {
    cd(
        server,
        "CreateDeploymentGroup",
        json!({"applicationName": "app", "deploymentGroupName": name, "serviceRoleArn": ROLE,
            "deploymentConfigName": config,
            "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}}),
    )
    .await;
}

/// The `versa_deployment_status` line of a deployment, if shown.
fn status_line(text: &str, id: &str) -> Option<String> {
    let want = format!("deployment_id=\"{id}\"");
    text.lines().find(|l| l.starts_with("versa_deployment_status{") && l.contains(&want)).map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seconds_canary_shows_in_progress_with_its_weight_then_succeeded() {
    let server = TestServer::start().await;
    let lambda = server.lambda();
    crate::invoke::create_py(&lambda, "gauged", OK).await;
    lambda.publish_version().function_name("gauged").send().await.unwrap();
    lambda.update_function_configuration().function_name("gauged").description("v2").send().await.unwrap();
    lambda.publish_version().function_name("gauged").send().await.unwrap();
    lambda.create_alias().function_name("gauged").name("live").function_version("1").send().await.unwrap();
    cd(&server, "CreateApplication", json!({"applicationName": "app", "computePlatform": "Lambda"})).await;
    cd(
        &server,
        "CreateDeploymentConfig",
        json!({"deploymentConfigName": "canary50-3s", "computePlatform": "Lambda", "versaIntervalUnit": "SECONDS",
            "trafficRoutingConfig": {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 50, "canaryInterval": 3}}}),
    )
    .await;
    group(&server, "g", "canary50-3s").await;
    let id = cd(
        &server,
        "CreateDeployment",
        json!({"applicationName": "app", "deploymentGroupName": "g", "revision": appspec("gauged")}),
    )
    .await["deploymentId"]
        .as_str()
        .unwrap()
        .to_owned();

    // While weighted: InProgress, and the target version's share is 0.5.
    let weight = format!(
        "versa_deployment_target_weight{{account=\"000000000000\",region=\"us-east-1\",deployment_id=\"{id}\",function=\"gauged\",alias=\"live\",version=\"2\"}} 0.5"
    );
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&server).await;
        if text.lines().any(|l| l == weight) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(text.lines().any(|l| l == weight), "{text}");
    let line = status_line(&text, &id).unwrap();
    assert_eq!(
        line,
        format!(
            "versa_deployment_status{{account=\"000000000000\",region=\"us-east-1\",deployment_id=\"{id}\",application=\"app\",deployment_group=\"g\",function=\"gauged\",alias=\"live\",status=\"InProgress\"}} 1"
        )
    );

    // After the interval: Succeeded, still shown (recent), one line, no target weight.
    let mut done = None;
    for _ in 0..200 {
        let text = scrape(&server).await;
        if let Some(l) = status_line(&text, &id).filter(|l| l.contains("status=\"Succeeded\"")) {
            done = Some(text.clone());
            assert!(l.ends_with("} 1"), "{l}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = done.expect("the deployment succeeds and stays shown");
    assert_eq!(text.lines().filter(|l| l.contains(&format!("deployment_id=\"{id}\""))).count(), 1, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_deployments_pages_newest_first_with_next_token() {
    let server = TestServer::start().await;
    cd(&server, "CreateApplication", json!({"applicationName": "app", "computePlatform": "Lambda"})).await;
    // One deployment in each of 103 groups (groups run theirs concurrently): 2 pages of 100 + 3.
    let mut created = Vec::new();
    for i in 0..103 {
        let g = format!("g{i}");
        group(&server, &g, "CodeDeployDefault.LambdaAllAtOnce").await;
        let d = cd(
            &server,
            "CreateDeployment",
            json!({"applicationName": "app", "deploymentGroupName": g, "revision": appspec("nofn")}),
        )
        .await;
        created.push(d["deploymentId"].as_str().unwrap().to_owned());
    }
    let mut seen: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut input = json!({"applicationName": "app"});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let page = cd(&server, "ListDeployments", input).await;
        pages += 1;
        seen.extend(page["deployments"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()));
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen.len(), 103);
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    sorted_seen.dedup();
    let mut sorted_created = created.clone();
    sorted_created.sort();
    assert_eq!(sorted_seen, sorted_created, "every deployment once");
    assert_eq!(seen.last(), created.first(), "newest first: the first created comes last");
    // One group's list; a token that is not one of ours.
    let one = cd(&server, "ListDeployments", json!({"applicationName": "app", "deploymentGroupName": "g5"})).await;
    assert_eq!(one, json!({"deployments": [created[5]]}));
    let (status, err) = cd_raw(&server, "ListDeployments", json!({"nextToken": "garbage"})).await;
    assert_eq!((status, err["__type"].as_str()), (400, Some("InvalidNextTokenException")));
}
