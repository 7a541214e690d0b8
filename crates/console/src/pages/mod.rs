//! The pages. `list`, `function` and `actions` are the AWS-like pages; `live` holds Versa's own
//! tabs (traffic, deployments, history) and pages; `sources` lists what invokes a function.

pub(crate) mod actions;
pub(crate) mod function;
pub(crate) mod list;
pub(crate) mod live;
pub(crate) mod logs;
pub(crate) mod sources;

use model::function::Alias;

use crate::PREFIX;
use crate::render::{percent, seg};

/// `/_versa/console/functions/<name>`.
pub(crate) fn function_href(name: &str) -> String {
    format!("{PREFIX}/functions/{}", seg(name))
}

/// Where an alias sends traffic: `3`, or `3 (90%) and 4 (10%)`.
pub(crate) fn alias_target(a: &Alias) -> String {
    match a.routing {
        None => a.function_version.to_string(),
        Some(r) => {
            format!("{} ({}%) and {} ({}%)", a.function_version, percent(1.0 - r.weight), r.version, percent(r.weight))
        }
    }
}
