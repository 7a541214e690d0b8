//! The operations (reference §5.4) over rules on the default event bus.

use model::scope::Scope;
use serde_json::{Value, json};
use store::ScheduleRow;

use crate::pattern::Pattern;
use crate::schedule::{Dialect, Expression, Zone};
use crate::{Error, EventBridge, RULE, RuleDoc, TargetDoc, rule_arn};

/// Most rules per account and region (AWS's default quota per bus).
pub const RULES_MAX: u64 = 300;
/// Most targets per rule (AWS).
pub const TARGETS_PER_RULE_MAX: usize = 5;
/// Most targets in one PutTargets call (AWS's model).
const PUT_TARGETS_MAX: usize = 100;
/// Most entries in one PutEvents call, and their total size (AWS).
const PUT_EVENTS_MAX: usize = 10;
const PUT_EVENTS_BYTES_MAX: usize = 256 * 1024;
/// Longest rule name, target id, description.
const NAME_LEN_MAX: usize = 64;
const DESCRIPTION_LEN_MAX: usize = 512;
/// Rules per ListRules page.
const LIST_LIMIT_MAX: usize = 100;
const NAME_PATTERN: &str = r"[\.\-_A-Za-z0-9]+";
/// The only bus Versa has.
const DEFAULT_BUS: &str = "default";

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v[k].as_str()
}

fn validation(message: impl Into<String>) -> Error {
    Error::new("ValidationException", message)
}

fn no_rule(name: &str) -> Error {
    Error::new("ResourceNotFoundException", format!("Rule {name} does not exist on EventBus {DEFAULT_BUS}."))
}

fn is_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// AWS's model check of a name member: `1 validation error detected: …`.
fn check_name(n: &str, at: &str) -> Result<(), Error> {
    if n.len() > NAME_LEN_MAX {
        return Err(validation(format!(
            "1 validation error detected: Value '{n}' at '{at}' failed to satisfy constraint: Member must have length \
             less than or equal to {NAME_LEN_MAX}"
        )));
    }
    if !is_name(n) {
        return Err(validation(format!(
            "1 validation error detected: Value '{n}' at '{at}' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: {NAME_PATTERN}"
        )));
    }
    Ok(())
}

/// The bus a request names: only the default one exists.
fn check_bus(i: &Value) -> Result<(), Error> {
    match s(i, "EventBusName") {
        None | Some(DEFAULT_BUS) => Ok(()),
        Some(b) if b.ends_with(":event-bus/default") => Ok(()),
        Some(b) => {
            let name = b.rsplit('/').next().unwrap_or(b);
            Err(Error::new("ResourceNotFoundException", format!("Event bus {name} does not exist.")))
        }
    }
}

fn required<'a>(i: &'a Value, k: &str) -> Result<&'a str, Error> {
    s(i, k).ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(k)
        ))
    })
}

fn lower_first(k: &str) -> String {
    let mut c = k.chars();
    c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

pub(crate) async fn load(eb: &EventBridge, scope: &Scope, name: &str) -> Result<Option<(RuleDoc, ScheduleRow)>, Error> {
    let (a, r, n) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned(), name.to_owned());
    let row = eb.inner.store.read(move |tx| tx.schedule_row(&a, &r, RULE, &n)).await?;
    row.map(|row| Ok((decode(&row)?, row))).transpose()
}

pub(crate) fn decode(row: &ScheduleRow) -> Result<RuleDoc, Error> {
    serde_json::from_str(&row.doc).map_err(|e| Error::new("InternalException", format!("corrupt rule: {e}")))
}

/// The row of a rule with its next due time recomputed (`None` for pattern rules and
/// disabled ones).
pub(crate) fn row_of(eb: &EventBridge, scope: &Scope, doc: &RuleDoc, now: i64) -> ScheduleRow {
    let due = match (&doc.schedule_expression, doc.state.as_str()) {
        (Some(e), "ENABLED") => Expression::parse(e, Dialect::Events)
            .ok()
            .and_then(|e| e.next_after(now, doc.anchor_ms, &Zone::utc(), eb.inner.options.rate_scale)),
        _ => None,
    };
    ScheduleRow {
        account: scope.account.as_str().to_owned(),
        region: scope.region.as_str().to_owned(),
        kind: RULE.to_owned(),
        name: doc.name.clone(),
        doc: serde_json::to_string(doc).expect("a rule serialises"),
        next_due_ms: due,
    }
}

async fn save(eb: &EventBridge, row: ScheduleRow) -> Result<(), Error> {
    eb.inner.store.write(move |tx| tx.put_schedule_row(&row)).await?;
    eb.wake();
    Ok(())
}

/// The default event bus, as DescribeEventBus shows it.
fn bus(scope: &Scope) -> Value {
    json!({
        "Name": DEFAULT_BUS,
        "Arn": format!("arn:aws:events:{}:{}:event-bus/{DEFAULT_BUS}", scope.region.as_str(), scope.account.as_str()),
    })
}

fn describe(scope: &Scope, d: &RuleDoc, full: bool) -> Value {
    let mut v = json!({
        "Name": d.name,
        "Arn": rule_arn(scope, &d.name),
        "State": d.state,
        "EventBusName": DEFAULT_BUS,
    });
    if let Some(e) = &d.schedule_expression {
        v["ScheduleExpression"] = json!(e);
    }
    if let Some(p) = &d.event_pattern {
        v["EventPattern"] = json!(p);
    }
    if let Some(x) = &d.description {
        v["Description"] = json!(x);
    }
    if let Some(x) = &d.role_arn {
        v["RoleArn"] = json!(x);
    }
    if full {
        v["CreatedBy"] = json!(scope.account.as_str());
    }
    v
}

pub(crate) async fn dispatch(eb: &EventBridge, scope: &Scope, op: &str, i: &Value) -> Result<Value, Error> {
    match op {
        "PutRule" => put_rule(eb, scope, i).await,
        "DescribeRule" => {
            check_bus(i)?;
            let name = required(i, "Name")?;
            let (d, _) = load(eb, scope, name).await?.ok_or_else(|| no_rule(name))?;
            Ok(describe(scope, &d, true))
        }
        "ListRules" => list_rules(eb, scope, i).await,
        "EnableRule" | "DisableRule" => {
            check_bus(i)?;
            let name = required(i, "Name")?;
            let (mut d, _) = load(eb, scope, name).await?.ok_or_else(|| no_rule(name))?;
            let state = if op == "EnableRule" { "ENABLED" } else { "DISABLED" };
            if d.state != state {
                let now = stdx::time::now_ms();
                d.state = state.to_owned();
                d.anchor_ms = now;
                save(eb, row_of(eb, scope, &d, now)).await?;
            }
            Ok(json!({}))
        }
        "DeleteRule" => {
            check_bus(i)?;
            let name = required(i, "Name")?;
            let Some((d, _)) = load(eb, scope, name).await? else { return Ok(json!({})) };
            if !d.targets.is_empty() && i["Force"] != json!(true) {
                return Err(validation("Rule can't be deleted since it has targets."));
            }
            let (a, r, n) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned(), name.to_owned());
            eb.inner.store.write(move |tx| tx.delete_schedule_row(&a, &r, RULE, &n)).await?;
            eb.wake();
            Ok(json!({}))
        }
        "PutTargets" => put_targets(eb, scope, i).await,
        "RemoveTargets" => {
            check_bus(i)?;
            let name = required(i, "Rule")?;
            let ids: Vec<String> = i["Ids"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if ids.is_empty() {
                return Err(validation(
                    "1 validation error detected: Value null at 'ids' failed to satisfy constraint: Member must not be null",
                ));
            }
            let (mut d, row) = load(eb, scope, name).await?.ok_or_else(|| no_rule(name))?;
            d.targets.retain(|t| !ids.contains(&t.id));
            let row = ScheduleRow { doc: serde_json::to_string(&d).expect("a rule serialises"), ..row };
            save(eb, row).await?;
            Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
        }
        "ListTargetsByRule" => {
            check_bus(i)?;
            let name = required(i, "Rule")?;
            let (d, _) = load(eb, scope, name).await?.ok_or_else(|| no_rule(name))?;
            let targets: Vec<Value> = d.targets.iter().map(show_target).collect();
            Ok(json!({"Targets": targets}))
        }
        "PutEvents" => crate::ticker::put_events(eb, scope, i).await,
        "TestEventPattern" => {
            let p = Pattern::parse(required(i, "EventPattern")?)
                .map_err(|e| Error::new("InvalidEventPatternException", e.message()))?;
            let event: Value =
                serde_json::from_str(required(i, "Event")?).map_err(|_| validation("Parameter Event is not valid."))?;
            Ok(json!({"Result": p.matches(&event)}))
        }
        "ListRuleNamesByTarget" => {
            check_bus(i)?;
            let target = required(i, "TargetArn")?.to_owned();
            let after = s(i, "NextToken").map(str::to_owned);
            let (a, r) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
            let rows = eb
                .inner
                .store
                .read(move |tx| tx.schedule_rows(&a, &r, RULE, "", after.as_deref(), RULES_MAX as usize))
                .await?;
            let mut names = Vec::new();
            for row in &rows {
                if decode(row)?.targets.iter().any(|t| t.arn == target) {
                    names.push(row.name.clone());
                }
            }
            Ok(json!({"RuleNames": names}))
        }
        "DescribeEventBus" => {
            check_bus(&json!({"EventBusName": i["Name"]}))?;
            Ok(bus(scope))
        }
        "ListEventBuses" => Ok(json!({"EventBuses": [bus(scope)]})),
        "ListTagsForResource" => Ok(json!({"Tags": []})),
        "TagResource" | "UntagResource" => Ok(json!({})),
        _ => Err(Error::new("UnknownOperationException", format!("Versa's EventBridge does not serve {op}."))),
    }
}

async fn put_rule(eb: &EventBridge, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let name = required(i, "Name")?;
    check_name(name, "name")?;
    let expression = s(i, "ScheduleExpression").filter(|e| !e.is_empty());
    let pattern = s(i, "EventPattern").filter(|e| !e.is_empty());
    if expression.is_none() && pattern.is_none() {
        return Err(validation("Parameter(s) EventPattern or ScheduleExpression must be specified."));
    }
    if let Some(e) = expression {
        if s(i, "EventBusName").is_some_and(|b| b != DEFAULT_BUS && !b.ends_with(":event-bus/default")) {
            return Err(validation("ScheduleExpression is supported only on the default event bus."));
        }
        if e.len() > 256 || Expression::parse(e, Dialect::Events).is_err() {
            return Err(validation("Parameter ScheduleExpression is not valid."));
        }
    }
    check_bus(i)?;
    if let Some(p) = pattern {
        Pattern::parse(p).map_err(|e| Error::new("InvalidEventPatternException", e.message()))?;
    }
    let state = match s(i, "State") {
        None => "ENABLED",
        Some(st @ ("ENABLED" | "DISABLED")) => st,
        Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") => "ENABLED",
        Some(other) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'state' failed to satisfy constraint: Member must \
                 satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
            )));
        }
    };
    let description = s(i, "Description").map(str::to_owned);
    if description.as_ref().is_some_and(|d| d.chars().count() > DESCRIPTION_LEN_MAX) {
        return Err(validation(format!(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have \
             length less than or equal to {DESCRIPTION_LEN_MAX}"
        )));
    }
    let now = stdx::time::now_ms();
    let existing = load(eb, scope, name).await?.map(|(d, _)| d);
    if existing.is_none() {
        let (a, r) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
        let count = eb.inner.store.read(move |tx| tx.schedule_count(&a, &r, RULE)).await?;
        if count >= RULES_MAX {
            return Err(Error::new(
                "LimitExceededException",
                "The requested resource exceeds the maximum number allowed.",
            ));
        }
    }
    // A rate keeps its phase while its expression and state stay the same.
    let anchor_ms = match &existing {
        Some(d) if d.schedule_expression.as_deref() == expression && d.state == state => d.anchor_ms,
        _ => now,
    };
    let doc = RuleDoc {
        name: name.to_owned(),
        description,
        schedule_expression: expression.map(str::to_owned),
        event_pattern: pattern.map(str::to_owned),
        state: state.to_owned(),
        role_arn: s(i, "RoleArn").map(str::to_owned),
        anchor_ms,
        targets: existing.map(|d| d.targets).unwrap_or_default(),
    };
    save(eb, row_of(eb, scope, &doc, now)).await?;
    Ok(json!({"RuleArn": rule_arn(scope, name)}))
}

async fn list_rules(eb: &EventBridge, scope: &Scope, i: &Value) -> Result<Value, Error> {
    check_bus(i)?;
    let prefix = s(i, "NamePrefix").unwrap_or("").to_owned();
    let limit = match i["Limit"].as_i64() {
        None => LIST_LIMIT_MAX,
        Some(n) if (1..=LIST_LIMIT_MAX as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have \
                 value {}",
                if n < 1 { "greater than or equal to 1" } else { "less than or equal to 100" }
            )));
        }
    };
    let after = s(i, "NextToken").map(str::to_owned);
    let (a, r) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
    let rows =
        eb.inner.store.read(move |tx| tx.schedule_rows(&a, &r, RULE, &prefix, after.as_deref(), limit + 1)).await?;
    let more = rows.len() > limit;
    let mut out = Vec::new();
    for row in rows.iter().take(limit) {
        out.push(describe(scope, &decode(row)?, false));
    }
    let mut v = json!({"Rules": out});
    if more && let Some(last) = rows.get(limit - 1) {
        v["NextToken"] = json!(last.name);
    }
    Ok(v)
}

fn show_target(t: &TargetDoc) -> Value {
    let mut v = json!({"Id": t.id, "Arn": t.arn});
    if let Some(x) = &t.input {
        v["Input"] = json!(x);
    }
    if let Some(x) = &t.input_path {
        v["InputPath"] = json!(x);
    }
    if let Some(x) = &t.input_transformer {
        v["InputTransformer"] = x.clone();
    }
    if let Some(x) = &t.retry_policy {
        v["RetryPolicy"] = x.clone();
    }
    if let Some(x) = &t.dead_letter_config {
        v["DeadLetterConfig"] = x.clone();
    }
    v
}

async fn put_targets(eb: &EventBridge, scope: &Scope, i: &Value) -> Result<Value, Error> {
    check_bus(i)?;
    let name = required(i, "Rule")?;
    let Some(targets) = i["Targets"].as_array() else {
        return Err(validation(
            "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null",
        ));
    };
    if targets.is_empty() || targets.len() > PUT_TARGETS_MAX {
        return Err(validation(format!(
            "1 validation error detected: Value '{}' at 'targets' failed to satisfy constraint: Member must have length \
             {}",
            targets.len(),
            if targets.is_empty() { "greater than or equal to 1" } else { "less than or equal to 100" }
        )));
    }
    let mut parsed = Vec::new();
    for (n, t) in targets.iter().enumerate() {
        let id = s(t, "Id").unwrap_or("");
        check_name(id, &format!("targets.{}.member.id", n + 1))?;
        let Some(arn) = s(t, "Arn").filter(|a| !a.is_empty()) else {
            return Err(validation(format!(
                "1 validation error detected: Value null at 'targets.{}.member.arn' failed to satisfy constraint: \
                 Member must not be null",
                n + 1
            )));
        };
        if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
            return Err(validation(format!(
                "Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
            )));
        }
        let input = s(t, "Input").map(str::to_owned);
        if let Some(x) = &input
            && serde_json::from_str::<Value>(x).is_err()
        {
            return Err(validation(format!("Target {id} Input is not valid JSON text.")));
        }
        let input_path = s(t, "InputPath").map(str::to_owned);
        if let Some(p) = &input_path
            && crate::ticker::json_path(p).is_none()
        {
            return Err(validation(format!("Target {id} InputPath is not valid JSON path.")));
        }
        let input_transformer = t.get("InputTransformer").filter(|v| v.is_object()).cloned();
        if let Some(m) =
            crate::retry_policy_violation(&t["RetryPolicy"], &format!("targets.{}.member.retryPolicy", n + 1))
        {
            return Err(validation(m));
        }
        if [input.is_some(), input_path.is_some(), input_transformer.is_some()].iter().filter(|x| **x).count() > 1 {
            return Err(validation(format!(
                "Only one of Input, InputPath, or InputTransformer must be provided for target {id}."
            )));
        }
        parsed.push(TargetDoc {
            id: id.to_owned(),
            arn: arn.to_owned(),
            input,
            input_path,
            input_transformer,
            retry_policy: t.get("RetryPolicy").filter(|v| v.is_object()).cloned(),
            dead_letter_config: t.get("DeadLetterConfig").filter(|v| v.is_object()).cloned(),
        });
    }
    let (mut d, row) = load(eb, scope, name).await?.ok_or_else(|| no_rule(name))?;
    for t in parsed {
        match d.targets.iter_mut().find(|x| x.id == t.id) {
            Some(x) => *x = t,
            None => d.targets.push(t),
        }
    }
    if d.targets.len() > TARGETS_PER_RULE_MAX {
        return Err(Error::new("LimitExceededException", "The requested resource exceeds the maximum number allowed."));
    }
    let row = ScheduleRow { doc: serde_json::to_string(&d).expect("a rule serialises"), ..row };
    save(eb, row).await?;
    Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
}

/// PutEvents' checks of one entry: its event, or its entry error.
pub(crate) fn event_of(scope: &Scope, e: &Value, now: i64) -> Result<Value, Value> {
    let entry_error = |code: &str, message: String| json!({"ErrorCode": code, "ErrorMessage": message});
    for k in ["Source", "DetailType", "Detail"] {
        if s(e, k).is_none_or(str::is_empty) {
            return Err(entry_error(
                "InvalidArgument",
                format!("Parameter {k} is not valid. Reason: {k} is a required argument."),
            ));
        }
    }
    if let Some(b) = s(e, "EventBusName")
        && b != DEFAULT_BUS
        && !b.ends_with(":event-bus/default")
    {
        let name = b.rsplit('/').next().unwrap_or(b);
        return Err(entry_error("InvalidArgument", format!("Event bus {name} does not exist.")));
    }
    let detail: Value = match serde_json::from_str(s(e, "Detail").unwrap_or_default()) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(entry_error("MalformedDetail", "Detail is malformed.".to_owned())),
    };
    let time_ms = match &e["Time"] {
        Value::Number(n) => n.as_f64().map(|t| (t * 1000.0) as i64).unwrap_or(now),
        _ => now,
    };
    Ok(json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": s(e, "DetailType"),
        "source": s(e, "Source"),
        "account": scope.account.as_str(),
        "time": crate::schedule::format_time(time_ms),
        "region": scope.region.as_str(),
        "resources": e["Resources"].as_array().cloned().unwrap_or_default(),
        "detail": detail,
    }))
}

pub(crate) fn check_entries(i: &Value) -> Result<&Vec<Value>, Error> {
    let Some(entries) = i["Entries"].as_array() else {
        return Err(validation(
            "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null",
        ));
    };
    if entries.is_empty() || entries.len() > PUT_EVENTS_MAX {
        return Err(validation(format!(
            "1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy constraint: \
             Member must have length {}",
            if entries.is_empty() { "greater than or equal to 1" } else { "less than or equal to 10" }
        )));
    }
    let size: usize = entries.iter().map(|e| e.to_string().len()).sum();
    if size > PUT_EVENTS_BYTES_MAX {
        return Err(validation("Total size of the entries in the request is over the limit."));
    }
    Ok(entries)
}
