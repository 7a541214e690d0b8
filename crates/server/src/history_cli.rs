//! `versa history FUNCTION:ALIAS [--limit N]`: who moved an alias, when, and from which versions
//! and weights to which, newest first, read from a running server's
//! `GET /_versa/functions/{name}/aliases/{alias}/history` (signed for `lambda` with the usual AWS
//! credentials, like every Lambda request).

use anyhow::Context;
use serde_json::Value;

use crate::HistoryArgs;
use crate::client::{Signer, send};
use crate::metrics_cli::{credentials, region};

/// Changes shown when `--limit` is not given.
pub(crate) const LIMIT_DEFAULT: usize = 20;
/// Most changes shown: what the server keeps of one alias (`control::ALIAS_HISTORY_PER_ALIAS_MAX`).
const LIMIT_MAX: usize = control::ALIAS_HISTORY_PER_ALIAS_MAX;
/// Most changes asked for per request (the server's page bound).
const PAGE: usize = control::ALIAS_HISTORY_PAGE_MAX;

/// Percent-encodes a path segment (a function name may be an ARN).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `FUNCTION:ALIAS` (the function may be an ARN: the alias is after the last colon).
fn parse_target(s: &str) -> anyhow::Result<(String, String)> {
    let (function, alias) = s.rsplit_once(':').unwrap_or((s, ""));
    anyhow::ensure!(
        !function.is_empty() && !alias.is_empty() && !alias.bytes().all(|b| b.is_ascii_digit()),
        "name the alias as FUNCTION:ALIAS, not {s:?}"
    );
    Ok((function.to_owned(), alias.to_owned()))
}

/// `2`, `2 (+3 at 20%)`, or `-` for none.
fn show_target(t: &Value) -> String {
    let Some(v) = t["FunctionVersion"].as_str() else { return "-".to_owned() };
    let mut out = v.to_owned();
    if let Some(w) = t["AdditionalVersionWeights"].as_object() {
        for (version, weight) in w {
            let pct = weight.as_f64().unwrap_or(0.0) * 100.0;
            let pct = if pct.fract() == 0.0 { format!("{pct:.0}") } else { format!("{pct:.1}") };
            out.push_str(&format!(" (+{version} at {pct}%)"));
        }
    }
    out
}

/// The table: a header line, then aligned columns.
fn render(name: &str, endpoint: &str, changes: &[Value]) -> String {
    let mut out = format!("{name}  {endpoint}\n");
    if changes.is_empty() {
        out.push_str("(no changes recorded)\n");
        return out;
    }
    let mut table = vec![["TIME", "ACTOR", "OPERATION", "BEFORE", "AFTER"].map(str::to_owned)];
    for c in changes {
        let time = c["Time"].as_str().unwrap_or("-").trim_end_matches('Z').replace('T', " ");
        let kind = c["Actor"]["Kind"].as_str().unwrap_or("-");
        let actor = match c["Actor"]["Id"].as_str().filter(|i| !i.is_empty()) {
            Some(id) => format!("{kind} {id}"),
            None => kind.to_owned(),
        };
        table.push([
            time,
            actor,
            c["Operation"].as_str().unwrap_or("-").to_owned(),
            show_target(&c["Before"]),
            show_target(&c["After"]),
        ]);
    }
    let mut widths = [0usize; 5];
    for line in &table {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for line in &table {
        let text: Vec<String> = line.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn run(args: HistoryArgs) -> anyhow::Result<()> {
    let (function, alias) = parse_target(&args.target)?;
    anyhow::ensure!((1..=LIMIT_MAX).contains(&args.limit), "--limit must be between 1 and {LIMIT_MAX}");
    let region = region(args.region);
    let key = credentials(None)?;
    let signer = Signer {
        access_key_id: &key.access_key_id,
        secret: &key.secret,
        session_token: key.session_token.as_deref(),
        region: &region,
        service: "lambda",
    };
    let endpoint = args.endpoint.trim_end_matches('/');
    let base = format!("/_versa/functions/{}/aliases/{}/history", encode(&function), encode(&alias));
    let mut changes: Vec<Value> = Vec::new();
    let mut before: Option<String> = None;
    while changes.len() < args.limit {
        let want = (args.limit - changes.len()).min(PAGE);
        let path = match &before {
            Some(m) => format!("{base}?before={}&limit={want}", encode(m)),
            None => format!("{base}?limit={want}"),
        };
        let (status, text) = send(endpoint, &http::Method::GET, &path, &[], b"", &signer)?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status != 200 {
            // Lambda's error code travels in a header; the body has the message.
            let message = answer["Message"].as_str().or(answer["message"].as_str()).unwrap_or(&text);
            anyhow::bail!("the server answered {status}: {message}");
        }
        let page = answer["History"].as_array().context("the server's answer has no History")?;
        changes.extend(page.iter().cloned());
        match answer["NextMarker"].as_str() {
            Some(m) if !page.is_empty() => before = Some(m.to_owned()),
            _ => break,
        }
    }
    changes.truncate(args.limit);
    print!("{}", render(&format!("{function}:{alias}"), endpoint, &changes));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn targets_parse_and_segments_encode() {
        assert_eq!(parse_target("f:prod").unwrap(), ("f".to_owned(), "prod".to_owned()));
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:f:prod";
        assert_eq!(parse_target(arn).unwrap().1, "prod");
        assert!(parse_target("f").is_err());
        assert!(parse_target("f:3").is_err(), "a version has no history");
        assert_eq!(encode("arn:aws:lambda"), "arn%3Aaws%3Alambda");
    }

    #[test]
    fn the_table_shows_versions_and_weights() {
        let changes = [
            json!({"Time": "2026-12-05T13:20:01.250Z", "Actor": {"Kind": "Deployment", "Id": "d-ABC"},
                "Operation": "DeploymentStep", "Before": {"FunctionVersion": "2", "AdditionalVersionWeights": {}},
                "After": {"FunctionVersion": "2", "AdditionalVersionWeights": {"3": 0.2}}, "RevisionId": "r"}),
            json!({"Time": "2026-12-05T13:19:00.000Z", "Actor": {"Kind": "Key", "Id": "AKIAEXAMPLE"},
                "Operation": "CreateAlias", "Before": null,
                "After": {"FunctionVersion": "2", "AdditionalVersionWeights": {}}, "RevisionId": "q"}),
        ];
        let text = render("f:prod", "http://127.0.0.1:4566", &changes);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "f:prod  http://127.0.0.1:4566");
        assert!(lines[1].starts_with("TIME") && lines[1].contains("ACTOR") && lines[1].ends_with("AFTER"));
        assert!(lines[2].starts_with("2026-12-05 13:20:01.250  Deployment d-ABC  DeploymentStep  2 "), "{text}");
        assert!(lines[2].ends_with("2 (+3 at 20%)"), "{text}");
        let cells: Vec<&str> = lines[3].split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(cells, ["2026-12-05 13:19:00.000", "Key AKIAEXAMPLE", "CreateAlias", "-", "2"]);
        assert_eq!(
            show_target(&json!({"FunctionVersion": "4", "AdditionalVersionWeights": {"5": 0.125}})),
            "4 (+5 at 12.5%)"
        );
        assert_eq!(render("f:a", "e", &[]), "f:a  e\n(no changes recorded)\n");
    }
}
