//! The event source mapping pollers' sources (`invoke::esm::{QueueSource, StreamSource}`) and
//! the mapping checks (`control::EsmSources`), over the service crates' in-process client
//! traits — the seam where another endpoint could serve them.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use dynamodb::StreamClient;
use invoke::esm::{BoxFuture, QueueMessage, QueueSource};
use invoke::esm::{RecordsPage, StreamSource};
use model::scope::Scope;
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
            self.0.send(queue_arn, body, None, group).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// Asynchronous invocations' destinations and dead letters (`invoke::events::Sinks`): this
/// server's SQS queues and EventBridge buses.
pub struct Destinations<C: QueueClient> {
    pub queues: C,
    pub buses: eventbridge::EventBridge,
}

impl<C: QueueClient + 'static> invoke::events::Sinks for Destinations<C> {
    fn send_message<'a>(
        &'a self,
        queue_arn: &'a str,
        body: &'a str,
        attributes: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let group = queue_arn.ends_with(".fifo").then_some("lambda-destination");
            self.queues.send(queue_arn, body, attributes, group).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }

    fn put_event<'a>(
        &'a self,
        scope: &'a Scope,
        bus_arn: &'a str,
        detail_type: &'a str,
        detail: &'a str,
        resources: Vec<String>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.buses
                .put_event(scope, bus_arn, "lambda", detail_type, detail, &resources)
                .await
                .map_err(|e| format!("{}: {}", e.code, e.message))
        })
    }
}

/// DynamoDB Streams through `dynamodb::StreamClient` (one in-process client per scope).
pub struct Streams(pub dynamodb::DynamoDb);

fn client(db: &dynamodb::DynamoDb, scope: &Scope) -> dynamodb::InProcessStreams {
    db.stream_client(scope.account.as_str(), scope.region.as_str())
}

fn text(e: dynamodb::ClientError) -> String {
    format!("{}: {}", e.code, e.message)
}

impl StreamSource for Streams {
    fn shards<'a>(&'a self, scope: &'a Scope, stream_arn: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let d = client(&self.0, scope).describe_stream(stream_arn).await.map_err(text)?;
            Ok(d["Shards"]
                .as_array()
                .map(|s| s.iter().filter_map(|s| s["ShardId"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default())
        })
    }

    fn iterator<'a>(
        &'a self,
        scope: &'a Scope,
        stream_arn: &'a str,
        shard: &'a str,
        kind: &'a str,
        sequence: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            client(&self.0, scope).get_shard_iterator(stream_arn, shard, kind, sequence).await.map_err(text)
        })
    }

    fn latest<'a>(
        &'a self,
        scope: &'a Scope,
        stream_arn: &'a str,
        shard: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(async move { client(&self.0, scope).latest_sequence(stream_arn, shard).await.map_err(text) })
    }

    fn records<'a>(
        &'a self,
        scope: &'a Scope,
        iterator: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<RecordsPage, String>> {
        Box::pin(async move {
            let mut v = client(&self.0, scope).get_records(iterator, limit).await.map_err(text)?;
            let records = match v["Records"].take() {
                Value::Array(r) => r,
                _ => Vec::new(),
            };
            Ok((records, v["NextShardIterator"].as_str().map(str::to_owned)))
        })
    }
}

/// The mapping checks: whether the queue exists (its type and visibility timeout), whether the
/// stream exists.
pub fn checks(sqs: sqs::Sqs, db: dynamodb::DynamoDb) -> control::EsmSources {
    let queues = Arc::new(sqs.client());
    Arc::new(move |scope: Scope, arn: String| {
        let (queues, db) = (queues.clone(), db.clone());
        Box::pin(async move {
            match control::SourceKind::of(&arn) {
                Some(control::SourceKind::Sqs) => match queues.queue_info(&arn).await {
                    Ok(q) => {
                        control::SourceCheck::Queue { fifo: q.fifo, visibility_timeout_s: q.visibility_timeout_secs }
                    }
                    Err(_) => control::SourceCheck::Missing,
                },
                _ => {
                    let c = client(&db, &scope);
                    let d = match c.describe_stream(&arn).await {
                        Ok(d) => d,
                        // Several nodes, the DynamoDB home down: not the caller's fault.
                        Err(e) if e.code == "ServiceUnavailable" => {
                            return control::SourceCheck::Unavailable(e.message);
                        }
                        Err(_) => return control::SourceCheck::Missing,
                    };
                    let mut latest = Vec::new();
                    for shard in d["Shards"].as_array().into_iter().flatten() {
                        let Some(id) = shard["ShardId"].as_str() else { continue };
                        // A closed shard has nothing after LATEST; only open shards matter.
                        if shard["SequenceNumberRange"].get("EndingSequenceNumber").is_some() {
                            continue;
                        }
                        match c.latest_sequence(&arn, id).await {
                            Ok(seq) => latest.push((id.to_owned(), seq)),
                            Err(e) if e.code == "ServiceUnavailable" => {
                                return control::SourceCheck::Unavailable(e.message);
                            }
                            Err(_) => return control::SourceCheck::Missing,
                        }
                    }
                    control::SourceCheck::Stream { latest }
                }
            }
        })
    })
}
