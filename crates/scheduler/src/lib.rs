//! EventBridge Scheduler (reference event-sources.md §4.4, §5.5): the rest-json API
//! (`POST/GET/PUT/DELETE /schedules/{Name}`, `GET /schedules`, signed `scheduler`) over
//! schedules in the default group. Schedules are rows of the store's `schedules` table
//! (`eventbridge::ScheduleDoc`), fired by the `eventbridge` ticker, which owns the expression
//! parser, the due times and the delivery (`eventbridge::ticker`).

use eventbridge::schedule::{Dialect, Expression};
use eventbridge::{EventBridge, SCHEDULE, ScheduleDoc, ticker::schedule_arn};
use model::scope::Scope;
use serde_json::{Value, json};
use store::ScheduleRow;

/// The SigV4 service name.
pub const SERVICE: &str = "scheduler";
/// Largest request body read.
pub const REQUEST_BYTES_MAX: usize = 256 * 1024;
/// Most schedules per account and region (AWS's default quota is 1,000,000; Versa's is lower).
pub const SCHEDULES_MAX: u64 = 10_000;
/// Longest name, description, expression, input.
const NAME_LEN_MAX: usize = 64;
const DESCRIPTION_LEN_MAX: usize = 512;
const EXPRESSION_LEN_MAX: usize = 256;
const INPUT_LEN_MAX: usize = 8192;
/// Schedules per ListSchedules page (AWS: MaxResults 1–100).
const PAGE_MAX: usize = 100;
/// FlexibleTimeWindow's MaximumWindowInMinutes range.
const WINDOW_MINUTES: std::ops::RangeInclusive<i64> = 1..=1440;
/// The only schedule group Versa has.
const DEFAULT_GROUP: &str = "default";

/// A Scheduler error: its HTTP status, `x-amzn-ErrorType` and `{"Message": …}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn validation(message: impl Into<String>) -> Error {
    Error { status: 400, code: "ValidationException", message: message.into() }
}

fn not_found(message: impl Into<String>) -> Error {
    Error { status: 404, code: "ResourceNotFoundException", message: message.into() }
}

impl From<store::StoreError> for Error {
    fn from(e: store::StoreError) -> Error {
        Error { status: 500, code: "InternalServerException", message: format!("internal error: {e}") }
    }
}

/// An answer: status, JSON body, and the error type header of refusals.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub error_type: Option<&'static str>,
}

impl Response {
    pub const CONTENT_TYPE: &'static str = "application/json";

    pub fn error(e: &Error) -> Response {
        Response {
            status: e.status,
            body: json!({"Message": e.message}).to_string().into_bytes(),
            error_type: Some(e.code),
        }
    }
}

/// The Scheduler API over the EventBridge ticker's store.
#[derive(Clone, Debug)]
pub struct Scheduler {
    eb: EventBridge,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| percent_decode(v))
}

fn is_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= NAME_LEN_MAX && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn is_role_arn(a: &str) -> bool {
    let Some(rest) = a.strip_prefix("arn:aws") else { return false };
    let rest = match rest.strip_prefix('-') {
        Some(r) => {
            let end = r.find(':').unwrap_or(0);
            if end == 0 || !r[..end].bytes().all(|b| b.is_ascii_lowercase()) {
                return false;
            }
            &r[end..]
        }
        None => rest,
    };
    let Some(rest) = rest.strip_prefix(":iam::") else { return false };
    let Some((account, role)) = rest.split_once(":role/") else { return false };
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !role.is_empty()
        && role.chars().all(|c| c.is_alphanumeric() || "_+=,.@/-".contains(c))
}

/// Epoch seconds (rest-json timestamps) as milliseconds.
fn epoch_ms(v: &Value) -> Option<i64> {
    v.as_f64().map(|s| (s * 1000.0) as i64)
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

impl Scheduler {
    pub fn new(eb: EventBridge) -> Scheduler {
        Scheduler { eb }
    }

    /// Serves one request: method, path (`/schedules…`), raw query and body.
    pub async fn handle(&self, scope: &Scope, method: &str, path: &str, query: Option<&str>, body: &[u8]) -> Response {
        let result = self.route(scope, method, path, query, body).await;
        match result {
            Ok(v) => Response { status: 200, body: v.to_string().into_bytes(), error_type: None },
            Err(e) => Response::error(&e),
        }
    }

    async fn route(
        &self,
        scope: &Scope,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Value, Error> {
        let input = || -> Result<Value, Error> {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(json!({}));
            }
            match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => Ok(v),
                _ => Err(validation("The request body is not a JSON object.")),
            }
        };
        let group_q = query_param(query, "groupName");
        let group = |name: &str| {
            json!({
                "Arn": format!("arn:aws:scheduler:{}:{}:schedule-group/{name}", scope.region.as_str(), scope.account.as_str()),
                "Name": name,
                "State": "ACTIVE",
            })
        };
        match (method, path) {
            ("GET", "/schedule-groups" | "/schedule-groups/") => {
                return Ok(json!({"ScheduleGroups": [group(DEFAULT_GROUP)]}));
            }
            ("GET", p) if p.strip_prefix("/schedule-groups/") == Some(DEFAULT_GROUP) => {
                return Ok(group(DEFAULT_GROUP));
            }
            ("GET", p) if p.starts_with("/schedule-groups/") => {
                let name = percent_decode(&p["/schedule-groups/".len()..]);
                return Err(not_found(format!("Schedule group {name} does not exist.")));
            }
            ("GET", p) if p.starts_with("/tags/") => return Ok(json!({"Tags": []})),
            _ => {}
        }
        match (method, path.strip_prefix("/schedules")) {
            ("GET", Some("" | "/")) => self.list(scope, query).await,
            (_, Some(rest)) if rest.starts_with('/') && rest.len() > 1 && !rest[1..].contains('/') => {
                let name = percent_decode(&rest[1..]);
                match method {
                    "POST" => self.put(scope, &name, &input()?, true).await,
                    "PUT" => self.put(scope, &name, &input()?, false).await,
                    "GET" => {
                        let group = group_q.unwrap_or_else(|| DEFAULT_GROUP.to_owned());
                        let (doc, _) = self.load(scope, &group, &name).await?;
                        Ok(show(scope, &doc))
                    }
                    "DELETE" => {
                        let group = group_q.unwrap_or_else(|| DEFAULT_GROUP.to_owned());
                        self.load(scope, &group, &name).await?;
                        let (a, r, k) = (
                            scope.account.as_str().to_owned(),
                            scope.region.as_str().to_owned(),
                            format!("{group}/{name}"),
                        );
                        self.eb.store().write(move |tx| tx.delete_schedule_row(&a, &r, SCHEDULE, &k)).await?;
                        self.eb.wake();
                        Ok(json!({}))
                    }
                    _ => Err(validation(format!("Versa's Scheduler does not serve {method} {path}."))),
                }
            }
            _ => Err(Error {
                status: 404,
                code: "ResourceNotFoundException",
                message: format!(
                    "Versa's Scheduler serves /schedules and reads the default group, not {method} {path}."
                ),
            }),
        }
    }

    async fn load(&self, scope: &Scope, group: &str, name: &str) -> Result<(ScheduleDoc, ScheduleRow), Error> {
        let (a, r, k) =
            (scope.account.as_str().to_owned(), scope.region.as_str().to_owned(), format!("{group}/{name}"));
        let row = self.eb.store().read(move |tx| tx.schedule_row(&a, &r, SCHEDULE, &k)).await?;
        let row = row.ok_or_else(|| not_found(format!("Schedule {name} does not exist.")))?;
        let doc = serde_json::from_str(&row.doc).map_err(|e| Error {
            status: 500,
            code: "InternalServerException",
            message: format!("corrupt schedule: {e}"),
        })?;
        Ok((doc, row))
    }

    /// CreateSchedule (`create`) and UpdateSchedule (a full replace).
    async fn put(&self, scope: &Scope, name: &str, i: &Value, create: bool) -> Result<Value, Error> {
        if !is_name(name) {
            return Err(validation(format!(
                "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: [0-9a-zA-Z-_.]+"
            )));
        }
        let group = i["GroupName"].as_str().unwrap_or(DEFAULT_GROUP).to_owned();
        if group != DEFAULT_GROUP {
            return Err(not_found(format!("Schedule group {group} does not exist.")));
        }
        let Some(expression) = i["ScheduleExpression"].as_str() else {
            return Err(validation("ScheduleExpression is required."));
        };
        if expression.len() > EXPRESSION_LEN_MAX || Expression::parse(expression, Dialect::Scheduler).is_err() {
            return Err(validation(format!("Invalid Schedule Expression {expression}.")));
        }
        let timezone = i["ScheduleExpressionTimezone"].as_str().map(str::to_owned);
        if let Some(z) = &timezone
            && eventbridge::schedule::Zone::load(z).is_none()
        {
            return Err(validation(format!("Invalid ScheduleExpressionTimezone {z}.")));
        }
        let window = &i["FlexibleTimeWindow"];
        match (window["Mode"].as_str(), window["MaximumWindowInMinutes"].as_i64()) {
            (Some("OFF"), None) => {}
            (Some("OFF"), Some(_)) => {
                return Err(validation("MaximumWindowInMinutes is only allowed when Mode is FLEXIBLE."));
            }
            (Some("FLEXIBLE"), Some(m)) if WINDOW_MINUTES.contains(&m) => {}
            (Some("FLEXIBLE"), _) => {
                return Err(validation("MaximumWindowInMinutes must be between 1 and 1440 when Mode is FLEXIBLE."));
            }
            _ => return Err(validation("FlexibleTimeWindow.Mode must be OFF or FLEXIBLE.")),
        }
        let target = &i["Target"];
        let Some(arn) = target["Arn"].as_str().filter(|a| a.starts_with("arn:")) else {
            return Err(validation("Target.Arn is required."));
        };
        let role = target["RoleArn"].as_str().unwrap_or_default();
        if !is_role_arn(role) {
            return Err(validation(format!(
                "1 validation error detected: Value '{role}' at 'target.roleArn' failed to satisfy constraint: Member \
                 must satisfy regular expression pattern: ^arn:aws(-[a-z]+)?:iam::\\d{{12}}:role\\/[\\w+=,.@\\/-]+$"
            )));
        }
        if let Some(input) = target["Input"].as_str()
            && (input.is_empty() || input.len() > INPUT_LEN_MAX)
        {
            return Err(validation(format!("Target.Input must be 1 to {INPUT_LEN_MAX} characters.")));
        }
        if let Some(m) = eventbridge::retry_policy_violation(&target["RetryPolicy"], "target.retryPolicy") {
            return Err(validation(m));
        }
        let _ = arn;
        let state = match i["State"].as_str() {
            None => "ENABLED",
            Some(s @ ("ENABLED" | "DISABLED")) => s,
            Some(other) => return Err(validation(format!("Invalid State {other}."))),
        };
        let action = match i["ActionAfterCompletion"].as_str() {
            None => "NONE",
            Some(a @ ("NONE" | "DELETE")) => a,
            Some(other) => return Err(validation(format!("Invalid ActionAfterCompletion {other}."))),
        };
        let description = i["Description"].as_str().map(str::to_owned);
        if description.as_ref().is_some_and(|d| d.chars().count() > DESCRIPTION_LEN_MAX) {
            return Err(validation(format!("Description must be at most {DESCRIPTION_LEN_MAX} characters.")));
        }
        let (start_ms, end_ms) = (epoch_ms(&i["StartDate"]), epoch_ms(&i["EndDate"]));
        if let (Some(s), Some(e)) = (start_ms, end_ms)
            && e <= s
        {
            return Err(validation("The EndDate must be after the StartDate."));
        }
        let now = stdx::time::now_ms();
        let existing = self.load(scope, &group, name).await;
        let (created_ms, anchor_ms) = match (&existing, create) {
            (Ok(_), true) => {
                return Err(Error {
                    status: 409,
                    code: "ConflictException",
                    message: format!("Schedule {name} already exists."),
                });
            }
            (Err(e), _) if e.status != 404 => return Err(e.clone()),
            (Err(e), false) => return Err(e.clone()),
            (Ok((d, _)), false) => {
                let same = d.expression == expression && d.state == state && d.start_ms == start_ms;
                (d.created_ms, if same { d.anchor_ms } else { now })
            }
            (Err(_), true) => (now, now),
        };
        if create {
            let (a, r) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
            let count = self.eb.store().read(move |tx| tx.schedule_count(&a, &r, SCHEDULE)).await?;
            if count >= SCHEDULES_MAX {
                return Err(Error {
                    status: 402,
                    code: "ServiceQuotaExceededException",
                    message: format!("The account has {SCHEDULES_MAX} schedules, the most Versa keeps."),
                });
            }
        }
        let doc = ScheduleDoc {
            name: name.to_owned(),
            group: group.clone(),
            expression: expression.to_owned(),
            timezone,
            flexible_time_window: window.clone(),
            target: target.clone(),
            state: state.to_owned(),
            description,
            start_ms,
            end_ms,
            action_after_completion: action.to_owned(),
            created_ms,
            modified_ms: now,
            anchor_ms: start_ms.unwrap_or(anchor_ms),
        };
        let row = ScheduleRow {
            account: scope.account.as_str().to_owned(),
            region: scope.region.as_str().to_owned(),
            kind: SCHEDULE.to_owned(),
            name: format!("{group}/{name}"),
            doc: serde_json::to_string(&doc).expect("a schedule serialises"),
            next_due_ms: doc.next_after(now, self.eb.options()),
        };
        self.eb.store().write(move |tx| tx.put_schedule_row(&row)).await?;
        self.eb.wake();
        Ok(json!({"ScheduleArn": schedule_arn(scope, &group, name)}))
    }

    async fn list(&self, scope: &Scope, query: Option<&str>) -> Result<Value, Error> {
        let group = query_param(query, "ScheduleGroup").unwrap_or_else(|| DEFAULT_GROUP.to_owned());
        let prefix = format!("{group}/{}", query_param(query, "NamePrefix").unwrap_or_default());
        let state = query_param(query, "State");
        let limit = match query_param(query, "MaxResults").map(|m| m.parse::<usize>()) {
            None => PAGE_MAX,
            Some(Ok(n)) if (1..=PAGE_MAX).contains(&n) => n,
            Some(_) => return Err(validation("MaxResults must be between 1 and 100.")),
        };
        let mut after = query_param(query, "NextToken");
        let (a, r) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
        let mut out = Vec::new();
        let mut next = None;
        // Filtering by state may need several store pages for one answer page.
        'pages: loop {
            let (a, r, p, af) = (a.clone(), r.clone(), prefix.clone(), after.clone());
            let rows =
                self.eb.store().read(move |tx| tx.schedule_rows(&a, &r, SCHEDULE, &p, af.as_deref(), PAGE_MAX)).await?;
            let full = rows.len() == PAGE_MAX;
            for row in rows {
                after = Some(row.name.clone());
                let Ok(d) = serde_json::from_str::<ScheduleDoc>(&row.doc) else { continue };
                if state.as_deref().is_some_and(|s| s != d.state) {
                    continue;
                }
                if out.len() == limit {
                    next = out
                        .last()
                        .and_then(|v: &Value| v["GroupName"].as_str().zip(v["Name"].as_str()))
                        .map(|(g, n)| format!("{g}/{n}"));
                    break 'pages;
                }
                out.push(json!({
                    "Arn": schedule_arn(scope, &d.group, &d.name),
                    "Name": d.name,
                    "GroupName": d.group,
                    "State": d.state,
                    "CreationDate": secs(d.created_ms),
                    "LastModificationDate": secs(d.modified_ms),
                    "Target": {"Arn": d.target["Arn"]},
                }));
            }
            if !full {
                break;
            }
        }
        let mut v = json!({"Schedules": out});
        if let Some(t) = next {
            v["NextToken"] = json!(t);
        }
        Ok(v)
    }
}

fn show(scope: &Scope, d: &ScheduleDoc) -> Value {
    let mut v = json!({
        "Arn": schedule_arn(scope, &d.group, &d.name),
        "Name": d.name,
        "GroupName": d.group,
        "ScheduleExpression": d.expression,
        "FlexibleTimeWindow": d.flexible_time_window,
        "Target": d.target,
        "State": d.state,
        "ActionAfterCompletion": d.action_after_completion,
        "CreationDate": secs(d.created_ms),
        "LastModificationDate": secs(d.modified_ms),
    });
    if let Some(z) = &d.timezone {
        v["ScheduleExpressionTimezone"] = json!(z);
    }
    if let Some(x) = &d.description {
        v["Description"] = json!(x);
    }
    if let Some(x) = d.start_ms {
        v["StartDate"] = json!(secs(x));
    }
    if let Some(x) = d.end_ms {
        v["EndDate"] = json!(secs(x));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_and_names() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/scheduler-role"));
        assert!(is_role_arn("arn:aws-cn:iam::123456789012:role/a/b"));
        assert!(!is_role_arn("arn:aws:iam::1234:role/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/x"));
        assert!(is_name("my-schedule_1.x"));
        assert!(!is_name("a/b"));
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
        assert_eq!(query_param(Some("groupName=default&clientToken=x"), "groupName").as_deref(), Some("default"));
    }
}
