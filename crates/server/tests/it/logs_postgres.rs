//! Function logs on a PostgreSQL store: two servers (as two nodes, each with its own data dir)
//! on one database see each other's logs — a function invoked on one node is read with the
//! CloudWatch Logs SDK on the other, and PutLogEvents on the second is read on the first, with
//! paging tokens from one node accepted by the other.

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_lambda::primitives::Blob;
use testkit::TestServer;

use crate::invoke::create_py;
use crate::logs::{PRINTER, find};

async fn node(url: &str, blobs: &std::path::Path) -> TestServer {
    let (url, blobs) = (url.to_owned(), blobs.to_owned());
    TestServer::start_with(move |c| {
        c.store = server::StoreLocation::Postgres(url);
        // Both nodes mount one file:// blobs dir (an invoke may run on the other node, its HRW
        // owner); a shared store with file:// blobs needs `--single-node`.
        c.single_node = true;
        std::os::unix::fs::symlink(&blobs, c.data_dir.join("blobs")).expect("shared blobs");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_share_function_logs() {
    let Some(url) = testkit::postgres::database("logs_two_nodes") else { return };
    let blobs = tempfile::tempdir().unwrap();
    let (a, b) = (node(&url, blobs.path()).await, node(&url, blobs.path()).await);

    let lambda_a = a.lambda();
    create_py(&lambda_a, "shared-logs", PRINTER).await;
    let out = lambda_a
        .invoke()
        .function_name("shared-logs")
        .payload(Blob::new(r#"{"marker": "from-node-a"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);

    // Node B reads the function's log, written by node A's environment.
    let logs_b = b.logs();
    let hits = find(&logs_b, "/aws/lambda/shared-logs", "from-node-a").await;
    assert_eq!(hits.len(), 1);
    assert!(hits[0].1.contains("marker from-node-a ran $LATEST"), "{hits:?}");
    let streams = logs_b.describe_log_streams().log_group_name("/aws/lambda/shared-logs").send().await.unwrap();
    let stream = streams.log_streams()[0].log_stream_name().unwrap().to_owned();
    let events = logs_b
        .get_log_events()
        .log_group_name("/aws/lambda/shared-logs")
        .log_stream_name(&stream)
        .start_from_head(true)
        .send()
        .await
        .unwrap();
    let messages: Vec<&str> = events.events().iter().filter_map(|e| e.message()).collect();
    assert!(messages.iter().any(|m| m.starts_with("START RequestId:")), "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("REPORT RequestId:")), "{messages:?}");

    // PutLogEvents on node B; node A pages through them with tokens, one of them made by B.
    logs_b.create_log_group().log_group_name("app").send().await.unwrap();
    logs_b.create_log_stream().log_group_name("app").log_stream_name("s").send().await.unwrap();
    let now = stdx::time::now_ms();
    let batch: Vec<InputLogEvent> = (0..30)
        .map(|i| InputLogEvent::builder().timestamp(now + i).message(format!("line {i}")).build().unwrap())
        .collect();
    logs_b
        .put_log_events()
        .log_group_name("app")
        .log_stream_name("s")
        .set_log_events(Some(batch))
        .send()
        .await
        .unwrap();
    let first = logs_b.filter_log_events().log_group_name("app").limit(10).send().await.unwrap();
    assert_eq!(first.events().len(), 10);
    let logs_a = a.logs();
    let mut token = first.next_token().map(str::to_owned);
    let mut rest = Vec::new();
    while let Some(t) = token {
        let page = logs_a.filter_log_events().log_group_name("app").limit(10).next_token(t).send().await.unwrap();
        rest.extend(page.events().iter().map(|e| e.message().unwrap().to_owned()));
        token = page.next_token().map(str::to_owned);
    }
    assert_eq!(rest, (10..30).map(|i| format!("line {i}")).collect::<Vec<_>>());
    let groups = logs_a.describe_log_groups().log_group_name_prefix("app").send().await.unwrap();
    let expected: i64 = (0..30).map(|i| format!("line {i}").len() as i64 + 26).sum();
    assert_eq!(groups.log_groups()[0].stored_bytes(), Some(expected));

    // Nothing went to SQLite files in the data dirs.
    assert!(!a.data_dir().join("logs.db").exists());
    assert!(!b.data_dir().join("logs.db").exists());
    b.stop().await;
    a.stop().await;
}
