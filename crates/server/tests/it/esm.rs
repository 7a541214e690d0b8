//! Lambda event source mappings (event-sources.md §2, §7): boto3 drives the API against a real
//! server — states, the alias kept in FunctionArn, filters, the recorded errors.

use testkit::TestServer;

use crate::support::boto3_available;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_follow_aws_states_shapes_and_errors() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = crate::support::boto3_script("esm_boto3.py", &[&server.endpoint(), "api"]).await;
    assert_eq!(out["sqs_mapping"]["State"], "Enabled", "{out}");
    // The queue was real: the missing-queue and visibility checks ran.
    assert_eq!(out["real"]["sqs"], true, "{out}");
    assert!(out["sqs_mapping"]["FunctionArn"].as_str().unwrap().ends_with(":function:fn:prod"), "{out}");
}

/// Mappings are durable, and a restart settles what a crash left transitional.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_survive_kill_9() {
    if !boto3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_versa"));
    let first = testkit::ServerProcess::spawn(bin, dir.path());
    let out = crate::support::boto3_script("esm_boto3.py", &[&first.endpoint(), "api"]).await;
    first.kill_9();
    let second = testkit::ServerProcess::spawn(bin, dir.path());
    let uuid = out["uuids"]["stream"].as_str().unwrap();
    let got = crate::support::boto3_script("esm_boto3.py", &[&second.endpoint(), "get", uuid]).await;
    assert_eq!(got["State"], "Enabled", "{got}");
    assert_eq!(got["MaximumRetryAttempts"], 1, "{got}");
    second.terminate();
}

/// §7 checks 8 and 10 through a mapping on an alias: a partial batch failure redelivers only the
/// failed messages, which end in the DLQ after maxReceiveCount; a promotion is seen by the
/// next batch; an empty itemIdentifier fails the whole batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_mapping_on_an_alias_redelivers_only_failures() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = crate::support::boto3_script("esm_boto3.py", &[&server.endpoint(), "sqs"]).await;
    assert!(out["batches"].as_u64().unwrap() >= 4, "{out}");
}

/// Done when: a table's stream mapped on `prod` delivers INSERT/MODIFY/REMOVE in order; a
/// promotion runs at the next batch; a poison record is retried MaximumRetryAttempts times, then
/// its OnFailure record reaches the SQS destination and later records flow (§7 checks 2–4, 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mapping_on_an_alias_delivers_in_order() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = crate::support::boto3_script("esm_boto3.py", &[&server.endpoint(), "stream"]).await;
    assert!(out["stream"].as_str().unwrap().contains(":table/tab/stream/"), "{out}");
}

/// §7 check 7: `kill -9` mid-stream loses nothing and reorders nothing within the shard; the
/// replay after the restart starts at the last checkpoint (duplicates at most one batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mapping_resumes_at_its_checkpoint_after_kill_9() {
    if !boto3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_versa"));
    let first = testkit::ServerProcess::spawn(bin, dir.path());
    crate::support::boto3_script("esm_boto3.py", &[&first.endpoint(), "stream-kill-start"]).await;
    first.kill_9();
    let second = testkit::ServerProcess::spawn(bin, dir.path());
    let out = crate::support::boto3_script("esm_boto3.py", &[&second.endpoint(), "stream-kill-finish"]).await;
    // BatchSize is 7: a replay repeats at most the batch in flight at the kill.
    assert!(out["duplicates"].as_u64().unwrap() <= 7, "{out}");
    second.terminate();
}

/// MaximumBatchingWindowInSeconds on a stream mapping gathers records up to BatchSize or the
/// window, whichever comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mapping_batching_window() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = crate::support::boto3_script("esm_boto3.py", &[&server.endpoint(), "stream-window"]).await;
    assert_eq!(out["batches"][0], serde_json::json!(["w1", "w2", "w3"]), "{out}");
}

/// Tag/Untag/ListTags on mapping ARNs and Tags on CreateEventSourceMapping; the tags go with
/// the mapping (then the recorded not-found text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_tags() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = crate::support::boto3_script("esm_boto3.py", &[&server.endpoint(), "tags"]).await;
    assert_eq!(out["gone"]["list"]["status"], 404, "{out}");
}

/// A LATEST mapping records where LATEST was when its poller first read the shard: records
/// written while it was disabled and the server was killed are delivered after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_stream_mapping_keeps_its_position_across_kill_9() {
    if !boto3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_versa"));
    let first = testkit::ServerProcess::spawn(bin, dir.path());
    let out = crate::support::boto3_script("esm_boto3.py", &[&first.endpoint(), "stream-latest-start"]).await;
    first.kill_9();
    let second = testkit::ServerProcess::spawn(bin, dir.path());
    let uuid = out["uuid"].as_str().unwrap();
    let out = crate::support::boto3_script("esm_boto3.py", &[&second.endpoint(), "stream-latest-finish", uuid]).await;
    assert_eq!(out["keys"], serde_json::json!(["while-down", "after"]), "{out}");
    second.terminate();
}

/// A LATEST mapping's position is recorded at CreateEventSourceMapping: a record written between
/// its answer and the first poll is delivered; one written before the Create is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_stream_mapping_starts_at_create() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = crate::support::boto3_script("esm_boto3.py", &[&server.endpoint(), "stream-latest-create"]).await;
    assert_eq!(out["keys"], serde_json::json!(["after-create", "enabled"]), "{out}");
}

/// ParallelizationFactor > 1: batches of one shard run at once (their spans overlap), and the
/// records of one item key reach the function in the order they were written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mapping_parallelization_keeps_per_key_order() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = crate::support::boto3_script("esm_boto3.py", &[&server.endpoint(), "stream-parallel"]).await;
    assert!(out["overlap"].as_u64().unwrap() >= 2, "{out}");
}

/// ParallelizationFactor 3 and a kill -9 with batches in flight: after the restart every version
/// of every key is handled, per key in order; the replay repeats at most one round
/// (BatchSize 4 × 3 lanes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_stream_mapping_resumes_after_kill_9() {
    if !boto3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_versa"));
    let first = testkit::ServerProcess::spawn(bin, dir.path());
    crate::support::boto3_script("esm_boto3.py", &[&first.endpoint(), "stream-parallel-kill-start"]).await;
    first.kill_9();
    let second = testkit::ServerProcess::spawn(bin, dir.path());
    let out = crate::support::boto3_script("esm_boto3.py", &[&second.endpoint(), "stream-parallel-kill-finish"]).await;
    assert!(out["duplicates"].as_u64().unwrap() <= 12, "{out}");
    second.terminate();
}

/// TumblingWindowInSeconds: windows aligned to its multiples, the function's state carried from
/// invoke to invoke within a window, a final invoke (`isFinalInvokeForWindow`) closing each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mapping_tumbling_windows_carry_state() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = crate::support::boto3_script("esm_boto3.py", &[&server.endpoint(), "stream-tumbling"]).await;
    assert_eq!(out["sum"], 21, "{out}");
}

/// §7 check 9: an UpdateAlias halfway through 50 messages — each handled exactly once, the
/// first half on version 1 and the second on version 2; and FIFO order per message group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_mapping_promotion_halfway_and_fifo_order() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let out = crate::support::boto3_script("esm_boto3.py", &[&server.endpoint(), "sqs-more"]).await;
    assert_eq!(out["fifo"].as_array().unwrap().len(), 12, "{out}");
}

/// README's "The queue and the table feeding `prod`", with the aws CLI: a queue mapping and a
/// LATEST stream mapping on `hello:prod`; the message is handled and deleted, the item written
/// right after the stream mapping's answer is delivered (LastProcessingResult OK).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_runs_the_readme_mapping_tour() {
    if !crate::cli::aws_available() {
        return;
    }
    let server = TestServer::start().await;
    let aws = crate::cli::Aws { endpoint: server.endpoint(), home: tempfile::tempdir().unwrap() };
    let zip = aws.home.path().join("hello.zip");
    std::fs::write(&zip, crate::examples::example_zip("python")).unwrap();
    let zip_arg = format!("fileb://{}", zip.display());
    #[rustfmt::skip]
    aws.json(&["lambda", "create-function", "--function-name", "hello", "--runtime", "python3.12",
        "--handler", "index.handler", "--role", "arn:aws:iam::000000000000:role/lambda", "--zip-file", &zip_arg]).await;
    aws.json(&["lambda", "wait", "function-active-v2", "--function-name", "hello"]).await;
    aws.json(&["lambda", "publish-version", "--function-name", "hello"]).await;
    aws.json(&["lambda", "create-alias", "--function-name", "hello", "--name", "prod", "--function-version", "1"])
        .await;
    let q = aws
        .json(&["sqs", "create-queue", "--queue-name", "orders", "--attributes", r#"{"VisibilityTimeout":"5"}"#])
        .await;
    let q = q["QueueUrl"].as_str().unwrap().to_owned();
    #[rustfmt::skip]
    let table = aws.json(&["dynamodb", "create-table", "--table-name", "notes", "--billing-mode", "PAY_PER_REQUEST",
        "--attribute-definitions", "AttributeName=id,AttributeType=S", "--key-schema", "AttributeName=id,KeyType=HASH",
        "--stream-specification", "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES"]).await;
    let stream = table["TableDescription"]["LatestStreamArn"].as_str().unwrap().to_owned();
    #[rustfmt::skip]
    let m = aws.json(&["lambda", "create-event-source-mapping", "--function-name", "hello:prod", "--batch-size", "5",
        "--event-source-arn", "arn:aws:sqs:us-east-1:000000000000:orders"]).await;
    assert_eq!(m["State"], "Creating", "{m}");
    assert_eq!(m["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:hello:prod", "{m}");
    aws.json(&["sqs", "send-message", "--queue-url", &q, "--message-body", r#"{"order": 2}"#]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let log = aws.json(&["logs", "filter-log-events", "--log-group-name", "/aws/lambda/hello"]).await;
        let handled = log["events"].as_array().is_some_and(|e| e.iter().any(|e| e["message"] == "greeting world"));
        #[rustfmt::skip]
        let a = aws.json(&["sqs", "get-queue-attributes", "--queue-url", &q, "--attribute-names",
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]).await;
        if handled
            && a["Attributes"]["ApproximateNumberOfMessages"] == "0"
            && a["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the message was not handled and deleted: {a} {log}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    #[rustfmt::skip]
    let m = aws.json(&["lambda", "create-event-source-mapping", "--function-name", "hello:prod",
        "--event-source-arn", &stream, "--starting-position", "LATEST"]).await;
    let uuid = m["UUID"].as_str().unwrap().to_owned();
    #[rustfmt::skip]
    aws.json(&["dynamodb", "put-item", "--table-name", "notes", "--item", r#"{"id": {"S": "2"}, "text": {"S": "for prod"}}"#]).await;
    loop {
        let got = aws.json(&["lambda", "get-event-source-mapping", "--uuid", &uuid]).await;
        if got["State"] == "Enabled" && got["LastProcessingResult"] == "OK" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the record was not delivered: {got}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let list = aws.json(&["lambda", "list-event-source-mappings", "--function-name", "hello:prod"]).await;
    assert_eq!(list["EventSourceMappings"].as_array().unwrap().len(), 2, "{list}");
}
