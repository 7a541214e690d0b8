//! Message move tasks (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask): a
//! dead-letter queue's messages go back to the queue each came from (its
//! `DeadLetterQueueSourceArn`), or to a named destination, at most `MaxNumberOfMessagesPerSecond`
//! a second. Each move is one store transaction per group of messages (a crash leaves every
//! message in one queue or the other); the task's record is in memory (a restart forgets it and
//! ends it, as a stopped task).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::ops::{Doc, Queue};
use crate::{Context, Error, Sqs};

/// Most tasks remembered (finished ones are forgotten first).
pub const MOVE_TASKS_MAX: usize = 1000;
/// Messages moved per transaction.
const MOVE_GROUP: usize = 10;
/// The rate bounds of `MaxNumberOfMessagesPerSecond` (AWS: 1–500).
const RATE_MAX: i64 = 500;
/// Most results of ListMessageMoveTasks (AWS: 10; 1 by default).
const LIST_MAX: i64 = 10;

#[derive(Debug, Clone)]
pub(crate) struct Task {
    handle: String,
    source_arn: String,
    destination_arn: Option<String>,
    rate: Option<i64>,
    status: &'static str,
    moved: i64,
    to_move: i64,
    started_ms: i64,
    failure: Option<String>,
}

pub(crate) type Tasks = Mutex<HashMap<String, Task>>;

fn tasks(sqs: &Sqs) -> std::sync::MutexGuard<'_, HashMap<String, Task>> {
    sqs.inner.moves.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_found(what: &str) -> Error {
    Error::service("ResourceNotFoundException", "ResourceNotFoundException", what.to_owned())
}

pub(crate) async fn start(sqs: &Sqs, ctx: &Context, i: &Value) -> Result<Value, Error> {
    let source_arn = i["SourceArn"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| Error::missing("SourceArn"))?;
    let source = sqs
        .by_arn(source_arn)
        .await
        .ok()
        .filter(|q| q.row.account == ctx.account)
        .ok_or_else(|| not_found("The resource that you specified for the SourceArn parameter doesn't exist."))?;
    let rate = match &i["MaxNumberOfMessagesPerSecond"] {
        Value::Null => None,
        v => match v.as_i64() {
            Some(n) if (1..=RATE_MAX).contains(&n) => Some(n),
            _ => {
                return Err(Error::parameter_value(
                    v,
                    "MaxNumberOfMessagesPerSecond",
                    &format!("Value must be between 1 and {RATE_MAX}."),
                ));
            }
        },
    };
    // The source must be some queue's dead-letter queue.
    let arn = source.arn();
    let (account, region) = (source.row.account.clone(), source.row.region.clone());
    let rows =
        sqs.inner.store.read(move |tx| tx.sqs_queues(&account, &region, "", None, crate::QUEUES_MAX as usize)).await?;
    let is_dlq = rows.iter().any(|r| {
        Doc::parse(&r.doc).ok().and_then(|d| crate::attrs::redrive(&d.attrs)).is_some_and(|p| p.dlq_arn == arn)
    });
    if !is_dlq {
        return Err(Error::invalid_parameter("Source queue must be configured as a Dead Letter Queue."));
    }
    let destination = match i["DestinationArn"].as_str().filter(|s| !s.is_empty()) {
        Some(d) => Some(sqs.by_arn(d).await.map_err(|_| {
            not_found("The resource that you specified for the DestinationArn parameter doesn't exist.")
        })?),
        None => None,
    };
    let handle = {
        let mut all = tasks(sqs);
        if all.values().any(|t| t.source_arn == arn && t.status == "RUNNING") {
            return Err(Error::invalid_parameter(
                "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
            ));
        }
        if all.len() >= MOVE_TASKS_MAX {
            let oldest =
                all.values().filter(|t| t.status != "RUNNING").min_by_key(|t| t.started_ms).map(|t| t.handle.clone());
            if let Some(h) = oldest {
                all.remove(&h);
            }
        }
        let handle = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            json!({"taskId": uuid::Uuid::new_v4().to_string(), "sourceArn": arn}).to_string(),
        );
        all.insert(
            handle.clone(),
            Task {
                handle: handle.clone(),
                source_arn: arn.clone(),
                destination_arn: destination.as_ref().map(Queue::arn),
                rate,
                status: "RUNNING",
                moved: 0,
                to_move: source.row.messages as i64,
                started_ms: stdx::time::now_ms(),
                failure: None,
            },
        );
        handle
    };
    let (sqs2, h) = (sqs.clone(), handle.clone());
    tokio::spawn(async move { run(sqs2, h, source, destination, rate).await });
    Ok(json!({"TaskHandle": handle}))
}

/// Moves the source's messages until none is left or the task is cancelled.
async fn run(sqs: Sqs, handle: String, source: Queue, destination: Option<Queue>, rate: Option<i64>) {
    let src = source.row.id;
    let dest = destination.map(|q| q.row.id);
    loop {
        if tasks(&sqs).get(&handle).is_none_or(|t| t.status != "RUNNING") {
            return;
        }
        let group = rate.map_or(MOVE_GROUP, |r| (r as usize).min(MOVE_GROUP));
        let moved = sqs
            .inner
            .store
            .write(move |tx| {
                let t = stdx::time::now_ms();
                let mut n = 0;
                let mut woken = Vec::new();
                for mut m in tx.sqs_candidates(src, t, false, group)? {
                    let mut attrs: Value = serde_json::from_str(&m.attrs).unwrap_or_else(|_| json!({}));
                    let to = match dest {
                        Some(d) => d,
                        None => {
                            let origin = attrs["dlq_source"].as_str().and_then(crate::attrs::parse_arn);
                            match origin {
                                Some((region, account, name)) => match tx.sqs_queue(account, region, name)? {
                                    Some(q) => q.id,
                                    None => {
                                        return Err(Error::invalid_parameter(
                                            "The source queue of a message no longer exists.",
                                        ));
                                    }
                                },
                                None => {
                                    return Err(Error::invalid_parameter(
                                        "A message has no source queue to move back to.",
                                    ));
                                }
                            }
                        }
                    };
                    // Back where it came from as a message not yet received.
                    if let Some(o) = attrs.as_object_mut() {
                        o.remove("dlq_source");
                    }
                    m.attrs = attrs.to_string();
                    m.receive_count = 0;
                    m.first_receive_ms = None;
                    tx.sqs_update_message(&m)?;
                    tx.sqs_move_message(m.seq, to, t)?;
                    woken.push(to);
                    n += 1;
                }
                Ok::<_, Error>((n, woken))
            })
            .await;
        match moved {
            Ok((0, _)) => {
                if let Some(t) = tasks(&sqs).get_mut(&handle) {
                    t.status = "COMPLETED";
                }
                return;
            }
            Ok((n, woken)) => {
                for q in woken {
                    sqs.inner.waiters.wake(q);
                }
                if let Some(t) = tasks(&sqs).get_mut(&handle) {
                    t.moved += n as i64;
                }
                if let Some(r) = rate {
                    tokio::time::sleep(std::time::Duration::from_millis(1000 * n as u64 / r as u64)).await;
                }
            }
            Err(e) => {
                if let Some(t) = tasks(&sqs).get_mut(&handle) {
                    t.status = "FAILED";
                    t.failure = Some(e.message.clone());
                }
                return;
            }
        }
    }
}

pub(crate) async fn list(sqs: &Sqs, i: &Value) -> Result<Value, Error> {
    let source = i["SourceArn"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| Error::missing("SourceArn"))?;
    let max = match &i["MaxResults"] {
        Value::Null => 1,
        v => match v.as_i64() {
            Some(n) if (1..=LIST_MAX).contains(&n) => n,
            _ => {
                return Err(Error::parameter_value(
                    v,
                    "MaxResults",
                    &format!("Value must be between 1 and {LIST_MAX}."),
                ));
            }
        },
    };
    let mut found: Vec<Task> = tasks(sqs).values().filter(|t| t.source_arn == source).cloned().collect();
    found.sort_by_key(|t| std::cmp::Reverse(t.started_ms));
    let results: Vec<Value> = found
        .iter()
        .take(max as usize)
        .map(|t| {
            let mut v = json!({
                "Status": t.status,
                "SourceArn": t.source_arn,
                "ApproximateNumberOfMessagesMoved": t.moved,
                "ApproximateNumberOfMessagesToMove": t.to_move,
                "StartedTimestamp": t.started_ms,
            });
            if t.status == "RUNNING" {
                v["TaskHandle"] = json!(t.handle);
            }
            if let Some(d) = &t.destination_arn {
                v["DestinationArn"] = json!(d);
            }
            if let Some(r) = t.rate {
                v["MaxNumberOfMessagesPerSecond"] = json!(r);
            }
            if let Some(f) = &t.failure {
                v["FailureReason"] = json!(f);
            }
            v
        })
        .collect();
    Ok(json!({"Results": results}))
}

pub(crate) fn cancel(sqs: &Sqs, i: &Value) -> Result<Value, Error> {
    let handle = i["TaskHandle"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| Error::missing("TaskHandle"))?;
    let mut all = tasks(sqs);
    match all.get_mut(handle) {
        Some(t) if t.status == "RUNNING" => {
            // The mover sees it before its next group; what moved stays moved.
            t.status = "CANCELLED";
            Ok(json!({"ApproximateNumberOfMessagesMoved": t.moved}))
        }
        _ => Err(not_found("Task does not exist.")),
    }
}

/// Keeps the type in one place for `Inner`.
pub(crate) fn new_tasks() -> Arc<Tasks> {
    Arc::new(Mutex::new(HashMap::new()))
}
