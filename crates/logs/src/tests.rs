//! The log store through its public surface: `append`/`flush` and `handle` with JSON requests,
//! on a real SQLite file in a temporary directory.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{EVENT_BYTES_MAX, EVENT_OVERHEAD_BYTES, LogLimits, Logs, Options, Response};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const GROUP: &str = "/aws/lambda/f";
/// A fixed, realistic epoch-milliseconds base for event timestamps.
const T0: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn open() -> (TempDir, Logs) {
    open_with(LogLimits::default(), Options::default())
}

fn open_with(limits: LogLimits, options: Options) -> (TempDir, Logs) {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::open_with(&dir.path().join("logs.db"), limits, options).unwrap();
    (dir, logs)
}

/// A clock the test moves by hand; the writer sweeps retention after every batch.
fn manual_clock(start_ms: i64) -> (Arc<AtomicI64>, Options) {
    let now = Arc::new(AtomicI64::new(start_ms));
    let read = now.clone();
    let options = Options {
        clock: Arc::new(move || read.load(Ordering::SeqCst)),
        sweep_interval: Duration::ZERO,
        ..Options::default()
    };
    (now, options)
}

fn lines(start_ms: i64, n: usize, prefix: &str) -> Vec<(i64, String)> {
    (0..n).map(|i| (start_ms + i as i64, format!("{prefix} {i}"))).collect()
}

async fn call_in(logs: &Logs, account: &str, region: &str, op: &str, body: Value) -> Response {
    logs.handle(account, region, &format!("Logs_20140328.{op}"), body.to_string().as_bytes()).await
}

#[track_caller]
fn parse(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap()
}

async fn ok(logs: &Logs, op: &str, body: Value) -> Value {
    let response = call_in(logs, ACCOUNT, REGION, op, body).await;
    let value = parse(&response);
    assert_eq!(response.status, 200, "{op}: {value}");
    assert_eq!(response.error_type, None);
    value
}

/// The error type and message of a failing call, after checking the JSON 1.1 shape.
async fn fails(logs: &Logs, op: &str, body: Value) -> (String, String) {
    let response = call_in(logs, ACCOUNT, REGION, op, body).await;
    error_of(&response)
}

#[track_caller]
fn error_of(response: &Response) -> (String, String) {
    let value = parse(response);
    assert_eq!(response.status, 400, "{value}");
    let code = value["__type"].as_str().unwrap().to_owned();
    assert_eq!(response.error_type.as_deref(), Some(code.as_str()));
    (code, value["message"].as_str().unwrap().to_owned())
}

fn messages(events: &Value) -> Vec<String> {
    events.as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_owned()).collect()
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix} {i}")).collect()
}

/// Every event FilterLogEvents returns for `request`, following nextToken to the end.
async fn filter_all(logs: &Logs, mut request: Value) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let page = ok(logs, "FilterLogEvents", request.clone()).await;
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["nextToken"].as_str() {
            Some(token) => request["nextToken"] = json!(token),
            None => return events,
        }
    }
}

#[tokio::test]
async fn appended_events_are_described() {
    let (_dir, logs) = open();
    logs.append(ACCOUNT, REGION, GROUP, "2024/01/01/[$LATEST]a", vec![(T0, "START".into()), (T0 + 5, "END".into())]);
    logs.append(ACCOUNT, REGION, GROUP, "2024/01/01/[$LATEST]a", vec![(T0 + 9, "REPORT".into())]);
    logs.flush().await.unwrap();

    let groups = ok(&logs, "DescribeLogGroups", json!({})).await;
    let group = &groups["logGroups"][0];
    assert_eq!(groups["logGroups"].as_array().unwrap().len(), 1);
    assert_eq!(group["logGroupName"], GROUP);
    assert_eq!(group["arn"], "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*");
    assert_eq!(group["logGroupArn"], "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f");
    assert_eq!(group["metricFilterCount"], 0);
    assert_eq!(group["storedBytes"], json!("STARTENDREPORT".len() + 3 * EVENT_OVERHEAD_BYTES));
    assert!(group["creationTime"].as_i64().unwrap() > T0);
    assert!(group.get("retentionInDays").is_none());
    assert!(groups.get("nextToken").is_none());

    let streams = ok(&logs, "DescribeLogStreams", json!({"logGroupName": GROUP})).await;
    let stream = &streams["logStreams"][0];
    assert_eq!(stream["logStreamName"], "2024/01/01/[$LATEST]a");
    assert_eq!(stream["firstEventTimestamp"], T0);
    assert_eq!(stream["lastEventTimestamp"], T0 + 9);
    assert!(stream["lastIngestionTime"].as_i64().unwrap() >= group["creationTime"].as_i64().unwrap());
    assert_eq!(stream["uploadSequenceToken"], format!("{:056}", 2));
    assert_eq!(
        stream["arn"],
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:2024/01/01/[$LATEST]a"
    );
    assert_eq!(stream["storedBytes"], 0);
    assert_eq!(logs.dropped(), 0);
}

#[tokio::test]
async fn get_log_events_pages_backward_from_the_newest_and_forward_to_the_end() {
    let (_dir, logs) = open();
    logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0, 25, "line"));
    logs.flush().await.unwrap();
    let request = json!({"logGroupName": GROUP, "logStreamName": "s", "limit": 10});

    // Without a token: the newest events, oldest first.
    let page = ok(&logs, "GetLogEvents", request.clone()).await;
    assert_eq!(messages(&page["events"]), numbered("line", 15..25));
    assert_eq!(page["events"][0]["timestamp"], T0 + 15);
    assert!(page["events"][0]["ingestionTime"].as_i64().is_some());
    let newest_forward = page["nextForwardToken"].as_str().unwrap().to_owned();
    assert!(newest_forward.starts_with("f/") && newest_forward.len() == 58, "{newest_forward}");

    // Backward pages until the token comes back unchanged.
    let mut back = page["nextBackwardToken"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    loop {
        let mut req = request.clone();
        req["nextToken"] = json!(back);
        let page = ok(&logs, "GetLogEvents", req).await;
        let next = page["nextBackwardToken"].as_str().unwrap().to_owned();
        if next == back {
            assert_eq!(page["events"], json!([]));
            break;
        }
        let mut batch = messages(&page["events"]);
        batch.extend(seen);
        seen = batch;
        back = next;
    }
    assert_eq!(seen, numbered("line", 0..15));

    // Forward from the newest page: the end returns the same token and no events.
    let mut req = request.clone();
    req["nextToken"] = json!(newest_forward);
    let end = ok(&logs, "GetLogEvents", req.clone()).await;
    assert_eq!(end["events"], json!([]));
    assert_eq!(end["nextForwardToken"], json!(newest_forward));

    // New events show up behind the same forward token.
    logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0 + 100, 3, "more"));
    logs.flush().await.unwrap();
    let fresh = ok(&logs, "GetLogEvents", req).await;
    assert_eq!(messages(&fresh["events"]), numbered("more", 0..3));
    assert_ne!(fresh["nextForwardToken"], json!(newest_forward));
}

#[tokio::test]
async fn get_log_events_from_head_pages_forward() {
    let (_dir, logs) = open();
    logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0, 23, "line"));
    logs.flush().await.unwrap();
    let mut request = json!({"logGroupName": GROUP, "logStreamName": "s", "limit": 10, "startFromHead": true});
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = ok(&logs, "GetLogEvents", request.clone()).await;
        pages += 1;
        let token = page["nextForwardToken"].clone();
        if request.get("nextToken") == Some(&token) {
            assert_eq!(page["events"], json!([]));
            break;
        }
        seen.extend(messages(&page["events"]));
        request["nextToken"] = token;
    }
    assert_eq!(seen, numbered("line", 0..23));
    assert_eq!(pages, 4);

    // An empty stream still answers both tokens, and its forward token later finds new events.
    logs.append(ACCOUNT, REGION, GROUP, "empty", Vec::new());
    logs.flush().await.unwrap();
    let empty = ok(&logs, "GetLogEvents", json!({"logGroupName": GROUP, "logStreamName": "empty"})).await;
    assert_eq!(empty["events"], json!([]));
    assert!(empty["nextBackwardToken"].as_str().unwrap().starts_with("b/"));
    logs.append(ACCOUNT, REGION, GROUP, "empty", lines(T0, 2, "late"));
    logs.flush().await.unwrap();
    let later = ok(
        &logs,
        "GetLogEvents",
        json!({"logGroupName": GROUP, "logStreamName": "empty", "nextToken": empty["nextForwardToken"]}),
    )
    .await;
    assert_eq!(messages(&later["events"]), numbered("late", 0..2));
}

#[tokio::test]
async fn get_log_events_time_window_is_start_inclusive_end_exclusive() {
    let (_dir, logs) = open();
    logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0, 10, "line"));
    logs.flush().await.unwrap();
    let page = ok(
        &logs,
        "GetLogEvents",
        json!({"logGroupName": GROUP, "logStreamName": "s", "startTime": T0 + 2, "endTime": T0 + 5, "startFromHead": true}),
    )
    .await;
    assert_eq!(messages(&page["events"]), numbered("line", 2..5));
}

#[tokio::test]
async fn get_log_events_caps_a_page_at_one_megabyte() {
    let (_dir, logs) = open();
    let big = "x".repeat(200 * 1024);
    logs.append(ACCOUNT, REGION, GROUP, "s", (0..8).map(|i| (T0 + i, big.clone())).collect());
    logs.flush().await.unwrap();
    let request = json!({"logGroupName": GROUP, "logStreamName": "s", "startFromHead": true});
    let page = ok(&logs, "GetLogEvents", request.clone()).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 5);
    let mut next = request;
    next["nextToken"] = page["nextForwardToken"].clone();
    let rest = ok(&logs, "GetLogEvents", next).await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 3);
    assert_eq!(rest["events"][0]["timestamp"], T0 + 5);
}

#[tokio::test]
async fn filter_log_events_interleaves_streams_and_pages_with_tokens() {
    let (_dir, logs) = open();
    logs.append(ACCOUNT, REGION, GROUP, "a", (0..15).map(|i| (T0 + 2 * i, format!("a {i}"))).collect());
    logs.append(ACCOUNT, REGION, GROUP, "b", (0..15).map(|i| (T0 + 2 * i + 1, format!("b {i}"))).collect());
    // Same timestamp as a's first event: ids break the tie.
    logs.append(ACCOUNT, REGION, GROUP, "b", vec![(T0, "b tie".into())]);
    logs.flush().await.unwrap();

    let first = ok(&logs, "FilterLogEvents", json!({"logGroupName": GROUP, "limit": 7})).await;
    assert_eq!(first["events"].as_array().unwrap().len(), 7);
    assert!(first["nextToken"].is_string());
    assert_eq!(first["searchedLogStreams"], json!([]));
    assert_eq!(first["events"][0]["logStreamName"], "a");
    assert_eq!(first["events"][1]["message"], "b tie");
    assert_eq!(first["events"][2]["logStreamName"], "b");

    let all = filter_all(&logs, json!({"logGroupName": GROUP, "limit": 7})).await;
    assert_eq!(all.len(), 31);
    let timestamps: Vec<i64> = all.iter().map(|e| e["timestamp"].as_i64().unwrap()).collect();
    let mut sorted = timestamps.clone();
    sorted.sort();
    assert_eq!(timestamps, sorted);
    let ids: HashSet<&str> = all.iter().map(|e| e["eventId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 31);
    for e in &all {
        let stream = e["logStreamName"].as_str().unwrap();
        assert!(e["message"].as_str().unwrap().starts_with(stream), "{e}");
        assert!(e["ingestionTime"].as_i64().is_some());
    }
}

#[tokio::test]
async fn filter_log_events_selects_streams_and_time() {
    let (_dir, logs) = open();
    logs.append(ACCOUNT, REGION, GROUP, "app/1", lines(T0, 5, "one"));
    logs.append(ACCOUNT, REGION, GROUP, "app/2", lines(T0, 5, "two"));
    logs.append(ACCOUNT, REGION, GROUP, "sys", lines(T0, 5, "sys"));
    logs.flush().await.unwrap();

    let named = filter_all(&logs, json!({"logGroupName": GROUP, "logStreamNames": ["sys", "missing"]})).await;
    assert_eq!(named.len(), 5);
    let prefixed = filter_all(&logs, json!({"logGroupName": GROUP, "logStreamNamePrefix": "app/"})).await;
    assert_eq!(prefixed.len(), 10);
    assert!(prefixed.iter().all(|e| e["logStreamName"].as_str().unwrap().starts_with("app/")));
    // startTime and endTime are both inclusive.
    let window = filter_all(&logs, json!({"logGroupName": GROUP, "startTime": T0 + 1, "endTime": T0 + 2})).await;
    assert_eq!(window.len(), 6);

    let (code, message) = fails(
        &logs,
        "FilterLogEvents",
        json!({"logGroupName": GROUP, "logStreamNames": ["sys"], "logStreamNamePrefix": "app"}),
    )
    .await;
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(message, "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.");
}

#[tokio::test]
async fn filter_patterns_and_or_not_phrase() {
    let (_dir, logs) = open();
    let events = [
        "ERROR db connection refused",
        "WARN db slow query",
        "INFO request done",
        "ERROR Task timed out after 3.00 seconds",
        "error lowercase",
    ];
    logs.append(
        ACCOUNT,
        REGION,
        GROUP,
        "s",
        events.iter().enumerate().map(|(i, m)| (T0 + i as i64, (*m).to_owned())).collect(),
    );
    logs.flush().await.unwrap();
    let matching = async |pattern: &str| -> Vec<String> {
        let all = filter_all(&logs, json!({"logGroupName": GROUP, "filterPattern": pattern})).await;
        all.iter().map(|e| e["message"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(matching("").await.len(), 5);
    assert_eq!(matching("ERROR db").await, ["ERROR db connection refused"]);
    assert_eq!(matching("\"timed out\"").await, ["ERROR Task timed out after 3.00 seconds"]);
    assert_eq!(matching("ERROR -\"timed out\"").await, ["ERROR db connection refused"]);
    assert_eq!(matching("?WARN ?INFO").await, ["WARN db slow query", "INFO request done"]);
    assert_eq!(matching("db ?ERROR ?WARN -slow").await, ["ERROR db connection refused"]);
    assert_eq!(matching("error").await, ["error lowercase"]);

    let (code, message) =
        fails(&logs, "FilterLogEvents", json!({"logGroupName": GROUP, "filterPattern": "ERROR ?"})).await;
    assert_eq!((code.as_str(), message.as_str()), ("InvalidParameterException", "Invalid character(s) in term '?'"));
    let (code, message) =
        fails(&logs, "FilterLogEvents", json!({"logGroupName": GROUP, "filterPattern": "{ $.level = \"ERROR\" }"}))
            .await;
    assert_eq!(code, "InvalidParameterException");
    assert!(message.contains("JSON filter patterns are not supported"), "{message}");
}

/// `aws logs tail --follow`: pages with nextToken, then polls with startTime set to the newest
/// timestamp seen and skips the eventIds it already printed.
#[tokio::test]
async fn tail_follow_protocol_sees_every_event_once() {
    let (_dir, logs) = open();
    logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0, 12, "first"));
    logs.flush().await.unwrap();
    let mut request = json!({"logGroupName": GROUP, "interleaved": true, "startTime": T0, "limit": 5});
    let mut printed = Vec::new();
    let mut seen_at_newest: HashSet<String> = HashSet::new();
    let mut newest = T0;
    for round in 0..2 {
        loop {
            let page = ok(&logs, "FilterLogEvents", request.clone()).await;
            for e in page["events"].as_array().unwrap() {
                let (ts, id) = (e["timestamp"].as_i64().unwrap(), e["eventId"].as_str().unwrap().to_owned());
                if ts == newest && seen_at_newest.contains(&id) {
                    continue;
                }
                if ts > newest {
                    newest = ts;
                    seen_at_newest.clear();
                }
                seen_at_newest.insert(id);
                printed.push(e["message"].as_str().unwrap().to_owned());
            }
            match page["nextToken"].as_str() {
                Some(token) => request["nextToken"] = json!(token),
                None => break,
            }
        }
        request.as_object_mut().unwrap().remove("nextToken");
        request["startTime"] = json!(newest);
        if round == 0 {
            logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0 + 11, 4, "second"));
            logs.flush().await.unwrap();
        }
    }
    let mut expected = numbered("first", 0..12);
    expected.extend(numbered("second", 0..4));
    assert_eq!(printed, expected);
}

#[tokio::test]
async fn put_retention_policy_expires_old_events_now() {
    let (_dir, logs) = open();
    let now = stdx::time::now_ms();
    logs.append(ACCOUNT, REGION, GROUP, "old", vec![(now - 10 * DAY_MS, "ancient".into())]);
    logs.append(ACCOUNT, REGION, GROUP, "new", vec![(now - 10 * DAY_MS, "ancient too".into()), (now, "fresh".into())]);
    logs.flush().await.unwrap();

    ok(&logs, "PutRetentionPolicy", json!({"logGroupName": GROUP, "retentionInDays": 7})).await;
    let all = filter_all(&logs, json!({"logGroupName": GROUP})).await;
    assert_eq!(all.iter().map(|e| e["message"].as_str().unwrap()).collect::<Vec<_>>(), ["fresh"]);
    let group = &ok(&logs, "DescribeLogGroups", json!({})).await["logGroups"][0];
    assert_eq!(group["retentionInDays"], 7);
    assert_eq!(group["storedBytes"], json!("fresh".len() + EVENT_OVERHEAD_BYTES));
    // The stream that lost all its events is gone; the other one starts at its remaining event.
    let streams = ok(&logs, "DescribeLogStreams", json!({"logGroupName": GROUP})).await;
    assert_eq!(streams["logStreams"].as_array().unwrap().len(), 1);
    assert_eq!(streams["logStreams"][0]["firstEventTimestamp"], now);

    // Events older than the retention are expired as they arrive.
    logs.append(
        ACCOUNT,
        REGION,
        GROUP,
        "new",
        vec![(now - 8 * DAY_MS, "late and old".into()), (now, "on time".into())],
    );
    logs.flush().await.unwrap();
    assert_eq!(filter_all(&logs, json!({"logGroupName": GROUP})).await.len(), 2);

    ok(&logs, "DeleteRetentionPolicy", json!({"logGroupName": GROUP})).await;
    let group = &ok(&logs, "DescribeLogGroups", json!({})).await["logGroups"][0];
    assert!(group.get("retentionInDays").is_none());

    let (code, message) =
        fails(&logs, "PutRetentionPolicy", json!({"logGroupName": GROUP, "retentionInDays": 2})).await;
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(
        message,
        "1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy constraint: Member must \
         satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, \
         2557, 2922, 3288, 3653]"
    );
}

#[tokio::test]
async fn retention_sweep_follows_the_clock() {
    let (now, options) = manual_clock(T0);
    let limits = LogLimits { default_retention_days: Some(1), ..LogLimits::default() };
    let (_dir, logs) = open_with(limits, options);
    logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0 - 1000, 3, "line"));
    logs.append(ACCOUNT, REGION, "/aws/lambda/other", "s", lines(T0, 1, "other"));
    logs.flush().await.unwrap();
    assert_eq!(ok(&logs, "DescribeLogGroups", json!({})).await["logGroups"][0]["retentionInDays"], 1);
    assert_eq!(filter_all(&logs, json!({"logGroupName": GROUP})).await.len(), 3);

    // A day and a bit later, a sweep (here: after any batch) expires both groups' events.
    now.store(T0 + DAY_MS + 1, Ordering::SeqCst);
    logs.flush().await.unwrap();
    assert_eq!(filter_all(&logs, json!({"logGroupName": GROUP})).await.len(), 0);
    assert_eq!(filter_all(&logs, json!({"logGroupName": "/aws/lambda/other"})).await.len(), 0);
    let streams = ok(&logs, "DescribeLogStreams", json!({"logGroupName": GROUP})).await;
    assert_eq!(streams["logStreams"], json!([]));
    assert_eq!(ok(&logs, "DescribeLogGroups", json!({})).await["logGroups"][0]["storedBytes"], 0);
}

#[tokio::test]
async fn group_size_cap_evicts_the_oldest_events() {
    let event_bytes = 1000 + EVENT_OVERHEAD_BYTES as u64;
    let limits = LogLimits { max_bytes_per_group: 10 * event_bytes, ..LogLimits::default() };
    let (_dir, logs) = open_with(limits, Options::default());
    let message = "m".repeat(1000);
    // Appended newest first: eviction follows timestamps, not arrival.
    for i in (0..30).rev() {
        logs.append(ACCOUNT, REGION, GROUP, "s", vec![(T0 + i, message.clone())]);
    }
    logs.append(ACCOUNT, REGION, "/aws/lambda/small", "s", vec![(T0, "tiny".into())]);
    logs.flush().await.unwrap();

    let kept = filter_all(&logs, json!({"logGroupName": GROUP})).await;
    let timestamps: Vec<i64> = kept.iter().map(|e| e["timestamp"].as_i64().unwrap()).collect();
    assert_eq!(timestamps, (20..30).map(|i| T0 + i).collect::<Vec<_>>());
    let groups = ok(&logs, "DescribeLogGroups", json!({})).await;
    assert_eq!(groups["logGroups"][0]["logGroupName"], GROUP);
    assert_eq!(groups["logGroups"][0]["storedBytes"], json!(10 * event_bytes));
    assert_eq!(filter_all(&logs, json!({"logGroupName": "/aws/lambda/small"})).await.len(), 1);
    let stream = &ok(&logs, "DescribeLogStreams", json!({"logGroupName": GROUP})).await["logStreams"][0];
    assert_eq!(stream["firstEventTimestamp"], T0 + 20);
}

#[tokio::test]
async fn total_size_cap_evicts_the_earliest_ingested_events() {
    let event_bytes = 500 + EVENT_OVERHEAD_BYTES as u64;
    let limits = LogLimits { max_total_bytes: 6 * event_bytes, ..LogLimits::default() };
    let (_dir, logs) = open_with(limits, Options::default());
    let message = "m".repeat(500);
    logs.append(ACCOUNT, REGION, "/aws/lambda/a", "s", (0..4).map(|i| (T0 + i, message.clone())).collect());
    logs.flush().await.unwrap();
    logs.append(ACCOUNT, REGION, "/aws/lambda/b", "s", (0..4).map(|i| (T0 + i, message.clone())).collect());
    logs.flush().await.unwrap();
    assert_eq!(filter_all(&logs, json!({"logGroupName": "/aws/lambda/a"})).await.len(), 2);
    assert_eq!(filter_all(&logs, json!({"logGroupName": "/aws/lambda/b"})).await.len(), 4);
    let groups = ok(&logs, "DescribeLogGroups", json!({})).await;
    let total: i64 = groups["logGroups"].as_array().unwrap().iter().map(|g| g["storedBytes"].as_i64().unwrap()).sum();
    assert_eq!(total, 6 * event_bytes as i64);
}

#[tokio::test]
async fn everything_is_scoped_by_account_and_region() {
    let (_dir, logs) = open();
    logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0, 1, "home"));
    logs.append("210987654321", REGION, GROUP, "s", lines(T0, 2, "other account"));
    logs.append(ACCOUNT, "eu-west-1", GROUP, "s", lines(T0, 3, "other region"));
    logs.flush().await.unwrap();

    for (account, region, expected) in [(ACCOUNT, REGION, 1), ("210987654321", REGION, 2), (ACCOUNT, "eu-west-1", 3)] {
        let groups = parse(&call_in(&logs, account, region, "DescribeLogGroups", json!({})).await);
        assert_eq!(groups["logGroups"].as_array().unwrap().len(), 1);
        assert!(groups["logGroups"][0]["arn"].as_str().unwrap().contains(&format!("{region}:{account}:")));
        let events = parse(&call_in(&logs, account, region, "FilterLogEvents", json!({"logGroupName": GROUP})).await);
        assert_eq!(events["events"].as_array().unwrap().len(), expected);
    }
    let missing =
        call_in(&logs, ACCOUNT, "ap-south-1", "GetLogEvents", json!({"logGroupName": GROUP, "logStreamName": "s"}))
            .await;
    assert_eq!(error_of(&missing).0, "ResourceNotFoundException");

    // An ARN names a group only in its own account and region.
    let arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*";
    let by_arn = ok(&logs, "FilterLogEvents", json!({"logGroupIdentifier": arn})).await;
    assert_eq!(by_arn["events"].as_array().unwrap().len(), 1);
    let foreign = call_in(&logs, "210987654321", REGION, "FilterLogEvents", json!({"logGroupIdentifier": arn})).await;
    assert_eq!(error_of(&foreign).0, "ResourceNotFoundException");
    let by_name = ok(&logs, "DescribeLogStreams", json!({"logGroupIdentifier": GROUP})).await;
    assert_eq!(by_name["logStreams"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn error_bodies_follow_json_1_1() {
    let (_dir, logs) = open();
    logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0, 1, "line"));
    logs.flush().await.unwrap();

    let response =
        call_in(&logs, ACCOUNT, REGION, "GetLogEvents", json!({"logGroupName": "nope", "logStreamName": "s"})).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error_type.as_deref(), Some("ResourceNotFoundException"));
    assert_eq!(
        parse(&response),
        json!({"__type": "ResourceNotFoundException", "message": "The specified log group does not exist."})
    );
    assert_eq!(
        fails(&logs, "GetLogEvents", json!({"logGroupName": GROUP, "logStreamName": "nope"})).await,
        ("ResourceNotFoundException".into(), "The specified log stream does not exist.".into())
    );
    assert_eq!(
        fails(&logs, "FilterLogEvents", json!({"logGroupName": GROUP, "limit": 0})).await,
        (
            "InvalidParameterException".into(),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value \
             greater than or equal to 1"
                .into()
        )
    );
    assert_eq!(
        fails(&logs, "DescribeLogGroups", json!({"limit": 51, "logGroupNamePrefix": "bad name"})).await.1,
        "2 validation errors detected: Value 'bad name' at 'logGroupNamePrefix' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+; Value '51' at 'limit' failed to \
         satisfy constraint: Member must have value less than or equal to 50"
    );
    assert_eq!(
        fails(&logs, "CreateLogGroup", json!({})).await.1,
        "1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        fails(&logs, "CreateLogGroup", json!({"logGroupName": GROUP})).await,
        ("ResourceAlreadyExistsException".into(), "The specified log group already exists".into())
    );
    assert_eq!(
        fails(&logs, "GetLogEvents", json!({"logGroupName": GROUP, "logStreamName": "s", "nextToken": "f/xyz"})).await,
        ("InvalidParameterException".into(), "The specified nextToken is invalid.".into())
    );
    assert_eq!(
        fails(&logs, "FilterLogEvents", json!({"logGroupName": GROUP, "logGroupIdentifier": GROUP})).await,
        ("ValidationException".into(), "LogGroup name and LogGroup ARN are mutually exclusive parameters.".into())
    );
    assert_eq!(
        fails(
            &logs,
            "DescribeLogStreams",
            json!({"logGroupName": GROUP, "orderBy": "LastEventTime", "logStreamNamePrefix": "s"})
        )
        .await
        .1,
        "Cannot order by LastEventTime with a logStreamNamePrefix."
    );

    let unknown = logs.handle(ACCOUNT, REGION, "Logs_20140328.TagResource", b"{}").await;
    assert_eq!(error_of(&unknown).0, "UnknownOperationException");
    let foreign = logs.handle(ACCOUNT, REGION, "AWSLambda.Invoke", b"{}").await;
    assert_eq!(error_of(&foreign).0, "UnknownOperationException");
    for body in [&b"{not json"[..], b"[1, 2]", b"{\"limit\": \"ten\"}"] {
        let response = logs.handle(ACCOUNT, REGION, "Logs_20140328.DescribeLogGroups", body).await;
        assert_eq!(error_of(&response).0, "SerializationException", "{}", String::from_utf8_lossy(body));
    }
    // An empty body is an empty request.
    let empty = logs.handle(ACCOUNT, REGION, "Logs_20140328.DescribeLogGroups", b"").await;
    assert_eq!(empty.status, 200);
}

#[tokio::test]
async fn sdk_writes_create_put_and_delete() {
    let (_dir, logs) = open();
    assert_eq!(ok(&logs, "CreateLogGroup", json!({"logGroupName": "app"})).await, json!({}));
    assert_eq!(
        fails(
            &logs,
            "PutLogEvents",
            json!({"logGroupName": "app", "logStreamName": "s", "logEvents": [{"timestamp": T0, "message": "x"}]})
        )
        .await,
        ("ResourceNotFoundException".into(), "The specified log stream does not exist.".into())
    );
    ok(&logs, "CreateLogStream", json!({"logGroupName": "app", "logStreamName": "s"})).await;
    assert_eq!(
        fails(&logs, "CreateLogStream", json!({"logGroupName": "app", "logStreamName": "s"})).await,
        ("ResourceAlreadyExistsException".into(), "The specified log stream already exists".into())
    );
    let put = ok(
        &logs,
        "PutLogEvents",
        json!({"logGroupName": "app", "logStreamName": "s", "logEvents": [
            {"timestamp": T0, "message": "hello"}, {"timestamp": T0 + 1, "message": "world"}]}),
    )
    .await;
    assert_eq!(put["nextSequenceToken"], format!("{:056}", 1));
    let page = ok(&logs, "GetLogEvents", json!({"logGroupName": "app", "logStreamName": "s"})).await;
    assert_eq!(messages(&page["events"]), ["hello", "world"]);

    let (code, message) =
        fails(&logs, "PutLogEvents", json!({"logGroupName": "app", "logStreamName": "s", "logEvents": []})).await;
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(
        message,
        "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: Member must have length \
         greater than or equal to 1"
    );
    let (_, message) = fails(
        &logs,
        "PutLogEvents",
        json!({"logGroupName": "app", "logStreamName": "s", "logEvents": [{"timestamp": -1, "message": ""}]}),
    )
    .await;
    assert!(
        message.starts_with("2 validation errors detected: Value '-1' at 'logEvents.1.member.timestamp'"),
        "{message}"
    );

    ok(&logs, "DeleteLogStream", json!({"logGroupName": "app", "logStreamName": "s"})).await;
    assert_eq!(ok(&logs, "DescribeLogGroups", json!({})).await["logGroups"][0]["storedBytes"], 0);
    ok(&logs, "DeleteLogGroup", json!({"logGroupName": "app"})).await;
    assert_eq!(ok(&logs, "DescribeLogGroups", json!({})).await["logGroups"], json!([]));
    assert_eq!(fails(&logs, "DeleteLogGroup", json!({"logGroupName": "app"})).await.0, "ResourceNotFoundException");
    assert_eq!(
        fails(&logs, "PutRetentionPolicy", json!({"logGroupName": "app", "retentionInDays": 1})).await.0,
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn describe_pages_filters_and_orders() {
    let (_dir, logs) = open();
    for name in ["/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/c", "/aws/other/x", "app-1", "app-2", "zeta"] {
        logs.append(ACCOUNT, REGION, name, "s", lines(T0, 1, "x"));
    }
    logs.flush().await.unwrap();

    let mut request = json!({"limit": 3});
    let mut names = Vec::new();
    loop {
        let page = ok(&logs, "DescribeLogGroups", request.clone()).await;
        names.extend(
            page["logGroups"].as_array().unwrap().iter().map(|g| g["logGroupName"].as_str().unwrap().to_owned()),
        );
        match page["nextToken"].as_str() {
            Some(token) => request["nextToken"] = json!(token),
            None => break,
        }
    }
    assert_eq!(names, ["/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/c", "/aws/other/x", "app-1", "app-2", "zeta"]);
    let prefixed = ok(&logs, "DescribeLogGroups", json!({"logGroupNamePrefix": "/aws/lambda/"})).await;
    assert_eq!(prefixed["logGroups"].as_array().unwrap().len(), 3);
    let pattern = ok(&logs, "DescribeLogGroups", json!({"logGroupNamePattern": "app"})).await;
    assert_eq!(pattern["logGroups"].as_array().unwrap().len(), 2);
    let (_, message) =
        fails(&logs, "DescribeLogGroups", json!({"logGroupNamePrefix": "a", "logGroupNamePattern": "b"})).await;
    assert_eq!(message, "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.");

    // Streams: by name (descending), and by last event time.
    for (i, stream) in ["b", "a", "c", "ab"].iter().enumerate() {
        logs.append(ACCOUNT, REGION, "streams", stream, vec![(T0 + 10 - i as i64, "x".into())]);
    }
    logs.flush().await.unwrap();
    let stream_names = async |request: Value| -> Vec<String> {
        let mut request = request;
        let mut names = Vec::new();
        loop {
            let page = ok(&logs, "DescribeLogStreams", request.clone()).await;
            names.extend(
                page["logStreams"].as_array().unwrap().iter().map(|s| s["logStreamName"].as_str().unwrap().to_owned()),
            );
            match page["nextToken"].as_str() {
                Some(token) => request["nextToken"] = json!(token),
                None => return names,
            }
        }
    };
    assert_eq!(stream_names(json!({"logGroupName": "streams", "limit": 1})).await, ["a", "ab", "b", "c"]);
    assert_eq!(
        stream_names(json!({"logGroupName": "streams", "limit": 2, "descending": true})).await,
        ["c", "b", "ab", "a"]
    );
    assert_eq!(stream_names(json!({"logGroupName": "streams", "logStreamNamePrefix": "a"})).await, ["a", "ab"]);
    assert_eq!(
        stream_names(json!({"logGroupName": "streams", "logStreamNamePrefix": "a", "descending": true, "limit": 1}))
            .await,
        ["ab", "a"]
    );
    assert_eq!(
        stream_names(json!({"logGroupName": "streams", "orderBy": "LastEventTime", "limit": 3})).await,
        ["ab", "c", "a", "b"]
    );
    assert_eq!(
        stream_names(json!({"logGroupName": "streams", "orderBy": "LastEventTime", "descending": true, "limit": 3}))
            .await,
        ["b", "a", "c", "ab"]
    );
}

#[tokio::test]
async fn long_messages_are_truncated_and_oversized_appends_dropped() {
    let options = Options { queue_bytes_max: 1024 * 1024, ..Options::default() };
    let (_dir, logs) = open_with(LogLimits::default(), options);
    let long = "é".repeat(200_000);
    logs.append(ACCOUNT, REGION, GROUP, "s", vec![(T0, long)]);
    logs.flush().await.unwrap();
    let page = ok(&logs, "GetLogEvents", json!({"logGroupName": GROUP, "logStreamName": "s"})).await;
    let stored = page["events"][0]["message"].as_str().unwrap();
    assert!(stored.len() <= EVENT_BYTES_MAX - EVENT_OVERHEAD_BYTES && stored.len() > EVENT_BYTES_MAX - 30);
    assert!(stored.chars().all(|c| c == 'é'));

    // More than the queue's byte budget at once: dropped and counted, never blocking.
    let burst: Vec<(i64, String)> = (0..5).map(|i| (T0 + i, "x".repeat(250_000))).collect();
    logs.append(ACCOUNT, REGION, GROUP, "s", burst);
    logs.flush().await.unwrap();
    assert_eq!(logs.dropped(), 5);
    assert_eq!(filter_all(&logs, json!({"logGroupName": GROUP})).await.len(), 1);
}

#[tokio::test]
async fn events_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    {
        let logs = Logs::open(&path, LogLimits::default()).unwrap();
        logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0, 3, "kept"));
        // Dropping the last handle commits what is queued.
    }
    let logs = Logs::open(&path, LogLimits::default()).unwrap();
    assert_eq!(filter_all(&logs, json!({"logGroupName": GROUP})).await.len(), 3);
    logs.append(ACCOUNT, REGION, GROUP, "s", lines(T0 + 3, 1, "next"));
    logs.flush().await.unwrap();
    let all = filter_all(&logs, json!({"logGroupName": GROUP})).await;
    let ids: Vec<i64> = all.iter().map(|e| e["eventId"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
}

#[test]
fn handles_and_their_futures_are_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let (_dir, logs) = open();
    send_sync(&logs);
    send(logs.handle(ACCOUNT, REGION, "Logs_20140328.DescribeLogGroups", b"{}"));
    send(logs.flush());
}

#[test]
fn invalid_limits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let limits = LogLimits { default_retention_days: Some(2), ..LogLimits::default() };
    assert!(Logs::open(&dir.path().join("a.db"), limits).is_err());
    let limits = LogLimits { max_total_bytes: 0, ..LogLimits::default() };
    assert!(Logs::open(&dir.path().join("b.db"), limits).is_err());
}

/// A guard, not a benchmark: the invocation hot path appends one line at a time.
#[tokio::test]
async fn ten_thousand_appends_flush_quickly() {
    let (_dir, logs) = open();
    let started = Instant::now();
    for i in 0..10_000 {
        logs.append(ACCOUNT, REGION, GROUP, &format!("stream-{}", i % 4), vec![(T0 + i, format!("line {i}"))]);
    }
    logs.flush().await.unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "10,000 appends took {elapsed:?}");
    assert_eq!(logs.dropped(), 0);
    let page = ok(&logs, "FilterLogEvents", json!({"logGroupName": GROUP})).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 10_000);
    assert!(page.get("nextToken").is_none());
}
