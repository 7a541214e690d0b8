//! [`QueueClient`]: what an event source mapping poller needs from SQS, as a trait, so that it
//! could point at another endpoint; [`InProcess`] implements it over the same functions the
//! API runs (no HTTP, no JSON).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{Value, json};

use crate::attrs;
use crate::ops::{self, Queue};
use crate::{Context, Error, Sqs};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A received message with every system and message attribute (what a Lambda SQS event
/// record carries, reference §3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: String,
    /// `None` without message attributes.
    pub md5_of_message_attributes: Option<String>,
    /// `ApproximateReceiveCount`, `SentTimestamp`, `SenderId`, `ApproximateFirstReceiveTimestamp`;
    /// FIFO adds `MessageGroupId`, `MessageDeduplicationId`, `SequenceNumber`.
    pub attributes: BTreeMap<String, String>,
    pub message_attributes: BTreeMap<String, MessageAttribute>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageAttribute {
    pub data_type: String,
    pub string_value: Option<String>,
    pub binary_value: Option<Vec<u8>>,
}

/// What a poller needs to know about a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    pub arn: String,
    pub fifo: bool,
    pub visibility_timeout_secs: u32,
}

/// The SQS operations an event source mapping uses, by queue ARN.
pub trait QueueClient: Send + Sync {
    /// The queue's type and visibility timeout; `QueueDoesNotExist` when it is not there.
    fn queue_info<'a>(&'a self, queue_arn: &'a str) -> BoxFuture<'a, Result<QueueInfo, Error>>;
    /// ReceiveMessage with all attributes: at most `max` (1–10) messages, long-polling up to
    /// `wait` (≤ 20 s), invisible for `visibility` seconds (the queue's default when `None`).
    fn receive<'a>(
        &'a self,
        queue_arn: &'a str,
        max: u32,
        wait: Duration,
        visibility: Option<u32>,
    ) -> BoxFuture<'a, Result<Vec<Message>, Error>>;
    /// DeleteMessageBatch: one outcome per handle, in order.
    fn delete_batch<'a>(
        &'a self,
        queue_arn: &'a str,
        receipt_handles: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Result<(), Error>>, Error>>;
    /// ChangeMessageVisibility: the message becomes visible `timeout_secs` from now.
    fn change_visibility<'a>(
        &'a self,
        queue_arn: &'a str,
        receipt_handle: &'a str,
        timeout_secs: u32,
    ) -> BoxFuture<'a, Result<(), Error>>;
    /// SendMessage of a body (an OnFailure destination, a dead letter) with `attributes`
    /// (SendMessage's `MessageAttributes` object, checked as SendMessage checks it); FIFO queues
    /// need `group_id` and use content-based deduplication when the queue has it, else the
    /// message id.
    fn send<'a>(
        &'a self,
        queue_arn: &'a str,
        body: &'a str,
        attributes: Option<&'a Value>,
        group_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, Error>>;
}

/// The in-process [`QueueClient`] (`Sqs::client`).
#[derive(Debug, Clone)]
pub struct InProcess {
    pub(crate) sqs: Sqs,
}

fn context(q: &Queue) -> Context {
    Context {
        account: q.row.account.clone(),
        region: q.row.region.clone(),
        host: "localhost".to_owned(),
        scheme: "http",
        sender_id: q.row.account.clone(),
    }
}

impl QueueClient for InProcess {
    fn queue_info<'a>(&'a self, queue_arn: &'a str) -> BoxFuture<'a, Result<QueueInfo, Error>> {
        Box::pin(async move {
            let q = self.sqs.by_arn(queue_arn).await?;
            Ok(QueueInfo {
                arn: q.arn(),
                fifo: q.doc.fifo(),
                visibility_timeout_secs: attrs::number(&q.doc.attrs, "VisibilityTimeout") as u32,
            })
        })
    }

    fn receive<'a>(
        &'a self,
        queue_arn: &'a str,
        max: u32,
        wait: Duration,
        visibility: Option<u32>,
    ) -> BoxFuture<'a, Result<Vec<Message>, Error>> {
        Box::pin(async move {
            let q = self.sqs.by_arn(queue_arn).await?;
            let max = (max as usize).clamp(1, crate::BATCH_ENTRIES_MAX);
            let wait = wait.min(Duration::from_secs(crate::WAIT_SECONDS_MAX as u64));
            let rows = self.sqs.receive(&q, max, wait, visibility.map(i64::from)).await?;
            let all = ["All".to_owned()];
            Ok(rows
                .iter()
                .map(|m| {
                    let selected = ops::selected_attributes(m, &all);
                    Message {
                        message_id: m.message_id.clone(),
                        receipt_handle: m.receipt.clone().unwrap_or_default(),
                        body: m.body.clone(),
                        md5_of_body: m.md5_body.clone(),
                        md5_of_message_attributes: attrs::md5_of(&selected),
                        attributes: ops::system_attributes(&q, m, &all),
                        message_attributes: selected
                            .into_iter()
                            .map(|(k, a)| {
                                (
                                    k,
                                    MessageAttribute {
                                        data_type: a.data_type,
                                        string_value: a.string,
                                        binary_value: a.binary,
                                    },
                                )
                            })
                            .collect(),
                    }
                })
                .collect())
        })
    }

    fn delete_batch<'a>(
        &'a self,
        queue_arn: &'a str,
        receipt_handles: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Result<(), Error>>, Error>> {
        Box::pin(async move {
            let q = self.sqs.by_arn(queue_arn).await?;
            self.sqs.delete(&q, receipt_handles.to_vec()).await
        })
    }

    fn change_visibility<'a>(
        &'a self,
        queue_arn: &'a str,
        receipt_handle: &'a str,
        timeout_secs: u32,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let q = self.sqs.by_arn(queue_arn).await?;
            let mut out =
                self.sqs.change_visibility(&q, vec![(receipt_handle.to_owned(), i64::from(timeout_secs))]).await?;
            out.pop().unwrap_or(Ok(()))
        })
    }

    fn send<'a>(
        &'a self,
        queue_arn: &'a str,
        body: &'a str,
        attributes: Option<&'a Value>,
        group_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let q = self.sqs.by_arn(queue_arn).await?;
            let mut input = json!({"MessageBody": body});
            if let Some(a) = attributes {
                input["MessageAttributes"] = a.clone();
            }
            if let Some(g) = group_id {
                input["MessageGroupId"] = json!(g);
            }
            if q.doc.fifo() && q.doc.attrs.get("ContentBasedDeduplication").is_none_or(|v| v != "true") {
                input["MessageDeduplicationId"] = json!(uuid::Uuid::new_v4().simple().to_string());
            }
            let entry = ops::parse_send(&q, &input)?;
            let mut out = self.sqs.send(&q, &context(&q), vec![entry]).await?;
            out.pop().unwrap_or_else(|| Err(Error::no_queue())).map(|s| s.message_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ctx() -> Context {
        Context {
            account: "000000000000".to_owned(),
            region: "us-east-1".to_owned(),
            host: "localhost".to_owned(),
            scheme: "http",
            sender_id: "test".to_owned(),
        }
    }

    async fn call(sqs: &Sqs, op: &str, body: serde_json::Value) -> serde_json::Value {
        let r = sqs.handle(&ctx(), Some(&format!("AmazonSQS.{op}")), body.to_string().as_bytes()).await;
        assert_eq!(r.status, 200, "{op}: {}", String::from_utf8_lossy(&r.body));
        serde_json::from_slice(&r.body).unwrap()
    }

    #[tokio::test]
    async fn the_in_process_client_receives_deletes_and_changes_visibility() {
        let dir = tempfile::tempdir().unwrap();
        let backend = store::SqliteBackend::open(&store::SqliteOptions { path: dir.path().join("db") }).unwrap();
        let sqs = Sqs::new(store::Store::new(Arc::new(backend)));
        let url = call(&sqs, "CreateQueue", json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "7"}})).await;
        let url = url["QueueUrl"].as_str().unwrap().to_owned();
        let attrs = json!({"Author": {"DataType": "String", "StringValue": "John Grisham"}});
        for body in ["one", "two"] {
            call(&sqs, "SendMessage", json!({"QueueUrl": url, "MessageBody": body, "MessageAttributes": attrs})).await;
        }
        let client: Arc<dyn QueueClient> = Arc::new(sqs.client());
        let arn = "arn:aws:sqs:us-east-1:000000000000:q";
        let info = client.queue_info(arn).await.unwrap();
        assert_eq!((info.fifo, info.visibility_timeout_secs), (false, 7));
        let got = client.receive(arn, 10, Duration::ZERO, None).await.unwrap();
        assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(got[0].attributes["ApproximateReceiveCount"], "1");
        assert_eq!(got[0].message_attributes["Author"].string_value.as_deref(), Some("John Grisham"));
        assert!(got[0].md5_of_message_attributes.is_some());
        // One made visible again, one deleted: only the first comes back, received twice.
        client.change_visibility(arn, &got[0].receipt_handle, 0).await.unwrap();
        let deleted = client.delete_batch(arn, &[got[1].receipt_handle.clone()]).await.unwrap();
        assert_eq!(deleted, vec![Ok(())]);
        let again = client.receive(arn, 10, Duration::from_millis(200), Some(30)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].body.as_str(), again[0].attributes["ApproximateReceiveCount"].as_str()), ("one", "2"));
        // Sending (an OnFailure destination) and a missing queue.
        client.send(arn, "failure record", None, None).await.unwrap();
        let e = client.receive("arn:aws:sqs:us-east-1:000000000000:nope", 1, Duration::ZERO, None).await.unwrap_err();
        assert_eq!(e.query_code, "AWS.SimpleQueueService.NonExistentQueue");
    }
}
