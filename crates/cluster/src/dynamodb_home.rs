//! DynamoDB on several nodes: one **home**. The engine (dynoxide) keeps tables, items and
//! stream records in SQLite files in a node's data dir and cannot run on PostgreSQL, so the
//! first node to start on a shared store claims the `dynamodb_home` cluster setting (its
//! `--node-id` name, or the one `--dynamodb-home` gives) and serves DynamoDB and DynamoDB
//! Streams for everyone. Every other node verifies the caller (SigV4, account, region) itself
//! and posts the request to the home over [`INTERNAL_DYNAMODB_PATH`] (HMAC-signed with the
//! cluster secret, like forwarded invocations), then returns the home's answer unchanged
//! (status, `x-amzn-RequestId`, `x-amz-crc32`, body). No live home, or a refused connection:
//! DynamoDB's 503 `ServiceUnavailable` at once, never another node's empty tables.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use store::{Store, StoreError};

use crate::{Cluster, HmacSha256, SIGNED_SKEW_MS};

/// The path the home serves forwarded DynamoDB and DynamoDB Streams requests on.
pub const INTERNAL_DYNAMODB_PATH: &str = "/_versa/internal/dynamodb";
/// Cluster setting: the name (`--node-id`) of the node whose files hold the DynamoDB tables.
pub const DYNAMODB_HOME_SETTING: &str = "dynamodb_home";
/// How long a forwarded request may take at the home (a large Scan or BatchWriteItem on a
/// busy home; DynamoDB's own clients time out sooner).
pub const DYNAMODB_FORWARD_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read from the home (BatchGetItem answers up to 16 MB of items, plus JSON).
pub const DYNAMODB_ANSWER_BYTES_MAX: usize = 32 * 1024 * 1024;
/// The home's headers a forwarding node passes on (besides status and body).
const PASSED_HEADERS: [&str; 3] = ["content-type", "x-amzn-requestid", "x-amz-crc32"];

/// Reads the DynamoDB home, claiming it for `candidate` when no node has yet (the first node
/// to start wins; `INSERT … ON CONFLICT DO NOTHING`).
pub async fn claim_dynamodb_home(store: &Store, candidate: &str) -> Result<String, StoreError> {
    let candidate = candidate.as_bytes().to_vec();
    let value = store.write(move |tx| tx.init_cluster_setting(DYNAMODB_HOME_SETTING, &candidate)).await?;
    String::from_utf8(value).map_err(|_| StoreError::Corrupt("the dynamodb_home setting is not text".into()))
}

/// What a forwarded DynamoDB request carries besides its body (all signed).
struct Call {
    time_ms: i64,
    account: String,
    region: String,
    target: String,
}

impl Call {
    fn canonical(&self, body_sha: &str) -> String {
        format!(
            "POST\n{INTERNAL_DYNAMODB_PATH}\n{}\n{}\n{}\n{}\n{body_sha}",
            self.time_ms, self.account, self.region, self.target
        )
    }
}

/// A forwarded request the home accepted: whose it is and what it asks.
#[derive(Debug)]
pub struct DynamoDbCall {
    pub account: String,
    pub region: String,
    pub target: Option<String>,
    pub body: Bytes,
}

impl Cluster {
    /// The DynamoDB home's node name (claimed when this node started).
    pub fn dynamodb_home(&self) -> &str {
        &self.inner.options.dynamodb_home
    }

    /// Whether this node's files hold the DynamoDB tables (it serves DynamoDB and runs the
    /// stream mappings' pollers).
    pub fn is_dynamodb_home(&self) -> bool {
        self.inner.options.dynamodb_home == self.inner.options.name
    }

    fn sign_call(&self, call: &Call, body_sha: &str) -> HmacSha256 {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&self.inner.secret).expect("HMAC takes any key length");
        m.update(call.canonical(body_sha).as_bytes());
        m
    }

    /// Sends one request to the home and returns its answer unchanged.
    async fn forward_dynamodb(
        self,
        account: String,
        region: String,
        target: Option<String>,
        body: Bytes,
    ) -> dynamodb::Response {
        let home = self.dynamodb_home().to_owned();
        let peers: Vec<_> = self.nodes().iter().filter(|p| p.live && p.name == home).cloned().collect();
        if peers.is_empty() {
            return dynamodb::Response::unavailable(&format!(
                "Versa: the DynamoDB home node '{home}' is not running (its tables live in its data dir)."
            ));
        }
        let call = Call { time_ms: stdx::time::now_ms(), account, region, target: target.unwrap_or_default() };
        let body_sha = stdx::hex::encode(&Sha256::digest(&body));
        let signature = stdx::hex::encode(&self.sign_call(&call, &body_sha).finalize().into_bytes());
        // A restarted home may still have its previous row among the live ones: try each.
        for peer in &peers {
            let req = http::Request::builder()
                .method("POST")
                .uri(format!("http://{}{INTERNAL_DYNAMODB_PATH}", peer.addr))
                .header("x-versa-signature", &signature)
                .header("x-versa-time", call.time_ms.to_string())
                .header("x-versa-account", &call.account)
                .header("x-versa-region", &call.region)
                .header("x-amz-target", &call.target)
                .body(Body::from(body.clone()));
            let Ok(req) = req else {
                return dynamodb::Response::error(
                    500,
                    dynamodb::INTERNAL_SERVER_ERROR,
                    "Versa: cannot build the forwarded request.",
                );
            };
            let sent = tokio::time::timeout(DYNAMODB_FORWARD_TIMEOUT, self.inner.client.request(req));
            // A home that stops (hung, cut off) without refusing connections: its heartbeats
            // stop, and the wait ends when the others count it dead, not at the timeout.
            let answer = tokio::select! {
                a = sent => a,
                () = self.clone().until_dead(peer.id.clone()) => {
                    return dynamodb::Response::error(
                        500,
                        dynamodb::INTERNAL_SERVER_ERROR,
                        &format!("Versa: the DynamoDB home node '{home}' stopped while answering; the request may have been applied."),
                    );
                }
            };
            let resp = match answer {
                Ok(Ok(r)) => r,
                Ok(Err(e)) if e.is_connect() => {
                    tracing::debug!(node = %peer.name, addr = %peer.addr, error = %e, "the DynamoDB home is unreachable");
                    continue;
                }
                // Delivered: it may have been applied, so it is not sent again.
                Ok(Err(e)) => {
                    return dynamodb::Response::error(
                        500,
                        dynamodb::INTERNAL_SERVER_ERROR,
                        &format!("Versa: the DynamoDB home node '{home}' failed to answer: {e}"),
                    );
                }
                Err(_) => {
                    return dynamodb::Response::error(
                        500,
                        dynamodb::INTERNAL_SERVER_ERROR,
                        &format!("Versa: the DynamoDB home node '{home}' did not answer in time."),
                    );
                }
            };
            let (parts, body) = resp.into_parts();
            let headers = PASSED_HEADERS
                .iter()
                .filter_map(|n| {
                    let v = parts.headers.get(*n)?.to_str().ok()?;
                    Some(((*n).to_owned(), v.to_owned()))
                })
                .collect();
            return match axum::body::to_bytes(Body::new(body), DYNAMODB_ANSWER_BYTES_MAX).await {
                Ok(b) => dynamodb::Response {
                    status: parts.status.as_u16(),
                    body: String::from_utf8_lossy(&b).into_owned(),
                    headers,
                },
                Err(e) => dynamodb::Response::error(
                    500,
                    dynamodb::INTERNAL_SERVER_ERROR,
                    &format!("Versa: the DynamoDB home node's answer broke off: {e}"),
                ),
            };
        }
        dynamodb::Response::unavailable(&format!("Versa: the DynamoDB home node '{home}' is unreachable."))
    }

    /// Returns once the node `id` is no longer live in this node's view (checked every heartbeat).
    async fn until_dead(self, id: String) {
        loop {
            tokio::time::sleep(self.inner.options.heartbeat).await;
            if !self.nodes().iter().any(|p| p.id == id && p.live) {
                return;
            }
        }
    }

    /// The home's side of [`INTERNAL_DYNAMODB_PATH`]: checks the signature and that this node
    /// is the home; the caller then serves the call with `DynamoDb::handle_here`. An error is
    /// the answer to send back.
    pub async fn accept_dynamodb(&self, req: http::Request<Body>) -> Result<DynamoDbCall, dynamodb::Response> {
        let (parts, body) = req.into_parts();
        let get = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let refused = |m: &str| dynamodb::Response::error(403, "com.amazon.coral.service#AccessDeniedException", m);
        let (Some(time), Some(account), Some(region), Some(target), Some(signature)) = (
            get("x-versa-time").and_then(|t| t.parse::<i64>().ok()),
            get("x-versa-account"),
            get("x-versa-region"),
            get("x-amz-target"),
            get("x-versa-signature"),
        ) else {
            return Err(refused("malformed forwarded DynamoDB request"));
        };
        if (stdx::time::now_ms() - time).abs() > SIGNED_SKEW_MS {
            return Err(refused("forwarded DynamoDB request signed too long ago"));
        }
        let body = axum::body::to_bytes(body, dynamodb::REQUEST_BYTES_MAX).await.map_err(|_| {
            dynamodb::Response::error(413, "com.amazon.coral.service#SerializationException", "Request body too large.")
        })?;
        let call = Call { time_ms: time, account, region, target };
        let ok = stdx::hex::decode(&signature).is_some_and(|tag| {
            self.sign_call(&call, &stdx::hex::encode(&Sha256::digest(&body))).verify_slice(&tag).is_ok()
        });
        if !ok {
            return Err(refused("bad signature on a forwarded DynamoDB request"));
        }
        if !self.is_dynamodb_home() {
            // Never answer from this node's (empty) files.
            return Err(dynamodb::Response::unavailable(&format!(
                "Versa: node '{}' is not the DynamoDB home ('{}').",
                self.name(),
                self.dynamodb_home()
            )));
        }
        let target = (!call.target.is_empty()).then_some(call.target);
        Ok(DynamoDbCall { account: call.account, region: call.region, target, body })
    }
}

impl dynamodb::Home for Cluster {
    fn forward(
        &self,
        account: &str,
        region: &str,
        target: Option<&str>,
        body: &[u8],
    ) -> Option<dynamodb::BoxFuture<dynamodb::Response>> {
        if self.is_dynamodb_home() {
            return None;
        }
        let fut = self.clone().forward_dynamodb(
            account.to_owned(),
            region.to_owned(),
            target.map(str::to_owned),
            Bytes::copy_from_slice(body),
        );
        Some(Box::pin(fut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_string_binds_every_field_and_the_body() {
        let call = || Call {
            time_ms: 42,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            target: "DynamoDB_20120810.PutItem".into(),
        };
        let base = call().canonical("sha");
        assert!(base.starts_with(&format!("POST\n{INTERNAL_DYNAMODB_PATH}\n42\n")), "{base}");
        let changed = [
            Call { time_ms: 43, ..call() },
            Call { account: "123456789013".into(), ..call() },
            Call { region: "eu-west-1".into(), ..call() },
            Call { target: "DynamoDB_20120810.DeleteItem".into(), ..call() },
        ];
        for c in changed {
            assert_ne!(c.canonical("sha"), base);
        }
        assert_ne!(call().canonical("other"), base);
    }
}
