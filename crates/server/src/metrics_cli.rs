//! `versa metrics FUNCTION[:QUALIFIER] [--since 15m]`: invocations, errors, error share and
//! p50/p99 duration per executed version of an alias (per resource for an unqualified name or
//! a version), read from a running server's CloudWatch API over AWS JSON 1.0: ListMetrics to
//! find the versions, then one GetMetricData over the whole window (one period, so the
//! percentiles are of the window). Signed for `monitoring` with the usual AWS credentials.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

use crate::MetricsArgs;
use crate::client::{Signer, send};

/// The CloudWatch API's JSON 1.0 target prefix.
const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";
/// Most ListMetrics pages read.
const LIST_PAGES_MAX: usize = 20;
/// Most GetMetricData pages read.
const DATA_PAGES_MAX: usize = 20;
/// Most rows (versions or resources) shown: 4 queries each stay within GetMetricData's 500.
const ROWS_MAX: usize = 100;
/// The longest window: what the server keeps of minute points (15 days).
const SINCE_MAX_MS: i64 = metrics::RETENTION_MS;
/// A minute, the window's granularity.
const MINUTE_MS: i64 = 60_000;
/// The endpoint when neither `--endpoint` nor `AWS_ENDPOINT_URL` names one.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";

/// What the command names: a function, and an alias or version.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    function: String,
    qualifier: Option<String>,
}

impl Target {
    fn parse(s: &str) -> anyhow::Result<Target> {
        let (function, qualifier) = match s.split_once(':') {
            Some((f, q)) => (f, Some(q)),
            None => (s, None),
        };
        anyhow::ensure!(
            !function.is_empty() && qualifier.is_none_or(|q| !q.is_empty() && !q.contains(':')),
            "name the function as FUNCTION or FUNCTION:ALIAS (or FUNCTION:VERSION), not {s:?}"
        );
        Ok(Target { function: function.to_owned(), qualifier: qualifier.map(str::to_owned) })
    }

    fn is_alias(&self) -> bool {
        self.qualifier.as_deref().is_some_and(|q| q != "$LATEST" && !q.bytes().all(|b| b.is_ascii_digit()))
    }

    fn resource(&self) -> Option<String> {
        self.qualifier.as_ref().map(|q| format!("{}:{q}", self.function))
    }
}

/// `15m`, `2h`, `30s`, `1d` → milliseconds (at least a minute, at most [`SINCE_MAX_MS`]).
fn parse_since(s: &str) -> anyhow::Result<i64> {
    let bad = || anyhow::anyhow!("--since wants a number and a unit (s, m, h or d), like 15m, not {s:?}");
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: i64 = s[..unit_at].parse().map_err(|_| bad())?;
    let unit = match &s[unit_at..] {
        "s" => 1_000,
        "m" => MINUTE_MS,
        "h" => 60 * MINUTE_MS,
        "d" => 24 * 60 * MINUTE_MS,
        _ => return Err(bad()),
    };
    let ms = n.checked_mul(unit).ok_or_else(bad)?;
    anyhow::ensure!(ms <= SINCE_MAX_MS, "--since is at most 15 days (what the server keeps)");
    Ok(ms.max(MINUTE_MS))
}

/// The window: whole minutes, ending after the current one, covering at least `since_ms`.
fn window(now_ms: i64, since_ms: i64) -> (i64, i64) {
    let end = (now_ms.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
    let start = end - (since_ms + MINUTE_MS - 1).div_euclid(MINUTE_MS) * MINUTE_MS;
    (start, end)
}

/// One table row: its label and the dimensions of its metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) label: String,
    pub(crate) dims: Vec<(String, String)>,
}

fn dims_json(dims: &[(String, String)]) -> Value {
    Value::Array(dims.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect())
}

/// The ListMetrics request: `Invocations` of the function (and resource, when qualified).
fn list_metrics_body(target: &Target, next_token: Option<&str>) -> Value {
    let mut dims = vec![("FunctionName".to_owned(), target.function.clone())];
    if let Some(r) = target.resource() {
        dims.push(("Resource".to_owned(), r));
    }
    let mut body = json!({"Namespace": metrics::LAMBDA, "MetricName": "Invocations", "Dimensions": dims_json(&dims)});
    if let Some(t) = next_token {
        body["NextToken"] = json!(t);
    }
    body
}

/// The dimensions of one ListMetrics answer's metric, by name.
fn metric_dims(m: &Value) -> Vec<(String, String)> {
    let mut d: Vec<(String, String)> = m["Dimensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| Some((d["Name"].as_str()?.to_owned(), d["Value"].as_str()?.to_owned())))
        .collect();
    d.sort();
    d
}

/// Versions (numbers first, in order, then others) or resources, sorted for display.
fn sort_labels(labels: BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = labels.into_iter().collect();
    v.sort_by_key(|l| (l.parse::<u64>().map_or(1, |_| 0), l.parse::<u64>().unwrap_or(0), l.clone()));
    v
}

/// The rows for the metrics ListMetrics found: per executed version of an alias, per resource
/// of an unqualified function; each table ends with the total of what it covers.
fn rows(target: &Target, found: &[Value]) -> Vec<Row> {
    let function = ("FunctionName".to_owned(), target.function.clone());
    let mut out = Vec::new();
    match target.resource() {
        Some(resource) => {
            let resource = ("Resource".to_owned(), resource);
            if target.is_alias() {
                let versions: BTreeSet<String> = found
                    .iter()
                    .map(metric_dims)
                    .filter(|d| d.len() == 3 && d[1] == function && d[2] == resource && d[0].0 == "ExecutedVersion")
                    .map(|d| d[0].1.clone())
                    .collect();
                for v in sort_labels(versions).into_iter().take(ROWS_MAX - 1) {
                    let dims = vec![("ExecutedVersion".to_owned(), v.clone()), function.clone(), resource.clone()];
                    out.push(Row { label: v, dims });
                }
                out.push(Row { label: "total".to_owned(), dims: vec![function, resource] });
            } else {
                let label = target.qualifier.clone().unwrap_or_default();
                out.push(Row { label, dims: vec![function, resource] });
            }
        }
        None => {
            let prefix = format!("{}:", target.function);
            let resources: BTreeSet<String> = found
                .iter()
                .map(metric_dims)
                .filter(|d| d.contains(&function))
                .filter_map(|d| {
                    let (_, r) = d.into_iter().find(|(k, _)| k == "Resource")?;
                    r.strip_prefix(&prefix).map(str::to_owned)
                })
                .collect();
            for q in sort_labels(resources).into_iter().take(ROWS_MAX - 1) {
                let dims = vec![function.clone(), ("Resource".to_owned(), format!("{prefix}{q}"))];
                out.push(Row { label: q, dims });
            }
            out.push(Row { label: "total".to_owned(), dims: vec![function] });
        }
    }
    out
}

/// The four statistics of each row: ids `i<n>` (Sum Invocations), `e<n>` (Sum Errors),
/// `p<n>` (p50 Duration), `q<n>` (p99 Duration).
const QUERIES: [(&str, &str, &str); 4] =
    [("i", "Invocations", "Sum"), ("e", "Errors", "Sum"), ("p", "Duration", "p50"), ("q", "Duration", "p99")];

pub(crate) fn get_metric_data_body(rows: &[Row], start_ms: i64, end_ms: i64, next_token: Option<&str>) -> Value {
    let period = (end_ms - start_ms) / 1000;
    let mut queries = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        for (prefix, metric, stat) in QUERIES {
            queries.push(json!({
                "Id": format!("{prefix}{n}"),
                "MetricStat": {
                    "Metric": {"Namespace": metrics::LAMBDA, "MetricName": metric, "Dimensions": dims_json(&row.dims)},
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": true,
            }));
        }
    }
    let mut body = json!({
        "MetricDataQueries": queries,
        "StartTime": start_ms / 1000,
        "EndTime": end_ms / 1000,
    });
    if let Some(t) = next_token {
        body["NextToken"] = json!(t);
    }
    body
}

/// What one row shows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Figures {
    pub(crate) invocations: f64,
    pub(crate) errors: f64,
    pub(crate) p50: Option<f64>,
    pub(crate) p99: Option<f64>,
}

/// Adds one GetMetricData answer's results into `figures` (by row): sums add up; a
/// percentile spread over several periods shows the highest.
pub(crate) fn collect(figures: &mut [Figures], answer: &Value) {
    for r in answer["MetricDataResults"].as_array().into_iter().flatten() {
        let Some(id) = r["Id"].as_str() else { continue };
        let (prefix, n) = id.split_at(1);
        let Some(f) = n.parse::<usize>().ok().and_then(|n| figures.get_mut(n)) else { continue };
        let values: Vec<f64> = r["Values"].as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
        let highest = values.iter().copied().reduce(f64::max);
        match prefix {
            "i" => f.invocations += values.iter().sum::<f64>(),
            "e" => f.errors += values.iter().sum::<f64>(),
            "p" => f.p50 = higher(f.p50, highest),
            "q" => f.p99 = higher(f.p99, highest),
            _ => {}
        }
    }
}

fn higher(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The table: a header line, then aligned columns.
fn render(target: &Target, start_ms: i64, end_ms: i64, endpoint: &str, rows: &[Row], figures: &[Figures]) -> String {
    let name = match &target.qualifier {
        Some(q) => format!("{}:{q}", target.function),
        None => target.function.clone(),
    };
    let minutes = (end_ms - start_ms) / MINUTE_MS;
    let mut out = format!(
        "{name}  last {minutes} min ({} to {})  {endpoint}\n",
        stdx::time::format_iso8601_ms(start_ms).trim_end_matches(".000Z").replace('T', " "),
        stdx::time::format_iso8601_ms(end_ms).trim_end_matches(".000Z").replace('T', " "),
    );
    let first = if target.qualifier.is_some() { "VERSION" } else { "RESOURCE" };
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    let mut table = vec![[first, "INVOCATIONS", "ERRORS", "ERROR%", "P50 ms", "P99 ms"].map(str::to_owned)];
    for (row, f) in rows.iter().zip(figures) {
        let share = if f.invocations > 0.0 { format!("{:.1}", 100.0 * f.errors / f.invocations) } else { "-".into() };
        table.push([
            row.label.clone(),
            format!("{}", f.invocations),
            format!("{}", f.errors),
            share,
            ms(f.p50),
            ms(f.p99),
        ]);
    }
    let mut widths = [0usize; 6];
    for line in &table {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for line in &table {
        let mut text = String::new();
        for (i, (cell, w)) in line.iter().zip(widths).enumerate() {
            if i == 0 {
                text.push_str(&format!("{cell:<w$}"));
            } else {
                text.push_str(&format!("  {cell:>w$}"));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    if rows.len() == 1 && figures.first().is_none_or(|f| f.invocations == 0.0) {
        out.push_str("(no invocations in the window)\n");
    }
    out
}

/// The credentials: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else
/// the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, profile
/// `profile`, else `AWS_PROFILE`, else `default`), else the root key in Versa's data dir.
pub(crate) fn credentials(profile: Option<&str>) -> anyhow::Result<server::credentials::ProfileKey> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if profile.is_none()
        && let (Some(access_key_id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
    {
        return Ok(server::credentials::ProfileKey { access_key_id, secret, session_token: env("AWS_SESSION_TOKEN") });
    }
    let file = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws").join("credentials")));
    let profile = profile.map(str::to_owned).or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".to_owned());
    if let Some(path) = file.filter(|p| p.exists()) {
        return server::credentials::read_profile(&path, &profile);
    }
    let dir = env("VERSA_DATA_DIR").map(PathBuf::from).unwrap_or_else(server::DataDir::default_path);
    let versa = server::credentials::credentials_path(&dir);
    server::credentials::read_profile(&versa, server::credentials::PROFILE).context(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a shared credentials file",
    )
}

/// One CloudWatch JSON 1.0 call; an error answer becomes an error naming its code.
pub(crate) fn call(endpoint: &str, signer: &Signer<'_>, operation: &str, body: &Value) -> anyhow::Result<Value> {
    let target = format!("{TARGET_PREFIX}.{operation}");
    let headers = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", target.as_str()),
        ("x-amzn-query-mode", "true"),
    ];
    let (status, text) = send(endpoint, &http::Method::POST, "/", &headers, body.to_string().as_bytes(), signer)?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status != 200 {
        let code = answer["__type"].as_str().map(|t| t.rsplit('#').next().unwrap_or(t)).unwrap_or("");
        let message = answer["message"].as_str().or(answer["Message"].as_str()).unwrap_or(&text);
        anyhow::bail!("{operation}: the server answered {status} {code}: {message}");
    }
    Ok(answer)
}

/// `--region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1.
pub(crate) fn region(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_owned())
}

pub(crate) fn run(args: MetricsArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.target)?;
    let since = parse_since(&args.since)?;
    let region = region(args.region);
    let key = credentials(None)?;
    let signer = Signer {
        access_key_id: &key.access_key_id,
        secret: &key.secret,
        session_token: key.session_token.as_deref(),
        region: &region,
        service: "monitoring",
    };
    let endpoint = args.endpoint.trim_end_matches('/');
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..LIST_PAGES_MAX {
        let answer = call(endpoint, &signer, "ListMetrics", &list_metrics_body(&target, token.as_deref()))?;
        found.extend(answer["Metrics"].as_array().into_iter().flatten().cloned());
        token = answer["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let rows = rows(&target, &found);
    let (start, end) = window(stdx::time::now_ms(), since);
    let mut figures = vec![Figures::default(); rows.len()];
    let mut token: Option<String> = None;
    for _ in 0..DATA_PAGES_MAX {
        let body = get_metric_data_body(&rows, start, end, token.as_deref());
        let answer = call(endpoint, &signer, "GetMetricData", &body)?;
        collect(&mut figures, &answer);
        token = answer["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    print!("{}", render(&target, start, end, endpoint, &rows, &figures));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(d: &[(&str, &str)]) -> Value {
        let dims: Vec<Value> = d.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect();
        json!({"Namespace": "AWS/Lambda", "MetricName": "Invocations", "Dimensions": dims})
    }

    #[test]
    fn targets_and_windows_parse() {
        assert_eq!(Target::parse("f:prod").unwrap().resource().as_deref(), Some("f:prod"));
        assert!(Target::parse("f:prod").unwrap().is_alias());
        assert!(!Target::parse("f:3").unwrap().is_alias());
        assert_eq!(Target::parse("f").unwrap().qualifier, None);
        for bad in ["", ":x", "f:", "f:a:b"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_since("15m").unwrap(), 15 * MINUTE_MS);
        assert_eq!(parse_since("2h").unwrap(), 120 * MINUTE_MS);
        assert_eq!(parse_since("10s").unwrap(), MINUTE_MS);
        for bad in ["", "15", "m", "15x", "16d", "-1m"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
        // 12:03:30 for 15 minutes: 11:49 to 12:04, whole minutes, the current one included.
        let now = 12 * 3_600_000 + 3 * MINUTE_MS + 30_000;
        assert_eq!(window(now, 15 * MINUTE_MS), (now - 30_000 - 14 * MINUTE_MS, now + 30_000));
        assert_eq!(window(now, 90_000), (now - 30_000 - MINUTE_MS, now + 30_000));
    }

    #[test]
    fn list_metrics_names_the_function_and_resource() {
        let t = Target::parse("f:prod").unwrap();
        let body = list_metrics_body(&t, Some("tok"));
        assert_eq!(
            body,
            json!({
                "Namespace": "AWS/Lambda",
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "FunctionName", "Value": "f"}, {"Name": "Resource", "Value": "f:prod"}],
                "NextToken": "tok",
            })
        );
        let body = list_metrics_body(&Target::parse("f").unwrap(), None);
        assert_eq!(body["Dimensions"], json!([{"Name": "FunctionName", "Value": "f"}]));
        assert!(body.get("NextToken").is_none());
    }

    #[test]
    fn rows_per_executed_version_or_resource() {
        let found = [
            metric(&[("FunctionName", "f"), ("Resource", "f:prod"), ("ExecutedVersion", "10")]),
            metric(&[("Resource", "f:prod"), ("FunctionName", "f"), ("ExecutedVersion", "2")]),
            metric(&[("FunctionName", "f"), ("Resource", "f:prod")]),
            metric(&[("FunctionName", "f"), ("Resource", "f:beta"), ("ExecutedVersion", "3")]),
            metric(&[("FunctionName", "f"), ("Resource", "f:3")]),
            metric(&[("FunctionName", "f")]),
        ];
        let alias = rows(&Target::parse("f:prod").unwrap(), &found);
        let labels: Vec<&str> = alias.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["2", "10", "total"]);
        assert_eq!(
            alias[0].dims,
            [("ExecutedVersion", "2"), ("FunctionName", "f"), ("Resource", "f:prod")]
                .map(|(k, v)| (k.into(), v.into()))
        );
        let function = rows(&Target::parse("f").unwrap(), &found);
        let labels: Vec<&str> = function.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["3", "beta", "prod", "total"]);
        assert_eq!(function[3].dims, [("FunctionName".to_owned(), "f".to_owned())]);
        let version = rows(&Target::parse("f:3").unwrap(), &found);
        assert_eq!(version.len(), 1);
        assert_eq!(version[0].dims[1], ("Resource".to_owned(), "f:3".to_owned()));
        // Nothing recorded yet: the total row alone.
        assert_eq!(rows(&Target::parse("f:prod").unwrap(), &[]).len(), 1);
    }

    #[test]
    fn get_metric_data_asks_four_statistics_per_row_over_one_period() {
        let rows = rows(
            &Target::parse("f:prod").unwrap(),
            &[metric(&[("FunctionName", "f"), ("Resource", "f:prod"), ("ExecutedVersion", "2")])],
        );
        let start = 1_700_000_040_000;
        let body = get_metric_data_body(&rows, start, start + 15 * MINUTE_MS, None);
        assert_eq!(body["StartTime"], json!(1_700_000_040));
        assert_eq!(body["EndTime"], json!(1_700_000_940));
        let q = body["MetricDataQueries"].as_array().unwrap();
        assert_eq!(q.len(), 8);
        let ids: Vec<&str> = q.iter().map(|q| q["Id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["i0", "e0", "p0", "q0", "i1", "e1", "p1", "q1"]);
        assert_eq!(
            q[3],
            json!({
                "Id": "q0",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Duration",
                        "Dimensions": [
                            {"Name": "ExecutedVersion", "Value": "2"},
                            {"Name": "FunctionName", "Value": "f"},
                            {"Name": "Resource", "Value": "f:prod"},
                        ],
                    },
                    "Period": 900,
                    "Stat": "p99",
                },
                "ReturnData": true,
            })
        );
        assert_eq!(q[4]["MetricStat"]["Metric"]["Dimensions"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn results_fill_an_aligned_table() {
        let target = Target::parse("f:prod").unwrap();
        let rows = rows(
            &target,
            &[
                metric(&[("FunctionName", "f"), ("Resource", "f:prod"), ("ExecutedVersion", "1")]),
                metric(&[("FunctionName", "f"), ("Resource", "f:prod"), ("ExecutedVersion", "2")]),
            ],
        );
        let answer = json!({"MetricDataResults": [
            {"Id": "i0", "Label": "i0", "Timestamps": [1.7e9], "Values": [90.0], "StatusCode": "Complete"},
            {"Id": "e0", "Values": [0.0], "StatusCode": "Complete"},
            {"Id": "p0", "Values": [12.25]},
            {"Id": "q0", "Values": [40.0]},
            {"Id": "i1", "Values": [6.0, 4.0]},
            {"Id": "e1", "Values": [3.0]},
            {"Id": "p1", "Values": [15.0]},
            {"Id": "q1", "Values": [250.5, 300.0]},
            {"Id": "i2", "Values": [100.0]},
            {"Id": "e2", "Values": [3.0]},
            {"Id": "p2", "Values": []},
            {"Id": "x9", "Values": [1.0]},
        ]});
        let mut figures = vec![Figures::default(); rows.len()];
        collect(&mut figures, &answer);
        assert_eq!(figures[1], Figures { invocations: 10.0, errors: 3.0, p50: Some(15.0), p99: Some(300.0) });
        let start = 1_700_000_040_000;
        let text = render(&target, start, start + 15 * MINUTE_MS, "http://127.0.0.1:4566", &rows, &figures);
        let expected = "\
f:prod  last 15 min (2023-11-14 22:14:00 to 2023-11-14 22:29:00)  http://127.0.0.1:4566
VERSION  INVOCATIONS  ERRORS  ERROR%  P50 ms  P99 ms
1                 90       0     0.0    12.2    40.0
2                 10       3    30.0    15.0   300.0
total            100       3     3.0       -       -
";
        assert_eq!(text, expected);
    }
}
