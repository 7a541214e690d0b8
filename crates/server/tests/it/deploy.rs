//! CodeDeploy (compute platform Lambda) end to end: boto3 drives applications, groups,
//! configs and deployments against a real server, with real functions, hooks and alarms
//! (deployments.md §6.3); a canary survives `kill -9`.

// JUSTIFICATION: the tests run the real `python3` with boto3.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use testkit::{ServerProcess, TestServer};

use crate::support::boto3_available;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

/// Runs the script; its stderr (the timeline) is echoed; its stdout is one JSON document.
async fn script(endpoint: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec![endpoint];
    all.extend_from_slice(args);
    crate::support::boto3_script("deploy_boto3.py", &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_canaries_hooks_alarm_rollbacks_and_stops() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start_with(|c| c.deploy_hook_timeout = Duration::from_secs(4)).await;
    let v = script(&server.endpoint(), &["story"]).await;
    let counts = &v["canary_counts"];
    assert!(counts["1"].as_u64().unwrap() > 0 && counts["2"].as_u64().unwrap() > 0, "{counts}");
    let t = v["hook_timeout_seconds"].as_f64().unwrap();
    assert!((3.0..12.0).contains(&t), "a silent hook fails at its 4 s deadline, not after {t} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_minute_canary_shifts_at_the_minute() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = script(&server.endpoint(), &["minute"]).await;
    assert!(v["shifted_after"].as_f64().unwrap() >= 59.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_resumes_after_kill_9_without_re_invoking_its_hook() {
    if !boto3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::spawn(bin(), dir.path());
    let started = script(&first.endpoint(), &["durable-start"]).await;
    let id = started["id"].as_str().unwrap().to_owned();
    first.kill_9();
    let second = ServerProcess::spawn(bin(), dir.path());
    let finished = script(&second.endpoint(), &["durable-finish", &id]).await;
    let (weighted, completed) = (started["weighted_at"].as_f64().unwrap(), finished["completed_at"].as_f64().unwrap());
    // The 8-second interval is kept across the restart: not cut short, not restarted.
    assert!(completed - weighted >= 7.5, "completed {:.1} s after the first write", completed - weighted);
    assert!(completed - weighted <= 12.0, "completed {:.1} s after the first write", completed - weighted);
    second.terminate();
}

#[tokio::test]
async fn codedeploy_answers_in_json_1_1_and_refuses_unsigned_requests_in_its_shape() {
    let server = TestServer::start_sigv4().await;
    let mut raw = testkit::http::Client::new(server.addr);
    let target = |op: &'static str| [("x-amz-target", op), ("content-type", "application/x-amz-json-1.1")];
    let r = raw.send("POST", "/", &target("CodeDeploy_20141006.ListApplications"), b"{}").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert_eq!(r.json()["__type"], "MissingAuthenticationTokenException");

    let open = TestServer::start().await;
    let mut raw = testkit::http::Client::new(open.addr);
    let r = raw.send("POST", "/", &target("CodeDeploy_20141006.ListApplications"), b"").await.unwrap();
    assert_eq!((r.status, r.json()), (200, serde_json::json!({"applications": []})));
    let r = raw
        .send("POST", "/", &target("CodeDeploy_20141006.GetApplication"), b"{\"applicationName\":\"x\"}")
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        serde_json::json!({"__type": "ApplicationDoesNotExistException", "message": "No application found for name: x"})
    );
    let r = raw.send("POST", "/", &target("CodeDeploy_20141006.ListApplications"), b"[1]").await.unwrap();
    assert_eq!((r.status, r.json()["__type"].as_str()), (400, Some("SerializationException")));
    let r = raw.send("POST", "/", &target("CodeDeploy_20141006.RegisterOnPremisesInstance"), b"{}").await.unwrap();
    assert_eq!((r.status, r.json()["__type"].as_str()), (400, Some("UnknownOperationException")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_linear_steps_resume_one_interval_apart_after_kill_9() {
    if !boto3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::spawn(bin(), dir.path());
    let started = script(&first.endpoint(), &["durable-linear-start"]).await;
    let id = started["id"].as_str().unwrap().to_owned();
    first.kill_9();
    // Down for three intervals: the catch-up rule takes one step per tick, never 25 % → 100 %.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let second = ServerProcess::spawn(bin(), dir.path());
    let v = script(&second.endpoint(), &["durable-linear-finish", &id]).await;
    eprintln!("{v}");
    second.terminate();
}

/// The catalogue's edges through boto3: tags given at create time, the tag operations' ARN
/// checks, a partial BatchGetDeploymentGroups, the List operations' input checks, and renames
/// that keep a group's deployments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_batches_and_list_inputs_answer_as_the_model_says() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = script(&server.endpoint(), &["catalogue"]).await;
    assert_eq!(v["batch"], "No Deployment Group found for name: nope", "{v}");
}
