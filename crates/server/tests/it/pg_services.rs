//! The services on a PostgreSQL store (`--store postgres://…`): the same boto3 scripts as the
//! SQLite runs of `sqs.rs` and `cloudwatch_alarms.rs`, against a server whose store is a fresh
//! database of the throwaway test cluster (`testkit::postgres`; skipped without PostgreSQL unless
//! `VERSA_REQUIRE_POSTGRES=1`).

use testkit::TestServer;

use crate::support::{boto3_available, boto3_script};

/// A server on a fresh PostgreSQL database, or `None` (skipped) without boto3 or PostgreSQL.
async fn server(label: &str) -> Option<TestServer> {
    if !boto3_available() {
        return None;
    }
    let url = testkit::postgres::database(label)?;
    Some(
        TestServer::start_with(move |c| {
            c.store = server::StoreLocation::Postgres(url);
            c.single_node = true;
        })
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queues_messages_fifo_redrive_and_batches_on_postgres() {
    // A fresh server and database per part, as the SQLite runs have.
    for part in ["core", "fifo", "dlq", "batch", "longpoll", "concurrent", "tags"] {
        let Some(server) = server(&format!("it_pg_sqs_{part}")).await else { return };
        let out = boto3_script("sqs_boto3.py", &[&server.endpoint(), part]).await;
        assert_eq!(out["ok"], true, "{part}: {out}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_alarms_on_postgres() {
    let Some(server) = server("it_pg_alarms").await else { return };
    let v = boto3_script("alarms_boto3.py", &[&server.endpoint()]).await;
    for protocol in ["json", "query"] {
        let p = &v[protocol];
        assert_eq!(p["created"]["StateValue"], "INSUFFICIENT_DATA", "{protocol}");
        // The alarm read the metric point PutMetricData stored in PostgreSQL.
        assert_eq!(p["alarmed"]["StateValue"], "ALARM", "{protocol}");
        assert!(
            p["alarmed"]["StateReason"].as_str().unwrap().starts_with("Threshold Crossed: 1 datapoint [42.0 ("),
            "{protocol}: {}",
            p["alarmed"]["StateReason"]
        );
        assert_eq!(p["history"][0], "Alarm updated from INSUFFICIENT_DATA to ALARM", "{protocol}");
        assert_eq!(p["set"], true, "{protocol}");
        assert_eq!(p["tags"], serde_json::json!([{"Key": "k", "Value": "v"}]), "{protocol}");
        assert_eq!(p["deleted"], 0, "{protocol}");
    }
}
