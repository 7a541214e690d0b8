//! Who is calling: every request's SigV4 authentication, checked before any service sees it.
//!
//! With `--auth sigv4` a request must be signed with a key Versa knows (a long-term key from
//! `versa keys`, the root key, or an execution environment's temporary key with its session
//! token); its account is the key's. Refusals use each service's own error shape (reference
//! §A2): Lambda's REST-JSON 403s, Logs' JSON 1.1 400s, S3's XML. With `--auth off` nothing is
//! verified: a key Versa knows still acts in its account, any other key id acts in the account
//! it spells (12 digits), else `000000000000`.
//!
//! The order (reference §A1.10): parse the signature's place and parameters (no secret yet),
//! look up the key, check the time, then — for every service but S3, whose signature covers a
//! declared payload hash — read the body (under the largest limit of the service) and compare
//! the signature. S3 bodies are checked while they stream (`s3::PayloadCheck`).
//!
//! **Invariant: a refused signature changes nothing**: this runs before the request reaches a
//! handler, and a streamed S3 body is checked before its object is committed.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use control::keys::{KeySecret, Lookup};
use model::scope::AccountId;
use serde_json::json;
use sha2::Digest;

use crate::ApiState;

/// Whether requests are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Accept every request; the access key id only selects the account.
    Off,
    /// Verify SigV4 on every request (`--auth sigv4`).
    Sigv4,
    /// Verify as `sigv4` does, log what it would refuse (with the canonical strings), then
    /// serve the request as `off` does (`--auth warn`: migrating clients to signed requests).
    Warn,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Off => "off",
            AuthMode::Sigv4 => "sigv4",
            AuthMode::Warn => "warn",
        }
    }
}

/// The identity a request acts with, once authenticated (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub account: AccountId,
    /// Signed with a root-account key: may manage keys.
    pub root: bool,
    /// The access key id the request was signed with (verified under `--auth sigv4`), for
    /// the alias history.
    pub access_key_id: String,
}

/// Which service's errors a refusal takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Lambda,
    Logs,
    S3,
    /// CloudWatch (`monitoring`): JSON 1.0, RPC v2 CBOR or query, by the request.
    CloudWatch,
    /// CodeDeploy (JSON 1.1): refusals in Logs' JSON 1.1 shape.
    CodeDeploy,
    /// DynamoDB and its Streams (JSON 1.0): refusals in the same `__type` shape.
    DynamoDb,
    /// EventBridge (JSON 1.1): refusals in Logs' JSON 1.1 shape.
    EventBridge,
    /// EventBridge Scheduler (rest-json): refusals in Lambda's shape.
    Scheduler,
    /// SQS (JSON 1.0, query-compatible): refusals in CloudWatch's JSON 1.0 shape.
    Sqs,
    /// API Gateway control planes (rest-json, v1 and v2): refusals in Lambda's JSON shape.
    ApiGateway,
    /// An execute-api request to an `AWS_IAM` method or route (scope service `execute-api`):
    /// refusals in API Gateway's `{"message"}` shape ([`Refusal::execute_api`]).
    ExecuteApi,
}

/// Largest body hashed to verify a Lambda request: the largest Lambda request (CreateFunction
/// with its zip inline); each operation's own limit applies afterwards.
const LAMBDA_BODY_BYTES_MAX: usize = model::limits::CREATE_FUNCTION_REQUEST_BYTES_MAX;

/// The tolerated clock difference of header-signed requests.
pub const SKEW_SECS: i64 = sigv4::SKEW_MAX_SECS;

/// Most derived signing keys kept (per access key id and credential scope); the cache is
/// cleared when full.
pub(crate) const SIGNING_KEYS_MAX: usize = 1024;

/// Derived SigV4 signing keys (four HMACs each), reused for a key's requests of one day,
/// region and service. An entry holds the secret it was derived from and is used only for
/// that secret; a deleted or revoked key is refused by the key lookup before this is read.
#[derive(Debug, Default)]
pub(crate) struct SigningKeys {
    /// By `<access key id>/<scope>` (a key id holds no `/`): the secret and its signing key.
    keys: std::sync::Mutex<std::collections::HashMap<String, (String, sigv4::SigningKey)>>,
}

impl SigningKeys {
    fn get(&self, auth: &sigv4::Auth, secret: &str) -> sigv4::SigningKey {
        let scope = auth.scope_str();
        let mut lookup = String::with_capacity(auth.access_key_id.len() + 1 + scope.len());
        lookup.push_str(&auth.access_key_id);
        lookup.push('/');
        lookup.push_str(scope);
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, k)) = keys.get(&lookup)
            && s == secret
        {
            return k.clone();
        }
        let key = auth.signing_key(secret);
        if keys.len() >= SIGNING_KEYS_MAX {
            keys.clear();
        }
        keys.insert(lookup, (secret.to_owned(), key.clone()));
        key
    }
}

/// A refusal, before it is rendered in a service's shape.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No authentication at all.
    Missing,
    /// An access key id Versa does not know, or a temporary key with the wrong session token.
    UnknownKey { access_key_id: String, token: bool },
    /// A temporary key whose environment ended.
    ExpiredToken,
    /// What the verifier said.
    Sigv4(sigv4::Error),
    /// A signature that does not match, for this access key.
    Signature(sigv4::Error, String),
    /// A declared `x-amz-content-sha256` that is not the body's hash.
    ContentSha256Mismatch,
    /// The scope names another service than the one the request reached.
    WrongService { expected: &'static str },
    /// S3 header-signed requests must say how their payload is hashed.
    MissingContentSha256,
    /// A body larger than any request of the service.
    TooLarge,
}

/// Authenticates `req` for `kind`. Returns the request (body re-attached when it was read)
/// carrying its [`Caller`], or the refusal to send.
pub(crate) async fn authenticate(state: &ApiState, kind: Kind, req: Request<Body>) -> Result<Request<Body>, Refusal> {
    match state.auth {
        AuthMode::Off => Ok(without_verification(state, req)),
        AuthMode::Sigv4 => verified(state, kind, req).await,
        AuthMode::Warn => warned(state, kind, req).await,
    }
}

/// `--auth warn`: the checks of `sigv4` (an S3 body's hash and chunk signatures aside: S3
/// streams its bodies, which are not held back to be checked); what they would refuse is
/// logged, and the request goes on as under `off`. Only a body over the service's limit is
/// refused, since it cannot be read.
async fn warned(state: &ApiState, kind: Kind, req: Request<Body>) -> Result<Request<Body>, Refusal> {
    let (parts, body) = req.into_parts();
    let request = sigv4::RequestParts {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
    };
    prefetch(state, &request).await;
    let (refusal, body) = match identify(state, kind, &request) {
        Err(refusal) => (Some(refusal), body),
        Ok((auth, _))
            if kind == Kind::S3 && auth.form == sigv4::Form::Header && auth.payload == sigv4::Payload::BodyHash =>
        {
            (Some(Refusal::MissingContentSha256), body)
        }
        Ok((auth, key)) if kind == Kind::S3 => match auth.verify(&request, sigv4::UriMode::S3, &key.secret, None) {
            Err(e) => (Some(Refusal::Signature(e, auth.access_key_id.clone())), body),
            // As `verified` does for the operations that read no body.
            Ok(v) => match v.payload() {
                sigv4::Payload::Digest(d) if matches!(parts.method, Method::GET | Method::HEAD | Method::DELETE) => {
                    let bytes =
                        axum::body::to_bytes(body, REFUSED_BODY_DRAIN_MAX).await.map_err(|_| Refusal::TooLarge)?;
                    let mismatch = <[u8; 32]>::from(sha2::Sha256::digest(&bytes)) != d;
                    (mismatch.then_some(Refusal::ContentSha256Mismatch), Body::from(bytes))
                }
                _ => (None, body),
            },
        },
        Ok((auth, key)) => {
            let bytes = axum::body::to_bytes(body, LAMBDA_BODY_BYTES_MAX).await.map_err(|_| Refusal::TooLarge)?;
            let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
            let signing_key = state.signing_keys.get(&auth, &key.secret);
            let refused = match auth.verify_with_key(&request, sigv4::UriMode::Normalized, &signing_key, Some(digest)) {
                Err(e) => Some(Refusal::Signature(e, auth.access_key_id.clone())),
                Ok(_) if matches!(auth.payload, sigv4::Payload::Digest(d) if d != digest) => {
                    Some(Refusal::ContentSha256Mismatch)
                }
                Ok(_) => None,
            };
            (refused, Body::from(bytes))
        }
    };
    if let Some(refusal) = refusal {
        state.warned.record(&parts.method, parts.uri.path(), &refusal);
    }
    Ok(without_verification(state, Request::from_parts(parts, body)))
}

/// A verifier error's kind, without the request text some of them carry.
fn sigv4_kind(e: &sigv4::Error) -> &'static str {
    use sigv4::Error as E;
    match e {
        E::Incomplete { .. } => "an incomplete Authorization header",
        E::NotKeyValue { .. } => "a malformed Authorization header",
        E::UnsupportedAlgorithm(_) => "an unsupported algorithm",
        E::CredentialMalformed { .. } => "a malformed credential",
        E::ScopeDateMismatch { .. } => "a credential date that is not the request's",
        E::HostNotSigned => "host not signed",
        E::BadDate(_) => "an unparseable request time",
        E::Malformed(_) => "a malformed request",
        E::InvalidContentSha256(_) => "an invalid x-amz-content-sha256",
        E::Skewed { .. } => "a skewed clock",
        E::PresignMissingParams | E::PresignExpiresTooLarge | E::PresignExpiresInvalid(_) => "bad presign parameters",
        E::PresignExpired { .. } => "an expired presigned URL",
        E::HeadersNotSigned(_) => "unsigned x-amz headers",
        E::Mismatch { .. } | E::ChunkMismatch => "a signature mismatch",
    }
}

/// At most one `--auth warn` log line per this interval; the others are counted.
const WARN_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// What `--auth warn` let through that `--auth sigv4` would refuse: a count (in
/// `/_versa/health`) and a log paced by [`WARN_LOG_INTERVAL`].
#[derive(Debug, Default)]
pub(crate) struct Warned {
    count: std::sync::atomic::AtomicU64,
    /// When the last line was logged, and how many went unlogged since.
    log: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

impl Warned {
    pub(crate) fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn record(&self, method: &Method, path: &str, refusal: &Refusal) {
        self.count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.0.is_some_and(|at| at.elapsed() < WARN_LOG_INTERVAL) {
            log.1 += 1;
            return;
        }
        let unlogged = std::mem::take(&mut log.1);
        log.0 = Some(std::time::Instant::now());
        drop(log);
        tracing::warn!(
            %method,
            path,
            refusal = %refusal.summary(),
            unlogged,
            "--auth warn: serving a request --auth sigv4 would refuse"
        );
    }
}

/// A function URL request: verified only when it is signed (an `AWS_IAM` URL then finds its
/// [`Caller`]; a `NONE` URL needs none). A signed request whose signature fails is refused.
pub(crate) async fn function_url(state: &ApiState, req: Request<Body>) -> Result<Request<Body>, Refusal> {
    let signed = req.headers().contains_key(header::AUTHORIZATION)
        || req.uri().query().is_some_and(|q| q.contains("X-Amz-Algorithm="));
    match state.auth {
        AuthMode::Sigv4 if signed => verified(state, Kind::Lambda, req).await,
        AuthMode::Sigv4 => Ok(req),
        AuthMode::Warn if signed => warned(state, Kind::Lambda, req).await,
        AuthMode::Off | AuthMode::Warn => Ok(without_verification(state, req)),
    }
}

/// `--auth off`: the account of a key Versa knows, else the one its id spells.
fn without_verification(state: &ApiState, mut req: Request<Body>) -> Request<Body> {
    let query = crate::query::Query::parse(req.uri().query());
    if let Some(c) = crate::auth::credential(req.headers(), &query) {
        let caller = match state.keys.lookup(&c.access_key_id) {
            Lookup::Found(k) => Caller { account: k.account, root: k.root, access_key_id: c.access_key_id },
            _ => Caller {
                account: AccountId::from_access_key(&c.access_key_id),
                root: false,
                access_key_id: c.access_key_id,
            },
        };
        req.extensions_mut().insert(caller);
    }
    req
}

async fn verified(state: &ApiState, kind: Kind, req: Request<Body>) -> Result<Request<Body>, Refusal> {
    let (mut parts, body) = req.into_parts();
    let request = sigv4::RequestParts {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
    };
    prefetch(state, &request).await;
    let (auth, key) = match identify(state, kind, &request) {
        Ok(found) => found,
        Err(refusal) => {
            drain(body).await;
            return Err(refusal);
        }
    };
    let caller = Caller { account: key.account.clone(), root: key.root, access_key_id: auth.access_key_id.clone() };
    let access_key_id = auth.access_key_id.clone();
    let signature = |e: sigv4::Error| Refusal::Signature(e, access_key_id.clone());
    let body = if kind == Kind::S3 {
        if auth.form == sigv4::Form::Header && auth.payload == sigv4::Payload::BodyHash {
            drain(body).await;
            return Err(Refusal::MissingContentSha256);
        }
        let verified = match auth.verify(&request, sigv4::UriMode::S3, &key.secret, None) {
            Ok(v) => v,
            Err(e) => {
                drain(body).await;
                return Err(signature(e));
            }
        };
        // S3 checks the body against the signed payload hash, or its chunk signatures, as it
        // streams, before anything commits.
        let check = match verified.payload() {
            // The operations without a body (GET, HEAD, DELETE) never read one: its declared
            // hash is checked here (reference §A1.10 step 8), against at most a small body.
            sigv4::Payload::Digest(d) if matches!(parts.method, Method::GET | Method::HEAD | Method::DELETE) => {
                let bytes = axum::body::to_bytes(body, REFUSED_BODY_DRAIN_MAX).await.map_err(|_| Refusal::TooLarge)?;
                if <[u8; 32]>::from(sha2::Sha256::digest(&bytes)) != d {
                    return Err(Refusal::ContentSha256Mismatch);
                }
                parts.extensions.insert(caller);
                return Ok(Request::from_parts(parts, Body::from(bytes)));
            }
            sigv4::Payload::Digest(d) => Some(s3::PayloadCheck::Sha256(d)),
            sigv4::Payload::Streaming { signed: true, .. } => Some(s3::PayloadCheck::Chunks(verified.chunks())),
            _ => None,
        };
        if let Some(check) = check {
            parts.extensions.insert(check);
        }
        body
    } else {
        let bytes = axum::body::to_bytes(body, LAMBDA_BODY_BYTES_MAX).await.map_err(|_| Refusal::TooLarge)?;
        let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        let signing_key = state.signing_keys.get(&auth, &key.secret);
        auth.verify_with_key(&request, sigv4::UriMode::Normalized, &signing_key, Some(digest)).map_err(signature)?;
        if let sigv4::Payload::Digest(d) = auth.payload
            && d != digest
        {
            // The declared hash is signed, but it is not this body's.
            return Err(Refusal::ContentSha256Mismatch);
        }
        Body::from(bytes)
    };
    parts.extensions.insert(caller);
    Ok(Request::from_parts(parts, body))
}

/// Several nodes: a key this node does not know yet (created on another node a moment ago) is
/// read from the store once, bounded by `control::keys`' miss limits. Nothing on one node.
pub(crate) async fn prefetch(state: &ApiState, request: &sigv4::RequestParts<'_>) {
    if state.keys.shared()
        && let Ok(Some(auth)) = sigv4::parse(request)
    {
        let _ = state.keys.fetch(&auth.access_key_id).await;
    }
}

/// The credential scope's service of execute-api requests.
pub(crate) const EXECUTE_API_SERVICE: &str = "execute-api";

/// Verifies an execute-api request to an `AWS_IAM` method or route (`--auth sigv4`), its body
/// already read: the same checks and order as every other non-S3 service (scope service
/// `execute-api`, key, session token, time, then the normalised, double-encoded canonical
/// request, as botocore's `SigV4Auth` and `aws-sigv4` sign it). Versa has no IAM: a valid key of
/// any account Versa knows may invoke (AWS would check its `execute-api:Invoke` policy).
pub(crate) fn execute_api(state: &ApiState, request: &sigv4::RequestParts, body: &[u8]) -> Result<Caller, Refusal> {
    let (auth, key) = identify(state, Kind::ExecuteApi, request)?;
    let digest: [u8; 32] = sha2::Sha256::digest(body).into();
    auth.verify(request, sigv4::UriMode::Normalized, &key.secret, Some(digest))
        .map_err(|e| Refusal::Signature(e, auth.access_key_id.clone()))?;
    if let sigv4::Payload::Digest(d) = auth.payload
        && d != digest
    {
        return Err(Refusal::ContentSha256Mismatch);
    }
    Ok(Caller { account: key.account.clone(), root: key.root, access_key_id: auth.access_key_id.clone() })
}

fn is_sigv2_presigned(query: Option<&str>) -> bool {
    let mut names = query.unwrap_or_default().split('&').map(|p| p.split('=').next().unwrap_or_default());
    let names: Vec<&str> = names.by_ref().take(sigv4::QUERY_PAIRS_MAX).collect();
    names.contains(&"AWSAccessKeyId") && names.contains(&"Signature")
}

/// The checks that need no body: where the signature is, the scope's service, the key and its
/// session token, the time.
fn identify(state: &ApiState, kind: Kind, request: &sigv4::RequestParts) -> Result<(sigv4::Auth, KeySecret), Refusal> {
    let auth = match sigv4::parse(request).map_err(Refusal::Sigv4)? {
        Some(auth) => auth,
        // A SigV2 presigned URL (`aws s3 presign` without `signature_version = s3v4`).
        None if is_sigv2_presigned(request.raw_query) => {
            return Err(Refusal::Sigv4(sigv4::Error::UnsupportedAlgorithm("AWS".to_owned())));
        }
        None => return Err(Refusal::Missing),
    };
    let expected = match kind {
        Kind::Lambda => "lambda",
        Kind::Logs => "logs",
        Kind::S3 => "s3",
        Kind::CloudWatch => cloudwatch::SERVICE,
        Kind::CodeDeploy => codedeploy::SERVICE,
        Kind::DynamoDb => dynamodb::SERVICE,
        Kind::EventBridge => eventbridge::SERVICE,
        Kind::Scheduler => scheduler::SERVICE,
        Kind::Sqs => sqs::SERVICE,
        Kind::ApiGateway => apigateway::SERVICE,
        Kind::ExecuteApi => EXECUTE_API_SERVICE,
    };
    if auth.service != expected {
        return Err(Refusal::WrongService { expected });
    }
    let key = match state.keys.lookup(&auth.access_key_id) {
        Lookup::Found(k) => k,
        Lookup::Unknown => return Err(Refusal::UnknownKey { access_key_id: auth.access_key_id, token: false }),
        Lookup::Expired => return Err(Refusal::ExpiredToken),
    };
    // The reference's pipeline (§A1.10): the time (step 4) before the token (step 5).
    auth.check_time(stdx::time::now_ms() / 1000, SKEW_SECS).map_err(Refusal::Sigv4)?;
    check_token(&key, &auth)?;
    Ok((auth, key))
}

/// Most bytes of a refused request's body read (and dropped) so that its connection can carry
/// the next request: hyper closes a connection whose request body was left unread. Larger
/// bodies close the connection.
const REFUSED_BODY_DRAIN_MAX: usize = 64 * 1024;

async fn drain(body: Body) {
    let _ = axum::body::to_bytes(body, REFUSED_BODY_DRAIN_MAX).await;
}

/// A temporary key must come with its own session token; a long-term key's token is ignored.
fn check_token(key: &KeySecret, auth: &sigv4::Auth) -> Result<(), Refusal> {
    match &key.session_token {
        Some(t) if auth.security_token.as_deref() != Some(t.as_str()) => {
            Err(Refusal::UnknownKey { access_key_id: auth.access_key_id.clone(), token: true })
        }
        _ => Ok(()),
    }
}

/// Lambda's message for an unknown key or a bad session token.
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
const EXPIRED_TOKEN: &str = "The security token included in the request is expired.";

impl Refusal {
    /// What a log may say of a refusal: its code and the access key id, never the canonical
    /// request or any header value (they carry session tokens).
    pub(crate) fn summary(&self) -> String {
        let (code, _) = self.json_parts();
        match self {
            Refusal::UnknownKey { access_key_id, .. } | Refusal::Signature(_, access_key_id) => {
                format!("{code} (access key {access_key_id})")
            }
            Refusal::Sigv4(e) => format!("{code}: {}", sigv4_kind(e)),
            _ => code.to_owned(),
        }
    }

    /// Code and message as Lambda and Logs (AWS's JSON services) give them.
    fn json_parts(&self) -> (&'static str, String) {
        match self {
            Refusal::Missing => ("MissingAuthenticationTokenException", "Missing Authentication Token".to_owned()),
            Refusal::UnknownKey { .. } => ("UnrecognizedClientException", INVALID_TOKEN.to_owned()),
            Refusal::ExpiredToken => ("ExpiredTokenException", EXPIRED_TOKEN.to_owned()),
            Refusal::WrongService { expected } => {
                ("InvalidSignatureException", format!("Credential should be scoped to correct service: '{expected}'."))
            }
            Refusal::MissingContentSha256 => (
                "InvalidSignatureException",
                "Missing required header for this request: x-amz-content-sha256".to_owned(),
            ),
            Refusal::TooLarge => (
                "RequestEntityTooLargeException",
                format!("Request must be smaller than {LAMBDA_BODY_BYTES_MAX} bytes for the operation"),
            ),
            Refusal::ContentSha256Mismatch => (
                "InvalidSignatureException",
                "The provided 'x-amz-content-sha256' header does not match what was computed.".to_owned(),
            ),
            Refusal::Sigv4(e) | Refusal::Signature(e, _) => {
                let code = match e {
                    sigv4::Error::Incomplete { .. }
                    | sigv4::Error::NotKeyValue { .. }
                    | sigv4::Error::CredentialMalformed { .. }
                    | sigv4::Error::HostNotSigned
                    | sigv4::Error::Malformed(_)
                    | sigv4::Error::BadDate(_)
                    | sigv4::Error::PresignMissingParams => "IncompleteSignatureException",
                    _ => "InvalidSignatureException",
                };
                (code, e.to_string())
            }
        }
    }

    /// API Gateway's execute-api refusals: 403 (API Gateway answers every authentication
    /// refusal with 403), error type for `x-amzn-ErrorType`, and the message for
    /// `{"message": …}`.
    pub(crate) fn execute_api(&self) -> (u16, &'static str, String) {
        let (code, message) = self.json_parts();
        (StatusCode::FORBIDDEN.as_u16(), code, message)
    }

    /// Lambda (REST-JSON): 403, `x-amzn-ErrorType` and `{"message": …}`.
    pub(crate) fn lambda(&self) -> Response<Body> {
        let (code, message) = self.json_parts();
        let status =
            if matches!(self, Refusal::TooLarge) { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::FORBIDDEN };
        json_error(status, code, &message, "application/json")
    }

    /// Logs (JSON 1.1): 400 with `__type`.
    pub(crate) fn logs(&self) -> Response<Body> {
        let (code, message) = self.json_parts();
        json_error(StatusCode::BAD_REQUEST, code, &message, logs::Response::CONTENT_TYPE)
    }

    /// CloudWatch (awsQueryCompatible, like SQS in reference §A2): query codes, 403 for
    /// identity and signature refusals, in the request's protocol with `x-amzn-query-error`.
    pub(crate) fn cloudwatch(
        &self,
        protocol: cloudwatch::Protocol,
        query_mode: bool,
        request_id: &str,
    ) -> Response<Body> {
        let (code, message): (&'static str, String) = match self {
            Refusal::Missing => ("MissingAuthenticationToken", "Request is missing Authentication Token".to_owned()),
            Refusal::UnknownKey { .. } => ("InvalidClientTokenId", INVALID_TOKEN.to_owned()),
            Refusal::ExpiredToken => ("ExpiredToken", EXPIRED_TOKEN.to_owned()),
            Refusal::TooLarge => (
                "RequestEntityTooLarge",
                format!("Request must be smaller than {LAMBDA_BODY_BYTES_MAX} bytes for the operation"),
            ),
            Refusal::Sigv4(sigv4::Error::Skewed { .. }) | Refusal::Signature(sigv4::Error::Skewed { .. }, _) => {
                let (_, message) = self.json_parts();
                ("RequestExpired", message)
            }
            other => {
                let (json_code, message) = other.json_parts();
                let code = if json_code == "IncompleteSignatureException" {
                    "IncompleteSignature"
                } else {
                    "SignatureDoesNotMatch"
                };
                (code, message)
            }
        };
        let e = cloudwatch::Error::new(code, message);
        crate::services::into_http(cloudwatch::error_response(protocol, query_mode, &e, request_id))
    }

    /// SQS (JSON 1.0, awsQueryCompatible; reference §A2): the authentication layer's
    /// `__type` (`com.amazon.coral.service#InvalidSignatureException` for a bad signature [D])
    /// and the query code in `x-amzn-query-error` (`SignatureDoesNotMatch`, what the query
    /// protocol said and botocore reports).
    pub(crate) fn sqs(&self) -> Response<Body> {
        let (status, query_code, message) = match self {
            Refusal::Missing => {
                (403, "MissingAuthenticationToken", "Request is missing Authentication Token".to_owned())
            }
            Refusal::UnknownKey { .. } => (403, "InvalidClientTokenId", INVALID_TOKEN.to_owned()),
            Refusal::ExpiredToken => (403, "ExpiredToken", EXPIRED_TOKEN.to_owned()),
            Refusal::TooLarge => (
                413,
                "RequestEntityTooLarge",
                format!("Request must be smaller than {LAMBDA_BODY_BYTES_MAX} bytes for the operation"),
            ),
            Refusal::Sigv4(sigv4::Error::Skewed { .. }) | Refusal::Signature(sigv4::Error::Skewed { .. }, _) => {
                (400, "RequestExpired", self.json_parts().1)
            }
            other => match other.json_parts() {
                ("IncompleteSignatureException", message) => (400, "IncompleteSignature", message),
                (_, message) => (403, "SignatureDoesNotMatch", message),
            },
        };
        let shape = match self.json_parts().0 {
            "MissingAuthenticationTokenException" => "com.amazon.coral.service#MissingAuthenticationTokenException",
            "UnrecognizedClientException" => "com.amazon.coral.service#UnrecognizedClientException",
            "ExpiredTokenException" => "com.amazon.coral.service#ExpiredTokenException",
            "RequestEntityTooLargeException" => "com.amazon.coral.service#RequestEntityTooLargeException",
            "IncompleteSignatureException" => "com.amazon.coral.service#IncompleteSignatureException",
            _ => "com.amazon.coral.service#InvalidSignatureException",
        };
        let e = sqs::Error { shape, query_code, status, message };
        crate::services::sqs_http(sqs::Response::error(&e))
    }

    /// S3 (REST-XML): the table of reference §A2.
    pub(crate) fn s3(&self, request_id: &str) -> Response<Body> {
        use sigv4::Error as E;
        let now = stdx::time::now_ms() / 1000;
        let forbidden = StatusCode::FORBIDDEN;
        let bad = StatusCode::BAD_REQUEST;
        let (status, code, message, extra): (StatusCode, &str, String, Vec<(String, String)>) = match self {
            Refusal::Missing => (forbidden, "AccessDenied", "Access Denied".to_owned(), vec![]),
            Refusal::UnknownKey { access_key_id, token: false } => (
                forbidden,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.".to_owned(),
                vec![("AWSAccessKeyId".to_owned(), access_key_id.clone())],
            ),
            Refusal::UnknownKey { token: true, .. } => {
                (bad, "InvalidToken", "The provided token is malformed or otherwise invalid.".to_owned(), vec![])
            }
            Refusal::ExpiredToken => (bad, "ExpiredToken", "The provided token has expired.".to_owned(), vec![]),
            Refusal::WrongService { expected } => (
                bad,
                "AuthorizationHeaderMalformed",
                format!(
                    "The authorization header is malformed; Credential should be scoped to correct service: '{expected}'."
                ),
                vec![],
            ),
            Refusal::MissingContentSha256 => (
                bad,
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256".to_owned(),
                vec![],
            ),
            Refusal::TooLarge => {
                (bad, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size".to_owned(), vec![])
            }
            Refusal::ContentSha256Mismatch => (
                bad,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.".to_owned(),
                vec![],
            ),
            Refusal::Sigv4(e) | Refusal::Signature(e, _) => match e {
                // S3's own text for a request time missing or unparseable (not AWS's generic one).
                E::BadDate(_) => (
                    forbidden,
                    "AccessDenied",
                    "AWS authentication requires a valid Date or x-amz-date header".to_owned(),
                    vec![],
                ),
                E::Incomplete { missing, .. } if missing == &["X-Amz-Date"] => (
                    forbidden,
                    "AccessDenied",
                    "AWS authentication requires a valid Date or x-amz-date header".to_owned(),
                    vec![],
                ),
                E::Incomplete { .. } | E::NotKeyValue { .. } | E::HostNotSigned | E::Malformed(_) => (
                    bad,
                    "AuthorizationHeaderMalformed",
                    "The authorization header is malformed; the authorization header requires three components: \
                     Credential, SignedHeaders, and Signature."
                        .to_owned(),
                    vec![],
                ),
                E::CredentialMalformed { presigned: true, .. }
                | E::PresignMissingParams
                | E::PresignExpiresTooLarge
                | E::PresignExpiresInvalid(_) => (bad, "AuthorizationQueryParametersError", e.to_string(), vec![]),
                E::CredentialMalformed { presigned: false, .. } | E::ScopeDateMismatch { .. } => {
                    (bad, "AuthorizationHeaderMalformed", e.to_string(), vec![])
                }
                E::UnsupportedAlgorithm(_) => (bad, "InvalidRequest", e.to_string(), vec![]),
                E::InvalidContentSha256(_) => (bad, "InvalidArgument", e.to_string(), vec![]),
                E::Skewed { request_time, skew_secs, .. } => (
                    forbidden,
                    "RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large.".to_owned(),
                    vec![
                        ("RequestTime".to_owned(), request_time.clone()),
                        ("ServerTime".to_owned(), sigv4::format_iso8601(now)),
                        ("MaxAllowedSkewMilliseconds".to_owned(), (skew_secs * 1000).to_string()),
                    ],
                ),
                E::PresignExpired { expires_secs, expired_at, server_time } => (
                    forbidden,
                    "AccessDenied",
                    "Request has expired".to_owned(),
                    vec![
                        ("X-Amz-Expires".to_owned(), expires_secs.to_string()),
                        ("Expires".to_owned(), sigv4::format_iso8601(*expired_at)),
                        ("ServerTime".to_owned(), sigv4::format_iso8601(*server_time)),
                    ],
                ),
                E::HeadersNotSigned(names) => {
                    (forbidden, "AccessDenied", e.to_string(), vec![("HeadersNotSigned".to_owned(), names.join(", "))])
                }
                E::Mismatch { canonical_request, string_to_sign, signature_provided } => (
                    forbidden,
                    "SignatureDoesNotMatch",
                    sigv4::S3_SIGNATURE_MISMATCH.to_owned(),
                    vec![
                        ("AWSAccessKeyId".to_owned(), self.access_key_id().to_owned()),
                        ("StringToSign".to_owned(), string_to_sign.clone()),
                        ("SignatureProvided".to_owned(), signature_provided.clone()),
                        ("StringToSignBytes".to_owned(), hex_bytes(string_to_sign)),
                        ("CanonicalRequest".to_owned(), canonical_request.clone()),
                        ("CanonicalRequestBytes".to_owned(), hex_bytes(canonical_request)),
                    ],
                ),
                E::ChunkMismatch => {
                    (forbidden, "SignatureDoesNotMatch", sigv4::S3_SIGNATURE_MISMATCH.to_owned(), vec![])
                }
            },
        };
        s3::error_response(status, code, &message, &extra, request_id)
    }
}

impl Refusal {
    fn access_key_id(&self) -> &str {
        match self {
            Refusal::Signature(_, id) | Refusal::UnknownKey { access_key_id: id, .. } => id,
            _ => "",
        }
    }
}

/// `StringToSignBytes`: the bytes as space-separated lower-case hex pairs.
fn hex_bytes(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

fn json_error(status: StatusCode, code: &'static str, message: &str, content_type: &'static str) -> Response<Body> {
    let body = json!({ "__type": code, "message": message }).to_string();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    r
}
