//! The console's mutations, all POSTs behind the CSRF check: publish, create/update/delete
//! alias, delete version, test invoke. Each calls `control` exactly as the Lambda API handler
//! would; a refusal re-renders the page with the API's error code and message and changes
//! nothing; a success redirects (303) to the page showing the result.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use control::{AliasInput, AliasUpdate, PublishVersion, RoutingInput};
use model::name::Version;

use crate::pages::function::{InvokeResult, Outcome, show};
use crate::pages::function_href;
use crate::render::{self, q};
use crate::session::Ctx;
use crate::{Console, Shown};

/// Largest test-invoke payload: the synchronous Invoke limit (6 MB).
pub const INVOKE_PAYLOAD_BYTES_MAX: usize = 6_291_456;

/// A refused action: the page it came from, with the error, at the API's status; htmx keeps the
/// address bar where it was.
async fn refused(
    console: &Console,
    ctx: &Ctx,
    name: &str,
    qualifier: Option<&str>,
    tab: &str,
    e: Shown,
) -> Response<Body> {
    let status = crate::status_of(&e.code);
    let outcome = Outcome { error: Some(e), ..Outcome::default() };
    let mut r = show(console, ctx, name, qualifier, tab, outcome, status).await;
    r.headers_mut().insert("HX-Push-Url", HeaderValue::from_static("false"));
    r
}

/// After a success: the message on the next page, and there.
fn done(console: &Console, ctx: &Ctx, message: String, to: String) -> Response<Body> {
    console.sessions.flash(&ctx.session, message);
    render::redirect(&to)
}

fn field(ctx: &Ctx, name: &str) -> Option<String> {
    ctx.field(name).map(str::to_owned)
}

/// `POST …/publish` (field `description`).
pub(crate) async fn publish(console: &Console, ctx: &Ctx, name: &str) -> Response<Body> {
    let who = ctx.who();
    let description = field(ctx, "description").filter(|d| !d.is_empty());
    let input = PublishVersion { description, ..PublishVersion::default() };
    let before = newest_version(console, ctx, name).await;
    match console.parts.control.publish_version(&who.scope, name, input).await {
        Ok(v) => {
            let version = v.record.version.to_string();
            let to = format!("{}?qualifier={}&tab=versions", function_href(name), q(&version));
            let message = if before.is_some_and(|b| v.record.version == Version::Published(b)) {
                format!(
                    "Nothing changed since version {version} was published: PublishVersion answered version {version} again."
                )
            } else {
                format!("Published version {version} of {name}.")
            };
            done(console, ctx, message, to)
        }
        Err(e) => refused(console, ctx, name, None, "versions", console.shown(&e)).await,
    }
}

/// The highest published version of the function, if it has one (and can be read).
async fn newest_version(console: &Console, ctx: &Ctx, name: &str) -> Option<u32> {
    let scope = &ctx.who().scope;
    let mut marker: Option<String> = None;
    let mut newest = None;
    loop {
        let page = console.parts.control.list_versions(scope, name, marker.as_deref(), Some(50)).await.ok()?;
        for v in &page.versions {
            if let Version::Published(n) = v.record.version {
                newest = Some(n);
            }
        }
        marker = page.next_marker;
        if marker.is_none() {
            return newest;
        }
    }
}

/// The weighted-alias fields: an additional version and its weight in percent. `None` when no
/// additional version is chosen.
fn weights(ctx: &Ctx) -> Result<Option<BTreeMap<String, Option<f64>>>, Shown> {
    let additional = ctx.field("additional_version").unwrap_or("").trim();
    if additional.is_empty() {
        return Ok(None);
    }
    let text = ctx.field("weight").unwrap_or("").trim();
    // An empty weight is a null weight, which the API refuses with its own message.
    let weight = if text.is_empty() {
        None
    } else {
        match text.parse::<f64>() {
            Ok(p) if p.is_finite() => Some(p / 100.0),
            _ => {
                return Err(Shown {
                    code: "InvalidParameterValueException".to_owned(),
                    message: format!("The weight '{text}' is not a number (a percentage from 0 to 100)."),
                });
            }
        }
    };
    Ok(Some(BTreeMap::from([(additional.to_owned(), weight)])))
}

/// `POST …/aliases` (fields `name`, `description`, `version`, `additional_version`, `weight`).
pub(crate) async fn create_alias(console: &Console, ctx: &Ctx, name: &str) -> Response<Body> {
    let who = ctx.who();
    let weights = match weights(ctx) {
        Ok(w) => w,
        Err(e) => return refused(console, ctx, name, None, "aliases", e).await,
    };
    let input = AliasInput {
        name: field(ctx, "name").map(|n| n.trim().to_owned()),
        function_version: field(ctx, "version"),
        description: field(ctx, "description").filter(|d| !d.is_empty()),
        routing: weights.map(|w| RoutingInput { additional_version_weights: Some(w) }),
    };
    match console.parts.control.create_alias_as(&who.scope, name, input, who.actor.clone()).await {
        Ok(a) => {
            let alias = a.alias.name.clone();
            let to = format!("{}?qualifier={}&tab=aliases", function_href(name), q(&alias));
            done(console, ctx, format!("Created alias {alias} → {}.", super::alias_target(&a.alias)), to)
        }
        Err(e) => refused(console, ctx, name, None, "aliases", console.shown(&e)).await,
    }
}

/// `POST …/aliases/{alias}`: version, description and weights as the form shows them (an empty
/// additional version removes the weights); `revision_id` guards against a concurrent change.
pub(crate) async fn update_alias(console: &Console, ctx: &Ctx, name: &str, alias: &str) -> Response<Body> {
    let who = ctx.who();
    let weights = match weights(ctx) {
        Ok(w) => w,
        Err(e) => return refused(console, ctx, name, Some(alias), "aliases", e).await,
    };
    let input = AliasUpdate {
        function_version: field(ctx, "version"),
        description: field(ctx, "description"),
        routing: Some(RoutingInput { additional_version_weights: Some(weights.unwrap_or_default()) }),
        revision_id: field(ctx, "revision_id").filter(|r| !r.is_empty()),
    };
    match console.parts.control.update_alias_as(&who.scope, name, alias, input, who.actor.clone()).await {
        Ok(a) => {
            let to = format!("{}?qualifier={}&tab=aliases", function_href(name), q(alias));
            done(console, ctx, format!("Updated alias {alias} → {}.", super::alias_target(&a.alias)), to)
        }
        Err(e) => refused(console, ctx, name, Some(alias), "aliases", console.shown(&e)).await,
    }
}

/// `POST …/aliases/{alias}/delete`.
pub(crate) async fn delete_alias(console: &Console, ctx: &Ctx, name: &str, alias: &str) -> Response<Body> {
    let who = ctx.who();
    match console.parts.control.delete_alias_as(&who.scope, name, alias, who.actor.clone()).await {
        Ok(()) => {
            let to = format!("{}?tab=aliases", function_href(name));
            done(console, ctx, format!("Deleted alias {alias}."), to)
        }
        Err(e) => refused(console, ctx, name, None, "aliases", console.shown(&e)).await,
    }
}

/// `POST …/versions/{version}/delete` (DeleteFunction with the version as qualifier).
pub(crate) async fn delete_version(console: &Console, ctx: &Ctx, name: &str, version: &str) -> Response<Body> {
    let who = ctx.who();
    match console.parts.control.delete_function(&who.scope, name, Some(version)).await {
        Ok(()) => {
            let to = format!("{}?tab=versions", function_href(name));
            done(console, ctx, format!("Deleted version {version} of {name}."), to)
        }
        Err(e) => refused(console, ctx, name, None, "versions", console.shown(&e)).await,
    }
}

/// `POST …/invoke` (fields `qualifier`, `payload`): a synchronous invocation with the log
/// tail, shown on the Test tab (no redirect: the result is this page).
pub(crate) async fn invoke(console: &Console, ctx: &Ctx, name: &str) -> Response<Body> {
    let who = ctx.who();
    let qualifier = ctx.field("qualifier").filter(|q| !q.is_empty() && *q != Version::LATEST);
    let payload = ctx.field("payload").unwrap_or("").to_owned();
    let result = run(console, who, name, qualifier, &payload).await;
    let (outcome, status) = match result {
        Ok(r) => (Outcome { invoke: Some(r), payload: Some(payload), ..Outcome::default() }, StatusCode::OK),
        Err(e) => {
            let status = crate::status_of(&e.code);
            (Outcome { error: Some(e), payload: Some(payload), ..Outcome::default() }, status)
        }
    };
    let mut r = show(console, ctx, name, qualifier, "test", outcome, status).await;
    r.headers_mut().insert("HX-Push-Url", HeaderValue::from_static("false"));
    r
}

async fn run(
    console: &Console,
    who: &crate::session::Who,
    name: &str,
    qualifier: Option<&str>,
    payload: &str,
) -> Result<InvokeResult, Shown> {
    if payload.len() > INVOKE_PAYLOAD_BYTES_MAX {
        return Err(Shown {
            code: "RequestEntityTooLargeException".to_owned(),
            message: format!(
                "Request must be smaller than {INVOKE_PAYLOAD_BYTES_MAX} bytes for the InvokeFunction operation"
            ),
        });
    }
    if !payload.is_empty()
        && let Err(e) = serde_json::from_str::<serde_json::Value>(payload)
    {
        return Err(Shown {
            code: "InvalidRequestContentException".to_owned(),
            message: format!("Could not parse request body into json: Could not parse payload into json: {e}"),
        });
    }
    let control = &console.parts.control;
    let scope = &who.scope;
    let target = control.resolve_invoke(scope, name, qualifier).await.map_err(|e| console.shown(&e))?;
    let unreserved = control.unreserved_concurrency(scope).await.map_err(|e| console.shown(&e))?;
    let t = invoke::Target {
        scope: scope.clone(),
        function_id: target.function_id,
        function_name: target.function_name,
        version: target.version,
        record: target.record,
        invoked_arn: target.invoked_arn,
        reserved_concurrency: target.reserved_concurrency,
        unreserved_concurrency: unreserved,
        provisioned_concurrency: target.provisioned_concurrency,
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = invoke::Request {
        request_id: request_id.clone(),
        payload: bytes::Bytes::from(payload.as_bytes().to_vec()),
        client_context: None,
        log_tail: true,
    };
    let started = Instant::now();
    let r = console.parts.engine.invoke(t, request).await.map_err(|e| match e {
        invoke::InvokeError::RuntimeUnavailable(m) => Shown { code: "InvalidRuntimeException".to_owned(), message: m },
        invoke::InvokeError::TooManyEnvironments | invoke::InvokeError::Throttled { .. } => {
            Shown { code: "TooManyRequestsException".to_owned(), message: "Rate Exceeded.".to_owned() }
        }
        invoke::InvokeError::Internal(m) => Shown { code: "ServiceException".to_owned(), message: m },
    })?;
    Ok(InvokeResult {
        failed: r.function_error,
        executed_version: r.executed_version,
        request_id,
        duration_ms: started.elapsed().as_millis(),
        payload: String::from_utf8_lossy(&r.payload).into_owned(),
        log: r.log_tail.map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default(),
    })
}
