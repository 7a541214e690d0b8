//! EventBridge for Lambda targets (reference event-sources.md §4.3, §5.4): the AWS JSON 1.1
//! API (`X-Amz-Target: AWSEvents.<Op>`, one [`EventBridge::handle`] entry) over rules on the
//! default event bus, and the ticker ([`ticker`]) that fires scheduled rules and EventBridge
//! Scheduler's schedules (the `scheduler` crate writes those rows; this crate fires them).
//!
//! Rules (with their targets) and schedules are JSON documents in the store's `schedules`
//! table (migration 14), each with the due time of its next tick. A tick is delivered as Event
//! invocations queued by `Control::enqueue_prepared` in the same transaction that moves the due
//! time on, conditional on it being unchanged: a restart neither loses nor repeats a tick.

pub use eventpattern as pattern;
#[cfg(test)]
mod proptests;
mod rules;
pub mod schedule;
pub mod ticker;

use std::sync::Arc;

use control::Control;
use model::scope::Scope;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::Store;

/// The SigV4 service name.
pub const SERVICE: &str = "events";
/// The `X-Amz-Target` prefix of every operation.
pub const TARGET_PREFIX: &str = "AWSEvents.";
/// Largest request body read (PutEvents: 256 KiB of entries, plus framing).
pub const REQUEST_BYTES_MAX: usize = 512 * 1024;
/// `kind` of a rule's row in the store.
pub const RULE: &str = "rule";
/// `kind` of a Scheduler schedule's row in the store.
pub const SCHEDULE: &str = "schedule";

/// An EventBridge error: 400 with `__type` and `message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
}

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }
}

impl From<store::StoreError> for Error {
    fn from(e: store::StoreError) -> Error {
        Error::new("InternalException", format!("internal error: {e}"))
    }
}

impl From<control::ControlError> for Error {
    fn from(e: control::ControlError) -> Error {
        Error::new("InternalException", e.to_string())
    }
}

/// An answer: status and JSON body (`CONTENT_TYPE`).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub const CONTENT_TYPE: &'static str = "application/x-amz-json-1.1";

    pub fn error(e: &Error) -> Response {
        Response { status: 400, body: json!({"__type": e.code, "message": e.message}).to_string().into_bytes() }
    }
}

/// How the ticker counts time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Rate periods are divided by this: 1 normally; 60 under the server's hidden
    /// `--schedule-seconds` (tests: `rate(1 minute)` ticks every second). Cron and `at()` keep
    /// wall-clock time.
    pub rate_scale: i64,
}

impl Default for Options {
    fn default() -> Options {
        Options { rate_scale: 1 }
    }
}

/// Rows read per store read by [`EventBridge::targets`].
const TARGETS_READ_PAGE: usize = 500;

/// A rule's target or a schedule, and the ARN it names ([`EventBridge::targets`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Targeting {
    /// [`RULE`] or [`SCHEDULE`].
    pub kind: &'static str,
    /// The rule's name, or the schedule's `group/name`.
    pub name: String,
    /// The rule target's `Id`.
    pub target_id: Option<String>,
    pub arn: String,
    pub expression: Option<String>,
    pub event_pattern: Option<String>,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
}

/// One target of a rule, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDoc {
    pub id: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    /// `InputTransformer`, `RetryPolicy`, `DeadLetterConfig`… as given (echoed by
    /// ListTargetsByRule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<Value>,
}

/// A rule, as stored (targets included: at most `rules::TARGETS_PER_RULE_MAX`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Where a rate counts from: when the expression was last set or the rule enabled.
    pub anchor_ms: i64,
    pub targets: Vec<TargetDoc>,
}

/// A Scheduler schedule, as stored (the `scheduler` crate's API shape; the ticker reads
/// `expression`, `timezone`, `state`, dates, `target` and `action_after_completion`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDoc {
    pub name: String,
    pub group: String,
    pub expression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub flexible_time_window: Value,
    /// `Target` as given (`Arn`, `RoleArn`, `Input`, `RetryPolicy`, `DeadLetterConfig`).
    pub target: Value,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    pub action_after_completion: String,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub anchor_ms: i64,
}

impl ScheduleDoc {
    /// The zone the expression is read in.
    pub fn zone(&self) -> Option<schedule::Zone> {
        match &self.timezone {
            None => Some(schedule::Zone::utc()),
            Some(z) => schedule::Zone::load(z),
        }
    }

    /// The first tick strictly after `after_ms` within the schedule's dates, if enabled.
    pub fn next_after(&self, after_ms: i64, options: Options) -> Option<i64> {
        if self.state != "ENABLED" {
            return None;
        }
        let e = schedule::Expression::parse(&self.expression, schedule::Dialect::Scheduler).ok()?;
        let zone = self.zone()?;
        let from = match self.start_ms {
            Some(s) if s > after_ms => s - 1,
            _ => after_ms,
        };
        let next = e.next_after(from, self.anchor_ms, &zone, options.rate_scale)?;
        match self.end_ms {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }
}

pub(crate) struct Inner {
    pub store: Store,
    pub control: Arc<Control>,
    pub options: Options,
    /// Woken by every write that may change the next due time.
    pub wake: tokio::sync::Notify,
    /// Where `AWS/Events` metrics go (`TriggeredRules`, `Invocations`, `FailedInvocations` by
    /// `RuleName`), when the server records metrics.
    pub metrics: Option<metrics::Recorder>,
}

/// The EventBridge service: API and ticker over one store.
#[derive(Clone)]
pub struct EventBridge {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for EventBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBridge").field("options", &self.inner.options).finish_non_exhaustive()
    }
}

/// The ARN of a rule on the default bus.
/// A target's `RetryPolicy` ranges (`MaximumRetryAttempts` 0–185, `MaximumEventAgeInSeconds`
/// 60–86400), both services' model: the violation's message, `at` the policy's member path
/// (`targets.1.member.retryPolicy`, `target.retryPolicy`).
pub fn retry_policy_violation(policy: &Value, at: &str) -> Option<String> {
    for (member, path, min, max) in [
        ("MaximumRetryAttempts", "maximumRetryAttempts", 0, 185),
        ("MaximumEventAgeInSeconds", "maximumEventAgeInSeconds", 60, 86_400),
    ] {
        let Some(n) = policy.get(member).and_then(Value::as_i64) else { continue };
        let bound = if n < min {
            format!("greater than or equal to {min}")
        } else if n > max {
            format!("less than or equal to {max}")
        } else {
            continue;
        };
        return Some(format!(
            "1 validation error detected: Value '{n}' at '{at}.{path}' failed to satisfy constraint: Member must have value {bound}"
        ));
    }
    None
}

pub fn rule_arn(scope: &Scope, name: &str) -> String {
    format!("arn:aws:events:{}:{}:rule/{name}", scope.region.as_str(), scope.account.as_str())
}

impl EventBridge {
    pub fn new(store: Store, control: Arc<Control>, options: Options) -> EventBridge {
        EventBridge {
            inner: Arc::new(Inner { store, control, options, wake: tokio::sync::Notify::new(), metrics: None }),
        }
    }

    /// Records `AWS/Events` metrics into `metrics` (before the ticker starts).
    pub fn with_metrics(
        store: Store,
        control: Arc<Control>,
        options: Options,
        metrics: metrics::Recorder,
    ) -> EventBridge {
        let inner = Inner { store, control, options, wake: tokio::sync::Notify::new(), metrics: Some(metrics) };
        EventBridge { inner: Arc::new(inner) }
    }

    /// Counts one firing of a rule: it triggered, `delivered` targets were queued, `failed`
    /// were not (no permission, function gone, not Lambda).
    pub(crate) fn count(&self, scope: &Scope, rule: &str, delivered: usize, failed: usize) {
        let Some(m) = &self.inner.metrics else { return };
        let dims = metrics::Dims::new(vec![("RuleName".to_owned(), rule.to_owned())]).encode();
        let now = stdx::time::now_ms();
        for (metric, v) in [("TriggeredRules", 1), ("Invocations", delivered), ("FailedInvocations", failed)] {
            let series = store::MetricSeries {
                account: scope.account.as_str().to_owned(),
                region: scope.region.as_str().to_owned(),
                namespace: "AWS/Events".to_owned(),
                metric: metric.to_owned(),
                dims: dims.clone(),
            };
            m.record(&series, now, v as f64);
        }
    }

    /// The store the rules and schedules live in (the `scheduler` crate writes there).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn options(&self) -> Options {
        self.inner.options
    }

    /// Tells the ticker a due time may have changed.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Every rule target and Scheduler schedule of `scope` with its target's ARN (any service;
    /// the caller picks the Lambda ones): what the console's Event sources tab shows.
    pub async fn targets(&self, scope: &Scope) -> Result<Vec<Targeting>, Error> {
        let mut out = Vec::new();
        for kind in [RULE, SCHEDULE] {
            let mut after: Option<String> = None;
            loop {
                let (a, r, k, from) =
                    (scope.account.as_str().to_owned(), scope.region.as_str().to_owned(), kind, after.clone());
                let rows = self
                    .inner
                    .store
                    .read(move |tx| tx.schedule_rows(&a, &r, k, "", from.as_deref(), TARGETS_READ_PAGE))
                    .await?;
                for row in &rows {
                    if kind == RULE {
                        let d = rules::decode(row)?;
                        for t in d.targets {
                            out.push(Targeting {
                                kind,
                                name: d.name.clone(),
                                target_id: Some(t.id),
                                arn: t.arn,
                                expression: d.schedule_expression.clone(),
                                event_pattern: d.event_pattern.clone(),
                                state: d.state.clone(),
                            });
                        }
                    } else {
                        let d: ScheduleDoc = serde_json::from_str(&row.doc)
                            .map_err(|e| Error::new("InternalException", format!("corrupt schedule: {e}")))?;
                        let Some(arn) = d.target.get("Arn").and_then(Value::as_str) else { continue };
                        out.push(Targeting {
                            kind,
                            name: format!("{}/{}", d.group, d.name),
                            target_id: None,
                            arn: arn.to_owned(),
                            expression: Some(d.expression.clone()),
                            event_pattern: None,
                            state: d.state.clone(),
                        });
                    }
                }
                if rows.len() < TARGETS_READ_PAGE {
                    break;
                }
                after = rows.last().map(|r| r.name.clone());
            }
        }
        Ok(out)
    }

    /// PutEvents of one event in process (a Lambda destination record): its entry error, if
    /// any, as the error (e.g. a bus that does not exist).
    pub async fn put_event(
        &self,
        scope: &Scope,
        bus: &str,
        source: &str,
        detail_type: &str,
        detail: &str,
        resources: &[String],
    ) -> Result<(), Error> {
        let input = json!({"Entries": [{
            "EventBusName": bus, "Source": source, "DetailType": detail_type, "Detail": detail, "Resources": resources,
        }]});
        let out = ticker::put_events(self, scope, &input).await?;
        match out["Entries"][0].get("ErrorCode").and_then(Value::as_str) {
            None => Ok(()),
            Some(_) => {
                let e = &out["Entries"][0];
                Err(Error::new("InvalidArgument", e["ErrorMessage"].as_str().unwrap_or_default().to_owned()))
            }
        }
    }

    /// Serves one request: `target` is the `X-Amz-Target` header, `body` the JSON input.
    pub async fn handle(&self, scope: &Scope, target: Option<&str>, body: &[u8]) -> Response {
        let Some(op) = target.and_then(|t| t.strip_prefix(TARGET_PREFIX)) else {
            return Response::error(&Error::new("UnknownOperationException", "Missing or unknown X-Amz-Target"));
        };
        let Some(input) = stdx::json::object_body(body) else {
            return Response::error(&Error::new(
                "SerializationException",
                "Start of structure or map found where not expected.",
            ));
        };
        match rules::dispatch(self, scope, op, &input).await {
            Ok(v) => Response { status: 200, body: v.to_string().into_bytes() },
            Err(e) => Response::error(&e),
        }
    }
}
