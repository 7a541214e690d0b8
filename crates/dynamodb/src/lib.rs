//! DynamoDB (`DynamoDB_20120810.*`) and DynamoDB Streams (`DynamoDBStreams_20120810.*`), AWS
//! JSON 1.0, both signed `dynamodb`, served by the embedded `dynoxide` engine (vendored under
//! `vendor/dynoxide-rs`, see ARCHITECTURE.md for the decision).
//!
//! One SQLite file per account and region (`<data>/dynamodb/<account>-<region>.db`, WAL,
//! `synchronous=FULL`): tables, items, indexes, stream records and the stream sequence counter
//! live in it, and dynoxide writes an item change and its stream record in one transaction.
//! The engine names every ARN with region `dynoxide` and account `000000000000`; this crate
//! translates those to the caller's account and region on the way out and back on the way in.
//!
//! **Boundary:** [`DynamoDb::handle`] is the one entry for both targets; [`StreamClient`] is the
//! seam a stream poller reads through (in-process here, an HTTP client elsewhere). On several
//! nodes the files live on one node, the home: [`Home`] (set with [`DynamoDb::set_home`],
//! implemented by `crates/cluster`) takes every request elsewhere, and the home serves it with
//! [`DynamoDb::handle_here`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use dynoxide;
use dynoxide::Database;
use serde_json::{Value, json};

/// The SigV4 service name of both APIs.
pub const SERVICE: &str = "dynamodb";
/// `X-Amz-Target` prefix of DynamoDB.
pub const TARGET_PREFIX: &str = "DynamoDB_20120810.";
/// `X-Amz-Target` prefix of DynamoDB Streams.
pub const STREAMS_TARGET_PREFIX: &str = "DynamoDBStreams_20120810.";
/// Largest request body read: DynamoDB's own request limit is 16 MB (BatchWriteItem of 25
/// items of 400 KB is 10 MB); larger bodies are refused before parsing.
pub const REQUEST_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Most (account, region) databases open at once; a request for one more is refused.
pub const DATABASES_MAX: usize = 256;
/// How often expired items (TTL) and stream records past [`STREAM_RETENTION`] are deleted.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// How long stream records are kept, as on AWS.
pub const STREAM_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// How the engine spells the ARN prefix, and the prefix's region.
const ENGINE_ARN_PREFIX: &str = "arn:aws:dynamodb:dynoxide:000000000000:";
const ENGINE_REGION_FIELD: &str = "\"awsRegion\":\"dynoxide\"";

/// One answer, ready for the wire (`application/x-amz-json-1.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// The home node's headers when another node answered (`x-amzn-RequestId`,
    /// `x-amz-crc32`, `content-type`), passed on unchanged; empty for an answer made here.
    pub headers: Vec<(String, String)>,
}

impl Response {
    pub const CONTENT_TYPE: &'static str = "application/x-amz-json-1.0";

    /// An answer made here.
    pub fn new(status: u16, body: String) -> Response {
        Response { status, body, headers: Vec::new() }
    }

    /// An error in DynamoDB's JSON 1.0 shape.
    pub fn error(status: u16, type_: &str, message: &str) -> Response {
        Response::new(status, json!({ "__type": type_, "message": message }).to_string())
    }

    /// DynamoDB's 503 `ServiceUnavailable` ("The service is currently unavailable or busy."),
    /// with what is unavailable: safe to retry, nothing was applied.
    pub fn unavailable(detail: &str) -> Response {
        let message = format!("The service is currently unavailable or busy. {detail}");
        Response::error(503, SERVICE_UNAVAILABLE, &message)
    }
}

/// The `__type` of DynamoDB's 503 (retryable) error.
pub const SERVICE_UNAVAILABLE: &str = "com.amazonaws.dynamodb.v20120810#ServiceUnavailable";
/// The `__type` of DynamoDB's 500 error (the request may or may not have been applied).
pub const INTERNAL_SERVER_ERROR: &str = "com.amazonaws.dynamodb.v20120810#InternalServerError";

/// A boxed future, for [`Home`].
pub type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where requests run when several nodes share a store: the tables live in one node's files
/// (the DynamoDB home), and every other node hands each request to it (`crates/cluster`).
pub trait Home: Send + Sync {
    /// `None` when this node is the home (serve here); otherwise the home's answer, or
    /// [`Response::unavailable`] when no home node can be reached.
    fn forward(&self, account: &str, region: &str, target: Option<&str>, body: &[u8]) -> Option<BoxFuture<Response>>;
}

/// The service: the databases of every (account, region) seen.
#[derive(Clone)]
pub struct DynamoDb {
    dir: PathBuf,
    databases: Arc<Mutex<HashMap<(String, String), Database>>>,
    /// Bumped after every committed write (and TTL sweep): what wakes stream pollers.
    writes: Arc<tokio::sync::watch::Sender<u64>>,
    /// Several nodes: where requests run when this node is not the home (unset: here).
    home: Arc<std::sync::OnceLock<Arc<dyn Home>>>,
}

impl DynamoDb {
    /// Opens the service under `dir`, and every database already there.
    pub fn open(dir: &Path) -> Result<DynamoDb, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let service = DynamoDb {
            dir: dir.to_owned(),
            databases: Arc::default(),
            writes: Arc::new(tokio::sync::watch::channel(0).0),
            home: Arc::default(),
        };
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((account, region)) = name.strip_suffix(".db").and_then(|s| s.split_once('-')) {
                service.database(account, region)?;
            }
        }
        Ok(service)
    }

    /// The database of `account` in `region`, opened on first use.
    fn database(&self, account: &str, region: &str) -> Result<Database, String> {
        let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid(account) || account.contains('-') || !valid(region) {
            return Err(format!("invalid account or region: {account} {region}"));
        }
        let mut dbs = self.databases.lock().unwrap_or_else(|e| e.into_inner());
        let key = (account.to_owned(), region.to_owned());
        if let Some(db) = dbs.get(&key) {
            return Ok(db.clone());
        }
        if dbs.len() >= DATABASES_MAX {
            return Err(format!("more than {DATABASES_MAX} account/region databases"));
        }
        let path = self.dir.join(format!("{account}-{region}.db"));
        let db = Database::new(&path.to_string_lossy()).map_err(|e| format!("{}: {e}", path.display()))?;
        // Versa's durability rule: an acknowledged write survives a power cut, not only kill -9.
        dynoxide::embed::set_synchronous(&db, "FULL").map_err(|e| e.to_string())?;
        dbs.insert(key, db.clone());
        Ok(db)
    }

    /// Several nodes: requests (the API's, the stream client's) go through `home`, which
    /// answers them elsewhere unless this node is the home. Set once, before serving.
    pub fn set_home(&self, home: Arc<dyn Home>) {
        if self.home.set(home).is_err() {
            tracing::warn!("the DynamoDB home was set twice; the first stays");
        }
    }

    /// Serves one request of either target: here, or at the home node (see [`Home`]).
    pub async fn handle(&self, account: &str, region: &str, target: Option<&str>, body: &[u8]) -> Response {
        if let Some(home) = self.home.get()
            && let Some(answer) = home.forward(account, region, target, body)
        {
            return answer.await;
        }
        self.handle_here(account, region, target, body).await
    }

    /// Serves one request of either target on this node's files (the home's side of a
    /// forwarded request, or one node alone).
    pub async fn handle_here(&self, account: &str, region: &str, target: Option<&str>, body: &[u8]) -> Response {
        let Some(operation) = target.and_then(|t| {
            t.strip_prefix(TARGET_PREFIX)
                .filter(|op| !is_streams_operation(op))
                .or_else(|| t.strip_prefix(STREAMS_TARGET_PREFIX).filter(|op| is_streams_operation(op)))
        }) else {
            return Response::new(400, r#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#.to_owned());
        };
        let Ok(body) = std::str::from_utf8(body) else {
            return Response::new(400, r#"{"__type":"com.amazon.coral.service#SerializationException"}"#.to_owned());
        };
        let db = match self.database(account, region) {
            Ok(db) => db,
            Err(e) => return Response::error(500, INTERNAL_SERVER_ERROR, &e),
        };
        let caller_prefix = format!("arn:aws:dynamodb:{region}:{account}:");
        let body = body.replace(&caller_prefix, ENGINE_ARN_PREFIX);
        let (body, asked_by_arn) = match table_arns_to_names(operation, &body) {
            Ok(named) => named,
            Err(arn) => return foreign_table(account, operation, &arn),
        };
        let write = is_write_operation(operation);
        let operation = operation.to_owned();
        let answer =
            tokio::task::spawn_blocking(move || dynoxide::embed::handle(&db, &operation, &body)).await.unwrap_or_else(
                |e| Err(dynoxide::embed::ErrorResponse { status: 500, body: json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": e.to_string()}).to_string() }),
            );
        let (status, body) = match answer {
            Ok(body) => (200, body),
            Err(e) => (e.status, e.body),
        };
        if write && status == 200 {
            self.writes.send_modify(|n| *n += 1);
        }
        // A batch's answer is keyed by its tables as the request named them.
        let body = asked_by_arn.iter().fold(body, |body, name| {
            body.replace(&format!("\"{name}\":["), &format!("\"{ENGINE_ARN_PREFIX}table/{name}\":["))
        });
        let body = body
            .replace(ENGINE_ARN_PREFIX, &caller_prefix)
            .replace(ENGINE_REGION_FIELD, &format!("\"awsRegion\":\"{region}\""));
        Response::new(status, body)
    }

    /// Every [`SWEEP_INTERVAL`], in every open database: deletes expired items (TTL; their
    /// REMOVE records carry the service identity) and stream records older than
    /// [`STREAM_RETENTION`].
    pub fn start_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                let dbs: Vec<Database> =
                    this.databases.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
                let writes = this.writes.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    for db in dbs {
                        match db.sweep_ttl() {
                            Ok(0) => {}
                            Ok(_) => writes.send_modify(|n| *n += 1),
                            Err(e) => tracing::warn!("dynamodb TTL sweep: {e}"),
                        }
                        let retention = STREAM_RETENTION.as_secs() as i64;
                        if let Err(e) = dynoxide::embed::trim_stream_records(&db, retention) {
                            tracing::warn!("dynamodb stream trim: {e}");
                        }
                    }
                })
                .await;
            }
        })
    }

    /// A receiver that changes after every committed write (any table, any account) and every
    /// TTL sweep: a stream poller waits on it instead of polling on a timer.
    pub fn subscribe_writes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.writes.subscribe()
    }

    /// An in-process [`StreamClient`] of `account` in `region`.
    pub fn stream_client(&self, account: &str, region: &str) -> InProcessStreams {
        InProcessStreams { service: self.clone(), account: account.to_owned(), region: region.to_owned() }
    }
}

/// The engine's spelling of a table ARN of the caller's (see [`ENGINE_ARN_PREFIX`]).
const ENGINE_TABLE_ARN_PREFIX: &str = "arn:aws:dynamodb:dynoxide:000000000000:table/";

/// A table ARN given where DynamoDB takes a table name (event-sources.md §5.2: "`TableName`
/// params also accept a table ARN"), as the name the engine knows: every `"TableName":"<arn>"`
/// (the operation's own, a transaction's items') and, for BatchGetItem and BatchWriteItem,
/// every `RequestItems` key. The body is edited as text, not re-serialized, because the engine
/// reads some values as they were written. Also answers the names of the batch keys given as
/// ARNs (their answer is keyed by the ARN again). `Err`: a table ARN of another account or
/// region (already-translated caller ARNs carry the engine's prefix).
fn table_arns_to_names(op: &str, body: &str) -> Result<(String, Vec<String>), String> {
    if !body.contains("arn:") {
        return Ok((body.to_owned(), Vec::new()));
    }
    let batch = matches!(op, "BatchGetItem" | "BatchWriteItem");
    let mut out = String::with_capacity(body.len());
    let mut asked = Vec::new();
    let mut rest = body;
    let mut previous = "";
    // Each JSON string token in turn, with what precedes and follows it.
    while let Some(open) = rest.find('"') {
        let Some(len) = string_token_len(&rest[open..]) else { break };
        let (before, token, after) = (&rest[..open], &rest[open..open + len], &rest[open + len..]);
        out.push_str(before);
        let value = &token[1..token.len() - 1];
        let is_table_name_value = previous == "\"TableName\"" && before.trim() == ":";
        let is_batch_key = batch && before.trim_end().ends_with(['{', ',']) && {
            let next = after.trim_start();
            next.starts_with(':') && next[1..].trim_start().starts_with(['[', '{'])
        };
        previous = token;
        match table_arn_name(value) {
            Some(Ok(name)) if is_table_name_value || is_batch_key => {
                out.push('"');
                out.push_str(name);
                out.push('"');
                if is_batch_key && !is_table_name_value && !asked.iter().any(|a| a == name) {
                    asked.push(name.to_owned());
                }
            }
            Some(Err(())) if is_table_name_value || is_batch_key => return Err(value.to_owned()),
            _ => out.push_str(token),
        }
        rest = after;
    }
    out.push_str(rest);
    Ok((out, asked))
}

/// The length of the JSON string token `s` starts with (quotes included), `None` if unclosed.
fn string_token_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// `Some(Ok(name))` for a table ARN of the caller's (engine prefix), `Some(Err(()))` for a
/// table ARN of another account or region, `None` for anything else.
fn table_arn_name(value: &str) -> Option<Result<&str, ()>> {
    let plain = |name: &str| !name.is_empty() && !name.contains(['/', '\\']);
    if let Some(name) = value.strip_prefix(ENGINE_TABLE_ARN_PREFIX) {
        return plain(name).then_some(Ok(name));
    }
    let mut parts = value.splitn(6, ':');
    let (arn, _partition, service, _region, _account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let name = resource.strip_prefix("table/")?;
    (arn == "arn" && service == "dynamodb" && plain(name)).then_some(Err(()))
}

/// The answer to a table ARN of another account or region [U]: another account's table is
/// refused as DynamoDB refuses a caller no resource-based policy lets in; another region's
/// (of the caller's account) is not found here.
fn foreign_table(account: &str, op: &str, arn: &str) -> Response {
    if arn.split(':').nth(4) != Some(account) {
        let message = format!(
            "User: arn:aws:iam::{account}:root is not authorized to perform: dynamodb:{op} on resource: {arn} because no resource-based policy allows the dynamodb:{op} action"
        );
        return Response::error(400, "com.amazonaws.dynamodb.v20120810#AccessDeniedException", &message);
    }
    Response::error(400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "Requested resource not found")
}

/// The four operations DynamoDB Streams serves (the rest belong to `DynamoDB_20120810`).
fn is_streams_operation(op: &str) -> bool {
    matches!(op, "ListStreams" | "DescribeStream" | "GetShardIterator" | "GetRecords")
}

/// The operations that may write items (and so stream records).
fn is_write_operation(op: &str) -> bool {
    matches!(
        op,
        "PutItem"
            | "UpdateItem"
            | "DeleteItem"
            | "BatchWriteItem"
            | "TransactWriteItems"
            | "ExecuteStatement"
            | "BatchExecuteStatement"
            | "ExecuteTransaction"
    )
}

/// An error a [`StreamClient`] call answered: the AWS error code (after the `#`) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub code: String,
    pub message: String,
}

/// What a DynamoDB Streams poller needs, in the API's own JSON shapes (`DescribeStream`'s
/// `StreamDescription`, `GetRecords`' `Records` and `NextShardIterator`). The seam the event
/// source mapping poller reads through: in-process here, any endpoint for another implementation.
pub trait StreamClient: Send + Sync {
    fn describe_stream(&self, stream_arn: &str) -> impl Future<Output = Result<Value, ClientError>> + Send;
    /// `kind` is TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER.
    fn get_shard_iterator(
        &self,
        stream_arn: &str,
        shard_id: &str,
        kind: &str,
        sequence_number: Option<&str>,
    ) -> impl Future<Output = Result<String, ClientError>> + Send;
    fn get_records(&self, iterator: &str, limit: u32) -> impl Future<Output = Result<Value, ClientError>> + Send;
}

/// [`StreamClient`] over [`DynamoDb::handle`], the functions the API serves.
#[derive(Clone)]
pub struct InProcessStreams {
    service: DynamoDb,
    account: String,
    region: String,
}

impl InProcessStreams {
    async fn call(&self, op: &str, input: Value) -> Result<Value, ClientError> {
        let target = format!("{STREAMS_TARGET_PREFIX}{op}");
        let r = self.service.handle(&self.account, &self.region, Some(&target), input.to_string().as_bytes()).await;
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        if r.status == 200 {
            return Ok(v);
        }
        let code = v["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("").to_owned();
        let message = v["message"].as_str().or(v["Message"].as_str()).unwrap_or("").to_owned();
        Err(ClientError { code, message })
    }

    /// The sequence number a LATEST iterator of `shard_id` starts after (the shard's last record),
    /// `None` when the shard has no record yet: the position a poller starting at LATEST records
    /// as its first checkpoint, so a restart resumes there instead of at a later LATEST.
    pub async fn latest_sequence(&self, stream_arn: &str, shard_id: &str) -> Result<Option<String>, ClientError> {
        let it = self.get_shard_iterator(stream_arn, shard_id, "LATEST", None).await?;
        let (_, _, position) = dynoxide::actions::get_shard_iterator::decode_shard_iterator(&it)
            .ok_or_else(|| ClientError { code: "InternalServerError".into(), message: "unreadable iterator".into() })?;
        Ok((position > 0).then(|| dynoxide::streams::format_sequence_number(position)))
    }
}

impl StreamClient for InProcessStreams {
    async fn describe_stream(&self, stream_arn: &str) -> Result<Value, ClientError> {
        let v = self.call("DescribeStream", json!({ "StreamArn": stream_arn })).await?;
        Ok(v["StreamDescription"].clone())
    }

    async fn get_shard_iterator(
        &self,
        stream_arn: &str,
        shard_id: &str,
        kind: &str,
        sequence_number: Option<&str>,
    ) -> Result<String, ClientError> {
        let mut input = json!({ "StreamArn": stream_arn, "ShardId": shard_id, "ShardIteratorType": kind });
        if let Some(seq) = sequence_number {
            input["SequenceNumber"] = json!(seq);
        }
        let v = self.call("GetShardIterator", input).await?;
        Ok(v["ShardIterator"].as_str().unwrap_or("").to_owned())
    }

    async fn get_records(&self, iterator: &str, limit: u32) -> Result<Value, ClientError> {
        self.call("GetRecords", json!({ "ShardIterator": iterator, "Limit": limit })).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn call(db: &DynamoDb, op: &str, input: Value) -> (u16, Value) {
        let target = if is_streams_operation(op) { STREAMS_TARGET_PREFIX } else { TARGET_PREFIX };
        let r =
            db.handle("123456789012", "eu-west-1", Some(&format!("{target}{op}")), input.to_string().as_bytes()).await;
        (r.status, serde_json::from_str(&r.body).unwrap())
    }

    /// A home elsewhere that cannot be reached.
    struct Away;

    impl Home for Away {
        fn forward(&self, _: &str, _: &str, _: Option<&str>, _: &[u8]) -> Option<BoxFuture<Response>> {
            Some(Box::pin(async { Response::unavailable("away") }))
        }
    }

    #[tokio::test]
    async fn with_the_home_elsewhere_nothing_is_served_from_local_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        db.set_home(Arc::new(Away));
        let (s, v) = call(&db, "ListTables", json!({})).await;
        assert_eq!((s, v["__type"].as_str()), (503, Some(SERVICE_UNAVAILABLE)), "{v}");
        let streams = db.stream_client("123456789012", "eu-west-1");
        let e = streams.describe_stream("arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x").await.unwrap_err();
        assert_eq!(e.code, "ServiceUnavailable");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "no database was created here");
        // The home's side serves its own files.
        let r = db.handle_here("123456789012", "eu-west-1", Some("DynamoDB_20120810.ListTables"), b"{}").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    #[tokio::test]
    async fn arns_name_the_caller_and_the_stream_client_reads_records() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        let (s, v) = call(
            &db,
            "CreateTable",
            json!({"TableName":"tab","KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],
                   "AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],
                   "BillingMode":"PAY_PER_REQUEST",
                   "StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_AND_OLD_IMAGES"}}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let arn = v["TableDescription"]["LatestStreamArn"].as_str().unwrap().to_owned();
        assert!(arn.starts_with("arn:aws:dynamodb:eu-west-1:123456789012:table/tab/stream/"), "{arn}");
        let mut writes = db.subscribe_writes();
        let (s, _) = call(&db, "PutItem", json!({"TableName":"tab","Item":{"k":{"S":"a"}}})).await;
        assert_eq!(s, 200);
        assert!(writes.has_changed().unwrap(), "a committed write wakes pollers");
        writes.mark_unchanged();
        let refused = json!({"TableName":"tab","Item":{"k":{"S":"a"}},"ConditionExpression":"attribute_not_exists(k)"});
        assert_eq!(call(&db, "PutItem", refused).await.0, 400);
        assert!(!writes.has_changed().unwrap(), "a refused write does not");
        let client = db.stream_client("123456789012", "eu-west-1");
        let desc = client.describe_stream(&arn).await.unwrap();
        let shard = desc["Shards"][0]["ShardId"].as_str().unwrap().to_owned();
        let it = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        let records = client.get_records(&it, 100).await.unwrap();
        assert_eq!(records["Records"][0]["eventName"], "INSERT");
        assert_eq!(records["Records"][0]["awsRegion"], "eu-west-1");
        // Whole epoch seconds, written as an integer (what the Lambda event passes on).
        let created = &records["Records"][0]["dynamodb"]["ApproximateCreationDateTime"];
        assert!(created.is_i64() && created.as_i64() > Some(1_700_000_000), "{records}");
        // A Streams operation under the DynamoDB prefix is unknown there, as on AWS.
        let r = db.handle("123456789012", "eu-west-1", Some("DynamoDB_20120810.GetRecords"), b"{}").await;
        assert!(r.body.contains("UnknownOperationException"));
        // The other table's stream of another account is not visible.
        let other = db.stream_client("210987654321", "eu-west-1");
        assert_eq!(other.describe_stream(&arn).await.unwrap_err().code, "ResourceNotFoundException");
    }

    async fn last_sequence(db: &DynamoDb, arn: &str) -> Option<u128> {
        let client = db.stream_client("123456789012", "eu-west-1");
        let shard = client.describe_stream(arn).await.unwrap()["Shards"][0]["ShardId"].as_str().unwrap().to_owned();
        let it = client.get_shard_iterator(arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        let records = client.get_records(&it, 1000).await.unwrap();
        records["Records"]
            .as_array()
            .unwrap()
            .last()
            .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap().parse().unwrap())
    }

    #[tokio::test]
    async fn sequence_numbers_never_go_back_across_trims_and_re_created_tables() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        let table = json!({"TableName":"seq","KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],
               "AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST",
               "StreamSpecification":{"StreamEnabled":true,"StreamViewType":"KEYS_ONLY"}});
        let arn = call(&db, "CreateTable", table.clone()).await.1["TableDescription"]["LatestStreamArn"]
            .as_str()
            .unwrap()
            .to_owned();
        for k in ["a", "b"] {
            assert_eq!(call(&db, "PutItem", json!({"TableName":"seq","Item":{"k":{"S":k}}})).await.0, 200);
        }
        let first = last_sequence(&db, &arn).await.unwrap();
        // Retention: a trim of everything older than "the future" empties the shard.
        let engine = db.database("123456789012", "eu-west-1").unwrap();
        assert_eq!(dynoxide::embed::trim_stream_records(&engine, -10).unwrap(), 2);
        assert_eq!(last_sequence(&db, &arn).await, None);
        assert_eq!(call(&db, "DeleteTable", json!({"TableName":"seq"})).await.0, 200);
        drop(engine);
        // Re-opened (a restart) and re-created: the next number is above every earlier one.
        let db = DynamoDb::open(dir.path()).unwrap();
        let arn =
            call(&db, "CreateTable", table).await.1["TableDescription"]["LatestStreamArn"].as_str().unwrap().to_owned();
        assert_eq!(call(&db, "PutItem", json!({"TableName":"seq","Item":{"k":{"S":"c"}}})).await.0, 200);
        assert!(last_sequence(&db, &arn).await.unwrap() > first);
    }

    async fn stream_table(db: &DynamoDb, name: &str) -> (String, String) {
        let table = json!({"TableName":name,"KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],
               "AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST",
               "StreamSpecification":{"StreamEnabled":true,"StreamViewType":"KEYS_ONLY"}});
        let arn =
            call(db, "CreateTable", table).await.1["TableDescription"]["LatestStreamArn"].as_str().unwrap().to_owned();
        let client = db.stream_client("123456789012", "eu-west-1");
        let shard = client.describe_stream(&arn).await.unwrap()["Shards"][0]["ShardId"].as_str().unwrap().to_owned();
        (arn, shard)
    }

    fn keys(records: &Value) -> Vec<&str> {
        records["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dynamodb"]["Keys"]["k"]["S"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_stream_arn_names_only_the_tables_current_stream() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        let (arn, shard) = stream_table(&db, "lbl").await;
        assert_eq!(call(&db, "PutItem", json!({"TableName":"lbl","Item":{"k":{"S":"old"}}})).await.0, 200);
        let client = db.stream_client("123456789012", "eu-west-1");
        let missing = |arn: &str, e: ClientError| {
            assert_eq!(e.code, "ResourceNotFoundException");
            assert_eq!(e.message, format!("Requested resource not found: Stream: {arn} not found"));
        };
        // A made-up label, and another account's ARN of the same table and label.
        let made_up = arn.rsplit_once("/stream/").unwrap().0.to_owned() + "/stream/1999-01-01T00:00:00.000";
        missing(&made_up, client.describe_stream(&made_up).await.unwrap_err());
        missing(&made_up, client.get_shard_iterator(&made_up, &shard, "TRIM_HORIZON", None).await.unwrap_err());
        let foreign = arn.replace(":123456789012:", ":210987654321:");
        missing(&foreign, client.describe_stream(&foreign).await.unwrap_err());
        let old_it = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        // The table deleted and created again: a new stream that starts empty; the old ARN and
        // the old stream's iterator still read the old (disabled) stream only.
        assert_eq!(call(&db, "DeleteTable", json!({"TableName":"lbl"})).await.0, 200);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (new_arn, _) = stream_table(&db, "lbl").await;
        assert_ne!(new_arn, arn);
        assert_eq!(call(&db, "PutItem", json!({"TableName":"lbl","Item":{"k":{"S":"new"}}})).await.0, 200);
        assert_eq!(client.describe_stream(&arn).await.unwrap()["StreamStatus"], "DISABLED");
        assert_eq!(keys(&client.get_records(&old_it, 10).await.unwrap()), ["old"]);
        let it = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        assert_eq!(keys(&client.get_records(&it, 10).await.unwrap()), ["old"]);
        let it = client.get_shard_iterator(&new_arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        let page = client.get_records(&it, 10).await.unwrap();
        assert_eq!(keys(&page), ["new"]);
        // Its NextShardIterator is still the new stream's.
        let next = page["NextShardIterator"].as_str().unwrap();
        assert_eq!(call(&db, "PutItem", json!({"TableName":"lbl","Item":{"k":{"S":"newer"}}})).await.0, 200);
        assert_eq!(keys(&client.get_records(next, 10).await.unwrap()), ["newer"]);
        // Disabled and enabled again: a new stream again.
        let off = json!({"TableName":"lbl","StreamSpecification":{"StreamEnabled":false}});
        assert_eq!(call(&db, "UpdateTable", off).await.0, 200);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let on = json!({"TableName":"lbl","StreamSpecification":{"StreamEnabled":true,"StreamViewType":"KEYS_ONLY"}});
        let (s, v) = call(&db, "UpdateTable", on).await;
        assert_eq!(s, 200, "{v}");
        let third = v["TableDescription"]["LatestStreamArn"].as_str().unwrap().to_owned();
        assert_ne!(third, new_arn);
        assert_eq!(client.describe_stream(&new_arn).await.unwrap()["StreamStatus"], "DISABLED");
        assert_eq!(keys(&client.get_records(next, 10).await.unwrap()), ["newer"]);
        let it = client.get_shard_iterator(&third, &shard, "TRIM_HORIZON", None).await.unwrap();
        assert!(keys(&client.get_records(&it, 10).await.unwrap()).is_empty());
    }

    /// Tables created and deleted under new names keep at most `DISABLED_STREAMS_MAX` disabled
    /// streams in all, the oldest going first.
    #[tokio::test]
    async fn disabled_streams_are_bounded_over_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        let max = dynoxide::streams::DISABLED_STREAMS_MAX as usize;
        for n in 0..max + 3 {
            let name = format!("t{n:05}");
            stream_table(&db, &name).await;
            assert_eq!(call(&db, "DeleteTable", json!({"TableName": name})).await.0, 200);
        }
        let mut tables = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let mut req = json!({"Limit": 100});
            if let Some(s) = &start {
                req["ExclusiveStartStreamArn"] = json!(s);
            }
            let (_, page) = call(&db, "ListStreams", req).await;
            tables.extend(
                page["Streams"].as_array().unwrap().iter().map(|s| s["TableName"].as_str().unwrap().to_owned()),
            );
            match page["LastEvaluatedStreamArn"].as_str() {
                Some(s) => start = Some(s.to_owned()),
                None => break,
            }
        }
        assert_eq!(tables.len(), max);
        assert!(
            !tables.contains(&"t00000".to_owned()) && tables.contains(&format!("t{:05}", max + 2)),
            "the oldest go"
        );
    }

    #[tokio::test]
    async fn a_disabled_stream_stays_readable_and_listed_with_its_shard_closed() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        let client = db.stream_client("123456789012", "eu-west-1");
        let list = |table: &'static str| {
            let db = db.clone();
            async move {
                let (s, v) = call(&db, "ListStreams", json!({"TableName": table})).await;
                assert_eq!(s, 200, "{v}");
                v["Streams"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["StreamArn"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        // Disabled by UpdateTable.
        let (arn, shard) = stream_table(&db, "dis").await;
        for k in ["a", "b"] {
            assert_eq!(call(&db, "PutItem", json!({"TableName":"dis","Item":{"k":{"S":k}}})).await.0, 200);
        }
        let open = client.describe_stream(&arn).await.unwrap();
        assert_eq!(open["StreamStatus"], "ENABLED");
        assert!(open["Shards"][0]["SequenceNumberRange"].get("EndingSequenceNumber").is_none(), "{open}");
        let off = json!({"TableName":"dis","StreamSpecification":{"StreamEnabled":false}});
        assert_eq!(call(&db, "UpdateTable", off).await.0, 200);
        let desc = client.describe_stream(&arn).await.unwrap();
        assert_eq!((desc["StreamStatus"].as_str(), desc["TableName"].as_str()), (Some("DISABLED"), Some("dis")));
        assert_eq!(desc["StreamViewType"], "KEYS_ONLY");
        assert_eq!(desc["KeySchema"], json!([{"AttributeName":"k","KeyType":"HASH"}]));
        assert_eq!(desc["Shards"][0]["ShardId"], shard.as_str());
        let it = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        let page = client.get_records(&it, 10).await.unwrap();
        assert_eq!(keys(&page), ["a", "b"]);
        let last = page["Records"][1]["dynamodb"]["SequenceNumber"].as_str().unwrap();
        assert_eq!(desc["Shards"][0]["SequenceNumberRange"]["EndingSequenceNumber"].as_str(), Some(last), "{desc}");
        // The closed shard read to its end: no next iterator.
        assert!(page.get("NextShardIterator").is_none(), "{page}");
        let page = client.get_records(&it, 1).await.unwrap();
        assert_eq!(keys(&page), ["a"]);
        let page = client.get_records(page["NextShardIterator"].as_str().unwrap(), 1).await.unwrap();
        assert_eq!(keys(&page), ["b"]);
        let page = client.get_records(page["NextShardIterator"].as_str().unwrap(), 1).await.unwrap();
        assert!(keys(&page).is_empty() && page.get("NextShardIterator").is_none(), "{page}");
        assert_eq!(list("dis").await, [arn.as_str()]);
        // A later stream of the table is another: empty, listed after the disabled one.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let on = json!({"TableName":"dis","StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_IMAGE"}});
        let (s, v) = call(&db, "UpdateTable", on).await;
        assert_eq!(s, 200, "{v}");
        let second = v["TableDescription"]["LatestStreamArn"].as_str().unwrap().to_owned();
        assert_eq!(list("dis").await, [arn.as_str(), second.as_str()]);
        assert_eq!(client.describe_stream(&second).await.unwrap()["StreamStatus"], "ENABLED");
        let it = client.get_shard_iterator(&second, &shard, "TRIM_HORIZON", None).await.unwrap();
        assert!(keys(&client.get_records(&it, 10).await.unwrap()).is_empty());
        assert_eq!(call(&db, "PutItem", json!({"TableName":"dis","Item":{"k":{"S":"c"}}})).await.0, 200);
        let it = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        assert_eq!(keys(&client.get_records(&it, 10).await.unwrap()), ["a", "b"], "the old stream gets nothing new");
        // Deleted with its table: still described (DISABLED), listed and readable.
        assert_eq!(call(&db, "DeleteTable", json!({"TableName":"dis"})).await.0, 200);
        assert_eq!(list("dis").await, [arn.as_str(), second.as_str()]);
        assert_eq!(client.describe_stream(&second).await.unwrap()["StreamStatus"], "DISABLED");
        let it = client.get_shard_iterator(&second, &shard, "LATEST", None).await.unwrap();
        let page = client.get_records(&it, 10).await.unwrap();
        assert!(keys(&page).is_empty() && page.get("NextShardIterator").is_none(), "{page}");
        let it = client.get_shard_iterator(&second, &shard, "TRIM_HORIZON", None).await.unwrap();
        assert_eq!(keys(&client.get_records(&it, 10).await.unwrap()), ["c"]);
        // A disabled stream that never had a record still has a closed shard.
        let (empty, _) = stream_table(&db, "dis2").await;
        assert_eq!(call(&db, "DeleteTable", json!({"TableName":"dis2"})).await.0, 200);
        let desc = client.describe_stream(&empty).await.unwrap();
        assert!(desc["Shards"][0]["SequenceNumberRange"]["EndingSequenceNumber"].is_string(), "{desc}");
        assert_eq!(call(&db, "ListStreams", json!({})).await.1["Streams"].as_array().unwrap().len(), 3);
        // Paging goes on after a start stream that is no longer listed (expired since the
        // previous page): from its place in (table, label) order, not from the top again.
        let gone = "arn:aws:dynamodb:us-east-1:000000000000:table/dis/stream/9999-12-31T23:59:59.999";
        let (_, page) = call(&db, "ListStreams", json!({"ExclusiveStartStreamArn": gone})).await;
        let tables: Vec<&str> =
            page["Streams"].as_array().unwrap().iter().map(|s| s["TableName"].as_str().unwrap()).collect();
        assert_eq!(tables, ["dis2"], "{page}");
    }

    /// A disabled stream is readable for 24 hours, then gone with its records; a table keeps
    /// at most `DISABLED_STREAMS_PER_TABLE_MAX` of them (the engine on a manual clock).
    #[test]
    fn a_disabled_stream_is_kept_for_24_hours_and_boundedly() {
        use dynoxide::streams::{DISABLED_STREAM_RETENTION_SECS, DISABLED_STREAMS_PER_TABLE_MAX};
        let clock = dynoxide::storage_backend::ManualClock::new(1_800_000_000);
        let db = Database::memory_with_clock(clock.arc()).unwrap();
        let run = |op: &str, body: Value| -> Value {
            serde_json::from_str(&dynoxide::embed::handle(&db, op, &body.to_string()).unwrap()).unwrap()
        };
        let table = json!({"TableName":"ttl24","KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],
               "AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST",
               "StreamSpecification":{"StreamEnabled":true,"StreamViewType":"KEYS_ONLY"}});
        let arn = run("CreateTable", table)["TableDescription"]["LatestStreamArn"].as_str().unwrap().to_owned();
        run("PutItem", json!({"TableName":"ttl24","Item":{"k":{"S":"a"}}}));
        run("UpdateTable", json!({"TableName":"ttl24","StreamSpecification":{"StreamEnabled":false}}));
        let described =
            |arn: &str| dynoxide::embed::handle(&db, "DescribeStream", &json!({"StreamArn": arn}).to_string());
        let listed = || run("ListStreams", json!({}))["Streams"].as_array().unwrap().len();
        let record_age_max = 10 * 86_400;
        clock.tick(Duration::from_secs(DISABLED_STREAM_RETENTION_SECS as u64 - 1));
        assert_eq!(dynoxide::embed::trim_stream_records(&db, record_age_max).unwrap(), 0);
        assert!(described(&arn).unwrap().contains("\"DISABLED\""));
        assert_eq!(listed(), 1);
        // Past 24 hours: gone for readers at once, and the sweep deletes it with its record.
        clock.tick(Duration::from_secs(2));
        assert!(described(&arn).is_err());
        assert_eq!(listed(), 0);
        assert_eq!(dynoxide::embed::trim_stream_records(&db, record_age_max).unwrap(), 1);
        // Switched off and on in a loop: only the newest are kept.
        for _ in 0..DISABLED_STREAMS_PER_TABLE_MAX + 2 {
            clock.tick(Duration::from_secs(1));
            run(
                "UpdateTable",
                json!({"TableName":"ttl24","StreamSpecification":{"StreamEnabled":true,"StreamViewType":"KEYS_ONLY"}}),
            );
            clock.tick(Duration::from_secs(1));
            run("UpdateTable", json!({"TableName":"ttl24","StreamSpecification":{"StreamEnabled":false}}));
        }
        assert_eq!(listed() as i64, DISABLED_STREAMS_PER_TABLE_MAX);
    }

    #[tokio::test]
    async fn describe_table_has_warm_throughput_and_delete_table_no_key_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        stream_table(&db, "warm").await;
        let (s, v) = call(&db, "DescribeTable", json!({"TableName":"warm"})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            v["Table"]["WarmThroughput"],
            json!({"ReadUnitsPerSecond":12000,"WriteUnitsPerSecond":4000,"Status":"ACTIVE"})
        );
        assert!(v["Table"]["KeySchema"].is_array());
        let (s, v) = call(&db, "DeleteTable", json!({"TableName":"warm"})).await;
        assert_eq!(s, 200, "{v}");
        let desc = &v["TableDescription"];
        assert_eq!((desc["TableStatus"].as_str(), desc["TableName"].as_str()), (Some("DELETING"), Some("warm")));
        for absent in ["KeySchema", "AttributeDefinitions", "WarmThroughput"] {
            assert!(desc.get(absent).is_none(), "{absent}: {desc}");
        }
    }

    #[tokio::test]
    async fn a_table_arn_of_the_callers_works_as_table_name() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        stream_table(&db, "ett").await;
        let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/ett";
        let (s, v) = call(&db, "DescribeTable", json!({"TableName": arn})).await;
        assert_eq!((s, v["Table"]["TableName"].as_str()), (200, Some("ett")), "{v}");
        assert_eq!(v["Table"]["TableArn"], arn);
        let item = json!({"TableName": arn, "Item":{"k":{"S":"a"},"v":{"S":arn}}});
        assert_eq!(call(&db, "PutItem", item).await.0, 200);
        let (s, v) = call(&db, "GetItem", json!({"TableName": arn, "Key":{"k":{"S":"a"}}})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["Item"]["v"]["S"], arn, "an item's ARN value is kept as written");
        let (s, v) = call(
            &db,
            "Query",
            json!({"TableName": arn, "KeyConditionExpression":"k = :k",
                   "ExpressionAttributeValues":{":k":{"S":"a"}}}),
        )
        .await;
        assert_eq!((s, v["Count"].as_u64()), (200, Some(1)), "{v}");
        let tx = json!({"TransactItems":[{"Put":{"TableName": arn, "Item":{"k":{"S":"t"}}}}]});
        assert_eq!(call(&db, "TransactWriteItems", tx).await.0, 200);
        let batch = json!({"RequestItems":{ arn: [{"PutRequest":{"Item":{"k":{"S":"b"}}}}]}});
        let (s, v) = call(&db, "BatchWriteItem", batch).await;
        assert_eq!(s, 200, "{v}");
        // A batch's answer is keyed as asked.
        let (s, v) = call(&db, "BatchGetItem", json!({"RequestItems":{ arn: {"Keys":[{"k":{"S":"b"}}]}}})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["Responses"][arn].as_array().map(Vec::len), Some(1), "{v}");
        // Another account's table: refused; another region's: not found here.
        let (s, v) =
            call(&db, "DescribeTable", json!({"TableName": arn.replace("123456789012", "210987654321")})).await;
        assert_eq!((s, v["__type"].as_str()), (400, Some("com.amazonaws.dynamodb.v20120810#AccessDeniedException")));
        // Also as a batch's RequestItems key.
        let foreign = arn.replace("123456789012", "210987654321");
        let (s, v) = call(&db, "BatchGetItem", json!({"RequestItems":{ foreign: {"Keys":[{"k":{"S":"b"}}]}}})).await;
        assert_eq!((s, v["__type"].as_str()), (400, Some("com.amazonaws.dynamodb.v20120810#AccessDeniedException")));
        let (s, v) = call(
            &db,
            "GetItem",
            json!({"TableName": arn.replace("eu-west-1", "us-east-1"),
                   "Key":{"k":{"S":"a"}}}),
        )
        .await;
        assert_eq!(
            (s, v["__type"].as_str()),
            (400, Some("com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"))
        );
        // Anything else that is not a name still fails the name's pattern.
        let (s, v) = call(&db, "DescribeTable", json!({"TableName": "arn:aws:sqs:eu-west-1:123456789012:q"})).await;
        assert_eq!(s, 400);
        assert!(v["message"].as_str().unwrap().contains("regular expression pattern"), "{v}");
    }

    #[tokio::test]
    async fn size_bytes_is_the_item_size_of_keys_and_images() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        let mut sizes = Vec::new();
        // The records of event-sources.md §3.2: KEYS_ONLY `Username:"Fred"` is 12; NEW_IMAGE
        // `my_partition_key:"hello world"` with `binary_key` (6 bytes) is 27 + 27 + 16 = 70.
        for (table, key, view, item) in [
            ("users", "Username", "KEYS_ONLY", json!({"Username":{"S":"Fred"},"x":{"S":"y"}})),
            (
                "img",
                "my_partition_key",
                "NEW_IMAGE",
                json!({"my_partition_key":{"S":"hello world"},"binary_key":{"B":"Zm9vYmFy"}}),
            ),
        ] {
            let spec = json!({"TableName":table,"KeySchema":[{"AttributeName":key,"KeyType":"HASH"}],
                   "AttributeDefinitions":[{"AttributeName":key,"AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST",
                   "StreamSpecification":{"StreamEnabled":true,"StreamViewType":view}});
            let arn = call(&db, "CreateTable", spec).await.1["TableDescription"]["LatestStreamArn"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(call(&db, "PutItem", json!({"TableName":table,"Item":item})).await.0, 200);
            let client = db.stream_client("123456789012", "eu-west-1");
            let shard =
                client.describe_stream(&arn).await.unwrap()["Shards"][0]["ShardId"].as_str().unwrap().to_owned();
            let it = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
            sizes.push(client.get_records(&it, 10).await.unwrap()["Records"][0]["dynamodb"]["SizeBytes"].clone());
        }
        assert_eq!(sizes, [json!(12), json!(70)]);
    }

    #[tokio::test]
    async fn shard_iterators_expire_after_15_minutes() {
        use dynoxide::actions::get_shard_iterator as gsi;
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        let (arn, shard) = stream_table(&db, "exp").await;
        assert_eq!(call(&db, "PutItem", json!({"TableName":"exp","Item":{"k":{"S":"a"}}})).await.0, 200);
        let client = db.stream_client("123456789012", "eu-west-1");
        let it = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        let (table, shard_id, position) = gsi::decode_shard_iterator(&it).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        // Handed out 14 minutes ago: still good; its NextShardIterator is a fresh one.
        let young = gsi::encode_shard_iterator_at(&table, &shard_id, position, now - 14 * 60 * 1000);
        let (s, v) = call(&db, "GetRecords", json!({"ShardIterator": young})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["Records"].as_array().unwrap().len(), 1);
        let next = v["NextShardIterator"].as_str().unwrap();
        let issued = gsi::decode_shard_iterator_issued(next).unwrap().3.unwrap();
        assert!(issued >= now, "the next iterator starts a new 15 minutes");
        // Over 15 minutes: AWS's ExpiredIteratorException.
        let old = gsi::encode_shard_iterator_at(&table, &shard_id, position, now - 15 * 60 * 1000 - 1000);
        let (s, v) = call(&db, "GetRecords", json!({"ShardIterator": old})).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["__type"], "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException");
        assert_eq!(v["message"], "The provided iterator exceeds the maximum age allowed.");
    }

    #[tokio::test]
    async fn positions_before_the_trim_point_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        let (arn, shard) = stream_table(&db, "trim").await;
        for k in ["a", "b"] {
            assert_eq!(call(&db, "PutItem", json!({"TableName":"trim","Item":{"k":{"S":k}}})).await.0, 200);
        }
        let client = db.stream_client("123456789012", "eu-west-1");
        let horizon = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        let records = client.get_records(&horizon, 10).await.unwrap();
        let seqs: Vec<String> = records["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned())
            .collect();
        let engine = db.database("123456789012", "eu-west-1").unwrap();
        assert_eq!(dynoxide::embed::trim_stream_records(&engine, -10).unwrap(), 2);
        let trimmed = |e: ClientError| {
            assert_eq!(e.code, "TrimmedDataAccessException");
            assert_eq!(e.message, "The data you are trying to access has been trimmed");
        };
        // An iterator handed out before the trim reads into trimmed records.
        trimmed(client.get_records(&horizon, 10).await.unwrap_err());
        // A position before the trim point, and AT the first trimmed record.
        trimmed(client.get_shard_iterator(&arn, &shard, "AFTER_SEQUENCE_NUMBER", Some(&seqs[0])).await.unwrap_err());
        trimmed(client.get_shard_iterator(&arn, &shard, "AT_SEQUENCE_NUMBER", Some(&seqs[1])).await.unwrap_err());
        // After the last trimmed record, TRIM_HORIZON and LATEST are fine, and see what comes next.
        let after = client.get_shard_iterator(&arn, &shard, "AFTER_SEQUENCE_NUMBER", Some(&seqs[1])).await.unwrap();
        let horizon = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        let latest = client.get_shard_iterator(&arn, &shard, "LATEST", None).await.unwrap();
        assert_eq!(call(&db, "PutItem", json!({"TableName":"trim","Item":{"k":{"S":"c"}}})).await.0, 200);
        for it in [after, horizon, latest] {
            let got = client.get_records(&it, 10).await.unwrap();
            let keys: Vec<&str> = got["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["dynamodb"]["Keys"]["k"]["S"].as_str().unwrap())
                .collect();
            assert_eq!(keys, ["c"]);
        }
        // The trim point survives a restart.
        drop(engine);
        let db = DynamoDb::open(dir.path()).unwrap();
        let client = db.stream_client("123456789012", "eu-west-1");
        trimmed(client.get_shard_iterator(&arn, &shard, "AFTER_SEQUENCE_NUMBER", Some(&seqs[0])).await.unwrap_err());
    }

    #[tokio::test]
    async fn the_sweep_deletes_expired_items_with_a_service_remove_record() {
        let dir = tempfile::tempdir().unwrap();
        let db = DynamoDb::open(dir.path()).unwrap();
        let table = json!({"TableName":"ttl","KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],
               "AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST",
               "StreamSpecification":{"StreamEnabled":true,"StreamViewType":"OLD_IMAGE"}});
        let arn =
            call(&db, "CreateTable", table).await.1["TableDescription"]["LatestStreamArn"].as_str().unwrap().to_owned();
        let spec = json!({"TableName":"ttl","TimeToLiveSpecification":{"Enabled":true,"AttributeName":"exp"}});
        assert_eq!(call(&db, "UpdateTimeToLive", spec).await.0, 200);
        let past =
            (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 60).to_string();
        let item = json!({"TableName":"ttl","Item":{"k":{"S":"old"},"exp":{"N":past}}});
        assert_eq!(call(&db, "PutItem", item).await.0, 200);
        let engine = db.database("123456789012", "eu-west-1").unwrap();
        assert_eq!(engine.sweep_ttl().unwrap(), 1);
        let got = call(&db, "GetItem", json!({"TableName":"ttl","Key":{"k":{"S":"old"}}})).await.1;
        assert!(got.get("Item").is_none(), "{got}");
        let client = db.stream_client("123456789012", "eu-west-1");
        let shard = client.describe_stream(&arn).await.unwrap()["Shards"][0]["ShardId"].as_str().unwrap().to_owned();
        let it = client.get_shard_iterator(&arn, &shard, "TRIM_HORIZON", None).await.unwrap();
        let records = client.get_records(&it, 10).await.unwrap();
        let remove = &records["Records"][1];
        assert_eq!(remove["eventName"], "REMOVE", "{records}");
        assert_eq!(remove["userIdentity"], json!({"type":"Service","principalId":"dynamodb.amazonaws.com"}));
    }
}
