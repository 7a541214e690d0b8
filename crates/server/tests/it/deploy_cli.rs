//! `versa deploy`, `versa promote` and `versa pipeline run` (issue 11 point 3): the real
//! binary against the real server. What needs only the Lambda API runs now; what needs the

// JUSTIFICATION: the point of these tests is running the real `versa` executable.
#![allow(clippy::disallowed_methods)]

use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::TestServer;

const OK: &str = "def handler(e, c):\n    return 'ok'\n";
const FAILS: &str = "def handler(e, c):\n    raise Exception('smoke test failed')\n";
/// A pre-traffic hook that reports Failed, as a CodeDeploy hook does, with boto3.
const FAILING_HOOK: &str = r#"
import boto3

def handler(event, context):
    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status="Failed",
    )
"#;

/// Runs `versa ARGS` with a test key and no terminal; returns (exit code, stdout, stderr).
async fn versa(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(testkit::versa_binary());
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("run versa");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A function `name` with versions 1 and 2 (different descriptions) and `aliases` on version 1.
async fn two_versions(c: &aws_sdk_lambda::Client, name: &str, code: &str, aliases: &[&str]) {
    crate::invoke::create_py(c, name, code).await;
    c.publish_version().function_name(name).send().await.unwrap();
    c.update_function_configuration().function_name(name).description("v2").send().await.unwrap();
    c.publish_version().function_name(name).send().await.unwrap();
    for a in aliases {
        c.create_alias().function_name(name).name(*a).function_version("1").send().await.unwrap();
    }
}

async fn alias_version(c: &aws_sdk_lambda::Client, function: &str, alias: &str) -> (String, bool) {
    let a = c.get_alias().function_name(function).name(alias).send().await.unwrap();
    let weighted = a.routing_config().and_then(|r| r.additional_version_weights()).is_some_and(|w| !w.is_empty());
    (a.function_version().unwrap().to_owned(), weighted)
}

fn write_pipeline(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("versa.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let (code, _, err) = versa(&["deploy", "f", "--alias", "prod", "--version", "2", "--canary", "10:5m"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--canary wants a percentage like 10%"), "{err}");
    let (code, _, err) = versa(&["deploy", "f", "--alias", "prod", "--version", "2", "--linear", "10%:5d"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s, m or h"), "{err}");
    let (code, _, err) =
        versa(&["deploy", "f", "--alias", "p", "--version", "2", "--canary", "10%:1m", "--all-at-once"]).await;
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = versa(&["deploy", "f", "--version", "2"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--alias is required"), "{err}");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let endpoint = format!("http://{free}");
    let (code, _, err) = versa(&["deploy", "status", "d-AAAAAAAAA", "--endpoint", &endpoint]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot reach"), "{err}");
    let (code, _, err) = versa(&["pipeline", "run", "/nonexistent/versa.toml", "--version", "2"]).await;
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = versa(&["pipeline", "run", "versa.toml"]).await;
    assert_eq!(code, 2, "either --version or --from-alias: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_refuses_a_missing_alias_and_the_version_it_is_on() {
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "same", OK, &["prod"]).await;
    let endpoint = server.endpoint();
    let (code, _, err) = versa(&["deploy", "same", "--alias", "nope", "--version", "2", "--endpoint", &endpoint]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("same:nope does not exist; create the alias first"), "{err}");
    let (code, _, err) = versa(&["deploy", "same", "--alias", "prod", "--version", "1", "--endpoint", &endpoint]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("same:prod is already on version 1"), "{err}");
    let (code, _, err) = versa(&["promote", "same", "--from", "prod", "--to", "prod", "--endpoint", &endpoint]).await;
    assert_eq!(code, 2, "{err}");
    assert_eq!(alias_version(&c, "same", "prod").await, ("1".to_owned(), false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_runs_each_stage_test_and_stops_at_the_first_failure() {
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "app", OK, &["dev", "beta", "prod"]).await;
    crate::invoke::create_py(&c, "smoke-ok", OK).await;
    crate::invoke::create_py(&c, "smoke-bad", FAILS).await;
    let dir = tempfile::tempdir().unwrap();
    // Every alias is on version 1 already: no deployment, only the tests run.
    let file = write_pipeline(
        &dir,
        "function = \"app\"\n[[stage]]\nalias = \"dev\"\ntest = \"smoke-ok\"\n\
         [[stage]]\nalias = \"beta\"\ncanary = \"10%:30s\"\ntest = \"smoke-bad\"\n\
         [[stage]]\nalias = \"prod\"\napproval = true\n",
    );
    let endpoint = server.endpoint();
    // An approval gate, no terminal and no --yes: refused before anything runs.
    let (code, out, err) = versa(&["pipeline", "run", &file, "--version", "1", "--endpoint", &endpoint]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("add --yes"), "{err}");
    let (code, out, err) =
        versa(&["pipeline", "run", &file, "--from-alias", "dev", "--yes", "--endpoint", &endpoint]).await;
    assert_eq!(code, 1, "{out}{err}");
    let summary: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("pipeline app version 1")).collect();
    assert_eq!(summary.len(), 4, "{out}");
    assert!(summary[1].starts_with("  ok   dev   already on the version"), "{out}");
    assert!(summary[2].starts_with("  FAIL beta  test failed: Unhandled: "), "{out}");
    assert!(summary[2].contains("smoke test failed") && summary[2].ends_with("left as it is"), "{out}");
    assert_eq!(summary[3], "  -    prod  not run", "{out}");
    for a in ["dev", "beta", "prod"] {
        assert_eq!(alias_version(&c, "app", a).await, ("1".to_owned(), false), "{a}");
    }
    // A bad file: its line is named.
    let file = write_pipeline(&dir, "function = \"app\"\n[[stage]]\nalias = \"dev\"\nspeed = \"fast\"\n");
    let (code, _, err) = versa(&["pipeline", "run", &file, "--version", "2", "--endpoint", &endpoint]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 4: unknown key speed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seconds_canary_with_wait_succeeds_and_moves_the_alias() {
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "can", OK, &["live"]).await;
    let endpoint = server.endpoint();
    let args = ["deploy", "can", "--alias", "live", "--version", "2", "--canary", "50%:3s", "--wait", "--endpoint"];
    let run = {
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let mut a: Vec<&str> = args.to_vec();
            a.push(&endpoint);
            versa(&a).await
        })
    };
    // The canary's weight shows on the alias while the command waits; traffic keeps coming.
    let mut saw_half = false;
    while !run.is_finished() {
        let a = c.get_alias().function_name("can").name("live").send().await.unwrap();
        if let Some(w) = a.routing_config().and_then(|r| r.additional_version_weights()) {
            saw_half |= a.function_version() == Some("1") && w.get("2") == Some(&0.5);
        }
        c.invoke().function_name("can:live").send().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, out, err) = run.await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(saw_half, "the alias never carried 50% on version 2: {out}");
    let id = out.split_whitespace().next().unwrap().to_owned();
    assert!(id.starts_with("d-") && id.len() == 11, "{out}");
    assert!(out.contains("can:live 1 → 2 (canary 50%, the rest after 3s)"), "{out}");
    assert!(out.lines().any(|l| l.contains(" InProgress  v1 50% ") && l.contains("  v2 50% ")), "{out}");
    // The last progress line: both versions ran, counted from the metrics, per executed version.
    let last = out.lines().rfind(|l| l.contains(" Succeeded   v1 ")).unwrap();
    let counts: Vec<u32> = last.split("  v").skip(1).map(|v| v.split(' ').nth(2).unwrap().parse().unwrap()).collect();
    assert!(last.contains("  v1 0% ") && last.contains("  v2 100% "), "{out}");
    assert!(counts.len() == 2 && counts.iter().all(|n| *n > 0), "{out}");
    assert!(out.trim_end().ends_with("Succeeded  (can:live is on version 2)"), "{out}");
    assert_eq!(alias_version(&c, "can", "live").await, ("2".to_owned(), false));
    // The alias history names the deployment as the actor of both of its writes.
    let (code, out, err) = versa(&["history", "can:live", "--endpoint", &endpoint]).await;
    assert_eq!(code, 0, "{err}");
    let steps: Vec<&str> = out.lines().filter(|l| l.contains("DeploymentStep")).collect();
    assert_eq!(steps.len(), 2, "{out}");
    assert!(steps.iter().all(|l| l.contains(&id)), "{out}");
    assert!(steps[0].contains("1 (+2 at 50%)") && steps[0].trim_end().ends_with(" 2"), "{out}");

    let (code, out, err) = versa(&["deploy", "status", &id, "--endpoint", &endpoint]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("{id}  Succeeded")), "{out}");
    assert!(out.contains("config versa-canary-50pct-3s"), "{out}");
    let (code, out, err) = versa(&["deploy", "list", "can:live", "--endpoint", &endpoint]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("{id}  Succeeded   can-live  ")), "{out}");
    // Back with promote from another alias, all at once.
    c.create_alias().function_name("can").name("old").function_version("1").send().await.unwrap();
    let (code, out, err) =
        versa(&["promote", "can", "--from", "old", "--to", "live", "--wait", "--endpoint", &endpoint]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(alias_version(&c, "can", "live").await, ("1".to_owned(), false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pre_traffic_hook_exits_1_and_leaves_the_alias() {
    if !crate::sdk::sdk_installed() {
        return;
    }
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "hooked", OK, &["live"]).await;
    crate::invoke::create_py(&c, "pre-fails", FAILING_HOOK).await;
    let endpoint = server.endpoint();
    let (code, out, err) = versa(&[
        "deploy",
        "hooked",
        "--alias",
        "live",
        "--version",
        "2",
        "--canary",
        "10%:2s",
        "--pre-traffic",
        "pre-fails",
        "--wait",
        "--endpoint",
        &endpoint,
    ])
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("Failed: HOOK_EXECUTION_FAILURE"), "{out}");
    assert_eq!(alias_version(&c, "hooked", "live").await, ("1".to_owned(), false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_stage_pipeline_stops_at_the_failing_stage() {
    if !crate::sdk::sdk_installed() {
        return;
    }
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "pipe", OK, &["dev", "beta"]).await;
    crate::invoke::create_py(&c, "pre-fails", FAILING_HOOK).await;
    crate::invoke::create_py(&c, "smoke-ok", OK).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_pipeline(
        &dir,
        "function = \"pipe\"\n[[stage]]\nalias = \"dev\"\ntest = \"smoke-ok\"\n\
         [[stage]]\nalias = \"beta\"\ncanary = \"50%:2s\"\npre_traffic = \"pre-fails\"\n",
    );
    let (code, out, err) = versa(&["pipeline", "run", &file, "--version", "2", "--endpoint", &server.endpoint()]).await;
    assert_eq!(code, 1, "{out}{err}");
    let summary: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("pipeline pipe version 2")).collect();
    assert!(summary[1].starts_with("  ok   dev   succeeded  d-"), "{out}");
    assert!(
        summary[2].starts_with("  FAIL beta  failed     d-") && summary[2].contains("HOOK_EXECUTION_FAILURE"),
        "{out}"
    );
    assert_eq!(alias_version(&c, "pipe", "dev").await, ("2".to_owned(), false));
    assert_eq!(alias_version(&c, "pipe", "beta").await, ("1".to_owned(), false));
}

/// Waits until `function:alias` carries weight on version 2.
async fn until_weighted(c: &aws_sdk_lambda::Client, function: &str, alias: &str) {
    let start = std::time::Instant::now();
    while alias_version(c, function, alias).await != ("1".to_owned(), true) {
        assert!(start.elapsed() < Duration::from_secs(20), "{function}:{alias} never shifted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_or_a_stop_ends_a_canary_and_moves_the_alias_back() {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "guarded", OK, &["live", "edge"]).await;
    let endpoint = server.endpoint();
    let cw = crate::cloudwatch_alarms::cloudwatch_at(&endpoint);
    cw.put_metric_alarm()
        .alarm_name("guard")
        .namespace("App")
        .metric_name("Nothing")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("ignore")
        .send()
        .await
        .unwrap();

    // The alarm fires during a 10-minute canary: Stopped, exit 1, the alias back on 1.
    let run = {
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let args = ["deploy", "guarded", "--alias", "live", "--version", "2", "--canary", "50%:10m"];
            versa(&[&args[..], &["--alarm", "guard", "--wait", "--endpoint", &endpoint]].concat()).await
        })
    };
    until_weighted(&c, "guarded", "live").await;
    cw.set_alarm_state().alarm_name("guard").state_value(StateValue::Alarm).state_reason("test").send().await.unwrap();
    let (code, out, err) = run.await.unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("Stopped: ALARM_ACTIVE"), "{out}");
    assert_eq!(alias_version(&c, "guarded", "live").await, ("1".to_owned(), false));
    cw.set_alarm_state().alarm_name("guard").state_value(StateValue::Ok).state_reason("test").send().await.unwrap();

    // Started without --wait (exit 0 at once), then stopped with --rollback.
    let args = ["deploy", "guarded", "--alias", "edge", "--version", "2", "--canary", "50%:10m", "--endpoint"];
    let (code, out, err) = versa(&[&args[..], &[endpoint.as_str()]].concat()).await;
    assert_eq!(code, 0, "{out}{err}");
    let id = out.split_whitespace().next().unwrap().to_owned();
    until_weighted(&c, "guarded", "edge").await;
    let (code, out, err) = versa(&["deploy", "stop", &id, "--rollback", "--endpoint", &endpoint]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("{id}  stop ")), "{out}");
    let start = std::time::Instant::now();
    loop {
        let (code, out, err) = versa(&["deploy", "status", &id, "--endpoint", &endpoint]).await;
        assert_eq!(code, 0, "{err}");
        if out.starts_with(&format!("{id}  Stopped: MANUAL_STOP")) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{out}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(alias_version(&c, "guarded", "edge").await, ("1".to_owned(), false));
    let (code, out, err) = versa(&["deploy", "list", "guarded", "--endpoint", &endpoint]).await;
    assert_eq!(code, 0, "{err}");
    let groups: Vec<&str> = out.lines().map(|l| l.split_whitespace().nth(2).unwrap_or("")).collect();
    assert!(groups.contains(&"guarded-live") && groups.contains(&"guarded-edge"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stage_test_moves_its_alias_back() {
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "tested", OK, &["beta", "prod"]).await;
    crate::invoke::create_py(&c, "smoke-bad", FAILS).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_pipeline(
        &dir,
        "function = \"tested\"\n[[stage]]\nalias = \"beta\"\ncanary = \"50%:1s\"\ntest = \"smoke-bad\"\n\
         [[stage]]\nalias = \"prod\"\n",
    );
    let (code, out, err) = versa(&["pipeline", "run", &file, "--version", "2", "--endpoint", &server.endpoint()]).await;
    assert_eq!(code, 1, "{out}{err}");
    let summary: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("pipeline tested version 2")).collect();
    assert!(summary[1].starts_with("  FAIL beta  test failed: Unhandled: "), "{out}");
    assert!(summary[1].contains("; beta moved back to 1 by d-"), "{out}");
    assert_eq!(summary[2], "  -    prod  not run", "{out}");
    for a in ["beta", "prod"] {
        assert_eq!(alias_version(&c, "tested", a).await, ("1".to_owned(), false), "{a}");
    }
}
