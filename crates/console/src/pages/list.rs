//! `GET /_versa/console/`: the functions of the signed-in account, with their aliases.

use axum::body::Body;
use axum::http::{Response, StatusCode};

use crate::pages::{alias_target, function_href};
use crate::render::{self, q};
use crate::session::Ctx;
use crate::{Console, PREFIX};

/// Functions on one page of the list (ListFunctions' largest page).
pub const FUNCTIONS_PER_PAGE: i64 = 50;
/// Aliases read per function for the list.
pub const ALIASES_PER_FUNCTION: i64 = 50;

struct AliasRow {
    name: String,
    href: String,
    target: String,
}

struct FunctionRow {
    name: String,
    href: String,
    description: String,
    runtime: String,
    modified: String,
    aliases: Vec<AliasRow>,
}

#[derive(askama::Template)]
#[template(path = "list.html")]
struct ListPage {
    account: String,
    region: String,
    flash: Option<String>,
    functions: Vec<FunctionRow>,
    next: Option<String>,
}

pub(crate) async fn page(console: &Console, ctx: &Ctx) -> Response<Body> {
    let who = ctx.who();
    let control = &console.parts.control;
    let list = match control.list_functions(&who.scope, None, None, ctx.param("marker"), Some(FUNCTIONS_PER_PAGE)).await
    {
        Ok(l) => l,
        Err(e) => {
            let shown = console.shown(&e);
            let text = format!("{}: {}", shown.code, shown.message);
            return render::message(console, ctx, crate::status_of(&shown.code), "Functions", &text);
        }
    };
    let mut functions = Vec::with_capacity(list.functions.len());
    for f in list.functions {
        let name = f.function_name.clone();
        let aliases = control
            .list_aliases(&who.scope, &name, None, None, Some(ALIASES_PER_FUNCTION))
            .await
            .map(|p| p.aliases)
            .unwrap_or_default();
        let href = function_href(&name);
        let aliases = aliases
            .iter()
            .map(|a| AliasRow {
                name: a.alias.name.clone(),
                href: format!("{href}?qualifier={}", q(&a.alias.name)),
                target: alias_target(&a.alias),
            })
            .collect();
        let config = &f.record.config;
        functions.push(FunctionRow {
            href,
            name,
            description: config.description.clone(),
            runtime: config.runtime.clone().unwrap_or_else(|| "container image".to_owned()),
            modified: render::when(f.record.last_modified_ms),
            aliases,
        });
    }
    let page = ListPage {
        account: who.scope.account.as_str().to_owned(),
        region: who.scope.region.as_str().to_owned(),
        flash: console.sessions.take_flash(&ctx.session),
        functions,
        next: list.next_marker.map(|m| format!("{PREFIX}/?marker={}", q(&m))),
    };
    render::page(console, ctx, StatusCode::OK, "Functions", render::html(&page))
}
