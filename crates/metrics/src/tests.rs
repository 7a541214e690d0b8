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
