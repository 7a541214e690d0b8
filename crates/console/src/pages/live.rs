//! Versa's own views (issue 12 point 3): the Traffic, Deployments and History tabs of the
//! function page, and their pages — an alias's live traffic by executed version (a fragment
//! htmx polls every 2 s: `hx-trigger="every 2s"` in the templates), a deployment's progress (polled while it runs) with stop and
//! stop-and-roll-back, and "promote" (one alias's version to another alias, through a
//! CodeDeploy deployment config).
//!
//! Data comes through public APIs only: `metrics::Recorder::alias_traffic` (the
//! `ExecutedVersion` series), `control` (aliases and their history), and the CodeDeploy API
//! (`CodeDeploy::call`, the same operations and errors as over HTTP; `CodeDeploy::deployment`
//! for the engine's steps). Deployments the console starts use `versa deploy`'s names:
//! application `versa`, group `<function>-<alias>`.

use axum::body::Body;
use axum::http::{Method, Response, StatusCode};
use control::{AliasChange, AliasTarget};
use model::function::Alias;
use serde_json::{Value, json};

use crate::pages::function::{self, Outcome, Subject};
use crate::pages::{alias_target, function_href};
use crate::render::{self, percent, q, when};
use crate::session::Ctx;
use crate::{Console, PREFIX, Shown};

/// The window the traffic panels count over, in minutes (the current one included).
pub const TRAFFIC_MINUTES: i64 = 5;
/// Most aliases the Traffic tab shows a panel for.
pub const TRAFFIC_ALIASES_MAX: usize = 20;
/// Most history rows read per alias, and shown in all.
pub const HISTORY_PER_ALIAS: i64 = 50;
pub const HISTORY_SHOWN_MAX: usize = 100;
/// Most aliases whose history the History tab merges.
pub const HISTORY_ALIASES_MAX: usize = 20;
/// Most deployments listed per alias on the Deployments tab.
pub const DEPLOYMENTS_PER_ALIAS: usize = 10;
/// The CodeDeploy application the console (like `versa deploy`) deploys in.
pub const APPLICATION: &str = "versa";

const MINUTE_MS: i64 = 60_000;

/// What a path segment keeps unencoded: RFC 3986's unreserved characters (deployment ids and
/// alias names read as they are).
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// The live routes; `None` lets the console's own route table answer. Runs only for
/// signed-in sessions, after the CSRF check of POSTs.
pub(crate) async fn route(console: &Console, ctx: &mut Ctx, method: &Method, segs: &[&str]) -> Option<Response<Body>> {
    Some(match (method, segs) {
        (&Method::GET, ["functions", name, "aliases", alias, "traffic"]) => {
            traffic_page(console, ctx, name, alias).await
        }
        (&Method::GET, ["functions", name, "history"]) => {
            let alias = ctx.param("alias").map(|a| format!("&alias={}", q(a))).unwrap_or_default();
            render::redirect(&format!("{}?tab=history{alias}", function_href(name)))
        }
        (&Method::GET, ["deployments", id]) => deployment_page(console, ctx, id, None).await,
        (&Method::POST, ["deployments", id, "stop"]) => stop(console, ctx, id).await,
        (&Method::POST, ["functions", name, "promote"]) => promote(console, ctx, name).await,
        _ => return None,
    })
}

/// The body of the `traffic`, `deployments` or `history` tab of the function page.
pub(crate) async fn tab(console: &Console, ctx: &Ctx, s: &Subject, tab: &str) -> String {
    match tab {
        "traffic" => traffic_tab(console, ctx, s).await,
        "deployments" => deployments_tab(console, ctx, s).await,
        _ => history_tab(console, ctx, s).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Traffic

struct TrafficRow {
    version: String,
    configured: String,
    invocations: u64,
    /// Share of the alias's invocations, percent, rounded.
    share: u64,
    errors: u64,
    error_rate: String,
}

#[derive(askama::Template)]
#[template(path = "live_traffic.html")]
struct TrafficPanel<'a> {
    function: &'a str,
    alias: &'a str,
    target: String,
    url: String,
    minutes: i64,
    as_of: String,
    rows: Vec<TrafficRow>,
    total: u64,
    total_errors: u64,
}

/// The versions `alias` may have run in the window: its routing now, then every version its
/// history names since `from_ms` (newest first; one page of history).
async fn candidate_versions(console: &Console, ctx: &Ctx, function: &str, alias: &Alias, from_ms: i64) -> Vec<String> {
    let mut out = vec![alias.function_version.to_string()];
    if let Some(r) = alias.routing {
        out.push(r.version.to_string());
    }
    let page = console
        .parts
        .control
        .alias_history(&ctx.who().scope, function, &alias.name, Some(control::ALIAS_HISTORY_PAGE_MAX as i64), None)
        .await;
    for c in page.map(|p| p.changes).unwrap_or_default().iter().take_while(|c| c.time_ms >= from_ms) {
        for t in [&c.before, &c.after].into_iter().flatten() {
            out.push(t.function_version.clone());
            out.extend(t.weights.iter().map(|(v, _)| v.clone()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| seen.insert(v.clone()));
    out
}

async fn traffic_panel(console: &Console, ctx: &Ctx, function: &str, alias: &Alias) -> String {
    let now = stdx::time::now_ms();
    let to = metrics::minute_of(now) + MINUTE_MS;
    let from = to - TRAFFIC_MINUTES * MINUTE_MS;
    let versions = candidate_versions(console, ctx, function, alias, from).await;
    let scope = &ctx.who().scope;
    let observed = console
        .parts
        .metrics
        .alias_traffic(
            &metrics::FunctionAt {
                account: scope.account.as_str(),
                region: scope.region.as_str(),
                function,
                qualifier: Some(&alias.name),
            },
            &versions,
            from,
            to,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "console: cannot read alias traffic");
            Vec::new()
        });
    let total: u64 = observed.iter().map(|t| t.invocations).sum();
    let configured = |v: &str| -> String {
        let primary = alias.function_version.to_string();
        match alias.routing {
            Some(r) if r.version.to_string() == v => format!("{}%", percent(r.weight)),
            Some(r) if primary == v => format!("{}%", percent(1.0 - r.weight)),
            None if primary == v => "100%".to_owned(),
            _ => "—".to_owned(),
        }
    };
    let mut rows: Vec<TrafficRow> = Vec::new();
    // Configured versions first (even without traffic), then whatever else answered.
    let mut order: Vec<String> = vec![alias.function_version.to_string()];
    if let Some(r) = alias.routing {
        order.push(r.version.to_string());
    }
    order.extend(observed.iter().map(|t| t.version.clone()).filter(|v| !order.contains(v)).collect::<Vec<_>>());
    for v in order {
        let t = observed.iter().find(|t| t.version == v);
        let (invocations, errors) = t.map_or((0, 0), |t| (t.invocations, t.errors));
        let share = (invocations * 100 + total / 2).checked_div(total).unwrap_or(0);
        let error_rate = if invocations > 0 {
            format!("{}%", percent(errors as f64 / invocations as f64))
        } else {
            "—".to_owned()
        };
        rows.push(TrafficRow { configured: configured(&v), version: v, invocations, share, errors, error_rate });
    }
    let panel = TrafficPanel {
        function,
        alias: &alias.name,
        target: alias_target(alias),
        url: format!("{}/aliases/{}/traffic", function_href(function), seg(&alias.name)),
        minutes: TRAFFIC_MINUTES,
        as_of: when(now),
        total,
        total_errors: rows.iter().map(|r| r.errors).sum(),
        rows,
    };
    render::html(&panel)
}

async fn traffic_tab(console: &Console, ctx: &Ctx, s: &Subject) -> String {
    let mut out = format!(
        "<p>Which version really answered each alias over the last {TRAFFIC_MINUTES} minutes (the Invocations and \
         Errors metrics by <code>ExecutedVersion</code>), next to the configured weights. With JavaScript on, the \
         tables refresh every 2 seconds. <a href=\"{}\">Promote one alias's version to another…</a></p>",
        s.href("deployments")
    );
    if s.aliases.is_empty() {
        out.push_str("<p>No aliases yet: traffic is counted per alias.</p>");
    }
    for a in s.aliases.iter().take(TRAFFIC_ALIASES_MAX) {
        out.push_str(&traffic_panel(console, ctx, &s.name, &a.alias).await);
    }
    out
}

/// `GET …/functions/{name}/aliases/{alias}/traffic`: one panel (the fragment htmx polls; with
/// JavaScript off, a page of its own).
async fn traffic_page(console: &Console, ctx: &Ctx, name: &str, alias: &str) -> Response<Body> {
    match console.parts.control.get_alias(&ctx.who().scope, name, alias).await {
        Ok(view) => {
            let panel = traffic_panel(console, ctx, name, &view.alias).await;
            let body = if ctx.fragment {
                panel
            } else {
                format!(
                    "<title>Traffic of {t} · Versa console</title><nav aria-label=\"Breadcrumb\" class=\"crumbs\"><a \
                     href=\"{PREFIX}/\">Functions</a> › <a href=\"{href}\">{f}</a></nav><h1>Traffic of {t}</h1>{panel}",
                    t = escape(&format!("{name}:{alias}")),
                    f = escape(name),
                    href = escape(&format!("{}?tab=traffic", function_href(name))),
                )
            };
            render::page(console, ctx, StatusCode::OK, &format!("Traffic of {name}:{alias}"), body)
        }
        Err(e) => {
            let e = console.shown(&e);
            render::message(console, ctx, crate::status_of(&e.code), "Traffic", &format!("{}: {}", e.code, e.message))
        }
    }
}

/// HTML-escapes text put into markup written by hand (templates escape by themselves).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Deployments

fn group_name(function: &str, alias: &str) -> String {
    format!("{function}-{alias}")
}

fn deployments_off() -> Shown {
    Shown { code: "ServiceUnavailable".to_owned(), message: "CodeDeploy is not enabled on this server.".to_owned() }
}

fn cd_shown(e: &codedeploy::Error) -> Shown {
    Shown { code: e.code.to_owned(), message: e.message.clone() }
}

/// One deployment as the lists show it.
struct DeploymentLine {
    id: String,
    href: String,
    alias: String,
    status: String,
    config: String,
    versions: String,
    created: String,
    create_ms: i64,
}

#[derive(askama::Template)]
#[template(path = "live_deployments.html")]
struct DeploymentsTab<'a> {
    promote_href: String,
    csrf: &'a str,
    aliases: Vec<String>,
    source: String,
    target: String,
    configs: Vec<String>,
    config: String,
    enabled: bool,
    deployments: Vec<DeploymentLine>,
}

fn line(d: &codedeploy::engine::Deployment) -> DeploymentLine {
    let (alias, versions) = match &d.spec {
        Some(s) => (s.alias.clone(), format!("{} → {}", s.current, s.target)),
        None => (d.group.clone(), "—".to_owned()),
    };
    DeploymentLine {
        href: format!("{PREFIX}/deployments/{}", seg(&d.id)),
        id: d.id.clone(),
        alias,
        status: d.status.clone(),
        config: d.config_name.clone(),
        versions,
        created: when(d.create_ms),
        create_ms: d.create_ms,
    }
}

/// Every deployment config the promote form offers: the predefined Lambda ones and the
/// account's own (ListDeploymentConfigs), Lambda's first.
async fn config_names(cd: &codedeploy::CodeDeploy, ctx: &Ctx) -> Vec<String> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let mut input = json!({});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let Ok(page) = cd.call(&ctx.who().scope, "ListDeploymentConfigs", &input).await else { break };
        names.extend(
            page["deploymentConfigsList"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned)),
        );
        token = page["nextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    // Lambda's predefined configs first, then the account's; other platforms' are of no use here.
    let lambda = |n: &String| n.starts_with("CodeDeployDefault.Lambda");
    let mut out: Vec<String> = names.iter().filter(|n| lambda(n)).cloned().collect();
    out.extend(names.iter().filter(|n| !n.starts_with("CodeDeployDefault.")).cloned());
    out
}

async fn deployments_tab(console: &Console, ctx: &Ctx, s: &Subject) -> String {
    let aliases: Vec<String> = s.aliases.iter().map(|a| a.alias.name.clone()).collect();
    let pick = |want: &str, fallback: usize| {
        if aliases.iter().any(|a| a == want) {
            want.to_owned()
        } else {
            aliases.get(fallback).cloned().unwrap_or_default()
        }
    };
    let source = ctx.field("source").map(str::to_owned).unwrap_or_else(|| pick("beta", 0));
    let target = ctx.field("target").map(str::to_owned).unwrap_or_else(|| pick("prod", 1));
    let mut deployments = Vec::new();
    let mut configs = Vec::new();
    if let Some(cd) = &console.parts.codedeploy {
        configs = config_names(cd, ctx).await;
        let scope = &ctx.who().scope;
        for a in aliases.iter().take(TRAFFIC_ALIASES_MAX) {
            let input = json!({"applicationName": APPLICATION, "deploymentGroupName": group_name(&s.name, a)});
            let Ok(list) = cd.call(scope, "ListDeployments", &input).await else { continue };
            for id in list["deployments"].as_array().into_iter().flatten().take(DEPLOYMENTS_PER_ALIAS) {
                if let Some(id) = id.as_str()
                    && let Ok(d) = cd.deployment(scope, id).await
                {
                    deployments.push(line(&d));
                }
            }
        }
        deployments.sort_by(|a, b| b.create_ms.cmp(&a.create_ms).then_with(|| b.id.cmp(&a.id)));
    }
    let config = ctx
        .field("config")
        .map(str::to_owned)
        .unwrap_or_else(|| "CodeDeployDefault.LambdaCanary10Percent5Minutes".to_owned());
    render::html(&DeploymentsTab {
        promote_href: format!("{}/promote", function_href(&s.name)),
        csrf: &ctx.csrf,
        aliases,
        source,
        target,
        configs,
        config,
        enabled: console.parts.codedeploy.is_some(),
        deployments,
    })
}

/// `POST …/functions/{name}/promote` (`source`, `target`, `config`): deploys the source alias's
/// version to the target alias through the config, then shows the deployment's progress.
async fn promote(console: &Console, ctx: &Ctx, name: &str) -> Response<Body> {
    match start_promotion(console, ctx, name).await {
        Ok(id) => {
            console.sessions.flash(&ctx.session, format!("Deployment {id} started."));
            render::redirect(&format!("{PREFIX}/deployments/{}", seg(&id)))
        }
        Err(e) => {
            let status = if e.code.ends_with("NotFoundException") || e.code.ends_with("DoesNotExistException") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            let outcome = Outcome { error: Some(e), ..Outcome::default() };
            function::show(console, ctx, name, None, "deployments", outcome, status).await
        }
    }
}

async fn start_promotion(console: &Console, ctx: &Ctx, name: &str) -> Result<String, Shown> {
    let cd = console.parts.codedeploy.as_ref().ok_or_else(deployments_off)?;
    let scope = &ctx.who().scope;
    let field = |f: &str| ctx.field(f).unwrap_or("").trim().to_owned();
    let (source, target, config) = (field("source"), field("target"), field("config"));
    let invalid = |m: &str| Shown { code: "InvalidParameterValueException".to_owned(), message: m.to_owned() };
    if source.is_empty() || target.is_empty() {
        return Err(invalid("Choose the alias to promote from and the alias to promote to."));
    }
    if source == target {
        return Err(invalid("The source and target aliases are the same alias."));
    }
    let control = &console.parts.control;
    let from = control.get_alias(scope, name, &source).await.map_err(|e| console.shown(&e))?;
    let to = control.get_alias(scope, name, &target).await.map_err(|e| console.shown(&e))?;
    let version = from.alias.function_version.to_string();
    let current = to.alias.function_version.to_string();
    if version.parse::<u32>().is_err() {
        return Err(invalid(&format!("{name}:{source} points at {version}; a deployment needs a published version.")));
    }
    if version == current && to.alias.routing.is_none() {
        return Err(invalid(&format!("{name}:{target} is already on version {version}.")));
    }
    let application = json!({"applicationName": APPLICATION, "computePlatform": "Lambda"});
    ignore(cd.call(scope, "CreateApplication", &application).await, "ApplicationAlreadyExistsException")?;
    let group = json!({
        "applicationName": APPLICATION,
        "deploymentGroupName": group_name(name, &target),
        "serviceRoleArn": format!("arn:aws:iam::{}:role/versa-deploy", scope.account.as_str()),
        "deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce",
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        // Stop means stop: the console offers "stop and roll back" for the other.
        "autoRollbackConfiguration": {"enabled": true, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
    });
    ignore(cd.call(scope, "CreateDeploymentGroup", &group).await, "DeploymentGroupAlreadyExistsException")?;
    let spec = json!({
        "version": 0.0,
        "Resources": [{name: {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Name": name, "Alias": target, "CurrentVersion": current, "TargetVersion": version},
        }}],
    });
    let input = json!({
        "applicationName": APPLICATION,
        "deploymentGroupName": group_name(name, &target),
        "deploymentConfigName": config,
        "description": format!("Promote {name}:{source} (version {version}) to {target}, from the console"),
        "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": spec.to_string()}},
    });
    let answer = cd.call(scope, "CreateDeployment", &input).await.map_err(|e| cd_shown(&e))?;
    answer["deploymentId"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| invalid("CreateDeployment answered no deploymentId."))
}

fn ignore(r: Result<Value, codedeploy::Error>, code: &str) -> Result<(), Shown> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code == code => Ok(()),
        Err(e) => Err(cd_shown(&e)),
    }
}

struct StepLine {
    n: usize,
    state: String,
    status: &'static str,
}

struct EventLine {
    name: String,
    status: String,
    start: String,
    end: String,
}

#[derive(askama::Template)]
#[template(path = "live_deployment.html")]
struct DeploymentPage<'a> {
    title: String,
    flash: Option<String>,
    error: Option<&'a Shown>,
    id: &'a str,
    url: String,
    active: bool,
    status: String,
    config: String,
    function: String,
    function_href: String,
    alias: String,
    versions: String,
    description: String,
    created: String,
    started: String,
    completed: String,
    failure: Option<(String, String)>,
    rollback_href: Option<(String, String)>,
    rolls_back_href: Option<(String, String)>,
    next_step: Option<String>,
    alias_now: String,
    written: String,
    steps: Vec<StepLine>,
    alarms: Vec<String>,
    events: Vec<EventLine>,
    hooks: Vec<(String, String, String)>,
    csrf: &'a str,
    stop_href: String,
}

fn state_text(s: &codedeploy::configs::AliasState) -> String {
    match s.weight {
        Some((v, w)) => format!("{} ({}%) and {v} ({}%)", s.primary, percent(1.0 - w), percent(w)),
        None => format!("{} (100%)", s.primary),
    }
}

fn deployment_href(id: &str) -> String {
    format!("{PREFIX}/deployments/{}", seg(id))
}

/// `GET /_versa/console/deployments/{id}`: the progress (polled while the deployment runs).
async fn deployment_page(console: &Console, ctx: &Ctx, id: &str, error: Option<Shown>) -> Response<Body> {
    let Some(cd) = &console.parts.codedeploy else {
        let e = deployments_off();
        return render::message(console, ctx, StatusCode::NOT_FOUND, "Deployment", &e.message);
    };
    let scope = &ctx.who().scope;
    let d = match cd.deployment(scope, id).await {
        Ok(d) => d,
        Err(e) => {
            return render::message(
                console,
                ctx,
                StatusCode::NOT_FOUND,
                "Deployment",
                &format!("{}: {}", e.code, e.message),
            );
        }
    };
    let (function, alias, versions) = match &d.spec {
        Some(s) => (s.function.clone(), s.alias.clone(), format!("{} → {}", s.current, s.target)),
        None => (String::new(), String::new(), "—".to_owned()),
    };
    let alias_now = if function.is_empty() {
        "—".to_owned()
    } else {
        match console.parts.control.get_alias(scope, &function, &alias).await {
            Ok(v) => alias_target(&v.alias),
            Err(e) => console.shown(&e).message,
        }
    };
    let done = |i: usize| i < d.step;
    let steps = d
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepLine {
            n: i + 1,
            state: state_text(s),
            status: if done(i) {
                "done"
            } else if d.active() && i == d.step {
                "next"
            } else if d.active() {
                "pending"
            } else {
                "not done"
            },
        })
        .collect();
    let opt_when = |t: Option<i64>| t.map(when).unwrap_or_else(|| "—".to_owned());
    let page = DeploymentPage {
        title: format!("Deployment {}", d.id),
        flash: console.sessions.take_flash(&ctx.session),
        error: error.as_ref(),
        id: &d.id,
        url: deployment_href(&d.id),
        active: d.active(),
        status: d.status.clone(),
        config: d.config_name.clone(),
        function_href: if function.is_empty() { format!("{PREFIX}/") } else { function_href(&function) },
        function,
        alias,
        versions,
        description: d.description.clone().unwrap_or_default(),
        created: when(d.create_ms),
        started: opt_when(d.start_ms),
        completed: opt_when(d.complete_ms),
        failure: d.error.clone(),
        rollback_href: d.rollback_deployment_id.as_deref().map(|r| (r.to_owned(), deployment_href(r))),
        rolls_back_href: d.rollback_triggering_id.as_deref().map(|r| (r.to_owned(), deployment_href(r))),
        next_step: if d.active() { d.next_due_ms.map(when) } else { None },
        alias_now,
        written: d.alias_state.as_ref().map(state_text).unwrap_or_else(|| "—".to_owned()),
        steps,
        alarms: d.alarm_names(),
        events: d
            .events
            .iter()
            .map(|e| EventLine {
                name: e.name.clone(),
                status: e.status.clone(),
                start: opt_when(e.start_ms),
                end: opt_when(e.end_ms),
            })
            .collect(),
        hooks: d.hooks.iter().map(|h| (h.event.clone(), h.function.clone(), h.status.clone())).collect(),
        csrf: &ctx.csrf,
        stop_href: format!("{}/stop", deployment_href(&d.id)),
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let title = page.title.clone();
    render::page(console, ctx, status, &title, render::html(&page))
}

/// `POST /_versa/console/deployments/{id}/stop` (`rollback=true|false`): StopDeployment.
async fn stop(console: &Console, ctx: &Ctx, id: &str) -> Response<Body> {
    let Some(cd) = &console.parts.codedeploy else {
        return deployment_page(console, ctx, id, Some(deployments_off())).await;
    };
    let rollback = ctx.field("rollback") == Some("true");
    let input = json!({"deploymentId": id, "autoRollbackEnabled": rollback});
    match cd.call(&ctx.who().scope, "StopDeployment", &input).await {
        Ok(_) => {
            let what = if rollback { "stopped and rolled back" } else { "stopped" };
            console.sessions.flash(&ctx.session, format!("Deployment {id} {what}."));
            render::redirect(&deployment_href(id))
        }
        Err(e) => deployment_page(console, ctx, id, Some(cd_shown(&e))).await,
    }
}

// ---------------------------------------------------------------------------------------------
// History

struct HistoryLine {
    time: String,
    alias: String,
    actor: String,
    actor_href: Option<String>,
    operation: String,
    before: String,
    after: String,
}

#[derive(askama::Template)]
#[template(path = "live_history.html")]
struct HistoryTab {
    filters: Vec<(String, String, bool)>,
    lines: Vec<HistoryLine>,
    error: Option<Shown>,
}

fn target_text(t: Option<&AliasTarget>) -> String {
    match t {
        None => "—".to_owned(),
        Some(t) if t.weights.is_empty() => t.function_version.clone(),
        Some(t) => {
            let extra: f64 = t.weights.iter().map(|(_, w)| w).sum();
            let mut s = format!("{} ({}%)", t.function_version, percent(1.0 - extra));
            for (v, w) in &t.weights {
                s.push_str(&format!(" and {v} ({}%)", percent(*w)));
            }
            s
        }
    }
}

fn history_line(alias: &str, c: &AliasChange) -> HistoryLine {
    let (actor, actor_href) = match c.actor_kind.as_str() {
        "Key" => (format!("key {}", c.actor_id), None),
        "Deployment" => (format!("deployment {}", c.actor_id), Some(deployment_href(&c.actor_id))),
        "Pipeline" => (format!("pipeline run {}", c.actor_id), None),
        "Anonymous" => ("anonymous (authentication off)".to_owned(), None),
        "System" => ("Versa".to_owned(), None),
        other => (format!("{other} {}", c.actor_id), None),
    };
    HistoryLine {
        time: when(c.time_ms),
        alias: alias.to_owned(),
        actor,
        actor_href,
        operation: c.operation.clone(),
        before: target_text(c.before.as_ref()),
        after: target_text(c.after.as_ref()),
    }
}

async fn history_tab(console: &Console, ctx: &Ctx, s: &Subject) -> String {
    let only = ctx.param("alias").filter(|a| !a.is_empty());
    let mut names: Vec<String> = s.aliases.iter().take(HISTORY_ALIASES_MAX).map(|a| a.alias.name.clone()).collect();
    let mut filters = vec![("All aliases".to_owned(), format!("{}?tab=history", s.base), only.is_none())];
    for n in &names {
        filters.push((n.clone(), format!("{}?tab=history&alias={}", s.base, q(n)), only == Some(n.as_str())));
    }
    if let Some(a) = only {
        names = vec![a.to_owned()];
    }
    let mut rows: Vec<(i64, HistoryLine)> = Vec::new();
    let mut error = None;
    for n in &names {
        match console.parts.control.alias_history(&ctx.who().scope, &s.name, n, Some(HISTORY_PER_ALIAS), None).await {
            Ok(page) => rows.extend(page.changes.iter().map(|c| (c.time_ms, history_line(n, c)))),
            Err(e) => error = Some(console.shown(&e)),
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows.truncate(HISTORY_SHOWN_MAX);
    render::html(&HistoryTab { filters, lines: rows.into_iter().map(|(_, l)| l).collect(), error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_as_versions_and_weights() {
        assert_eq!(target_text(None), "—");
        let t = AliasTarget { function_version: "1".into(), weights: vec![] };
        assert_eq!(target_text(Some(&t)), "1");
        let t = AliasTarget { function_version: "1".into(), weights: vec![("2".into(), 0.1)] };
        assert_eq!(target_text(Some(&t)), "1 (90%) and 2 (10%)");
        let s = codedeploy::configs::AliasState { primary: 3, weight: Some((4, 0.25)) };
        assert_eq!(state_text(&s), "3 (75%) and 4 (25%)");
        assert_eq!(escape("<a href='x'>&\""), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;");
    }
}
