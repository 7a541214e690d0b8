//! Measures what recording one invocation costs (build with `--release`):
//! `cargo run --release -p metrics --example record_cost`.

use std::sync::Arc;
use std::time::Instant;

use metrics::{Invocation, Outcome, Recorder};
use store::{SqliteBackend, SqliteOptions, Store};

const ROUNDS: u32 = 200_000;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _guard = rt.enter();
    let dir = std::env::temp_dir().join(format!("versa-record-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let backend = SqliteBackend::open(&SqliteOptions { path: dir.join("versa.db") }).expect("store");
    let recorder = Recorder::new(Store::new(Arc::new(backend)));
    let now = stdx::time::now_ms();
    let functions: Vec<String> = (0..50).map(|i| format!("function-{i}")).collect();
    let cases = [
        ("alias (4 dimension sets)", Some("prod"), false),
        ("unqualified (2 sets)", None, false),
        ("alias + UnreservedConcurrentExecutions (the engine's path without a reservation)", Some("prod"), true),
    ];
    for (label, qualifier, unreserved) in cases {
        let started = Instant::now();
        for i in 0..ROUNDS {
            let start_ms = now + i64::from(i % 1000);
            if unreserved {
                recorder.unreserved_concurrency("123456789012", "us-east-1", start_ms, u64::from(i % 8));
            }
            recorder.invocation(&Invocation {
                account: "123456789012",
                region: "us-east-1",
                function: &functions[i as usize % functions.len()],
                qualifier,
                executed_version: if i % 2 == 0 { "1" } else { "2" },
                start_ms,
                duration_ms: f64::from(i % 997) * 0.37,
                outcome: if i % 10 == 0 { Outcome::FunctionError } else { Outcome::Success },
                concurrent: u64::from(i % 8),
                provisioned: None,
            });
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
        println!("{label}: {per:.2} µs per recorded invocation");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
