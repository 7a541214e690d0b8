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
//! event older than `MaximumEventAgeInSeconds` to the OnFailure destination. A destination
//! record for a Lambda function is queued in the commit that finishes the event; one for an SQS
//! queue or an EventBridge bus, and a failed event's dead letter (SQS), are sent through
//! [`Sinks`] just before that commit, so a crash in between sends them again (at least once).

use std::sync::Arc;
use std::time::Duration;

use control::{Control, EventFinish};
use model::function::{EventInvokeConfig, FunctionId, QueuedEvent};
use model::name::Version;
use serde_json::{Value, json};
use store::{ClaimedEvent, PerFunctionMax};

use crate::esm::BoxFuture;
use crate::{Engine, InvokeError, Request, Target};

/// Where records go that are not Lambda invocations: the SQS queues and EventBridge buses of
/// this server (the `server` crate wires its services in). Errors are texts for the log.
pub trait Sinks: Send + Sync {
    /// SendMessage of `body`, with SendMessage's `MessageAttributes` object.
    fn send_message<'a>(
        &'a self,
        queue_arn: &'a str,
        body: &'a str,
        attributes: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), String>>;
    /// PutEvents of one event from source `lambda` on the bus `bus_arn` names, in `scope`.
    fn put_event<'a>(
        &'a self,
        scope: &'a model::scope::Scope,
        bus_arn: &'a str,
        detail_type: &'a str,
        detail: &'a str,
        resources: Vec<String>,
    ) -> BoxFuture<'a, Result<(), String>>;
}

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
/// Most finished events committed together (one write transaction).
pub const FINISH_BATCH_MAX: usize = 512;
/// Most finished events waiting for their commit; runners wait beyond it.
pub const FINISH_PENDING_MAX: usize = 1024;

/// Events of one function a node runs at once at first. Then additive increase,
/// multiplicative decrease: after as many successes as the limit, one more may run at once (up
/// to the worker's concurrency); a failure, timeout or throttle halves it. So a burst of queued
/// events does not cold-start an environment per event when a few warm ones drain it, and a
/// function that times out under load gets less of it.
pub const RAMP_START: usize = 8;
/// A success counts towards a larger ramp only when its invocation took at least this long:
/// a fast function already keeps the CPUs busy with [`RAMP_START`] at once (more at once only
/// adds environments, wake-ups and cold starts: measured on 2 cores, an echo ran 7.6k events/s
/// at 8 at once and 6.5k/s at 64), while a slow (waiting) one needs more at once to go faster.
pub const RAMP_GROW_MIN: Duration = Duration::from_millis(5);
/// ... and only when it took at most this many times the function's fastest invocation seen
/// here: a duration inflated beyond that was queueing for the CPU (more at once would only
/// queue more), while a function that waits (I/O, sleeps) keeps its duration as it widens.
pub const RAMP_GROW_INFLATION_MAX: u32 = 2;
/// Fewest events the claimer of a node alone keeps claimed (running plus ready) when the
/// worker's concurrency is lower: claims are ahead of the runners by this much, so a claim's
/// commit is never what a runner waits for (with only twice the concurrency ahead, 8 runners
/// drained ~4.8k events/s, claim-bound; with 512 ahead, 7.6k/s). A node sharing the queue with
/// others keeps only twice its concurrency claimed, and of each function only what its ramp can
/// start now (see [`per_function_max`]): what it cannot start soon is left to nodes that can.
pub const CLAIM_AHEAD_MIN: usize = 512;
/// Functions whose ramp is remembered; beyond it, those with nothing running are forgotten.
const RAMPS_MAX: usize = 4096;

/// How many events of one function run at once, and how many may.
struct Ramp {
    running: usize,
    limit: usize,
    /// Successes since the limit last grew.
    credit: usize,
    /// The fastest successful invocation seen (`None` before the first).
    fastest: Option<Duration>,
}

/// What an attempt says about its function's ramp: `Some(Ok(took))` it ran and succeeded in
/// `took`, `Some(Err(()))` it failed or was throttled, `None` it did not run.
type Signal = Option<Result<Duration, ()>>;

/// Whether a success that took `took` (the function's fastest so far: `fastest`) argues for
/// running more of its events at once: it waited rather than computed ([`RAMP_GROW_MIN`]) and
/// was not slowed by queueing for the CPU ([`RAMP_GROW_INFLATION_MAX`]).
fn grows(took: Duration, fastest: Duration) -> bool {
    took >= RAMP_GROW_MIN && took <= fastest * RAMP_GROW_INFLATION_MAX
}

/// A claimed event with its asynchronous settings, read for the whole claim in one go
/// (`None`: not read, `process` reads them).
type Ready = (ClaimedEvent, Option<Option<EventInvokeConfig>>);

/// Claimed events waiting for a runner, per function, each function's in claim order. Taking
/// the next one looks at each function's first only (not at every event waiting: with one
/// function at its ramp's limit and hundreds of its events ready, that scan cost more than the
/// rest of the worker's bookkeeping).
#[derive(Default)]
struct ReadyQueue {
    by_function: std::collections::HashMap<FunctionId, std::collections::VecDeque<(u64, Ready)>>,
    /// The claim order of the next event pushed.
    next: u64,
    len: usize,
}

impl ReadyQueue {
    fn len(&self) -> usize {
        self.len
    }

    /// How many of `function`'s events wait.
    fn len_of(&self, function: FunctionId) -> usize {
        self.by_function.get(&function).map_or(0, std::collections::VecDeque::len)
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn extend(&mut self, events: Vec<Ready>) {
        for r in events {
            let order = self.next;
            self.next += 1;
            self.len += 1;
            self.by_function.entry(r.0.event.function_id).or_default().push_back((order, r));
        }
    }

    /// Takes the earliest claimed event whose function `may_start` another run.
    fn take(&mut self, may_start: impl Fn(FunctionId) -> bool) -> Option<Ready> {
        let function = self
            .by_function
            .iter()
            .filter(|(f, _)| may_start(**f))
            .filter_map(|(f, q)| q.front().map(|(order, _)| (*order, *f)))
            .min()?
            .1;
        let queue = self.by_function.get_mut(&function)?;
        let (_, ready) = queue.pop_front()?;
        if queue.is_empty() {
            self.by_function.remove(&function);
        }
        self.len -= 1;
        Some(ready)
    }
}

/// What one claim of a node sharing the queue may take of each function: what the function's
/// ramp can start now, its limit less its events running and ready here ([`RAMP_START`] for a
/// function without a ramp yet, less its ready events). So a cluster node holds of a function
/// at most its ramp's limit, all of it startable at once, and the rest stays due for the other
/// nodes; before, with 64 runners and a ramp of 8, one node claimed up to 128 events of one
/// slow function, started 8, and idle nodes got none of the other 120. (Its ready events may
/// still wait for a runner when all `concurrency` are busy: that claim-ahead of at most
/// `concurrency` events is what keeps runners from waiting on a claim's commit.)
///
/// Only functions whose cap differs from the default are listed; the claim skips a function
/// capped at 0 (its ramp full here) outright.
fn per_function_max(
    ramps: &std::collections::HashMap<FunctionId, Ramp>,
    ready: &ReadyQueue,
    concurrency: usize,
) -> PerFunctionMax {
    let default = RAMP_START.min(concurrency);
    let mut of: Vec<(FunctionId, usize)> = ramps
        .iter()
        .map(|(f, r)| (*f, r.limit.saturating_sub(r.running + ready.len_of(*f))))
        .filter(|(_, room)| *room != default)
        .collect();
    of.extend(
        ready
            .by_function
            .iter()
            .filter(|(f, _)| !ramps.contains_key(f))
            .map(|(f, q)| (*f, default.saturating_sub(q.len()))),
    );
    PerFunctionMax { default, of }
}

/// A finished event on its way to the finisher, with what is reported after its commit.
struct Finished {
    finish: EventFinish,
    function: FunctionOf,
    /// Whether a destination record was given (a `Complete` that was not delivered is a
    /// `DestinationDeliveryFailures`).
    destination_given: bool,
    /// Whether a record for a queue or a bus was sent ([`deliver`]; `None`: none was given).
    sent: Option<bool>,
    dead_letter: Option<DeadLetter>,
}

/// A failed event bound for its function's dead-letter queue (`DeadLetterConfig.TargetArn`).
struct DeadLetter {
    arn: String,
    /// The event's payload, the message body.
    payload: Vec<u8>,
    request_id: String,
    /// `ErrorCode`: the invocation's status code (200 for a function error).
    code: u16,
    /// `ErrorMessage`: the function's `errorMessage`, or why the event ended.
    message: String,
    /// Whether it reached the queue ([`deliver`]).
    sent: bool,
}

/// The owned parts of a [`metrics::FunctionAt`].
struct FunctionOf {
    account: String,
    region: String,
    function: String,
    qualifier: Option<String>,
}

impl FunctionOf {
    fn at(&self) -> metrics::FunctionAt<'_> {
        metrics::FunctionAt {
            account: &self.account,
            region: &self.region,
            function: &self.function,
            qualifier: self.qualifier.as_deref(),
        }
    }
}

/// Runs the worker until the returned task is aborted.
///
/// Three parts work side by side: the claimer keeps up to twice `concurrency` events claimed
/// (running plus ready; at least [`CLAIM_AHEAD_MIN`] on a node alone; on a node sharing the
/// queue, of each function at most what its ramp can start: [`per_function_max`]), claiming what is
/// missing in one transaction while the others run, with their settings read in one read; runners (at most `concurrency`) invoke one event
/// each and hand its outcome to the finisher; the finisher commits every outcome waiting in
/// one transaction (deletes, destination records, retries), so an event costs no commit of
/// its own beyond its acceptance.
pub fn start(
    control: Arc<Control>,
    engine: Arc<Engine>,
    settings: EventSettings,
    sinks: Option<Arc<dyn Sinks>>,
) -> tokio::task::JoinHandle<()> {
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
        let (finished, finishes) = tokio::sync::mpsc::channel(FINISH_PENDING_MAX);
        tokio::join!(claim_and_run(&control, &engine, &settings, sinks, finished), finish(&control, &engine, finishes));
    })
}

/// Claims events and runs them, at most `concurrency` at once.
async fn claim_and_run(
    control: &Arc<Control>,
    engine: &Arc<Engine>,
    settings: &EventSettings,
    sinks: Option<Arc<dyn Sinks>>,
    finished: tokio::sync::mpsc::Sender<Finished>,
) {
    let concurrency = settings.concurrency.max(1);
    let alone = engine.node_id().is_none();
    let held_max = if alone { (2 * concurrency).max(CLAIM_AHEAD_MIN) } else { 2 * concurrency };
    // Claim when at least this many are missing (or nothing is ready): fewer, larger claims.
    let claim_min = (held_max / 4).max(1);
    let mut ready = ReadyQueue::default();
    let mut running: tokio::task::JoinSet<Signal> = tokio::task::JoinSet::new();
    let mut running_of: std::collections::HashMap<tokio::task::Id, FunctionId> = std::collections::HashMap::new();
    let mut ramps: std::collections::HashMap<FunctionId, Ramp> = std::collections::HashMap::new();
    let mut claiming: Option<std::pin::Pin<Box<dyn std::future::Future<Output = Claimed> + Send>>> = None;
    // Set when the queue had nothing more due: wait for a wake-up or until then.
    let mut idle_until: Option<tokio::time::Instant> = None;
    // Set when a claim of a node sharing the queue took nothing while events were due (their
    // functions' ramps full here): a finished run, which makes room, ends the wait.
    let mut held_back = false;
    loop {
        while running.len() < concurrency
            && let Some((claimed, config)) = ready.take(|f| ramps.get(&f).is_none_or(|r| r.running < r.limit))
        {
            let function = claimed.event.function_id;
            ramps
                .entry(function)
                .or_insert(Ramp { running: 0, limit: RAMP_START.min(concurrency), credit: 0, fastest: None })
                .running += 1;
            let (control, engine, settings, sinks, finished) =
                (control.clone(), engine.clone(), settings.clone(), sinks.clone(), finished.clone());
            let task = running.spawn(async move {
                let (id, token, attempts) = (claimed.event.id, claimed.token.clone(), claimed.event.attempts);
                match process(&control, &engine, &settings, claimed, config).await {
                    Ok((mut f, signal)) => {
                        deliver(&control, sinks.as_deref(), &mut f).await;
                        let _ = finished.send(f).await;
                        signal
                    }
                    Err(e) => {
                        // The store failed (e.g. the database is gone): hand the event back to
                        // the queue once the store answers, rather than leave it claimed until
                        // its lease ends (at least once: it may have run).
                        tracing::error!(event = id, error = %e, "event processing failed; it will be retried");
                        release(&control, id, token, attempts, settings.lease).await;
                        Some(Err(()))
                    }
                }
            });
            running_of.insert(task.id(), function);
        }
        let room = held_max.saturating_sub(running.len() + ready.len());
        if claiming.is_none() && idle_until.is_none() && room > 0 && (ready.is_empty() || room >= claim_min) {
            if engine.may_claim() {
                let per_function = (!alone).then(|| per_function_max(&ramps, &ready, concurrency));
                claiming = Some(Box::pin(claim(
                    control.clone(),
                    settings.node_id.clone(),
                    settings.lease,
                    room,
                    per_function,
                )));
            } else {
                // A node that cannot prove it is alive leaves the queue to the others (their
                // reaper frees its claims once it counts as dead).
                idle_until = Some(tokio::time::Instant::now() + IDLE_POLL);
            }
        }
        tokio::select! {
            got = async {
                match claiming.as_mut() {
                    Some(c) => c.await,
                    None => std::future::pending().await,
                }
            } => {
                claiming = None;
                match got {
                    Claimed::Events { events, wait, held_back: h } => {
                        ready.extend(events);
                        idle_until = wait.map(|w| tokio::time::Instant::now() + w);
                        held_back = h;
                    }
                    Claimed::Failed => idle_until = Some(tokio::time::Instant::now() + IDLE_POLL),
                }
            }
            Some(joined) = running.join_next_with_id(), if !running.is_empty() => {
                let (task, signal) = match joined {
                    Ok((task, signal)) => (task, signal),
                    Err(e) => (e.id(), Some(Err(()))),
                };
                if held_back {
                    held_back = false;
                    idle_until = None;
                }
                if let Some(function) = running_of.remove(&task)
                    && let Some(r) = ramps.get_mut(&function)
                {
                    r.running -= 1;
                    match signal {
                        Some(Ok(took)) => {
                            let fastest = *r.fastest.get_or_insert(took);
                            r.fastest = Some(fastest.min(took));
                            if grows(took, fastest) {
                                r.credit += 1;
                                if r.credit >= r.limit {
                                    r.limit = (r.limit + 1).min(concurrency);
                                    r.credit = 0;
                                }
                            }
                        }
                        Some(Err(())) => {
                            r.limit = (r.limit / 2).max(1);
                            r.credit = 0;
                        }
                        None => {}
                    }
                }
                if ramps.len() > RAMPS_MAX {
                    ramps.retain(|_, r| r.running > 0);
                }
            }
            _ = control.events_queued().notified(), if idle_until.is_some() => idle_until = None,
            _ = tokio::time::sleep_until(idle_until.unwrap_or_else(tokio::time::Instant::now)), if idle_until.is_some() => {
                idle_until = None;
            }
        }
    }
}

/// What one claim got.
enum Claimed {
    /// The events, and, when the queue had no more due, how long to wait before looking again
    /// (unless woken); `held_back`: events were due but the per-function caps took none of them.
    Events {
        events: Vec<Ready>,
        wait: Option<Duration>,
        held_back: bool,
    },
    Failed,
}

/// Claims up to `limit` due events (with `per_function`, at most that many of each function)
/// and reads their settings.
async fn claim(
    control: Arc<Control>,
    node: String,
    lease: Duration,
    limit: usize,
    per_function: Option<PerFunctionMax>,
) -> Claimed {
    let lease_ms = lease.as_millis() as i64;
    let now = stdx::time::now_ms();
    let capped = per_function.is_some();
    let claimed =
        match control.store().write(move |tx| tx.claim_events(&node, lease_ms, limit, per_function.as_ref())).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim events");
                return Claimed::Failed;
            }
        };
    let mut held_back = false;
    let wait =
        if claimed.len() < limit {
            let due = control.store().read(|tx| tx.next_event_due()).await.ok().flatten();
            match due {
                // Capped, it got some: look again at once (what it took now counts against those
                // functions' caps, so the next claim looks past them).
                Some(_) if capped && !claimed.is_empty() => None,
                // Capped, it got none although events are due: their functions' ramps are full
                // here. A finished run (or a new event, or IDLE_POLL) ends the wait, not a spin on
                // the due time.
                Some(d) if capped && d <= stdx::time::now_ms() => {
                    held_back = true;
                    Some(IDLE_POLL)
                }
                _ => Some(due.map_or(IDLE_POLL, |d| {
                    Duration::from_millis((d - now).clamp(1, IDLE_POLL.as_millis() as i64) as u64)
                })),
            }
        } else {
            None
        };
    if claimed.is_empty() {
        return Claimed::Events { events: Vec::new(), wait, held_back };
    }
    let mut keys: Vec<(model::function::FunctionId, Option<String>)> =
        claimed.iter().map(|c| (c.event.function_id, c.event.qualifier.clone())).collect();
    keys.sort();
    keys.dedup();
    let configs: Option<std::collections::HashMap<_, _>> = match control.event_configs_for(keys.clone()).await {
        Ok(c) => Some(keys.into_iter().zip(c).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the claimed events' settings; each reads its own");
            None
        }
    };
    let events = claimed
        .into_iter()
        .map(|c| {
            let config =
                configs.as_ref().and_then(|m| m.get(&(c.event.function_id, c.event.qualifier.clone())).cloned());
            (c, config)
        })
        .collect();
    Claimed::Events { events, wait, held_back }
}

/// Commits finished events in batches, then reports what could not be delivered.
async fn finish(control: &Control, engine: &Engine, mut finishes: tokio::sync::mpsc::Receiver<Finished>) {
    let mut batch: Vec<Finished> = Vec::with_capacity(FINISH_BATCH_MAX);
    while finishes.recv_many(&mut batch, FINISH_BATCH_MAX).await > 0 {
        let all: Vec<EventFinish> = batch.iter().map(|f| f.finish.clone()).collect();
        let n = all.len();
        match control.finish_events(all).await {
            Ok(answers) => {
                for (f, a) in batch.drain(..).zip(answers) {
                    reported(engine, f, a);
                }
            }
            Err(e) if n > 1 => {
                // One event's failure must not hold back the others: each on its own.
                tracing::warn!(error = %e, events = n, "cannot finish a batch of events; finishing each alone");
                for f in batch.drain(..) {
                    match control.finish_events(vec![f.finish.clone()]).await {
                        Ok(a) => reported(engine, f, a.into_iter().next().flatten()),
                        Err(e) => tracing::error!(error = %e, "cannot finish an event; it runs again after its lease"),
                    }
                }
            }
            Err(e) => {
                batch.clear();
                tracing::error!(error = %e, "cannot finish an event; it runs again after its lease");
            }
        }
    }
}

/// The service an ARN names (`arn:<partition>:<service>:…`).
fn arn_service(arn: &str) -> &str {
    arn.split(':').nth(2).unwrap_or_default()
}

/// Most characters of a dead letter's `ErrorMessage` attribute.
const DEAD_LETTER_MESSAGE_CHARS_MAX: usize = 1_024;

/// Before the commit: sends a destination record bound for an SQS queue or an EventBridge bus
/// (taking it out of the finish, which queues only Lambda ones), and the dead letter — only
/// while this attempt still holds the event's claim (a reaped or expired attempt's outcome is
/// dropped at the commit, and another attempt owns the event).
async fn deliver(control: &Control, sinks: Option<&dyn Sinks>, f: &mut Finished) {
    let EventFinish::Complete { id, token, destination } = &mut f.finish else { return };
    let external = destination.as_ref().is_some_and(|(_, arn, _)| arn_service(arn) != "lambda");
    if !external && f.dead_letter.is_none() {
        return;
    }
    let (id, claim) = (*id, token.clone());
    match control.store().read(move |tx| tx.holds_claim(id, &claim)).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(event = id, "the event's claim was lost; its records are not sent");
            return;
        }
        Err(e) => {
            tracing::warn!(event = id, error = %e, "cannot check the event's claim; its records are sent");
        }
    }
    if external && let Some((scope, arn, record)) = destination.take() {
        let body = String::from_utf8_lossy(&record);
        let sent = match sinks {
            None => Err("no queues or buses here".to_owned()),
            Some(s) if arn_service(&arn) == "sqs" => s.send_message(&arn, &body, None).await,
            Some(s) if arn_service(&arn) == "events" => {
                let r: Value = serde_json::from_slice(&record).unwrap_or_default();
                let success = r["requestContext"]["condition"] == "Success";
                let detail_type = if success {
                    "Lambda Function Invocation Result - Success"
                } else {
                    "Lambda Function Invocation Result - Failure"
                };
                let function_arn = r["requestContext"]["functionArn"].as_str().unwrap_or_default().to_owned();
                s.put_event(&scope, &arn, detail_type, &body, vec![arn.clone(), function_arn]).await
            }
            Some(_) => Err("not a queue or a bus".to_owned()),
        };
        if let Err(e) = &sent {
            tracing::warn!(destination = %arn, error = %e, "cannot deliver the destination record");
        }
        f.sent = Some(sent.is_ok());
    }
    if let Some(d) = &mut f.dead_letter {
        let sent = match sinks {
            Some(s) if arn_service(&d.arn) == "sqs" => {
                // SQS refuses empty values and some characters: an empty error message is left
                // out, others are cleaned and bounded; an empty event is Lambda's `{}`.
                let message: String =
                    d.message.chars().filter(|c| sqs_char(*c)).take(DEAD_LETTER_MESSAGE_CHARS_MAX).collect();
                let mut attributes = json!({
                    "RequestID": {"DataType": "String", "StringValue": d.request_id},
                    "ErrorCode": {"DataType": "Number", "StringValue": d.code.to_string()},
                });
                if !message.is_empty() {
                    attributes["ErrorMessage"] = json!({"DataType": "String", "StringValue": message});
                }
                let body: String = String::from_utf8_lossy(&d.payload).chars().filter(|c| sqs_char(*c)).collect();
                let body = if body.is_empty() { "{}".to_owned() } else { body };
                s.send_message(&d.arn, &body, Some(&attributes)).await
            }
            _ => Err("Versa has no SNS topics".to_owned()),
        };
        if let Err(e) = &sent {
            tracing::warn!(
                function = %f.function.function,
                dead_letter = %d.arn,
                error = %e,
                "cannot send the failed event to its dead-letter queue"
            );
        }
        d.sent = sent.is_ok();
    }
}

/// The characters an SQS message may hold (#x9, #xA, #xD, #x20 to #xD7FF, #xE000 to #xFFFD,
/// #x10000 to #x10FFFF).
fn sqs_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// After its commit: logs a lost claim, counts what could not be delivered: its destination
/// record (`DestinationDeliveryFailures`), and a dead letter (`DeadLetterErrors`).
fn reported(engine: &Engine, f: Finished, answer: Option<bool>) {
    let (id, retry) = match &f.finish {
        EventFinish::Complete { id, .. } => (*id, false),
        EventFinish::Retry { id, .. } => (*id, true),
    };
    let Some(delivered) = answer else {
        if retry {
            tracing::warn!(event = id, "the event's claim was lost (reaped or expired); its retry is dropped");
        } else {
            tracing::warn!(event = id, "the event's claim was lost (reaped or expired); its result is dropped");
        }
        return;
    };
    if retry {
        return;
    }
    if let Some(m) = engine.metrics() {
        let now = stdx::time::now_ms();
        if f.destination_given && !(delivered && f.sent.unwrap_or(true)) {
            m.destination_failure(&f.function.at(), now);
        }
        if f.dead_letter.as_ref().is_some_and(|d| !d.sent) {
            m.dead_letter_error(&f.function.at(), now);
        }
    }
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
    config: Option<Option<EventInvokeConfig>>,
) -> control::Result<(Finished, Signal)> {
    let ClaimedEvent { event, token } = claimed;
    let now = stdx::time::now_ms();
    let function = FunctionOf {
        account: event.scope.account.as_str().to_owned(),
        region: event.scope.region.as_str().to_owned(),
        function: event.function_name.clone(),
        qualifier: event.qualifier.clone(),
    };
    // An event that ends without success and without a destination taking it is dropped.
    let dropped = |dest: &Option<(model::scope::Scope, String, Vec<u8>)>| {
        if let (Some(m), None) = (engine.metrics(), dest) {
            m.async_dropped(&function.at(), now);
        }
    };
    let complete = |destination: Option<(model::scope::Scope, String, Vec<u8>)>, dead_letter: Option<DeadLetter>| {
        (
            EventFinish::Complete { id: event.id, token: token.clone(), destination: destination.clone() },
            destination.is_some(),
            dead_letter,
        )
    };
    let retry = |attempts: u32, not_before_ms: i64| {
        (EventFinish::Retry { id: event.id, token: token.clone(), attempts, not_before_ms }, false, None)
    };
    let done = |(finish, destination_given, dead_letter): (EventFinish, bool, Option<DeadLetter>),
                function: FunctionOf,
                signal: Signal| {
        Ok((Finished { finish, function, destination_given, sent: None, dead_letter }, signal))
    };
    let target = match control.resolve_invoke(&event.scope, &event.function_name, event.qualifier.as_deref()).await {
        Ok(t) if t.function_id == event.function_id => t,
        // The store could not answer: nothing is known about the target, so keep the event.
        Err(e) if !matches!(e, control::ControlError::ResourceNotFound(_)) => return Err(e),
        // The function, version or alias is gone (or the name is a new function): drop it.
        _ => {
            tracing::warn!(request_id = %event.request_id, function = %event.function_name, "event target no longer exists; dropped");
            dropped(&None);
            return done(complete(None, None), function, None);
        }
    };
    let dead_letter_arn = target.record.config.dead_letter_target_arn.clone();
    let dead_letter = |code: u16, message: String| {
        dead_letter_arn.clone().map(|arn| DeadLetter {
            arn,
            payload: event.payload.clone(),
            request_id: event.request_id.clone(),
            code,
            message,
            sent: false,
        })
    };
    let config = match config {
        Some(c) => c,
        None => control.event_config_for(target.function_id, event.qualifier.as_deref()).await?,
    }
    .unwrap_or_default();
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
        let letter = dead_letter(200, "Event age exceeded (MaximumEventAgeInSeconds).".to_owned());
        return done(complete(dest, letter), function, None);
    }
    if target.reserved_concurrency == Some(0) {
        let dest = finish(Condition::ZeroReservedConcurrency, 0, None);
        dropped(&dest);
        let letter = dead_letter(429, "The function's reserved concurrency is 0.".to_owned());
        return done(complete(dest, letter), function, None);
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
        m.async_age(&function.at(), now, (now - event.received_ms).max(0) as f64);
    }
    let retry_at = now + settings.retry_delay.as_millis() as i64 * i64::from(attempts);
    let began = std::time::Instant::now();
    let invoked = engine.invoke(t, request).await;
    let signal = match &invoked {
        Ok(r) if !r.function_error => Some(Ok(began.elapsed())),
        _ => Some(Err(())),
    };
    let outcome = match invoked {
        Ok(r) if !r.function_error => {
            let dest = finish(Condition::Success, attempts, Some((r, executed)));
            complete(dest, None)
        }
        Ok(r) => {
            if attempts > max_retries {
                let message = as_json(&r.payload)["errorMessage"].as_str().unwrap_or("Unhandled").to_owned();
                let dest = finish(Condition::RetriesExhausted, attempts, Some((r, executed)));
                dropped(&dest);
                complete(dest, dead_letter(200, message))
            } else {
                retry(attempts, retry_at)
            }
        }
        Err(InvokeError::Throttled { .. } | InvokeError::TooManyEnvironments) => {
            // Throttles do not count as attempts; the event waits (up to its maximum age).
            retry(event.attempts, now + settings.throttle_delay.as_millis() as i64)
        }
        Err(e) => {
            tracing::warn!(request_id = %event.request_id, error = %e, "event invocation failed");
            if attempts > max_retries {
                let dest = finish(Condition::RetriesExhausted, attempts, None);
                dropped(&dest);
                complete(dest, dead_letter(500, e.to_string()))
            } else {
                retry(attempts, retry_at)
            }
        }
    };
    done(outcome, function, signal)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A claimed event `id` of function `function`.
    fn ready(id: i64, function: i64) -> Ready {
        let event = QueuedEvent {
            id,
            scope: model::scope::Scope {
                account: model::scope::AccountId::parse("123456789012").unwrap(),
                region: model::scope::Region::parse("us-east-1").unwrap(),
            },
            function_id: FunctionId(function),
            function_name: format!("f{function}"),
            qualifier: None,
            request_id: format!("r{id}"),
            payload: Vec::new(),
            received_ms: 0,
            attempts: 0,
        };
        (ClaimedEvent { event, token: String::new() }, None)
    }

    #[test]
    fn ready_events_start_in_claim_order_skipping_full_functions() {
        let mut q = ReadyQueue::default();
        q.extend(vec![ready(1, 7), ready(2, 8), ready(3, 7), ready(4, 9)]);
        let take = |q: &mut ReadyQueue, full: &[i64]| q.take(|f| !full.contains(&f.0)).map(|(c, _)| c.event.id);
        assert_eq!(q.len(), 4);
        assert_eq!(take(&mut q, &[]), Some(1));
        // Function 7 at its limit: the earliest of the others.
        assert_eq!(take(&mut q, &[7]), Some(2));
        q.extend(vec![ready(5, 8)]);
        assert_eq!(take(&mut q, &[7, 9]), Some(5));
        assert_eq!(take(&mut q, &[7, 8, 9]), None);
        assert_eq!(take(&mut q, &[]), Some(3));
        assert_eq!(take(&mut q, &[]), Some(4));
        assert!(q.is_empty());
        assert_eq!(take(&mut q, &[]), None);
    }

    #[test]
    fn a_cluster_claim_takes_of_each_function_what_its_ramp_can_start() {
        let ramp = |running: usize, limit: usize| Ramp { running, limit, credit: 0, fastest: None };
        let ramps = std::collections::HashMap::from([
            (FunctionId(1), ramp(8, 8)),  // full: none
            (FunctionId(2), ramp(3, 12)), // grown, 3 running and 2 ready: 7
            (FunctionId(3), ramp(0, 8)),  // idle at the default: not listed
            (FunctionId(4), ramp(0, 2)),  // halved: 2
        ]);
        let mut q = ReadyQueue::default();
        q.extend(vec![ready(1, 2), ready(2, 2), ready(3, 5), ready(4, 5), ready(5, 5)]);
        let mut caps = per_function_max(&ramps, &q, 64);
        caps.of.sort();
        assert_eq!(caps.default, RAMP_START);
        // Function 5 has no ramp yet: the default less its 3 ready.
        assert_eq!(caps.of, [(FunctionId(1), 0), (FunctionId(2), 7), (FunctionId(4), 2), (FunctionId(5), 5)]);
        // A worker with fewer runners than RAMP_START starts no more than it has at first.
        let caps = per_function_max(&std::collections::HashMap::new(), &ReadyQueue::default(), 2);
        assert_eq!((caps.default, caps.of.len()), (2, 0));
    }

    #[test]
    fn only_waiting_not_queueing_successes_grow_a_ramp() {
        let ms = Duration::from_millis;
        // A quick function never argues for more at once, however long it is queued.
        assert!(!grows(Duration::from_micros(300), Duration::from_micros(200)));
        assert!(!grows(ms(20), Duration::from_micros(200)));
        // A waiting function does, while its duration holds ...
        assert!(grows(ms(100), ms(100)));
        assert!(grows(ms(190), ms(100)));
        // ... but not once queueing for the CPU has stretched it.
        assert!(!grows(ms(250), ms(100)));
    }
}
