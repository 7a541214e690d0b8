//! DynamoDB and DynamoDB Streams end to end (issue 14 points 1 and 2): boto3 drives tables,
//! items, conditions, updates, queries, batches, transactions, TTL, tags, waiters and streams
//! against a real server (`py/dynamodb_boto3.py` asserts the exact errors as it goes); the aws
//! CLI runs the README's tour; acknowledged writes and their stream records survive `kill -9`.

// JUSTIFICATION: the tests run the real `python3` with boto3 and the real `aws` CLI.
#![allow(clippy::disallowed_methods)]

use testkit::{ServerProcess, TestServer};

use crate::support::boto3_available;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

async fn script(endpoint: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec![endpoint];
    all.extend_from_slice(args);
    crate::support::boto3_script("dynamodb_boto3.py", &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_tables_items_queries_transactions_and_streams() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = script(&server.endpoint(), &["story"]).await;
    assert!(v["records"].as_u64().unwrap() >= 25, "{v}");
    assert!(v["pages"].as_u64().unwrap() >= 3, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_targets_are_signed_dynamodb_under_sigv4() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start_sigv4().await;
    let key = server.root_key().await;
    let v = script(&server.endpoint(), &["signed", &key.id, &key.secret]).await;
    assert!(!v["refused"].as_str().unwrap().is_empty(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_and_their_records_survive_kill_9() {
    if !boto3_available() {
        return;
    }
    const WRITES: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::spawn(bin(), dir.path());
    let written = script(&first.endpoint(), &["durable-write", &WRITES.to_string()]).await;
    first.kill_9();
    let second = ServerProcess::spawn(bin(), dir.path());
    let read = script(&second.endpoint(), &["durable-read"]).await;
    assert_eq!(read["items"].as_u64(), Some(WRITES as u64), "{read}");
    assert_eq!(read["records"].as_u64(), Some(WRITES as u64), "one stream record per acknowledged write: {read}");
    assert_eq!(read["last_seq_before"], written["last_seq"], "{read} {written}");
    // Sequence numbers never restart: the first write after the restart is above every earlier one.
    let (before, after) = (read["last_seq_before"].as_str().unwrap(), read["new_seq"].as_str().unwrap());
    assert!(after.len() >= 21 && after.parse::<u128>().unwrap() > before.parse::<u128>().unwrap(), "{read}");
    assert_eq!(read["seqs_increase"], true);
}

/// The README's tour, literally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_runs_the_readme_table_tour() {
    if !crate::cli::aws_available() {
        return;
    }
    let server = TestServer::start().await;
    let aws = crate::cli::Aws { endpoint: server.endpoint(), home: tempfile::tempdir().unwrap() };
    let created = aws
        .json(&[
            "dynamodb",
            "create-table",
            "--table-name",
            "notes",
            "--attribute-definitions",
            "AttributeName=id,AttributeType=S",
            "--key-schema",
            "AttributeName=id,KeyType=HASH",
            "--billing-mode",
            "PAY_PER_REQUEST",
            "--stream-specification",
            "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES",
        ])
        .await;
    let stream = created["TableDescription"]["LatestStreamArn"].as_str().unwrap().to_owned();
    aws.json(&["dynamodb", "wait", "table-exists", "--table-name", "notes"]).await;
    aws.json(&["dynamodb", "put-item", "--table-name", "notes", "--item", r#"{"id":{"S":"1"},"text":{"S":"hello"}}"#])
        .await;
    let got = aws.json(&["dynamodb", "get-item", "--table-name", "notes", "--key", r#"{"id":{"S":"1"}}"#]).await;
    assert_eq!(got["Item"]["text"]["S"], "hello", "{got}");
    let failed = aws
        .run(&[
            "dynamodb",
            "put-item",
            "--table-name",
            "notes",
            "--item",
            r#"{"id":{"S":"1"}}"#,
            "--condition-expression",
            "attribute_not_exists(id)",
        ])
        .await;
    assert!(!failed.ok && failed.stderr.contains("ConditionalCheckFailedException"), "{}", failed.stderr);
    let desc = aws.json(&["dynamodbstreams", "describe-stream", "--stream-arn", &stream]).await;
    let shard = desc["StreamDescription"]["Shards"][0]["ShardId"].as_str().unwrap().to_owned();
    let it = aws
        .json(&[
            "dynamodbstreams",
            "get-shard-iterator",
            "--stream-arn",
            &stream,
            "--shard-id",
            &shard,
            "--shard-iterator-type",
            "TRIM_HORIZON",
        ])
        .await;
    let recs =
        aws.json(&["dynamodbstreams", "get-records", "--shard-iterator", it["ShardIterator"].as_str().unwrap()]).await;
    assert_eq!(recs["Records"][0]["eventName"], "INSERT", "{recs}");
    assert_eq!(recs["Records"].as_array().unwrap().len(), 1, "the refused put wrote no record: {recs}");
}

/// Unsigned requests are DynamoDB's by their target prefix (`--auth off`), errors carry AWS's
/// `__type`, and each target serves only its own operations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_requests_route_by_target_prefix_with_aws_error_shapes() {
    let server = TestServer::start().await;
    let mut http = testkit::http::Client::new(server.addr);
    let mut call = async |target: &str, body: &str| {
        let headers = [("x-amz-target", target), ("content-type", "application/x-amz-json-1.0")];
        http.send("POST", "/", &headers, body.as_bytes()).await.unwrap()
    };
    let r = call("DynamoDB_20120810.DescribeTable", r#"{"TableName":"missing"}"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    assert_eq!(
        r.json(),
        serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
                           "message": "Requested resource not found: Table: missing not found"})
    );
    let r = call("DynamoDBStreams_20120810.ListStreams", "{}").await;
    assert_eq!((r.status, r.json()["Streams"].clone()), (200, serde_json::json!([])), "{}", r.text());
    for (target, body) in [("DynamoDBStreams_20120810.ListTables", "{}"), ("DynamoDB_20120810.ListStreams", "{}")] {
        let r = call(target, body).await;
        assert_eq!(r.status, 400, "{target}");
        assert_eq!(r.json()["__type"], "com.amazon.coral.service#UnknownOperationException", "{target}");
    }
    let r = call("DynamoDB_20120810.ListTables", "{not json").await;
    assert_eq!(r.json()["__type"], "com.amazon.coral.service#SerializationException");
}
