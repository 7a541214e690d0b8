//! SQS (reference event-sources.md §5.1) with boto3 against the real server: queues and
//! attributes, send/receive/delete with visibility, FIFO order and deduplication, redrive to a
//! dead-letter queue, batches, long polling, tags, the exact errors (which change nothing),
//! and durability under `kill -9`. The scripts' parts are in `py/sqs_boto3.py`.

use testkit::{ServerProcess, TestServer};

use crate::support::{boto3_available, boto3_script};

async fn part(name: &str) -> serde_json::Value {
    let server = TestServer::start().await;
    boto3_script("sqs_boto3.py", &[&server.endpoint(), name]).await
}

/// Issue 14's SQS leftovers: the 12-hour visibility limit of a receive, QueueDeletedRecently,
/// Add/RemovePermission, ReceiveRequestAttemptId on FIFO, SenderId.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_limit_deleted_recently_permissions_and_attempt_ids() {
    if !boto3_available() {
        return;
    }
    let out = part("leftovers").await;
    assert_eq!(out["attempt"], serde_json::json!(["f1", "f2"]), "{out}");
    assert_eq!(out["deleted_recently"]["Status"], 400, "{out}");
}

/// Message move tasks: a dead-letter queue's messages go back to their source queue, as new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_move_tasks_redrive_a_dead_letter_queue() {
    if !boto3_available() {
        return;
    }
    let out = part("moves").await;
    assert_eq!(out["moves"]["ApproximateNumberOfMessagesMoved"], 3, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_send_receive_visibility_delete() {
    if !boto3_available() {
        return;
    }
    let out = part("core").await;
    assert_eq!(out["ok"], true);
    assert_eq!(out["purge_again"]["Status"], 403);
    assert_eq!(out["purge_again"]["Code"], "AWS.SimpleQueueService.PurgeQueueInProgress");
    assert_eq!(out["deleted"]["QueryErrorCode"], "QueueDoesNotExist");
}

/// Shapes recorded on AWS: attribute-name filters, Number attributes, FIFO batches without
/// their ids, one server-side encryption at a time, the throughput rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_numbers_fifo_batches_and_sse_answer_as_recorded() {
    if !boto3_available() {
        return;
    }
    assert_eq!(part("shapes").await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_awss_and_change_nothing() {
    if !boto3_available() {
        return;
    }
    let out = part("errors").await;
    let expect = |key: &str, code: &str, message: &str| {
        assert_eq!((out[key]["Code"].as_str(), out[key]["Message"].as_str()), (Some(code), Some(message)), "{key}");
        assert_eq!(out[key]["Type"], "Sender", "{key}");
    };
    // Acceptance check 11: the modelled exception and the query code.
    assert_eq!(out["modelled"], true);
    expect("no_queue", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.");
    assert_eq!(out["no_queue"]["QueryErrorCode"], "QueueDoesNotExist");
    expect(
        "exists",
        "QueueAlreadyExists",
        "A queue already exists with the same name and a different value for attribute DelaySeconds",
    );
    expect(
        "bad_name",
        "InvalidParameterValue",
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
    );
    expect(
        "fifo_attr",
        "InvalidAttributeName",
        "You can specify the ContentBasedDeduplication only when FifoQueue is set to true.",
    );
    expect("bad_vt", "InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.");
    expect("unknown_attr", "InvalidAttributeName", "Unknown Attribute Colour.");
    expect("get_unknown", "InvalidAttributeName", "Unknown Attribute Colour.");
    expect(
        "too_big",
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.",
    );
    expect("empty_body", "MissingParameter", "The request must contain the parameter MessageBody.");
    expect(
        "max_messages",
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
    );
    expect(
        "wait",
        "InvalidParameterValue",
        "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
    );
    expect(
        "garbage_handle",
        "ReceiptHandleIsInvalid",
        "The input receipt handle \"garbage\" is not a valid receipt handle.",
    );
    expect("no_queue_send", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.");
    let vis = out["visibility_deleted"]["Message"].as_str().unwrap();
    assert!(
        vis.ends_with("Reason: Message does not exist or is not available for visibility timeout change."),
        "{vis}"
    );
    assert_eq!(out["bad_chars"]["Code"], "InvalidMessageContents");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_keeps_group_order_and_deduplicates() {
    if !boto3_available() {
        return;
    }
    let out = part("fifo").await;
    assert_eq!(out["ok"], true);
    assert_eq!(out["no_group"]["Message"], "The request must contain the parameter MessageGroupId.");
    assert_eq!(
        out["no_dedup"]["Message"],
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
    );
    assert_eq!(
        out["delay"]["Message"],
        "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue() {
    if !boto3_available() {
        return;
    }
    assert_eq!(part("dlq").await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_answer_per_entry_and_refuse_bad_batches_whole() {
    if !boto3_available() {
        return;
    }
    let out = part("batch").await;
    assert_eq!(out["ok"], true);
    assert_eq!(out["too_many"]["Message"], "Maximum number of entries per request are 10. You have sent 11.");
    assert_eq!(out["too_long"]["Code"], "AWS.SimpleQueueService.BatchRequestTooLong");
    assert_eq!(out["repeated"]["Code"], "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
    assert_eq!(out["bad_id"]["Code"], "AWS.SimpleQueueService.InvalidBatchEntryId");
    assert_eq!(out["empty"]["Code"], "AWS.SimpleQueueService.EmptyBatchRequest");
    assert_eq!(out["entry_failure"]["Code"], "MissingParameter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_wake_on_send_and_on_visibility() {
    if !boto3_available() {
        return;
    }
    assert_eq!(part("longpoll").await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_receivers_each_get_a_message_once_and_attributes_round_trip() {
    if !boto3_available() {
        return;
    }
    assert_eq!(part("concurrent").await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_tags() {
    if !boto3_available() {
        return;
    }
    assert_eq!(part("tags").await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_sends_and_in_flight_messages_survive_kill_9() {
    if !boto3_available() {
        return;
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_versa"));
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::spawn(bin, dir.path());
    let before = boto3_script("sqs_boto3.py", &[&first.endpoint(), "kill-before"]).await;
    first.kill_9();
    let second = ServerProcess::spawn(bin, dir.path());
    let after = boto3_script("sqs_boto3.py", &[&second.endpoint(), "kill-after"]).await;
    let seen = &after["seen"];
    let acked = &seen[before["acknowledged"].as_str().unwrap()];
    assert_eq!((acked["body"].as_str(), acked["count"].as_str()), (Some("acknowledged"), Some("1")), "{after}");
    // The message in flight at the kill comes back once its visibility timeout (3 s) ran out,
    // received for the second time.
    let in_flight = &seen[before["in_flight"].as_str().unwrap()];
    assert_eq!((in_flight["body"].as_str(), in_flight["count"].as_str()), (Some("in-flight"), Some("2")), "{after}");
    let waited = in_flight["at"].as_f64().unwrap() - before["received_at"].as_f64().unwrap();
    assert!(waited >= 2.9, "it reappeared {waited:.2} s after its receive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods)] // tests run host tools (python3) directly
async fn signed_requests_are_served_and_forged_ones_change_nothing() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start_sigv4().await;
    let key = server.root_key().await;
    let script = crate::support::manifest_dir().join("tests/it/py/sqs_boto3.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script)
        .args([&server.endpoint(), "signed"])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SQS_KEY_ID", &key.id)
        .env("SQS_SECRET", &key.secret);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["url"].as_str().unwrap().ends_with("/signed"), "{v}");
    assert_eq!(v["forged"]["Status"], 403, "{v}");
    assert_eq!(v["forged"]["Code"], "SignatureDoesNotMatch", "{v}");
    assert_eq!(
        v["forged_wire"],
        serde_json::json!({"status": 403, "type": "com.amazon.coral.service#InvalidSignatureException", "query": "SignatureDoesNotMatch;Sender"}),
        "{v}"
    );
}

/// The wire itself (what botocore reads the codes from): an unsigned `AmazonSQS.` target, the
/// error's `__type` and `x-amzn-query-error`, and the attribute MD5 of reference §3.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_carries_the_modelled_type_and_the_query_code() {
    let server = TestServer::start().await;
    let mut http = testkit::http::Client::new(server.addr);
    let call = |op: &str| {
        [("x-amz-target", format!("AmazonSQS.{op}")), ("content-type", "application/x-amz-json-1.0".to_owned())]
    };
    let send = async |http: &mut testkit::http::Client, op: &str, body: serde_json::Value| {
        let headers = call(op);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        http.send("POST", "/", &headers, body.to_string().as_bytes()).await.unwrap()
    };
    let r = send(&mut http, "GetQueueUrl", serde_json::json!({"QueueName": "nope"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-query-error"), Some("AWS.SimpleQueueService.NonExistentQueue;Sender"));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."})
    );
    let r = send(&mut http, "CreateQueue", serde_json::json!({"QueueName": "wire"})).await;
    assert_eq!(r.status, 200);
    let url = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["QueueUrl"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("http://{}/000000000000/wire", server.addr));
    let attrs = serde_json::json!({
        "Author": {"DataType": "String", "StringValue": "John Grisham"},
        "Title": {"DataType": "String", "StringValue": "The Whistler"},
        "WeeksOn": {"DataType": "Number", "StringValue": "6"},
    });
    let r = send(
        &mut http,
        "SendMessage",
        serde_json::json!({"QueueUrl": url, "MessageBody": "msg", "MessageAttributes": attrs}),
    )
    .await;
    let sent: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(sent["MD5OfMessageAttributes"], "d25a6aea97eb8f585bfa92d314504a92");
    assert_eq!(sent["MD5OfMessageBody"], "6e2baaf3b97dbeef01c0043275f9a0e7");
    // An empty receive has no `Messages` member at all.
    let r = send(&mut http, "ReceiveMessage", serde_json::json!({"QueueUrl": url, "VisibilityTimeout": 30})).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["Messages"][0]["Body"], "msg");
    let r = send(&mut http, "ReceiveMessage", serde_json::json!({"QueueUrl": url})).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(), serde_json::json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_ends_long_polls_at_once() {
    if !boto3_available() {
        return;
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_versa"));
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(bin, dir.path());
    let endpoint = server.endpoint();
    let marker = dir.path().join("polling");
    let marker_arg = marker.to_str().unwrap().to_owned();
    let poll =
        tokio::spawn(async move { boto3_script("sqs_boto3.py", &[&endpoint, "poll-through-stop", &marker_arg]).await });
    // The script touches the marker right before its long poll; then give the request a moment to arrive.
    let waiting = std::time::Instant::now();
    while !marker.exists() {
        assert!(waiting.elapsed() < std::time::Duration::from_secs(60), "the script never started its poll");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    let started = std::time::Instant::now();
    let clean = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    let stop = started.elapsed();
    assert!(clean, "the server exits cleanly");
    assert!(stop < std::time::Duration::from_secs(5), "the stop took {stop:?}");
    let out = poll.await.unwrap();
    assert_eq!(out["messages"], 0, "{out}");
    assert!(out["waited"].as_f64().unwrap() < 10.0, "{out}");
}
