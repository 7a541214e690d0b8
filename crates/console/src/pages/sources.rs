//! The Event sources tab: what invokes the function, grouped by the qualifier it names.
//!
//! Each kind of source is one function answering [`Found`]; a new kind (a schedule, a queue, an
//! API route) is one more function and one more line in [`tab`].

use crate::Console;
use crate::pages::function::Subject;
use crate::render;
use crate::session::Ctx;

/// One source pointing at the function.
pub(crate) struct Source {
    /// The alias or version it names; `None` for the unqualified function.
    pub qualifier: Option<String>,
    /// `Function URL`, `S3 bucket notification`, ...
    pub kind: &'static str,
    /// What the source is called where it lives (the URL, the bucket).
    pub name: String,
    pub detail: String,
}

/// A kind's sources, or why they could not be read.
type Found = Result<Vec<Source>, String>;

/// Function URLs (the unqualified one and each alias's).
async fn function_urls(console: &Console, ctx: &Ctx, s: &Subject) -> Found {
    let scope = &ctx.who().scope;
    let (urls, _) = console
        .parts
        .control
        .list_function_urls(scope, &s.name, None, Some(50))
        .await
        .map_err(|e| format!("Function URLs: {}", e))?;
    Ok(urls
        .into_iter()
        .map(|u| {
            let qualifier = u.function_arn.strip_prefix(&format!("{}:", unqualified_arn(s))).map(str::to_owned);
            Source {
                qualifier,
                kind: "Function URL",
                name: format!("/_versa/url/{}/", u.url.url_id),
                detail: format!(
                    "auth type {}; host {}.lambda-url.{}.localhost",
                    u.url.auth_type.as_str(),
                    u.url.url_id,
                    scope.region
                ),
            }
        })
        .collect())
}

/// S3 bucket notifications of the account's buckets that name this function.
async fn bucket_notifications(console: &Console, ctx: &Ctx, s: &Subject) -> Found {
    let scope = &ctx.who().scope;
    let arn = unqualified_arn(s);
    let all = console
        .parts
        .s3
        .lambda_notifications(scope.account.as_str())
        .await
        .ok_or_else(|| "S3 bucket notifications: the bucket metadata cannot be read.".to_owned())?;
    Ok(all
        .into_iter()
        .filter_map(|n| {
            let qualifier = qualifier_of(&n.function_arn, &arn)?;
            let mut detail = format!("{}; events {}", n.id, n.events.join(", "));
            if let Some(p) = &n.prefix {
                detail.push_str(&format!("; prefix {p}"));
            }
            if let Some(x) = &n.suffix {
                detail.push_str(&format!("; suffix {x}"));
            }
            Some(Source { qualifier, kind: "S3 bucket notification", name: n.bucket, detail })
        })
        .collect())
}

/// API Gateway: each REST and HTTP API stage whose deployed integration names the function,
/// under the qualifier its URI names for that stage (`${stageVariables.x}` rendered with the
/// stage's variables).
async fn api_stages(console: &Console, ctx: &Ctx, s: &Subject) -> Found {
    let Some(gw) = &console.parts.apigateway else { return Ok(Vec::new()) };
    let scope = &ctx.who().scope;
    let all = gw
        .stage_targets(scope.account.as_str(), scope.region.as_str())
        .await
        .map_err(|e| format!("API Gateway: {}", e.message))?;
    Ok(all
        .into_iter()
        .filter_map(|t| {
            let target = t.target?;
            let mine = target.function == s.name
                && target.account == scope.account.as_str()
                && target.region == scope.region.as_str();
            if !mine {
                return None;
            }
            let kind = match t.kind {
                apigateway::exec::Kind::Rest => "REST API",
                apigateway::exec::Kind::Http => "HTTP API",
            };
            let mut detail = format!("stage {}, {}", t.stage, t.route);
            if let Some(p) = t.canary_percent {
                detail.push_str(&format!(" (canary, {p}% of requests)"));
            }
            if t.uri.contains("${stageVariables.") {
                detail.push_str(&format!("; URI {}", t.uri));
            }
            Some(Source { qualifier: target.qualifier, kind, name: format!("{} ({})", t.api_name, t.api_id), detail })
        })
        .collect())
}

/// EventBridge rules whose targets name the function, and EventBridge Scheduler schedules.
async fn rules_and_schedules(console: &Console, ctx: &Ctx, s: &Subject) -> Found {
    let Some(eb) = &console.parts.eventbridge else { return Ok(Vec::new()) };
    let arn = unqualified_arn(s);
    let all = eb.targets(&ctx.who().scope).await.map_err(|e| format!("EventBridge: {}", e.message))?;
    Ok(all
        .into_iter()
        .filter_map(|t| {
            let qualifier = qualifier_of(&t.arn, &arn)?;
            let mut detail = Vec::new();
            if let Some(id) = &t.target_id {
                detail.push(format!("target {id}"));
            }
            if let Some(e) = &t.expression {
                detail.push(format!("schedule {e}"));
            }
            if let Some(p) = &t.event_pattern {
                detail.push(format!("pattern {p}"));
            }
            detail.push(t.state.clone());
            let kind = if t.kind == eventbridge::RULE { "EventBridge rule" } else { "EventBridge Scheduler schedule" };
            Some(Source { qualifier, kind, name: t.name, detail: detail.join("; ") })
        })
        .collect())
}

/// Lambda event source mappings (SQS queues, DynamoDB streams) whose function is this one.
async fn event_source_mappings(console: &Console, ctx: &Ctx, s: &Subject) -> Found {
    let scope = &ctx.who().scope;
    let arn = unqualified_arn(s);
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    // Markers only move forward (each page ends at a greater UUID): the loop ends.
    loop {
        let page = console
            .parts
            .control
            .list_event_source_mappings(scope, None, None, marker.as_deref(), None)
            .await
            .map_err(|e| format!("Event source mappings: {e}"))?;
        for m in &page.mappings {
            let Some(qualifier) = m["FunctionArn"].as_str().and_then(|f| qualifier_of(f, &arn)) else { continue };
            let source = m["EventSourceArn"].as_str().unwrap_or_default();
            let kind = if source.starts_with("arn:aws:sqs:") {
                "SQS queue (event source mapping)"
            } else {
                "DynamoDB stream (event source mapping)"
            };
            let detail = format!(
                "mapping {}; state {}; batch size {}",
                m["UUID"].as_str().unwrap_or_default(),
                m["State"].as_str().unwrap_or_default(),
                m["BatchSize"]
            );
            out.push(Source { qualifier, kind, name: source.to_owned(), detail });
        }
        match page.next_marker {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    Ok(out)
}

/// Whether `target` names the function whose unqualified ARN is `arn`: `Some(None)` for the
/// unqualified function, `Some(Some(q))` for qualifier `q`.
fn qualifier_of(target: &str, arn: &str) -> Option<Option<String>> {
    match target.strip_prefix(arn)? {
        "" => Some(None),
        q => Some(Some(q.strip_prefix(':')?.to_owned())),
    }
}

/// The function's ARN without qualifier.
fn unqualified_arn(s: &Subject) -> String {
    let arn = &s.detail.view.arn;
    match &s.qualifier {
        Some(q) => arn.strip_suffix(&format!(":{q}")).unwrap_or(arn).to_owned(),
        None => arn.clone(),
    }
}

struct Group {
    qualifier: String,
    sources: Vec<Source>,
}

#[derive(askama::Template)]
#[template(path = "tab_sources.html")]
struct SourcesTab {
    groups: Vec<Group>,
    errors: Vec<String>,
}

pub(crate) async fn tab(console: &Console, ctx: &Ctx, s: &Subject) -> String {
    let found: Vec<Found> = vec![
        function_urls(console, ctx, s).await,
        bucket_notifications(console, ctx, s).await,
        api_stages(console, ctx, s).await,
        rules_and_schedules(console, ctx, s).await,
        event_source_mappings(console, ctx, s).await,
    ];
    let mut groups: Vec<Group> = Vec::new();
    let mut errors = Vec::new();
    for f in found {
        match f {
            Ok(sources) => {
                for source in sources {
                    let label = match &source.qualifier {
                        Some(q) => format!("Qualifier {q}"),
                        None => "Unqualified ($LATEST)".to_owned(),
                    };
                    match groups.iter_mut().find(|g| g.qualifier == label) {
                        Some(g) => g.sources.push(source),
                        None => groups.push(Group { qualifier: label, sources: vec![source] }),
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    groups.sort_by(|a, b| a.qualifier.cmp(&b.qualifier));
    render::html(&SourcesTab { groups, errors })
}
