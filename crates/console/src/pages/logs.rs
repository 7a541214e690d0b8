//! The Logs tab: the function's recent log events through CloudWatch Logs' FilterLogEvents
//! (the `logs` crate's public API), filtered by pattern and by the version the stream name
//! carries (`YYYY/MM/DD/[version]…`).

use serde_json::{Value, json};

use crate::pages::function::Subject;
use crate::render;
use crate::session::Ctx;
use crate::{Console, Shown};

/// How far back the tab looks.
pub const LOGS_WINDOW_MINUTES: i64 = 60;
/// Most events the tab shows (the newest).
pub const LOG_EVENTS_SHOWN: usize = 200;
/// Events one FilterLogEvents page returns at most (its limit).
const EVENTS_PER_PAGE: u64 = 10_000;
/// Pages the tab reads at most.
const PAGES_MAX: usize = 5;

struct Event {
    time: String,
    version: String,
    message: String,
}

#[derive(askama::Template)]
#[template(path = "tab_logs.html")]
struct LogsTab<'a> {
    base: &'a str,
    qualifier: &'a str,
    filter: &'a str,
    version: &'a str,
    version_choices: Vec<String>,
    group: &'a str,
    shown_max: usize,
    window_minutes: i64,
    error: Option<Shown>,
    events: Vec<Event>,
}

/// The version in a Lambda log stream name: `2026/12/05/[3]abc…` → `3`.
pub(crate) fn stream_version(stream: &str) -> Option<&str> {
    let open = stream.find('[')?;
    let rest = &stream[open + 1..];
    rest.find(']').map(|close| &rest[..close])
}

pub(crate) async fn tab(console: &Console, ctx: &Ctx, s: &Subject) -> String {
    let scope = &ctx.who().scope;
    let filter = ctx.param("filter").unwrap_or("");
    let version = ctx.param("version").unwrap_or("");
    let config = &s.detail.view.record.config;
    let group = config.logging.log_group.clone().unwrap_or_else(|| format!("/aws/lambda/{}", s.name));
    let logs = console.parts.engine.logs();
    let mut request = json!({
        "logGroupName": group,
        "startTime": stdx::time::now_ms() - LOGS_WINDOW_MINUTES * 60_000,
        "limit": EVENTS_PER_PAGE,
    });
    if !filter.is_empty() {
        request["filterPattern"] = json!(filter);
    }
    let mut events: Vec<Event> = Vec::new();
    let mut error = None;
    for _ in 0..PAGES_MAX {
        let r = logs
            .handle(
                scope.account.as_str(),
                scope.region.as_str(),
                "Logs_20140328.FilterLogEvents",
                request.to_string().as_bytes(),
            )
            .await;
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if r.status != 200 {
            // No log group yet is no events, not an error.
            if r.error_type.as_deref() != Some("ResourceNotFoundException") {
                error = Some(Shown {
                    code: r.error_type.unwrap_or_default(),
                    message: body["message"].as_str().unwrap_or("").to_owned(),
                });
            }
            break;
        }
        for e in body["events"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let stream = e["logStreamName"].as_str().unwrap_or("");
            let v = stream_version(stream).unwrap_or("");
            if !version.is_empty() && v != version {
                continue;
            }
            events.push(Event {
                time: render::when(e["timestamp"].as_i64().unwrap_or(0)),
                version: v.to_owned(),
                message: e["message"].as_str().unwrap_or("").trim_end().to_owned(),
            });
        }
        if events.len() > LOG_EVENTS_SHOWN {
            events.drain(..events.len() - LOG_EVENTS_SHOWN);
        }
        match body["nextToken"].as_str() {
            Some(t) => request["nextToken"] = json!(t),
            None => break,
        }
    }
    let page = LogsTab {
        base: &s.base,
        qualifier: s.qualifier_text(),
        filter,
        version,
        version_choices: s.version_choices(),
        group: &group,
        shown_max: LOG_EVENTS_SHOWN,
        window_minutes: LOGS_WINDOW_MINUTES,
        error,
        events,
    };
    render::html(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_stream_names() {
        assert_eq!(stream_version("2026/12/05/[$LATEST]0123abcd"), Some("$LATEST"));
        assert_eq!(stream_version("2026/12/05/[12]0123abcd"), Some("12"));
        assert_eq!(stream_version("custom-stream"), None);
    }
}
