//! CloudWatch alarms (issue 10 point 3) in the real server: an `Errors` alarm on an alias goes
//! ALARM within seconds of a failed invocation, subscribers see it, its Lambda action really
//! invokes a function with AWS's alarm event, and state and history survive a restart.

use std::time::{Duration, Instant};

use alarms::{Alarms, DescribeQuery, HistoryQuery, PutAlarm, StateChange};
use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm, MetricDatum, StateValue, Statistic};
use aws_sdk_lambda::primitives::Blob;
use tokio::sync::{broadcast, oneshot};

use crate::invoke::create_py;
use crate::support::*;

const FAILS_ON_ASK: &str =
    "def handler(e, c):\n    if e.get('fail'):\n        raise Exception('asked to fail')\n    return 'ok'\n";
const PRINTS_EVENT: &str =
    "import json\ndef handler(e, c):\n    print('ALARM-EVENT', json.dumps(e))\n    return 'ok'\n";

/// The server in-process, with its `Alarms` handle (what `crates/cloudwatch` will call).
struct Running {
    addr: std::net::SocketAddr,
    alarms: Alarms,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(dir: &std::path::Path) -> Running {
    let mut config = server::Config::new(dir.to_owned());
    config.init_program = Some(testkit::versa_binary());
    let server = server::Server::open(config).await.unwrap();
    let alarms = server.alarms().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async move {
        let _ = rx.await;
    }));
    Running { addr, alarms, stop: Some(tx), task }
}

impl Running {
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

fn errors_alarm(name: &str, actions: Vec<String>) -> PutAlarm {
    PutAlarm {
        alarm_name: Some(name.into()),
        metric_name: Some("Errors".into()),
        namespace: Some("AWS/Lambda".into()),
        statistic: Some("Sum".into()),
        dimensions: vec![("FunctionName".into(), "fn".into()), ("Resource".into(), "fn:prod".into())],
        period: Some(60),
        evaluation_periods: Some(1),
        threshold: Some(1.0),
        comparison_operator: Some("GreaterThanOrEqualToThreshold".into()),
        treat_missing_data: Some("notBreaching".into()),
        alarm_actions: actions,
        ..PutAlarm::default()
    }
}

async fn next_change(rx: &mut broadcast::Receiver<StateChange>, alarm: &str) -> StateChange {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let c = rx.recv().await.unwrap();
            if c.alarm_name == alarm {
                return c;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no state change of {alarm} within 10 s"))
}

async fn state(alarms: &Alarms, name: &str) -> (String, String) {
    let q = DescribeQuery { alarm_names: vec![name.into()], ..DescribeQuery::default() };
    let a = alarms.describe_alarms(ACCOUNT, REGION, q).await.unwrap().items.remove(0);
    (a.state_value, a.state_reason)
}

async fn summaries(alarms: &Alarms, name: &str, kind: &str) -> Vec<String> {
    let q =
        HistoryQuery { alarm_name: Some(name.into()), history_item_type: Some(kind.into()), ..HistoryQuery::default() };
    alarms
        .describe_alarm_history(ACCOUNT, REGION, q)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.history_summary)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_alarm_on_an_alias_goes_alarm_runs_its_lambda_action_and_survives_restart() {
    let dir = tempfile::Builder::new().prefix("versa-test-").tempdir().unwrap();
    let server = start(dir.path()).await;
    let c = testkit::lambda_client(&server.endpoint(), "test", REGION);
    let logs = testkit::logs_client(&server.endpoint(), "test", REGION);
    create_py(&c, "fn", FAILS_ON_ASK).await;
    c.publish_version().function_name("fn").send().await.unwrap();
    c.create_alias().function_name("fn").name("prod").function_version("1").send().await.unwrap();
    create_py(&c, "on-alarm", PRINTS_EVENT).await;
    c.create_alias().function_name("on-alarm").name("live").function_version("$LATEST").send().await.unwrap();
    let action = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:on-alarm:live");

    let alarms = server.alarms.clone();
    let mut changes = alarms.subscribe();
    alarms.put_metric_alarm(ACCOUNT, REGION, errors_alarm("errs", vec![action.clone()])).await.unwrap();
    // No data yet, notBreaching: OK at the first evaluation.
    let first = next_change(&mut changes, "errs").await;
    assert_eq!((first.old_state.as_str(), first.new_state.as_str()), ("INSUFFICIENT_DATA", "OK"));
    c.invoke().function_name("fn:prod").send().await.unwrap();

    // A failed invocation through the alias: ALARM within about a second.
    let r = c.invoke().function_name("fn:prod").payload(Blob::new(r#"{"fail": true}"#)).send().await.unwrap();
    assert!(r.function_error().is_some());
    let failed_at = Instant::now();
    let change = next_change(&mut changes, "errs").await;
    let latency = failed_at.elapsed();
    assert_eq!((change.old_state.as_str(), change.new_state.as_str()), ("OK", "ALARM"));
    assert!(latency < Duration::from_secs(3), "ALARM after {latency:?}");
    eprintln!("errors alarm: ALARM {latency:?} after the failed invocation returned");
    let (value, reason) = state(&alarms, "errs").await;
    assert_eq!(value, "ALARM");
    assert!(reason.starts_with("Threshold Crossed: 1 datapoint [1.0 ("), "{reason}");
    assert!(reason.ends_with(")] was greater than or equal to the threshold (1.0)."), "{reason}");

    // An alarm created after the errors goes straight from INSUFFICIENT_DATA to ALARM.
    alarms.put_metric_alarm(ACCOUNT, REGION, errors_alarm("errs-late", Vec::new())).await.unwrap();
    let late = next_change(&mut changes, "errs-late").await;
    assert_eq!((late.old_state.as_str(), late.new_state.as_str()), ("INSUFFICIENT_DATA", "ALARM"));
    assert_eq!(summaries(&alarms, "errs-late", "StateUpdate").await, ["Alarm updated from INSUFFICIENT_DATA to ALARM"]);

    // The action really invoked `on-alarm:live` with AWS's alarm event.
    let hits = crate::logs::find(&logs, "/aws/lambda/on-alarm", "ALARM-EVENT").await;
    let line = &hits[0].1;
    let event: serde_json::Value = serde_json::from_str(line.split_once("ALARM-EVENT ").unwrap().1.trim()).unwrap();
    assert_eq!(event["source"], "aws.cloudwatch");
    assert_eq!(event["alarmArn"], format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:errs"));
    assert_eq!(event["accountId"], ACCOUNT);
    assert_eq!(event["region"], REGION);
    assert_eq!(event["alarmData"]["alarmName"], "errs");
    assert_eq!(event["alarmData"]["state"]["value"], "ALARM");
    assert_eq!(event["alarmData"]["state"]["reason"], reason.as_str());
    assert_eq!(event["alarmData"]["previousState"]["value"], "OK");
    let stat = &event["alarmData"]["configuration"]["metrics"][0]["metricStat"];
    assert_eq!(stat["metric"]["namespace"], "AWS/Lambda");
    assert_eq!(stat["metric"]["name"], "Errors");
    assert_eq!(stat["metric"]["dimensions"]["FunctionName"], "fn");
    assert_eq!(stat["metric"]["dimensions"]["Resource"], "fn:prod");
    assert_eq!(stat["period"], 60);
    assert_eq!(stat["stat"], "Sum");
    assert_eq!(summaries(&alarms, "errs", "Action").await, [format!("Successfully executed action {action}")]);
    let updates = summaries(&alarms, "errs", "StateUpdate").await;
    assert_eq!(updates, ["Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK"]);

    // SetAlarmState holds only until the next evaluation.
    alarms.set_alarm_state(ACCOUNT, REGION, "errs".into(), "OK".into(), "by hand".into(), None).await.unwrap();
    assert_eq!(next_change(&mut changes, "errs").await.new_state, "OK");
    let back = next_change(&mut changes, "errs").await;
    assert_eq!(
        (back.old_state.as_str(), back.new_state.as_str(), back.reason.as_str()),
        ("OK", "ALARM", reason.as_str())
    );

    // Stopped, and the data dir's database opened again: state, reason and history are there.
    // (A server cannot reopen its data dir in the same process: S3's directory lock stays
    // with the first one; the CloudWatch API tests restart the binary.)
    drop(alarms);
    server.stop().await;
    let backend = store::SqliteBackend::open(&store::SqliteOptions { path: dir.path().join("versa.db") }).unwrap();
    let store = store::Store::new(std::sync::Arc::new(backend));
    let reopened = Alarms::new(store.clone(), metrics::Recorder::new(store));
    let (value, after) = state(&reopened, "errs").await;
    assert_eq!((value.as_str(), after.as_str()), ("ALARM", reason.as_str()));
    let updates = summaries(&reopened, "errs", "StateUpdate").await;
    assert_eq!(updates.len(), 4, "{updates:?}");
    assert_eq!(updates[0], "Alarm updated from OK to ALARM");
    assert_eq!(summaries(&reopened, "errs-late", "StateUpdate").await.len(), 1);
}

/// A CloudWatch client of the test account (`--auth off`), over RPC v2 CBOR.
fn cloudwatch(endpoint: &str) -> aws_sdk_cloudwatch::Client {
    crate::support::cloudwatch_client(endpoint, "test", "test")
}

/// Waits (at most `limit`) until the alarm is in `state`; returns it and how long it took.
async fn wait_for(
    cw: &aws_sdk_cloudwatch::Client,
    name: &str,
    state: StateValue,
    limit: Duration,
) -> (MetricAlarm, Duration) {
    let start = Instant::now();
    loop {
        let r = cw.describe_alarms().alarm_names(name).send().await.unwrap();
        let a = r.metric_alarms()[0].clone();
        if a.state_value() == Some(&state) {
            return (a, start.elapsed());
        }
        assert!(start.elapsed() < limit, "{name} is {:?}, not {state:?}, after {limit:?}", a.state_value());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A 10-second alarm on a metric put with `StorageResolution=1` evaluates 10-second
/// datapoints: a breach in one period, then a calm value in the next period of the same
/// minute, turn it ALARM then OK (evaluated on the minute, its Maximum would stay 100).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_second_alarm_follows_high_resolution_datapoints_through_the_api() {
    let server = testkit::TestServer::start().await;
    let cw = cloudwatch(&server.endpoint());
    cw.put_metric_alarm()
        .alarm_name("fast")
        .namespace("App")
        .metric_name("Latency")
        .statistic(Statistic::Maximum)
        .period(10)
        .evaluation_periods(1)
        .threshold(50.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("missing")
        .send()
        .await
        .unwrap();
    // The current 10 s period must not be the first of its minute: the previous one is then in
    // the same minute.
    let mut now = epoch_ms();
    if now.rem_euclid(60_000) < 10_000 {
        tokio::time::sleep(Duration::from_millis((10_100 - now.rem_euclid(60_000)) as u64)).await;
        now = epoch_ms();
    }
    let current = now - now.rem_euclid(10_000);
    let put = |at: i64, v: f64| {
        let datum = MetricDatum::builder()
            .metric_name("Latency")
            .value(v)
            .storage_resolution(1)
            .timestamp(aws_smithy_types::DateTime::from_millis(at))
            .build();
        cw.put_metric_data().namespace("App").metric_data(datum).send()
    };
    put(current - 5_000, 100.0).await.unwrap();
    let (a, took) = wait_for(&cw, "fast", StateValue::Alarm, Duration::from_secs(5)).await;
    assert!(a.state_reason().unwrap().starts_with("Threshold Crossed: 1 datapoint [100.0 ("), "{a:?}");
    let data: serde_json::Value = serde_json::from_str(a.state_reason_data().unwrap()).unwrap();
    assert_eq!(data["period"], 10);
    eprintln!("10 s alarm: ALARM {took:?} after PutMetricData");
    put(current, 1.0).await.unwrap();
    let (a, took) = wait_for(&cw, "fast", StateValue::Ok, Duration::from_secs(20)).await;
    assert!(a.state_reason().unwrap().starts_with("Threshold Crossed: 1 datapoint [1.0 ("), "{a:?}");
    eprintln!("10 s alarm: OK {took:?} after the calm datapoint");
}

/// `versa_alarm_state{account,region,alarm,state}` at `GET /metrics`: 1 for the alarm's state,
/// 0 for the other two, read at each scrape; gone once the alarm is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_each_alarms_state_until_it_is_deleted() {
    let server = testkit::TestServer::start().await;
    let cw = cloudwatch(&server.endpoint());
    let scrape = || async {
        let mut http = testkit::http::Client::new(server.addr);
        let r = http.send("GET", "/metrics", &[], b"").await.unwrap();
        assert_eq!(r.status, 200);
        r.text()
    };
    let states = |text: &str, alarm: &str| -> Vec<(String, String)> {
        let prefix = format!("versa_alarm_state{{account=\"{ACCOUNT}\",region=\"{REGION}\",alarm=\"{alarm}\",state=\"");
        text.lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(|rest| {
                let (state, value) = rest.split_once("\"} ").unwrap();
                (state.to_owned(), value.to_owned())
            })
            .collect()
    };
    let want = |one: &str| -> Vec<(String, String)> {
        ["INSUFFICIENT_DATA", "ALARM", "OK"]
            .iter()
            .map(|s| (s.to_string(), if *s == one { "1" } else { "0" }.to_owned()))
            .collect()
    };
    // `ignore` with no data keeps whatever state is set.
    cw.put_metric_alarm()
        .alarm_name("watched")
        .namespace("App")
        .metric_name("Nothing")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("ignore")
        .send()
        .await
        .unwrap();
    let text = scrape().await;
    assert!(text.contains("# TYPE versa_alarm_state gauge\n"));
    assert_eq!(states(&text, "watched"), want("INSUFFICIENT_DATA"));
    cw.set_alarm_state()
        .alarm_name("watched")
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap();
    // The evaluator keeps it (TreatMissingData=ignore, no data): still ALARM a second later.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(states(&scrape().await, "watched"), want("ALARM"));
    cw.delete_alarms().alarm_names("watched").send().await.unwrap();
    assert_eq!(states(&scrape().await, "watched"), []);
}
