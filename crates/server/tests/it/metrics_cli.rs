//! `versa metrics FUNCTION[:ALIAS]` (issue 10 point 5): the real binary against the real
//! server's CloudWatch API.

// JUSTIFICATION: the point of these tests is running the real `versa` executable.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::process::Command;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::AliasRoutingConfiguration;
use testkit::TestServer;

const FAILS_ON_ASK: &str =
    "def handler(e, c):\n    if e.get('fail'):\n        raise Exception('asked to fail')\n    return 'ok'\n";

/// Runs `versa metrics ARGS` with a test key; returns (success, stdout, stderr).
async fn versa_metrics(args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(testkit::versa_binary());
    cmd.arg("metrics")
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("run versa metrics");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The table's rows by their first column: the other columns.
fn table(stdout: &str) -> HashMap<String, Vec<String>> {
    stdout
        .lines()
        .skip(2)
        .filter_map(|l| {
            let mut cells = l.split_whitespace().map(str::to_owned);
            Some((cells.next()?, cells.collect()))
        })
        .collect()
}

#[tokio::test]
async fn bad_arguments_and_unreachable_servers_are_explained() {
    let (ok, _, err) = versa_metrics(&["f:prod", "--since", "15 minutes"]).await;
    assert!(!ok);
    assert!(err.contains("--since wants a number and a unit"), "{err}");
    let (ok, _, err) = versa_metrics(&["f:a:b"]).await;
    assert!(!ok);
    assert!(err.contains("FUNCTION:ALIAS"), "{err}");
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (ok, _, err) = versa_metrics(&["f:prod", "--endpoint", &format!("http://{free}")]).await;
    assert!(!ok);
    assert!(err.contains("cannot reach"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versa_metrics_shows_each_executed_version_of_an_alias() {
    let server = TestServer::start().await;
    let c = server.lambda();
    crate::invoke::create_py(&c, "m", FAILS_ON_ASK).await;
    c.publish_version().function_name("m").send().await.unwrap();
    c.update_function_configuration().function_name("m").description("v2").send().await.unwrap();
    c.publish_version().function_name("m").send().await.unwrap();
    let routing = AliasRoutingConfiguration::builder().additional_version_weights("2", 0.5).build();
    let alias = c.create_alias().function_name("m").name("prod").function_version("1");
    alias.routing_config(routing).send().await.unwrap();
    let mut ran: HashMap<String, (u32, u32)> = HashMap::new();
    for i in 0..20 {
        let payload = if i % 4 == 0 { r#"{"fail": true}"# } else { "{}" };
        let r = c.invoke().function_name("m:prod").payload(Blob::new(payload)).send().await.unwrap();
        let e = ran.entry(r.executed_version().unwrap().to_owned()).or_default();
        e.0 += 1;
        e.1 += u32::from(r.function_error().is_some());
    }
    c.invoke().function_name("m").send().await.unwrap();

    let endpoint = server.endpoint();
    let (ok, out, err) = versa_metrics(&["m:prod", "--since", "5m", "--endpoint", &endpoint]).await;
    assert!(ok, "{err}");
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("m:prod  last 5 min (") && first.ends_with(&endpoint), "{out}");
    assert_eq!(out.lines().nth(1).unwrap().split_whitespace().collect::<Vec<_>>().len(), 8, "{out}");
    let rows = table(&out);
    for (version, (invocations, errors)) in &ran {
        let row = &rows[version];
        assert_eq!((row[0].as_str(), row[1].as_str()), (&*invocations.to_string(), &*errors.to_string()), "{out}");
        let p50: f64 = row[3].parse().unwrap();
        let p99: f64 = row[4].parse().unwrap();
        assert!(0.0 < p50 && p50 <= p99, "{out}");
    }
    assert_eq!(&rows["total"][..3], ["20", "5", "25.0"], "{out}");

    // Unqualified: per resource, and the function's total (the unqualified call included).
    let (ok, out, err) = versa_metrics(&["m", "--endpoint", &endpoint]).await;
    assert!(ok, "{err}");
    let rows = table(&out);
    assert_eq!(&rows["prod"][..2], ["20", "5"], "{out}");
    assert_eq!(&rows["total"][..2], ["21", "5"], "{out}");
}
