//! The web console at `/_versa/console/`: server-rendered pages (askama templates, HTML-escaped
//! by default) with a vendored htmx that only enhances links and forms, so every page reads with
//! JavaScript off.
//!
//! **The one rule:** the console calls `control` (and the public APIs of `invoke`, `logs`,
//! `metrics`, `codedeploy` and `s3`), never the store: anything it shows or changes goes through
//! the same validation and the same errors as the Lambda API.
//!
//! The console does its own authentication (a cookie session, [`session`]), not SigV4; `api`
//! hands it every request whose path [`is_console_path`] before any AWS service sees it.

#![forbid(unsafe_code)]

mod pages;
mod render;
mod session;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode};
use control::{Control, ControlError};
use model::scope::Region;

use crate::session::Ctx;
use crate::session::Sessions;

/// Where the console is served.
pub const PREFIX: &str = "/_versa/console";

/// Largest form body the console reads (a test invoke's payload is at most 6 MB, and a form
/// encodes it in up to three bytes a byte).
pub const FORM_BYTES_MAX: usize = 20 * 1024 * 1024;

/// Whether `path` is the console's: `/_versa/console` or below `/_versa/console/`.
pub fn is_console_path(path: &str) -> bool {
    path == PREFIX || path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

/// What the server hands the console once.
pub struct Parts {
    pub control: Arc<Control>,
    pub engine: Arc<invoke::Engine>,
    pub keys: Arc<control::Keys>,
    pub s3: s3::S3,
    pub metrics: metrics::Recorder,
    pub codedeploy: Option<codedeploy::CodeDeploy>,
    /// API Gateway (the Event sources tab lists the stages whose integrations name the function).
    pub apigateway: Option<apigateway::ApiGateway>,
    /// EventBridge (rules' targets and Scheduler's schedules, for the Event sources tab).
    pub eventbridge: Option<eventbridge::EventBridge>,
    /// The region the console acts in (the server's default region).
    pub region: Region,
    /// `--auth sigv4`: ask for an access key id and secret; otherwise every visitor acts in the
    /// default account, and a banner says so.
    pub login: bool,
    /// The AWS error code of a control error, as the Lambda API answers it (`api` owns the one
    /// mapping).
    pub error_code: fn(&ControlError) -> &'static str,
}

/// The console: its collaborators and its sessions.
pub struct Console {
    pub(crate) parts: Parts,
    pub(crate) sessions: Sessions,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").field("login", &self.parts.login).finish_non_exhaustive()
    }
}

/// What the listener knows about the connection a request came on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Connection {
    /// The request came over TLS: the session cookie is `Secure`.
    pub secure: bool,
}

impl Console {
    pub fn new(parts: Parts) -> Console {
        Console { parts, sessions: Sessions::new() }
    }

    /// Serves one request below [`PREFIX`].
    pub async fn handle(&self, req: Request<Body>, conn: Connection) -> Response<Body> {
        let path = req.uri().path().to_owned();
        let rest = path.strip_prefix(PREFIX).unwrap_or("");
        if rest.is_empty() {
            return render::redirect(&format!("{PREFIX}/"));
        }
        let segments: Vec<String> = rest
            .trim_start_matches('/')
            .split('/')
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        // HEAD is GET without the body (hyper drops it).
        let method = if req.method() == Method::HEAD { Method::GET } else { req.method().clone() };
        if let (&Method::GET, ["static", file]) = (&method, segs.as_slice()) {
            let gzip_ok = req
                .headers()
                .get_all(axum::http::header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|e| {
                    e.split(';').next().is_some_and(|e| e.trim() == "gzip") && !e.replace(' ', "").ends_with(";q=0")
                });
            return render::asset(file, gzip_ok);
        }
        let mut ctx = match Ctx::open(self, req, conn).await {
            Ok(ctx) => ctx,
            Err(response) => return response,
        };
        let mut response = self.route(&mut ctx, &method, &segs).await;
        ctx.finish(&mut response);
        response
    }

    /// The route table: method and path segments → page.
    async fn route(&self, ctx: &mut Ctx, method: &Method, segs: &[&str]) -> Response<Body> {
        use pages::{actions, function, list};
        match (method, segs) {
            (&Method::GET, ["login"]) => return session::login_page(self, ctx, None),
            (&Method::POST, ["login"]) => return session::login(self, ctx),
            (&Method::POST, ["logout"]) => return session::logout(self, ctx),
            _ => {}
        }
        if ctx.who.is_none() {
            return render::redirect(&format!("{PREFIX}/login"));
        }
        if let Some(r) = pages::live::route(self, ctx, method, segs).await {
            return r;
        }
        match (method, segs) {
            (&Method::GET, [""]) => list::page(self, ctx).await,
            (&Method::GET, ["functions", name]) => function::page(self, ctx, name).await,
            (&Method::POST, ["functions", name, "publish"]) => actions::publish(self, ctx, name).await,
            (&Method::POST, ["functions", name, "aliases"]) => actions::create_alias(self, ctx, name).await,
            (&Method::POST, ["functions", name, "aliases", alias]) => {
                actions::update_alias(self, ctx, name, alias).await
            }
            (&Method::POST, ["functions", name, "aliases", alias, "delete"]) => {
                actions::delete_alias(self, ctx, name, alias).await
            }
            (&Method::POST, ["functions", name, "versions", version, "delete"]) => {
                actions::delete_version(self, ctx, name, version).await
            }
            (&Method::POST, ["functions", name, "invoke"]) => actions::invoke(self, ctx, name).await,
            _ => render::not_found(self, ctx),
        }
    }
}

/// A failure to show inline: the API's error code (when the API would answer one) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shown {
    pub code: String,
    pub message: String,
}

impl Console {
    /// A control error as the Lambda API would answer it.
    pub(crate) fn shown(&self, e: &ControlError) -> Shown {
        Shown { code: (self.parts.error_code)(e).to_owned(), message: e.to_string() }
    }
}

/// The status a page showing `e` answers with.
pub(crate) fn status_of(code: &str) -> StatusCode {
    match code {
        "ResourceNotFoundException" => StatusCode::NOT_FOUND,
        "AccessDeniedException" => StatusCode::FORBIDDEN,
        "RequestEntityTooLargeException" => StatusCode::PAYLOAD_TOO_LARGE,
        "ResourceConflictException" => StatusCode::CONFLICT,
        "PreconditionFailedException" => StatusCode::PRECONDITION_FAILED,
        "TooManyRequestsException" => StatusCode::TOO_MANY_REQUESTS,
        "ServiceException" => StatusCode::INTERNAL_SERVER_ERROR,
        "InvalidRuntimeException" => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `api` serves requests on a multi-threaded runtime.
    #[allow(dead_code)]
    fn handle_is_send(c: &Console, r: Request<Body>) {
        fn send<T: Send>(_: T) {}
        send(c.handle(r, Connection::default()));
    }

    #[test]
    fn console_paths() {
        for p in ["/_versa/console", "/_versa/console/", "/_versa/console/functions/f"] {
            assert!(is_console_path(p), "{p}");
        }
        for p in ["/_versa/consoles", "/_versa/console-x", "/_versa/health", "/"] {
            assert!(!is_console_path(p), "{p}");
        }
    }
}
