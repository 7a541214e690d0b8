//! The event source mapping pollers' sources (`invoke::esm::{QueueSource, StreamSource}`) and
//! the mapping checks (`control::EsmSources`), over the service crates' in-process client
//! traits — the seam where another endpoint could serve them.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use invoke::esm::{BoxFuture, QueueMessage, QueueSource};
use serde_json::{Map, Value, json};
use sqs::QueueClient;

/// SQS through `sqs::QueueClient`.
pub struct Queues<C: QueueClient>(pub C);

fn message(m: sqs::Message) -> QueueMessage {
    let attrs: Map<String, Value> = m
        .message_attributes
        .into_iter()
        .map(|(k, a)| {
            let mut v = json!({"stringListValues": [], "binaryListValues": [], "dataType": a.data_type});
            if let Some(s) = a.string_value {
                v["stringValue"] = json!(s);
            }
            if let Some(b) = a.binary_value {
                v["binaryValue"] = json!(base64::engine::general_purpose::STANDARD.encode(b));
            }
            (k, v)
        })
        .collect();
    QueueMessage {
        message_id: m.message_id,
        receipt_handle: m.receipt_handle,
        body: m.body,
        md5_of_body: m.md5_of_body,
        md5_of_message_attributes: m.md5_of_message_attributes,
        attributes: m.attributes,
        message_attributes: Value::Object(attrs),
    }
}

impl<C: QueueClient + 'static> QueueSource for Queues<C> {
    fn receive<'a>(
        &'a self,
        queue_arn: &'a str,
        max: u32,
        wait: Duration,
    ) -> BoxFuture<'a, Result<Vec<QueueMessage>, String>> {
        Box::pin(async move {
            let got = self.0.receive(queue_arn, max, wait, None).await.map_err(|e| e.to_string())?;
            Ok(got.into_iter().map(message).collect())
        })
    }

    fn delete<'a>(&'a self, queue_arn: &'a str, receipt_handles: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            for chunk in receipt_handles.chunks(sqs::BATCH_ENTRIES_MAX) {
                let out = self.0.delete_batch(queue_arn, chunk).await.map_err(|e| e.to_string())?;
                if let Some(Err(e)) = out.into_iter().find(Result::is_err) {
                    return Err(e.to_string());
                }
            }
            Ok(())
        })
    }

    fn send<'a>(&'a self, queue_arn: &'a str, body: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let group = queue_arn.ends_with(".fifo").then_some("esm-on-failure");
            self.0.send(queue_arn, body, group).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// The mapping checks: whether the queue exists (its type and visibility timeout).
pub fn checks(sqs: sqs::Sqs) -> control::EsmSources {
    let client = Arc::new(sqs.client());
    Arc::new(move |_scope, arn: String| {
        let client = client.clone();
        Box::pin(async move {
            match control::SourceKind::of(&arn) {
                Some(control::SourceKind::Sqs) => match client.queue_info(&arn).await {
                    Ok(q) => {
                        control::SourceCheck::Queue { fifo: q.fifo, visibility_timeout_s: q.visibility_timeout_secs }
                    }
                    Err(_) => control::SourceCheck::Missing,
                },
                _ => control::SourceCheck::Stream,
            }
        })
    })
}
