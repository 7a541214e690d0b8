//! Event source mapping pollers (event-sources.md §3, §4.1, §4.2, §7): SQS queues and DynamoDB
//! streams feed functions in batches, synchronously, through the mapping's FunctionArn — an
//! alias is resolved per batch by `Control::resolve_invoke`, so a promotion takes effect at the
//! next batch.
//!
//! The sources are reached through [`QueueSource`] and [`StreamSource`], implemented by
//! `server` over the `sqs` and `dynamodb` crates' client traits (in process; another endpoint
//! could implement them), so this crate depends on neither service.
//!
//! Durability: SQS in-flight state is the queue's own (a received message is invisible until
//! deleted after success, else reappears after its visibility timeout with ReceiveCount + 1,
//! and the queue's redrive policy moves it to its DLQ). Stream positions are checkpoints in the
//! store per (mapping, stream label/shard), advanced only when a batch's outcome is final
//! (success; partial failure → just before the lowest failed record; exhausted → after the
//! OnFailure record is sent), so a crash replays from the last checkpoint, in order.

pub mod filter;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use control::Control;
use model::scope::Scope;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::{Engine, InvokeError, Request, Target};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A received SQS message, its `messageAttributes` already in the Lambda event's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: String,
    pub md5_of_message_attributes: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub message_attributes: Value,
}

/// What the SQS poller needs of a queue service (errors are texts for the log).
pub trait QueueSource: Send + Sync {
    /// At most `max` (≤ 10) messages, long-polling up to `wait`.
    fn receive<'a>(
        &'a self,
        queue_arn: &'a str,
        max: u32,
        wait: Duration,
    ) -> BoxFuture<'a, Result<Vec<QueueMessage>, String>>;
    fn delete<'a>(&'a self, queue_arn: &'a str, receipt_handles: &'a [String]) -> BoxFuture<'a, Result<(), String>>;
    /// SendMessage of a plain body (OnFailure destinations of stream mappings).
    fn send<'a>(&'a self, queue_arn: &'a str, body: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

/// One GetRecords answer: the records (the API's JSON) and the next iterator (`None`: the
/// shard is closed and drained).
pub type RecordsPage = (Vec<Value>, Option<String>);

/// What the stream poller needs of a DynamoDB Streams service, in the caller's scope.
pub trait StreamSource: Send + Sync {
    /// The stream's shard ids, parents first.
    fn shards<'a>(&'a self, scope: &'a Scope, stream_arn: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>>;
    /// `kind`: TRIM_HORIZON, LATEST, AFTER_SEQUENCE_NUMBER (with `sequence`).
    fn iterator<'a>(
        &'a self,
        scope: &'a Scope,
        stream_arn: &'a str,
        shard: &'a str,
        kind: &'a str,
        sequence: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, String>>;
    /// Where LATEST is now, as a checkpoint: the shard's last sequence number, `None` when the
    /// shard has no record yet (then TRIM_HORIZON names the same place).
    fn latest<'a>(
        &'a self,
        scope: &'a Scope,
        stream_arn: &'a str,
        shard: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, String>>;
    fn records<'a>(
        &'a self,
        scope: &'a Scope,
        iterator: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<RecordsPage, String>>;
}

/// The sources the pollers may use; a mapping whose source is not served waits.
#[derive(Clone, Default)]
pub struct Sources {
    pub queues: Option<Arc<dyn QueueSource>>,
    pub streams: Option<Arc<dyn StreamSource>>,
    /// Several nodes: an SQS mapping is polled only by the HRW owner of its UUID among the
    /// live nodes (`None`: one node, every mapping here); a DynamoDB stream mapping only by
    /// the DynamoDB home (`Duties::hosts_dynamodb`), whose files hold the streams.
    pub duties: Option<Arc<dyn stdx::duty::Duties>>,
}

/// How often the supervisor re-reads the mappings when nothing wakes it.
const RESCAN: Duration = Duration::from_secs(1);
/// SQS long-poll wait per ReceiveMessage (AWS's pollers use 20 s).
const SQS_WAIT: Duration = Duration::from_secs(20);
/// Most messages one ReceiveMessage returns.
const SQS_RECEIVE_MAX: u32 = 10;
/// Pollers per SQS mapping without ScalingConfig (AWS starts at 5).
const SQS_WORKERS_DEFAULT: i64 = 5;
/// Most pollers per SQS mapping here, whatever ScalingConfig says.
const SQS_WORKERS_MAX: i64 = 16;
/// The pause after a source error before polling again.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);
/// Stream polls per second per shard (4 on AWS): the pause when a shard has nothing new.
const STREAM_IDLE: Duration = Duration::from_millis(250);
/// The pause before retrying a failed stream batch.
const STREAM_RETRY_BACKOFF: Duration = Duration::from_millis(200);
/// Most records one GetRecords returns.
const STREAM_RECORDS_MAX: i64 = 1000;
/// How a source error naming TrimmedDataAccessException starts (`code: message`).
const TRIMMED: &str = "TrimmedDataAccessException";
/// Longest tumbling window (TumblingWindowInSeconds' maximum).
const TUMBLING_MAX: i64 = 900;
/// Largest tumbling-window state (AWS: 1 MB per shard); beyond it the window ends early.
const WINDOW_STATE_BYTES_MAX: usize = 1024 * 1024;
/// Most lanes per shard (ParallelizationFactor's maximum).
const PARALLELIZATION_MAX: i64 = 10;
/// Most records one round of a parallel shard reads (BatchSize × ParallelizationFactor, capped).
const ROUND_RECORDS_MAX: usize = 10_000;
/// Payload bound of one batch (Lambda's 6 MB synchronous payload).
const BATCH_BYTES_MAX: usize = 6 * 1024 * 1024;

/// A running mapping: its pollers see the mapping document (updates included) through the
/// watch; `None` stops them.
struct Running {
    doc: watch::Sender<Option<Value>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Runs the pollers until the returned task is aborted.
pub fn start(control: Arc<Control>, engine: Arc<Engine>, sources: Sources) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut running: HashMap<String, Running> = HashMap::new();
        let changes = control.esm_changes();
        loop {
            let notified = changes.notified();
            match control.all_event_source_mappings().await {
                Ok(all) => reconcile(&control, &engine, &sources, &mut running, all),
                Err(e) => tracing::error!(error = %e, "cannot read event source mappings"),
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(RESCAN) => {}
            }
        }
    })
}

fn reconcile(
    control: &Arc<Control>,
    engine: &Arc<Engine>,
    sources: &Sources,
    running: &mut HashMap<String, Running>,
    all: Vec<(Scope, Value)>,
) {
    let mut live = std::collections::HashSet::new();
    for (scope, doc) in all {
        let uuid = doc["UUID"].as_str().unwrap_or_default().to_owned();
        let state = doc["State"].as_str().unwrap_or_default();
        if !matches!(state, "Enabled" | "Updating" | "Creating" | "Enabling") {
            continue;
        }
        let kind = control::SourceKind::of(doc["EventSourceArn"].as_str().unwrap_or_default());
        let sqs = kind == Some(control::SourceKind::Sqs);
        if sqs && sources.duties.as_ref().is_some_and(|d| !d.owns(&uuid)) {
            // Another node owns it: ours (if it ran here before the ownership moved) stops
            // below, and the owner resumes from the queue (unacknowledged messages reappear).
            continue;
        }
        if kind == Some(control::SourceKind::DynamoDbStream)
            && sources.duties.as_ref().is_some_and(|d| !d.hosts_dynamodb())
        {
            // Streams are read on the DynamoDB home, where they are written (and where writes
            // wake the poller); its checkpoints are in the shared store.
            continue;
        }
        live.insert(uuid.clone());
        if let Some(r) = running.get(&uuid) {
            if r.doc.borrow().as_ref() != Some(&doc) {
                let _ = r.doc.send(Some(doc));
            }
            continue;
        }
        let source = doc["EventSourceArn"].as_str().unwrap_or_default().to_owned();
        let (tx, rx) = watch::channel(Some(doc.clone()));
        let mut tasks = Vec::new();
        match control::SourceKind::of(&source) {
            Some(control::SourceKind::Sqs) => {
                let Some(queues) = sources.queues.clone() else { continue };
                let workers = doc["ScalingConfig"]["MaximumConcurrency"]
                    .as_i64()
                    .unwrap_or(SQS_WORKERS_DEFAULT)
                    .clamp(1, SQS_WORKERS_MAX);
                for _ in 0..workers {
                    let p = Poller {
                        control: control.clone(),
                        engine: engine.clone(),
                        scope: scope.clone(),
                        uuid: uuid.clone(),
                    };
                    tasks.push(tokio::spawn(sqs_worker(p, queues.clone(), rx.clone())));
                }
            }
            Some(control::SourceKind::DynamoDbStream) => {
                let Some(streams) = sources.streams.clone() else { continue };
                let p = Poller {
                    control: control.clone(),
                    engine: engine.clone(),
                    scope: scope.clone(),
                    uuid: uuid.clone(),
                };
                tasks.push(tokio::spawn(stream_worker(p, streams, sources.queues.clone(), rx)));
            }
            None => continue,
        }
        tracing::info!(%uuid, %source, "event source mapping polling");
        running.insert(uuid, Running { doc: tx, tasks });
    }
    running.retain(|uuid, r| {
        if live.contains(uuid) {
            return true;
        }
        // Stopped between batches: a batch in flight finishes (its outcome is recorded).
        let _ = r.doc.send(None);
        r.tasks.retain(|t| !t.is_finished());
        tracing::info!(%uuid, "event source mapping stopped");
        false
    });
}

/// One mapping's identity, for its pollers.
#[derive(Clone)]
struct Poller {
    control: Arc<Control>,
    engine: Arc<Engine>,
    scope: Scope,
    uuid: String,
}

/// How a batch ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Everything succeeded.
    Success,
    /// Only these items (indices into the batch, ascending) failed.
    Partial(Vec<usize>),
    /// The whole batch failed; `function_error` when the function ran and failed.
    Failed { function_error: bool, executed_version: Option<String> },
    /// Nothing ran: throttled, or the target is gone.
    NotRun(String),
}

/// Reads a partial batch response (§3.5) against the batch's item ids.
pub fn batch_response(payload: &[u8], ids: &[&str]) -> Outcome {
    let v: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(_) => return Outcome::Success,
    };
    let failures = match &v {
        Value::Object(m) => match m.get("batchItemFailures") {
            None | Some(Value::Null) => return Outcome::Success,
            Some(Value::Array(list)) => list,
            Some(_) => return Outcome::Failed { function_error: false, executed_version: None },
        },
        _ => return Outcome::Success,
    };
    if failures.is_empty() {
        return Outcome::Success;
    }
    let mut idx = Vec::new();
    for f in failures {
        let id = f.get("itemIdentifier").and_then(Value::as_str).filter(|s| !s.is_empty());
        match id.and_then(|id| ids.iter().position(|x| *x == id)) {
            Some(i) => idx.push(i),
            None => return Outcome::Failed { function_error: false, executed_version: None },
        }
    }
    idx.sort_unstable();
    idx.dedup();
    Outcome::Partial(idx)
}

/// A finished invocation: the function's answer, whether it failed, the version that ran.
struct Ran {
    payload: bytes::Bytes,
    function_error: bool,
    executed: String,
}

impl Poller {
    /// One synchronous invocation of the mapping's function (resolved now) with `payload`.
    async fn invoke(&self, doc: &Value, payload: Vec<u8>, ids: &[&str]) -> Outcome {
        let report =
            doc["FunctionResponseTypes"].as_array().is_some_and(|a| a.iter().any(|t| t == "ReportBatchItemFailures"));
        match self.run(doc, payload).await {
            Ok(r) if !r.function_error => {
                if report {
                    match batch_response(&r.payload, ids) {
                        Outcome::Failed { function_error, .. } => {
                            Outcome::Failed { function_error, executed_version: Some(r.executed) }
                        }
                        o => o,
                    }
                } else {
                    Outcome::Success
                }
            }
            Ok(r) => Outcome::Failed { function_error: true, executed_version: Some(r.executed) },
            Err(o) => o,
        }
    }

    /// Runs the mapping's function (resolved now) on `payload`; `Err` when it did not finish.
    async fn run(&self, doc: &Value, payload: Vec<u8>) -> Result<Ran, Outcome> {
        let arn = doc["FunctionArn"].as_str().unwrap_or_default();
        let rest = arn.splitn(7, ':').nth(6).unwrap_or_default();
        let (name, qualifier) = match rest.split_once(':') {
            Some((n, q)) => (n, Some(q)),
            None => (rest, None),
        };
        let target = match self.control.resolve_invoke(&self.scope, name, qualifier).await {
            Ok(t) => t,
            // A deleted function or alias under the mapping is a function error (retries, DLQ).
            Err(e) => {
                tracing::warn!(uuid = %self.uuid, error = %e, "event source mapping target not found");
                return Err(Outcome::Failed { function_error: false, executed_version: None });
            }
        };
        let unreserved = match self.control.unreserved_concurrency(&self.scope).await {
            Ok(u) => u,
            Err(e) => return Err(Outcome::NotRun(e.to_string())),
        };
        let executed = target.version.to_string();
        let t = Target {
            scope: self.scope.clone(),
            function_id: target.function_id,
            function_name: target.function_name,
            version: target.version,
            record: target.record,
            invoked_arn: target.invoked_arn,
            reserved_concurrency: target.reserved_concurrency,
            unreserved_concurrency: unreserved,
            provisioned_concurrency: target.provisioned_concurrency,
        };
        let request = Request {
            request_id: uuid::Uuid::new_v4().to_string(),
            payload: bytes::Bytes::from(payload),
            client_context: None,
            log_tail: false,
        };
        match self.engine.invoke(t, request).await {
            Ok(r) => Ok(Ran { payload: r.payload, function_error: r.function_error, executed }),
            Err(e @ (InvokeError::Throttled { .. } | InvokeError::TooManyEnvironments)) => {
                Err(Outcome::NotRun(e.to_string()))
            }
            Err(e) => {
                tracing::warn!(uuid = %self.uuid, error = %e, "event source mapping invocation failed");
                Err(Outcome::Failed { function_error: false, executed_version: Some(executed) })
            }
        }
    }
}

/// The Lambda event record of one SQS message (§3.1).
pub fn sqs_record(m: &QueueMessage, queue_arn: &str, region: &str) -> Value {
    let mut r = json!({
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": m.attributes,
        "messageAttributes": m.message_attributes,
        "md5OfBody": m.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    });
    if let Some(md5) = &m.md5_of_message_attributes {
        r["md5OfMessageAttributes"] = json!(md5);
    }
    r
}

/// What an SQS filter sees of a message: `body` as JSON when it is JSON.
fn sqs_filter_doc(m: &QueueMessage) -> Value {
    let body = serde_json::from_str::<Value>(&m.body).unwrap_or_else(|_| Value::String(m.body.clone()));
    json!({"body": body, "messageId": m.message_id, "attributes": m.attributes, "messageAttributes": m.message_attributes})
}

async fn sqs_worker(p: Poller, queues: Arc<dyn QueueSource>, mut rx: watch::Receiver<Option<Value>>) {
    loop {
        let Some(doc) = rx.borrow_and_update().clone() else { return };
        let queue = doc["EventSourceArn"].as_str().unwrap_or_default().to_owned();
        let batch_size = doc["BatchSize"].as_i64().unwrap_or(10).max(1) as usize;
        let window = Duration::from_secs(doc["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0));
        // Gather a batch: up to BatchSize, within the batching window once something came.
        let mut batch: Vec<QueueMessage> = Vec::new();
        let mut bytes = 0;
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let want = (batch_size - batch.len()).min(SQS_RECEIVE_MAX as usize) as u32;
            let wait = match deadline {
                None => SQS_WAIT,
                Some(d) => d.saturating_duration_since(tokio::time::Instant::now()),
            };
            let got = tokio::select! {
                r = queues.receive(&queue, want, wait) => r,
                _ = rx.changed() => break,
            };
            match got {
                Ok(ms) => {
                    for m in ms {
                        bytes += m.body.len();
                        batch.push(m);
                    }
                }
                Err(e) => {
                    tracing::warn!(uuid = %p.uuid, %queue, error = %e, "ReceiveMessage failed");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    break;
                }
            }
            if batch.is_empty() {
                continue;
            }
            let d = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + window);
            if batch.len() >= batch_size || bytes >= BATCH_BYTES_MAX || tokio::time::Instant::now() >= d {
                break;
            }
        }
        if batch.is_empty() {
            continue;
        }
        sqs_batch(&p, &*queues, &doc, &queue, batch).await;
    }
}

/// Filters, invokes and settles one SQS batch: non-matching messages are deleted; success
/// deletes the batch minus its reported failures; a failure deletes nothing (the messages come
/// back after their visibility timeout, and the queue's redrive policy ends them in its DLQ).
async fn sqs_batch(p: &Poller, queues: &dyn QueueSource, doc: &Value, queue: &str, batch: Vec<QueueMessage>) {
    let patterns = filter::patterns(doc);
    let (batch, dropped): (Vec<_>, Vec<_>) =
        batch.into_iter().partition(|m| filter::matches_any(&patterns, &sqs_filter_doc(m)));
    if !dropped.is_empty() {
        let handles: Vec<String> = dropped.iter().map(|m| m.receipt_handle.clone()).collect();
        if let Err(e) = queues.delete(queue, &handles).await {
            tracing::warn!(uuid = %p.uuid, error = %e, "deleting filtered-out messages failed");
        }
    }
    if batch.is_empty() {
        return;
    }
    let region = p.scope.region.as_str();
    let records: Vec<Value> = batch.iter().map(|m| sqs_record(m, queue, region)).collect();
    let payload = json!({ "Records": records }).to_string().into_bytes();
    let ids: Vec<&str> = batch.iter().map(|m| m.message_id.as_str()).collect();
    let outcome = p.invoke(doc, payload, &ids).await;
    let fifo = queue.ends_with(".fifo");
    let delete: Vec<String> = match &outcome {
        Outcome::Success => batch.iter().map(|m| m.receipt_handle.clone()).collect(),
        // FIFO: everything from the first failure on stays, in order.
        Outcome::Partial(failed) if fifo => {
            let first = failed.first().copied().unwrap_or(batch.len());
            batch[..first].iter().map(|m| m.receipt_handle.clone()).collect()
        }
        Outcome::Partial(failed) => batch
            .iter()
            .enumerate()
            .filter(|(i, _)| !failed.contains(i))
            .map(|(_, m)| m.receipt_handle.clone())
            .collect(),
        Outcome::Failed { .. } => Vec::new(),
        Outcome::NotRun(why) => {
            tracing::warn!(uuid = %p.uuid, %why, "batch not run; its messages return after their visibility timeout");
            Vec::new()
        }
    };
    if !delete.is_empty()
        && let Err(e) = queues.delete(queue, &delete).await
    {
        tracing::warn!(uuid = %p.uuid, error = %e, "DeleteMessageBatch failed; the messages will be redelivered");
    }
}

use control::{SHARD_START, shard_key};

fn sequence(r: &Value) -> &str {
    r["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default()
}

async fn stream_worker(
    p: Poller,
    streams: Arc<dyn StreamSource>,
    queues: Option<Arc<dyn QueueSource>>,
    mut rx: watch::Receiver<Option<Value>>,
) {
    let Some(doc) = rx.borrow().clone() else { return };
    let stream = doc["EventSourceArn"].as_str().unwrap_or_default().to_owned();
    // One open shard per stream (Versa's streams never split): shards in order, each to its end.
    let shards = loop {
        match streams.shards(&p.scope, &stream).await {
            Ok(s) => break s,
            Err(e) => {
                if e.starts_with("ResourceNotFoundException") {
                    // Several nodes: DynamoDB is node-local, and this node does not hold the table.
                    tracing::debug!(uuid = %p.uuid, %stream, "no such stream on this node");
                } else {
                    tracing::warn!(uuid = %p.uuid, %stream, error = %e, "DescribeStream failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(ERROR_BACKOFF) => {}
                    _ = rx.changed() => if rx.borrow().is_none() { return },
                }
            }
        }
    };
    for shard in shards {
        if !shard_worker(&p, &*streams, queues.as_deref(), &mut rx, &stream, &shard).await {
            return;
        }
    }
}

/// Polls one shard until it is closed and drained (true) or the mapping stops (false).
async fn shard_worker(
    p: &Poller,
    streams: &dyn StreamSource,
    queues: Option<&dyn QueueSource>,
    rx: &mut watch::Receiver<Option<Value>>,
    stream: &str,
    shard: &str,
) -> bool {
    let key = shard_key(stream, shard);
    let mut iterator: Option<String> = None;
    // The open tumbling window (TumblingWindowInSeconds > 0): its state lives here; the
    // checkpoint stays before the window until its final invoke succeeded, so a crash or a
    // re-read replays the window from its start with a fresh state.
    let mut open: Option<Tumbling> = None;
    loop {
        let Some(doc) = rx.borrow_and_update().clone() else { return false };
        let tumbling = doc["TumblingWindowInSeconds"].as_i64().unwrap_or(0).clamp(0, TUMBLING_MAX);
        let it = match iterator.take() {
            Some(it) => it,
            None => {
                open = None;
                let checkpoint = match p.control.esm_checkpoints(&p.uuid).await {
                    Ok(c) => c.into_iter().find(|(k, _)| *k == key).map(|(_, s)| s),
                    Err(e) => {
                        tracing::warn!(uuid = %p.uuid, error = %e, "cannot read checkpoints");
                        tokio::time::sleep(ERROR_BACKOFF).await;
                        continue;
                    }
                };
                let start = doc["StartingPosition"].as_str().unwrap_or("TRIM_HORIZON");
                let checkpoint = match checkpoint {
                    None if start == "LATEST" => {
                        // Create records LATEST with the mapping; a mapping stored before it did
                        // (or a shard that appeared since) fixes it the first time, recorded
                        // before any batch, so a restart skips nothing written while it was down.
                        let at = match streams.latest(&p.scope, stream, shard).await {
                            Ok(at) => at.unwrap_or_else(|| SHARD_START.to_owned()),
                            Err(e) => {
                                tracing::warn!(uuid = %p.uuid, %stream, error = %e, "cannot find LATEST");
                                tokio::time::sleep(ERROR_BACKOFF).await;
                                continue;
                            }
                        };
                        if let Err(e) = p.control.put_esm_checkpoint(&p.uuid, &key, &at).await {
                            tracing::warn!(uuid = %p.uuid, error = %e, "cannot record the LATEST position");
                            tokio::time::sleep(ERROR_BACKOFF).await;
                            continue;
                        }
                        Some(at)
                    }
                    c => c,
                };
                let r = match &checkpoint {
                    Some(seq) if seq == SHARD_START => {
                        streams.iterator(&p.scope, stream, shard, "TRIM_HORIZON", None).await
                    }
                    Some(seq) => streams.iterator(&p.scope, stream, shard, "AFTER_SEQUENCE_NUMBER", Some(seq)).await,
                    None => streams.iterator(&p.scope, stream, shard, start, None).await,
                };
                let r = match r {
                    // The checkpoint is older than the trim horizon (24 h): those records are
                    // gone for every reader; go on from the oldest one kept.
                    Err(e) if e.starts_with(TRIMMED) => {
                        tracing::warn!(uuid = %p.uuid, %stream, %shard, "records past the checkpoint were trimmed; going on from TRIM_HORIZON");
                        streams.iterator(&p.scope, stream, shard, "TRIM_HORIZON", None).await
                    }
                    r => r,
                };
                match r {
                    Ok(it) => it,
                    Err(e) => {
                        tracing::warn!(uuid = %p.uuid, %stream, error = %e, "GetShardIterator failed");
                        tokio::time::sleep(ERROR_BACKOFF).await;
                        continue;
                    }
                }
            }
        };
        let batch_size = doc["BatchSize"].as_i64().unwrap_or(100).clamp(1, STREAM_RECORDS_MAX) as usize;
        // A tumbling window's state is one per shard: its records run in one lane.
        let factor = if tumbling > 0 {
            1
        } else {
            doc["ParallelizationFactor"].as_i64().unwrap_or(1).clamp(1, PARALLELIZATION_MAX) as usize
        };
        // One round: a batch per lane at most, all finished before the checkpoint moves.
        let limit = (batch_size * factor).min(ROUND_RECORDS_MAX) as u32;
        let (mut records, mut next) = match streams.records(&p.scope, &it, limit.min(STREAM_RECORDS_MAX as u32)).await {
            Ok(page) => page,
            Err(e) => {
                // An expired or trimmed iterator: start again from the checkpoint.
                tracing::warn!(uuid = %p.uuid, %stream, error = %e, "GetRecords failed");
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
        };
        if records.is_empty() {
            // A window whose time is over (and nothing more of it came) gets its final invoke.
            if let Some(w) = &open
                && stdx::time::now_ms() / 1000 >= w.start + w.secs
            {
                let w = open.take().expect("open");
                close_window(p, queues, &doc, stream, shard, w, false).await;
            }
            let Some(next) = next else { return true };
            iterator = Some(next);
            tokio::select! {
                _ = tokio::time::sleep(STREAM_IDLE) => {}
                _ = rx.changed() => {}
            }
            continue;
        }
        // The batching window: once something came, gather up to BatchSize until it closes.
        let window = Duration::from_secs(doc["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0));
        let deadline = tokio::time::Instant::now() + window;
        let mut reread = false;
        while records.len() < limit as usize {
            let Some(it) = next.take() else { break };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                next = Some(it);
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(left.min(STREAM_IDLE)) => {}
                _ = rx.changed() => { next = Some(it); break }
            }
            let want = (limit - records.len() as u32).min(STREAM_RECORDS_MAX as u32);
            match streams.records(&p.scope, &it, want).await {
                Ok((more, n)) => {
                    records.extend(more);
                    next = n;
                }
                Err(e) => {
                    // Run what was gathered; the next read starts again from the checkpoint.
                    tracing::warn!(uuid = %p.uuid, %stream, error = %e, "GetRecords failed");
                    reread = true;
                    break;
                }
            }
        }
        let last = sequence(records.last().expect("not empty")).to_owned();
        if tumbling > 0 {
            tumble(p, queues, &doc, stream, shard, &mut open, records, tumbling).await;
            match next {
                Some(next) => iterator = Some(next),
                None if !reread => {
                    if let Some(w) = open.take() {
                        close_window(p, queues, &doc, stream, shard, w, false).await;
                    }
                    return true;
                }
                None => {}
            }
            continue;
        }
        if factor == 1 {
            stream_batch(p, queues, &doc, stream, shard, records, true).await;
        } else {
            // ParallelizationFactor: records go to lanes by item key, so one key's records stay
            // in order in one lane; lanes run at once, each its batches in order. Checkpoints
            // inside a batch are skipped (a lane ahead of another would pass its records); the
            // round's end is the checkpoint, so a crash replays at most the round.
            let doc = &doc;
            let lanes = lanes(records, factor)
                .into_iter()
                .filter(|lane| !lane.is_empty())
                .map(|lane| async move {
                    for chunk in lane.chunks(batch_size) {
                        stream_batch(p, queues, doc, stream, shard, chunk.to_vec(), false).await;
                    }
                })
                .collect();
            join_all(lanes).await;
        }
        if let Err(e) = p.control.put_esm_checkpoint(&p.uuid, &key, &last).await {
            // Not recorded: the batch is read again from the last checkpoint (at least once).
            tracing::warn!(uuid = %p.uuid, error = %e, "cannot record a checkpoint");
            continue;
        }
        match next {
            Some(next) => iterator = Some(next),
            None if !reread => return true,
            None => {}
        }
    }
}

/// A record's `approximateArrivalOf…Record` in an OnFailure record: its creation second,
/// `YYYY-MM-DDThh:mm:ssZ` (recorded without a fraction, unlike the record's `timestamp`).
fn arrival(r: &Value) -> String {
    window_time(r["dynamodb"]["ApproximateCreationDateTime"].as_f64().unwrap_or(0.0) as i64)
}

/// An open tumbling window of a shard: its start (epoch seconds, a multiple of `secs`), the
/// state the function returned last, and the last record it covered (the checkpoint its
/// final invoke moves to).
struct Tumbling {
    start: i64,
    secs: i64,
    state: Value,
    last: Option<String>,
}

/// The window a record belongs to: its creation second, rounded down to a multiple of `secs`.
fn window_start(r: &Value, secs: i64) -> i64 {
    let t = r["dynamodb"]["ApproximateCreationDateTime"].as_f64().unwrap_or(0.0) as i64;
    t - t.rem_euclid(secs)
}

/// `YYYY-MM-DDThh:mm:ssZ`, the window bounds' shape.
fn window_time(secs: i64) -> String {
    let ms = stdx::time::format_iso8601_ms(secs * 1000);
    ms.strip_suffix(".000Z").map(|s| format!("{s}Z")).unwrap_or(ms)
}

/// Feeds records (in shard order) to tumbling windows: a batch of one window's records runs
/// with the window's state and the function's `state` becomes the next; a record of a later
/// window first closes the open one (its final invoke, then the checkpoint).
#[allow(clippy::too_many_arguments)]
async fn tumble(
    p: &Poller,
    queues: Option<&dyn QueueSource>,
    doc: &Value,
    stream: &str,
    shard: &str,
    window: &mut Option<Tumbling>,
    records: Vec<Value>,
    secs: i64,
) {
    let patterns = filter::patterns(doc);
    let batch = doc["BatchSize"].as_i64().unwrap_or(100).clamp(1, STREAM_RECORDS_MAX) as usize;
    let mut part: Vec<Value> = Vec::new();
    for r in records {
        let start = window_start(&r, secs);
        if window.as_ref().is_some_and(|w| w.start != start) {
            if let Some(w) = window.as_mut() {
                window_batch(p, queues, doc, stream, shard, w, std::mem::take(&mut part)).await;
            }
            let w = window.take().expect("open");
            close_window(p, queues, doc, stream, shard, w, false).await;
        }
        let w = window.get_or_insert_with(|| Tumbling { start, secs, state: json!({}), last: None });
        w.last = Some(sequence(&r).to_owned());
        if filter::matches_any(&patterns, &r) {
            part.push(r);
        }
        if part.len() >= batch {
            window_batch(p, queues, doc, stream, shard, w, std::mem::take(&mut part)).await;
        }
    }
    if let Some(w) = window.as_mut() {
        window_batch(p, queues, doc, stream, shard, w, part).await;
    }
}

/// One invoke of an open window with its records; the answer's `state` is the window's next.
/// A state over [`WINDOW_STATE_BYTES_MAX`] ends the window early: a final invoke with
/// `isWindowTerminatedEarly`, then the same window goes on with a fresh state.
async fn window_batch(
    p: &Poller,
    queues: Option<&dyn QueueSource>,
    doc: &Value,
    stream: &str,
    shard: &str,
    w: &mut Tumbling,
    part: Vec<Value>,
) {
    if part.is_empty() {
        return;
    }
    if let Some(state) = window_invoke(p, queues, doc, stream, shard, w, &part, false, false).await {
        if state.to_string().len() > WINDOW_STATE_BYTES_MAX {
            w.state = state;
            window_invoke(p, queues, doc, stream, shard, w, &[], true, true).await;
            w.state = json!({});
        } else {
            w.state = state;
        }
    }
}

/// The final invoke of a window (no records, its state, `isFinalInvokeForWindow`), then the
/// checkpoint after its last record: the state is gone.
async fn close_window(
    p: &Poller,
    queues: Option<&dyn QueueSource>,
    doc: &Value,
    stream: &str,
    shard: &str,
    mut w: Tumbling,
    early: bool,
) {
    window_invoke(p, queues, doc, stream, shard, &mut w, &[], true, early).await;
    if let Some(last) = &w.last
        && let Err(e) = p.control.put_esm_checkpoint(&p.uuid, &shard_key(stream, shard), last).await
    {
        tracing::warn!(uuid = %p.uuid, error = %e, "cannot record a checkpoint");
    }
}

/// Invokes the function for a window until it answers with a `state` object (an answer
/// without one is a failure, as on AWS), retrying like any stream batch until
/// MaximumRetryAttempts / MaximumRecordAgeInSeconds; then the OnFailure record of the records,
/// and `None` (the window keeps its state).
#[allow(clippy::too_many_arguments)]
async fn window_invoke(
    p: &Poller,
    queues: Option<&dyn QueueSource>,
    doc: &Value,
    stream: &str,
    shard: &str,
    w: &mut Tumbling,
    part: &[Value],
    last: bool,
    early: bool,
) -> Option<Value> {
    let max_retries = doc["MaximumRetryAttempts"].as_i64().unwrap_or(-1);
    let max_age = doc["MaximumRecordAgeInSeconds"].as_i64().unwrap_or(-1);
    let records: Vec<Value> = part
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["eventSourceARN"] = json!(stream);
            r
        })
        .collect();
    let event = json!({
        "Records": records,
        "window": {"start": window_time(w.start), "end": window_time(w.start + w.secs)},
        "state": w.state,
        "shardId": shard,
        "eventSourceARN": stream,
        "isFinalInvokeForWindow": last,
        "isWindowTerminatedEarly": early,
    });
    let mut attempts: i64 = 0;
    loop {
        let (function_error, executed) = match p.run(doc, event.to_string().into_bytes()).await {
            Ok(r) if !r.function_error => {
                let answer: Value = serde_json::from_slice(&r.payload).unwrap_or(Value::Null);
                match answer.get("state") {
                    Some(state) if state.is_object() => {
                        let _ = p.control.set_esm_processing_result(&p.uuid, "OK").await;
                        return Some(state.clone());
                    }
                    _ => (Some(false), Some(r.executed)),
                }
            }
            Ok(r) => (Some(true), Some(r.executed)),
            Err(Outcome::NotRun(why)) => {
                tracing::warn!(uuid = %p.uuid, %why, "window invoke not run; retrying");
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
            Err(Outcome::Failed { function_error, executed_version }) => (Some(function_error), executed_version),
            Err(_) => (None, None),
        };
        attempts += 1;
        let now_s = stdx::time::now_ms() / 1000;
        let oldest = part.first().and_then(|r| r["dynamodb"]["ApproximateCreationDateTime"].as_f64());
        let condition = if max_retries >= 0 && attempts > max_retries {
            Some("RetryAttemptsExhausted")
        } else if max_age >= 0 && oldest.is_some_and(|t| now_s - t as i64 > max_age) {
            Some("RecordAgeExceeded")
        } else {
            None
        };
        if let Some(condition) = condition {
            if !part.is_empty() {
                on_failure(p, queues, doc, stream, shard, part, condition, attempts, function_error, executed).await;
            }
            let _ = p.control.set_esm_processing_result(&p.uuid, "PROBLEM: Function call failed").await;
            return None;
        }
        tokio::time::sleep(STREAM_RETRY_BACKOFF).await;
    }
}

/// Splits a round's records into `n` lanes by item key (the records of one key in one lane,
/// in shard order).
fn lanes(records: Vec<Value>, n: usize) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = (0..n).map(|_| Vec::new()).collect();
    for r in records {
        // FNV-1a of the keys as JSON (serde_json's maps are sorted, so one key has one text).
        let text = r["dynamodb"]["Keys"].to_string();
        let hash =
            text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        out[(hash % n as u64) as usize].push(r);
    }
    out
}

/// Runs the futures at once on this task; done when all are.
async fn join_all<F: Future<Output = ()>>(futures: Vec<F>) {
    let mut futures: Vec<Option<Pin<Box<F>>>> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    std::future::poll_fn(|cx| {
        for slot in futures.iter_mut() {
            if let Some(f) = slot
                && f.as_mut().poll(cx).is_ready()
            {
                *slot = None;
            }
        }
        if futures.iter().all(Option::is_none) { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await
}

/// Runs one stream batch to a final outcome (§4.2): success; partial failure retried from the
/// lowest failed record; errors retried (blocking the shard) until MaximumRetryAttempts or
/// MaximumRecordAgeInSeconds, bisecting when asked; then the OnFailure record. With `checkpoint`,
/// checkpoints inside the batch as parts finish.
async fn stream_batch(
    p: &Poller,
    queues: Option<&dyn QueueSource>,
    doc: &Value,
    stream: &str,
    shard: &str,
    records: Vec<Value>,
    checkpoint: bool,
) {
    let key = shard_key(stream, shard);
    let patterns = filter::patterns(doc);
    let records: Vec<Value> = records.into_iter().filter(|r| filter::matches_any(&patterns, r)).collect();
    let max_retries = doc["MaximumRetryAttempts"].as_i64().unwrap_or(-1);
    let max_age = doc["MaximumRecordAgeInSeconds"].as_i64().unwrap_or(-1);
    let bisect = doc["BisectBatchOnFunctionError"].as_bool().unwrap_or(false);
    let mut pending: VecDeque<Vec<Value>> = VecDeque::new();
    if !records.is_empty() {
        pending.push_back(records);
    }
    let mut ok_once = false;
    while let Some(mut part) = pending.pop_front() {
        let mut attempts: i64 = 0;
        loop {
            let payload: Vec<Value> = part
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r["eventSourceARN"] = json!(stream);
                    r
                })
                .collect();
            let ids: Vec<&str> = part.iter().map(sequence).collect();
            let outcome = p.invoke(doc, json!({ "Records": payload }).to_string().into_bytes(), &ids).await;
            let (failed_from, function_error, executed) = match outcome {
                Outcome::Success => {
                    ok_once = true;
                    break;
                }
                Outcome::Partial(idx) => (idx[0], None, None),
                Outcome::Failed { function_error, executed_version } => (0, Some(function_error), executed_version),
                Outcome::NotRun(why) => {
                    tracing::warn!(uuid = %p.uuid, %why, "stream batch not run; retrying");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    continue;
                }
            };
            attempts += 1;
            // What succeeded before the lowest failure is done for good.
            if failed_from > 0 {
                let done = sequence(&part[failed_from - 1]).to_owned();
                part.drain(..failed_from);
                if checkpoint {
                    let _ = p.control.put_esm_checkpoint(&p.uuid, &key, &done).await;
                }
            }
            let now_s = stdx::time::now_ms() / 1000;
            let oldest = part[0]["dynamodb"]["ApproximateCreationDateTime"].as_f64().unwrap_or(now_s as f64) as i64;
            let condition = if max_retries >= 0 && attempts > max_retries {
                Some("RetryAttemptsExhausted")
            } else if max_age >= 0 && now_s - oldest > max_age {
                Some("RecordAgeExceeded")
            } else {
                None
            };
            if let Some(condition) = condition {
                on_failure(p, queues, doc, stream, shard, &part, condition, attempts, function_error, executed).await;
                let _ = p.control.set_esm_processing_result(&p.uuid, "PROBLEM: Function call failed").await;
                break;
            }
            if bisect && part.len() > 1 && function_error.is_some() {
                let second = part.split_off(part.len() / 2);
                pending.push_front(second);
                pending.push_front(part);
                break;
            }
            tokio::time::sleep(STREAM_RETRY_BACKOFF).await;
        }
    }
    if ok_once {
        let _ = p.control.set_esm_processing_result(&p.uuid, "OK").await;
    }
}

/// Sends the OnFailure record (§3.6) of records given up on, to an SQS destination (a Lambda
/// destination is invoked asynchronously); without one the records are only logged.
#[allow(clippy::too_many_arguments)]
async fn on_failure(
    p: &Poller,
    queues: Option<&dyn QueueSource>,
    doc: &Value,
    stream: &str,
    shard: &str,
    part: &[Value],
    condition: &str,
    attempts: i64,
    function_error: Option<bool>,
    executed: Option<String>,
) {
    let first = &part[0];
    let last = &part[part.len() - 1];
    let mut response = json!({"statusCode": 200, "executedVersion": executed, "functionError": null});
    if function_error == Some(true) {
        response["functionError"] = json!("Unhandled");
    }
    let record = json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": doc["FunctionArn"],
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": stdx::time::format_iso8601_ms(stdx::time::now_ms()),
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": sequence(first),
            "endSequenceNumber": sequence(last),
            "approximateArrivalOfFirstRecord": arrival(first),
            "approximateArrivalOfLastRecord": arrival(last),
            "batchSize": part.len(),
            "streamArn": stream,
        },
    });
    let destination = doc["DestinationConfig"]["OnFailure"]["Destination"].as_str().unwrap_or_default();
    let body = record.to_string();
    if destination.starts_with("arn:aws:sqs:") {
        if let Some(q) = queues {
            // Retried until sent: the checkpoint moves only after the record is committed.
            while let Err(e) = q.send(destination, &body).await {
                tracing::warn!(uuid = %p.uuid, error = %e, "cannot send the OnFailure record; retrying");
                tokio::time::sleep(ERROR_BACKOFF).await;
                if p.control.get_event_source_mapping(&p.scope, &p.uuid).await.is_err() {
                    return;
                }
            }
            return;
        }
    } else if destination.starts_with("arn:aws:lambda:") {
        let rest = destination.splitn(7, ':').nth(6).unwrap_or_default();
        let (name, qualifier) = match rest.split_once(':') {
            Some((n, q)) => (n, Some(q)),
            None => (rest, None),
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        match p.control.enqueue_invoke(&p.scope, name, qualifier, body.into_bytes(), &request_id).await {
            Ok(_) => return,
            Err(e) => tracing::warn!(uuid = %p.uuid, error = %e, "cannot queue the OnFailure invocation"),
        }
        return;
    }
    tracing::warn!(uuid = %p.uuid, %stream, %shard, condition, records = part.len(), "stream records given up on, no OnFailure destination");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_failure_arrivals_are_whole_seconds_without_a_fraction() {
        let record = json!({"dynamodb": {"ApproximateCreationDateTime": 1_795_687_260}});
        assert_eq!(arrival(&record), "2026-11-26T10:01:00Z");
    }

    #[test]
    fn partial_batch_responses_read_as_aws_records_them() {
        let ids = ["a", "b", "c"];
        for ok in ["[]", "null", "{}", r#"{"batchItemFailures":[]}"#, r#"{"batchItemFailures":null}"#, "\"fine\""] {
            assert_eq!(batch_response(ok.as_bytes(), &ids), Outcome::Success, "{ok}");
        }
        let got = batch_response(br#"{"batchItemFailures":[{"itemIdentifier":"c"},{"itemIdentifier":"b"}]}"#, &ids);
        assert_eq!(got, Outcome::Partial(vec![1, 2]));
        for whole in [
            r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":123}]}"#,
            r#"{"batchItemFailures":[{"foo":"a"}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#,
        ] {
            assert!(matches!(batch_response(whole.as_bytes(), &ids), Outcome::Failed { .. }), "{whole}");
        }
    }

    #[test]
    fn lanes_keep_each_keys_records_together_and_in_order() {
        let rec = |k: &str, seq: u32| json!({"dynamodb": {"Keys": {"k": {"S": k}}, "SequenceNumber": seq.to_string()}});
        let records: Vec<Value> = (0..60).map(|i| rec(&format!("key{}", i % 12), i)).collect();
        let lanes = lanes(records, 4);
        assert_eq!(lanes.len(), 4);
        assert_eq!(lanes.iter().map(Vec::len).sum::<usize>(), 60);
        assert!(lanes.iter().filter(|l| !l.is_empty()).count() > 1, "12 keys spread over lanes");
        for lane in &lanes {
            let seqs: Vec<u32> = lane.iter().map(|r| sequence(r).parse().unwrap()).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "shard order within a lane: {seqs:?}");
        }
        for k in 0..12 {
            let key = json!({"k": {"S": format!("key{k}")}});
            let holding = lanes.iter().filter(|l| l.iter().any(|r| r["dynamodb"]["Keys"] == key)).count();
            assert_eq!(holding, 1, "key{k} in one lane");
        }
    }

    #[test]
    fn sqs_records_have_the_recorded_shape() {
        let m = QueueMessage {
            message_id: "id".into(),
            receipt_handle: "rh".into(),
            body: "msg".into(),
            md5_of_body: "6e2baaf3b97dbeef01c0043275f9a0e7".into(),
            md5_of_message_attributes: None,
            attributes: BTreeMap::from([("ApproximateReceiveCount".to_owned(), "1".to_owned())]),
            message_attributes: json!({}),
        };
        let r = sqs_record(&m, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert!(r.get("md5OfMessageAttributes").is_none());
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "1");
        assert_eq!(
            shard_key("arn:aws:dynamodb:r:a:table/t/stream/2026-01-01T00:00:00.000", "s1"),
            "2026-01-01T00:00:00.000/s1"
        );
    }
}
