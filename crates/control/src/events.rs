//! Asynchronous invocation: the durable queue, event invoke configs (retries, maximum age,
//! destinations) and reserved concurrency.

use model::arn::{function_arn, qualified_arn};
use model::function::{EventInvokeConfig, FunctionId, QueuedEvent};
use model::name::{FunctionRef, NameShape, Qualifier, Version};
use model::scope::{RegionPattern, Scope};
use model::validate::Violation;
use store::{FunctionKey, ReadTx, StoreError};

use crate::functions::{check_max_items, decode_marker, encode_marker};
use crate::names;
use crate::{Control, ControlError, Result, validation};

/// Largest `MaxItems` of ListFunctionEventInvokeConfigs.
const CONFIG_PAGE_MAX: i64 = 50;
/// Longest time the event queue's cached totals are trusted (see `reserve_queue_room`).
pub const QUEUE_RECOUNT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
const RETRIES_MAX: i64 = 2;
const EVENT_AGE_S_MIN: i64 = 60;
const EVENT_AGE_S_MAX: i64 = 21_600;
/// The destination pattern AWS quotes (recorded; older than the model's, which adds `kafka://`).
const DESTINATION_PATTERN: &str =
    r"^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)";

/// PutFunctionEventInvokeConfig / UpdateFunctionEventInvokeConfig input, unvalidated.
#[derive(Debug, Clone, Default)]
pub struct EventConfigInput {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_s: Option<i64>,
    /// `DestinationConfig.OnSuccess.Destination`: `Some(None)` when `OnSuccess` is present
    /// without a destination.
    pub on_success: Option<Option<String>>,
    pub on_failure: Option<Option<String>>,
}

/// An event invoke config as an answer shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventConfigView {
    /// Always qualified (`:$LATEST` for the unqualified function).
    pub function_arn: String,
    pub config: EventInvokeConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventConfigPage {
    pub configs: Vec<EventConfigView>,
    pub next_marker: Option<String>,
}

fn not_exist() -> ControlError {
    ControlError::ResourceNotFound("The function doesn't exist.".to_owned())
}

fn no_config(scope: &Scope, name: &str, qualifier: &str) -> ControlError {
    ControlError::ResourceNotFound(format!(
        "The function {} doesn't have an EventInvokeConfig",
        qualified_arn(scope, name, &qualifier)
    ))
}

/// What an event-invoke-config operation answers when its function, version or alias is
/// missing (recorded on AWS, except Update on a missing version or alias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Put, List: `The function doesn't exist.` for a missing function, version or alias.
    DoesNotExist,
    /// Update: `The function doesn't exist.` for a missing function; a missing version or alias
    /// has no config.
    FunctionDoesNotExist,
    /// Get, Delete: `The function <arn>:<qualifier> doesn't have an EventInvokeConfig`, whatever
    /// is missing.
    NoConfig,
}

/// Most accepted events committed together by one group commit.
pub const ACCEPT_BATCH_MAX: usize = 1024;

type AcceptReply = tokio::sync::oneshot::Sender<std::result::Result<(), StoreError>>;

/// The group commit of accepted `Event` invokes: concurrent `enqueue_invoke` calls join one
/// write transaction (one commit, one fsync) instead of one each. A flusher task runs while
/// events are pending: it takes everything pending (up to [`ACCEPT_BATCH_MAX`]) and writes it
/// in one transaction; whatever arrives meanwhile waits for the next one. Each caller is
/// answered after the commit that holds its event, so its 202 still means "durable".
#[derive(Default)]
pub(crate) struct Accepts {
    state: std::sync::Mutex<AcceptState>,
}

#[derive(Default)]
struct AcceptState {
    pending: Vec<(QueuedEvent, AcceptReply)>,
    flushing: bool,
}

impl Accepts {
    /// Queues `event` (due at its `received_ms`) with the next group commit; answers once it
    /// is committed.
    pub(crate) async fn queue(
        self: &std::sync::Arc<Self>,
        store: &store::Store,
        event: QueuedEvent,
    ) -> std::result::Result<(), StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let start = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.pending.push((event, reply));
            !std::mem::replace(&mut s.flushing, true)
        };
        if start {
            tokio::spawn(self.clone().flush(store.clone()));
        }
        answer.await.unwrap_or(Err(StoreError::Closed))
    }

    async fn flush(self: std::sync::Arc<Self>, store: store::Store) {
        // Dropped with the task (its runtime stopping): the waiting callers fail rather than
        // wait forever, and the next caller starts a new flusher.
        struct Stopped(std::sync::Arc<Accepts>, bool);
        impl Drop for Stopped {
            fn drop(&mut self) {
                if self.1 {
                    let mut s = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
                    s.pending.clear();
                    s.flushing = false;
                }
            }
        }
        let mut stopped = Stopped(self.clone(), true);
        loop {
            let batch: Vec<(QueuedEvent, AcceptReply)> = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if s.pending.is_empty() {
                    s.flushing = false;
                    stopped.1 = false;
                    return;
                }
                let n = s.pending.len().min(ACCEPT_BATCH_MAX);
                s.pending.drain(..n).collect()
            };
            let (events, replies): (Vec<QueuedEvent>, Vec<AcceptReply>) = batch.into_iter().unzip();
            let events = std::sync::Arc::new(events);
            let all = events.clone();
            match store.write(move |tx| tx.enqueue_events(&all)).await {
                Ok(()) => {
                    for r in replies {
                        let _ = r.send(Ok(()));
                    }
                }
                Err(e) if events.len() == 1 => {
                    for r in replies {
                        let _ = r.send(Err(e.clone()));
                    }
                }
                Err(_) => {
                    // One event can fail the whole batch (its function deleted meanwhile): then
                    // each is written on its own, so only that one is refused.
                    for (event, r) in events.iter().cloned().zip(replies) {
                        let one = store.write(move |tx| tx.enqueue_event(&event, event.received_ms).map(|_| ())).await;
                        let _ = r.send(one);
                    }
                }
            }
        }
    }
}

/// The services whose resources can be destinations: Lambda, SQS, SNS, EventBridge, S3.
const DESTINATION_SERVICES: &[&str] = &["lambda", "sqs", "sns", "events", "s3"];

/// The destination config as AWS's service echoes it (Java's `toString`):
/// `DestinationConfig(onSuccess=OnSuccess(destination=<arn>), onFailure=null)`.
fn show_destination_config(input: &EventConfigInput) -> String {
    let side = |kind: &str, d: &Option<Option<String>>| match d {
        None => "null".to_owned(),
        Some(d) => format!("{kind}(destination={})", d.as_deref().unwrap_or("null")),
    };
    format!(
        "DestinationConfig(onSuccess={}, onFailure={})",
        side("OnSuccess", &input.on_success),
        side("OnFailure", &input.on_failure)
    )
}

/// [`DESTINATION_PATTERN`], matched in full: empty, or
/// `arn:(aws…):service:region?:account?:rest`.
fn is_destination_arn(s: &str) -> bool {
    s.is_empty() || model::arn::is_service_arn(s, RegionPattern::ISO_B)
}

/// `arn:aws:sqs:<region>:<account>:<queue>` or `arn:aws:events:<region>:<account>:event-bus/<bus>`
/// of `scope`, the name non-empty and without `:` or `/`.
fn is_queue_or_bus_arn(arn: &str, scope: &Scope) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, region, account, rest] = parts[..] else { return false };
    let name = match service {
        "sqs" => rest,
        _ => rest.strip_prefix("event-bus/").unwrap_or_default(),
    };
    region == scope.region.as_str()
        && account == scope.account.as_str()
        && !name.is_empty()
        && !name.contains([':', '/'])
}

impl Control {
    /// Queues an `Event` invocation durably; when this returns, the event will run at least
    /// once (unless the function is deleted first).
    pub async fn enqueue_invoke(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        payload: Vec<u8>,
        request_id: &str,
    ) -> Result<()> {
        // The target must exist now; which version runs is decided when the event runs.
        let (function_id, t) = self.resolve_event_target(scope, function_name, qualifier).await?;
        let now = stdx::time::now_ms();
        self.reserve_queue_room(payload.len()).await?;
        let event = QueuedEvent {
            id: 0,
            scope: scope.clone(),
            function_id,
            function_name: t.name,
            qualifier: t.qualifier,
            request_id: request_id.to_owned(),
            payload,
            received_ms: now,
            attempts: 0,
        };
        // The metric names the function and qualifier as resolved (the caller may give an ARN).
        let named = self.settings.metrics.is_some().then(|| (event.function_name.clone(), event.qualifier.clone()));
        // Joins the next group commit: the answer comes once the transaction holding it committed.
        self.accepts.queue(&self.store, event).await?;
        self.events_queued.notify_one();
        self.events_announce.notify_one();
        if let (Some(m), Some((function, qualifier))) = (&self.settings.metrics, &named) {
            let at = metrics::FunctionAt {
                account: scope.account.as_str(),
                region: scope.region.as_str(),
                function,
                qualifier: qualifier.as_deref(),
            };
            m.async_received(&at, now);
        }
        Ok(())
    }

    /// Checks an `Event` invocation's target (it must exist now) and builds the event, for
    /// [`Control::enqueue_prepared`]. Nothing is queued yet.
    pub async fn prepare_event(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        payload: Vec<u8>,
        request_id: &str,
    ) -> Result<QueuedEvent> {
        let (function_id, t) = self.resolve_event_target(scope, function_name, qualifier).await?;
        Ok(QueuedEvent {
            id: 0,
            scope: scope.clone(),
            function_id,
            function_name: t.name,
            qualifier: t.qualifier,
            request_id: request_id.to_owned(),
            payload,
            received_ms: stdx::time::now_ms(),
            attempts: 0,
        })
    }

    /// Queues prepared events in one write transaction that first runs `and` (a scheduler
    /// moving its due time on): the events are queued only if `and` answers `true`, and both
    /// commit together or not at all. Answers what `and` answered.
    pub async fn enqueue_prepared(
        &self,
        events: Vec<QueuedEvent>,
        and: impl FnOnce(&mut dyn store::WriteTx) -> std::result::Result<bool, StoreError> + Send + 'static,
    ) -> Result<bool> {
        for e in &events {
            self.reserve_queue_room(e.payload.len()).await?;
        }
        let now = stdx::time::now_ms();
        let named: Vec<(Scope, String, Option<String>)> = if self.settings.metrics.is_some() {
            events.iter().map(|e| (e.scope.clone(), e.function_name.clone(), e.qualifier.clone())).collect()
        } else {
            Vec::new()
        };
        let count = events.len();
        let queued = self
            .store
            .write(move |tx| {
                if !and(tx)? {
                    return Ok::<_, StoreError>(false);
                }
                for mut e in events {
                    e.received_ms = now;
                    tx.enqueue_event(&e, now)?;
                }
                Ok(true)
            })
            .await?;
        if queued && count > 0 {
            self.events_queued.notify_one();
            self.events_announce.notify_one();
            if let Some(m) = &self.settings.metrics {
                for (scope, function, qualifier) in &named {
                    let at = metrics::FunctionAt {
                        account: scope.account.as_str(),
                        region: scope.region.as_str(),
                        function,
                        qualifier: qualifier.as_deref(),
                    };
                    m.async_received(&at, now);
                }
            }
        }
        Ok(queued)
    }

    /// Counts `bytes` of payload into the queue's totals, or refuses with 429 when the queue is
    /// full. The totals are re-read from the store at least every [`QUEUE_RECOUNT_EVERY`] and
    /// before any refusal; in between, events queued are added and finished ones are not
    /// subtracted, so the bound errs on the safe side.
    async fn reserve_queue_room(&self, bytes: usize) -> Result<()> {
        let fits = |t: &store::QueueTotals| {
            t.events < self.settings.queued_events_max && t.bytes + bytes as u64 <= self.settings.queued_event_bytes_max
        };
        {
            let mut cached = self.queue_totals.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, totals)) = cached.as_mut()
                && at.elapsed() < QUEUE_RECOUNT_EVERY
                && fits(totals)
            {
                totals.events += 1;
                totals.bytes += bytes as u64;
                return Ok(());
            }
        }
        let mut totals = self.store.read(|tx| tx.queued_events()).await?;
        if !fits(&totals) {
            tracing::warn!(events = totals.events, bytes = totals.bytes, "the event queue is full; refusing events");
            *self.queue_totals.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), totals));
            return Err(ControlError::TooManyRequests("FunctionInvocationRateLimitExceeded"));
        }
        totals.events += 1;
        totals.bytes += bytes as u64;
        *self.queue_totals.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), totals));
        Ok(())
    }

    /// Woken whenever this node queued an event: what tells the other nodes sharing the store
    /// (coalesced by whoever waits on it; nobody does on a store no one shares).
    pub fn events_announce(&self) -> &tokio::sync::Notify {
        &self.events_announce
    }

    /// Woken whenever an event is queued (the worker waits on it).
    pub fn events_queued(&self) -> &tokio::sync::Notify {
        &self.events_queued
    }

    /// The asynchronous settings that apply to an event of `function_id` invoked with
    /// `qualifier` (`None`: defaults).
    pub async fn event_config_for(
        &self,
        function_id: FunctionId,
        qualifier: Option<&str>,
    ) -> Result<Option<EventInvokeConfig>> {
        let q = qualifier.unwrap_or(Version::LATEST).to_owned();
        Ok(self.store.read(move |tx| tx.event_invoke_config(function_id, &q)).await?)
    }

    /// Resolves the `FunctionName`/`Qualifier` of an event-invoke-config operation to the
    /// function id and the config's qualifier (`$LATEST` when none). `refuse`, if any, is
    /// answered once the request is valid and before anything is looked up; `missing` says how a
    /// missing function, version or alias is reported.
    async fn config_target(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        extra: Vec<Violation>,
        refuse: Option<ControlError>,
        missing: Missing,
    ) -> Result<(FunctionId, String, String)> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Namespaced, &mut v);
        if let Some(q) = qualifier {
            names::check_qualifier(q, &mut v);
        }
        v.extend(extra);
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let q = match (parsed.qualifier.as_deref(), qualifier) {
            (Some(d), Some(g)) if d != g => {
                return Err(ControlError::InvalidParameterValue(
                    "The derived qualifier from the function name does not match the specified qualifier.".to_owned(),
                ));
            }
            (Some(d), _) => d.to_owned(),
            (None, Some(g)) => g.to_owned(),
            (None, None) => Version::LATEST.to_owned(),
        };
        if let Some(e) = refuse {
            return Err(e);
        }
        let function_missing = || match missing {
            Missing::DoesNotExist | Missing::FunctionDoesNotExist => not_exist(),
            Missing::NoConfig => no_config(scope, &parsed.name, &q),
        };
        if !names::can_exist(&parsed.name) {
            return Err(function_missing());
        }
        let (s, n, qq) = (scope.clone(), parsed.name.clone(), q.clone());
        let found = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s, name: n })? else {
                    return Ok::<_, StoreError>(None);
                };
                Ok(Some((f.id, qualifier_exists(tx, f.id, &qq)?)))
            })
            .await?;
        match found {
            None => Err(function_missing()),
            Some((_, false)) if missing == Missing::DoesNotExist => Err(not_exist()),
            Some((_, false)) => Err(no_config(scope, &parsed.name, &q)),
            Some((id, true)) => Ok((id, parsed.name, q)),
        }
    }

    /// Checks a destination: a Lambda function of this account and region other than
    /// `function`, that exists; or an SQS queue or EventBridge bus ARN of this account and
    /// region (not looked up: AWS checks the execution role's permission instead, which Versa
    /// does not model; a record that cannot be delivered counts as `DestinationDeliveryFailures`).
    /// An ARN of a service that cannot be a destination makes the whole config invalid
    /// (recorded); Versa has no topics, and buckets are not destinations yet, so their ARNs are
    /// destinations that do not exist.
    async fn check_destination(
        &self,
        scope: &Scope,
        function: &str,
        arn: &str,
        input: &EventConfigInput,
    ) -> Result<()> {
        let service = arn.split(':').nth(2).unwrap_or_default();
        if !DESTINATION_SERVICES.contains(&service) {
            return Err(ControlError::InvalidParameterValue(format!(
                "The provided destination config {} is invalid.",
                show_destination_config(input)
            )));
        }
        let invalid = || ControlError::InvalidParameterValue(format!("The destination ARN {arn} is invalid."));
        if matches!(service, "sqs" | "events") {
            return if is_queue_or_bus_arn(arn, scope) { Ok(()) } else { Err(invalid()) };
        }
        let Some(r) = FunctionRef::parse(arn, NameShape::Plain).filter(|r| r.is_arn()) else { return Err(invalid()) };
        if r.region.as_deref() != Some(scope.region.as_str()) || r.account.as_deref() != Some(scope.account.as_str()) {
            return Err(invalid());
        }
        if r.name == function {
            return Err(ControlError::InvalidParameterValue(
                "You can't specify the function as a destination for itself.".to_owned(),
            ));
        }
        let (s, n, q) = (scope.clone(), r.name.clone(), r.qualifier.clone());
        let exists = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s, name: n })? else {
                    return Ok::<_, StoreError>(false);
                };
                match q {
                    None => Ok(true),
                    Some(q) => qualifier_exists(tx, f.id, &q),
                }
            })
            .await?;
        if exists { Ok(()) } else { Err(invalid()) }
    }

    fn check_event_config(input: &EventConfigInput) -> Vec<Violation> {
        let mut v = Vec::new();
        if let Some(r) = input.maximum_retry_attempts {
            if r < 0 {
                v.push(Violation::value_min(r, "maximumRetryAttempts", 0));
            }
            if r > RETRIES_MAX {
                v.push(Violation::value_max(r, "maximumRetryAttempts", RETRIES_MAX));
            }
        }
        if let Some(a) = input.maximum_event_age_s {
            if a < EVENT_AGE_S_MIN {
                v.push(Violation::value_min(a, "maximumEventAgeInSeconds", EVENT_AGE_S_MIN));
            }
            if a > EVENT_AGE_S_MAX {
                v.push(Violation::value_max(a, "maximumEventAgeInSeconds", EVENT_AGE_S_MAX));
            }
        }
        for (field, dest) in [
            ("destinationConfig.onSuccess.destination", &input.on_success),
            ("destinationConfig.onFailure.destination", &input.on_failure),
        ] {
            if let Some(Some(d)) = dest {
                if !is_destination_arn(d) {
                    v.push(Violation::pattern(d, field, DESTINATION_PATTERN));
                }
                if d.len() > 350 {
                    v.push(Violation::len_max(d, field, 350));
                }
            }
        }
        v
    }

    /// PutFunctionEventInvokeConfig (`replace`) and UpdateFunctionEventInvokeConfig.
    pub async fn put_event_config(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        input: EventConfigInput,
        replace: bool,
    ) -> Result<EventConfigView> {
        let missing = if replace { Missing::DoesNotExist } else { Missing::FunctionDoesNotExist };
        // A request without settings is refused before the function is looked up (recorded:
        // PutFunctionEventInvokeConfig on a missing function without settings answers 400).
        let nothing = input.maximum_retry_attempts.is_none()
            && input.maximum_event_age_s.is_none()
            && input.on_success.is_none()
            && input.on_failure.is_none();
        let refuse = nothing.then(|| {
            ControlError::InvalidParameterValue(
                "You must specify at least one of error handling or destination setting.".to_owned(),
            )
        });
        let (id, name, q) = self
            .config_target(scope, function_name, qualifier, Self::check_event_config(&input), refuse, missing)
            .await?;
        for d in [&input.on_success, &input.on_failure].into_iter().flatten().flatten() {
            if !d.is_empty() {
                self.check_destination(scope, &name, d, &input).await?;
            }
        }
        let arn = qualified_arn(scope, &name, &q);
        let missing = format!("The function {arn} doesn't have an EventInvokeConfig");
        let qq = q.clone();
        let config = self
            .store
            .write(move |tx| {
                let existing = tx.event_invoke_config(id, &qq)?;
                let mut c = match (replace, existing) {
                    (true, _) => EventInvokeConfig::default(),
                    (false, Some(c)) => c,
                    (false, None) => return Err(ControlError::ResourceNotFound(missing)),
                };
                if replace || input.maximum_retry_attempts.is_some() {
                    c.maximum_retry_attempts = input.maximum_retry_attempts.map(|r| r as u32);
                }
                if replace || input.maximum_event_age_s.is_some() {
                    c.maximum_event_age_s = input.maximum_event_age_s.map(|a| a as u32);
                }
                if let Some(d) = input.on_success {
                    c.on_success = d.filter(|d| !d.is_empty());
                }
                if let Some(d) = input.on_failure {
                    c.on_failure = d.filter(|d| !d.is_empty());
                }
                c.last_modified_ms = stdx::time::now_ms();
                tx.put_event_invoke_config(id, &qq, &c)?;
                Ok(c)
            })
            .await?;
        Ok(EventConfigView { function_arn: arn, config })
    }

    pub async fn get_event_config(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<EventConfigView> {
        let (id, name, q) =
            self.config_target(scope, function_name, qualifier, Vec::new(), None, Missing::NoConfig).await?;
        let arn = qualified_arn(scope, &name, &q);
        let qq = q.clone();
        match self.store.read(move |tx| tx.event_invoke_config(id, &qq)).await? {
            Some(config) => Ok(EventConfigView { function_arn: arn, config }),
            None => {
                Err(ControlError::ResourceNotFound(format!("The function {arn} doesn't have an EventInvokeConfig")))
            }
        }
    }

    pub async fn delete_event_config(&self, scope: &Scope, function_name: &str, qualifier: Option<&str>) -> Result<()> {
        let (id, name, q) =
            self.config_target(scope, function_name, qualifier, Vec::new(), None, Missing::NoConfig).await?;
        let arn = qualified_arn(scope, &name, &q);
        let deleted = self.store.write(move |tx| tx.delete_event_invoke_config(id, &q)).await?;
        if deleted {
            Ok(())
        } else {
            Err(ControlError::ResourceNotFound(format!("The function {arn} doesn't have an EventInvokeConfig")))
        }
    }

    pub async fn list_event_configs(
        &self,
        scope: &Scope,
        function_name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<EventConfigPage> {
        let mut extra = Vec::new();
        check_max_items(max_items, &mut extra);
        if let Some(m) = max_items.filter(|m| *m > CONFIG_PAGE_MAX) {
            extra.retain(|v| v.field != "maxItems");
            extra.push(Violation::value_max(m, "maxItems", CONFIG_PAGE_MAX));
        }
        let (id, name, _) = self.config_target(scope, function_name, None, extra, None, Missing::DoesNotExist).await?;
        let limit = max_items.map_or(CONFIG_PAGE_MAX as usize, |m| m.clamp(1, CONFIG_PAGE_MAX) as usize);
        let after = marker.map(decode_marker).transpose()?;
        let mut rows = self.store.read(move |tx| tx.event_invoke_configs(id, after.as_deref(), limit + 1)).await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_marker = if more { rows.last().map(|(q, _)| encode_marker(q)) } else { None };
        let configs = rows
            .into_iter()
            .map(|(q, config)| EventConfigView { function_arn: qualified_arn(scope, &name, &q), config })
            .collect();
        Ok(EventConfigPage { configs, next_marker })
    }

    // --- Reserved concurrency ---

    /// PutFunctionConcurrency.
    pub async fn put_concurrency(&self, scope: &Scope, function_name: &str, reserved: Option<i64>) -> Result<u32> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Plain, &mut v);
        match reserved {
            None => v.push(Violation::not_null("reservedConcurrentExecutions")),
            Some(r) if r < 0 => v.push(Violation::value_min(r, "reservedConcurrentExecutions", 0)),
            _ => {}
        }
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        if parsed.qualifier.is_some() {
            return Err(ControlError::InvalidParameterValue(
                "This operation is permitted on Lambda functions only. Aliases and versions do not support this \
                 operation. Please specify either a function name or an unqualified function ARN."
                    .to_owned(),
            ));
        }
        let name = parsed.name;
        let reserved = u32::try_from(reserved.expect("validated")).unwrap_or(u32::MAX);
        if !names::can_exist(&name) {
            return Err(names::qualified_not_found(scope, &name, Version::LATEST));
        }
        let limit = self.settings.account_concurrency;
        let (s, n) = (scope.clone(), name.clone());
        let result = self
            .write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
                let Some(mut f) = tx.lock_function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                    return Err(names::qualified_not_found(&s, &n, Version::LATEST));
                };
                let provisioned: u64 = tx.provisioned_configs(f.id)?.iter().map(|c| u64::from(c.requested)).sum();
                if u64::from(reserved) < provisioned {
                    return Err(ControlError::InvalidParameterValueUntyped(format!(
                        " ReservedConcurrentExecutions  {reserved} should not be lower than function's total provisioned \
                         concurrency [{provisioned}]."
                    )));
                }
                let others = tx.reserved_concurrency_total(&s)? - u64::from(f.reserved_concurrency.unwrap_or(0));
                // With the reservation, this function's provisioned concurrency no longer
                // takes from the unreserved pool; other unreserved functions' still does.
                let own_provisioned = if f.reserved_concurrency.is_none() { provisioned } else { 0 };
                let others_provisioned = tx.unreserved_provisioned_total(&s)? - own_provisioned;
                let unreserved =
                    i64::from(limit) - others as i64 - others_provisioned as i64 - i64::from(reserved);
                if unreserved < i64::from(model::limits::UNRESERVED_CONCURRENCY_MIN) {
                    // Recorded without the `Type` member.
                    return Err(ControlError::InvalidParameterValueUntyped(format!(
                        "Specified ReservedConcurrentExecutions for function decreases account's \
                         UnreservedConcurrentExecution below its minimum value of [{}].",
                        model::limits::UNRESERVED_CONCURRENCY_MIN
                    )));
                }
                f.reserved_concurrency = Some(reserved);
                tx.update_function(&f)?;
                Ok(reserved)
            })
            .await;
        self.forget_unreserved(scope);
        result
    }

    /// GetFunctionConcurrency: `None` when nothing is reserved.
    pub async fn get_concurrency(&self, scope: &Scope, function_name: &str) -> Result<Option<u32>> {
        let t = names::resolve_qualified(scope, function_name, NameShape::Plain, None)?;
        if !names::can_exist(&t.name) {
            return Err(names::function_not_found(scope, &t.name));
        }
        let (s, n) = (scope.clone(), t.name.clone());
        let f = self.store.read(move |tx| tx.function(&FunctionKey { scope: s, name: n })).await?;
        f.map(|f| f.reserved_concurrency).ok_or_else(|| names::function_not_found(scope, &t.name))
    }

    /// DeleteFunctionConcurrency.
    pub async fn delete_concurrency(&self, scope: &Scope, function_name: &str) -> Result<()> {
        let t = names::resolve_qualified(scope, function_name, NameShape::Plain, None)?;
        if !names::can_exist(&t.name) {
            return Err(names::function_not_found(scope, &t.name));
        }
        let (s, n) = (scope.clone(), t.name.clone());
        let r = self
            .write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
                let Some(mut f) = tx.lock_function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                    return Err(names::function_not_found(&s, &n));
                };
                f.reserved_concurrency = None;
                tx.update_function(&f)?;
                Ok(())
            })
            .await;
        self.forget_unreserved(scope);
        r
    }

    /// The account's concurrency that no function holds (GetAccountSettings, and the pool
    /// unreserved functions share): the limit minus every reservation and minus the
    /// provisioned concurrency of functions without a reservation. Cached per scope.
    pub async fn unreserved_concurrency(&self, scope: &Scope) -> Result<u32> {
        let generation = {
            let cache = self.unreserved.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(u) = cache.by_scope.get(scope) {
                return Ok(*u);
            }
            cache.generation
        };
        let s = scope.clone();
        let taken = self
            .store
            .read(move |tx| {
                Ok::<_, StoreError>(tx.reserved_concurrency_total(&s)? + tx.unreserved_provisioned_total(&s)?)
            })
            .await?;
        let u = u64::from(self.settings.account_concurrency).saturating_sub(taken) as u32;
        let mut cache = self.unreserved.lock().unwrap_or_else(|e| e.into_inner());
        // A change while the store was read may have made `u` stale: then it is not kept.
        if cache.generation == generation {
            if cache.by_scope.len() >= UNRESERVED_CACHE_MAX {
                cache.by_scope.clear();
            }
            cache.by_scope.insert(scope.clone(), u);
        }
        Ok(u)
    }

    /// Drops the cached unreserved concurrency of `scope` after a change to it.
    pub(crate) fn forget_unreserved(&self, scope: &Scope) {
        let mut cache = self.unreserved.lock().unwrap_or_else(|e| e.into_inner());
        cache.generation += 1;
        cache.by_scope.remove(scope);
    }

    /// Forgets every scope's cached unreserved concurrency (another node's changes may have
    /// been missed).
    pub(crate) fn forget_all_unreserved(&self) {
        let mut cache = self.unreserved.lock().unwrap_or_else(|e| e.into_inner());
        cache.generation += 1;
        cache.by_scope.clear();
    }

    /// The unqualified ARN of a function, for destination records.
    pub fn function_arn(scope: &Scope, name: &str) -> String {
        function_arn(scope, name)
    }
}

/// Most scopes whose unreserved concurrency is cached; the cache is cleared when it is full.
const UNRESERVED_CACHE_MAX: usize = 4096;

/// Cached unreserved concurrency per scope (see [`Control::unreserved_concurrency`]).
#[derive(Debug, Default)]
pub(crate) struct UnreservedCache {
    /// Bumped by every change; a value read across a change is not cached.
    generation: u64,
    by_scope: std::collections::HashMap<Scope, u32>,
}

/// Whether `qualifier` names `$LATEST`, an existing version or an existing alias.
fn qualifier_exists(tx: &mut dyn ReadTx, id: FunctionId, qualifier: &str) -> std::result::Result<bool, StoreError> {
    Ok(match Qualifier::classify(qualifier) {
        Qualifier::Latest => true,
        Qualifier::Version(n) => match Version::parse(&n) {
            Some(Version::Published(n)) => tx.version(id, n)?.is_some(),
            _ => false,
        },
        Qualifier::Alias(a) => tx.alias(id, &a)?.is_some(),
    })
}

/// How a claimed event ends; see [`Control::finish_events`].
#[derive(Debug, Clone)]
pub enum EventFinish {
    /// It leaves the queue; its destination record (scope, Lambda ARN, record), if any, is
    /// queued in the same transaction.
    Complete { id: i64, token: String, destination: Option<(Scope, String, Vec<u8>)> },
    /// It goes back to the queue with `attempts` counted, due at `not_before_ms`.
    Retry { id: i64, token: String, attempts: u32, not_before_ms: i64 },
}

/// One finish inside the batch's transaction: `None` when the token no longer holds the
/// claim; for `Complete`, whether the destination took the record (`true` when none).
fn finish_in(tx: &mut dyn store::WriteTx, finish: EventFinish) -> std::result::Result<Option<bool>, StoreError> {
    let (id, token, destination) = match finish {
        EventFinish::Retry { id, token, attempts, not_before_ms } => {
            return Ok(tx.reschedule_event(id, &token, attempts, not_before_ms)?.then_some(true));
        }
        EventFinish::Complete { id, token, destination } => (id, token, destination),
    };
    if !tx.delete_event(id, &token)? {
        return Ok(None);
    }
    let Some((scope, arn, payload)) = destination else { return Ok(Some(true)) };
    let Some(r) = FunctionRef::parse(&arn, NameShape::Plain) else {
        tracing::warn!(destination = %arn, "the destination is not a Lambda function; record dropped");
        return Ok(Some(false));
    };
    let key = FunctionKey { scope: scope.clone(), name: r.name.clone() };
    let Some(f) = tx.function(&key)? else {
        tracing::warn!(destination = %arn, "the destination function no longer exists; record dropped");
        return Ok(Some(false));
    };
    if let Some(q) = &r.qualifier
        && !qualifier_exists(tx, f.id, q)?
    {
        tracing::warn!(destination = %arn, "the destination version or alias no longer exists; record dropped");
        return Ok(Some(false));
    }
    let now = stdx::time::now_ms();
    let event = QueuedEvent {
        id: 0,
        scope,
        function_id: f.id,
        function_name: f.name,
        qualifier: r.qualifier,
        request_id: uuid::Uuid::new_v4().to_string(),
        payload,
        received_ms: now,
        attempts: 0,
    };
    tx.enqueue_event(&event, now)?;
    Ok(Some(true))
}

impl Control {
    /// Finishes claimed events together, in one write transaction (one commit for the batch):
    /// each [`EventFinish::Complete`] removes its event and queues its destination record for
    /// the destination function (a Lambda ARN) if it still exists; each
    /// [`EventFinish::Retry`] puts its event back. Answers, in order, `None` for an event whose
    /// token no longer holds its claim (it was reaped or its lease ran out, so another attempt
    /// owns it: nothing is changed, the result is dropped), else `Some(delivered)`: whether
    /// the destination record was queued (`true` when there was none, and for a retry).
    pub async fn finish_events(&self, finishes: Vec<EventFinish>) -> Result<Vec<Option<bool>>> {
        let (answers, queued) = self
            .store
            .write(move |tx| {
                let mut queued = false;
                let mut answers = Vec::with_capacity(finishes.len());
                for f in finishes {
                    let sends = matches!(&f, EventFinish::Complete { destination: Some(_), .. });
                    let a = finish_in(tx, f)?;
                    queued |= sends && a == Some(true);
                    answers.push(a);
                }
                Ok::<_, StoreError>((answers, queued))
            })
            .await?;
        // A destination record is a new event for this node's worker (and the others).
        if queued {
            self.events_queued.notify_one();
            self.events_announce.notify_one();
        }
        Ok(answers)
    }

    /// Finishes one queued event: removes it and, in the same transaction, queues its
    /// destination record for the destination function (a Lambda ARN), if it still exists.
    /// Returns whether the record was delivered (queued); `true` when there was none. `None`
    /// when `claim_token` no longer holds the event's claim (it was reaped or its lease ran
    /// out, so another attempt owns it): nothing is changed, the result is dropped.
    pub async fn complete_event(
        &self,
        event_id: i64,
        claim_token: &str,
        destination: Option<(Scope, String, Vec<u8>)>,
    ) -> Result<Option<bool>> {
        let finish = EventFinish::Complete { id: event_id, token: claim_token.to_owned(), destination };
        Ok(self.finish_events(vec![finish]).await?.pop().flatten())
    }

    /// The asynchronous settings of several (function, qualifier) pairs in one read (`None`
    /// qualifier: the unqualified function's), in order; `None` where there is no config.
    pub async fn event_configs_for(
        &self,
        keys: Vec<(FunctionId, Option<String>)>,
    ) -> Result<Vec<Option<EventInvokeConfig>>> {
        Ok(self
            .store
            .read(move |tx| {
                keys.iter()
                    .map(|(id, q)| tx.event_invoke_config(*id, q.as_deref().unwrap_or(Version::LATEST)))
                    .collect::<std::result::Result<Vec<_>, StoreError>>()
            })
            .await?)
    }
}
