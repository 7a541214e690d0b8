//! `GET /_versa/console/functions/{name}?qualifier=Q&tab=T`: the function page — the qualifier
//! selector, the chosen qualifier's ARN and configuration, Actions, and the tabs.

use axum::body::Body;
use axum::http::{Response, StatusCode};
use control::{AliasView, FunctionDetail, VersionView};
use model::name::Version;

use crate::pages::{alias_target, function_href, live, sources};
use crate::render::{self, percent, q, seg};
use crate::session::Ctx;
use crate::{Console, Shown};

/// Most versions and aliases the page reads (ListVersionsByFunction pages of 50).
pub const VERSIONS_SHOWN_MAX: usize = 500;
pub const ALIASES_SHOWN_MAX: usize = 500;
const PAGE: i64 = 50;

/// The tabs, in order: id and label. `traffic`, `deployments` and `history` are [`live`]'s.
pub const TABS: &[(&str, &str)] = &[
    ("configuration", "Configuration"),
    ("versions", "Versions"),
    ("aliases", "Aliases"),
    ("test", "Test"),
    ("logs", "Logs"),
    ("sources", "Event sources"),
    ("traffic", "Traffic"),
    ("deployments", "Deployments"),
    ("history", "History"),
];

/// The function as the page shows it: the chosen qualifier, its configuration, and the
/// function's versions and aliases.
pub(crate) struct Subject {
    pub name: String,
    /// As chosen; `None` is the unqualified function (`$LATEST`).
    pub qualifier: Option<String>,
    pub detail: FunctionDetail,
    /// `$LATEST` first, then published versions in order.
    pub versions: Vec<VersionView>,
    pub aliases: Vec<AliasView>,
    /// `/_versa/console/functions/<name>`.
    pub base: String,
}

impl Subject {
    /// The qualifier's text as a form carries it (`$LATEST` for none).
    pub(crate) fn qualifier_text(&self) -> &str {
        self.qualifier.as_deref().unwrap_or(Version::LATEST)
    }

    /// The alias the qualifier names, if it names one.
    pub(crate) fn alias(&self) -> Option<&AliasView> {
        let q = self.qualifier.as_deref()?;
        self.aliases.iter().find(|a| a.alias.name == q)
    }

    /// `$LATEST` and every published version, as forms offer them.
    pub(crate) fn version_choices(&self) -> Vec<String> {
        self.versions.iter().map(|v| v.record.version.to_string()).collect()
    }

    /// The page's URL for `tab` at the current qualifier.
    pub(crate) fn href(&self, tab: &str) -> String {
        match &self.qualifier {
            Some(qq) => format!("{}?qualifier={}&tab={tab}", self.base, q(qq)),
            None => format!("{}?tab={tab}", self.base),
        }
    }
}

/// What an action adds to the page it shows: an error, the test invoke's result, the form's
/// values to show again.
#[derive(Default)]
pub(crate) struct Outcome {
    pub error: Option<Shown>,
    pub invoke: Option<InvokeResult>,
    pub payload: Option<String>,
}

pub(crate) struct InvokeResult {
    pub failed: bool,
    pub executed_version: String,
    pub request_id: String,
    pub duration_ms: u128,
    pub payload: String,
    pub log: String,
}

/// Reads the function at `qualifier` with its versions and aliases.
pub(crate) async fn subject(
    console: &Console,
    ctx: &Ctx,
    name: &str,
    qualifier: Option<&str>,
) -> Result<Subject, Shown> {
    let scope = &ctx.who().scope;
    let control = &console.parts.control;
    let qualifier = qualifier.filter(|q| !q.is_empty() && *q != Version::LATEST);
    let detail = control.get_function(scope, name, qualifier).await.map_err(|e| console.shown(&e))?;
    let mut versions = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page =
            control.list_versions(scope, name, marker.as_deref(), Some(PAGE)).await.map_err(|e| console.shown(&e))?;
        versions.extend(page.versions);
        marker = page.next_marker;
        if marker.is_none() || versions.len() >= VERSIONS_SHOWN_MAX {
            break;
        }
    }
    let mut aliases = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = control
            .list_aliases(scope, name, None, marker.as_deref(), Some(PAGE))
            .await
            .map_err(|e| console.shown(&e))?;
        aliases.extend(page.aliases);
        marker = page.next_marker;
        if marker.is_none() || aliases.len() >= ALIASES_SHOWN_MAX {
            break;
        }
    }
    Ok(Subject {
        name: detail.view.function_name.clone(),
        qualifier: qualifier.map(str::to_owned),
        detail,
        versions,
        aliases,
        base: function_href(name),
    })
}

pub(crate) async fn page(console: &Console, ctx: &Ctx, name: &str) -> Response<Body> {
    let tab = ctx.param("tab").unwrap_or("configuration").to_owned();
    let qualifier = ctx.param("qualifier").map(str::to_owned);
    show(console, ctx, name, qualifier.as_deref(), &tab, Outcome::default(), StatusCode::OK).await
}

/// Renders the function page at `qualifier` on `tab`, with what an action adds.
pub(crate) async fn show(
    console: &Console,
    ctx: &Ctx,
    name: &str,
    qualifier: Option<&str>,
    tab: &str,
    outcome: Outcome,
    status: StatusCode,
) -> Response<Body> {
    let s = match subject(console, ctx, name, qualifier).await {
        Ok(s) => s,
        Err(e) => {
            let text = format!("{}: {}", e.code, e.message);
            return render::message(console, ctx, crate::status_of(&e.code), name, &text);
        }
    };
    let tab = if TABS.iter().any(|(id, _)| *id == tab) { tab } else { "configuration" };
    let tab_label = TABS.iter().find(|(id, _)| *id == tab).map_or("", |(_, l)| l);
    let body = match tab {
        "versions" => versions_tab(ctx, &s),
        "aliases" => aliases_tab(ctx, &s),
        "test" => test_tab(ctx, &s, &outcome),
        "logs" => super::logs::tab(console, ctx, &s).await,
        "sources" => sources::tab(console, ctx, &s).await,
        "traffic" | "deployments" | "history" => live::tab(console, ctx, &s, tab).await,
        _ => configuration_tab(&s),
    };
    let title = match &s.qualifier {
        Some(q) => format!("{}:{q}", s.name),
        None => s.name.clone(),
    };
    let current = s.qualifier_text().to_owned();
    let option = |value: String, label: String| Opt { selected: value == current, value, label };
    let version_options =
        s.versions.iter().map(|v| v.record.version.to_string()).map(|v| option(v.clone(), v)).collect();
    let alias_options = s
        .aliases
        .iter()
        .map(|a| option(a.alias.name.clone(), format!("{} → {}", a.alias.name, alias_target(&a.alias))))
        .collect();
    let tabs = TABS.iter().map(|(id, label)| TabLink { href: s.href(id), label, current: *id == tab }).collect();
    // The qualifier's function URL, as AWS's overview shows it (versions have none).
    let function_url = console
        .parts
        .control
        .get_function_url(&ctx.who().scope, &s.name, s.qualifier.as_deref())
        .await
        .ok()
        .map(|u| format!("/_versa/url/{}/ (auth type {})", u.url.url_id, u.url.auth_type.as_str()));
    let page = FunctionPage {
        title: &title,
        name: &s.name,
        flash: console.sessions.take_flash(&ctx.session),
        error: outcome.error.as_ref(),
        arn: &s.detail.view.arn,
        description: &s.detail.view.record.config.description,
        modified: render::when(s.detail.view.record.last_modified_ms),
        function_url,
        base: &s.base,
        version_options,
        alias_options,
        tab,
        tab_label,
        tabs,
        csrf: &ctx.csrf,
        body,
    };
    render::page(console, ctx, status, &title, render::html(&page))
}

struct Opt {
    value: String,
    label: String,
    selected: bool,
}

struct TabLink {
    href: String,
    label: &'static str,
    current: bool,
}

#[derive(askama::Template)]
#[template(path = "function.html")]
struct FunctionPage<'a> {
    title: &'a str,
    name: &'a str,
    flash: Option<String>,
    error: Option<&'a Shown>,
    arn: &'a str,
    description: &'a str,
    modified: String,
    function_url: Option<String>,
    base: &'a str,
    version_options: Vec<Opt>,
    alias_options: Vec<Opt>,
    tab: &'a str,
    tab_label: &'a str,
    tabs: Vec<TabLink>,
    csrf: &'a str,
    body: String,
}

#[derive(askama::Template)]
#[template(path = "tab_configuration.html")]
struct ConfigurationTab<'a> {
    qualifier: &'a str,
    routing: Option<String>,
    primary: String,
    rows: Vec<(&'static str, String)>,
    environment: Vec<(String, String)>,
}

fn configuration_tab(s: &Subject) -> String {
    let r = &s.detail.view.record;
    let c = &r.config;
    let mut rows: Vec<(&'static str, String)> = vec![
        ("Version", r.version.to_string()),
        ("Runtime", c.runtime.clone().unwrap_or_default()),
        ("Handler", c.handler.clone().unwrap_or_default()),
        ("Architecture", c.architecture.as_str().to_owned()),
        ("Memory", format!("{} MB", c.memory_mb)),
        ("Ephemeral storage", format!("{} MB", c.ephemeral_storage_mb)),
        ("Timeout", format!("{} s", c.timeout_s)),
        ("Execution role", c.role.clone()),
        ("Code size", format!("{} bytes ({} bytes unzipped)", r.code.size, r.code.unzipped_size)),
        ("Code SHA-256", control::base64_sha(&r.code.sha256)),
        ("Revision id", r.revision_id.to_string()),
        ("Log format", c.logging.log_format.clone()),
        ("Log group", c.logging.log_group.clone().unwrap_or_else(|| format!("/aws/lambda/{}", s.name))),
        (
            "Reserved concurrency",
            s.detail.reserved_concurrency.map_or_else(|| "unreserved".to_owned(), |n| n.to_string()),
        ),
    ];
    let layers: Vec<String> = c.layers.iter().map(|l| l.arn.clone()).collect();
    rows.push(("Layers", layers.join(", ")));
    if !s.detail.tags.is_empty() {
        let tags: Vec<String> = s.detail.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(("Tags", tags.join(", ")));
    }
    let alias = s.alias();
    let page = ConfigurationTab {
        qualifier: s.qualifier_text(),
        routing: alias.map(|a| alias_target(&a.alias)),
        primary: alias.map(|a| a.alias.function_version.to_string()).unwrap_or_default(),
        rows,
        environment: c.environment.clone().unwrap_or_default().into_iter().collect(),
    };
    render::html(&page)
}

struct VersionRow {
    version: String,
    href: String,
    aliases: String,
    description: String,
    modified: String,
    sha: String,
    deletable: bool,
    delete_href: String,
}

#[derive(askama::Template)]
#[template(path = "tab_versions.html")]
struct VersionsTab<'a> {
    name: &'a str,
    base: &'a str,
    csrf: &'a str,
    versions: Vec<VersionRow>,
}

fn versions_tab(ctx: &Ctx, s: &Subject) -> String {
    let versions = s
        .versions
        .iter()
        .map(|v| {
            let r = &v.record;
            let text = r.version.to_string();
            let aliases: Vec<String> = s
                .aliases
                .iter()
                .filter_map(|a| {
                    let a = &a.alias;
                    match (r.version, a.routing) {
                        (ver, _) if a.function_version == ver => match a.routing {
                            Some(w) => Some(format!("{} ({}%)", a.name, percent(1.0 - w.weight))),
                            None => Some(a.name.clone()),
                        },
                        (Version::Published(n), Some(w)) if w.version == n => {
                            Some(format!("{} ({}%)", a.name, percent(w.weight)))
                        }
                        _ => None,
                    }
                })
                .collect();
            VersionRow {
                href: format!("{}?qualifier={}&tab=configuration", s.base, q(&text)),
                delete_href: format!("{}/versions/{}/delete", s.base, seg(&text)),
                deletable: r.version != Version::Latest,
                version: text,
                aliases: aliases.join(", "),
                description: r.config.description.clone(),
                modified: render::when(r.last_modified_ms),
                sha: control::base64_sha(&r.code.sha256),
            }
        })
        .collect();
    render::html(&VersionsTab { name: &s.name, base: &s.base, csrf: &ctx.csrf, versions })
}

struct AliasRow {
    name: String,
    href: String,
    target: String,
    description: String,
    arn: String,
    revision_id: String,
    version: String,
    additional: String,
    weight: String,
    update_href: String,
    delete_href: String,
}

#[derive(askama::Template)]
#[template(path = "tab_aliases.html")]
struct AliasesTab<'a> {
    name: &'a str,
    base: &'a str,
    csrf: &'a str,
    aliases: Vec<AliasRow>,
    version_choices: Vec<String>,
    published_choices: Vec<String>,
}

fn aliases_tab(ctx: &Ctx, s: &Subject) -> String {
    let aliases = s
        .aliases
        .iter()
        .map(|v| {
            let a = &v.alias;
            AliasRow {
                name: a.name.clone(),
                href: format!("{}?qualifier={}", s.base, q(&a.name)),
                target: alias_target(a),
                description: a.description.clone(),
                arn: v.alias_arn.clone(),
                revision_id: a.revision_id.to_string(),
                version: a.function_version.to_string(),
                additional: a.routing.map(|r| r.version.to_string()).unwrap_or_default(),
                weight: a.routing.map(|r| percent(r.weight)).unwrap_or_default(),
                update_href: format!("{}/aliases/{}", s.base, seg(&a.name)),
                delete_href: format!("{}/aliases/{}/delete", s.base, seg(&a.name)),
            }
        })
        .collect();
    let version_choices = s.version_choices();
    let published_choices = version_choices.iter().filter(|v| *v != Version::LATEST).cloned().collect();
    render::html(&AliasesTab {
        name: &s.name,
        base: &s.base,
        csrf: &ctx.csrf,
        aliases,
        version_choices,
        published_choices,
    })
}

#[derive(askama::Template)]
#[template(path = "tab_test.html")]
struct TestTab<'a> {
    base: &'a str,
    csrf: &'a str,
    qualifier: &'a str,
    arn: &'a str,
    payload: &'a str,
    result: Option<&'a InvokeResult>,
}

fn test_tab(ctx: &Ctx, s: &Subject, outcome: &Outcome) -> String {
    let page = TestTab {
        base: &s.base,
        csrf: &ctx.csrf,
        qualifier: s.qualifier_text(),
        arn: &s.detail.view.arn,
        payload: outcome.payload.as_deref().unwrap_or("{}"),
        result: outcome.invoke.as_ref(),
    };
    render::html(&page)
}
