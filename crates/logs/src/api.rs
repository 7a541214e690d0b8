//! The CloudWatch Logs API over JSON 1.1: one function per operation, each decoding its request
//! with CloudWatch's member names, validating in AWS's order (model constraints all together as
//! an InvalidParameterException, then rules between members, then lookups) and shaping the
//! answer. Paging tokens are opaque strings made here; SQL stays in `query` and `writer`.
//!
//! Tokens: GetLogEvents answers `f/<56 digits>` and `b/<56 digits>` (a [`Position`] in the
//! stream), FilterLogEvents `e/<56 digits>` (the last event it examined), DescribeLogGroups
//! `g/<hex name>`, DescribeLogStreams `n/<hex name>` or `t/<last event time>/<id>`.

use std::collections::HashSet;

use model::validate::{Violation, list_value, render};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::pattern::{FilterPattern, PATTERN_CHARS_MAX};
use crate::query::{self, Direction, EventFilter, Position, StreamCursor, StreamSelection};
use crate::{
    EVENT_OVERHEAD_BYTES, GROUP_NOT_FOUND, Logs, LogsError, RETENTION_DAYS, Response, STREAM_NOT_FOUND, TARGET_PREFIX,
    writer,
};

/// Longest log group or stream name.
const NAME_CHARS_MAX: usize = 512;
/// Longest `logGroupIdentifier` (a name or an ARN).
const IDENTIFIER_CHARS_MAX: usize = 2048;
/// Most groups or streams one Describe page lists (and its default).
const DESCRIBE_PAGE_MAX: i64 = 50;
/// Most events one GetLogEvents or FilterLogEvents page returns (and its default).
const EVENTS_PAGE_MAX: i64 = 10_000;
/// Most names in FilterLogEvents' `logStreamNames`.
const STREAM_NAMES_MAX: usize = 100;
/// Most events in one PutLogEvents request.
const PUT_EVENTS_MAX: usize = 10_000;
/// Largest PutLogEvents batch: messages plus the per-event overhead.
const PUT_BATCH_BYTES_MAX: usize = 1_048_576;

const GROUP_NAME_PATTERN: &str = r"[\.\-_/#A-Za-z0-9]+";
const GROUP_NAME_SUBSTRING_PATTERN: &str = r"[\.\-_/#A-Za-z0-9]*";
const STREAM_NAME_PATTERN: &str = "[^:*]*";
const ORDER_BY: [&str; 2] = ["LogStreamName", "LastEventTime"];

const INVALID_TOKEN: &str = "The specified nextToken is invalid.";

fn group_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#')
}

fn stream_name_char(c: char) -> bool {
    c != ':' && c != '*'
}

/// The account and region a request runs in; ARNs are built from it.
#[derive(Debug, Clone, Copy)]
struct Scope<'a> {
    account: &'a str,
    region: &'a str,
}

impl Scope<'_> {
    fn group_arn(&self, group: &str) -> String {
        format!("arn:aws:logs:{}:{}:log-group:{group}", self.region, self.account)
    }

    fn stream_arn(&self, group: &str, stream: &str) -> String {
        format!("{}:log-stream:{stream}", self.group_arn(group))
    }

    fn owned(&self) -> (String, String) {
        (self.account.to_owned(), self.region.to_owned())
    }
}

pub(crate) async fn handle(logs: &Logs, account: &str, region: &str, target: &str, body: &[u8]) -> Response {
    let scope = Scope { account, region };
    let result = match target.strip_prefix(TARGET_PREFIX) {
        Some(operation) => dispatch(logs, scope, operation, body).await,
        None => Err(unknown_operation(target)),
    };
    match result {
        Ok(body) => Response { status: 200, body, error_type: None },
        Err(e) => error_response(&e),
    }
}

/// The JSON 1.1 error answer: `{"__type": <code>, "message": <text>}`.
fn error_response(e: &LogsError) -> Response {
    let body = serde_json::json!({ "__type": e.code(), "message": e.to_string() });
    Response { status: e.status(), body: body.to_string().into_bytes(), error_type: Some(e.code().to_owned()) }
}

fn unknown_operation(operation: &str) -> LogsError {
    LogsError::UnknownOperation(format!("The operation {operation} is not supported."))
}

async fn dispatch(logs: &Logs, scope: Scope<'_>, operation: &str, body: &[u8]) -> Result<Vec<u8>, LogsError> {
    match operation {
        "DescribeLogGroups" => json(&describe_log_groups(logs, scope, decode(body)?).await?),
        "DescribeLogStreams" => json(&describe_log_streams(logs, scope, decode(body)?).await?),
        "GetLogEvents" => json(&get_log_events(logs, scope, decode(body)?).await?),
        "FilterLogEvents" => json(&filter_log_events(logs, scope, decode(body)?).await?),
        "CreateLogGroup" => json(&create_log_group(logs, scope, decode(body)?).await?),
        "DeleteLogGroup" => json(&delete_log_group(logs, scope, decode(body)?).await?),
        "PutRetentionPolicy" => json(&put_retention_policy(logs, scope, decode(body)?).await?),
        "DeleteRetentionPolicy" => json(&delete_retention_policy(logs, scope, decode(body)?).await?),
        "CreateLogStream" => json(&create_log_stream(logs, scope, decode(body)?).await?),
        "DeleteLogStream" => json(&delete_log_stream(logs, scope, decode(body)?).await?),
        "PutLogEvents" => json(&put_log_events(logs, scope, decode(body)?).await?),
        _ => Err(unknown_operation(operation)),
    }
}

/// Decodes a request body; an empty body is an empty request, anything but an object is refused.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, LogsError> {
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| LogsError::Serialization(e.to_string()))?
    };
    if !value.is_object() {
        return Err(LogsError::Serialization("The request body must be a JSON object.".to_owned()));
    }
    serde_json::from_value(value).map_err(|e| LogsError::Serialization(e.to_string()))
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, LogsError> {
    serde_json::to_vec(value).map_err(|e| LogsError::Database(format!("cannot encode the answer: {e}")))
}

/// Collects model-constraint violations; [`Check::finish`] reports them all at once.
#[derive(Debug, Default)]
struct Check {
    violations: Vec<Violation>,
}

type CharRule = (&'static str, fn(char) -> bool);

impl Check {
    /// Records a missing required member; returns whether it is present.
    fn required<T>(&mut self, field: &str, value: Option<&T>) -> bool {
        if value.is_none() {
            self.violations.push(Violation::not_null(field));
        }
        value.is_some()
    }

    /// Checks a string member's characters and length, when present.
    fn text(&mut self, field: &str, value: Option<&str>, min: usize, max: usize, rule: Option<CharRule>) {
        let Some(value) = value else { return };
        if let Some((pattern, allowed)) = rule
            && !value.chars().all(allowed)
        {
            self.violations.push(Violation::pattern(value, field, pattern));
        }
        let chars = value.chars().count();
        if chars < min {
            self.violations.push(Violation::len_min(value, field, min));
        }
        if chars > max {
            self.violations.push(Violation::len_max(value, field, max));
        }
    }

    fn group_name(&mut self, field: &str, value: Option<&str>) {
        self.text(field, value, 1, NAME_CHARS_MAX, Some((GROUP_NAME_PATTERN, group_name_char)));
    }

    fn stream_name(&mut self, field: &str, value: Option<&str>) {
        self.text(field, value, 1, NAME_CHARS_MAX, Some((STREAM_NAME_PATTERN, stream_name_char)));
    }

    fn token(&mut self, value: Option<&str>) {
        self.text("nextToken", value, 1, usize::MAX, None);
    }

    /// Checks a number member's range, when present.
    fn number(&mut self, field: &str, value: Option<i64>, min: i64, max: Option<i64>) {
        let Some(value) = value else { return };
        if value < min {
            self.violations.push(Violation::value_min(value, field, min));
        }
        if let Some(max) = max
            && value > max
        {
            self.violations.push(Violation::value_max(value, field, max));
        }
    }

    fn finish(self) -> Result<(), LogsError> {
        if self.violations.is_empty() { Ok(()) } else { Err(LogsError::InvalidParameter(render(&self.violations))) }
    }
}

/// The log group a request names by `logGroupName` or `logGroupIdentifier` (a name or its ARN).
fn group_of(scope: Scope<'_>, name: Option<String>, identifier: Option<String>) -> Result<String, LogsError> {
    match (name, identifier) {
        (Some(_), Some(_)) => {
            Err(LogsError::Validation("LogGroup name and LogGroup ARN are mutually exclusive parameters.".to_owned()))
        }
        (Some(name), None) => Ok(name),
        (None, Some(identifier)) => group_of_identifier(scope, &identifier),
        (None, None) => {
            Err(LogsError::InvalidParameter("Either logGroupName or logGroupIdentifier must be specified.".to_owned()))
        }
    }
}

/// `name`, or `arn:<partition>:logs:<region>:<account>:log-group:<name>[:*]` of this scope.
fn group_of_identifier(scope: Scope<'_>, identifier: &str) -> Result<String, LogsError> {
    if !identifier.starts_with("arn:") {
        return Ok(identifier.to_owned());
    }
    let parts: Vec<&str> = identifier.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "logs", region, account, "log-group", name]
            if *region == scope.region && *account == scope.account && !name.is_empty() =>
        {
            Ok(name.strip_suffix(":*").unwrap_or(name).to_owned())
        }
        // Another account's or region's group, or not a log group ARN: nothing here has that name.
        _ => Err(LogsError::ResourceNotFound(GROUP_NOT_FOUND.to_owned())),
    }
}

fn check_group_ref(check: &mut Check, name: Option<&str>, identifier: Option<&str>) {
    check.group_name("logGroupName", name);
    check.text("logGroupIdentifier", identifier, 1, IDENTIFIER_CHARS_MAX, None);
}

fn invalid_token() -> LogsError {
    LogsError::InvalidParameter(INVALID_TOKEN.to_owned())
}

fn name_token(tag: char, name: &str) -> String {
    format!("{tag}/{}", stdx::hex::encode(name.as_bytes()))
}

fn name_from_token(tag: char, token: &str) -> Result<String, LogsError> {
    token
        .strip_prefix(tag)
        .and_then(|t| t.strip_prefix('/'))
        .and_then(stdx::hex::decode)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid_token)
}

fn page_limit(limit: Option<i64>, max: i64) -> usize {
    usize::try_from(limit.unwrap_or(max).clamp(1, max)).unwrap_or(1)
}

// DescribeLogGroups

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogGroupsRequest {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogGroupsResponse {
    log_groups: Vec<LogGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogGroup {
    log_group_name: String,
    creation_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention_in_days: Option<u32>,
    metric_filter_count: u32,
    arn: String,
    stored_bytes: i64,
    log_group_class: &'static str,
    log_group_arn: String,
}

async fn describe_log_groups(
    logs: &Logs,
    scope: Scope<'_>,
    req: DescribeLogGroupsRequest,
) -> Result<DescribeLogGroupsResponse, LogsError> {
    let mut check = Check::default();
    check.group_name("logGroupNamePrefix", req.log_group_name_prefix.as_deref());
    check.text(
        "logGroupNamePattern",
        req.log_group_name_pattern.as_deref(),
        0,
        NAME_CHARS_MAX,
        Some((GROUP_NAME_SUBSTRING_PATTERN, group_name_char)),
    );
    check.token(req.next_token.as_deref());
    check.number("limit", req.limit, 1, Some(DESCRIBE_PAGE_MAX));
    check.finish()?;
    if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
        return Err(LogsError::InvalidParameter(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.".to_owned(),
        ));
    }
    let after = req.next_token.as_deref().map(|t| name_from_token('g', t)).transpose()?;
    let limit = page_limit(req.limit, DESCRIBE_PAGE_MAX);
    let (account, region) = scope.owned();
    let (prefix, pattern) = (req.log_group_name_prefix, req.log_group_name_pattern.filter(|p| !p.is_empty()));
    let page = logs
        .read(move |conn| {
            query::groups(conn, &account, &region, prefix.as_deref(), pattern.as_deref(), after.as_deref(), limit)
        })
        .await?;
    let next_token = if page.more { page.items.last().map(|g| name_token('g', &g.name)) } else { None };
    let log_groups = page
        .items
        .into_iter()
        .map(|g| LogGroup {
            arn: format!("{}:*", scope.group_arn(&g.name)),
            log_group_arn: scope.group_arn(&g.name),
            creation_time: g.created_ms,
            retention_in_days: g.retention_days,
            metric_filter_count: 0,
            stored_bytes: g.stored_bytes,
            log_group_class: "STANDARD",
            log_group_name: g.name,
        })
        .collect();
    Ok(DescribeLogGroupsResponse { log_groups, next_token })
}

// DescribeLogStreams

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogStreamsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogStreamsResponse {
    log_streams: Vec<LogStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogStream {
    log_stream_name: String,
    creation_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_ingestion_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_sequence_token: Option<String>,
    arn: String,
    /// CloudWatch has reported zero for streams since 2019; groups carry the real size.
    stored_bytes: i64,
}

fn stream_token(cursor: &StreamCursor) -> String {
    match cursor {
        StreamCursor::Name(name) => name_token('n', name),
        StreamCursor::LastEvent(key, id) => format!("t/{key}/{id}"),
    }
}

fn stream_cursor(token: &str, by_last_event: bool) -> Result<StreamCursor, LogsError> {
    if !by_last_event {
        return name_from_token('n', token).map(StreamCursor::Name);
    }
    let rest = token.strip_prefix("t/").ok_or_else(invalid_token)?;
    let (key, id) = rest.split_once('/').ok_or_else(invalid_token)?;
    match (key.parse(), id.parse()) {
        (Ok(key), Ok(id)) => Ok(StreamCursor::LastEvent(key, id)),
        _ => Err(invalid_token()),
    }
}

async fn describe_log_streams(
    logs: &Logs,
    scope: Scope<'_>,
    req: DescribeLogStreamsRequest,
) -> Result<DescribeLogStreamsResponse, LogsError> {
    let mut check = Check::default();
    check_group_ref(&mut check, req.log_group_name.as_deref(), req.log_group_identifier.as_deref());
    check.stream_name("logStreamNamePrefix", req.log_stream_name_prefix.as_deref());
    if let Some(order) = req.order_by.as_deref()
        && !ORDER_BY.contains(&order)
    {
        check.violations.push(Violation::enum_set(order, "orderBy", &ORDER_BY));
    }
    check.token(req.next_token.as_deref());
    check.number("limit", req.limit, 1, Some(DESCRIBE_PAGE_MAX));
    check.finish()?;
    let group = group_of(scope, req.log_group_name, req.log_group_identifier)?;
    let by_last_event = req.order_by.as_deref() == Some("LastEventTime");
    if by_last_event && req.log_stream_name_prefix.is_some() {
        return Err(LogsError::InvalidParameter(
            "Cannot order by LastEventTime with a logStreamNamePrefix.".to_owned(),
        ));
    }
    let after = req.next_token.as_deref().map(|t| stream_cursor(t, by_last_event)).transpose()?;
    let descending = req.descending.unwrap_or(false);
    let limit = page_limit(req.limit, DESCRIBE_PAGE_MAX);
    let (account, region) = scope.owned();
    let prefix = req.log_stream_name_prefix;
    let lookup_group = group.clone();
    let page = logs
        .read(move |conn| {
            let group = query::group_id(conn, &account, &region, &lookup_group)?
                .ok_or_else(|| LogsError::ResourceNotFound(GROUP_NOT_FOUND.to_owned()))?;
            query::streams(conn, group, by_last_event, descending, prefix.as_deref(), after.as_ref(), limit)
        })
        .await?;
    let next_token =
        if page.more { page.items.last().map(|s| stream_token(&StreamCursor::of(s, by_last_event))) } else { None };
    let log_streams = page
        .items
        .into_iter()
        .map(|s| {
            let has_events = s.last_event_ms.is_some();
            LogStream {
                arn: scope.stream_arn(&group, &s.name),
                creation_time: s.created_ms,
                first_event_timestamp: s.first_event_ms,
                last_event_timestamp: s.last_event_ms,
                last_ingestion_time: s.last_ingestion_ms,
                upload_sequence_token: has_events.then(|| format!("{:056}", s.upload_sequence)),
                stored_bytes: 0,
                log_stream_name: s.name,
            }
        })
        .collect();
    Ok(DescribeLogStreamsResponse { log_streams, next_token })
}

// GetLogEvents

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsResponse {
    events: Vec<OutputLogEvent>,
    next_forward_token: String,
    next_backward_token: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutputLogEvent {
    timestamp: i64,
    message: String,
    ingestion_time: i64,
}

fn events_token(token: &str) -> Result<(Direction, Position), LogsError> {
    let (direction, digits) = if let Some(digits) = token.strip_prefix("f/") {
        (Direction::Forward, digits)
    } else if let Some(digits) = token.strip_prefix("b/") {
        (Direction::Backward, digits)
    } else {
        return Err(invalid_token());
    };
    Position::decode(digits).map(|p| (direction, p)).ok_or_else(invalid_token)
}

async fn get_log_events(
    logs: &Logs,
    scope: Scope<'_>,
    req: GetLogEventsRequest,
) -> Result<GetLogEventsResponse, LogsError> {
    let mut check = Check::default();
    check_group_ref(&mut check, req.log_group_name.as_deref(), req.log_group_identifier.as_deref());
    check.required("logStreamName", req.log_stream_name.as_ref());
    check.stream_name("logStreamName", req.log_stream_name.as_deref());
    check.number("startTime", req.start_time, 0, None);
    check.number("endTime", req.end_time, 0, None);
    check.token(req.next_token.as_deref());
    check.number("limit", req.limit, 1, Some(EVENTS_PAGE_MAX));
    check.finish()?;
    let group = group_of(scope, req.log_group_name, req.log_group_identifier)?;
    let stream = req.log_stream_name.unwrap_or_default();
    let token = req.next_token.as_deref().map(events_token).transpose()?;
    let (direction, from) = match token {
        Some(token) => token,
        None if req.start_from_head.unwrap_or(false) => (Direction::Forward, Position::START),
        None => (Direction::Backward, Position::END),
    };
    let start_ms = req.start_time.unwrap_or(i64::MIN);
    let end_ms = req.end_time.unwrap_or(i64::MAX);
    let limit = page_limit(req.limit, EVENTS_PAGE_MAX);
    let (account, region) = scope.owned();
    let events = logs
        .read(move |conn| {
            let group = query::group_id(conn, &account, &region, &group)?
                .ok_or_else(|| LogsError::ResourceNotFound(GROUP_NOT_FOUND.to_owned()))?;
            let stream = query::stream_id(conn, group, &stream)?
                .ok_or_else(|| LogsError::ResourceNotFound(STREAM_NOT_FOUND.to_owned()))?;
            query::stream_events(conn, stream, start_ms, end_ms, direction, from, limit)
        })
        .await?;
    // An empty page leaves both tokens where the request was: a forward token that comes back
    // unchanged is how clients know they reached the end. Without a token, an empty page points
    // before everything, so polling with its forward token picks up later events.
    let (forward, backward) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (last.position(), first.position()),
        _ if token.is_some() => (from, from),
        _ => (Position::START, Position::START),
    };
    Ok(GetLogEventsResponse {
        events: events
            .into_iter()
            .map(|e| OutputLogEvent { timestamp: e.timestamp_ms, message: e.message, ingestion_time: e.ingestion_ms })
            .collect(),
        next_forward_token: format!("f/{}", forward.encode()),
        next_backward_token: format!("b/{}", backward.encode()),
    })
}

// FilterLogEvents

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterLogEventsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FilterLogEventsResponse {
    events: Vec<FilteredLogEvent>,
    /// CloudWatch has answered an empty list since 2020.
    searched_log_streams: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FilteredLogEvent {
    log_stream_name: String,
    timestamp: i64,
    message: String,
    ingestion_time: i64,
    event_id: String,
}

async fn filter_log_events(
    logs: &Logs,
    scope: Scope<'_>,
    req: FilterLogEventsRequest,
) -> Result<FilterLogEventsResponse, LogsError> {
    let mut check = Check::default();
    check_group_ref(&mut check, req.log_group_name.as_deref(), req.log_group_identifier.as_deref());
    if let Some(names) = &req.log_stream_names {
        if names.is_empty() {
            check.violations.push(Violation::len_min(&list_value(names), "logStreamNames", 1));
        }
        if names.len() > STREAM_NAMES_MAX {
            check.violations.push(Violation::len_max(&list_value(names), "logStreamNames", STREAM_NAMES_MAX));
        }
        for (i, name) in names.iter().enumerate() {
            check.stream_name(&format!("logStreamNames.{}.member", i + 1), Some(name));
        }
    }
    check.stream_name("logStreamNamePrefix", req.log_stream_name_prefix.as_deref());
    check.number("startTime", req.start_time, 0, None);
    check.number("endTime", req.end_time, 0, None);
    check.text("filterPattern", req.filter_pattern.as_deref(), 0, PATTERN_CHARS_MAX, None);
    check.token(req.next_token.as_deref());
    check.number("limit", req.limit, 1, Some(EVENTS_PAGE_MAX));
    check.finish()?;
    let group = group_of(scope, req.log_group_name, req.log_group_identifier)?;
    let streams = match (req.log_stream_names, req.log_stream_name_prefix) {
        (Some(_), Some(_)) => {
            return Err(LogsError::InvalidParameter(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.".to_owned(),
            ));
        }
        (Some(names), None) => StreamSelection::Names(names.into_iter().collect::<HashSet<_>>()),
        (None, Some(prefix)) => StreamSelection::Prefix(prefix),
        (None, None) => StreamSelection::All,
    };
    let pattern = FilterPattern::parse(req.filter_pattern.as_deref().unwrap_or(""))
        .map_err(|e| LogsError::InvalidParameter(e.to_string()))?;
    let after = match req.next_token.as_deref() {
        Some(token) => token.strip_prefix("e/").and_then(Position::decode).ok_or_else(invalid_token)?,
        None => Position::START,
    };
    let filter = EventFilter {
        start_ms: req.start_time.unwrap_or(i64::MIN),
        end_ms: req.end_time.unwrap_or(i64::MAX),
        after,
        streams,
        pattern,
        limit: page_limit(req.limit, EVENTS_PAGE_MAX),
    };
    let (account, region) = scope.owned();
    let page = logs
        .read(move |conn| {
            let group = query::group_id(conn, &account, &region, &group)?
                .ok_or_else(|| LogsError::ResourceNotFound(GROUP_NOT_FOUND.to_owned()))?;
            query::filter_events(conn, group, &filter)
        })
        .await?;
    Ok(FilterLogEventsResponse {
        events: page
            .events
            .into_iter()
            .map(|e| FilteredLogEvent {
                log_stream_name: e.stream.unwrap_or_default(),
                timestamp: e.timestamp_ms,
                message: e.message,
                ingestion_time: e.ingestion_ms,
                event_id: e.id.to_string(),
            })
            .collect(),
        searched_log_streams: Vec::new(),
        next_token: page.next.map(|p| format!("e/{}", p.encode())),
    })
}

// Writes.

#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRequest {
    log_group_name: Option<String>,
}

/// Validates the `logGroupName` every group write requires.
fn required_group(name: Option<String>, check: &mut Check) -> String {
    check.required("logGroupName", name.as_ref());
    check.group_name("logGroupName", name.as_deref());
    name.unwrap_or_default()
}

async fn create_log_group(logs: &Logs, scope: Scope<'_>, req: GroupRequest) -> Result<Empty, LogsError> {
    let mut check = Check::default();
    let group = required_group(req.log_group_name, &mut check);
    check.finish()?;
    let (account, region) = scope.owned();
    logs.write(move |ctx| writer::create_group(ctx, &account, &region, &group)).await?;
    Ok(Empty {})
}

async fn delete_log_group(logs: &Logs, scope: Scope<'_>, req: GroupRequest) -> Result<Empty, LogsError> {
    let mut check = Check::default();
    let group = required_group(req.log_group_name, &mut check);
    check.finish()?;
    let (account, region) = scope.owned();
    logs.write(move |ctx| writer::delete_group(ctx, &account, &region, &group)).await?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutRetentionPolicyRequest {
    log_group_name: Option<String>,
    retention_in_days: Option<i64>,
}

async fn put_retention_policy(
    logs: &Logs,
    scope: Scope<'_>,
    req: PutRetentionPolicyRequest,
) -> Result<Empty, LogsError> {
    let mut check = Check::default();
    let group = required_group(req.log_group_name, &mut check);
    check.required("retentionInDays", req.retention_in_days.as_ref());
    let days = req.retention_in_days.and_then(|d| u32::try_from(d).ok()).filter(|d| RETENTION_DAYS.contains(d));
    if let (Some(value), None) = (req.retention_in_days, days) {
        let set = RETENTION_DAYS.iter().map(u32::to_string).collect::<Vec<_>>();
        check.violations.push(Violation::new(
            value.to_string(),
            "retentionInDays",
            format!("Member must satisfy enum value set: [{}]", set.join(", ")),
        ));
    }
    check.finish()?;
    let (account, region) = scope.owned();
    logs.write(move |ctx| writer::set_retention(ctx, &account, &region, &group, days)).await?;
    Ok(Empty {})
}

async fn delete_retention_policy(logs: &Logs, scope: Scope<'_>, req: GroupRequest) -> Result<Empty, LogsError> {
    let mut check = Check::default();
    let group = required_group(req.log_group_name, &mut check);
    check.finish()?;
    let (account, region) = scope.owned();
    logs.write(move |ctx| writer::set_retention(ctx, &account, &region, &group, None)).await?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamRequest {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
}

fn required_stream(group: Option<String>, stream: Option<String>, check: &mut Check) -> (String, String) {
    let group = required_group(group, check);
    check.required("logStreamName", stream.as_ref());
    check.stream_name("logStreamName", stream.as_deref());
    (group, stream.unwrap_or_default())
}

async fn create_log_stream(logs: &Logs, scope: Scope<'_>, req: StreamRequest) -> Result<Empty, LogsError> {
    let mut check = Check::default();
    let (group, stream) = required_stream(req.log_group_name, req.log_stream_name, &mut check);
    check.finish()?;
    let (account, region) = scope.owned();
    logs.write(move |ctx| writer::create_stream(ctx, &account, &region, &group, &stream)).await?;
    Ok(Empty {})
}

async fn delete_log_stream(logs: &Logs, scope: Scope<'_>, req: StreamRequest) -> Result<Empty, LogsError> {
    let mut check = Check::default();
    let (group, stream) = required_stream(req.log_group_name, req.log_stream_name, &mut check);
    check.finish()?;
    let (account, region) = scope.owned();
    logs.write(move |ctx| writer::delete_stream(ctx, &account, &region, &group, &stream)).await?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutLogEventsRequest {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
    log_events: Option<Vec<InputLogEvent>>,
}

#[derive(Debug, Deserialize)]
struct InputLogEvent {
    timestamp: Option<i64>,
    message: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PutLogEventsResponse {
    next_sequence_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected_log_events_info: Option<RejectedLogEventsInfo>,
}

/// The events PutLogEvents did not store: those from before an end index, or from a start
/// index on (AWS's indexes into a batch in time order).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct RejectedLogEventsInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    too_new_log_event_start_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    too_old_log_event_end_index: Option<usize>,
}

/// PutLogEvents' window around now: an event more than this far ahead is too new…
const EVENT_AHEAD_MS_MAX: i64 = 2 * 3_600_000;
/// …and more than this far back too old (AWS: 14 days).
const EVENT_AGE_MS_MAX: i64 = 14 * 24 * 3_600_000;
/// The most time one batch may span (AWS: 24 hours).
const BATCH_SPAN_MS_MAX: i64 = 24 * 3_600_000;

async fn put_log_events(
    logs: &Logs,
    scope: Scope<'_>,
    req: PutLogEventsRequest,
) -> Result<PutLogEventsResponse, LogsError> {
    let mut check = Check::default();
    let (group, stream) = required_stream(req.log_group_name, req.log_stream_name, &mut check);
    check.required("logEvents", req.log_events.as_ref());
    match &req.log_events {
        Some(list) if list.is_empty() => check.violations.push(Violation::len_min("[]", "logEvents", 1)),
        Some(list) if list.len() > PUT_EVENTS_MAX => {
            check.violations.push(Violation::len_max(&format!("[{} events]", list.len()), "logEvents", PUT_EVENTS_MAX))
        }
        _ => {}
    }
    let input = req.log_events.unwrap_or_default();
    for (i, event) in input.iter().enumerate() {
        let field = |member: &str| format!("logEvents.{}.member.{member}", i + 1);
        check.required(&field("timestamp"), event.timestamp.as_ref());
        check.number(&field("timestamp"), event.timestamp, 0, None);
        check.required(&field("message"), event.message.as_ref());
        check.text(&field("message"), event.message.as_deref(), 1, usize::MAX, None);
    }
    check.finish()?;
    let upload: usize = input.iter().map(|e| e.message.as_ref().map_or(0, String::len) + EVENT_OVERHEAD_BYTES).sum();
    if upload > PUT_BATCH_BYTES_MAX {
        return Err(LogsError::InvalidParameter(format!(
            "Upload too large: {upload} bytes exceeds limit of {PUT_BATCH_BYTES_MAX}"
        )));
    }
    let times: Vec<i64> = input.iter().map(|e| e.timestamp.unwrap_or_default()).collect();
    if let (Some(first), Some(last)) = (times.iter().min(), times.iter().max())
        && last - first > BATCH_SPAN_MS_MAX
    {
        return Err(LogsError::InvalidParameter(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.".to_owned(),
        ));
    }
    // Events too far ahead or behind now are not stored, and reported (AWS's indexes).
    let now = stdx::time::now_ms();
    let too_new = |t: i64| t > now + EVENT_AHEAD_MS_MAX;
    let too_old = |t: i64| t < now - EVENT_AGE_MS_MAX;
    let rejected = RejectedLogEventsInfo {
        too_new_log_event_start_index: times.iter().position(|&t| too_new(t)),
        too_old_log_event_end_index: times.iter().rposition(|&t| too_old(t)),
    };
    let rejected = (rejected.too_new_log_event_start_index.is_some() || rejected.too_old_log_event_end_index.is_some())
        .then_some(rejected);
    let events: Vec<(i64, String)> = input
        .into_iter()
        .filter(|e| e.timestamp.is_some_and(|t| !too_new(t) && !too_old(t)))
        .map(|e| {
            let mut message = e.message.unwrap_or_default();
            crate::truncate_message(&mut message);
            (e.timestamp.unwrap_or_default(), message)
        })
        .collect();
    let (account, region) = scope.owned();
    let next_sequence_token =
        logs.write(move |ctx| writer::put_events(ctx, &account, &region, &group, &stream, &events)).await?;
    Ok(PutLogEventsResponse { next_sequence_token, rejected_log_events_info: rejected })
}
