//! The asynchronous-invocation worker: runs queued `Event` invocations at least once.
//!
//! Events wait in the store's durable queue. The worker claims due events for its node with a
//! lease on the database's clock and a claim token (a dead node's claims are reaped, a stuck
//! one's lease runs out; either way another attempt owns the event and this attempt's result is
//! dropped, because finishing or rescheduling checks the token), runs each on the engine (resolving its
//! qualifier then, so a weighted alias draws per attempt and an alias move applies to events
//! still waiting), and then: on success sends the success record to the OnSuccess destination;
//! on a function error retries after a delay, up to `MaximumRetryAttempts`, then sends the
//! failure record; when throttled, waits and tries again without counting an attempt; drops an
//! event older than `MaximumEventAgeInSeconds` to the OnFailure destination.

use std::sync::Arc;
use std::time::Duration;

use control::Control;
use model::function::{EventInvokeConfig, QueuedEvent};
use model::name::Version;
use serde_json::{Value, json};
use store::ClaimedEvent;
use tokio::sync::Semaphore;

use crate::{Engine, InvokeError, Request, Target};

/// Settings of the worker.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// The delay before the first retry of a failed event; the second waits twice as long
    /// (Lambda: about one and two minutes).
    pub retry_delay: Duration,
    /// The delay before an event that was throttled is tried again.
    pub throttle_delay: Duration,
    /// Most events running at once.
    pub concurrency: usize,
    /// How long a claim lasts; longer than any invocation (the maximum timeout is 15 minutes).
    pub lease: Duration,
    /// This node's id, recorded on its claims: new at every start, so a restart inherits none.
    pub node_id: String,
    /// Whether every claim held by another node id is reaped at start: true when this is the
    /// only node of its store (the claims are a previous run's); a cluster reaps dead nodes'
    /// claims by their heartbeats instead.
    pub reap_other_claims_at_start: bool,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            retry_delay: Duration::from_secs(60),
            throttle_delay: Duration::from_secs(1),
            concurrency: 64,
            lease: Duration::from_secs(20 * 60),
            node_id: uuid::Uuid::new_v4().to_string(),
            reap_other_claims_at_start: true,
        }
    }
}

/// Longest wait between looks at the queue when nothing wakes the worker.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Runs the worker until the returned task is aborted.
pub fn start(control: Arc<Control>, engine: Arc<Engine>, settings: EventSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if settings.reap_other_claims_at_start {
            // The only node: claims of other node ids are a previous run's, and died with it.
            let me = settings.node_id.clone();
            let reaped = control
                .store()
                .write(move |tx| {
                    let dead: Vec<String> = tx.claim_holders()?.into_iter().filter(|n| *n != me).collect();
                    tx.reap_claims(&dead)
                })
                .await;
            match reaped {
                Ok(n) if n > 0 => tracing::info!(events = n, "resumed events claimed before a restart"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot release event claims"),
            }
        }
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            let free = permits.available_permits();
            if free == 0 {
                let _ = permits.clone().acquire_owned().await;
                continue;
            }
            // A node that cannot prove it is alive leaves the queue to the others (their reaper
            // frees its claims once it counts as dead).
            if !engine.may_claim() {
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
            let now = stdx::time::now_ms();
            let (node, lease_ms) = (settings.node_id.clone(), settings.lease.as_millis() as i64);
            let claimed = match control.store().write(move |tx| tx.claim_events(&node, lease_ms, free)).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim events");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                let due = control.store().read(|tx| tx.next_event_due()).await.ok().flatten();
                let wait = due.map_or(IDLE_POLL, |d| {
                    Duration::from_millis((d - now).clamp(1, IDLE_POLL.as_millis() as i64) as u64)
                });
                tokio::select! {
                    _ = control.events_queued().notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            for claimed in claimed {
                let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
                let (control, engine, settings) = (control.clone(), engine.clone(), settings.clone());
                running.spawn(async move {
                    let (id, token, attempts) = (claimed.event.id, claimed.token.clone(), claimed.event.attempts);
                    if let Err(e) = process(&control, &engine, &settings, claimed).await {
                        // The store failed (e.g. the database is gone): hand the event back to
                        // the queue once the store answers, rather than leave it claimed until
                        // its lease ends (at least once: it may have run).
                        tracing::error!(event = id, error = %e, "event processing failed; it will be retried");
                        release(&control, id, token, attempts, settings.lease).await;
                    }
                    drop(permit);
                });
            }
        }
    })
}

/// Why an event ended, as the destination record's `condition` says it.
#[derive(Debug, Clone, Copy)]
enum Condition {
    Success,
    RetriesExhausted,
    EventAgeExceeded,
    ZeroReservedConcurrency,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
            Condition::ZeroReservedConcurrency => "ZeroReservedConcurrency",
        }
    }
}

async fn process(
    control: &Control,
    engine: &Arc<Engine>,
    settings: &EventSettings,
    claimed: ClaimedEvent,
) -> control::Result<()> {
    let ClaimedEvent { event, token } = claimed;
    let token = token.as_str();
    let now = stdx::time::now_ms();
    let at = metrics::FunctionAt {
        account: event.scope.account.as_str(),
        region: event.scope.region.as_str(),
        function: &event.function_name,
        qualifier: event.qualifier.as_deref(),
    };
    // An event that ends without success and without a destination taking it is dropped.
    let dropped = |dest: &Option<(model::scope::Scope, String, Vec<u8>)>| {
        if let (Some(m), None) = (engine.metrics(), dest) {
            m.async_dropped(&at, now);
        }
    };
    let target = match control.resolve_invoke(&event.scope, &event.function_name, event.qualifier.as_deref()).await {
        Ok(t) if t.function_id == event.function_id => t,
        // The store could not answer: nothing is known about the target, so keep the event.
        Err(e) if !matches!(e, control::ControlError::ResourceNotFound(_)) => return Err(e),
        // The function, version or alias is gone (or the name is a new function): drop it.
        _ => {
            tracing::warn!(request_id = %event.request_id, function = %event.function_name, "event target no longer exists; dropped");
            dropped(&None);
            return complete(control, engine, &at, event.id, token, None, None).await;
        }
    };
    // Versa has no queues or topics: a dead-letter queue never takes a failed event.
    let dead_letter = target.record.config.dead_letter_target_arn.clone();
    let dead_letter = dead_letter.as_deref();
    let config = control.event_config_for(target.function_id, event.qualifier.as_deref()).await?.unwrap_or_default();
    let max_retries = config.maximum_retry_attempts.unwrap_or(EventInvokeConfig::RETRIES_DEFAULT);
    let max_age_ms = i64::from(config.maximum_event_age_s.unwrap_or(EventInvokeConfig::EVENT_AGE_S_DEFAULT)) * 1000;
    let finish = |condition: Condition, attempts: u32, response: Option<(crate::Response, String)>| {
        let destination = match condition {
            Condition::Success => config.on_success.clone(),
            _ => config.on_failure.clone(),
        };
        destination.map(|arn| (event.scope.clone(), arn, record(&event, condition, attempts, response)))
    };
    if now - event.received_ms > max_age_ms {
        let dest = finish(Condition::EventAgeExceeded, event.attempts, None);
        dropped(&dest);
        return complete(control, engine, &at, event.id, token, dest, dead_letter).await;
    }
    if target.reserved_concurrency == Some(0) {
        let dest = finish(Condition::ZeroReservedConcurrency, 0, None);
        dropped(&dest);
        return complete(control, engine, &at, event.id, token, dest, dead_letter).await;
    }
    let unreserved = control.unreserved_concurrency(&event.scope).await?;
    let executed = target.version.to_string();
    let t = Target {
        scope: event.scope.clone(),
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
        request_id: event.request_id.clone(),
        payload: bytes::Bytes::from(event.payload.clone()),
        client_context: None,
        log_tail: false,
    };
    let attempts = event.attempts + 1;
    if let Some(m) = engine.metrics() {
        m.async_age(&at, now, (now - event.received_ms).max(0) as f64);
    }
    match engine.invoke(t, request).await {
        Ok(r) if !r.function_error => {
            let dest = finish(Condition::Success, attempts, Some((r, executed)));
            complete(control, engine, &at, event.id, token, dest, None).await
        }
        Ok(r) => {
            if attempts > max_retries {
                let dest = finish(Condition::RetriesExhausted, attempts, Some((r, executed)));
                dropped(&dest);
                complete(control, engine, &at, event.id, token, dest, dead_letter).await
            } else {
                let delay = settings.retry_delay.as_millis() as i64 * i64::from(attempts);
                reschedule(control, &event, token, attempts, now + delay).await
            }
        }
        Err(InvokeError::Throttled { .. } | InvokeError::TooManyEnvironments) => {
            // Throttles do not count as attempts; the event waits (up to its maximum age).
            reschedule(control, &event, token, event.attempts, now + settings.throttle_delay.as_millis() as i64).await
        }
        Err(e) => {
            tracing::warn!(request_id = %event.request_id, error = %e, "event invocation failed");
            if attempts > max_retries {
                let dest = finish(Condition::RetriesExhausted, attempts, None);
                dropped(&dest);
                complete(control, engine, &at, event.id, token, dest, dead_letter).await
            } else {
                let delay = settings.retry_delay.as_millis() as i64 * i64::from(attempts);
                reschedule(control, &event, token, attempts, now + delay).await
            }
        }
    }
}

/// Finishes an event (see [`Control::complete_event`]) and counts what could not be delivered:
/// its destination record (`DestinationDeliveryFailures`), and a failed event for a function
/// with a dead-letter queue (`DeadLetterErrors`: Versa has no SQS or SNS to send it to).
async fn complete(
    control: &Control,
    engine: &Engine,
    at: &metrics::FunctionAt<'_>,
    event_id: i64,
    token: &str,
    destination: Option<(model::scope::Scope, String, Vec<u8>)>,
    dead_letter: Option<&str>,
) -> control::Result<()> {
    let given = destination.is_some();
    let Some(delivered) = control.complete_event(event_id, token, destination).await? else {
        tracing::warn!(event = event_id, "the event's claim was lost (reaped or expired); its result is dropped");
        return Ok(());
    };
    if let Some(arn) = dead_letter {
        tracing::warn!(
            function = at.function,
            dead_letter = arn,
            "cannot send the failed event to its dead-letter queue"
        );
    }
    if let Some(m) = engine.metrics() {
        let now = stdx::time::now_ms();
        if given && !delivered {
            m.destination_failure(at, now);
        }
        if dead_letter.is_some() {
            m.dead_letter_error(at, now);
        }
    }
    Ok(())
}

async fn reschedule(
    control: &Control,
    event: &QueuedEvent,
    token: &str,
    attempts: u32,
    not_before_ms: i64,
) -> control::Result<()> {
    let (id, token) = (event.id, token.to_owned());
    let held = control.store().write(move |tx| tx.reschedule_event(id, &token, attempts, not_before_ms)).await?;
    if !held {
        tracing::warn!(event = id, "the event's claim was lost (reaped or expired); its retry is dropped");
    }
    Ok(())
}

/// First pause before handing back an event whose processing hit a store error, doubled per
/// attempt up to [`RELEASE_BACKOFF_MAX`].
const RELEASE_BACKOFF: Duration = Duration::from_millis(200);
const RELEASE_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Makes a claimed event visible again now (attempts unchanged), retrying while the store
/// fails, until the claim's lease would have ended anyway.
async fn release(control: &Control, id: i64, token: String, attempts: u32, lease: Duration) {
    let give_up = tokio::time::Instant::now() + lease;
    let mut pause = RELEASE_BACKOFF;
    while tokio::time::Instant::now() < give_up {
        tokio::time::sleep(pause).await;
        let token = token.clone();
        let now = stdx::time::now_ms();
        match control.store().write(move |tx| tx.reschedule_event(id, &token, attempts, now)).await {
            Ok(true) => {
                tracing::info!(event = id, "the event is queued again after a store failure");
                return;
            }
            Ok(false) => return,
            Err(_) => pause = (pause * 2).min(RELEASE_BACKOFF_MAX),
        }
    }
}

/// A payload as JSON when it is JSON, otherwise as a string.
fn as_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The destination record Lambda sends (reference §7.4).
fn record(
    event: &QueuedEvent,
    condition: Condition,
    attempts: u32,
    response: Option<(crate::Response, String)>,
) -> Vec<u8> {
    let qualifier = event.qualifier.clone().unwrap_or_else(|| Version::LATEST.to_owned());
    let function_arn = model::arn::qualified_arn(&event.scope, &event.function_name, &qualifier);
    let mut r = json!({
        "version": "1.0",
        "timestamp": stdx::time::format_iso8601_ms(stdx::time::now_ms()),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": attempts,
        },
        "requestPayload": as_json(&event.payload),
    });
    if let Some((resp, executed)) = response {
        let mut ctx = json!({"statusCode": 200, "executedVersion": executed});
        if resp.function_error {
            ctx["functionError"] = json!("Unhandled");
        }
        r["responseContext"] = ctx;
        r["responsePayload"] = as_json(&resp.payload);
    }
    r.to_string().into_bytes()
}
