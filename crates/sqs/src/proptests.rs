//! Hostile request bodies: every operation's valid body, mutated, and arbitrary bytes, against
//! a real store. Each gets a JSON answer, 200 or a 4xx with `__type` and `x-amzn-query-error`,
//! never a panic or a 5xx.

use std::sync::Arc;

use propkit::proptest::prelude::*;
use propkit::proptest::{self, prop_assert, proptest};
use serde_json::{Value, json};

use crate::{Context, Sqs};

const CASES: u32 = 400;
const URL: &str = "http://localhost/000000000000/q";
const FIFO_URL: &str = "http://localhost/000000000000/q.fifo";
const MEMBERS: &[&str] = &[
    "QueueName",
    "QueueUrl",
    "Attributes",
    "AttributeNames",
    "MessageBody",
    "MessageAttributes",
    "MessageSystemAttributes",
    "DelaySeconds",
    "MessageGroupId",
    "MessageDeduplicationId",
    "MaxNumberOfMessages",
    "WaitTimeSeconds",
    "VisibilityTimeout",
    "ReceiptHandle",
    "Entries",
    "Id",
    "Tags",
    "TagKeys",
    "tags",
    "MaxResults",
    "NextToken",
    "QueueNamePrefix",
    "DataType",
    "StringValue",
    "BinaryValue",
];

fn requests() -> Vec<(&'static str, Value)> {
    let attrs =
        json!({"A": {"DataType": "String", "StringValue": "v"}, "B": {"DataType": "Binary", "BinaryValue": "AAE="}});
    vec![
        (
            "CreateQueue",
            json!({"QueueName": "other", "Attributes": {"VisibilityTimeout": "5", "DelaySeconds": "0"}, "tags": {"k": "v"}}),
        ),
        (
            "CreateQueue",
            json!({"QueueName": "o.fifo", "Attributes": {"FifoQueue": "true", "ContentBasedDeduplication": "true"}}),
        ),
        ("GetQueueUrl", json!({"QueueName": "q"})),
        ("ListQueues", json!({"QueueNamePrefix": "q", "MaxResults": 1})),
        ("GetQueueAttributes", json!({"QueueUrl": URL, "AttributeNames": ["All"]})),
        ("SetQueueAttributes", json!({"QueueUrl": URL, "Attributes": {"MessageRetentionPeriod": "600"}})),
        ("SendMessage", json!({"QueueUrl": URL, "MessageBody": "m", "MessageAttributes": attrs, "DelaySeconds": 0})),
        (
            "SendMessage",
            json!({"QueueUrl": FIFO_URL, "MessageBody": "m", "MessageGroupId": "g", "MessageDeduplicationId": "d"}),
        ),
        (
            "SendMessageBatch",
            json!({"QueueUrl": URL, "Entries": [{"Id": "a", "MessageBody": "m"}, {"Id": "b", "MessageBody": "n"}]}),
        ),
        (
            "ReceiveMessage",
            json!({"QueueUrl": URL, "MaxNumberOfMessages": 2, "WaitTimeSeconds": 0, "VisibilityTimeout": 0, "MessageAttributeNames": ["All"]}),
        ),
        ("DeleteMessage", json!({"QueueUrl": URL, "ReceiptHandle": "MTox"})),
        ("DeleteMessageBatch", json!({"QueueUrl": URL, "Entries": [{"Id": "a", "ReceiptHandle": "h"}]})),
        ("ChangeMessageVisibility", json!({"QueueUrl": URL, "ReceiptHandle": "h", "VisibilityTimeout": 1})),
        (
            "ChangeMessageVisibilityBatch",
            json!({"QueueUrl": URL, "Entries": [{"Id": "a", "ReceiptHandle": "h", "VisibilityTimeout": 1}]}),
        ),
        ("TagQueue", json!({"QueueUrl": URL, "Tags": {"a": "b"}})),
        ("UntagQueue", json!({"QueueUrl": URL, "TagKeys": ["a"]})),
        ("ListQueueTags", json!({"QueueUrl": URL})),
    ]
}

fn request() -> impl Strategy<Value = (String, Vec<u8>)> {
    prop_oneof![
        8 => proptest::sample::select(requests())
            .prop_flat_map(|(name, valid)| (Just(name.to_owned()), propkit::json_body(valid, MEMBERS))),
        1 => (".{0,24}", propkit::bytes(64)),
    ]
}

#[test]
fn every_request_gets_a_json_answer_and_no_5xx() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let backend = store::SqliteBackend::open(&store::SqliteOptions { path: dir.path().join("versa.db") }).unwrap();
    let sqs = Sqs::new(store::Store::new(Arc::new(backend)));
    let ctx = Context {
        account: "000000000000".into(),
        region: "us-east-1".into(),
        host: "localhost".into(),
        scheme: "http",
        sender_id: "test".into(),
    };
    rt.block_on(async {
        let setup = [
            ("CreateQueue", json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "0"}})),
            ("CreateQueue", json!({"QueueName": "q.fifo", "Attributes": {"FifoQueue": "true"}})),
        ];
        // Visible messages (visibility timeout 0) in `q`, so that a mutated long poll of it
        // answers at once.
        let sends = (0..20).map(|i| ("SendMessage", json!({"QueueUrl": URL, "MessageBody": format!("m{i}")})));
        for (op, body) in setup.into_iter().chain(sends) {
            let r = sqs.handle(&ctx, Some(&format!("AmazonSQS.{op}")), body.to_string().as_bytes()).await;
            assert_eq!(r.status, 200);
        }
    });
    let answered: std::cell::Cell<[u32; 2]> = std::cell::Cell::new([0, 0]);
    proptest!(propkit::config(CASES), |((op, body) in request())| {
        let target = format!("AmazonSQS.{op}");
        let r = rt.block_on(sqs.handle(&ctx, Some(&target), &body));
        let mut n = answered.get();
        n[usize::from(r.status != 200)] += 1;
        answered.set(n);
        prop_assert!(r.status == 200 || (400..500).contains(&r.status), "status {}: {}", r.status, String::from_utf8_lossy(&r.body));
        let v: Value = serde_json::from_slice(&r.body).expect("a JSON answer");
        if r.status != 200 {
            prop_assert!(v["__type"].as_str().is_some_and(|t| t.starts_with("com.amazonaws.sqs#")));
            prop_assert!(r.headers.iter().any(|(k, v)| *k == "x-amzn-query-error" && v.ends_with(";Sender")));
        }
    });
    let [ok, refused] = answered.get();
    assert!(ok > 20 && refused > 20, "{ok} answered, {refused} refused");
}
