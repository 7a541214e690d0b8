//! The ticker: one task that fires due rules and schedules, and the delivery both it and
//! PutEvents use.
//!
//! Each due row is fired in one store transaction that moves its due time from the tick
//! being fired to the next one (only if it still is that tick) and queues the tick's Event
//! invocations (`Control::enqueue_prepared`). So a tick is queued exactly once, and durably,
//! before it counts as fired; a crash before the commit fires it after the restart. After
//! downtime longer than a period, the latest missed tick fires once (no burst) and the
//! schedule continues from now (event-sources.md §7, a [U] choice).
//!
//! Rule targets need a statement in the target's (exact qualifier's) policy letting
//! `events.amazonaws.com` invoke it for the rule's ARN; without one the target is skipped and
//! logged, and the API never errs (as AWS: a FailedInvocations datapoint). Scheduler targets
//! name an execution role (`RoleArn`), which Versa does not evaluate.

use std::time::Duration;

use model::function::QueuedEvent;
use model::name::{FunctionRef, NameShape};
use model::policy::{ACTION_INVOKE, Caller, CallerPrincipal};
use model::scope::{AccountId, Region, Scope};
use serde_json::{Value, json};
use store::ScheduleRow;

use crate::pattern::Pattern;
use crate::schedule::{Dialect, Expression, Zone, format_time};
use crate::{Error, EventBridge, RULE, RuleDoc, SCHEDULE, ScheduleDoc, TargetDoc, rule_arn, rules};

/// The service principal EventBridge invokes Lambda as.
pub const EVENTS_PRINCIPAL: &str = "events.amazonaws.com";
/// Most due rows fired per pass (the oldest first); a full pass is followed at once by another.
pub const DUE_PER_PASS_MAX: usize = 256;
/// Longest the ticker sleeps without looking at the store.
const IDLE_MAX: Duration = Duration::from_secs(1);
/// How soon a row still due after a pass (its fire failed: the queue full, the store
/// failing) is tried again.
const RETRY_DUE: Duration = Duration::from_millis(500);
/// Most pattern rules one PutEvents entry is matched against.
const PATTERN_RULES_MAX: usize = rules::RULES_MAX as usize;

fn function_of(arn: &str) -> Option<(Scope, String, Option<String>)> {
    let r = FunctionRef::parse(arn, NameShape::Namespaced).filter(|r| r.is_arn())?;
    let scope =
        Scope { account: AccountId::parse(r.account.as_deref()?)?, region: Region::parse(r.region.as_deref()?)? };
    Some((scope, r.name, r.qualifier))
}

/// One step of an `InputPath`: a member or an index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// `$`, `$.a.b`, `$.a[0]`, `$['a']` → steps; `None` when Versa cannot read it.
pub(crate) fn json_path(p: &str) -> Option<Vec<Step>> {
    let mut rest = p.strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            out.push(Step::Key(r[..end].to_owned()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']")?;
            out.push(Step::Key(r[..end].to_owned()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

fn at_path<'a>(v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

/// The payload a rule target receives for `event`: `Input` as given, the value at
/// `InputPath`, an `InputTransformer`'s template with its `<placeholders>`, or the event.
pub(crate) fn target_payload(t: &TargetDoc, event: &Value) -> Vec<u8> {
    if let Some(i) = &t.input {
        return i.clone().into_bytes();
    }
    if let Some(p) = &t.input_path {
        let v = json_path(p).and_then(|s| at_path(event, &s).cloned()).unwrap_or(Value::Null);
        return v.to_string().into_bytes();
    }
    if let Some(x) = &t.input_transformer {
        let template = x["InputTemplate"].as_str().unwrap_or_default();
        let mut out = template.to_owned();
        if let Some(map) = x["InputPathsMap"].as_object() {
            for (name, path) in map {
                let v = path.as_str().and_then(json_path).and_then(|s| at_path(event, &s).cloned());
                let needle = format!("<{name}>");
                // Inside quotes a string goes in without its own quotes; elsewhere as JSON.
                let quoted = format!("\"{needle}\"");
                let text = match &v {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                let escaped = serde_json::to_string(&text).unwrap_or_default();
                out = out.replace(&quoted, &format!("\"{}\"", &escaped[1..escaped.len() - 1]));
                let bare = match &v {
                    Some(Value::String(_)) | None => text,
                    Some(v) => v.to_string(),
                };
                out = out.replace(&needle, &bare);
            }
        }
        return out.into_bytes();
    }
    event.to_string().into_bytes()
}

/// The events a rule's targets get for `event`: each target's function must exist and let
/// EventBridge invoke it for this rule; others are logged and skipped.
/// Also answers how many targets failed.
async fn rule_events(eb: &EventBridge, scope: &Scope, rule: &RuleDoc, event: &Value) -> (Vec<QueuedEvent>, usize) {
    let control = &eb.inner.control;
    let source_arn = rule_arn(scope, &rule.name);
    let mut out = Vec::new();
    let mut failed = 0;
    for t in &rule.targets {
        let Some((fscope, name, qualifier)) = function_of(&t.arn) else {
            tracing::warn!(rule = %source_arn, target = %t.arn, "FailedInvocations: Versa delivers only to Lambda functions");
            failed += 1;
            continue;
        };
        let caller = Caller {
            principal: CallerPrincipal::Service(EVENTS_PRINCIPAL.to_owned()),
            action: ACTION_INVOKE,
            source_account: Some(scope.account.as_str().to_owned()),
            source_arn: Some(source_arn.clone()),
            function_url_auth_type: None,
        };
        match control.authorize(&fscope, &name, qualifier.as_deref(), &caller).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    rule = %source_arn, target = %t.arn,
                    "FailedInvocations: the function's policy does not let events.amazonaws.com invoke it for this rule \
                     (AddPermission with --principal events.amazonaws.com --source-arn <rule ARN>)"
                );
                failed += 1;
                continue;
            }
            Err(e) => {
                tracing::warn!(rule = %source_arn, target = %t.arn, "FailedInvocations: {e}");
                failed += 1;
                continue;
            }
        }
        let payload = target_payload(t, event);
        let request_id = uuid::Uuid::new_v4().to_string();
        match control.prepare_event(&fscope, &name, qualifier.as_deref(), payload, &request_id).await {
            Ok(e) => out.push(e),
            Err(e) => {
                tracing::warn!(rule = %source_arn, target = %t.arn, "FailedInvocations: {e}");
                failed += 1;
            }
        }
    }
    (out, failed)
}

/// The event of a scheduled rule's tick (§3.3).
fn scheduled_event(scope: &Scope, rule: &str, tick_ms: i64) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": scope.account.as_str(),
        "time": format_time(tick_ms),
        "region": scope.region.as_str(),
        "resources": [rule_arn(scope, rule)],
        "detail": {},
    })
}

/// A schedule's ARN.
pub fn schedule_arn(scope: &Scope, group: &str, name: &str) -> String {
    format!("arn:aws:scheduler:{}:{}:schedule/{group}/{name}", scope.region.as_str(), scope.account.as_str())
}

/// What a Scheduler target receives (§3.4): its `Input` with the context attributes
/// substituted, or the default notification (whose `detail` is the string `"{}"`).
fn schedule_payload(scope: &Scope, s: &ScheduleDoc, tick_ms: i64) -> Vec<u8> {
    let arn = schedule_arn(scope, &s.group, &s.name);
    let id = uuid::Uuid::new_v4().to_string();
    match s.target["Input"].as_str() {
        Some(input) => input
            .replace("<aws.scheduler.schedule-arn>", &arn)
            .replace("<aws.scheduler.scheduled-time>", &format_time(tick_ms))
            .replace("<aws.scheduler.execution-id>", &id)
            .replace("<aws.scheduler.attempt-number>", "1")
            .into_bytes(),
        None => json!({
            "version": "0",
            "id": id,
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": scope.account.as_str(),
            "time": format_time(tick_ms),
            "region": scope.region.as_str(),
            "resources": [arn],
            "detail": "{}",
        })
        .to_string()
        .into_bytes(),
    }
}

impl EventBridge {
    /// Starts the ticker; it runs until the handle is aborted.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let eb = self.clone();
        tokio::spawn(async move {
            loop {
                let now = stdx::time::now_ms();
                let full = match eb.inner.store.read(move |tx| tx.schedules_due(now, DUE_PER_PASS_MAX)).await {
                    Ok(due) => {
                        let mut full = due.len() == DUE_PER_PASS_MAX;
                        for row in due {
                            if let Err(e) = eb.fire(row, now).await {
                                // It stays due; the next pass (not at once) tries again.
                                tracing::warn!("cannot fire a schedule now: {}", e.message);
                                full = false;
                            }
                        }
                        full
                    }
                    Err(e) => {
                        tracing::warn!("cannot read the due schedules: {e}");
                        false
                    }
                };
                if full {
                    continue;
                }
                let next = eb.inner.store.read(|tx| tx.next_schedule_due()).await.ok().flatten();
                let now = stdx::time::now_ms();
                let wait = match next {
                    Some(t) if t <= now => RETRY_DUE,
                    Some(t) => Duration::from_millis((t - now) as u64).min(IDLE_MAX),
                    None => IDLE_MAX,
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = eb.inner.wake.notified() => {}
                }
            }
        })
    }

    /// Fires one due row's tick (see the module doc). A row whose tick another pass already
    /// fired changes nothing.
    async fn fire(&self, row: ScheduleRow, now: i64) -> Result<(), Error> {
        let Some(due) = row.next_due_ms else { return Ok(()) };
        let scope = Scope {
            account: AccountId::parse(&row.account).ok_or_else(|| Error::new("InternalException", "bad account"))?,
            region: Region::parse(&row.region).ok_or_else(|| Error::new("InternalException", "bad region"))?,
        };
        let scale = self.inner.options.rate_scale;
        // For a rule: its name and failed targets (counted once the tick is committed).
        let mut counted: Option<(String, usize)> = None;
        let (tick, next, events, delete) = match row.kind.as_str() {
            RULE => {
                let rule = rules::decode(&row)?;
                let Some(e) =
                    rule.schedule_expression.as_deref().and_then(|e| Expression::parse(e, Dialect::Events).ok())
                else {
                    return self.advance(&row, due, None).await;
                };
                let zone = Zone::utc();
                let (tick, next) = ticks(&e, due, now, rule.anchor_ms, &zone, scale);
                let event = scheduled_event(&scope, &rule.name, tick);
                let (events, failed) = rule_events(self, &scope, &rule, &event).await;
                counted = Some((rule.name.clone(), failed));
                (tick, next, events, false)
            }
            SCHEDULE => {
                let s: ScheduleDoc = serde_json::from_str(&row.doc)
                    .map_err(|e| Error::new("InternalException", format!("corrupt schedule: {e}")))?;
                let (Ok(e), Some(zone)) = (Expression::parse(&s.expression, Dialect::Scheduler), s.zone()) else {
                    return self.advance(&row, due, None).await;
                };
                let (tick, _) = ticks(&e, due, now, s.anchor_ms, &zone, scale);
                let next = s.next_after(now.max(tick), self.inner.options);
                let mut events = Vec::new();
                let arn = s.target["Arn"].as_str().unwrap_or_default();
                match function_of(arn) {
                    Some((fscope, name, qualifier)) => {
                        let payload = schedule_payload(&scope, &s, tick);
                        let request_id = uuid::Uuid::new_v4().to_string();
                        match self
                            .inner
                            .control
                            .prepare_event(&fscope, &name, qualifier.as_deref(), payload, &request_id)
                            .await
                        {
                            Ok(ev) => events.push(ev),
                            Err(e) => {
                                tracing::warn!(schedule = %s.name, target = %arn, "the target cannot be invoked: {e}")
                            }
                        }
                    }
                    None => {
                        tracing::warn!(schedule = %s.name, target = %arn, "Versa delivers only to Lambda functions")
                    }
                }
                (tick, next, events, next.is_none() && s.action_after_completion == "DELETE")
            }
            _ => return Ok(()),
        };
        tracing::debug!(kind = %row.kind, name = %row.name, tick, ?next, events = events.len(), "firing");
        let r = row.clone();
        let delivered = events.len();
        let fired = self
            .inner
            .control
            .enqueue_prepared(events, move |tx| {
                if !tx.advance_schedule_due(&r, due, next)? {
                    return Ok(false);
                }
                if delete {
                    tx.delete_schedule_row(&r.account, &r.region, &r.kind, &r.name)?;
                }
                Ok(true)
            })
            .await?;
        if let (true, Some((rule, failed))) = (fired, counted) {
            self.count(&scope, &rule, delivered, failed);
        }
        Ok(())
    }

    async fn advance(&self, row: &ScheduleRow, due: i64, next: Option<i64>) -> Result<(), Error> {
        let r = row.clone();
        self.inner.store.write(move |tx| tx.advance_schedule_due(&r, due, next)).await?;
        Ok(())
    }
}

/// The tick to fire for a row due at `due` at time `now`, and the one after it: normally
/// `due` itself; after downtime spanning several ticks, only the latest missed one.
fn ticks(e: &Expression, due: i64, now: i64, anchor: i64, zone: &Zone, scale: i64) -> (i64, Option<i64>) {
    let after_due = e.next_after(due, anchor, zone, scale);
    match after_due {
        Some(n) if n <= now => {
            let tick = e.latest_at_or_before(due, now, anchor, zone, scale);
            (tick, e.next_after(now.max(tick), anchor, zone, scale))
        }
        _ => (due, after_due),
    }
}

/// PutEvents: every entry checked and, when valid, matched against the enabled pattern rules;
/// the matching rules' targets are queued (one transaction) before the answer.
pub(crate) async fn put_events(eb: &EventBridge, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let entries = rules::check_entries(i)?;
    let now = stdx::time::now_ms();
    let (a, r) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
    let rows = eb.inner.store.read(move |tx| tx.schedule_rows(&a, &r, RULE, "", None, PATTERN_RULES_MAX)).await?;
    let mut pattern_rules = Vec::new();
    for row in &rows {
        let d = rules::decode(row)?;
        if d.state != "ENABLED" || d.targets.is_empty() {
            continue;
        }
        if let Some(p) = d.event_pattern.as_deref().and_then(|p| Pattern::parse(p).ok()) {
            pattern_rules.push((d, p));
        }
    }
    let mut answers = Vec::new();
    let mut failed = 0;
    let mut queued = Vec::new();
    // Per rule that matched: (name, targets queued, targets failed).
    let mut triggered: Vec<(String, usize, usize)> = Vec::new();
    for e in entries {
        match rules::event_of(scope, e, now) {
            Ok(event) => {
                answers.push(json!({"EventId": event["id"]}));
                for (rule, p) in &pattern_rules {
                    if p.matches(&event) {
                        let (events, failed) = rule_events(eb, scope, rule, &event).await;
                        triggered.push((rule.name.clone(), events.len(), failed));
                        queued.extend(events);
                    }
                }
            }
            Err(entry_error) => {
                failed += 1;
                answers.push(entry_error);
            }
        }
    }
    if !queued.is_empty() {
        eb.inner.control.enqueue_prepared(queued, |_| Ok(true)).await?;
    }
    for (rule, delivered, failed) in triggered {
        eb.count(scope, &rule, delivered, failed);
    }
    Ok(json!({"FailedEntryCount": failed, "Entries": answers}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_paths_and_transformers() {
        let event = json!({"detail": {"a": {"b": [1, "x"]}, "s": "hi"}, "source": "shop"});
        let t = |input_path: Option<&str>, transformer: Option<Value>| TargetDoc {
            id: "t".into(),
            arn: "arn".into(),
            input: None,
            input_path: input_path.map(str::to_owned),
            input_transformer: transformer,
            retry_policy: None,
            dead_letter_config: None,
        };
        assert_eq!(target_payload(&t(Some("$.detail.a"), None), &event), br#"{"b":[1,"x"]}"#);
        assert_eq!(target_payload(&t(Some("$.detail.a.b[1]"), None), &event), br#""x""#);
        assert_eq!(target_payload(&t(Some("$"), None), &event), event.to_string().as_bytes());
        let x = json!({"InputPathsMap": {"s": "$.detail.s", "n": "$.detail.a.b[0]"},
            "InputTemplate": "{\"greeting\": \"<s>\", \"n\": <n>}"});
        assert_eq!(target_payload(&t(None, Some(x)), &event), br#"{"greeting": "hi", "n": 1}"#);
        assert!(json_path("detail").is_none());
        assert!(json_path("$..x").is_none());
    }

    #[test]
    fn missed_ticks_fire_once() {
        let e = Expression::parse("rate(1 minute)", Dialect::Events).unwrap();
        let z = Zone::utc();
        // On time: the due tick, then the next.
        assert_eq!(ticks(&e, 60_000, 60_500, 0, &z, 1), (60_000, Some(120_000)));
        // Five minutes late: the latest missed tick, then the next after now.
        assert_eq!(ticks(&e, 60_000, 330_000, 0, &z, 1), (300_000, Some(360_000)));
    }
}
