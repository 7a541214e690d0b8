//! What one evaluator round costs with many alarms (the evaluator runs one about every second):
//! `cargo run --release -p alarms --example round_cost [ALARMS]`.

use std::sync::Arc;
use std::time::Instant;

use alarms::{Alarms, PutAlarm};
use metrics::{Invocation, Outcome, Recorder};
use store::{SqliteBackend, SqliteOptions, Store};

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = SqliteBackend::open(&SqliteOptions { path: dir.path().join("versa.db") }).expect("store");
    let store = Store::new(Arc::new(backend));
    let recorder = Recorder::new(store.clone());
    let alarms = Alarms::new(store, recorder.clone());
    let now = stdx::time::now_ms();
    for i in 0..n {
        let function = format!("f{}", i % 100);
        let resource = format!("{function}:prod");
        for minute in 0..3 {
            recorder.invocation(&Invocation {
                account: "123456789012",
                region: "us-east-1",
                function: &function,
                qualifier: Some("prod"),
                executed_version: "1",
                start_ms: now - minute * 60_000,
                duration_ms: 3.0,
                outcome: Outcome::Success,
                concurrent: 1,
                provisioned: None,
            });
        }
        let input = PutAlarm {
            alarm_name: Some(format!("a{i}")),
            metric_name: Some("Errors".into()),
            namespace: Some("AWS/Lambda".into()),
            statistic: Some("Sum".into()),
            dimensions: vec![("FunctionName".into(), function), ("Resource".into(), resource)],
            period: Some(60),
            evaluation_periods: Some(3),
            threshold: Some(1.0),
            comparison_operator: Some("GreaterThanOrEqualToThreshold".into()),
            ..PutAlarm::default()
        };
        alarms.put_metric_alarm("123456789012", "us-east-1", input).await.expect("put");
    }
    recorder.flush().await.expect("flush");
    for label in ["first (state changes)", "steady", "steady"] {
        let t = Instant::now();
        alarms.evaluate_round().await.expect("round");
        println!("{n} alarms, {label} round: {:?}", t.elapsed());
    }
}
