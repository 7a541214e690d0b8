//! The HTTP face of Versa: the Lambda REST API (2015-03-31) as AWS SDKs and the AWS CLI speak it.
//!
//! A request flows: [`routes::Endpoint::parse`] turns method, path and query into a closed enum
//! named after AWS's operations (pure, table-tested); the handler for that operation reads and
//! bounds the body, decodes the `wire` shape, converts it into `control` inputs, calls
//! `control`, and converts the domain answer back into `wire` shapes. Every failure becomes an
//! [`error::ApiError`], rendered in one place with AWS's status, `x-amzn-ErrorType` and body.
//!
//! **Boundary:** this is the only crate that sees HTTP requests and AWS-shaped JSON.

mod auth;
mod code_url;
mod convert;
mod error;
mod esm;
mod execute_api;
mod function_urls;
mod handlers;
mod invocations;
mod keys;
mod layers;
pub mod listener;
mod prometheus;
#[cfg(test)]
mod proptests;
mod query;
pub mod routes;
mod services;
mod verify;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response};
use control::Control;
use model::scope::Region;

pub use crate::error::{ApiError, aws_error_code};
pub use crate::verify::AuthMode;

/// Everything handlers need, shared by all requests.
pub struct ApiState {
    pub control: Arc<Control>,
    pub engine: Arc<invoke::Engine>,
    /// The region of unsigned requests (and of requests signed for a region name Lambda would
    /// not accept).
    pub default_region: Region,
    /// Where the server listens; used to build `Code.Location` when a request has no `Host`.
    pub listen: SocketAddr,
    /// The S3-compatible storage on the same endpoint.
    pub s3: s3::S3,
    /// Whether requests are verified (`--auth`).
    pub auth: AuthMode,
    /// The access keys requests are signed with.
    pub keys: Arc<control::Keys>,
    code_urls: code_url::Signer,
    /// Whether the server speaks TLS on its port (`--tls-cert`); the health endpoint says so.
    pub tls: bool,
    /// The CloudWatch API (service `monitoring`); set by the server.
    pub cloudwatch: Option<cloudwatch::CloudWatch>,
    /// The CodeDeploy API (service `codedeploy`); set by the server.
    pub codedeploy: Option<codedeploy::CodeDeploy>,
    /// DynamoDB and DynamoDB Streams (service `dynamodb`); set by the server.
    pub dynamodb: Option<dynamodb::DynamoDb>,
    /// EventBridge (service `events`) and EventBridge Scheduler (`scheduler`); set by the server.
    pub eventbridge: Option<eventbridge::EventBridge>,
    pub scheduler: Option<scheduler::Scheduler>,
    /// The SQS API (service `sqs`); set by the server.
    pub sqs: Option<sqs::Sqs>,
    /// API Gateway (service `apigateway`, and execute-api); set by the server.
    pub apigateway: Option<apigateway::ApiGateway>,
    /// Throttling buckets of API Gateway stages with limits.
    pub(crate) apigw_throttles: execute_api::Throttles,
    /// Derived SigV4 signing keys, reused across requests.
    pub(crate) signing_keys: verify::SigningKeys,
    /// `--auth warn`: what it let through, and its log's pace.
    pub(crate) warned: verify::Warned,
    /// The web console at `/_versa/console/`; set by the server.
    pub console: Option<Arc<console::Console>>,
    /// This node's part in a cluster (a shared store); `None` on a single node.
    pub cluster: Option<cluster::Cluster>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("default_region", &self.default_region)
            .field("listen", &self.listen)
            .field("auth", &self.auth)
            .finish()
    }
}

impl ApiState {
    pub fn new(
        control: Arc<Control>,
        engine: Arc<invoke::Engine>,
        default_region: Region,
        listen: SocketAddr,
        s3: s3::S3,
        auth: AuthMode,
        keys: Arc<control::Keys>,
    ) -> ApiState {
        ApiState {
            control,
            engine,
            default_region,
            listen,
            s3,
            auth,
            keys,
            code_urls: code_url::Signer::random(),
            tls: false,
            cloudwatch: None,
            codedeploy: None,
            dynamodb: None,
            eventbridge: None,
            scheduler: None,
            sqs: None,
            apigateway: None,
            apigw_throttles: execute_api::Throttles::default(),
            signing_keys: verify::SigningKeys::default(),
            warned: verify::Warned::default(),
            console: None,
            cluster: None,
        }
    }

    /// Signs and checks `Code.Location` URLs with `key` (shared by every node through the
    /// store) instead of this process's random one.
    pub fn set_code_url_key(&mut self, key: &[u8]) {
        self.code_urls = code_url::Signer::with_key(key);
    }
}

/// The address a connection came from; [`listener::serve`] puts it in every request's
/// extensions, handlers read it as `ConnectInfo<PeerAddr>` (function URL events and S3 records
/// carry the source IP).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// A request extension: the request came over TLS, so the URLs Versa writes into its answers
/// (`Code.Location`, `FunctionUrl`, S3's `Location`) start with `https://`.
#[derive(Debug, Clone, Copy)]
pub struct Secure;

/// `https` for a request that came over TLS, else `http`.
pub(crate) fn scheme(extensions: &axum::http::Extensions) -> &'static str {
    if extensions.get::<Secure>().is_some() { "https" } else { "http" }
}

/// The source IP of a request ("127.0.0.1" when the server did not record it).
pub(crate) fn source_ip<B>(req: &Request<B>) -> String {
    req.extensions()
        .get::<axum::extract::ConnectInfo<PeerAddr>>()
        .map_or_else(|| "127.0.0.1".to_owned(), |c| c.0.0.ip().to_string())
}

/// The axum router serving the whole API.
pub fn router(state: Arc<ApiState>) -> axum::Router {
    axum::Router::new().fallback(move |req: Request<Body>| {
        let state = state.clone();
        async move { serve(state, req).await }
    })
}

/// Serves one request: route, run, render; every answer carries a fresh `x-amzn-RequestId`.
async fn serve(state: Arc<ApiState>, req: Request<Body>) -> Response<Body> {
    let request_id = {
        let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id).to_owned()
    };
    // The console before any AWS service: it authenticates with its own session, not SigV4.
    if let Some(c) = &state.console
        && console::is_console_path(req.uri().path())
    {
        let conn = console::Connection { secure: req.extensions().get::<Secure>().is_some() };
        return c.handle(req, conn).await;
    }
    // Another node's forwarded invocation: signed with the cluster secret, not SigV4.
    if req.uri().path() == cluster::INTERNAL_INVOKE_PATH {
        return match &state.cluster {
            Some(c) if req.method() == axum::http::Method::POST => {
                c.serve_internal(&state.control, &state.engine, req).await
            }
            _ => {
                let mut r = Response::new(Body::from("not part of a cluster"));
                *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
                r
            }
        };
    }
    // Another node's forwarded DynamoDB request (this node is the DynamoDB home).
    if req.uri().path() == cluster::INTERNAL_DYNAMODB_PATH {
        let (Some(c), Some(service)) = (&state.cluster, &state.dynamodb) else {
            let mut r = Response::new(Body::from("not part of a cluster"));
            *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
            return r;
        };
        let answer = match c.accept_dynamodb(req).await {
            Ok(call) => service.handle_here(&call.account, &call.region, call.target.as_deref(), &call.body).await,
            Err(refusal) => refusal,
        };
        let mut response = services::dynamodb_answer(answer);
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-amzn-RequestId", v);
        }
        return response;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = query::Query::parse(req.uri().query());
    let service = services::Service::of(req.headers(), req.uri().path(), &query);
    let scrape = matches!(service, services::Service::S3 { bucket_from_host: None })
        && prometheus::is_scrape(&method, &path, req.headers(), &query);
    let mut response = match service {
        _ if scrape => prometheus::serve(&state).await,
        services::Service::Lambda if unauthenticated(&state, &path) => serve_lambda(&state, req, &request_id).await,
        services::Service::Lambda => match verify::authenticate(&state, verify::Kind::Lambda, req).await {
            Ok(req) => serve_lambda(&state, req, &request_id).await,
            Err(refusal) => refusal.lambda(),
        },
        services::Service::Logs => match verify::authenticate(&state, verify::Kind::Logs, req).await {
            Ok(req) => services::logs(&state, req).await,
            Err(refusal) => refusal.logs(),
        },
        services::Service::CloudWatch => {
            let (protocol, query_mode) = services::cloudwatch_protocol(&req);
            match verify::authenticate(&state, verify::Kind::CloudWatch, req).await {
                Ok(req) => services::cloudwatch(&state, req, &request_id).await,
                Err(refusal) => refusal.cloudwatch(protocol, query_mode, &request_id),
            }
        }
        services::Service::CodeDeploy => match verify::authenticate(&state, verify::Kind::CodeDeploy, req).await {
            Ok(req) => services::codedeploy(&state, req).await,
            Err(refusal) => refusal.logs(),
        },
        services::Service::DynamoDb => match verify::authenticate(&state, verify::Kind::DynamoDb, req).await {
            Ok(req) => services::dynamodb(&state, req).await,
            Err(refusal) => refusal.logs(),
        },
        services::Service::EventBridge => match verify::authenticate(&state, verify::Kind::EventBridge, req).await {
            Ok(req) => services::eventbridge(&state, req).await,
            Err(refusal) => refusal.logs(),
        },
        services::Service::Scheduler => match verify::authenticate(&state, verify::Kind::Scheduler, req).await {
            Ok(req) => services::scheduler(&state, req).await,
            Err(refusal) => refusal.lambda(),
        },
        services::Service::Sqs => match verify::authenticate(&state, verify::Kind::Sqs, req).await {
            Ok(req) => services::sqs(&state, req).await,
            Err(refusal) => refusal.sqs(),
        },
        services::Service::ApiGateway => match verify::authenticate(&state, verify::Kind::ApiGateway, req).await {
            Ok(req) => services::apigateway(&state, req).await,
            Err(refusal) => refusal.lambda(),
        },
        services::Service::ExecuteApi { api_id, path, path_form } => {
            let mut r = execute_api::serve(&state, req, &api_id, path, &request_id).await;
            // The path form is served on the console's origin, like function URLs'.
            if path_form {
                sandbox_on_console_origin(&state, &mut r);
            }
            r
        }
        services::Service::S3 { bucket_from_host } => {
            let path_style = bucket_from_host.is_none();
            let mut r = match verify::authenticate(&state, verify::Kind::S3, req).await {
                Ok(req) => services::s3(&state, req, bucket_from_host, &request_id).await,
                Err(refusal) => refusal.s3(&services::s3_request_id(&request_id)),
            };
            // Path-style objects (uploaded HTML included) are served on the console's origin.
            if path_style {
                sandbox_on_console_origin(&state, &mut r);
            }
            r
        }
        services::Service::FunctionUrl { url_id, region, path } => {
            let path_form = region.is_none();
            let mut r = match verify::function_url(&state, req).await {
                Ok(req) => function_urls::serve(&state, req, &url_id, region.as_deref(), path, &request_id).await,
                Err(_) => function_urls::forbidden(),
            };
            // The path form is served on the console's origin.
            if path_form {
                sandbox_on_console_origin(&state, &mut r);
            }
            r
        }
        services::Service::Unknown(name) => services::unknown_service(&name),
    };
    tracing::trace!(%method, %path, status = response.status().as_u16(), "request");
    // The DynamoDB home's answer (several nodes) already carries the home's request id.
    if !response.headers().contains_key("x-amzn-requestid")
        && let Ok(v) = HeaderValue::from_str(&request_id)
    {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    response
}

/// What content others wrote may do when it is served on the console's origin (function URLs in
/// the path form `/_versa/url/<id>/…`, S3 objects path-style): everything but be of that origin.
pub const SHARED_ORIGIN_SANDBOX: &str = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads \
                                         allow-top-navigation-by-user-activation";

/// Runs the answer sandboxed (an opaque origin) when the console shares its origin: its scripts
/// can then neither read console pages nor send the console's session cookie.
fn sandbox_on_console_origin(state: &ApiState, r: &mut Response<Body>) {
    if state.console.is_some() {
        r.headers_mut()
            .append(axum::http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(SHARED_ORIGIN_SANDBOX));
    }
}

/// Versa's own paths that answer without a signature: the health check, and code downloads
/// (`Code.Location`), which carry their own expiring HMAC.
fn unauthenticated(state: &ApiState, path: &str) -> bool {
    state.auth != AuthMode::Off && (path == "/_versa/health" || path.starts_with("/_versa/code/"))
}

/// Serves one request of Lambda's REST API.
async fn serve_lambda(state: &Arc<ApiState>, req: Request<Body>, request_id: &str) -> Response<Body> {
    match routes::Endpoint::parse(req.method(), req.uri().path(), req.uri().query()) {
        Ok(endpoint) => {
            let name = endpoint.name();
            let result = handlers::dispatch(state, endpoint, req, request_id).await;
            match result {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(operation = name, error = ?e, "request failed");
                    e.into_response()
                }
            }
        }
        Err(e) => e.into_response(),
    }
}
