//! Versa's own views: the Traffic, Deployments and History tabs, and their pages (alias
//! traffic fragments, deployment progress, stop, promote). Owned by helper `live` (issue 12
//! point 3); until it lands, the tabs say what is coming and the routes do not exist.

use axum::body::Body;
use axum::http::{Method, Response};

use crate::Console;
use crate::pages::function::Subject;
use crate::render;
use crate::session::Ctx;

#[derive(askama::Template)]
#[template(path = "tab_placeholder.html")]
struct Placeholder<'a> {
    text: &'a str,
}

/// The body of the `traffic`, `deployments` or `history` tab of the function page.
pub(crate) async fn tab(_console: &Console, _ctx: &Ctx, _s: &Subject, tab: &str) -> String {
    let text = match tab {
        "traffic" => "Coming: the live traffic split of each alias by executed version.",
        "deployments" => "Coming: deployments of this function and their progress.",
        _ => "Coming: the alias history timeline.",
    };
    render::html(&Placeholder { text })
}

/// The live routes (`…/aliases/{alias}/traffic`, `…/history`, `deployments/{id}`, `…/promote`);
/// `None` lets the console's own route table answer. Runs only for signed-in sessions, after
/// the CSRF check of POSTs.
pub(crate) async fn route(
    _console: &Console,
    _ctx: &mut Ctx,
    _method: &Method,
    _segs: &[&str],
) -> Option<Response<Body>> {
    None
}
