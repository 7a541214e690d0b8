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

/// The labels every per-function series starts with.
const OWNER: &str = "account=\"000000000000\",region=\"us-east-1\",";

fn invocations(s: &HashMap<String, f64>, resource: &str, version: &str, outcome: &str) -> f64 {
    invocations_of(s, "m", resource, version, outcome)
}

fn invocations_of(s: &HashMap<String, f64>, function: &str, resource: &str, version: &str, outcome: &str) -> f64 {
    let key = format!(
        "versa_function_invocations_total{{{OWNER}function=\"{function}\",resource=\"{resource}\",executed_version=\"{version}\",outcome=\"{outcome}\"}}"
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
    assert_eq!(s[&format!("versa_function_throttles_total{{{OWNER}function=\"m\",resource=\"m\"}}")], 1.0);
    assert_eq!(s[&format!("versa_async_events_received_total{{{OWNER}function=\"m\"}}")], 2.0);
    // Histograms: cumulative buckets, +Inf equals _count.
    let labels = format!("{OWNER}function=\"m\",resource=\"m:prod\",executed_version=\"1\"");
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
    assert!(s.contains_key("versa_async_oldest_event_age_seconds"));

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
        if s.get(&format!("versa_async_events_dropped_total{{{OWNER}function=\"m\"}}")).copied() == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.get(&format!("versa_async_events_dropped_total{{{OWNER}function=\"m\"}}")), Some(&1.0));
    assert_eq!(invocations(&s, "m", "$LATEST", "function_error"), 1.0);
    tokio::time::sleep(metrics::FLUSH_EVERY + Duration::from_secs(1)).await;
    let r = store_reader(server.data_dir());
    assert_eq!(stored(&r, from, "AsyncEventsDropped", &[("FunctionName", "m")]).await.0, 1.0);
    assert_eq!(stored(&r, from, "Errors", &[]).await, (1.0, 1));
}

/// Scrapes until `name{OWNER function="…"}` reaches `want` (events run in the background).
async fn scrape_until(server: &TestServer, name: &str, function: &str, want: f64) -> HashMap<String, f64> {
    let key = format!("{name}{{{OWNER}function=\"{function}\"}}");
    let mut s = HashMap::new();
    for _ in 0..200 {
        s = samples(&scrape(server).await);
        if s.get(&key).copied() == Some(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.get(&key), Some(&want), "{key}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_destinations_and_dead_letter_queues_are_counted() {
    use aws_sdk_lambda::types::{DeadLetterConfig, DestinationConfig, OnFailure};
    let server = TestServer::start().await;
    let c = server.lambda();
    crate::invoke::create_py(&c, "m", FAILS_ON_ASK).await;
    crate::invoke::create_py(&c, "gone", FAILS_ON_ASK).await;
    let on_failure =
        DestinationConfig::builder().on_failure(OnFailure::builder().destination(arn("gone")).build()).build();
    c.put_function_event_invoke_config()
        .function_name("m")
        .maximum_retry_attempts(0)
        .destination_config(on_failure)
        .send()
        .await
        .unwrap();
    let dlq = DeadLetterConfig::builder().target_arn("arn:aws:sqs:us-east-1:000000000000:dlq").build();
    c.update_function_configuration().function_name("m").dead_letter_config(dlq).send().await.unwrap();
    // The destination goes after the config named it: its record cannot be delivered.
    c.delete_function().function_name("gone").send().await.unwrap();
    let from = metrics::minute_of(stdx::time::now_ms());
    let fail = c.invoke().function_name("m").invocation_type(InvocationType::Event);
    fail.payload(Blob::new(r#"{"fail": true}"#)).send().await.unwrap();
    let s = scrape_until(&server, "versa_async_destination_delivery_failures_total", "m", 1.0).await;
    assert_eq!(s[&format!("versa_async_dead_letter_errors_total{{{OWNER}function=\"m\"}}")], 1.0);
    // A success with no destination and a dead-letter queue: nothing to deliver, nothing failed.
    c.invoke().function_name("m").invocation_type(InvocationType::Event).send().await.unwrap();
    let s = scrape_until(&server, "versa_async_events_received_total", "m", 2.0).await;
    assert_eq!(s[&format!("versa_async_dead_letter_errors_total{{{OWNER}function=\"m\"}}")], 1.0);
    for _ in 0..200 {
        if invocations(&samples(&scrape(&server).await), "m", "$LATEST", "success") == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(metrics::FLUSH_EVERY + Duration::from_secs(1)).await;
    let r = store_reader(server.data_dir());
    for d in [&[][..], &[("FunctionName", "m")]] {
        assert_eq!(stored(&r, from, "DestinationDeliveryFailures", d).await, (1.0, 1), "{d:?}");
        assert_eq!(stored(&r, from, "DeadLetterErrors", d).await, (1.0, 1), "{d:?}");
    }
    assert_eq!(stored(&r, from, "Invocations", &[("FunctionName", "m")]).await.0, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_unreserved_and_routing_metrics_and_deleted_series() {
    use aws_sdk_lambda::types::ProvisionedConcurrencyStatusEnum as Status;
    let server = TestServer::start().await;
    let c = server.lambda();
    let from = metrics::minute_of(stdx::time::now_ms());
    crate::invoke::create_py(&c, "p", FAILS_ON_ASK).await;
    c.publish_version().function_name("p").send().await.unwrap();
    c.update_function_configuration().function_name("p").description("v2").send().await.unwrap();
    c.publish_version().function_name("p").send().await.unwrap();
    c.create_alias().function_name("p").name("prod").function_version("1").send().await.unwrap();
    let routing = AliasRoutingConfiguration::builder().additional_version_weights("2", 0.25).build();
    let canary = c.create_alias().function_name("p").name("canary").function_version("1");
    canary.routing_config(routing).send().await.unwrap();
    c.put_provisioned_concurrency_config()
        .function_name("p")
        .qualifier("prod")
        .provisioned_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let got = c.get_provisioned_concurrency_config().function_name("p").qualifier("prod").send().await.unwrap();
        if got.status() == Some(&Status::Ready) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // On the provisioned environment (one of one busy), then on-demand ones.
    c.invoke().function_name("p:prod").send().await.unwrap();
    c.invoke().function_name("p").send().await.unwrap();
    for _ in 0..4 {
        c.invoke().function_name("p:canary").send().await.unwrap();
    }

    let s = samples(&scrape(&server).await);
    let weight = |alias: &str, version: &str| {
        s.get(&format!("versa_alias_routing_weight{{{OWNER}function=\"p\",alias=\"{alias}\",version=\"{version}\"}}"))
            .copied()
    };
    assert_eq!(weight("prod", "1"), Some(1.0));
    assert_eq!(weight("canary", "1"), Some(0.75));
    assert_eq!(weight("canary", "2"), Some(0.25));
    // Sequential calls: every one that ran version 1 found prod's provisioned environment idle
    // (an environment serves its version whichever alias the call names).
    let on_v1 = invocations_of(&s, "p", "p:canary", "1", "success");
    let on_v2 = invocations_of(&s, "p", "p:canary", "2", "success");
    assert_eq!(on_v1 + on_v2, 4.0);

    // Deleting the alias drops its series and weights; deleting version 2 drops where it ran.
    c.delete_alias().function_name("p").name("canary").send().await.unwrap();
    c.delete_function().function_name("p").qualifier("2").send().await.unwrap();
    let text = scrape(&server).await;
    assert!(!text.contains("p:canary"), "{text}");
    assert!(!text.contains("alias=\"canary\""), "{text}");
    assert!(!text.contains("function=\"p\",resource=\"p:canary\""), "{text}");
    assert!(text.contains("function=\"p\",resource=\"p:prod\",executed_version=\"1\""), "{text}");

    tokio::time::sleep(metrics::FLUSH_EVERY + Duration::from_secs(1)).await;
    let r = store_reader(server.data_dir());
    let max = |metric: &'static str, d: &'static [(&'static str, &'static str)]| {
        let r = &r;
        async move {
            let series = Recorder::lambda_series(ACCOUNT, REGION, metric, &dims(d));
            let points = r.statistics(&series, from, from + 600_000, 600_000).await.unwrap();
            points.first().map(|p| (p.aggregate.max, p.aggregate.count))
        }
    };
    let on_provisioned = 1 + on_v1 as u64;
    let prod: &[(&str, &str)] = &[("FunctionName", "p"), ("Resource", "p:prod")];
    assert_eq!(stored(&r, from, "ProvisionedConcurrencyInvocations", prod).await, (1.0, 1));
    assert_eq!(stored(&r, from, "ProvisionedConcurrencySpilloverInvocations", prod).await.1, 0);
    let canary = [("FunctionName", "p"), ("Resource", "p:canary")];
    assert_eq!(stored(&r, from, "ProvisionedConcurrencyInvocations", &canary).await.0, on_v1);
    assert_eq!(stored(&r, from, "ProvisionedConcurrencySpilloverInvocations", &canary).await.0, on_v2);
    // Utilization and executions are of the config whose environment ran (prod's), one of one.
    let prod_config = &[("FunctionName", "p"), ("Resource", "p:prod")];
    assert_eq!(max("ProvisionedConcurrencyUtilization", prod_config).await, Some((1.0, on_provisioned)));
    assert_eq!(max("ProvisionedConcurrentExecutions", prod_config).await, Some((1.0, on_provisioned)));
    assert_eq!(max("ProvisionedConcurrentExecutions", &[("FunctionName", "p")]).await, Some((1.0, on_provisioned)));
    assert_eq!(max("ProvisionedConcurrentExecutions", &[]).await, Some((1.0, on_provisioned)));
    // The unqualified call and the canary calls on version 2 ran on demand, without a reservation.
    let (unreserved, n) = max("UnreservedConcurrentExecutions", &[]).await.unwrap();
    assert_eq!((unreserved, n), (1.0, 1 + on_v2 as u64));
    // The stored CloudWatch points of the deleted alias stay (as on AWS).
    assert_eq!(stored(&r, from, "Invocations", &[("FunctionName", "p"), ("Resource", "p:canary")]).await.0, 4.0);
}
