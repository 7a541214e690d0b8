//! CloudWatch alarms through the API (issue 10 point 3): the AWS SDK for Rust (RPC v2 CBOR),
//! boto3 in JSON 1.0 and query, and a restart under `kill -9`.

// JUSTIFICATION: the boto3 test runs the real `python3` with boto3.
#![allow(clippy::disallowed_methods)]

use crate::support::boto3_available;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, HistoryItemType, MetricAlarm, MetricDatum, StateValue, Statistic, Tag,
};
use aws_sdk_lambda::primitives::Blob;
use testkit::{ServerProcess, TestServer};

use crate::support::*;

const FAILS_ON_ASK: &str =
    "def handler(e, c):\n    if e.get('fail'):\n        raise Exception('asked to fail')\n    return 'ok'\n";

pub(crate) fn cloudwatch_at(endpoint: &str) -> aws_sdk_cloudwatch::Client {
    cloudwatch_as(endpoint, "test")
}

/// A client acting in the account its key id spells (`--auth off`).
fn cloudwatch_as(endpoint: &str, key_id: &str) -> aws_sdk_cloudwatch::Client {
    cloudwatch_client(endpoint, key_id, "test")
}

fn dim(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// (code, message, status) of an SDK error.
fn refusal<E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<
        impl std::fmt::Debug,
        aws_sdk_cloudwatch::error::SdkError<E, aws_sdk_cloudwatch::config::http::HttpResponse>,
    >,
) -> (String, String, u16) {
    let e = r.expect_err("an error");
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    (e.code().unwrap_or_default().to_owned(), e.message().unwrap_or_default().to_owned(), status)
}

async fn alarm(cw: &aws_sdk_cloudwatch::Client, name: &str) -> MetricAlarm {
    let r = cw.describe_alarms().alarm_names(name).send().await.unwrap();
    r.metric_alarms().first().unwrap_or_else(|| panic!("no alarm {name}")).clone()
}

/// Waits (at most `limit`) until the alarm is in `state`.
async fn wait_state(cw: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue, limit: Duration) -> MetricAlarm {
    let start = Instant::now();
    loop {
        let a = alarm(cw, name).await;
        if a.state_value() == Some(&state) {
            return a;
        }
        assert!(start.elapsed() < limit, "{name} is {:?}, not {state:?}, after {limit:?}", a.state_value());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn history(cw: &aws_sdk_cloudwatch::Client, name: &str, kind: HistoryItemType) -> Vec<String> {
    let r = cw.describe_alarm_history().alarm_name(name).history_item_type(kind).send().await.unwrap();
    r.alarm_history_items().iter().map(|i| i.history_summary().unwrap_or_default().to_owned()).collect()
}

fn errors_alarm(
    cw: &aws_sdk_cloudwatch::Client,
    name: &str,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .dimensions(dim("FunctionName", "fn"))
        .dimensions(dim("Resource", "fn:prod"))
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("notBreaching")
}

async fn function_with_alias(lambda: &aws_sdk_lambda::Client) {
    crate::invoke::create_py(lambda, "fn", FAILS_ON_ASK).await;
    lambda.publish_version().function_name("fn").send().await.unwrap();
    lambda.create_alias().function_name("fn").name("prod").function_version("1").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_drives_alarms_over_cbor() {
    let server = TestServer::start().await;
    let cw = cloudwatch_at(&server.endpoint());
    let lambda = server.lambda();
    function_with_alias(&lambda).await;

    // A new alarm: INSUFFICIENT_DATA until evaluated (`ignore` with no data keeps it so).
    cw.put_metric_alarm()
        .alarm_name("quiet")
        .alarm_description("never any data")
        .namespace("App")
        .metric_name("Nothing")
        .extended_statistic("p99")
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .treat_missing_data("ignore")
        .evaluate_low_sample_count_percentile("ignore")
        .tags(Tag::builder().key("team").value("a").build())
        .send()
        .await
        .unwrap();
    let q = alarm(&cw, "quiet").await;
    assert_eq!(q.state_value(), Some(&StateValue::InsufficientData));
    assert_eq!(q.state_reason(), Some("Unchecked: Initial alarm creation"));
    assert_eq!(q.state_reason_data(), None);
    assert_eq!(q.alarm_arn(), Some(format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:quiet").as_str()));
    assert_eq!(q.extended_statistic(), Some("p99"));
    assert_eq!((q.evaluation_periods(), q.datapoints_to_alarm(), q.threshold()), (Some(3), Some(2), Some(5.0)));
    assert!(q.dimensions().is_empty() && q.alarm_actions().is_empty());
    assert!(q.state_updated_timestamp().is_some() && q.alarm_configuration_updated_timestamp().is_some());

    // The Errors alarm of an alias: OK without data, ALARM within about a second of a failure.
    errors_alarm(&cw, "errs").send().await.unwrap();
    wait_state(&cw, "errs", StateValue::Ok, Duration::from_secs(5)).await;
    lambda.invoke().function_name("fn:prod").send().await.unwrap();
    let r = lambda.invoke().function_name("fn:prod").payload(Blob::new(r#"{"fail": true}"#)).send().await.unwrap();
    assert!(r.function_error().is_some());
    let failed = Instant::now();
    let a = wait_state(&cw, "errs", StateValue::Alarm, Duration::from_secs(5)).await;
    eprintln!("errs: ALARM seen through DescribeAlarms {:?} after the failure", failed.elapsed());
    let reason = a.state_reason().unwrap();
    assert!(reason.starts_with("Threshold Crossed: 1 datapoint [1.0 ("), "{reason}");
    assert!(reason.ends_with(")] was greater than or equal to the threshold (1.0)."), "{reason}");
    let data: serde_json::Value = serde_json::from_str(a.state_reason_data().unwrap()).unwrap();
    assert_eq!((data["statistic"].as_str(), data["period"].as_i64()), (Some("Sum"), Some(60)));
    assert_eq!(data["evaluatedDatapoints"][0]["value"], 1.0);
    assert_eq!(
        history(&cw, "errs", HistoryItemType::StateUpdate).await,
        ["Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK"]
    );
    assert_eq!(history(&cw, "errs", HistoryItemType::ConfigurationUpdate).await, ["Alarm \"errs\" created"]);

    // A custom metric: PutMetricData wakes the evaluator.
    cw.put_metric_alarm()
        .alarm_name("queue")
        .namespace("App")
        .metric_name("Depth")
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(10.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let earlier = aws_sdk_cloudwatch::primitives::DateTime::from_millis(stdx::time::now_ms() - 60_000);
    let datum = MetricDatum::builder().metric_name("Depth").value(50.0).timestamp(earlier).build();
    cw.put_metric_data().namespace("App").metric_data(datum).send().await.unwrap();
    let q = wait_state(&cw, "queue", StateValue::Alarm, Duration::from_secs(5)).await;
    assert!(q.state_reason().unwrap().contains("was greater than the threshold (10.0)."));

    // Back to OK by evaluation: a newer datapoint (this minute) below the threshold.
    let datum = MetricDatum::builder().metric_name("Depth").value(2.0).build();
    cw.put_metric_data().namespace("App").metric_data(datum).send().await.unwrap();
    let q = wait_state(&cw, "queue", StateValue::Ok, Duration::from_secs(5)).await;
    assert!(q.state_reason().unwrap().contains("was not greater than the threshold (10.0)."));
    assert_eq!(
        history(&cw, "queue", HistoryItemType::StateUpdate).await,
        ["Alarm updated from ALARM to OK", "Alarm updated from INSUFFICIENT_DATA to ALARM"]
    );

    // SetAlarmState: kept under `ignore` without data; refusals as AWS.
    cw.set_alarm_state()
        .alarm_name("quiet")
        .state_value(StateValue::Alarm)
        .state_reason("by hand")
        .state_reason_data(r#"{"k":1}"#)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let q = alarm(&cw, "quiet").await;
    assert_eq!(
        (q.state_value(), q.state_reason(), q.state_reason_data()),
        (Some(&StateValue::Alarm), Some("by hand"), Some(r#"{"k":1}"#))
    );
    let r = cw.set_alarm_state().alarm_name("nope").state_value(StateValue::Ok).state_reason("r").send().await;
    assert_eq!(refusal(r), ("ResourceNotFound".to_owned(), String::new(), 404));
    let r = cw.set_alarm_state().alarm_name("quiet").state_value("INVALID".into()).state_reason("r").send().await;
    assert_eq!(
        refusal(r),
        (
            "ValidationError".to_owned(),
            "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]".to_owned(),
            400
        )
    );
    let r = cw
        .set_alarm_state()
        .alarm_name("quiet")
        .state_value(StateValue::Ok)
        .state_reason("r")
        .state_reason_data("{")
        .send()
        .await;
    assert_eq!(refusal(r).0, "InvalidFormat");

    // PutMetricAlarm refusals.
    let r = errors_alarm(&cw, "bad").period(45).send().await;
    assert_eq!(refusal(r).0, "InvalidParameterValue");
    let r = errors_alarm(&cw, "bad").extended_statistic("p99").send().await;
    assert_eq!(refusal(r).0, "InvalidParameterCombination");
    let r = errors_alarm(&cw, "bad").evaluation_periods(1).datapoints_to_alarm(2).send().await;
    assert_eq!(refusal(r).0, "InvalidParameterCombination");
    let r = errors_alarm(&cw, "bad").alarm_actions("arn:aws:s3:::bucket").send().await;
    assert_eq!(
        refusal(r),
        ("InvalidParameterValue".to_owned(), "Invalid arn syntax: arn:aws:s3:::bucket".to_owned(), 400)
    );

    // Filters, for-metric, actions switch, tags.
    let r = cw.describe_alarms().state_value(StateValue::Alarm).send().await.unwrap();
    let mut names: Vec<&str> = r.metric_alarms().iter().filter_map(|a| a.alarm_name()).collect();
    names.sort();
    assert_eq!(names, ["errs", "quiet"]);
    let r = cw.describe_alarms().alarm_name_prefix("qu").max_records(1).send().await.unwrap();
    assert_eq!(r.metric_alarms()[0].alarm_name(), Some("queue"));
    let r = cw.describe_alarms().alarm_name_prefix("qu").next_token(r.next_token().unwrap()).send().await.unwrap();
    assert_eq!((r.metric_alarms()[0].alarm_name(), r.next_token()), (Some("quiet"), None));
    let r = cw
        .describe_alarms_for_metric()
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .dimensions(dim("Resource", "fn:prod"))
        .dimensions(dim("FunctionName", "fn"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.metric_alarms().len(), 1);
    cw.disable_alarm_actions().alarm_names("errs").send().await.unwrap();
    assert_eq!(alarm(&cw, "errs").await.actions_enabled(), Some(false));
    cw.enable_alarm_actions().alarm_names("errs").send().await.unwrap();
    assert_eq!(alarm(&cw, "errs").await.actions_enabled(), Some(true));
    let arn = format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:quiet");
    cw.tag_resource().resource_arn(&arn).tags(Tag::builder().key("env").value("test").build()).send().await.unwrap();
    cw.untag_resource().resource_arn(&arn).tag_keys("team").send().await.unwrap();
    let tags = cw.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(tags, [("env", "test")]);
    let r = cw.list_tags_for_resource().resource_arn(format!("{arn}-gone")).send().await;
    assert_eq!(refusal(r).0, "ResourceNotFoundException");

    // Deleted: gone, its history kept.
    cw.delete_alarms().alarm_names("errs").alarm_names("unknown").send().await.unwrap();
    assert!(cw.describe_alarms().alarm_names("errs").send().await.unwrap().metric_alarms().is_empty());
    let kept = history(&cw, "errs", HistoryItemType::ConfigurationUpdate).await;
    assert_eq!(kept, ["Alarm \"errs\" deleted", "Alarm \"errs\" created"]);
}

/// The issue's acceptance path: an `Errors` alarm of `fn:prod` goes ALARM on a failure and back
/// to OK by evaluation once a new minute has only successes; the history lists both. (Waits
/// for the next minute: up to a minute.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_alarm_goes_alarm_and_back_to_ok_with_both_in_history() {
    let server = TestServer::start().await;
    let cw = cloudwatch_at(&server.endpoint());
    let lambda = server.lambda();
    function_with_alias(&lambda).await;
    errors_alarm(&cw, "errs").send().await.unwrap();
    wait_state(&cw, "errs", StateValue::Ok, Duration::from_secs(5)).await;
    lambda.invoke().function_name("fn:prod").payload(Blob::new(r#"{"fail": true}"#)).send().await.unwrap();
    let failed_minute = metrics::minute_of(stdx::time::now_ms());
    wait_state(&cw, "errs", StateValue::Alarm, Duration::from_secs(5)).await;
    // A success in a later minute: its datapoint (0 errors) is the newest.
    let wait = failed_minute + 60_000 - stdx::time::now_ms();
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64 + 200)).await;
    lambda.invoke().function_name("fn:prod").send().await.unwrap();
    let ok = wait_state(&cw, "errs", StateValue::Ok, Duration::from_secs(5)).await;
    let reason = ok.state_reason().unwrap();
    assert!(reason.starts_with("Threshold Crossed: 1 datapoint [0.0 ("), "{reason}");
    assert!(reason.ends_with(")] was not greater than or equal to the threshold (1.0)."), "{reason}");
    assert_eq!(
        history(&cw, "errs", HistoryItemType::StateUpdate).await,
        [
            "Alarm updated from ALARM to OK",
            "Alarm updated from OK to ALARM",
            "Alarm updated from INSUFFICIENT_DATA to OK"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_puts_sets_and_describes_alarms() {
    if !crate::cli::aws_available() {
        return;
    }
    let server = TestServer::start().await;
    let aws = crate::cli::Aws { endpoint: server.endpoint(), home: tempfile::tempdir().unwrap() };
    let put = aws
        .run(&[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            "cli",
            "--namespace",
            "Cli",
            "--metric-name",
            "Jobs",
            "--statistic",
            "Sum",
            "--period",
            "60",
            "--evaluation-periods",
            "2",
            "--threshold",
            "5",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
            "--treat-missing-data",
            "ignore",
            "--dimensions",
            "Name=Queue,Value=high",
        ])
        .await;
    assert!(put.ok, "{}", put.stderr);
    let wait = aws.run(&["cloudwatch", "wait", "alarm-exists", "--alarm-names", "cli"]).await;
    assert!(wait.ok, "{}", wait.stderr);
    let set = aws
        .run(&[
            "cloudwatch",
            "set-alarm-state",
            "--alarm-name",
            "cli",
            "--state-value",
            "ALARM",
            "--state-reason",
            "drill",
        ])
        .await;
    assert!(set.ok, "{}", set.stderr);
    let d = aws.json(&["cloudwatch", "describe-alarms", "--alarm-names", "cli"]).await;
    let a = &d["MetricAlarms"][0];
    assert_eq!((a["StateValue"].as_str(), a["StateReason"].as_str()), (Some("ALARM"), Some("drill")), "{d}");
    assert_eq!(a["Dimensions"], serde_json::json!([{"Name": "Queue", "Value": "high"}]));
    let h = aws
        .json(&["cloudwatch", "describe-alarm-history", "--alarm-name", "cli", "--history-item-type", "StateUpdate"])
        .await;
    assert_eq!(h["AlarmHistoryItems"][0]["HistorySummary"], "Alarm updated from INSUFFICIENT_DATA to ALARM");
    let bad = aws
        .run(&["cloudwatch", "set-alarm-state", "--alarm-name", "none", "--state-value", "OK", "--state-reason", "r"])
        .await;
    assert!(!bad.ok && bad.stderr.contains("ResourceNotFound"), "{}", bad.stderr);
}

/// A Lambda action on another account's function runs only once that function's policy lets
/// `lambda.alarms.cloudwatch.amazonaws.com` invoke it for the alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_on_another_accounts_function_needs_its_policy() {
    const OWNER: &str = "111111111111";
    const WATCHER: &str = "222222222222";
    let server = TestServer::start().await;
    let owner = testkit::lambda_client(&server.endpoint(), OWNER, REGION);
    crate::invoke::create_py(&owner, "target", FAILS_ON_ASK).await;
    let target = format!("arn:aws:lambda:{REGION}:{OWNER}:function:target");
    let cw = cloudwatch_as(&server.endpoint(), WATCHER);
    cw.put_metric_alarm()
        .alarm_name("x")
        .namespace("App")
        .metric_name("None")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("ignore")
        .alarm_actions(&target)
        .send()
        .await
        .unwrap();
    let set = |state: StateValue| cw.set_alarm_state().alarm_name("x").state_value(state).state_reason("drill").send();
    set(StateValue::Alarm).await.unwrap();
    let acted = history(&cw, "x", HistoryItemType::Action).await;
    assert_eq!(
        acted,
        [format!(
            "Failed to execute action {target}. Received error: \"CloudWatch is not authorized to invoke {target}\""
        )]
    );
    owner
        .add_permission()
        .function_name("target")
        .statement_id("alarms")
        .principal("lambda.alarms.cloudwatch.amazonaws.com")
        .action("lambda:InvokeFunction")
        .source_arn(format!("arn:aws:cloudwatch:{REGION}:{WATCHER}:alarm:x"))
        .send()
        .await
        .unwrap();
    set(StateValue::Ok).await.unwrap();
    set(StateValue::Alarm).await.unwrap();
    let acted = history(&cw, "x", HistoryItemType::Action).await;
    assert_eq!(acted[0], format!("Successfully executed action {target}"));
}

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_state_and_history_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::spawn(bin(), dir.path());
    let lambda = testkit::lambda_client(&first.endpoint(), "test", REGION);
    let cw = cloudwatch_at(&first.endpoint());
    function_with_alias(&lambda).await;
    lambda.invoke().function_name("fn:prod").payload(Blob::new(r#"{"fail": true}"#)).send().await.unwrap();
    errors_alarm(&cw, "errs").send().await.unwrap();
    let before = wait_state(&cw, "errs", StateValue::Alarm, Duration::from_secs(5)).await;
    // Once the aggregates are flushed, an evaluation after the restart sees the same data.
    tokio::time::sleep(metrics::FLUSH_EVERY + Duration::from_secs(1)).await;
    first.kill_9();
    let second = ServerProcess::spawn(bin(), dir.path());
    let cw = cloudwatch_at(&second.endpoint());
    let after = alarm(&cw, "errs").await;
    assert_eq!(after.state_value(), Some(&StateValue::Alarm));
    // Evaluated again after the restart (it was overdue): still ALARM, nothing new recorded.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = alarm(&cw, "errs").await;
    assert_eq!(after.state_value(), Some(&StateValue::Alarm));
    assert_eq!(after.state_reason(), before.state_reason());
    assert_eq!(after.state_transitioned_timestamp(), before.state_transitioned_timestamp());
    assert_eq!(
        history(&cw, "errs", HistoryItemType::StateUpdate).await,
        ["Alarm updated from INSUFFICIENT_DATA to ALARM"]
    );
    second.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_alarms_in_json_and_in_query() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = boto3_script("alarms_boto3.py", &[&server.endpoint()]).await;
    for protocol in ["json", "query"] {
        let p = &v[protocol];
        assert_eq!(p["created"]["StateValue"], "INSUFFICIENT_DATA", "{protocol}");
        assert_eq!(p["created"]["StateReason"], "Unchecked: Initial alarm creation", "{protocol}");
        assert_eq!(p["created"]["Dimensions"], serde_json::json!([{"Name": "Queue", "Value": "q1"}]), "{protocol}");
        assert_eq!(p["created"]["OKActions"], serde_json::json!([]), "{protocol}");
        assert_eq!(p["alarmed"]["StateValue"], "ALARM", "{protocol}");
        assert!(
            p["alarmed"]["StateReason"].as_str().unwrap().starts_with("Threshold Crossed: 1 datapoint [42.0 ("),
            "{protocol}: {}",
            p["alarmed"]["StateReason"]
        );
        assert_eq!(p["history"][0], "Alarm updated from INSUFFICIENT_DATA to ALARM", "{protocol}");
        assert_eq!(p["set"], true, "{protocol}: SetAlarmState recorded a change to OK");
        assert_eq!(p["tags"], serde_json::json!([{"Key": "k", "Value": "v"}]), "{protocol}");
        let e = &p["errors"]["state"];
        assert_eq!((e["code"].as_str(), e["status"].as_u64()), (Some("ValidationError"), Some(400)), "{protocol}");
        let e = &p["errors"]["missing"];
        assert_eq!((e["code"].as_str(), e["status"].as_u64()), (Some("ResourceNotFound"), Some(404)), "{protocol}");
        let e = &p["errors"]["period"];
        assert_eq!(e["code"], "InvalidParameterValue", "{protocol}");
        assert_eq!(p["deleted"], 0, "{protocol}");
    }
    assert_eq!(v["json"]["errors"]["missing"]["query_error"], "ResourceNotFound;Sender");
}
