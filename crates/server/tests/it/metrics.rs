//! Platform metrics (issue 10 points 1 and 4): `AWS/Lambda` aggregates per AWS dimension set,
//! read back from the store the flusher writes, and the Prometheus view at `GET /metrics`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, InvocationType};
use metrics::{Dims, Recorder};
use testkit::{ServerProcess, TestServer};

use crate::support::*;

const FAILS_ON_ASK: &str =
    "def handler(e, c):\n    if e.get('fail'):\n        raise Exception('asked to fail')\n    return 'ok'\n";

fn dims(pairs: &[(&str, &str)]) -> Dims {
    Dims::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

/// A recorder over the store of a data dir (another connection to the same database).
fn store_reader(data_dir: &std::path::Path) -> Recorder {
    let backend = store::SqliteBackend::open(&store::SqliteOptions { path: data_dir.join("versa.db") }).unwrap();
    Recorder::new(store::Store::new(Arc::new(backend)))
}

/// (sum, count) of a metric over `[from, from + 10 min)` as stored.
async fn stored(r: &Recorder, from: i64, metric: &str, d: &[(&str, &str)]) -> (f64, u64) {
    let series = Recorder::lambda_series(ACCOUNT, REGION, metric, &dims(d));
    let points = r.statistics(&series, from, from + 600_000, 600_000).await.unwrap();
    assert!(points.len() <= 1, "{points:?}");
    points.first().map_or((0.0, 0), |p| (p.aggregate.sum, p.aggregate.count))
}

async fn scrape(server: &TestServer) -> String {
    let mut http = testkit::http::Client::new(server.addr);
    let r = http.send("GET", "/metrics", &[], b"").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4"));
    r.text()
}

/// The samples of a scrape by `name{labels}`, checking every line's shape on the way.
fn samples(text: &str) -> HashMap<String, f64> {
    assert!(text.ends_with('\n'));
    let mut out = HashMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_owned()), "TYPE twice: {line}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{line}");
        if name_end < series.len() {
            assert!(series.ends_with("\"}"), "{line}");
        }
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
        assert!(out.insert(series.to_owned(), v).is_none(), "sample twice: {line}");
    }
    out
}

fn invocations(s: &HashMap<String, f64>, resource: &str, version: &str, outcome: &str) -> f64 {
    let key = format!(
        "versa_function_invocations_total{{function=\"m\",resource=\"{resource}\",executed_version=\"{version}\",outcome=\"{outcome}\"}}"
    );
    s.get(&key).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_are_counted_per_resource_and_executed_version() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let from = metrics::minute_of(stdx::time::now_ms());
    crate::invoke::create_py(&c, "m", FAILS_ON_ASK).await;
    c.publish_version().function_name("m").send().await.unwrap();
    c.update_function_configuration().function_name("m").description("v2").send().await.unwrap();
    c.publish_version().function_name("m").send().await.unwrap();
    let routing = AliasRoutingConfiguration::builder().additional_version_weights("2", 0.5).build();
    c.create_alias()
        .function_name("m")
        .name("prod")
        .function_version("1")
        .routing_config(routing)
        .send()
        .await
        .unwrap();

    // Through the alias: every fourth call fails; count what each version ran.
    let mut ran: HashMap<(String, bool), u32> = HashMap::new();
    for i in 0..24 {
        let payload = if i % 4 == 0 { r#"{"fail": true}"# } else { "{}" };
        let r = c.invoke().function_name("m:prod").payload(Blob::new(payload)).send().await.unwrap();
        assert_eq!(r.function_error().is_some(), i % 4 == 0);
        *ran.entry((r.executed_version().unwrap().to_owned(), i % 4 == 0)).or_default() += 1;
    }
    let count = |v: &str, failed: bool| ran.get(&(v.to_owned(), failed)).copied().unwrap_or(0);
    for _ in 0..3 {
        c.invoke().function_name("m").send().await.unwrap();
    }
    for _ in 0..2 {
        c.invoke().function_name("m:1").payload(Blob::new(r#"{"fail": true}"#)).send().await.unwrap();
    }
    // A throttle counts in Throttles, not Invocations.
    c.put_function_concurrency().function_name("m").reserved_concurrent_executions(0).send().await.unwrap();
    assert_eq!(err(c.invoke().function_name("m").send().await).status, 429);
    c.delete_function_concurrency().function_name("m").send().await.unwrap();
    // Event invokes: received at enqueue, then run (unqualified).
    for _ in 0..2 {
        let r = c.invoke().function_name("m").invocation_type(InvocationType::Event).send().await.unwrap();
        assert_eq!(r.status_code(), 202);
    }

    // The Prometheus view (in memory): wait for the two events to have run.
    let mut s = HashMap::new();
    for _ in 0..200 {
        s = samples(&scrape(&server).await);
        if invocations(&s, "m", "$LATEST", "success") >= 5.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(invocations(&s, "m", "$LATEST", "success"), 5.0);
    for v in ["1", "2"] {
        assert_eq!(invocations(&s, "m:prod", v, "success"), f64::from(count(v, false)), "{v}");
        assert_eq!(invocations(&s, "m:prod", v, "function_error"), f64::from(count(v, true)), "{v}");
    }
    assert_eq!(invocations(&s, "m:1", "1", "function_error"), 2.0);
    assert_eq!(s["versa_function_throttles_total{function=\"m\",resource=\"m\"}"], 1.0);
    assert_eq!(s["versa_async_events_received_total{function=\"m\"}"], 2.0);
    // Histograms: cumulative buckets, +Inf equals _count.
    let labels = "function=\"m\",resource=\"m:prod\",executed_version=\"1\"";
    let mut last = 0.0;
    for le in [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "300", "900", "+Inf",
    ] {
        let v = s[&format!("versa_function_duration_seconds_bucket{{{labels},le=\"{le}\"}}")];
        assert!(v >= last, "le={le}");
        last = v;
    }
    assert_eq!(last, s[&format!("versa_function_duration_seconds_count{{{labels}}}")]);
    assert_eq!(last, f64::from(count("1", false) + count("1", true)));
    assert!(s.contains_key("versa_environments{state=\"warm\"}"));
    assert!(s.contains_key("versa_async_events_queued"));

    // The stored aggregates, after a flush, per AWS dimension set.
    tokio::time::sleep(metrics::FLUSH_EVERY + Duration::from_secs(1)).await;
    let r = store_reader(server.data_dir());
    let total = 24.0 + 3.0 + 2.0 + 2.0;
    assert_eq!(stored(&r, from, "Invocations", &[]).await.0, total);
    assert_eq!(stored(&r, from, "Invocations", &[("FunctionName", "m")]).await.0, total);
    let errors = stored(&r, from, "Errors", &[("FunctionName", "m")]).await;
    assert_eq!(errors, (6.0 + 2.0, total as u64), "Errors is 0 or 1 per invocation");
    let prod = [("FunctionName", "m"), ("Resource", "m:prod")];
    assert_eq!(stored(&r, from, "Invocations", &prod).await.0, 24.0);
    assert_eq!(stored(&r, from, "Errors", &prod).await.0, 6.0);
    for v in ["1", "2"] {
        let d = [("ExecutedVersion", v), ("FunctionName", "m"), ("Resource", "m:prod")];
        assert_eq!(stored(&r, from, "Invocations", &d).await.0, f64::from(count(v, false) + count(v, true)));
        assert_eq!(stored(&r, from, "Errors", &d).await.0, f64::from(count(v, true)));
    }
    let v1 = [("FunctionName", "m"), ("Resource", "m:1")];
    assert_eq!(stored(&r, from, "Invocations", &v1).await.0, 2.0);
    assert_eq!(
        stored(&r, from, "Invocations", &[("ExecutedVersion", "1"), ("FunctionName", "m"), ("Resource", "m:1")])
            .await
            .1,
        0
    );
    // Unqualified calls have no Resource dimension set.
    assert_eq!(stored(&r, from, "Invocations", &[("FunctionName", "m"), ("Resource", "m")]).await.1, 0);
    assert_eq!(stored(&r, from, "Throttles", &[("FunctionName", "m")]).await.0, 1.0);
    assert_eq!(stored(&r, from, "AsyncEventsReceived", &[("FunctionName", "m")]).await.0, 2.0);
    assert_eq!(stored(&r, from, "AsyncEventAge", &[("FunctionName", "m")]).await.1, 2);
    let duration = Recorder::lambda_series(ACCOUNT, REGION, "Duration", &dims(&prod));
    let d = r.statistics(&duration, from, from + 600_000, 600_000).await.unwrap();
    let p = &d[0].aggregate;
    assert_eq!(p.count, 24);
    let p99 = p.percentile(99.0).unwrap();
    assert!(p.min <= p99 && p99 <= p.max, "{p:?}");
    let concurrent = Recorder::lambda_series(ACCOUNT, REGION, "ConcurrentExecutions", &dims(&[]));
    let c = r.statistics(&concurrent, from, from + 600_000, 600_000).await.unwrap();
    assert!(c[0].aggregate.max >= 1.0);
}

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_aggregates_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let from = metrics::minute_of(stdx::time::now_ms());
    let first = ServerProcess::spawn(bin(), dir.path());
    let c = testkit::lambda_client(&first.endpoint(), "test", REGION);
    crate::invoke::create_py(&c, "m", FAILS_ON_ASK).await;
    for i in 0..5 {
        let payload = if i == 0 { r#"{"fail": true}"# } else { "{}" };
        c.invoke().function_name("m").payload(Blob::new(payload)).send().await.unwrap();
    }
    tokio::time::sleep(metrics::FLUSH_EVERY + Duration::from_secs(1)).await;
    first.kill_9();
    // A restart finds the table (and keeps adding to it).
    let second = ServerProcess::spawn(bin(), dir.path());
    let c = testkit::lambda_client(&second.endpoint(), "test", REGION);
    c.invoke().function_name("m").send().await.unwrap();
    assert!(second.terminate(), "a graceful stop");
    let r = store_reader(dir.path());
    assert_eq!(stored(&r, from, "Invocations", &[("FunctionName", "m")]).await.0, 6.0);
    assert_eq!(stored(&r, from, "Errors", &[("FunctionName", "m")]).await, (1.0, 6));
}

#[tokio::test]
async fn metrics_are_scraped_without_a_signature_under_sigv4() {
    let server = TestServer::start_sigv4().await;
    let text = scrape(&server).await;
    let s = samples(&text);
    assert_eq!(s["versa_function_concurrent_executions"], 0.0);
    // Lambda's API still wants a signature.
    let mut http = testkit::http::Client::new(server.addr);
    let r = http.send("GET", "/2015-03-31/functions/", &[], b"").await.unwrap();
    assert_eq!(r.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_fails_without_a_destination_counts_as_dropped() {
    let server = TestServer::start().await;
    let c = server.lambda();
    crate::invoke::create_py(&c, "m", FAILS_ON_ASK).await;
    c.put_function_event_invoke_config().function_name("m").maximum_retry_attempts(0).send().await.unwrap();
    let from = metrics::minute_of(stdx::time::now_ms());
    c.invoke()
        .function_name("m")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"fail": true}"#))
        .send()
        .await
        .unwrap();
    let mut s = HashMap::new();
    for _ in 0..200 {
        s = samples(&scrape(&server).await);
        if s.get("versa_async_events_dropped_total{function=\"m\"}").copied() == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.get("versa_async_events_dropped_total{function=\"m\"}"), Some(&1.0));
    assert_eq!(invocations(&s, "m", "$LATEST", "function_error"), 1.0);
    tokio::time::sleep(metrics::FLUSH_EVERY + Duration::from_secs(1)).await;
    let r = store_reader(server.data_dir());
    assert_eq!(stored(&r, from, "AsyncEventsDropped", &[("FunctionName", "m")]).await.0, 1.0);
    assert_eq!(stored(&r, from, "Errors", &[]).await, (1.0, 1));
}
