use std::sync::{Arc, Mutex};

use metrics::{Aggregate, Invocation, Outcome as Run, Recorder};
use store::{MetricSeries, SqliteBackend, SqliteOptions, Store};

use super::*;
use crate::eval::{Outcome, Point, evaluate, java_double};

/// 2020-10-09 21:24:30 UTC.
const NOW: i64 = 1_602_278_670_000;
const MINUTE: i64 = 60_000;
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

fn rule(n: usize, m: Option<usize>, op: Op, threshold: f64, missing: Missing) -> Rule {
    Rule {
        stat: Stat::Sum,
        stat_name: "Sum".into(),
        extended: false,
        period_s: 60,
        evaluation_periods: n,
        datapoints_to_alarm: m,
        threshold,
        op,
        missing,
        low_sample_ignore: false,
        unit: None,
    }
}

fn agg(values: &[f64]) -> Aggregate {
    let mut a = Aggregate::default();
    for v in values {
        a.add(*v);
    }
    a
}

/// Points from a pattern of the range, oldest first: `0` (not breaching), `X` (breaching
/// 10.0), `-` (missing); the newest is the current minute.
fn pattern(p: &str) -> Vec<Point> {
    let slots: Vec<&str> = p.split_whitespace().collect();
    let current = NOW.div_euclid(MINUTE) * MINUTE;
    slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let ts = current - (slots.len() - 1 - i) as i64 * MINUTE;
            match *s {
                "0" => Some(Point { timestamp_ms: ts, aggregate: agg(&[0.0]) }),
                "X" => Some(Point { timestamp_ms: ts, aggregate: agg(&[10.0]) }),
                _ => None,
            }
        })
        .collect()
}

fn state(o: Option<Outcome>) -> Option<&'static str> {
    o.map(|o| o.state.as_str())
}

#[test]
fn missing_data_table_of_the_reference() {
    // deployments.md §3.3, N = M = 3, newest on the right; None = the state is kept.
    let rows: [(&str, [Option<&str>; 4]); 5] = [
        ("0 - X - X", [Some("OK"), Some("OK"), Some("OK"), Some("OK")]),
        ("0 - - - -", [Some("OK"), Some("OK"), Some("OK"), Some("OK")]),
        ("- - - - -", [Some("INSUFFICIENT_DATA"), None, Some("ALARM"), Some("OK")]),
        ("0 X X - X", [Some("ALARM"), Some("ALARM"), Some("ALARM"), Some("ALARM")]),
        ("- - X - -", [Some("ALARM"), None, Some("ALARM"), Some("OK")]),
    ];
    let modes = [Missing::Missing, Missing::Ignore, Missing::Breaching, Missing::NotBreaching];
    for (p, expected) in rows {
        for (mode, want) in modes.iter().zip(expected) {
            for previous in [StateValue::Ok, StateValue::Alarm, StateValue::InsufficientData] {
                let r = rule(3, None, Op::GreaterThan, 5.0, *mode);
                let got = state(evaluate(&r, &pattern(p), NOW, previous));
                assert_eq!(got, want, "{p} with {mode:?} from {previous:?}");
            }
        }
    }
}

#[test]
fn premature_rule_needs_the_breach_to_be_m_points_old() {
    let r = rule(3, None, Op::GreaterThan, 5.0, Missing::Missing);
    assert_eq!(state(evaluate(&r, &pattern("- - - - X"), NOW, StateValue::Ok)), None);
    assert_eq!(state(evaluate(&r, &pattern("- - - X -"), NOW, StateValue::Ok)), None);
    assert_eq!(state(evaluate(&r, &pattern("- - X - -"), NOW, StateValue::Ok)), Some("ALARM"));
    assert_eq!(state(evaluate(&r, &pattern("- X - - -"), NOW, StateValue::Ok)), Some("ALARM"));
    // A newer non-breaching point breaks it (and then OK: the alarm cannot be reached).
    assert_eq!(state(evaluate(&r, &pattern("- X - 0 -"), NOW, StateValue::Alarm)), Some("OK"));
}

#[test]
fn m_out_of_n_need_not_be_consecutive() {
    let r = rule(5, Some(3), Op::GreaterThanOrEqual, 10.0, Missing::Missing);
    // Range 7: the newest 5 real points are X 0 X 0 X.
    let o = evaluate(&r, &pattern("0 0 X 0 X 0 X"), NOW, StateValue::Ok).unwrap();
    assert_eq!(o.state, StateValue::Alarm);
    assert_eq!(
        o.reason,
        "Threshold Crossed: 3 out of the last 5 datapoints [10.0 (09/10/20 21:24:00), 10.0 (09/10/20 21:22:00), \
         10.0 (09/10/20 21:20:00)] were greater than or equal to the threshold (10.0) \
         (minimum 3 datapoints for OK -> ALARM transition)."
    );
    let o = evaluate(&r, &pattern("0 0 X 0 X 0 0"), NOW, StateValue::Alarm).unwrap();
    assert_eq!(o.state, StateValue::Ok);
    assert_eq!(
        o.reason,
        "Threshold Crossed: 3 out of the last 5 datapoints [0.0 (09/10/20 21:24:00), 0.0 (09/10/20 21:23:00), \
         0.0 (09/10/20 21:21:00)] were not greater than or equal to the threshold (10.0) \
         (minimum 3 datapoints for ALARM -> OK transition)."
    );
}

#[test]
fn reason_texts_match_the_reference() {
    let current = NOW.div_euclid(MINUTE) * MINUTE;
    let point = |age: i64, v: f64| Point { timestamp_ms: current - age * MINUTE, aggregate: agg(&[v]) };
    // N = 1 without DatapointsToAlarm.
    let r = rule(1, None, Op::GreaterThan, 21.0, Missing::Missing);
    let o = evaluate(&r, &[point(0, 21.5)], NOW, StateValue::Ok).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: 1 datapoint [21.5 (09/10/20 21:24:00)] was greater than the threshold (21.0)."
    );
    let o = evaluate(&r, &[point(0, 3.0)], NOW, StateValue::Alarm).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: 1 datapoint [3.0 (09/10/20 21:24:00)] was not greater than the threshold (21.0)."
    );
    // 3 out of 3, newest first.
    let r = rule(3, Some(3), Op::GreaterThanOrEqual, 30.0, Missing::Missing);
    let pts = [point(2, 1390.0), point(1, 1226.0), point(0, 1141.0)];
    let o = evaluate(&r, &pts, NOW, StateValue::Ok).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: 3 out of the last 3 datapoints [1141.0 (09/10/20 21:24:00), 1226.0 (09/10/20 21:23:00), \
         1390.0 (09/10/20 21:22:00)] were greater than or equal to the threshold (30.0) \
         (minimum 3 datapoints for OK -> ALARM transition)."
    );
    let pts = [point(2, 1390.0), point(1, 1226.0), point(0, 12.0)];
    let o = evaluate(&r, &pts, NOW, StateValue::Alarm).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: 1 out of the last 3 datapoints [12.0 (09/10/20 21:24:00)] was not greater than or equal \
         to the threshold (30.0) (minimum 1 datapoint for ALARM -> OK transition)."
    );
    // Less-than operators.
    let r = rule(1, None, Op::LessThanOrEqual, 2.0, Missing::Missing);
    let o = evaluate(&r, &[point(0, 2.0)], NOW, StateValue::Ok).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: 1 datapoint [2.0 (09/10/20 21:24:00)] was less than or equal to the threshold (2.0)."
    );
    let r = rule(1, None, Op::LessThan, 2.0, Missing::Missing);
    let o = evaluate(&r, &[point(0, 2.0)], NOW, StateValue::Alarm).unwrap();
    assert_eq!(o.state, StateValue::Ok);
    assert_eq!(
        o.reason,
        "Threshold Crossed: 1 datapoint [2.0 (09/10/20 21:24:00)] was not less than the threshold (2.0)."
    );
    // Missing data.
    let r = rule(2, None, Op::GreaterThan, 1.0, Missing::Breaching);
    let o = evaluate(&r, &[], NOW, StateValue::Ok).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [Breaching]."
    );
    let r = rule(1, None, Op::GreaterThan, 1.0, Missing::NotBreaching);
    let o = evaluate(&r, &[], NOW, StateValue::Alarm).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching]."
    );
    let r = rule(5, None, Op::GreaterThan, 1.0, Missing::Missing);
    let o = evaluate(&r, &[], NOW, StateValue::Ok).unwrap();
    assert_eq!(o.state, StateValue::InsufficientData);
    assert_eq!(o.reason, "Insufficient Data: 5 datapoints were unknown.");
}

#[test]
fn reason_data_is_awss_json() {
    let current = NOW.div_euclid(MINUTE) * MINUTE;
    let mut r = rule(1, None, Op::GreaterThan, 80.0, Missing::Missing);
    r.stat = Stat::Average;
    r.stat_name = "Average".into();
    let p = Point { timestamp_ms: current, aggregate: agg(&[21.0, 22.0]) };
    let o = evaluate(&r, &[p], NOW, StateValue::Alarm).unwrap();
    assert_eq!(
        o.reason_data.unwrap(),
        r#"{"version":"1.0","queryDate":"2020-10-09T21:24:30.000+0000","startDate":"2020-10-09T21:22:00.000+0000","statistic":"Average","period":60,"recentDatapoints":[21.5],"threshold":80.0,"evaluatedDatapoints":[{"timestamp":"2020-10-09T21:24:00.000+0000","sampleCount":2.0,"value":21.5}]}"#
    );
    r.unit = Some("Milliseconds".into());
    let o = evaluate(&r, &[], NOW, StateValue::Ok).unwrap();
    assert_eq!(
        o.reason_data.unwrap(),
        r#"{"version":"1.0","queryDate":"2020-10-09T21:24:30.000+0000","startDate":"2020-10-09T21:22:00.000+0000","statistic":"Average","unit":"Milliseconds","period":60,"recentDatapoints":[],"threshold":80.0,"evaluatedDatapoints":[{"timestamp":"2020-10-09T21:24:00.000+0000"}]}"#
    );
}

#[test]
fn percentiles_and_low_sample_counts() {
    let current = NOW.div_euclid(MINUTE) * MINUTE;
    let mut r = rule(1, None, Op::GreaterThan, 500.0, Missing::Missing);
    r.stat = Stat::parse_percentile("p99").unwrap();
    r.stat_name = "p99".into();
    r.extended = true;
    // 100 samples: 98 fast, 2 slow; p99 is slow, p50 fast.
    let mut values = vec![10.0; 98];
    values.extend([1000.0, 1000.0]);
    let p = Point { timestamp_ms: current, aggregate: agg(&values) };
    let o = evaluate(&r, std::slice::from_ref(&p), NOW, StateValue::Ok).unwrap();
    assert_eq!(o.state, StateValue::Alarm);
    assert!(o.reason_data.unwrap().contains(r#""extendedStatistic":"p99""#));
    let mut p50 = r.clone();
    p50.stat = Stat::parse_percentile("p50").unwrap();
    assert_eq!(evaluate(&p50, std::slice::from_ref(&p), NOW, StateValue::Alarm).unwrap().state, StateValue::Ok);
    // p99 needs 10 / (1 - 0.99) = 1000 samples under `ignore`: 100 keep the state.
    r.low_sample_ignore = true;
    assert_eq!(evaluate(&r, std::slice::from_ref(&p), NOW, StateValue::Ok), None);
    let many = Point { timestamp_ms: current, aggregate: agg(&[1000.0; 1000]) };
    assert_eq!(evaluate(&r, &[many], NOW, StateValue::Ok).unwrap().state, StateValue::Alarm);
    // p50 needs 20.
    p50.low_sample_ignore = true;
    assert_eq!(evaluate(&p50, std::slice::from_ref(&p), NOW, StateValue::Alarm).unwrap().state, StateValue::Ok);
    assert!(Stat::parse_percentile("p99.9").is_some());
    for bad in ["p", "p101", "p9.999", "tm99", "IQM", "p-1"] {
        assert_eq!(Stat::parse_percentile(bad), None, "{bad}");
    }
}

#[test]
fn points_outside_the_range_are_ignored_and_java_doubles() {
    let r = rule(1, None, Op::GreaterThan, 5.0, Missing::Missing);
    let current = NOW.div_euclid(MINUTE) * MINUTE;
    let old = Point { timestamp_ms: current - 10 * MINUTE, aggregate: agg(&[10.0]) };
    assert_eq!(evaluate(&r, &[old], NOW, StateValue::Ok).unwrap().state, StateValue::InsufficientData);
    assert_eq!(java_double(30.0), "30.0");
    assert_eq!(java_double(21.5), "21.5");
    assert_eq!(java_double(0.0), "0.0");
    assert_eq!(java_double(-3.0), "-3.0");
    assert_eq!(java_double(1e7), "1.0E7");
    assert_eq!(java_double(1.5e-4), "1.5E-4");
}

fn put(name: &str) -> PutAlarm {
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
        ..PutAlarm::default()
    }
}

fn refused(input: PutAlarm) -> (String, String) {
    let e = validate::put_alarm(&input).unwrap_err();
    (e.code.to_owned(), e.message.unwrap_or_default())
}

#[test]
fn put_metric_alarm_validation() {
    assert!(validate::put_alarm(&put("a")).is_ok());
    let long = "a".repeat(256);
    let (code, msg) = refused(PutAlarm { alarm_name: Some(long.clone()), ..put("a") });
    assert_eq!(code, "ValidationError");
    assert_eq!(
        msg,
        format!(
            "1 validation error detected: Value '{long}' at 'alarmName' failed to satisfy constraint: Member must have length less than or equal to 255"
        )
    );
    let (code, msg) = refused(PutAlarm { comparison_operator: Some("Bigger".into()), ..put("a") });
    assert_eq!(code, "ValidationError");
    assert!(msg.contains(
        "Value 'Bigger' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: ["
    ));
    let (code, msg) = refused(PutAlarm { comparison_operator: Some("GreaterThanUpperThreshold".into()), ..put("a") });
    assert_eq!((code.as_str(), msg.contains("anomaly detection")), ("InvalidParameterValue", true));
    let (code, _) = refused(PutAlarm { extended_statistic: Some("p99".into()), ..put("a") });
    assert_eq!(code, "InvalidParameterCombination");
    let (code, _) = refused(PutAlarm { statistic: None, ..put("a") });
    assert_eq!(code, "MissingParameter");
    let (code, msg) = refused(PutAlarm { statistic: None, extended_statistic: Some("tm90".into()), ..put("a") });
    assert_eq!((code.as_str(), msg.contains("tm90")), ("InvalidParameterValue", true));
    for bad in [15, 45, 90] {
        let (code, _) = refused(PutAlarm { period: Some(bad), ..put("a") });
        assert_eq!(code, "InvalidParameterValue", "period {bad}");
    }
    for ok in [10, 20, 30, 60, 120, 3600] {
        assert!(validate::put_alarm(&PutAlarm { period: Some(ok), ..put("a") }).is_ok(), "period {ok}");
    }
    // A day at most for periods under an hour, 7 days beyond.
    let (code, msg) = refused(PutAlarm { period: Some(60), evaluation_periods: Some(1441), ..put("a") });
    assert_eq!(code, "InvalidParameterCombination");
    assert!(msg.contains("86400"));
    assert!(validate::put_alarm(&PutAlarm { period: Some(3600), evaluation_periods: Some(168), ..put("a") }).is_ok());
    let (_, msg) = refused(PutAlarm { period: Some(3600), evaluation_periods: Some(169), ..put("a") });
    assert!(msg.contains("604800"));
    let (code, _) = refused(PutAlarm { evaluation_periods: Some(2), datapoints_to_alarm: Some(3), ..put("a") });
    assert_eq!(code, "InvalidParameterCombination");
    let (code, _) = refused(PutAlarm { treat_missing_data: Some("sometimes".into()), ..put("a") });
    assert_eq!(code, "InvalidParameterValue");
    let (code, _) = refused(PutAlarm { evaluate_low_sample_count_percentile: Some("maybe".into()), ..put("a") });
    assert_eq!(code, "InvalidParameterValue");
    let (code, msg) = refused(PutAlarm { has_metrics: true, ..put("a") });
    assert_eq!((code.as_str(), msg.contains("metric math")), ("InvalidParameterValue", true));
    // Actions: at most 5; Lambda ARNs (qualified too) and other kinds are taken; junk is not.
    let six = vec!["arn:aws:sns:us-east-1:123456789012:t".to_owned(); 6];
    let (code, msg) = refused(PutAlarm { alarm_actions: six, ..put("a") });
    assert_eq!(code, "ValidationError");
    assert!(
        msg.contains("at 'alarmActions' failed to satisfy constraint: Member must have length less than or equal to 5")
    );
    let actions = vec![
        "arn:aws:lambda:us-east-1:123456789012:function:f".to_owned(),
        "arn:aws:lambda:us-east-1:123456789012:function:f:prod".to_owned(),
        "arn:aws:lambda:us-east-1:123456789012:function:f:3".to_owned(),
        "arn:aws:sns:us-east-1:123456789012:topic".to_owned(),
        "arn:aws:automate:us-east-1:ec2:stop".to_owned(),
    ];
    assert!(validate::put_alarm(&PutAlarm { alarm_actions: actions, ..put("a") }).is_ok());
    for bad in ["nope", "arn:aws:lambda:us-east-1:123456789012:layer:l", "arn:aws:s3:::bucket"] {
        let (code, msg) = refused(PutAlarm { ok_actions: vec![bad.into()], ..put("a") });
        assert_eq!((code.as_str(), msg), ("InvalidParameterValue", format!("Invalid arn syntax: {bad}")));
    }
}

fn open(dir: &std::path::Path) -> Store {
    Store::new(Arc::new(SqliteBackend::open(&SqliteOptions { path: dir.join("versa.db") }).unwrap()))
}

/// Records what the engine asked to invoke (the server's real implementation is tested in
/// the server's suite).
#[derive(Default)]
struct Recorded(Mutex<Vec<(String, serde_json::Value)>>);

impl Actions for Recorded {
    fn invoke_lambda<'a>(
        &'a self,
        _account: &'a str,
        _region: &'a str,
        function_arn: &'a str,
        event: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), String>> {
        self.0.lock().unwrap().push((function_arn.to_owned(), serde_json::from_slice(&event).unwrap()));
        Box::pin(async { Ok(()) })
    }
}

fn errors(recorder: &Recorder, at: i64, outcome: Run) {
    recorder.invocation(&Invocation {
        account: ACCOUNT,
        region: REGION,
        function: "fn",
        qualifier: Some("prod"),
        executed_version: "2",
        start_ms: at,
        duration_ms: 5.0,
        outcome,
        concurrent: 1,
        provisioned: None,
    });
}

async fn describe(alarms: &Alarms, name: &str) -> Alarm {
    let q = DescribeQuery { alarm_names: vec![name.into()], ..DescribeQuery::default() };
    alarms.describe_alarms(ACCOUNT, REGION, q).await.unwrap().items.remove(0)
}

async fn history(alarms: &Alarms, name: &str, kind: Option<&str>) -> Vec<HistoryItem> {
    let q = HistoryQuery {
        alarm_name: Some(name.into()),
        history_item_type: kind.map(str::to_owned),
        ..HistoryQuery::default()
    };
    alarms.describe_alarm_history(ACCOUNT, REGION, q).await.unwrap().items
}

#[tokio::test]
async fn errors_alarm_goes_alarm_durably_and_runs_its_lambda_action() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let recorder = Recorder::new(store.clone());
    let alarms = Alarms::new(store.clone(), recorder.clone());
    let actions = Arc::new(Recorded::default());
    let _ = alarms.inner.actions.set(actions.clone());
    let mut changes = alarms.subscribe();
    let target = "arn:aws:lambda:us-east-1:123456789012:function:rollback:live";
    let input =
        PutAlarm { alarm_actions: vec![target.into()], alarm_description: Some("errors".into()), ..put("errs") };
    alarms.put_metric_alarm(ACCOUNT, REGION, input).await.unwrap();
    let a = describe(&alarms, "errs").await;
    assert_eq!(
        (a.state_value.as_str(), a.state_reason.as_str()),
        ("INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
    );
    assert_eq!(a.state_reason_data, None);
    assert_eq!(a.alarm_arn, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:errs");

    let now = stdx::time::now_ms();
    // No data, notBreaching: OK.
    alarms.round(now).await.unwrap();
    assert_eq!(describe(&alarms, "errs").await.state_value, "OK");
    assert_eq!(changes.recv().await.unwrap().new_state, "OK");
    // An error recorded (not flushed): ALARM at the next round.
    errors(&recorder, now, Run::Success);
    errors(&recorder, now, Run::FunctionError);
    alarms.round(now + 1).await.unwrap();
    let a = describe(&alarms, "errs").await;
    assert_eq!(a.state_value, "ALARM");
    assert!(a.state_reason.starts_with("Threshold Crossed: 1 datapoint [1.0 ("), "{}", a.state_reason);
    assert!(a.state_reason.ends_with(")] was greater than or equal to the threshold (1.0)."), "{}", a.state_reason);
    let change = changes.recv().await.unwrap();
    assert_eq!((change.old_state.as_str(), change.new_state.as_str()), ("OK", "ALARM"));
    let updates = history(&alarms, "errs", Some("StateUpdate")).await;
    assert_eq!(updates[0].history_summary, "Alarm updated from OK to ALARM");
    assert_eq!(updates[1].history_summary, "Alarm updated from INSUFFICIENT_DATA to OK");
    let data: serde_json::Value = serde_json::from_str(&updates[0].history_data).unwrap();
    assert_eq!(data["version"], "1.0");
    assert_eq!(data["oldState"]["stateValue"], "OK");
    assert_eq!(data["newState"]["stateValue"], "ALARM");
    assert_eq!(data["newState"]["stateReasonData"]["evaluatedDatapoints"][0]["value"], 1.0);
    // The action ran with AWS's Lambda alarm event, and left an Action item.
    let calls = actions.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let (arn, event) = &calls[0];
    assert_eq!(arn, target);
    assert_eq!(event["source"], "aws.cloudwatch");
    assert_eq!(event["alarmArn"], "arn:aws:cloudwatch:us-east-1:123456789012:alarm:errs");
    assert_eq!(event["accountId"], ACCOUNT);
    assert_eq!(event["region"], REGION);
    assert_eq!(event["alarmData"]["alarmName"], "errs");
    assert_eq!(event["alarmData"]["state"]["value"], "ALARM");
    assert_eq!(event["alarmData"]["previousState"]["value"], "OK");
    assert_eq!(event["alarmData"]["configuration"]["description"], "errors");
    let metric = &event["alarmData"]["configuration"]["metrics"][0];
    assert_eq!(metric["metricStat"]["metric"]["name"], "Errors");
    assert_eq!(metric["metricStat"]["metric"]["dimensions"]["Resource"], "fn:prod");
    assert_eq!(metric["metricStat"]["stat"], "Sum");
    assert_eq!(metric["metricStat"]["period"], 60);
    assert_eq!(metric["returnData"], true);
    let acted = history(&alarms, "errs", Some("Action")).await;
    assert_eq!(acted[0].history_summary, format!("Successfully executed action {target}"));

    // Once the failing minute has left the evaluation range (N + 2 periods), notBreaching: OK.
    alarms.round(now + 2 * MINUTE).await.unwrap();
    assert_eq!(describe(&alarms, "errs").await.state_value, "ALARM");
    alarms.round(now + 3 * MINUTE).await.unwrap();
    let a = describe(&alarms, "errs").await;
    assert_eq!(a.state_value, "OK");
    assert!(
        a.state_reason.starts_with("Threshold Crossed: no datapoints were received for 1 period"),
        "{}",
        a.state_reason
    );
    assert_eq!(changes.recv().await.unwrap().new_state, "OK");
    alarms.round(now + 1).await.unwrap();
    assert_eq!(changes.recv().await.unwrap().new_state, "ALARM");

    // SetAlarmState is temporary: the next evaluation recomputes the state.
    alarms.set_alarm_state(ACCOUNT, REGION, "errs".into(), "OK".into(), "testing".into(), None).await.unwrap();
    let a = describe(&alarms, "errs").await;
    assert_eq!((a.state_value.as_str(), a.state_reason.as_str()), ("OK", "testing"));
    alarms.round(now + 2).await.unwrap();
    assert_eq!(describe(&alarms, "errs").await.state_value, "ALARM");
    let e = alarms.set_alarm_state(ACCOUNT, REGION, "nope".into(), "OK".into(), "r".into(), None).await.unwrap_err();
    assert_eq!(e, AlarmError { code: "ResourceNotFound", message: None });
    let e =
        alarms.set_alarm_state(ACCOUNT, REGION, "errs".into(), "INVALID".into(), "r".into(), None).await.unwrap_err();
    assert_eq!(
        e.message.unwrap(),
        "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
    );
    let e = alarms
        .set_alarm_state(ACCOUNT, REGION, "errs".into(), "OK".into(), "r".into(), Some("{nope".into()))
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidFormat");

    // An update keeps the state and leaves a ConfigurationUpdate item; tags on the ARN.
    let arn = alarm_arn(ACCOUNT, REGION, "errs");
    alarms.tag_resource(ACCOUNT, REGION, &arn, vec![("team".into(), "a".into())]).await.unwrap();
    alarms.put_metric_alarm(ACCOUNT, REGION, PutAlarm { threshold: Some(2.0), ..put("errs") }).await.unwrap();
    let a = describe(&alarms, "errs").await;
    assert_eq!((a.state_value.as_str(), a.threshold), ("ALARM", 2.0));
    let config = history(&alarms, "errs", Some("ConfigurationUpdate")).await;
    assert_eq!(config[0].history_summary, "Alarm \"errs\" updated");
    assert_eq!(config[1].history_summary, "Alarm \"errs\" created");
    let e = alarms.list_tags_for_resource(ACCOUNT, REGION, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:x").await;
    assert_eq!(e.unwrap_err().code, "ResourceNotFoundException");
    drop(alarms);
    drop(recorder);
    drop(store);

    // Reopened: state, reason and history survived; the alarm is overdue and evaluates first.
    let store = open(dir.path());
    let alarms = Alarms::new(store.clone(), Recorder::new(store.clone()));
    let a = describe(&alarms, "errs").await;
    assert_eq!(a.state_value, "ALARM");
    assert_eq!(history(&alarms, "errs", Some("StateUpdate")).await.len(), updates.len() + 4);
    assert_eq!(
        alarms.list_tags_for_resource(ACCOUNT, REGION, &arn).await.unwrap(),
        vec![("team".to_owned(), "a".to_owned())]
    );
    // Deleted: gone from DescribeAlarms, history kept.
    alarms.delete_alarms(ACCOUNT, REGION, vec!["errs".into(), "unknown".into()]).await.unwrap();
    let page = alarms.describe_alarms(ACCOUNT, REGION, DescribeQuery::default()).await.unwrap();
    assert!(page.items.is_empty());
    let all = history(&alarms, "errs", None).await;
    // (Rounds above ran at simulated later times, so the deletion is not the newest item.)
    assert!(all.iter().any(|i| i.history_summary == "Alarm \"errs\" deleted"), "{all:?}");
}

#[tokio::test]
async fn ignore_without_data_keeps_a_set_state_and_describe_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let alarms = Alarms::new(store.clone(), Recorder::new(store));
    for name in ["a", "b", "c"] {
        let input = PutAlarm { treat_missing_data: Some("ignore".into()), ..put(name) };
        alarms.put_metric_alarm(ACCOUNT, REGION, input).await.unwrap();
    }
    alarms
        .set_alarm_state(ACCOUNT, REGION, "b".into(), "ALARM".into(), "test".into(), Some("{}".into()))
        .await
        .unwrap();
    alarms.round(stdx::time::now_ms()).await.unwrap();
    let b = describe(&alarms, "b").await;
    assert_eq!((b.state_value.as_str(), b.state_reason_data.as_deref()), ("ALARM", Some("{}")));
    assert_eq!(describe(&alarms, "a").await.state_value, "INSUFFICIENT_DATA");
    // Paging, and the StateValue filter.
    let q = DescribeQuery { max_records: Some(2), ..DescribeQuery::default() };
    let p1 = alarms.describe_alarms(ACCOUNT, REGION, q.clone()).await.unwrap();
    assert_eq!(p1.items.iter().map(|a| a.alarm_name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let p2 = alarms.describe_alarms(ACCOUNT, REGION, DescribeQuery { next_token: p1.next_token, ..q }).await.unwrap();
    assert_eq!((p2.items.len(), p2.next_token), (1, None));
    let q = DescribeQuery { state_value: Some("ALARM".into()), ..DescribeQuery::default() };
    let only = alarms.describe_alarms(ACCOUNT, REGION, q).await.unwrap();
    assert_eq!(only.items.iter().map(|a| a.alarm_name.as_str()).collect::<Vec<_>>(), ["b"]);
    let q = DescribeQuery { next_token: Some("junk".into()), ..DescribeQuery::default() };
    assert_eq!(alarms.describe_alarms(ACCOUNT, REGION, q).await.unwrap_err().code, "InvalidNextToken");
    let q = ForMetricQuery {
        metric_name: Some("Errors".into()),
        namespace: Some("AWS/Lambda".into()),
        dimensions: vec![("Resource".into(), "fn:prod".into()), ("FunctionName".into(), "fn".into())],
        ..ForMetricQuery::default()
    };
    assert_eq!(alarms.describe_alarms_for_metric(ACCOUNT, REGION, q).await.unwrap().len(), 3);
}

#[tokio::test]
async fn due_times_are_durable_and_overdue_alarms_come_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let alarms = Alarms::new(store.clone(), Recorder::new(store.clone()));
    alarms.put_metric_alarm(ACCOUNT, REGION, put("minute")).await.unwrap();
    alarms.put_metric_alarm(ACCOUNT, REGION, PutAlarm { period: Some(10), ..put("fast") }).await.unwrap();
    let now = stdx::time::now_ms() + 5;
    alarms.round(now).await.unwrap();
    let due = |name: &'static str| {
        let store = store.clone();
        async move { store.read(move |tx| tx.alarm(ACCOUNT, REGION, name)).await.unwrap().unwrap().next_eval_ms }
    };
    assert_eq!(due("minute").await, now + 60_000);
    assert_eq!(due("fast").await, now + 10_000);
    // A round before the due time evaluates but leaves the due time.
    alarms.round(now + 1_000).await.unwrap();
    assert_eq!(due("minute").await, now + 60_000);
    // After a restart, the soonest due (most overdue) alarm is listed first.
    let first = store.read(|tx| tx.alarms_due(i64::MAX, 1)).await.unwrap();
    assert_eq!(first[0].name, "fast");
}

/// A 10-second alarm on 1-second points evaluates 10-second datapoints: a breach and, one
/// period later in the same minute, a calm value turn it ALARM then OK (on minutes, the
/// minute's Maximum would keep it ALARM).
#[tokio::test]
async fn ten_second_alarms_evaluate_ten_second_datapoints() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let recorder = Recorder::new(store.clone());
    let alarms = Alarms::new(store.clone(), recorder.clone());
    let input = PutAlarm {
        namespace: Some("App".into()),
        metric_name: Some("Latency".into()),
        dimensions: Vec::new(),
        statistic: Some("Maximum".into()),
        period: Some(10),
        threshold: Some(50.0),
        comparison_operator: Some("GreaterThanThreshold".into()),
        treat_missing_data: Some("missing".into()),
        ..put("fast")
    };
    alarms.put_metric_alarm(ACCOUNT, REGION, input).await.unwrap();
    let series = MetricSeries {
        account: ACCOUNT.into(),
        region: REGION.into(),
        namespace: "App".into(),
        metric: "Latency".into(),
        dims: metrics::Dims::new(Vec::new()).encode(),
    };
    let base = metrics::minute_of(stdx::time::now_ms()) - 5 * MINUTE;
    recorder.record_high_resolution(&series, base + 15_000, 100.0);
    alarms.round(base + 15_500).await.unwrap();
    let a = describe(&alarms, "fast").await;
    assert_eq!(a.state_value, "ALARM", "{}", a.state_reason);
    let data: serde_json::Value = serde_json::from_str(a.state_reason_data.as_deref().unwrap()).unwrap();
    assert_eq!(data["period"], 10);
    assert_eq!(data["evaluatedDatapoints"][0]["value"], 100.0);
    // The next 10 s of the same minute: its own datapoint decides.
    recorder.record_high_resolution(&series, base + 25_000, 1.0);
    alarms.round(base + 25_500).await.unwrap();
    let a = describe(&alarms, "fast").await;
    assert_eq!(a.state_value, "OK", "{}", a.state_reason);
    assert!(a.state_reason.starts_with("Threshold Crossed: 1 datapoint [1.0 ("), "{}", a.state_reason);
    // Two periods later the point is still in the range (N + 2 = 3 periods); three, it is not.
    alarms.round(base + 45_500).await.unwrap();
    assert_eq!(describe(&alarms, "fast").await.state_value, "OK");
    alarms.round(base + 55_500).await.unwrap();
    assert_eq!(describe(&alarms, "fast").await.state_value, "INSUFFICIENT_DATA");
    // A value put at standard resolution counts at its minute's start only (AWS: such an alarm
    // "might often lapse into INSUFFICIENT_DATA").
    recorder.record(&series, base + 2 * MINUTE + 35_000, 100.0);
    alarms.round(base + 2 * MINUTE + 35_500).await.unwrap();
    assert_eq!(describe(&alarms, "fast").await.state_value, "INSUFFICIENT_DATA");
    alarms.round(base + 2 * MINUTE + 5_000).await.unwrap();
    assert_eq!(describe(&alarms, "fast").await.state_value, "ALARM");
}

mod properties {
    use propkit::proptest;
    use propkit::proptest::prelude::*;

    use super::*;

    /// A rule and the datapoints of its range (some slots empty, some points outside).
    fn case() -> impl Strategy<Value = (Rule, Vec<Point>, usize)> {
        (1usize..6, 0usize..6, 0usize..4, -5.0f64..5.0, 0usize..4).prop_flat_map(|(n, m, op, threshold, missing)| {
            let ops = [Op::GreaterThanOrEqual, Op::GreaterThan, Op::LessThan, Op::LessThanOrEqual];
            let modes = [Missing::Missing, Missing::Ignore, Missing::Breaching, Missing::NotBreaching];
            let m = (m % n) + 1;
            let r = rule(n, Some(m), ops[op], threshold.round(), modes[missing]);
            let slots = proptest::collection::vec(proptest::option::of(-10.0f64..10.0), n + 4);
            (Just(r), slots).prop_map(|(r, slots)| {
                let current = NOW.div_euclid(MINUTE) * MINUTE;
                let len = slots.len();
                let points: Vec<Point> = slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        v.map(|v| Point { timestamp_ms: current - (len - 1 - i) as i64 * MINUTE, aggregate: agg(&[v]) })
                    })
                    .collect();
                let in_range = slots[len - r.range_len()..].iter().filter(|v| v.is_some()).count();
                (r, points, in_range)
            })
        })
    }

    #[test]
    fn evaluation_is_total_and_missing_data_plays_no_part_with_enough_points() {
        proptest!(propkit::config(512), |((r, points, in_range) in case())| {
            let mut outcomes = Vec::new();
            for mode in [Missing::Missing, Missing::Ignore, Missing::Breaching, Missing::NotBreaching] {
                let r = Rule { missing: mode, ..r.clone() };
                let o = evaluate(&r, &points, NOW, StateValue::Ok);
                if let Some(o) = &o {
                    prop_assert!(o.reason.ends_with('.'), "{}", o.reason);
                    let data: serde_json::Value = serde_json::from_str(o.reason_data.as_deref().unwrap()).unwrap();
                    prop_assert_eq!(data["version"].as_str(), Some("1.0"));
                }
                outcomes.push(o.map(|o| o.state));
            }
            if in_range >= r.evaluation_periods {
                prop_assert!(outcomes.iter().all(|o| o.is_some() && *o == outcomes[0]), "{:?}", outcomes);
            }
            // Breaching fills alarm at least as readily as notBreaching ones.
            if outcomes[3] == Some(StateValue::Alarm) {
                prop_assert_eq!(outcomes[2], Some(StateValue::Alarm));
            }
        });
    }
}

/// This node's view of the evaluator's lease, as `crates/cluster` would give it: it believes
/// it leads, with the fence it took.
struct Believes(stdx::duty::Fence);

impl stdx::duty::Duties for Believes {
    fn leads(&self, _task: &str) -> bool {
        true
    }

    fn owns(&self, _key: &str) -> bool {
        true
    }

    fn fence(&self, _task: &str) -> Option<stdx::duty::Fence> {
        Some(self.0.clone())
    }
}

/// Fencing: an evaluator whose lease was taken over (it paused past its end) still believes it
/// leads; its round changes nothing (no transition, no history), while the current holder's
/// round applies.
#[tokio::test]
async fn a_stale_evaluator_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let lease = stdx::duty::task::ALARMS;
    assert_eq!(store.write(move |tx| tx.acquire_lease(lease, "x", 1)).await.unwrap(), Some(1));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(store.write(move |tx| tx.acquire_lease(lease, "y", 60_000)).await.unwrap(), Some(2));

    let stale = Alarms::new(store.clone(), Recorder::new(store.clone()));
    stale.set_duties(Arc::new(Believes(stdx::duty::Fence { holder: "x".into(), epoch: 1 })));
    stale.put_metric_alarm(ACCOUNT, REGION, put("fenced")).await.unwrap();
    stale.round(stdx::time::now_ms()).await.unwrap();
    let a = describe(&stale, "fenced").await;
    assert_eq!(a.state_value, "INSUFFICIENT_DATA", "the stale holder moved the alarm");
    let updates = history(&stale, "fenced", Some("StateUpdate")).await;
    assert!(updates.is_empty(), "the stale holder wrote history: {updates:?}");

    let holder = Alarms::new(store.clone(), Recorder::new(store.clone()));
    holder.set_duties(Arc::new(Believes(stdx::duty::Fence { holder: "y".into(), epoch: 2 })));
    holder.round(stdx::time::now_ms()).await.unwrap();
    assert_eq!(describe(&holder, "fenced").await.state_value, "OK", "the current holder evaluates");
}
