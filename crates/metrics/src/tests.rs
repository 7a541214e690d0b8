use std::sync::Arc;

use store::{SqliteBackend, SqliteOptions, Store};

use super::*;

fn store(dir: &std::path::Path) -> Store {
    let backend = SqliteBackend::open(&SqliteOptions { path: dir.join("versa.db") }).unwrap();
    Store::new(Arc::new(backend))
}

fn dims(pairs: &[(&str, &str)]) -> Dims {
    Dims::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

fn series(metric: &str, d: &[(&str, &str)]) -> MetricSeries {
    Recorder::lambda_series("123456789012", "us-east-1", metric, &dims(d))
}

fn invocation<'a>(qualifier: Option<&'a str>, version: &'a str, start_ms: i64, outcome: Outcome) -> Invocation<'a> {
    Invocation {
        account: "123456789012",
        region: "us-east-1",
        function: "f",
        qualifier,
        executed_version: version,
        start_ms,
        duration_ms: 12.5,
        outcome,
        concurrent: 3,
        provisioned: None,
    }
}

#[test]
fn dims_encode_sorted_and_round_trip() {
    let d = dims(&[("Resource", "f:prod"), ("FunctionName", "f"), ("ExecutedVersion", "2")]);
    assert_eq!(d.pairs()[0].0, "ExecutedVersion");
    assert_eq!(Dims::decode(&d.encode()), d);
    assert_eq!(Dims::decode(""), Dims::default());
}

#[test]
fn dimension_sets_follow_aws() {
    let sets = |q: Option<&str>| {
        let mut v = Vec::new();
        dim_sets("f", q, Some("2"), |d| v.push(Dims::decode(d)));
        v
    };
    assert_eq!(sets(None), vec![dims(&[]), dims(&[("FunctionName", "f")])]);
    assert_eq!(
        sets(Some("1")),
        vec![dims(&[]), dims(&[("FunctionName", "f")]), dims(&[("FunctionName", "f"), ("Resource", "f:1")])]
    );
    assert_eq!(
        sets(Some("prod")),
        vec![
            dims(&[]),
            dims(&[("FunctionName", "f")]),
            dims(&[("FunctionName", "f"), ("Resource", "f:prod")]),
            dims(&[("ExecutedVersion", "2"), ("FunctionName", "f"), ("Resource", "f:prod")]),
        ]
    );
}

#[tokio::test]
async fn invocations_aggregate_flush_merge_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let r = Recorder::new(store(dir.path()));
    let t = minute_of(stdx::time::now_ms());
    for i in 0..10 {
        let outcome = if i < 3 { Outcome::FunctionError } else { Outcome::Success };
        r.invocation(&invocation(Some("prod"), if i % 2 == 0 { "1" } else { "2" }, t + i, outcome));
    }
    r.flush().await.unwrap();
    // More after the flush: statistics merge the store with the open aggregates.
    r.invocation(&invocation(Some("prod"), "1", t + 100, Outcome::Success));
    let all = r.statistics(&series("Invocations", &[]), t, t + PERIOD_MS, PERIOD_MS).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].timestamp_ms, all[0].aggregate.sum), (t, 11.0));
    let errors_key = series("Errors", &[("FunctionName", "f"), ("Resource", "f:prod")]);
    let errors = r.statistics(&errors_key, t, t + PERIOD_MS, 60_000).await.unwrap();
    assert_eq!((errors[0].aggregate.sum, errors[0].aggregate.count), (3.0, 11));
    let v1 = series("Invocations", &[("ExecutedVersion", "1"), ("FunctionName", "f"), ("Resource", "f:prod")]);
    assert_eq!(r.statistics(&v1, t, t + PERIOD_MS, 60_000).await.unwrap()[0].aggregate.sum, 6.0);
    let duration = r.statistics(&series("Duration", &[("FunctionName", "f")]), t, t + PERIOD_MS, 60_000).await.unwrap();
    let p99 = duration[0].aggregate.percentile(99.0).unwrap();
    assert!((p99 - 12.5).abs() <= 12.5 * RELATIVE_ERROR, "{p99}");
    // A second flush merges into the stored point.
    r.flush().await.unwrap();
    let s = store(dir.path());
    drop(r);
    let key = series("Invocations", &[]);
    let p = s.read(move |tx| tx.metric_point(&key, t)).await.unwrap().unwrap();
    assert_eq!((p.sum, p.count), (11.0, 11));
}

fn custom(i: &str) -> MetricSeries {
    MetricSeries {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        namespace: "Custom".into(),
        metric: "M".into(),
        dims: dims(&[("i", i)]).encode(),
    }
}

#[test]
fn open_aggregates_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let _guard = rt.enter();
    let r = Recorder::new(store(dir.path()));
    for i in 0..MAX_SERIES + 5 {
        r.record(&custom(&i.to_string()), 0, 1.0);
    }
    assert_eq!(r.inner.open.lock().unwrap().series.len(), MAX_SERIES);
    assert_eq!(r.dropped().series, 5);
    // Points: several minutes of each series, up to the bound.
    let r = Recorder::new(store(dir.path()));
    let minutes = MAX_OPEN_POINTS.div_ceil(MAX_SERIES) as i64 + 1;
    for m in 0..minutes {
        for i in 0..MAX_OPEN_POINTS.div_ceil(minutes as usize) + 1 {
            r.record(&custom(&i.to_string()), m * PERIOD_MS, 1.0);
        }
    }
    let attempted = minutes as usize * (MAX_OPEN_POINTS.div_ceil(minutes as usize) + 1);
    assert_eq!(r.inner.open.lock().unwrap().points, MAX_OPEN_POINTS);
    assert_eq!(r.dropped().points as usize, attempted - MAX_OPEN_POINTS);
}

#[tokio::test]
async fn high_resolution_values_answer_second_periods_and_stay_as_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let r = Recorder::new(store(dir.path()));
    let t = minute_of(stdx::time::now_ms()) - PERIOD_MS;
    let s = custom("hr");
    for (offset, v) in [(100, 1.0), (500, 3.0), (1_200, 5.0), (7_000, 7.0)] {
        r.record_high_resolution(&s, t + offset, v);
    }
    // A plain value: minutes only.
    r.record(&s, t + 2_000, 100.0);
    let by = |period| {
        let r = r.clone();
        let s = s.clone();
        async move {
            let points = r.statistics(&s, t, t + PERIOD_MS, period).await.unwrap();
            points.into_iter().map(|p| (p.timestamp_ms - t, p.aggregate.sum, p.aggregate.count)).collect::<Vec<_>>()
        }
    };
    let open_seconds = by(1_000).await;
    assert_eq!(open_seconds, vec![(0, 4.0, 2), (1_000, 5.0, 1), (7_000, 7.0, 1)]);
    r.flush().await.unwrap();
    // From the store, merged with what came after the flush.
    r.record_high_resolution(&s, t + 7_900, 1.0);
    assert_eq!(by(1_000).await, vec![(0, 4.0, 2), (1_000, 5.0, 1), (7_000, 8.0, 2)]);
    assert_eq!(by(5_000).await, vec![(0, 9.0, 3), (5_000, 8.0, 2)]);
    assert_eq!(by(30_000).await, vec![(0, 17.0, 5)]);
    assert_eq!(by(60_000).await, vec![(0, 117.0, 6)]);
    // A period that is not a high-resolution one reads minutes.
    assert_eq!(by(2_000).await, vec![(0, 117.0, 6)]);
    r.flush().await.unwrap();
    assert_eq!(by(10_000).await, vec![(0, 17.0, 5)]);
    // Seconds older than their retention are not stored as seconds; their minute answers, as
    // one value at its start, for second periods too.
    let old = minute_of(stdx::time::now_ms() - HIGH_RESOLUTION_RETENTION_MS - 10 * PERIOD_MS);
    r.record_high_resolution(&s, old + 3_000, 2.0);
    r.record_high_resolution(&s, old + 13_000, 3.0);
    r.flush().await.unwrap();
    let seconds = r.statistics(&s, old, old + PERIOD_MS, 1_000).await.unwrap();
    assert_eq!(seconds.iter().map(|p| (p.timestamp_ms - old, p.aggregate.sum)).collect::<Vec<_>>(), vec![(0, 5.0)]);
    assert_eq!(r.statistics(&s, old, old + PERIOD_MS, PERIOD_MS).await.unwrap()[0].aggregate.sum, 5.0);
    // Whole aggregates (PutMetricData's Values and Counts) at high resolution.
    let many = custom("many");
    let mut a = Aggregate::default();
    for v in [1.0, 2.0, 3.0] {
        a.add(v);
    }
    r.record_aggregate_high_resolution(&many, t + 20_500, &a);
    r.record_aggregate_high_resolution(&many, t + 21_000, &a);
    let points = r.statistics(&many, t, t + PERIOD_MS, 20_000).await.unwrap();
    assert_eq!(points.iter().map(|p| (p.timestamp_ms - t, p.aggregate.count)).collect::<Vec<_>>(), vec![(20_000, 6)]);
    let points = r.statistics(&many, t, t + PERIOD_MS, 1_000).await.unwrap();
    assert_eq!(
        points.iter().map(|p| (p.timestamp_ms - t, p.aggregate.sum)).collect::<Vec<_>>(),
        vec![(20_000, 6.0), (21_000, 6.0)]
    );
    assert_eq!(r.statistics(&many, t, t + PERIOD_MS, PERIOD_MS).await.unwrap()[0].aggregate.max, 3.0);
    // A series recorded at standard resolution: its minutes answer second periods.
    let plain = custom("plain");
    r.record(&plain, t + 42_000, 4.0);
    let points = r.statistics(&plain, t, t + PERIOD_MS, 5_000).await.unwrap();
    assert_eq!(points.iter().map(|p| (p.timestamp_ms - t, p.aggregate.sum)).collect::<Vec<_>>(), vec![(0, 4.0)]);
}

#[test]
fn high_resolution_series_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let _guard = rt.enter();
    let r = Recorder::new(store(dir.path()));
    for i in 0..MAX_HIGH_RESOLUTION_SERIES + 3 {
        r.record_high_resolution(&custom(&i.to_string()), 0, 1.0);
    }
    let open = r.inner.open.lock().unwrap();
    assert_eq!(open.high_resolution.len(), MAX_HIGH_RESOLUTION_SERIES);
    assert_eq!(open.series.len(), MAX_HIGH_RESOLUTION_SERIES + 3, "every series keeps its minute");
    assert_eq!(open.high_resolution.values().filter(|s| !s.is_empty()).count(), MAX_HIGH_RESOLUTION_SERIES);
    assert_eq!(r.dropped().series, 3);
}

#[tokio::test]
async fn provisioned_and_unreserved_concurrency_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let r = Recorder::new(store(dir.path()));
    let t = minute_of(stdx::time::now_ms());
    for in_use in [1, 3, 2] {
        r.provisioned(&ProvisionedUse {
            account: "123456789012",
            region: "us-east-1",
            function: "f",
            qualifier: "prod",
            ts_ms: t + 5,
            in_use,
            allocated: 4,
            function_in_use: in_use + 1,
            account_in_use: in_use + 2,
        });
        r.unreserved_concurrency("123456789012", "us-east-1", t + 5, u64::from(in_use) * 10);
    }
    let max = |metric: &str, d: &[(&str, &str)]| {
        let r = r.clone();
        let s = series(metric, d);
        async move { r.statistics(&s, t, t + PERIOD_MS, PERIOD_MS).await.unwrap()[0].aggregate.max }
    };
    let prod = [("FunctionName", "f"), ("Resource", "f:prod")];
    assert_eq!(max("ProvisionedConcurrencyUtilization", &prod).await, 0.75);
    assert_eq!(max("ProvisionedConcurrentExecutions", &prod).await, 3.0);
    assert_eq!(max("ProvisionedConcurrentExecutions", &[("FunctionName", "f")]).await, 4.0);
    assert_eq!(max("ProvisionedConcurrentExecutions", &[]).await, 5.0);
    assert_eq!(max("UnreservedConcurrentExecutions", &[]).await, 30.0);
    let none = series("ProvisionedConcurrencyUtilization", &[("FunctionName", "f")]);
    assert!(r.statistics(&none, t, t + PERIOD_MS, PERIOD_MS).await.unwrap().is_empty());
}

#[tokio::test]
async fn dead_letter_and_destination_failures_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let r = Recorder::new(store(dir.path()));
    let t = minute_of(stdx::time::now_ms());
    let f = FunctionAt { account: "123456789012", region: "us-east-1", function: "f", qualifier: Some("prod") };
    r.dead_letter_error(&f, t);
    r.destination_failure(&f, t);
    r.destination_failure(&f, t + 1);
    let sum = |metric: &str, d: &[(&str, &str)]| {
        let r = r.clone();
        let s = series(metric, d);
        async move { r.statistics(&s, t, t + PERIOD_MS, PERIOD_MS).await.unwrap()[0].aggregate.sum }
    };
    let prod = [("FunctionName", "f"), ("Resource", "f:prod")];
    assert_eq!(sum("DeadLetterErrors", &prod).await, 1.0);
    assert_eq!(sum("DestinationDeliveryFailures", &prod).await, 2.0);
    assert_eq!(sum("DestinationDeliveryFailures", &[]).await, 2.0);
    let text = r.prometheus(&Gauges::default());
    assert!(text.contains("versa_async_destination_delivery_failures_total{account=\"123456789012\",region=\"us-east-1\",function=\"f\"} 2\n"), "{text}");
    assert!(text.contains(
        "versa_async_dead_letter_errors_total{account=\"123456789012\",region=\"us-east-1\",function=\"f\"} 1\n"
    ));
}

#[tokio::test]
async fn alias_traffic_counts_invocations_and_errors_per_executed_version() {
    let dir = tempfile::tempdir().unwrap();
    let r = Recorder::new(store(dir.path()));
    // Recent: the flush deletes points past retention.
    let t = minute_of(stdx::time::now_ms()) - 120_000 + 30_000;
    for (version, outcome) in
        [("1", Outcome::Success), ("1", Outcome::Success), ("2", Outcome::FunctionError), ("2", Outcome::Success)]
    {
        r.invocation(&invocation(Some("prod"), version, t, outcome));
    }
    // Another alias and the unqualified function are not prod's traffic.
    r.invocation(&invocation(Some("beta"), "2", t, Outcome::Success));
    r.invocation(&invocation(None, "1", t, Outcome::Success));
    r.flush().await.unwrap();
    // One more after the flush: read from the open aggregates.
    r.invocation(&invocation(Some("prod"), "2", t + 1_000, Outcome::FunctionError));
    let versions = ["1", "2", "3"].map(str::to_owned);
    let prod = FunctionAt { account: "123456789012", region: "us-east-1", function: "f", qualifier: Some("prod") };
    let got = r.alias_traffic(&prod, &versions, t - 60_000, t + 60_000).await.unwrap();
    assert_eq!(
        got,
        [
            VersionTraffic { version: "1".into(), invocations: 2, errors: 0 },
            VersionTraffic { version: "2".into(), invocations: 3, errors: 2 },
        ]
    );
    let before = r.alias_traffic(&prod, &versions, 0, t - 60_000).await.unwrap();
    assert_eq!(before, []);
}
