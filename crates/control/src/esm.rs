//! Lambda event source mappings (event-sources.md §2): Create/Get/Update/Delete/List with AWS's
//! validation order, exact errors and states. A mapping is stored as one document (the
//! response shape itself, AWS's member names) in `esm_mappings`; stream checkpoints beside it.
//!
//! States: a write answers with the transitional state (`Creating`, `Enabling`, `Disabling`,
//! `Updating`, `Deleting`) and a task settles it [`SETTLE_DELAY`] later (`Enabled`, `Disabled`,
//! gone); [`Control::settle_event_source_mappings`] settles every mapping at start, so a crash
//! between the two leaves nothing transitional. Whether the queue or stream exists is asked of
//! the services through [`EsmSources`] (wired by `server`; without it every source is taken
//! as it is named).

use std::collections::BTreeMap;
use std::time::Duration;

use model::arn::function_arn;
use model::name::{NameShape, Version};
use model::scope::Scope;
use model::validate::Violation;
use serde_json::{Map, Value, json};
use store::{EsmRow, FunctionKey, ReadTx, Store};

use crate::{Control, ControlError, Result, names, validation};

/// Most mappings per account and region (and what one List reads).
pub const ESMS_PER_SCOPE_MAX: usize = 10_000;
/// Most mappings the pollers watch in all.
pub const ESMS_MAX: usize = 100_000;
/// Most items in one ListEventSourceMappings page (the model's documented bound).
pub const LIST_PAGE_MAX: i64 = 100;
/// How long after a write the transitional state settles.
pub const SETTLE_DELAY: Duration = Duration::from_millis(500);
/// Most filters in FilterCriteria (AWS's default quota is 5; the hard limit 10).
pub const FILTERS_MAX: usize = 10;
/// Longest filter pattern.
pub const FILTER_PATTERN_LEN_MAX: usize = 4096;

const BATCH_SIZE_MAX: i64 = 10_000;
const SQS_BATCH_WITHOUT_WINDOW_MAX: i64 = 10;
const SQS_FIFO_BATCH_MAX: i64 = 10;
const SQS_BATCH_DEFAULT: i64 = 10;
const STREAM_BATCH_DEFAULT: i64 = 100;
const WINDOW_MAX: i64 = 300;
const RECORD_AGE_MIN: i64 = 60;
const RECORD_AGE_MAX: i64 = 604_800;
const RETRY_MAX: i64 = 10_000;
const PARALLELIZATION_MAX: i64 = 10;
const TUMBLING_MAX: i64 = 900;
const CONCURRENCY_MIN: i64 = 2;
const CONCURRENCY_MAX: i64 = 1000;
const STARTING_POSITIONS: &[&str] = &["LATEST", "AT_TIMESTAMP", "TRIM_HORIZON"];
const RESPONSE_TYPES: &[&str] = &["ReportBatchItemFailures"];
const NO_SUCH_RESOURCE: &str = "The resource you requested does not exist.";

/// The kind of source an ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Sqs,
    DynamoDbStream,
}

impl SourceKind {
    pub fn of(arn: &str) -> Option<SourceKind> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return None;
        }
        match parts[2] {
            "sqs" => Some(SourceKind::Sqs),
            "dynamodb" if parts[5].starts_with("table/") && parts[5].contains("/stream/") => {
                Some(SourceKind::DynamoDbStream)
            }
            _ => None,
        }
    }
}

/// What the services answer about a mapping's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceCheck {
    Queue {
        fifo: bool,
        visibility_timeout_s: u32,
    },
    /// A stream, with where LATEST is now in each of its shards: (shard id, the shard's last
    /// sequence number, `None` when it has no record yet).
    Stream {
        latest: Vec<(String, Option<String>)>,
    },
    Missing,
    /// The service that holds it cannot answer now (several nodes: the DynamoDB home is down):
    /// `ServiceException`, not "not found".
    Unavailable(String),
}

/// A stream checkpoint's key: the stream label and the shard, so a re-enabled stream (new
/// label) never inherits an old cursor.
pub fn shard_key(stream_arn: &str, shard: &str) -> String {
    let label = stream_arn.rsplit('/').next().unwrap_or_default();
    format!("{label}/{shard}")
}

/// The checkpoint of a LATEST mapping whose shard had no record when it was created: every
/// record of the shard is after it.
pub const SHARD_START: &str = "TRIM_HORIZON";

/// Asks the SQS or DynamoDB Streams service about a source ARN, in the caller's scope.
pub type EsmSources = std::sync::Arc<dyn Fn(Scope, String) -> store::BoxFuture<'static, SourceCheck> + Send + Sync>;

/// Create/UpdateEventSourceMapping's members as given (Update ignores EventSourceArn,
/// StartingPosition and Tags).
#[derive(Debug, Clone, Default)]
pub struct EsmInput {
    pub function_name: Option<String>,
    pub event_source_arn: Option<String>,
    pub enabled: Option<bool>,
    pub batch_size: Option<i64>,
    pub maximum_batching_window_in_seconds: Option<i64>,
    pub starting_position: Option<String>,
    pub filter_criteria: Option<Value>,
    pub function_response_types: Option<Vec<String>>,
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_record_age_in_seconds: Option<i64>,
    pub bisect_batch_on_function_error: Option<bool>,
    pub parallelization_factor: Option<i64>,
    pub tumbling_window_in_seconds: Option<i64>,
    pub destination_config: Option<Value>,
    pub scaling_config: Option<Value>,
    pub tags: Option<std::collections::BTreeMap<String, String>>,
}

/// One page of ListEventSourceMappings.
#[derive(Debug, Clone)]
pub struct EsmPage {
    pub mappings: Vec<Value>,
    pub next_marker: Option<String>,
}

fn range(v: Option<i64>, field: &str, min: i64, max: i64, out: &mut Vec<Violation>) {
    if let Some(v) = v {
        if v < min {
            out.push(Violation::value_min(v, field, min));
        }
        if v > max {
            out.push(Violation::value_max(v, field, max));
        }
    }
}

/// The model constraints (ValidationException, all together).
fn check_model(input: &EsmInput, create: bool, out: &mut Vec<Violation>) {
    range(input.batch_size, "batchSize", 1, BATCH_SIZE_MAX, out);
    range(input.maximum_batching_window_in_seconds, "maximumBatchingWindowInSeconds", 0, WINDOW_MAX, out);
    range(input.maximum_retry_attempts, "maximumRetryAttempts", -1, RETRY_MAX, out);
    range(input.maximum_record_age_in_seconds, "maximumRecordAgeInSeconds", -1, RECORD_AGE_MAX, out);
    range(input.parallelization_factor, "parallelizationFactor", 1, PARALLELIZATION_MAX, out);
    range(input.tumbling_window_in_seconds, "tumblingWindowInSeconds", 0, TUMBLING_MAX, out);
    if let Some(n) = input.scaling_config.as_ref().and_then(|s| s.get("MaximumConcurrency")).and_then(Value::as_i64) {
        range(Some(n), "scalingConfig.maximumConcurrency", CONCURRENCY_MIN, CONCURRENCY_MAX, out);
    }
    if create
        && let Some(p) = &input.starting_position
        && !STARTING_POSITIONS.contains(&p.as_str())
    {
        out.push(Violation::enum_set(p, "startingPosition", STARTING_POSITIONS));
    }
    if let Some(types) = &input.function_response_types {
        for t in types {
            if !RESPONSE_TYPES.contains(&t.as_str()) {
                out.push(Violation::new(
                    format!("[{}]", types.join(", ")),
                    "functionResponseTypes",
                    format!(
                        "Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
                        RESPONSE_TYPES[0]
                    ),
                ));
                break;
            }
        }
    }
}

/// `FilterCriteria` must be `{"Filters":[{"Pattern":"<json object>"}...]}`.
fn check_filters(f: &Value) -> Result<()> {
    let bad = || ControlError::InvalidParameterValue("Invalid filter pattern definition.".to_owned());
    let Some(obj) = f.as_object() else { return Err(bad()) };
    let Some(filters) = obj.get("Filters") else { return Ok(()) };
    let Some(filters) = filters.as_array() else { return Err(bad()) };
    if filters.len() > FILTERS_MAX {
        return Err(bad());
    }
    for f in filters {
        let Some(p) = f.get("Pattern").and_then(Value::as_str) else { return Err(bad()) };
        if p.len() > FILTER_PATTERN_LEN_MAX {
            return Err(bad());
        }
        if eventpattern::Pattern::parse(p).is_err() {
            return Err(bad());
        }
    }
    Ok(())
}

/// The FunctionName normalised as the mapping names it: the function's unqualified ARN, or
/// with the qualifier given.
fn normalise_function(scope: &Scope, input: &str) -> Result<(String, Option<String>, String)> {
    let target = names::resolve_qualified(scope, input, NameShape::Namespaced, None)?;
    let base = function_arn(scope, &target.name);
    let arn = match &target.qualifier {
        Some(q) => format!("{base}:{q}"),
        None => base,
    };
    Ok((target.name, target.qualifier, arn))
}

fn function_missing() -> ControlError {
    ControlError::InvalidParameterValue("Function does not exist".to_owned())
}

/// The function's timeout (of the version the qualifier names), or `Function does not exist`.
fn function_timeout(tx: &mut dyn ReadTx, scope: &Scope, name: &str, qualifier: Option<&str>) -> Result<u32> {
    let key = FunctionKey { scope: scope.clone(), name: name.to_owned() };
    let f = tx.function(&key)?.ok_or_else(function_missing)?;
    let version = match qualifier {
        None | Some(Version::LATEST) => return Ok(f.latest.config.timeout_s),
        Some(q) => match q.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let alias = tx.alias(f.id, q)?.ok_or_else(function_missing)?;
                match alias.function_version {
                    Version::Latest => return Ok(f.latest.config.timeout_s),
                    Version::Published(n) => n,
                }
            }
        },
    };
    Ok(tx.version(f.id, version)?.ok_or_else(function_missing)?.config.timeout_s)
}

fn now_secs() -> f64 {
    (stdx::time::now_ms() as f64 / 1000.0 * 1000.0).round() / 1000.0
}

/// The mapping's tags live in its document under this key, which no answer shows (AWS's
/// mapping shape has no tags; ListTags reads them).
const TAGS_KEY: &str = "Tags";

/// The document as the API answers it: without the tags.
fn shown(mut doc: Value) -> Value {
    if let Some(m) = doc.as_object_mut() {
        m.remove(TAGS_KEY);
    }
    doc
}

fn tags_of(doc: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(doc[TAGS_KEY].clone()).unwrap_or_default()
}

/// TagResource/UntagResource/ListTags on a mapping that is not there [V].
fn esm_not_found(arn: &str) -> ControlError {
    ControlError::ResourceNotFound(format!("Event source mapping not found: {arn}"))
}

fn doc_of(row: &EsmRow) -> Result<Value> {
    serde_json::from_str(&row.doc).map_err(|e| ControlError::Service(format!("corrupt mapping {}: {e}", row.uuid)))
}

fn row_of(scope: &Scope, doc: &Value) -> EsmRow {
    EsmRow {
        uuid: doc["UUID"].as_str().unwrap_or_default().to_owned(),
        account: scope.account.as_str().to_owned(),
        region: scope.region.as_str().to_owned(),
        source_arn: doc["EventSourceArn"].as_str().unwrap_or_default().to_owned(),
        function_arn: doc["FunctionArn"].as_str().unwrap_or_default().to_owned(),
        doc: doc.to_string(),
    }
}

/// The bare function name in a function ARN (for the duplicate message).
fn bare_name(function_arn: &str) -> &str {
    function_arn.split(':').nth(6).unwrap_or(function_arn)
}

fn duplicate(kind: SourceKind, source: &str, function_arn: &str, uuid: &str) -> ControlError {
    let f = bare_name(function_arn);
    ControlError::ResourceConflict(match kind {
        SourceKind::Sqs => format!(
            "An event source mapping with SQS arn (\" {source} \") and function (\" {f} \") already exists. Please \
             update or delete the existing mapping with UUID {uuid}"
        ),
        SourceKind::DynamoDbStream => format!(
            "The event source arn (\" {source} \") and function (\" {f} \") provided mapping already exists. Please \
             update or delete the existing mapping with UUID {uuid}"
        ),
    })
}

/// The state a mapping settles in after a transitional one; `None`: deleted.
pub fn settled(state: &str) -> Option<&'static str> {
    match state {
        "Creating" | "Enabling" | "Updating" | "Enabled" => Some("Enabled"),
        "Disabling" | "Disabled" => Some("Disabled"),
        _ => None,
    }
}

/// Applies Update's (and Create's) tunables to a document.
fn apply(doc: &mut Map<String, Value>, input: &EsmInput, kind: SourceKind) {
    if let Some(b) = input.batch_size {
        doc.insert("BatchSize".into(), json!(b));
    }
    if let Some(w) = input.maximum_batching_window_in_seconds {
        doc.insert("MaximumBatchingWindowInSeconds".into(), json!(w));
    }
    if let Some(f) = &input.filter_criteria {
        match f.get("Filters").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                doc.insert("FilterCriteria".into(), f.clone());
            }
            _ => {
                doc.remove("FilterCriteria");
            }
        }
    }
    if let Some(t) = &input.function_response_types {
        doc.insert("FunctionResponseTypes".into(), json!(t));
    }
    if let Some(s) = &input.scaling_config {
        if s.get("MaximumConcurrency").is_some() {
            doc.insert("ScalingConfig".into(), s.clone());
        } else {
            doc.remove("ScalingConfig");
        }
    }
    if kind == SourceKind::DynamoDbStream {
        if let Some(v) = input.maximum_retry_attempts {
            doc.insert("MaximumRetryAttempts".into(), json!(v));
        }
        if let Some(v) = input.maximum_record_age_in_seconds {
            doc.insert("MaximumRecordAgeInSeconds".into(), json!(v));
        }
        if let Some(v) = input.bisect_batch_on_function_error {
            doc.insert("BisectBatchOnFunctionError".into(), json!(v));
        }
        if let Some(v) = input.parallelization_factor {
            doc.insert("ParallelizationFactor".into(), json!(v));
        }
        if let Some(v) = input.tumbling_window_in_seconds {
            doc.insert("TumblingWindowInSeconds".into(), json!(v));
        }
        if let Some(d) = &input.destination_config {
            let on_failure = d.get("OnFailure").cloned().unwrap_or_else(|| json!({}));
            doc.insert("DestinationConfig".into(), json!({ "OnFailure": on_failure }));
        }
    }
}

/// The semantic rules between the members, after the model check and before any lookup.
fn check_semantics(doc: &Map<String, Value>, kind: SourceKind, fifo: bool) -> Result<()> {
    let batch = doc.get("BatchSize").and_then(Value::as_i64).unwrap_or(0);
    let window = doc.get("MaximumBatchingWindowInSeconds").and_then(Value::as_i64).unwrap_or(0);
    if kind == SourceKind::Sqs {
        if batch > SQS_BATCH_WITHOUT_WINDOW_MAX && window == 0 {
            return Err(ControlError::InvalidParameterValue(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
                    .to_owned(),
            ));
        }
        if fifo && batch > SQS_FIFO_BATCH_MAX {
            return Err(ControlError::InvalidParameterValue(format!(
                "Batch size for FIFO queues must be less than or equal to {SQS_FIFO_BATCH_MAX}"
            )));
        }
    } else if let Some(age) = doc.get("MaximumRecordAgeInSeconds").and_then(Value::as_i64)
        && age != -1
        && age < RECORD_AGE_MIN
    {
        return Err(ControlError::InvalidParameterValue(format!(
            "MaximumRecordAgeInSeconds must be -1 or between {RECORD_AGE_MIN} and {RECORD_AGE_MAX}"
        )));
    }
    Ok(())
}

impl Control {
    /// Wires the SQS and DynamoDB Streams services in (see the module comment).
    pub fn set_esm_sources(&self, sources: EsmSources) {
        let _ = self.esm_sources.set(sources);
    }

    /// The source as the services see it (`None`: no services wired); a missing one is AWS's
    /// error.
    async fn check_source(&self, scope: &Scope, kind: SourceKind, arn: &str) -> Result<Option<SourceCheck>> {
        let Some(sources) = self.esm_sources.get() else { return Ok(None) };
        match (sources)(scope.clone(), arn.to_owned()).await {
            SourceCheck::Missing => Err(ControlError::InvalidParameterValue(match kind {
                SourceKind::Sqs => "Error occurred while ReceiveMessage. SQS Error Code: \
                                    AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified \
                                    queue does not exist."
                    .to_owned(),
                SourceKind::DynamoDbStream => format!("Stream not found: {arn}"),
            })),
            SourceCheck::Unavailable(why) => Err(ControlError::Service(why)),
            found => Ok(Some(found)),
        }
    }

    pub async fn create_event_source_mapping(&self, scope: &Scope, input: EsmInput) -> Result<Value> {
        let mut v = Vec::new();
        check_model(&input, true, &mut v);
        if input.function_name.is_none() {
            v.push(Violation::not_null("functionName"));
        }
        validation(v)?;
        let source = input
            .event_source_arn
            .clone()
            .ok_or_else(|| ControlError::InvalidParameterValue("Unrecognized event source.".to_owned()))?;
        let kind = SourceKind::of(&source)
            .ok_or_else(|| ControlError::InvalidParameterValue("Unrecognized event source.".to_owned()))?;
        if let Some(d) = &input.destination_config
            && (kind == SourceKind::Sqs || d.get("OnSuccess").is_some())
        {
            return Err(ControlError::InvalidParameterValue(
                "Unsupported DestinationConfig parameter for given event source mapping type.".to_owned(),
            ));
        }
        if kind == SourceKind::DynamoDbStream {
            match input.starting_position.as_deref() {
                None => {
                    return Err(ControlError::InvalidParameterValue(
                        "1 validation error detected: Value null at 'startingPosition' failed to satisfy \
                         constraint: Member must not be null."
                            .to_owned(),
                    ));
                }
                Some("AT_TIMESTAMP") => {
                    return Err(ControlError::InvalidParameterValue(format!(
                        "Unsupported starting position for arn type: {source}"
                    )));
                }
                _ => {}
            }
        }
        if let Some(f) = &input.filter_criteria {
            check_filters(f)?;
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let enabled = input.enabled.unwrap_or(true);
        let mut doc = Map::new();
        doc.insert("UUID".into(), json!(uuid));
        match kind {
            SourceKind::Sqs => {
                doc.insert("BatchSize".into(), json!(SQS_BATCH_DEFAULT));
                doc.insert("MaximumBatchingWindowInSeconds".into(), json!(0));
            }
            SourceKind::DynamoDbStream => {
                doc.insert("BatchSize".into(), json!(STREAM_BATCH_DEFAULT));
                doc.insert("MaximumBatchingWindowInSeconds".into(), json!(0));
                doc.insert("StartingPosition".into(), json!(input.starting_position));
                doc.insert("ParallelizationFactor".into(), json!(1));
                doc.insert("DestinationConfig".into(), json!({"OnFailure": {}}));
                doc.insert("MaximumRecordAgeInSeconds".into(), json!(-1));
                doc.insert("BisectBatchOnFunctionError".into(), json!(false));
                doc.insert("MaximumRetryAttempts".into(), json!(-1));
                doc.insert("TumblingWindowInSeconds".into(), json!(0));
                doc.insert("LastProcessingResult".into(), json!("No records processed"));
            }
        }
        doc.insert("FunctionResponseTypes".into(), json!([]));
        if let Some(tags) = &input.tags {
            crate::functions::check_tags(tags)?;
            if !tags.is_empty() {
                doc.insert(TAGS_KEY.into(), json!(tags));
            }
        }
        apply(&mut doc, &input, kind);
        check_semantics(&doc, kind, false)?;
        let function_name = input.function_name.unwrap_or_default();
        let (name, qualifier, fn_arn) = normalise_function(scope, &function_name)?;
        let timeout = {
            let (scope, name, qualifier) = (scope.clone(), name.clone(), qualifier.clone());
            self.store.read(move |tx| function_timeout(tx, &scope, &name, qualifier.as_deref())).await?
        };
        // A LATEST mapping starts where LATEST is now, recorded with the mapping itself: a
        // record written after this answer is delivered, whenever the poller first reads.
        let mut checkpoints = Vec::new();
        match self.check_source(scope, kind, &source).await? {
            Some(SourceCheck::Queue { fifo, visibility_timeout_s: visibility }) => {
                check_semantics(&doc, kind, fifo)?;
                if visibility < timeout {
                    return Err(ControlError::InvalidParameterValue(format!(
                        "Queue visibility timeout: {visibility} seconds is less than Function timeout: {timeout} seconds"
                    )));
                }
            }
            Some(SourceCheck::Stream { latest }) if input.starting_position.as_deref() == Some("LATEST") => {
                for (shard, seq) in latest {
                    checkpoints.push((shard_key(&source, &shard), seq.unwrap_or_else(|| SHARD_START.to_owned())));
                }
            }
            _ => {}
        }
        doc.insert("EventSourceArn".into(), json!(source));
        doc.insert("FunctionArn".into(), json!(fn_arn));
        doc.insert(
            "EventSourceMappingArn".into(),
            json!(format!("arn:aws:lambda:{}:{}:event-source-mapping:{uuid}", scope.region, scope.account)),
        );
        doc.insert("State".into(), json!(if enabled { "Creating" } else { "Disabled" }));
        doc.insert("StateTransitionReason".into(), json!(transition_reason(kind)));
        doc.insert("LastModified".into(), json!(now_secs()));
        let doc = Value::Object(doc);
        let row = row_of(scope, &doc);
        let (account, region) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
        self.store
            .write(move |tx| {
                let existing = tx.esms(&account, &region, ESMS_PER_SCOPE_MAX)?;
                if let Some(d) =
                    existing.iter().find(|e| e.source_arn == row.source_arn && e.function_arn == row.function_arn)
                {
                    return Err(duplicate(kind, &row.source_arn, &row.function_arn, &d.uuid));
                }
                if existing.len() >= ESMS_PER_SCOPE_MAX {
                    return Err(ControlError::ResourceConflict(format!(
                        "At most {ESMS_PER_SCOPE_MAX} event source mappings per account and region"
                    )));
                }
                tx.put_esm(&row)?;
                for (shard, seq) in &checkpoints {
                    tx.put_esm_checkpoint(&row.uuid, shard, seq)?;
                }
                Ok(())
            })
            .await?;
        self.esm_written(&uuid);
        Ok(shown(doc))
    }

    pub async fn get_event_source_mapping(&self, scope: &Scope, uuid: &str) -> Result<Value> {
        let row = self.esm_row(scope, uuid).await?;
        doc_of(&row).map(shown)
    }

    async fn esm_row(&self, scope: &Scope, uuid: &str) -> Result<EsmRow> {
        let id = uuid.to_owned();
        let row = self.store.read(move |tx| tx.esm(&id)).await?;
        row.filter(|r| r.account == scope.account.as_str() && r.region == scope.region.as_str())
            .ok_or_else(|| ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned()))
    }

    pub async fn update_event_source_mapping(&self, scope: &Scope, uuid: &str, input: EsmInput) -> Result<Value> {
        let mut v = Vec::new();
        check_model(&input, false, &mut v);
        validation(v)?;
        let row = self.esm_row(scope, uuid).await?;
        let mut doc = match doc_of(&row)? {
            Value::Object(m) => m,
            _ => return Err(ControlError::Service("corrupt mapping".to_owned())),
        };
        let kind = SourceKind::of(&row.source_arn).unwrap_or(SourceKind::Sqs);
        if let Some(d) = &input.destination_config
            && (kind == SourceKind::Sqs || d.get("OnSuccess").is_some())
        {
            return Err(ControlError::InvalidParameterValue(
                "Unsupported DestinationConfig parameter for given event source mapping type.".to_owned(),
            ));
        }
        if let Some(f) = &input.filter_criteria {
            check_filters(f)?;
        }
        let state = doc.get("State").and_then(Value::as_str).unwrap_or("Enabled").to_owned();
        if state == "Deleting" {
            return Err(ControlError::ResourceConflict(format!(
                "The resource you are trying to update is being deleted: {uuid}"
            )));
        }
        apply(&mut doc, &input, kind);
        check_semantics(&doc, kind, false)?;
        let mut fn_arn = row.function_arn.clone();
        let mut check = None;
        if let Some(f) = &input.function_name {
            let (name, qualifier, arn) = normalise_function(scope, f)?;
            check = Some((name, qualifier));
            fn_arn = arn;
        }
        let (name, qualifier) = match check {
            Some(c) => c,
            None => {
                let rest = fn_arn.splitn(7, ':').nth(6).unwrap_or_default();
                match rest.split_once(':') {
                    Some((n, q)) => (n.to_owned(), Some(q.to_owned())),
                    None => (rest.to_owned(), None),
                }
            }
        };
        let timeout = {
            let (scope, name, qualifier) = (scope.clone(), name.clone(), qualifier.clone());
            let t = self.store.read(move |tx| function_timeout(tx, &scope, &name, qualifier.as_deref())).await;
            match t {
                Ok(t) => Some(t),
                // A function deleted under the mapping: only a new FunctionName must exist.
                Err(e) if input.function_name.is_some() => return Err(e),
                Err(_) => None,
            }
        };
        if let Some(SourceCheck::Queue { fifo, visibility_timeout_s: visibility }) =
            self.check_source(scope, kind, &row.source_arn).await?
        {
            check_semantics(&doc, kind, fifo)?;
            if let Some(timeout) = timeout
                && visibility < timeout
            {
                return Err(ControlError::InvalidParameterValue(format!(
                    "Queue visibility timeout: {visibility} seconds is less than Function timeout: {timeout} seconds"
                )));
            }
        }
        let next = match input.enabled {
            Some(true) if matches!(state.as_str(), "Disabled" | "Disabling") => "Enabling",
            Some(false) if matches!(state.as_str(), "Enabled" | "Enabling" | "Creating" | "Updating") => "Disabling",
            _ if settled(&state) == Some("Disabled") => "Disabled",
            _ => "Updating",
        };
        doc.insert("FunctionArn".into(), json!(fn_arn));
        doc.insert("State".into(), json!(next));
        doc.insert("LastModified".into(), json!(now_secs()));
        let doc = Value::Object(doc);
        let new_row = row_of(scope, &doc);
        self.store
            .write(move |tx| {
                if new_row.function_arn != row.function_arn {
                    let existing = tx.esms(&new_row.account, &new_row.region, ESMS_PER_SCOPE_MAX)?;
                    if let Some(d) = existing.iter().find(|e| {
                        e.uuid != new_row.uuid
                            && e.source_arn == new_row.source_arn
                            && e.function_arn == new_row.function_arn
                    }) {
                        return Err(duplicate(kind, &new_row.source_arn, &new_row.function_arn, &d.uuid));
                    }
                }
                let Some(current) = tx.esm(&new_row.uuid)? else {
                    return Err(ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned()));
                };
                // The tags as stored now (a TagResource since this update read the mapping).
                let mut stored = doc_of(&new_row)?;
                match doc_of(&current)?.get(TAGS_KEY) {
                    Some(t) => stored[TAGS_KEY] = t.clone(),
                    None => stored = shown(stored),
                }
                tx.put_esm(&EsmRow { doc: stored.to_string(), ..new_row })?;
                Ok(())
            })
            .await?;
        self.esm_written(uuid);
        Ok(shown(doc))
    }

    pub async fn delete_event_source_mapping(&self, scope: &Scope, uuid: &str) -> Result<Value> {
        let row = self.esm_row(scope, uuid).await?;
        let mut doc = doc_of(&row)?;
        doc["State"] = json!("Deleting");
        let new_row = row_of(scope, &doc);
        self.store
            .write(move |tx| {
                if tx.esm(&new_row.uuid)?.is_none() {
                    return Err(ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned()));
                }
                tx.put_esm(&new_row)?;
                Ok(())
            })
            .await?;
        self.esm_written(uuid);
        Ok(shown(doc))
    }

    pub async fn list_event_source_mappings(
        &self,
        scope: &Scope,
        event_source_arn: Option<&str>,
        function_name: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<EsmPage> {
        let mut v = Vec::new();
        range(max_items, "maxItems", 1, BATCH_SIZE_MAX, &mut v);
        validation(v)?;
        let limit = max_items.unwrap_or(LIST_PAGE_MAX).min(LIST_PAGE_MAX) as usize;
        let function_arn = match function_name {
            Some(f) => match normalise_function(scope, f) {
                Ok((_, _, arn)) => Some(arn),
                Err(ControlError::Validation(v)) => return Err(ControlError::Validation(v)),
                // Another region's or account's function: nothing of this scope maps it.
                Err(_) => return Ok(EsmPage { mappings: Vec::new(), next_marker: None }),
            },
            None => None,
        };
        let (account, region) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
        let rows = self.store.read(move |tx| tx.esms(&account, &region, ESMS_PER_SCOPE_MAX)).await?;
        let mut mappings = Vec::new();
        let mut next_marker = None;
        for row in rows {
            if marker.is_some_and(|m| row.uuid.as_str() <= m)
                || event_source_arn.is_some_and(|s| s != row.source_arn)
                || function_arn.as_deref().is_some_and(|f| f != row.function_arn)
            {
                continue;
            }
            if mappings.len() == limit {
                next_marker = mappings.last().and_then(|d: &Value| d["UUID"].as_str()).map(str::to_owned);
                break;
            }
            mappings.push(shown(doc_of(&row)?));
        }
        Ok(EsmPage { mappings, next_marker })
    }

    /// The tags of mapping `uuid` (ListTags); `arn` names it in the not-found text.
    pub(crate) async fn esm_tags(&self, scope: &Scope, uuid: &str, arn: &str) -> Result<BTreeMap<String, String>> {
        let row = self.esm_row(scope, uuid).await.map_err(|_| esm_not_found(arn))?;
        Ok(tags_of(&doc_of(&row)?))
    }

    /// Changes the tags of mapping `uuid` in one write: `f` edits them, then the limit is checked.
    pub(crate) async fn edit_esm_tags(
        &self,
        scope: &Scope,
        uuid: &str,
        arn: &str,
        f: impl FnOnce(&mut BTreeMap<String, String>) + Send + 'static,
    ) -> Result<()> {
        let (id, arn, scope) = (uuid.to_owned(), arn.to_owned(), scope.clone());
        self.store
            .write(move |tx| {
                let Some(row) =
                    tx.esm(&id)?.filter(|r| r.account == scope.account.as_str() && r.region == scope.region.as_str())
                else {
                    return Err(esm_not_found(&arn));
                };
                let mut doc = doc_of(&row)?;
                let mut tags = tags_of(&doc);
                f(&mut tags);
                crate::functions::check_tags(&tags)?;
                doc = shown(doc);
                if !tags.is_empty() {
                    doc[TAGS_KEY] = json!(tags);
                }
                tx.put_esm(&EsmRow { doc: doc.to_string(), ..row })?;
                Ok(())
            })
            .await
    }

    /// Every mapping of every scope, with its scope (the pollers' view).
    pub async fn all_event_source_mappings(&self) -> Result<Vec<(Scope, Value)>> {
        let rows = self.store.read(move |tx| tx.all_esms(ESMS_MAX)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (Some(account), Some(region)) =
                (model::scope::AccountId::parse(&row.account), model::scope::Region::parse(&row.region))
            else {
                continue;
            };
            let scope = Scope { account, region };
            out.push((scope, doc_of(&row)?));
        }
        Ok(out)
    }

    /// Settles every transitional state (at start: a crash may have left some).
    pub async fn settle_event_source_mappings(&self) -> Result<u64> {
        let rows = self.store.read(move |tx| tx.all_esms(ESMS_MAX)).await?;
        let mut n = 0;
        for row in rows {
            if settle_one(&self.store, &row.uuid).await? {
                n += 1;
            }
        }
        self.esm_changed.notify_waiters();
        Ok(n)
    }

    /// Woken after every mapping change and settlement, for the pollers (who also re-read
    /// periodically: `notify_waiters` wakes only those waiting).
    pub fn esm_changes(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.esm_changed.clone()
    }

    /// The stream checkpoints of a mapping: (shard key, sequence number).
    pub async fn esm_checkpoints(&self, uuid: &str) -> Result<Vec<(String, String)>> {
        let id = uuid.to_owned();
        Ok(self.store.read(move |tx| tx.esm_checkpoints(&id)).await?)
    }

    /// Records that a shard's records up to `sequence` are done for good.
    pub async fn put_esm_checkpoint(&self, uuid: &str, shard: &str, sequence: &str) -> Result<()> {
        let (id, shard, seq) = (uuid.to_owned(), shard.to_owned(), sequence.to_owned());
        Ok(self.store.write(move |tx| tx.put_esm_checkpoint(&id, &shard, &seq)).await?)
    }

    /// Sets `LastProcessingResult` of a stream mapping (when it changes).
    pub async fn set_esm_processing_result(&self, uuid: &str, result: &str) -> Result<()> {
        let (id, result) = (uuid.to_owned(), result.to_owned());
        self.store
            .write(move |tx| {
                let Some(mut row) = tx.esm(&id)? else { return Ok::<_, ControlError>(()) };
                let mut doc = doc_of(&row)?;
                if doc.get("LastProcessingResult").is_none() || doc["LastProcessingResult"] == json!(result) {
                    return Ok(());
                }
                doc["LastProcessingResult"] = json!(result);
                row.doc = doc.to_string();
                tx.put_esm(&row)?;
                Ok(())
            })
            .await
    }

    fn esm_written(&self, uuid: &str) {
        self.esm_changed.notify_waiters();
        let store = self.store.clone();
        let uuid = uuid.to_owned();
        let notify = self.esm_changed.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SETTLE_DELAY).await;
            if let Err(e) = settle_one(&store, &uuid).await {
                tracing::warn!(%uuid, error = %e, "settling an event source mapping");
            }
            notify.notify_waiters();
        });
    }
}

fn transition_reason(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Sqs => "USER_INITIATED",
        SourceKind::DynamoDbStream => "User action",
    }
}

/// Moves one mapping out of its transitional state; whether it changed.
async fn settle_one(store: &Store, uuid: &str) -> Result<bool> {
    let id = uuid.to_owned();
    store
        .write(move |tx| {
            let Some(mut row) = tx.esm(&id)? else { return Ok::<_, ControlError>(false) };
            let mut doc = doc_of(&row)?;
            let state = doc["State"].as_str().unwrap_or("Enabled").to_owned();
            match settled(&state) {
                None => {
                    tx.delete_esm(&id)?;
                    Ok(true)
                }
                Some(s) if s == state => Ok(false),
                Some(s) => {
                    doc["State"] = json!(s);
                    row.doc = doc.to_string();
                    tx.put_esm(&row)?;
                    Ok(true)
                }
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_kinds_come_from_the_arn() {
        assert_eq!(SourceKind::of("arn:aws:sqs:us-east-1:123456789012:q"), Some(SourceKind::Sqs));
        assert_eq!(
            SourceKind::of("arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"),
            Some(SourceKind::DynamoDbStream)
        );
        assert_eq!(SourceKind::of("arn:aws:dynamodb:us-east-1:123456789012:table/t"), None);
        assert_eq!(SourceKind::of("arn:aws:kinesis:us-east-1:123456789012:stream/s"), None);
        assert_eq!(SourceKind::of("nope"), None);
    }

    #[test]
    fn filter_criteria_must_hold_json_object_patterns() {
        assert!(check_filters(&json!({"Filters": []})).is_ok());
        assert!(check_filters(&json!({"Filters": [{"Pattern": "{\"body\":{\"k\":[1]}}"}]})).is_ok());
        for bad in [json!(null), json!("x"), json!({"Filters": [{"Pattern": "{"}]}), json!({"Filters": [{}]})] {
            assert_eq!(
                check_filters(&bad).unwrap_err(),
                ControlError::InvalidParameterValue("Invalid filter pattern definition.".to_owned())
            );
        }
    }

    #[test]
    fn states_settle_as_aws_records_them() {
        for (from, to) in [
            ("Creating", Some("Enabled")),
            ("Enabling", Some("Enabled")),
            ("Updating", Some("Enabled")),
            ("Disabling", Some("Disabled")),
            ("Deleting", None),
        ] {
            assert_eq!(settled(from), to, "{from}");
        }
    }
}
