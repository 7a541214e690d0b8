//! EventBridge rules and EventBridge Scheduler end to end (issue 13 point 5): boto3 drives
//! rules, targets, PutEvents and schedules against a real server started with the hidden
//! `--schedule-seconds` (a `rate(1 minute)` ticks every second), with real functions on an
//! alias that is promoted while the rule ticks; a ticking rule survives `kill -9` without
//! firing a tick twice or skipping one.

// JUSTIFICATION: the tests run the real `python3` with boto3.
#![allow(clippy::disallowed_methods)]

use std::collections::HashSet;

use testkit::{ServerProcess, TestServer};

use crate::support::boto3_available;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

async fn script(endpoint: &str, mode: &str) -> serde_json::Value {
    crate::support::boto3_script("schedules_boto3.py", &[endpoint, mode]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_rule_on_prod_fires_through_a_promotion() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start_with(|c| c.schedule_seconds = true).await;
    let v = script(&server.endpoint(), "rules").await;
    assert!(v["promotion_to_v2_seconds"].as_f64().unwrap() < 10.0, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_events_delivers_what_a_pattern_matches() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = script(&server.endpoint(), "events").await;
    assert_eq!(v["delivered"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_schedules_deliver_their_input_and_stop_when_deleted() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start_with(|c| c.schedule_seconds = true).await;
    script(&server.endpoint(), "scheduler").await;
}

/// `yyyy-mm-ddThh:mm:ssZ` → seconds of the day (the test runs within one day, or fails loudly).
fn seconds_of_day(t: &str) -> i64 {
    let hms: Vec<i64> = t[11..19].split(':').map(|x| x.parse().unwrap()).collect();
    hms[0] * 3600 + hms[1] * 60 + hms[2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticking_rule_survives_kill_9_without_firing_a_tick_twice_or_skipping_one() {
    if !boto3_available() {
        return;
    }
    // rate(10 minutes) ticks every 10 s here; the restart takes less than that, so every tick
    // must arrive exactly once, 10 s after the previous one, across the kill.
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::spawn_with(bin(), dir.path(), &["--schedule-seconds"]);
    let before = script(&first.endpoint(), "durable-start").await;
    first.kill_9();
    let second = ServerProcess::spawn_with(bin(), dir.path(), &["--schedule-seconds"]);
    let n = before["times"].as_array().unwrap().len();
    let mut after = serde_json::Value::Null;
    for _ in 0..80 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        after = script(&second.endpoint(), "durable-count").await;
        if after["times"].as_array().unwrap().len() >= n + 2 {
            break;
        }
    }
    let times: Vec<&str> = after["times"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(times.len() >= n + 2, "the rule ticks again after the restart: {times:?}");
    let distinct: HashSet<&&str> = times.iter().collect();
    assert_eq!(distinct.len(), times.len(), "no tick fired twice: {times:?}");
    let gaps: Vec<i64> =
        times.windows(2).map(|w| (seconds_of_day(w[1]) - seconds_of_day(w[0])).rem_euclid(86_400)).collect();
    assert!(gaps.iter().all(|g| *g == 10), "one tick every 10 s, none skipped: {times:?}");
    second.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_reach_both_services_and_forged_ones_are_refused() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start_sigv4().await;
    let key = server.root_key().await;
    let v =
        crate::support::boto3_script("schedules_boto3.py", &[&server.endpoint(), "signed", &key.id, &key.secret]).await;
    assert_eq!(v["refused"]["events"], serde_json::json!(["InvalidSignatureException", 400]), "{v}");
    assert_eq!(v["refused"]["scheduler"], serde_json::json!(["InvalidSignatureException", 403]), "{v}");
}
